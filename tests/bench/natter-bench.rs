//! `natter-bench`: measures Natter against a baseline in the same run.
//!
//! `natter-bench transfer [--mib 1024] [--rounds 3]` starts a server in a
//! child process, then per round uploads a file through Natter and the same
//! bytes over a bare quinn stream to that child (the baseline, whose sink
//! discards them), and over a bare quinn stream whose sink writes and
//! fsyncs them (the baseline that stores what it receives, as Natter must),
//! and measures control-stream round trips (ping) idle and during the upload.
//! Prints one JSON line: medians over rounds, the ratio to the baseline,
//! latency percentiles, and the peak RSS of server and client.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use natter_client::media;
use natter_common::protocol::MediaKind;
use natter_common::Fingerprint;
use natter_tests::{random_file, PASSWORD};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

#[derive(Parser)]
#[command(about = "Natter benchmarks, each against a baseline measured in the same run")]
struct Args {
    #[command(subcommand)]
    command: Bench,
}

#[derive(Subcommand)]
enum Bench {
    /// Upload throughput vs bare quinn, and chat latency during the upload.
    Transfer {
        /// File size in MiB.
        #[arg(long, default_value_t = 1024)]
        mib: u64,
        /// Rounds (medians are reported).
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Working directory (default: a temp dir).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// (internal) The server side: a Natter server and a bare quinn sink.
    #[command(hide = true)]
    Serve {
        #[arg(long)]
        dir: PathBuf,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Args::parse().command {
        Bench::Transfer { mib, rounds, dir } => transfer(mib, rounds.max(1), dir).await,
        Bench::Serve { dir } => serve(&dir).await,
    }
}

/// The child: prints `natter ADDR FINGERPRINT` and `bare ADDR`, serves until
/// its stdin closes.
async fn serve(dir: &Path) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let config = natter_server::Config::new("127.0.0.1:0".parse()?, dir.join("server"));
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
                while let Ok((mut send, mut recv)) = connection.accept_bi().await {
                    let sink = sink_dir.clone();
                    tokio::spawn(async move {
                        // First byte: 0 = discard, 1 = write to a file and
                        // fsync it before answering (the durable baseline).
                        let mut mode = [0u8; 1];
                        if recv.read_exact(&mut mode).await.is_err() {
                            return;
                        }
                        let mut file = match mode[0] {
                            1 => tokio::fs::File::create(sink.join("durable.bin")).await.ok(),
                            _ => None,
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
                    });
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

struct Child {
    process: tokio::process::Child,
    natter: String,
    fingerprint: Fingerprint,
    bare: std::net::SocketAddr,
}

async fn spawn_server(dir: &Path) -> anyhow::Result<Child> {
    let mut process = tokio::process::Command::new(std::env::current_exe()?)
        .args(["serve", "--dir"])
        .arg(dir)
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

/// Peak resident set size (VmHWM) of a process, in MiB.
fn peak_rss_mib(pid: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    percentile(values, 50.0)
}

/// Round trips on the control stream, one per `gap`, until `stop` fires.
async fn pings(
    client: &natter_client::Client,
    gap: Duration,
    stop: tokio_util::sync::CancellationToken,
) -> Vec<f64> {
    // The probe rate: one ping per tick, never two in flight.
    let mut ticks = tokio::time::interval(gap);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut out = Vec::new();
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = ticks.tick() => {}
        }
        if let Ok(rtt) = client.ping().await {
            out.push(rtt.as_secs_f64() * 1000.0);
        }
    }
    out
}

/// Uploads `path` over a bare quinn stream; MiB/s. `durable`: the sink
/// writes the bytes to a file and fsyncs it before answering, as Natter's
/// server does (without hashing or any protocol).
async fn bare_upload(
    endpoint: &quinn::Endpoint,
    addr: std::net::SocketAddr,
    path: &Path,
    durable: bool,
) -> anyhow::Result<f64> {
    let connection = endpoint.connect(addr, "localhost")?.await?;
    let size = std::fs::metadata(path)?.len();
    let started = Instant::now();
    let (mut send, mut recv) = connection.open_bi().await?;
    send.write_all(&[u8::from(durable)]).await?;
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
    let secs = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        u64::from_le_bytes(ack) == size,
        "bare sink got the wrong length"
    );
    connection.close(0u32.into(), b"done");
    Ok(size as f64 / (1 << 20) as f64 / secs)
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

async fn transfer(mib: u64, rounds: usize, dir: Option<PathBuf>) -> anyhow::Result<()> {
    let temp = tempfile::tempdir()?;
    let dir = dir.unwrap_or_else(|| temp.path().to_path_buf());
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("payload.bin");
    eprintln!("writing a {mib} MiB file...");
    random_file(&file, mib << 20, "natter-bench");

    let child = spawn_server(&dir).await?;
    let server_pid = child.process.id().context("server pid")?.to_string();
    let config = natter_client::ClientConfig {
        server: child.natter.clone(),
        trust: natter_client::Trust {
            known_servers: dir.join("known_servers"),
            pinned: Some(child.fingerprint),
            first_use: natter_client::FirstUse::Refuse,
        },
        software: "natter-bench".into(),
    };
    natter_client::register(&config, "bench", PASSWORD).await?;
    let (client, mut events) = natter_client::Client::login(config, "bench", PASSWORD).await?;
    tokio::spawn(async move { while events.next().await.is_some() {} });

    let mut bare_endpoint = quinn::Endpoint::client("127.0.0.1:0".parse()?)?;
    bare_endpoint.set_default_client_config(natter_tests::raw::client_config());

    // Idle latency first.
    let mut idle = Vec::new();
    for _ in 0..300 {
        idle.push(client.ping().await?.as_secs_f64() * 1000.0);
    }
    idle.sort_by(|a, b| a.total_cmp(b));

    let (mut natter_rates, mut bare_rates, mut hash_rates) = (Vec::new(), Vec::new(), Vec::new());
    let mut durable_rates = Vec::new();
    let mut busy = Vec::new();
    for round in 0..rounds {
        stamp(&file, round)?;
        bare_rates.push(bare_upload(&bare_endpoint, child.bare, &file, false).await?);
        durable_rates.push(bare_upload(&bare_endpoint, child.bare, &file, true).await?);

        let hashing = Instant::now();
        let (hash, size) = media::hash_file(&file).await?;
        hash_rates.push(size as f64 / (1 << 20) as f64 / hashing.elapsed().as_secs_f64());

        let connection = client.connection().context("connected")?;
        let stop = tokio_util::sync::CancellationToken::new();
        let pinger = {
            let (client, stop) = (client.clone(), stop.clone());
            tokio::spawn(async move { pings(&client, Duration::from_millis(10), stop).await })
        };
        let cancel = tokio_util::sync::CancellationToken::new();
        let started = Instant::now();
        let stats = media::upload(
            &connection,
            MediaKind::File,
            &file,
            hash,
            size,
            &cancel,
            |_, _, _| {},
        )
        .await?;
        let secs = started.elapsed().as_secs_f64();
        stop.cancel();
        busy.extend(pinger.await?);
        anyhow::ensure!(
            stats.sent == size,
            "round {round} sent {} of {size}",
            stats.sent
        );
        natter_rates.push(size as f64 / (1 << 20) as f64 / secs);
        eprintln!(
            "round {}: natter {:.0} MiB/s, bare quinn {:.0} MiB/s, bare quinn to disk {:.0} MiB/s",
            round + 1,
            natter_rates[round],
            bare_rates[round],
            durable_rates[round]
        );
    }
    busy.sort_by(|a, b| a.total_cmp(b));

    let server_rss = peak_rss_mib(&server_pid);
    let client_rss = peak_rss_mib("self");
    let natter = median(&mut natter_rates);
    let bare = median(&mut bare_rates);
    let durable = median(&mut durable_rates);
    let (idle_p50, idle_p99) = (percentile(&idle, 50.0), percentile(&idle, 99.0));
    let (busy_p50, busy_p99) = (percentile(&busy, 50.0), percentile(&busy, 99.0));
    let report = serde_json::json!({
        "bench": "transfer",
        "file_mib": mib,
        "rounds": rounds,
        "natter_mib_s": (natter * 10.0).round() / 10.0,
        "bare_quinn_mib_s": (bare * 10.0).round() / 10.0,
        "ratio_to_bare": (natter / bare * 1000.0).round() / 1000.0,
        "target_ratio": 0.9,
        "bare_quinn_to_disk_mib_s": (durable * 10.0).round() / 10.0,
        "ratio_to_bare_to_disk": (natter / durable * 1000.0).round() / 1000.0,
        "hash_mib_s": (median(&mut hash_rates) * 10.0).round() / 10.0,
        "ping_idle_p50_ms": (idle_p50 * 1000.0).round() / 1000.0,
        "ping_idle_p99_ms": (idle_p99 * 1000.0).round() / 1000.0,
        "ping_during_upload_p50_ms": (busy_p50 * 1000.0).round() / 1000.0,
        "ping_during_upload_p99_ms": (busy_p99 * 1000.0).round() / 1000.0,
        "ping_samples_during_upload": busy.len(),
        "p99_ratio_busy_to_idle": (busy_p99 / idle_p99 * 100.0).round() / 100.0,
        "target_p99_ratio": 2.0,
        "server_peak_rss_mib": server_rss.round(),
        "client_peak_rss_mib": client_rss.round(),
    });
    println!("{report}");
    client.logout().await.ok();
    drop(child);
    Ok(())
}
