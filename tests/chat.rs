//! End-to-end tests of accounts, presence, group and private chat, history
//! and protocol abuse: the real server on 127.0.0.1:0 in a temp dir, the
//! real client library, real QUIC, a real SQLite file.

use natter_client::{Client, ClientError, ClientEvent, FirstUse};
use natter_common::protocol::close;
use natter_common::{
    ClientMsg, ClientMsgId, Content, Conversation, Emoji, Hello, Recipient, Refusal, ServerMsg,
    UserName,
};
use natter_tests::raw::RawPeer;
use natter_tests::relay::Relay;
use natter_tests::*;

fn name(s: &str) -> UserName {
    UserName::parse(s).unwrap()
}

fn text(s: &str) -> Content {
    Content::Text(s.into())
}

#[tokio::test]
async fn a_group_message_reaches_everyone_online() {
    let server = TestServer::start().await;
    let (alice, mut a) = server.user("alice").await;
    let (_bob, mut b) = server.user("bob").await;
    let (_carol, mut c) = server.user("carol").await;

    alice.send(Recipient::Everyone, text("hello room")).unwrap();
    for events in [&mut a, &mut b, &mut c] {
        let m = expect_text(events, "hello room").await;
        assert_eq!(m.from, name("alice"));
        assert_eq!(m.to, Recipient::Everyone);
        let age = chrono::Utc::now() - m.sent_at.to_utc();
        assert!(
            age.num_seconds().abs() < 60,
            "server stamps the time: {age}"
        );
    }
}

#[tokio::test]
async fn a_private_message_reaches_only_its_target() {
    let server = TestServer::start().await;
    let (alice, mut a) = server.user("alice").await;
    let (_bob, mut b) = server.user("bob").await;
    let (_carol, mut c) = server.user("carol").await;

    alice
        .send(Recipient::User(name("bob")), text("for bob only"))
        .unwrap();
    alice.send(Recipient::Everyone, text("marker")).unwrap();

    let at_bob = messages_until(&mut b, "marker").await;
    assert!(at_bob.iter().any(|m| m.content == text("for bob only")));
    let at_alice = messages_until(&mut a, "marker").await;
    assert!(
        at_alice.iter().any(|m| m.content == text("for bob only")),
        "the sender's own copy"
    );
    // Messages reach each session in id order, so everything carol could
    // have been sent before the marker has arrived by now.
    let at_carol = messages_until(&mut c, "marker").await;
    assert!(
        at_carol.iter().all(|m| m.content != text("for bob only")),
        "carol saw: {at_carol:?}"
    );

    let carols_view = _carol
        .history(Conversation::With(name("alice")), None, 50)
        .await
        .unwrap();
    assert!(carols_view.messages.is_empty());
    let bobs_view = _bob
        .history(Conversation::With(name("alice")), None, 50)
        .await
        .unwrap();
    assert_eq!(bobs_view.messages.len(), 1);
}

#[tokio::test]
async fn presence_follows_login_logout_and_a_dropped_connection() {
    // A short idle timeout so a silently dropped connection is noticed fast.
    let server = TestServer::start_with(|c| c.idle_timeout_secs = 3).await;
    let (alice, mut a) = server.user("alice").await;
    assert_eq!(alice.online(), vec![name("alice")]);

    natter_client::register(&server.client_config(), "bob", PASSWORD)
        .await
        .unwrap();
    let (bob, mut b) = Client::login(server.client_config(), "bob", PASSWORD)
        .await
        .unwrap();
    expect(&mut a, "bob joined", |e| {
        matches!(e, ClientEvent::Joined(u) if *u == name("bob")).then_some(())
    })
    .await;
    let snapshot = expect(&mut b, "bob's snapshot", |e| match e {
        ClientEvent::Online(users) => Some(users.clone()),
        _ => None,
    })
    .await;
    assert_eq!(snapshot, vec![name("alice"), name("bob")]);

    bob.logout().await.unwrap();
    expect(&mut a, "bob left", |e| {
        matches!(e, ClientEvent::Left(u) if *u == name("bob")).then_some(())
    })
    .await;
    assert_eq!(alice.online(), vec![name("alice")]);

    // Carol's network goes silent: no close frame ever reaches the server.
    let relay = Relay::start(server.addr).await;
    natter_client::register(&server.client_config(), "carol", PASSWORD)
        .await
        .unwrap();
    let (_carol, _c) = Client::login(
        server.client_config_for(&relay.addr.to_string()),
        "carol",
        PASSWORD,
    )
    .await
    .unwrap();
    expect(&mut a, "carol joined", |e| {
        matches!(e, ClientEvent::Joined(u) if *u == name("carol")).then_some(())
    })
    .await;
    relay.cut();
    expect(&mut a, "carol left", |e| {
        matches!(e, ClientEvent::Left(u) if *u == name("carol")).then_some(())
    })
    .await;
}

#[tokio::test]
async fn several_devices_of_one_user_count_as_one_presence() {
    let server = TestServer::start().await;
    let (_alice, mut a) = server.user("alice").await;
    let (bob1, _b1) = server.user("bob").await;
    let (bob2, mut b2) = Client::login(server.client_config(), "BOB", PASSWORD)
        .await
        .unwrap();
    // Presence is coalesced per tick: wait until alice has seen bob come.
    expect(&mut a, "bob joined", |e| {
        matches!(e, ClientEvent::Joined(u) if *u == name("bob")).then_some(())
    })
    .await;
    bob1.logout().await.unwrap();
    // bob is still online on his second device: a message to him arrives
    // there, and alice saw no "left" before the marker.
    _alice
        .send(Recipient::User(name("bob")), text("still there?"))
        .unwrap();
    expect_text(&mut b2, "still there?").await;
    _alice.send(Recipient::Everyone, text("marker")).unwrap();
    let mut left = false;
    expect(&mut a, "marker", |e| match e {
        ClientEvent::Left(_) => {
            left = true;
            None
        }
        ClientEvent::Message(m) if m.content == text("marker") => Some(()),
        _ => None,
    })
    .await;
    assert!(!left, "bob left while a device was still online");
    bob2.logout().await.unwrap();
    expect(&mut a, "bob left", |e| {
        matches!(e, ClientEvent::Left(u) if *u == name("bob")).then_some(())
    })
    .await;
}

#[tokio::test]
async fn login_and_registration_errors_are_clear() {
    let server = TestServer::start().await;
    let config = server.client_config();
    natter_client::register(&config, "Alice", PASSWORD)
        .await
        .unwrap();

    let refusal = |r: Result<_, ClientError>| match r {
        Err(ClientError::Refused(refusal)) => refusal,
        Err(other) => panic!("expected a refusal, got {other}"),
        Ok(_) => panic!("expected a refusal, got success"),
    };
    assert_eq!(
        refusal(
            Client::login(config.clone(), "nobody", PASSWORD)
                .await
                .map(|_| ())
        ),
        Refusal::UnknownUser("nobody".into())
    );
    assert_eq!(
        refusal(
            Client::login(config.clone(), "alice", "wrong password")
                .await
                .map(|_| ())
        ),
        Refusal::WrongPassword
    );
    assert_eq!(
        refusal(
            natter_client::register(&config, "ALICE", PASSWORD)
                .await
                .map(|_| ())
        ),
        Refusal::NameTaken("ALICE".into())
    );
    assert!(matches!(
        refusal(
            natter_client::register(&config, "bad name!", PASSWORD)
                .await
                .map(|_| ())
        ),
        Refusal::InvalidName(_)
    ));
    assert!(matches!(
        refusal(
            natter_client::register(&config, "bob", "short")
                .await
                .map(|_| ())
        ),
        Refusal::WeakPassword { .. }
    ));
    let (me, _events) = Client::login(config, "aLiCe", PASSWORD).await.unwrap();
    assert_eq!(me.me(), &name("Alice"), "the account's own spelling");
}

#[tokio::test]
async fn repeated_wrong_passwords_are_throttled() {
    let server = TestServer::start_with(|c| c.login_failures_per_account = 3).await;
    let config = server.client_config();
    natter_client::register(&config, "alice", PASSWORD)
        .await
        .unwrap();
    for _ in 0..3 {
        assert!(Client::login(config.clone(), "alice", "not it at all")
            .await
            .is_err());
    }
    match Client::login(config, "alice", PASSWORD).await {
        Err(ClientError::Refused(Refusal::RateLimited { retry_after_ms })) => {
            assert!(retry_after_ms > 0)
        }
        other => panic!("expected throttling, got {:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn history_survives_a_server_restart() {
    let mut server = TestServer::start().await;
    {
        let (alice, mut a) = server.user("alice").await;
        natter_client::register(&server.client_config(), "bob", PASSWORD)
            .await
            .unwrap();
        alice
            .send(Recipient::Everyone, text("before restart"))
            .unwrap();
        alice
            .send(
                Recipient::User(name("bob")),
                Content::Emoji(Emoji::by_key("happy").unwrap().id),
            )
            .unwrap();
        for _ in 0..2 {
            expect(&mut a, "accepted", |e| {
                matches!(e, ClientEvent::Accepted { .. }).then_some(())
            })
            .await;
        }
    }
    server.restart().await;

    let (bob, mut b) = Client::login(server.client_config(), "bob", PASSWORD)
        .await
        .unwrap();
    expect(&mut b, "catch-up", |e| {
        matches!(e, ClientEvent::CaughtUp { .. }).then_some(())
    })
    .await;
    let group = bob.history(Conversation::Group, None, 10).await.unwrap();
    assert_eq!(group.messages.len(), 1);
    assert_eq!(group.messages[0].content, text("before restart"));
    let private = bob
        .history(Conversation::With(name("alice")), None, 10)
        .await
        .unwrap();
    assert!(matches!(private.messages[0].content, Content::Emoji(_)));
}

#[tokio::test]
async fn private_messages_sent_while_offline_arrive_at_login() {
    let server = TestServer::start().await;
    natter_client::register(&server.client_config(), "bob", PASSWORD)
        .await
        .unwrap();
    let (alice, mut a) = server.user("alice").await;
    alice
        .send(Recipient::User(name("bob")), text("while you were out"))
        .unwrap();
    expect(&mut a, "accepted", |e| {
        matches!(e, ClientEvent::Accepted { .. }).then_some(())
    })
    .await;

    let (_bob, mut b) = Client::login(server.client_config(), "bob", PASSWORD)
        .await
        .unwrap();
    let mut got = None;
    expect(&mut b, "catch-up", |e| match e {
        ClientEvent::Message(m) => {
            got = Some(m.clone());
            None
        }
        ClientEvent::CaughtUp { .. } => Some(()),
        _ => None,
    })
    .await;
    let got = got.expect("the offline message was replayed");
    assert_eq!(got.from, name("alice"));
    assert_eq!(got.content, text("while you were out"));
}

#[tokio::test]
async fn a_resend_after_reconnect_is_not_duplicated() {
    let server = TestServer::start().await;
    let (_watcher, mut w) = server.user("watcher").await;
    natter_client::register(&server.client_config(), "alice", PASSWORD)
        .await
        .unwrap();

    // The raw protocol: the same client id twice, on two connections.
    let mut first = RawPeer::login(server.addr, "alice", PASSWORD).await;
    let send = ClientMsg::Send {
        client_id: ClientMsgId(42),
        to: Recipient::Everyone,
        content: text("once"),
    };
    first.send(&send).await;
    let (id, at) = first
        .read_until(|m| match m {
            ServerMsg::Accepted { id, sent_at, .. } => Some((*id, *sent_at)),
            _ => None,
        })
        .await;
    first.connection.close(0u32.into(), b"gone");

    let mut second = RawPeer::login(server.addr, "alice", PASSWORD).await;
    second.send(&send).await;
    let again = second
        .read_until(|m| match m {
            ServerMsg::Accepted { id, sent_at, .. } => Some((*id, *sent_at)),
            _ => None,
        })
        .await;
    assert_eq!(again, (id, at), "the resend is answered with the original");
    second
        .send(&ClientMsg::Send {
            client_id: ClientMsgId(43),
            to: Recipient::Everyone,
            content: text("marker"),
        })
        .await;
    let seen = messages_until(&mut w, "marker").await;
    assert_eq!(seen.iter().filter(|m| m.content == text("once")).count(), 1);

    // The real client: a send racing a dropped connection goes out again
    // after the reconnect, and is stored once.
    let (bob, mut b) = server.user("bob").await;
    bob.send(Recipient::Everyone, text("through a blip"))
        .unwrap();
    bob.reconnect_now();
    expect(&mut b, "accepted", |e| {
        matches!(e, ClientEvent::Accepted { .. }).then_some(())
    })
    .await;
    bob.send(Recipient::Everyone, text("marker 2")).unwrap();
    let seen = messages_until(&mut w, "marker 2").await;
    assert_eq!(
        seen.iter()
            .filter(|m| m.content == text("through a blip"))
            .count(),
        1
    );
    let history = bob.history(Conversation::Group, None, 50).await.unwrap();
    assert_eq!(
        history
            .messages
            .iter()
            .filter(|m| m.content == text("through a blip"))
            .count(),
        1
    );
}

#[tokio::test]
async fn messages_sent_while_disconnected_go_out_once_on_reconnect() {
    let server = TestServer::start().await;
    let (_watcher, mut w) = server.user("watcher").await;
    natter_client::register(&server.client_config(), "alice", PASSWORD)
        .await
        .unwrap();
    let relay = Relay::start(server.addr).await;
    let (alice, mut a) = Client::login(
        server.client_config_for(&relay.addr.to_string()),
        "alice",
        PASSWORD,
    )
    .await
    .unwrap();
    relay.cut();
    alice
        .send(Recipient::Everyone, text("queued while cut"))
        .unwrap();
    relay.heal();
    expect(&mut a, "accepted", |e| {
        matches!(e, ClientEvent::Accepted { .. }).then_some(())
    })
    .await;
    alice.send(Recipient::Everyone, text("marker")).unwrap();
    let seen = messages_until(&mut w, "marker").await;
    assert_eq!(
        seen.iter()
            .filter(|m| m.content == text("queued while cut"))
            .count(),
        1
    );
}

#[tokio::test]
async fn nobody_can_send_as_someone_else() {
    let server = TestServer::start().await;
    let (_alice, mut a) = server.user("alice").await;
    natter_client::register(&server.client_config(), "mallory", PASSWORD)
        .await
        .unwrap();

    // Before login, nothing is accepted.
    let mut peer = RawPeer::connect(server.addr).await;
    peer.hello().await;
    peer.send(&ClientMsg::Send {
        client_id: ClientMsgId(1),
        to: Recipient::Everyone,
        content: text("anon"),
    })
    .await;
    assert!(matches!(
        peer.read().await,
        ServerMsg::Rejected {
            reason: Refusal::NotAuthenticated,
            ..
        }
    ));
    // A forged session token is refused.
    peer.send(&ClientMsg::Resume {
        token: natter_common::SessionToken([7; 32]),
        since: None,
    })
    .await;
    assert_eq!(
        peer.read().await,
        ServerMsg::Refused(Refusal::InvalidSession)
    );
    // Logged in as mallory, a second login as alice is refused, and what
    // mallory sends carries mallory's name: the wire has no sender field.
    peer.send(&ClientMsg::Login {
        name: "mallory".into(),
        password: PASSWORD.into(),
        since: None,
    })
    .await;
    peer.read_until(|m| matches!(m, ServerMsg::CaughtUp { .. }).then_some(()))
        .await;
    peer.send(&ClientMsg::Login {
        name: "alice".into(),
        password: PASSWORD.into(),
        since: None,
    })
    .await;
    peer.read_until(|m| {
        matches!(m, ServerMsg::Refused(Refusal::AlreadyAuthenticated)).then_some(())
    })
    .await;
    peer.send(&ClientMsg::Send {
        client_id: ClientMsgId(2),
        to: Recipient::Everyone,
        content: text("I am alice"),
    })
    .await;
    let m = expect_text(&mut a, "I am alice").await;
    assert_eq!(m.from, name("mallory"));
}

#[tokio::test]
async fn bad_frames_close_only_the_offending_connection() {
    let server = TestServer::start().await;
    let (alice, mut a) = server.user("alice").await;
    let (_bob, mut b) = server.user("bob").await;

    let mut huge = RawPeer::connect(server.addr).await;
    huge.hello().await;
    huge.send_bytes(&u32::MAX.to_le_bytes()).await;
    let (code, reason) = huge.closed().await;
    assert_eq!(code, close::PROTOCOL_VIOLATION as u64);
    assert!(reason.contains("exceeds"), "{reason}");

    let mut garbage = RawPeer::connect(server.addr).await;
    garbage.hello().await;
    garbage.send_bytes(&[3, 0, 0, 0, 0xff, 0xff, 0xff]).await;
    let (code, _) = garbage.closed().await;
    assert_eq!(code, close::PROTOCOL_VIOLATION as u64);

    let mut no_hello = RawPeer::connect(server.addr).await;
    no_hello.send_bytes(b"GET / HTTP/1.1\r\n\r\n").await;
    let (code, _) = no_hello.closed().await;
    assert_eq!(code, close::PROTOCOL_VIOLATION as u64);

    let mut too_long = RawPeer::login(server.addr, "bob", PASSWORD).await;
    let long = "x".repeat(natter_common::limits::MAX_TEXT_CHARS + 1);
    too_long
        .send(&ClientMsg::Send {
            client_id: ClientMsgId(5),
            to: Recipient::Everyone,
            content: text(&long),
        })
        .await;
    let reason = too_long
        .read_until(|m| match m {
            ServerMsg::Rejected { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .await;
    assert!(matches!(reason, Refusal::TextTooLong { .. }));

    // Everyone else carries on.
    alice.send(Recipient::Everyone, text("still here")).unwrap();
    expect_text(&mut b, "still here").await;
    expect_text(&mut a, "still here").await;
}

#[tokio::test]
async fn a_different_protocol_version_is_refused_by_name() {
    let server = TestServer::start().await;
    let mut peer = RawPeer::connect(server.addr).await;
    natter_common::codec::write_frame(
        &mut peer.send,
        &Hello {
            version: 99,
            software: "future".into(),
        },
    )
    .await
    .unwrap();
    assert_eq!(
        peer.read().await,
        ServerMsg::Refused(Refusal::VersionMismatch {
            server: natter_common::PROTOCOL_VERSION,
            client: 99
        })
    );
    let (code, reason) = peer.closed().await;
    assert_eq!(code, close::PROTOCOL_VIOLATION as u64);
    let ours = format!("version {}", natter_common::PROTOCOL_VERSION);
    assert!(
        reason.contains(&ours) && reason.contains("version 99"),
        "{reason}"
    );
}

#[tokio::test]
async fn a_connection_that_never_logs_in_is_closed() {
    let server = TestServer::start_with(|c| c.auth_timeout_secs = 1).await;
    let mut peer = RawPeer::connect(server.addr).await;
    peer.hello().await;
    let (code, reason) = peer.closed().await;
    assert_eq!(code, close::AUTH_TIMEOUT as u64);
    assert!(reason.contains("not logged in"), "{reason}");
}

#[tokio::test]
async fn a_slow_reader_is_cut_loose_and_catches_up_later() {
    let server = TestServer::start_with(|c| {
        c.session_queue = 8;
        // The flood is the point here, not the send rate limit.
        c.messages_per_sec = 100_000;
        c.message_burst = 100_000;
    })
    .await;
    let (alice, mut a) = server.user("alice").await;
    natter_client::register(&server.client_config(), "slow", PASSWORD)
        .await
        .unwrap();

    // "slow" logs in with a tiny receive window and then never reads.
    let mut transport = quinn::TransportConfig::default();
    transport
        .stream_receive_window(1024u32.into())
        .receive_window(4096u32.into());
    let mut slow = RawPeer::connect_with(server.addr, transport).await;
    slow.hello().await;
    slow.send(&ClientMsg::Login {
        name: "slow".into(),
        password: PASSWORD.into(),
        since: None,
    })
    .await;
    slow.read_until(|m| matches!(m, ServerMsg::CaughtUp { .. }).then_some(()))
        .await;

    let total = 200;
    for i in 0..total {
        alice
            .send(Recipient::Everyone, text(&format!("flood {i}")))
            .unwrap();
    }
    let (code, _) = slow.closed().await;
    assert_eq!(code, close::TOO_SLOW as u64);
    // The room never stalled: alice got every one of her messages back.
    let last = format!("flood {}", total - 1);
    let seen = messages_until(&mut a, &last).await;
    assert_eq!(
        seen.iter()
            .filter(|m| matches!(&m.content, Content::Text(t) if t.starts_with("flood")))
            .count(),
        total
    );

    // On its next login the slow user is replayed everything.
    let (_again, mut s) = Client::login(server.client_config(), "slow", PASSWORD)
        .await
        .unwrap();
    let replayed = messages_until(&mut s, &last).await;
    assert_eq!(replayed.len(), total);
}

#[tokio::test]
async fn a_changed_server_certificate_is_refused() {
    let first = TestServer::start().await;
    let known = first.data_dir.join("shared_known_servers");
    let tofu = |server: &TestServer| {
        let mut config = server.client_config();
        config.trust.known_servers = known.clone();
        config.trust.pinned = None;
        config.trust.first_use = FirstUse::Accept;
        config
    };
    // First use records the fingerprint; the same server is then trusted.
    natter_client::register(&tofu(&first), "alice", PASSWORD)
        .await
        .unwrap();
    let (_a, _e) = Client::login(tofu(&first), "alice", PASSWORD)
        .await
        .unwrap();
    let recorded = std::fs::read_to_string(&known).unwrap();
    assert!(
        recorded.contains(&first.fingerprint.to_string()),
        "{recorded}"
    );
    let addr = first.addr;
    let old = first.fingerprint;
    drop((_a, _e));
    let mut first = first;
    first.stop().await;

    // Another server (new certificate) appears at the same address.
    let dir = tempfile::tempdir().unwrap();
    let impostor = TestServer::start_at(addr, dir.path(), |_| {}).await;
    assert_ne!(impostor.fingerprint, old);
    match natter_client::register(&tofu(&impostor), "bob", PASSWORD).await {
        Err(ClientError::CertificateChanged {
            known, presented, ..
        }) => {
            assert_eq!(known, old);
            assert_eq!(presented, impostor.fingerprint);
            let shown = ClientError::CertificateChanged {
                server: addr.to_string(),
                known,
                presented,
            }
            .to_string();
            assert!(
                shown.contains(&old.to_string())
                    && shown.contains(&impostor.fingerprint.to_string())
            );
        }
        other => panic!("expected a refusal of the changed certificate, got {other:?}"),
    }

    // With first use refused, an unknown server is reported with its
    // fingerprint for the user to check.
    let mut strict = impostor.client_config();
    strict.trust.pinned = None;
    strict.trust.known_servers = dir.path().join("empty_known_servers");
    match natter_client::register(&strict, "bob", PASSWORD).await {
        Err(ClientError::UnknownServer { fingerprint, .. }) => {
            assert_eq!(fingerprint, impostor.fingerprint)
        }
        other => panic!("expected an unknown-server error, got {other:?}"),
    }
}

#[tokio::test]
async fn older_history_is_paged_on_request() {
    let server = TestServer::start().await;
    let (alice, mut a) = server.user("alice").await;
    for i in 0..25 {
        alice
            .send(Recipient::Everyone, text(&format!("m{i}")))
            .unwrap();
    }
    expect_text(&mut a, "m24").await;
    let newest = alice.history(Conversation::Group, None, 10).await.unwrap();
    assert!(newest.more);
    assert_eq!(newest.messages.last().unwrap().content, text("m24"));
    let older = alice
        .history(Conversation::Group, Some(newest.messages[0].id), 100)
        .await
        .unwrap();
    assert!(!older.more);
    assert_eq!(older.messages.len(), 15);
    assert_eq!(older.messages[0].content, text("m0"));
}

#[tokio::test]
async fn shutdown_closes_sessions_with_a_reason() {
    let mut server = TestServer::start().await;
    let (_alice, mut a) = server.user("alice").await;
    server.stop().await;
    let reason = expect(&mut a, "disconnect", |e| match e {
        ClientEvent::Disconnected { reason, .. } => Some(reason.clone()),
        _ => None,
    })
    .await;
    assert!(reason.contains("shutting down"), "{reason}");
}

/// A client may choose the address it sends from (one interface of
/// several). With one connection allowed per address, two clients given
/// two addresses both get in; from one address the second would not.
#[tokio::test]
async fn a_client_sends_from_the_local_address_it_is_given() {
    let server = TestServer::start_with(|c| c.max_connections_per_address = 1).await;
    natter_tests::logins::register_from(server.addr, 2, "alice").await;
    natter_tests::logins::register_from(server.addr, 5, "bob").await;
    let from = |n| natter_client::ClientConfig {
        local_address: Some(natter_tests::logins::loopback(n)),
        ..server.client_config()
    };
    let (_alice, _a) = Client::login(from(3), "alice", PASSWORD).await.unwrap();
    let (_bob, _b) = Client::login(from(4), "bob", PASSWORD).await.unwrap();
    let again = Client::login(from(3), "bob", PASSWORD).await;
    assert!(
        again.is_err(),
        "a second connection from 127.0.0.3 is over the cap"
    );
}
