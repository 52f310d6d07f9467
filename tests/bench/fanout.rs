//! `natter-bench fanout`: a room of `--clients` sessions in which
//! `--senders` of them post `--body`-byte texts at `--rate` messages per
//! second in all, on a fixed schedule, for `--secs` seconds. Every session
//! (senders included: the server delivers group messages to all) times each
//! delivery from the send time stamped in the text, and checks duplicates
//! and order per sender. The server runs in a child pinned to CPU 0, the
//! driver on CPU 1; the same driver then runs against a bare quinn relay in
//! a child of its own (the baseline: what quinn and the driver allow).
//!
//! Prints one JSON line: delivered, lost (accepted × sessions − first
//! deliveries, after a grace that ends as soon as everything arrived),
//! duplicates, order anomalies, latency percentiles, server CPU and µs per
//! delivery, server RSS, driver CPU; the baseline's under "baseline".

use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use natter_tests::PASSWORD;

use crate::load::child::{pin_driver, LoadChild};
use crate::load::report;
use crate::load::room::{self, Load, Shared, Target};
use crate::load::tally::Totals;
use crate::load::{accounts, fs_kind, lifted_limits, raise_fd_limit};
use crate::rounded;

/// Runs the scenario and prints its JSON line.
pub async fn fanout(load: Load, dir: Option<PathBuf>, baseline: bool) -> anyhow::Result<()> {
    raise_fd_limit();
    let pinned = pin_driver();
    let temp = tempfile::tempdir_in(dir.unwrap_or_else(std::env::temp_dir))?;
    let data = temp.path().join("server");
    let made = Instant::now();
    let tokens = accounts::create(&data, load.clients, PASSWORD).await?;
    let accounts_secs = made.elapsed().as_secs_f64();
    let mut server = LoadChild::natter(&data, &lifted_limits(load.clients)).await?;
    let mut report = measure(&mut server, Target::Natter(Arc::new(tokens)), &load).await?;
    let pinned = pinned && server.pinned;
    if baseline {
        let mut relay = LoadChild::relay(&temp.path().join("relay")).await?;
        report["baseline"] = measure(&mut relay, Target::Relay, &load).await?;
    }
    let head = serde_json::json!({
        "scenario": "fanout",
        "clients": load.clients,
        "senders": load.senders,
        "rate": load.rate,
        "body": load.body,
        "secs": load.secs,
        "pinned": pinned,
        "dir_fs": fs_kind(temp.path()),
        "accounts": accounts::HOW,
        "accounts_secs": rounded(accounts_secs, 2),
    });
    let mut line = head.as_object().cloned().unwrap_or_default();
    line.extend(report.as_object().cloned().unwrap_or_default());
    println!("{}", serde_json::Value::Object(line));
    Ok(())
}

/// One run of the load against `child`: its figures as a JSON object.
/// Ends by killing the child (see [`room::Shared::end`]).
async fn measure(
    child: &mut LoadChild,
    target: Target,
    load: &Load,
) -> anyhow::Result<serde_json::Value> {
    let rss_before = child.rss_mib();
    let shared = Shared::new(load.clone(), matches!(target, Target::Relay));
    let setup = Instant::now();
    let tasks = room::fill(child.addr, &target, &shared).await?;
    let setup_secs = setup.elapsed().as_secs_f64();
    let quiet_secs = child.quiet(Duration::from_secs(30)).await.as_secs_f64();
    let setup_drops = child.udp_drops();
    let phase = report::send_phase(
        load,
        || child.cpu_seconds(),
        |at| shared.run.start(at),
        || shared.drained(),
    )
    .await;
    let run_drops = child.udp_drops() - setup_drops;
    let (rss_after, rss_peak) = (child.rss_mib(), child.peak_rss_mib());
    let dropped = shared.end(child).await?;
    let mut tallies = Vec::with_capacity(tasks.len());
    for task in tasks {
        tallies.push(task.await??);
    }
    let accepted = shared.accepted.load(Relaxed);
    let mut figures = report::figures(&report::Outcome {
        totals: Totals::of(tallies),
        expected: accepted * load.clients as u64,
        start_ns: shared.run.ns(phase.start),
        secs: load.secs,
        sent: shared.run.sent.load(Relaxed),
        accepted,
        rejected: shared.run.rejected.load(Relaxed),
        send_lag_us: shared.run.send_lag_us.load(Relaxed),
        dropped: dropped.count,
        first_drop_reason: dropped.first_reason,
        server_cpu: phase.server_cpu,
        driver_cpu: phase.driver_cpu,
        setup_secs,
        quiet_secs,
        rss_mib: [rss_before, rss_peak, rss_after],
    });
    figures.insert("login_retries".into(), shared.retries.load(Relaxed).into());
    figures.insert(
        "server_udp_drops".into(),
        serde_json::json!({ "setup": setup_drops, "run": run_drops }),
    );
    Ok(figures.into())
}
