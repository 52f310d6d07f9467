//! Our own messages on their way. Once the library has queued one, its
//! entry waits, pending, under the library's id; the server's answer finds
//! it by that id alone: accepted, it moves among the stored messages;
//! rejected, it stays, failed, with the reason. A message the library
//! would not queue shows failed at once.

use natter_common::{ClientMsgId, Content, Conversation, MessageId, Timestamp, UserName};

use super::{local_day_and_time, ConversationLog, Conversations, Delivery, Entry, Origin};

impl Conversations {
    /// [`crate::app::link::Command::Send`] answered: our message shows in
    /// `conversation`, pending under the library's id, or failed with why
    /// it was not queued.
    pub fn queued(
        &mut self,
        me: UserName,
        conversation: &Conversation,
        content: Content,
        outcome: Result<ClientMsgId, String>,
        now: f64,
    ) {
        let (origin, delivery) = match outcome {
            Ok(client_id) => (Origin::Sent(client_id), Delivery::Pending),
            Err(reason) => {
                self.next_unsent += 1;
                (Origin::Unsent(self.next_unsent), Delivery::Failed(reason))
            }
        };
        let sent_at = Timestamp::now();
        let (day, time_label) = local_day_and_time(sent_at);
        let log = self.log_mut(conversation);
        log.entries.push(Entry {
            id: None,
            origin,
            from: me,
            to: conversation.recipient(),
            sent_at,
            content,
            delivery,
            day,
            time_label,
            arrived_at: now,
        });
        log.revision += 1;
    }

    /// The server stored our message `client_id` as `id`: it moves among
    /// the stored ones (or goes, when its echo came first). False when no
    /// entry waits under that id.
    pub fn accepted(&mut self, client_id: ClientMsgId, id: MessageId, sent_at: Timestamp) -> bool {
        let Some((log, at)) = self.find_pending(client_id) else {
            return false;
        };
        let mut entry = log.entries.remove(at);
        log.revision += 1;
        if log.contains(id) {
            return true; // the echo of the message arrived first
        }
        let (day, time_label) = local_day_and_time(sent_at);
        entry.id = Some(id);
        entry.sent_at = sent_at;
        entry.day = day;
        entry.time_label = time_label;
        entry.delivery = Delivery::Delivered;
        log.insert_stored(entry);
        true
    }

    /// The server refused our message `client_id` for good: it shows
    /// failed, with `reason`. False when no entry waits under that id.
    pub fn rejected(&mut self, client_id: ClientMsgId, reason: String) -> bool {
        let Some((log, at)) = self.find_pending(client_id) else {
            return false;
        };
        log.entries[at].delivery = Delivery::Failed(reason);
        log.revision += 1;
        true
    }

    /// The server said "not now" to our message `client_id`: it stays
    /// pending (the library sends it again). False when no entry waits
    /// under that id.
    pub fn throttled(&mut self, client_id: ClientMsgId) -> bool {
        let Some((log, _)) = self.find_pending(client_id) else {
            return false;
        };
        log.revision += 1;
        true
    }

    /// The pending entry of ours the library queued as `client_id`, with
    /// its log; pending entries follow the stored ones, so the search is
    /// from the end.
    fn find_pending(&mut self, client_id: ClientMsgId) -> Option<(&mut ConversationLog, usize)> {
        self.logs.values_mut().find_map(|log| {
            let at = log.entries.iter().rposition(|e| {
                e.origin == Origin::Sent(client_id) && e.delivery == Delivery::Pending
            })?;
            Some((log, at))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{message, name, texts};
    use super::*;
    use natter_common::{EmojiId, Recipient};

    fn sent(conversations: &mut Conversations, text: &str, client_id: u64) {
        let content = Content::Text(text.into());
        let outcome = Ok(ClientMsgId(client_id));
        conversations.queued(name("alice"), &Conversation::Group, content, outcome, 0.0);
    }

    fn receive(conversations: &mut Conversations, id: u64, from: &str, text: &str) {
        let m = message(id, from, Recipient::Everyone, text);
        conversations.receive(m, &name("alice"), Some(&Conversation::Group), 0.0);
    }

    fn deliveries(conversations: &Conversations) -> Vec<Delivery> {
        let log = conversations.get(&Conversation::Group).unwrap();
        log.entries.iter().map(|e| e.delivery.clone()).collect()
    }

    #[test]
    fn a_sent_message_is_pending_until_accepted_whatever_arrives_first() {
        let mut conversations = Conversations::default();
        sent(&mut conversations, "hello", 5);
        assert_eq!(deliveries(&conversations), [Delivery::Pending]);
        // A message from bob arrives while ours is pending: ours stays last.
        receive(&mut conversations, 10, "bob", "yo");
        assert_eq!(texts(&conversations, &Conversation::Group), ["yo", "hello"]);
        assert!(conversations.accepted(ClientMsgId(5), MessageId(11), Timestamp(1)));
        receive(&mut conversations, 11, "alice", "hello");
        let log = conversations.get(&Conversation::Group).unwrap();
        assert_eq!(log.entries.len(), 2);
        assert_eq!(log.entries[1].delivery, Delivery::Delivered);
        assert_eq!(log.entries[1].id, Some(MessageId(11)));
        assert!(log.entries[1].sent_here());

        // And when the echo comes before the acceptance.
        sent(&mut conversations, "again", 6);
        receive(&mut conversations, 12, "alice", "again");
        assert!(conversations.accepted(ClientMsgId(6), MessageId(12), Timestamp(2)));
        let all = texts(&conversations, &Conversation::Group);
        assert_eq!(all, ["yo", "hello", "again"]);
        assert!(deliveries(&conversations)
            .iter()
            .all(|d| *d == Delivery::Delivered));
    }

    #[test]
    fn rejected_and_unqueued_messages_show_why() {
        let mut conversations = Conversations::default();
        let emoji = Content::Emoji(EmojiId(0));
        let full = Err("queue full".to_owned());
        let group = Conversation::Group;
        conversations.queued(name("alice"), &group, emoji.clone(), full.clone(), 0.0);
        conversations.queued(name("alice"), &group, emoji, full, 0.0);
        sent(&mut conversations, "too much", 7);
        assert!(conversations.rejected(ClientMsgId(7), "too long".into()));
        assert_eq!(
            deliveries(&conversations),
            [
                Delivery::Failed("queue full".into()),
                Delivery::Failed("queue full".into()),
                Delivery::Failed("too long".into()),
            ]
        );
        // Each keeps an id of its own, so the view never mixes them up.
        let log = conversations.get(&group).unwrap();
        assert_ne!(log.entries[0].key(), log.entries[1].key());
        // Settled messages are not found again.
        assert!(!conversations.accepted(ClientMsgId(7), MessageId(1), Timestamp(1)));
        assert!(!conversations.throttled(ClientMsgId(7)));
    }

    #[test]
    fn only_our_pending_messages_answer_to_their_ids() {
        let mut conversations = Conversations::default();
        sent(&mut conversations, "hello", 5);
        assert!(conversations.throttled(ClientMsgId(5)));
        assert!(!conversations.throttled(ClientMsgId(6)));
        assert!(!conversations.rejected(ClientMsgId(6), "no".into()));
        assert_eq!(deliveries(&conversations), [Delivery::Pending]);
    }
}
