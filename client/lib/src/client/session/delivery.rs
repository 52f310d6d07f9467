//! The delivery rules of the [client module](crate::client), as the task
//! applies them: answers settle pending sends, "not now" holds them back,
//! messages are delivered once and in order, presence is kept, and a full
//! event queue pauses delivery until a reconnect catches up.

use std::collections::BTreeMap;
use std::future::pending;
use std::time::Duration;

use natter_common::{ChatMessage, ClientMsgId, Refusal, UserName};
use tokio::sync::mpsc::{self, error::TrySendError};

use super::Session;
use crate::client::events::{ClientEvent, EVENT_QUEUE};
use crate::client::view::lock;

impl Session {
    /// Ends a pending send with the server's answer, unless it is not ours
    /// or the event cannot be delivered now (it will be answered again when
    /// the message is resent after the catch-up).
    pub(super) fn settle(&mut self, client_id: ClientMsgId, event: ClientEvent) {
        let Some(at) = self.pending.iter().position(|s| s.client_id == client_id) else {
            tracing::debug!(?client_id, "answer for a message that is not pending");
            return;
        };
        if self.emit(event) {
            self.pending.remove(at);
            let mut view = lock(&self.view);
            view.pending_sends = view.pending_sends.saturating_sub(1);
        }
    }

    /// The server said "not now" to a pending message: it and every later
    /// one wait for the delay, then go out again in order (see the module
    /// docs).
    pub(super) fn hold_sends(&mut self, client_id: ClientMsgId, reason: Refusal) {
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
    pub(super) fn sends_held(&self) -> bool {
        self.send_after
            .is_some_and(|t| t > tokio::time::Instant::now())
    }

    /// Delivers a message unless it was delivered before.
    pub(super) fn deliver(&mut self, message: ChatMessage) {
        if self.last_seen.is_some_and(|seen| message.id <= seen) {
            tracing::trace!(id = message.id.0, "duplicate message skipped");
            return;
        }
        let id = message.id;
        if self.emit(ClientEvent::Message(message)) {
            self.last_seen = Some(id);
        }
    }

    pub(super) fn replace_online(&mut self, users: Vec<UserName>) {
        let online: BTreeMap<String, UserName> = users.into_iter().map(|u| (u.key(), u)).collect();
        let sorted = online.values().cloned().collect();
        lock(&self.view).online = online;
        self.emit(ClientEvent::Online(sorted));
    }

    /// A user is online; an event only if that is news.
    pub(super) fn joined(&mut self, user: UserName) {
        let new = lock(&self.view)
            .online
            .insert(user.key(), user.clone())
            .is_none();
        if new {
            self.emit(ClientEvent::Joined(user));
        }
    }

    /// A user is offline; an event only if that is news.
    pub(super) fn left(&mut self, user: UserName) {
        let gone = lock(&self.view).online.remove(&user.key()).is_some();
        if gone {
            self.emit(ClientEvent::Left(user));
        }
    }

    /// A coalesced presence frame: each user's state now.
    pub(super) fn presence(&mut self, came: Vec<UserName>, went: Vec<UserName>) {
        for user in went {
            self.left(user);
        }
        for user in came {
            self.joined(user);
        }
    }

    /// Queues an event. On a full queue, stops delivering until the next
    /// reconnect (see the module docs) and returns false: the caller must
    /// then not treat the event as delivered.
    pub(super) fn emit(&mut self, event: ClientEvent) -> bool {
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
}

/// Resolves when held-back sends may go out again; never if none are held.
pub(super) async fn hold_over(until: Option<tokio::time::Instant>) {
    match until {
        Some(until) => tokio::time::sleep_until(until).await,
        None => pending().await,
    }
}

/// Resolves once a paused (overflowed) event queue has room for half its
/// capacity again, or nobody reads it any more; never while not paused.
pub(super) async fn room_for_events(events: &mpsc::Sender<ClientEvent>, overflowed: bool) {
    if !overflowed {
        return pending().await;
    }
    // The permits are released as soon as they are dropped: this only waits.
    let _ = events.reserve_many(EVENT_QUEUE / 2).await;
}
