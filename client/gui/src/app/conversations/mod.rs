//! The conversations: the group and each private one, with their messages
//! oldest first, unread counts and history paging. Messages the server
//! stored are kept in id order whatever order they arrive in (live,
//! replayed, paged in) and never twice; our own not yet stored follow them,
//! and `delivery.rs` follows those until the server answers.

mod delivery;

use std::collections::BTreeMap;

use chrono::{Datelike, TimeZone};
use natter_common::{
    ChatMessage, ClientMsgId, Content, Conversation, EmojiId, MessageId, Recipient, Timestamp,
    UserName,
};

use crate::app::link::Command;
use natter_client::{HistoryPage, HISTORY_PAGE};

/// Seconds a newly arrived emoji keeps bouncing at full frame rate.
pub const NEW_EMOJI_SECS: f64 = 2.0;

/// Where a message this client sent stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Stored by the server (it has an id).
    Delivered,
    /// Queued or in flight: drawn with a clock.
    Pending,
    /// Refused by the server or the library; never stored.
    Failed(String),
}

/// Where an entry came from, which tells the one id it goes by until the
/// server stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The server sent it (live or history; our own from elsewhere too).
    Server,
    /// Sent from this window; the library queued it under this id.
    Sent(ClientMsgId),
    /// Sent from this window, refused before the library queued it:
    /// nothing else names it, so it is numbered here.
    Unsent(u64),
}

/// One message as the conversation view shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The server's id; `None` until the server accepts our own message.
    pub id: Option<MessageId>,
    pub origin: Origin,
    pub from: UserName,
    pub to: Recipient,
    pub sent_at: Timestamp,
    pub content: Content,
    pub delivery: Delivery,
    /// Local calendar day (days from the common era), for day separators.
    pub day: i32,
    /// Local `HH:MM`.
    pub time_label: String,
    /// State clock when it arrived (`f64::NEG_INFINITY` for history), so
    /// fresh emoji can bounce.
    pub arrived_at: f64,
}

/// What identifies an entry across frames, for the view's layout cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryKey {
    Stored(MessageId),
    Sent(ClientMsgId),
    Unsent(u64),
}

impl Entry {
    /// An entry for a message the server sent.
    fn stored(m: ChatMessage, arrived_at: f64) -> Self {
        let (day, time_label) = local_day_and_time(m.sent_at);
        Entry {
            id: Some(m.id),
            origin: Origin::Server,
            from: m.from,
            to: m.to,
            sent_at: m.sent_at,
            content: m.content,
            delivery: Delivery::Delivered,
            day,
            time_label,
            arrived_at,
        }
    }

    pub fn key(&self) -> EntryKey {
        match (self.id, self.origin) {
            (Some(id), _) => EntryKey::Stored(id),
            (None, Origin::Sent(client_id)) => EntryKey::Sent(client_id),
            (None, Origin::Unsent(n)) => EntryKey::Unsent(n),
            (None, Origin::Server) => EntryKey::Unsent(u64::MAX),
        }
    }

    /// Sent from this window: its time carries a delivery mark.
    pub fn sent_here(&self) -> bool {
        self.origin != Origin::Server
    }

    /// Local date label for the separator above the first message of a day.
    pub fn day_label(&self) -> String {
        let local = chrono::Local.timestamp_millis_opt(self.sent_at.0).single();
        match local {
            Some(t) => t.format("%A, %-d %B %Y").to_string(),
            None => String::from("Unknown day"),
        }
    }
}

/// One conversation's messages, oldest first: the ones the server stored
/// (sorted by id), then our own not yet stored, in the order sent.
#[derive(Debug, Clone, Default)]
pub struct ConversationLog {
    pub entries: Vec<Entry>,
    pub unread: u32,
    /// Older messages may exist on the server.
    pub more_before: bool,
    pub loading_older: bool,
    /// The newest page was asked for once.
    pub history_requested: bool,
    /// Bumped on every change, so a view knows to re-measure.
    pub revision: u64,
}

impl ConversationLog {
    fn stored_len(&self) -> usize {
        self.entries.iter().take_while(|e| e.id.is_some()).count()
    }

    fn contains(&self, id: MessageId) -> bool {
        let stored = &self.entries[..self.stored_len()];
        stored.binary_search_by_key(&Some(id), |e| e.id).is_ok()
    }

    /// Inserts a stored message in id order; false if already there.
    fn insert_stored(&mut self, entry: Entry) -> bool {
        let Some(id) = entry.id else { return false };
        let stored = self.stored_len();
        match self.entries[..stored].binary_search_by_key(&Some(id), |e| e.id) {
            Ok(_) => false,
            Err(at) => {
                self.entries.insert(at, entry);
                self.revision += 1;
                true
            }
        }
    }

    /// The oldest stored id: the cursor for paging older history.
    pub fn oldest_id(&self) -> Option<MessageId> {
        self.entries.first().and_then(|e| e.id)
    }

    /// Asks for a page of older messages unless one is on its way.
    fn page_before(&mut self, conversation: &Conversation) -> Command {
        self.loading_older = true;
        Command::History {
            conversation: conversation.clone(),
            before: self.oldest_id(),
            limit: HISTORY_PAGE,
        }
    }
}

/// Every conversation this client has seen, by whom it is with.
#[derive(Debug, Clone, Default)]
pub struct Conversations {
    logs: BTreeMap<Conversation, ConversationLog>,
    /// Numbers our messages the library refused to queue.
    next_unsent: u64,
}

impl Conversations {
    pub fn get(&self, c: &Conversation) -> Option<&ConversationLog> {
        self.logs.get(c)
    }

    /// The log of `c`, made empty on first use.
    pub fn log_mut(&mut self, c: &Conversation) -> &mut ConversationLog {
        self.logs.entry(c.clone()).or_default()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Conversation, &ConversationLog)> {
        self.logs.iter()
    }

    /// Messages waiting unread in all conversations.
    pub fn unread_total(&self) -> u64 {
        self.logs.values().map(|log| u64::from(log.unread)).sum()
    }

    /// Files a message in the conversation it belongs to (once: a copy
    /// already here is dropped); whether it was news from someone else.
    /// `showing` is the conversation on screen, read as messages come.
    pub fn receive(
        &mut self,
        m: ChatMessage,
        me: &UserName,
        showing: Option<&Conversation>,
        now: f64,
    ) -> bool {
        let conversation = m.conversation_for(me);
        let from_me = m.from.same_account(me);
        let read = showing == Some(&conversation);
        let log = self.log_mut(&conversation);
        let news = log.insert_stored(Entry::stored(m, now)) && !from_me;
        if news && !read {
            log.unread = log.unread.saturating_add(1);
        }
        news
    }

    /// The replay after login is over; `truncated` means it left older
    /// messages out, so every conversation may page further back.
    pub fn caught_up(&mut self, truncated: bool) {
        if truncated {
            for log in self.logs.values_mut() {
                log.more_before = true;
            }
        }
    }

    /// A page of history arrived (or why not, to tell the user).
    pub fn history(
        &mut self,
        conversation: &Conversation,
        outcome: Result<HistoryPage, String>,
    ) -> Result<(), String> {
        let log = self.log_mut(conversation);
        log.loading_older = false;
        let page = outcome?;
        log.more_before = page.more;
        for m in page.messages {
            log.insert_stored(Entry::stored(m, f64::NEG_INFINITY));
        }
        log.revision += 1;
        Ok(())
    }

    /// `c` comes on screen: its messages are read, and its newest page is
    /// asked for the first time.
    pub fn open(&mut self, c: &Conversation) -> Option<Command> {
        self.log_mut(c).unread = 0;
        self.request_history_once(c)
    }

    pub fn request_history_once(&mut self, c: &Conversation) -> Option<Command> {
        let log = self.log_mut(c);
        if log.history_requested {
            return None;
        }
        log.history_requested = true;
        Some(log.page_before(c))
    }

    /// The view reached the top of `c`: the page before, if there is one
    /// and none is on its way.
    pub fn load_older(&mut self, c: &Conversation) -> Option<Command> {
        let log = self.log_mut(c);
        (log.more_before && !log.loading_older).then(|| log.page_before(c))
    }
}

/// The local calendar day and `HH:MM` of a server timestamp.
pub fn local_day_and_time(t: Timestamp) -> (i32, String) {
    match chrono::Local.timestamp_millis_opt(t.0).single() {
        Some(local) => (local.num_days_from_ce(), local.format("%H:%M").to_string()),
        None => (0, String::from("--:--")),
    }
}

/// The emoji ids a message of `content` shows (for tests and dumps).
pub fn emoji_of(content: &Content) -> Option<EmojiId> {
    match content {
        Content::Emoji(id) => Some(*id),
        _ => None,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn name(s: &str) -> UserName {
        UserName::parse(s).unwrap()
    }

    pub(crate) fn message(id: u64, from: &str, to: Recipient, text: &str) -> ChatMessage {
        ChatMessage {
            id: MessageId(id),
            from: name(from),
            to,
            sent_at: Timestamp(1_700_000_000_000 + id as i64 * 1000),
            content: Content::Text(text.into()),
        }
    }

    pub(crate) fn texts(conversations: &Conversations, c: &Conversation) -> Vec<String> {
        conversations.logs[c]
            .entries
            .iter()
            .map(|e| e.content.summary())
            .collect()
    }

    #[test]
    fn messages_sort_by_id_and_duplicates_are_dropped() {
        let mut conversations = Conversations::default();
        for id in [3, 1, 2, 2] {
            let m = message(id, "bob", Recipient::Everyone, &id.to_string());
            conversations.receive(m, &name("alice"), None, 0.0);
        }
        assert_eq!(texts(&conversations, &Conversation::Group), ["1", "2", "3"]);
    }

    #[test]
    fn private_messages_land_in_their_conversation_and_count_as_unread() {
        let mut conversations = Conversations::default();
        let alice = name("alice");
        let psst = message(1, "bob", Recipient::User(alice.clone()), "psst");
        assert!(conversations.receive(psst, &alice, None, 0.0));
        let bob = Conversation::With(name("bob"));
        assert_eq!(conversations.logs[&bob].unread, 1);
        assert!(matches!(
            conversations.open(&bob),
            Some(Command::History { .. })
        ));
        assert_eq!(conversations.unread_total(), 0);
        // Our own message to bob, echoed back, lands in the same place.
        let hi = message(2, "alice", Recipient::User(name("bob")), "hi");
        assert!(!conversations.receive(hi, &alice, Some(&bob), 0.0));
        assert_eq!(texts(&conversations, &bob), ["psst", "hi"]);
        assert_eq!(conversations.logs[&bob].unread, 0);
    }

    #[test]
    fn history_pages_prepend_and_loading_older_asks_before_the_oldest() {
        let mut conversations = Conversations::default();
        let group = Conversation::Group;
        assert!(conversations.request_history_once(&group).is_some());
        assert!(conversations.request_history_once(&group).is_none());
        let page = |ids: std::ops::Range<u64>, more| HistoryPage {
            messages: ids
                .map(|i| message(i, "bob", Recipient::Everyone, "x"))
                .collect(),
            more,
        };
        assert_eq!(
            conversations.history(&group, Ok(page(50..60, true))),
            Ok(())
        );
        match conversations.load_older(&group) {
            Some(Command::History { before, .. }) => assert_eq!(before, Some(MessageId(50))),
            other => panic!("{other:?}"),
        }
        // A second scroll to the top while loading asks nothing more.
        assert!(conversations.load_older(&group).is_none());
        assert_eq!(
            conversations.history(&group, Ok(page(40..50, false))),
            Ok(())
        );
        let log = &conversations.logs[&group];
        assert_eq!(log.entries.len(), 20);
        assert_eq!(log.oldest_id(), Some(MessageId(40)));
        assert!(conversations.load_older(&group).is_none());
    }

    #[test]
    fn a_failed_page_can_be_asked_again() {
        let mut conversations = Conversations::default();
        let group = Conversation::Group;
        conversations.caught_up(false);
        conversations.log_mut(&group).more_before = true;
        assert!(conversations.load_older(&group).is_some());
        let failed = conversations.history(&group, Err("timed out".into()));
        assert_eq!(failed, Err("timed out".into()));
        assert!(conversations.load_older(&group).is_some());
    }

    #[test]
    fn unknown_emoji_are_kept_as_they_came() {
        let mut conversations = Conversations::default();
        let m = ChatMessage {
            content: Content::Emoji(EmojiId(999)),
            ..message(1, "bob", Recipient::Everyone, "")
        };
        conversations.receive(m, &name("alice"), None, 0.0);
        let entry = &conversations.logs[&Conversation::Group].entries[0];
        assert_eq!(emoji_of(&entry.content), Some(EmojiId(999)));
        assert!(!entry.sent_here());
    }
}
