//! Raw sessions for the load driver, on quinn and natter_common's codec
//! directly (no client library): many connections share one endpoint per
//! loopback source address (127.0.0.2, 127.0.0.3, …: Linux routes all of
//! 127/8 to lo), so per-address limits see a realistic spread of clients.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use natter_common::codec::{decode_payload, write_frame};
use natter_common::{ClientMsg, Hello, ServerMsg, SessionToken};

use super::frames::Frames;

/// Clients sharing one source address (and one endpoint).
pub const PER_ADDRESS: usize = 50;

/// How long one connection and login may take before the attempt fails.
const PATIENCE: Duration = Duration::from_secs(60);
/// How long the QUIC handshake alone may take: one whose packets the
/// server dropped would otherwise hang until quinn's 30 s idle timeout.
const HANDSHAKE_PATIENCE: Duration = Duration::from_secs(5);

/// One connection and its control stream, logged in (or, for the relay,
/// in the room).
pub struct Session {
    pub connection: quinn::Connection,
    pub send: quinn::SendStream,
    pub frames: Frames,
}

/// Client endpoints for `clients` clients, one per source address.
pub fn endpoints(clients: usize) -> anyhow::Result<Vec<quinn::Endpoint>> {
    let mut transport = quinn::TransportConfig::default();
    // Idle clients must not time out while the scenario waits.
    transport.keep_alive_interval(Some(Duration::from_secs(5)));
    let transport = Arc::new(transport);
    (0..clients.div_ceil(PER_ADDRESS).max(1))
        .map(|i| {
            let mut config = natter_tests::raw::client_config();
            config.transport_config(transport.clone());
            let mut endpoint = quinn::Endpoint::client(SocketAddr::new(source(i), 0))
                .with_context(|| format!("binding {}", source(i)))?;
            endpoint.set_default_client_config(config);
            Ok(endpoint)
        })
        .collect()
}

/// The endpoint client `i` uses.
pub fn endpoint_for(endpoints: &[quinn::Endpoint], i: usize) -> &quinn::Endpoint {
    &endpoints[(i / PER_ADDRESS) % endpoints.len()]
}

/// Loopback source address number `i`: 127.0.0.2 upwards.
pub fn source(i: usize) -> IpAddr {
    let n = i + 2;
    IpAddr::from([127, 0, (n / 250) as u8, (n % 250) as u8])
}

/// Connects and resumes with a pre-created token, then reads up to the
/// end of the replay (`CaughtUp`).
pub async fn resume(
    endpoint: &quinn::Endpoint,
    server: SocketAddr,
    token: SessionToken,
) -> anyhow::Result<Session> {
    tokio::time::timeout(PATIENCE, async {
        let mut session = open(endpoint, server, &Hello::current("natter-bench")).await?;
        match session.read().await? {
            ServerMsg::Welcome { .. } => {}
            other => bail!("expected a welcome, got {}", other.kind()),
        }
        let resume = ClientMsg::Resume { token, since: None };
        write_frame(&mut session.send, &resume).await?;
        loop {
            match session.read_past_presence().await? {
                ServerMsg::CaughtUp { .. } => return Ok(session),
                ServerMsg::Refused(refusal) => bail!("resume refused: {refusal}"),
                _ => {}
            }
        }
    })
    .await
    .context("timed out logging in")?
}

/// Connects to the bare relay and waits until it is in the room.
pub async fn join_relay(endpoint: &quinn::Endpoint, server: SocketAddr) -> anyhow::Result<Session> {
    tokio::time::timeout(PATIENCE, async {
        let mut session = open(endpoint, server, &Hello::current("natter-bench")).await?;
        session.frames.next().await?.context("relay closed")?;
        Ok(session)
    })
    .await
    .context("timed out joining the relay")?
}

async fn open(
    endpoint: &quinn::Endpoint,
    server: SocketAddr,
    hello: &Hello,
) -> anyhow::Result<Session> {
    let connecting = endpoint.connect(server, "localhost")?;
    let connection = tokio::time::timeout(HANDSHAKE_PATIENCE, connecting)
        .await
        .context("no handshake within 5 s")??;
    let (mut send, recv) = connection.open_bi().await?;
    write_frame(&mut send, hello).await?;
    Ok(Session {
        connection,
        send,
        frames: Frames::new(recv),
    })
}

impl Session {
    /// The next server message (decoded; the end of the stream is an error).
    pub async fn read(&mut self) -> anyhow::Result<ServerMsg> {
        let payload = self.frames.next().await?.context("server closed")?;
        Ok(decode_payload(payload)?)
    }

    /// The next server message that is not a presence notice (those are
    /// skipped undecoded, see [`super::presence`]).
    pub async fn read_past_presence(&mut self) -> anyhow::Result<ServerMsg> {
        loop {
            let payload = self.frames.next().await?.context("server closed")?;
            if !super::presence::is_presence(payload) {
                return Ok(decode_payload(payload)?);
            }
        }
    }
}
