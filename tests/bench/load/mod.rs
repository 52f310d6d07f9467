//! Shared pieces of the load scenarios (`fanout`, `idle`, `login`): the
//! server under test as a pinned child process and what it costs, accounts
//! made before it starts, cheap raw sessions from many loopback addresses,
//! and a bare-quinn relay as the baseline.

pub mod accounts;
pub mod child;
pub mod frames;
pub mod presence;
pub mod relay;
pub mod report;
pub mod room;
pub mod run;
pub mod sender;
pub mod serve;
pub mod session;
pub mod stamp;
pub mod tally;

use crate::{percentile, rounded};

/// p50/p90/p99/max of sorted samples, rounded to `places`.
pub fn summary(sorted: &[f64], places: i32) -> serde_json::Value {
    serde_json::json!({
        "p50": rounded(percentile(sorted, 50.0), places),
        "p90": rounded(percentile(sorted, 90.0), places),
        "p99": rounded(percentile(sorted, 99.0), places),
        "max": rounded(sorted.last().copied().unwrap_or(0.0), places),
    })
}

/// The file system type `path` lives on ("tmpfs", "ext4", …), from the
/// longest mount point in /proc/mounts that contains it.
pub fn fs_kind(path: &std::path::Path) -> String {
    let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    mounts
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let (_, point, kind) = (words.next()?, words.next()?, words.next()?);
            path.starts_with(point)
                .then(|| (point.len(), kind.to_owned()))
        })
        .max()
        .map_or_else(|| "unknown".into(), |(_, kind)| kind)
}

/// Raises this process's open-file limit to its hard limit (each client
/// library instance holds a UDP socket of its own), with util-linux's
/// `prlimit` since the workspace forbids `unsafe`. The new soft limit.
pub fn raise_fd_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let hard = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))?
        .split_whitespace()
        .nth(4)?
        .to_owned();
    let _ = std::process::Command::new("prlimit")
        .args(["--pid", &std::process::id().to_string()])
        .arg(format!("--nofile={hard}:{hard}"))
        .status();
    hard.parse().ok()
}

/// Server flags that lift the abuse limits a load test trips on purpose:
/// the connection count, the per-address caps (each source address
/// carries [`session::PER_ADDRESS`] clients) and the per-user send rate.
/// A room filling up slows every login (each is announced to everyone
/// online), so the time allowed to log in is lifted too. The
/// slow-consumer queue stays at its default: it is under test.
pub fn lifted_limits(clients: usize) -> Vec<String> {
    let per_address = session::PER_ADDRESS.to_string();
    [
        ("--max-connections", (clients + 64).to_string()),
        ("--max-connections-per-address", per_address.clone()),
        ("--max-unauthenticated-per-address", per_address),
        ("--messages-per-sec", "1000000".into()),
        ("--message-burst", "1000000".into()),
        ("--idle-timeout-secs", "60".into()),
        ("--auth-timeout-secs", "300".into()),
    ]
    .into_iter()
    .flat_map(|(flag, value)| [flag.to_owned(), value])
    .collect()
}
