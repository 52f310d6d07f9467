//! The local cache of pictures and files: one folder per server and
//! account, `photos/` and `files/` under names made safe from what other
//! users typed, and `partial/` for interrupted downloads.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use natter_common::protocol::MediaKind;
use natter_common::{BlobHash, Fingerprint, MediaRef, UserName};

use crate::hash::hash_file;

/// A file in the local cache, for the GUI's browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedItem {
    pub path: PathBuf,
    pub name: String,
    pub size: u64,
    pub modified: SystemTime,
}

/// The local cache: `photos/` and `files/` hold complete, verified blobs
/// under sanitized names; `partial/` holds interrupted downloads.
///
/// A cache belongs to one server and account: what one account may see is
/// never served to another, nor what one server sent to another server's
/// client. [`MediaCache::for_login`] gives each its own under a shared
/// root. A cached file is served only while its bytes hash to the blob's
/// hash.
#[derive(Debug, Clone)]
pub struct MediaCache {
    root: PathBuf,
}

impl MediaCache {
    /// The platform cache dir (`~/.cache/natter` on Linux), or
    /// `NATTER_CACHE_DIR` when set.
    pub fn open_default() -> std::io::Result<Self> {
        let root = match std::env::var_os("NATTER_CACHE_DIR") {
            Some(dir) => PathBuf::from(dir),
            None => directories::ProjectDirs::from("", "", "natter")
                .map(|d| d.cache_dir().to_path_buf())
                .ok_or_else(|| std::io::Error::other("no home directory for a cache"))?,
        };
        Self::at(root)
    }

    /// A cache rooted at `root`, created if needed.
    pub fn at(root: impl Into<PathBuf>) -> std::io::Result<Self> {
        let root = root.into();
        for sub in ["photos", "files", "partial"] {
            std::fs::create_dir_all(root.join(sub))?;
        }
        Ok(Self { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The cache of one account on one server (known by its certificate),
    /// under this cache's root: `servers/<fingerprint>/<account>`.
    pub fn for_login(&self, server: &Fingerprint, account: &UserName) -> std::io::Result<Self> {
        let key = account.key();
        let server = &natter_common::ids::hex(&server.0)[..16];
        let account = format!(
            "{}-{}",
            sanitize_file_name(&key),
            &blake3::hash(key.as_bytes()).to_hex()[..8]
        );
        Self::at(self.root.join("servers").join(server).join(account))
    }

    /// The folder for pictures or files.
    pub fn dir(&self, kind: MediaKind) -> PathBuf {
        self.root.join(match kind {
            MediaKind::Photo => "photos",
            MediaKind::File => "files",
        })
    }

    /// Where a blob lives in the cache, whether or not it is there yet.
    pub fn path_for(&self, kind: MediaKind, media: &MediaRef) -> PathBuf {
        self.dir(kind)
            .join(cache_file_name(&media.name, &media.hash))
    }

    /// The cached copy of a blob, if complete and its bytes hash to the
    /// blob's hash. A file of the right name that does not (a file the user
    /// edited after sending it, a collision of the short hash in the name,
    /// tampering) is removed, so it is downloaded again. Reads the whole
    /// file, on the blocking pool.
    pub async fn cached(&self, kind: MediaKind, media: &MediaRef) -> Option<PathBuf> {
        let path = self.path_for(kind, media);
        match tokio::fs::metadata(&path).await {
            Ok(m) if m.is_file() && m.len() == media.size => {}
            _ => return None,
        }
        match hash_file(&path).await {
            Ok((hash, size)) if hash == media.hash && size == media.size => Some(path),
            Ok(_) => {
                tracing::warn!(path = %path.display(), "cached file does not match its hash; fetching it again");
                let _ = tokio::fs::remove_file(&path).await;
                None
            }
            Err(_) => None,
        }
    }

    /// Where an interrupted download of the blob waits to be resumed.
    pub(crate) fn partial(&self, hash: &BlobHash) -> PathBuf {
        self.root
            .join("partial")
            .join(format!("{}.part", hash.to_hex()))
    }

    /// Everything cached of one kind, newest first.
    pub fn list(&self, kind: MediaKind) -> std::io::Result<Vec<CachedItem>> {
        let mut items = Vec::new();
        for entry in std::fs::read_dir(self.dir(kind))? {
            let entry = entry?;
            let meta = entry.metadata()?;
            if !meta.is_file() {
                continue;
            }
            items.push(CachedItem {
                path: entry.path(),
                name: entry.file_name().to_string_lossy().into_owned(),
                size: meta.len(),
                modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            });
        }
        items.sort_by_key(|item| std::cmp::Reverse(item.modified));
        Ok(items)
    }

    /// Puts a local file that was just uploaded into the cache, so the
    /// sender never downloads its own bytes: a hard link when possible,
    /// else a copy (as large as the file), on the blocking pool.
    pub async fn adopt(
        &self,
        kind: MediaKind,
        media: &MediaRef,
        source: &Path,
    ) -> std::io::Result<PathBuf> {
        // Replaces whatever is there: the source was just hashed.
        let target = self.path_for(kind, media);
        let source = source.to_path_buf();
        tokio::task::spawn_blocking(move || {
            let tmp = target.with_extension("adopting");
            let _ = std::fs::remove_file(&tmp);
            if std::fs::hard_link(&source, &tmp).is_err() {
                std::fs::copy(&source, &tmp)?;
            }
            std::fs::rename(&tmp, &target)?;
            Ok(target)
        })
        .await
        .map_err(std::io::Error::other)?
    }
}

/// A name that is safe as one path component on every platform: no
/// separators, no `..`, no control characters, no reserved device names,
/// bounded length. Display text from other users passes through here
/// before it touches the file system.
pub fn sanitize_file_name(name: &str) -> String {
    let mut clean: String = name
        .chars()
        .map(|c| match c {
            '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|' => '_',
            c if c.is_control() => '_',
            c => c,
        })
        .collect();
    clean = clean
        .trim_matches(|c: char| c == '.' || c.is_whitespace())
        .to_string();
    if clean.chars().count() > 100 {
        // Keep the extension, shorten the stem.
        let (stem, ext) = split_extension(&clean);
        let ext: String = ext.chars().take(16).collect();
        let stem: String = stem
            .chars()
            .take(100 - ext.chars().count().min(16))
            .collect();
        clean = if ext.is_empty() {
            stem
        } else {
            format!("{stem}.{ext}")
        };
    }
    let (stem, _) = split_extension(&clean);
    let reserved = [
        "con", "prn", "aux", "nul", "com1", "com2", "com3", "com4", "com5", "com6", "com7", "com8",
        "com9", "lpt1", "lpt2", "lpt3", "lpt4", "lpt5", "lpt6", "lpt7", "lpt8", "lpt9",
    ];
    if clean.is_empty() || reserved.contains(&stem.to_lowercase().as_str()) {
        clean = format!("file_{clean}");
    }
    clean
}

fn split_extension(name: &str) -> (&str, &str) {
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => (stem, ext),
        _ => (name, ""),
    }
}

/// The cache's name for a blob: the sanitized original name with a short
/// hash before the extension, so different contents never collide.
pub fn cache_file_name(name: &str, hash: &BlobHash) -> String {
    let clean = sanitize_file_name(name);
    let short = &hash.to_hex()[..12];
    match split_extension(&clean) {
        (stem, "") => format!("{stem}-{short}"),
        (stem, ext) => format!("{stem}-{short}.{ext}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_stay_one_harmless_component() {
        for name in [
            "../../etc/passwd",
            "..",
            ".",
            "a/b\\c",
            "CON",
            "con.txt",
            "nul",
            "\u{0}x",
            "  ",
            "",
        ] {
            let clean = sanitize_file_name(name);
            assert!(!clean.is_empty(), "{name:?}");
            assert!(!clean.contains(['/', '\\', '\0']), "{name:?} -> {clean:?}");
            assert_ne!(clean, "..");
            assert_ne!(clean, ".");
            assert!(!clean.to_lowercase().starts_with("con."), "{clean}");
            assert!(
                Path::new(&clean).components().count() == 1,
                "{name:?} -> {clean:?}"
            );
        }
        assert_eq!(sanitize_file_name("照片 1.png"), "照片 1.png");
        assert!(sanitize_file_name(&"x".repeat(500)).chars().count() <= 100);
        let long = format!("{}.jpeg", "y".repeat(300));
        assert!(sanitize_file_name(&long).ends_with(".jpeg"));
    }

    #[test]
    fn cache_names_differ_by_content() {
        let a = cache_file_name("photo.png", &BlobHash([1; 32]));
        let b = cache_file_name("photo.png", &BlobHash([2; 32]));
        assert_ne!(a, b);
        assert!(a.starts_with("photo-") && a.ends_with(".png"));
    }

    #[tokio::test]
    async fn cached_serves_only_complete_files_with_the_right_hash() {
        let dir = tempfile::tempdir().unwrap();
        let cache = MediaCache::at(dir.path()).unwrap();
        let media = MediaRef {
            hash: BlobHash(*blake3::hash(b"abc").as_bytes()),
            name: "../evil.txt".into(),
            size: 3,
        };
        let path = cache.path_for(MediaKind::File, &media);
        assert!(path.starts_with(cache.dir(MediaKind::File)));
        std::fs::write(&path, b"ab").unwrap();
        let cached = cache.cached(MediaKind::File, &media).await;
        assert!(cached.is_none(), "incomplete");
        std::fs::write(&path, b"abd").unwrap();
        let cached = cache.cached(MediaKind::File, &media).await;
        assert!(cached.is_none(), "wrong bytes");
        assert!(!path.exists(), "a wrong file is removed");
        std::fs::write(&path, b"abc").unwrap();
        let cached = cache.cached(MediaKind::File, &media).await;
        assert_eq!(cached, Some(path));
        assert_eq!(cache.list(MediaKind::File).unwrap().len(), 1);
    }

    #[test]
    fn each_server_and_account_has_its_own_cache() {
        let dir = tempfile::tempdir().unwrap();
        let root = MediaCache::at(dir.path()).unwrap();
        let (one, two) = (Fingerprint([1; 32]), Fingerprint([2; 32]));
        let alice = UserName::parse("alice").unwrap();
        let dots = UserName::stored("..").unwrap();
        let roots: Vec<PathBuf> = [(&one, &alice), (&two, &alice), (&one, &dots)]
            .into_iter()
            .map(|(s, a)| root.for_login(s, a).unwrap().root().to_path_buf())
            .collect();
        assert!(roots
            .iter()
            .all(|r| r.starts_with(dir.path().join("servers"))));
        assert!(roots[0] != roots[1] && roots[0] != roots[2] && roots[1] != roots[2]);
        let again = root.for_login(&one, &UserName::parse("ALICE").unwrap());
        assert_eq!(again.unwrap().root(), roots[0], "one account, one cache");
    }
}
