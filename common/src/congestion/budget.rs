//! How the transfers of one connection share its flow-control budget with
//! the control stream, so a chat frame always finds room to be written.
//!
//! QUIC lets a connection buffer only so much data on all its streams
//! together: what the receiver allows (`max_data`) and what the sender
//! keeps unacknowledged (quinn's send window). When transfers take all of
//! it, writing a chat frame blocks until some is acknowledged, and the
//! transfers' writers take each freed byte first: two downloads at once
//! held chat for seconds. So the transfers a client runs at once may
//! together hold at most what each of these limits has, minus room for
//! the control stream:
//!
//! - uploads: [`UPLOADS_AT_ONCE`] × [`UPLOAD_STREAM_WINDOW`] (the server's
//!   per-stream receive window) < [`CONNECTION_WINDOW`] (its receive window);
//! - downloads: [`DOWNLOADS_AT_ONCE`] × [`DOWNLOAD_STREAM_WINDOW`] (the
//!   client's per-stream receive window) < [`CONNECTION_WINDOW`] (the
//!   server's send window).
//!
//! A client library runs further transfers in turn, in the order asked.

/// The server's receive window and send window for one connection.
pub const CONNECTION_WINDOW: u32 = 2 << 20;
/// The server's receive window for one stream: one upload at full speed.
pub const UPLOAD_STREAM_WINDOW: u32 = 1 << 20;
/// The client's receive window for one stream: a download at 100 Mbit/s
/// over 40 ms round trips. Two at 768 KiB still left chat waiting up to
/// 400 ms now and then (the credit a client grants counts from what it
/// read, the sender's budget from what was acknowledged).
pub const DOWNLOAD_STREAM_WINDOW: u32 = 512 << 10;
/// Uploads one client runs at once.
pub const UPLOADS_AT_ONCE: usize = 1;
/// Downloads one client runs at once.
pub const DOWNLOADS_AT_ONCE: usize = 2;
/// What the control stream is always left, at least, in each direction.
pub const CONTROL_ROOM: u32 = 256 << 10;

const _: () =
    assert!(UPLOADS_AT_ONCE as u32 * UPLOAD_STREAM_WINDOW + CONTROL_ROOM <= CONNECTION_WINDOW);
const _: () =
    assert!(DOWNLOADS_AT_ONCE as u32 * DOWNLOAD_STREAM_WINDOW + CONTROL_ROOM <= CONNECTION_WINDOW);
