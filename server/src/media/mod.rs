//! Pictures and files: the blob store on disk and the transfer streams that
//! fill and read it.
//!
//! Blobs are named by their BLAKE3 hash only; nothing a user sends becomes
//! part of a path. An upload lands in `partial/<account>-<hash>.part`, is
//! hashed as it arrives, and is moved atomically into `blobs/<xx>/<hash>`
//! once its hash checks out, so a blob that exists is always complete and
//! verified. A dropped upload keeps its partial file and resumes from its
//! length; a mismatch deletes it. Knowing a hash grants nothing: [`put`]
//! makes everyone who has not uploaded a blob send its bytes, and [`get`]
//! answers "no such blob" to whoever may not see one. Transfers take turns
//! ([`limits`]), each with bounded buffers, so memory stays flat whatever
//! the size; [`disk`] owns the files and [`sweeper`] keeps them and their
//! records in step. This file reads a transfer's header and hands it to
//! [`put`] or [`get`]; [`reply`](mod@reply) is how either answers and fails.

pub(crate) mod disk;
mod get;
pub(crate) mod limits;
mod put;
mod reply;
mod sweeper;

use std::time::Duration;

use natter_common::codec;
use natter_common::protocol::{TransferHeader, TransferReply};
use natter_common::rules::TRANSFER_PRIORITY;
use natter_common::Refusal;
use quinn::{RecvStream, SendStream, VarInt};
use tracing::debug;

pub use self::disk::BlobDir;
pub use self::get::visible_size;
pub use self::limits::TransferTurns;
use self::reply::{reply, Failure, DONE_READING, TRANSFER_ABORTED};
pub use self::sweeper::{reconcile, spawn as spawn_sweeper, start_up, sweep, SweepError};
use crate::context::Context;
use crate::store::Account;

/// Largest transfer header frame.
const MAX_HEADER_BYTES: u32 = 4096;
/// Time a client has to send the header of a transfer it opened.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves one transfer stream opened by a logged-in user.
pub async fn serve(ctx: &Context, account: &Account, mut send: SendStream, mut recv: RecvStream) {
    let _ = send.set_priority(TRANSFER_PRIORITY);
    let header = match tokio::time::timeout(
        HEADER_TIMEOUT,
        codec::read_frame::<_, TransferHeader>(&mut recv, MAX_HEADER_BYTES),
    )
    .await
    {
        Ok(Ok(Some(h))) => h,
        Ok(Ok(None)) => return,
        Ok(Err(e)) => {
            let _ = reply(
                &mut send,
                TransferReply::Refused(Refusal::Malformed(e.to_string())),
            )
            .await;
            let _ = recv.stop(VarInt::from_u32(TRANSFER_ABORTED));
            return;
        }
        Err(_) => {
            let _ = send.reset(VarInt::from_u32(TRANSFER_ABORTED));
            return;
        }
    };
    let outcome = match header {
        TransferHeader::Put { kind, hash, size } => {
            put::put(ctx, account, kind, hash, size, &mut send, &mut recv).await
        }
        TransferHeader::Get { hash, offset, .. } => {
            // Nothing belongs after a Get's header: refuse more at once
            // rather than let it sit unread in the stream's buffer for the
            // whole download.
            let _ = recv.stop(VarInt::from_u32(DONE_READING));
            get::get(ctx, account, hash, offset, &mut send).await
        }
    };
    match outcome {
        Ok(()) => {
            let _ = send.finish();
            // Let the peer read the end of the stream before the task drops it.
            let _ = tokio::time::timeout(Duration::from_secs(5), send.stopped()).await;
        }
        Err(Failure::Refused(refusal) | Failure::Dropped(refusal)) => {
            debug!(%refusal, "transfer refused");
            let _ = reply(&mut send, TransferReply::Refused(refusal)).await;
            let _ = recv.stop(VarInt::from_u32(TRANSFER_ABORTED));
            let _ = send.finish();
            let _ = tokio::time::timeout(Duration::from_secs(5), send.stopped()).await;
        }
        Err(Failure::Lost(e)) => debug!(error = %e, "transfer interrupted"),
    }
}
