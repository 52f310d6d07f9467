//! The congestion controller both ends use: it keeps the bottleneck's
//! queue near a small target delay so chat stays instant while a file moves.
//!
//! Loss-based controllers (quinn's default Cubic) grow their window until a
//! router's buffer overflows, so on a real link every chat packet waits
//! behind a full queue of file data: hundreds of milliseconds on a home
//! uplink with a deep buffer. Stream priority cannot skip a router's queue.
//!
//! [`LowDelay`] belongs to the LEDBAT (RFC 6817) and FAST/Vegas family: it
//! measures each packet's round trip, takes the smallest recent one as the
//! current delay and the smallest over ten minutes as the path's base, and
//! steers the window so that the queueing delay (current minus base) sits
//! at [`LowDelayConfig::target`]. Unlike LEDBAT's fixed one-packet-per-RTT
//! step, the step is proportional to the rate, so it reaches a 100 Mbit/s
//! link in a few round trips; [`window`] holds the rule and its tests.
//!
//! Alone on a link it fills it (the queue never empties while it sits at
//! the target); a loss still halves the window, once per round trip.

pub mod budget;
mod window;

use std::any::Any;
use std::sync::Arc;
use std::time::{Duration, Instant};

use quinn::congestion::{Controller, ControllerFactory, ControllerMetrics};
use quinn_proto::RttEstimator;

pub use window::{DelayWindow, LowDelayConfig};

/// quinn's view of a [`DelayWindow`].
#[derive(Debug, Clone)]
pub struct LowDelay {
    window: DelayWindow,
}

impl Controller for LowDelay {
    fn on_ack(
        &mut self,
        now: Instant,
        sent: Instant,
        bytes: u64,
        app_limited: bool,
        _: &RttEstimator,
    ) {
        self.window.on_ack(now, sent, bytes, app_limited);
    }

    fn on_end_acks(&mut self, now: Instant, in_flight: u64, _app_limited: bool, _: Option<u64>) {
        self.window.on_end_acks(now, in_flight);
    }

    fn on_congestion_event(&mut self, now: Instant, sent: Instant, persistent: bool, _lost: u64) {
        self.window.on_loss(now, sent, persistent);
    }

    fn on_mtu_update(&mut self, new_mtu: u16) {
        self.window.on_mtu(new_mtu);
    }

    fn window(&self) -> u64 {
        self.window.window()
    }

    fn metrics(&self) -> ControllerMetrics {
        let mut metrics = ControllerMetrics::default();
        metrics.congestion_window = self.window.window();
        metrics
    }

    fn clone_box(&self) -> Box<dyn Controller> {
        Box::new(self.clone())
    }

    fn initial_window(&self) -> u64 {
        self.window.initial_window()
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
}

impl ControllerFactory for LowDelayConfig {
    fn build(self: Arc<Self>, now: Instant, current_mtu: u16) -> Box<dyn Controller> {
        Box::new(LowDelay {
            window: DelayWindow::new((*self).clone(), now, current_mtu),
        })
    }
}

/// Which controller a connection uses. `Cubic` is quinn's default, kept
/// so the benchmark can measure the two side by side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Congestion {
    /// [`LowDelay`] with its default target.
    #[default]
    LowDelay,
    /// quinn's default, loss-based.
    Cubic,
}

impl Congestion {
    /// Puts this controller into a connection's transport settings.
    pub fn apply(self, transport: &mut quinn::TransportConfig) {
        match self {
            Congestion::LowDelay => {
                transport.congestion_controller_factory(Arc::new(LowDelayConfig::default()))
            }
            Congestion::Cubic => transport
                .congestion_controller_factory(Arc::new(quinn::congestion::CubicConfig::default())),
        };
    }
}

impl std::str::FromStr for Congestion {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "low-delay" => Ok(Congestion::LowDelay),
            "cubic" => Ok(Congestion::Cubic),
            other => Err(format!(
                "unknown congestion controller {other:?}: low-delay or cubic"
            )),
        }
    }
}

impl std::fmt::Display for Congestion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Congestion::LowDelay => "low-delay",
            Congestion::Cubic => "cubic",
        })
    }
}

/// The queueing delay [`LowDelay`] aims for by default: enough to keep a
/// link busy through timer and scheduling noise, small enough that a chat
/// message behind it is still instant.
pub const TARGET_QUEUE_DELAY: Duration = Duration::from_millis(10);
