//! Fetching a picture or file: into the cache by the message's reference,
//! or by hash alone to a path of the caller's choosing; resumed across
//! reconnects and verified before it appears.

use std::path::{Path, PathBuf};

use natter_common::protocol::MediaKind;
use natter_common::{BlobHash, MediaRef};
use tokio_util::sync::CancellationToken;

use super::progress::TransferId;
use super::wire::{self, Fetch};
use crate::client::handle::Client;
use crate::error::ClientError;

impl Client {
    /// Downloads a picture or file into the cache (at once if already
    /// there). Returns at once; the path comes in
    /// [`ClientEvent::TransferDone`].
    ///
    /// [`ClientEvent::TransferDone`]: crate::client::ClientEvent::TransferDone
    pub fn fetch(&self, media: MediaRef, kind: MediaKind) -> TransferId {
        let (id, cancel) = self.transfers.start();
        let client = self.clone();
        tokio::spawn(async move {
            let outcome = client.fetch_now(&media, kind, id, &cancel).await;
            client.transfers.done(id, outcome).await;
        });
        id
    }

    /// Downloads into the cache, resuming across reconnects.
    pub async fn fetch_now(
        &self,
        media: &MediaRef,
        kind: MediaKind,
        id: TransferId,
        cancel: &CancellationToken,
    ) -> Result<PathBuf, ClientError> {
        let cache = self.cache()?;
        if let Some(path) = cache.cached(kind, media).await {
            return Ok(path);
        }
        let _turn = self.transfers.turn(false, cancel).await?;
        self.with_retries(cancel, |connection| {
            let report = self.transfers.reporter(id, &media.name, false);
            let cache = &cache;
            async move { wire::download(&connection, cache, kind, media, cancel, report).await }
        })
        .await
    }

    /// Downloads a blob by hash alone to `out` (written beside it as
    /// `out.part` until verified), resuming across reconnects.
    pub async fn fetch_to(
        &self,
        hash: BlobHash,
        out: &Path,
        id: TransferId,
        cancel: &CancellationToken,
    ) -> Result<PathBuf, ClientError> {
        let mut partial = out.as_os_str().to_owned();
        partial.push(".part");
        let fetch = Fetch {
            kind: MediaKind::File,
            hash,
            size: None,
            partial: PathBuf::from(partial),
            target: out.to_path_buf(),
        };
        let name = out
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let _turn = self.transfers.turn(false, cancel).await?;
        self.with_retries(cancel, |connection| {
            let report = self.transfers.reporter(id, &name, false);
            let fetch = &fetch;
            async move { fetch.run(&connection, cancel, report).await }
        })
        .await
    }
}
