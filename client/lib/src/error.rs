//! What can go wrong for a client, as one typed enum a UI can match on
//! (refusals, trust failures, reachability, lost connections, bad input).

use natter_common::{Fingerprint, Refusal, ServerMsg};

/// Why a client call failed, or why the client stopped.
///
/// Every variant is a complete sentence when displayed, so a UI or the CLI
/// can show it as it is. The error is `Clone` because one failure (a lost
/// connection, a fatal refusal) is reported to every waiting caller and to
/// the event stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The server refused the request; the text is the server's reason.
    #[error("{0}")]
    Refused(Refusal),

    /// The server is not in the known-servers file and first use is not
    /// allowed: the user must check the fingerprint and pin it.
    #[error(
        "unknown server {server}: its certificate fingerprint is {fingerprint}; \
         check it with the server's operator, then pin it (--fingerprint) or allow first use"
    )]
    UnknownServer {
        server: String,
        fingerprint: Fingerprint,
    },

    /// The server presents another certificate than the one recorded for it.
    /// Either its operator replaced it, or someone is intercepting the
    /// connection; only the user can tell which.
    #[error(
        "the certificate of {server} has CHANGED: recorded {known}, presented {presented}; \
         someone may be intercepting the connection (an attack), or the server's certificate \
         was replaced; if the change is expected, remove the line for {server} from the \
         known-servers file"
    )]
    CertificateChanged {
        server: String,
        known: Fingerprint,
        presented: Fingerprint,
    },

    /// The server's certificate does not match the fingerprint the user
    /// pinned for this connection.
    #[error(
        "the certificate of {server} does not match the pinned fingerprint: \
         expected {expected}, presented {presented}"
    )]
    FingerprintMismatch {
        server: String,
        expected: Fingerprint,
        presented: Fingerprint,
    },

    /// No connection could be made: the name did not resolve, nobody
    /// answered in time, or the handshake failed.
    #[error("cannot reach {server}: {reason}")]
    Unreachable { server: String, reason: String },

    /// The server sent something the protocol does not allow here.
    #[error("protocol error: {0}")]
    Protocol(String),

    /// The connection was lost or the client was stopped; carries the
    /// server's close reason when it gave one.
    #[error("connection closed: {0}")]
    Closed(String),

    /// The server stopped a transfer part way and said why (its disk is
    /// full, the upload was slower than its minimum rate): what arrived is
    /// kept, and the transfer may resume from it.
    #[error("the server stopped the transfer part way: {0}")]
    Interrupted(Refusal),

    /// The request was refused locally, before anything was sent, because
    /// the server would refuse it too (text too long, unknown emoji, ...).
    #[error("{0}")]
    InvalidInput(String),

    /// Too many messages wait to be confirmed by the server (for instance
    /// while it is unreachable); try again once some are accepted.
    #[error("too many unconfirmed messages ({limit}): wait for the server to accept some")]
    QueueFull { limit: usize },

    /// The two passwords typed to register differ.
    #[error("the passwords do not match")]
    PasswordMismatch,
}

impl From<Refusal> for ClientError {
    fn from(r: Refusal) -> Self {
        ClientError::Refused(r)
    }
}

impl ClientError {
    /// Whether retrying later cannot help: the server rejected who we are
    /// or who it is. A reconnecting client stops on these.
    pub fn is_fatal(&self) -> bool {
        match self {
            ClientError::UnknownServer { .. }
            | ClientError::CertificateChanged { .. }
            | ClientError::FingerprintMismatch { .. }
            | ClientError::PasswordMismatch => true,
            ClientError::Refused(r) => !matches!(
                r,
                Refusal::RateLimited { .. } | Refusal::Busy(_) | Refusal::Internal
            ),
            ClientError::Unreachable { .. }
            | ClientError::Protocol(_)
            | ClientError::Closed(_)
            | ClientError::Interrupted(_)
            | ClientError::InvalidInput(_)
            | ClientError::QueueFull { .. } => false,
        }
    }
}

/// The error for a server message that is not the answer the protocol
/// calls for at this point.
pub(crate) fn unexpected(wanted: &str, got: &ServerMsg) -> ClientError {
    ClientError::Protocol(format!("expected {wanted}, got {}", got.kind()))
}

/// Server-provided text made safe to show: control characters (terminal
/// escapes, newlines) replaced, length bounded.
pub(crate) fn sanitize(text: &str) -> String {
    let max = natter_common::limits::MAX_DETAIL_CHARS;
    let mut out: String = text
        .chars()
        .take(max)
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect();
    if text.chars().nth(max).is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_display_as_the_servers_sentence() {
        assert_eq!(
            ClientError::Refused(Refusal::WrongPassword).to_string(),
            "wrong password"
        );
    }

    #[test]
    fn a_changed_certificate_shows_both_fingerprints_and_warns() {
        let known = Fingerprint([1; 32]);
        let presented = Fingerprint([2; 32]);
        let text = ClientError::CertificateChanged {
            server: "chat.example:4433".into(),
            known,
            presented,
        }
        .to_string();
        assert!(text.contains(&known.to_string()));
        assert!(text.contains(&presented.to_string()));
        assert!(text.contains("attack"));
    }

    #[test]
    fn only_identity_problems_are_fatal() {
        assert!(ClientError::Refused(Refusal::WrongPassword).is_fatal());
        assert!(!ClientError::Refused(Refusal::Busy("full".into())).is_fatal());
        assert!(!ClientError::Closed("timed out".into()).is_fatal());
        assert!(ClientError::CertificateChanged {
            server: "s:1".into(),
            known: Fingerprint([1; 32]),
            presented: Fingerprint([2; 32])
        }
        .is_fatal());
    }

    #[test]
    fn server_text_loses_control_characters_and_length() {
        assert_eq!(sanitize("bye\u{1b}[2J\n"), "bye\u{fffd}[2J\u{fffd}");
        let long = "x".repeat(10_000);
        assert!(sanitize(&long).chars().count() <= natter_common::limits::MAX_DETAIL_CHARS + 1);
    }
}
