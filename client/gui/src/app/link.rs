//! What the state and the network thread say to each other: the
//! [`Command`]s the state asks for, and the [`NetEvent`]s the thread
//! reports back. The library's own events travel inside
//! [`NetEvent::Client`] as the library wrote them; the other variants are
//! the thread's answers to commands, each carrying the ids the library
//! returned, so the state keys every item by the library's one id.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use natter_client::{ClientError, ClientEvent, HistoryPage, TransferId};
use natter_common::{
    ClientMsgId, Content, Conversation, Fingerprint, MediaKind, MediaRef, MessageId, UserName,
};

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

/// The ids of one share: the upload, and the picture or file message the
/// library posts once the bytes are up (its `Accepted` or `Rejected`
/// carries this id).
pub use natter_client::Share as ShareIds;

/// What the state asks the outside world to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Login(LoginAttempt),
    /// Start a server in this process.
    Host {
        listen: SocketAddr,
    },
    /// Queue a message; answered by [`NetEvent::Queued`].
    Send {
        conversation: Conversation,
        content: Content,
    },
    /// Answered by [`NetEvent::History`].
    History {
        conversation: Conversation,
        before: Option<MessageId>,
        limit: u16,
    },
    /// Upload a picture or file and post it; answered by
    /// [`NetEvent::Sharing`].
    Share {
        conversation: Conversation,
        path: PathBuf,
        as_file: bool,
    },
    /// Download into the cache; answered by [`NetEvent::Fetching`].
    Fetch {
        media: MediaRef,
        kind: MediaKind,
    },
    Cancel(TransferId),
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

/// What the network thread reports. Failures the thread meets itself
/// (nobody logged in) come as plain sentences.
#[derive(Debug, Clone, PartialEq)]
pub enum NetEvent {
    /// What the logged-in client reports, as the library reports it.
    Client(ClientEvent),
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
    /// [`Command::Send`] answered: the library's id for the message, or
    /// why it would not queue it.
    Queued {
        conversation: Conversation,
        content: Content,
        outcome: Result<ClientMsgId, String>,
    },
    /// [`Command::Share`] answered.
    Sharing {
        conversation: Conversation,
        path: PathBuf,
        as_file: bool,
        outcome: Result<ShareIds, String>,
    },
    /// [`Command::Fetch`] answered.
    Fetching {
        media: MediaRef,
        kind: MediaKind,
        outcome: Result<TransferId, String>,
    },
    /// [`Command::History`] answered.
    History {
        conversation: Conversation,
        outcome: Result<HistoryPage, String>,
    },
    CacheListing {
        pictures: Vec<CachedEntry>,
        files: Vec<CachedEntry>,
    },
    LoggedOut,
    /// Something worth a toast (an open that failed...).
    Notice(String),
}
