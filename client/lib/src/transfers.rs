//! Uploads and downloads as a [`Client`] runs them: each in its own task,
//! surviving reconnects by resuming where the server (or the cache) left
//! off, reporting [`ClientEvent::Progress`] and one
//! [`ClientEvent::TransferDone`], cancellable by id.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use natter_common::protocol::MediaKind;
use natter_common::{ClientMsgId, Content, MediaRef, Recipient, Refusal};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::error::ClientError;
use crate::media::{self, MediaCache, Progress, TransferId, UploadStats};
use crate::{Client, ClientEvent};

/// Connection losses a transfer rides out (resuming each time) before it
/// gives up.
const MAX_ATTEMPTS: u32 = 20;
/// How long a transfer waits for the client to reconnect.
const RECONNECT_WAIT: Duration = Duration::from_secs(60);

/// The transfer bookkeeping a [`Client`] carries.
pub struct Transfers {
    events: mpsc::Sender<ClientEvent>,
    next: AtomicU64,
    running: Mutex<HashMap<TransferId, CancellationToken>>,
    cache: OnceLock<MediaCache>,
}

impl Transfers {
    pub(crate) fn new(events: mpsc::Sender<ClientEvent>) -> Self {
        Self {
            events,
            next: AtomicU64::new(1),
            running: Mutex::default(),
            cache: OnceLock::new(),
        }
    }

    fn start(&self) -> (TransferId, CancellationToken) {
        let id = TransferId(self.next.fetch_add(1, Ordering::Relaxed));
        let cancel = CancellationToken::new();
        self.lock().insert(id, cancel.clone());
        (id, cancel)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TransferId, CancellationToken>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Progress is lossy by nature: dropped when the event queue is full.
    fn progress(&self, progress: Progress) {
        let _ = self.events.try_send(ClientEvent::Progress(progress));
    }

    async fn done(&self, id: TransferId, outcome: Result<PathBuf, ClientError>) {
        self.lock().remove(&id);
        let _ = self
            .events
            .send(ClientEvent::TransferDone { id, outcome })
            .await;
    }
}

/// What a finished share produced.
#[derive(Debug, Clone)]
pub struct Shared {
    pub client_id: ClientMsgId,
    pub content: Content,
    pub cached: PathBuf,
    pub stats: UploadStats,
}

impl Client {
    /// Uses `cache` for pictures and files instead of the platform's
    /// cache dir: give each server and account its own (see
    /// [`MediaCache::for_login`]). Only before the first transfer.
    pub fn use_cache(&self, cache: MediaCache) -> Result<(), ClientError> {
        self.transfers
            .cache
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
        if let Some(cache) = self.transfers.cache.get() {
            return Ok(cache.clone());
        }
        let root = MediaCache::open_default()
            .map_err(|e| ClientError::InvalidInput(format!("cannot open the media cache: {e}")))?;
        let cache = self.own_cache(&root)?;
        Ok(self.transfers.cache.get_or_init(|| cache).clone())
    }

    /// Uploads a file and posts it to `to`: as a picture when it decodes as
    /// one (unless `as_file`), otherwise as a file. Returns at once; watch
    /// for [`ClientEvent::Progress`] and [`ClientEvent::TransferDone`].
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

    /// Downloads a picture or file into the cache (at once if already
    /// there). Returns at once; the path comes in
    /// [`ClientEvent::TransferDone`].
    pub fn fetch(&self, media: MediaRef, kind: MediaKind) -> TransferId {
        let (id, cancel) = self.transfers.start();
        let client = self.clone();
        tokio::spawn(async move {
            let outcome = client.fetch_now(&media, kind, id, &cancel).await;
            client.transfers.done(id, outcome).await;
        });
        id
    }

    /// Stops a transfer. An interrupted upload or download keeps its
    /// partial bytes, so starting it again resumes.
    pub fn cancel(&self, id: TransferId) {
        if let Some(token) = self.transfers.lock().get(&id) {
            token.cancel();
        }
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
            media::picture_size(path).await
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
        let cached = cache.adopt(kind, &media, path).map_err(|e| {
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
        let (hash, size) = media::hash_file(path).await.map_err(|e| {
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
                let (name, transfers) = (name.clone(), self.transfers.clone());
                async move {
                    let report = |done, total, rate: f64| {
                        transfers.progress(Progress {
                            id,
                            name: name.clone(),
                            upload: true,
                            done,
                            total,
                            bytes_per_sec: rate as u64,
                        })
                    };
                    media::upload(&connection, kind, path, hash, size, cancel, report).await
                }
            })
            .await?;
        Ok((media, stats))
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
        self.with_retries(cancel, |connection| {
            let (cache, transfers) = (cache.clone(), self.transfers.clone());
            async move {
                let report = |done, total, rate: f64| {
                    transfers.progress(Progress {
                        id,
                        name: media.name.clone(),
                        upload: false,
                        done,
                        total,
                        bytes_per_sec: rate as u64,
                    })
                };
                media::download(&connection, &cache, kind, media, cancel, report).await
            }
        })
        .await
    }

    /// Downloads a blob by hash alone to `out` (written beside it as
    /// `out.part` until verified), resuming across reconnects.
    pub async fn fetch_to(
        &self,
        hash: natter_common::BlobHash,
        out: &Path,
        id: TransferId,
        cancel: &CancellationToken,
    ) -> Result<PathBuf, ClientError> {
        let mut partial = out.as_os_str().to_owned();
        partial.push(".part");
        let fetch = media::Fetch {
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
        self.with_retries(cancel, |connection| {
            let (fetch, name, transfers) = (&fetch, name.clone(), self.transfers.clone());
            async move {
                let report = |done, total, rate: f64| {
                    transfers.progress(Progress {
                        id,
                        name: name.clone(),
                        upload: false,
                        done,
                        total,
                        bytes_per_sec: rate as u64,
                    })
                };
                fetch.run(&connection, cancel, report).await
            }
        })
        .await
    }

    /// A fresh transfer id and its cancel token, for the `*_now` calls.
    pub fn new_transfer(&self) -> (TransferId, CancellationToken) {
        self.transfers.start()
    }

    /// Runs `attempt` on the live connection; when the connection drops,
    /// waits for the client to reconnect and runs it again (each attempt
    /// resumes from what already arrived). The last attempt's result.
    async fn with_retries<T, F, Fut>(
        &self,
        cancel: &CancellationToken,
        mut attempt: F,
    ) -> Result<T, ClientError>
    where
        F: FnMut(quinn::Connection) -> Fut,
        Fut: std::future::Future<Output = Result<T, ClientError>>,
    {
        let mut last = None;
        for _ in 0..MAX_ATTEMPTS {
            let connection = self.live_connection(cancel).await?;
            match attempt(connection).await {
                Ok(v) => return Ok(v),
                Err(ClientError::Closed(reason)) if !cancel.is_cancelled() => {
                    tracing::info!(%reason, "transfer interrupted; resuming after reconnect");
                    last = Some(ClientError::Closed(reason));
                    // Let the client notice the loss before asking again.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| ClientError::Closed("transfer failed".into())))
    }

    /// The current connection, waiting (bounded) through a reconnect.
    async fn live_connection(
        &self,
        cancel: &CancellationToken,
    ) -> Result<quinn::Connection, ClientError> {
        let deadline = tokio::time::Instant::now() + RECONNECT_WAIT;
        loop {
            if cancel.is_cancelled() {
                return Err(ClientError::Closed("transfer cancelled".into()));
            }
            if let Some(connection) = self.connection() {
                if connection.close_reason().is_none() {
                    return Ok(connection);
                }
            }
            if let Some(e) = self.stopped() {
                return Err(e);
            }
            if tokio::time::Instant::now() > deadline {
                return Err(ClientError::Closed("not reconnected in time".into()));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
