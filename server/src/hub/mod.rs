//! Presence and fan-out: which users are online, and delivery of messages
//! and presence changes to every session that should see them.
//!
//! Each session has a bounded queue. Delivery never waits: a session whose
//! queue is full is cut loose on the spot (its `kicked` token fires, its
//! session task closes the connection with "too slow") and it catches up
//! from history when it reconnects. So one stuck reader costs at most
//! `queue` messages of memory and never stalls the room.
//!
//! The hub also knows which login (token family) and account each session
//! belongs to, so a logout can end every session resumed from the same
//! login, and "log out everywhere" every session of the account.
//!
//! Sessions and the router see only the [`Fanout`] trait; [`Hub`] is the
//! in-process implementation. Several server nodes would implement it over
//! a message bus (NATS, say): publish to the bus, deliver what arrives from
//! it to local sessions, and keep presence counts across nodes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use natter_common::codec;
use natter_common::{ChatMessage, MessageId, Recipient, ServerMsg, UserName};
use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;

use self::presence::Pending;
use crate::store::{AccountId, Family};

pub mod presence;

/// Something a session must pass on to its client.
#[derive(Debug, Clone)]
pub enum Outbound {
    Message(Encoded),
    /// A coalesced `Presence` frame: see [`presence`].
    Presence(Bytes),
}

/// A message encoded once, as the frame every recipient is sent: each
/// session clones a reference to the same bytes.
#[derive(Debug, Clone)]
pub struct Encoded {
    pub id: MessageId,
    pub frame: Bytes,
}

impl Encoded {
    /// `message` as a [`ServerMsg::Message`] frame.
    pub fn new(message: ChatMessage) -> Result<Self, codec::FrameError> {
        let id = message.id;
        let frame = codec::encode_frame(&ServerMsg::Message(message))?;
        Ok(Self {
            id,
            frame: frame.into(),
        })
    }
}

/// Identifies one session in the hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionId(u64);

/// Why the hub ended a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KickReason {
    /// Its queue filled up: it reconnects and catches up from history.
    TooSlow,
    /// Its login, or its whole account, logged out.
    LoggedOut,
}

/// Fires when the hub ends a session, and says why.
#[derive(Debug, Clone, Default)]
pub struct Kick {
    fired: CancellationToken,
    logged_out: Arc<AtomicBool>,
}

impl Kick {
    /// Completes once the session is kicked.
    pub async fn cancelled(&self) {
        self.fired.cancelled().await
    }

    pub fn is_cancelled(&self) -> bool {
        self.fired.is_cancelled()
    }

    /// The reason; meaningful once fired.
    pub fn reason(&self) -> KickReason {
        if self.logged_out.load(Ordering::Acquire) {
            KickReason::LoggedOut
        } else {
            KickReason::TooSlow
        }
    }

    fn fire(&self, reason: KickReason) {
        if reason == KickReason::LoggedOut && !self.fired.is_cancelled() {
            self.logged_out.store(true, Ordering::Release);
        }
        self.fired.cancel();
    }
}

/// Which sessions a logout ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogoutScope {
    /// Every session of one login: the one that logged in with the password
    /// and every one resumed from its tokens.
    Login(Family),
    /// Every session of the account.
    Account(AccountId),
}

/// What a session gets when it joins.
pub struct Subscription {
    pub id: SessionId,
    pub rx: mpsc::Receiver<Outbound>,
    /// Fires when the hub ends this session: too slow, or logged out.
    pub kicked: Kick,
    /// Who was online at the moment of joining, this user included. Every
    /// later change arrives on `rx`, so snapshot + updates are exact.
    pub online: Vec<UserName>,
}

struct Member {
    user: UserName,
    tx: mpsc::Sender<Outbound>,
    kicked: Kick,
    /// The login and account, once [`Fanout::enlist`] told them.
    login: Option<(Family, AccountId)>,
}

#[derive(Default)]
struct State {
    next_id: u64,
    sessions: HashMap<SessionId, Member>,
    /// Case-folded name → (display name, live sessions).
    online: HashMap<String, (UserName, usize)>,
    /// Presence changes not yet sent.
    pending: Pending,
}

/// Cross-session delivery and presence, as sessions and the router use it.
pub trait Fanout: Send + Sync + 'static {
    /// Registers a session of `user`; announces the user (at the next
    /// presence tick) if they just came online. The snapshot in the
    /// subscription plus the later presence frames on its queue are exact:
    /// nothing falls between them.
    fn join(&self, user: &UserName) -> Subscription;
    /// Unregisters a session (harmless if it was already dropped).
    fn leave(&self, id: SessionId);
    /// Tells which login and account a joined session belongs to, so a
    /// logout can find it.
    fn enlist(&self, id: SessionId, family: Family, account: AccountId);
    /// Ends every session in `scope` (each closes with "logged out");
    /// returns how many.
    fn log_out(&self, scope: LogoutScope) -> usize;
    /// Delivers a stored message to every session allowed to see it.
    fn publish(&self, message: ChatMessage);
    /// Users online now, sorted.
    fn online(&self) -> Vec<UserName>;
    /// Sends every session one frame with the presence changes since the
    /// last call, if there were any.
    fn flush_presence(&self);
    /// Notified when a presence change is pending: see [`presence::tick`].
    fn presence_changed(&self) -> Arc<Notify>;
}

/// The registry of live sessions. Cheap to share; its lock is a std mutex
/// held only for non-blocking work, never across an `.await`.
pub struct Hub {
    queue: usize,
    state: Mutex<State>,
}

impl Hub {
    /// A hub whose sessions each queue at most `queue` items.
    pub fn new(queue: usize) -> Self {
        Self {
            queue: queue.max(1),
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Fanout for Hub {
    fn join(&self, user: &UserName) -> Subscription {
        let (tx, rx) = mpsc::channel(self.queue);
        let kicked = Kick::default();
        let mut state = self.lock();
        let id = SessionId(state.next_id);
        state.next_id += 1;
        let entry = state.online.entry(user.key()).or_insert((user.clone(), 0));
        entry.1 += 1;
        let first = entry.1 == 1;
        if first {
            state.pending.record(user, true);
        }
        state.sessions.insert(
            id,
            Member {
                user: user.clone(),
                tx,
                kicked: kicked.clone(),
                login: None,
            },
        );
        let mut online: Vec<UserName> = state.online.values().map(|(n, _)| n.clone()).collect();
        online.sort();
        Subscription {
            id,
            rx,
            kicked,
            online,
        }
    }

    fn leave(&self, id: SessionId) {
        let mut state = self.lock();
        remove(&mut state, id, KickReason::TooSlow);
    }

    fn enlist(&self, id: SessionId, family: Family, account: AccountId) {
        if let Some(member) = self.lock().sessions.get_mut(&id) {
            member.login = Some((family, account));
        }
    }

    fn log_out(&self, scope: LogoutScope) -> usize {
        let mut state = self.lock();
        let ended: Vec<SessionId> = state
            .sessions
            .iter()
            .filter(|(_, m)| match (scope, m.login) {
                (LogoutScope::Login(f), Some((family, _))) => f == family,
                (LogoutScope::Account(a), Some((_, account))) => a == account,
                (_, None) => false,
            })
            .map(|(id, _)| *id)
            .collect();
        for &id in &ended {
            remove(&mut state, id, KickReason::LoggedOut);
        }
        ended.len()
    }

    /// All sessions for the group; both parties' sessions for a private
    /// message.
    fn publish(&self, message: ChatMessage) {
        let to = message.to.clone();
        let from = message.from.clone();
        let encoded = match Encoded::new(message) {
            Ok(encoded) => encoded,
            Err(e) => {
                // Content is checked before it is stored: the server's bug.
                tracing::error!(error = %e, "a stored message cannot be encoded");
                return;
            }
        };
        let mut state = self.lock();
        let targets: Vec<SessionId> = match &to {
            Recipient::Everyone => state.sessions.keys().copied().collect(),
            Recipient::User(to) => state
                .sessions
                .iter()
                .filter(|(_, m)| m.user.same_account(to) || m.user.same_account(&from))
                .map(|(id, _)| *id)
                .collect(),
        };
        deliver(&mut state, targets, Outbound::Message(encoded));
    }

    fn flush_presence(&self) {
        let mut state = self.lock();
        if let Some(frame) = state.pending.take_frame() {
            let everyone: Vec<SessionId> = state.sessions.keys().copied().collect();
            deliver(&mut state, everyone, Outbound::Presence(frame));
        }
    }

    fn presence_changed(&self) -> Arc<Notify> {
        self.lock().pending.changed.clone()
    }

    fn online(&self) -> Vec<UserName> {
        let mut users: Vec<UserName> = self
            .lock()
            .online
            .values()
            .map(|(n, _)| n.clone())
            .collect();
        users.sort();
        users
    }
}

/// Offers `item` to each target; drops the ones that cannot take it.
fn deliver(state: &mut State, targets: Vec<SessionId>, item: Outbound) {
    let mut dropped = Vec::new();
    for id in targets {
        if let Some(member) = state.sessions.get(&id) {
            match member.tx.try_send(item.clone()) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    tracing::warn!(user = %member.user, "session too slow, disconnecting it");
                    dropped.push(id);
                }
                Err(mpsc::error::TrySendError::Closed(_)) => dropped.push(id),
            }
        }
    }
    for id in dropped {
        remove(state, id, KickReason::TooSlow);
    }
}

/// Removes a session, firing its kick with `reason`, and announces the
/// user's departure (at the next presence tick) if no session of theirs is
/// left.
fn remove(state: &mut State, id: SessionId, reason: KickReason) {
    let Some(member) = state.sessions.remove(&id) else {
        return;
    };
    member.kicked.fire(reason);
    let key = member.user.key();
    let last = match state.online.get_mut(&key) {
        Some(entry) => {
            entry.1 -= 1;
            entry.1 == 0
        }
        None => false,
    };
    if last {
        if let Some((user, _)) = state.online.remove(&key) {
            state.pending.record(&user, false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use natter_common::{Content, Timestamp};

    fn name(s: &str) -> UserName {
        UserName::parse(s).unwrap()
    }

    fn message(from: &str, to: Option<&str>) -> ChatMessage {
        ChatMessage {
            id: MessageId(1),
            from: name(from),
            to: to.map_or(Recipient::Everyone, |t| Recipient::User(name(t))),
            sent_at: Timestamp(0),
            content: Content::Text("x".into()),
        }
    }

    /// The next presence frame in `rx`, decoded: (came, went).
    fn presence(rx: &mut mpsc::Receiver<Outbound>) -> Option<(Vec<UserName>, Vec<UserName>)> {
        match rx.try_recv() {
            Ok(Outbound::Presence(frame)) => match codec::decode_payload(&frame[4..]) {
                Ok(ServerMsg::Presence { came, went }) => Some((came, went)),
                other => panic!("not a presence frame: {other:?}"),
            },
            _ => None,
        }
    }

    #[test]
    fn presence_counts_sessions_per_user() {
        let hub = Hub::new(8);
        let mut a = hub.join(&name("a"));
        let b1 = hub.join(&name("b"));
        assert_eq!(b1.online, vec![name("a"), name("b")]);
        hub.flush_presence();
        assert_eq!(
            presence(&mut a.rx),
            Some((vec![name("a"), name("b")], vec![]))
        );
        let b2 = hub.join(&name("B"));
        hub.flush_presence();
        assert_eq!(
            presence(&mut a.rx),
            None,
            "a second device is not a new join"
        );
        hub.leave(b1.id);
        hub.flush_presence();
        assert_eq!(
            presence(&mut a.rx),
            None,
            "b is still online on another device"
        );
        hub.leave(b2.id);
        hub.flush_presence();
        assert_eq!(presence(&mut a.rx), Some((vec![], vec![name("b")])));
        assert_eq!(hub.online(), vec![name("a")]);
    }

    /// A burst of logins and logouts within one tick is one frame for each
    /// session, with every user's final state: O(N) frames for N logins.
    #[test]
    fn presence_changes_within_a_tick_are_one_frame_per_session() {
        let hub = Hub::new(8);
        let mut watchers: Vec<_> = (0..100)
            .map(|i| hub.join(&name(&format!("u{i}"))))
            .collect();
        let brief = hub.join(&name("brief"));
        hub.leave(brief.id);
        hub.flush_presence();
        for w in &mut watchers {
            let (came, went) = presence(&mut w.rx).expect("one frame");
            assert_eq!(came.len(), 100);
            assert_eq!(went, vec![name("brief")]);
            assert!(presence(&mut w.rx).is_none(), "and only one");
        }
        hub.flush_presence();
        assert!(
            presence(&mut watchers[0].rx).is_none(),
            "nothing new, no frame"
        );
    }

    #[test]
    fn private_messages_reach_only_both_parties() {
        let hub = Hub::new(8);
        let mut a = hub.join(&name("a"));
        let mut b = hub.join(&name("b"));
        let mut c = hub.join(&name("c"));
        hub.publish(message("a", Some("b")));
        assert!(matches!(a.rx.try_recv(), Ok(Outbound::Message(_))));
        assert!(matches!(b.rx.try_recv(), Ok(Outbound::Message(_))));
        assert!(c.rx.try_recv().is_err());
    }

    #[test]
    fn a_full_queue_kicks_only_that_session() {
        let hub = Hub::new(2);
        let slow = hub.join(&name("slow"));
        let mut fast = hub.join(&name("fast"));
        for _ in 0..3 {
            hub.publish(message("fast", None));
            while fast.rx.try_recv().is_ok() {}
        }
        assert!(slow.kicked.is_cancelled());
        assert!(!fast.kicked.is_cancelled());
        assert_eq!(hub.online(), vec![name("fast")]);
        hub.leave(slow.id); // the session task's own leave is a no-op now
    }

    #[test]
    fn logouts_end_sessions_by_login_and_by_account() {
        let hub = Hub::new(8);
        let (one, two) = (Family([1; 32]), Family([2; 32]));
        let a1 = hub.join(&name("a"));
        let a2 = hub.join(&name("a"));
        let a3 = hub.join(&name("a"));
        let b = hub.join(&name("b"));
        hub.enlist(a1.id, one, AccountId(1));
        hub.enlist(a2.id, one, AccountId(1));
        hub.enlist(a3.id, two, AccountId(1));
        hub.enlist(b.id, Family([3; 32]), AccountId(2));
        assert_eq!(hub.log_out(LogoutScope::Login(one)), 2);
        assert!(a1.kicked.is_cancelled() && a2.kicked.is_cancelled());
        assert_eq!(a1.kicked.reason(), KickReason::LoggedOut);
        assert!(!a3.kicked.is_cancelled());
        assert_eq!(hub.log_out(LogoutScope::Account(AccountId(1))), 1);
        assert!(a3.kicked.is_cancelled() && !b.kicked.is_cancelled());
        assert_eq!(hub.online(), vec![name("b")]);
    }
}
