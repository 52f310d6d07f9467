//! Pictures and files: the blob store on disk and the transfer streams that
//! fill and read it.
//!
//! Blobs are named by their BLAKE3 hash only; nothing a user sends becomes
//! part of a path. An upload lands in `partial/<account>-<hash>.part`, is
//! hashed as it arrives, and is moved atomically into `blobs/<xx>/<hash>`
//! once its hash checks out, so a blob that exists is always complete and
//! verified. A dropped upload keeps its partial file and resumes from its
//! length; a mismatch deletes it. Uploads go through a pool of four
//! buffers and downloads through one, so memory stays flat whatever the
//! size; [`disk`] owns the files.

mod disk;

use std::time::Duration;

use natter_common::codec::{self, FrameError};
use natter_common::protocol::{MediaKind, TransferHeader, TransferReply};
use natter_common::{BlobHash, Refusal};
use quinn::{RecvStream, SendStream, VarInt};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tracing::{debug, info, warn};

pub use self::disk::BlobDir;
use self::disk::{Chunk, Partial, CHUNK};
use crate::session::Context;
use crate::store::Account;

/// Largest transfer header frame.
const MAX_HEADER_BYTES: u32 = 4096;
/// Time a client has to send the header of a transfer it opened.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Stream error code when a transfer is abandoned for breaking the protocol.
const TRANSFER_ABORTED: u32 = 1;

/// Serves one transfer stream opened by a logged-in user.
pub async fn serve(ctx: &Context, account: &Account, mut send: SendStream, mut recv: RecvStream) {
    let _ = send.set_priority(0);
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
            put(ctx, account, kind, hash, size, &mut send, &mut recv).await
        }
        TransferHeader::Get { hash, offset, .. } => {
            get(ctx, account, hash, offset, &mut send).await
        }
    };
    match outcome {
        Ok(()) => {
            let _ = send.finish();
            // Let the peer read the end of the stream before the task drops it.
            let _ = tokio::time::timeout(Duration::from_secs(5), send.stopped()).await;
        }
        Err(Failure::Refused(refusal)) => {
            debug!(%refusal, "transfer refused");
            let _ = reply(&mut send, TransferReply::Refused(refusal)).await;
            let _ = recv.stop(VarInt::from_u32(TRANSFER_ABORTED));
            let _ = send.finish();
            let _ = tokio::time::timeout(Duration::from_secs(5), send.stopped()).await;
        }
        Err(Failure::Lost(e)) => debug!(error = %e, "transfer interrupted"),
    }
}

enum Failure {
    /// Tell the client why.
    Refused(Refusal),
    /// The stream or connection is gone; nothing to tell.
    Lost(String),
}

impl From<Refusal> for Failure {
    fn from(r: Refusal) -> Self {
        Failure::Refused(r)
    }
}

fn internal(e: impl std::fmt::Display) -> Failure {
    tracing::error!(error = %e, "media storage failed");
    Failure::Refused(Refusal::Internal)
}

async fn reply(send: &mut SendStream, reply: TransferReply) -> Result<(), Failure> {
    codec::write_frame(send, &reply).await.map_err(|e| match e {
        FrameError::Io(e) => Failure::Lost(e.to_string()),
        other => Failure::Lost(other.to_string()),
    })
}

async fn put(
    ctx: &Context,
    account: &Account,
    kind: MediaKind,
    hash: BlobHash,
    size: u64,
    send: &mut SendStream,
    recv: &mut RecvStream,
) -> Result<(), Failure> {
    let max = ctx.config.max_upload_bytes;
    if size > max {
        return Err(Refusal::TooLarge { size, max }.into());
    }
    let (id, store) = (account.id, ctx.store.clone());
    let existing = store
        .call(move |s| s.blob_size(hash))
        .await
        .map_err(internal)?;
    let already_mine = store
        .call(move |s| s.uploaded(id, hash))
        .await
        .map_err(internal)?;
    if !already_mine {
        let used = store
            .call(move |s| s.used_bytes(id))
            .await
            .map_err(internal)?;
        let quota = ctx.config.quota_bytes;
        if used.saturating_add(size) > quota {
            return Err(Refusal::QuotaExceeded {
                used,
                quota,
                needed: size,
            }
            .into());
        }
    }
    if let Some(stored) = existing {
        if stored != size {
            return Err(
                Refusal::InvalidMedia(format!("that blob has {stored} bytes, not {size}")).into(),
            );
        }
        // Deduplicated: the server already has these bytes.
        store
            .call(move |s| s.record_upload(id, hash, size, kind))
            .await
            .map_err(internal)?;
        return reply(send, TransferReply::Stored).await;
    }

    // A turn among the uploads receiving at once, held until the disk
    // thread lets go of its buffers.
    let wait = Duration::from_secs(ctx.config.upload_wait_secs);
    let turn = match tokio::time::timeout(wait, ctx.uploads.clone().acquire_owned()).await {
        Ok(Ok(turn)) => turn,
        Ok(Err(_)) => return Err(internal("the upload slots are closed")),
        Err(_) => {
            let busy = ctx.config.max_uploads;
            return Err(Refusal::Busy(format!(
                "the server is receiving {busy} uploads; try again shortly"
            ))
            .into());
        }
    };
    let partial = ctx.blobs.partial(account, &hash);
    let opened = {
        let path = partial.clone();
        tokio::task::spawn_blocking(move || Partial::open(&path, size))
            .await
            .map_err(internal)?
            .map_err(internal)?
    };
    let offset = opened.len();
    reply(send, TransferReply::SendFrom { offset }).await?;
    info!(%hash, size, offset, "receiving upload");

    let started = std::time::Instant::now();
    // An upload that sends nothing for as long as a connection may stay
    // idle is dropped (its partial file stays), so it cannot hold a turn.
    let stall = Duration::from_secs(ctx.config.idle_timeout_secs.max(1));
    let received = receive(recv, opened, size, turn, stall).await;
    let digest = match received {
        Ok(digest) => digest,
        Err(Failure::Refused(r)) => {
            // Too many bytes: the partial file cannot be trusted.
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(Failure::Refused(r));
        }
        Err(lost) => return Err(lost), // keep the partial file for a resume
    };
    if digest != hash {
        warn!(%hash, "upload does not match its hash; discarded");
        let _ = tokio::fs::remove_file(&partial).await;
        return Err(Refusal::HashMismatch.into());
    }
    let target = ctx.blobs.blob(&hash);
    if let Some(dir) = target.parent() {
        tokio::fs::create_dir_all(dir).await.map_err(internal)?;
    }
    tokio::fs::rename(&partial, &target)
        .await
        .map_err(internal)?;
    store
        .call(move |s| s.record_upload(id, hash, size, kind))
        .await
        .map_err(internal)?;
    info!(%hash, size, secs = started.elapsed().as_secs_f64(), "upload stored");
    reply(send, TransferReply::Stored).await
}

/// Buffers per upload: one being filled, the rest queued for or at the
/// disk thread. Bounds an upload's memory to about 4 MiB.
const POOL: usize = 4;

/// Appends the stream to the partial file until the client finishes it.
/// The network side fills whole buffers; a blocking thread hashes and
/// writes them and hands them back, so disk and hashing overlap with
/// receiving and never occupy the async workers. Returns the hash of the
/// whole blob, once it is on disk. The disk thread keeps `turn` (and the
/// partial file's lock) until it is done, even if this task is cancelled.
async fn receive(
    recv: &mut RecvStream,
    partial: Partial,
    size: u64,
    turn: tokio::sync::OwnedSemaphorePermit,
    stall_after: Duration,
) -> Result<BlobHash, Failure> {
    let (full_tx, mut full_rx) = tokio::sync::mpsc::channel::<Chunk>(POOL);
    let (free_tx, mut free_rx) = tokio::sync::mpsc::channel::<Chunk>(POOL);
    let mut have = partial.len();
    let disk = tokio::task::spawn_blocking(move || -> std::io::Result<Partial> {
        let _turn = turn;
        let mut partial = partial;
        while let Some(mut chunk) = full_rx.blocking_recv() {
            partial.append(chunk.bytes())?;
            chunk.clear();
            // The pool never holds more than POOL, so this never waits.
            let _ = free_tx.try_send(chunk);
        }
        Ok(partial)
    });
    let mut made = 1;
    let mut chunk = Chunk::new();
    // What is left of the last piece quinn handed over once the buffer
    // filled. Whole pieces are taken so quinn never splits and requeues them.
    let mut carry = bytes::Bytes::new();
    // Time spent waiting for the disk: says when the disk, not the
    // network, sets the pace.
    let mut waited = Duration::ZERO;
    // One timer for the whole upload, checked each time it fires (so a
    // stall is noticed after one to two periods): a timer per read would
    // cost more than the hashing.
    let stall = tokio::time::sleep(stall_after);
    tokio::pin!(stall);
    let mut have_at_check = have;
    let outcome = loop {
        if carry.is_empty() {
            let next = tokio::select! {
                biased;
                next = recv.read_chunk(usize::MAX, true) => next,
                () = &mut stall => {
                    if have == have_at_check {
                        break Err(Failure::Lost(format!(
                            "no data for {} s",
                            stall_after.as_secs()
                        )));
                    }
                    have_at_check = have;
                    stall.as_mut().reset(tokio::time::Instant::now() + stall_after);
                    continue;
                }
            };
            match next {
                Ok(Some(piece)) => {
                    if have + piece.bytes.len() as u64 > size {
                        break Err(Refusal::Malformed(format!(
                            "more than the announced {size} bytes"
                        ))
                        .into());
                    }
                    have += piece.bytes.len() as u64;
                    carry = piece.bytes;
                }
                Ok(None) => break Ok(()),
                Err(e) => break Err(Failure::Lost(e.to_string())),
            }
        }
        let taken = chunk.fill_from(&carry);
        bytes::Buf::advance(&mut carry, taken);
        if chunk.is_full() {
            // With the whole pool out, the disk thread holds the rest and
            // hands one back once it is written.
            let next = if made < POOL {
                made += 1;
                Chunk::new()
            } else {
                let waiting = std::time::Instant::now();
                let got = free_rx.recv().await;
                waited += waiting.elapsed();
                match got {
                    Some(chunk) => chunk,
                    None => break Err(internal("the disk writer stopped")),
                }
            };
            let full = std::mem::replace(&mut chunk, next);
            if full_tx.send(full).await.is_err() {
                break Err(internal("the disk writer stopped"));
            }
        }
    };
    // The tail that did not fill a whole buffer: whatever arrived is
    // written before deciding, so a resume can count on it.
    if !chunk.is_empty() {
        let _ = full_tx.send(chunk).await;
    }
    drop(full_tx);
    let written = disk.await.map_err(internal)?;
    // A disk error says more than what it made the network side do.
    let partial = written.map_err(internal)?;
    outcome?;
    if have != size {
        return Err(
            Refusal::Malformed(format!("stream ended after {have} of {size} bytes")).into(),
        );
    }
    debug!(disk_wait_ms = waited.as_millis() as u64, "upload received");
    let syncing = std::time::Instant::now();
    let digest = tokio::task::spawn_blocking(move || partial.finish())
        .await
        .map_err(internal)?
        .map_err(internal)?;
    debug!(
        sync_ms = syncing.elapsed().as_millis() as u64,
        "upload synced"
    );
    Ok(digest)
}

async fn get(
    ctx: &Context,
    account: &Account,
    hash: BlobHash,
    offset: u64,
    send: &mut SendStream,
) -> Result<(), Failure> {
    let viewer = account.clone();
    let store = ctx.store.clone();
    let Some(size) = store
        .call(move |s| s.blob_size(hash))
        .await
        .map_err(internal)?
    else {
        return Err(Refusal::NoSuchBlob.into());
    };
    if !store
        .call(move |s| s.may_fetch(&viewer, hash))
        .await
        .map_err(internal)?
    {
        warn!(%hash, "refused a fetch of a blob the user cannot see");
        return Err(Refusal::Forbidden.into());
    }
    if offset > size {
        return Err(Refusal::Malformed(format!("offset {offset} past the end ({size})")).into());
    }
    let mut file = tokio::fs::File::open(ctx.blobs.blob(&hash))
        .await
        .map_err(internal)?;
    file.seek(std::io::SeekFrom::Start(offset))
        .await
        .map_err(internal)?;
    reply(send, TransferReply::Sending { size }).await?;
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = file.read(&mut buf).await.map_err(internal)?;
        if n == 0 {
            return Ok(());
        }
        send.write_all(&buf[..n])
            .await
            .map_err(|e| Failure::Lost(e.to_string()))?;
    }
}
