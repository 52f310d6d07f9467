//! Hostile logins and connections: parallel password guessing, strangers
//! trying to lock an owner out, huge names, sign-up floods, hashing floods,
//! and connection floods from one address. Each client here is a raw QUIC
//! peer (at 127.0.0.1, 127.0.0.2, ... to play several addresses), because the
//! client library would not misbehave like this.

use natter_client::Client;
use natter_common::{ClientMsg, Refusal, ServerMsg};
use natter_tests::logins::{login_from, loopback, register, roomy, WRONG};
use natter_tests::raw::RawPeer;
use natter_tests::{within, TestServer, PASSWORD};

fn is_limited(msg: &ServerMsg) -> bool {
    matches!(msg, ServerMsg::Refused(Refusal::RateLimited { retry_after_ms }) if *retry_after_ms > 0)
}

#[tokio::test]
async fn parallel_guesses_verify_at_most_the_account_limit() {
    let server = TestServer::start_with(|c| {
        roomy(c);
        c.login_failures_per_account = 5;
    })
    .await;
    register(server.addr, "alice").await;
    let guesses: Vec<_> = (0..60)
        .map(|_| tokio::spawn(login_from(server.addr, 2, "alice", WRONG)))
        .collect();
    let (mut wrong, mut limited) = (0, 0);
    for guess in guesses {
        match within("a guess", guess).await.unwrap() {
            ServerMsg::Refused(Refusal::WrongPassword) => wrong += 1,
            msg if is_limited(&msg) => limited += 1,
            other => panic!("unexpected answer to a guess: {other:?}"),
        }
    }
    assert!(
        (1..=5).contains(&wrong),
        "{wrong} guesses were verified, the limit is 5"
    );
    assert_eq!(wrong + limited, 60);
}

#[tokio::test]
async fn a_stranger_cannot_lock_the_owner_out() {
    let server = TestServer::start_with(|c| c.login_failures_per_account = 3).await;
    register(server.addr, "alice").await;
    // The owner's address logs in once and keeps the token.
    let token = match login_from(server.addr, 1, "alice", PASSWORD).await {
        ServerMsg::LoggedIn { token, .. } => token,
        other => panic!("owner's first login: {other:?}"),
    };

    let mut stranger = RawPeer::connect_from(server.addr, loopback(2)).await;
    for _ in 0..3 {
        let answer = stranger.try_login("alice", WRONG).await;
        assert_eq!(answer, ServerMsg::Refused(Refusal::WrongPassword));
    }
    assert!(is_limited(&stranger.try_login("alice", WRONG).await));
    // Strangers stay slow on this account, even with the right password.
    assert!(is_limited(
        &login_from(server.addr, 3, "alice", PASSWORD).await
    ));

    // The owner's known address logs in with the password...
    let owner = login_from(server.addr, 1, "alice", PASSWORD).await;
    assert!(matches!(owner, ServerMsg::LoggedIn { .. }), "{owner:?}");
    // ...and the device holding a token resumes from anywhere.
    let mut device = RawPeer::connect_from(server.addr, loopback(2)).await;
    device.send(&ClientMsg::Resume { token, since: None }).await;
    let resumed = device.read().await;
    assert!(matches!(resumed, ServerMsg::LoggedIn { .. }), "{resumed:?}");
}

#[tokio::test]
async fn the_address_limit_spares_known_users_behind_it() {
    let server = TestServer::start_with(|c| {
        c.login_failures_per_address = 3;
        c.login_failures_per_account = 100;
    })
    .await;
    register(server.addr, "alice").await;
    register(server.addr, "bob").await;
    let first = login_from(server.addr, 1, "alice", PASSWORD).await;
    assert!(matches!(first, ServerMsg::LoggedIn { .. }), "{first:?}");

    // Someone behind the same address guesses at bob until it is limited.
    let mut guesser = RawPeer::connect_from(server.addr, loopback(1)).await;
    for _ in 0..3 {
        let answer = guesser.try_login("bob", WRONG).await;
        assert_eq!(answer, ServerMsg::Refused(Refusal::WrongPassword));
    }
    assert!(is_limited(&guesser.try_login("bob", WRONG).await));
    assert!(is_limited(&guesser.try_login("nobody", WRONG).await));

    // Alice, who logged in from this address before, is not refused.
    let again = login_from(server.addr, 1, "alice", PASSWORD).await;
    assert!(matches!(again, ServerMsg::LoggedIn { .. }), "{again:?}");
}

#[tokio::test]
async fn a_huge_name_is_refused_and_not_tracked() {
    let server = TestServer::start_with(|c| c.login_failures_per_address = 1).await;
    register(server.addr, "alice").await;
    let huge = "a".repeat(1_000_000);
    let mut peer = RawPeer::connect_from(server.addr, loopback(2)).await;
    for _ in 0..3 {
        match peer.try_login(&huge, WRONG).await {
            ServerMsg::Refused(Refusal::InvalidName(detail)) => {
                assert!(detail.len() < 200, "the refusal does not echo the name")
            }
            other => panic!("expected InvalidName, got {other:?}"),
        }
    }
    // None of them counted: the address's one guess is still there.
    let answer = peer.try_login("alice", WRONG).await;
    assert_eq!(answer, ServerMsg::Refused(Refusal::WrongPassword));
    assert!(is_limited(&peer.try_login("alice", WRONG).await));
}

#[tokio::test]
async fn parallel_registrations_create_at_most_the_hourly_limit() {
    let server = TestServer::start_with(|c| {
        roomy(c);
        c.registrations_per_address_per_hour = 5;
        c.hash_wait_secs = 30;
    })
    .await;
    let attempts: Vec<_> = (0..100)
        .map(|n| {
            let addr = server.addr;
            tokio::spawn(async move {
                let mut peer = RawPeer::connect_from(addr, loopback(2)).await;
                peer.send(&ClientMsg::Register {
                    name: format!("user{n}"),
                    password: PASSWORD.into(),
                })
                .await;
                peer.read().await
            })
        })
        .collect();
    let (mut created, mut limited) = (0, 0);
    for attempt in attempts {
        match within("a registration", attempt).await.unwrap() {
            ServerMsg::Registered { .. } => created += 1,
            msg if is_limited(&msg) => limited += 1,
            other => panic!("unexpected answer to a registration: {other:?}"),
        }
    }
    assert_eq!(created, 5, "accounts created from one address");
    assert_eq!(limited, 95);
    // Another address may still register.
    let mut other = RawPeer::connect_from(server.addr, loopback(3)).await;
    other
        .send(&ClientMsg::Register {
            name: "elsewhere".into(),
            password: PASSWORD.into(),
        })
        .await;
    assert!(matches!(other.read().await, ServerMsg::Registered { .. }));
}

#[tokio::test]
async fn a_hashing_flood_is_refused_busy_while_pings_are_answered() {
    let server = TestServer::start_with(|c| {
        roomy(c);
        c.login_failures_per_account = 1000;
        c.hash_workers = 1;
        c.hash_wait_secs = 0;
    })
    .await;
    register(server.addr, "alice").await;
    register(server.addr, "bob").await;
    let mut bob = RawPeer::login(server.addr, "bob", PASSWORD).await;

    let flood: Vec<_> = (0..30)
        .map(|_| tokio::spawn(login_from(server.addr, 2, "alice", WRONG)))
        .collect();
    bob.send(&ClientMsg::Ping { nonce: 7 }).await;
    bob.read_until(|m| (*m == ServerMsg::Pong { nonce: 7 }).then_some(()))
        .await;

    let (mut busy, mut checked) = (0, 0);
    for login in flood {
        match within("a login", login).await.unwrap() {
            ServerMsg::Refused(Refusal::Busy(why)) => {
                assert!(!why.contains("session"), "{why}");
                busy += 1
            }
            ServerMsg::Refused(Refusal::WrongPassword) => checked += 1,
            other => panic!("unexpected answer to a login: {other:?}"),
        }
    }
    assert!(busy > 0, "one worker and no wait: some logins must be busy");
    assert!(checked > 0, "the worker still checks passwords");
}

#[tokio::test]
async fn unauthenticated_connections_from_one_address_cannot_take_every_slot() {
    let server = TestServer::start_with(|c| {
        c.max_connections = 4;
        c.max_unauthenticated_per_address = 2;
    })
    .await;
    register(server.addr, "alice").await;
    let _held = [
        RawPeer::connect_from(server.addr, loopback(2)).await,
        RawPeer::connect_from(server.addr, loopback(2)).await,
    ];
    // A reconnect loop from the same address is turned away every time.
    for _ in 0..10 {
        match RawPeer::try_connect_from(server.addr, loopback(2)).await {
            Err(why) => assert!(
                why.starts_with("code 5") || why.contains("refused"),
                "{why}"
            ),
            Ok(_) => panic!("a third unauthenticated connection from one address"),
        }
    }
    // Another address still gets in, and so does a second one.
    let mut alice = RawPeer::connect_from(server.addr, loopback(1)).await;
    assert!(matches!(
        alice.try_login("alice", PASSWORD).await,
        ServerMsg::LoggedIn { .. }
    ));
    let _other = RawPeer::connect_from(server.addr, loopback(3)).await;
}

#[tokio::test]
async fn connections_per_address_are_capped_logged_in_or_not() {
    let server = TestServer::start_with(|c| {
        c.max_connections_per_address = 3;
        c.max_unauthenticated_per_address = 2;
    })
    .await;
    register(server.addr, "alice").await;
    let mut sessions = Vec::new();
    for _ in 0..3 {
        sessions.push(RawPeer::login(server.addr, "alice", PASSWORD).await);
    }
    let refused = RawPeer::try_connect_from(server.addr, loopback(1)).await;
    match refused {
        Err(why) => assert!(
            why.starts_with("code 5") && why.contains("address"),
            "{why}"
        ),
        Ok(_) => panic!("a fourth connection from one address"),
    }
    let mut elsewhere = RawPeer::connect_from(server.addr, loopback(2)).await;
    assert!(matches!(
        elsewhere.try_login("alice", PASSWORD).await,
        ServerMsg::LoggedIn { .. }
    ));
}

#[tokio::test]
async fn sessions_per_account_are_capped() {
    let server = TestServer::start_with(|c| c.max_sessions_per_account = 2).await;
    register(server.addr, "alice").await;
    register(server.addr, "bob").await;
    let _one = RawPeer::login(server.addr, "alice", PASSWORD).await;
    let _two = RawPeer::login(server.addr, "alice", PASSWORD).await;
    let mut third = RawPeer::connect_from(server.addr, loopback(2)).await;
    match third.try_login("alice", PASSWORD).await {
        ServerMsg::Refused(Refusal::Busy(why)) => assert!(why.contains("sessions"), "{why}"),
        other => panic!("expected a refusal for a third session, got {other:?}"),
    }
    let (code, reason) = third.closed().await;
    assert_eq!(code, 5, "{reason}");
    // Other accounts are not affected.
    let mut bob = RawPeer::connect_from(server.addr, loopback(2)).await;
    assert!(matches!(
        bob.try_login("bob", PASSWORD).await,
        ServerMsg::LoggedIn { .. }
    ));
}

/// A crowd logging in at once through the real client library all gets
/// in: the server answers `Busy` to the logins its one hashing worker
/// cannot take, and the library asks again after a jittered backoff
/// instead of failing.
#[tokio::test]
async fn a_crowd_logging_in_at_once_all_gets_in() {
    let server = TestServer::start_with(|c| {
        roomy(c);
        c.hash_workers = 1;
        c.hash_wait_secs = 0;
    })
    .await;
    let names: Vec<String> = (0..12).map(|i| format!("crowd{i}")).collect();
    for name in &names {
        register(server.addr, name).await;
    }
    let logins: Vec<_> = names
        .iter()
        .map(|name| {
            let (config, name) = (server.client_config(), name.clone());
            tokio::spawn(async move { Client::login(config, &name, PASSWORD).await })
        })
        .collect();
    for login in logins {
        let outcome = within("a login in the crowd", login).await.unwrap();
        assert!(outcome.is_ok(), "{:?}", outcome.err());
    }
}
