//! Holes left after the hardening of issue 8, each proven by a hostile
//! client: packets with a forged source address that take a victim
//! address's connection places, one address that keeps the password
//! hashing queue to itself, streams a stranger can fill before login, and
//! store queries whose cost grows with the whole history. Raw QUIC peers
//! at 127.0.0.x play the addresses.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use natter_common::{ClientMsg, ServerMsg};
use natter_tests::raw::{client_config, RawPeer};
use natter_tests::{within, TestServer, PASSWORD};
use tokio::net::UdpSocket;

fn loopback(n: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, n])
}

async fn register(server: SocketAddr, from: u8, name: &str) {
    let mut peer = RawPeer::connect_from(server, loopback(from)).await;
    peer.send(&ClientMsg::Register {
        name: name.into(),
        password: PASSWORD.into(),
    })
    .await;
    match peer.read().await {
        ServerMsg::Registered { .. } => {}
        other => panic!("registering {name}: {other:?}"),
    }
}

/// A one-way relay: what clients send reaches the server from `spoofed`,
/// nothing the server answers comes back. This is what the server sees of
/// an attacker who forges another host's source address: packets from that
/// address whose sender never receives the replies.
struct BlindRelay {
    addr: SocketAddr,
    /// One item per client address, when the server first answers it.
    answered: tokio::sync::mpsc::UnboundedReceiver<()>,
    task: tokio::task::JoinHandle<()>,
}

impl BlindRelay {
    async fn start(server: SocketAddr, spoofed: IpAddr) -> Self {
        let front = UdpSocket::bind("127.0.0.1:0").await.expect("bind relay");
        let addr = front.local_addr().unwrap();
        let (counter, answered) = tokio::sync::mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            let mut backs: HashMap<SocketAddr, Arc<UdpSocket>> = HashMap::new();
            let mut buf = vec![0u8; 65536];
            loop {
                let Ok((n, client)) = front.recv_from(&mut buf).await else {
                    return;
                };
                let back = match backs.get(&client) {
                    Some(back) => back.clone(),
                    None => {
                        let back = Arc::new(
                            UdpSocket::bind(SocketAddr::new(spoofed, 0))
                                .await
                                .expect("bind the forged address"),
                        );
                        back.connect(server).await.expect("connect back");
                        // Replies are noted, then dropped.
                        let (reader, counter) = (back.clone(), counter.clone());
                        tokio::spawn(async move {
                            let mut buf = vec![0u8; 65536];
                            if reader.recv(&mut buf).await.is_ok() {
                                let _ = counter.send(());
                            }
                            while reader.recv(&mut buf).await.is_ok() {}
                        });
                        backs.insert(client, back.clone());
                        back
                    }
                };
                let _ = back.send(&buf[..n]).await;
            }
        });
        Self {
            addr,
            answered,
            task,
        }
    }
}

impl Drop for BlindRelay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Packets forged with a victim's source address never complete a
/// handshake, yet each took one of that address's places for not-logged-in
/// connections until its handshake timed out (30 s): a few datagrams every
/// half minute kept the victim from ever connecting. The server must make
/// an address prove it receives replies before it counts against that
/// address's caps.
#[tokio::test]
async fn forged_source_addresses_do_not_take_a_victims_places() {
    let server = TestServer::start_with(|c| c.max_unauthenticated_per_address = 4).await;
    register(server.addr, 1, "victim").await;
    let victim = loopback(7);
    let mut relay = BlindRelay::start(server.addr, victim).await;

    // Twice the victim's cap of handshakes that will never complete, each
    // from its own port, as a forger would send them.
    let mut forged = Vec::new();
    for _ in 0..8 {
        let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
        endpoint.set_default_client_config(client_config());
        let connecting = endpoint.connect(relay.addr, "localhost").unwrap();
        forged.push((endpoint, tokio::spawn(connecting)));
    }
    // The server has handled every one of them once it has answered each.
    for _ in 0..8 {
        within(
            "the server to answer a forged handshake",
            relay.answered.recv(),
        )
        .await
        .expect("relay running");
    }

    let mut peer = match RawPeer::try_connect_from(server.addr, victim).await {
        Ok(peer) => peer,
        Err(why) => panic!("the victim's own connection was turned away: {why}"),
    };
    assert!(matches!(
        peer.try_login("victim", PASSWORD).await,
        ServerMsg::LoggedIn { .. }
    ));
    drop(forged);
}

/// Logins that succeed are given back to the guessing throttle, so nothing
/// limits how many one address makes: with an account of its own and
/// enough connections it kept the password-hashing queue full, and every
/// other user's login waited behind its whole queue and was refused as
/// busy. Each address must get only its share of the hashing queue.
#[tokio::test]
async fn one_address_cannot_keep_the_hashing_queue_to_itself() {
    let server = TestServer::start_with(|c| {
        c.max_connections_per_address = 128;
        c.max_unauthenticated_per_address = 64;
        c.max_sessions_per_account = 128;
        c.hash_workers = 1;
        c.hash_wait_secs = 1;
    })
    .await;
    register(server.addr, 1, "alice").await;
    register(server.addr, 2, "mallory").await;

    let (answered, mut answers) = tokio::sync::mpsc::unbounded_channel();
    let mut flood = tokio::task::JoinSet::new();
    for _ in 0..48 {
        let (answered, addr) = (answered.clone(), server.addr);
        flood.spawn(async move {
            loop {
                let Ok(mut peer) = RawPeer::try_connect_from(addr, loopback(2)).await else {
                    continue;
                };
                let _ = answered.send(peer.try_login("mallory", PASSWORD).await);
            }
        });
    }
    // The flood is under way once the server has answered some of it.
    for _ in 0..8 {
        within("the server to answer the flood", answers.recv())
            .await
            .expect("flood running");
    }

    for attempt in 0..3 {
        let mut alice = RawPeer::connect_from(server.addr, loopback(3)).await;
        match alice.try_login("alice", PASSWORD).await {
            ServerMsg::LoggedIn { .. } => {}
            other => panic!("alice's login {attempt} during the flood: {other:?}"),
        }
    }
    flood.abort_all();
}

/// Before login the server granted the full 1 + `--max-transfers` streams,
/// each with QUIC's default 1.25 MB receive window: a connection that
/// never logs in could make the server buffer about 11 MB it would not
/// read for the whole authentication timeout, 90 MB per address and about
/// 11 GB at the server's connection limit. Until a login succeeds, only
/// the control stream may be open; the transfer streams' credit comes
/// with the login.
#[tokio::test]
async fn a_connection_that_has_not_logged_in_may_open_only_its_control_stream() {
    let server = TestServer::start().await;
    register(server.addr, 1, "alice").await;
    let mut peer = RawPeer::connect_from(server.addr, loopback(2)).await;
    // A round trip, so everything the server granted so far has arrived.
    peer.send(&ClientMsg::Ping { nonce: 1 }).await;
    peer.read_until(|m| (*m == ServerMsg::Pong { nonce: 1 }).then_some(()))
        .await;

    let connection = peer.connection.clone();
    let mut opening = Box::pin(connection.open_bi());
    tokio::select! {
        biased;
        _ = &mut opening => panic!("a transfer stream was granted before login"),
        () = std::future::ready(()) => {}
    }

    assert!(matches!(
        peer.try_login("alice", PASSWORD).await,
        ServerMsg::LoggedIn { .. }
    ));
    within("a transfer stream after login", opening)
        .await
        .expect("a transfer stream once logged in");
}

/// Writes `count` copies of message 1 (a group message of alice's) straight
/// into the stopped server's database: a long-lived server's history,
/// without waiting for the send rate.
fn fill_history(data_dir: &std::path::Path, count: u32) -> u64 {
    let db = rusqlite::Connection::open(data_dir.join("natter.db")).expect("open the database");
    db.execute(
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < ?1)
         INSERT INTO messages (sender_id, recipient_id, client_id, sent_at, content)
         SELECT m.sender_id, NULL, m.client_id + n.x, m.sent_at, m.content
         FROM n, messages m WHERE m.id = 1",
        [count],
    )
    .expect("fill the history");
    db.query_row("SELECT max(id) FROM messages", [], |r| r.get::<_, i64>(0))
        .expect("newest id") as u64
}

/// How long `resume` takes to deliver its whole catch-up: the best of a
/// few tries, so a busy machine adds little. Returns the last token.
async fn time_catch_up(
    server: SocketAddr,
    mut token: natter_common::SessionToken,
    since: Option<natter_common::MessageId>,
) -> (std::time::Duration, natter_common::SessionToken) {
    let mut best = std::time::Duration::MAX;
    for _ in 0..3 {
        let mut peer = RawPeer::connect_from(server, loopback(4)).await;
        let started = std::time::Instant::now();
        peer.send(&ClientMsg::Resume { token, since }).await;
        token = peer
            .read_until(|m| match m {
                ServerMsg::LoggedIn { token, .. } => Some(token.clone()),
                ServerMsg::Refused(r) => panic!("resume refused: {r:?}"),
                _ => None,
            })
            .await;
        peer.read_until(|m| matches!(m, ServerMsg::CaughtUp { .. }).then_some(()))
            .await;
        best = best.min(started.elapsed());
    }
    (best, token)
}

/// How long one `History` page of one message takes: the best of a few.
async fn time_page(
    peer: &mut RawPeer,
    conversation: natter_common::Conversation,
) -> std::time::Duration {
    let mut best = std::time::Duration::MAX;
    for n in 0..5 {
        let request = natter_common::RequestId(n);
        let started = std::time::Instant::now();
        peer.send(&ClientMsg::History {
            request,
            conversation: conversation.clone(),
            before: None,
            limit: 1,
        })
        .await;
        peer.read_until(|m| match m {
            ServerMsg::History { request: r, .. } if *r == request => Some(()),
            ServerMsg::Refused(r) => panic!("history refused: {r:?}"),
            _ => None,
        })
        .await;
        best = best.min(started.elapsed());
    }
    best
}

/// The store answers every request under one lock, and two of its queries
/// read far more than they return: the catch-up after a login without a
/// cursor sorted the whole group history to send its newest 2000 messages,
/// and a page of a private conversation read every message either person
/// ever sent (no index covered the pair). Any user could repeat them without limit (a token resume
/// costs no password hash) and stall every other user's sends and logins.
/// Their cost must not grow with the history: here each must take about
/// as long as the same answer from a cheap query.
#[tokio::test]
async fn catch_up_and_private_pages_do_not_read_the_whole_history() {
    let mut server = TestServer::start().await;
    register(server.addr, 1, "alice").await;
    register(server.addr, 1, "bob").await;
    let mut alice = RawPeer::connect_from(server.addr, loopback(1)).await;
    let mut token = match alice.try_login("alice", PASSWORD).await {
        ServerMsg::LoggedIn { token, .. } => token,
        other => panic!("login: {other:?}"),
    };
    alice
        .send(&ClientMsg::Send {
            client_id: natter_common::ClientMsgId(1),
            to: natter_common::Recipient::Everyone,
            content: natter_common::Content::Text("hello".into()),
        })
        .await;
    alice
        .read_until(|m| matches!(m, ServerMsg::Accepted { .. }).then_some(()))
        .await;
    drop(alice);
    server.stop().await;
    let newest = fill_history(&server.data_dir, 300_000);
    server.restart().await;

    // The same 2000 messages, asked for without a cursor and with one just
    // before them.
    let (without_cursor, next) = time_catch_up(server.addr, token, None).await;
    token = next;
    let cursor = Some(natter_common::MessageId(newest - 2000));
    let (with_cursor, next) = time_catch_up(server.addr, token, cursor).await;
    token = next;
    assert!(
        without_cursor < with_cursor * 3 + std::time::Duration::from_millis(100),
        "a catch-up without a cursor took {without_cursor:?}, with one {with_cursor:?}"
    );

    let mut alice = RawPeer::connect_from(server.addr, loopback(1)).await;
    alice
        .send(&ClientMsg::Resume {
            token,
            since: cursor,
        })
        .await;
    alice
        .read_until(|m| matches!(m, ServerMsg::CaughtUp { .. }).then_some(()))
        .await;
    let group = time_page(&mut alice, natter_common::Conversation::Group).await;
    let bob = natter_common::UserName::parse("bob").unwrap();
    let private = time_page(&mut alice, natter_common::Conversation::With(bob)).await;
    assert!(
        private < group * 3 + std::time::Duration::from_millis(5),
        "an empty private page took {private:?}, a group page {group:?}"
    );
}
