//! Accounts against a hostile or careless world: logouts that end every
//! session of a login or account, tokens that rotate on resume, look-alike
//! names, and the client's own files (the pin file, the media cache).

use std::net::SocketAddr;

use natter_client::connection::connect;
use natter_client::trust::{known_server_line, KnownServers};
use natter_client::{Client, ClientError, ClientEvent, Events, MediaCache, Trust};
use natter_common::protocol::{close, MediaKind};
use natter_common::{
    ClientMsg, Content, Fingerprint, MediaRef, Recipient, Refusal, ServerMsg, SessionToken,
};
use natter_tests::raw::RawPeer;
use natter_tests::{expect, expect_text, login_with_cache, within, TestServer, PASSWORD};

// ---- helpers ----

/// Logs in with the password on a raw connection; the token and the peer,
/// past the replay.
async fn raw_login(server: SocketAddr, name: &str) -> (RawPeer, SessionToken) {
    let mut peer = RawPeer::connect(server).await;
    peer.hello().await;
    peer.send(&ClientMsg::Login {
        name: name.into(),
        password: PASSWORD.into(),
        since: None,
    })
    .await;
    let token = logged_in(&mut peer).await.expect("login");
    (peer, token)
}

/// Resumes with `token` on a new raw connection: the new token and the
/// peer, or the refusal.
async fn raw_resume(
    server: SocketAddr,
    token: &SessionToken,
) -> Result<(RawPeer, SessionToken), Refusal> {
    let mut peer = RawPeer::connect(server).await;
    peer.hello().await;
    peer.send(&ClientMsg::Resume {
        token: token.clone(),
        since: None,
    })
    .await;
    let token = logged_in(&mut peer).await?;
    Ok((peer, token))
}

/// Reads the answer to a login or resume, and the replay after success.
async fn logged_in(peer: &mut RawPeer) -> Result<SessionToken, Refusal> {
    let token = match peer.read().await {
        ServerMsg::LoggedIn { token, .. } => token,
        ServerMsg::Refused(refusal) => return Err(refusal),
        other => panic!("expected LoggedIn, got {other:?}"),
    };
    peer.read_until(|m| matches!(m, ServerMsg::CaughtUp { .. }).then_some(()))
        .await;
    Ok(token)
}

/// Proves a raw session is still served.
async fn still_served(peer: &mut RawPeer) {
    peer.send(&ClientMsg::Ping { nonce: 7 }).await;
    peer.read_until(|m| matches!(m, ServerMsg::Pong { nonce: 7 }).then_some(()))
        .await;
}

/// Waits for the server to end a raw session as logged out.
async fn ended_as_logged_out(peer: &RawPeer) {
    assert_eq!(
        peer.closed().await,
        (u64::from(close::NORMAL), "logged out".to_string())
    );
}

async fn register(server: &TestServer, name: &str) {
    natter_client::register(&server.client_config(), name, PASSWORD)
        .await
        .expect("register");
}

async fn closed(events: &mut Events) -> ClientError {
    expect(events, "the client to stop", |e| match e {
        ClientEvent::Closed { reason } => Some(reason.clone()),
        _ => None,
    })
    .await
}

// ---- tokens ----

#[tokio::test]
async fn a_logout_ends_every_session_resumed_from_that_login() {
    let server = TestServer::start().await;
    register(&server, "alice").await;
    let (mut first, token) = raw_login(server.addr, "alice").await;
    let (resumed, rotated) = raw_resume(server.addr, &token).await.expect("resume");
    let (mut other_login, other_token) = raw_login(server.addr, "alice").await;

    first.send(&ClientMsg::Logout).await;
    ended_as_logged_out(&first).await;
    ended_as_logged_out(&resumed).await;
    still_served(&mut other_login).await;

    for dead in [&token, &rotated] {
        let refused = raw_resume(server.addr, dead).await.err();
        assert_eq!(refused, Some(Refusal::InvalidSession));
    }
    assert!(raw_resume(server.addr, &other_token).await.is_ok());
}

#[tokio::test]
async fn resume_rotates_the_token_and_retires_the_old_one() {
    let server = TestServer::start().await;
    register(&server, "bob").await;
    let (_login, first) = raw_login(server.addr, "bob").await;

    let (_lost, lost_reply) = raw_resume(server.addr, &first).await.expect("resume");
    assert_ne!(lost_reply, first, "a resume issues a new token");
    // The reply may be lost in flight: the old token still resumes in its
    // grace, and the successor that never arrived is forgotten.
    let (_again, second) = raw_resume(server.addr, &first)
        .await
        .expect("the old token resumes within its grace");
    assert_eq!(
        raw_resume(server.addr, &lost_reply).await.err(),
        Some(Refusal::InvalidSession)
    );
    // Using the new token ends the old one's grace at once.
    let (_third, third) = raw_resume(server.addr, &second).await.expect("resume");
    assert_eq!(
        raw_resume(server.addr, &first).await.err(),
        Some(Refusal::InvalidSession)
    );
    assert!(raw_resume(server.addr, &third).await.is_ok());
}

#[tokio::test]
async fn logout_everywhere_ends_every_session_of_the_account() {
    let server = TestServer::start().await;
    register(&server, "carol").await;
    register(&server, "dave").await;
    let (phone, _) = Client::login(server.client_config(), "carol", PASSWORD)
        .await
        .expect("login");
    let (_laptop, mut laptop_events) = Client::login(server.client_config(), "carol", PASSWORD)
        .await
        .expect("login");
    let (raw, token) = raw_login(server.addr, "carol").await;
    let (raw_resumed, rotated) = raw_resume(server.addr, &token).await.expect("resume");
    let (mut dave, _) = raw_login(server.addr, "dave").await;

    within("logout everywhere", phone.logout_everywhere())
        .await
        .expect("logged out everywhere");
    ended_as_logged_out(&raw).await;
    ended_as_logged_out(&raw_resumed).await;
    // The other device stops instead of logging straight back in.
    let reason = closed(&mut laptop_events).await;
    assert!(reason.to_string().contains("logged out"), "{reason}");
    still_served(&mut dave).await;
    for dead in [&token, &rotated] {
        let refused = raw_resume(server.addr, dead).await.err();
        assert_eq!(refused, Some(Refusal::InvalidSession));
    }
}

#[tokio::test]
async fn reconnects_keep_working_across_many_rotations() {
    let mut server = TestServer::start().await;
    register(&server, "erin").await;
    let (erin, mut events) = Client::login(server.client_config(), "erin", PASSWORD)
        .await
        .expect("login");
    for _ in 0..2 {
        server.restart().await;
        expect(&mut events, "a reconnect after a restart", |e| {
            matches!(e, ClientEvent::Connected { resumed: true }).then_some(())
        })
        .await;
    }
    for _ in 0..5 {
        erin.reconnect_now();
        expect(&mut events, "a reconnect", |e| {
            matches!(e, ClientEvent::Connected { resumed: true }).then_some(())
        })
        .await;
    }
    erin.send(Recipient::Everyone, Content::Text("still here".into()))
        .expect("send");
    expect_text(&mut events, "still here").await;

    // Every reconnect resumed with the newest token: one login, and of its
    // tokens only the newest and the one it replaced are left (a client
    // that kept resuming with its first token, or fell back to the
    // password, would leave more).
    let db = rusqlite::Connection::open(server.data_dir.join("natter.db")).unwrap();
    let (logins, tokens, firsts): (i64, i64, i64) = db
        .query_row(
            "SELECT COUNT(DISTINCT family), COUNT(*), COUNT(*) FILTER (WHERE parent IS NULL)
             FROM tokens",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!((logins, tokens, firsts), (1, 2, 0));
}

#[tokio::test]
async fn logging_in_again_and_again_keeps_a_bounded_number_of_tokens() {
    let server = TestServer::start().await;
    register(&server, "frank").await;
    let (peer, oldest) = raw_login(server.addr, "frank").await;
    peer.connection.close(0u32.into(), b"bye");
    let mut newest = oldest.clone();
    for _ in 0..64 {
        let (peer, token) = raw_login(server.addr, "frank").await;
        peer.connection.close(0u32.into(), b"bye");
        newest = token;
    }
    assert_eq!(
        raw_resume(server.addr, &oldest).await.err(),
        Some(Refusal::InvalidSession),
        "65 logins keep only the newest 64"
    );
    assert!(raw_resume(server.addr, &newest).await.is_ok());
}

// ---- look-alike names ----

/// Registers on a raw connection, so the server's own rules answer (the
/// client library would refuse a bad name before sending it).
async fn raw_register(server: SocketAddr, name: &str) -> Result<String, Refusal> {
    let mut peer = RawPeer::connect(server).await;
    peer.hello().await;
    peer.send(&ClientMsg::Register {
        name: name.into(),
        password: PASSWORD.into(),
    })
    .await;
    match peer.read().await {
        ServerMsg::Registered { user } => Ok(user.to_string()),
        ServerMsg::Refused(refusal) => Err(refusal),
        other => panic!("expected Registered, got {other:?}"),
    }
}

/// Logs in on a raw connection; the name the server logged us in as.
async fn raw_login_as(server: SocketAddr, name: &str, password: &str) -> Result<String, Refusal> {
    let mut peer = RawPeer::connect(server).await;
    peer.hello().await;
    peer.send(&ClientMsg::Login {
        name: name.into(),
        password: password.into(),
        since: None,
    })
    .await;
    match peer.read().await {
        ServerMsg::LoggedIn { user, .. } => Ok(user.to_string()),
        ServerMsg::Refused(refusal) => Err(refusal),
        other => panic!("expected LoggedIn, got {other:?}"),
    }
}

#[tokio::test]
async fn look_alike_names_cannot_register_twice() {
    let server = TestServer::start().await;
    let pairs = [
        ("alice", "\u{430}lice"),                 // Cyrillic а
        ("AB", "ＡＢ"),                           // full-width
        ("file", "\u{fb01}le"),                   // the ﬁ ligature
        ("\u{d55c}", "\u{1112}\u{1161}\u{11ab}"), // 한 and its jamo
    ];
    for (original, look_alike) in pairs {
        assert_eq!(
            raw_register(server.addr, original).await.as_deref(),
            Ok(original)
        );
        assert!(
            matches!(
                raw_register(server.addr, look_alike).await,
                Err(Refusal::NameTaken(_))
            ),
            "{look_alike:?} registered beside {original:?}"
        );
    }
}

#[tokio::test]
async fn names_without_a_letter_or_digit_are_invalid() {
    let server = TestServer::start().await;
    for name in [".", "..", "-", "_.-"] {
        assert!(
            matches!(
                raw_register(server.addr, name).await,
                Err(Refusal::InvalidName(_))
            ),
            "{name:?} registered"
        );
    }
}

#[tokio::test]
async fn a_look_alike_login_reaches_the_owner_only_with_its_password() {
    let server = TestServer::start().await;
    raw_register(server.addr, "alice").await.expect("register");
    assert_eq!(
        raw_login_as(server.addr, "\u{430}lice", PASSWORD).await,
        Ok("alice".to_string())
    );
    assert_eq!(
        raw_login_as(server.addr, "\u{430}lice", "not the password at all").await,
        Err(Refusal::WrongPassword)
    );
}

// ---- the client's known-servers file ----

#[tokio::test]
async fn clients_trusting_a_server_at_once_record_it_once() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("known_servers");
    let trust = Trust::on_first_use(&path);
    let address = server.addr.to_string();
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (address, trust) = (address.clone(), trust.clone());
        clients.spawn(async move { connect(&address, &trust, "natter-tests").await });
    }
    let links = within("eight first connections", clients.join_all()).await;
    for link in links {
        link.expect("first use is accepted").close("done").await;
    }
    let known = KnownServers::read(&path).unwrap();
    assert_eq!(known.entries().len(), 1, "{:?}", known.entries());
    assert_eq!(known.fingerprints_of(&address), vec![server.fingerprint]);
}

#[tokio::test]
async fn two_fingerprints_for_one_server_are_a_conflict_not_a_choice() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("known_servers");
    let address = server.addr.to_string();
    let other = Fingerprint([0x5a; 32]);
    std::fs::write(
        &path,
        known_server_line(&address, &server.fingerprint)
            + "\n"
            + &known_server_line(&address, &other)
            + "\n",
    )
    .unwrap();
    let refused = connect(&address, &Trust::on_first_use(&path), "natter-tests")
        .await
        .err();
    assert_eq!(
        refused,
        Some(ClientError::CertificateChanged {
            server: address,
            known: other,
            presented: server.fingerprint,
        })
    );
}

// ---- the client's media cache ----

/// A small file of known bytes, shared to everyone by `client`.
async fn share(client: &Client, dir: &std::path::Path, bytes: &[u8]) -> MediaRef {
    let source = dir.join("notes.txt");
    std::fs::write(&source, bytes).unwrap();
    let (id, cancel) = client.new_transfer();
    let shared = within(
        "the upload",
        client.share_now(Recipient::Everyone, &source, true, id, &cancel),
    )
    .await
    .expect("shared");
    shared.content.media().expect("a file").clone()
}

#[tokio::test]
async fn a_cached_file_with_the_wrong_bytes_is_not_served() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    register(&server, "alice").await;
    register(&server, "bob").await;
    let (alice, _a) =
        login_with_cache(server.client_config(), "alice", &dir.path().join("a")).await;
    let (bob, mut b) = login_with_cache(server.client_config(), "bob", &dir.path().join("b")).await;
    let media = share(&alice, dir.path(), b"the real minutes").await;
    // Bob fetches what he was shown: the message, stored, makes the blob
    // his to see (the share returns once it is sent, not stored).
    expect(&mut b, "the shared file's message", |e| match e {
        ClientEvent::Message(m) => (m.content.media() == Some(&media)).then_some(()),
        _ => None,
    })
    .await;

    // Same name, same size, same short hash in the name: other bytes.
    let planted = bob.cache().unwrap().path_for(MediaKind::File, &media);
    std::fs::write(&planted, b"the fake minutes").unwrap();
    let (id, cancel) = bob.new_transfer();
    let got = within(
        "the download",
        bob.fetch_now(&media, MediaKind::File, id, &cancel),
    )
    .await
    .expect("downloaded");
    assert_eq!(std::fs::read(got).unwrap(), b"the real minutes");
}

#[tokio::test]
async fn two_servers_do_not_share_cache_entries() {
    let root = tempfile::tempdir().unwrap();
    let shared_root = MediaCache::at(root.path()).unwrap();
    let (one, two) = (TestServer::start().await, TestServer::start().await);
    register(&one, "alice").await;
    register(&two, "alice").await;
    let (on_one, _e1) = Client::login(one.client_config(), "alice", PASSWORD)
        .await
        .expect("login");
    let (on_two, _e2) = Client::login(two.client_config(), "alice", PASSWORD)
        .await
        .expect("login");
    // One root for both, as the platform's cache dir is by default.
    on_one.use_cache_root(&shared_root).unwrap();
    on_two.use_cache_root(&shared_root).unwrap();
    let media = share(&on_one, root.path(), b"only server one has this").await;
    let (id, cancel) = on_one.new_transfer();
    let cached = on_one.fetch_now(&media, MediaKind::File, id, &cancel).await;
    assert!(cached.is_ok(), "server one's client has it: {cached:?}");

    // Server two never stored it: its client must ask server two, not
    // reuse what server one sent.
    let (id, cancel) = on_two.new_transfer();
    let got = within(
        "the fetch",
        on_two.fetch_now(&media, MediaKind::File, id, &cancel),
    )
    .await;
    assert!(
        matches!(got, Err(ClientError::Refused(_))),
        "served from another server's cache: {got:?}"
    );
    assert_ne!(
        on_one.cache().unwrap().root(),
        on_two.cache().unwrap().root()
    );
}
