//! The conversation between client and server: ALPN, version, the hello,
//! the typed messages on the control stream, the header of transfer streams,
//! and the refusals either may carry.
//!
//! Stream roles on one QUIC connection (see docs/protocol.md):
//! - the first bidirectional stream the client opens is the control stream:
//!   its first frame is a [`Hello`], then [`ClientMsg`]s one way and
//!   [`ServerMsg`]s the other;
//! - every later bidirectional stream is a transfer: its first frame is a
//!   [`TransferHeader`], answered by a [`TransferReply`], then raw bytes.

use serde::{Deserialize, Serialize};

use crate::ids::{BlobHash, ClientMsgId, MessageId, RequestId, SessionToken, Timestamp, UserName};
use crate::message::{ChatMessage, Content, Conversation, Recipient};

/// TLS application protocol name; also names the major protocol version.
pub const ALPN: &[u8] = b"natter/1";

/// Version carried in the hello. A peer speaking another one is refused
/// with [`Refusal::VersionMismatch`].
pub const PROTOCOL_VERSION: u16 = 3;

/// QUIC application close codes. The close reason (UTF-8 text) says more.
pub mod close {
    /// Normal end: logout, or the client went away.
    pub const NORMAL: u32 = 0;
    /// The peer broke the protocol: oversized or undecodable frame, wrong
    /// message in the wrong place.
    pub const PROTOCOL_VIOLATION: u32 = 1;
    /// The session's outbound queue filled up; reconnect and catch up.
    pub const TOO_SLOW: u32 = 2;
    /// The server is shutting down.
    pub const SHUTDOWN: u32 = 3;
    /// No successful login within the server's authentication timeout.
    pub const AUTH_TIMEOUT: u32 = 4;
    /// The server is at its connection limit.
    pub const SERVER_FULL: u32 = 5;
}

/// The first frame on the control stream. `version` is first so a server can
/// read it even from a hello whose later fields it does not understand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    pub version: u16,
    /// Free text such as "natter-cli 0.1.0", for logs.
    pub software: String,
}

impl Hello {
    pub fn current(software: impl Into<String>) -> Self {
        Self {
            version: PROTOCOL_VERSION,
            software: software.into(),
        }
    }
}

/// Limits a server tells each client at login, so the client can refuse
/// early what the server would refuse anyway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    pub max_text_chars: u32,
    /// Largest single picture or file, in bytes.
    pub max_upload_bytes: u64,
    /// Total bytes this user may store.
    pub quota_bytes: u64,
    /// Bytes this user stores now.
    pub used_bytes: u64,
}

/// Messages a client sends on the control stream, after the [`Hello`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientMsg {
    /// Creates an account. Does not log in.
    Register { name: String, password: String },
    /// Logs in with a password. `since` is the highest message id this
    /// client has seen; everything newer that it may see is replayed.
    Login {
        name: String,
        password: String,
        since: Option<MessageId>,
    },
    /// Logs in again with the token of an earlier login.
    Resume {
        token: SessionToken,
        since: Option<MessageId>,
    },
    /// Posts a message. `client_id` makes a resend idempotent.
    Send {
        client_id: ClientMsgId,
        to: Recipient,
        content: Content,
    },
    /// Asks for up to `limit` messages of a conversation older than `before`
    /// (newest page when `None`).
    History {
        request: RequestId,
        conversation: Conversation,
        before: Option<MessageId>,
        limit: u16,
    },
    /// Liveness and round-trip probe; answered by [`ServerMsg::Pong`].
    Ping { nonce: u64 },
    /// Ends the session and forgets its token; the connection then closes.
    /// Other sessions resumed from the same login end too.
    Logout,
    /// Ends every session of this account and forgets all its tokens: every
    /// device must log in with the password again.
    LogoutEverywhere,
}

/// Messages a server sends on the control stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServerMsg {
    /// Answer to a compatible hello.
    Welcome {
        version: u16,
        software: String,
    },
    /// A request was refused. Before login this ends the attempt; after it,
    /// the session goes on unless the connection is closed too.
    Refused(Refusal),
    /// The account was created; log in next.
    Registered {
        user: UserName,
    },
    /// Login succeeded. Keep `token` to resume later.
    LoggedIn {
        user: UserName,
        token: SessionToken,
        limits: Limits,
    },
    /// Who is online right now: sent once right after login.
    Online {
        users: Vec<UserName>,
    },
    /// A user came online (their first session). Version 2's presence:
    /// a version-3 server sends [`ServerMsg::Presence`] instead.
    Joined {
        user: UserName,
    },
    /// A user went offline (their last session ended). Version 2's, like
    /// [`ServerMsg::Joined`].
    Left {
        user: UserName,
    },
    /// A message: live, or replayed after login.
    Message(ChatMessage),
    /// The replay after login is complete. `truncated` means older missed
    /// messages exist; page them with [`ClientMsg::History`].
    CaughtUp {
        latest: Option<MessageId>,
        truncated: bool,
    },
    /// A [`ClientMsg::Send`] is stored; the message got this id and time.
    /// Sent again, unchanged, for a resend of the same `client_id`.
    Accepted {
        client_id: ClientMsgId,
        id: MessageId,
        sent_at: Timestamp,
    },
    /// A [`ClientMsg::Send`] was refused and will never be stored.
    Rejected {
        client_id: ClientMsgId,
        reason: Refusal,
    },
    /// One page of history, oldest first. `more` says older pages exist.
    History {
        request: RequestId,
        conversation: Conversation,
        messages: Vec<ChatMessage>,
        more: bool,
    },
    Pong {
        nonce: u64,
    },
    /// Presence changes since the last such frame, coalesced: who is
    /// online now (`came`) and who is not (`went`), each user at most once.
    /// Apply as set insertions and removals; a user the set already agrees
    /// with is no change.
    Presence {
        came: Vec<UserName>,
        went: Vec<UserName>,
    },
}

impl ServerMsg {
    /// The variant's name, for logs and protocol errors (never its content).
    pub fn kind(&self) -> &'static str {
        match self {
            ServerMsg::Welcome { .. } => "Welcome",
            ServerMsg::Refused(_) => "Refused",
            ServerMsg::Registered { .. } => "Registered",
            ServerMsg::LoggedIn { .. } => "LoggedIn",
            ServerMsg::Online { .. } => "Online",
            ServerMsg::Joined { .. } => "Joined",
            ServerMsg::Left { .. } => "Left",
            ServerMsg::Message(_) => "Message",
            ServerMsg::CaughtUp { .. } => "CaughtUp",
            ServerMsg::Accepted { .. } => "Accepted",
            ServerMsg::Rejected { .. } => "Rejected",
            ServerMsg::History { .. } => "History",
            ServerMsg::Pong { .. } => "Pong",
            ServerMsg::Presence { .. } => "Presence",
        }
    }
}

/// Why something was refused. Each variant is a complete, typed answer that
/// a client can show as it is (its `Display` is the message).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum Refusal {
    #[error(
        "protocol version mismatch: server speaks version {server}, client speaks version {client}"
    )]
    VersionMismatch { server: u16, client: u16 },
    #[error("no user is called {0:?}")]
    UnknownUser(String),
    #[error("wrong password")]
    WrongPassword,
    #[error("the name {0:?} is taken")]
    NameTaken(String),
    #[error("invalid user name: {0}")]
    InvalidName(String),
    #[error("password too short: use at least {min_chars} characters")]
    WeakPassword { min_chars: u16 },
    #[error("password too long")]
    PasswordTooLong,
    /// Too many attempts or messages in too little time: logins, sign-ups
    /// or sends. Try again after the delay; the client library does so by
    /// itself for sends.
    #[error("too many requests: try again in {} s", retry_after_ms.div_ceil(1000))]
    RateLimited { retry_after_ms: u32 },
    #[error("the session expired or was logged out: log in again")]
    InvalidSession,
    #[error("log in first")]
    NotAuthenticated,
    #[error("already logged in")]
    AlreadyAuthenticated,
    #[error("no user is called {0:?}")]
    UnknownRecipient(String),
    #[error("message too long: at most {max_chars} characters")]
    TextTooLong { max_chars: u32 },
    #[error("empty message")]
    EmptyText,
    #[error("unknown emoji {0}")]
    UnknownEmoji(u16),
    #[error("invalid media reference: {0}")]
    InvalidMedia(String),
    #[error("file too large: {size} bytes, the limit is {max} bytes")]
    TooLarge { size: u64, max: u64 },
    #[error("storage quota exceeded: {used} of {quota} bytes used, this needs {needed} more")]
    QuotaExceeded { used: u64, quota: u64, needed: u64 },
    #[error("no such picture or file")]
    NoSuchBlob,
    /// Not sent by servers speaking version 2: a blob the user may not see
    /// is refused as [`Refusal::NoSuchBlob`], so nobody learns it exists.
    #[error("not allowed to fetch this picture or file")]
    Forbidden,
    #[error("the uploaded bytes do not match their hash")]
    HashMismatch,
    #[error("malformed request: {0}")]
    Malformed(String),
    #[error("server busy: {0}")]
    Busy(String),
    #[error("internal server error")]
    Internal,
    /// A transient failure (storage busy or full): nothing was stored, and
    /// the same request may succeed later. The client library retries sends
    /// that get it.
    #[error("the server cannot store this right now: try again shortly")]
    Unavailable,
}

/// Whether a picture or a file moves on a transfer stream. They are stored
/// alike; the kind tells the server which quota and log it is, and the
/// client which cache folder it lands in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MediaKind {
    Photo,
    File,
}

/// The first frame of every transfer stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TransferHeader {
    /// Upload `size` bytes whose BLAKE3 hash is `hash`.
    Put {
        kind: MediaKind,
        hash: BlobHash,
        size: u64,
    },
    /// Download a blob from `offset` on.
    Get {
        kind: MediaKind,
        hash: BlobHash,
        offset: u64,
    },
}

/// The server's frames on a transfer stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TransferReply {
    /// Put: send the bytes from `offset` to the end, then finish the stream.
    /// 0 means the server has nothing yet; more means resume.
    SendFrom {
        offset: u64,
    },
    /// Put: the server has the whole blob (already, or now verified).
    Stored,
    /// Get: `size - offset` raw bytes follow, then the stream ends.
    Sending {
        size: u64,
    },
    Refused(Refusal),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_read_as_sentences() {
        let r = Refusal::VersionMismatch {
            server: 1,
            client: 2,
        };
        assert_eq!(
            r.to_string(),
            "protocol version mismatch: server speaks version 1, client speaks version 2"
        );
    }
}
