//! Sharing a local picture or file: upload it (resuming across
//! reconnects), keep it in the cache, then post the message that
//! references it.

use std::path::{Path, PathBuf};

use natter_common::protocol::MediaKind;
use natter_common::{ClientMsgId, Content, MediaRef, Recipient, Refusal};
use tokio_util::sync::CancellationToken;

use super::progress::TransferId;
use super::wire::{self, UploadStats};
use crate::client::handle::Client;
use crate::error::ClientError;
use crate::hash::hash_file;
use crate::picture::picture_size;

/// What a finished share produced.
#[derive(Debug, Clone)]
pub struct Shared {
    pub client_id: ClientMsgId,
    pub content: Content,
    pub cached: PathBuf,
    pub stats: UploadStats,
}

impl Client {
    /// Uploads a file and posts it to `to`: as a picture when it decodes as
    /// one (unless `as_file`), otherwise as a file. Returns at once; watch
    /// for [`ClientEvent::Progress`] and [`ClientEvent::TransferDone`].
    ///
    /// [`ClientEvent::Progress`]: crate::client::ClientEvent::Progress
    /// [`ClientEvent::TransferDone`]: crate::client::ClientEvent::TransferDone
    pub fn share(&self, to: Recipient, path: PathBuf, as_file: bool) -> TransferId {
        let (id, cancel) = self.transfers.start();
        let client = self.clone();
        tokio::spawn(async move {
            let outcome = client
                .share_now(to, &path, as_file, id, &cancel)
                .await
                .map(|s| s.cached);
            client.transfers.done(id, outcome).await;
        });
        id
    }

    /// [`Client::share`], awaited: uploads then posts the message.
    pub async fn share_now(
        &self,
        to: Recipient,
        path: &Path,
        as_file: bool,
        id: TransferId,
        cancel: &CancellationToken,
    ) -> Result<Shared, ClientError> {
        let picture = if as_file {
            None
        } else {
            picture_size(path).await
        };
        let kind = if picture.is_some() {
            MediaKind::Photo
        } else {
            MediaKind::File
        };
        let (media, stats) = self.upload_now(kind, path, id, cancel).await?;
        let content = match picture {
            Some((width, height)) => Content::Image {
                media: media.clone(),
                width,
                height,
            },
            None => Content::File(media.clone()),
        };
        let cache = self.cache()?;
        let cached = cache.adopt(kind, &media, path).await.map_err(|e| {
            ClientError::InvalidInput(format!("cannot cache {}: {e}", path.display()))
        })?;
        let client_id = self.send(to, content.clone())?;
        Ok(Shared {
            client_id,
            content,
            cached,
            stats,
        })
    }

    /// Uploads a file (no message), resuming across reconnects.
    pub async fn upload_now(
        &self,
        kind: MediaKind,
        path: &Path,
        id: TransferId,
        cancel: &CancellationToken,
    ) -> Result<(MediaRef, UploadStats), ClientError> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "file".into());
        let name: String = name.chars().filter(|c| !c.is_control()).take(255).collect();
        let (hash, size) = hash_file(path).await.map_err(|e| {
            ClientError::InvalidInput(format!("cannot read {}: {e}", path.display()))
        })?;
        let limits = self.limits();
        if size > limits.max_upload_bytes {
            return Err(Refusal::TooLarge {
                size,
                max: limits.max_upload_bytes,
            }
            .into());
        }
        let media = MediaRef {
            hash,
            name: name.clone(),
            size,
        };
        let stats = self
            .with_retries(cancel, |connection| {
                let report = self.transfers.reporter(id, &name, true);
                async move {
                    wire::upload(&connection, kind, path, hash, size, cancel, report).await
                }
            })
            .await?;
        Ok((media, stats))
    }
}
