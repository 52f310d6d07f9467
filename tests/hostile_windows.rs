//! A hostile user against the server's receive buffers: bytes the server
//! will never read must be refused at once, and bytes it has not read yet
//! must stay within one connection-wide window, however many streams carry
//! them. Raw transfer streams: the client library never writes after a
//! header nor before the server asks.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use natter_common::codec::write_frame;
use natter_common::protocol::{MediaKind, TransferHeader, TransferReply};
use natter_common::BlobHash;
use natter_server::listener::{RECEIVE_WINDOW, STREAM_RECEIVE_WINDOW};
use natter_tests::blobs::*;
use natter_tests::raw::{open_transfer, transfer_reply};
use natter_tests::*;

const MIB: u64 = 1 << 20;

#[tokio::test]
async fn junk_written_after_a_get_header_is_refused_with_a_stop_not_buffered() {
    // Long enough that nothing in the server gives up on the stalled
    // download (which would drop the stream, and stop it that way) while
    // the test waits.
    let server = TestServer::start_with(|c| c.idle_timeout_secs = 300).await;
    let peer = raw_user(&server, "gina").await;

    // A blob gina may fetch, larger than what her connection accepts before
    // she reads, so the server's download stays busy writing.
    let size = 8 * MIB;
    let (bytes, hash) = content(size, "windows-get");
    let (mut send, mut recv, reply) = open_transfer(&peer.connection, &put(hash, size)).await;
    assert_eq!(reply, TransferReply::SendFrom { offset: 0 });
    send.write_all(&bytes).await.unwrap();
    send.finish().unwrap();
    assert_eq!(transfer_reply(&mut recv).await, TransferReply::Stored);

    // A Get, and then junk where nothing more belongs; she never reads the
    // download.
    let (mut send, _unread) = within("a transfer stream", peer.connection.open_bi())
        .await
        .unwrap();
    let header = TransferHeader::Get {
        kind: MediaKind::File,
        hash,
        offset: 0,
    };
    write_frame(&mut send, &header).await.unwrap();
    let junk = vec![0x5a_u8; 64 * 1024];
    let mut accepted = 0u64;
    let refused = within("the server to stop reading the Get", async {
        loop {
            match send.write(&junk).await {
                Ok(n) => accepted += n as u64,
                Err(e) => return e,
            }
        }
    })
    .await;
    assert!(
        matches!(refused, quinn::WriteError::Stopped(code) if code == quinn::VarInt::from_u32(0)),
        "the junk should be refused by a stop with code 0, got {refused:?}"
    );
    // Whatever was written before the stop arrived fit one stream window;
    // the server let it go with the stop.
    assert!(
        accepted <= u64::from(STREAM_RECEIVE_WINDOW),
        "{accepted} bytes of junk accepted"
    );
}

#[tokio::test]
async fn unread_transfer_streams_together_get_no_more_than_the_connection_window() {
    let server = TestServer::start_with(|c| {
        // One upload turn for hana, so every other Put she opens waits for
        // a turn, its stream unread, for longer than the test lasts.
        c.max_uploads_per_user = 1;
        c.upload_wait_secs = 300;
        c.idle_timeout_secs = 300;
    })
    .await;
    let transfers = server_config_max_transfers();
    let peer = raw_user(&server, "hana").await;

    // The turn: an upload told to send, which sends nothing.
    let (_held_send, _held_recv, reply) = open_transfer(
        &peer.connection,
        &put(BlobHash(*blake3::hash(b"held").as_bytes()), 64 * MIB),
    )
    .await;
    assert_eq!(reply, TransferReply::SendFrom { offset: 0 });

    // Every other transfer stream she may open: a Put header followed at
    // once by bytes, on streams the server is not reading.
    let waiting = transfers - 1;
    let accepted = Arc::new(AtomicU64::new(0));
    let mut writers = Vec::new();
    let mut streams = Vec::new();
    for i in 0..waiting {
        let (mut send, recv) = within("a transfer stream", peer.connection.open_bi())
            .await
            .expect("a transfer stream within MAX_STREAMS");
        let hash = BlobHash(*blake3::hash(format!("waiting {i}").as_bytes()).as_bytes());
        write_frame(&mut send, &put(hash, 64 * MIB)).await.unwrap();
        streams.push(recv);
        let accepted = accepted.clone();
        writers.push(tokio::spawn(async move {
            let junk = vec![0xa5_u8; 64 * 1024];
            while let Ok(n) = send.write(&junk).await {
                accepted.fetch_add(n as u64, Ordering::Relaxed);
            }
        }));
    }

    // Her writes stop being accepted once the server's credit runs out: on
    // the whole connection (DATA_BLOCKED), or else on every one of the
    // streams (STREAM_DATA_BLOCKED on each).
    let stats = within("hana's writes to block on flow control", async {
        loop {
            let stats = peer.connection.stats();
            if stats.frame_tx.data_blocked > 0
                || stats.frame_tx.stream_data_blocked >= u64::from(waiting)
            {
                return stats;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let accepted = accepted.load(Ordering::Relaxed);
    for writer in &writers {
        assert!(!writer.is_finished(), "a write failed instead of waiting");
    }
    assert!(
        stats.frame_tx.data_blocked > 0,
        "blocked stream by stream, not by a connection window ({accepted} bytes accepted)"
    );
    assert!(
        accepted <= u64::from(RECEIVE_WINDOW),
        "{accepted} unread bytes accepted on one connection"
    );
    for writer in writers {
        writer.abort();
    }
    drop(streams);
}

/// The server's default number of transfer streams per connection.
fn server_config_max_transfers() -> u32 {
    natter_server::Config::new("127.0.0.1:0".parse().unwrap(), std::path::Path::new("."))
        .max_transfers
}
