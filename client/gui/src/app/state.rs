//! Everything the graphical client shows, as plain data: the screen, the
//! login form, conversations with their messages and unread counts, who is
//! online, the composer, the emoji panel, transfers, toasts and the
//! connection status.
//!
//! Two functions change it: [`AppState::apply`] for what the network
//! reports and [`AppState::handle`] for what the user asks; the second
//! answers with [`Command`]s for the network thread. Nothing here draws or
//! blocks, so every transition is unit-tested below without a window.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use chrono::{Datelike, TimeZone};
use natter_common::limits::{MAX_TEXT_CHARS, MIN_PASSWORD_CHARS};
use natter_common::{
    BlobHash, ChatMessage, ClientMsgId, Content, Conversation, EmojiId, Fingerprint, MediaKind,
    MediaRef, MessageId, Recipient, Refusal, Timestamp, UserName,
};

use crate::app::intent::{Edit, Field, Intent};
use crate::app::net::{CachedEntry, Command, LoginAttempt, NetEvent};
use natter_client::ClientError;

pub use crate::app::text::TextBuffer;

/// The address the login form starts with, and where "Host a server here"
/// listens.
pub const DEFAULT_SERVER: &str = "127.0.0.1:4433";
/// Port of the embedded server.
pub const HOST_PORT: u16 = 4433;
/// How long the emoji panel takes to open or close, in seconds.
pub const PANEL_ANIMATION_SECS: f64 = 0.15;
/// How long a toast stays up, in seconds.
pub const TOAST_SECS: f64 = 8.0;
pub use natter_client::HISTORY_PAGE;
/// Seconds a newly arrived emoji keeps bouncing at full frame rate.
pub const NEW_EMOJI_SECS: f64 = 2.0;

/// Which full screen is up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Login,
    Register,
    Chat,
}

/// A local handle for one transfer, chosen by the state so a command and
/// the events about it can be matched before the library answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ticket(pub u64);

/// A local handle for one message this client sends, until the server
/// gives it an id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LocalId(pub u64);

/// The login and account creation form.
#[derive(Debug, Clone, Default)]
pub struct LoginForm {
    pub server: TextBuffer,
    pub name: TextBuffer,
    pub password: TextBuffer,
    pub confirm: TextBuffer,
    pub focus: Option<Field>,
    /// A login or registration is on its way.
    pub busy: bool,
    pub error: Option<FormError>,
    /// Nothing answered at a local address: offer to host a server here.
    pub offer_host: bool,
}

/// Why the form could not log in, worded for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormError {
    /// A plain sentence shown under the form.
    Message(String),
    /// Not an error: what to do next (shown calmer).
    Hint(String),
    /// The server's certificate is not the one recorded: shown loud, never
    /// accepted silently.
    CertificateChanged {
        server: String,
        known: Fingerprint,
        presented: Fingerprint,
    },
}

/// A server seen for the first time: its fingerprint waits for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustPrompt {
    pub server: String,
    pub fingerprint: Fingerprint,
}

/// The server this process runs for others, once started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hosting {
    /// Addresses others can type to join (LAN address first).
    pub join_addresses: Vec<String>,
    pub fingerprint: Fingerprint,
}

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

/// One message as the conversation view shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The server's id; `None` until the server accepts our own message.
    pub id: Option<MessageId>,
    /// Our handle for a message sent from this window.
    pub local: Option<LocalId>,
    pub client_id: Option<ClientMsgId>,
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
    Local(LocalId),
}

impl Entry {
    pub fn key(&self) -> EntryKey {
        match (self.id, self.local) {
            (Some(id), _) => EntryKey::Stored(id),
            (None, Some(local)) => EntryKey::Local(local),
            (None, None) => EntryKey::Local(LocalId(u64::MAX)),
        }
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
}

/// Where a picture's or file's bytes are on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaSlot {
    Fetching(Ticket),
    Ready(PathBuf),
    Failed(String),
}

/// What to do with a file once it is downloaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFetch {
    Nothing,
    Open,
    ShowFolder,
}

/// Why a transfer runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferPurpose {
    /// Sharing a local file into a conversation.
    Upload {
        conversation: Conversation,
        picture: bool,
    },
    /// Downloading a blob into the cache.
    Download {
        hash: BlobHash,
        kind: MediaKind,
        then: AfterFetch,
    },
}

/// One upload or download, with its progress.
#[derive(Debug, Clone, PartialEq)]
pub struct Transfer {
    pub ticket: Ticket,
    pub name: String,
    pub purpose: TransferPurpose,
    pub done: u64,
    pub total: u64,
    pub bytes_per_sec: f64,
}

impl Transfer {
    /// 0..=1, or 0 while the size is unknown.
    pub fn fraction(&self) -> f32 {
        if self.total == 0 {
            0.0
        } else {
            (self.done as f64 / self.total as f64).clamp(0.0, 1.0) as f32
        }
    }
}

/// A short note in a corner that goes away by itself; it may carry one
/// action button.
#[derive(Debug, Clone, PartialEq)]
pub struct Toast {
    pub id: u64,
    pub text: String,
    pub action: Option<(String, Intent)>,
    pub shown_at: f64,
    pub error: bool,
}

/// The emoji picker: open or not, and how far its opening animation got.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EmojiPanel {
    pub open: bool,
    /// 0 = closed, 1 = fully open; moves towards `open` over
    /// [`PANEL_ANIMATION_SECS`].
    pub progress: f32,
}

/// The sheet that asks which picture or file to share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareSheet {
    pub picture: bool,
    pub path: TextBuffer,
    /// The system dialog is open on a worker thread.
    pub dialog_open: bool,
    /// The system dialog answered at once with nothing: there is none.
    pub no_dialog: bool,
    pub error: Option<String>,
}

/// Which half of the cache browser is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheTab {
    Pictures,
    Files,
}

/// What covers the chat room, if anything.
#[derive(Debug, Clone, PartialEq)]
pub enum Overlay {
    /// A picture shown large.
    Picture { media: MediaRef },
    /// Cached pictures and files; `None` while the listing is read.
    CacheBrowser {
        tab: CacheTab,
        pictures: Option<Vec<CachedEntry>>,
        files: Option<Vec<CachedEntry>>,
    },
}

/// The whole client, as data.
#[derive(Debug, Clone)]
pub struct AppState {
    pub screen: Screen,
    pub form: LoginForm,
    pub trust_prompt: Option<TrustPrompt>,
    pub hosting: Option<Hosting>,
    pub host_starting: bool,
    /// The login waiting for the prompt or the embedded server.
    pub pending_attempt: Option<LoginAttempt>,

    pub me: Option<UserName>,
    /// The server we are logged in to, as typed.
    pub server: String,
    pub connection: Connection,
    pub online: Vec<UserName>,
    pub conversations: BTreeMap<Conversation, ConversationLog>,
    pub selected: Conversation,
    pub composer: TextBuffer,
    pub composer_focused: bool,
    pub max_text_chars: usize,
    pub emoji_panel: EmojiPanel,
    pub share_sheet: Option<ShareSheet>,
    pub transfers: BTreeMap<Ticket, Transfer>,
    pub pictures: HashMap<BlobHash, MediaSlot>,
    pub files: HashMap<BlobHash, MediaSlot>,
    pub toasts: Vec<Toast>,
    pub menu_open: bool,
    pub overlay: Option<Overlay>,
    /// A cached picture shown large over the cache browser.
    pub viewing_cached: Option<PathBuf>,
    /// Seconds, as the frame loop's clock tells it.
    pub now: f64,
    /// Bumped on any visible change, so the frame loop can tell idle frames.
    pub revision: u64,
    /// Bumped when we send something: the view jumps to the newest message.
    pub sent_count: u64,
    /// The replay after login is over: what arrives now is news (worth a
    /// toast).
    pub caught_up: bool,

    next_local: u64,
    next_ticket: u64,
    next_toast: u64,
    /// Our queued messages, by the library's id, with their conversation.
    sent: HashMap<ClientMsgId, Conversation>,
    /// Our messages sent but not yet queued by the library.
    queued: HashMap<LocalId, Conversation>,
}

impl Default for AppState {
    fn default() -> Self {
        Self::new(DEFAULT_SERVER, "", "")
    }
}

impl AppState {
    /// A fresh client on the login screen, the form prefilled.
    pub fn new(server: &str, name: &str, password: &str) -> Self {
        let form = LoginForm {
            server: TextBuffer::new(server),
            name: TextBuffer::new(name),
            password: TextBuffer::new(password),
            focus: Some(if name.is_empty() {
                Field::Name
            } else {
                Field::Password
            }),
            ..LoginForm::default()
        };
        Self {
            screen: Screen::Login,
            form,
            trust_prompt: None,
            hosting: None,
            host_starting: false,
            pending_attempt: None,
            me: None,
            server: String::new(),
            connection: Connection::Offline,
            online: Vec::new(),
            conversations: BTreeMap::new(),
            selected: Conversation::Group,
            composer: TextBuffer::default(),
            composer_focused: true,
            max_text_chars: MAX_TEXT_CHARS,
            emoji_panel: EmojiPanel {
                open: false,
                progress: 0.0,
            },
            share_sheet: None,
            transfers: BTreeMap::new(),
            pictures: HashMap::new(),
            files: HashMap::new(),
            toasts: Vec::new(),
            menu_open: false,
            overlay: None,
            viewing_cached: None,
            now: 0.0,
            revision: 0,
            sent_count: 0,
            caught_up: false,
            next_local: 1,
            next_ticket: 1,
            next_toast: 1,
            sent: HashMap::new(),
            queued: HashMap::new(),
        }
    }

    /// The selected conversation's log (empty if none yet).
    pub fn current_log(&self) -> Option<&ConversationLog> {
        self.conversations.get(&self.selected)
    }

    /// `me → them` for the header, like the student project's window title.
    pub fn title(&self) -> String {
        let me = self.me.as_ref().map_or("natter", |m| m.as_str());
        let me = super::truncate_for_display(me, 24);
        match &self.selected {
            Conversation::Group => format!("natter — {me} → Group chat"),
            Conversation::With(u) => {
                format!(
                    "natter — {me} → {}",
                    super::truncate_for_display(u.as_str(), 24)
                )
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
        for c in self.conversations.keys() {
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
        let target = if self.emoji_panel.open { 1.0 } else { 0.0 };
        let panel = (self.emoji_panel.progress - target).abs() > f32::EPSILON;
        let fresh_emoji = self.current_log().is_some_and(|log| {
            log.entries.iter().rev().take(8).any(|e| {
                matches!(e.content, Content::Emoji(_)) && self.now - e.arrived_at < NEW_EMOJI_SECS
            })
        });
        panel || fresh_emoji || !self.transfers.is_empty() || self.form.busy || self.host_starting
    }

    /// When (on the frame loop's clock) the screen changes by itself next:
    /// the moment the oldest toast goes. An idle window sleeps until then.
    pub fn next_change(&self) -> Option<f64> {
        self.toasts
            .iter()
            .map(|t| t.shown_at + TOAST_SECS)
            .min_by(f64::total_cmp)
    }

    /// Advances the clock: animations and toast expiry.
    pub fn tick(&mut self, now: f64) {
        let dt = (now - self.now).max(0.0);
        self.now = now;
        let target = if self.emoji_panel.open { 1.0 } else { 0.0 };
        let step = (dt / PANEL_ANIMATION_SECS) as f32;
        let p = &mut self.emoji_panel.progress;
        if *p < target {
            *p = (*p + step).min(target);
        } else if *p > target {
            *p = (*p - step).max(target);
        }
        let before = self.toasts.len();
        self.toasts.retain(|t| now - t.shown_at < TOAST_SECS);
        if self.toasts.len() != before {
            self.revision += 1;
        }
    }

    fn toast(&mut self, text: String, action: Option<(String, Intent)>, error: bool) {
        // The same notice again (several messages slowed down at once)
        // refreshes the one on screen instead of stacking copies.
        if action.is_none() {
            if let Some(same) = self
                .toasts
                .iter_mut()
                .find(|t| t.action.is_none() && t.error == error && t.text == text)
            {
                same.shown_at = self.now;
                return;
            }
        }
        let id = self.next_toast;
        self.next_toast += 1;
        self.toasts.push(Toast {
            id,
            text,
            action,
            shown_at: self.now,
            error,
        });
        if self.toasts.len() > 4 {
            self.toasts.remove(0);
        }
    }

    fn ticket(&mut self) -> Ticket {
        let t = Ticket(self.next_ticket);
        self.next_ticket += 1;
        t
    }

    fn log_mut(&mut self, c: &Conversation) -> &mut ConversationLog {
        self.conversations.entry(c.clone()).or_default()
    }

    fn entry_from(&self, m: ChatMessage, arrived_at: f64) -> Entry {
        let (day, time_label) = local_day_and_time(m.sent_at);
        Entry {
            id: Some(m.id),
            local: None,
            client_id: None,
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

    // ---- what the network reports ------------------------------------

    /// Folds one report of the network thread into the state.
    pub fn apply(&mut self, event: NetEvent) -> Vec<Command> {
        self.revision += 1;
        let mut commands = Vec::new();
        match event {
            NetEvent::LoggedIn {
                me,
                server,
                max_text_chars,
            } => {
                self.form.busy = false;
                self.form.error = None;
                self.form.offer_host = false;
                self.form.password.edit(&Edit::Clear, 0);
                self.form.confirm.edit(&Edit::Clear, 0);
                self.pending_attempt = None;
                self.trust_prompt = None;
                self.me = Some(me);
                self.server = server;
                self.max_text_chars = (max_text_chars as usize).clamp(1, MAX_TEXT_CHARS);
                self.screen = Screen::Chat;
                self.connection = Connection::Online;
                self.selected = Conversation::Group;
                self.composer_focused = true;
                commands.extend(self.request_history_once(&Conversation::Group));
            }
            NetEvent::LoginFailed(error) => {
                self.form.busy = false;
                self.login_failed(error);
            }
            NetEvent::Hosting {
                join_addresses,
                fingerprint,
            } => {
                self.host_starting = false;
                self.form.offer_host = false;
                self.form.error = None;
                self.hosting = Some(Hosting {
                    join_addresses,
                    fingerprint,
                });
                self.form.server = TextBuffer::new(DEFAULT_SERVER);
                if let Some(mut attempt) = self.pending_attempt.take() {
                    attempt.server = DEFAULT_SERVER.to_owned();
                    attempt.pinned = Some(fingerprint);
                    attempt.accept_first_use = true;
                    self.form.busy = true;
                    self.pending_attempt = Some(attempt.clone());
                    commands.push(Command::Login(attempt));
                }
            }
            NetEvent::HostFailed(reason) => {
                self.host_starting = false;
                self.form.busy = false;
                self.form.error = Some(FormError::Message(format!(
                    "Could not start a server here: {reason}"
                )));
            }
            NetEvent::Connected { .. } => self.connection = Connection::Online,
            NetEvent::Online(users) => {
                self.online = users;
                self.online.sort();
                self.online.dedup_by(|a, b| a.same_account(b));
            }
            NetEvent::Joined(user) => {
                if !self.online.iter().any(|u| u.same_account(&user)) {
                    self.online.push(user);
                    self.online.sort();
                }
            }
            NetEvent::Left(user) => self.online.retain(|u| !u.same_account(&user)),
            NetEvent::Message(m) => self.receive(m),
            NetEvent::CaughtUp { truncated } => {
                self.caught_up = true;
                if truncated {
                    for log in self.conversations.values_mut() {
                        log.more_before = true;
                    }
                }
            }
            NetEvent::Queued { local, client_id } => {
                if let Some(c) = self.queued.remove(&local) {
                    self.sent.insert(client_id, c.clone());
                    if let Some(e) = self.conversations.get_mut(&c).and_then(|log| {
                        log.entries
                            .iter_mut()
                            .rev()
                            .find(|e| e.local == Some(local))
                    }) {
                        e.client_id = Some(client_id);
                    }
                }
            }
            NetEvent::SendFailed { local, reason } => {
                if let Some(c) = self.queued.remove(&local) {
                    let log = self.log_mut(&c);
                    if let Some(e) = log
                        .entries
                        .iter_mut()
                        .rev()
                        .find(|e| e.local == Some(local))
                    {
                        e.delivery = Delivery::Failed(reason);
                        log.revision += 1;
                    }
                }
            }
            NetEvent::Accepted {
                client_id,
                id,
                sent_at,
            } => self.accepted(client_id, id, sent_at),
            NetEvent::Rejected { client_id, reason } => {
                if let Some(c) = self.sent.remove(&client_id) {
                    let log = self.log_mut(&c);
                    if let Some(e) = log
                        .entries
                        .iter_mut()
                        .rev()
                        .find(|e| e.client_id == Some(client_id))
                    {
                        e.delivery = Delivery::Failed(reason);
                        log.revision += 1;
                    }
                }
            }
            NetEvent::Throttled {
                client_id,
                retry_in_secs,
            } => self.throttled(client_id, retry_in_secs),
            NetEvent::Disconnected {
                reason,
                retry_in_secs,
            } => {
                let retry_at = self.now + retry_in_secs;
                self.connection = Connection::Reconnecting { reason, retry_at };
            }
            NetEvent::Closed { reason } => self.connection = Connection::Closed(reason),
            NetEvent::History {
                conversation,
                messages,
                more,
            } => {
                let entries: Vec<Entry> = messages
                    .into_iter()
                    .map(|m| self.entry_from(m, f64::NEG_INFINITY))
                    .collect();
                let log = self.log_mut(&conversation);
                log.loading_older = false;
                log.more_before = more;
                for e in entries {
                    log.insert_stored(e);
                }
                log.revision += 1;
            }
            NetEvent::HistoryFailed {
                conversation,
                reason,
            } => {
                self.log_mut(&conversation).loading_older = false;
                self.toast(
                    format!("Could not load older messages: {reason}"),
                    None,
                    true,
                );
            }
            NetEvent::Progress {
                ticket,
                done,
                total,
                bytes_per_sec,
            } => {
                if let Some(t) = self.transfers.get_mut(&ticket) {
                    t.done = done;
                    t.total = total;
                    t.bytes_per_sec = bytes_per_sec;
                }
            }
            NetEvent::TransferDone { ticket, outcome } => {
                commands.extend(self.transfer_done(ticket, outcome));
            }
            NetEvent::CacheListing { pictures, files } => {
                if let Some(Overlay::CacheBrowser {
                    pictures: p,
                    files: f,
                    ..
                }) = &mut self.overlay
                {
                    *p = Some(pictures);
                    *f = Some(files);
                }
            }
            NetEvent::LoggedOut => self.reset_to_login(None),
            NetEvent::Notice(text) => self.toast(text, None, true),
        }
        commands
    }

    fn login_failed(&mut self, error: ClientError) {
        let attempt = self.pending_attempt.clone();
        let message = |s: String| Some(FormError::Message(s));
        self.form.error = match error {
            ClientError::UnknownServer {
                server,
                fingerprint,
            } => {
                self.trust_prompt = Some(TrustPrompt {
                    server,
                    fingerprint,
                });
                None
            }
            ClientError::CertificateChanged {
                server,
                known,
                presented,
            } => Some(FormError::CertificateChanged {
                server,
                known,
                presented,
            }),
            ClientError::FingerprintMismatch {
                server,
                expected,
                presented,
            } => Some(FormError::CertificateChanged {
                server,
                known: expected,
                presented,
            }),
            ClientError::Unreachable { server, reason } => {
                let local = attempt
                    .as_ref()
                    .is_some_and(|a| is_local_address(&a.server));
                self.form.offer_host = local && self.hosting.is_none();
                message(format!("Nothing answers at {server} ({reason})."))
            }
            ClientError::Refused(Refusal::UnknownUser(name)) => {
                let name = super::truncate_for_display(&name, 32);
                let ours = self.hosting.is_some()
                    && attempt
                        .as_ref()
                        .is_some_and(|a| is_local_address(&a.server));
                if ours {
                    // Our own new server: creating the account is the next step.
                    self.screen = Screen::Register;
                    self.form.focus = Some(Field::Confirm);
                    Some(FormError::Hint(format!(
                        "This server is new: type the password again to create the account \"{name}\"."
                    )))
                } else {
                    message(format!(
                        "No account is called \"{name}\" on this server. Create it with \"Create one\" above."
                    ))
                }
            }
            ClientError::Refused(Refusal::WrongPassword) => message("Wrong password.".to_owned()),
            ClientError::Refused(Refusal::NameTaken(name)) => message(format!(
                "The name \"{}\" is taken: choose another.",
                super::truncate_for_display(&name, 32)
            )),
            ClientError::PasswordMismatch => message("The passwords do not match.".to_owned()),
            other => message(capitalise(&other.to_string())),
        };
        if self.trust_prompt.is_none() {
            self.pending_attempt = None;
        }
    }

    fn receive(&mut self, m: ChatMessage) {
        let Some(me) = self.me.clone() else { return };
        let conversation = m.conversation_for(&me);
        let from_me = m.from.same_account(&me);
        let toast = match (&m.content, from_me) {
            (Content::File(media), false) if self.caught_up => {
                Some((m.from.clone(), media.clone()))
            }
            _ => None,
        };
        let entry = self.entry_from(m, self.now);
        let selected = self.selected == conversation && self.screen == Screen::Chat;
        let log = self.log_mut(&conversation);
        if log.insert_stored(entry) && !from_me {
            if !selected {
                log.unread = log.unread.saturating_add(1);
            }
            if let Some((from, media)) = toast {
                let text = format!(
                    "{} sent {}",
                    super::truncate_for_display(from.as_str(), 24),
                    super::truncate_for_display(&media.name, 40)
                );
                self.toast(
                    text,
                    Some(("Open".to_owned(), Intent::OpenFile(media))),
                    false,
                );
            }
        }
    }

    fn accepted(&mut self, client_id: ClientMsgId, id: MessageId, sent_at: Timestamp) {
        let Some(c) = self.sent.remove(&client_id) else {
            return;
        };
        let (day, time_label) = local_day_and_time(sent_at);
        let log = self.log_mut(&c);
        let Some(at) = log
            .entries
            .iter()
            .position(|e| e.client_id == Some(client_id))
        else {
            return;
        };
        let mut entry = log.entries.remove(at);
        log.revision += 1;
        if log.contains(id) {
            return; // the echo of the message arrived first
        }
        entry.id = Some(id);
        entry.sent_at = sent_at;
        entry.day = day;
        entry.time_label = time_label;
        entry.delivery = Delivery::Delivered;
        log.insert_stored(entry);
    }

    fn transfer_done(&mut self, ticket: Ticket, outcome: Result<PathBuf, String>) -> Vec<Command> {
        let Some(transfer) = self.transfers.remove(&ticket) else {
            return Vec::new();
        };
        match (transfer.purpose, outcome) {
            (TransferPurpose::Upload { .. }, Ok(_)) => Vec::new(),
            (TransferPurpose::Upload { .. }, Err(reason)) => {
                self.toast(
                    format!("Could not send {}: {reason}", transfer.name),
                    None,
                    true,
                );
                Vec::new()
            }
            (TransferPurpose::Download { hash, kind, then }, outcome) => {
                let slots = match kind {
                    MediaKind::Photo => &mut self.pictures,
                    MediaKind::File => &mut self.files,
                };
                match outcome {
                    Ok(path) => {
                        slots.insert(hash, MediaSlot::Ready(path.clone()));
                        match then {
                            AfterFetch::Nothing => Vec::new(),
                            AfterFetch::Open => vec![Command::OpenPath(path)],
                            AfterFetch::ShowFolder => vec![Command::ShowInFolder(path)],
                        }
                    }
                    Err(reason) => {
                        slots.insert(hash, MediaSlot::Failed(reason.clone()));
                        if kind == MediaKind::File {
                            self.toast(
                                format!("Could not download {}: {reason}", transfer.name),
                                None,
                                true,
                            );
                        }
                        Vec::new()
                    }
                }
            }
        }
    }

    fn reset_to_login(&mut self, error: Option<FormError>) {
        let form = LoginForm {
            server: self.form.server.clone(),
            name: self.form.name.clone(),
            focus: Some(Field::Password),
            error,
            ..LoginForm::default()
        };
        let hosting = self.hosting.take();
        let now = self.now;
        *self = Self {
            form,
            hosting,
            now,
            revision: self.revision + 1,
            ..Self::default()
        };
    }

    /// A message of ours waits because the server said "not now": it stays
    /// pending (the library resends it) and a notice says for how long.
    fn throttled(&mut self, client_id: ClientMsgId, retry_in_secs: f64) {
        let Some(c) = self.sent.get(&client_id).cloned() else {
            return;
        };
        let secs = retry_in_secs.ceil().max(1.0);
        self.toast(
            format!("Sending slowed down: retrying in {secs} s"),
            None,
            false,
        );
        self.log_mut(&c).revision += 1;
    }

    fn request_history_once(&mut self, c: &Conversation) -> Option<Command> {
        let log = self.log_mut(c);
        if log.history_requested {
            return None;
        }
        log.history_requested = true;
        log.loading_older = true;
        let before = log.oldest_id();
        Some(Command::History {
            conversation: c.clone(),
            before,
            limit: HISTORY_PAGE,
        })
    }

    // ---- what the user asks -----------------------------------------

    /// Carries out one intent; returns what the network thread (or the
    /// frame loop, for dialogs) must do.
    pub fn handle(&mut self, intent: Intent) -> Vec<Command> {
        self.revision += 1;
        match intent {
            Intent::Focus(field) => {
                if field == Field::Composer {
                    self.composer_focused = true;
                } else if field == Field::SharePath {
                    self.composer_focused = false;
                } else {
                    self.form.focus = Some(field);
                }
            }
            Intent::Edit { field, edit } => self.edit(field, &edit),
            Intent::ShowRegister => {
                self.screen = Screen::Register;
                self.form.error = None;
                self.form.focus = Some(if self.form.name.text.is_empty() {
                    Field::Name
                } else if self.form.password.text.is_empty() {
                    Field::Password
                } else {
                    Field::Confirm
                });
            }
            Intent::ShowLogin => {
                self.screen = Screen::Login;
                self.form.error = None;
            }
            Intent::Login => return self.submit(false),
            Intent::Register => return self.submit(true),
            Intent::AcceptFingerprint => {
                if let (Some(prompt), Some(mut attempt)) =
                    (self.trust_prompt.take(), self.pending_attempt.clone())
                {
                    attempt.pinned = Some(prompt.fingerprint);
                    attempt.accept_first_use = true;
                    self.form.busy = true;
                    return vec![Command::Login(attempt)];
                }
            }
            Intent::RejectFingerprint => {
                self.trust_prompt = None;
                self.pending_attempt = None;
            }
            Intent::HostLocally => {
                if self.hosting.is_none() && !self.host_starting {
                    self.host_starting = true;
                    self.form.offer_host = false;
                    self.form.error = None;
                    if self.pending_attempt.is_none() {
                        self.pending_attempt = self.attempt(self.screen == Screen::Register).ok();
                    }
                    let listen = SocketAddr::from(([0, 0, 0, 0], HOST_PORT));
                    return vec![Command::Host { listen }];
                }
            }
            Intent::BackToLogin => self.reset_to_login(None),
            Intent::SelectConversation(c) => {
                self.selected = c.clone();
                self.menu_open = false;
                self.composer_focused = true;
                self.log_mut(&c).unread = 0;
                return self.request_history_once(&c).into_iter().collect();
            }
            Intent::SendText => {
                let text = self
                    .composer
                    .text
                    .trim_end()
                    .trim_start_matches('\n')
                    .to_owned();
                if text.trim().is_empty() {
                    return Vec::new();
                }
                self.composer.edit(&Edit::Clear, 0);
                return self.send(Content::Text(text));
            }
            Intent::SendEmoji(id) => {
                self.emoji_panel.open = false;
                return self.send(Content::Emoji(id));
            }
            Intent::ToggleEmojiPanel => self.emoji_panel.open = !self.emoji_panel.open,
            Intent::PickFile { picture } => {
                self.emoji_panel.open = false;
                self.share_sheet = Some(ShareSheet {
                    picture,
                    path: TextBuffer::default(),
                    dialog_open: true,
                    no_dialog: false,
                    error: None,
                });
                self.composer_focused = false;
                return vec![Command::OpenFileDialog { picture }];
            }
            Intent::FilePicked {
                path,
                picture,
                quick,
            } => match path {
                Some(path) => {
                    self.share_sheet = None;
                    self.composer_focused = true;
                    return self.share(path, picture);
                }
                None => {
                    if let Some(sheet) = &mut self.share_sheet {
                        sheet.dialog_open = false;
                        sheet.no_dialog = quick;
                    }
                }
            },
            Intent::ShareTypedPath => {
                if let Some(sheet) = &self.share_sheet {
                    let typed = sheet.path.text.trim().to_owned();
                    if typed.is_empty() {
                        return Vec::new();
                    }
                    let path = expand_home(&typed);
                    let picture = sheet.picture;
                    self.share_sheet = None;
                    self.composer_focused = true;
                    return self.share(path, picture);
                }
            }
            Intent::ShareDropped(path) => {
                if self.screen == Screen::Chat {
                    let picture = looks_like_picture(&path);
                    return self.share(path, picture);
                }
            }
            Intent::CloseShareSheet => {
                self.share_sheet = None;
                self.composer_focused = true;
            }
            Intent::CancelTransfer(ticket) => {
                if let Some(t) = self.transfers.remove(&ticket) {
                    if let TransferPurpose::Download { hash, kind, .. } = t.purpose {
                        match kind {
                            MediaKind::Photo => self.pictures.remove(&hash),
                            MediaKind::File => self.files.remove(&hash),
                        };
                    }
                    return vec![Command::Cancel(ticket)];
                }
            }
            Intent::FetchMedia { media, kind } => {
                return self
                    .fetch(media, kind, AfterFetch::Nothing)
                    .into_iter()
                    .collect();
            }
            Intent::OpenFile(media) => return self.file_action(media, AfterFetch::Open),
            Intent::ShowFolder(media) => return self.file_action(media, AfterFetch::ShowFolder),
            Intent::OpenPath(path) => return vec![Command::OpenPath(path)],
            Intent::ShowPathInFolder(path) => return vec![Command::ShowInFolder(path)],
            Intent::ViewPicture { media } => {
                self.overlay = Some(Overlay::Picture { media });
                self.menu_open = false;
            }
            Intent::ViewCachedPicture(path) => self.viewing_cached = Some(path),
            Intent::CloseOverlay => {
                if self.viewing_cached.take().is_none() {
                    self.overlay = None;
                }
                self.menu_open = false;
            }
            Intent::ToggleMenu => self.menu_open = !self.menu_open,
            Intent::OpenCacheBrowser => {
                self.menu_open = false;
                self.overlay = Some(Overlay::CacheBrowser {
                    tab: CacheTab::Pictures,
                    pictures: None,
                    files: None,
                });
                return vec![Command::ListCache];
            }
            Intent::CacheTab(tab) => {
                if let Some(Overlay::CacheBrowser { tab: t, .. }) = &mut self.overlay {
                    *t = tab;
                }
            }
            Intent::Logout => {
                self.menu_open = false;
                return vec![Command::Logout];
            }
            Intent::LoadOlder => {
                let c = self.selected.clone();
                let log = self.log_mut(&c);
                if log.more_before && !log.loading_older {
                    log.loading_older = true;
                    let before = log.oldest_id();
                    return vec![Command::History {
                        conversation: c,
                        before,
                        limit: HISTORY_PAGE,
                    }];
                }
            }
            Intent::DismissToast(id) => self.toasts.retain(|t| t.id != id),
        }
        Vec::new()
    }

    fn edit(&mut self, field: Field, edit: &Edit) {
        let (buffer, max) = match field {
            Field::Server => (&mut self.form.server, 255),
            Field::Name => (&mut self.form.name, 64),
            Field::Password => (&mut self.form.password, 1024),
            Field::Confirm => (&mut self.form.confirm, 1024),
            Field::Composer => (&mut self.composer, self.max_text_chars),
            Field::SharePath => match &mut self.share_sheet {
                Some(sheet) => (&mut sheet.path, 4096),
                None => return,
            },
        };
        let whole = buffer.edit(edit, max);
        if !whole && field == Field::Composer {
            let max = self.max_text_chars;
            self.toast(
                format!("A message holds at most {max} characters: the rest was cut."),
                None,
                true,
            );
        }
        if matches!(
            field,
            Field::Name | Field::Password | Field::Confirm | Field::Server
        ) {
            if let Some(FormError::Message(_) | FormError::Hint(_)) = self.form.error {
                self.form.error = None;
            }
        }
    }

    /// The form as a login attempt, or why it cannot be one.
    fn attempt(&self, register: bool) -> Result<LoginAttempt, String> {
        let server = self.form.server.text.trim().to_owned();
        if server.is_empty() {
            return Err("Type the server's address, like 127.0.0.1:4433.".into());
        }
        let name = self.form.name.text.trim().to_owned();
        // New names meet every rule; an existing account may predate some.
        let check = if register {
            UserName::parse
        } else {
            UserName::stored
        };
        if let Err(e) = check(&name) {
            return Err(capitalise(&e.to_string()) + ".");
        }
        let password = self.form.password.text.clone();
        if password.is_empty() {
            return Err("Type your password.".into());
        }
        if register {
            if password.chars().count() < MIN_PASSWORD_CHARS {
                return Err(format!(
                    "Use at least {MIN_PASSWORD_CHARS} characters for the password."
                ));
            }
            if password != self.form.confirm.text {
                return Err("The passwords do not match.".into());
            }
        }
        Ok(LoginAttempt {
            server,
            name,
            password,
            register,
            pinned: None,
            accept_first_use: false,
        })
    }

    fn submit(&mut self, register: bool) -> Vec<Command> {
        if self.form.busy || self.host_starting {
            return Vec::new();
        }
        self.trust_prompt = None;
        self.form.offer_host = false;
        match self.attempt(register) {
            Err(reason) => {
                self.form.error = Some(FormError::Message(reason));
                Vec::new()
            }
            Ok(mut attempt) => {
                if let Some(h) = &self.hosting {
                    if is_local_address(&attempt.server) {
                        attempt.pinned = Some(h.fingerprint);
                        attempt.accept_first_use = true;
                    }
                }
                self.form.error = None;
                self.form.busy = true;
                self.pending_attempt = Some(attempt.clone());
                vec![Command::Login(attempt)]
            }
        }
    }

    fn send(&mut self, content: Content) -> Vec<Command> {
        let Some(me) = self.me.clone() else {
            return Vec::new();
        };
        let local = LocalId(self.next_local);
        self.next_local += 1;
        let to = self.selected.recipient();
        let sent_at = Timestamp::now();
        let (day, time_label) = local_day_and_time(sent_at);
        let entry = Entry {
            id: None,
            local: Some(local),
            client_id: None,
            from: me,
            to: to.clone(),
            sent_at,
            content: content.clone(),
            delivery: Delivery::Pending,
            day,
            time_label,
            arrived_at: self.now,
        };
        let c = self.selected.clone();
        let log = self.log_mut(&c);
        log.entries.push(entry);
        log.revision += 1;
        self.sent_count += 1;
        self.queued.insert(local, c);
        vec![Command::Send { local, to, content }]
    }

    fn share(&mut self, path: PathBuf, picture: bool) -> Vec<Command> {
        if self.me.is_none() {
            return Vec::new();
        }
        let ticket = self.ticket();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        self.transfers.insert(
            ticket,
            Transfer {
                ticket,
                name,
                purpose: TransferPurpose::Upload {
                    conversation: self.selected.clone(),
                    picture,
                },
                done: 0,
                total: 0,
                bytes_per_sec: 0.0,
            },
        );
        vec![Command::Share {
            ticket,
            to: self.selected.recipient(),
            path,
            as_file: !picture,
        }]
    }

    fn fetch(&mut self, media: MediaRef, kind: MediaKind, then: AfterFetch) -> Option<Command> {
        let slots = match kind {
            MediaKind::Photo => &self.pictures,
            MediaKind::File => &self.files,
        };
        match slots.get(&media.hash) {
            Some(MediaSlot::Fetching(ticket)) => {
                let ticket = *ticket;
                if let Some(Transfer {
                    purpose: TransferPurpose::Download { then: t, .. },
                    ..
                }) = self.transfers.get_mut(&ticket)
                {
                    if then != AfterFetch::Nothing {
                        *t = then;
                    }
                }
                return None;
            }
            Some(MediaSlot::Ready(_)) | Some(MediaSlot::Failed(_))
                if then == AfterFetch::Nothing =>
            {
                return None
            }
            _ => {}
        }
        let ticket = self.ticket();
        let hash = media.hash;
        self.transfers.insert(
            ticket,
            Transfer {
                ticket,
                name: media.name.clone(),
                purpose: TransferPurpose::Download { hash, kind, then },
                done: 0,
                total: media.size,
                bytes_per_sec: 0.0,
            },
        );
        let slots = match kind {
            MediaKind::Photo => &mut self.pictures,
            MediaKind::File => &mut self.files,
        };
        slots.insert(hash, MediaSlot::Fetching(ticket));
        Some(Command::Fetch {
            ticket,
            media,
            kind,
        })
    }

    fn file_action(&mut self, media: MediaRef, then: AfterFetch) -> Vec<Command> {
        if let Some(MediaSlot::Ready(path)) = self.files.get(&media.hash) {
            let path = path.clone();
            return vec![match then {
                AfterFetch::ShowFolder => Command::ShowInFolder(path),
                _ => Command::OpenPath(path),
            }];
        }
        self.fetch(media, MediaKind::File, then)
            .into_iter()
            .collect()
    }
}

/// Whether a typed server address is this machine (where "Host a server
/// here" makes sense).
pub fn is_local_address(server: &str) -> bool {
    let host = server.trim();
    let host = match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    matches!(
        host.to_ascii_lowercase().as_str(),
        "127.0.0.1" | "localhost" | "::1" | "0.0.0.0"
    )
}

/// Whether a path names a picture by its extension (for dropped files).
pub fn looks_like_picture(path: &Path) -> bool {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    matches!(
        ext.as_deref(),
        Some("png" | "jpg" | "jpeg" | "gif" | "webp")
    )
}

fn expand_home(typed: &str) -> PathBuf {
    if let Some(rest) = typed.strip_prefix("~/") {
        if let Some(home) = directories::BaseDirs::new() {
            return home.home_dir().join(rest);
        }
    }
    PathBuf::from(typed)
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
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
mod tests {
    use super::*;

    fn name(s: &str) -> UserName {
        UserName::parse(s).unwrap()
    }

    fn logged_in(me: &str) -> AppState {
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

    fn message(id: u64, from: &str, to: Recipient, text: &str) -> ChatMessage {
        ChatMessage {
            id: MessageId(id),
            from: name(from),
            to,
            sent_at: Timestamp(1_700_000_000_000 + id as i64 * 1000),
            content: Content::Text(text.into()),
        }
    }

    fn texts(s: &AppState, c: &Conversation) -> Vec<String> {
        s.conversations[c]
            .entries
            .iter()
            .map(|e| e.content.summary())
            .collect()
    }

    #[test]
    fn login_goes_to_the_chat_room_and_clears_the_password() {
        let s = logged_in("alice");
        assert_eq!(s.screen, Screen::Chat);
        assert!(s.form.password.text.is_empty());
        assert_eq!(s.title(), "natter — alice → Group chat");
    }

    #[test]
    fn login_failures_read_as_sentences() {
        let mut s = AppState::new(DEFAULT_SERVER, "alice", "pw");
        s.handle(Intent::Login);
        s.apply(NetEvent::LoginFailed(ClientError::Refused(
            Refusal::WrongPassword,
        )));
        assert_eq!(
            s.form.error,
            Some(FormError::Message("Wrong password.".into()))
        );
        assert!(!s.form.busy);
        s.handle(Intent::Login);
        s.apply(NetEvent::LoginFailed(ClientError::Refused(
            Refusal::UnknownUser("alice".into()),
        )));
        assert!(matches!(&s.form.error, Some(FormError::Message(m)) if m.contains("No account")));
        assert_eq!(s.screen, Screen::Login);
    }

    #[test]
    fn registration_checks_the_confirmation_locally() {
        let mut s = AppState::new(DEFAULT_SERVER, "alice", "long-enough-1");
        s.handle(Intent::ShowRegister);
        s.form.confirm = TextBuffer::new("long-enough-2");
        assert!(s.handle(Intent::Register).is_empty());
        assert_eq!(
            s.form.error,
            Some(FormError::Message("The passwords do not match.".into()))
        );
        s.form.confirm = TextBuffer::new("long-enough-1");
        let commands = s.handle(Intent::Register);
        assert!(matches!(commands.as_slice(), [Command::Login(a)] if a.register));
    }

    #[test]
    fn an_unknown_server_asks_and_accepting_pins_its_fingerprint() {
        let mut s = AppState::new(DEFAULT_SERVER, "alice", "pw");
        s.handle(Intent::Login);
        let fingerprint = Fingerprint([7; 32]);
        s.apply(NetEvent::LoginFailed(ClientError::UnknownServer {
            server: DEFAULT_SERVER.into(),
            fingerprint,
        }));
        assert_eq!(
            s.trust_prompt.as_ref().map(|p| p.fingerprint),
            Some(fingerprint)
        );
        let commands = s.handle(Intent::AcceptFingerprint);
        match commands.as_slice() {
            [Command::Login(a)] => {
                assert_eq!(a.pinned, Some(fingerprint));
                assert!(a.accept_first_use);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_changed_certificate_is_a_loud_refusal_not_a_prompt() {
        let mut s = AppState::new(DEFAULT_SERVER, "alice", "pw");
        s.handle(Intent::Login);
        s.apply(NetEvent::LoginFailed(ClientError::CertificateChanged {
            server: DEFAULT_SERVER.into(),
            known: Fingerprint([1; 32]),
            presented: Fingerprint([2; 32]),
        }));
        assert!(s.trust_prompt.is_none());
        assert!(matches!(
            s.form.error,
            Some(FormError::CertificateChanged { .. })
        ));
    }

    #[test]
    fn nothing_at_the_local_address_offers_hosting_then_joins_it() {
        let mut s = AppState::new(DEFAULT_SERVER, "alice", "pw");
        s.handle(Intent::Login);
        s.apply(NetEvent::LoginFailed(ClientError::Unreachable {
            server: DEFAULT_SERVER.into(),
            reason: "timed out".into(),
        }));
        assert!(s.form.offer_host);
        let commands = s.handle(Intent::HostLocally);
        assert!(matches!(commands.as_slice(), [Command::Host { .. }]));
        let fingerprint = Fingerprint([9; 32]);
        let commands = s.apply(NetEvent::Hosting {
            join_addresses: vec!["192.168.1.5:4433".into()],
            fingerprint,
        });
        match commands.as_slice() {
            [Command::Login(a)] => assert_eq!(a.pinned, Some(fingerprint)),
            other => panic!("{other:?}"),
        }
        assert!(s.hosting.is_some());
        // The new server does not know us yet: straight to creating the account.
        s.apply(NetEvent::LoginFailed(ClientError::Refused(
            Refusal::UnknownUser("alice".into()),
        )));
        assert_eq!(s.screen, Screen::Register);
        assert_eq!(s.form.focus, Some(Field::Confirm));
    }

    #[test]
    fn a_remote_unreachable_server_does_not_offer_hosting() {
        let mut s = AppState::new("chat.example.org:4433", "alice", "pw");
        s.handle(Intent::Login);
        s.apply(NetEvent::LoginFailed(ClientError::Unreachable {
            server: "chat.example.org:4433".into(),
            reason: "timed out".into(),
        }));
        assert!(!s.form.offer_host);
    }

    #[test]
    fn messages_sort_by_id_and_duplicates_are_dropped() {
        let mut s = logged_in("alice");
        for id in [3, 1, 2, 2] {
            s.apply(NetEvent::Message(message(
                id,
                "bob",
                Recipient::Everyone,
                &id.to_string(),
            )));
        }
        assert_eq!(texts(&s, &Conversation::Group), ["1", "2", "3"]);
    }

    #[test]
    fn private_messages_land_in_their_conversation_and_count_as_unread() {
        let mut s = logged_in("alice");
        s.apply(NetEvent::Message(message(
            1,
            "bob",
            Recipient::User(name("alice")),
            "psst",
        )));
        let bob = Conversation::With(name("bob"));
        assert_eq!(s.conversations[&bob].unread, 1);
        assert!(s.people().iter().any(|(c, online)| c == &bob && !online));
        let commands = s.handle(Intent::SelectConversation(bob.clone()));
        assert!(matches!(commands.as_slice(), [Command::History { .. }]));
        assert_eq!(s.conversations[&bob].unread, 0);
        assert_eq!(s.title(), "natter — alice → bob");
        // Our own message to bob, echoed back, lands in the same place.
        s.apply(NetEvent::Message(message(
            2,
            "alice",
            Recipient::User(name("bob")),
            "hi",
        )));
        assert_eq!(texts(&s, &bob), ["psst", "hi"]);
        assert_eq!(s.conversations[&bob].unread, 0);
    }

    #[test]
    fn a_sent_message_is_pending_until_accepted_whatever_arrives_first() {
        let mut s = logged_in("alice");
        s.composer = TextBuffer::new("hello\n");
        let commands = s.handle(Intent::SendText);
        let local = match commands.as_slice() {
            [Command::Send {
                local,
                content: Content::Text(t),
                ..
            }] => {
                assert_eq!(t, "hello");
                *local
            }
            other => panic!("{other:?}"),
        };
        assert!(s.composer.text.is_empty());
        s.apply(NetEvent::Queued {
            local,
            client_id: ClientMsgId(5),
        });
        let log = &s.conversations[&Conversation::Group];
        assert_eq!(log.entries[0].delivery, Delivery::Pending);
        // A message from bob arrives while ours is pending: ours stays last.
        s.apply(NetEvent::Message(message(
            10,
            "bob",
            Recipient::Everyone,
            "yo",
        )));
        assert_eq!(texts(&s, &Conversation::Group), ["yo", "hello"]);
        s.apply(NetEvent::Accepted {
            client_id: ClientMsgId(5),
            id: MessageId(11),
            sent_at: Timestamp(1),
        });
        s.apply(NetEvent::Message(message(
            11,
            "alice",
            Recipient::Everyone,
            "hello",
        )));
        let log = &s.conversations[&Conversation::Group];
        assert_eq!(log.entries.len(), 2);
        assert_eq!(log.entries[1].delivery, Delivery::Delivered);
        assert_eq!(log.entries[1].id, Some(MessageId(11)));

        // And when the echo comes before the acceptance.
        s.composer = TextBuffer::new("again");
        let local = match s.handle(Intent::SendText).as_slice() {
            [Command::Send { local, .. }] => *local,
            other => panic!("{other:?}"),
        };
        s.apply(NetEvent::Queued {
            local,
            client_id: ClientMsgId(6),
        });
        s.apply(NetEvent::Message(message(
            12,
            "alice",
            Recipient::Everyone,
            "again",
        )));
        s.apply(NetEvent::Accepted {
            client_id: ClientMsgId(6),
            id: MessageId(12),
            sent_at: Timestamp(2),
        });
        assert_eq!(texts(&s, &Conversation::Group), ["yo", "hello", "again"]);
        assert!(s.conversations[&Conversation::Group]
            .entries
            .iter()
            .all(|e| e.delivery == Delivery::Delivered));
    }

    #[test]
    fn rejected_and_unqueued_messages_show_why() {
        let mut s = logged_in("alice");
        let local = match s.handle(Intent::SendEmoji(EmojiId(0))).as_slice() {
            [Command::Send { local, .. }] => *local,
            other => panic!("{other:?}"),
        };
        s.apply(NetEvent::SendFailed {
            local,
            reason: "queue full".into(),
        });
        let e = &s.conversations[&Conversation::Group].entries[0];
        assert_eq!(e.delivery, Delivery::Failed("queue full".into()));
    }

    #[test]
    fn a_throttled_message_stays_pending_and_says_when_it_retries() {
        let mut s = logged_in("alice");
        let local = match s.handle(Intent::SendEmoji(EmojiId(0))).as_slice() {
            [Command::Send { local, .. }] => *local,
            other => panic!("{other:?}"),
        };
        let client_id = ClientMsgId(5);
        s.apply(NetEvent::Queued { local, client_id });
        s.apply(NetEvent::Throttled {
            client_id,
            retry_in_secs: 2.2,
        });
        let e = &s.conversations[&Conversation::Group].entries[0];
        assert_eq!(e.delivery, Delivery::Pending);
        assert_eq!(s.toasts.len(), 1);
        assert!(
            s.toasts[0].text.contains("retrying in 3 s"),
            "{}",
            s.toasts[0].text
        );
        // A second message slowed down the same way refreshes that notice.
        let local = match s.handle(Intent::SendEmoji(EmojiId(1))).as_slice() {
            [Command::Send { local, .. }] => *local,
            other => panic!("{other:?}"),
        };
        let client_id = ClientMsgId(6);
        s.apply(NetEvent::Queued { local, client_id });
        s.apply(NetEvent::Throttled {
            client_id,
            retry_in_secs: 2.5,
        });
        assert_eq!(s.toasts.len(), 1, "{:?}", s.toasts);
    }

    #[test]
    fn presence_follows_joins_and_leaves() {
        let mut s = logged_in("alice");
        s.apply(NetEvent::Online(vec![name("alice"), name("carol")]));
        s.apply(NetEvent::Joined(name("bob")));
        s.apply(NetEvent::Joined(name("BOB")));
        assert_eq!(s.online, [name("alice"), name("bob"), name("carol")]);
        s.apply(NetEvent::Left(name("carol")));
        let people: Vec<_> = s.people().into_iter().map(|(c, _)| c).collect();
        assert_eq!(
            people,
            [Conversation::Group, Conversation::With(name("bob"))]
        );
    }

    #[test]
    fn the_emoji_panel_animates_open_and_closed() {
        let mut s = logged_in("alice");
        s.tick(10.0);
        s.handle(Intent::ToggleEmojiPanel);
        assert!(s.animating());
        s.tick(10.075);
        assert!((s.emoji_panel.progress - 0.5).abs() < 0.01);
        s.tick(10.5);
        assert_eq!(s.emoji_panel.progress, 1.0);
        assert!(!s.animating());
        s.handle(Intent::SendEmoji(EmojiId(2)));
        assert!(!s.emoji_panel.open);
    }

    #[test]
    fn history_pages_prepend_and_loading_older_asks_before_the_oldest() {
        let mut s = logged_in("alice");
        s.apply(NetEvent::History {
            conversation: Conversation::Group,
            messages: (50..60)
                .map(|i| message(i, "bob", Recipient::Everyone, "x"))
                .collect(),
            more: true,
        });
        let commands = s.handle(Intent::LoadOlder);
        match commands.as_slice() {
            [Command::History { before, .. }] => assert_eq!(*before, Some(MessageId(50))),
            other => panic!("{other:?}"),
        }
        // A second scroll to the top while loading asks nothing more.
        assert!(s.handle(Intent::LoadOlder).is_empty());
        s.apply(NetEvent::History {
            conversation: Conversation::Group,
            messages: (40..50)
                .map(|i| message(i, "bob", Recipient::Everyone, "x"))
                .collect(),
            more: false,
        });
        let log = &s.conversations[&Conversation::Group];
        assert_eq!(log.entries.len(), 20);
        assert_eq!(log.oldest_id(), Some(MessageId(40)));
        assert!(s.handle(Intent::LoadOlder).is_empty());
    }

    #[test]
    fn a_received_file_toasts_and_open_downloads_then_opens() {
        let mut s = logged_in("alice");
        // Files in the replay after login are old news: no toast.
        let old = MediaRef {
            hash: BlobHash([2; 32]),
            name: "old.pdf".into(),
            size: 10,
        };
        s.apply(NetEvent::Message(ChatMessage {
            id: MessageId(0),
            from: name("bob"),
            to: Recipient::Everyone,
            sent_at: Timestamp(0),
            content: Content::File(old),
        }));
        assert!(s.toasts.is_empty());
        s.apply(NetEvent::CaughtUp { truncated: false });
        let media = MediaRef {
            hash: BlobHash([3; 32]),
            name: "report.pdf".into(),
            size: 10,
        };
        s.apply(NetEvent::Message(ChatMessage {
            id: MessageId(1),
            from: name("bob"),
            to: Recipient::Everyone,
            sent_at: Timestamp(0),
            content: Content::File(media.clone()),
        }));
        assert_eq!(s.toasts.len(), 1);
        assert_eq!(s.toasts[0].text, "bob sent report.pdf");
        let action = s.toasts[0].action.clone().unwrap().1;
        let commands = s.handle(action);
        let ticket = match commands.as_slice() {
            [Command::Fetch {
                ticket,
                kind: MediaKind::File,
                ..
            }] => *ticket,
            other => panic!("{other:?}"),
        };
        s.apply(NetEvent::Progress {
            ticket,
            done: 5,
            total: 10,
            bytes_per_sec: 1.0,
        });
        assert_eq!(s.transfers[&ticket].fraction(), 0.5);
        let commands = s.apply(NetEvent::TransferDone {
            ticket,
            outcome: Ok(PathBuf::from("/c/report.pdf")),
        });
        assert_eq!(
            commands,
            vec![Command::OpenPath(PathBuf::from("/c/report.pdf"))]
        );
        // Once downloaded, Open goes straight to the file.
        assert_eq!(
            s.handle(Intent::ShowFolder(media)),
            vec![Command::ShowInFolder(PathBuf::from("/c/report.pdf"))]
        );
        s.tick(100.0);
        assert!(s.toasts.is_empty());
    }

    #[test]
    fn pictures_are_fetched_once() {
        let mut s = logged_in("alice");
        let media = MediaRef {
            hash: BlobHash([4; 32]),
            name: "cat.png".into(),
            size: 10,
        };
        let fetch = Intent::FetchMedia {
            media: media.clone(),
            kind: MediaKind::Photo,
        };
        assert_eq!(s.handle(fetch.clone()).len(), 1);
        assert!(s.handle(fetch.clone()).is_empty());
        let ticket = *s.transfers.keys().next().unwrap();
        s.apply(NetEvent::TransferDone {
            ticket,
            outcome: Err("gone".into()),
        });
        assert!(matches!(
            s.pictures.get(&media.hash),
            Some(MediaSlot::Failed(_))
        ));
        assert!(s.handle(fetch).is_empty());
    }

    #[test]
    fn the_share_sheet_falls_back_to_a_typed_path() {
        let mut s = logged_in("alice");
        assert_eq!(
            s.handle(Intent::PickFile { picture: true }),
            vec![Command::OpenFileDialog { picture: true }]
        );
        s.handle(Intent::FilePicked {
            path: None,
            picture: true,
            quick: true,
        });
        assert!(s.share_sheet.as_ref().unwrap().no_dialog);
        s.handle(Intent::Edit {
            field: Field::SharePath,
            edit: Edit::Insert("/tmp/cat.png".into()),
        });
        let commands = s.handle(Intent::ShareTypedPath);
        match commands.as_slice() {
            [Command::Share { path, as_file, .. }] => {
                assert_eq!(path, &PathBuf::from("/tmp/cat.png"));
                assert!(!as_file);
            }
            other => panic!("{other:?}"),
        }
        assert!(s.share_sheet.is_none());
        assert_eq!(s.transfers.len(), 1);
    }

    #[test]
    fn the_composer_cuts_overlong_pastes_and_says_so() {
        let mut s = logged_in("alice");
        s.max_text_chars = 5;
        s.handle(Intent::Edit {
            field: Field::Composer,
            edit: Edit::Insert("0123456789".into()),
        });
        assert_eq!(s.composer.text, "01234");
        assert_eq!(s.toasts.len(), 1);
    }

    #[test]
    fn logging_out_returns_to_the_form_keeping_server_and_name() {
        let mut s = logged_in("alice");
        s.apply(NetEvent::Message(message(
            1,
            "bob",
            Recipient::Everyone,
            "x",
        )));
        assert_eq!(s.handle(Intent::Logout), vec![Command::Logout]);
        s.apply(NetEvent::LoggedOut);
        assert_eq!(s.screen, Screen::Login);
        assert_eq!(s.form.name.text, "alice");
        assert!(s.conversations.is_empty());
    }

    #[test]
    fn messages_before_login_or_with_unknown_emoji_do_not_panic() {
        let mut s = AppState::default();
        s.apply(NetEvent::Message(message(
            1,
            "bob",
            Recipient::Everyone,
            "x",
        )));
        let mut s = logged_in("alice");
        s.apply(NetEvent::Message(ChatMessage {
            content: Content::Emoji(EmojiId(999)),
            ..message(1, "bob", Recipient::Everyone, "")
        }));
        assert_eq!(
            emoji_of(&s.conversations[&Conversation::Group].entries[0].content),
            Some(EmojiId(999))
        );
    }

    #[test]
    fn local_addresses_are_recognised() {
        assert!(is_local_address("127.0.0.1:4433"));
        assert!(is_local_address("localhost"));
        assert!(is_local_address("[::1]:4433"));
        assert!(!is_local_address("chat.example.org:4433"));
    }
}
