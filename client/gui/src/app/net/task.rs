//! The network thread's one task: it owns the logged-in [`Client`] (and
//! the embedded server), carries out the state's [`Command`]s, answers
//! each with the ids the library returned, and passes on what the library
//! reports, as it reports it.

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use natter_client::{Client, ClientConfig, ClientEvent, Events, FirstUse, Trust};
use natter_common::{Content, Conversation, MediaKind, MediaRef, MessageId};
use tokio::sync::mpsc as tokio_mpsc;

use super::files;
use super::host::Hosted;
use super::options::NetOptions;
use crate::app::link::{Command, LoginAttempt, NetEvent};
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
                Next::Client(Some(event)) => self.events.send(NetEvent::Client(event)),
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
            Command::Send {
                conversation,
                content,
            } => self.send(conversation, content),
            Command::History {
                conversation,
                before,
                limit,
            } => self.history(conversation, before, limit),
            Command::Share {
                conversation,
                path,
                as_file,
            } => self.share(conversation, path, as_file),
            Command::Fetch { media, kind } => self.fetch(media, kind),
            Command::Cancel(id) => {
                if let Some(client) = &self.client {
                    client.cancel(id);
                }
            }
            Command::OpenPath(path) => self.off_thread(move || files::open_blocking(&path)),
            Command::ShowInFolder(path) => {
                self.off_thread(move || files::show_folder_blocking(&path))
            }
            Command::ListCache => self.list_cache(),
            Command::Logout => {
                self.end_session().await;
                self.events.send(NetEvent::LoggedOut);
            }
            Command::OpenFileDialog { .. } => {}
        }
    }

    fn send(&self, conversation: Conversation, content: Content) {
        let outcome = match &self.client {
            Some(client) => client
                .send(conversation.recipient(), content.clone())
                .map_err(|e| e.to_string()),
            None => Err(NOT_LOGGED_IN.to_owned()),
        };
        self.events.send(NetEvent::Queued {
            conversation,
            content,
            outcome,
        });
    }

    fn history(&self, conversation: Conversation, before: Option<MessageId>, limit: u16) {
        let Some(client) = self.client.clone() else {
            return;
        };
        let events = self.events.clone();
        tokio::spawn(async move {
            let page = client.history(conversation.clone(), before, limit).await;
            let outcome = page.map_err(|e| e.to_string());
            events.send(NetEvent::History {
                conversation,
                outcome,
            });
        });
    }

    fn share(&self, conversation: Conversation, path: PathBuf, as_file: bool) {
        let outcome = match &self.client {
            Some(client) => {
                let to = conversation.recipient();
                Ok(files::share(client, to, path.clone(), as_file))
            }
            None => Err(NOT_LOGGED_IN.to_owned()),
        };
        self.events.send(NetEvent::Sharing {
            conversation,
            path,
            as_file,
            outcome,
        });
    }

    fn fetch(&self, media: MediaRef, kind: MediaKind) {
        let outcome = match &self.client {
            Some(client) => Ok(client.fetch(media.clone(), kind)),
            None => Err(NOT_LOGGED_IN.to_owned()),
        };
        self.events.send(NetEvent::Fetching {
            media,
            kind,
            outcome,
        });
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
            software: SOFTWARE.to_owned(),
            ..ClientConfig::new(attempt.server.clone(), self.trust(&attempt))
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
