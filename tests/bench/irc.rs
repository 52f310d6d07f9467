//! `natter-bench irc`: the `fanout` load shape against a real IRC server,
//! InspIRCd over TLS, as the yardstick of issue 9. `--clients` connections
//! join one channel; `--senders` of them post `--body`-byte PRIVMSGs at
//! `--rate` messages per second in all, on a fixed schedule, for `--secs`
//! seconds. Every client times each delivery from the send time stamped in
//! the text (ns on the driver's one monotonic clock) and checks duplicates
//! and order per sender. InspIRCd runs pinned to CPU 0, the driver on CPU 1.
//!
//! Prints one JSON line with `fanout`'s field names. IRC does not echo a
//! message to its sender, so each message is expected at
//! `recipients_per_message` = N − 1 clients; and it has no
//! acknowledgement, so `accepted` is what was written (`rejected` counts
//! error numerics the server answered during the run).
//!
//! InspIRCd writes each recipient's queued lines in one go, so its CPU
//! per delivery falls as the rate rises (at N = 1000 on two shared cores:
//! about 9 µs at R = 100, 2 µs at R = 500): compare servers at the same R.

mod client;
mod server;

use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use crate::load::child::pin_driver;
use crate::load::raise_fd_limit;
use crate::load::report;
use crate::load::room::Load;
use crate::load::tally::Totals;

use client::Shared;
use server::Inspircd;

/// Runs the scenario and prints its JSON line. The driver runs on a
/// single-threaded runtime of its own (one thread on its one core: no
/// cross-thread wake-ups between the 1,000 connection tasks).
pub async fn irc(load: Load, inspircd: Option<PathBuf>) -> anyhow::Result<()> {
    let driver = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(run(load, inspircd))
    });
    tokio::task::spawn_blocking(move || driver.join())
        .await?
        .map_err(|_| anyhow::anyhow!("the driver thread panicked"))?
}

async fn run(load: Load, inspircd: Option<PathBuf>) -> anyhow::Result<()> {
    anyhow::ensure!(load.clients >= 2, "--clients must be at least 2");
    raise_fd_limit();
    let pinned = pin_driver();
    let temp = tempfile::tempdir()?;
    let mut server = Inspircd::start(&server::find(inspircd), temp.path()).await?;
    let outcome = measure(&server, &load).await;
    server.kill().await?;
    let report = outcome?;
    let head = serde_json::json!({
        "scenario": "irc",
        "server": server.version,
        "clients": load.clients,
        "senders": load.senders,
        "rate": load.rate,
        "body": load.body,
        "secs": load.secs,
        "pinned": pinned && server.pinned,
    });
    let mut line = head.as_object().cloned().unwrap_or_default();
    line.extend(report.as_object().cloned().unwrap_or_default());
    println!("{}", serde_json::Value::Object(line));
    Ok(())
}

/// One run of the load: its figures as a JSON object.
async fn measure(server: &Inspircd, load: &Load) -> anyhow::Result<serde_json::Value> {
    let rss_before = server.rss_mib();
    let shared = Shared::new(load.clone());
    let connector = client::connector(server.cert.clone())?;
    let setup = Instant::now();
    let tasks = client::fill(server.addr, connector, &shared).await?;
    let setup_secs = setup.elapsed().as_secs_f64();
    let quiet_secs = server.quiet(Duration::from_secs(30)).await.as_secs_f64();
    let phase = report::send_phase(
        load,
        || server.cpu_seconds(),
        |at| shared.run.start(at),
        || shared.drained(),
    )
    .await;
    let (rss_after, rss_peak) = (server.rss_mib(), server.peak_rss_mib());
    shared.run.stop.cancel();
    let mut tallies = Vec::with_capacity(tasks.len());
    for task in tasks {
        tallies.push(task.await??);
    }
    let (dropped, first_drop_reason) = shared.run.dropped();
    // IRC has no acknowledgement: every message sent counts as accepted.
    let sent = shared.run.sent.load(Relaxed);
    let mut figures = report::figures(&report::Outcome {
        totals: Totals::of(tallies),
        expected: sent * shared.recipients(),
        start_ns: shared.run.ns(phase.start),
        secs: load.secs,
        sent,
        accepted: sent,
        rejected: shared.run.rejected.load(Relaxed),
        send_lag_us: shared.run.send_lag_us.load(Relaxed),
        dropped,
        first_drop_reason,
        server_cpu: phase.server_cpu,
        driver_cpu: phase.driver_cpu,
        setup_secs,
        quiet_secs,
        rss_mib: [rss_before, rss_peak, rss_after],
    });
    let tls = shared.tls.lock().unwrap_or_else(|p| p.into_inner()).clone();
    figures.insert("tls".into(), tls.into());
    figures.insert("recipients_per_message".into(), shared.recipients().into());
    figures.insert("login_retries".into(), 0.into());
    Ok(figures.into())
}
