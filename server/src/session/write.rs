//! Writing to the client on the control stream: a frame, or a batch of
//! frames encoded once for many sessions, and
//! a client that stops reading is too slow rather than a stalled task.

use std::time::Duration;

use bytes::Bytes;

use natter_common::codec::{self, FrameError};
use natter_common::ServerMsg;
use quinn::SendStream;
use tokio::time::timeout;

use super::close::Close;

/// How long the server waits for a client to read what it was sent before
/// counting it as too slow.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Writes one frame; a client that does not read for [`WRITE_TIMEOUT`] is
/// too slow. A frame the server cannot encode (too large) is its own bug,
/// not the client's: it is logged and skipped, and the session goes on.
pub(super) async fn write(send: &mut SendStream, msg: &ServerMsg) -> Result<(), Close> {
    match timeout(WRITE_TIMEOUT, codec::write_frame(send, msg)).await {
        Err(_) => Err(Close::NotReading),
        Ok(Err(e @ (FrameError::Encode(_) | FrameError::TooLarge { .. }))) => {
            tracing::error!(error = %e, frame = msg.kind(), "outgoing frame skipped");
            Ok(())
        }
        Ok(Err(e)) => Err(Close::from_frame(e)),
        Ok(Ok(())) => Ok(()),
    }
}

/// Writes frames already encoded, all in one go, with the same patience
/// as [`write`].
pub(super) async fn write_frames(send: &mut SendStream, frames: &mut [Bytes]) -> Result<(), Close> {
    match timeout(WRITE_TIMEOUT, send.write_all_chunks(frames)).await {
        Err(_) => Err(Close::NotReading),
        Ok(Err(e)) => Err(Close::from_frame(FrameError::Io(e.into()))),
        Ok(Ok(())) => Ok(()),
    }
}
