//! The server's certificate: loaded from PEM files, or generated once with
//! rcgen and kept in the data directory so its fingerprint stays stable.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use natter_common::Fingerprint;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

/// The least time between two stateless resets: none (see
/// [`Identity::endpoint_config`]).
const RESET_INTERVAL: std::time::Duration = std::time::Duration::ZERO;

/// A certificate chain and its key, ready for rustls.
pub struct Identity {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

impl Identity {
    /// The SHA-256 of the leaf certificate: what clients pin.
    pub fn fingerprint(&self) -> Fingerprint {
        fingerprint(&self.chain[0])
    }

    /// QUIC endpoint settings that survive a restart: the key stateless
    /// resets are made with, and the one connection ids are signed with,
    /// both derived from the private key. A client of the server before a
    /// crash then gets, for its first packet after the restart, a reset it
    /// can verify (for a connection id the new process recognizes), and
    /// reconnects at once instead of waiting out its idle timeout. Keyed
    /// hashes: they reveal nothing of the private key.
    pub fn endpoint_config(&self) -> quinn::EndpointConfig {
        let derive = |purpose: &str| blake3::derive_key(purpose, self.key.secret_der());
        let reset = derive("natter 2026-12 QUIC stateless reset key");
        let reset = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &reset);
        let cids = derive("natter 2026-12 QUIC connection id key");
        let cids = u64::from_le_bytes(cids[..8].try_into().expect("8 of 32 bytes"));
        let mut config = quinn::EndpointConfig::new(Arc::new(reset));
        config.cid_generator(move || {
            Box::new(quinn_proto::HashedConnectionIdGenerator::from_key(cids))
        });
        // quinn sends at most one reset per 20 ms by default, and answers
        // only the first of a batch of datagrams read together: a thousand
        // clients of a crashed server mostly waited out their idle timeout
        // (natter-bench login --mode tokens). What the interval guards
        // against (answering stray packets, reset loops between servers)
        // is covered by the signed connection ids above, which a stray
        // packet fails, and by quinn making every reset smaller than the
        // packet it answers, so a loop dies out.
        config.min_reset_interval(RESET_INTERVAL);
        config
    }
}

/// SHA-256 of a certificate's DER bytes.
pub fn fingerprint(cert: &CertificateDer<'_>) -> Fingerprint {
    Fingerprint(Sha256::digest(cert.as_ref()).into())
}

/// Reads a PEM chain and key.
pub fn load(cert: &Path, key: &Path) -> anyhow::Result<Identity> {
    let chain = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("reading certificate {}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parsing certificate {}", cert.display()))?;
    anyhow::ensure!(!chain.is_empty(), "no certificate in {}", cert.display());
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("reading private key {}", key.display()))?;
    Ok(Identity { chain, key })
}

/// The certificate in `dir` (cert.pem, key.pem), generated on first use.
pub fn load_or_generate(dir: &Path) -> anyhow::Result<Identity> {
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    if cert_path.exists() && key_path.exists() {
        return load(&cert_path, &key_path);
    }
    let names = vec!["localhost".to_string(), "natter".to_string()];
    let generated = rcgen::generate_simple_self_signed(names).context("generating certificate")?;
    std::fs::write(&cert_path, generated.cert.pem())
        .with_context(|| format!("writing {}", cert_path.display()))?;
    write_private(&key_path, generated.key_pair.serialize_pem().as_bytes())?;
    tracing::info!(path = %cert_path.display(), "generated a self-signed certificate");
    load(&cert_path, &key_path)
}

fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(())
}

/// A quinn server configuration speaking Natter's ALPN over TLS 1.3.
pub fn server_config(
    identity: Identity,
    transport: quinn::TransportConfig,
) -> anyhow::Result<quinn::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_single_cert(identity.chain, identity.key)
        .context("certificate and key do not match")?;
    tls.alpn_protocols = vec![natter_common::ALPN.to_vec()];
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls)?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    config.transport_config(Arc::new(transport));
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_certificate_is_kept_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_generate(dir.path()).unwrap().fingerprint();
        let second = load_or_generate(dir.path()).unwrap().fingerprint();
        assert_eq!(first, second);
    }
}
