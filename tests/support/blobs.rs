//! Blobs for the hostile media tests: deterministic content with its hash,
//! transfer headers, and raw users to send them.

use std::path::Path;

use natter_client::Client;
use natter_common::codec;
use natter_common::protocol::{MediaKind, TransferHeader, TransferReply};
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

/// Starts an upload of the file at `path` on `client`'s connection by
/// hand and sends none of its bytes: once this returns the server has
/// given it a turn and asked for the bytes from offset 0.
pub async fn start_raw_upload(
    client: &Client,
    path: &Path,
) -> (quinn::SendStream, quinn::RecvStream) {
    let (hash, size) = natter_client::hash::hash_file(path).await.unwrap();
    let (mut send, mut recv) = client.connection().unwrap().open_bi().await.unwrap();
    codec::write_frame(&mut send, &put(hash, size))
        .await
        .unwrap();
    let reply: Option<TransferReply> = codec::read_frame(&mut recv, 4096).await.unwrap();
    assert_eq!(reply, Some(TransferReply::SendFrom { offset: 0 }));
    (send, recv)
}
