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
use crate::load::room::{self, Load, Shared, Target};
use crate::load::tally::Totals;
use crate::load::{accounts, fs_kind, lifted_limits, raise_fd_limit, summary};
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
    let (start, server_cpu, driver_cpu) = send_phase(child, &shared).await;
    let run_drops = child.udp_drops() - setup_drops;
    let (rss_after, rss_peak) = (child.rss_mib(), child.peak_rss_mib());
    let dropped = shared.end(child).await?;
    let mut tallies = Vec::with_capacity(tasks.len());
    for task in tasks {
        tallies.push(task.await??);
    }
    let totals = Totals::of(tallies);
    let deliveries = totals.deliveries();
    let accepted = shared.accepted.load(Relaxed);
    let expected = accepted * load.clients as u64;
    let window = (totals.last_ns.saturating_sub(shared.ns(start)) as f64 / 1e9).max(load.secs);
    let per_delivery = |cpu: f64| rounded(cpu * 1e6 / deliveries.max(1) as f64, 2);
    Ok(serde_json::json!({
        "setup_secs": rounded(setup_secs, 2),
        "quiet_secs": rounded(quiet_secs, 2),
        "login_retries": shared.retries.load(Relaxed),
        "server_udp_drops": { "setup": setup_drops, "run": run_drops },
        "sent": shared.sent.load(Relaxed),
        "accepted": accepted,
        "rejected": shared.rejected.load(Relaxed),
        "deliveries": deliveries,
        "deliveries_per_sec": rounded(deliveries as f64 / window, 0),
        "lost": expected.saturating_sub(deliveries),
        "duplicates": totals.duplicates,
        "order_anomalies": totals.order_anomalies,
        "dropped_clients": dropped.count,
        "first_drop_reason": dropped.first_reason,
        "max_send_lag_ms": rounded(shared.send_lag_us.load(Relaxed) as f64 / 1000.0, 1),
        "latency_ms": summary(&totals.latencies_ms, 2),
        "server_cpu_s": rounded(server_cpu, 2),
        "us_per_delivery": per_delivery(server_cpu),
        "driver_cpu_s": rounded(driver_cpu, 2),
        "driver_us_per_delivery": per_delivery(driver_cpu),
        "server_rss_mib": {
            "before": rounded(rss_before, 1),
            "peak": rounded(rss_peak, 1),
            "after": rounded(rss_after, 1),
        },
    }))
}

/// Releases the senders, waits out the send phase and the grace; when the
/// schedule started, and the CPU seconds server and driver used meanwhile.
async fn send_phase(child: &LoadChild, shared: &Shared) -> (Instant, f64, f64) {
    let (server_cpu, driver_cpu) = (child.cpu_seconds(), crate::cpu_seconds("self"));
    let start = Instant::now() + Duration::from_millis(50);
    shared.start(start);
    let end = start + Duration::from_secs_f64(shared.load.secs);
    tokio::time::sleep_until(end.into()).await;
    // The grace: over as soon as every accepted message reached everyone
    // still connected (checked every 10 ms), or at its deadline.
    let deadline = Instant::now() + shared.load.grace;
    while !shared.drained() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    (
        start,
        child.cpu_seconds() - server_cpu,
        crate::cpu_seconds("self") - driver_cpu,
    )
}
