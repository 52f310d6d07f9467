//! Messages under attack: history pages too large for a frame, sends past
//! the rate limit, a busy database, resent rejections, and the protocol
//! document's promises checked over raw QUIC.

use std::collections::HashSet;

use natter_client::app::state::HISTORY_PAGE;
use natter_client::{Client, ClientEvent, Events};
use natter_common::codec::encode_frame;
use natter_common::{
    ChatMessage, ClientMsg, ClientMsgId, Content, Conversation, MessageId, Recipient, RequestId,
    ServerMsg,
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
    assert_eq!(newest.messages.last().unwrap().id, *accepted.last().unwrap());

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
        .map(|i| alice.send(Recipient::Everyone, text(&format!("m{i}"))).unwrap())
        .collect();
    all_accepted(&mut a, &sent).await;

    let mut peer = raw_user(&server, "mallory").await;
    assert_eq!(raw_history(&mut peer, None, 0).await, (0, true));
    assert_eq!(raw_history(&mut peer, Some(MessageId(u64::MAX)), 10).await, (3, false));
    assert_eq!(raw_history(&mut peer, Some(MessageId(1 << 63)), 2).await, (2, true));
}
