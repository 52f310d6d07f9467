//! Waking a window that sleeps: a handle other threads (the network
//! thread, the frame loop's alarm) call when the window has something new
//! to show. What it does is installed once the window is known; until then,
//! and where the platform gives no way, waking does nothing (the frame loop
//! then never sleeps).

use std::fmt;
use std::sync::{Arc, OnceLock};

type WakeFn = Box<dyn Fn() + Send + Sync>;

/// Cloneable; every clone wakes the same window.
#[derive(Clone, Default)]
pub struct Wakeup {
    wake: Arc<OnceLock<WakeFn>>,
}

impl fmt::Debug for Wakeup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wakeup")
            .field("installed", &self.installed())
            .finish()
    }
}

impl Wakeup {
    /// Sets what waking does; only the first call counts.
    pub fn install(&self, wake: impl Fn() + Send + Sync + 'static) {
        let _ = self.wake.set(Box::new(wake));
    }

    /// Whether waking does anything yet.
    pub fn installed(&self) -> bool {
        self.wake.get().is_some()
    }

    /// Wakes the window (never blocks for long: one message to the
    /// display server).
    pub fn wake(&self) {
        if let Some(wake) = self.wake.get() {
            wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn waking_does_nothing_until_installed_then_reaches_every_clone() {
        let wakeup = Wakeup::default();
        let other = wakeup.clone();
        wakeup.wake();
        assert!(!other.installed());
        let count = Arc::new(AtomicUsize::new(0));
        let seen = count.clone();
        other.install(move || {
            seen.fetch_add(1, Ordering::SeqCst);
        });
        wakeup.install(|| panic!("a second install is ignored"));
        wakeup.wake();
        other.wake();
        assert_eq!(count.load(Ordering::SeqCst), 2);
    }
}
