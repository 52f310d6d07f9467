//! The blob store on disk: complete blobs named by hash, and the partial
//! files uploads are appended to, hashed as they are written.
//!
//! Uploads are written with `O_DIRECT` where the file system allows it: a
//! chat server has no use for a just-uploaded gigabyte in its page cache,
//! and on Linux copying it there (and reclaiming it later) costs more CPU
//! than the network does. The rules that makes: buffers start on a
//! [`ALIGN`] boundary, every direct write is a whole number of [`ALIGN`]
//! blocks at an aligned offset, and a partial file resumes from an aligned
//! length. A tail that is not whole blocks, or a file system that refuses
//! direct I/O, goes through the page cache instead; the bytes are the same.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read as _};
use std::path::{Path, PathBuf};

use natter_common::BlobHash;

use crate::store::AccountId;

/// Direct I/O block: buffer addresses, lengths and offsets are multiples.
pub const ALIGN: usize = 4096;
/// One buffer of an upload, a multiple of [`ALIGN`]: large, so the disk
/// sees few requests and the disk thread few wake-ups.
pub const CHUNK: usize = 1024 * 1024;

/// An unfinished upload: whose, and of which blob.
pub type Upload = (AccountId, BlobHash);

/// Where blobs and partial uploads live.
#[derive(Debug, Clone)]
pub struct BlobDir {
    root: PathBuf,
}

impl BlobDir {
    pub fn open(data_dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(data_dir.join("blobs"))?;
        std::fs::create_dir_all(data_dir.join("partial"))?;
        Ok(Self {
            root: data_dir.to_path_buf(),
        })
    }

    pub fn blob(&self, hash: &BlobHash) -> PathBuf {
        let hex = hash.to_hex();
        self.root.join("blobs").join(&hex[..2]).join(hex)
    }

    pub fn partial(&self, account: AccountId, hash: &BlobHash) -> PathBuf {
        self.root
            .join("partial")
            .join(format!("{}-{}.part", account.0, hash.to_hex()))
    }

    /// Makes a verified, synced partial file the blob `hash`: renamed into
    /// `blobs/` and the directory synced, so that once this returns the
    /// blob survives a power loss and may be recorded. If the blob is
    /// already there (someone else sent the same bytes), the partial file
    /// is only removed. Blocks.
    pub fn keep(&self, partial: &Path, hash: &BlobHash) -> std::io::Result<()> {
        let target = self.blob(hash);
        if target.exists() {
            return std::fs::remove_file(partial);
        }
        let dir = target.parent().expect("a blob path has a folder");
        if !dir.exists() {
            std::fs::create_dir_all(dir)?;
            sync_dir(&self.root.join("blobs"))?;
        }
        std::fs::rename(partial, &target)?;
        sync_dir(dir)?;
        sync_dir(&self.root.join("partial"))
    }

    /// Bytes the file system holding partial uploads has free (for an
    /// unprivileged writer): an upload it cannot hold is refused before its
    /// bytes flow, rather than part way.
    #[cfg(unix)]
    pub fn free_bytes(&self) -> std::io::Result<u64> {
        let stat = rustix::fs::statvfs(self.root.join("partial"))?;
        Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
    }

    /// No portable way to ask: the disk's answer comes with the writes.
    #[cfg(not(unix))]
    pub fn free_bytes(&self) -> std::io::Result<u64> {
        Ok(u64::MAX)
    }

    /// The blobs on disk, by the names their files carry.
    pub fn blob_files(&self) -> std::io::Result<Vec<(BlobHash, PathBuf)>> {
        let mut found = Vec::new();
        for dir in std::fs::read_dir(self.root.join("blobs"))? {
            let dir = dir?.path();
            if !dir.is_dir() {
                continue;
            }
            for file in std::fs::read_dir(&dir)? {
                let path = file?.path();
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if let Some(hash) = BlobHash::from_hex(name) {
                    found.push((hash, path));
                }
            }
        }
        Ok(found)
    }

    /// The partial files on disk, with the upload each one belongs to
    /// when its name says.
    pub fn partial_files(&self) -> std::io::Result<Vec<(Option<Upload>, PathBuf)>> {
        let mut found = Vec::new();
        for file in std::fs::read_dir(self.root.join("partial"))? {
            let path = file?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            found.push((parse_partial_name(name), path));
        }
        Ok(found)
    }
}

/// `<account>-<hash>.part` back into its parts.
fn parse_partial_name(name: &str) -> Option<Upload> {
    let (account, rest) = name.strip_suffix(".part")?.split_once('-')?;
    Some((AccountId(account.parse().ok()?), BlobHash::from_hex(rest)?))
}

/// Makes a directory's entries (a rename into it) durable.
#[cfg(unix)]
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Windows cannot open a directory as a file; NTFS journals renames.
#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> std::io::Result<()> {
    Ok(())
}

/// A [`CHUNK`]-byte buffer that starts on an [`ALIGN`] boundary, filled
/// from the front.
pub struct Chunk {
    storage: Vec<u8>,
    start: usize,
    filled: usize,
}

impl Chunk {
    pub fn new() -> Self {
        let storage = vec![0u8; CHUNK + ALIGN];
        let start = storage.as_ptr().align_offset(ALIGN).min(ALIGN);
        Self {
            storage,
            start,
            filled: 0,
        }
    }

    /// Copies as much of `bytes` as fits; returns how much that was.
    pub fn fill_from(&mut self, bytes: &[u8]) -> usize {
        let n = bytes.len().min(CHUNK - self.filled);
        let at = self.start + self.filled;
        self.storage[at..at + n].copy_from_slice(&bytes[..n]);
        self.filled += n;
        n
    }

    pub fn bytes(&self) -> &[u8] {
        &self.storage[self.start..self.start + self.filled]
    }

    pub fn is_full(&self) -> bool {
        self.filled == CHUNK
    }

    pub fn is_empty(&self) -> bool {
        self.filled == 0
    }

    pub fn clear(&mut self) {
        self.filled = 0;
    }
}

/// An upload's partial file, open for appending after the prefix it
/// already holds, and the hash of everything in it. Holds an exclusive
/// lock on the file while it lives, so a resumed upload waits for the disk
/// thread of an interrupted one to finish. Every method blocks.
pub struct Partial {
    /// Opened through the page cache, locked; used for the prefix, tails
    /// and whatever direct I/O turns down.
    file: File,
    /// Opened with `O_DIRECT`, while direct writes work.
    direct: Option<File>,
    hasher: blake3::Hasher,
    len: u64,
}

impl Partial {
    /// Opens (or creates) the partial file for a blob of `size` bytes and
    /// hashes what it holds. The prefix kept is cut to whole [`ALIGN`]
    /// blocks; a file longer than the blob is garbage and starts over.
    pub fn open(path: &Path, size: u64) -> std::io::Result<Self> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        file.lock()?;
        let mut len = file.metadata()?.len();
        if len > size {
            len = 0;
        }
        let keep = len - len % ALIGN as u64;
        let mut hasher = blake3::Hasher::new();
        let mut buf = vec![0u8; CHUNK];
        let mut hashed = 0;
        while hashed < keep {
            let want = (keep - hashed).min(CHUNK as u64) as usize;
            file.read_exact(&mut buf[..want])?;
            hasher.update(&buf[..want]);
            hashed += want as u64;
        }
        file.set_len(keep)?;
        Ok(Self {
            direct: open_direct(path)?,
            file,
            hasher,
            len: keep,
        })
    }

    /// Bytes in the file so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Hashes `bytes` and appends them.
    pub fn append(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.hasher.update(bytes);
        let mut done = 0;
        if let Some(direct) = &self.direct {
            let whole = bytes.len() - bytes.len() % ALIGN;
            let aligned =
                bytes.as_ptr().align_offset(ALIGN) == 0 && self.len.is_multiple_of(ALIGN as u64);
            if aligned && whole > 0 {
                let (n, stopped) = write_at_most(direct, &bytes[..whole], self.len);
                done = n;
                self.len += n as u64;
                match stopped {
                    None => {}
                    // The file system turned the write down: use the page
                    // cache from here on.
                    Some(e) if e.kind() == ErrorKind::InvalidInput => self.direct = None,
                    Some(e) => return Err(e),
                }
                // A direct write that stopped mid-block would leave the
                // next one unaligned.
                if !done.is_multiple_of(ALIGN) {
                    self.direct = None;
                }
            }
        }
        let (n, stopped) = write_at_most(&self.file, &bytes[done..], self.len);
        self.len += n as u64;
        stopped.map_or(Ok(()), Err)
    }

    /// Makes the bytes durable and returns the hash of the whole file.
    /// The lock goes with it.
    pub fn finish(self) -> std::io::Result<BlobHash> {
        // One file, whichever handle wrote: this flushes all of it.
        self.file.sync_all()?;
        Ok(BlobHash(*self.hasher.finalize().as_bytes()))
    }
}

/// Writes `bytes` at `offset`, retrying short writes; how many bytes
/// landed, and the error that stopped it short, if one did.
fn write_at_most(file: &File, bytes: &[u8], offset: u64) -> (usize, Option<std::io::Error>) {
    let mut done = 0;
    while done < bytes.len() {
        match write_at(file, &bytes[done..], offset + done as u64) {
            Ok(0) => return (done, Some(ErrorKind::WriteZero.into())),
            Ok(n) => done += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return (done, Some(e)),
        }
    }
    (done, None)
}

/// Writes at `offset` without moving a shared cursor.
#[cfg(unix)]
fn write_at(file: &File, bytes: &[u8], offset: u64) -> std::io::Result<usize> {
    std::os::unix::fs::FileExt::write_at(file, bytes, offset)
}

#[cfg(windows)]
fn write_at(file: &File, bytes: &[u8], offset: u64) -> std::io::Result<usize> {
    std::os::windows::fs::FileExt::seek_write(file, bytes, offset)
}

/// The partial file opened for direct writes, or `None` where the file
/// system does not do direct I/O.
#[cfg(target_os = "linux")]
fn open_direct(path: &Path) -> std::io::Result<Option<File>> {
    use std::os::unix::fs::OpenOptionsExt as _;
    match OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
    {
        Ok(file) => Ok(Some(file)),
        Err(e) if e.kind() == ErrorKind::InvalidInput => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(not(target_os = "linux"))]
fn open_direct(_path: &Path) -> std::io::Result<Option<File>> {
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31) ^ seed)
            .collect()
    }

    fn append_in_chunks(partial: &mut Partial, bytes: &[u8]) {
        for piece in bytes.chunks(CHUNK) {
            let mut chunk = Chunk::new();
            assert_eq!(chunk.fill_from(piece), piece.len());
            partial.append(chunk.bytes()).unwrap();
        }
    }

    #[test]
    fn a_written_partial_holds_the_bytes_and_their_hash() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.part");
        // Whole chunks, then a tail that is not whole blocks.
        let bytes = pattern(3 * CHUNK + 1000, 1);
        let mut partial = Partial::open(&path, bytes.len() as u64).unwrap();
        append_in_chunks(&mut partial, &bytes);
        assert_eq!(partial.len(), bytes.len() as u64);
        let hash = partial.finish().unwrap();
        assert_eq!(hash, BlobHash(*blake3::hash(&bytes).as_bytes()));
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
    }

    #[test]
    fn a_resumed_partial_keeps_whole_blocks_and_hashes_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.part");
        let bytes = pattern(2 * CHUNK + 5000, 2);
        // An earlier upload stopped 100 bytes into a block.
        let cut = CHUNK + ALIGN + 100;
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let mut partial = Partial::open(&path, bytes.len() as u64).unwrap();
        assert_eq!(partial.len(), (CHUNK + ALIGN) as u64);
        let rest = &bytes[partial.len() as usize..];
        append_in_chunks(&mut partial, rest);
        let hash = partial.finish().unwrap();
        assert_eq!(hash, BlobHash(*blake3::hash(&bytes).as_bytes()));
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
    }

    #[test]
    fn a_partial_longer_than_the_blob_starts_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.part");
        std::fs::write(&path, pattern(3 * ALIGN, 3)).unwrap();
        let partial = Partial::open(&path, ALIGN as u64).unwrap();
        assert_eq!(partial.len(), 0);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
    }

    #[test]
    fn an_unaligned_buffer_still_lands_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.part");
        let bytes = pattern(2 * ALIGN + 1, 4);
        let mut partial = Partial::open(&path, 3 * ALIGN as u64).unwrap();
        // A slice one byte into a Vec is never ALIGN-aligned.
        partial.append(&bytes[1..]).unwrap();
        partial.finish().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), &bytes[1..]);
    }

    #[test]
    fn partial_names_read_back_into_their_upload() {
        let hash = BlobHash([7; 32]);
        let dir = BlobDir {
            root: PathBuf::from("/data"),
        };
        let path = dir.partial(AccountId(42), &hash);
        let name = path.file_name().unwrap().to_str().unwrap();
        assert_eq!(parse_partial_name(name), Some((AccountId(42), hash)));
        assert_eq!(parse_partial_name("42-zz.part"), None);
        assert_eq!(parse_partial_name("notes.txt"), None);
    }

    #[test]
    fn a_partial_is_locked_until_it_is_finished() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.part");
        let partial = Partial::open(&path, ALIGN as u64).unwrap();
        let other = OpenOptions::new().write(true).open(&path).unwrap();
        assert!(other.try_lock().is_err(), "a second upload would not wait");
        partial.finish().unwrap();
        other.try_lock().unwrap();
    }
}
