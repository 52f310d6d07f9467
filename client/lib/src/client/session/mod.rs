//! The background task behind a [`Client`](super::handle::Client): the
//! session state that survives reconnects, and its life from the first
//! login to the end (logout, all handles dropped, or a fatal refusal).
//!
//! Logging in is in `login`, the loop on a live connection in `live`, the
//! wait between connections in `reconnect`, and the delivery rules of the
//! [client module](super) in `delivery`.

mod backoff;
mod delivery;
mod live;
mod login;
mod reconnect;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use natter_common::protocol::close;
use natter_common::{Fingerprint, MessageId, Refusal, RequestId, SessionToken, UserName};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use self::backoff::Backoff;
use super::config::ClientConfig;
use super::events::ClientEvent;
use super::request::{Command, HistoryWait, PendingSend};
use super::view::{lock, SessionView};
use crate::connection::{close_and_drain, ControlStream};
use crate::error::ClientError;

/// How long a first login keeps asking a server that says "not now"
/// (see [`not_now`]).
const BUSY_PATIENCE: Duration = Duration::from_secs(60);

/// The background task's state: everything about the session that must
/// survive reconnects.
pub(super) struct Session {
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
    view: Arc<Mutex<SessionView>>,
    /// The live connection, `None` between connections; transfers wait on
    /// it. Dropped with the task, which ends their waits.
    connection: watch::Sender<Option<quinn::Connection>>,
    events: mpsc::Sender<ClientEvent>,
    commands: mpsc::UnboundedReceiver<Command>,
    shutdown: CancellationToken,
}

/// What the first login tells the handle.
pub(super) struct Started {
    pub(super) me: UserName,
    pub(super) fingerprint: Fingerprint,
    /// The server was trusted on first use by this login.
    pub(super) newly_trusted: bool,
}

/// One live connection of the task.
struct Link {
    connection: quinn::Connection,
    control: ControlStream,
    endpoint: quinn::Endpoint,
}

impl Link {
    /// Closes normally and waits, briefly, for the close to reach the
    /// server.
    async fn close(&self, reason: &str) {
        close_and_drain(&self.connection, &self.endpoint, close::NORMAL, reason).await;
    }

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

impl Session {
    /// A session not yet logged in: it publishes into `view`, reports on
    /// `events`, takes `commands`, and ends when `shutdown` fires.
    pub(super) fn new(
        config: ClientConfig,
        name: &str,
        password: &str,
        view: Arc<Mutex<SessionView>>,
        events: mpsc::Sender<ClientEvent>,
        commands: mpsc::UnboundedReceiver<Command>,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
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
            view,
            connection: watch::Sender::new(None),
            events,
            commands,
            shutdown,
        }
    }

    /// Where the handles see the live connection come and go.
    pub(super) fn watch_connection(&self) -> watch::Receiver<Option<quinn::Connection>> {
        self.connection.subscribe()
    }

    /// Logs in, failing fast on anything but "not now" (see [`not_now`]),
    /// which is asked again after a jittered backoff while that stays
    /// within [`BUSY_PATIENCE`] (a crowd logging in at once spreads out
    /// instead of failing). On success the task runs on in the background,
    /// keeping the session alive.
    pub(super) async fn start(mut self) -> Result<Started, ClientError> {
        let span = tracing::info_span!("client", server = %self.config.server, user = %self.name);
        let give_up = Instant::now() + BUSY_PATIENCE;
        let (link, newly_trusted) = loop {
            let outcome = self.establish(false).instrument(span.clone()).await;
            let backoff = self.backoff.next_delay(&mut rand::thread_rng());
            match outcome.as_ref().err().and_then(|e| not_now(e, backoff)) {
                Some(wait) if Instant::now() + wait < give_up => {
                    tracing::info!("the server said not now; asking again in {wait:?}");
                    tokio::time::sleep(wait).await;
                }
                _ => break outcome?,
            }
        };
        self.backoff.reset();
        let me = self.me.clone().expect("set by a successful login");
        let fingerprint = self.fingerprint.expect("set by a successful connection");
        tokio::spawn(self.run(link).instrument(span));
        Ok(Started {
            me,
            fingerprint,
            newly_trusted,
        })
    }

    async fn run(mut self, mut link: Link) {
        loop {
            let outcome = self.serve(&mut link).await;
            self.connection_lost(&outcome);
            let Some(reason) = self.end_or_reason(outcome, link).await else {
                return;
            };
            match self.reconnect(reason).await {
                Some(next) => link = next,
                None => return,
            }
        }
    }

    /// Ends the session after `outcome` (the handles are gone, the user
    /// logged out, or the server logged this login out), or gives the
    /// reason to reconnect.
    async fn end_or_reason(&mut self, outcome: Outcome, link: Link) -> Option<String> {
        match outcome {
            Outcome::Shutdown => {
                link.close("client closed").await;
                self.stop(ClientError::Closed("the client was dropped".into()));
                None
            }
            Outcome::LoggedOut(reply, result) => {
                // When the server closed as it should, there is nothing
                // left to send; otherwise make sure our close gets out.
                if result.is_err() {
                    link.close("logged out").await;
                }
                self.stop(ClientError::Closed("logged out".into()));
                let _ = reply.send(result);
                None
            }
            Outcome::Lost(_) if logged_out_by_server(&link.connection) => {
                // Another device logged this login (or the account) out:
                // logging straight back in would undo what it asked for.
                tracing::info!("logged out by the server");
                let e = ClientError::Closed("logged out from another session".into());
                self.stop(e);
                None
            }
            Outcome::Lost(reason) => {
                tracing::info!("connection lost: {reason}");
                link.abandon(close::NORMAL, reason.clone());
                Some(reason)
            }
        }
    }

    /// Stops for good after a logout or drop: every waiter and later call
    /// gets `reason`, and the event stream says so if it has room.
    fn stop(&mut self, reason: ClientError) {
        self.fail_waiting(&reason);
        lock(&self.view).closed = Some(reason.clone());
        let _ = self.events.try_send(ClientEvent::Closed { reason });
    }

    /// Stops for good after a reconnect met `reason`, which retrying
    /// cannot fix: the event stream must hear it, so this waits for room
    /// (unless every handle is gone).
    async fn give_up(&mut self, reason: ClientError) {
        tracing::warn!("giving up: {reason}");
        self.fail_waiting(&reason);
        lock(&self.view).closed = Some(reason.clone());
        tokio::select! {
            _ = self.events.send(ClientEvent::Closed { reason }) => {}
            () = self.shutdown.cancelled() => {}
        }
    }

    fn fail_waiting(&mut self, reason: &ClientError) {
        self.connection.send_replace(None);
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

/// How long to wait before asking again after a first login met `error`,
/// if it says "not now" rather than "no": the server is busy (ask again
/// after `backoff`), or the address has too many logins in flight and
/// names a short wait (after it, at least `backoff`). A longer wait (a
/// lockout after wrong passwords) is the user's to see, not to sit out.
fn not_now(error: &ClientError, backoff: Duration) -> Option<Duration> {
    match error {
        ClientError::Refused(Refusal::Busy(_)) => Some(backoff),
        ClientError::Refused(Refusal::RateLimited { retry_after_ms }) => {
            let named = Duration::from_millis((*retry_after_ms).into());
            (named <= SHORT_WAIT).then(|| backoff.max(named))
        }
        _ => None,
    }
}

/// The longest wait a first login sits out by itself when rate limited.
const SHORT_WAIT: Duration = Duration::from_secs(5);

/// Whether the server closed `connection` because its login was logged out
/// (code NORMAL, reason "logged out": docs/protocol.md §8).
fn logged_out_by_server(connection: &quinn::Connection) -> bool {
    matches!(
        connection.close_reason(),
        Some(quinn::ConnectionError::ApplicationClosed(c))
            if c.error_code == close::NORMAL.into() && &c.reason[..] == b"logged out"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_not_now_is_asked_again() {
        let backoff = Duration::from_millis(300);
        let busy = ClientError::Refused(Refusal::Busy("full".into()));
        assert_eq!(not_now(&busy, backoff), Some(backoff));
        let limited = |ms| ClientError::Refused(Refusal::RateLimited { retry_after_ms: ms });
        assert_eq!(not_now(&limited(100), backoff), Some(backoff));
        assert_eq!(
            not_now(&limited(2000), backoff),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            not_now(&limited(60_000), backoff),
            None,
            "a lockout is shown"
        );
        let wrong = ClientError::Refused(Refusal::WrongPassword);
        assert_eq!(not_now(&wrong, backoff), None);
    }
}
