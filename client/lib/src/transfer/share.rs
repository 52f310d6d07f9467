//! Sharing a local picture or file: upload it (resuming across
//! reconnects), keep it in the cache, then post the message that
//! references it.

use std::path::{Path, PathBuf};

use natter_common::protocol::MediaKind;
use natter_common::{ClientMsgId, Content, MediaRef, Recipient, Refusal};
use tokio_util::sync::CancellationToken;

use super::progress::TransferId;
use super::wire::{self, UploadStats};
use crate::client::handle::{fresh_message_id, Client};
use crate::error::ClientError;
use crate::hash::hash_file;
use crate::picture::picture_size;

/// The two ids of a share started with [`Client::share`], both known at
/// once, so an application can keep one entry per item from the start.
///
/// `transfer` names the upload: [`ClientEvent::Progress`], then one
/// [`ClientEvent::TransferDone`]. When the upload fails or is cancelled,
/// that error is all there is: no message is posted. `message` is the
/// client id the picture or file message is posted under once the upload
/// is done: the server's answer comes as [`ClientEvent::Accepted`],
/// [`ClientEvent::Rejected`] or [`ClientEvent::Throttled`] for it, before
/// or after the upload's `TransferDone`.
///
/// [`ClientEvent::Progress`]: crate::ClientEvent::Progress
/// [`ClientEvent::TransferDone`]: crate::ClientEvent::TransferDone
/// [`ClientEvent::Accepted`]: crate::ClientEvent::Accepted
/// [`ClientEvent::Rejected`]: crate::ClientEvent::Rejected
/// [`ClientEvent::Throttled`]: crate::ClientEvent::Throttled
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Share {
    /// The upload.
    pub transfer: TransferId,
    /// The message that references the upload, reserved before it starts.
    pub message: ClientMsgId,
}

/// What a finished share produced.
#[derive(Debug, Clone)]
pub struct ShareReceipt {
    /// The client id the message was posted under.
    pub message: ClientMsgId,
    pub content: Content,
    /// The shared file's copy in the cache.
    pub cached: PathBuf,
    pub stats: UploadStats,
}

/// A shared file once uploaded and cached, with the content that posts it.
struct Uploaded {
    content: Content,
    cached: PathBuf,
    stats: UploadStats,
}

impl Client {
    /// Uploads a file and posts it to `to`: as a picture when it decodes as
    /// one (unless `as_file`), otherwise as a file. Returns at once, with
    /// the ids the upload's and the message's events will carry (see
    /// [`Share`]).
    pub fn share(&self, to: Recipient, path: PathBuf, as_file: bool) -> Share {
        let (transfer, cancel) = self.transfers.start();
        let message = fresh_message_id();
        let client = self.clone();
        tokio::spawn(async move {
            let outcome = match client
                .upload_to_share(&path, as_file, transfer, &cancel)
                .await
            {
                Ok(up) => client.send_as(message, to, up.content).map(|()| up.cached),
                Err(e) => Err(e),
            };
            client.transfers.done(transfer, outcome).await;
        });
        Share { transfer, message }
    }

    /// [`Client::share`], awaited: uploads then posts the message.
    pub async fn share_now(
        &self,
        to: Recipient,
        path: &Path,
        as_file: bool,
        id: TransferId,
        cancel: &CancellationToken,
    ) -> Result<ShareReceipt, ClientError> {
        let up = self.upload_to_share(path, as_file, id, cancel).await?;
        let message = self.send(to, up.content.clone())?;
        Ok(ShareReceipt {
            message,
            content: up.content,
            cached: up.cached,
            stats: up.stats,
        })
    }

    /// Uploads a file to be shared, as a picture when it is one (unless
    /// `as_file`), and keeps it in the cache: the message is yet to post.
    async fn upload_to_share(
        &self,
        path: &Path,
        as_file: bool,
        id: TransferId,
        cancel: &CancellationToken,
    ) -> Result<Uploaded, ClientError> {
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
        Ok(Uploaded {
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
        let _turn = self.transfers.turn(true, cancel).await?;
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
