//! The transfers a [`Client`] carries: fresh ids, the cancel token of each
//! one running, the media cache they share, and the event queue they
//! report to.
//!
//! [`Client`]: crate::client::Client

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};

use natter_common::congestion::budget;
use tokio::sync::{mpsc, Semaphore, SemaphorePermit};
use tokio_util::sync::CancellationToken;

use super::progress::{Progress, TransferId};
use crate::cache::MediaCache;
use crate::client::events::ClientEvent;
use crate::error::ClientError;

/// The transfer bookkeeping a [`Client`](crate::client::Client) carries.
pub struct Transfers {
    events: mpsc::Sender<ClientEvent>,
    /// Turns to move bytes, so transfers leave the control stream room in
    /// the connection's budget (`natter_common::congestion::budget`).
    uploads: Semaphore,
    downloads: Semaphore,
    next: AtomicU64,
    running: Mutex<HashMap<TransferId, CancellationToken>>,
    cache: OnceLock<MediaCache>,
}

impl Transfers {
    pub(crate) fn new(events: mpsc::Sender<ClientEvent>) -> Self {
        Self {
            events,
            uploads: Semaphore::new(budget::UPLOADS_AT_ONCE),
            downloads: Semaphore::new(budget::DOWNLOADS_AT_ONCE),
            next: AtomicU64::new(1),
            running: Mutex::default(),
            cache: OnceLock::new(),
        }
    }

    /// A fresh id, registered as running, and the token that cancels it.
    pub(super) fn start(&self) -> (TransferId, CancellationToken) {
        let id = TransferId(self.next.fetch_add(1, Ordering::Relaxed));
        let cancel = CancellationToken::new();
        self.lock().insert(id, cancel.clone());
        (id, cancel)
    }

    /// Waits for a turn to upload (`upload`) or download, in the order
    /// asked; the turn ends when the permit is dropped.
    pub(super) async fn turn(
        &self,
        upload: bool,
        cancel: &CancellationToken,
    ) -> Result<SemaphorePermit<'_>, ClientError> {
        let turns = if upload {
            &self.uploads
        } else {
            &self.downloads
        };
        tokio::select! {
            permit = turns.acquire() => permit.map_err(|_| ClientError::Closed("the client stopped".into())),
            () = cancel.cancelled() => Err(ClientError::Closed("transfer cancelled".into())),
        }
    }

    /// Cancels a running transfer; an unknown or finished id is ignored.
    pub(super) fn cancel(&self, id: TransferId) {
        if let Some(token) = self.lock().get(&id) {
            token.cancel();
        }
    }

    /// Where the cache, once chosen, is kept for every later transfer.
    pub(super) fn cache(&self) -> &OnceLock<MediaCache> {
        &self.cache
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<TransferId, CancellationToken>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Progress is lossy by nature: dropped when the event queue is full.
    fn progress(&self, progress: Progress) {
        let _ = self.events.try_send(ClientEvent::Progress(progress));
    }

    /// The callback the wire calls with `(done, total, rate)`, as
    /// [`ClientEvent::Progress`] of transfer `id` named `name`.
    pub(super) fn reporter(
        &self,
        id: TransferId,
        name: &str,
        upload: bool,
    ) -> impl FnMut(u64, u64, f64) + '_ {
        let name = name.to_owned();
        move |done, total, rate: f64| {
            self.progress(Progress {
                id,
                name: name.clone(),
                upload,
                done,
                total,
                bytes_per_sec: rate as u64,
            })
        }
    }

    /// Ends transfer `id`: forgets its token and reports the outcome.
    pub(super) async fn done(&self, id: TransferId, outcome: Result<PathBuf, ClientError>) {
        self.lock().remove(&id);
        let _ = self
            .events
            .send(ClientEvent::TransferDone { id, outcome })
            .await;
    }
}
