//! Everything the graphical client shows, as plain data: which screen is
//! up, who we are and how the link to the server is doing, who is online,
//! and one part per subject: [`login`](crate::app::login),
//! [`conversations`](crate::app::conversations) (with the delivery of our
//! own messages), the [`composer`](crate::app::composer), sharing
//! ([`share`](crate::app::share)), [`media`](crate::app::media) and its
//! transfers, and [`popups`](crate::app::popups) with the toasts.
//!
//! Two functions change it: [`AppState::apply`] (in `apply.rs`) for what
//! the network reports and [`AppState::handle`] (in `handle.rs`) for what
//! the user asks; each hands the event to the subject it is about, and answers with
//! commands for the network thread. Nothing here draws or blocks, so every
//! transition is unit-tested without a window.

mod apply;
mod handle;

use natter_common::{Content, Conversation, UserName};

use crate::app::truncate_for_display;

// The views import what they draw from here.
pub use crate::app::composer::Composer;
pub use crate::app::conversations::{
    ConversationLog, Conversations, Delivery, Entry, EntryKey, NEW_EMOJI_SECS,
};
pub use crate::app::intent::CacheTab;
pub use crate::app::login::{FormError, Hosting, Login, Screen, DEFAULT_SERVER};
pub use crate::app::media::{Media, MediaSlot, Transfer, TransferPurpose};
pub use crate::app::popups::{Overlay, Popups, Toasts};
pub use crate::app::share::ShareSheet;
pub use crate::app::text::TextBuffer;

/// How the link to the server is doing, for the status line and banner.
#[derive(Debug, Clone, PartialEq)]
pub enum Connection {
    Offline,
    Online,
    /// Lost; the library retries by itself and queues what is sent. The
    /// next try is at `retry_at` on the state clock.
    Reconnecting {
        reason: String,
        retry_at: f64,
    },
    /// Ended for good (logged out elsewhere, account refused...).
    Closed(String),
}

/// The whole client, as data.
#[derive(Debug, Clone)]
pub struct AppState {
    pub screen: Screen,
    pub login: Login,

    pub me: Option<UserName>,
    /// The server we are logged in to, as typed.
    pub server: String,
    pub connection: Connection,
    pub online: Vec<UserName>,
    pub conversations: Conversations,
    pub selected: Conversation,
    pub composer: Composer,
    pub share_sheet: Option<ShareSheet>,
    pub media: Media,
    pub popups: Popups,
    pub toasts: Toasts,
    /// Seconds, as the frame loop's clock tells it.
    pub now: f64,
    /// Bumped on any visible change, so the frame loop can tell idle frames.
    pub revision: u64,
    /// Bumped when we send something: the view jumps to the newest message.
    pub sent_count: u64,
    /// The replay after login is over: what arrives now is news (worth a
    /// toast).
    pub caught_up: bool,
}

impl Default for AppState {
    fn default() -> Self {
        Self::new(DEFAULT_SERVER, "", "")
    }
}

impl AppState {
    /// A fresh client on the login screen, the form prefilled.
    pub fn new(server: &str, name: &str, password: &str) -> Self {
        Self {
            screen: Screen::Login,
            login: Login::new(server, name, password),
            me: None,
            server: String::new(),
            connection: Connection::Offline,
            online: Vec::new(),
            conversations: Conversations::default(),
            selected: Conversation::Group,
            composer: Composer::default(),
            share_sheet: None,
            media: Media::default(),
            popups: Popups::default(),
            toasts: Toasts::default(),
            now: 0.0,
            revision: 0,
            sent_count: 0,
            caught_up: false,
        }
    }

    /// The selected conversation's log (empty if none yet).
    pub fn current_log(&self) -> Option<&ConversationLog> {
        self.conversations.get(&self.selected)
    }

    /// `me → them` for the header, like the student project's window title.
    pub fn title(&self) -> String {
        let me = self.me.as_ref().map_or("natter", |m| m.as_str());
        let me = truncate_for_display(me, 24);
        match &self.selected {
            Conversation::Group => format!("natter — {me} → Group chat"),
            Conversation::With(u) => {
                format!("natter — {me} → {}", truncate_for_display(u.as_str(), 24))
            }
        }
    }

    /// Whether `name` is this user.
    pub fn is_me(&self, name: &UserName) -> bool {
        self.me.as_ref().is_some_and(|m| m.same_account(name))
    }

    /// The people list: the group, everyone online but us, then offline
    /// peers we have a private conversation with.
    pub fn people(&self) -> Vec<(Conversation, bool)> {
        let mut list = vec![(Conversation::Group, true)];
        for user in &self.online {
            if !self.is_me(user) {
                list.push((Conversation::With(user.clone()), true));
            }
        }
        for (c, _) in self.conversations.iter() {
            if let Conversation::With(user) = c {
                let online = self.online.iter().any(|u| u.same_account(user));
                if !online && !self.is_me(user) {
                    list.push((c.clone(), false));
                }
            }
        }
        list
    }

    /// Whether something moves on screen, so frames must come fast.
    pub fn animating(&self) -> bool {
        let fresh_emoji = self.current_log().is_some_and(|log| {
            log.entries.iter().rev().take(8).any(|e| {
                matches!(e.content, Content::Emoji(_)) && self.now - e.arrived_at < NEW_EMOJI_SECS
            })
        });
        self.composer.emoji_panel.moving() || fresh_emoji || self.media.busy() || self.login.busy()
    }

    /// When (on the frame loop's clock) the screen changes by itself next:
    /// the moment the oldest toast goes. An idle window sleeps until then.
    pub fn next_change(&self) -> Option<f64> {
        self.toasts.next_expiry()
    }

    /// Advances the clock: animations and toast expiry.
    pub fn tick(&mut self, now: f64) {
        let dt = (now - self.now).max(0.0);
        self.now = now;
        self.composer.tick(dt);
        if self.toasts.expire(now) {
            self.revision += 1;
        }
    }

    /// Back to the login form after a logout: only the form's server and
    /// name, the hosted server and the clock stay.
    fn reset_to_login(&mut self) {
        let login = self.login.after_logout();
        *self = Self {
            login,
            now: self.now,
            revision: self.revision + 1,
            ..Self::default()
        };
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::app::conversations::tests::{message, name};
    use crate::app::intent::Intent;
    use crate::app::link::{Command, NetEvent};
    use natter_client::ClientEvent;
    use natter_common::{ChatMessage, EmojiId, Recipient};

    /// A state logged in as `me`, its first history page asked for.
    pub(crate) fn logged_in(me: &str) -> AppState {
        let mut s = AppState::new(DEFAULT_SERVER, me, "secret-password");
        let commands = s.handle(Intent::Login);
        assert!(matches!(commands.as_slice(), [Command::Login(_)]));
        let commands = s.apply(NetEvent::LoggedIn {
            me: name(me),
            server: DEFAULT_SERVER.into(),
            max_text_chars: 4000,
        });
        assert!(matches!(commands.as_slice(), [Command::History { .. }]));
        s
    }

    /// What the library reports, as the network thread passes it on.
    pub(crate) fn client(event: ClientEvent) -> NetEvent {
        NetEvent::Client(event)
    }

    #[test]
    fn login_goes_to_the_chat_room_and_clears_the_password() {
        let s = logged_in("alice");
        assert_eq!(s.screen, Screen::Chat);
        assert!(s.login.form.password.text.is_empty());
        assert_eq!(s.title(), "natter — alice → Group chat");
    }

    #[test]
    fn presence_follows_joins_and_leaves() {
        let mut s = logged_in("alice");
        s.apply(client(ClientEvent::Online(vec![
            name("alice"),
            name("carol"),
        ])));
        s.apply(client(ClientEvent::Joined(name("bob"))));
        s.apply(client(ClientEvent::Joined(name("BOB"))));
        assert_eq!(s.online, [name("alice"), name("bob"), name("carol")]);
        s.apply(client(ClientEvent::Left(name("carol"))));
        let people: Vec<_> = s.people().into_iter().map(|(c, _)| c).collect();
        assert_eq!(
            people,
            [Conversation::Group, Conversation::With(name("bob"))]
        );
    }

    #[test]
    fn the_window_animates_only_while_something_moves() {
        let mut s = logged_in("alice");
        s.tick(10.0);
        s.handle(Intent::ToggleEmojiPanel);
        assert!(s.animating());
        s.tick(10.5);
        assert!(!s.animating());
        let emoji = ChatMessage {
            content: Content::Emoji(EmojiId(3)),
            ..message(1, "bob", Recipient::Everyone, "")
        };
        s.apply(client(ClientEvent::Message(emoji)));
        assert!(s.animating());
        s.tick(10.5 + NEW_EMOJI_SECS);
        assert!(!s.animating());
    }

    #[test]
    fn logging_out_returns_to_the_form_keeping_server_and_name() {
        let mut s = logged_in("alice");
        let m = message(1, "bob", Recipient::Everyone, "x");
        s.apply(client(ClientEvent::Message(m)));
        assert_eq!(s.handle(Intent::Logout), vec![Command::Logout]);
        s.apply(NetEvent::LoggedOut);
        assert_eq!(s.screen, Screen::Login);
        assert_eq!(s.login.form.name.text, "alice");
        assert!(s.conversations.iter().next().is_none());
    }
}
