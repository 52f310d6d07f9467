//! The network thread's glue to the library's pictures and files: starting
//! a share, the media cache (which one, and what it holds), and opening a
//! file with the system's programs. Kept apart so a change in the
//! library's media API is adapted in this one file.

use std::path::{Path, PathBuf};

use natter_client::launch;
use natter_client::{CachedItem, Client, MediaCache};
use natter_common::{MediaKind, Recipient};

use crate::app::link::{CachedEntry, ShareIds};

/// Starts uploading `path` and posting it to `to`, with the ids the state
/// follows it by.
pub(super) fn share(client: &Client, to: Recipient, path: PathBuf, as_file: bool) -> ShareIds {
    client.share(to, path, as_file)
}

/// Points the client at the cache the hooks name (if any).
pub(super) fn configure(client: &Client, cache_dir: Option<&Path>) {
    let Some(dir) = cache_dir else { return };
    match MediaCache::at(dir) {
        Ok(cache) => {
            if let Err(e) = client.use_cache(cache) {
                tracing::warn!(error = %e, "media cache not set");
            }
        }
        Err(e) => tracing::warn!(error = %e, dir = %dir.display(), "media cache unusable"),
    }
}

/// The cache to list: the one the hooks name, or the logged-in client's
/// own (per server and account); `None` is the platform's default.
pub(super) fn cache_root(client: Option<&Client>, cache_dir: Option<&Path>) -> Option<PathBuf> {
    if let Some(dir) = cache_dir {
        return Some(dir.to_path_buf());
    }
    let cache = client?.cache().ok()?;
    Some(cache.root().to_path_buf())
}

/// Everything in the cache: pictures, then files (newest first). Reads
/// the disk: call it off the async executor.
pub(super) fn list_blocking(root: Option<PathBuf>) -> (Vec<CachedEntry>, Vec<CachedEntry>) {
    let cache = match root {
        Some(root) => MediaCache::at(root),
        None => MediaCache::open_default(),
    };
    let Ok(cache) = cache else {
        return (Vec::new(), Vec::new());
    };
    let entries = |kind| {
        cache
            .list(kind)
            .unwrap_or_default()
            .into_iter()
            .map(
                |CachedItem {
                     path, name, size, ..
                 }| CachedEntry { path, name, size },
            )
            .collect()
    };
    (entries(MediaKind::Photo), entries(MediaKind::File))
}

/// Opens `path` with the system's program, or says why not. Waits for
/// the launcher: call it off the async executor.
pub(super) fn open_blocking(path: &Path) -> Result<(), String> {
    launch::open_with_system(path)
        .map_err(|e| format!("Could not open the file: {}", explain_open_error(e)))
}

/// Shows `path` in the file manager, or says why not. Waits for the
/// launcher: call it off the async executor.
pub(super) fn show_folder_blocking(path: &Path) -> Result<(), String> {
    launch::show_in_folder(path)
        .map_err(|e| format!("Could not show the folder: {}", explain_open_error(e)))
}

/// Says what a failed "open" usually means.
fn explain_open_error(e: std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::NotFound {
        "no program to open it was found (on Linux, install xdg-utils)".to_owned()
    } else {
        e.to_string()
    }
}
