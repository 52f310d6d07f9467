//! The chat client: a cheap handle ([`Client`]) in front of one background
//! task that owns the connection, logs in, delivers events in order without
//! duplicates, keeps unconfirmed messages, and reconnects when the network
//! drops.
//!
//! # Delivery rules
//!
//! - Messages are delivered in increasing id order, each once: the task
//!   remembers the highest id it delivered and asks the server to replay
//!   only newer ones after a reconnect.
//! - A sent message stays pending until the server accepts or rejects it.
//!   After a reconnect, pending messages are resent in order with the same
//!   client id; the server recognises them, so nothing is stored twice.
//! - `Rejected` is final, except for two answers that mean "not now":
//!   `RateLimited` (the account sends faster than the server allows) and
//!   `Unavailable` (the server's storage is busy or full). Such a message
//!   stays pending: the task emits [`ClientEvent::Throttled`] with the
//!   delay, holds it and every later pending message back, and when the
//!   delay is over resends them in order with the same client ids. The
//!   delay is the server's `retry_after_ms`, or for `Unavailable` the
//!   reconnect backoff's schedule (200 ms doubling to 10 s, jittered),
//!   which an acceptance resets. The server holds the session's later
//!   sends back until the held one is resent, so messages are stored in
//!   the order they were sent, each once, and the application only ever
//!   sees `Accepted` or a final `Rejected` for each.
//! - Events go through a bounded queue. If the application stops reading
//!   and the queue fills up, the task stops delivering, and once the
//!   application has drained half of the queue it reconnects and catches
//!   up from the last message it did deliver. Memory stays bounded and
//!   nothing is lost, except beyond the server's replay cap (2000
//!   messages), which `CaughtUp { truncated: true }` reports; older ones
//!   are then paged with [`Client::history`].

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::future::pending;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use natter_common::congestion::Congestion;
use natter_common::limits::{MAX_HISTORY_PAGE, MAX_MEDIA_NAME_CHARS, MAX_TEXT_CHARS};
use natter_common::protocol::close;
use natter_common::{
    ChatMessage, ClientMsg, ClientMsgId, Content, Conversation, Fingerprint, Limits, MessageId,
    Recipient, Refusal, RequestId, ServerMsg, SessionToken, Timestamp, UserName,
};
use rand::Rng;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot};
use tokio::time::timeout;
use tokio_util::sync::{CancellationToken, DropGuard};
use tracing::Instrument;

use crate::connection::{self, close_and_drain, describe_close, ControlStream};
use crate::error::ClientError;
use crate::trust::Trust;

/// Events the application has not read yet, at most.
pub const EVENT_QUEUE: usize = 4096;

/// Messages waiting for the server's confirmation, at most. Beyond this,
/// [`Client::send`] fails with [`ClientError::QueueFull`].
pub const MAX_PENDING_SENDS: usize = 10_000;

/// How long the server may take to answer a login or register request,
/// and between two frames of the catch-up replay.
const AUTH_TIMEOUT: Duration = Duration::from_secs(10);

/// How long `logout` waits for the server to close the connection.
const LOGOUT_TIMEOUT: Duration = Duration::from_secs(3);

/// Where to connect and whom to trust.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `HOST:PORT`.
    pub server: String,
    pub trust: Trust,
    /// Sent in the hello, for the server's logs ("natter-cli 0.1.0").
    pub software: String,
    /// The congestion controller for this end's sending (uploads and
    /// chat); [`Congestion::LowDelay`] unless measuring against quinn's.
    pub congestion: Congestion,
}

impl ClientConfig {
    /// A configuration naming this library as the software.
    pub fn new(server: impl Into<String>, trust: Trust) -> Self {
        Self {
            server: server.into(),
            trust,
            software: concat!("natter-client ", env!("CARGO_PKG_VERSION")).to_owned(),
            congestion: Congestion::default(),
        }
    }
}

/// One page of a conversation's history, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryPage {
    pub messages: Vec<ChatMessage>,
    /// Older messages exist: ask again with `before` = the first id here.
    pub more: bool,
}

/// What happened, in the order it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEvent {
    /// Logged in. `resumed` is false for the first login and true after
    /// every reconnect.
    Connected {
        resumed: bool,
    },
    /// Who is online now (sorted); replaces any earlier set.
    Online(Vec<UserName>),
    Joined(UserName),
    Left(UserName),
    /// A message, live or caught up after a reconnect; never twice.
    Message(ChatMessage),
    /// The replay after a login is complete. `truncated` means older
    /// missed messages exist: page them with [`Client::history`].
    CaughtUp {
        truncated: bool,
    },
    /// The server stored a message sent with [`Client::send`].
    Accepted {
        client_id: ClientMsgId,
        id: MessageId,
        sent_at: Timestamp,
    },
    /// The server refused a message for good; it will not be retried.
    Rejected {
        client_id: ClientMsgId,
        reason: Refusal,
    },
    /// The server cannot take a message right now (sending too fast, or
    /// its storage is busy): it stays pending and is sent again, with the
    /// messages after it, in `retry_in`. Not an error to show as one.
    Throttled {
        client_id: ClientMsgId,
        reason: Refusal,
        retry_in: Duration,
    },
    /// The connection dropped (or an attempt failed); the next attempt
    /// starts in `retry_in`.
    Disconnected {
        reason: String,
        retry_in: Duration,
    },
    /// The client stopped for good: logged out, or a reconnect met a
    /// refusal or certificate problem that retrying cannot fix.
    Closed {
        reason: ClientError,
    },
    /// An upload or download moved on (at most ten times a second each).
    Progress(crate::media::Progress),
    /// An upload or download ended: the cached file, or why not.
    TransferDone {
        id: crate::media::TransferId,
        outcome: Result<std::path::PathBuf, ClientError>,
    },
}

/// The event stream of a [`Client`]. Ends (`None`) when the client has
/// stopped and every event was read.
pub struct Events {
    rx: mpsc::Receiver<ClientEvent>,
}

impl Events {
    /// The next event; waits for one.
    pub async fn next(&mut self) -> Option<ClientEvent> {
        self.rx.recv().await
    }

    /// The next event if one is ready: for frame loops that must not wait.
    pub fn try_next(&mut self) -> Option<ClientEvent> {
        self.rx.try_recv().ok()
    }
}

impl fmt::Debug for Events {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Events")
            .field("queued", &self.rx.len())
            .finish()
    }
}

/// The outcome of registering, with what the connection learnt about the
/// server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub user: UserName,
    /// Set when this connection trusted the server on first use and
    /// recorded its fingerprint: tell the user.
    pub newly_trusted: Option<Fingerprint>,
}

/// Creates an account; does not log in.
pub async fn register(
    config: &ClientConfig,
    name: &str,
    password: &str,
) -> Result<UserName, ClientError> {
    register_account(config, name, password)
        .await
        .map(|r| r.user)
}

/// [`register`], also saying whether the server was trusted on first use.
pub async fn register_account(
    config: &ClientConfig,
    name: &str,
    password: &str,
) -> Result<Registration, ClientError> {
    let mut link = connection::connect(&config.server, &config.trust, &config.software).await?;
    let newly_trusted = link.newly_trusted.then_some(link.fingerprint);
    let control = &mut link.control;
    let answer = async {
        control
            .send(&ClientMsg::Register {
                name: name.to_owned(),
                password: password.to_owned(),
            })
            .await?;
        receive_within(control, AUTH_TIMEOUT).await
    }
    .await;
    link.close("registered").await;
    match answer? {
        ServerMsg::Registered { user } => Ok(Registration {
            user,
            newly_trusted,
        }),
        ServerMsg::Refused(refusal) => Err(ClientError::Refused(refusal)),
        other => Err(unexpected("Registered", &other)),
    }
}

/// A logged-in chat session. Cloning gives another handle to the same
/// session; the session stops when [`Client::logout`] is called or the last
/// handle is dropped.
#[derive(Clone)]
pub struct Client {
    me: UserName,
    fingerprint: Fingerprint,
    newly_trusted: bool,
    shared: Arc<Mutex<Shared>>,
    commands: mpsc::UnboundedSender<Command>,
    /// Uploads and downloads in flight, and where their events go.
    pub(crate) transfers: Arc<crate::transfers::Transfers>,
    _stop_on_drop: Arc<DropGuard>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("me", &self.me)
            .finish_non_exhaustive()
    }
}

/// What the handle reads without asking the task. Locked briefly, never
/// across an `.await`.
struct Shared {
    limits: Limits,
    /// Online users by [`UserName::key`], so the order is stable and case
    /// variants of one account are one entry.
    online: BTreeMap<String, UserName>,
    connection: Option<quinn::Connection>,
    pending_sends: usize,
    /// Set when the task stopped for good: every later call fails with it.
    closed: Option<ClientError>,
}

/// Requests from the handle to the task.
enum Command {
    Send(PendingSend),
    History(HistoryWait),
    Ping(oneshot::Sender<Result<Duration, ClientError>>),
    Reconnect,
    Logout {
        /// End every session of the account, not only this login's.
        everywhere: bool,
        reply: oneshot::Sender<Result<(), ClientError>>,
    },
}

struct PendingSend {
    client_id: ClientMsgId,
    to: Recipient,
    content: Content,
    /// Sent on the current connection (reset on every reconnect).
    sent: bool,
}

struct HistoryWait {
    request: RequestId,
    conversation: Conversation,
    before: Option<MessageId>,
    limit: u16,
    sent: bool,
    reply: oneshot::Sender<Result<HistoryPage, ClientError>>,
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
        let span = tracing::info_span!("client", server = %config.server, user = %name);
        let shared = Arc::new(Mutex::new(Shared {
            limits: Limits {
                max_text_chars: 0,
                max_upload_bytes: 0,
                quota_bytes: 0,
                used_bytes: 0,
            },
            online: BTreeMap::new(),
            connection: None,
            pending_sends: 0,
            closed: None,
        }));
        let mut session = Session {
            config,
            name: name.to_owned(),
            password: password.to_owned(),
            token: None,
            fingerprint: None,
            me: None,
            last_seen: None,
            pending: VecDeque::new(),
            history: VecDeque::new(),
            pings: HashMap::new(),
            next_request: 0,
            next_nonce: 0,
            overflowed: false,
            backoff: Backoff::default(),
            send_after: None,
            send_backoff: Backoff::default(),
            shared: shared.clone(),
            events: events.clone(),
            commands: commands_rx,
            shutdown: shutdown.clone(),
        };
        let (link, newly_trusted) = session.establish(false).instrument(span.clone()).await?;
        let me = session.me.clone().expect("set by a successful login");
        let fingerprint = session.fingerprint.expect("set by a successful connection");
        tokio::spawn(session.run(link).instrument(span));
        let client = Client {
            me,
            fingerprint,
            newly_trusted,
            shared,
            commands,
            transfers: Arc::new(crate::transfers::Transfers::new(events)),
            _stop_on_drop: Arc::new(shutdown.drop_guard()),
        };
        Ok((client, Events { rx }))
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
        self.shared().limits.clone()
    }

    /// Who is online now, sorted by name.
    pub fn online(&self) -> Vec<UserName> {
        self.shared().online.values().cloned().collect()
    }

    /// Queues a message and returns its client id at once; the outcome
    /// arrives as [`ClientEvent::Accepted`] or [`ClientEvent::Rejected`].
    /// Checks locally what the server would refuse anyway. Messages sent
    /// while disconnected go out after the reconnect.
    pub fn send(&self, to: Recipient, content: Content) -> Result<ClientMsgId, ClientError> {
        let mut shared = self.shared();
        if let Some(e) = &shared.closed {
            return Err(e.clone());
        }
        validate(&content, &shared.limits)?;
        if shared.pending_sends >= MAX_PENDING_SENDS {
            return Err(ClientError::QueueFull {
                limit: MAX_PENDING_SENDS,
            });
        }
        let client_id = ClientMsgId(rand::random());
        let send = PendingSend {
            client_id,
            to,
            content,
            sent: false,
        };
        if self.commands.send(Command::Send(send)).is_err() {
            return Err(closed_reason(&shared));
        }
        shared.pending_sends += 1;
        Ok(client_id)
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
        self.shared().connection.clone()
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
        if let Some(e) = &self.shared().closed {
            return Err(e.clone());
        }
        self.commands.send(command).map_err(|_| self.closed_error())
    }

    /// Why the client stopped for good, if it has.
    pub(crate) fn stopped(&self) -> Option<ClientError> {
        self.shared().closed.clone()
    }

    fn closed_error(&self) -> ClientError {
        closed_reason(&self.shared())
    }

    fn shared(&self) -> MutexGuard<'_, Shared> {
        lock(&self.shared)
    }
}

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    // A panic while holding this lock cannot leave it half-updated in a way
    // that matters (plain values), so a poisoned lock is still usable.
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn closed_reason(shared: &Shared) -> ClientError {
    shared
        .closed
        .clone()
        .unwrap_or_else(|| ClientError::Closed("the client has stopped".into()))
}

/// Refuses locally what the server would refuse: blank or too long text,
/// unknown emoji, bad file names. (Sizes are the transfer's business.)
fn validate(content: &Content, limits: &Limits) -> Result<(), ClientError> {
    let invalid = |r: Refusal| Err(ClientError::InvalidInput(r.to_string()));
    match content {
        Content::Text(text) => {
            let max = (limits.max_text_chars as usize).min(MAX_TEXT_CHARS);
            if text.trim().is_empty() {
                return invalid(Refusal::EmptyText);
            }
            if text.chars().count() > max {
                return invalid(Refusal::TextTooLong {
                    max_chars: max as u32,
                });
            }
        }
        Content::Emoji(id) => {
            if id.emoji().is_none() {
                return invalid(Refusal::UnknownEmoji(id.0));
            }
        }
        Content::Image { media, .. } | Content::File(media) => {
            let name = &media.name;
            if name.is_empty()
                || name.chars().count() > MAX_MEDIA_NAME_CHARS
                || name.chars().any(char::is_control)
            {
                return invalid(Refusal::InvalidMedia(format!(
                    "a file name has 1 to {MAX_MEDIA_NAME_CHARS} printable characters"
                )));
            }
        }
    }
    Ok(())
}

fn unexpected(wanted: &str, got: &ServerMsg) -> ClientError {
    ClientError::Protocol(format!("expected {wanted}, got {}", got.kind()))
}

async fn receive_within(
    control: &mut ControlStream,
    limit: Duration,
) -> Result<ServerMsg, ClientError> {
    timeout(limit, control.receive()).await.unwrap_or_else(|_| {
        Err(ClientError::Closed(
            "the server did not answer in time".into(),
        ))
    })
}

/// One live connection of the task.
struct Link {
    connection: quinn::Connection,
    control: ControlStream,
    endpoint: quinn::Endpoint,
}

impl Link {
    /// Closes in the background: the task does not wait for the close to
    /// drain before reconnecting.
    fn abandon(self, code: u32, reason: String) {
        tokio::spawn(async move {
            close_and_drain(&self.connection, &self.endpoint, code, &reason).await
        });
    }
}

/// Why [`Session::serve`] returned.
enum Outcome {
    /// All handles dropped.
    Shutdown,
    LoggedOut(
        oneshot::Sender<Result<(), ClientError>>,
        Result<(), ClientError>,
    ),
    /// The connection is gone or unusable; reconnect.
    Lost(String),
}

/// Why [`Session::wait_offline`] returned.
enum Offline {
    Retry,
    Shutdown,
    LoggedOut(oneshot::Sender<Result<(), ClientError>>),
}

/// The background task's state: everything about the session that must
/// survive reconnects.
struct Session {
    config: ClientConfig,
    name: String,
    /// Kept to log in again when the server has forgotten the token.
    password: String,
    token: Option<SessionToken>,
    /// The certificate fingerprint the first connection accepted.
    fingerprint: Option<Fingerprint>,
    me: Option<UserName>,
    /// Highest message id delivered as an event.
    last_seen: Option<MessageId>,
    pending: VecDeque<PendingSend>,
    history: VecDeque<HistoryWait>,
    pings: HashMap<u64, (Instant, oneshot::Sender<Result<Duration, ClientError>>)>,
    next_request: u32,
    next_nonce: u64,
    /// The event queue was full: deliver nothing until a reconnect.
    overflowed: bool,
    backoff: Backoff,
    /// Pending messages wait until then: the server said "not now".
    send_after: Option<tokio::time::Instant>,
    /// Delays after `Unavailable`; reset by an acceptance.
    send_backoff: Backoff,
    shared: Arc<Mutex<Shared>>,
    events: mpsc::Sender<ClientEvent>,
    commands: mpsc::UnboundedReceiver<Command>,
    shutdown: CancellationToken,
}

impl Session {
    async fn run(mut self, mut link: Link) {
        loop {
            let outcome = self.serve(&mut link).await;
            self.connection_lost(&outcome);
            let mut reason = match outcome {
                Outcome::Shutdown => {
                    close_and_drain(
                        &link.connection,
                        &link.endpoint,
                        close::NORMAL,
                        "client closed",
                    )
                    .await;
                    return self.stop(ClientError::Closed("the client was dropped".into()));
                }
                Outcome::LoggedOut(reply, result) => {
                    // When the server closed as it should, there is nothing
                    // left to send; otherwise make sure our close gets out.
                    if result.is_err() {
                        close_and_drain(
                            &link.connection,
                            &link.endpoint,
                            close::NORMAL,
                            "logged out",
                        )
                        .await;
                    }
                    self.stop(ClientError::Closed("logged out".into()));
                    let _ = reply.send(result);
                    return;
                }
                Outcome::Lost(_) if logged_out_by_server(&link.connection) => {
                    // Another device logged this login (or the account) out:
                    // logging straight back in would undo what it asked for.
                    tracing::info!("logged out by the server");
                    let e = ClientError::Closed("logged out from another session".into());
                    self.stop(e);
                    return;
                }
                Outcome::Lost(reason) => {
                    tracing::info!("connection lost: {reason}");
                    link.abandon(close::NORMAL, reason.clone());
                    reason
                }
            };
            let mut hint = None;
            link = loop {
                let mut retry_in = self.backoff.next_delay(&mut rand::thread_rng());
                if let Some(at_least) = hint.take() {
                    retry_in = retry_in.max(at_least);
                }
                self.emit(ClientEvent::Disconnected {
                    reason: reason.clone(),
                    retry_in,
                });
                match self.wait_offline(retry_in).await {
                    Offline::Retry => {}
                    Offline::Shutdown => {
                        return self.stop(ClientError::Closed("the client was dropped".into()))
                    }
                    Offline::LoggedOut(reply) => {
                        self.stop(ClientError::Closed("logged out".into()));
                        let _ = reply.send(Ok(()));
                        return;
                    }
                }
                let shutdown = self.shutdown.clone();
                let attempt = tokio::select! {
                    biased;
                    () = shutdown.cancelled() => {
                        return self.stop(ClientError::Closed("the client was dropped".into()));
                    }
                    attempt = self.establish(true) => attempt,
                };
                match attempt {
                    Ok((link, _)) => {
                        self.backoff.reset();
                        break link;
                    }
                    Err(e) if e.is_fatal() => {
                        tracing::warn!("giving up: {e}");
                        self.fail_waiting(&e);
                        lock(&self.shared).closed = Some(e.clone());
                        tokio::select! {
                            _ = self.events.send(ClientEvent::Closed { reason: e }) => {}
                            () = self.shutdown.cancelled() => {}
                        }
                        return;
                    }
                    Err(e) => {
                        tracing::debug!("reconnect failed: {e}");
                        if let ClientError::Refused(Refusal::RateLimited { retry_after_ms }) = &e {
                            hint = Some(Duration::from_millis((*retry_after_ms).into()));
                        }
                        reason = e.to_string();
                    }
                }
            };
        }
    }

    /// Connects, authenticates (token first, then password) and reads the
    /// catch-up replay. Returns the live link and whether the server was
    /// newly trusted.
    async fn establish(&mut self, resumed: bool) -> Result<(Link, bool), ClientError> {
        let (mut link, newly_trusted) = self.open().await?;
        let mut result = match self.token.clone() {
            Some(token) => {
                let resume = ClientMsg::Resume {
                    token,
                    since: self.last_seen,
                };
                match self.authenticate(&mut link, resume).await {
                    // The server allows another attempt on the same connection.
                    Err(e) if connection::is_stale_session(&e) => {
                        tracing::info!(
                            "the server forgot the session; logging in with the password"
                        );
                        self.token = None;
                        self.authenticate(&mut link, self.login_message()).await
                    }
                    other => other,
                }
            }
            None => self.authenticate(&mut link, self.login_message()).await,
        };
        if result.is_ok() {
            result = self.catch_up(&mut link, resumed).await;
        }
        match result {
            Ok(()) => {
                lock(&self.shared).connection = Some(link.connection.clone());
                Ok((link, newly_trusted))
            }
            Err(e) => {
                let code = match e {
                    ClientError::Protocol(_) => close::PROTOCOL_VIOLATION,
                    _ => close::NORMAL,
                };
                link.abandon(code, e.to_string());
                Err(e)
            }
        }
    }

    /// Connects and greets; also says whether the server was newly trusted.
    async fn open(&mut self) -> Result<(Link, bool), ClientError> {
        let config = &self.config;
        let link = connection::connect_remembering(
            &config.server,
            &config.trust,
            self.fingerprint,
            &config.software,
            config.congestion,
        )
        .await?;
        self.fingerprint = Some(link.fingerprint);
        let newly_trusted = link.newly_trusted;
        let (connection, control, endpoint) = link.into_parts();
        let link = Link {
            connection,
            control,
            endpoint,
        };
        Ok((link, newly_trusted))
    }

    fn login_message(&self) -> ClientMsg {
        ClientMsg::Login {
            name: self.name.clone(),
            password: self.password.clone(),
            since: self.last_seen,
        }
    }

    async fn authenticate(
        &mut self,
        link: &mut Link,
        request: ClientMsg,
    ) -> Result<(), ClientError> {
        link.control.send(&request).await?;
        match receive_within(&mut link.control, AUTH_TIMEOUT).await? {
            ServerMsg::LoggedIn {
                user,
                token,
                limits,
            } => {
                self.token = Some(token);
                self.me.get_or_insert(user);
                lock(&self.shared).limits = limits;
                Ok(())
            }
            ServerMsg::Refused(refusal) => Err(ClientError::Refused(refusal)),
            other => Err(unexpected("LoggedIn", &other)),
        }
    }

    /// Reads `Online`, the replayed messages and `CaughtUp`, delivering them.
    async fn catch_up(&mut self, link: &mut Link, resumed: bool) -> Result<(), ClientError> {
        self.overflowed = false;
        self.emit(ClientEvent::Connected { resumed });
        loop {
            match receive_within(&mut link.control, AUTH_TIMEOUT).await? {
                ServerMsg::Online { users } => self.replace_online(users),
                ServerMsg::Message(message) => self.deliver(message),
                ServerMsg::Joined { user } => self.joined(user),
                ServerMsg::Left { user } => self.left(user),
                ServerMsg::CaughtUp { truncated, .. } => {
                    self.emit(ClientEvent::CaughtUp { truncated });
                    return Ok(());
                }
                ServerMsg::Refused(refusal) => return Err(ClientError::Refused(refusal)),
                other => return Err(unexpected("the catch-up replay", &other)),
            }
        }
    }

    /// The live loop on one connection: commands in, server messages in.
    async fn serve(&mut self, link: &mut Link) -> Outcome {
        if let Err(e) = self.send_unsent(link).await {
            return Outcome::Lost(e.to_string());
        }
        loop {
            // Unbiased: neither a burst of sends nor a burst of incoming
            // messages may starve the other.
            tokio::select! {
                () = self.shutdown.cancelled() => return Outcome::Shutdown,
                command = self.commands.recv() => {
                    let Some(command) = command else { return Outcome::Shutdown };
                    if let Some(outcome) = self.command_online(command, link).await {
                        return outcome;
                    }
                }
                msg = link.control.receive() => match msg {
                    Ok(msg) => {
                        if let Err(e) = self.server_message(msg) {
                            let reason = e.to_string();
                            link.connection
                                .close(close::PROTOCOL_VIOLATION.into(), reason.as_bytes());
                            return Outcome::Lost(reason);
                        }
                    }
                    Err(e) => return Outcome::Lost(e.to_string()),
                },
                () = hold_over(self.send_after) => {
                    self.send_after = None;
                    if let Err(e) = self.send_unsent(link).await {
                        return Outcome::Lost(e.to_string());
                    }
                }
                () = room_for_events(&self.events, self.overflowed) => {
                    return Outcome::Lost("catching up after the application fell behind".into());
                }
            }
        }
    }

    /// Sends, in order, what waited for this connection: pending messages
    /// and history requests.
    async fn send_unsent(&mut self, link: &mut Link) -> Result<(), ClientError> {
        let held = self.sends_held();
        for send in self.pending.iter_mut().filter(|s| !s.sent && !held) {
            let msg = ClientMsg::Send {
                client_id: send.client_id,
                to: send.to.clone(),
                content: send.content.clone(),
            };
            link.control.send(&msg).await?;
            send.sent = true;
        }
        self.history.retain(|h| !h.reply.is_closed());
        for wait in self.history.iter_mut().filter(|h| !h.sent) {
            link.control.send(&history_request(wait)).await?;
            wait.sent = true;
        }
        Ok(())
    }

    /// Handles a command while connected; `Some` ends the connection.
    async fn command_online(&mut self, command: Command, link: &mut Link) -> Option<Outcome> {
        let written = match command {
            Command::Send(mut send) => {
                if self.sends_held() {
                    // Goes out after the ones held back, in order.
                    self.pending.push_back(send);
                    return None;
                }
                let msg = ClientMsg::Send {
                    client_id: send.client_id,
                    to: send.to.clone(),
                    content: send.content.clone(),
                };
                send.sent = true;
                self.pending.push_back(send);
                link.control.send(&msg).await
            }
            Command::History(mut wait) => {
                wait.request = self.next_request();
                wait.sent = true;
                let msg = history_request(&wait);
                self.history.push_back(wait);
                link.control.send(&msg).await
            }
            Command::Ping(reply) => {
                let nonce = self.next_nonce;
                self.next_nonce = self.next_nonce.wrapping_add(1);
                self.pings.insert(nonce, (Instant::now(), reply));
                link.control.send(&ClientMsg::Ping { nonce }).await
            }
            Command::Reconnect => return Some(Outcome::Lost("reconnect requested".into())),
            Command::Logout { everywhere, reply } => {
                let msg = match everywhere {
                    true => ClientMsg::LogoutEverywhere,
                    false => ClientMsg::Logout,
                };
                let result = match link.control.send(&msg).await {
                    Ok(()) => match timeout(LOGOUT_TIMEOUT, link.connection.closed()).await {
                        Ok(_) if logged_out_by_server(&link.connection) => Ok(()),
                        // Closed for another reason (the server could not
                        // forget the tokens): the tokens may still work.
                        Ok(e @ quinn::ConnectionError::ApplicationClosed(_)) => {
                            Err(ClientError::Closed(describe_close(&e)))
                        }
                        Ok(_) => Ok(()),
                        Err(_) => Err(ClientError::Protocol(
                            "the server did not close the connection after logout".into(),
                        )),
                    },
                    // The connection died under the logout: the session is over either way.
                    Err(e) => {
                        tracing::debug!("logout not delivered: {e}");
                        Ok(())
                    }
                };
                return Some(Outcome::LoggedOut(reply, result));
            }
        };
        written.err().map(|e| Outcome::Lost(e.to_string()))
    }

    /// Handles a server message while connected. An error is a protocol
    /// violation that ends the connection.
    fn server_message(&mut self, msg: ServerMsg) -> Result<(), ClientError> {
        match msg {
            ServerMsg::Message(message) => self.deliver(message),
            ServerMsg::Joined { user } => self.joined(user),
            ServerMsg::Left { user } => self.left(user),
            ServerMsg::Online { users } => self.replace_online(users),
            ServerMsg::Accepted {
                client_id,
                id,
                sent_at,
            } => {
                self.send_backoff.reset();
                self.settle(
                    client_id,
                    ClientEvent::Accepted {
                        client_id,
                        id,
                        sent_at,
                    },
                )
            }
            ServerMsg::Rejected {
                client_id,
                reason: reason @ (Refusal::RateLimited { .. } | Refusal::Unavailable),
            } => self.hold_sends(client_id, reason),
            ServerMsg::Rejected { client_id, reason } => {
                self.settle(client_id, ClientEvent::Rejected { client_id, reason })
            }
            ServerMsg::History {
                request,
                messages,
                more,
                ..
            } => {
                match self
                    .history
                    .iter()
                    .position(|h| h.sent && h.request == request)
                {
                    Some(at) => {
                        let wait = self.history.remove(at).expect("position is in range");
                        let _ = wait.reply.send(Ok(HistoryPage { messages, more }));
                    }
                    None => tracing::debug!(?request, "history page nobody waits for"),
                }
            }
            ServerMsg::Pong { nonce } => {
                if let Some((sent, reply)) = self.pings.remove(&nonce) {
                    let _ = reply.send(Ok(sent.elapsed()));
                }
            }
            // After login, a refusal answers the request that has no other
            // answer: a history request (the server answers in order).
            ServerMsg::Refused(refusal) => match self.history.iter().position(|h| h.sent) {
                Some(at) => {
                    let wait = self.history.remove(at).expect("position is in range");
                    let _ = wait.reply.send(Err(ClientError::Refused(refusal)));
                }
                None => tracing::warn!("the server refused something: {refusal}"),
            },
            other @ (ServerMsg::Welcome { .. }
            | ServerMsg::Registered { .. }
            | ServerMsg::LoggedIn { .. }
            | ServerMsg::CaughtUp { .. }) => {
                return Err(ClientError::Protocol(format!(
                    "unexpected {} after login",
                    other.kind()
                )));
            }
        }
        Ok(())
    }

    /// Ends a pending send with the server's answer, unless it is not ours
    /// or the event cannot be delivered now (it will be answered again when
    /// the message is resent after the catch-up).
    fn settle(&mut self, client_id: ClientMsgId, event: ClientEvent) {
        let Some(at) = self.pending.iter().position(|s| s.client_id == client_id) else {
            tracing::debug!(?client_id, "answer for a message that is not pending");
            return;
        };
        if self.emit(event) {
            self.pending.remove(at);
            let mut shared = lock(&self.shared);
            shared.pending_sends = shared.pending_sends.saturating_sub(1);
        }
    }

    /// The server said "not now" to a pending message: it and every later
    /// one wait for the delay, then go out again in order (see the module
    /// docs).
    fn hold_sends(&mut self, client_id: ClientMsgId, reason: Refusal) {
        let Some(at) = self.pending.iter().position(|s| s.client_id == client_id) else {
            tracing::debug!(?client_id, "retry answer for a message that is not pending");
            return;
        };
        if !self.pending[at].sent {
            // Already held back by an earlier message's answer.
            return;
        }
        let retry_in = match &reason {
            Refusal::RateLimited { retry_after_ms } => {
                Duration::from_millis(u64::from(*retry_after_ms).max(1))
            }
            _ => self.send_backoff.next_delay(&mut rand::thread_rng()),
        };
        for send in self.pending.range_mut(at..) {
            send.sent = false;
        }
        let until = tokio::time::Instant::now() + retry_in;
        self.send_after = Some(self.send_after.map_or(until, |t| t.max(until)));
        tracing::debug!(?client_id, ?retry_in, "server said not now: {reason}");
        self.emit(ClientEvent::Throttled {
            client_id,
            reason,
            retry_in,
        });
    }

    /// Whether pending messages must wait (see [`Session::hold_sends`]).
    fn sends_held(&self) -> bool {
        self.send_after
            .is_some_and(|t| t > tokio::time::Instant::now())
    }

    /// Delivers a message unless it was delivered before.
    fn deliver(&mut self, message: ChatMessage) {
        if self.last_seen.is_some_and(|seen| message.id <= seen) {
            tracing::trace!(id = message.id.0, "duplicate message skipped");
            return;
        }
        let id = message.id;
        if self.emit(ClientEvent::Message(message)) {
            self.last_seen = Some(id);
        }
    }

    fn replace_online(&mut self, users: Vec<UserName>) {
        let online: BTreeMap<String, UserName> = users.into_iter().map(|u| (u.key(), u)).collect();
        let sorted = online.values().cloned().collect();
        lock(&self.shared).online = online;
        self.emit(ClientEvent::Online(sorted));
    }

    fn joined(&mut self, user: UserName) {
        lock(&self.shared).online.insert(user.key(), user.clone());
        self.emit(ClientEvent::Joined(user));
    }

    fn left(&mut self, user: UserName) {
        lock(&self.shared).online.remove(&user.key());
        self.emit(ClientEvent::Left(user));
    }

    /// Queues an event. On a full queue, stops delivering until the next
    /// reconnect (see the module docs) and returns false: the caller must
    /// then not treat the event as delivered.
    fn emit(&mut self, event: ClientEvent) -> bool {
        if self.overflowed {
            return false;
        }
        match self.events.try_send(event) {
            Ok(()) => true,
            // Nobody listens: nothing to catch up on later.
            Err(TrySendError::Closed(_)) => true,
            Err(TrySendError::Full(_)) => {
                tracing::warn!(
                    "the application is not reading events; pausing delivery, will catch up from the server"
                );
                self.overflowed = true;
                false
            }
        }
    }

    /// Waits out a reconnect delay while still taking commands.
    async fn wait_offline(&mut self, delay: Duration) -> Offline {
        let sleep = tokio::time::sleep(delay);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                biased;
                () = self.shutdown.cancelled() => return Offline::Shutdown,
                command = self.commands.recv() => match command {
                    None => return Offline::Shutdown,
                    Some(Command::Send(send)) => self.pending.push_back(send),
                    Some(Command::History(mut wait)) => {
                        wait.request = self.next_request();
                        self.history.push_back(wait);
                    }
                    Some(Command::Ping(reply)) => {
                        let _ = reply.send(Err(ClientError::Closed("not connected".into())));
                    }
                    Some(Command::Reconnect) => return Offline::Retry,
                    Some(Command::Logout { everywhere: false, reply }) => {
                        return Offline::LoggedOut(reply)
                    }
                    Some(Command::Logout { everywhere: true, reply }) => {
                        let _ = reply.send(Err(ClientError::Closed(
                            "not connected: logging out everywhere needs the server".into(),
                        )));
                    }
                },
                () = &mut sleep => return Offline::Retry,
            }
        }
    }

    /// Forgets the connection: in-flight pings fail, everything else is
    /// sent again on the next one.
    fn connection_lost(&mut self, outcome: &Outcome) {
        lock(&self.shared).connection = None;
        let reason = match outcome {
            Outcome::Lost(reason) => reason.clone(),
            Outcome::Shutdown | Outcome::LoggedOut(..) => "the client stopped".into(),
        };
        for (_, (_, reply)) in self.pings.drain() {
            let _ = reply.send(Err(ClientError::Closed(reason.clone())));
        }
        for send in &mut self.pending {
            send.sent = false;
        }
        for wait in &mut self.history {
            wait.sent = false;
        }
    }

    /// Stops for good after a logout or drop: every waiter and later call
    /// gets `reason`, and the event stream says so if it has room.
    fn stop(&mut self, reason: ClientError) {
        self.fail_waiting(&reason);
        lock(&self.shared).closed = Some(reason.clone());
        let _ = self.events.try_send(ClientEvent::Closed { reason });
    }

    fn fail_waiting(&mut self, reason: &ClientError) {
        lock(&self.shared).connection = None;
        for wait in self.history.drain(..) {
            let _ = wait.reply.send(Err(reason.clone()));
        }
        for (_, (_, reply)) in self.pings.drain() {
            let _ = reply.send(Err(reason.clone()));
        }
    }

    fn next_request(&mut self) -> RequestId {
        self.next_request = self.next_request.wrapping_add(1);
        RequestId(self.next_request)
    }
}

/// Whether the server closed `connection` because its login was logged out
/// (code NORMAL, reason "logged out": docs/protocol.md §8).
fn logged_out_by_server(connection: &quinn::Connection) -> bool {
    matches!(
        connection.close_reason(),
        Some(quinn::ConnectionError::ApplicationClosed(c))
            if c.error_code == close::NORMAL.into() && &c.reason[..] == b"logged out"
    )
}

fn history_request(wait: &HistoryWait) -> ClientMsg {
    ClientMsg::History {
        request: wait.request,
        conversation: wait.conversation.clone(),
        before: wait.before,
        limit: wait.limit,
    }
}

/// Resolves when held-back sends may go out again; never if none are held.
async fn hold_over(until: Option<tokio::time::Instant>) {
    match until {
        Some(until) => tokio::time::sleep_until(until).await,
        None => pending().await,
    }
}

/// Resolves once a paused (overflowed) event queue has room for half its
/// capacity again, or nobody reads it any more; never while not paused.
async fn room_for_events(events: &mpsc::Sender<ClientEvent>, overflowed: bool) {
    if !overflowed {
        return pending().await;
    }
    // The permits are released as soon as they are dropped: this only waits.
    let _ = events.reserve_many(EVENT_QUEUE / 2).await;
}

/// Exponential backoff between reconnect attempts: 200 ms doubling to
/// 10 s, each delay shortened by a random part of up to a quarter so
/// clients cut off together do not come back together.
#[derive(Debug, Default)]
struct Backoff {
    attempt: u32,
}

const BACKOFF_FIRST: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

impl Backoff {
    fn next_delay(&mut self, rng: &mut impl Rng) -> Duration {
        let base = BACKOFF_FIRST
            .saturating_mul(1u32 << self.attempt.min(16))
            .min(BACKOFF_MAX);
        self.attempt = self.attempt.saturating_add(1);
        base.mul_f64(rng.gen_range(0.75..=1.0))
    }

    fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn backoff_doubles_from_200ms_to_10s_with_jitter() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut backoff = Backoff::default();
        let delays: Vec<Duration> = (0..30).map(|_| backoff.next_delay(&mut rng)).collect();
        assert!(delays[0] >= Duration::from_millis(150) && delays[0] <= Duration::from_millis(200));
        assert!(delays[1] >= Duration::from_millis(300) && delays[1] <= Duration::from_millis(400));
        for d in &delays {
            assert!(*d <= BACKOFF_MAX, "{d:?}");
        }
        for d in &delays[10..] {
            assert!(*d >= BACKOFF_MAX.mul_f64(0.75), "{d:?}");
        }
        assert!(
            delays[10..].windows(2).any(|w| w[0] != w[1]),
            "jitter varies the delays"
        );
        backoff.reset();
        assert!(backoff.next_delay(&mut rng) <= BACKOFF_FIRST);
    }

    fn limits() -> Limits {
        Limits {
            max_text_chars: 10,
            max_upload_bytes: 100,
            quota_bytes: 1000,
            used_bytes: 0,
        }
    }

    #[test]
    fn sends_are_checked_against_the_servers_limits() {
        use natter_common::{BlobHash, EmojiId, MediaRef};
        assert!(validate(&Content::Text("hi".into()), &limits()).is_ok());
        assert!(validate(&Content::Text("界".repeat(10)), &limits()).is_ok());
        assert!(matches!(
            validate(&Content::Text("x".repeat(11)), &limits()),
            Err(ClientError::InvalidInput(_))
        ));
        assert!(validate(&Content::Text(String::new()), &limits()).is_err());
        assert!(validate(&Content::Text(" \n".into()), &limits()).is_err());
        assert!(validate(&Content::Emoji(EmojiId(0)), &limits()).is_ok());
        assert!(validate(&Content::Emoji(EmojiId(999)), &limits()).is_err());
        let media = |name: &str, size| MediaRef {
            hash: BlobHash([0; 32]),
            name: name.into(),
            size,
        };
        assert!(validate(&Content::File(media("a.txt", 100)), &limits()).is_ok());
        assert!(validate(&Content::File(media("", 1)), &limits()).is_err());
        assert!(validate(&Content::File(media("a\nb", 1)), &limits()).is_err());
        let generous = Limits {
            max_text_chars: u32::MAX,
            ..limits()
        };
        assert!(validate(&Content::Text("x".repeat(MAX_TEXT_CHARS + 1)), &generous).is_err());
    }
}
