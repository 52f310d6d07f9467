//! A raw protocol peer built on quinn directly, for the tests that must
//! send what the real client never would: garbage, oversized frames, other
//! versions, resends, a reader that stops reading.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use natter_common::codec::{write_frame, FrameReader};
use natter_common::{ClientMsg, Hello, ServerMsg, ALPN};
use quinn::crypto::rustls::QuicClientConfig;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::within;

/// A hand-driven connection with its control stream.
pub struct RawPeer {
    pub connection: quinn::Connection,
    pub send: quinn::SendStream,
    pub recv: FrameReader<quinn::RecvStream>,
    _endpoint: quinn::Endpoint,
}

impl RawPeer {
    /// Connects and opens the control stream, without a hello.
    pub async fn connect(server: SocketAddr) -> Self {
        Self::connect_with(server, quinn::TransportConfig::default()).await
    }

    /// Connects from another loopback address (e.g. 127.0.0.2), so one
    /// test can play clients at several addresses.
    pub async fn connect_from(server: SocketAddr, local: IpAddr) -> Self {
        within("raw connect", Self::try_connect_from(server, local))
            .await
            .expect("raw connect")
    }

    /// Like [`RawPeer::connect_from`], but a server that turns the
    /// connection away is an answer, not a failure: its close code and
    /// reason (or the QUIC error when it refused without a reason).
    pub async fn try_connect_from(server: SocketAddr, local: IpAddr) -> Result<Self, String> {
        assert!(
            local.is_loopback(),
            "tests only ever use loopback addresses"
        );
        let mut endpoint = quinn::Endpoint::client(SocketAddr::new(local, 0)).unwrap();
        endpoint.set_default_client_config(client_config());
        let connection = endpoint
            .connect(server, "localhost")
            .unwrap()
            .await
            .map_err(|e| describe(&e))?;
        let (send, recv) = connection.open_bi().await.map_err(|e| describe(&e))?;
        let mut peer = Self {
            connection,
            send,
            recv: FrameReader::new(recv),
            _endpoint: endpoint,
        };
        write_frame(&mut peer.send, &Hello::current("raw-test"))
            .await
            .map_err(|e| e.to_string())?;
        match peer.recv.read::<ServerMsg>().await {
            Ok(Some(ServerMsg::Welcome { .. })) => Ok(peer),
            Ok(other) => Err(format!("expected a welcome, got {other:?}")),
            Err(_) => Err(describe(&peer.connection.closed().await)),
        }
    }

    /// Sends a login and returns the server's answer.
    pub async fn try_login(&mut self, name: &str, password: &str) -> ServerMsg {
        self.send(&ClientMsg::Login {
            name: name.into(),
            password: password.into(),
            since: None,
        })
        .await;
        self.read().await
    }

    /// Connects with a custom transport (e.g. a tiny receive window).
    pub async fn connect_with(server: SocketAddr, transport: quinn::TransportConfig) -> Self {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate))
            .with_no_client_auth();
        tls.alpn_protocols = vec![ALPN.to_vec()];
        let mut config =
            quinn::ClientConfig::new(Arc::new(QuicClientConfig::try_from(tls).unwrap()));
        config.transport_config(Arc::new(transport));
        let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
        endpoint.set_default_client_config(config);
        let connection = within("raw connect", async {
            endpoint
                .connect(server, "localhost")
                .unwrap()
                .await
                .expect("raw handshake")
        })
        .await;
        let (send, recv) = connection.open_bi().await.expect("open control stream");
        Self {
            connection,
            send,
            recv: FrameReader::new(recv),
            _endpoint: endpoint,
        }
    }

    /// Connects, says hello and logs in.
    pub async fn login(server: SocketAddr, name: &str, password: &str) -> Self {
        let mut peer = Self::connect(server).await;
        peer.hello().await;
        peer.send(&ClientMsg::Login {
            name: name.into(),
            password: password.into(),
            since: None,
        })
        .await;
        match peer.read().await {
            ServerMsg::LoggedIn { .. } => peer,
            other => panic!("login failed: {other:?}"),
        }
    }

    /// Sends the current hello and expects a welcome.
    pub async fn hello(&mut self) {
        write_frame(&mut self.send, &Hello::current("raw-test"))
            .await
            .unwrap();
        match self.read().await {
            ServerMsg::Welcome { .. } => {}
            other => panic!("expected a welcome, got {other:?}"),
        }
    }

    pub async fn send(&mut self, msg: &ClientMsg) {
        write_frame(&mut self.send, msg).await.expect("write frame");
    }

    /// Writes bytes as they are, frame or not.
    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        let _ = self.send.write_all(bytes).await;
    }

    /// The next server message.
    pub async fn read(&mut self) -> ServerMsg {
        within("a server message", self.recv.read::<ServerMsg>())
            .await
            .expect("readable frame")
            .expect("stream open")
    }

    /// Reads until `pick` accepts a message.
    pub async fn read_until<T>(&mut self, mut pick: impl FnMut(&ServerMsg) -> Option<T>) -> T {
        loop {
            let msg = self.read().await;
            if let Some(v) = pick(&msg) {
                return v;
            }
        }
    }

    /// Waits for the server to close the connection; its code and reason.
    pub async fn closed(&self) -> (u64, String) {
        match within("the server to close", self.connection.closed()).await {
            quinn::ConnectionError::ApplicationClosed(close) => (
                close.error_code.into_inner(),
                String::from_utf8_lossy(&close.reason).into_owned(),
            ),
            other => panic!("connection ended without an application close: {other}"),
        }
    }
}

/// A connection error as "code N: reason" for an application close.
fn describe(e: &quinn::ConnectionError) -> String {
    match e {
        quinn::ConnectionError::ApplicationClosed(close) => format!(
            "code {}: {}",
            close.error_code.into_inner(),
            String::from_utf8_lossy(&close.reason)
        ),
        other => other.to_string(),
    }
}

/// A quinn client configuration for Natter's ALPN that accepts any
/// certificate (see [`AnyCertificate`]).
pub fn client_config() -> quinn::ClientConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate))
        .with_no_client_auth();
    tls.alpn_protocols = vec![ALPN.to_vec()];
    quinn::ClientConfig::new(Arc::new(QuicClientConfig::try_from(tls).unwrap()))
}

/// Accepts any certificate: these tests exercise the protocol, not trust
/// (trust has its own tests through the real client).
#[derive(Debug)]
struct AnyCertificate;

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

// ---- transfer streams ----

/// Opens a transfer stream on a logged-in connection, sends `header` and
/// returns the stream with the server's first reply.
pub async fn open_transfer(
    connection: &quinn::Connection,
    header: &natter_common::protocol::TransferHeader,
) -> (
    quinn::SendStream,
    quinn::RecvStream,
    natter_common::protocol::TransferReply,
) {
    let (mut send, mut recv) = within("a transfer stream", connection.open_bi())
        .await
        .expect("open a transfer stream");
    write_frame(&mut send, header).await.expect("write header");
    let reply = transfer_reply(&mut recv).await;
    (send, recv, reply)
}

/// The next reply on a transfer stream.
pub async fn transfer_reply(
    recv: &mut quinn::RecvStream,
) -> natter_common::protocol::TransferReply {
    within(
        "a transfer reply",
        natter_common::codec::read_frame(recv, 4096),
    )
    .await
    .expect("a readable reply")
    .expect("a reply before the stream ended")
}
