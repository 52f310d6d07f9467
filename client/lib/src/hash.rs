//! BLAKE3 of local files, read in chunks on the blocking pool: the hash a
//! blob is known by on both sides of the wire, here computed before an
//! upload, to verify the cache, and to resume a download.

use std::io::{Read, Seek};
use std::path::Path;

use natter_common::BlobHash;

/// I/O buffer for transfers and hashing.
pub(crate) const CHUNK: usize = 256 * 1024;

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
/// Blocks: call it on the blocking pool.
pub(crate) fn hash_prefix(
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
