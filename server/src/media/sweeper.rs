//! Keeping the records and the files in step: at start-up, records whose
//! file is gone are forgotten and files nobody recorded are deleted; from
//! then on, a sweeper deletes unfinished uploads older than
//! `--partial-max-age-hours` and releases their quota reservations.

use std::collections::HashSet;
use std::fs::OpenOptions;
use std::path::Path;
use std::time::Duration;

use natter_common::Timestamp;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::disk::BlobDir;
use crate::config::Config;
use crate::context::Context;
use crate::store::{Store, StoreError};

/// Why reconciling or sweeping stopped.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("reading the media folders: {0}")]
    Io(#[from] std::io::Error),
}

/// Makes the records match the files, before the server accepts anyone:
/// a blob recorded but missing (lost in a crash) is forgotten, so the next
/// upload of it receives the bytes again; a blob file nobody recorded, a
/// reservation with no partial file and a partial file with no
/// reservation are removed. Blocks.
pub fn reconcile(blobs: &BlobDir, store: &dyn Store) -> Result<(), SweepError> {
    let recorded: HashSet<_> = store.blob_hashes()?.into_iter().collect();
    let on_disk = blobs.blob_files()?;
    let present: HashSet<_> = on_disk.iter().map(|(hash, _)| *hash).collect();
    for hash in recorded.difference(&present) {
        warn!(%hash, "a recorded blob has no file; forgetting it");
        store.forget_blob(*hash)?;
    }
    for (hash, path) in on_disk.iter().filter(|(h, _)| !recorded.contains(h)) {
        warn!(%hash, "a blob file nobody recorded; deleting it");
        remove(path);
    }
    let reserved: HashSet<_> = store.partials()?.into_iter().collect();
    let partials = blobs.partial_files()?;
    let with_file: HashSet<_> = partials.iter().filter_map(|(upload, _)| *upload).collect();
    for (account, hash) in reserved.difference(&with_file) {
        store.release_upload(*account, *hash)?;
    }
    for (upload, path) in &partials {
        if !upload.is_some_and(|u| reserved.contains(&u)) {
            info!(path = %path.display(), "deleting an unfinished upload with no reservation");
            remove(path);
        }
    }
    Ok(())
}

/// Deletes unfinished uploads last started more than `max_age` ago and
/// releases their reservations. One being received right now (its file
/// locked) is left alone. Blocks.
pub fn sweep(blobs: &BlobDir, store: &dyn Store, max_age: Duration) -> Result<usize, SweepError> {
    let age_ms = i64::try_from(max_age.as_millis()).unwrap_or(i64::MAX);
    let before = Timestamp(Timestamp::now().0.saturating_sub(age_ms));
    let mut swept = 0;
    for (account, hash) in store.stale_partials(before)? {
        let path = blobs.partial(account, &hash);
        if remove_unless_locked(&path)? {
            store.release_upload(account, hash)?;
            swept += 1;
        }
    }
    if swept > 0 {
        info!(swept, "expired unfinished uploads deleted");
    }
    Ok(swept)
}

/// What the server does before it accepts anyone: [`reconcile`], then
/// [`sweep`]. Blocks.
pub fn start_up(blobs: &BlobDir, store: &dyn Store, config: &Config) -> Result<(), SweepError> {
    reconcile(blobs, store)?;
    sweep(blobs, store, max_age(config))?;
    Ok(())
}

/// Sweeps every quarter of the maximum age (at least every second, at
/// most every hour) until `stop`.
pub fn spawn(ctx: &Context, stop: CancellationToken) {
    let (blobs, store, max_age) = (ctx.blobs.clone(), ctx.store.clone(), max_age(&ctx.config));
    let every = (max_age / 4).clamp(Duration::from_secs(1), Duration::from_secs(3600));
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = ticks.tick() => {}
            }
            let blobs = blobs.clone();
            let swept = store.call(move |s| {
                sweep(&blobs, s, max_age).map_err(|e| StoreError::Backend(e.to_string()))
            });
            if let Err(e) = swept.await {
                warn!(error = %e, "sweeping unfinished uploads failed");
            }
        }
    });
}

fn max_age(config: &Config) -> Duration {
    Duration::from_secs(config.partial_max_age_hours.saturating_mul(3600))
}

/// Deletes `path` unless an upload holds its lock; true if it is gone.
fn remove_unless_locked(path: &Path) -> std::io::Result<bool> {
    let file = match OpenOptions::new().write(true).open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(true),
        Err(e) => return Err(e),
    };
    if file.try_lock().is_err() {
        return Ok(false);
    }
    std::fs::remove_file(path)?;
    Ok(true)
}

fn remove(path: &Path) {
    if let Err(e) = std::fs::remove_file(path) {
        warn!(path = %path.display(), error = %e, "could not delete");
    }
}
