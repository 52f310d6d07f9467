//! What the state and the network thread say to each other: the
//! [`Command`]s the state asks for, and the [`NetEvent`]s the thread
//! reports back.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use natter_client::ClientError;
use natter_common::{
    ChatMessage, ClientMsgId, Content, Conversation, Fingerprint, MediaKind, MediaRef, MessageId,
    Recipient, Timestamp, UserName,
};

use crate::app::state::{LocalId, Ticket};

/// One login (or registration followed by a login), with how far the user
/// trusts the server.
#[derive(Clone, PartialEq, Eq)]
pub struct LoginAttempt {
    pub server: String,
    pub name: String,
    pub password: String,
    /// Create the account first.
    pub register: bool,
    /// Only this certificate will do (the user accepted it, or we host it).
    pub pinned: Option<Fingerprint>,
    /// Record an unknown server instead of refusing it.
    pub accept_first_use: bool,
}

/// Leaves the password out, so an attempt can be logged.
impl fmt::Debug for LoginAttempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginAttempt")
            .field("server", &self.server)
            .field("name", &self.name)
            .field("register", &self.register)
            .field("pinned", &self.pinned)
            .field("accept_first_use", &self.accept_first_use)
            .finish_non_exhaustive()
    }
}

/// A picture or file in the local media cache, as the cache browser lists
/// it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedEntry {
    pub path: PathBuf,
    pub name: String,
    pub size: u64,
}

/// What the state asks the outside world to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Login(LoginAttempt),
    /// Start a server in this process.
    Host {
        listen: SocketAddr,
    },
    Send {
        local: LocalId,
        to: Recipient,
        content: Content,
    },
    History {
        conversation: Conversation,
        before: Option<MessageId>,
        limit: u16,
    },
    Share {
        ticket: Ticket,
        to: Recipient,
        path: PathBuf,
        as_file: bool,
    },
    Fetch {
        ticket: Ticket,
        media: MediaRef,
        kind: MediaKind,
    },
    Cancel(Ticket),
    OpenPath(PathBuf),
    ShowInFolder(PathBuf),
    ListCache,
    Logout,
    /// Run the system file dialog. Handled by the frame loop (it owns the
    /// dialog's worker thread), never sent to the network thread.
    OpenFileDialog {
        picture: bool,
    },
}

/// What the network thread reports.
#[derive(Debug, Clone, PartialEq)]
pub enum NetEvent {
    LoggedIn {
        me: UserName,
        server: String,
        max_text_chars: u32,
    },
    LoginFailed(ClientError),
    Hosting {
        join_addresses: Vec<String>,
        fingerprint: Fingerprint,
    },
    HostFailed(String),
    Connected {
        resumed: bool,
    },
    Online(Vec<UserName>),
    Joined(UserName),
    Left(UserName),
    Message(ChatMessage),
    CaughtUp {
        truncated: bool,
    },
    /// The library queued our message under this id.
    Queued {
        local: LocalId,
        client_id: ClientMsgId,
    },
    /// The library refused to queue it.
    SendFailed {
        local: LocalId,
        reason: String,
    },
    Accepted {
        client_id: ClientMsgId,
        id: MessageId,
        sent_at: Timestamp,
    },
    Rejected {
        client_id: ClientMsgId,
        reason: String,
    },
    /// The server said "not now" (too fast, or storage busy): the message
    /// stays pending and is sent again by itself in `retry_in_secs`.
    Throttled {
        client_id: ClientMsgId,
        retry_in_secs: f64,
    },
    Disconnected {
        reason: String,
        retry_in_secs: f64,
    },
    Closed {
        reason: String,
    },
    History {
        conversation: Conversation,
        messages: Vec<ChatMessage>,
        more: bool,
    },
    HistoryFailed {
        conversation: Conversation,
        reason: String,
    },
    Progress {
        ticket: Ticket,
        done: u64,
        total: u64,
        bytes_per_sec: f64,
    },
    TransferDone {
        ticket: Ticket,
        outcome: Result<PathBuf, String>,
    },
    CacheListing {
        pictures: Vec<CachedEntry>,
        files: Vec<CachedEntry>,
    },
    LoggedOut,
    /// Something worth a toast (an open that failed...).
    Notice(String),
}
