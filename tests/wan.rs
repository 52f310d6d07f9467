//! Chat stays instant while a file moves over a real-shaped link: a slow
//! line with a deep router buffer (the emulated link in
//! `natter_tests::link`), the real server and the real client library.
//!
//! Two transfers run at once each way. With a loss-based controller they
//! fill the router's buffer and every chat packet waits behind it: here
//! that is ~400 ms; and transfers that take the whole connection's
//! flow-control budget held chat for seconds. The bound is
//! generous (idle plus 100 ms) so only that regression fails, not noise;
//! `natter-bench wan` measures the real figures.

use std::time::Duration;

use natter_common::congestion::Congestion;
use natter_common::protocol::MediaKind;
use natter_tests::link::{Link, LinkShape};
use natter_tests::{random_file, register_and_login, within, TestServer};

/// 8 Mbit/s, 20 ms round trip, a 400 ms buffer: two files of 2 MiB take 4 s.
const SHAPE: LinkShape = LinkShape {
    rate_mbit: 8.0,
    rtt_ms: 20.0,
    buffer_ms: 400.0,
};
const FILE_BYTES: u64 = 2 << 20;
const MARGIN_MS: f64 = 100.0;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_stays_instant_while_a_file_fills_a_deep_buffered_link() {
    let (idle, upload, download) = ping_during_transfers(Congestion::default()).await;
    assert!(
        upload < idle + MARGIN_MS,
        "ping p95 during an upload {upload:.1} ms, idle max {idle:.1} ms"
    );
    assert!(
        download < idle + MARGIN_MS,
        "ping p95 during a download {download:.1} ms, idle max {idle:.1} ms"
    );
}

/// The worst idle ping, then the 95th percentile of pings during two
/// uploads through the link and during their downloads back, in ms.
async fn ping_during_transfers(congestion: Congestion) -> (f64, f64, f64) {
    let server = TestServer::start_with(|c| c.congestion = congestion).await;
    let link = Link::start(server.addr, SHAPE).expect("link starts");
    let mut config = server.client_config_for(&link.addr.to_string());
    config.congestion = congestion;
    let (client, mut events) = register_and_login(config, "alice").await;
    tokio::spawn(async move { while events.next().await.is_some() {} });
    let dir = tempfile::tempdir().unwrap();
    client
        .use_cache_root(&natter_client::MediaCache::at(dir.path().join("cache")).unwrap())
        .unwrap();
    let files: Vec<_> = (0..2)
        .map(|i| {
            let file = dir.path().join(format!("album-{i}.bin"));
            random_file(&file, FILE_BYTES, &format!("wan-{i}"));
            file
        })
        .collect();

    let mut idle = Vec::new();
    for _ in 0..20 {
        idle.push(within("an idle ping", client.ping()).await.expect("ping"));
    }
    let idle = idle.iter().max().unwrap().as_secs_f64() * 1e3;

    let upload = |file: &std::path::Path| {
        let (id, cancel) = client.new_transfer();
        let (client, file) = (client.clone(), file.to_path_buf());
        async move { client.upload_now(MediaKind::File, &file, id, &cancel).await }
    };
    let both = async { tokio::join!(upload(&files[0]), upload(&files[1])) };
    let ((first, second), upload_pings) = pinging(&client, both).await;
    let hashes = [
        first.expect("upload").0.hash,
        second.expect("upload").0.hash,
    ];

    let download = |i: usize| {
        let (id, cancel) = client.new_transfer();
        let (client, out) = (client.clone(), dir.path().join(format!("fetched-{i}.bin")));
        async move { client.fetch_to(hashes[i], &out, id, &cancel).await }
    };
    let both = async { tokio::join!(download(0), download(1)) };
    let ((first, second), download_pings) = pinging(&client, both).await;
    for (fetched, file) in [first, second].into_iter().zip(&files) {
        assert!(natter_tests::same_bytes(file, &fetched.expect("download")));
    }
    (idle, p95(upload_pings), p95(download_pings))
}

/// Runs `work` to its end while pinging back to back; its result and the
/// pings.
async fn pinging<T>(
    client: &natter_client::Client,
    work: impl std::future::Future<Output = T>,
) -> (T, Vec<Duration>) {
    let mut pings = Vec::new();
    let pinger = async {
        loop {
            pings.push(client.ping().await.expect("ping"));
        }
    };
    let result = within("the transfer", async {
        tokio::select! {
            result = work => result,
            _ = pinger => unreachable!("the pinger never stops"),
        }
    })
    .await;
    (result, pings)
}

fn p95(mut pings: Vec<Duration>) -> f64 {
    assert!(
        pings.len() >= 10,
        "only {} pings during the transfer",
        pings.len()
    );
    pings.sort();
    pings[(pings.len() - 1) * 95 / 100].as_secs_f64() * 1e3
}
