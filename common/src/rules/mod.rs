//! The rules both ends apply, written once: what a message may contain
//! ([`content`]), which files are pictures ([`picture`]) and which stream
//! goes first ([`priority`]).
//!
//! The server enforces them; the client library applies the same ones
//! before it sends, so a user hears "too long" at once instead of after a
//! round trip. `docs/protocol.md` states them for other implementations
//! (§7.7 and §7.8 for content, §2 for priorities).

pub mod content;
pub mod picture;
pub mod priority;

pub use content::check_content;
pub use picture::{is_picture_extension, PictureKind, PICTURE_EXTENSIONS};
pub use priority::{CONTROL_PRIORITY, TRANSFER_PRIORITY};
