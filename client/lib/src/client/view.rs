//! What the handles read without asking the task: the server's limits,
//! who is online, how many sends wait, and why the client stopped. The
//! task writes it; a std `Mutex` guards it, locked briefly and never
//! across an `.await`. (The live connection is published apart, on a
//! `watch`, so transfers can wait for the next one.)

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use natter_common::{Limits, UserName};

use crate::error::ClientError;

/// What the handle reads without asking the task. Locked briefly, never
/// across an `.await`.
pub(super) struct SessionView {
    pub(super) limits: Limits,
    /// Online users by [`UserName::key`], so the order is stable and case
    /// variants of one account are one entry.
    pub(super) online: BTreeMap<String, UserName>,
    pub(super) pending_sends: usize,
    /// Set when the task stopped for good: every later call fails with it.
    pub(super) closed: Option<ClientError>,
}

impl SessionView {
    /// Before the first login: no limits known, nobody online.
    pub(super) fn new() -> Self {
        Self {
            limits: Limits {
                max_text_chars: 0,
                max_upload_bytes: 0,
                quota_bytes: 0,
                used_bytes: 0,
            },
            online: BTreeMap::new(),
            pending_sends: 0,
            closed: None,
        }
    }

    /// What a call made after the task stopped fails with.
    pub(super) fn closed_error(&self) -> ClientError {
        self.closed
            .clone()
            .unwrap_or_else(|| ClientError::Closed("the client has stopped".into()))
    }
}

pub(super) fn lock(view: &Mutex<SessionView>) -> MutexGuard<'_, SessionView> {
    // A panic while holding this lock cannot leave it half-updated in a way
    // that matters (plain values), so a poisoned lock is still usable.
    view.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
