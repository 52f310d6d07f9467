//! Uploads: a `Put` is answered `Stored` at once only for a user who
//! already uploaded that blob. Everyone else sends the bytes, under a
//! quota reservation taken atomically before the first byte, in a turn of
//! their share of the upload turns, at a minimum rate; so knowing a hash
//! proves nothing and grants nothing.

use std::time::{Duration, Instant};

use natter_common::protocol::{MediaKind, TransferReply};
use natter_common::{BlobHash, Refusal};
use quinn::{RecvStream, SendStream};
use tokio::sync::mpsc::{Receiver, Sender};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use super::disk::{Chunk, Partial};
use super::limits::{Full, Turn};
use super::reply::{internal, reply, Failure};
use crate::context::Context;
use crate::store::{Account, AccountId, Reservation, UploadLimits};

pub(super) async fn put(
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
    // Only the user's own earlier upload counts: whether anyone else has
    // these bytes must make no difference to what this user sees.
    let mine = store
        .call(move |s| match s.uploaded(id, hash)? {
            true => s.blob_size(hash),
            false => Ok(None),
        })
        .await
        .map_err(internal)?;
    if let Some(stored) = mine {
        if stored != size {
            let why = format!("you uploaded that blob with {stored} bytes, not {size}");
            return Err(Refusal::InvalidMedia(why).into());
        }
        return reply(send, TransferReply::Stored).await;
    }

    let wait = Duration::from_secs(ctx.config.upload_wait_secs);
    let turn = ctx.turns.uploads.take(id, wait).await.map_err(busy)?;
    reserve(ctx, id, hash, size).await?;
    let partial = ctx.blobs.partial(id, &hash);
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

    let started = Instant::now();
    let pace = Pace::new(ctx);
    let digest = match receive(recv, opened, size, turn, pace).await {
        Ok(digest) => digest,
        Err(Failure::Refused(r)) => {
            // Too many or too few bytes: the partial file cannot be trusted.
            discard(ctx, id, hash).await;
            return Err(Failure::Refused(r));
        }
        Err(kept) => return Err(kept), // the partial file stays for a resume
    };
    if digest != hash {
        warn!(%hash, "upload does not match its hash; discarded");
        discard(ctx, id, hash).await;
        return Err(Refusal::HashMismatch.into());
    }
    let blobs = ctx.blobs.clone();
    tokio::task::spawn_blocking(move || blobs.keep(&partial, &hash))
        .await
        .map_err(internal)?
        .map_err(internal)?;
    store
        .call(move |s| s.record_upload(id, hash, size, kind))
        .await
        .map_err(internal)?;
    info!(%hash, size, secs = started.elapsed().as_secs_f64(), "upload stored");
    reply(send, TransferReply::Stored).await
}

fn busy(full: Full) -> Failure {
    Refusal::Busy(match full {
        Full::User(n) => format!("you already have {n} uploads receiving; try again shortly"),
        Full::Server(n) => format!("the server is receiving {n} uploads; try again shortly"),
    })
    .into()
}

/// Reserves the upload's size against the user's quota before any byte
/// moves: one store transaction, so concurrent uploads cannot all pass.
async fn reserve(ctx: &Context, id: AccountId, hash: BlobHash, size: u64) -> Result<(), Failure> {
    let limits = UploadLimits {
        quota: ctx.config.quota_bytes,
        max_partials: ctx.config.max_partials_per_user,
    };
    let reserved = ctx
        .store
        .call(move |s| s.reserve_upload(id, hash, size, limits))
        .await
        .map_err(internal)?;
    match reserved {
        Reservation::Reserved => Ok(()),
        Reservation::OverQuota { used } => Err(Refusal::QuotaExceeded {
            used,
            quota: limits.quota,
            needed: size,
        }
        .into()),
        Reservation::TooManyPartials => Err(Refusal::Busy(format!(
            "you have {} unfinished uploads: finish one, or wait {} h for it to expire",
            limits.max_partials, ctx.config.partial_max_age_hours
        ))
        .into()),
    }
}

/// Deletes a failed upload's partial file and releases its reservation.
async fn discard(ctx: &Context, id: AccountId, hash: BlobHash) {
    let _ = tokio::fs::remove_file(ctx.blobs.partial(id, &hash)).await;
    if let Err(e) = ctx.store.call(move |s| s.release_upload(id, hash)).await {
        warn!(error = %e, "could not release an upload's reservation");
    }
}

/// The slowest an upload may go: at least `min_bytes` in every `window`
/// (and at least one byte), or it is dropped.
struct Pace {
    window: Duration,
    min_bytes: u64,
}

impl Pace {
    fn new(ctx: &Context) -> Self {
        let secs = ctx.config.idle_timeout_secs.max(1);
        Self {
            window: Duration::from_secs(secs),
            min_bytes: ctx
                .config
                .min_upload_kib_s
                .saturating_mul(1024 * secs)
                .max(1),
        }
    }

    /// Refuses an upload that sent only `sent` bytes in one window.
    fn check(&self, sent: u64) -> Result<(), Failure> {
        if sent < self.min_bytes {
            return Err(Failure::Dropped(Refusal::Busy(format!(
                "the upload sent {} bytes in {} s, less than the minimum rate: resume it",
                sent,
                self.window.as_secs()
            ))));
        }
        Ok(())
    }
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
    turn: Turn,
    pace: Pace,
) -> Result<BlobHash, Failure> {
    let (full_tx, full_rx) = tokio::sync::mpsc::channel::<Chunk>(POOL);
    let (free_tx, mut free_rx) = tokio::sync::mpsc::channel::<Chunk>(POOL);
    let mut have = partial.len();
    let disk = write_behind(partial, turn, full_rx, free_tx);
    let mut made = 1;
    let mut chunk = Chunk::new();
    // What is left of the last piece quinn handed over once the buffer
    // filled. Whole pieces are taken so quinn never splits and requeues them.
    let mut carry = bytes::Bytes::new();
    // Time spent waiting for the disk: says when the disk, not the
    // network, sets the pace.
    let mut waited = Duration::ZERO;
    // One timer for the whole upload, checked each time it fires (so a
    // trickle is noticed after one to two windows): a timer per read would
    // cost more than the hashing.
    let stall = tokio::time::sleep(pace.window);
    tokio::pin!(stall);
    let mut have_at_check = have;
    let outcome = loop {
        if carry.is_empty() {
            let next = tokio::select! {
                biased;
                next = recv.read_chunk(usize::MAX, true) => next,
                () = &mut stall => {
                    if let Err(slow) = pace.check(have - have_at_check) {
                        break Err(slow);
                    }
                    have_at_check = have;
                    stall.as_mut().reset(tokio::time::Instant::now() + pace.window);
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
            let Some(next) = free_chunk(&mut made, &mut free_rx, &mut waited).await else {
                break Err(internal("the disk writer stopped"));
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
    seal(partial, have, size, waited).await
}

/// Starts the disk thread: it appends each full buffer to `partial` and
/// hands the emptied buffer back, holding `turn` until the stream is done.
fn write_behind(
    partial: Partial,
    turn: Turn,
    mut full_rx: Receiver<Chunk>,
    free_tx: Sender<Chunk>,
) -> JoinHandle<std::io::Result<Partial>> {
    tokio::task::spawn_blocking(move || -> std::io::Result<Partial> {
        let _turn = turn;
        let mut partial = partial;
        while let Some(mut chunk) = full_rx.blocking_recv() {
            partial.append(chunk.bytes())?;
            chunk.clear();
            // The pool never holds more than POOL, so this never waits.
            let _ = free_tx.try_send(chunk);
        }
        Ok(partial)
    })
}

/// The next empty buffer: a new one until the pool is all made. With the
/// whole pool out, the disk thread holds the rest and hands one back once
/// it is written (`None` if it stopped); the wait adds to `waited`.
async fn free_chunk(
    made: &mut usize,
    free_rx: &mut Receiver<Chunk>,
    waited: &mut Duration,
) -> Option<Chunk> {
    if *made < POOL {
        *made += 1;
        return Some(Chunk::new());
    }
    let waiting = Instant::now();
    let got = free_rx.recv().await;
    *waited += waiting.elapsed();
    got
}

/// Checks that the stream brought exactly `size` bytes, then syncs the
/// partial file and returns the blob's hash.
async fn seal(
    partial: Partial,
    have: u64,
    size: u64,
    waited: Duration,
) -> Result<BlobHash, Failure> {
    if have != size {
        return Err(
            Refusal::Malformed(format!("stream ended after {have} of {size} bytes")).into(),
        );
    }
    debug!(disk_wait_ms = waited.as_millis() as u64, "upload received");
    let syncing = Instant::now();
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
