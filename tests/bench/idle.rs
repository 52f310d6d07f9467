//! `natter-bench idle`: what an idle logged-in client costs the server in
//! memory. The server child's RSS is read before any login and again once
//! `--clients` sessions have all caught up and the server has gone quiet
//! (presence notices out, RSS steady); the difference per client in KiB.
//! The baseline in the same run: the bare quinn relay child holding as
//! many connections with one open stream each.
//!
//! With `--hold-secs S` the sessions then stay idle for S seconds and RSS
//! is read again: a connection's memory grows in its first minutes, as
//! quinn's per-connection event queue (a tokio channel of 32-slot blocks)
//! keeps a second block once it has carried 32 datagrams, which keep-alives
//! alone do in under three minutes.
//!
//! Prints one JSON line. Target (issue 9): at most 40 KiB per idle
//! authenticated client at N=1000 and at N=5000.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use natter_tests::PASSWORD;

use crate::load::child::{pin_driver, LoadChild};
use crate::load::room::{self, Load, Shared, Target};
use crate::load::{accounts, fs_kind, lifted_limits, raise_fd_limit};
use crate::rounded;

/// Runs the scenario and prints its JSON line.
pub async fn idle(
    clients: usize,
    dir: Option<PathBuf>,
    baseline: bool,
    hold_secs: u64,
) -> anyhow::Result<()> {
    let hold_for = Duration::from_secs(hold_secs);
    raise_fd_limit();
    let pinned = pin_driver();
    let temp = tempfile::tempdir_in(dir.unwrap_or_else(std::env::temp_dir))?;
    let data = temp.path().join("server");
    let tokens = accounts::create(&data, clients, PASSWORD).await?;
    let mut server = LoadChild::natter(&data, &lifted_limits(clients)).await?;
    let natter = hold(
        &mut server,
        Target::Natter(Arc::new(tokens)),
        clients,
        hold_for,
    )
    .await?;
    let pinned = pinned && server.pinned;
    let relay = if baseline {
        let mut relay = LoadChild::relay(&temp.path().join("relay")).await?;
        hold(&mut relay, Target::Relay, clients, hold_for).await?
    } else {
        serde_json::Value::Null
    };
    let report = serde_json::json!({
        "scenario": "idle",
        "clients": clients,
        "pinned": pinned,
        "dir_fs": fs_kind(temp.path()),
        "accounts": accounts::HOW,
        "per_client_kib": natter["per_client_kib"],
        "hold_secs": hold_secs,
        "natter": natter,
        "baseline": relay,
    });
    println!("{report}");
    Ok(())
}

/// Fills `child` with `clients` idle sessions; its memory before, after,
/// and after `hold_for` more of idling. Ends by killing the child (see
/// [`room::Shared::end`]).
async fn hold(
    child: &mut LoadChild,
    target: Target,
    clients: usize,
    hold_for: Duration,
) -> anyhow::Result<serde_json::Value> {
    let before = child.settled_rss_mib(Duration::from_secs(5)).await;
    let load = Load {
        clients,
        senders: 0,
        rate: 1.0,
        body: 0,
        secs: 0.0,
        grace: Duration::ZERO,
    };
    let shared = Shared::new(load, matches!(target, Target::Relay));
    let setup = Instant::now();
    let tasks = room::fill(child.addr, &target, &shared).await?;
    let setup_secs = setup.elapsed().as_secs_f64();
    let quiet_secs = child.quiet(Duration::from_secs(60)).await.as_secs_f64();
    let after = child.settled_rss_mib(Duration::from_secs(10)).await;
    let held = if hold_for.is_zero() {
        None
    } else {
        tokio::time::sleep(hold_for).await;
        Some(child.settled_rss_mib(Duration::from_secs(10)).await)
    };
    let (peak, cpu) = (child.peak_rss_mib(), child.cpu_seconds());
    let per_client = |rss: f64| rounded((rss - before) * 1024.0 / clients.max(1) as f64, 1);
    let drops = child.udp_drops();
    let dropped = shared.end(child).await?;
    for task in tasks {
        task.await??;
    }
    Ok(serde_json::json!({
        "setup_secs": rounded(setup_secs, 2),
        "quiet_secs": rounded(quiet_secs, 2),
        "server_cpu_s": rounded(cpu, 2),
        "login_retries": shared.retries.load(std::sync::atomic::Ordering::Relaxed),
        "server_udp_drops": drops,
        "dropped_clients": dropped.count,
        "first_drop_reason": dropped.first_reason,
        "rss_mib": {
            "before": rounded(before, 1),
            "after": rounded(after, 1),
            "after_hold": held.map(|rss| rounded(rss, 1)),
            "peak": rounded(peak, 1),
        },
        "per_client_kib": per_client(after),
        "per_client_kib_after_hold": held.map(per_client),
    }))
}
