//! Raw logins from several loopback addresses, for the tests that play
//! strangers, owners and floods against the login limits.

use std::net::{IpAddr, SocketAddr};

use natter_common::{ClientMsg, ServerMsg};
use natter_server::Config;

use crate::raw::RawPeer;
use crate::PASSWORD;

/// A password that is never the right one.
pub const WRONG: &str = "not the password";

pub fn loopback(n: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, n])
}

/// Room for the many parallel connections these tests open from one
/// address; each test lowers the limit it is about.
pub fn roomy(c: &mut Config) {
    c.max_connections_per_address = 200;
    c.max_unauthenticated_per_address = 200;
    c.login_failures_per_address = 1000;
    c.registrations_per_address_per_hour = 1000;
}

/// Registers `name` from 127.0.0.1.
pub async fn register(server: SocketAddr, name: &str) {
    register_from(server, 1, name).await
}

/// Registers `name` from 127.0.0.`from`.
pub async fn register_from(server: SocketAddr, from: u8, name: &str) {
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

/// One login from `from` on a fresh connection: the server's answer.
pub async fn login_from(server: SocketAddr, from: u8, name: &str, password: &str) -> ServerMsg {
    let mut peer = RawPeer::connect_from(server, loopback(from)).await;
    peer.try_login(name, password).await
}
