//! Uploads and downloads as a [`Client`] runs them: each in its own task,
//! surviving reconnects by resuming where the server (or the cache) left
//! off, reporting [`ClientEvent::Progress`] and one
//! [`ClientEvent::TransferDone`], cancellable by id. A share hands out
//! its message's client id with its transfer id (see [`Share`]), so the
//! server's answer to the message reaches whoever started it.
//!
//! [`ClientEvent::Progress`]: crate::client::ClientEvent::Progress
//! [`ClientEvent::TransferDone`]: crate::client::ClientEvent::TransferDone

mod fetch;
pub(crate) mod progress;
pub(crate) mod registry;
mod retry;
mod share;
mod wire;

use tokio_util::sync::CancellationToken;

pub use self::progress::{Progress, TransferId};
pub use self::share::{Share, ShareReceipt};
pub use self::wire::{download, upload, upload_paced, Fetch, UploadStats};
use crate::cache::MediaCache;
use crate::client::handle::Client;
use crate::error::ClientError;

impl Client {
    /// Uses `cache` for pictures and files instead of the platform's
    /// cache dir: give each server and account its own (see
    /// [`MediaCache::for_login`]). Only before the first transfer.
    pub fn use_cache(&self, cache: MediaCache) -> Result<(), ClientError> {
        self.transfers
            .cache()
            .set(cache)
            .map_err(|_| ClientError::InvalidInput("the media cache is already in use".into()))
    }

    /// Keeps this server's and account's cache under `root` (as the
    /// platform's cache dir is used by default). Only before the first
    /// transfer.
    pub fn use_cache_root(&self, root: &MediaCache) -> Result<(), ClientError> {
        self.use_cache(self.own_cache(root)?)
    }

    fn own_cache(&self, root: &MediaCache) -> Result<MediaCache, ClientError> {
        root.for_login(&self.server_fingerprint(), self.me())
            .map_err(|e| ClientError::InvalidInput(format!("cannot open the media cache: {e}")))
    }

    /// The media cache: the one [`Client::use_cache`] set, or this server's
    /// and account's own in the platform's cache dir.
    pub fn cache(&self) -> Result<MediaCache, ClientError> {
        if let Some(cache) = self.transfers.cache().get() {
            return Ok(cache.clone());
        }
        let root = MediaCache::open_default()
            .map_err(|e| ClientError::InvalidInput(format!("cannot open the media cache: {e}")))?;
        let cache = self.own_cache(&root)?;
        Ok(self.transfers.cache().get_or_init(|| cache).clone())
    }

    /// Stops a transfer. An interrupted upload or download keeps its
    /// partial bytes, so starting it again resumes.
    pub fn cancel(&self, id: TransferId) {
        self.transfers.cancel(id);
    }

    /// A fresh transfer id and its cancel token, for the `*_now` calls.
    pub fn new_transfer(&self) -> (TransferId, CancellationToken) {
        self.transfers.start()
    }
}
