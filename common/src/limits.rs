//! The bounds every peer enforces: frame size, text length, name and
//! password rules, page sizes. Servers may lower some of them (see
//! [`crate::protocol::Limits`]), never raise the hard ones here.

/// Largest frame payload (after the 4-byte length) anyone will read. Checked
/// before a single byte of the payload is allocated.
pub const MAX_FRAME_BYTES: u32 = 1024 * 1024;

/// Longest text message, in Unicode scalar values.
pub const MAX_TEXT_CHARS: usize = 4000;

/// User names are 1 to 32 characters.
pub const MAX_NAME_CHARS: usize = 32;

/// Passwords need at least this many characters...
pub const MIN_PASSWORD_CHARS: usize = 8;
/// ...and at most this many bytes (argon2 input is bounded too).
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Longest display name of a picture or file.
pub const MAX_MEDIA_NAME_CHARS: usize = 255;

/// Most messages in one history page.
pub const MAX_HISTORY_PAGE: u16 = 200;

/// Most missed messages replayed at login; older ones are paged on request.
pub const MAX_CATCH_UP: u32 = 2000;

/// Longest free-text detail in a refusal or close reason.
pub const MAX_DETAIL_CHARS: usize = 500;
