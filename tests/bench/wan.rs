//! `natter-bench wan`: chat latency while a file moves over an emulated
//! link, with Natter's congestion controller and with quinn's default
//! (Cubic) as the baseline, in the same run.
//!
//! Per link: the link emulator's rate is verified with a flood, then for
//! each controller a fresh server starts (in this process) and two users
//! log in: `busy` through the link, `peer` directly. Three phases follow,
//! each measuring `busy`'s ping (every 50 ms, on the control stream), a
//! chat message's trip from `busy` to `peer` (out) and from `peer` to
//! `busy` (in), every 100 ms each, timed on this process's clock: idle,
//! while `busy` uploads, and while `busy` downloads what it uploaded.
//! Prints one JSON line per link: both controllers, each phase's
//! percentiles, goodput over the link rate, and the link's queueing delay
//! and drops in the busy direction.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use natter_client::{Client, ClientEvent, Events};
use natter_common::congestion::Congestion;
use natter_common::protocol::MediaKind;
use natter_common::{BlobHash, Content, Recipient, UserName};
use natter_tests::link::{verify_rate, Link, LinkShape, LinkStats};
use natter_tests::{random_file, TestServer};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

/// The links of issue 10: a 20 Mbit/s line with two buffer depths, a fast
/// line, and a typical home uplink with a deep buffer.
const MATRIX: &[LinkShape] = &[
    LinkShape {
        rate_mbit: 20.0,
        rtt_ms: 40.0,
        buffer_ms: 200.0,
    },
    LinkShape {
        rate_mbit: 20.0,
        rtt_ms: 40.0,
        buffer_ms: 500.0,
    },
    LinkShape {
        rate_mbit: 100.0,
        rtt_ms: 20.0,
        buffer_ms: 100.0,
    },
    LinkShape {
        rate_mbit: 5.0,
        rtt_ms: 60.0,
        buffer_ms: 1000.0,
    },
];

const PING_GAP: Duration = Duration::from_millis(50);
const CHAT_GAP: Duration = Duration::from_millis(100);

/// What to run.
pub struct Wan {
    pub shape: LinkShape,
    pub matrix: bool,
    /// Seconds of each transfer phase (the file is sized to take this
    /// long at the link rate) and of the idle phase.
    pub secs: f64,
    pub idle_secs: f64,
    /// Transfers at once in each busy phase.
    pub transfers: usize,
}

pub async fn wan(run: Wan) -> anyhow::Result<()> {
    let links = if run.matrix {
        MATRIX.to_vec()
    } else {
        vec![run.shape]
    };
    for shape in links {
        let (verified, flood_drops, flood_lost) = verify_rate(shape, 2.0).await?;
        eprintln!(
            "link {} Mbit/s: flood measured {verified:.2} Mbit/s, {flood_drops} queue drops, {flood_lost} lost elsewhere",
            shape.rate_mbit
        );
        let mut line = json!({
            "scenario": "wan",
            "rate_mbit": shape.rate_mbit,
            "rtt_ms": shape.rtt_ms,
            "buffer_ms": shape.buffer_ms,
            "transfers": run.transfers,
            "link_verified_mbit": round(verified, 2),
            "link_lost_outside_queue": flood_lost,
        });
        for congestion in [Congestion::Cubic, Congestion::LowDelay] {
            eprintln!("  {congestion}...");
            let result = one_link(shape, congestion, &run).await?;
            line[congestion.to_string()] = result;
        }
        println!("{line}");
    }
    Ok(())
}

/// Latency samples in ms, filled by the pinger and the event readers.
#[derive(Default)]
struct Samples {
    ping: Vec<f64>,
    out: Vec<f64>,
    inbound: Vec<f64>,
}

type SampleLog = Arc<Mutex<Samples>>;

async fn one_link(shape: LinkShape, congestion: Congestion, run: &Wan) -> anyhow::Result<Value> {
    let server = TestServer::start_with(|c| {
        c.congestion = congestion;
        c.messages_per_sec = 1_000_000;
        c.message_burst = 1_000_000;
    })
    .await;
    let link = Link::start(server.addr, shape)?;
    let mut busy_config = server.client_config_for(&link.addr.to_string());
    busy_config.congestion = congestion;
    let mut peer_config = server.client_config();
    peer_config.congestion = congestion;
    let (busy, busy_events) = natter_tests::register_and_login(busy_config, "busy").await;
    let (peer, peer_events) = natter_tests::register_and_login(peer_config, "peer").await;
    let dir = tempfile::tempdir()?;
    busy.use_cache_root(&natter_client::MediaCache::at(dir.path().join("cache"))?)?;

    let epoch = Instant::now();
    let samples = SampleLog::default();
    let readers = [
        tokio::spawn(read_trips(
            busy_events,
            busy.me().clone(),
            epoch,
            samples.clone(),
        )),
        tokio::spawn(read_trips(
            peer_events,
            peer.me().clone(),
            epoch,
            samples.clone(),
        )),
    ];
    let mut phases = serde_json::Map::new();
    let idle = phase(&busy, &peer, epoch, &samples, run.idle_secs, async {
        Ok(0)
    })
    .await?;
    link.take_stats();
    phases.insert("idle".into(), idle.0);

    let size = (shape.rate_mbit * 1e6 / 8.0 * run.secs) as u64 / run.transfers as u64;
    let files: Vec<_> = (0..run.transfers)
        .map(|i| {
            let path = dir.path().join(format!("payload-{i}.bin"));
            random_file(&path, size, &format!("wan-{congestion}-{i}"));
            path
        })
        .collect();
    let hashes = Arc::new(Mutex::new(Vec::new()));
    let upload_work = {
        let jobs: Vec<_> = files
            .iter()
            .map(|path| upload(busy.clone(), path.clone()))
            .collect();
        let hashes = hashes.clone();
        async move {
            *hashes.lock().unwrap() = all(jobs).await?;
            Ok(size * run.transfers as u64)
        }
    };
    let (mut up, secs) = phase(&busy, &peer, epoch, &samples, 0.0, upload_work).await?;
    add_link(
        &mut up,
        &link.take_stats(),
        true,
        shape,
        size * run.transfers as u64,
        secs,
    );
    phases.insert("upload".into(), up);

    let hashes = hashes.lock().unwrap().clone();
    let jobs: Vec<_> = hashes
        .iter()
        .enumerate()
        .map(|(i, hash)| {
            download(
                busy.clone(),
                *hash,
                dir.path().join(format!("fetched-{i}.bin")),
            )
        })
        .collect();
    let downloads = async move {
        all(jobs).await?;
        Ok(size * run.transfers as u64)
    };
    let (mut down, secs) = phase(&busy, &peer, epoch, &samples, 0.0, downloads).await?;
    add_link(
        &mut down,
        &link.take_stats(),
        false,
        shape,
        size * run.transfers as u64,
        secs,
    );
    phases.insert("download".into(), down);

    for reader in readers {
        reader.abort();
    }
    Ok(Value::Object(phases))
}

/// Runs `work` (or waits `min_secs` when it has none) while pinging and
/// chatting both ways; the phase's percentiles and its length in seconds.
async fn phase(
    busy: &Client,
    peer: &Client,
    epoch: Instant,
    samples: &SampleLog,
    min_secs: f64,
    work: impl std::future::Future<Output = anyhow::Result<u64>>,
) -> anyhow::Result<(Value, f64)> {
    *samples.lock().unwrap() = Samples::default();
    let stop = CancellationToken::new();
    let pinger = tokio::spawn(ping_every(busy.clone(), samples.clone(), stop.clone()));
    let chat_out = tokio::spawn(chat_every(
        busy.clone(),
        peer.me().clone(),
        epoch,
        stop.clone(),
    ));
    let chat_in = tokio::spawn(chat_every(
        peer.clone(),
        busy.me().clone(),
        epoch,
        stop.clone(),
    ));
    let started = Instant::now();
    work.await?;
    let left = min_secs - started.elapsed().as_secs_f64();
    if left > 0.0 {
        tokio::time::sleep(Duration::from_secs_f64(left)).await;
    }
    let secs = started.elapsed().as_secs_f64();
    stop.cancel();
    let _ = tokio::join!(pinger, chat_out, chat_in);
    // Messages still on their way are counted in the next phase's reset;
    // give them one link round trip plus the buffer to land here.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let taken = std::mem::take(&mut *samples.lock().unwrap());
    Ok((
        json!({
            "secs": round(secs, 1),
            "ping": percentiles(taken.ping),
            "chat_out": percentiles(taken.out),
            "chat_in": percentiles(taken.inbound),
        }),
        secs,
    ))
}

async fn ping_every(client: Client, samples: SampleLog, stop: CancellationToken) {
    let mut ticks = tokio::time::interval(PING_GAP);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !stop.is_cancelled() {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        if let Ok(rtt) = client.ping().await {
            samples.lock().unwrap().ping.push(rtt.as_secs_f64() * 1e3);
        }
    }
}

/// Sends `to` a private message stamped with the time since `epoch`.
async fn chat_every(client: Client, to: UserName, epoch: Instant, stop: CancellationToken) {
    let mut ticks = tokio::time::interval(CHAT_GAP);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let stamp = format!("wan {}", epoch.elapsed().as_micros());
        let _ = client.send(Recipient::User(to.clone()), Content::Text(stamp));
    }
}

/// Reads `me`'s events and records the trip of each stamped message from
/// the other user (the server also echoes `me`'s own: not a trip).
async fn read_trips(mut events: Events, me: UserName, epoch: Instant, samples: SampleLog) {
    let is_peer = me.as_str() == "peer";
    while let Some(event) = events.next().await {
        let ClientEvent::Message(message) = event else {
            continue;
        };
        if message.from == me {
            continue;
        }
        let Content::Text(text) = &message.content else {
            continue;
        };
        let Some(sent) = text
            .strip_prefix("wan ")
            .and_then(|t| t.parse::<u128>().ok())
        else {
            continue;
        };
        let trip = (epoch.elapsed().as_micros().saturating_sub(sent)) as f64 / 1e3;
        let mut samples = samples.lock().unwrap();
        if is_peer {
            samples.out.push(trip);
        } else {
            samples.inbound.push(trip);
        }
    }
}

async fn upload(client: Client, path: PathBuf) -> anyhow::Result<BlobHash> {
    let (id, cancel) = client.new_transfer();
    let (media, _) = client
        .upload_now(MediaKind::File, &path, id, &cancel)
        .await?;
    Ok(media.hash)
}

async fn download(client: Client, hash: BlobHash, out: PathBuf) -> anyhow::Result<()> {
    let (id, cancel) = client.new_transfer();
    client.fetch_to(hash, &out, id, &cancel).await?;
    Ok(())
}

/// Runs `jobs` at once, each in a task of its own; their results in order.
async fn all<T: Send + 'static>(
    jobs: Vec<impl std::future::Future<Output = anyhow::Result<T>> + Send + 'static>,
) -> anyhow::Result<Vec<T>> {
    let tasks: Vec<_> = jobs.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for task in tasks {
        out.push(task.await??);
    }
    Ok(out)
}

/// Adds goodput over the link rate and the busy direction's queue.
fn add_link(
    phase: &mut Value,
    stats: &LinkStats,
    up: bool,
    shape: LinkShape,
    bytes: u64,
    secs: f64,
) {
    let direction = if up { &stats.up } else { &stats.down };
    let goodput = bytes as f64 * 8.0 / secs / (shape.rate_mbit * 1e6);
    phase["goodput_ratio"] = json!(round(goodput, 3));
    phase["link_drops"] = json!(direction.drops);
    phase["queue_ms"] = percentiles(direction.queue_ms.clone());
}

/// p50, p99 and max of samples in ms, and their count.
fn percentiles(mut samples: Vec<f64>) -> Value {
    samples.sort_by(f64::total_cmp);
    let pick = |p: f64| {
        if samples.is_empty() {
            f64::NAN
        } else {
            samples[((samples.len() - 1) as f64 * p).round() as usize]
        }
    };
    json!({
        "n": samples.len(),
        "p50": round(pick(0.5), 1),
        "p99": round(pick(0.99), 1),
        "max": round(pick(1.0), 1),
    })
}

fn round(v: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (v * f).round() / f
}
