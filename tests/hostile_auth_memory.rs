//! Memory under a login flood: argon2 runs on a fixed set of workers that
//! reuse their memory, so a flood of logins costs no more than the workers
//! hold. Alone in its test binary, so the process's peak RSS is this
//! test's own and not that of tests running beside it.

use natter_common::{Refusal, ServerMsg};
use natter_tests::logins::{login_from, loopback, register, roomy, WRONG};
use natter_tests::raw::RawPeer;
use natter_tests::{within, TestServer};

/// This process's resident memory, peak and current, in MiB (Linux).
fn memory_mib() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))?
            .split_whitespace()
            .nth(1)?
            .parse::<u64>()
            .ok()
            .map(|kib| kib / 1024)
    };
    Some((field("VmHWM:")?, field("VmRSS:")?))
}

#[tokio::test]
async fn a_login_flood_does_not_grow_memory_past_the_hashing_workers() {
    let server = TestServer::start_with(|c| {
        roomy(c);
        c.login_failures_per_account = 1000;
        c.hash_workers = 2;
        c.hash_wait_secs = 60;
    })
    .await;
    register(server.addr, "alice").await;
    // Warm up: connections, the database and one worker's memory.
    let _ = login_from(server.addr, 2, "alice", WRONG).await;
    let Some((peak_before, _)) = memory_mib() else {
        eprintln!("skipped: no /proc/self/status");
        return;
    };
    // 200 logins, 10 at a time: each peer makes the 5 attempts a
    // connection may (few client endpoints, so the test's own side stays
    // small next to what unbounded hashing would take: 10 x 19 MiB).
    for _round in 0..4 {
        let peers: Vec<_> = (0..10)
            .map(|_| {
                let addr = server.addr;
                tokio::spawn(async move {
                    let mut peer = RawPeer::connect_from(addr, loopback(2)).await;
                    for _ in 0..5 {
                        let answer = peer.try_login("alice", WRONG).await;
                        assert_eq!(answer, ServerMsg::Refused(Refusal::WrongPassword));
                    }
                })
            })
            .collect();
        for peer in peers {
            within("a peer's logins", peer).await.unwrap();
        }
    }
    let (peak_after, now) = memory_mib().unwrap();
    eprintln!("peak {peak_before} -> {peak_after} MiB, now {now} MiB");
    // One more worker's ~19 MiB, and the connections.
    assert!(
        peak_after - peak_before < 80,
        "peak memory grew from {peak_before} to {peak_after} MiB"
    );
}
