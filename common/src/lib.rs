//! Natter's wire protocol: the one crate that knows about bytes on a stream.
//!
//! Everything a peer sends is described here: the ALPN and version
//! ([`protocol`]), the typed messages ([`message`], [`protocol`]), the ids
//! ([`ids`]), the emoji catalogue ([`emoji`]), the limits ([`limits`]), the
//! rules both ends apply to what is sent ([`rules`]) and the length-prefixed
//! postcard framing ([`codec`]). `docs/protocol.md` at the
//! repository root describes the same thing for someone writing another
//! client; the golden vectors in [`codec`]'s tests keep the two honest.

pub mod codec;
pub mod congestion;
pub mod emoji;
pub mod ids;
pub mod limits;
pub mod message;
pub mod protocol;
pub mod rules;

pub use codec::{FrameError, FrameReader, FrameWriter};
pub use emoji::{Emoji, EmojiId};
pub use ids::{
    BlobHash, ClientMsgId, Fingerprint, MessageId, RequestId, SessionToken, Timestamp, UserName,
};
pub use message::{ChatMessage, Content, Conversation, MediaRef, Recipient};
pub use protocol::{
    ClientMsg, Hello, Limits, MediaKind, Refusal, ServerMsg, TransferHeader, TransferReply, ALPN,
    PROTOCOL_VERSION,
};
