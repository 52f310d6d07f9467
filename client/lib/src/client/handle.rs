//! The [`Client`] an application holds: a cheap, cloneable handle that
//! queues requests for the session task and reads what it publishes.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use natter_common::limits::MAX_HISTORY_PAGE;
use natter_common::{
    ClientMsgId, Content, Conversation, Fingerprint, Limits, MessageId, Recipient, RequestId,
    UserName,
};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::{CancellationToken, DropGuard};

use super::config::ClientConfig;
use super::events::{Events, EVENT_QUEUE};
use super::request::{Command, HistoryPage, HistoryWait, PendingSend};
use super::session::Session;
use super::validate::validate;
use super::view::{lock, SessionView};
use crate::error::ClientError;
use crate::transfer::registry::Transfers;

/// Messages waiting for the server's confirmation, at most. Beyond this,
/// [`Client::send`] fails with [`ClientError::QueueFull`].
pub const MAX_PENDING_SENDS: usize = 10_000;

/// A logged-in chat session. Cloning gives another handle to the same
/// session; the session stops when [`Client::logout`] is called or the last
/// handle is dropped.
#[derive(Clone)]
pub struct Client {
    me: UserName,
    fingerprint: Fingerprint,
    newly_trusted: bool,
    view: Arc<Mutex<SessionView>>,
    connection: watch::Receiver<Option<quinn::Connection>>,
    commands: mpsc::UnboundedSender<Command>,
    /// Uploads and downloads in flight, and where their events go.
    pub(crate) transfers: Arc<Transfers>,
    _stop_on_drop: Arc<DropGuard>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("me", &self.me)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Connects and logs in with the password. Fails fast with a typed
    /// error if this first attempt fails; later connection losses are
    /// retried in the background.
    ///
    /// When this returns, the events queue already holds `Connected`,
    /// `Online`, the replayed messages and `CaughtUp`.
    pub async fn login(
        config: ClientConfig,
        name: &str,
        password: &str,
    ) -> Result<(Client, Events), ClientError> {
        let (events, rx) = mpsc::channel(EVENT_QUEUE);
        let (commands, commands_rx) = mpsc::unbounded_channel();
        let shutdown = CancellationToken::new();
        let view = Arc::new(Mutex::new(SessionView::new()));
        let session = Session::new(
            config,
            name,
            password,
            view.clone(),
            events.clone(),
            commands_rx,
            shutdown.clone(),
        );
        let connection = session.watch_connection();
        let started = session.start().await?;
        let client = Client {
            me: started.me,
            fingerprint: started.fingerprint,
            newly_trusted: started.newly_trusted,
            view,
            connection,
            commands,
            transfers: Arc::new(Transfers::new(events)),
            _stop_on_drop: Arc::new(shutdown.drop_guard()),
        };
        Ok((client, Events::new(rx)))
    }

    /// Who this session is logged in as, spelled as the server stores it.
    pub fn me(&self) -> &UserName {
        &self.me
    }

    /// Set when the login trusted the server on first use and recorded its
    /// fingerprint in the known-servers file: tell the user.
    pub fn newly_trusted(&self) -> Option<Fingerprint> {
        self.newly_trusted.then_some(self.fingerprint)
    }

    /// The fingerprint of the server's certificate, for the user to compare
    /// with what the operator published. Reconnects must present the same.
    pub fn server_fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    /// The server's limits, as of the latest login.
    pub fn limits(&self) -> Limits {
        self.view().limits.clone()
    }

    /// Who is online now, sorted by name.
    pub fn online(&self) -> Vec<UserName> {
        self.view().online.values().cloned().collect()
    }

    /// Queues a message and returns its client id at once; the outcome
    /// arrives as [`ClientEvent::Accepted`] or [`ClientEvent::Rejected`].
    /// Checks locally what the server would refuse anyway. Messages sent
    /// while disconnected go out after the reconnect.
    ///
    /// [`ClientEvent::Accepted`]: crate::ClientEvent::Accepted
    /// [`ClientEvent::Rejected`]: crate::ClientEvent::Rejected
    pub fn send(&self, to: Recipient, content: Content) -> Result<ClientMsgId, ClientError> {
        let client_id = fresh_message_id();
        self.send_as(client_id, to, content)?;
        Ok(client_id)
    }

    /// [`Client::send`] under a client id chosen earlier (by
    /// [`Client::share`], which hands it out before the upload is done).
    pub(crate) fn send_as(
        &self,
        client_id: ClientMsgId,
        to: Recipient,
        content: Content,
    ) -> Result<(), ClientError> {
        let mut view = self.view();
        if let Some(e) = &view.closed {
            return Err(e.clone());
        }
        validate(&content, &view.limits)?;
        if view.pending_sends >= MAX_PENDING_SENDS {
            return Err(ClientError::QueueFull {
                limit: MAX_PENDING_SENDS,
            });
        }
        let send = PendingSend {
            client_id,
            to,
            content,
            sent: false,
        };
        if self.commands.send(Command::Send(send)).is_err() {
            return Err(view.closed_error());
        }
        view.pending_sends += 1;
        Ok(())
    }

    /// One page of a conversation, oldest first: the newest `limit`
    /// messages, or those before `before`. Waits through a reconnect.
    pub async fn history(
        &self,
        conversation: Conversation,
        before: Option<MessageId>,
        limit: u16,
    ) -> Result<HistoryPage, ClientError> {
        if limit == 0 || limit > MAX_HISTORY_PAGE {
            return Err(ClientError::InvalidInput(format!(
                "a history page holds 1 to {MAX_HISTORY_PAGE} messages, not {limit}"
            )));
        }
        let (reply, answer) = oneshot::channel();
        let wait = HistoryWait {
            request: RequestId(0),
            conversation,
            before,
            limit,
            sent: false,
            reply,
        };
        self.command(Command::History(wait))?;
        answer.await.unwrap_or_else(|_| Err(self.closed_error()))
    }

    /// The round-trip time to the server on the control stream. Fails at
    /// once while disconnected.
    pub async fn ping(&self) -> Result<Duration, ClientError> {
        let (reply, answer) = oneshot::channel();
        self.command(Command::Ping(reply))?;
        answer.await.unwrap_or_else(|_| Err(self.closed_error()))
    }

    /// The live QUIC connection, for opening transfer streams; `None`
    /// while reconnecting.
    pub fn connection(&self) -> Option<quinn::Connection> {
        self.connection.borrow().clone()
    }

    /// Drops the current connection now, as if the network had blipped;
    /// the task reconnects as it would then. While waiting to reconnect,
    /// retries at once instead.
    pub fn reconnect_now(&self) {
        let _ = self.commands.send(Command::Reconnect);
    }

    /// Logs out: the server forgets this session's token and closes the
    /// connection. Waits at most 3 s for that, then stops the client.
    /// Messages not yet accepted are dropped. While disconnected, just
    /// stops (the server's token then expires on its own).
    pub async fn logout(self) -> Result<(), ClientError> {
        self.end(false).await
    }

    /// Logs out every device of this account: the server ends all its
    /// sessions and forgets all its tokens, so each must log in with the
    /// password again. Needs a connection: while disconnected it fails
    /// and the client keeps running.
    pub async fn logout_everywhere(self) -> Result<(), ClientError> {
        self.end(true).await
    }

    async fn end(self, everywhere: bool) -> Result<(), ClientError> {
        let (reply, answer) = oneshot::channel();
        self.command(Command::Logout { everywhere, reply })?;
        answer.await.unwrap_or_else(|_| Err(self.closed_error()))
    }

    fn command(&self, command: Command) -> Result<(), ClientError> {
        if let Some(e) = &self.view().closed {
            return Err(e.clone());
        }
        self.commands.send(command).map_err(|_| self.closed_error())
    }

    /// The live connection as it comes and goes: changes on every
    /// connect and loss, and ends when the client stops.
    pub(crate) fn watch_connection(&self) -> watch::Receiver<Option<quinn::Connection>> {
        self.connection.clone()
    }

    /// Why the client stopped for good, if it has.
    pub(crate) fn stopped(&self) -> Option<ClientError> {
        self.view().closed.clone()
    }

    fn closed_error(&self) -> ClientError {
        self.view().closed_error()
    }

    fn view(&self) -> MutexGuard<'_, SessionView> {
        lock(&self.view)
    }
}

/// A client id for a new message: random, so ids of one account's logins
/// and devices do not collide, and the same on every resend.
pub(crate) fn fresh_message_id() -> ClientMsgId {
    ClientMsgId(rand::random())
}
