//! What the application hears from a [`Client`](super::handle::Client): one
//! event type, in the order things happened, through a bounded queue.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use natter_common::{ChatMessage, ClientMsgId, MessageId, Refusal, Timestamp, UserName};
use tokio::sync::mpsc;

use crate::error::ClientError;
use crate::transfer::progress::{Progress, TransferId};

/// Events the application has not read yet, at most.
pub const EVENT_QUEUE: usize = 4096;

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
    /// missed messages exist: page them with [`Client::history`](crate::Client::history).
    CaughtUp {
        truncated: bool,
    },
    /// The server stored a message sent with [`Client::send`](crate::Client::send).
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
    Progress(Progress),
    /// An upload or download ended: the cached file, or why not.
    TransferDone {
        id: TransferId,
        outcome: Result<PathBuf, ClientError>,
    },
}

/// The event stream of a [`Client`](crate::Client). Ends (`None`) when the client has
/// stopped and every event was read.
pub struct Events {
    rx: mpsc::Receiver<ClientEvent>,
}

impl Events {
    pub(super) fn new(rx: mpsc::Receiver<ClientEvent>) -> Self {
        Self { rx }
    }

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
