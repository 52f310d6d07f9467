//! Send priorities of the two kinds of stream (docs/protocol.md §2).
//!
//! Each side gives its streams a priority when it opens or accepts them;
//! QUIC then sends the higher one's data first. Control outranks transfers
//! so a chat line or a `Pong` never waits behind megabytes of a file: the
//! conversation stays live while a transfer uses what bandwidth is left.

/// The control stream: every chat message, presence change and reply.
pub const CONTROL_PRIORITY: i32 = 10;

/// Every transfer stream: uploads and downloads of pictures and files.
/// Below [`CONTROL_PRIORITY`], so transfers only fill what chat leaves.
pub const TRANSFER_PRIORITY: i32 = 0;

const _: () = assert!(CONTROL_PRIORITY > TRANSFER_PRIORITY);
