//! The network thread: a std thread with its own tokio runtime that owns
//! the [`Client`] (and, when asked, an embedded server), and talks to the
//! frame loop through channels: [`Command`]s in, [`NetEvent`]s out. The
//! frame loop never waits on it; it drains events with `try_recv` each
//! frame.
//!
//! This is the only module of the GUI that calls the client library, so a
//! change in the library's API is adapted here.

use std::collections::HashMap;
use std::fmt;
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use natter_common::{
    ChatMessage, ClientMsgId, Content, Conversation, Fingerprint, MediaKind, MediaRef, MessageId,
    Recipient, Timestamp, UserName,
};
use tokio::sync::{mpsc as tokio_mpsc, oneshot};

use crate::app::state::{LocalId, Ticket};
use crate::app::wake::Wakeup;
use natter_client::{Client, ClientConfig, ClientError, ClientEvent, Events, FirstUse, Trust};

/// Name sent in the hello, for the server's logs.
const SOFTWARE: &str = concat!("natter-gui ", env!("CARGO_PKG_VERSION"));
/// How long logging out may take when the window closes.
const LOGOUT_WAIT: Duration = Duration::from_secs(3);
/// How long the embedded server may take to drain at exit.
const HOST_DRAIN_WAIT: Duration = Duration::from_secs(6);

/// One login (or registration followed by a login), with how far the user
/// trusts the server.
#[derive(Clone, PartialEq, Eq)]
pub struct LoginAttempt {
    pub server: String,
    pub name: String,
    pub password: String,
    /// Create the account first.
    pub register: bool,
    /// Only this certificate will do (the user accepted it, or we host it).
    pub pinned: Option<Fingerprint>,
    /// Record an unknown server instead of refusing it.
    pub accept_first_use: bool,
}

impl fmt::Debug for LoginAttempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginAttempt")
            .field("server", &self.server)
            .field("name", &self.name)
            .field("register", &self.register)
            .field("pinned", &self.pinned)
            .field("accept_first_use", &self.accept_first_use)
            .finish_non_exhaustive()
    }
}

/// A picture or file in the local media cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedEntry {
    pub path: PathBuf,
    pub name: String,
    pub size: u64,
}

/// What the state asks the outside world to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Login(LoginAttempt),
    /// Start a server in this process.
    Host {
        listen: SocketAddr,
    },
    Send {
        local: LocalId,
        to: Recipient,
        content: Content,
    },
    History {
        conversation: Conversation,
        before: Option<MessageId>,
        limit: u16,
    },
    Share {
        ticket: Ticket,
        to: Recipient,
        path: PathBuf,
        as_file: bool,
    },
    Fetch {
        ticket: Ticket,
        media: MediaRef,
        kind: MediaKind,
    },
    Cancel(Ticket),
    OpenPath(PathBuf),
    ShowInFolder(PathBuf),
    ListCache,
    Logout,
    /// Run the system file dialog. Handled by the frame loop (it owns the
    /// dialog's worker thread), never sent to the network thread.
    OpenFileDialog {
        picture: bool,
    },
}

/// What the network thread reports.
#[derive(Debug, Clone, PartialEq)]
pub enum NetEvent {
    LoggedIn {
        me: UserName,
        server: String,
        max_text_chars: u32,
    },
    LoginFailed(ClientError),
    Hosting {
        join_addresses: Vec<String>,
        fingerprint: Fingerprint,
    },
    HostFailed(String),
    Connected {
        resumed: bool,
    },
    Online(Vec<UserName>),
    Joined(UserName),
    Left(UserName),
    Message(ChatMessage),
    CaughtUp {
        truncated: bool,
    },
    /// The library queued our message under this id.
    Queued {
        local: LocalId,
        client_id: ClientMsgId,
    },
    /// The library refused to queue it.
    SendFailed {
        local: LocalId,
        reason: String,
    },
    Accepted {
        client_id: ClientMsgId,
        id: MessageId,
        sent_at: Timestamp,
    },
    Rejected {
        client_id: ClientMsgId,
        reason: String,
    },
    /// The server said "not now" (too fast, or storage busy): the message
    /// stays pending and is sent again by itself in `retry_in_secs`.
    Throttled {
        client_id: ClientMsgId,
        retry_in_secs: f64,
    },
    Disconnected {
        reason: String,
        retry_in_secs: f64,
    },
    Closed {
        reason: String,
    },
    History {
        conversation: Conversation,
        messages: Vec<ChatMessage>,
        more: bool,
    },
    HistoryFailed {
        conversation: Conversation,
        reason: String,
    },
    Progress {
        ticket: Ticket,
        done: u64,
        total: u64,
        bytes_per_sec: f64,
    },
    TransferDone {
        ticket: Ticket,
        outcome: Result<PathBuf, String>,
    },
    CacheListing {
        pictures: Vec<CachedEntry>,
        files: Vec<CachedEntry>,
    },
    LoggedOut,
    /// Something worth a toast (an open that failed...).
    Notice(String),
}

/// Where the network thread keeps things on disk.
#[derive(Debug, Clone)]
pub struct NetOptions {
    /// The known-servers file (`NATTER_KNOWN_SERVERS` overrides).
    pub known_servers: PathBuf,
    /// Root of the media cache (`NATTER_CACHE_DIR` overrides).
    pub cache_dir: Option<PathBuf>,
    /// Data directory of the embedded server (`NATTER_HOST_DATA_DIR`
    /// overrides the platform data directory's `server/`).
    pub server_data_dir: PathBuf,
}

impl NetOptions {
    /// Platform defaults, with the test hooks' overrides.
    pub fn from_env() -> Self {
        let dirs = directories::ProjectDirs::from("", "", "natter");
        let known_servers = std::env::var_os("NATTER_KNOWN_SERVERS")
            .map(PathBuf::from)
            .or_else(Trust::default_known_servers)
            .unwrap_or_else(|| PathBuf::from("natter-known-servers"));
        let cache_dir = std::env::var_os("NATTER_CACHE_DIR").map(PathBuf::from);
        let server_data_dir = std::env::var_os("NATTER_HOST_DATA_DIR")
            .map(PathBuf::from)
            .or_else(|| dirs.map(|d| d.data_dir().join("server")))
            .unwrap_or_else(|| PathBuf::from("natter-server-data"));
        Self {
            known_servers,
            cache_dir,
            server_data_dir,
        }
    }
}

/// The frame loop's handle on the network thread.
pub struct Network {
    commands: tokio_mpsc::UnboundedSender<Command>,
    events: mpsc::Receiver<NetEvent>,
    thread: Option<JoinHandle<()>>,
    stopped: mpsc::Receiver<()>,
}

impl fmt::Debug for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Network").finish_non_exhaustive()
    }
}

impl Network {
    /// Starts the thread and its runtime. Every event it reports also
    /// wakes the window through `wakeup`.
    pub fn start(options: NetOptions, wakeup: Wakeup) -> std::io::Result<Self> {
        let (commands, commands_rx) = tokio_mpsc::unbounded_channel();
        let (tx, events) = mpsc::channel();
        let events_tx = Outbox { tx, wakeup };
        let (stopped_tx, stopped) = mpsc::channel();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("natter-net")
            .enable_all()
            .build()?;
        let thread = std::thread::Builder::new()
            .name("natter-net".into())
            .spawn(move || {
                let task = NetTask {
                    events: events_tx,
                    options,
                    client: None,
                    client_events: None,
                    hosted: None,
                    transfers: HashMap::new(),
                };
                runtime.block_on(task.run(commands_rx));
                runtime.shutdown_timeout(Duration::from_secs(1));
                let _ = stopped_tx.send(());
            })?;
        Ok(Self {
            commands,
            events,
            thread: Some(thread),
            stopped,
        })
    }

    /// Hands a command to the thread; never blocks.
    pub fn send(&self, command: Command) {
        let _ = self.commands.send(command);
    }

    /// The next report, if one is ready.
    pub fn try_recv(&self) -> Option<NetEvent> {
        self.events.try_recv().ok()
    }

    /// Logs out, stops any embedded server, and waits at most `wait` for
    /// the thread to finish.
    pub fn shutdown(mut self, wait: Duration) {
        let (commands, _) = tokio_mpsc::unbounded_channel();
        drop(std::mem::replace(&mut self.commands, commands));
        if self.stopped.recv_timeout(wait).is_ok() {
            if let Some(thread) = self.thread.take() {
                let _ = thread.join();
            }
        }
    }
}

/// A server running inside this process.
struct Hosted {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// Where the network thread's reports go: the frame loop's channel, and a
/// wake-up for the window in case it sleeps.
#[derive(Clone)]
struct Outbox {
    tx: mpsc::Sender<NetEvent>,
    wakeup: Wakeup,
}

impl Outbox {
    /// Fails when the frame loop is gone.
    fn send(&self, event: NetEvent) -> Result<(), ()> {
        self.tx.send(event).map_err(|_| ())?;
        self.wakeup.wake();
        Ok(())
    }
}

/// The state of the network thread.
struct NetTask {
    events: Outbox,
    options: NetOptions,
    client: Option<Client>,
    client_events: Option<Events>,
    hosted: Option<Hosted>,
    /// The library's transfer ids, and the tickets the state knows them by.
    transfers: HashMap<media::TransferKey, Ticket>,
}

enum Next {
    Command(Option<Command>),
    Client(Option<ClientEvent>),
}

impl NetTask {
    async fn run(mut self, mut commands: tokio_mpsc::UnboundedReceiver<Command>) {
        loop {
            let next = {
                let events = self.client_events.as_mut();
                tokio::select! {
                    c = commands.recv() => Next::Command(c),
                    e = async {
                        match events {
                            Some(events) => events.next().await,
                            None => std::future::pending().await,
                        }
                    } => Next::Client(e),
                }
            };
            match next {
                Next::Command(None) => break,
                Next::Command(Some(command)) => self.command(command).await,
                Next::Client(Some(event)) => self.client_event(event),
                Next::Client(None) => {
                    self.client_events = None;
                    self.client = None;
                }
            }
        }
        if let Some(client) = self.client.take() {
            let _ = tokio::time::timeout(LOGOUT_WAIT, client.logout()).await;
        }
        if let Some(hosted) = self.hosted.take() {
            let _ = hosted.stop.send(());
            let _ = tokio::time::timeout(HOST_DRAIN_WAIT, hosted.task).await;
        }
    }

    /// Starts an upload or download with the logged-in client and
    /// remembers which ticket it answers; without a client, fails the
    /// ticket at once.
    fn start_transfer(
        &mut self,
        ticket: Ticket,
        start: impl FnOnce(&Client) -> media::TransferKey,
    ) {
        match &self.client {
            Some(client) => {
                let key = start(client);
                self.transfers.insert(key, ticket);
            }
            None => self.report(NetEvent::TransferDone {
                ticket,
                outcome: Err("not logged in".into()),
            }),
        }
    }

    fn report(&self, event: NetEvent) {
        let _ = self.events.send(event);
    }

    async fn command(&mut self, command: Command) {
        match command {
            Command::Login(attempt) => self.login(attempt).await,
            Command::Host { listen } => self.host(listen).await,
            Command::Send { local, to, content } => match &self.client {
                Some(client) => match client.send(to, content) {
                    Ok(client_id) => self.report(NetEvent::Queued { local, client_id }),
                    Err(e) => self.report(NetEvent::SendFailed {
                        local,
                        reason: e.to_string(),
                    }),
                },
                None => self.report(NetEvent::SendFailed {
                    local,
                    reason: "not logged in".into(),
                }),
            },
            Command::History {
                conversation,
                before,
                limit,
            } => {
                let Some(client) = self.client.clone() else {
                    return;
                };
                let events = self.events.clone();
                tokio::spawn(async move {
                    let event = match client.history(conversation.clone(), before, limit).await {
                        Ok(page) => NetEvent::History {
                            conversation,
                            messages: page.messages,
                            more: page.more,
                        },
                        Err(e) => NetEvent::HistoryFailed {
                            conversation,
                            reason: e.to_string(),
                        },
                    };
                    let _ = events.send(event);
                });
            }
            Command::Share {
                ticket,
                to,
                path,
                as_file,
            } => self.start_transfer(ticket, |client| client.share(to, path, as_file)),
            Command::Fetch {
                ticket,
                media: reference,
                kind,
            } => self.start_transfer(ticket, |client| client.fetch(reference, kind)),
            Command::Cancel(ticket) => {
                let key = self
                    .transfers
                    .iter()
                    .find(|(_, t)| **t == ticket)
                    .map(|(k, _)| *k);
                if let (Some(key), Some(client)) = (key, &self.client) {
                    self.transfers.remove(&key);
                    client.cancel(key);
                }
            }
            Command::OpenPath(path) => {
                let events = self.events.clone();
                tokio::task::spawn_blocking(move || {
                    if let Err(e) = media::open(&path) {
                        let e = explain_open_error(e);
                        let _ =
                            events.send(NetEvent::Notice(format!("Could not open the file: {e}")));
                    }
                });
            }
            Command::ShowInFolder(path) => {
                let events = self.events.clone();
                tokio::task::spawn_blocking(move || {
                    if let Err(e) = media::show_folder(&path) {
                        let e = explain_open_error(e);
                        let _ = events
                            .send(NetEvent::Notice(format!("Could not show the folder: {e}")));
                    }
                });
            }
            Command::ListCache => {
                let events = self.events.clone();
                // The logged-in client's own cache (per server and account).
                let root = self.options.cache_dir.clone().or_else(|| {
                    let cache = self.client.as_ref()?.cache().ok()?;
                    Some(cache.root().to_path_buf())
                });
                tokio::task::spawn_blocking(move || {
                    let (pictures, files) = media::list(root);
                    let _ = events.send(NetEvent::CacheListing { pictures, files });
                });
            }
            Command::Logout => {
                self.client_events = None;
                if let Some(client) = self.client.take() {
                    let _ = tokio::time::timeout(LOGOUT_WAIT, client.logout()).await;
                }
                self.transfers.clear();
                self.report(NetEvent::LoggedOut);
            }
            Command::OpenFileDialog { .. } => {}
        }
    }

    async fn login(&mut self, attempt: LoginAttempt) {
        // A new login replaces any earlier session.
        self.client_events = None;
        if let Some(client) = self.client.take() {
            let _ = tokio::time::timeout(LOGOUT_WAIT, client.logout()).await;
        }
        let trust = Trust {
            known_servers: self.options.known_servers.clone(),
            pinned: attempt.pinned,
            first_use: if attempt.accept_first_use {
                FirstUse::Accept
            } else {
                FirstUse::Refuse
            },
        };
        let config = ClientConfig {
            software: SOFTWARE.to_owned(),
            ..ClientConfig::new(attempt.server.clone(), trust)
        };
        if attempt.register {
            if let Err(e) = natter_client::register(&config, &attempt.name, &attempt.password).await
            {
                self.report(NetEvent::LoginFailed(e));
                return;
            }
        }
        match Client::login(config, &attempt.name, &attempt.password).await {
            Ok((client, events)) => {
                let limits = client.limits();
                self.report(NetEvent::LoggedIn {
                    me: client.me().clone(),
                    server: attempt.server,
                    max_text_chars: limits.max_text_chars,
                });
                media::configure(&client, self.options.cache_dir.as_deref());
                self.client = Some(client);
                self.client_events = Some(events);
            }
            Err(e) => self.report(NetEvent::LoginFailed(e)),
        }
    }

    async fn host(&mut self, listen: SocketAddr) {
        if self.hosted.is_some() {
            return;
        }
        let config = natter_server::Config::new(listen, self.options.server_data_dir.clone());
        match natter_server::Server::bind(config).await {
            Ok(server) => {
                let endpoint = server.endpoint();
                let (stop, stopped) = oneshot::channel::<()>();
                let task = tokio::spawn(server.run(async move {
                    let _ = stopped.await;
                }));
                self.hosted = Some(Hosted { stop, task });
                self.report(NetEvent::Hosting {
                    join_addresses: join_addresses(endpoint.addr.port()),
                    fingerprint: endpoint.fingerprint,
                });
            }
            Err(e) => self.report(NetEvent::HostFailed(format!("{e:#}"))),
        }
    }

    fn client_event(&mut self, event: ClientEvent) {
        let event = match event {
            ClientEvent::Connected { resumed } => NetEvent::Connected { resumed },
            ClientEvent::Online(users) => NetEvent::Online(users),
            ClientEvent::Joined(u) => NetEvent::Joined(u),
            ClientEvent::Left(u) => NetEvent::Left(u),
            ClientEvent::Message(m) => NetEvent::Message(m),
            ClientEvent::CaughtUp { truncated } => NetEvent::CaughtUp { truncated },
            ClientEvent::Accepted {
                client_id,
                id,
                sent_at,
            } => NetEvent::Accepted {
                client_id,
                id,
                sent_at,
            },
            ClientEvent::Rejected { client_id, reason } => NetEvent::Rejected {
                client_id,
                reason: reason.to_string(),
            },
            ClientEvent::Throttled {
                client_id,
                retry_in,
                ..
            } => NetEvent::Throttled {
                client_id,
                retry_in_secs: retry_in.as_secs_f64(),
            },
            ClientEvent::Disconnected { reason, retry_in } => NetEvent::Disconnected {
                reason,
                retry_in_secs: retry_in.as_secs_f64(),
            },
            ClientEvent::Closed { reason } => NetEvent::Closed {
                reason: reason.to_string(),
            },
            other @ (ClientEvent::Progress(_) | ClientEvent::TransferDone { .. }) => {
                match media::event(other, &mut self.transfers) {
                    Some(event) => event,
                    None => return,
                }
            }
        };
        self.report(event);
    }
}

/// Says what a failed "open" usually means.
fn explain_open_error(e: std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::NotFound {
        "no program to open it was found (on Linux, install xdg-utils)".to_owned()
    } else {
        e.to_string()
    }
}

/// Addresses others can join a server on this machine with: the LAN
/// address (found by asking the OS which interface would route outwards;
/// no packet is sent), then loopback.
fn join_addresses(port: u16) -> Vec<String> {
    let mut out = Vec::new();
    let lan = UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| s.connect("192.0.2.1:9").map(|()| s))
        .and_then(|s| s.local_addr());
    if let Ok(addr) = lan {
        if !addr.ip().is_loopback() && !addr.ip().is_unspecified() {
            out.push(format!("{}:{port}", addr.ip()));
        }
    }
    out.push(format!("127.0.0.1:{port}"));
    out
}

/// The glue to the library's media API (uploads, downloads, the cache,
/// opening files), kept apart so it is adapted in one place.
mod media {
    use std::collections::HashMap;
    use std::path::{Path, PathBuf};

    use natter_common::MediaKind;

    use super::{CachedEntry, NetEvent};
    use crate::app::state::Ticket;
    use natter_client::media::{CachedItem, MediaCache};
    use natter_client::{Client, ClientEvent};

    /// The library's id of a transfer.
    pub type TransferKey = natter_client::TransferId;

    /// Points the client at the cache the hooks name (if any).
    pub fn configure(client: &Client, cache_dir: Option<&Path>) {
        if let Some(dir) = cache_dir {
            match MediaCache::at(dir) {
                Ok(cache) => {
                    if let Err(e) = client.use_cache(cache) {
                        tracing::warn!(error = %e, "media cache not set");
                    }
                }
                Err(e) => tracing::warn!(error = %e, dir = %dir.display(), "media cache unusable"),
            }
        }
    }

    pub fn open(path: &Path) -> std::io::Result<()> {
        natter_client::media::open_with_system(path)
    }

    pub fn show_folder(path: &Path) -> std::io::Result<()> {
        natter_client::media::show_in_folder(path)
    }

    /// Everything in the cache: pictures, then files (newest first).
    pub fn list(root: Option<PathBuf>) -> (Vec<CachedEntry>, Vec<CachedEntry>) {
        let cache = match root {
            Some(root) => MediaCache::at(root),
            None => MediaCache::open_default(),
        };
        let Ok(cache) = cache else {
            return (Vec::new(), Vec::new());
        };
        let entries = |kind| {
            cache
                .list(kind)
                .unwrap_or_default()
                .into_iter()
                .map(
                    |CachedItem {
                         path, name, size, ..
                     }| CachedEntry { path, name, size },
                )
                .collect()
        };
        (entries(MediaKind::Photo), entries(MediaKind::File))
    }

    /// Progress and completion of transfers, under the state's tickets.
    pub fn event(
        event: ClientEvent,
        transfers: &mut HashMap<TransferKey, Ticket>,
    ) -> Option<NetEvent> {
        match event {
            ClientEvent::Progress(p) => {
                let ticket = *transfers.get(&p.id)?;
                Some(NetEvent::Progress {
                    ticket,
                    done: p.done,
                    total: p.total,
                    bytes_per_sec: p.bytes_per_sec as f64,
                })
            }
            ClientEvent::TransferDone { id, outcome } => {
                let ticket = transfers.remove(&id)?;
                Some(NetEvent::TransferDone {
                    ticket,
                    outcome: outcome.map_err(|e| e.to_string()),
                })
            }
            _ => None,
        }
    }
}
