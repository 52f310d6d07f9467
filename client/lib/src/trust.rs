//! Whom the client trusts: servers are known by the SHA-256 fingerprint of
//! their certificate, like SSH host keys, recorded in a known-servers file
//! (trust on first use) or pinned by the user.
//!
//! The file has one line per server, `HOST:PORT SHA256:<hex>`; blank lines
//! and lines starting with `#` are ignored. A server has exactly one
//! fingerprint: a file that gives it two different ones is a conflict the
//! user must resolve, never "any of them matches". Clients record under a
//! lock and replace the file atomically, so two first connections at once
//! cannot both append.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use natter_common::Fingerprint;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};

use crate::error::ClientError;

/// How a client decides whether the server it reached is the right one.
#[derive(Debug, Clone)]
pub struct Trust {
    /// The known-servers file: read at every connection, appended to on
    /// first use.
    pub known_servers: PathBuf,
    /// A fingerprint the user was given out of band. When set, only this
    /// certificate is accepted, whatever the file says.
    pub pinned: Option<Fingerprint>,
    /// What to do with a server that is neither pinned nor in the file.
    pub first_use: FirstUse,
}

/// What to do the first time a server is seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstUse {
    /// Trust it and record its fingerprint (SSH's default).
    Accept,
    /// Refuse with [`ClientError::UnknownServer`], which shows the
    /// fingerprint so the user can check and pin it.
    Refuse,
}

impl Trust {
    /// Trust on first use, recording into `known_servers`.
    pub fn on_first_use(known_servers: impl Into<PathBuf>) -> Self {
        Self {
            known_servers: known_servers.into(),
            pinned: None,
            first_use: FirstUse::Accept,
        }
    }

    /// The per-user default file: `known_servers` in Natter's configuration
    /// directory (e.g. `~/.config/natter/known_servers`). `None` when the
    /// platform has no home directory.
    pub fn default_known_servers() -> Option<PathBuf> {
        directories::ProjectDirs::from("", "", "natter")
            .map(|dirs| dirs.config_dir().join("known_servers"))
    }
}

/// The fingerprint of a certificate: SHA-256 of its DER bytes.
pub fn fingerprint(certificate_der: &[u8]) -> Fingerprint {
    Fingerprint(Sha256::digest(certificate_der).into())
}

/// One line of the known-servers file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownServer {
    /// `HOST:PORT`, host in lower case.
    pub server: String,
    pub fingerprint: Fingerprint,
}

/// The parsed known-servers file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KnownServers {
    entries: Vec<KnownServer>,
}

impl KnownServers {
    /// Parses the file's text. Lines that do not parse are skipped with a
    /// warning rather than failing: one bad line must not lock the user out
    /// of every other server.
    pub fn parse(text: &str) -> Self {
        let mut entries = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut words = line.split_whitespace();
            let (Some(server), Some(fp), None) = (words.next(), words.next(), words.next()) else {
                tracing::warn!(line = n + 1, "skipping malformed known-servers line");
                continue;
            };
            let Some(fingerprint) = fp.strip_prefix("SHA256:").and_then(Fingerprint::parse) else {
                tracing::warn!(
                    line = n + 1,
                    "skipping known-servers line with a bad fingerprint"
                );
                continue;
            };
            entries.push(KnownServer {
                server: server.to_lowercase(),
                fingerprint,
            });
        }
        Self { entries }
    }

    /// Reads the file; a missing file is an empty list.
    ///
    /// Blocking (it reads a small file): async code calls it through
    /// `spawn_blocking`.
    pub fn read(path: &Path) -> io::Result<Self> {
        match std::fs::read_to_string(path) {
            Ok(text) => Ok(Self::parse(&text)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(e),
        }
    }

    pub fn entries(&self) -> &[KnownServer] {
        &self.entries
    }

    /// Every fingerprint recorded for `server` (`HOST:PORT`), in file order.
    pub fn fingerprints_of(&self, server: &str) -> Vec<Fingerprint> {
        let server = server.to_lowercase();
        self.entries
            .iter()
            .filter(|e| e.server == server)
            .map(|e| e.fingerprint)
            .collect()
    }
}

/// The line recording `fingerprint` for `server`.
pub fn known_server_line(server: &str, fingerprint: &Fingerprint) -> String {
    format!("{} {}", server.to_lowercase(), fingerprint)
}

/// What [`record_known_server`] found under its lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// The server was not in the file; now it is.
    Added,
    /// Another client recorded the same fingerprint first.
    AlreadyKnown,
    /// The file gives the server another fingerprint (another client
    /// recorded a different certificate first): nothing was written, and
    /// this connection must not be trusted.
    Conflict(Fingerprint),
}

/// Records `server`'s fingerprint in the known-servers file, creating the
/// file (and its directory) if needed. Holds an exclusive lock on a
/// `.lock` file beside it while it reads, checks and replaces the file
/// (written to a temporary file, synced, renamed over it), so concurrent
/// clients record a server once and readers never see half a file.
///
/// Blocking (small file write): async code calls it through `spawn_blocking`.
pub fn record_known_server(
    path: &Path,
    server: &str,
    fingerprint: &Fingerprint,
) -> io::Result<Recorded> {
    let dir = match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => dir,
        None => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let mut lock_name = path.file_name().unwrap_or_default().to_owned();
    lock_name.push(".lock");
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(lock_name))?;
    lock.lock()?;
    let mut text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    let recorded = KnownServers::parse(&text).fingerprints_of(server);
    if let Some(&other) = recorded.iter().find(|f| *f != fingerprint) {
        return Ok(Recorded::Conflict(other));
    }
    if !recorded.is_empty() {
        return Ok(Recorded::AlreadyKnown);
    }
    if text.is_empty() {
        text.push_str("# Natter known servers: HOST:PORT SHA256:<certificate fingerprint>\n");
    } else if !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&known_server_line(server, fingerprint));
    text.push('\n');
    replace_file(dir, path, text.as_bytes())?;
    Ok(Recorded::Added)
}

/// Writes `bytes` to a temporary file in `dir`, syncs it and renames it
/// over `path`, then syncs the directory so the rename survives a crash.
fn replace_file(dir: &Path, path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut temp = tempfile::NamedTempFile::new_in(dir)?;
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|e| e.error)?;
    // Directories cannot be opened for syncing everywhere (Windows).
    if let Ok(dir) = File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// Everything the verifier needs to judge one connection attempt.
#[derive(Debug, Clone)]
pub(crate) struct TrustPolicy {
    pub pinned: Option<Fingerprint>,
    /// Fingerprints the file records for this server.
    pub known: Vec<Fingerprint>,
    /// The fingerprint an earlier connection of the same client accepted:
    /// a certificate must not change under a running client even if the
    /// file could not be written.
    pub remembered: Option<Fingerprint>,
    pub first_use: FirstUse,
}

/// The verifier's judgement of a presented certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Matches the pin; `record` when the file does not know the server yet.
    Pinned {
        record: bool,
    },
    /// Matches the file (or this client's earlier connection).
    Known,
    /// Unknown and first use is allowed: record it once the handshake is done.
    FirstUse,
    /// Unknown and first use is refused.
    Unknown,
    Changed {
        known: Fingerprint,
    },
    Mismatch {
        expected: Fingerprint,
    },
}

impl Verdict {
    pub fn decide(policy: &TrustPolicy, presented: &Fingerprint) -> Self {
        if let Some(expected) = policy.pinned {
            return if expected == *presented {
                Verdict::Pinned {
                    record: policy.known.is_empty(),
                }
            } else {
                Verdict::Mismatch { expected }
            };
        }
        if let Some(&known) = policy.known.first() {
            // Two different fingerprints for one server are a conflict, not
            // a choice: name one the presented certificate is not.
            return match policy.known.iter().find(|f| *f != presented) {
                None => Verdict::Known,
                Some(&other) if other != known => Verdict::Changed { known: other },
                Some(_) => Verdict::Changed { known },
            };
        }
        if let Some(known) = policy.remembered {
            return if known == *presented {
                Verdict::Known
            } else {
                Verdict::Changed { known }
            };
        }
        match policy.first_use {
            FirstUse::Accept => Verdict::FirstUse,
            FirstUse::Refuse => Verdict::Unknown,
        }
    }

    pub fn allows(&self) -> bool {
        matches!(
            self,
            Verdict::Pinned { .. } | Verdict::Known | Verdict::FirstUse
        )
    }

    /// Whether the fingerprint should be appended to the file.
    pub fn records(&self) -> bool {
        matches!(self, Verdict::FirstUse | Verdict::Pinned { record: true })
    }

    /// The typed error for a refusing verdict.
    pub fn error(&self, server: &str, presented: Fingerprint) -> Option<ClientError> {
        let server = server.to_owned();
        match *self {
            Verdict::Unknown => Some(ClientError::UnknownServer {
                server,
                fingerprint: presented,
            }),
            Verdict::Changed { known } => Some(ClientError::CertificateChanged {
                server,
                known,
                presented,
            }),
            Verdict::Mismatch { expected } => Some(ClientError::FingerprintMismatch {
                server,
                expected,
                presented,
            }),
            Verdict::Pinned { .. } | Verdict::Known | Verdict::FirstUse => None,
        }
    }
}

/// The verdict of the last certificate a verifier saw, with its
/// fingerprint. rustls reports a refusal as an opaque error, so `connect`
/// reads this afterwards to return a typed one.
pub(crate) type VerdictSlot = Arc<Mutex<Option<(Verdict, Fingerprint)>>>;

/// Checks the server certificate against the [`TrustPolicy`] instead of a
/// certificate authority, and still checks that the server holds the
/// certificate's private key (the handshake signatures).
pub(crate) struct FingerprintVerifier {
    policy: TrustPolicy,
    algorithms: WebPkiSupportedAlgorithms,
    verdict: VerdictSlot,
}

impl FingerprintVerifier {
    pub fn new(policy: TrustPolicy, algorithms: WebPkiSupportedAlgorithms) -> (Self, VerdictSlot) {
        let verdict = VerdictSlot::default();
        (
            Self {
                policy,
                algorithms,
                verdict: verdict.clone(),
            },
            verdict,
        )
    }
}

impl fmt::Debug for FingerprintVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FingerprintVerifier")
            .field("policy", &self.policy)
            .finish()
    }
}

impl ServerCertVerifier for FingerprintVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let presented = fingerprint(end_entity.as_ref());
        let verdict = Verdict::decide(&self.policy, &presented);
        *self.verdict.lock().expect("verdict lock") = Some((verdict, presented));
        if verdict.allows() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Fingerprint = Fingerprint([0xaa; 32]);
    const B: Fingerprint = Fingerprint([0xbb; 32]);

    fn policy() -> TrustPolicy {
        TrustPolicy {
            pinned: None,
            known: vec![],
            remembered: None,
            first_use: FirstUse::Accept,
        }
    }

    #[test]
    fn parsing_skips_comments_blanks_and_bad_lines() {
        let text = format!(
            "# comment\n\n  Chat.Example:4433 {A}\nbroken-line\nx:1 SHA256:zz\n127.0.0.1:4433 {B} extra\n[::1]:4433 {B}\n"
        );
        let known = KnownServers::parse(&text);
        assert_eq!(
            known.entries(),
            &[
                KnownServer {
                    server: "chat.example:4433".into(),
                    fingerprint: A
                },
                KnownServer {
                    server: "[::1]:4433".into(),
                    fingerprint: B
                },
            ]
        );
        assert_eq!(known.fingerprints_of("CHAT.example:4433"), vec![A]);
        assert!(known.fingerprints_of("chat.example:4434").is_empty());
    }

    #[test]
    fn recording_creates_the_file_and_appends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("known_servers");
        assert_eq!(
            record_known_server(&path, "a:1", &A).unwrap(),
            Recorded::Added
        );
        assert_eq!(
            record_known_server(&path, "b:2", &B).unwrap(),
            Recorded::Added
        );
        let known = KnownServers::read(&path).unwrap();
        assert_eq!(known.fingerprints_of("a:1"), vec![A]);
        assert_eq!(known.fingerprints_of("b:2"), vec![B]);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with('#'));
        assert!(text.ends_with(&format!("b:2 {B}\n")));
    }

    #[test]
    fn a_server_is_recorded_once_and_never_with_a_second_fingerprint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known_servers");
        record_known_server(&path, "a:1", &A).unwrap();
        assert_eq!(
            record_known_server(&path, "A:1", &A).unwrap(),
            Recorded::AlreadyKnown
        );
        assert_eq!(
            record_known_server(&path, "a:1", &B).unwrap(),
            Recorded::Conflict(A)
        );
        assert_eq!(
            KnownServers::read(&path).unwrap().fingerprints_of("a:1"),
            vec![A]
        );
    }

    #[test]
    fn two_fingerprints_for_one_server_are_a_conflict() {
        let p = TrustPolicy {
            known: vec![A, B],
            ..policy()
        };
        assert_eq!(Verdict::decide(&p, &A), Verdict::Changed { known: B });
        assert_eq!(Verdict::decide(&p, &B), Verdict::Changed { known: A });
        let p = TrustPolicy {
            known: vec![A, A],
            ..policy()
        };
        assert_eq!(Verdict::decide(&p, &A), Verdict::Known);
    }

    #[test]
    fn recording_after_a_hand_edited_last_line_keeps_lines_apart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known_servers");
        std::fs::write(&path, format!("a:1 {A}")).unwrap();
        record_known_server(&path, "b:2", &B).unwrap();
        let known = KnownServers::read(&path).unwrap();
        assert_eq!(known.entries().len(), 2);
    }

    #[test]
    fn a_missing_file_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            KnownServers::read(&dir.path().join("none")).unwrap(),
            KnownServers::default()
        );
    }

    #[test]
    fn the_pin_overrides_the_file() {
        let p = TrustPolicy {
            pinned: Some(A),
            known: vec![B],
            ..policy()
        };
        assert_eq!(Verdict::decide(&p, &A), Verdict::Pinned { record: false });
        assert_eq!(Verdict::decide(&p, &B), Verdict::Mismatch { expected: A });
        let p = TrustPolicy {
            pinned: Some(A),
            ..policy()
        };
        assert!(Verdict::decide(&p, &A).records());
    }

    #[test]
    fn the_file_decides_then_first_use() {
        let p = TrustPolicy {
            known: vec![B],
            ..policy()
        };
        assert_eq!(Verdict::decide(&p, &B), Verdict::Known);
        let p = TrustPolicy {
            known: vec![A],
            ..policy()
        };
        assert_eq!(Verdict::decide(&p, &B), Verdict::Changed { known: A });
        assert_eq!(Verdict::decide(&policy(), &A), Verdict::FirstUse);
        assert!(Verdict::FirstUse.records() && Verdict::FirstUse.allows());
        let p = TrustPolicy {
            first_use: FirstUse::Refuse,
            ..policy()
        };
        assert_eq!(Verdict::decide(&p, &A), Verdict::Unknown);
        assert!(!Verdict::Unknown.allows());
    }

    #[test]
    fn a_running_client_notices_a_change_even_without_the_file() {
        let p = TrustPolicy {
            remembered: Some(A),
            ..policy()
        };
        assert_eq!(Verdict::decide(&p, &A), Verdict::Known);
        assert_eq!(Verdict::decide(&p, &B), Verdict::Changed { known: A });
    }

    #[test]
    fn refusing_verdicts_become_typed_errors() {
        let err = Verdict::Changed { known: A }.error("s:1", B).unwrap();
        assert_eq!(
            err,
            ClientError::CertificateChanged {
                server: "s:1".into(),
                known: A,
                presented: B
            }
        );
        assert!(Verdict::Known.error("s:1", A).is_none());
    }

    #[test]
    fn fingerprints_are_sha256_of_the_der() {
        // SHA-256("abc"), from FIPS 180-2.
        assert_eq!(
            fingerprint(b"abc").to_string(),
            "SHA256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
