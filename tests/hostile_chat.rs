//! Messages under attack: history pages too large for a frame, sends past
//! the rate limit, a busy database, resent rejections, and the protocol
//! document's promises checked over raw QUIC.

use std::collections::HashSet;

use natter_client::{Client, ClientEvent, Events, HISTORY_PAGE};
use natter_common::codec::{encode_frame, read_frame, write_frame};
use natter_common::protocol::{close, MediaKind, TransferHeader, TransferReply};
use natter_common::{
    BlobHash, ChatMessage, ClientMsg, ClientMsgId, Content, Conversation, MessageId, Recipient,
    Refusal, RequestId, ServerMsg, PROTOCOL_VERSION,
};
use natter_server::Config;
use natter_tests::raw::RawPeer;
use natter_tests::*;

/// Lifts the send rate limit for tests that fill history quickly.
fn unthrottled(c: &mut Config) {
    c.messages_per_sec = 100_000;
    c.message_burst = 100_000;
}

fn text(s: &str) -> Content {
    Content::Text(s.into())
}

/// Waits until every id in `sent` is accepted; fails on any rejection.
async fn all_accepted(events: &mut Events, sent: &[ClientMsgId]) -> Vec<MessageId> {
    let mut waiting: HashSet<ClientMsgId> = sent.iter().copied().collect();
    let mut ids = Vec::new();
    expect(events, "every message accepted", |e| match e {
        ClientEvent::Accepted { client_id, id, .. } if waiting.remove(client_id) => {
            ids.push(*id);
            waiting.is_empty().then_some(())
        }
        ClientEvent::Rejected { client_id, reason } if waiting.contains(client_id) => {
            panic!("message rejected: {reason}")
        }
        _ => None,
    })
    .await;
    ids
}

/// Every page of the group, newest first as the GUI pages it; checks that
/// each page came as one frame within the limit.
async fn page_back_everything(client: &Client) -> Vec<ChatMessage> {
    let mut all = Vec::new();
    let mut before = None;
    loop {
        let page = within(
            "a history page",
            client.history(Conversation::Group, before, HISTORY_PAGE),
        )
        .await
        .expect("history page");
        let frame = ServerMsg::History {
            request: RequestId(0),
            conversation: Conversation::Group,
            messages: page.messages.clone(),
            more: page.more,
        };
        assert!(encode_frame(&frame).is_ok(), "the page fits one frame");
        let mut older = page.messages;
        older.extend(all);
        all = older;
        if !page.more {
            return all;
        }
        before = Some(all.first().expect("a page with more is not empty").id);
    }
}

#[tokio::test]
async fn a_history_page_too_large_for_a_frame_is_trimmed_and_pages_back_completely() {
    let server = TestServer::start_with(unthrottled).await;
    let (alice, mut a) = server.user("alice").await;
    let body = "😀".repeat(4000);
    let sent: Vec<ClientMsgId> = (0..100)
        .map(|_| alice.send(Recipient::Everyone, text(&body)).unwrap())
        .collect();
    let mut accepted = all_accepted(&mut a, &sent).await;
    accepted.sort();

    // The GUI asks for this page at every login.
    let newest = within(
        "the newest page",
        alice.history(Conversation::Group, None, HISTORY_PAGE),
    )
    .await
    .expect("history page");
    assert!(newest.more, "a trimmed page says older ones exist");
    assert!(newest.messages.len() < 100 && !newest.messages.is_empty());
    assert_eq!(
        newest.messages.last().unwrap().id,
        *accepted.last().unwrap()
    );

    let all = page_back_everything(&alice).await;
    let ids: Vec<MessageId> = all.iter().map(|m| m.id).collect();
    assert_eq!(ids, accepted, "every message once, in order");

    within("a ping", alice.ping()).await.expect("session alive");
    while let Some(event) = a.try_next() {
        assert!(
            !matches!(event, ClientEvent::Disconnected { .. }),
            "the session was dropped: {event:?}"
        );
    }
}

/// Registers `name` and logs in over raw QUIC.
async fn raw_user(server: &TestServer, name: &str) -> RawPeer {
    natter_client::register(&server.client_config(), name, PASSWORD)
        .await
        .expect("register");
    RawPeer::login(server.addr, name, PASSWORD).await
}

async fn raw_history(peer: &mut RawPeer, before: Option<MessageId>, limit: u16) -> (usize, bool) {
    peer.send(&ClientMsg::History {
        request: RequestId(9),
        conversation: Conversation::Group,
        before,
        limit,
    })
    .await;
    peer.read_until(|m| match m {
        ServerMsg::History {
            request: RequestId(9),
            messages,
            more,
            ..
        } => Some((messages.len(), *more)),
        _ => None,
    })
    .await
}

#[tokio::test]
async fn history_limit_zero_is_an_empty_page_and_huge_before_means_newest() {
    let server = TestServer::start_with(unthrottled).await;
    let (alice, mut a) = server.user("alice").await;
    let sent: Vec<_> = (0..3)
        .map(|i| {
            alice
                .send(Recipient::Everyone, text(&format!("m{i}")))
                .unwrap()
        })
        .collect();
    all_accepted(&mut a, &sent).await;

    let mut peer = raw_user(&server, "mallory").await;
    assert_eq!(raw_history(&mut peer, None, 0).await, (0, true));
    assert_eq!(
        raw_history(&mut peer, Some(MessageId(u64::MAX)), 10).await,
        (3, false)
    );
    assert_eq!(
        raw_history(&mut peer, Some(MessageId(1 << 63)), 2).await,
        (2, true)
    );
}

fn raw_send(client_id: u64, to: Recipient, body: &str) -> ClientMsg {
    ClientMsg::Send {
        client_id: ClientMsgId(client_id),
        to,
        content: text(body),
    }
}

/// The answer to the `Send` of `client_id`.
async fn answer(peer: &mut RawPeer, client_id: u64) -> Result<MessageId, Refusal> {
    let wanted = ClientMsgId(client_id);
    peer.read_until(|m| match m {
        ServerMsg::Accepted { client_id, id, .. } if *client_id == wanted => Some(Ok(*id)),
        ServerMsg::Rejected { client_id, reason } if *client_id == wanted => {
            Some(Err(reason.clone()))
        }
        _ => None,
    })
    .await
}

#[tokio::test]
async fn a_burst_past_the_send_limit_is_rate_limited_for_every_session_of_the_account() {
    let server = TestServer::start_with(|c| {
        c.messages_per_sec = 1;
        c.message_burst = 3;
    })
    .await;
    let mut first = raw_user(&server, "mallory").await;
    let mut second = RawPeer::login(server.addr, "mallory", PASSWORD).await;
    for n in 1..=5 {
        first.send(&raw_send(n, Recipient::Everyone, "spam")).await;
    }
    for n in 1..=3 {
        assert!(answer(&mut first, n).await.is_ok(), "the burst passes");
    }
    for n in 4..=5 {
        match answer(&mut first, n).await {
            Err(Refusal::RateLimited { retry_after_ms }) => {
                assert!((1..=1000).contains(&retry_after_ms), "{retry_after_ms}")
            }
            other => panic!("expected RateLimited, got {other:?}"),
        }
    }
    second.send(&raw_send(6, Recipient::Everyone, "spam")).await;
    assert!(
        matches!(
            answer(&mut second, 6).await,
            Err(Refusal::RateLimited { .. })
        ),
        "the bucket is the account's, not the connection's"
    );
    // Someone else is not held back, and the session goes on.
    let (bob, mut b) = server.user("bob").await;
    let sent = bob.send(Recipient::Everyone, text("not me")).unwrap();
    all_accepted(&mut b, &[sent]).await;
    first.send(&ClientMsg::Ping { nonce: 1 }).await;
    first
        .read_until(|m| matches!(m, ServerMsg::Pong { nonce: 1 }).then_some(()))
        .await;
}

#[tokio::test]
async fn the_client_library_resends_rate_limited_messages_in_order_exactly_once() {
    let server = TestServer::start_with(|c| {
        c.messages_per_sec = 20;
        c.message_burst = 10;
    })
    .await;
    let (alice, mut a) = server.user("alice").await;
    let (_bob, mut b) = server.user("bob").await;
    let bodies: Vec<String> = (0..30).map(|i| format!("m{i}")).collect();
    let sent: Vec<ClientMsgId> = bodies
        .iter()
        .map(|t| alice.send(Recipient::Everyone, text(t)).unwrap())
        .collect();

    let mut waiting: HashSet<ClientMsgId> = sent.iter().copied().collect();
    let mut accepted = Vec::new();
    let mut throttled = 0;
    expect(&mut a, "all 30 accepted", |e| {
        match e {
            ClientEvent::Accepted { client_id, id, .. } if waiting.remove(client_id) => {
                accepted.push((*client_id, *id));
            }
            ClientEvent::Throttled { .. } => throttled += 1,
            ClientEvent::Rejected { reason, .. } => panic!("rejected: {reason}"),
            _ => {}
        }
        waiting.is_empty().then_some(())
    })
    .await;
    assert!(throttled > 0, "the limit was reached and reported");
    accepted.sort_by_key(|(_, id)| *id);
    let order: Vec<ClientMsgId> = accepted.iter().map(|(c, _)| *c).collect();
    assert_eq!(order, sent, "stored in the order sent");

    let seen = messages_until(&mut b, "m29").await;
    let texts: Vec<Content> = seen.into_iter().map(|m| m.content).collect();
    let expected: Vec<Content> = bodies.iter().map(|t| text(t)).collect();
    assert_eq!(texts, expected, "each once, in order");
}

#[tokio::test]
async fn a_send_that_meets_a_locked_database_is_retried_and_stored_once() {
    let server = TestServer::start_with(|c| {
        unthrottled(c);
        c.store_busy_ms = 100;
    })
    .await;
    let (alice, mut a) = server.user("alice").await;

    let db = rusqlite::Connection::open(server.data_dir.join("natter.db")).unwrap();
    db.execute_batch("BEGIN IMMEDIATE").unwrap();
    let sent = alice
        .send(Recipient::Everyone, text("through the lock"))
        .unwrap();
    expect(&mut a, "the send to be held back", |e| match e {
        ClientEvent::Throttled {
            client_id,
            reason: Refusal::Unavailable,
            ..
        } if *client_id == sent => Some(()),
        ClientEvent::Rejected { reason, .. } => panic!("rejected: {reason}"),
        ClientEvent::Accepted { .. } => panic!("accepted through a write lock"),
        _ => None,
    })
    .await;
    db.execute_batch("COMMIT").unwrap();

    expect(&mut a, "the message accepted", |e| match e {
        ClientEvent::Accepted { client_id, .. } if *client_id == sent => Some(()),
        ClientEvent::Rejected { reason, .. } => panic!("rejected: {reason}"),
        _ => None,
    })
    .await;
    let page = alice
        .history(Conversation::Group, None, HISTORY_PAGE)
        .await
        .unwrap();
    let copies = page
        .messages
        .iter()
        .filter(|m| m.content == text("through the lock"))
        .count();
    assert_eq!(copies, 1);
}

#[tokio::test]
async fn a_rejected_client_id_stays_rejected_when_resent() {
    let server = TestServer::start_with(unthrottled).await;
    let mut peer = raw_user(&server, "mallory").await;
    let ghost = Recipient::User(natter_common::UserName::parse("ghost").unwrap());
    peer.send(&raw_send(77, ghost.clone(), "hello?")).await;
    let first = answer(&mut peer, 77).await;
    assert!(
        matches!(first, Err(Refusal::UnknownRecipient(_))),
        "{first:?}"
    );

    // The reason goes away, but the answer for that client id is final.
    natter_client::register(&server.client_config(), "ghost", PASSWORD)
        .await
        .unwrap();
    peer.send(&raw_send(77, ghost.clone(), "hello?")).await;
    assert_eq!(answer(&mut peer, 77).await, first);
    peer.send(&raw_send(78, ghost, "hello?")).await;
    assert!(
        answer(&mut peer, 78).await.is_ok(),
        "a new client id is judged afresh"
    );
}

#[tokio::test]
async fn after_a_rate_limit_later_sends_wait_for_the_held_one() {
    let server = TestServer::start_with(|c| {
        c.messages_per_sec = 10;
        c.message_burst = 1;
    })
    .await;
    let mut peer = raw_user(&server, "mallory").await;
    peer.send(&raw_send(1, Recipient::Everyone, "one")).await;
    peer.send(&raw_send(2, Recipient::Everyone, "two")).await;
    assert!(answer(&mut peer, 1).await.is_ok());
    let Err(Refusal::RateLimited { retry_after_ms }) = answer(&mut peer, 2).await else {
        panic!("the second send is over the limit");
    };
    // The delay the server asked for (the protocol's wait, not a guess).
    tokio::time::sleep(std::time::Duration::from_millis(
        u64::from(retry_after_ms) + 50,
    ))
    .await;
    peer.send(&raw_send(3, Recipient::Everyone, "three")).await;
    assert!(
        matches!(answer(&mut peer, 3).await, Err(Refusal::RateLimited { .. })),
        "a later message may not overtake the held one"
    );
    peer.send(&raw_send(2, Recipient::Everyone, "two")).await;
    assert!(
        answer(&mut peer, 2).await.is_ok(),
        "the held one goes first"
    );
}

#[tokio::test]
async fn a_non_shortest_varint_is_a_protocol_violation() {
    let server = TestServer::start().await;
    let mut peer = raw_user(&server, "mallory").await;
    // Ping { nonce: 0 } is `05 00`; here the nonce is the over-long `80 00`.
    peer.send_bytes(&[3, 0, 0, 0, 0x05, 0x80, 0x00]).await;
    let (code, reason) = peer.closed().await;
    assert_eq!(code, close::PROTOCOL_VIOLATION as u64);
    assert!(reason.contains("canonical"), "{reason}");
}

#[tokio::test]
async fn an_oversized_header_on_a_transfer_stream_refuses_that_stream_only() {
    let server = TestServer::start().await;
    let mut peer = raw_user(&server, "mallory").await;
    let (mut send, mut recv) = peer.connection.open_bi().await.unwrap();
    send.write_all(&u32::MAX.to_le_bytes()).await.unwrap();
    let reply: Option<TransferReply> = within("a transfer reply", read_frame(&mut recv, 4096))
        .await
        .expect("a readable reply");
    assert!(
        matches!(reply, Some(TransferReply::Refused(Refusal::Malformed(_)))),
        "{reply:?}"
    );
    peer.send(&ClientMsg::Ping { nonce: 7 }).await;
    peer.read_until(|m| matches!(m, ServerMsg::Pong { nonce: 7 }).then_some(()))
        .await;
}

#[tokio::test]
async fn a_first_frame_that_is_not_a_hello_is_read_as_one() {
    let server = TestServer::start().await;
    let mut peer = RawPeer::connect(server.addr).await;
    // `Ping` is variant 5: its leading varint reads as version 5.
    peer.send(&ClientMsg::Ping { nonce: 1 }).await;
    assert_eq!(
        peer.read().await,
        ServerMsg::Refused(Refusal::VersionMismatch {
            server: PROTOCOL_VERSION,
            client: 5
        })
    );
    assert_eq!(peer.closed().await.0, close::PROTOCOL_VIOLATION as u64);
}

#[tokio::test]
async fn a_transfer_stream_opened_before_login_is_served_after_it() {
    let server = TestServer::start().await;
    natter_client::register(&server.client_config(), "mallory", PASSWORD)
        .await
        .unwrap();
    let mut peer = RawPeer::connect(server.addr).await;
    peer.hello().await;
    // Before login the server grants no transfer stream: opening one waits
    // for stream credit, which comes with the login.
    let connection = peer.connection.clone();
    let early = tokio::spawn(async move {
        let (mut send, recv) = connection.open_bi().await.unwrap();
        let get = TransferHeader::Get {
            kind: MediaKind::File,
            hash: BlobHash([7; 32]),
            offset: 0,
        };
        write_frame(&mut send, &get).await.unwrap();
        (send, recv)
    });
    peer.send(&ClientMsg::Login {
        name: "mallory".into(),
        password: PASSWORD.into(),
        since: None,
    })
    .await;
    peer.read_until(|m| matches!(m, ServerMsg::CaughtUp { .. }).then_some(()))
        .await;
    let (_send, mut recv) = within("the early stream", early).await.unwrap();
    let reply: Option<TransferReply> = within("a transfer reply", read_frame(&mut recv, 4096))
        .await
        .expect("a readable reply");
    assert!(
        matches!(reply, Some(TransferReply::Refused(_))),
        "{reply:?}"
    );
}

#[tokio::test]
async fn whitespace_only_text_is_refused_as_empty() {
    let server = TestServer::start().await;
    let mut peer = raw_user(&server, "mallory").await;
    peer.send(&raw_send(1, Recipient::Everyone, " \n\t\u{3000}"))
        .await;
    assert_eq!(answer(&mut peer, 1).await, Err(Refusal::EmptyText));
}

#[tokio::test]
async fn a_login_cursor_beyond_every_id_replays_nothing() {
    let server = TestServer::start_with(unthrottled).await;
    let (alice, mut a) = server.user("alice").await;
    let sent = alice.send(Recipient::Everyone, text("old news")).unwrap();
    all_accepted(&mut a, &[sent]).await;
    natter_client::register(&server.client_config(), "mallory", PASSWORD)
        .await
        .unwrap();
    let mut peer = RawPeer::connect(server.addr).await;
    peer.hello().await;
    peer.send(&ClientMsg::Login {
        name: "mallory".into(),
        password: PASSWORD.into(),
        since: Some(MessageId(u64::MAX)),
    })
    .await;
    let replayed = peer
        .read_until(|m| match m {
            ServerMsg::Message(_) => Some(true),
            ServerMsg::CaughtUp { .. } => Some(false),
            _ => None,
        })
        .await;
    assert!(!replayed, "nothing is newer than u64::MAX");
}
