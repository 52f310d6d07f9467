//! `natter-bench`: measures Natter against a baseline in the same run.
//!
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
//! `natter-bench wan` (see [`wan`]) measures chat latency while a file
//! moves over an emulated link, Natter's congestion controller against
//! quinn's Cubic.
//!
//! `natter-bench abuse` (see [`abuse`]) measures what hostile clients can
//! make the server hold, against an idle baseline in the same run.
//!
//! `natter-bench history` (see [`history`]) times history pages from a
//! store of a million messages, against a bare-table read of the same size.
//!
//! `natter-bench fanout` (see [`fanout`]) measures a room of thousands:
//! deliveries per second, loss, latency and server CPU per delivery,
//! against a bare quinn relay.
//!
//! `natter-bench idle` (see [`idle`]) measures the server's memory per
//! idle logged-in client, against the bare relay's per connection.
//!
//! `natter-bench login` (see [`login`]) times login storms and token
//! reconnects after a server crash, through the real client library.

mod abuse;
mod fanout;
mod history;
mod idle;
mod irc;
mod load;
mod login;
mod wan;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use natter_client::hash::hash_file;
use natter_client::transfer;
use natter_common::congestion::Congestion;
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
        /// Send Natter's uploads no faster than this (MiB/s), to see what
        /// chat latency a paced transfer leaves; the baselines stay at full
        /// speed.
        #[arg(long)]
        pace_mib_s: Option<u64>,
        /// The congestion controller on both ends: low-delay or cubic.
        #[arg(long, default_value = "low-delay")]
        congestion: Congestion,
    },
    /// What hostile clients can make the server hold (RSS), and what a
    /// logged-in user's ping and another user's uploads feel meanwhile.
    Abuse {
        /// Connections from one address signing up and guessing at once.
        #[arg(long, default_value_t = 100)]
        guessers: usize,
        /// Seconds each attack phase lasts.
        #[arg(long, default_value_t = 15)]
        secs: u64,
        /// Connections one user opens to trickle uploads on every stream.
        #[arg(long, default_value_t = 10)]
        hog_connections: usize,
        /// Working directory (default: a temp dir).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// History pages (group, private) from a large store vs a bare read.
    History {
        /// Messages in the store.
        #[arg(long, default_value_t = 1_000_000)]
        messages: u64,
        /// Pages timed per measurement.
        #[arg(long, default_value_t = 200)]
        pages: usize,
        /// Where the temp store goes (default: the system's temp dir).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Chat latency while a file moves over an emulated link (rate,
    /// propagation delay, router buffer), Natter's congestion controller
    /// against quinn's Cubic.
    Wan {
        #[arg(long, default_value_t = 20.0)]
        rate_mbit: f64,
        #[arg(long, default_value_t = 40.0)]
        rtt_ms: f64,
        #[arg(long, default_value_t = 200.0)]
        buffer_ms: f64,
        /// Run the four links of the README's table instead.
        #[arg(long)]
        matrix: bool,
        /// Seconds each transfer should take at the link rate.
        #[arg(long, default_value_t = 30.0)]
        secs: f64,
        /// Seconds of the idle phase.
        #[arg(long, default_value_t = 10.0)]
        idle_secs: f64,
        /// Transfers at once in each busy phase.
        #[arg(long, default_value_t = 1)]
        transfers: usize,
    },
    /// A room of thousands: N sessions, S of them posting at a fixed total
    /// rate; deliveries/s, loss, latency, server CPU per delivery and RSS,
    /// against a bare quinn relay measured in the same run.
    Fanout {
        /// Sessions in the room (all receive every group message).
        #[arg(long, default_value_t = 1000)]
        clients: usize,
        /// How many of them send.
        #[arg(long, default_value_t = 10)]
        senders: usize,
        /// Messages per second, all senders together, evenly paced.
        #[arg(long, default_value_t = 100.0)]
        rate: f64,
        /// Bytes of text per message (at least 31: the stamp).
        #[arg(long, default_value_t = 100)]
        body: usize,
        /// Seconds of the send phase.
        #[arg(long, default_value_t = 10.0)]
        secs: f64,
        /// Most seconds to wait after the send phase for the last
        /// deliveries (the wait ends as soon as all have arrived).
        #[arg(long, default_value_t = 10.0)]
        grace: f64,
        /// Where the server's data dir goes (default: a temp dir under
        /// $TMPDIR; point it at the real disk to include fsync stalls).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Skip the bare-relay baseline.
        #[arg(long)]
        no_baseline: bool,
    },
    /// The fanout load shape against InspIRCd over TLS (a real IRC server,
    /// the yardstick): the same JSON fields, N − 1 recipients per message.
    Irc {
        /// Clients in the channel.
        #[arg(long, default_value_t = 1000)]
        clients: usize,
        /// How many of them send.
        #[arg(long, default_value_t = 10)]
        senders: usize,
        /// Messages per second, all senders together, evenly paced.
        #[arg(long, default_value_t = 100.0)]
        rate: f64,
        /// Bytes of text per message (at least 31: the stamp).
        #[arg(long, default_value_t = 100)]
        body: usize,
        /// Seconds of the send phase.
        #[arg(long, default_value_t = 10.0)]
        secs: f64,
        /// Most seconds to wait after the send phase for the last
        /// deliveries (the wait ends as soon as all have arrived).
        #[arg(long, default_value_t = 10.0)]
        grace: f64,
        /// The inspircd binary (default: `inspircd` on $PATH, else
        /// /usr/sbin/inspircd).
        #[arg(long)]
        inspircd: Option<PathBuf>,
    },
    /// Server memory per idle logged-in client (RSS before the logins and
    /// after N sessions caught up and settled), against the bare quinn
    /// relay's per connection.
    Idle {
        /// Idle sessions to hold.
        #[arg(long, default_value_t = 1000)]
        clients: usize,
        /// Where the server's data dir goes (default: a temp dir under
        /// $TMPDIR).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Skip the bare-relay baseline.
        #[arg(long)]
        no_baseline: bool,
    },
    /// Logins through the real client library: N at once (storm), or N
    /// reconnecting with their tokens after the server is killed and
    /// started again (tokens). Times, failures by kind, server RSS.
    Login {
        /// Clients (pre-created accounts).
        #[arg(long, default_value_t = 1000)]
        clients: usize,
        /// storm: all log in at once with passwords; tokens: all reconnect
        /// by themselves after a server crash and restart.
        #[arg(long, value_enum, default_value = "storm")]
        mode: login::Mode,
        /// Where the server's data dir goes (default: a temp dir under
        /// $TMPDIR).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// (internal) The child of fanout, idle and login: a Natter server with
    /// all of natter-server's flags, or the bare relay.
    #[command(hide = true)]
    ServeLoad(Box<load::serve::ServeLoad>),
    /// (internal) The server side: a Natter server and a bare quinn sink.
    #[command(hide = true)]
    Serve {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value = "low-delay")]
        congestion: Congestion,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Args::parse().command {
        Bench::Transfer {
            mib,
            rounds,
            dir,
            pace_mib_s,
            congestion,
        } => transfer(mib, rounds.max(1), dir, pace_mib_s, congestion).await,
        Bench::Abuse {
            guessers,
            secs,
            hog_connections,
            dir,
        } => abuse::abuse(guessers, secs.max(1), hog_connections, dir).await,
        Bench::History {
            messages,
            pages,
            dir,
        } => history::history(messages.max(1), pages.max(1), dir),
        Bench::Wan {
            rate_mbit,
            rtt_ms,
            buffer_ms,
            matrix,
            secs,
            idle_secs,
            transfers,
        } => {
            let shape = natter_tests::link::LinkShape {
                rate_mbit,
                rtt_ms,
                buffer_ms,
            };
            wan::wan(wan::Wan {
                shape,
                matrix,
                secs,
                idle_secs,
                transfers: transfers.max(1),
            })
            .await
        }
        Bench::Fanout {
            clients,
            senders,
            rate,
            body,
            secs,
            grace,
            dir,
            no_baseline,
        } => {
            let load = load::room::Load {
                clients: clients.max(1),
                senders: senders.clamp(1, clients.max(1)),
                rate: rate.max(0.1),
                body,
                secs: secs.max(0.1),
                grace: Duration::from_secs_f64(grace.max(0.0)),
            };
            fanout::fanout(load, dir, !no_baseline).await
        }
        Bench::Irc {
            clients,
            senders,
            rate,
            body,
            secs,
            grace,
            inspircd,
        } => {
            let clients = clients.max(2);
            let load = load::room::Load {
                clients,
                senders: senders.clamp(1, clients),
                rate: rate.max(0.1),
                body,
                secs: secs.max(0.1),
                grace: Duration::from_secs_f64(grace.max(0.0)),
            };
            irc::irc(load, inspircd).await
        }
        Bench::Idle {
            clients,
            dir,
            no_baseline,
        } => idle::idle(clients.max(1), dir, !no_baseline).await,
        Bench::Login { clients, mode, dir } => login::login(clients.max(1), mode, dir).await,
        Bench::ServeLoad(args) => load::serve::serve_load(*args).await,
        Bench::Serve { dir, congestion } => serve(&dir, congestion).await,
    }
}

/// The child: prints `natter ADDR FINGERPRINT` and `bare ADDR`, serves until
/// its stdin closes.
async fn serve(dir: &Path, congestion: Congestion) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
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

struct Child {
    process: tokio::process::Child,
    natter: String,
    fingerprint: Fingerprint,
    bare: std::net::SocketAddr,
}

impl Child {
    /// Client settings that pin the child's certificate.
    fn client_config(&self, dir: &Path) -> natter_client::ClientConfig {
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

async fn spawn_server(dir: &Path, congestion: Congestion) -> anyhow::Result<Child> {
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

/// Peak resident set size (VmHWM) of a process, in MiB.
fn peak_rss_mib(pid: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// CPU time (user + system) a process has used so far, in seconds.
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name, which is in parentheses and may
    // hold spaces: utime and stime are the 12th and 13th, in clock ticks
    // (100 Hz on Linux).
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
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

/// Time between probes, idle and during uploads alike.
const PROBE_GAP: Duration = Duration::from_millis(10);
/// Probes taken idle, before any upload.
const IDLE_PROBES: usize = 500;
const MIB: f64 = (1u64 << 20) as f64;

/// A round trip at a higher priority than the upload, on its connection.
enum Probe {
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
    async fn sample(
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

/// p50 and p99 of some round trips, rounded to µs.
fn latency(samples: &mut [f64]) -> (f64, f64) {
    samples.sort_by(|a, b| a.total_cmp(b));
    let round = |v: f64| (v * 1000.0).round() / 1000.0;
    (
        round(percentile(samples, 50.0)),
        round(percentile(samples, 99.0)),
    )
}

fn rounded(v: f64, places: i32) -> f64 {
    let scale = 10f64.powi(places);
    (v * scale).round() / scale
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

async fn transfer(
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
