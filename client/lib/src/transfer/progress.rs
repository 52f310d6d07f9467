//! How far a transfer is: the id events name it by, the figures they
//! report, and the meter that takes those figures at most ten times a
//! second.

use std::time::{Duration, Instant};

/// Identifies one upload or download of this client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransferId(pub u64);

/// How far a transfer is, with its average rate so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    pub id: TransferId,
    pub name: String,
    pub upload: bool,
    pub done: u64,
    pub total: u64,
    pub bytes_per_sec: u64,
}

/// Reports `(done, total, bytes per second)` at most every 100 ms; the
/// rate is averaged over this attempt.
pub(crate) struct Meter<F: FnMut(u64, u64, f64)> {
    report: F,
    started: Instant,
    last_report: Option<Instant>,
    base: u64,
    total: u64,
}

impl<F: FnMut(u64, u64, f64)> Meter<F> {
    pub(crate) fn new(base: u64, total: u64, report: F) -> Self {
        Self {
            report,
            started: Instant::now(),
            last_report: None,
            base,
            total,
        }
    }

    fn rate(&self, done: u64) -> f64 {
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        (done.saturating_sub(self.base)) as f64 / secs
    }

    pub(crate) fn update(&mut self, done: u64) {
        let due = self
            .last_report
            .is_none_or(|t| t.elapsed() >= Duration::from_millis(100));
        if due {
            self.last_report = Some(Instant::now());
            let rate = self.rate(done);
            (self.report)(done, self.total, rate);
        }
    }

    pub(crate) fn finish(&mut self, done: u64) {
        let rate = self.rate(done);
        (self.report)(done, self.total, rate);
    }
}
