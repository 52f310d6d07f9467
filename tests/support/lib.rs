//! Shared pieces of Natter's end-to-end tests and benchmarks: a real server
//! on 127.0.0.1:0 in a temp dir, real clients, a raw QUIC peer for
//! protocol-abuse tests, a UDP relay that can cut the network, an
//! emulated bottleneck link (rate, delay, router queue), and
//! event waits bounded by a deadline (never a sleep).

pub mod blobs;
pub mod child;
pub mod link;
pub mod logins;
pub mod raw;
pub mod relay;

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use natter_client::{Client, ClientConfig, ClientEvent, Events, FirstUse, Trust};
use natter_common::Fingerprint;
use natter_server::{Config, Server};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Password every test user gets.
pub const PASSWORD: &str = "correct horse battery";

/// How long any single expected event may take before a test fails. A
/// bound on waiting, not a pause: tests proceed the moment the event comes.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Logs to the test output when RUST_LOG is set.
pub fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// Logs a child process's warnings (or what RUST_LOG asks for) to its
/// stderr, leaving stdout to the line its parent reads.
pub fn init_child_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
}

/// A real server running in this process.
pub struct TestServer {
    pub addr: SocketAddr,
    pub fingerprint: Fingerprint,
    pub data_dir: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
    _dir: Option<tempfile::TempDir>,
}

impl TestServer {
    /// Starts a server on 127.0.0.1:0 with a fresh temp data dir.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Like [`TestServer::start`], with settings changed by `tweak`.
    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut server = Self::start_at("127.0.0.1:0".parse().unwrap(), dir.path(), tweak).await;
        server._dir = Some(dir);
        server
    }

    /// Starts a server at a given address and data dir.
    pub async fn start_at(
        addr: SocketAddr,
        data_dir: &Path,
        tweak: impl FnOnce(&mut Config),
    ) -> Self {
        init_logging();
        let mut config = Config::new(addr, data_dir);
        tweak(&mut config);
        let server = Server::bind(config).await.expect("server binds");
        let endpoint = server.endpoint();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async {
            let _ = stopped.await;
        }));
        Self {
            addr: endpoint.addr,
            fingerprint: endpoint.fingerprint,
            data_dir: data_dir.to_path_buf(),
            stop: Some(stop),
            task: Some(task),
            _dir: None,
        }
    }

    /// Stops the server gracefully and waits for it to drain.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task").expect("server ran");
        }
    }

    /// Stops the server and starts it again on the same address and data.
    pub async fn restart(&mut self) {
        self.stop().await;
        let dir = self._dir.take();
        let mut again = Self::start_at(self.addr, &self.data_dir, |_| {}).await;
        again._dir = dir;
        *self = again;
    }

    /// Client settings that pin this server's certificate, with a
    /// known-servers file in the server's temp dir.
    pub fn client_config(&self) -> ClientConfig {
        self.client_config_for(&self.addr.to_string())
    }

    /// Like [`TestServer::client_config`] for another address (a relay).
    pub fn client_config_for(&self, server: &str) -> ClientConfig {
        pinned_config(server, &self.data_dir, self.fingerprint)
    }

    /// Registers `name` and logs in.
    pub async fn user(&self, name: &str) -> (Client, Events) {
        register_and_login(self.client_config(), name).await
    }
}

/// Client settings for `server` that pin `fingerprint`, with a
/// known-servers file in the server's data dir.
pub fn pinned_config(server: &str, data_dir: &Path, fingerprint: Fingerprint) -> ClientConfig {
    let trust = Trust {
        known_servers: data_dir.join("test_known_servers"),
        pinned: Some(fingerprint),
        first_use: FirstUse::Refuse,
    };
    ClientConfig {
        software: "natter-tests".into(),
        ..ClientConfig::new(server, trust)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Registers `name` with [`PASSWORD`] and logs in.
pub async fn register_and_login(config: ClientConfig, name: &str) -> (Client, Events) {
    natter_client::register(&config, name, PASSWORD)
        .await
        .expect("register");
    Client::login(config, name, PASSWORD).await.expect("login")
}

/// Awaits `fut`, failing the test if it takes longer than [`PATIENCE`].
pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(PATIENCE, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

/// Waits for the first event `pick` accepts, skipping others.
pub async fn expect<T>(
    events: &mut Events,
    what: &str,
    mut pick: impl FnMut(&ClientEvent) -> Option<T>,
) -> T {
    within(what, async {
        loop {
            match events.next().await {
                Some(event) => {
                    if let Some(v) = pick(&event) {
                        return v;
                    }
                }
                None => panic!("event stream ended while waiting for {what}"),
            }
        }
    })
    .await
}

/// Waits for a message whose text is `text`, returning it.
pub async fn expect_text(events: &mut Events, text: &str) -> natter_common::ChatMessage {
    expect(events, &format!("message {text:?}"), |e| match e {
        ClientEvent::Message(m) if m.content == natter_common::Content::Text(text.into()) => {
            Some(m.clone())
        }
        _ => None,
    })
    .await
}

/// Collects every message up to and including the one whose text is
/// `marker`: proof of what arrived before it, without waiting on time.
pub async fn messages_until(events: &mut Events, marker: &str) -> Vec<natter_common::ChatMessage> {
    let mut seen = Vec::new();
    expect(events, &format!("marker {marker:?}"), |e| {
        if let ClientEvent::Message(m) = e {
            seen.push(m.clone());
            if m.content == natter_common::Content::Text(marker.into()) {
                return Some(());
            }
        }
        None
    })
    .await;
    seen
}

/// Writes `size` bytes of deterministic pseudo-random data (BLAKE3's XOF
/// over `seed`) to `path`, in chunks, so memory stays flat.
pub fn random_file(path: &Path, size: u64, seed: &str) {
    use std::io::{Read, Write};
    let mut xof = blake3::Hasher::new().update(seed.as_bytes()).finalize_xof();
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).expect("create file"));
    let mut buf = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        xof.read_exact(&mut buf[..n]).expect("xof");
        out.write_all(&buf[..n]).expect("write file");
        left -= n as u64;
    }
    out.flush().expect("flush");
}

/// Whether two files hold the same bytes (compared in chunks).
pub fn same_bytes(a: &Path, b: &Path) -> bool {
    use std::io::Read;
    let (mut fa, mut fb) = (
        std::fs::File::open(a).unwrap(),
        std::fs::File::open(b).unwrap(),
    );
    if fa.metadata().unwrap().len() != fb.metadata().unwrap().len() {
        return false;
    }
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let n = fa.read(&mut ba).unwrap();
        if n == 0 {
            return true;
        }
        fb.read_exact(&mut bb[..n]).unwrap();
        if ba[..n] != bb[..n] {
            return false;
        }
    }
}

/// Logs in `name` (already registered) with a media cache of its own.
pub async fn login_with_cache(config: ClientConfig, name: &str, cache: &Path) -> (Client, Events) {
    let (client, events) = Client::login(config, name, PASSWORD).await.expect("login");
    client
        .use_cache(natter_client::MediaCache::at(cache).expect("cache dir"))
        .expect("fresh cache");
    (client, events)
}

/// Registers `user` on `server` and logs in with a media cache of its own
/// under `dir` (`cache-<user>`), so no test touches the platform's cache.
pub async fn member(server: &TestServer, dir: &Path, user: &str) -> (Client, Events) {
    natter_client::register(&server.client_config(), user, PASSWORD)
        .await
        .unwrap();
    login_with_cache(
        server.client_config(),
        user,
        &dir.join(format!("cache-{user}")),
    )
    .await
}
