//! Pictures and files on the client: the local cache (photos/ and files/,
//! as in the student project), hashing, and uploads and downloads on their
//! own QUIC streams with progress, resume and verification.
//!
//! Transfers stream between disk and network through a fixed buffer, so
//! memory stays flat whatever the size. Each runs on its own stream at a
//! lower priority than the control stream, so chat is never stuck behind
//! file data.

use std::io::{Read, Seek};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use natter_common::codec;
use natter_common::protocol::{MediaKind, TransferHeader, TransferReply};
use natter_common::rules::{PictureKind, TRANSFER_PRIORITY};
use natter_common::{BlobHash, Fingerprint, MediaRef, Refusal, UserName};
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

use crate::error::ClientError;

/// I/O buffer for transfers and hashing.
const CHUNK: usize = 256 * 1024;
/// Largest reply frame on a transfer stream.
const MAX_REPLY_BYTES: u32 = 4096;
/// Longest a server may take to answer a transfer header (it may need to
/// hash a partial upload first).
const REPLY_TIMEOUT: Duration = Duration::from_secs(60);
/// Pictures larger than this are sent as files: decoding them to check
/// would cost too much memory.
pub const MAX_PICTURE_BYTES: u64 = 64 << 20;

/// Identifies one upload or download of this client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransferId(pub u64);

/// How far a transfer is, with its average rate so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    pub id: TransferId,
    pub name: String,
    pub upload: bool,
    pub done: u64,
    pub total: u64,
    pub bytes_per_sec: u64,
}

/// What an upload did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadStats {
    /// Bytes that crossed the network this time (0 when deduplicated).
    pub sent: u64,
    /// Where this attempt started (more than 0 when resuming).
    pub resumed_from: u64,
}

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

    fn partial(&self, hash: &BlobHash) -> PathBuf {
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
    /// sender never downloads its own bytes: a hard link when possible.
    pub fn adopt(
        &self,
        kind: MediaKind,
        media: &MediaRef,
        source: &Path,
    ) -> std::io::Result<PathBuf> {
        // Replaces whatever is there: the source was just hashed.
        let target = self.path_for(kind, media);
        let tmp = target.with_extension("adopting");
        let _ = std::fs::remove_file(&tmp);
        if std::fs::hard_link(source, &tmp).is_err() {
            std::fs::copy(source, &tmp)?;
        }
        std::fs::rename(&tmp, &target)?;
        Ok(target)
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

/// Opens a file with the system's default application, without waiting.
pub fn open_with_system(path: &Path) -> std::io::Result<()> {
    #[cfg(target_os = "macos")]
    let mut command = std::process::Command::new("open");
    #[cfg(target_os = "windows")]
    let mut command = {
        let mut c = std::process::Command::new("cmd");
        c.args(["/C", "start", ""]);
        c
    };
    #[cfg(not(any(target_os = "macos", target_os = "windows")))]
    let mut command = std::process::Command::new("xdg-open");
    let program = command.get_program().to_string_lossy().into_owned();
    command
        .arg(path)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map(|_| ())
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => std::io::Error::new(
                e.kind(),
                format!("no program to open files with ({program} is not installed)"),
            ),
            _ => e,
        })
}

/// Opens the folder that holds `path` in the system's file manager.
pub fn show_in_folder(path: &Path) -> std::io::Result<()> {
    open_with_system(path.parent().unwrap_or(path))
}

/// BLAKE3 and length of a file, read in chunks on the blocking pool.
pub async fn hash_file(path: &Path) -> std::io::Result<(BlobHash, u64)> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let file = std::fs::File::open(&path)?;
        let mut hasher = blake3::Hasher::new();
        let size = hash_prefix(&mut hasher, file, u64::MAX)?;
        Ok((BlobHash(*hasher.finalize().as_bytes()), size))
    })
    .await
    .map_err(std::io::Error::other)?
}

/// Feeds up to `limit` bytes of `file` from its start into `hasher`.
fn hash_prefix(
    hasher: &mut blake3::Hasher,
    mut file: std::fs::File,
    limit: u64,
) -> std::io::Result<u64> {
    file.rewind()?;
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    while total < limit {
        let want = (limit - total).min(CHUNK as u64) as usize;
        let n = file.read(&mut buf[..want])?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok(total)
}

/// If `path` is a picture of one of the shared [`PictureKind`]s (PNG, JPEG,
/// GIF or WebP), its pixel size, read from the file's header (the receiving
/// GUI decodes it, within limits). Reads the disk: runs on the blocking pool.
pub async fn picture_size(path: &Path) -> Option<(u32, u32)> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        if std::fs::metadata(&path).ok()?.len() > MAX_PICTURE_BYTES {
            return None;
        }
        let found = imagesize::image_type(&read_head(&path)?).ok()?;
        if !PictureKind::ALL.map(image_type).contains(&found) {
            return None;
        }
        let size = imagesize::size(&path).ok()?;
        let (width, height) = (
            u32::try_from(size.width).ok()?,
            u32::try_from(size.height).ok()?,
        );
        (width > 0 && height > 0).then_some((width, height))
    })
    .await
    .ok()
    .flatten()
}

/// How `imagesize` names each kind of picture: a kind added to the shared
/// rule does not compile until it is mapped here.
fn image_type(kind: PictureKind) -> imagesize::ImageType {
    use imagesize::ImageType;
    match kind {
        PictureKind::Png => ImageType::Png,
        PictureKind::Jpeg => ImageType::Jpeg,
        PictureKind::Gif => ImageType::Gif,
        PictureKind::Webp => ImageType::Webp,
    }
}

/// The first bytes of a file, enough to tell its picture format.
fn read_head(path: &Path) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut head = Vec::with_capacity(64);
    std::fs::File::open(path)
        .ok()?
        .take(64)
        .read_to_end(&mut head)
        .ok()?;
    Some(head)
}

/// Reports `(done, total, bytes per second)` at most every 100 ms; the
/// rate is averaged over this attempt.
pub struct Meter<F: FnMut(u64, u64, f64)> {
    report: F,
    started: Instant,
    last_report: Option<Instant>,
    base: u64,
    total: u64,
}

impl<F: FnMut(u64, u64, f64)> Meter<F> {
    pub fn new(base: u64, total: u64, report: F) -> Self {
        Self {
            report,
            started: Instant::now(),
            last_report: None,
            base,
            total,
        }
    }

    fn rate(&self, done: u64) -> f64 {
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        (done.saturating_sub(self.base)) as f64 / secs
    }

    fn update(&mut self, done: u64) {
        let due = self
            .last_report
            .is_none_or(|t| t.elapsed() >= Duration::from_millis(100));
        if due {
            self.last_report = Some(Instant::now());
            let rate = self.rate(done);
            (self.report)(done, self.total, rate);
        }
    }

    fn finish(&mut self, done: u64) {
        let rate = self.rate(done);
        (self.report)(done, self.total, rate);
    }
}

fn lost(e: impl std::fmt::Display) -> ClientError {
    ClientError::Closed(e.to_string())
}

fn io_error(e: std::io::Error) -> ClientError {
    ClientError::InvalidInput(format!("file error: {e}"))
}

async fn read_reply(recv: &mut quinn::RecvStream) -> Result<TransferReply, ClientError> {
    match tokio::time::timeout(REPLY_TIMEOUT, codec::read_frame(recv, MAX_REPLY_BYTES)).await {
        Err(_) => Err(ClientError::Closed(
            "the server did not answer the transfer".into(),
        )),
        Ok(Ok(Some(reply))) => Ok(reply),
        Ok(Ok(None)) => Err(ClientError::Closed("the server ended the transfer".into())),
        Ok(Err(codec::FrameError::Io(e))) => Err(lost(e)),
        Ok(Err(e)) => Err(ClientError::Protocol(e.to_string())),
    }
}

/// Chunks of an upload read ahead of the network.
const READ_AHEAD: usize = 4;

/// Reads bytes `offset..size` of `path` on a blocking thread, [`CHUNK`] at a
/// time, into buffers that quinn then takes without copying; no faster than
/// `max_rate` bytes a second when one is given. The thread stops when the
/// receiver is dropped; a file that ends early is an error.
fn read_ahead(
    path: &Path,
    offset: u64,
    size: u64,
    max_rate: Option<u64>,
) -> std::io::Result<tokio::sync::mpsc::Receiver<std::io::Result<bytes::Bytes>>> {
    let mut file = std::fs::File::open(path)?;
    file.seek(std::io::SeekFrom::Start(offset))?;
    let shown = path.display().to_string();
    let (tx, rx) = tokio::sync::mpsc::channel(READ_AHEAD);
    tokio::task::spawn_blocking(move || {
        let mut at = offset;
        let started = Instant::now();
        while at < size {
            if let Some(rate) = max_rate.filter(|&r| r > 0) {
                let due = Duration::from_secs_f64((at - offset) as f64 / rate as f64);
                // In short naps, so a cancelled upload frees the thread soon.
                while let Some(early) = due.checked_sub(started.elapsed()) {
                    if tx.is_closed() {
                        return;
                    }
                    std::thread::sleep(early.min(Duration::from_millis(50)));
                }
            }
            let want = (size - at).min(CHUNK as u64) as usize;
            // Read into spare capacity: no zeroing, no copy after.
            let mut chunk = Vec::with_capacity(want);
            let read = match (&mut file).take(want as u64).read_to_end(&mut chunk) {
                Ok(n) if n < want => Err(std::io::Error::other(format!(
                    "{shown} shrank while it was being sent"
                ))),
                Ok(_) => Ok(()),
                Err(e) => Err(e),
            };
            let last = read.is_err();
            if tx
                .blocking_send(read.map(|()| bytes::Bytes::from(chunk)))
                .is_err()
                || last
            {
                return;
            }
            at += want as u64;
        }
    });
    Ok(rx)
}

/// Uploads a file whose hash and size are known. Asks first: the server may
/// have it all (nothing is sent), part of it (resume), or nothing.
pub async fn upload(
    connection: &quinn::Connection,
    kind: MediaKind,
    path: &Path,
    hash: BlobHash,
    size: u64,
    cancel: &CancellationToken,
    progress: impl FnMut(u64, u64, f64),
) -> Result<UploadStats, ClientError> {
    upload_paced(connection, kind, path, hash, size, None, cancel, progress).await
}

/// [`upload`], sending no faster than `max_rate` bytes a second: leaves a
/// shared link (or, on one machine, the CPU) room for everything else.
#[allow(clippy::too_many_arguments)]
pub async fn upload_paced(
    connection: &quinn::Connection,
    kind: MediaKind,
    path: &Path,
    hash: BlobHash,
    size: u64,
    max_rate: Option<u64>,
    cancel: &CancellationToken,
    progress: impl FnMut(u64, u64, f64),
) -> Result<UploadStats, ClientError> {
    let (mut send, mut recv) = connection.open_bi().await.map_err(lost)?;
    let _ = send.set_priority(TRANSFER_PRIORITY);
    codec::write_frame(&mut send, &TransferHeader::Put { kind, hash, size })
        .await
        .map_err(lost)?;
    let offset = match read_reply(&mut recv).await? {
        TransferReply::Stored => {
            return Ok(UploadStats {
                sent: 0,
                resumed_from: size,
            })
        }
        TransferReply::SendFrom { offset } if offset <= size => offset,
        TransferReply::Refused(r) => return Err(ClientError::Refused(r)),
        other => {
            return Err(ClientError::Protocol(format!(
                "unexpected transfer reply {other:?}"
            )))
        }
    };
    let mut chunks = read_ahead(path, offset, size, max_rate).map_err(io_error)?;
    let mut meter = Meter::new(offset, size, progress);
    let mut done = offset;
    let cancelled = |send: &mut quinn::SendStream| {
        let _ = send.reset(0u32.into());
        Err(ClientError::Closed("transfer cancelled".into()))
    };
    while done < size {
        let next = tokio::select! {
            biased;
            _ = cancel.cancelled() => return cancelled(&mut send),
            next = chunks.recv() => next,
        };
        let chunk = match next {
            Some(chunk) => chunk.map_err(io_error)?,
            None => return Err(ClientError::Closed("the file reader stopped".into())),
        };
        let n = chunk.len() as u64;
        tokio::select! {
            biased;
            _ = cancel.cancelled() => return cancelled(&mut send),
            r = send.write_chunk(chunk) => r.map_err(lost)?,
        }
        done += n;
        meter.update(done);
    }
    send.finish().map_err(lost)?;
    meter.finish(done);
    match read_reply(&mut recv).await? {
        TransferReply::Stored => Ok(UploadStats {
            sent: size - offset,
            resumed_from: offset,
        }),
        TransferReply::Refused(r) => Err(ClientError::Refused(r)),
        other => Err(ClientError::Protocol(format!(
            "unexpected transfer reply {other:?}"
        ))),
    }
}

/// Downloads a blob into the cache (resuming an interrupted download) and
/// verifies its hash before it appears there. Returns the cached path.
pub async fn download(
    connection: &quinn::Connection,
    cache: &MediaCache,
    kind: MediaKind,
    media: &MediaRef,
    cancel: &CancellationToken,
    progress: impl FnMut(u64, u64, f64),
) -> Result<PathBuf, ClientError> {
    if let Some(path) = cache.cached(kind, media).await {
        return Ok(path);
    }
    let target = cache.path_for(kind, media);
    let partial = cache.partial(&media.hash);
    let fetch = Fetch {
        kind,
        hash: media.hash,
        size: Some(media.size),
        partial,
        target,
    };
    fetch.run(connection, cancel, progress).await
}

/// One verified download: from `offset` = what `partial` holds, into
/// `target` once the whole blob hashes right.
pub struct Fetch {
    pub kind: MediaKind,
    pub hash: BlobHash,
    /// The size the referencing message announced, when known.
    pub size: Option<u64>,
    pub partial: PathBuf,
    pub target: PathBuf,
}

impl Fetch {
    pub async fn run(
        &self,
        connection: &quinn::Connection,
        cancel: &CancellationToken,
        progress: impl FnMut(u64, u64, f64),
    ) -> Result<PathBuf, ClientError> {
        let bound = self.size.unwrap_or(u64::MAX);
        // Ask from the end of what an earlier attempt left; the partial file
        // itself is only touched once the server agrees to send.
        let offset = match tokio::fs::metadata(&self.partial).await {
            Ok(m) if m.len() <= bound => m.len(),
            _ => 0,
        };

        let (mut send, mut recv) = connection.open_bi().await.map_err(lost)?;
        let _ = send.set_priority(TRANSFER_PRIORITY);
        let header = TransferHeader::Get {
            kind: self.kind,
            hash: self.hash,
            offset,
        };
        codec::write_frame(&mut send, &header).await.map_err(lost)?;
        let _ = send.finish();
        let size = match read_reply(&mut recv).await? {
            TransferReply::Sending { size } => size,
            TransferReply::Refused(r) => return Err(ClientError::Refused(r)),
            other => {
                return Err(ClientError::Protocol(format!(
                    "unexpected transfer reply {other:?}"
                )))
            }
        };
        if self.size.is_some_and(|announced| announced != size) || offset > size {
            let _ = tokio::fs::remove_file(&self.partial).await;
            return Err(ClientError::Protocol(format!(
                "the server has {size} bytes, expected {bound}"
            )));
        }
        let (file, mut hasher, have) = open_partial(self.partial.clone(), offset)
            .await
            .map_err(io_error)?;
        if have != offset {
            return Err(ClientError::Closed(
                "the partial download changed under us".into(),
            ));
        }
        let mut file = tokio::fs::File::from_std(file);
        let mut meter = Meter::new(offset, size, progress);
        let mut done = offset;
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = tokio::select! {
                biased;
                _ = cancel.cancelled() => {
                    let _ = recv.stop(0u32.into());
                    let _ = file.flush().await;
                    return Err(ClientError::Closed("transfer cancelled".into()));
                }
                r = recv.read(&mut buf) => match r {
                    Ok(Some(n)) => n,
                    Ok(None) => break,
                    Err(e) => {
                        let _ = file.flush().await;
                        return Err(lost(e));
                    }
                },
            };
            if done + n as u64 > size {
                let _ = tokio::fs::remove_file(&self.partial).await;
                return Err(ClientError::Protocol(
                    "the server sent more than the blob".into(),
                ));
            }
            hasher.update(&buf[..n]);
            file.write_all(&buf[..n]).await.map_err(io_error)?;
            done += n as u64;
            meter.update(done);
        }
        file.flush().await.map_err(io_error)?;
        if done != size {
            return Err(ClientError::Closed(format!(
                "download ended after {done} of {size} bytes"
            )));
        }
        meter.finish(done);
        if BlobHash(*hasher.finalize().as_bytes()) != self.hash {
            let _ = tokio::fs::remove_file(&self.partial).await;
            return Err(ClientError::Refused(Refusal::HashMismatch));
        }
        file.sync_all().await.map_err(io_error)?;
        tokio::fs::rename(&self.partial, &self.target)
            .await
            .map_err(io_error)?;
        Ok(self.target.clone())
    }
}

/// Opens a partial download for appending from `keep` bytes, hashing them.
async fn open_partial(
    path: PathBuf,
    keep: u64,
) -> std::io::Result<(std::fs::File, blake3::Hasher, u64)> {
    tokio::task::spawn_blocking(move || {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)?;
        // Keep exactly the prefix the server was asked to continue from.
        if file.metadata()?.len() > keep {
            file.set_len(keep)?;
        }
        let mut hasher = blake3::Hasher::new();
        let have = hash_prefix(&mut hasher, file.try_clone()?, keep)?;
        Ok((file, hasher, have))
    })
    .await
    .map_err(std::io::Error::other)?
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

    #[tokio::test]
    async fn read_ahead_yields_the_range_and_flags_a_short_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.bin");
        let bytes: Vec<u8> = (0..2 * CHUNK + 77).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &bytes).unwrap();

        let mut chunks = read_ahead(&path, 100, bytes.len() as u64, None).unwrap();
        let mut got = Vec::new();
        while let Some(chunk) = chunks.recv().await {
            got.extend_from_slice(&chunk.unwrap());
        }
        assert_eq!(got, &bytes[100..]);

        // The file is shorter than the size the upload announced.
        let mut chunks = read_ahead(&path, 0, bytes.len() as u64 + 10, None).unwrap();
        let mut last = None;
        while let Some(chunk) = chunks.recv().await {
            last = Some(chunk);
        }
        let error = last.unwrap().unwrap_err().to_string();
        assert!(error.contains("shrank"), "{error}");
    }
}
