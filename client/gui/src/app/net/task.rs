//! The network thread's one task: it owns the logged-in [`Client`] (and
//! the embedded server), carries out the state's [`Command`]s, and reports
//! what the library tells, translated into the state's terms (its local
//! ids for messages and transfers).

use std::collections::HashMap;
use std::sync::mpsc;
use std::time::Duration;

use natter_client::{Client, ClientConfig, ClientEvent, Events, FirstUse, TransferId, Trust};
use natter_common::{Content, Conversation, MessageId, Recipient};
use tokio::sync::mpsc as tokio_mpsc;

use super::files;
use super::host::Hosted;
use super::options::NetOptions;
use crate::app::link::{Command, LoginAttempt, NetEvent};
use crate::app::state::{LocalId, Ticket};
use crate::app::wake::Wakeup;

/// Name sent in the hello, for the server's logs.
const SOFTWARE: &str = concat!("natter-gui ", env!("CARGO_PKG_VERSION"));
/// How long logging out may take when the window closes.
const LOGOUT_WAIT: Duration = Duration::from_secs(3);
/// How long the embedded server may take to drain at exit.
const HOST_DRAIN_WAIT: Duration = Duration::from_secs(6);
/// Why a command that needs a session could not run.
const NOT_LOGGED_IN: &str = "not logged in";

/// Where the network thread's reports go: the frame loop's channel, and a
/// wake-up for the window in case it sleeps.
#[derive(Clone)]
pub(super) struct Outbox {
    tx: mpsc::Sender<NetEvent>,
    wakeup: Wakeup,
}

impl Outbox {
    pub(super) fn new(tx: mpsc::Sender<NetEvent>, wakeup: Wakeup) -> Self {
        Self { tx, wakeup }
    }

    /// Reports `event`; does nothing once the frame loop is gone.
    fn send(&self, event: NetEvent) {
        if self.tx.send(event).is_ok() {
            self.wakeup.wake();
        }
    }
}

/// The state of the network thread.
pub(super) struct NetTask {
    events: Outbox,
    options: NetOptions,
    client: Option<Client>,
    client_events: Option<Events>,
    hosted: Option<Hosted>,
    /// The library's transfer ids, and the tickets the state knows them by.
    transfers: HashMap<TransferId, Ticket>,
}

enum Next {
    Command(Option<Command>),
    Client(Option<ClientEvent>),
}

impl NetTask {
    pub(super) fn new(events: Outbox, options: NetOptions) -> Self {
        Self {
            events,
            options,
            client: None,
            client_events: None,
            hosted: None,
            transfers: HashMap::new(),
        }
    }

    /// Runs until the frame loop drops its command sender, then logs out
    /// and stops the embedded server.
    pub(super) async fn run(mut self, mut commands: tokio_mpsc::UnboundedReceiver<Command>) {
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
        self.end_session().await;
        if let Some(hosted) = self.hosted.take() {
            hosted.stop(HOST_DRAIN_WAIT).await;
        }
    }

    async fn command(&mut self, command: Command) {
        match command {
            Command::Login(attempt) => self.login(attempt).await,
            Command::Host { listen } => {
                if self.hosted.is_none() {
                    let data_dir = self.options.server_data_dir.clone();
                    match Hosted::start(listen, data_dir).await {
                        Ok((hosted, report)) => {
                            self.hosted = Some(hosted);
                            self.events.send(report);
                        }
                        Err(e) => self.events.send(NetEvent::HostFailed(format!("{e:#}"))),
                    }
                }
            }
            Command::Send { local, to, content } => self.send(local, to, content),
            Command::History {
                conversation,
                before,
                limit,
            } => self.history(conversation, before, limit),
            Command::Share {
                ticket,
                to,
                path,
                as_file,
            } => self.start_transfer(ticket, |client| client.share(to, path, as_file)),
            Command::Fetch {
                ticket,
                media,
                kind,
            } => self.start_transfer(ticket, |client| client.fetch(media, kind)),
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
            Command::OpenPath(path) => self.off_thread(move || files::open_blocking(&path)),
            Command::ShowInFolder(path) => {
                self.off_thread(move || files::show_folder_blocking(&path))
            }
            Command::ListCache => self.list_cache(),
            Command::Logout => {
                self.end_session().await;
                self.transfers.clear();
                self.events.send(NetEvent::LoggedOut);
            }
            Command::OpenFileDialog { .. } => {}
        }
    }

    fn send(&self, local: LocalId, to: Recipient, content: Content) {
        match &self.client {
            Some(client) => match client.send(to, content) {
                Ok(client_id) => self.events.send(NetEvent::Queued { local, client_id }),
                Err(e) => self.events.send(NetEvent::SendFailed {
                    local,
                    reason: e.to_string(),
                }),
            },
            None => self.events.send(NetEvent::SendFailed {
                local,
                reason: NOT_LOGGED_IN.into(),
            }),
        }
    }

    fn history(&self, conversation: Conversation, before: Option<MessageId>, limit: u16) {
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
            events.send(event);
        });
    }

    /// Starts an upload or download with the logged-in client and
    /// remembers which ticket it answers; without a client, fails the
    /// ticket at once.
    fn start_transfer(&mut self, ticket: Ticket, start: impl FnOnce(&Client) -> TransferId) {
        match &self.client {
            Some(client) => {
                let key = start(client);
                self.transfers.insert(key, ticket);
            }
            None => self.events.send(NetEvent::TransferDone {
                ticket,
                outcome: Err(NOT_LOGGED_IN.into()),
            }),
        }
    }

    fn list_cache(&self) {
        let root = files::cache_root(self.client.as_ref(), self.options.cache_dir.as_deref());
        let events = self.events.clone();
        tokio::task::spawn_blocking(move || {
            let (pictures, files) = files::list_blocking(root);
            events.send(NetEvent::CacheListing { pictures, files });
        });
    }

    /// Runs `work` (which may block) on a worker thread; what it fails
    /// with is worth a toast.
    fn off_thread(&self, work: impl FnOnce() -> Result<(), String> + Send + 'static) {
        let events = self.events.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(notice) = work() {
                events.send(NetEvent::Notice(notice));
            }
        });
    }

    /// Logs the current client out, if any, waiting at most
    /// [`LOGOUT_WAIT`]; its transfers end with it.
    async fn end_session(&mut self) {
        self.client_events = None;
        if let Some(client) = self.client.take() {
            let _ = tokio::time::timeout(LOGOUT_WAIT, client.logout()).await;
        }
    }

    async fn login(&mut self, attempt: LoginAttempt) {
        // A new login replaces any earlier session.
        self.end_session().await;
        let config = ClientConfig {
            server: attempt.server.clone(),
            trust: self.trust(&attempt),
            software: SOFTWARE.to_owned(),
        };
        if attempt.register {
            if let Err(e) = natter_client::register(&config, &attempt.name, &attempt.password).await
            {
                self.events.send(NetEvent::LoginFailed(e));
                return;
            }
        }
        match Client::login(config, &attempt.name, &attempt.password).await {
            Ok((client, events)) => {
                self.events.send(NetEvent::LoggedIn {
                    me: client.me().clone(),
                    server: attempt.server,
                    max_text_chars: client.limits().max_text_chars,
                });
                files::configure(&client, self.options.cache_dir.as_deref());
                self.client = Some(client);
                self.client_events = Some(events);
            }
            Err(e) => self.events.send(NetEvent::LoginFailed(e)),
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
            ClientEvent::Progress(p) => {
                let Some(ticket) = self.transfers.get(&p.id).copied() else {
                    return;
                };
                NetEvent::Progress {
                    ticket,
                    done: p.done,
                    total: p.total,
                    bytes_per_sec: p.bytes_per_sec as f64,
                }
            }
            ClientEvent::TransferDone { id, outcome } => {
                let Some(ticket) = self.transfers.remove(&id) else {
                    return;
                };
                NetEvent::TransferDone {
                    ticket,
                    outcome: outcome.map_err(|e| e.to_string()),
                }
            }
        };
        self.events.send(event);
    }

    /// How far this attempt trusts the server's certificate.
    fn trust(&self, attempt: &LoginAttempt) -> Trust {
        Trust {
            known_servers: self.options.known_servers.clone(),
            pinned: attempt.pinned,
            first_use: if attempt.accept_first_use {
                FirstUse::Accept
            } else {
                FirstUse::Refuse
            },
        }
    }
}
