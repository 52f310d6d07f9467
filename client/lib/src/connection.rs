//! Reaching a server: resolve, QUIC handshake with fingerprint trust, the
//! hello exchange, and the framed control stream the rest of the client
//! talks on.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use natter_common::codec::{write_frame, FrameReader};
use natter_common::congestion::{budget, Congestion};
use natter_common::protocol::close;
use natter_common::rules::CONTROL_PRIORITY;
use natter_common::{ClientMsg, Fingerprint, Hello, Refusal, ServerMsg, ALPN};
use tokio::time::timeout;

use crate::error::{sanitize, ClientError};
use crate::trust::{
    self, FingerprintVerifier, KnownServers, Recorded, Trust, TrustPolicy, Verdict,
};

/// The port a server address without one uses.
pub const DEFAULT_PORT: u16 = 4433;

/// How long resolving, the QUIC handshake and the hello may take together.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The same for a server on this machine, which answers in milliseconds
/// when it is there: a newcomer learns sooner that nothing runs locally.
pub const LOOPBACK_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// How long the server may take to answer a login or register request,
/// and between two frames of the catch-up replay.
pub(crate) const AUTH_TIMEOUT: Duration = Duration::from_secs(10);

/// A write on the control stream that takes longer than this means the
/// server stopped reading; the connection is given up.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Keep-alives stop NATs and the idle timer from closing a quiet chat.
const KEEP_ALIVE: Duration = Duration::from_secs(5);
/// A server silent for this long is gone.
const IDLE_TIMEOUT: Duration = Duration::from_secs(20);

/// A `HOST:PORT` a user typed, split and normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAddress {
    /// Host name or IP literal, lower case, without IPv6 brackets.
    pub host: String,
    pub port: u16,
}

impl ServerAddress {
    /// Accepts `host:port`, `[v6]:port`, or a host alone ([`DEFAULT_PORT`]).
    pub fn parse(s: &str) -> Result<Self, ClientError> {
        let s = s.trim();
        let bad = || ClientError::InvalidInput(format!("not a server address (HOST:PORT): {s:?}"));
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (host, after) = rest.split_once(']').ok_or_else(bad)?;
            match after {
                "" => (host, None),
                _ => (host, Some(after.strip_prefix(':').ok_or_else(bad)?)),
            }
        } else if s.parse::<Ipv6Addr>().is_ok() {
            (s, None)
        } else {
            match s.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (s, None),
            }
        };
        if host.is_empty() || host.contains(char::is_whitespace) || host.contains('/') {
            return Err(bad());
        }
        let port = match port {
            Some(p) => p.parse::<u16>().ok().filter(|&p| p != 0).ok_or_else(bad)?,
            None => DEFAULT_PORT,
        };
        Ok(Self {
            host: host.to_lowercase(),
            port,
        })
    }

    /// The form the known-servers file uses: `host:port`, `[v6]:port`.
    pub fn key(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The TLS server name. The verifier ignores it (trust is by
    /// fingerprint), but rustls needs a syntactically valid one.
    fn tls_name(&self) -> &str {
        if rustls::pki_types::ServerName::try_from(self.host.as_str()).is_ok() {
            &self.host
        } else {
            "natter.invalid"
        }
    }
}

/// A connected, greeted server: the QUIC connection and its control
/// stream, ready for `Register`, `Login` or `Resume`.
pub struct ServerLink {
    pub connection: quinn::Connection,
    pub control: ControlStream,
    /// The server's `software` from its welcome, for logs and "about".
    pub server_software: String,
    /// The certificate fingerprint this connection was verified with.
    pub fingerprint: Fingerprint,
    /// True when this connection trusted the server for the first time and
    /// recorded it in the known-servers file: callers tell the user, like
    /// ssh's "Permanently added".
    pub newly_trusted: bool,
    endpoint: quinn::Endpoint,
}

impl ServerLink {
    /// Closes the connection and waits, briefly, for the close to reach
    /// the server, so it ends the session now rather than at its idle
    /// timeout.
    pub async fn close(self, reason: &str) {
        close_and_drain(&self.connection, &self.endpoint, close::NORMAL, reason).await;
    }

    /// Gives the connection's endpoint to whoever will close it later.
    pub(crate) fn into_parts(self) -> (quinn::Connection, ControlStream, quinn::Endpoint) {
        (self.connection, self.control, self.endpoint)
    }
}

/// Closes `connection` and waits up to a second for the endpoint to send
/// the close and drain.
pub(crate) async fn close_and_drain(
    connection: &quinn::Connection,
    endpoint: &quinn::Endpoint,
    code: u32,
    reason: &str,
) {
    connection.close(code.into(), reason.as_bytes());
    let _ = timeout(Duration::from_secs(1), endpoint.wait_idle()).await;
}

/// The control stream: typed [`ClientMsg`]s out, typed [`ServerMsg`]s in.
pub struct ControlStream {
    connection: quinn::Connection,
    send: quinn::SendStream,
    recv: FrameReader<quinn::RecvStream>,
}

impl ControlStream {
    /// Writes one message. Not cancel-safe: a cancelled write leaves half a
    /// frame, so the connection must then be dropped.
    pub async fn send(&mut self, msg: &ClientMsg) -> Result<(), ClientError> {
        match timeout(WRITE_TIMEOUT, write_frame(&mut self.send, msg)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(self.lost(e)),
            Err(_) => Err(ClientError::Closed("the server stopped reading".into())),
        }
    }

    /// Reads the next message. Cancel-safe: usable in `select!`.
    pub async fn receive(&mut self) -> Result<ServerMsg, ClientError> {
        match self.recv.read::<ServerMsg>().await {
            Ok(Some(msg)) => Ok(msg),
            Ok(None) => Err(match self.connection.close_reason() {
                Some(e) => ClientError::Closed(describe_close(&e)),
                None => ClientError::Closed("the server ended the control stream".into()),
            }),
            Err(e) => Err(self.lost(e)),
        }
    }

    /// [`ControlStream::receive`], failing when nothing comes within
    /// `limit`.
    pub async fn receive_within(&mut self, limit: Duration) -> Result<ServerMsg, ClientError> {
        timeout(limit, self.receive()).await.unwrap_or_else(|_| {
            Err(ClientError::Closed(
                "the server did not answer in time".into(),
            ))
        })
    }

    /// The error for a failed read or write: the connection's close reason
    /// when it is closed, otherwise a framing problem.
    fn lost(&self, e: natter_common::FrameError) -> ClientError {
        if let Some(reason) = self.connection.close_reason() {
            return ClientError::Closed(describe_close(&reason));
        }
        match e {
            natter_common::FrameError::Io(e) => ClientError::Closed(sanitize(&e.to_string())),
            other => ClientError::Protocol(other.to_string()),
        }
    }
}

/// Connects to `server` (`HOST:PORT`), checks its certificate against
/// `trust`, and exchanges hellos. Records the fingerprint on first use.
pub async fn connect(
    server: &str,
    trust: &Trust,
    software: &str,
) -> Result<ServerLink, ClientError> {
    connect_remembering(server, trust, None, software, Sending::default()).await
}

/// How this end sends: with which congestion controller, from which local
/// address (any, by default).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Sending {
    pub congestion: Congestion,
    pub local: Option<IpAddr>,
}

/// [`connect`], also holding the server to the fingerprint an earlier
/// connection of the same client accepted.
pub(crate) async fn connect_remembering(
    server: &str,
    trust: &Trust,
    remembered: Option<Fingerprint>,
    software: &str,
    sending: Sending,
) -> Result<ServerLink, ClientError> {
    let address = ServerAddress::parse(server)?;
    let key = address.key();
    let policy = trust_policy(trust, &key, remembered).await?;
    let Handshake {
        endpoint,
        connection,
        verdict,
        fingerprint,
    } = handshake(&address, policy, sending).await?;
    let newly_trusted = match verdict.records() {
        false => false,
        true => match record(&trust.known_servers, &key, fingerprint).await {
            Some(Recorded::Added) => true,
            // Another client trusted a different certificate for this server
            // first: one of the two is not the server.
            Some(Recorded::Conflict(known)) if verdict == Verdict::FirstUse => {
                close_and_drain(&connection, &endpoint, close::NORMAL, "certificate changed").await;
                return Err(ClientError::CertificateChanged {
                    server: key,
                    known,
                    presented: fingerprint,
                });
            }
            Some(_) | None => false,
        },
    };
    let (control, server_software) = greet(&connection, &endpoint, &address, software).await?;
    tracing::debug!(server = %key, %fingerprint, %server_software, "connected");
    Ok(ServerLink {
        connection,
        control,
        server_software,
        fingerprint,
        newly_trusted,
        endpoint,
    })
}

/// What a connection to the server known as `key` accepts: the pinned
/// fingerprint, the known-servers file's record, what an earlier
/// connection accepted, and whether first use is allowed.
async fn trust_policy(
    trust: &Trust,
    key: &str,
    remembered: Option<Fingerprint>,
) -> Result<TrustPolicy, ClientError> {
    let path = trust.known_servers.clone();
    let known = tokio::task::spawn_blocking(move || KnownServers::read(&path))
        .await
        .map_err(|e| ClientError::InvalidInput(format!("cannot read the known-servers file: {e}")))?
        .map_err(|e| {
            ClientError::InvalidInput(format!(
                "cannot read the known-servers file {}: {e}",
                trust.known_servers.display()
            ))
        })?;
    Ok(TrustPolicy {
        pinned: trust.pinned,
        known: known.fingerprints_of(key),
        remembered,
        first_use: trust.first_use,
    })
}

/// A QUIC connection whose certificate the trust policy accepted.
struct Handshake {
    endpoint: quinn::Endpoint,
    connection: quinn::Connection,
    verdict: Verdict,
    fingerprint: Fingerprint,
}

/// Resolves `address` and completes the QUIC handshake under `policy`,
/// within [`CONNECT_TIMEOUT`] ([`LOOPBACK_CONNECT_TIMEOUT`] for a server
/// on this machine).
async fn handshake(
    address: &ServerAddress,
    policy: TrustPolicy,
    sending: Sending,
) -> Result<Handshake, ClientError> {
    let loopback = address.host == "localhost"
        || address
            .host
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    let limit = if loopback {
        LOOPBACK_CONNECT_TIMEOUT
    } else {
        CONNECT_TIMEOUT
    };
    timeout(limit, quic_connect(address, policy, sending))
        .await
        .map_err(|_| unreachable(address, format!("no answer within {} s", limit.as_secs())))?
}

async fn quic_connect(
    address: &ServerAddress,
    policy: TrustPolicy,
    sending: Sending,
) -> Result<Handshake, ClientError> {
    let remote = tokio::net::lookup_host((address.host.as_str(), address.port))
        .await
        .map_err(|e| unreachable(address, format!("cannot resolve {}: {e}", address.host)))?
        .next()
        .ok_or_else(|| unreachable(address, format!("{} has no address", address.host)))?;
    let (quic_config, verdict) = client_config(policy, sending.congestion)?;
    let local: SocketAddr = match (sending.local, remote.ip()) {
        (Some(ip), _) => (ip, 0).into(),
        (None, IpAddr::V4(_)) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        (None, IpAddr::V6(_)) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let endpoint = quinn::Endpoint::client(local)
        .map_err(|e| unreachable(address, format!("cannot open a UDP socket: {e}")))?;
    let connecting = endpoint
        .connect_with(quic_config, remote, address.tls_name())
        .map_err(|e| unreachable(address, e.to_string()))?;
    let connection = match connecting.await {
        Ok(c) => c,
        Err(e) => {
            let judged = *verdict.lock().expect("verdict lock");
            if let Some(err) = judged.and_then(|(v, presented)| v.error(&address.key(), presented))
            {
                return Err(err);
            }
            return Err(unreachable(address, describe_close(&e)));
        }
    };
    let (verdict, fingerprint) = verdict
        .lock()
        .expect("verdict lock")
        .ok_or_else(|| ClientError::Protocol("the server presented no certificate".into()))?;
    Ok(Handshake {
        endpoint,
        connection,
        verdict,
        fingerprint,
    })
}

/// Opens the control stream and exchanges hellos, within
/// [`CONNECT_TIMEOUT`]; on failure closes the connection. The stream and
/// the server's software.
async fn greet(
    connection: &quinn::Connection,
    endpoint: &quinn::Endpoint,
    address: &ServerAddress,
    software: &str,
) -> Result<(ControlStream, String), ClientError> {
    match timeout(CONNECT_TIMEOUT, hello(connection, software)).await {
        Ok(Ok(done)) => Ok(done),
        Ok(Err(e)) => {
            let code = match e {
                ClientError::Protocol(_) => close::PROTOCOL_VIOLATION,
                _ => close::NORMAL,
            };
            close_and_drain(connection, endpoint, code, "hello failed").await;
            Err(match e {
                ClientError::Closed(reason) => unreachable(address, reason),
                other => other,
            })
        }
        Err(_) => {
            close_and_drain(connection, endpoint, close::NORMAL, "no welcome").await;
            Err(unreachable(
                address,
                "the server did not answer the hello".into(),
            ))
        }
    }
}

/// The hello exchange on a fresh control stream.
async fn hello(
    connection: &quinn::Connection,
    software: &str,
) -> Result<(ControlStream, String), ClientError> {
    let (send, recv) = connection.open_bi().await.map_err(|e| {
        ClientError::Closed(match connection.close_reason() {
            Some(reason) => describe_close(&reason),
            None => e.to_string(),
        })
    })?;
    // Only fails if the stream is already closed; the hello write will say why.
    let _ = send.set_priority(CONTROL_PRIORITY);
    let mut control = ControlStream {
        connection: connection.clone(),
        send,
        recv: FrameReader::new(recv),
    };
    write_hello(&mut control, software).await?;
    match control.receive().await? {
        ServerMsg::Welcome { software, .. } => Ok((control, sanitize(&software))),
        ServerMsg::Refused(refusal) => Err(ClientError::Refused(refusal)),
        other => Err(ClientError::Protocol(format!(
            "expected a welcome, got {}",
            other.kind()
        ))),
    }
}

/// Why `address` could not be reached.
fn unreachable(address: &ServerAddress, reason: String) -> ClientError {
    ClientError::Unreachable {
        server: address.key(),
        reason,
    }
}

async fn write_hello(control: &mut ControlStream, software: &str) -> Result<(), ClientError> {
    let hello = Hello::current(software);
    match timeout(WRITE_TIMEOUT, write_frame(&mut control.send, &hello)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(control.lost(e)),
        Err(_) => Err(ClientError::Closed("the server stopped reading".into())),
    }
}

/// Records the server in the known-servers file; a failure to write is
/// logged, not fatal (the connection is verified either way), and gives
/// `None`.
async fn record(path: &std::path::Path, key: &str, fingerprint: Fingerprint) -> Option<Recorded> {
    let (path, key) = (path.to_owned(), key.to_owned());
    let shown = path.clone();
    match tokio::task::spawn_blocking(move || trust::record_known_server(&path, &key, &fingerprint))
        .await
    {
        Ok(Ok(recorded)) => Some(recorded),
        Ok(Err(e)) => {
            tracing::warn!(file = %shown.display(), "could not record the server's fingerprint: {e}");
            None
        }
        Err(e) => {
            tracing::warn!("could not record the server's fingerprint: {e}");
            None
        }
    }
}

/// The quinn configuration for one attempt: TLS 1.3 with Natter's ALPN and
/// the fingerprint verifier, keep-alive, idle timeout, and the congestion
/// controller that keeps chat instant while this end uploads.
fn client_config(
    policy: TrustPolicy,
    congestion: Congestion,
) -> Result<(quinn::ClientConfig, trust::VerdictSlot), ClientError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let (verifier, verdict) =
        FingerprintVerifier::new(policy, provider.signature_verification_algorithms);
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| ClientError::Protocol(format!("TLS configuration: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let quic = quinn::crypto::rustls::QuicClientConfig::try_from(tls)
        .map_err(|e| ClientError::Protocol(format!("TLS configuration: {e}")))?;
    let mut config = quinn::ClientConfig::new(Arc::new(quic));
    let mut transport = quinn::TransportConfig::default();
    transport.keep_alive_interval(Some(KEEP_ALIVE));
    transport.max_idle_timeout(Some(
        IDLE_TIMEOUT
            .try_into()
            .expect("20 s is a valid idle timeout"),
    ));
    // Downloads at once times this leaves the control stream room in the
    // server's send window (see `congestion::budget`).
    transport.stream_receive_window(quinn::VarInt::from_u32(budget::DOWNLOAD_STREAM_WINDOW));
    congestion.apply(&mut transport);
    config.transport_config(Arc::new(transport));
    Ok((config, verdict))
}

/// A one-line, printable reason for a closed connection; the server's own
/// reason text when it gave one.
pub(crate) fn describe_close(e: &quinn::ConnectionError) -> String {
    use quinn::ConnectionError as E;
    match e {
        E::ApplicationClosed(close) if close.reason.is_empty() => {
            format!("closed by the server (code {})", close.error_code)
        }
        E::ApplicationClosed(close) => sanitize(&String::from_utf8_lossy(&close.reason)),
        E::TimedOut => "the server stopped answering".into(),
        E::Reset => "the server reset the connection (it may have restarted)".into(),
        E::LocallyClosed => "closed by this client".into(),
        other => sanitize(&other.to_string()),
    }
}

/// Whether a refusal during login is the server saying "this token is no
/// good, use the password".
pub(crate) fn is_stale_session(e: &ClientError) -> bool {
    matches!(e, ClientError::Refused(Refusal::InvalidSession))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(s: &str) -> (String, u16) {
        let a = ServerAddress::parse(s).unwrap();
        (a.host, a.port)
    }

    #[test]
    fn addresses_parse_with_and_without_ports() {
        assert_eq!(parsed("127.0.0.1:4433"), ("127.0.0.1".into(), 4433));
        assert_eq!(
            parsed("Chat.Example.org:9000"),
            ("chat.example.org".into(), 9000)
        );
        assert_eq!(
            parsed("chat.example.org"),
            ("chat.example.org".into(), DEFAULT_PORT)
        );
        assert_eq!(parsed("[::1]:5000"), ("::1".into(), 5000));
        assert_eq!(parsed("[::1]"), ("::1".into(), DEFAULT_PORT));
        assert_eq!(parsed("::1"), ("::1".into(), DEFAULT_PORT));
        for bad in [
            "",
            ":4433",
            "host:",
            "host:0",
            "host:99999",
            "[::1",
            "[::1]x",
            "a b:1",
        ] {
            assert!(ServerAddress::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn keys_bracket_ipv6_and_lower_case() {
        assert_eq!(
            ServerAddress::parse("[::1]:5000").unwrap().key(),
            "[::1]:5000"
        );
        assert_eq!(ServerAddress::parse("HOST:1").unwrap().key(), "host:1");
        assert_eq!(ServerAddress::parse("host").unwrap().key(), "host:4433");
    }

    #[test]
    fn the_quic_configuration_builds() {
        let policy = TrustPolicy {
            pinned: None,
            known: vec![],
            remembered: None,
            first_use: crate::trust::FirstUse::Refuse,
        };
        assert!(client_config(policy, Congestion::default()).is_ok());
    }
}
