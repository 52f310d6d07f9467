//! Coalesced presence: who came online and who went offline is collected
//! for a short tick ([`TICK`]) and then sent to every session as one
//! `Presence` frame, encoded once, with each changed user's state at that
//! moment. A burst of N logins costs each session a few frames, not N,
//! so a room filling up costs O(N) frames instead of O(N²).
//!
//! A session that joins during a tick gets the frame too; it may repeat
//! what its starting snapshot already says, which clients apply as a set
//! and ignore.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use natter_common::{codec, ServerMsg, UserName};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::Fanout;

/// How long presence changes are collected before they go out.
pub const TICK: Duration = Duration::from_millis(100);

/// Changes since the last frame: each user's latest state, by key.
#[derive(Default)]
pub(super) struct Pending {
    changes: HashMap<String, (UserName, bool)>,
    /// Wakes the ticker when the first change of a tick arrives.
    pub(super) changed: Arc<Notify>,
}

impl Pending {
    /// Records that `user` is now online (`true`) or offline.
    pub(super) fn record(&mut self, user: &UserName, online: bool) {
        if self.changes.is_empty() {
            self.changed.notify_one();
        }
        self.changes.insert(user.key(), (user.clone(), online));
    }

    /// The frame for everything pending, and forgets it; `None` if nothing
    /// changed.
    pub(super) fn take_frame(&mut self) -> Option<Bytes> {
        if self.changes.is_empty() {
            return None;
        }
        let (mut came, mut went) = (Vec::new(), Vec::new());
        for (_, (user, online)) in self.changes.drain() {
            if online {
                came.push(user)
            } else {
                went.push(user)
            }
        }
        came.sort();
        went.sort();
        match codec::encode_frame(&ServerMsg::Presence { came, went }) {
            Ok(frame) => Some(frame.into()),
            Err(e) => {
                tracing::error!(error = %e, "a presence frame cannot be encoded");
                None
            }
        }
    }
}

/// Sends the pending presence changes a [`TICK`] after the first of them,
/// until `stop`.
pub async fn tick(hub: Arc<dyn Fanout>, stop: CancellationToken) {
    let changed = hub.presence_changed();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = changed.notified() => {}
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(TICK) => {}
        }
        hub.flush_presence();
    }
}
