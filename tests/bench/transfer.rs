//! `natter-bench transfer [--mib 1024] [--rounds 3]` starts a server in a
//! child process, then per round uploads a file through Natter and the same
//! bytes over a bare quinn stream to that child (the baseline, whose sink
//! discards them), and over a bare quinn stream whose sink writes them to a
//! new file and fsyncs it (the baseline that stores what it receives, as
//! Natter must). Every upload runs beside a round-trip probe sent every
//! 10 ms at a higher stream priority on the same connection: Natter's chat
//! ping, or an echo stream for bare quinn (what the transport alone gives).
//! The same probes run idle first. After each upload the client library
//! downloads the blob back, timed alone (`natter_download_mib_s`). Prints one JSON line: medians over
//! rounds, ratios to the baselines, latency percentiles, CPU seconds per
//! GiB on each side, and the peak RSS of server and client.
//! `--pace-mib-s N` caps Natter's uploads at N MiB/s, to show what chat
//! latency a transfer that leaves the CPU some room gives.
//!

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use natter_client::hash::hash_file;
use natter_client::transfer;
use natter_common::congestion::Congestion;
use natter_common::protocol::MediaKind;
use natter_common::Fingerprint;
use natter_tests::{random_file, PASSWORD};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use crate::measure::{cpu_seconds, latency, median, peak_rss_mib, rounded};

/// The child: prints `natter ADDR FINGERPRINT` and `bare ADDR`, serves until
/// its stdin closes.
pub(crate) async fn serve(dir: &Path, congestion: Congestion) -> anyhow::Result<()> {
    natter_tests::init_child_logging();
    let mut config = natter_server::Config::new("127.0.0.1:0".parse()?, dir.join("server"));
    // The bench measures throughput and latency, not the per-user send
    // rate limit: lift it.
    config.messages_per_sec = 1_000_000;
    config.message_burst = 1_000_000;
    config.congestion = congestion;
    let server = natter_server::Server::bind(config).await?;
    let natter = server.endpoint();

    let identity = natter_server::tls::load_or_generate(&dir.join("server"))?;
    let bare_config =
        natter_server::tls::server_config(identity, quinn::TransportConfig::default())?;
    let bare = quinn::Endpoint::server(bare_config, "127.0.0.1:0".parse()?)?;
    println!("natter {} {}", natter.addr, natter.fingerprint);
    println!("bare {}", bare.local_addr()?);

    let sink_dir = dir.to_path_buf();
    tokio::spawn(async move {
        while let Some(incoming) = bare.accept().await {
            let sink_dir = sink_dir.clone();
            tokio::spawn(async move {
                let Ok(connection) = incoming.await else {
                    return;
                };
                while let Ok((send, recv)) = connection.accept_bi().await {
                    tokio::spawn(sink(sink_dir.clone(), send, recv));
                }
            });
        }
    });
    let stdin_closed = async {
        let mut sink = Vec::new();
        let _ = tokio::io::stdin().read_to_end(&mut sink).await;
    };
    server.run(stdin_closed).await
}

/// What a bare quinn stream's first byte asks of the child.
#[derive(Clone, Copy, PartialEq)]
enum Sink {
    /// Count the bytes and drop them (the baseline).
    Discard = 0,
    /// Write them to a new file and fsync it before answering, as Natter's
    /// server stores a new blob (the baseline that stores).
    Durable = 1,
    /// Send every 8 bytes back: the bare round-trip probe.
    Echo = 2,
}

/// One bare quinn stream on the child's side: answers the byte count once
/// the stream ends (or echoes, for probes).
async fn sink(dir: PathBuf, mut send: quinn::SendStream, mut recv: quinn::RecvStream) {
    static FILES: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let mut mode = [0u8; 1];
    if recv.read_exact(&mut mode).await.is_err() {
        return;
    }
    if mode[0] == Sink::Echo as u8 {
        let _ = send.set_priority(10);
        let mut probe = [0u8; 8];
        while recv.read_exact(&mut probe).await.is_ok() {
            if send.write_all(&probe).await.is_err() {
                return;
            }
        }
        return;
    }
    let mut file = if mode[0] == Sink::Durable as u8 {
        let n = FILES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tokio::fs::File::create(dir.join(format!("durable-{n}.bin")))
            .await
            .ok()
    } else {
        None
    };
    let mut total = 0u64;
    let mut buf = vec![0u8; 256 * 1024];
    let mut filled = 0;
    while let Ok(Some(n)) = recv.read(&mut buf[filled..]).await {
        total += n as u64;
        filled += n;
        if filled == buf.len() {
            if let Some(file) = file.as_mut() {
                let _ = file.write_all(&buf).await;
            }
            filled = 0;
        }
    }
    if let Some(mut file) = file {
        let _ = file.write_all(&buf[..filled]).await;
        let _ = file.sync_all().await;
    }
    let _ = send.write_all(&total.to_le_bytes()).await;
    let _ = send.finish();
    let _ = send.stopped().await;
}

pub(crate) struct Child {
    pub(crate) process: tokio::process::Child,
    pub(crate) natter: String,
    fingerprint: Fingerprint,
    bare: std::net::SocketAddr,
}

impl Child {
    /// Client settings that pin the child's certificate.
    pub(crate) fn client_config(&self, dir: &Path) -> natter_client::ClientConfig {
        let trust = natter_client::Trust {
            known_servers: dir.join("known_servers"),
            pinned: Some(self.fingerprint),
            first_use: natter_client::FirstUse::Refuse,
        };
        natter_client::ClientConfig {
            software: "natter-bench".into(),
            ..natter_client::ClientConfig::new(self.natter.clone(), trust)
        }
    }
}

pub(crate) async fn spawn_server(dir: &Path, congestion: Congestion) -> anyhow::Result<Child> {
    let mut process = tokio::process::Command::new(std::env::current_exe()?)
        .args(["serve", "--dir"])
        .arg(dir)
        .arg(format!("--congestion={congestion}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("starting the server process")?;
    let mut lines = BufReader::new(process.stdout.take().context("child stdout")?).lines();
    let first = lines.next_line().await?.context("server did not start")?;
    let second = lines.next_line().await?.context("server did not start")?;
    let natter: Vec<&str> = first.split_whitespace().collect();
    let bare: Vec<&str> = second.split_whitespace().collect();
    if natter.len() != 3 || bare.len() != 2 {
        bail!("unexpected server output: {first:?} {second:?}");
    }
    Ok(Child {
        natter: natter[1].to_owned(),
        fingerprint: natter[2].parse().map_err(anyhow::Error::msg)?,
        bare: bare[1].parse()?,
        process,
    })
}

/// Time between probes, idle and during uploads alike.
const PROBE_GAP: Duration = Duration::from_millis(10);
/// Probes taken idle, before any upload.
const IDLE_PROBES: usize = 500;
const MIB: f64 = (1u64 << 20) as f64;

/// A round trip at a higher priority than the upload, on its connection.
pub(crate) enum Probe {
    /// Natter's chat ping over the control stream.
    Natter(natter_client::Client),
    /// Eight bytes echoed on a bare quinn stream at priority 10.
    Bare {
        send: quinn::SendStream,
        recv: quinn::RecvStream,
    },
}

impl Probe {
    async fn bare(connection: &quinn::Connection) -> anyhow::Result<Self> {
        let (mut send, recv) = connection.open_bi().await?;
        send.set_priority(10)?;
        send.write_all(&[Sink::Echo as u8]).await?;
        Ok(Probe::Bare { send, recv })
    }

    async fn once(&mut self) -> anyhow::Result<Duration> {
        match self {
            Probe::Natter(client) => Ok(client.ping().await?),
            Probe::Bare { send, recv } => {
                let started = Instant::now();
                send.write_all(&[7u8; 8]).await?;
                let mut echo = [0u8; 8];
                recv.read_exact(&mut echo).await?;
                Ok(started.elapsed())
            }
        }
    }

    /// Round trips in ms, one per [`PROBE_GAP`], until `stop` fires or
    /// `limit` are taken.
    pub(crate) async fn sample(
        &mut self,
        stop: &tokio_util::sync::CancellationToken,
        limit: usize,
    ) -> anyhow::Result<Vec<f64>> {
        // Never two in flight; a late tick is not made up.
        let mut ticks = tokio::time::interval(PROBE_GAP);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut out = Vec::new();
        while out.len() < limit {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = ticks.tick() => {}
            }
            out.push(self.once().await?.as_secs_f64() * 1000.0);
        }
        Ok(out)
    }
}

/// One upload, measured with a probe running beside it.
struct Upload {
    mib_s: f64,
    /// CPU seconds per GiB moved, in the child (server) and this process.
    server_cpu: f64,
    client_cpu: f64,
    /// Probe round trips during the upload, in ms.
    busy: Vec<f64>,
}

/// Runs `upload` (which returns the bytes it moved) while `probe` samples
/// round trips in a task of its own; hands the probe back.
async fn measured(
    server_pid: &str,
    mut probe: Probe,
    upload: impl std::future::Future<Output = anyhow::Result<u64>>,
) -> anyhow::Result<(Upload, Probe)> {
    let stop = tokio_util::sync::CancellationToken::new();
    let prober = tokio::spawn({
        let stop = stop.clone();
        async move {
            let busy = probe.sample(&stop, usize::MAX).await;
            (probe, busy)
        }
    });
    let cpu = || (cpu_seconds(server_pid), cpu_seconds("self"));
    let before = cpu();
    let started = Instant::now();
    let moved = upload.await;
    let secs = started.elapsed().as_secs_f64();
    let after = cpu();
    stop.cancel();
    let (probe, busy) = prober.await?;
    let gib = moved? as f64 / MIB / 1024.0;
    Ok((
        Upload {
            mib_s: gib * 1024.0 / secs,
            server_cpu: (after.0 - before.0) / gib,
            client_cpu: (after.1 - before.1) / gib,
            busy: busy?,
        },
        probe,
    ))
}

/// Sends `path` over a new bare quinn stream to a `sink`; the bytes the
/// sink confirmed.
async fn bare_upload(
    connection: &quinn::Connection,
    path: &Path,
    sink: Sink,
) -> anyhow::Result<u64> {
    let size = std::fs::metadata(path)?.len();
    let (mut send, mut recv) = connection.open_bi().await?;
    send.write_all(&[sink as u8]).await?;
    let mut file = tokio::fs::File::open(path).await?;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        send.write_all(&buf[..n]).await?;
    }
    send.finish()?;
    let mut ack = [0u8; 8];
    recv.read_exact(&mut ack).await?;
    anyhow::ensure!(
        u64::from_le_bytes(ack) == size,
        "bare sink got the wrong length"
    );
    Ok(size)
}

/// Makes the file's content unique for this round, so Natter's dedup
/// cannot skip the upload.
fn stamp(path: &Path, round: usize) -> anyhow::Result<()> {
    use std::io::{Seek, Write};
    let mut file = std::fs::OpenOptions::new().write(true).open(path)?;
    file.seek(std::io::SeekFrom::Start(0))?;
    file.write_all(&(round as u64 + 1).to_le_bytes())?;
    Ok(())
}

/// Medians over rounds of one kind of upload.
struct Medians {
    mib_s: f64,
    server_cpu: f64,
    client_cpu: f64,
}

fn medians(runs: &[Upload]) -> Medians {
    let pick = |f: fn(&Upload) -> f64| median(&mut runs.iter().map(f).collect::<Vec<_>>());
    Medians {
        mib_s: pick(|u| u.mib_s),
        server_cpu: pick(|u| u.server_cpu),
        client_cpu: pick(|u| u.client_cpu),
    }
}

pub(crate) async fn transfer(
    mib: u64,
    rounds: usize,
    dir: Option<PathBuf>,
    pace_mib_s: Option<u64>,
    congestion: Congestion,
) -> anyhow::Result<()> {
    let temp = tempfile::tempdir()?;
    let dir = dir.unwrap_or_else(|| temp.path().to_path_buf());
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("payload.bin");
    eprintln!("writing a {mib} MiB file...");
    random_file(&file, mib << 20, "natter-bench");

    let child = spawn_server(&dir, congestion).await?;
    let server_pid = child.process.id().context("server pid")?.to_string();
    let mut config = child.client_config(&dir);
    config.congestion = congestion;
    natter_client::register(&config, "bench", PASSWORD).await?;
    let (client, mut events) = natter_client::Client::login(config, "bench", PASSWORD).await?;
    tokio::spawn(async move { while events.next().await.is_some() {} });

    let mut bare_endpoint = quinn::Endpoint::client("127.0.0.1:0".parse()?)?;
    bare_endpoint.set_default_client_config(natter_tests::raw::client_config());
    let bare_connection =
        || async { anyhow::Ok(bare_endpoint.connect(child.bare, "localhost")?.await?) };

    // Idle round trips first, at the same pace as during the uploads.
    let never = tokio_util::sync::CancellationToken::new();
    let mut natter_probe = Probe::Natter(client.clone());
    let mut natter_idle = natter_probe.sample(&never, IDLE_PROBES).await?;
    let mut bare_idle = {
        let connection = bare_connection().await?;
        let idle = Probe::bare(&connection)
            .await?
            .sample(&never, IDLE_PROBES)
            .await?;
        connection.close(0u32.into(), b"done");
        idle
    };

    let (mut natter_runs, mut bare_runs, mut durable_runs) = (Vec::new(), Vec::new(), Vec::new());
    let (mut hash_rates, mut download_rates) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        stamp(&file, round)?;
        for (sink, runs) in [
            (Sink::Discard, &mut bare_runs),
            (Sink::Durable, &mut durable_runs),
        ] {
            let connection = bare_connection().await?;
            let probe = Probe::bare(&connection).await?;
            let (run, _) =
                measured(&server_pid, probe, bare_upload(&connection, &file, sink)).await?;
            connection.close(0u32.into(), b"done");
            runs.push(run);
        }

        let hashing = Instant::now();
        let (hash, size) = hash_file(&file).await?;
        hash_rates.push(size as f64 / MIB / hashing.elapsed().as_secs_f64());

        let connection = client.connection().context("connected")?;
        let cancel = tokio_util::sync::CancellationToken::new();
        let upload = async {
            let stats = transfer::upload_paced(
                &connection,
                MediaKind::File,
                &file,
                hash,
                size,
                pace_mib_s.map(|m| m << 20),
                &cancel,
                |_, _, _| {},
            )
            .await?;
            anyhow::ensure!(
                stats.sent == size,
                "round {round} sent {} of {size}",
                stats.sent
            );
            Ok(size)
        };
        let (run, probe) = measured(&server_pid, natter_probe, upload).await?;
        natter_probe = probe;
        natter_runs.push(run);
        // The other direction: the same blob fetched back, timed alone.
        let fetching = Instant::now();
        let fetched = transfer::Fetch {
            kind: MediaKind::File,
            hash,
            size: Some(size),
            partial: dir.join(format!("download-{round}.part")),
            target: dir.join(format!("download-{round}.bin")),
        }
        .run(&connection, &cancel, |_, _, _| {})
        .await?;
        download_rates.push(size as f64 / MIB / fetching.elapsed().as_secs_f64());
        std::fs::remove_file(&fetched)?;
        eprintln!(
            "round {}: natter {:.0} MiB/s (download {:.0} MiB/s), bare quinn {:.0} MiB/s, bare quinn to disk {:.0} MiB/s",
            round + 1,
            natter_runs[round].mib_s,
            download_rates[round],
            bare_runs[round].mib_s,
            durable_runs[round].mib_s,
        );
    }

    let server_rss = peak_rss_mib(&server_pid);
    let client_rss = peak_rss_mib("self");
    let (natter, bare, durable) = (
        medians(&natter_runs),
        medians(&bare_runs),
        medians(&durable_runs),
    );
    let busy = |runs: &[Upload]| {
        runs.iter()
            .flat_map(|u| u.busy.iter().copied())
            .collect::<Vec<_>>()
    };
    let (natter_idle_p50, natter_idle_p99) = latency(&mut natter_idle);
    let (natter_busy_p50, natter_busy_p99) = latency(&mut busy(&natter_runs));
    let (bare_idle_p50, bare_idle_p99) = latency(&mut bare_idle);
    let (bare_busy_p50, bare_busy_p99) = latency(&mut busy(&bare_runs));
    let report = serde_json::json!({
        "bench": "transfer",
        "file_mib": mib,
        "rounds": rounds,
        "natter_pace_mib_s": pace_mib_s,
        "natter_mib_s": rounded(natter.mib_s, 1),
        "natter_download_mib_s": rounded(median(&mut download_rates), 1),
        "bare_quinn_mib_s": rounded(bare.mib_s, 1),
        "ratio_to_bare": rounded(natter.mib_s / bare.mib_s, 3),
        "target_ratio": 0.9,
        "bare_quinn_to_disk_mib_s": rounded(durable.mib_s, 1),
        "ratio_to_bare_to_disk": rounded(natter.mib_s / durable.mib_s, 3),
        "hash_mib_s": rounded(median(&mut hash_rates), 1),
        "ping_idle_p50_ms": natter_idle_p50,
        "ping_idle_p99_ms": natter_idle_p99,
        "ping_during_upload_p50_ms": natter_busy_p50,
        "ping_during_upload_p99_ms": natter_busy_p99,
        "p99_ratio_busy_to_idle": rounded(natter_busy_p99 / natter_idle_p99, 2),
        "target_p99_ratio": 2.0,
        "bare_echo_idle_p50_ms": bare_idle_p50,
        "bare_echo_idle_p99_ms": bare_idle_p99,
        "bare_echo_during_upload_p50_ms": bare_busy_p50,
        "bare_echo_during_upload_p99_ms": bare_busy_p99,
        "bare_p99_ratio_busy_to_idle": rounded(bare_busy_p99 / bare_idle_p99, 2),
        "cpu_s_per_gib_server": {
            "natter": rounded(natter.server_cpu, 2),
            "bare": rounded(bare.server_cpu, 2),
            "bare_to_disk": rounded(durable.server_cpu, 2),
        },
        "cpu_s_per_gib_client": {
            "natter": rounded(natter.client_cpu, 2),
            "bare": rounded(bare.client_cpu, 2),
            "bare_to_disk": rounded(durable.client_cpu, 2),
        },
        "server_peak_rss_mib": server_rss.round(),
        "client_peak_rss_mib": client_rss.round(),
    });
    println!("{report}");
    client.logout().await.ok();
    drop(child);
    Ok(())
}
