//! The window rule of [`super::LowDelay`], free of quinn so it can be
//! tested against a simulated link, deterministically.
//!
//! The rule, per ACK frame, with `q` the queueing delay (the smallest
//! round trip of the last few frames minus the base round trip), `T` the
//! target and `b` the bytes newly acknowledged:
//!
//! 1. Slow start: the window grows by `b` (doubling per round trip) until
//!    `q` passes `T / 2` or a packet is lost; it never restarts.
//! 2. Then `window += gain × b × (T − q) / (base + q)`, the factor clamped
//!    to [-0.5, 1]. Summed over a round trip, that moves the bytes queued
//!    at the bottleneck `gain` of the way to `T × rate`: the step is
//!    proportional to the link's rate, so fast links are reached fast, and
//!    a queue over the target shrinks the window within a round trip.
//! 3. Acknowledgements of packets sent while the connection had nothing
//!    more to send (app-limited) or before the last loss do not grow it,
//!    nor do any while less than half the window is in flight (the sender
//!    is held back by something else, a flow-control window, say).
//! 4. A loss halves the window, at most once per round trip (per recovery
//!    period, as NewReno); persistent congestion resets it to the minimum.
//! 5. The window never falls below two packets.

use std::time::{Duration, Instant};

/// How many recent ACK frames the current delay is the minimum of
/// (LEDBAT's CURRENT_FILTER): filters out one-off late ACKs.
const CURRENT_FILTER: usize = 4;
/// The base delay is the minimum over this many buckets...
const BASE_BUCKETS: usize = 10;
/// ...of this length each: ten minutes, as LEDBAT's BASE_HISTORY, so a
/// route change is learned.
const BASE_BUCKET: Duration = Duration::from_secs(60);

/// Settings for [`DelayWindow`].
#[derive(Debug, Clone)]
pub struct LowDelayConfig {
    /// The queueing delay to hold the bottleneck at.
    pub target: Duration,
    /// The fraction of the distance to the target covered per round trip.
    pub gain: f64,
    /// The first window, in bytes.
    pub initial_window: u64,
}

impl Default for LowDelayConfig {
    fn default() -> Self {
        Self {
            target: super::TARGET_QUEUE_DELAY,
            gain: 0.5,
            // quinn's default: ten packets of its 1200-byte minimum.
            initial_window: 10 * 1200,
        }
    }
}

/// A congestion window steered by queueing delay; see the module's rule.
#[derive(Debug, Clone)]
pub struct DelayWindow {
    config: LowDelayConfig,
    mtu: u64,
    window: f64,
    slow_start: bool,
    recovery_start: Instant,
    base: BaseDelay,
    recent: [Option<Duration>; CURRENT_FILTER],
    next_recent: usize,
    frame_rtt: Option<Duration>,
    frame_bytes: u64,
}

impl DelayWindow {
    /// A window at `config.initial_window`, in slow start.
    pub fn new(config: LowDelayConfig, now: Instant, mtu: u16) -> Self {
        Self {
            window: config.initial_window as f64,
            config,
            mtu: mtu.into(),
            slow_start: true,
            recovery_start: now,
            base: BaseDelay::new(now),
            recent: [None; CURRENT_FILTER],
            next_recent: 0,
            frame_rtt: None,
            frame_bytes: 0,
        }
    }

    /// One packet of the current ACK frame, sent at `sent`, was acknowledged.
    pub fn on_ack(&mut self, now: Instant, sent: Instant, bytes: u64, app_limited: bool) {
        let rtt = now.saturating_duration_since(sent);
        self.frame_rtt = Some(self.frame_rtt.map_or(rtt, |r| r.min(rtt)));
        if !app_limited && sent > self.recovery_start {
            self.frame_bytes += bytes;
        }
    }

    /// The ACK frame is complete, `in_flight` bytes remain unacknowledged:
    /// take the frame's delay sample and move the window.
    pub fn on_end_acks(&mut self, now: Instant, in_flight: u64) {
        let Some(rtt) = self.frame_rtt.take() else {
            return;
        };
        self.base.update(now, rtt);
        self.recent[self.next_recent] = Some(rtt);
        self.next_recent = (self.next_recent + 1) % CURRENT_FILTER;
        let bytes = std::mem::take(&mut self.frame_bytes);
        let used = (in_flight + bytes) as f64 >= self.window / 2.0;
        if bytes > 0 && used {
            self.grow(bytes as f64);
        }
    }

    fn grow(&mut self, bytes: f64) {
        let base = self.base.get().as_secs_f64();
        let queued = self.queueing_delay().as_secs_f64();
        let target = self.config.target.as_secs_f64();
        if self.slow_start {
            if queued <= target / 2.0 {
                self.window += bytes;
                return;
            }
            self.slow_start = false;
        }
        let factor = ((target - queued) / (base + queued).max(1e-6)).clamp(-0.5, 1.0);
        self.window = (self.window + self.config.gain * bytes * factor).max(self.minimum());
    }

    /// A packet sent at `sent` was lost.
    pub fn on_loss(&mut self, now: Instant, sent: Instant, persistent: bool) {
        if sent <= self.recovery_start {
            return;
        }
        self.recovery_start = now;
        self.slow_start = false;
        self.window = (self.window / 2.0).max(self.minimum());
        if persistent {
            self.window = self.minimum();
        }
    }

    /// The path's packet size changed.
    pub fn on_mtu(&mut self, mtu: u16) {
        self.mtu = mtu.into();
        self.window = self.window.max(self.minimum());
    }

    /// Bytes that may be in flight.
    pub fn window(&self) -> u64 {
        self.window as u64
    }

    /// The window a new connection starts with.
    pub fn initial_window(&self) -> u64 {
        self.config.initial_window
    }

    /// The current queueing delay estimate: the smallest recent round trip
    /// minus the base round trip.
    pub fn queueing_delay(&self) -> Duration {
        let current = self.recent.iter().flatten().min().copied();
        current.map_or(Duration::ZERO, |c| c.saturating_sub(self.base.get()))
    }

    fn minimum(&self) -> f64 {
        (2 * self.mtu) as f64
    }
}

/// The smallest round trip seen over the last ten minutes, kept in
/// one-minute buckets.
#[derive(Debug, Clone)]
struct BaseDelay {
    buckets: [Option<Duration>; BASE_BUCKETS],
    current: usize,
    bucket_start: Instant,
}

impl BaseDelay {
    fn new(now: Instant) -> Self {
        Self {
            buckets: [None; BASE_BUCKETS],
            current: 0,
            bucket_start: now,
        }
    }

    fn update(&mut self, now: Instant, rtt: Duration) {
        if now.saturating_duration_since(self.bucket_start) >= BASE_BUCKET {
            self.current = (self.current + 1) % BASE_BUCKETS;
            self.buckets[self.current] = None;
            self.bucket_start = now;
        }
        let slot = &mut self.buckets[self.current];
        *slot = Some(slot.map_or(rtt, |b| b.min(rtt)));
    }

    fn get(&self) -> Duration {
        self.buckets
            .iter()
            .flatten()
            .min()
            .copied()
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests;
