//! What the network reports, folded into the state: [`AppState::apply`]
//! hands each event to the subject it is about; the session's own facts
//! (who we are, the link, who is online) change here.

use std::time::Duration;

use natter_client::ClientEvent;
use natter_common::{ChatMessage, ClientMsgId, Content, Conversation, UserName};

use super::{AppState, Connection};
use crate::app::intent::Intent;
use crate::app::link::{Command, NetEvent};
use crate::app::login::{Hosting, Screen};
use crate::app::truncate_for_display;

impl AppState {
    /// Folds one report of the network thread into the state.
    pub fn apply(&mut self, event: NetEvent) -> Vec<Command> {
        self.revision += 1;
        let now = self.now;
        match event {
            NetEvent::Client(event) => return self.apply_client(event),
            NetEvent::LoggedIn {
                me,
                server,
                max_text_chars,
            } => return self.logged_in(me, server, max_text_chars),
            NetEvent::LoginFailed(error) => self.login.failed(error, &mut self.screen),
            NetEvent::Hosting {
                join_addresses,
                fingerprint,
            } => {
                let hosting = Hosting {
                    join_addresses,
                    fingerprint,
                };
                return self.login.hosted(hosting);
            }
            NetEvent::HostFailed(reason) => self.login.host_failed(reason),
            NetEvent::Queued {
                conversation,
                content,
                outcome,
            } => self.queued(&conversation, content, outcome),
            NetEvent::Sharing {
                conversation,
                path,
                as_file,
                outcome,
            } => self
                .media
                .sharing(conversation, &path, as_file, outcome, &mut self.toasts, now),
            NetEvent::Fetching {
                media,
                kind,
                outcome,
            } => {
                return self
                    .media
                    .fetching(media, kind, outcome, &mut self.toasts, now)
            }
            NetEvent::History {
                conversation,
                outcome,
            } => {
                if let Err(reason) = self.conversations.history(&conversation, outcome) {
                    let text = format!("Could not load older messages: {reason}");
                    self.toasts.error(now, text);
                }
            }
            NetEvent::CacheListing { pictures, files } => self.popups.cache_listed(pictures, files),
            NetEvent::LoggedOut => self.reset_to_login(),
            NetEvent::Notice(text) => self.toasts.error(now, text),
        }
        Vec::new()
    }

    /// What the library reports about the session, our messages, and
    /// transfers.
    fn apply_client(&mut self, event: ClientEvent) -> Vec<Command> {
        match event {
            ClientEvent::Connected { .. } => self.connection = Connection::Online,
            ClientEvent::Online(users) => {
                self.online = users;
                self.online.sort();
                self.online.dedup_by(|a, b| a.same_account(b));
            }
            ClientEvent::Joined(user) => {
                if !self.online.iter().any(|u| u.same_account(&user)) {
                    self.online.push(user);
                    self.online.sort();
                }
            }
            ClientEvent::Left(user) => self.online.retain(|u| !u.same_account(&user)),
            ClientEvent::Message(m) => self.receive(m),
            ClientEvent::CaughtUp { truncated } => {
                self.caught_up = true;
                self.conversations.caught_up(truncated);
            }
            ClientEvent::Accepted {
                client_id,
                id,
                sent_at,
            } => {
                if !self.conversations.accepted(client_id, id, sent_at) {
                    self.media.post_accepted(client_id);
                }
            }
            ClientEvent::Rejected { client_id, reason } => {
                self.rejected(client_id, reason.to_string())
            }
            ClientEvent::Throttled {
                client_id,
                retry_in,
                ..
            } => self.throttled(client_id, retry_in),
            ClientEvent::Disconnected { reason, retry_in } => {
                let retry_at = self.now + retry_in.as_secs_f64();
                self.connection = Connection::Reconnecting { reason, retry_at };
            }
            ClientEvent::Closed { reason } => {
                self.connection = Connection::Closed(reason.to_string())
            }
            ClientEvent::Progress(progress) => self.media.progress(&progress),
            ClientEvent::TransferDone { id, outcome } => {
                let outcome = outcome.map_err(|e| e.to_string());
                return self
                    .media
                    .transfer_done(id, outcome, &mut self.toasts, self.now);
            }
        }
        Vec::new()
    }

    fn logged_in(&mut self, me: UserName, server: String, max_text_chars: u32) -> Vec<Command> {
        self.login.logged_in();
        self.me = Some(me);
        self.server = server;
        self.composer.limit(max_text_chars);
        self.screen = Screen::Chat;
        self.connection = Connection::Online;
        self.selected = Conversation::Group;
        self.composer.focused = true;
        let group = self
            .conversations
            .request_history_once(&Conversation::Group);
        group.into_iter().collect()
    }

    /// A message arrived; a file someone sent after the replay is worth a
    /// toast with a button to open it.
    fn receive(&mut self, m: ChatMessage) {
        let Some(me) = self.me.clone() else { return };
        let note = match &m.content {
            Content::File(media) if self.caught_up && !m.from.same_account(&me) => {
                let from = truncate_for_display(m.from.as_str(), 24);
                let text = format!("{from} sent {}", truncate_for_display(&media.name, 40));
                Some((text, ("Open".to_owned(), Intent::OpenFile(media.clone()))))
            }
            _ => None,
        };
        let showing = (self.screen == Screen::Chat).then_some(&self.selected);
        let news = self.conversations.receive(m, &me, showing, self.now);
        if let (true, Some((text, action))) = (news, note) {
            self.toasts.note(self.now, text, Some(action));
        }
    }

    /// [`Command::Send`] answered: our message shows, pending or failed.
    fn queued(
        &mut self,
        conversation: &Conversation,
        content: Content,
        outcome: Result<ClientMsgId, String>,
    ) {
        let Some(me) = self.me.clone() else { return };
        self.conversations
            .queued(me, conversation, content, outcome, self.now);
        self.sent_count += 1;
    }

    /// The server refused one of our messages: a text shows failed in its
    /// conversation, a picture or file as a failed upload.
    fn rejected(&mut self, client_id: ClientMsgId, reason: String) {
        if !self.conversations.rejected(client_id, reason.clone()) {
            self.media
                .post_rejected(client_id, reason, &mut self.toasts, self.now);
        }
    }

    /// A message of ours waits because the server said "not now": it stays
    /// pending (the library resends it) and a notice says for how long.
    fn throttled(&mut self, client_id: ClientMsgId, retry_in: Duration) {
        if self.conversations.throttled(client_id) || self.media.posts(client_id) {
            let secs = retry_in.as_secs_f64().ceil().max(1.0);
            let text = format!("Sending slowed down: retrying in {secs} s");
            self.toasts.note(self.now, text, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use natter_client::TransferId;
    use natter_common::{
        BlobHash, ClientMsgId, MediaKind, MediaRef, MessageId, Recipient, Refusal, Timestamp,
    };

    use super::super::tests::{client, logged_in};
    use super::*;
    use crate::app::conversations::tests::message;
    use crate::app::conversations::Delivery;
    use crate::app::link::ShareIds;
    use crate::app::media::MediaSlot;

    /// Sends `intent` and answers the library's way: queued under
    /// `client_id`.
    fn send(s: &mut AppState, intent: Intent, client_id: u64) {
        let Some(Command::Send {
            conversation,
            content,
        }) = s.handle(intent).pop()
        else {
            panic!("nothing sent");
        };
        s.apply(NetEvent::Queued {
            conversation,
            content,
            outcome: Ok(ClientMsgId(client_id)),
        });
    }

    fn group_deliveries(s: &AppState) -> Vec<Delivery> {
        let log = s.conversations.get(&Conversation::Group).unwrap();
        log.entries.iter().map(|e| e.delivery.clone()).collect()
    }

    #[test]
    fn a_message_shows_once_the_library_answers_and_settles_by_its_id() {
        let mut s = logged_in("alice");
        s.composer.draft = crate::app::text::TextBuffer::new("hello\n");
        send(&mut s, Intent::SendText, 5);
        assert!(s.composer.draft.text.is_empty());
        assert_eq!(s.sent_count, 1);
        assert_eq!(group_deliveries(&s), [Delivery::Pending]);
        let accepted = ClientEvent::Accepted {
            client_id: ClientMsgId(5),
            id: MessageId(11),
            sent_at: Timestamp(1),
        };
        s.apply(client(accepted));
        assert_eq!(group_deliveries(&s), [Delivery::Delivered]);
        // Refused before it was queued (nobody logged in, say).
        s.apply(NetEvent::Queued {
            conversation: Conversation::Group,
            content: Content::Text("late".into()),
            outcome: Err("not logged in".into()),
        });
        let failed = Delivery::Failed("not logged in".into());
        assert_eq!(group_deliveries(&s), [Delivery::Delivered, failed]);
    }

    #[test]
    fn a_rejected_text_shows_failed_with_the_reason() {
        let mut s = logged_in("alice");
        send(&mut s, Intent::SendEmoji(natter_common::EmojiId(0)), 5);
        let refusal = Refusal::UnknownRecipient("carol".into());
        let rejected = ClientEvent::Rejected {
            client_id: ClientMsgId(5),
            reason: refusal.clone(),
        };
        s.apply(client(rejected));
        let reason = refusal.to_string();
        assert_eq!(group_deliveries(&s), [Delivery::Failed(reason)]);
    }

    #[test]
    fn a_throttled_message_stays_pending_and_says_when_it_retries() {
        let mut s = logged_in("alice");
        send(&mut s, Intent::SendEmoji(natter_common::EmojiId(0)), 5);
        let throttled = |client_id, secs| ClientEvent::Throttled {
            client_id: ClientMsgId(client_id),
            reason: Refusal::RateLimited {
                retry_after_ms: 2200,
            },
            retry_in: Duration::from_secs_f64(secs),
        };
        s.apply(client(throttled(5, 2.2)));
        assert_eq!(group_deliveries(&s), [Delivery::Pending]);
        assert_eq!(s.toasts.len(), 1);
        let text = &s.toasts.get(0).unwrap().text;
        assert!(text.contains("retrying in 3 s"), "{text}");
        // A second message slowed down the same way refreshes that notice.
        send(&mut s, Intent::SendEmoji(natter_common::EmojiId(1)), 6);
        s.apply(client(throttled(6, 2.5)));
        assert_eq!(s.toasts.len(), 1, "{:?}", s.toasts);
        // Not ours: no notice.
        s.toasts.dismiss(s.toasts.get(0).unwrap().id);
        s.apply(client(throttled(99, 1.0)));
        assert!(s.toasts.is_empty());
    }

    /// Shares `cat.png` into the group and answers the library's way.
    fn shared(s: &mut AppState, message: ClientMsgId) -> TransferId {
        let dropped = Intent::ShareDropped(PathBuf::from("/tmp/cat.png"));
        let Some(Command::Share {
            conversation,
            path,
            as_file,
        }) = s.handle(dropped).pop()
        else {
            panic!("nothing shared");
        };
        let transfer = TransferId(3);
        let outcome = Ok(ShareIds { transfer, message });
        s.apply(NetEvent::Sharing {
            conversation,
            path,
            as_file,
            outcome,
        });
        transfer
    }

    fn uploaded(id: TransferId) -> NetEvent {
        let outcome = Ok(PathBuf::from("/c/cat.png"));
        client(ClientEvent::TransferDone { id, outcome })
    }

    #[test]
    fn a_rejected_picture_message_fails_its_upload_with_the_reason() {
        let mut s = logged_in("alice");
        let message = ClientMsgId(42);
        let transfer = shared(&mut s, message);
        assert_eq!(s.media.transfers[&transfer].name, "cat.png");
        s.apply(uploaded(transfer));
        // Up, but not posted yet: still on its way.
        assert!(s.media.transfers.contains_key(&transfer));
        assert!(s.toasts.is_empty());
        let refusal = Refusal::InvalidMedia("no such blob".into());
        let rejected = ClientEvent::Rejected {
            client_id: message,
            reason: refusal.clone(),
        };
        s.apply(client(rejected));
        assert!(s.media.transfers.is_empty());
        let reason = refusal.to_string();
        let toast = s.toasts.get(0).expect("the failure is told");
        assert!(toast.error);
        assert_eq!(toast.text, format!("Could not send cat.png: {reason}"));
        assert!(!s.animating());
    }

    #[test]
    fn a_posted_picture_leaves_no_upload_behind_whatever_comes_first() {
        let mut s = logged_in("alice");
        let accepted = |client_id| {
            client(ClientEvent::Accepted {
                client_id,
                id: MessageId(1),
                sent_at: Timestamp(1),
            })
        };
        let transfer = shared(&mut s, ClientMsgId(7));
        s.apply(uploaded(transfer));
        s.apply(accepted(ClientMsgId(7)));
        assert!(s.media.transfers.is_empty());
        let transfer = shared(&mut s, ClientMsgId(8));
        s.apply(accepted(ClientMsgId(8)));
        s.apply(uploaded(transfer));
        assert!(s.media.transfers.is_empty() && s.toasts.is_empty());
    }

    #[test]
    fn a_received_file_toasts_and_open_downloads_then_opens() {
        let mut s = logged_in("alice");
        let file = |id, name: &str, hash| ChatMessage {
            content: Content::File(MediaRef {
                hash: BlobHash([hash; 32]),
                name: name.into(),
                size: 10,
            }),
            ..message(id, "bob", Recipient::Everyone, "")
        };
        // Files in the replay after login are old news: no toast.
        s.apply(client(ClientEvent::Message(file(1, "old.pdf", 2))));
        assert!(s.toasts.is_empty());
        s.apply(client(ClientEvent::CaughtUp { truncated: false }));
        s.apply(client(ClientEvent::Message(file(2, "report.pdf", 3))));
        let toast = s.toasts.get(0).expect("a toast");
        assert_eq!(toast.text, "bob sent report.pdf");
        let action = toast.action.clone().unwrap().1;
        let Some(Command::Fetch { media, kind }) = s.handle(action).pop() else {
            panic!("no download");
        };
        assert_eq!(kind, MediaKind::File);
        let id = TransferId(9);
        let fetching = NetEvent::Fetching {
            media: media.clone(),
            kind,
            outcome: Ok(id),
        };
        assert!(s.apply(fetching).is_empty());
        s.apply(client(ClientEvent::Progress(natter_client::Progress {
            id,
            name: "report.pdf".into(),
            upload: false,
            done: 5,
            total: 10,
            bytes_per_sec: 1,
        })));
        assert_eq!(s.media.transfers[&id].fraction(), 0.5);
        let path = PathBuf::from("/c/report.pdf");
        let done = ClientEvent::TransferDone {
            id,
            outcome: Ok(path.clone()),
        };
        assert_eq!(s.apply(client(done)), vec![Command::OpenPath(path.clone())]);
        assert_eq!(s.media.files[&media.hash], MediaSlot::Ready(path.clone()));
        // Once downloaded, the folder opens straight away.
        let folder = s.handle(Intent::ShowFolder(media));
        assert_eq!(folder, vec![Command::ShowInFolder(path)]);
        s.tick(100.0);
        assert!(s.toasts.is_empty());
    }

    #[test]
    fn messages_before_login_change_nothing() {
        let mut s = AppState::default();
        let m = message(1, "bob", Recipient::Everyone, "x");
        s.apply(client(ClientEvent::Message(m)));
        assert!(s.conversations.iter().next().is_none());
        let queued = NetEvent::Queued {
            conversation: Conversation::Group,
            content: Content::Text("x".into()),
            outcome: Ok(ClientMsgId(1)),
        };
        s.apply(queued);
        assert!(s.conversations.iter().next().is_none());
        assert_eq!(s.me, None::<UserName>);
    }

    #[test]
    fn a_page_that_fails_is_told() {
        let mut s = logged_in("alice");
        s.apply(NetEvent::History {
            conversation: Conversation::Group,
            outcome: Err("timed out".into()),
        });
        let text = &s.toasts.get(0).unwrap().text;
        assert_eq!(text, "Could not load older messages: timed out");
    }
}
