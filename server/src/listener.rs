//! The listening endpoint: binds UDP, accepts connections under the
//! server-wide and per-address limits, gives each its own task, and drains
//! them on shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use natter_common::congestion::budget;
use natter_common::protocol::close;
use natter_common::Fingerprint;
use quinn::VarInt;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::admission::Full;
use crate::config::Config;
use crate::context::{Context, Shared};
use crate::session;
use crate::store::sqlite::SqliteStore;
use crate::store::Blocking;
use crate::tls;

/// Bytes one connection may have sent to the server that the server has not
/// read yet, all its streams together (QUIC connection flow control,
/// `initial_max_data`). Streams waiting for an upload turn or for their
/// header cannot make the server buffer more than this per connection.
pub const RECEIVE_WINDOW: u32 = budget::CONNECTION_WINDOW;
/// The same for one stream (`initial_max_stream_data_*`): enough for one
/// upload at full speed, so a single transfer never waits on the window.
pub const STREAM_RECEIVE_WINDOW: u32 = budget::UPLOAD_STREAM_WINDOW;
/// Bytes the server sends on one connection before the peer acknowledges
/// them (history pages, downloads): what a client that stops acknowledging
/// can make the server hold.
pub const SEND_WINDOW: u64 = budget::CONNECTION_WINDOW as u64;

/// What a started server tells the world: where it listens and which
/// certificate clients should expect.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub addr: SocketAddr,
    pub fingerprint: Fingerprint,
}

/// A bound server, ready to [`run`](Server::run).
pub struct Server {
    endpoint: quinn::Endpoint,
    info: Endpoint,
    ctx: Shared,
}

impl Server {
    /// Opens the data directory (database, certificate) and binds the UDP
    /// socket. Port 0 picks a free port: see [`Server::endpoint`].
    pub async fn bind(config: Config) -> anyhow::Result<Self> {
        let data_dir = config.data_dir();
        std::fs::create_dir_all(&data_dir)
            .with_context(|| format!("creating data directory {}", data_dir.display()))?;
        let identity = match (&config.cert, &config.key) {
            (Some(cert), Some(key)) => tls::load(cert, key)?,
            _ => tls::load_or_generate(&data_dir)?,
        };
        let fingerprint = identity.fingerprint();
        let endpoint_config = identity.endpoint_config();

        let idle = Duration::from_secs(config.idle_timeout_secs.max(1));
        let mut transport = quinn::TransportConfig::default();
        transport
            .max_idle_timeout(Some(idle.try_into().context("idle timeout too large")?))
            // Our own keep-alives keep a quiet but live client connected
            // whatever its settings; a dead one still times out.
            .keep_alive_interval(Some(idle / 3))
            // Only the control stream until a login succeeds (the session
            // then grants the transfers): a stranger's connection cannot
            // make the server buffer data on streams it will not read.
            .max_concurrent_bidi_streams(VarInt::from_u32(1))
            .max_concurrent_uni_streams(VarInt::from_u32(0))
            // quinn's defaults would let one connection make the server hold
            // ~11 MB it has not read (1.25 MB on each of its streams, with
            // no connection-wide cap) and ~10 MB it sent but that was not
            // acknowledged: bound both per connection.
            .receive_window(VarInt::from_u32(RECEIVE_WINDOW))
            .stream_receive_window(VarInt::from_u32(STREAM_RECEIVE_WINDOW))
            .send_window(SEND_WINDOW)
            // With segment offload quinn sizes each connection's send buffer
            // for ten datagrams the first time it sends two at once, and
            // keeps it: 11 KiB of every idle client's ~50 (issue 9). A chat
            // server sends small flights to many peers; bulk downloads pay
            // a syscall per datagram instead.
            .enable_segmentation_offload(false);
        config.congestion.apply(&mut transport);
        let server_config = tls::server_config(identity, transport)?;

        let db_path = data_dir.join("natter.db");
        let store = SqliteStore::open(&db_path)
            .with_context(|| format!("opening database {}", db_path.display()))?;
        store.set_busy_timeout(Duration::from_millis(config.store_busy_ms))?;
        let socket = std::net::UdpSocket::bind(config.listen)
            .with_context(|| format!("binding UDP {}", config.listen))?;
        let socket = with_room_for_bursts(socket);
        let endpoint = quinn::Endpoint::new(
            endpoint_config,
            Some(server_config),
            socket,
            Arc::new(quinn::TokioRuntime),
        )
        .with_context(|| format!("serving QUIC on {}", config.listen))?;
        let addr = endpoint.local_addr()?;

        let blobs = crate::media::BlobDir::open(&data_dir)
            .with_context(|| format!("creating media folders in {}", data_dir.display()))?;
        crate::media::start_up(&blobs, &store, &config).context("reconciling media")?;
        let ctx = Context::start(config, Blocking(Arc::new(store)), blobs)?;
        Ok(Self {
            endpoint,
            info: Endpoint { addr, fingerprint },
            ctx,
        })
    }

    /// Where the server listens and the fingerprint clients should pin.
    pub fn endpoint(&self) -> Endpoint {
        self.info.clone()
    }

    /// Accepts connections until `shutdown` completes; then stops
    /// accepting, closes every session with a reason and waits (bounded)
    /// for them. Every acknowledged message is already on disk.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let stop = CancellationToken::new();
        crate::media::spawn_sweeper(&self.ctx, stop.clone());
        tokio::spawn(crate::hub::presence::tick(
            self.ctx.hub.clone(),
            stop.clone(),
        ));
        let sessions = TaskTracker::new();
        let slots = Arc::new(Semaphore::new(self.ctx.config.max_connections));
        let explaining = Arc::new(Semaphore::new(MAX_EXPLAINED_REFUSALS));
        tokio::pin!(shutdown);
        loop {
            let incoming = tokio::select! {
                _ = &mut shutdown => break,
                incoming = self.endpoint.accept() => match incoming {
                    Some(incoming) => incoming,
                    None => break,
                },
            };
            // An address is counted only once it has shown that it receives
            // what is sent to it: a packet with a forged source address
            // would otherwise take the places of the host it names (and a
            // server-wide slot) until its handshake timed out.
            if !incoming.remote_address_validated() {
                if let Err(e) = incoming.retry() {
                    e.into_incoming().refuse();
                }
                continue;
            }
            // The per-address caps come first, so one address's refused
            // connections never take server-wide slots from others.
            let place = match self.ctx.admission.connect(incoming.remote_address().ip()) {
                Ok(place) => place,
                Err(full) => {
                    turn_away(incoming, full, &explaining, &sessions);
                    continue;
                }
            };
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                tracing::warn!(remote = %incoming.remote_address(), "connection limit reached, refusing");
                incoming.refuse();
                continue;
            };
            let remote = incoming.remote_address();
            let connecting = match incoming.accept() {
                Ok(connecting) => connecting,
                Err(e) => {
                    tracing::debug!(%remote, error = %e, "handshake failed");
                    continue;
                }
            };
            let seat = session::Seat { place, slot };
            // Every session shares the one token: a child token would be
            // a node per session, and nothing ends one session through it.
            sessions.spawn(session::serve(
                self.ctx.clone(),
                connecting,
                seat,
                stop.clone(),
            ));
        }
        tracing::info!("shutting down");
        stop.cancel();
        sessions.close();
        if tokio::time::timeout(Duration::from_secs(5), sessions.wait())
            .await
            .is_err()
        {
            tracing::warn!("sessions did not finish in 5 s");
        }
        self.endpoint
            .close(VarInt::from_u32(close::SHUTDOWN), b"server shutting down");
        let _ = tokio::time::timeout(Duration::from_secs(2), self.endpoint.wait_idle()).await;
        Ok(())
    }
}

/// Handshakes in flight at once only to tell an over-cap connection why it
/// is refused; past this many, the rest are refused without a reason.
const MAX_EXPLAINED_REFUSALS: usize = 16;
/// How long such a handshake may take.
const EXPLAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// Refuses a connection over its address's caps: completes the handshake
/// and closes with `SERVER_FULL` and the reason while few such refusals are
/// in flight, otherwise refuses it at the QUIC level, which costs nothing.
fn turn_away(
    incoming: quinn::Incoming,
    full: Full,
    explaining: &Arc<Semaphore>,
    tasks: &TaskTracker,
) {
    tracing::debug!(remote = %incoming.remote_address(), %full, "refusing");
    let Ok(turn) = explaining.clone().try_acquire_owned() else {
        incoming.refuse();
        return;
    };
    tasks.spawn(async move {
        if let Ok(Ok(connection)) = tokio::time::timeout(EXPLAIN_TIMEOUT, incoming).await {
            connection.close(
                VarInt::from_u32(close::SERVER_FULL),
                full.to_string().as_bytes(),
            );
        }
        drop(turn);
    });
}

/// The UDP buffers the server asks the kernel for; Linux grants up to
/// `net.core.rmem_max` / `wmem_max`. A room of thousands receives and
/// sends in bursts (a thousand logins' first packets at once, one message
/// to every session), and the default ~208 KiB drops most of such a burst,
/// which QUIC then resends only a second or more later.
const UDP_BUFFER_BYTES: usize = 4 << 20;

/// `socket` with buffers of [`UDP_BUFFER_BYTES`], or as much of it as the
/// system allows (said once in the log, with the setting to raise).
fn with_room_for_bursts(socket: std::net::UdpSocket) -> std::net::UdpSocket {
    let socket = socket2::Socket::from(socket);
    let _ = socket.set_recv_buffer_size(UDP_BUFFER_BYTES);
    let _ = socket.set_send_buffer_size(UDP_BUFFER_BYTES);
    let granted = socket.recv_buffer_size().unwrap_or(0);
    // Linux reports twice what it grants (the doubling covers its own
    // bookkeeping).
    if granted < UDP_BUFFER_BYTES {
        tracing::info!(
            granted,
            wanted = UDP_BUFFER_BYTES,
            "UDP receive buffer is small; raise net.core.rmem_max for big rooms"
        );
    }
    socket.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The server's socket asks for room for bursts, and gets what the
    /// system allows (Linux reports twice what it was asked for).
    #[cfg(target_os = "linux")]
    #[test]
    fn the_udp_socket_has_room_for_bursts() {
        let max: usize = std::fs::read_to_string("/proc/sys/net/core/rmem_max")
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let socket = socket2::Socket::from(with_room_for_bursts(socket));
        let granted = socket.recv_buffer_size().unwrap();
        assert!(granted >= UDP_BUFFER_BYTES.min(max), "{granted} of {max}");
    }
}
