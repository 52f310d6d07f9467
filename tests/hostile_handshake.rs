//! Attacks before a login completes: packets with a forged source address
//! that would take a victim address's connection places, one address that
//! would keep the password hashing queue to itself, and streams a stranger
//! could fill before login. Raw QUIC peers at 127.0.0.x play the addresses.
//! (The store's queries that any user may repeat are checked for their
//! query plans in `server/src/store/sqlite/messages.rs`.)

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use natter_common::{ClientMsg, ServerMsg};
use natter_tests::logins::{loopback, register_from};
use natter_tests::raw::{client_config, RawPeer};
use natter_tests::{within, TestServer, PASSWORD};
use tokio::net::UdpSocket;

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
    register_from(server.addr, 1, "victim").await;
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
    register_from(server.addr, 1, "alice").await;
    register_from(server.addr, 2, "mallory").await;

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
    register_from(server.addr, 1, "alice").await;
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
