//! What every client task of a fan-out run shares, whatever the server
//! (Natter, the bare relay, InspIRCd): the one clock every stamp is read
//! from, the counters both reports read, the senders' start signal and the
//! stop. Each driver's own state (`room::Shared`, `irc::client::Shared`)
//! holds one and adds what only it counts.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Instant;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::room::Load;

/// The shared part of a run's state.
pub struct Run {
    /// The one monotonic clock every stamp is read from.
    clock: Instant,
    pub load: Load,
    /// Clients in the room so far.
    pub ready: AtomicUsize,
    pub sent: AtomicU64,
    /// Messages the server refused.
    pub rejected: AtomicU64,
    /// First deliveries, all recipients together.
    pub received: AtomicU64,
    /// Worst lateness of a send against its schedule, µs.
    pub send_lag_us: AtomicU64,
    /// Connections that ended before the stop, and the first one's reason.
    closed: AtomicUsize,
    first_close: Mutex<Option<String>>,
    start: watch::Sender<Option<Instant>>,
    pub stop: CancellationToken,
}

impl Run {
    pub fn new(load: Load) -> Self {
        Self {
            clock: Instant::now(),
            load,
            ready: AtomicUsize::new(0),
            sent: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            received: AtomicU64::new(0),
            send_lag_us: AtomicU64::new(0),
            closed: AtomicUsize::new(0),
            first_close: Mutex::new(None),
            start: watch::channel(None).0,
            stop: CancellationToken::new(),
        }
    }

    /// Releases the senders: their schedule starts at `at`.
    pub fn start(&self, at: Instant) {
        self.start.send_replace(Some(at));
    }

    /// When the senders' schedule starts, once it is set.
    pub fn started(&self) -> watch::Receiver<Option<Instant>> {
        self.start.subscribe()
    }

    /// `at` in ns on the shared clock.
    pub fn ns(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.clock).as_nanos() as u64
    }

    /// Counts a connection that ended before the stop, keeping the first
    /// reason.
    pub fn closed(&self, reason: String) {
        self.closed.fetch_add(1, Relaxed);
        let mut first = self.first_close.lock().unwrap_or_else(|p| p.into_inner());
        first.get_or_insert(reason);
    }

    /// Connections that ended before the stop, and the first one's reason.
    pub fn dropped(&self) -> (usize, Option<String>) {
        let first = self.first_close.lock().unwrap_or_else(|p| p.into_inner());
        (self.closed.load(Relaxed), first.clone())
    }

    /// Clients still connected.
    pub fn connected(&self) -> u64 {
        (self.load.clients - self.closed.load(Relaxed)) as u64
    }
}
