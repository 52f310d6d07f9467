//! What covers the chat room for a while: toasts in a corner that go away
//! by themselves, the menu, a picture shown large, and the cache browser
//! (with a cached picture shown large over it).

use std::path::PathBuf;

use natter_common::MediaRef;

use crate::app::intent::{CacheTab, Intent};
use crate::app::link::{CachedEntry, Command};

/// How long a toast stays up, in seconds.
pub const TOAST_SECS: f64 = 8.0;
/// Toasts on screen at most; a new one pushes the oldest out.
const MAX_TOASTS: usize = 4;

/// A short note in a corner that goes away by itself; it may carry one
/// action button.
#[derive(Debug, Clone, PartialEq)]
pub struct Toast {
    pub id: u64,
    pub text: String,
    pub action: Option<(String, Intent)>,
    pub shown_at: f64,
    pub error: bool,
}

/// The toasts on screen, oldest first: every subject of the state reports
/// to the user through them.
#[derive(Debug, Clone, PartialEq)]
pub struct Toasts {
    shown: Vec<Toast>,
    next_id: u64,
}

impl Default for Toasts {
    fn default() -> Self {
        Self {
            shown: Vec::new(),
            next_id: 1,
        }
    }
}

impl Toasts {
    /// A notice of something that went wrong.
    pub fn error(&mut self, now: f64, text: String) {
        self.show(now, text, None, true);
    }

    /// A calm notice, with an optional button.
    pub fn note(&mut self, now: f64, text: String, action: Option<(String, Intent)>) {
        self.show(now, text, action, false);
    }

    fn show(&mut self, now: f64, text: String, action: Option<(String, Intent)>, error: bool) {
        // The same notice again (several messages slowed down at once)
        // refreshes the one on screen instead of stacking copies.
        if action.is_none() {
            if let Some(same) = self
                .shown
                .iter_mut()
                .find(|t| t.action.is_none() && t.error == error && t.text == text)
            {
                same.shown_at = now;
                return;
            }
        }
        let id = self.next_id;
        self.next_id += 1;
        self.shown.push(Toast {
            id,
            text,
            action,
            shown_at: now,
            error,
        });
        if self.shown.len() > MAX_TOASTS {
            self.shown.remove(0);
        }
    }

    /// Takes down the toasts whose time is up; whether any went.
    pub fn expire(&mut self, now: f64) -> bool {
        let before = self.shown.len();
        self.shown.retain(|t| now - t.shown_at < TOAST_SECS);
        self.shown.len() != before
    }

    pub fn dismiss(&mut self, id: u64) {
        self.shown.retain(|t| t.id != id);
    }

    /// When the oldest toast goes: an idle window sleeps until then.
    pub fn next_expiry(&self) -> Option<f64> {
        self.shown
            .iter()
            .map(|t| t.shown_at + TOAST_SECS)
            .min_by(f64::total_cmp)
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Toast> {
        self.shown.iter()
    }

    pub fn get(&self, i: usize) -> Option<&Toast> {
        self.shown.get(i)
    }

    pub fn len(&self) -> usize {
        self.shown.len()
    }

    pub fn is_empty(&self) -> bool {
        self.shown.is_empty()
    }
}

/// What covers the chat room, if anything.
#[derive(Debug, Clone, PartialEq)]
pub enum Overlay {
    /// A picture shown large.
    Picture { media: MediaRef },
    /// Cached pictures and files; `None` while the listing is read.
    CacheBrowser {
        tab: CacheTab,
        pictures: Option<Vec<CachedEntry>>,
        files: Option<Vec<CachedEntry>>,
    },
}

/// The menu and what covers the chat room.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Popups {
    pub menu_open: bool,
    pub overlay: Option<Overlay>,
    /// A cached picture shown large over the cache browser.
    pub viewing_cached: Option<PathBuf>,
}

impl Popups {
    /// Carries out the intents about the menu and the overlays (others
    /// change nothing).
    pub fn handle(&mut self, intent: Intent) -> Vec<Command> {
        match intent {
            Intent::ViewPicture { media } => {
                self.overlay = Some(Overlay::Picture { media });
                self.menu_open = false;
            }
            Intent::ViewCachedPicture(path) => self.viewing_cached = Some(path),
            Intent::CloseOverlay => {
                if self.viewing_cached.take().is_none() {
                    self.overlay = None;
                }
                self.menu_open = false;
            }
            Intent::ToggleMenu => self.menu_open = !self.menu_open,
            Intent::OpenCacheBrowser => {
                self.menu_open = false;
                self.overlay = Some(Overlay::CacheBrowser {
                    tab: CacheTab::Pictures,
                    pictures: None,
                    files: None,
                });
                return vec![Command::ListCache];
            }
            Intent::CacheTab(tab) => {
                if let Some(Overlay::CacheBrowser { tab: t, .. }) = &mut self.overlay {
                    *t = tab;
                }
            }
            _ => {}
        }
        Vec::new()
    }

    /// Fills the cache browser, if it is still open.
    pub fn cache_listed(&mut self, pictures: Vec<CachedEntry>, files: Vec<CachedEntry>) {
        if let Some(Overlay::CacheBrowser {
            pictures: p,
            files: f,
            ..
        }) = &mut self.overlay
        {
            *p = Some(pictures);
            *f = Some(files);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_notice_refreshes_and_old_toasts_go() {
        let mut toasts = Toasts::default();
        toasts.error(1.0, "slow".into());
        toasts.error(2.0, "slow".into());
        assert_eq!(toasts.len(), 1);
        assert_eq!(toasts.next_expiry(), Some(2.0 + TOAST_SECS));
        for i in 0..5 {
            toasts.note(3.0, format!("note {i}"), None);
        }
        assert_eq!(toasts.len(), MAX_TOASTS);
        assert!(!toasts.expire(3.0));
        assert!(toasts.expire(3.0 + TOAST_SECS));
        assert!(toasts.is_empty());
    }

    #[test]
    fn closing_takes_down_the_cached_picture_before_the_browser() {
        let mut popups = Popups::default();
        let commands = popups.handle(Intent::OpenCacheBrowser);
        assert_eq!(commands, vec![Command::ListCache]);
        popups.cache_listed(Vec::new(), Vec::new());
        popups.handle(Intent::CacheTab(CacheTab::Files));
        assert!(matches!(
            &popups.overlay,
            Some(Overlay::CacheBrowser {
                tab: CacheTab::Files,
                pictures: Some(_),
                ..
            })
        ));
        popups.handle(Intent::ViewCachedPicture("/c/cat.png".into()));
        popups.handle(Intent::CloseOverlay);
        assert!(popups.viewing_cached.is_none() && popups.overlay.is_some());
        popups.handle(Intent::CloseOverlay);
        assert!(popups.overlay.is_none());
    }
}
