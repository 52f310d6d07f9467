//! `natter-bench login`: logins through the real client library
//! (`natter_client::Client`), since how it retries is part of what is
//! measured. Clients come from loopback addresses 127.0.0.2 upwards,
//! [`PER_ADDRESS`] per address (a household behind one NAT), through
//! `ClientConfig::local_address`, so the server's per-address limits stay
//! at their defaults; only the server-wide connection cap is raised.
//!
//! - `--mode storm`: `--clients` pre-created accounts call `Client::login`
//!   at once (released by one barrier). Reports per-client login time
//!   (p50/p99/max), the time until all are in, successes, failures by
//!   kind, and server RSS before, peak, after (all still logged in), once
//!   the hashing workers idled (`RELEASE_AFTER`) and once they have all
//!   logged out again. Target (issue 9): all get in; RSS after within 64
//!   MiB of before.
//! - `--mode tokens`: `--clients` clients log in (a few at a time), then
//!   the server child is SIGKILLed and started again on the same address
//!   and data; reports how long until every client is back by itself
//!   (`ClientEvent::Connected { resumed: true }`). Target: under 10 s.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use natter_client::{Client, ClientConfig, ClientError, ClientEvent, Events};
use natter_tests::PASSWORD;
use tokio::sync::{mpsc, Barrier, Semaphore};

use crate::load::child::{pin_driver, LoadChild};
use crate::load::{accounts, fs_kind, raise_fd_limit, summary};
use crate::rounded;

/// Which login load to play.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Mode {
    /// Every client logs in with its password at the same moment.
    Storm,
    /// Logged-in clients reconnect with their tokens after a server crash.
    Tokens,
}

/// Password logins per client before the token mode's setup gives up.
const SETUP_ATTEMPTS: u32 = 10;

/// How long the token mode waits for the clients to come back.
const RECONNECT_PATIENCE: Duration = Duration::from_secs(60);

/// Runs the scenario and prints its JSON line.
pub async fn login(clients: usize, mode: Mode, dir: Option<PathBuf>) -> anyhow::Result<()> {
    let fd_limit = raise_fd_limit();
    let pinned = pin_driver();
    let temp = tempfile::tempdir_in(dir.unwrap_or_else(std::env::temp_dir))?;
    let data = temp.path().join("server");
    accounts::create(&data, clients, PASSWORD).await?;
    let mut server = LoadChild::natter(&data, &flags(clients)).await?;
    let config =
        natter_tests::pinned_config(&server.addr.to_string(), temp.path(), server.fingerprint);
    let figures = match mode {
        Mode::Storm => storm(&server, &config, clients).await?,
        Mode::Tokens => tokens(&mut server, &config, clients).await?,
    };
    let head = serde_json::json!({
        "scenario": "login",
        "mode": format!("{mode:?}").to_lowercase(),
        "clients": clients,
        "pinned": pinned && server.pinned,
        "fd_limit": fd_limit,
        "dir_fs": fs_kind(temp.path()),
        "accounts": accounts::HOW,
    });
    server.stop().await?;
    let mut line = head.as_object().cloned().unwrap_or_default();
    line.extend(figures.as_object().cloned().unwrap_or_default());
    println!("{}", serde_json::Value::Object(line));
    Ok(())
}

/// Clients per source address.
const PER_ADDRESS: usize = 8;

/// Room for every client.
fn flags(clients: usize) -> Vec<String> {
    vec!["--max-connections".into(), (clients + 64).to_string()]
}

/// Client `i`'s settings: `config` from its own household's address.
fn config_for(config: &ClientConfig, i: usize) -> ClientConfig {
    ClientConfig {
        local_address: Some(crate::load::session::source(i / PER_ADDRESS)),
        ..config.clone()
    }
}

/// All clients log in at once; their times and failures.
async fn storm(
    server: &LoadChild,
    config: &ClientConfig,
    clients: usize,
) -> anyhow::Result<serde_json::Value> {
    let before = server.settled_rss_mib(Duration::from_secs(5)).await;
    let barrier = Arc::new(Barrier::new(clients + 1));
    let tasks: Vec<_> = (0..clients)
        .map(|i| {
            let (config, barrier) = (config_for(config, i), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                let started = Instant::now();
                let result = Client::login(config, &accounts::name(i), PASSWORD).await;
                let took = started.elapsed().as_secs_f64();
                result.map(|(client, events)| (took, client, tokio::spawn(drain(events))))
            })
        })
        .collect();
    barrier.wait().await;
    let started = Instant::now();
    let (mut times, mut failures, mut held) =
        (Vec::new(), BTreeMap::<String, u64>::new(), Vec::new());
    for task in tasks {
        match task.await? {
            Ok((took, client, drain)) => {
                times.push(took);
                held.push((client, drain));
            }
            Err(e) => *failures.entry(kind(&e)).or_default() += 1,
        }
    }
    let all_secs = started.elapsed().as_secs_f64();
    let after = server.settled_rss_mib(Duration::from_secs(5)).await;
    // The hashing workers give their memory back once the logins stop.
    tokio::time::sleep(natter_server::auth::hashing::RELEASE_AFTER).await;
    let after_idle = server.settled_rss_mib(Duration::from_secs(5)).await;
    let peak = server.peak_rss_mib();
    // And once they have all logged out: what the logins themselves left.
    let logouts: Vec<_> = held
        .into_iter()
        .map(|(client, _drain)| tokio::spawn(client.logout()))
        .collect();
    for logout in logouts {
        let _ = logout.await;
    }
    let left = server.settled_rss_mib(Duration::from_secs(10)).await;
    times.sort_by(|a, b| a.total_cmp(b));
    Ok(serde_json::json!({
        "succeeded": times.len(),
        "failed": clients - times.len(),
        "errors": failures,
        "login_secs": summary(&times, 3),
        "all_done_secs": rounded(all_secs, 2),
        "server_rss_mib": {
            "before": rounded(before, 1),
            "peak": rounded(peak, 1),
            "after": rounded(after, 1),
            "after_hashing_idle": rounded(after_idle, 1),
            "after_all_logged_out": rounded(left, 1),
        },
    }))
}

/// Logs every client in, kills the server, starts it again and times how
/// long until each client is back.
async fn tokens(
    server: &mut LoadChild,
    config: &ClientConfig,
    clients: usize,
) -> anyhow::Result<serde_json::Value> {
    let setup = Instant::now();
    let (back_tx, mut back) = mpsc::unbounded_channel::<Seen>();
    let (held, setup_retries) = log_in_all(config, clients, back_tx).await?;
    let setup_secs = setup.elapsed().as_secs_f64();
    let before = server.rss_mib();
    let killed = Instant::now();
    server.kill().await?;
    server
        .start_again()
        .await
        .context("restarting the server")?;
    let listening_secs = killed.elapsed().as_secs_f64();
    let deadline = tokio::time::Instant::now() + RECONNECT_PATIENCE;
    let (mut times, mut noticed) = (Vec::with_capacity(clients), Vec::with_capacity(clients));
    let since = |at: Instant| at.saturating_duration_since(killed).as_secs_f64();
    while times.len() < clients {
        match tokio::time::timeout_at(deadline, back.recv()).await {
            Ok(Some(Seen::Back(at))) => times.push(since(at)),
            Ok(Some(Seen::Lost(at))) => noticed.push(since(at)),
            _ => break,
        }
    }
    noticed.sort_by(|a, b| a.total_cmp(b));
    let after = server.settled_rss_mib(Duration::from_secs(5)).await;
    times.sort_by(|a, b| a.total_cmp(b));
    drop(held);
    Ok(serde_json::json!({
        "setup_secs": rounded(setup_secs, 1),
        "setup_login_retries": setup_retries,
        "restart_listening_secs": rounded(listening_secs, 3),
        "reconnected": times.len(),
        "missing": clients - times.len(),
        "reconnect_secs": summary(&times, 3),
        "noticed_loss_secs": summary(&noticed, 3),
        "all_back_secs": (times.len() == clients).then(|| rounded(times.last().copied().unwrap_or(0.0), 3)),
        "server_rss_mib": {
            "before_kill": rounded(before, 1),
            "after_restart": rounded(after, 1),
            "peak_after_restart": rounded(server.peak_rss_mib(), 1),
        },
    }))
}

/// Logs `clients` clients in, a few at a time (they share one address,
/// whose hashing share is small); each reports on `back` every time it
/// reconnects with its token. The clients, and the logins tried again.
async fn log_in_all(
    config: &ClientConfig,
    clients: usize,
    back: mpsc::UnboundedSender<Seen>,
) -> anyhow::Result<(Vec<Client>, u64)> {
    let slots = Arc::new(Semaphore::new(4));
    let retries = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..clients)
        .map(|i| {
            let (config, slots, back) = (config_for(config, i), slots.clone(), back.clone());
            let retries = retries.clone();
            tokio::spawn(async move {
                let _slot = slots.acquire_owned().await?;
                let (client, events) = persistent_login(config, i, &retries).await?;
                tokio::spawn(watch(events, back));
                anyhow::Ok(client)
            })
        })
        .collect();
    let mut held = Vec::with_capacity(clients);
    for task in tasks {
        held.push(task.await??);
    }
    Ok((held, retries.load(Relaxed)))
}

/// Logs client `i` in, trying again (up to [`SETUP_ATTEMPTS`] times, a
/// little later each time) when the server is busy or does not answer,
/// as a patient user would; counts the retries.
async fn persistent_login(
    config: ClientConfig,
    i: usize,
    retries: &AtomicU64,
) -> anyhow::Result<(Client, Events)> {
    let mut attempt = 1;
    loop {
        match Client::login(config.clone(), &accounts::name(i), PASSWORD).await {
            Ok(logged_in) => return Ok(logged_in),
            Err(e) if attempt < SETUP_ATTEMPTS => {
                tracing::debug!(client = i, error = %e, "setup login failed, trying again");
                retries.fetch_add(1, Relaxed);
                tokio::time::sleep(Duration::from_millis(200) * attempt).await;
                attempt += 1;
            }
            Err(e) => return Err(e).with_context(|| format!("logging in client {i}")),
        }
    }
}

/// What a client's events said after the crash, and when.
enum Seen {
    /// The first `Disconnected` of a connection: it noticed.
    Lost(Instant),
    /// `Connected { resumed: true }`: it is back with its token.
    Back(Instant),
}

/// Reads a client's events until they end, reporting each loss of the
/// connection and each resumed login.
async fn watch(mut events: Events, back: mpsc::UnboundedSender<Seen>) {
    let mut connected = true;
    while let Some(event) = events.next().await {
        let seen = match event {
            ClientEvent::Disconnected { .. } if connected => Seen::Lost(Instant::now()),
            ClientEvent::Connected { resumed: true } => Seen::Back(Instant::now()),
            _ => continue,
        };
        connected = matches!(seen, Seen::Back(_));
        let _ = back.send(seen);
    }
}

/// Reads a client's events until they end (nobody looks at them, but an
/// unread queue would hold the client back).
async fn drain(mut events: Events) {
    while events.next().await.is_some() {}
}

/// A failure's kind for the error counts: the variant, with the refusal or
/// the reason it could not connect.
fn kind(e: &ClientError) -> String {
    let variant = |debug: String| {
        debug
            .split(['(', ' ', '{'])
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    match e {
        ClientError::Refused(refusal) => format!("Refused/{}", variant(format!("{refusal:?}"))),
        ClientError::Unreachable { reason, .. } => format!("Unreachable: {reason}"),
        other => variant(format!("{other:?}")),
    }
}
