//! Blobs for the hostile media tests: deterministic content with its hash,
//! transfer headers, and raw users to send them.

use natter_common::protocol::{MediaKind, TransferHeader};
use natter_common::BlobHash;

use crate::raw::RawPeer;
use crate::{TestServer, PASSWORD};

/// `size` deterministic bytes for `seed` and their hash.
pub fn content(size: u64, seed: &str) -> (Vec<u8>, BlobHash) {
    let mut bytes = vec![0u8; size as usize];
    let mut xof = blake3::Hasher::new().update(seed.as_bytes()).finalize_xof();
    xof.fill(&mut bytes);
    let hash = BlobHash(*blake3::hash(&bytes).as_bytes());
    (bytes, hash)
}

/// The header of an upload of a file.
pub fn put(hash: BlobHash, size: u64) -> TransferHeader {
    TransferHeader::Put {
        kind: MediaKind::File,
        hash,
        size,
    }
}

/// The header of a download of a file.
pub fn get(hash: BlobHash, offset: u64) -> TransferHeader {
    TransferHeader::Get {
        kind: MediaKind::File,
        hash,
        offset,
    }
}

/// Registers `name` and logs in a raw peer as them.
pub async fn raw_user(server: &TestServer, name: &str) -> RawPeer {
    natter_client::register(&server.client_config(), name, PASSWORD)
        .await
        .expect("register");
    RawPeer::login(server.addr, name, PASSWORD).await
}
