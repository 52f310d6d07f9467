//! Pictures and files: the blob store on disk and the transfer streams that
//! fill and read it.
//!
//! Blobs are named by their BLAKE3 hash only; nothing a user sends becomes
//! part of a path. An upload lands in `partial/<account>-<hash>.part`, is
//! hashed as it arrives, and is moved atomically into `blobs/<xx>/<hash>`
//! once its hash checks out, so a blob that exists is always complete and
//! verified. A dropped upload keeps its partial file and resumes from its
//! length; a mismatch deletes it. Reads and writes go through a fixed
//! buffer, so memory stays flat whatever the size.

use std::io::{Read as _, Seek as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use natter_common::codec::{self, FrameError};
use natter_common::protocol::{MediaKind, TransferHeader, TransferReply};
use natter_common::{BlobHash, Refusal};
use quinn::{RecvStream, SendStream, VarInt};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tracing::{debug, info, warn};

use crate::session::Context;
use crate::store::Account;

/// Largest transfer header frame.
const MAX_HEADER_BYTES: u32 = 4096;
/// Time a client has to send the header of a transfer it opened.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// I/O buffer for transfers.
const CHUNK: usize = 256 * 1024;
/// Stream error code when a transfer is abandoned for breaking the protocol.
const TRANSFER_ABORTED: u32 = 1;

/// Where blobs and partial uploads live.
pub struct BlobDir {
    root: PathBuf,
}

impl BlobDir {
    pub fn open(data_dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(data_dir.join("blobs"))?;
        std::fs::create_dir_all(data_dir.join("partial"))?;
        Ok(Self {
            root: data_dir.to_path_buf(),
        })
    }

    pub fn blob(&self, hash: &BlobHash) -> PathBuf {
        let hex = hash.to_hex();
        self.root.join("blobs").join(&hex[..2]).join(hex)
    }

    fn partial(&self, account: &Account, hash: &BlobHash) -> PathBuf {
        self.root
            .join("partial")
            .join(format!("{}-{}.part", account.id.0, hash.to_hex()))
    }
}

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

    let partial = ctx.blobs.partial(account, &hash);
    let (file, hasher, offset) = resume_partial(partial.clone(), size)
        .await
        .map_err(internal)?;
    reply(send, TransferReply::SendFrom { offset }).await?;
    info!(%hash, size, offset, "receiving upload");

    let started = std::time::Instant::now();
    let received = receive(recv, file, hasher, offset, size).await;
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

/// Opens (or creates) the partial file and hashes what it already holds,
/// so the upload continues from its end. A partial longer than the blob is
/// garbage and starts over.
async fn resume_partial(
    path: PathBuf,
    size: u64,
) -> std::io::Result<(tokio::fs::File, blake3::Hasher, u64)> {
    tokio::task::spawn_blocking(move || {
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        let mut len = file.metadata()?.len();
        if len > size {
            len = 0;
        }
        let mut hasher = blake3::Hasher::new();
        file.rewind()?;
        let mut buf = vec![0u8; CHUNK];
        let mut hashed = 0;
        while hashed < len {
            let n = file.read(&mut buf[..((len - hashed).min(CHUNK as u64) as usize)])?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            hashed += n as u64;
        }
        // Whatever lies past the hashed prefix is dropped; writing resumes
        // exactly at its end.
        let len = hashed;
        file.set_len(len)?;
        file.seek(std::io::SeekFrom::Start(len))?;
        Ok((tokio::fs::File::from_std(file), hasher, len))
    })
    .await
    .map_err(std::io::Error::other)?
}

/// Buffers of [`CHUNK`] bytes queued between the network and the disk
/// thread: bounds an upload's memory to a few MiB.
const DISK_QUEUE: usize = 8;

/// Appends the stream to the partial file until the client finishes it.
/// The network side fills whole buffers; a blocking thread hashes and
/// writes them, so disk and hashing overlap with receiving and never
/// occupy the async workers. Returns the hash of the whole blob.
async fn receive(
    recv: &mut RecvStream,
    file: tokio::fs::File,
    hasher: blake3::Hasher,
    offset: u64,
    size: u64,
) -> Result<BlobHash, Failure> {
    let mut file = file.into_std().await;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(DISK_QUEUE);
    let disk = tokio::task::spawn_blocking(
        move || -> std::io::Result<(std::fs::File, blake3::Hasher)> {
            use std::io::Write;
            let mut hasher = hasher;
            while let Some(chunk) = rx.blocking_recv() {
                hasher.update(&chunk);
                file.write_all(&chunk)?;
            }
            Ok((file, hasher))
        },
    );
    let mut have = offset;
    let mut buf = vec![0u8; CHUNK];
    let mut filled = 0;
    let outcome = loop {
        match recv.read(&mut buf[filled..]).await {
            Ok(Some(n)) => {
                if have + n as u64 > size {
                    break Err(
                        Refusal::Malformed(format!("more than the announced {size} bytes")).into(),
                    );
                }
                have += n as u64;
                filled += n;
                if filled == buf.len()
                    && tx
                        .send(std::mem::replace(&mut buf, vec![0u8; CHUNK]))
                        .await
                        .is_err()
                {
                    break Err(internal("the disk writer stopped"));
                }
                if filled == CHUNK {
                    filled = 0;
                }
            }
            Ok(None) => break Ok(()),
            Err(e) => break Err(Failure::Lost(e.to_string())),
        }
    };
    // The tail that did not fill a whole buffer.
    if filled > 0 {
        buf.truncate(filled);
        let _ = tx.send(buf).await;
    }
    drop(tx);
    // Whatever arrived is written before deciding, so a resume can count on it.
    let written = disk.await.map_err(internal)?;
    outcome?;
    let (file, hasher) = written.map_err(internal)?;
    if have != size {
        return Err(
            Refusal::Malformed(format!("stream ended after {have} of {size} bytes")).into(),
        );
    }
    let syncing = std::time::Instant::now();
    tokio::task::spawn_blocking(move || file.sync_all())
        .await
        .map_err(internal)?
        .map_err(internal)?;
    debug!(
        sync_ms = syncing.elapsed().as_millis() as u64,
        "upload synced"
    );
    Ok(BlobHash(*hasher.finalize().as_bytes()))
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
