//! The transfer streams' wire protocol as the client speaks it: a
//! `TransferHeader`, the server's `TransferReply`, then the bytes. Uploads
//! ask first (the server may have all or part of the blob); downloads
//! resume from what an interrupted attempt left and are verified before
//! they appear in the cache.
//!
//! Transfers stream between disk and network through a fixed buffer, so
//! memory stays flat whatever the size. Each runs on its own stream at a
//! lower priority than the control stream, so chat is never stuck behind
//! file data.

use std::io::{Read, Seek};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use natter_common::codec;
use natter_common::protocol::{MediaKind, TransferHeader, TransferReply};
use natter_common::rules::TRANSFER_PRIORITY;
use natter_common::{BlobHash, MediaRef, Refusal};
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

use super::progress::Meter;
use crate::cache::MediaCache;
use crate::error::ClientError;
use crate::hash::{hash_prefix, CHUNK};

/// Largest reply frame on a transfer stream.
const MAX_REPLY_BYTES: u32 = 4096;
/// Longest a server may take to answer a transfer header (it may need to
/// hash a partial upload first).
const REPLY_TIMEOUT: Duration = Duration::from_secs(60);

/// What an upload did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadStats {
    /// Bytes that crossed the network this time (0 when deduplicated).
    pub sent: u64,
    /// Where this attempt started (more than 0 when resuming).
    pub resumed_from: u64,
}

fn lost(e: impl std::fmt::Display) -> ClientError {
    ClientError::Closed(e.to_string())
}

fn io_error(e: std::io::Error) -> ClientError {
    ClientError::InvalidInput(format!("file error: {e}"))
}

async fn read_reply(recv: &mut quinn::RecvStream) -> Result<TransferReply, ClientError> {
    match tokio::time::timeout(REPLY_TIMEOUT, codec::read_frame(recv, MAX_REPLY_BYTES)).await {
        Err(_) => Err(ClientError::Closed(
            "the server did not answer the transfer".into(),
        )),
        Ok(Ok(Some(reply))) => Ok(reply),
        Ok(Ok(None)) => Err(ClientError::Closed("the server ended the transfer".into())),
        Ok(Err(codec::FrameError::Io(e))) => Err(lost(e)),
        Ok(Err(e)) => Err(ClientError::Protocol(e.to_string())),
    }
}

/// Chunks of an upload read ahead of the network.
const READ_AHEAD: usize = 4;

/// Reads bytes `offset..size` of `path` on a blocking thread, [`CHUNK`] at a
/// time, into buffers that quinn then takes without copying; no faster than
/// `max_rate` bytes a second when one is given. The thread stops when the
/// receiver is dropped; a file that ends early is an error.
fn read_ahead(
    path: &Path,
    offset: u64,
    size: u64,
    max_rate: Option<u64>,
) -> std::io::Result<tokio::sync::mpsc::Receiver<std::io::Result<bytes::Bytes>>> {
    let mut file = std::fs::File::open(path)?;
    file.seek(std::io::SeekFrom::Start(offset))?;
    let shown = path.display().to_string();
    let (tx, rx) = tokio::sync::mpsc::channel(READ_AHEAD);
    tokio::task::spawn_blocking(move || {
        let mut at = offset;
        let started = Instant::now();
        while at < size {
            if let Some(rate) = max_rate.filter(|&r| r > 0) {
                let due = Duration::from_secs_f64((at - offset) as f64 / rate as f64);
                // In short naps, so a cancelled upload frees the thread soon.
                while let Some(early) = due.checked_sub(started.elapsed()) {
                    if tx.is_closed() {
                        return;
                    }
                    std::thread::sleep(early.min(Duration::from_millis(50)));
                }
            }
            let want = (size - at).min(CHUNK as u64) as usize;
            // Read into spare capacity: no zeroing, no copy after.
            let mut chunk = Vec::with_capacity(want);
            let read = match (&mut file).take(want as u64).read_to_end(&mut chunk) {
                Ok(n) if n < want => Err(std::io::Error::other(format!(
                    "{shown} shrank while it was being sent"
                ))),
                Ok(_) => Ok(()),
                Err(e) => Err(e),
            };
            let last = read.is_err();
            if tx
                .blocking_send(read.map(|()| bytes::Bytes::from(chunk)))
                .is_err()
                || last
            {
                return;
            }
            at += want as u64;
        }
    });
    Ok(rx)
}

/// Uploads a file whose hash and size are known. Asks first: the server may
/// have it all (nothing is sent), part of it (resume), or nothing.
pub async fn upload(
    connection: &quinn::Connection,
    kind: MediaKind,
    path: &Path,
    hash: BlobHash,
    size: u64,
    cancel: &CancellationToken,
    progress: impl FnMut(u64, u64, f64),
) -> Result<UploadStats, ClientError> {
    upload_paced(connection, kind, path, hash, size, None, cancel, progress).await
}

/// [`upload`], sending no faster than `max_rate` bytes a second: leaves a
/// shared link (or, on one machine, the CPU) room for everything else.
#[allow(clippy::too_many_arguments)]
pub async fn upload_paced(
    connection: &quinn::Connection,
    kind: MediaKind,
    path: &Path,
    hash: BlobHash,
    size: u64,
    max_rate: Option<u64>,
    cancel: &CancellationToken,
    progress: impl FnMut(u64, u64, f64),
) -> Result<UploadStats, ClientError> {
    let (mut send, mut recv) = connection.open_bi().await.map_err(lost)?;
    let _ = send.set_priority(TRANSFER_PRIORITY);
    codec::write_frame(&mut send, &TransferHeader::Put { kind, hash, size })
        .await
        .map_err(lost)?;
    let offset = match read_reply(&mut recv).await? {
        TransferReply::Stored => {
            return Ok(UploadStats {
                sent: 0,
                resumed_from: size,
            })
        }
        TransferReply::SendFrom { offset } if offset <= size => offset,
        TransferReply::Refused(r) => return Err(ClientError::Refused(r)),
        other => {
            return Err(ClientError::Protocol(format!(
                "unexpected transfer reply {other:?}"
            )))
        }
    };
    let mut chunks = read_ahead(path, offset, size, max_rate).map_err(io_error)?;
    let mut meter = Meter::new(offset, size, progress);
    let mut done = offset;
    let cancelled = |send: &mut quinn::SendStream| {
        let _ = send.reset(0u32.into());
        Err(ClientError::Closed("transfer cancelled".into()))
    };
    while done < size {
        let next = tokio::select! {
            biased;
            _ = cancel.cancelled() => return cancelled(&mut send),
            next = chunks.recv() => next,
        };
        let chunk = match next {
            Some(chunk) => chunk.map_err(io_error)?,
            None => return Err(ClientError::Closed("the file reader stopped".into())),
        };
        let n = chunk.len() as u64;
        tokio::select! {
            biased;
            _ = cancel.cancelled() => return cancelled(&mut send),
            r = send.write_chunk(chunk) => if let Err(e) = r {
                return Err(stopped_because(&mut recv, e).await);
            },
        }
        done += n;
        meter.update(done);
    }
    send.finish().map_err(lost)?;
    meter.finish(done);
    match read_reply(&mut recv).await? {
        TransferReply::Stored => Ok(UploadStats {
            sent: size - offset,
            resumed_from: offset,
        }),
        TransferReply::Refused(r) => Err(ClientError::Refused(r)),
        other => Err(ClientError::Protocol(format!(
            "unexpected transfer reply {other:?}"
        ))),
    }
}

/// How long an upload whose stream the server stopped waits for the reason,
/// which the server sends before it stops reading.
const STOP_REASON_WAIT: Duration = Duration::from_secs(5);

/// Why an upload's stream stopped taking bytes: the server says why on the
/// reply half before it stops reading (its disk is full, the upload was
/// slower than its minimum rate), and keeps what arrived for a resume.
/// Without such a reason the stream was lost.
async fn stopped_because(recv: &mut quinn::RecvStream, e: quinn::WriteError) -> ClientError {
    if let quinn::WriteError::Stopped(_) = e {
        if let Ok(Ok(TransferReply::Refused(r))) =
            tokio::time::timeout(STOP_REASON_WAIT, read_reply(recv)).await
        {
            return ClientError::Interrupted(r);
        }
    }
    lost(e)
}

/// Downloads a blob into the cache (resuming an interrupted download) and
/// verifies its hash before it appears there. Returns the cached path.
pub async fn download(
    connection: &quinn::Connection,
    cache: &MediaCache,
    kind: MediaKind,
    media: &MediaRef,
    cancel: &CancellationToken,
    progress: impl FnMut(u64, u64, f64),
) -> Result<PathBuf, ClientError> {
    if let Some(path) = cache.cached(kind, media).await {
        return Ok(path);
    }
    let target = cache.path_for(kind, media);
    let partial = cache.partial(&media.hash);
    let fetch = Fetch {
        kind,
        hash: media.hash,
        size: Some(media.size),
        partial,
        target,
    };
    fetch.run(connection, cancel, progress).await
}

/// One verified download: from `offset` = what `partial` holds, into
/// `target` once the whole blob hashes right.
pub struct Fetch {
    pub kind: MediaKind,
    pub hash: BlobHash,
    /// The size the referencing message announced, when known.
    pub size: Option<u64>,
    pub partial: PathBuf,
    pub target: PathBuf,
}

impl Fetch {
    /// Downloads on `connection`, resuming from what `partial` holds, and
    /// moves the file to `target` once the whole blob hashes right.
    pub async fn run(
        &self,
        connection: &quinn::Connection,
        cancel: &CancellationToken,
        progress: impl FnMut(u64, u64, f64),
    ) -> Result<PathBuf, ClientError> {
        let bound = self.size.unwrap_or(u64::MAX);
        // Ask from the end of what an earlier attempt left; the partial file
        // itself is only touched once the server agrees to send.
        let offset = match tokio::fs::metadata(&self.partial).await {
            Ok(m) if m.len() <= bound => m.len(),
            _ => 0,
        };
        let (size, mut recv) = self.ask(connection, offset).await?;
        if self.size.is_some_and(|announced| announced != size) || offset > size {
            let _ = tokio::fs::remove_file(&self.partial).await;
            return Err(ClientError::Protocol(format!(
                "the server has {size} bytes, expected {bound}"
            )));
        }
        let (file, hasher, have) = open_partial(self.partial.clone(), offset)
            .await
            .map_err(io_error)?;
        if have != offset {
            return Err(ClientError::Closed(
                "the partial download changed under us".into(),
            ));
        }
        let mut filling = Filling {
            file: tokio::fs::File::from_std(file),
            hasher,
            done: offset,
            meter: Meter::new(offset, size, progress),
        };
        self.receive(&mut recv, &mut filling, size, cancel).await?;
        let Filling {
            file,
            hasher,
            done,
            mut meter,
        } = filling;
        meter.finish(done);
        if BlobHash(*hasher.finalize().as_bytes()) != self.hash {
            let _ = tokio::fs::remove_file(&self.partial).await;
            return Err(ClientError::Refused(Refusal::HashMismatch));
        }
        file.sync_all().await.map_err(io_error)?;
        tokio::fs::rename(&self.partial, &self.target)
            .await
            .map_err(io_error)?;
        Ok(self.target.clone())
    }

    /// Asks for the blob from `offset` on a new stream: its size, and the
    /// stream its bytes come on.
    async fn ask(
        &self,
        connection: &quinn::Connection,
        offset: u64,
    ) -> Result<(u64, quinn::RecvStream), ClientError> {
        let (mut send, mut recv) = connection.open_bi().await.map_err(lost)?;
        let _ = send.set_priority(TRANSFER_PRIORITY);
        let header = TransferHeader::Get {
            kind: self.kind,
            hash: self.hash,
            offset,
        };
        codec::write_frame(&mut send, &header).await.map_err(lost)?;
        let _ = send.finish();
        match read_reply(&mut recv).await? {
            TransferReply::Sending { size } => Ok((size, recv)),
            TransferReply::Refused(r) => Err(ClientError::Refused(r)),
            other => Err(ClientError::Protocol(format!(
                "unexpected transfer reply {other:?}"
            ))),
        }
    }

    /// Appends what `recv` brings to the partial file until the stream
    /// ends with all `size` bytes there (flushed, not yet synced).
    async fn receive<F: FnMut(u64, u64, f64)>(
        &self,
        recv: &mut quinn::RecvStream,
        filling: &mut Filling<F>,
        size: u64,
        cancel: &CancellationToken,
    ) -> Result<(), ClientError> {
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = tokio::select! {
                biased;
                _ = cancel.cancelled() => {
                    let _ = recv.stop(0u32.into());
                    let _ = filling.file.flush().await;
                    return Err(ClientError::Closed("transfer cancelled".into()));
                }
                r = recv.read(&mut buf) => match r {
                    Ok(Some(n)) => n,
                    Ok(None) => break,
                    Err(e) => {
                        let _ = filling.file.flush().await;
                        return Err(lost(e));
                    }
                },
            };
            if filling.done + n as u64 > size {
                let _ = tokio::fs::remove_file(&self.partial).await;
                return Err(ClientError::Protocol(
                    "the server sent more than the blob".into(),
                ));
            }
            filling.hasher.update(&buf[..n]);
            filling.file.write_all(&buf[..n]).await.map_err(io_error)?;
            filling.done += n as u64;
            filling.meter.update(filling.done);
        }
        filling.file.flush().await.map_err(io_error)?;
        if filling.done != size {
            return Err(ClientError::Closed(format!(
                "download ended after {} of {size} bytes",
                filling.done
            )));
        }
        Ok(())
    }
}

/// A partial download being filled: its bytes so far hashed and counted.
struct Filling<F: FnMut(u64, u64, f64)> {
    file: tokio::fs::File,
    hasher: blake3::Hasher,
    done: u64,
    meter: Meter<F>,
}

/// Opens a partial download for appending from `keep` bytes, hashing them.
async fn open_partial(
    path: PathBuf,
    keep: u64,
) -> std::io::Result<(std::fs::File, blake3::Hasher, u64)> {
    tokio::task::spawn_blocking(move || {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)?;
        // Keep exactly the prefix the server was asked to continue from.
        if file.metadata()?.len() > keep {
            file.set_len(keep)?;
        }
        let mut hasher = blake3::Hasher::new();
        let have = hash_prefix(&mut hasher, file.try_clone()?, keep)?;
        Ok((file, hasher, have))
    })
    .await
    .map_err(std::io::Error::other)?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn read_ahead_yields_the_range_and_flags_a_short_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.bin");
        let bytes: Vec<u8> = (0..2 * CHUNK + 77).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &bytes).unwrap();

        let mut chunks = read_ahead(&path, 100, bytes.len() as u64, None).unwrap();
        let mut got = Vec::new();
        while let Some(chunk) = chunks.recv().await {
            got.extend_from_slice(&chunk.unwrap());
        }
        assert_eq!(got, &bytes[100..]);

        // The file is shorter than the size the upload announced.
        let mut chunks = read_ahead(&path, 0, bytes.len() as u64 + 10, None).unwrap();
        let mut last = None;
        while let Some(chunk) = chunks.recv().await {
            last = Some(chunk);
        }
        let error = last.unwrap().unwrap_err().to_string();
        assert!(error.contains("shrank"), "{error}");
    }
}
