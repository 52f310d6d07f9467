//! Downloads: a blob goes only to someone who may see it, and to nobody
//! else says anything more than "no such blob"; downloads take turns like
//! uploads, and a reader that stops reading gives its turn back.

use std::time::Duration;

use natter_common::protocol::TransferReply;
use natter_common::{BlobHash, Refusal};
use quinn::{SendStream, VarInt};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::disk::CHUNK;
use super::limits::Full;
use super::reply::{internal, reply, Failure, TRANSFER_ABORTED};
use crate::context::Context;
use crate::store::Account;

/// The size of a complete blob `viewer` may see; `None` alike for a blob
/// that does not exist and one they may not see, so no answer built on it
/// can tell the two apart.
pub async fn visible_size(
    ctx: &Context,
    viewer: &Account,
    hash: BlobHash,
) -> Result<Option<u64>, crate::store::StoreError> {
    let viewer = viewer.clone();
    ctx.store
        .call(move |s| match s.may_fetch(&viewer, hash)? {
            true => s.blob_size(hash),
            false => Ok(None),
        })
        .await
}

pub(super) async fn get(
    ctx: &Context,
    account: &Account,
    hash: BlobHash,
    offset: u64,
    send: &mut SendStream,
) -> Result<(), Failure> {
    // A blob this user may not see, one that does not exist and a bad
    // offset into either are the same answer: nothing to learn from it.
    let size = visible_size(ctx, account, hash)
        .await
        .map_err(internal)?
        .ok_or(Refusal::NoSuchBlob)?;
    if offset > size {
        return Err(Refusal::Malformed(format!("offset {offset} past the end ({size})")).into());
    }
    let wait = Duration::from_secs(ctx.config.upload_wait_secs);
    let _turn = ctx
        .turns
        .downloads
        .take(account.id, wait)
        .await
        .map_err(busy)?;
    let mut file = match tokio::fs::File::open(ctx.blobs.blob(&hash)).await {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::error!(%hash, "a recorded blob has no file");
            return Err(Refusal::NoSuchBlob.into());
        }
        Err(e) => return Err(internal(e)),
    };
    file.seek(std::io::SeekFrom::Start(offset))
        .await
        .map_err(internal)?;
    reply(send, TransferReply::Sending { size }).await?;
    // A reader that takes a whole idle period to accept one buffer is
    // dropped, so it cannot keep its turn (and the buffer) forever.
    let stall = Duration::from_secs(ctx.config.idle_timeout_secs.max(1));
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = file.read(&mut buf).await.map_err(internal)?;
        if n == 0 {
            return Ok(());
        }
        match tokio::time::timeout(stall, send.write_all(&buf[..n])).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(Failure::Lost(e.to_string())),
            Err(_) => {
                let _ = send.reset(VarInt::from_u32(TRANSFER_ABORTED));
                return Err(Failure::Lost("the reader stopped reading".into()));
            }
        }
    }
}

fn busy(full: Full) -> Failure {
    Refusal::Busy(match full {
        Full::User(n) => format!("you already have {n} downloads running; try again shortly"),
        Full::Server(n) => format!("the server is sending {n} downloads; try again shortly"),
    })
    .into()
}
