//! Chat messages as both ends see them: who, to whom, when, and what.

use serde::{Deserialize, Serialize};

use crate::emoji::EmojiId;
use crate::ids::{BlobHash, MessageId, Timestamp, UserName};

/// Where a message goes: the whole room, or one user.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Recipient {
    /// The group conversation: everyone.
    Everyone,
    /// A private conversation with this user.
    User(UserName),
}

/// A reference to a stored picture or file. The bytes move on their own
/// stream; the message only names them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaRef {
    pub hash: BlobHash,
    /// Original file name: display text only, never a path.
    pub name: String,
    pub size: u64,
}

/// What a message carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Content {
    Text(String),
    Emoji(EmojiId),
    /// A picture, with its pixel size.
    Image {
        media: MediaRef,
        width: u32,
        height: u32,
    },
    File(MediaRef),
}

impl Content {
    /// One-line text form, for logs, the CLI and notifications.
    pub fn summary(&self) -> String {
        match self {
            Content::Text(t) => t.clone(),
            Content::Emoji(id) => match id.emoji() {
                Some(e) => format!(":{}:", e.key),
                None => format!(":emoji-{}:", id.0),
            },
            Content::Image {
                media,
                width,
                height,
            } => {
                format!(
                    "[picture {} {}x{} {}]",
                    media.name, width, height, media.hash
                )
            }
            Content::File(media) => {
                format!("[file {} {} bytes {}]", media.name, media.size, media.hash)
            }
        }
    }

    /// The blob this message references, if any.
    pub fn media(&self) -> Option<&MediaRef> {
        match self {
            Content::Image { media, .. } | Content::File(media) => Some(media),
            _ => None,
        }
    }
}

/// A stored message as the server delivers it. `from` is always the
/// sending session's user, filled in by the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub id: MessageId,
    pub from: UserName,
    pub to: Recipient,
    pub sent_at: Timestamp,
    pub content: Content,
}

/// A conversation from one user's point of view: the group, or the private
/// one with a peer.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Conversation {
    Group,
    With(UserName),
}

impl ChatMessage {
    /// The conversation this message belongs to, seen by `me`.
    pub fn conversation_for(&self, me: &UserName) -> Conversation {
        match &self.to {
            Recipient::Everyone => Conversation::Group,
            Recipient::User(to) if self.from.same_account(me) => Conversation::With(to.clone()),
            Recipient::User(_) => Conversation::With(self.from.clone()),
        }
    }
}

impl Conversation {
    /// The recipient a message sent into this conversation goes to.
    pub fn recipient(&self) -> Recipient {
        match self {
            Conversation::Group => Recipient::Everyone,
            Conversation::With(u) => Recipient::User(u.clone()),
        }
    }
}
