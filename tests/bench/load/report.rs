//! What every fan-out run measures and reports, whatever the server
//! (`fanout` against Natter or the relay, `irc` against InspIRCd): the send
//! phase with its grace, and the figures of the JSON line.

use std::time::{Duration, Instant};

use super::room::Load;
use super::summary;
use super::tally::Totals;
use crate::rounded;

/// When the schedule started, and the CPU seconds the server and the
/// driver used during the send phase and its grace.
pub struct Phase {
    pub start: Instant,
    pub server_cpu: f64,
    pub driver_cpu: f64,
}

/// Releases the senders through `release`, waits out the send phase and
/// the grace: over as soon as `drained` (checked every 10 ms: a poll of
/// counters, not a pause), or at its deadline.
pub async fn send_phase(
    load: &Load,
    server_cpu: impl Fn() -> f64,
    release: impl FnOnce(Instant),
    drained: impl Fn() -> bool,
) -> Phase {
    let (server_before, driver_before) = (server_cpu(), crate::cpu_seconds("self"));
    let start = Instant::now() + Duration::from_millis(50);
    release(start);
    tokio::time::sleep_until((start + Duration::from_secs_f64(load.secs)).into()).await;
    let deadline = Instant::now() + load.grace;
    while !drained() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Phase {
        start,
        server_cpu: server_cpu() - server_before,
        driver_cpu: crate::cpu_seconds("self") - driver_before,
    }
}

/// A run as both scenarios count it.
pub struct Outcome {
    pub totals: Totals,
    /// Deliveries owed: answered messages × their recipients.
    pub expected: u64,
    /// The schedule's start on the driver's clock, ns.
    pub start_ns: u64,
    pub secs: f64,
    pub sent: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub send_lag_us: u64,
    pub dropped: usize,
    pub first_drop_reason: Option<String>,
    pub server_cpu: f64,
    pub driver_cpu: f64,
    pub setup_secs: f64,
    pub quiet_secs: f64,
    /// Server RSS before, at its peak, after; MiB.
    pub rss_mib: [f64; 3],
}

/// The figures every fan-out JSON line has.
pub fn figures(run: &Outcome) -> serde_json::Map<String, serde_json::Value> {
    let deliveries = run.totals.deliveries();
    let window = (run.totals.last_ns.saturating_sub(run.start_ns) as f64 / 1e9).max(run.secs);
    let per_delivery = |cpu: f64| rounded(cpu * 1e6 / deliveries.max(1) as f64, 2);
    let [before, peak, after] = run.rss_mib;
    let figures = serde_json::json!({
        "setup_secs": rounded(run.setup_secs, 2),
        "quiet_secs": rounded(run.quiet_secs, 2),
        "sent": run.sent,
        "accepted": run.accepted,
        "rejected": run.rejected,
        "deliveries": deliveries,
        "deliveries_per_sec": rounded(deliveries as f64 / window, 0),
        "lost": run.expected.saturating_sub(deliveries),
        "duplicates": run.totals.duplicates,
        "order_anomalies": run.totals.order_anomalies,
        "dropped_clients": run.dropped,
        "first_drop_reason": run.first_drop_reason,
        "max_send_lag_ms": rounded(run.send_lag_us as f64 / 1000.0, 1),
        "latency_ms": summary(&run.totals.latencies_ms, 2),
        "server_cpu_s": rounded(run.server_cpu, 2),
        "us_per_delivery": per_delivery(run.server_cpu),
        "driver_cpu_s": rounded(run.driver_cpu, 2),
        "driver_us_per_delivery": per_delivery(run.driver_cpu),
        "server_rss_mib": {
            "before": rounded(before, 1),
            "peak": rounded(peak, 1),
            "after": rounded(after, 1),
        },
    });
    figures.as_object().cloned().unwrap_or_default()
}
