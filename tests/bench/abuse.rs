//! `natter-bench abuse`: what hostile clients can make the server hold, and
//! what an ordinary logged-in user feels meanwhile.
//!
//! Against a server child with its default limits, one run measures:
//! - **idle**: a logged-in user's ping (every 10 ms) and the time another
//!   user's upload waits for its turn (`SendFrom`), with nothing else going
//!   on: the baseline;
//! - **trickle**: one user logs in `--hog-connections` times and starts an
//!   upload on every transfer stream it may open, sending one byte a second;
//!   meanwhile another user's uploads are timed to their turn, and the ping
//!   is sampled;
//! - **guessing**: `--guessers` raw QUIC connections from the same address
//!   that register accounts and guess the first user's password in
//!   parallel, as fast as the server answers, for `--secs`: the server's
//!   peak RSS, the user's ping, and what the attackers got (accounts made,
//!   guesses answered, refusals).
//!
//! Prints one JSON line. Targets (issue: a server that does not trust its
//! users): peak RSS under 256 MiB, ping p99 under 50 ms, other users'
//! uploads start within 1 s.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use natter_common::codec::{read_frame, write_frame, FrameReader};
use natter_common::protocol::{MediaKind, TransferHeader, TransferReply};
use natter_common::{BlobHash, ClientMsg, Hello, Refusal, ServerMsg};
use natter_tests::PASSWORD;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;

use crate::measure::{cpu_seconds, latency, peak_rss_mib, rounded, status_mib};
use crate::transfer::{spawn_server, Probe};

/// Longest wait for one answer from the server before a connection counts
/// as stalled.
const ANSWER: Duration = Duration::from_secs(10);
/// Size each trickling upload announces.
const HOG_UPLOAD: u64 = 64 << 20;
/// Size of the other user's timed uploads.
const OTHER_UPLOAD: usize = 1 << 20;
/// Timed uploads of the other user per phase.
const OTHER_SAMPLES: usize = 3;
/// Transfer streams a connection may open (the server's default).
const STREAMS_PER_CONNECTION: usize = 8;

pub async fn abuse(
    guessers: usize,
    secs: u64,
    hog_connections: usize,
    dir: Option<PathBuf>,
) -> anyhow::Result<()> {
    let temp = tempfile::tempdir()?;
    let dir = dir.unwrap_or_else(|| temp.path().to_path_buf());
    std::fs::create_dir_all(&dir)?;
    let child = spawn_server(&dir, Default::default()).await?;
    let pid = child.process.id().context("server pid")?.to_string();
    let addr: SocketAddr = child.natter.parse()?;
    let config = child.client_config(&dir);
    for name in ["victim", "other", "hog"] {
        natter_client::register(&config, name, PASSWORD).await?;
    }
    let (client, mut events) = natter_client::Client::login(config, "victim", PASSWORD).await?;
    tokio::spawn(async move { while events.next().await.is_some() {} });
    let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse()?)?;
    endpoint.set_default_client_config(natter_tests::raw::client_config());
    let mut other = RawSession::login(&endpoint, addr, "other")
        .await
        .context("the other user logs in")?;

    // Idle: the baselines.
    let mut probe = Probe::Natter(client.clone());
    let mut idle_ping = probe.sample(&CancellationToken::new(), 500).await?;
    let mut idle_turns = Vec::new();
    for _ in 0..OTHER_SAMPLES {
        idle_turns.push(other.timed_upload().await?);
    }
    let rss_before = status_mib(&pid, "VmRSS:");

    let (trickle, probe) = trickle_phase(
        &endpoint,
        addr,
        &pid,
        hog_connections,
        secs,
        &mut other,
        probe,
    )
    .await?;
    let guessing = guessing_phase(&endpoint, addr, &pid, guessers, secs, probe).await?;
    let (idle_p50, idle_p99) = latency(&mut idle_ping);
    let report = serde_json::json!({
        "bench": "abuse",
        "guessers": guessers,
        "secs": secs,
        "ping_idle_p50_ms": idle_p50,
        "ping_idle_p99_ms": idle_p99,
        "other_upload_turn_idle_ms_max": max_ms(&idle_turns),
        "server_rss_before_mib": rss_before.round(),
        "trickle": trickle,
        "guessing": guessing,
        "targets": {
            "server_peak_rss_mib": 256,
            "ping_p99_ms": 50,
            "other_upload_turn_ms": 1000,
        },
    });
    println!("{report}");
    client.logout().await.ok();
    drop(child);
    Ok(())
}

/// One user trickles uploads on every stream of `connections` logins while
/// another user's uploads are timed to their turn and the probe samples.
async fn trickle_phase(
    endpoint: &quinn::Endpoint,
    addr: SocketAddr,
    pid: &str,
    connections: usize,
    secs: u64,
    other: &mut RawSession,
    probe: Probe,
) -> anyhow::Result<(serde_json::Value, Probe)> {
    reset_peak_rss(pid);
    let hog = Arc::new(Tally::default());
    let stop = CancellationToken::new();
    let mut hogs = Vec::new();
    for _ in 0..connections {
        match RawSession::login(endpoint, addr, "hog").await {
            Ok(session) => hogs.push(tokio::spawn(session.trickle(hog.clone(), stop.clone()))),
            Err(_) => hog.count(&hog.refused),
        }
    }
    // Let every trickle ask for its turn first (bounded: a server may
    // keep some waiting).
    let asked = Instant::now() + Duration::from_secs(2);
    let streams = (hogs.len() * STREAMS_PER_CONNECTION) as u64;
    while Instant::now() < asked && hog.answered() < streams {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(secs);
    let pinging = tokio::spawn(sample_until(probe, deadline));
    let mut turns = Vec::new();
    for _ in 0..OTHER_SAMPLES {
        turns.push(other.timed_upload().await?);
    }
    let (mut ping, probe) = pinging.await??;
    stop.cancel();
    for task in hogs {
        let _ = task.await;
    }
    let (p50, p99) = latency(&mut ping);
    let report = serde_json::json!({
        "hog_connections_tried": connections,
        "hog_logins_refused": hog.get(&hog.refused),
        "hog_uploads_holding_a_turn": hog.get(&hog.registered),
        "hog_uploads_refused": hog.get(&hog.limited) + hog.get(&hog.busy) + hog.get(&hog.other),
        "server_peak_rss_mib": peak_rss_mib(pid).round(),
        "ping_p50_ms": p50,
        "ping_p99_ms": p99,
        "other_upload_turn_ms_max": max_ms(&turns),
        "other_uploads_refused": turns.iter().filter(|t| !t.1).count(),
    });
    Ok((report, probe))
}

/// `guessers` connections from one address sign up and guess a password
/// for `secs` while the probe samples.
async fn guessing_phase(
    endpoint: &quinn::Endpoint,
    addr: SocketAddr,
    pid: &str,
    guessers: usize,
    secs: u64,
    probe: Probe,
) -> anyhow::Result<serde_json::Value> {
    let (driver_cpu, server_cpu) = (cpu_seconds("self"), cpu_seconds(pid));
    reset_peak_rss(pid);
    let tally = Arc::new(Tally::default());
    let deadline = Instant::now() + Duration::from_secs(secs);
    let storm: Vec<_> = (0..guessers)
        .map(|n| tokio::spawn(guesser(endpoint.clone(), addr, n, deadline, tally.clone())))
        .collect();
    let (mut ping, _) = sample_until(probe, deadline).await?;
    for task in storm {
        let _ = task.await;
    }
    let (p50, p99) = latency(&mut ping);
    Ok(serde_json::json!({
        "server_peak_rss_mib": peak_rss_mib(pid).round(),
        "server_rss_after_mib": status_mib(pid, "VmRSS:").round(),
        "ping_p50_ms": p50,
        "ping_p99_ms": p99,
        "server_cpu_s": rounded(cpu_seconds(pid) - server_cpu, 2),
        "driver_cpu_s": rounded(cpu_seconds("self") - driver_cpu, 2),
        "accounts_created": tally.get(&tally.registered),
        "guesses_checked": tally.get(&tally.wrong),
        "rate_limited": tally.get(&tally.limited),
        "busy": tally.get(&tally.busy),
        "other_refusals": tally.get(&tally.other),
        "connections_refused_or_closed": tally.get(&tally.refused),
    }))
}

/// The slowest of some timed uploads, in ms.
fn max_ms(turns: &[(f64, bool)]) -> f64 {
    rounded(turns.iter().map(|t| t.0).fold(0.0, f64::max), 1)
}

/// Samples the probe until `deadline`; hands it back with the samples.
async fn sample_until(mut probe: Probe, deadline: Instant) -> anyhow::Result<(Vec<f64>, Probe)> {
    let stop = CancellationToken::new();
    let timer = stop.clone();
    tokio::spawn(async move {
        tokio::time::sleep_until(deadline.into()).await;
        timer.cancel();
    });
    let samples = probe.sample(&stop, usize::MAX).await?;
    Ok((samples, probe))
}

/// What the attackers' requests got.
#[derive(Default)]
struct Tally {
    registered: AtomicU64,
    wrong: AtomicU64,
    limited: AtomicU64,
    busy: AtomicU64,
    other: AtomicU64,
    refused: AtomicU64,
}

impl Tally {
    fn count(&self, what: &AtomicU64) {
        what.fetch_add(1, Ordering::Relaxed);
    }

    fn get(&self, what: &AtomicU64) -> u64 {
        what.load(Ordering::Relaxed)
    }

    fn refusal(&self, refusal: &Refusal) {
        self.count(match refusal {
            Refusal::WrongPassword => &self.wrong,
            Refusal::RateLimited { .. } => &self.limited,
            Refusal::Busy(_) => &self.busy,
            _ => &self.other,
        });
    }

    fn answered(&self) -> u64 {
        [&self.registered, &self.limited, &self.busy, &self.other]
            .iter()
            .map(|a| a.load(Ordering::Relaxed))
            .sum()
    }
}

/// One attacker: connects, alternates sign-ups and password guesses for
/// "victim" until the server closes the connection, reconnects, and stops
/// at `deadline`.
async fn guesser(
    endpoint: quinn::Endpoint,
    addr: SocketAddr,
    n: usize,
    deadline: Instant,
    tally: Arc<Tally>,
) {
    let mut attempt = 0u64;
    while Instant::now() < deadline {
        let Some(mut control) = Control::open(&endpoint, addr).await else {
            tally.count(&tally.refused);
            // An attacker would retry at once; a short pause keeps the
            // driver from spinning a core on refusals.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        while Instant::now() < deadline {
            attempt += 1;
            let msg = if attempt.is_multiple_of(2) {
                ClientMsg::Register {
                    name: format!("spam{n}x{attempt}"),
                    password: "a perfectly fine password".into(),
                }
            } else {
                ClientMsg::Login {
                    name: "victim".into(),
                    password: format!("guess number {attempt}"),
                    since: None,
                }
            };
            match control.ask(&msg).await {
                Some(ServerMsg::Registered { .. }) => tally.count(&tally.registered),
                Some(ServerMsg::Refused(r)) => tally.refusal(&r),
                Some(_) => tally.count(&tally.other),
                None => {
                    tally.count(&tally.refused);
                    break;
                }
            }
        }
        control.connection.close(0u32.into(), b"");
    }
}

/// A raw control stream after the hello.
struct Control {
    connection: quinn::Connection,
    send: quinn::SendStream,
    recv: FrameReader<quinn::RecvStream>,
}

impl Control {
    async fn open(endpoint: &quinn::Endpoint, addr: SocketAddr) -> Option<Self> {
        let connecting = endpoint.connect(addr, "localhost").ok()?;
        let connection = timeout(ANSWER, connecting).await.ok()?.ok()?;
        let (mut send, recv) = connection.open_bi().await.ok()?;
        write_frame(&mut send, &Hello::current("natter-bench abuse"))
            .await
            .ok()?;
        let mut control = Self {
            connection,
            send,
            recv: FrameReader::new(recv),
        };
        match control.next().await? {
            ServerMsg::Welcome { .. } => Some(control),
            _ => None,
        }
    }

    async fn next(&mut self) -> Option<ServerMsg> {
        timeout(ANSWER, self.recv.read::<ServerMsg>())
            .await
            .ok()?
            .ok()?
    }

    async fn ask(&mut self, msg: &ClientMsg) -> Option<ServerMsg> {
        write_frame(&mut self.send, msg).await.ok()?;
        self.next().await
    }
}

/// A logged-in raw connection whose control stream is drained in the
/// background (so the server never counts it as too slow).
struct RawSession {
    connection: quinn::Connection,
}

impl RawSession {
    async fn login(
        endpoint: &quinn::Endpoint,
        addr: SocketAddr,
        name: &str,
    ) -> anyhow::Result<Self> {
        let mut control = Control::open(endpoint, addr).await.context("no welcome")?;
        let login = ClientMsg::Login {
            name: name.into(),
            password: PASSWORD.into(),
            since: None,
        };
        match control.ask(&login).await {
            Some(ServerMsg::LoggedIn { .. }) => {}
            other => anyhow::bail!("login as {name} failed: {other:?}"),
        }
        let Control {
            connection,
            send,
            mut recv,
        } = control;
        tokio::spawn(async move {
            let _send = send;
            while let Ok(Some(_)) = recv.read::<ServerMsg>().await {}
        });
        Ok(Self { connection })
    }

    /// Starts an upload of fresh random bytes; returns the ms until the
    /// server answered, and whether that answer was its turn (the bytes are
    /// then sent and checked stored) rather than a refusal.
    async fn timed_upload(&mut self) -> anyhow::Result<(f64, bool)> {
        let mut bytes = vec![0u8; OTHER_UPLOAD];
        rand::Rng::fill(&mut rand::thread_rng(), &mut bytes[..]);
        let hash = BlobHash(*blake3::hash(&bytes).as_bytes());
        let (mut send, mut recv) = self.connection.open_bi().await?;
        let started = Instant::now();
        let header = TransferHeader::Put {
            kind: MediaKind::File,
            hash,
            size: bytes.len() as u64,
        };
        write_frame(&mut send, &header).await?;
        let reply = read_frame::<_, TransferReply>(&mut recv, 4096).await?;
        let waited = started.elapsed().as_secs_f64() * 1000.0;
        match reply {
            Some(TransferReply::SendFrom { offset: 0 }) => {}
            Some(TransferReply::Refused(_)) => return Ok((waited, false)),
            other => anyhow::bail!("the other user's upload got {other:?}"),
        }
        send.write_all(&bytes).await?;
        send.finish()?;
        match read_frame::<_, TransferReply>(&mut recv, 4096).await? {
            Some(TransferReply::Stored) => Ok((waited, true)),
            other => anyhow::bail!("the other user's upload was not stored: {other:?}"),
        }
    }

    /// Starts an upload on every transfer stream this connection may open
    /// and sends each one byte a second until `stop`.
    async fn trickle(self, tally: Arc<Tally>, stop: CancellationToken) {
        let mut streams = Vec::new();
        for _ in 0..STREAMS_PER_CONNECTION {
            let connection = self.connection.clone();
            let (tally, stop) = (tally.clone(), stop.clone());
            streams.push(tokio::spawn(async move {
                let Ok((mut send, mut recv)) = connection.open_bi().await else {
                    return tally.count(&tally.refused);
                };
                let mut hash = [0u8; 32];
                rand::Rng::fill(&mut rand::thread_rng(), &mut hash);
                let header = TransferHeader::Put {
                    kind: MediaKind::File,
                    hash: BlobHash(hash),
                    size: HOG_UPLOAD,
                };
                if write_frame(&mut send, &header).await.is_err() {
                    return tally.count(&tally.refused);
                }
                let reply = tokio::select! {
                    r = read_frame::<_, TransferReply>(&mut recv, 4096) => r,
                    () = stop.cancelled() => return,
                };
                match reply {
                    Ok(Some(TransferReply::SendFrom { .. })) => tally.count(&tally.registered),
                    Ok(Some(TransferReply::Refused(r))) => return tally.refusal(&r),
                    _ => return tally.count(&tally.other),
                }
                let mut ticks = tokio::time::interval(Duration::from_secs(1));
                loop {
                    tokio::select! {
                        () = stop.cancelled() => break,
                        _ = ticks.tick() => {
                            if send.write_all(&[0]).await.is_err() {
                                break;
                            }
                        }
                    }
                }
                let _ = send.reset(0u32.into());
            }));
        }
        for stream in streams {
            let _ = stream.await;
        }
        self.connection.close(0u32.into(), b"");
    }
}

/// Starts a new peak-RSS window for the process (Linux: writing 5 to
/// clear_refs resets VmHWM to the current RSS).
fn reset_peak_rss(pid: &str) {
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
}
