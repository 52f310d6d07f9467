//! End-to-end tests of pictures and files on their own streams: large,
//! resumable, deduplicated, verified, authorized, bounded, and never
//! blocking chat. Real server, real client, real QUIC, real files.

use std::path::Path;

use natter_client::hash::hash_file;
use natter_client::{transfer, Client, ClientError, ClientEvent, MediaCache};
use natter_common::protocol::MediaKind;
use natter_common::{BlobHash, Content, MediaRef, Recipient, Refusal, UserName};
use natter_tests::blobs::start_raw_upload;
use natter_tests::*;

const MIB: u64 = 1 << 20;

fn name(s: &str) -> UserName {
    UserName::parse(s).unwrap()
}

/// Whether the server's blob store holds `hash`.
fn stored(server: &TestServer, hash: &BlobHash) -> bool {
    let hex = hash.to_hex();
    server
        .data_dir
        .join("blobs")
        .join(&hex[..2])
        .join(&hex)
        .exists()
}

async fn expect_media(events: &mut natter_client::Events) -> (Content, MediaRef) {
    expect(events, "a picture or file message", |e| match e {
        ClientEvent::Message(m) => m
            .content
            .media()
            .map(|media| (m.content.clone(), media.clone())),
        _ => None,
    })
    .await
}

#[tokio::test]
async fn a_large_file_arrives_byte_identical() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (alice, _a) = member(&server, dir.path(), "alice").await;
    let (bob, mut b) = member(&server, dir.path(), "bob").await;

    let source = dir.path().join("big.bin");
    random_file(&source, 300 * MIB, "large");
    let (id, cancel) = alice.new_transfer();
    let shared = within(
        "the upload",
        alice.share_now(Recipient::Everyone, &source, false, id, &cancel),
    )
    .await
    .unwrap();
    assert!(
        matches!(shared.content, Content::File(_)),
        "random bytes are not a picture"
    );
    assert_eq!(shared.stats.sent, 300 * MIB);

    let (_, media) = expect_media(&mut b).await;
    assert_eq!(media.name, "big.bin");
    let (id, cancel) = bob.new_transfer();
    let got = within(
        "the download",
        bob.fetch_now(&media, MediaKind::File, id, &cancel),
    )
    .await
    .unwrap();
    assert!(got.starts_with(dir.path().join("cache-bob").join("files")));
    assert!(same_bytes(&source, &got));
    // Cached: fetching again touches no network and gives the same file.
    let again = bob
        .fetch_now(&media, MediaKind::File, id, &cancel)
        .await
        .unwrap();
    assert_eq!(again, got);
}

#[tokio::test]
async fn an_interrupted_upload_resumes_after_a_reconnect_and_a_server_restart() {
    let mut server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (alice, mut a) = member(&server, dir.path(), "alice").await;
    let source = dir.path().join("resume.bin");
    let size = 200 * MIB;
    random_file(&source, size, "resume");

    let uploader = alice.clone();
    let path = source.clone();
    let (id, cancel) = alice.new_transfer();
    let upload = tokio::spawn(async move {
        uploader
            .share_now(Recipient::Everyone, &path, false, id, &cancel)
            .await
    });
    // Wait until a good part is through, then restart the server under it.
    expect(&mut a, "upload progress", |e| match e {
        ClientEvent::Progress(p) if p.upload && p.done >= size / 3 => Some(()),
        _ => None,
    })
    .await;
    server.restart().await;

    let shared = within("the resumed upload", upload).await.unwrap().unwrap();
    assert!(
        shared.stats.resumed_from > 0,
        "resumed from {}",
        shared.stats.resumed_from
    );
    assert!(
        shared.stats.sent < size,
        "sent {} of {size} after the restart",
        shared.stats.sent
    );
    assert_eq!(shared.stats.sent + shared.stats.resumed_from, size);

    // What the server kept is exactly the file.
    let media = shared.content.media().unwrap().clone();
    let (bob, _b) = member(&server, dir.path(), "bob").await;
    let (id, cancel) = bob.new_transfer();
    let got = bob
        .fetch_now(&media, MediaKind::File, id, &cancel)
        .await
        .unwrap();
    assert!(same_bytes(&source, &got));
}

#[tokio::test]
async fn uploading_the_same_content_twice_sends_nothing_but_another_user_sends_it_all() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (alice, _a) = member(&server, dir.path(), "alice").await;
    let (bob, _b) = member(&server, dir.path(), "bob").await;
    let source = dir.path().join("same.bin");
    random_file(&source, 5 * MIB, "dedup");

    let (id, cancel) = alice.new_transfer();
    let first = alice
        .share_now(Recipient::Everyone, &source, false, id, &cancel)
        .await
        .unwrap();
    assert_eq!(first.stats.sent, 5 * MIB);
    let second = alice
        .share_now(Recipient::Everyone, &source, false, id, &cancel)
        .await
        .unwrap();
    assert_eq!(second.stats.sent, 0, "the server already has these bytes");
    // Another user's copy of the same bytes must prove itself: knowing the
    // hash is not having the file. It is stored once all the same.
    let copy = dir.path().join("copy.bin");
    std::fs::copy(&source, &copy).unwrap();
    let third = bob
        .share_now(Recipient::Everyone, &copy, false, id, &cancel)
        .await
        .unwrap();
    assert_eq!(third.stats.sent, 5 * MIB);
    let blobs: usize = std::fs::read_dir(server.data_dir.join("blobs"))
        .unwrap()
        .map(|d| std::fs::read_dir(d.unwrap().path()).unwrap().count())
        .sum();
    assert_eq!(blobs, 1);
    assert_eq!(
        std::fs::read_dir(server.data_dir.join("partial"))
            .unwrap()
            .count(),
        0
    );
}

#[tokio::test]
async fn only_those_who_can_see_a_message_may_fetch_its_file() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (alice, _a) = member(&server, dir.path(), "alice").await;
    let (bob, mut b) = member(&server, dir.path(), "bob").await;
    let (carol, _c) = member(&server, dir.path(), "carol").await;
    let source = dir.path().join("secret.txt");
    std::fs::write(&source, "for bob's eyes only").unwrap();

    let (id, cancel) = alice.new_transfer();
    alice
        .share_now(Recipient::User(name("bob")), &source, false, id, &cancel)
        .await
        .unwrap();
    let (_, media) = expect_media(&mut b).await;

    let got = bob
        .fetch_now(&media, MediaKind::File, id, &cancel)
        .await
        .unwrap();
    assert_eq!(std::fs::read_to_string(got).unwrap(), "for bob's eyes only");
    let refused = carol.fetch_now(&media, MediaKind::File, id, &cancel).await;
    // To carol the file does not exist: she learns nothing about it.
    assert_eq!(refused, Err(ClientError::Refused(Refusal::NoSuchBlob)));
    let carols_partials = dir.path().join("cache-carol").join("partial");
    assert_eq!(
        std::fs::read_dir(carols_partials).unwrap().count(),
        0,
        "a refusal leaves no file"
    );
    // Nor can carol post a message referencing it to gain access.
    let forged = carol
        .send(Recipient::Everyone, Content::File(media.clone()))
        .unwrap();
    let mut c = _c;
    let reason = expect(&mut c, "rejection", |e| match e {
        ClientEvent::Rejected { client_id, reason } if *client_id == forged => Some(reason.clone()),
        _ => None,
    })
    .await;
    assert_eq!(reason, Refusal::NoSuchBlob);
    let unknown = MediaRef {
        hash: BlobHash([9; 32]),
        name: "x".into(),
        size: 1,
    };
    let missing = carol
        .fetch_now(&unknown, MediaKind::File, id, &cancel)
        .await;
    assert_eq!(missing, Err(ClientError::Refused(Refusal::NoSuchBlob)));
}

#[tokio::test]
async fn uploads_over_the_size_limit_or_quota_are_refused_before_data_flows() {
    let server = TestServer::start_with(|c| {
        c.max_upload_bytes = 2 * MIB;
        c.quota_bytes = 3 * MIB;
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (alice, _a) = member(&server, dir.path(), "alice").await;
    assert_eq!(alice.limits().max_upload_bytes, 2 * MIB);
    let big = dir.path().join("big.bin");
    random_file(&big, 3 * MIB, "big");
    let (hash, size) = hash_file(&big).await.unwrap();

    // Straight to the server, skipping the client's own check: refused at
    // the header, so not one byte of the file is written.
    let connection = alice.connection().unwrap();
    let (_, cancel) = alice.new_transfer();
    let mut moved = 0;
    let refused = transfer::upload(
        &connection,
        MediaKind::File,
        &big,
        hash,
        size,
        &cancel,
        |d, _, _| moved = d,
    )
    .await;
    assert_eq!(
        refused,
        Err(ClientError::Refused(Refusal::TooLarge {
            size,
            max: 2 * MIB
        }))
    );
    assert_eq!(moved, 0);
    assert_eq!(
        std::fs::read_dir(server.data_dir.join("partial"))
            .unwrap()
            .count(),
        0
    );

    let one = dir.path().join("one.bin");
    random_file(&one, 2 * MIB, "one");
    let two = dir.path().join("two.bin");
    random_file(&two, 2 * MIB, "two");
    let (id, cancel) = alice.new_transfer();
    alice
        .upload_now(MediaKind::File, &one, id, &cancel)
        .await
        .unwrap();
    match alice.upload_now(MediaKind::File, &two, id, &cancel).await {
        Err(ClientError::Refused(Refusal::QuotaExceeded {
            used,
            quota,
            needed,
        })) => {
            assert_eq!((used, quota, needed), (2 * MIB, 3 * MIB, 2 * MIB));
        }
        other => panic!("expected the quota to refuse, got {other:?}"),
    }
}

#[tokio::test]
async fn a_corrupted_upload_is_rejected_and_leaves_nothing() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (alice, mut a) = member(&server, dir.path(), "alice").await;
    let real = dir.path().join("real.bin");
    random_file(&real, MIB, "real");
    let claimed = BlobHash(*blake3::hash(b"something else entirely").as_bytes());

    let connection = alice.connection().unwrap();
    let (_, cancel) = alice.new_transfer();
    let result = transfer::upload(
        &connection,
        MediaKind::File,
        &real,
        claimed,
        MIB,
        &cancel,
        |_, _, _| {},
    )
    .await;
    assert_eq!(result, Err(ClientError::Refused(Refusal::HashMismatch)));
    assert_eq!(
        std::fs::read_dir(server.data_dir.join("partial"))
            .unwrap()
            .count(),
        0
    );
    assert!(!stored(&server, &claimed));

    // Nothing can reference it.
    let media = MediaRef {
        hash: claimed,
        name: "real.bin".into(),
        size: MIB,
    };
    let sent = alice
        .send(Recipient::Everyone, Content::File(media))
        .unwrap();
    let reason = expect(&mut a, "rejection", |e| match e {
        ClientEvent::Rejected { client_id, reason } if *client_id == sent => Some(reason.clone()),
        _ => None,
    })
    .await;
    assert_eq!(reason, Refusal::NoSuchBlob);
}

#[tokio::test]
async fn a_hostile_file_name_cannot_escape_the_cache() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (mallory, _m) = member(&server, dir.path(), "mallory").await;
    let (bob, mut b) = member(&server, dir.path(), "bob").await;
    let payload = dir.path().join("payload");
    std::fs::write(&payload, "#!/bin/sh\necho pwned\n").unwrap();
    let (id, cancel) = mallory.new_transfer();
    let (media, _) = mallory
        .upload_now(MediaKind::File, &payload, id, &cancel)
        .await
        .unwrap();

    for hostile in [
        "../../../escaped.sh",
        "..",
        "/etc/passwd",
        "CON",
        "a\\..\\..\\win.bat",
    ] {
        let named = MediaRef {
            name: hostile.into(),
            ..media.clone()
        };
        mallory
            .send(Recipient::Everyone, Content::File(named))
            .unwrap();
        let (_, got) = expect_media(&mut b).await;
        assert_eq!(got.name, hostile, "names travel as display text");
        let path = bob
            .fetch_now(&got, MediaKind::File, id, &cancel)
            .await
            .unwrap();
        let files = MediaCache::at(dir.path().join("cache-bob"))
            .unwrap()
            .dir(MediaKind::File);
        assert_eq!(
            path.parent(),
            Some(files.as_path()),
            "{hostile:?} landed at {}",
            path.display()
        );
    }
    assert!(!dir.path().join("escaped.sh").exists());
}

#[tokio::test]
async fn pictures_are_recognised_and_sent_with_their_size() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (alice, _a) = member(&server, dir.path(), "alice").await;
    let (_bob, mut b) = member(&server, dir.path(), "bob").await;
    let png = dir.path().join("dot.png");
    image::RgbaImage::from_pixel(40, 30, image::Rgba([200, 30, 30, 255]))
        .save(&png)
        .unwrap();
    let fake = dir.path().join("fake.png");
    std::fs::write(&fake, b"\x89PNG\r\n\x1a\n but not really").unwrap();

    let (id, cancel) = alice.new_transfer();
    alice
        .share_now(Recipient::Everyone, &png, false, id, &cancel)
        .await
        .unwrap();
    let (content, _) = expect_media(&mut b).await;
    assert!(
        matches!(
            content,
            Content::Image {
                width: 40,
                height: 30,
                ..
            }
        ),
        "{content:?}"
    );
    alice
        .share_now(Recipient::Everyone, &fake, false, id, &cancel)
        .await
        .unwrap();
    let (content, _) = expect_media(&mut b).await;
    assert!(
        matches!(content, Content::File(_)),
        "undecodable bytes go as a file"
    );
    alice
        .share_now(Recipient::Everyone, &png, true, id, &cancel)
        .await
        .unwrap();
    let (content, _) = expect_media(&mut b).await;
    assert!(matches!(content, Content::File(_)), "--as-file");
}

#[tokio::test]
async fn chat_flows_in_order_while_a_large_transfer_runs() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (alice, mut a) = member(&server, dir.path(), "alice").await;
    let (_bob, mut b) = member(&server, dir.path(), "bob").await;
    let source = dir.path().join("huge.bin");
    random_file(&source, 400 * MIB, "huge");

    let uploader = alice.clone();
    let path = source.clone();
    let (id, cancel) = alice.new_transfer();
    let upload = tokio::spawn(async move {
        uploader
            .share_now(Recipient::Everyone, &path, false, id, &cancel)
            .await
    });
    expect(&mut a, "the upload to start", |e| {
        matches!(e, ClientEvent::Progress(p) if p.upload && p.done > 0).then_some(())
    })
    .await;

    // Same connection, same moment: the chat must not wait for the file.
    for i in 0..20 {
        alice
            .send(Recipient::Everyone, Content::Text(format!("during {i}")))
            .unwrap();
    }
    let seen = messages_until(&mut b, "during 19").await;
    let texts: Vec<String> = seen
        .iter()
        .filter_map(|m| match &m.content {
            Content::Text(t) => Some(t.clone()),
            _ => None,
        })
        .collect();
    let expected: Vec<String> = (0..20).map(|i| format!("during {i}")).collect();
    assert_eq!(texts, expected);
    assert!(
        !upload.is_finished(),
        "the chat arrived while the upload was still running"
    );
    within("the upload", upload).await.unwrap().unwrap();
}

/// Sends the held upload's bytes and waits for the server to store them.
async fn finish_held_upload(held: (quinn::SendStream, quinn::RecvStream), path: &Path) {
    use natter_common::codec;
    use natter_common::protocol::TransferReply;
    let (mut send, mut recv) = held;
    send.write_all(&std::fs::read(path).unwrap()).await.unwrap();
    send.finish().unwrap();
    let reply: Option<TransferReply> = codec::read_frame(&mut recv, 4096).await.unwrap();
    assert_eq!(reply, Some(TransferReply::Stored));
}

/// Alice and Bob on a server with one upload turn, each with a file to
/// send: Alice's `held` (of `held_mib` MiB), Bob's 1 MiB `other`.
struct OneTurn {
    server: TestServer,
    alice: Client,
    bob: Client,
    held: std::path::PathBuf,
    other: std::path::PathBuf,
    _keep: (
        tempfile::TempDir,
        natter_client::Events,
        natter_client::Events,
    ),
}

async fn one_turn(tweak: impl FnOnce(&mut natter_server::Config), held_mib: u64) -> OneTurn {
    let server = TestServer::start_with(|c| {
        c.max_uploads = 1;
        tweak(c);
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (alice, a) = member(&server, dir.path(), "alice").await;
    let (bob, b) = member(&server, dir.path(), "bob").await;
    let (held, other) = (dir.path().join("held.bin"), dir.path().join("other.bin"));
    random_file(&held, held_mib * MIB, "held");
    random_file(&other, MIB, "other");
    OneTurn {
        server,
        alice,
        bob,
        held,
        other,
        _keep: (dir, a, b),
    }
}

#[tokio::test]
async fn uploads_past_the_server_wide_limit_are_told_busy_when_they_may_not_wait() {
    let OneTurn {
        server,
        alice,
        bob,
        held,
        other,
        _keep,
    } = one_turn(|c| c.upload_wait_secs = 0, 1).await;

    // Alice has the one turn; Bob is told the server is busy, before any
    // of his bytes move.
    let holding = start_raw_upload(&alice, &held).await;
    let (other_hash, other_size) = hash_file(&other).await.unwrap();
    let (_, cancel) = bob.new_transfer();
    let mut moved = 0;
    let refused = transfer::upload(
        &bob.connection().unwrap(),
        MediaKind::File,
        &other,
        other_hash,
        other_size,
        &cancel,
        |d, _, _| moved = d,
    )
    .await;
    match refused {
        Err(ClientError::Refused(Refusal::Busy(why))) => {
            assert!(why.contains("1 uploads"), "{why}")
        }
        other => panic!("expected busy, got {other:?}"),
    }
    assert_eq!(moved, 0);

    // Alice's upload completes and gives the turn back; Bob's then goes.
    finish_held_upload(holding, &held).await;
    let (id, cancel) = bob.new_transfer();
    bob.upload_now(MediaKind::File, &other, id, &cancel)
        .await
        .unwrap();
    assert!(stored(&server, &other_hash));
}

#[tokio::test]
async fn an_upload_past_the_server_wide_limit_waits_for_a_turn() {
    // The default wait (30 s) is far longer than this test.
    let OneTurn {
        alice,
        bob,
        held,
        other,
        _keep,
        server: _server,
    } = one_turn(|_| {}, 16).await;

    let holding = start_raw_upload(&alice, &held).await;
    // Bob asks while Alice holds the turn: his header is one small frame,
    // hers still has 16 MiB to send, hash and sync, so he asks first in
    // all but a freak schedule. He must wait, not be refused.
    let waiting = tokio::spawn({
        let (bob, other) = (bob.clone(), other.clone());
        async move {
            let (id, cancel) = bob.new_transfer();
            bob.upload_now(MediaKind::File, &other, id, &cancel).await
        }
    });
    finish_held_upload(holding, &held).await;
    within("Bob's upload after Alice's", waiting)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn a_stalled_upload_is_dropped_and_frees_its_turn() {
    // Uploads that send nothing for the idle timeout are dropped.
    let OneTurn {
        alice,
        bob,
        held,
        other,
        _keep,
        server: _server,
    } = one_turn(
        |c| {
            c.upload_wait_secs = 0;
            c.idle_timeout_secs = 1;
        },
        1,
    )
    .await;

    let (send, _recv) = start_raw_upload(&alice, &held).await;
    within("the server to stop the stalled upload", send.stopped())
        .await
        .unwrap();
    let (id, cancel) = bob.new_transfer();
    bob.upload_now(MediaKind::File, &other, id, &cancel)
        .await
        .unwrap();
    // Alice's connection is still up: only her upload was dropped.
    alice.ping().await.unwrap();
}
