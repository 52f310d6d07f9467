//! A hostile user against the media streams: knowing a hash must grant and
//! reveal nothing, the quota must hold under concurrency and abandoned
//! uploads, one user must not hold every turn, trickles are dropped,
//! downloads take turns, and the records survive a lost file. Raw transfer
//! streams where the client library would refuse to misbehave.

use std::path::Path;

use natter_client::Client;
use natter_common::protocol::TransferReply;
use natter_common::ServerMsg;
use natter_common::{ClientMsg, ClientMsgId, Content, MediaRef, Recipient, Refusal};
use natter_tests::blobs::*;
use natter_tests::raw::{open_transfer, transfer_reply, RawPeer};
use natter_tests::*;

const MIB: u64 = 1 << 20;

/// Sends `bytes` from `offset` on a put that was told to send, and
/// returns the server's verdict.
async fn finish_put(
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
    bytes: &[u8],
    offset: u64,
) -> TransferReply {
    send.write_all(&bytes[offset as usize..]).await.unwrap();
    send.finish().unwrap();
    transfer_reply(&mut recv).await
}

/// Sends a message through a raw peer and returns why it was rejected
/// (or panics if it was accepted).
async fn rejected(peer: &mut RawPeer, client_id: u64, media: MediaRef) -> Refusal {
    peer.send(&ClientMsg::Send {
        client_id: ClientMsgId(client_id),
        to: Recipient::Everyone,
        content: Content::File(media),
    })
    .await;
    peer.read_until(|m| match m {
        ServerMsg::Rejected {
            client_id: c,
            reason,
        } if c.0 == client_id => Some(reason.clone()),
        ServerMsg::Accepted { client_id: c, .. } if c.0 == client_id => {
            panic!("a message naming someone else's private blob was accepted")
        }
        _ => None,
    })
    .await
}

fn files_in(dir: &Path) -> usize {
    std::fs::read_dir(dir).unwrap().count()
}

#[tokio::test]
async fn knowing_a_private_blobs_hash_and_size_gets_nothing_without_its_bytes() {
    let server = TestServer::start().await;
    let mut alice = raw_user(&server, "alice").await;
    let mut mallory = raw_user(&server, "mallory").await;
    let (bytes, hash) = content(300_000, "alice's private file");
    let size = bytes.len() as u64;
    let (send, recv, reply) = open_transfer(&alice.connection, &put(hash, size)).await;
    assert_eq!(reply, TransferReply::SendFrom { offset: 0 });
    assert_eq!(
        finish_put(send, recv, &bytes, 0).await,
        TransferReply::Stored
    );

    // Mallory knows the hash and the size (hashes are not secrets): he is
    // asked for the bytes, exactly as for a blob that does not exist.
    let (_, unknown) = content(300_000, "nothing anyone stored");
    for header in [put(hash, size), put(hash, 1), put(unknown, size)] {
        let (mut send, _recv, reply) = open_transfer(&mallory.connection, &header).await;
        assert_eq!(reply, TransferReply::SendFrom { offset: 0 }, "{header:?}");
        send.reset(0u32.into()).unwrap();
    }
    // Fetching it, with a good or a wrong offset, or naming it in a
    // message with the right or a wrong size: the same answer as for a
    // blob that does not exist.
    let nothing = TransferReply::Refused(Refusal::NoSuchBlob);
    for header in [
        get(hash, 0),
        get(hash, size + 5),
        get(unknown, 0),
        get(unknown, 9),
    ] {
        let (_send, _recv, reply) = open_transfer(&mallory.connection, &header).await;
        assert_eq!(reply, nothing, "{header:?}");
    }
    let named = |hash, size| MediaRef {
        hash,
        name: "x.bin".into(),
        size,
    };
    for (i, media) in [named(hash, size), named(hash, 1), named(unknown, size)]
        .into_iter()
        .enumerate()
    {
        assert_eq!(
            rejected(&mut mallory, i as u64, media).await,
            Refusal::NoSuchBlob
        );
    }

    // The owner is told at once that the server has it; a wrong size
    // for her own blob may say so.
    let (_s, _r, reply) = open_transfer(&alice.connection, &put(hash, size)).await;
    assert_eq!(reply, TransferReply::Stored);
    let refusal = rejected(&mut alice, 1, named(hash, 1)).await;
    assert!(matches!(refusal, Refusal::InvalidMedia(_)), "{refusal:?}");

    // Sending the real bytes is proof of possession: then he may fetch it.
    let (send, recv, reply) = open_transfer(&mallory.connection, &put(hash, size)).await;
    let TransferReply::SendFrom { offset } = reply else {
        panic!("expected to be asked for the bytes, got {reply:?}");
    };
    assert_eq!(
        finish_put(send, recv, &bytes, offset).await,
        TransferReply::Stored
    );
    let (_send, mut recv, reply) = open_transfer(&mallory.connection, &get(hash, 0)).await;
    assert_eq!(reply, TransferReply::Sending { size });
    let got = within("the download", recv.read_to_end(size as usize + 1))
        .await
        .unwrap();
    assert_eq!(got, bytes);
    // Stored once, whoever sent it.
    let blobs: usize = std::fs::read_dir(server.data_dir.join("blobs"))
        .unwrap()
        .map(|d| files_in(&d.unwrap().path()))
        .sum();
    assert_eq!(blobs, 1);
}

#[tokio::test]
async fn concurrent_uploads_of_the_whole_quota_reserve_it_only_once() {
    let server = TestServer::start_with(|c| c.quota_bytes = MIB).await;
    let peer = raw_user(&server, "alice").await;
    let mut uploads = tokio::task::JoinSet::new();
    for i in 0..8 {
        let connection = peer.connection.clone();
        uploads.spawn(async move {
            let (bytes, hash) = content(MIB, &format!("upload {i}"));
            let (send, recv, reply) = open_transfer(&connection, &put(hash, MIB)).await;
            (bytes, send, recv, reply)
        });
    }
    let (mut told_to_send, mut over_quota) = (Vec::new(), 0);
    while let Some(done) = within("eight replies", uploads.join_next()).await {
        let (bytes, send, recv, reply) = done.unwrap();
        match reply {
            TransferReply::SendFrom { offset: 0 } => told_to_send.push((bytes, send, recv)),
            TransferReply::Refused(Refusal::QuotaExceeded { quota, needed, .. }) => {
                assert_eq!((quota, needed), (MIB, MIB));
                over_quota += 1;
            }
            other => panic!("unexpected reply {other:?}"),
        }
    }
    assert_eq!((told_to_send.len(), over_quota), (1, 7));
    let (bytes, send, recv) = told_to_send.pop().unwrap();
    assert_eq!(
        finish_put(send, recv, &bytes, 0).await,
        TransferReply::Stored
    );
}

#[tokio::test]
async fn abandoned_uploads_are_bounded_per_user_and_count_as_used() {
    let size = 64 * 1024;
    let server = TestServer::start_with(|c| c.max_partials_per_user = 4).await;
    let peer = raw_user(&server, "alice").await;
    let mut refused = Vec::new();
    for i in 0..20 {
        let (bytes, hash) = content(size, &format!("abandoned {i}"));
        let (mut send, _recv, reply) = open_transfer(&peer.connection, &put(hash, size)).await;
        match reply {
            TransferReply::SendFrom { offset: 0 } => {
                send.write_all(&bytes[..8192]).await.unwrap();
                send.reset(0u32.into()).unwrap();
            }
            TransferReply::Refused(Refusal::Busy(why)) => refused.push(why),
            other => panic!("unexpected reply {other:?}"),
        }
    }
    assert_eq!(refused.len(), 16, "{refused:?}");
    assert!(refused[0].contains("unfinished uploads"), "{}", refused[0]);
    assert_eq!(files_in(&server.data_dir.join("partial")), 4);
    // The reservations are counted as used, in what a login reports.
    let (client, _events) = Client::login(server.client_config(), "alice", PASSWORD)
        .await
        .unwrap();
    assert_eq!(client.limits().used_bytes, 4 * size);
}

#[tokio::test]
async fn the_sweeper_removes_expired_partials_and_frees_their_quota() {
    let dir = tempfile::tempdir().unwrap();
    let local = "127.0.0.1:0".parse().unwrap();
    let (abandoned, abandoned_hash) = content(MIB, "abandoned");
    let (_, next) = content(MIB, "next");
    {
        let mut server = TestServer::start_at(local, dir.path(), |c| c.quota_bytes = MIB).await;
        let peer = raw_user(&server, "alice").await;
        let (mut send, _recv, reply) =
            open_transfer(&peer.connection, &put(abandoned_hash, MIB)).await;
        assert_eq!(reply, TransferReply::SendFrom { offset: 0 });
        send.write_all(&abandoned[..MIB as usize / 2])
            .await
            .unwrap();
        send.reset(0u32.into()).unwrap();
        // The abandoned half counts: there is no room for another.
        let (_s, _r, reply) = open_transfer(&peer.connection, &put(next, MIB)).await;
        assert!(
            matches!(reply, TransferReply::Refused(Refusal::QuotaExceeded { .. })),
            "{reply:?}"
        );
        drop(peer);
        server.stop().await;
    }
    assert_eq!(files_in(&dir.path().join("partial")), 1);

    // Started again with expiry at once: the start-up sweep removes it.
    let server = TestServer::start_at(local, dir.path(), |c| {
        c.quota_bytes = MIB;
        c.partial_max_age_hours = 0;
    })
    .await;
    assert_eq!(files_in(&dir.path().join("partial")), 0);
    let peer = RawPeer::login(server.addr, "alice", PASSWORD).await;
    let (mut send, _recv, reply) = open_transfer(&peer.connection, &put(next, MIB)).await;
    assert_eq!(reply, TransferReply::SendFrom { offset: 0 });

    // And the running sweeper does the same once this one is abandoned.
    send.write_all(&[7; 8192]).await.unwrap();
    send.reset(0u32.into()).unwrap();
    let partials = dir.path().join("partial");
    within("the sweeper to delete the abandoned upload", async {
        // Polls a directory the server changes on its own schedule; every
        // tick is a check, not a guess at how long the sweep takes.
        let mut ticks = tokio::time::interval(std::time::Duration::from_millis(50));
        while files_in(&partials) > 0 {
            ticks.tick().await;
        }
    })
    .await;
}

#[tokio::test]
async fn one_user_with_many_connections_holds_only_their_share_of_upload_turns() {
    let server = TestServer::start_with(|c| {
        c.upload_wait_secs = 2;
        c.max_uploads_per_user = 4;
    })
    .await;
    let first = raw_user(&server, "mallory").await;
    let mut peers = vec![first];
    for _ in 1..8 {
        peers.push(RawPeer::login(server.addr, "mallory", PASSWORD).await);
    }
    // 8 connections x 8 uploads, each sending nothing once it has a turn.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for (p, peer) in peers.iter().enumerate() {
        for u in 0..8 {
            let (connection, tx) = (peer.connection.clone(), tx.clone());
            tokio::spawn(async move {
                let (_, hash) = content(1024, &format!("hog {p} {u}"));
                let held = open_transfer(&connection, &put(hash, MIB)).await;
                let _ = tx.send(held);
            });
        }
    }
    drop(tx);
    let mut held = Vec::new();
    while held.len() < 4 {
        held.push(within("mallory's first turns", rx.recv()).await.unwrap());
    }
    assert!(held
        .iter()
        .all(|(_, _, r)| *r == TransferReply::SendFrom { offset: 0 }));

    // While mallory's other 60 wait, bob's upload starts at once.
    let mut bob = raw_user(&server, "bob").await;
    let (bytes, hash) = content(MIB, "bob's");
    let (send, recv, reply) = open_transfer(&bob.connection, &put(hash, MIB)).await;
    assert_eq!(reply, TransferReply::SendFrom { offset: 0 });
    assert_eq!(
        finish_put(send, recv, &bytes, 0).await,
        TransferReply::Stored
    );

    // The rest of mallory's were told busy, none given a turn.
    while let Some(rest) = within("mallory's other replies", rx.recv()).await {
        match &rest.2 {
            TransferReply::Refused(Refusal::Busy(why)) => {
                assert!(why.contains("you already have 4"), "{why}")
            }
            other => panic!("mallory got more than his share: {other:?}"),
        }
        held.push(rest);
    }
    assert_eq!(held.len(), 64);
    bob.send(&ClientMsg::Ping { nonce: 1 }).await;
    bob.read_until(|m| matches!(m, ServerMsg::Pong { nonce: 1 }).then_some(()))
        .await;
}

#[tokio::test]
async fn a_trickle_below_the_minimum_rate_is_dropped_and_keeps_its_partial() {
    let server = TestServer::start_with(|c| {
        c.idle_timeout_secs = 1;
        c.min_upload_kib_s = 16;
    })
    .await;
    let peer = raw_user(&server, "alice").await;
    let (bytes, hash) = content(MIB, "trickled");
    let (mut send, mut recv, reply) = open_transfer(&peer.connection, &put(hash, MIB)).await;
    assert_eq!(reply, TransferReply::SendFrom { offset: 0 });
    let mut verdict = tokio::spawn(async move { transfer_reply(&mut recv).await });
    // 1 KiB every 100 ms: 10 KiB/s, never silent, always too slow.
    let mut pace = tokio::time::interval(std::time::Duration::from_millis(100));
    // A late tick must not turn into a burst that looks fast enough.
    pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sent = 0;
    let verdict = within("the server to drop the trickle", async {
        loop {
            tokio::select! {
                reply = &mut verdict => break reply.unwrap(),
                _ = pace.tick() => {
                    if send.write_all(&bytes[sent..sent + 1024]).await.is_ok() {
                        sent += 1024;
                    }
                }
            }
        }
    })
    .await;
    match verdict {
        TransferReply::Refused(Refusal::Busy(why)) => {
            assert!(why.contains("minimum rate"), "{why}")
        }
        other => panic!("expected the trickle to be dropped, got {other:?}"),
    }
    // What arrived is kept: a resume starts past the beginning.
    let (send, recv, reply) = open_transfer(&peer.connection, &put(hash, MIB)).await;
    let TransferReply::SendFrom { offset } = reply else {
        panic!("expected a resume, got {reply:?}");
    };
    assert!(
        offset > 0 && offset <= sent as u64,
        "resumed at {offset} of {sent}"
    );
    assert_eq!(
        finish_put(send, recv, &bytes, offset).await,
        TransferReply::Stored
    );
}

/// The client library, uploading too slowly, hears why the server dropped
/// its upload: a typed `Interrupted` with the server's reason (which the
/// transfer retries resume from), not a bare "stopped by peer".
#[tokio::test]
async fn an_upload_the_server_drops_part_way_says_why() {
    let server = TestServer::start_with(|c| {
        c.idle_timeout_secs = 1;
        c.min_upload_kib_s = 16;
    })
    .await;
    let peer = raw_user(&server, "alice").await;
    let (bytes, hash) = content(MIB, "paced too slow");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("slow.bin");
    std::fs::write(&path, &bytes).unwrap();
    let cancel = tokio_util::sync::CancellationToken::new();
    // The library sends 256 KiB at a time; at 32 KiB/s that is one every
    // 8 s, and whole seconds with nothing against a minimum of 16 KiB in
    // every second. The server drops it at the second such second.
    let upload = natter_client::transfer::upload_paced(
        &peer.connection,
        natter_common::protocol::MediaKind::File,
        &path,
        hash,
        MIB,
        Some(32 * 1024),
        &cancel,
        |_, _, _| {},
    );
    match within("the server to drop the slow upload", upload).await {
        Err(natter_client::ClientError::Interrupted(Refusal::Busy(why))) => {
            assert!(why.contains("minimum rate"), "{why}")
        }
        other => panic!("expected the slow upload to be interrupted, got {other:?}"),
    }
}

#[tokio::test]
async fn downloads_take_turns_per_user_and_server_wide() {
    let server = TestServer::start_with(|c| {
        c.max_downloads = 2;
        c.max_downloads_per_user = 1;
        c.upload_wait_secs = 0;
    })
    .await;
    let mut alice = raw_user(&server, "alice").await;
    let bob = raw_user(&server, "bob").await;
    let carol = raw_user(&server, "carol").await;
    // Big enough that a reader who does not read holds the sender up.
    let (bytes, hash) = content(32 * MIB, "shared");
    let size = bytes.len() as u64;
    let (send, recv, _) = open_transfer(&alice.connection, &put(hash, size)).await;
    assert_eq!(
        finish_put(send, recv, &bytes, 0).await,
        TransferReply::Stored
    );
    alice
        .send(&ClientMsg::Send {
            client_id: ClientMsgId(1),
            to: Recipient::Everyone,
            content: Content::File(MediaRef {
                hash,
                name: "shared.bin".into(),
                size,
            }),
        })
        .await;
    alice
        .read_until(|m| matches!(m, ServerMsg::Accepted { .. }).then_some(()))
        .await;

    let (_a, _ar, reply) = open_transfer(&alice.connection, &get(hash, 0)).await;
    assert_eq!(reply, TransferReply::Sending { size });
    let (_s, _r, reply) = open_transfer(&alice.connection, &get(hash, 0)).await;
    match reply {
        TransferReply::Refused(Refusal::Busy(why)) => assert!(why.contains("you already"), "{why}"),
        other => panic!("a second download of one user got {other:?}"),
    }
    let (_b, _br, reply) = open_transfer(&bob.connection, &get(hash, 0)).await;
    assert_eq!(reply, TransferReply::Sending { size });
    let (_s, _r, reply) = open_transfer(&carol.connection, &get(hash, 0)).await;
    match reply {
        TransferReply::Refused(Refusal::Busy(why)) => {
            assert!(why.contains("sending 2 downloads"), "{why}")
        }
        other => panic!("a download past the server-wide limit got {other:?}"),
    }
}

#[tokio::test]
async fn a_blob_whose_file_was_lost_is_received_again_after_a_restart() {
    let mut server = TestServer::start().await;
    natter_client::register(&server.client_config(), "alice", PASSWORD)
        .await
        .unwrap();
    let (bytes, hash) = content(200_000, "lost in a crash");
    let size = bytes.len() as u64;
    {
        let peer = RawPeer::login(server.addr, "alice", PASSWORD).await;
        let (send, recv, _) = open_transfer(&peer.connection, &put(hash, size)).await;
        assert_eq!(
            finish_put(send, recv, &bytes, 0).await,
            TransferReply::Stored
        );
    }
    server.stop().await;
    let hex = hash.to_hex();
    std::fs::remove_file(server.data_dir.join("blobs").join(&hex[..2]).join(&hex)).unwrap();
    server.restart().await;

    let peer = RawPeer::login(server.addr, "alice", PASSWORD).await;
    let (_s, _r, reply) = open_transfer(&peer.connection, &get(hash, 0)).await;
    assert_eq!(reply, TransferReply::Refused(Refusal::NoSuchBlob));
    let (send, recv, reply) = open_transfer(&peer.connection, &put(hash, size)).await;
    assert_eq!(reply, TransferReply::SendFrom { offset: 0 });
    assert_eq!(
        finish_put(send, recv, &bytes, 0).await,
        TransferReply::Stored
    );
    let (_s, _r, reply) = open_transfer(&peer.connection, &get(hash, 0)).await;
    assert_eq!(reply, TransferReply::Sending { size });
}

#[tokio::test]
async fn a_reader_that_stops_reading_loses_its_download_turn() {
    let server = TestServer::start_with(|c| {
        c.max_downloads = 1;
        c.idle_timeout_secs = 1;
    })
    .await;
    let alice = raw_user(&server, "alice").await;
    let (bytes, hash) = content(32 * MIB, "hoarded");
    let size = bytes.len() as u64;
    let (send, recv, _) = open_transfer(&alice.connection, &put(hash, size)).await;
    assert_eq!(
        finish_put(send, recv, &bytes, 0).await,
        TransferReply::Stored
    );

    // Alice takes the one download turn and reads nothing.
    let (_held, mut stalled, reply) = open_transfer(&alice.connection, &get(hash, 0)).await;
    assert_eq!(reply, TransferReply::Sending { size });
    // Her second connection waits for the turn and gets it once the
    // server gives up on the first.
    let again = RawPeer::login(server.addr, "alice", PASSWORD).await;
    let (_s, _r, reply) = open_transfer(&again.connection, &get(hash, 0)).await;
    assert_eq!(reply, TransferReply::Sending { size });
    // The stalled download was cut off, not finished.
    let rest = within(
        "the stalled download's end",
        stalled.read_to_end(size as usize),
    )
    .await;
    assert!(
        matches!(
            rest,
            Err(quinn::ReadToEndError::Read(quinn::ReadError::Reset(_)))
        ),
        "{:?}",
        rest.map(|b| b.len())
    );
}
