//! How a transfer stream answers: its `TransferReply` frames, the failure a
//! transfer handler ends with (told to the client or not), and the stream
//! error codes the server stops or resets a transfer with.

use natter_common::codec::{self, FrameError};
use natter_common::protocol::TransferReply;
use natter_common::Refusal;
use quinn::SendStream;

/// Stream error code when a transfer is abandoned for breaking the protocol.
pub(super) const TRANSFER_ABORTED: u32 = 1;
/// Stream error code when the server has read all it will read of a
/// transfer's request (after a `Get` header).
pub(super) const DONE_READING: u32 = 0;

/// How a transfer handler fails.
pub(super) enum Failure {
    /// Tell the client why.
    Refused(Refusal),
    /// Stopped, with the partial file kept for a resume; tell the client why.
    Dropped(Refusal),
    /// The stream or connection is gone; nothing to tell.
    Lost(String),
}

impl From<Refusal> for Failure {
    fn from(r: Refusal) -> Self {
        Failure::Refused(r)
    }
}

/// A storage failure: logged here with its detail, told to the client only
/// as `Internal`.
pub(super) fn internal(e: impl std::fmt::Display) -> Failure {
    tracing::error!(error = %e, "media storage failed");
    Failure::Refused(Refusal::Internal)
}

/// Writes one reply frame; a stream that cannot take it is lost.
pub(super) async fn reply(send: &mut SendStream, reply: TransferReply) -> Result<(), Failure> {
    codec::write_frame(send, &reply).await.map_err(|e| match e {
        FrameError::Io(e) => Failure::Lost(e.to_string()),
        other => Failure::Lost(other.to_string()),
    })
}
