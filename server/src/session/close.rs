//! Why a session ends. Each way it can end is one [`Close`], carried from
//! where it happens to where the session is logged and the connection
//! closed; only there does it become a close code and a reason phrase
//! (docs/protocol.md §11).

use std::fmt;

use natter_common::codec::FrameError;
use natter_common::limits::MAX_DETAIL_CHARS;
use natter_common::protocol::close;
use natter_common::Refusal;

use crate::hub::{Kick, KickReason};

/// Why a session ended, and so how the client is told.
#[derive(Debug)]
pub(super) enum Close {
    /// The connection or the client went away: the detail says how. Nobody
    /// is left to tell, so it is logged quietly.
    Lost(String),
    /// The client closed its control stream.
    ClientClosed,
    /// A logout ended the session: its own, its login's or its account's.
    /// Clients recognise the exact reason phrase (docs/protocol.md §8).
    LoggedOut,
    /// A logout could not forget its tokens; the client was told to retry.
    LogoutFailed,
    /// The store failed while the session was starting.
    StoreFailed(String),
    /// The client broke the protocol: the detail says how.
    Violation(String),
    /// No login within the auth timeout, in seconds.
    AuthTimeout(u64),
    /// The server is shutting down.
    Shutdown,
    /// The account has its most sessions: the refusal was sent first.
    Full(Refusal),
    /// The session's queue overflowed: the client fell behind the room.
    FellBehind,
    /// A write to the client did not finish within the write timeout.
    NotReading,
}

impl Close {
    /// A protocol violation described by `e`.
    pub(super) fn violation(e: impl fmt::Display) -> Self {
        Self::Violation(e.to_string())
    }

    /// Maps a frame error: a broken peer is a violation, a lost connection
    /// is only lost.
    pub(super) fn from_frame(e: FrameError) -> Self {
        match e {
            FrameError::Io(e) => Self::Lost(e.to_string()),
            other => Self::violation(other),
        }
    }

    /// How a session the hub kicked ends.
    pub(super) fn kicked(kick: &Kick) -> Self {
        match kick.reason() {
            KickReason::TooSlow => Self::FellBehind,
            KickReason::LoggedOut => Self::LoggedOut,
        }
    }

    /// The application close code the client gets.
    pub(super) fn code(&self) -> u32 {
        match self {
            Self::Lost(_)
            | Self::ClientClosed
            | Self::LoggedOut
            | Self::LogoutFailed
            | Self::StoreFailed(_) => close::NORMAL,
            Self::Violation(_) => close::PROTOCOL_VIOLATION,
            Self::AuthTimeout(_) => close::AUTH_TIMEOUT,
            Self::Shutdown => close::SHUTDOWN,
            Self::Full(_) => close::SERVER_FULL,
            Self::FellBehind | Self::NotReading => close::TOO_SLOW,
        }
    }

    /// The reason phrase the client gets: at most [`MAX_DETAIL_CHARS`].
    pub(super) fn reason(&self) -> String {
        self.to_string().chars().take(MAX_DETAIL_CHARS).collect()
    }

    /// Whether the peer simply went away: routine, not worth an info line.
    pub(super) fn is_lost(&self) -> bool {
        matches!(self, Self::Lost(_))
    }
}

impl fmt::Display for Close {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Lost(how) => write!(f, "connection lost: {how}"),
            Self::ClientClosed => f.write_str("client closed the control stream"),
            Self::LoggedOut => f.write_str("logged out"),
            Self::LogoutFailed => f.write_str("logout failed: try again"),
            Self::StoreFailed(e) => write!(f, "store failed: {e}"),
            Self::Violation(what) => f.write_str(what),
            Self::AuthTimeout(secs) => write!(f, "not logged in within {secs} s"),
            Self::Shutdown => f.write_str("server shutting down"),
            Self::Full(refusal) => write!(f, "{refusal}"),
            Self::FellBehind => f.write_str("too slow: reconnect to catch up"),
            Self::NotReading => f.write_str("too slow: not reading"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_logout_closes_normally_with_the_phrase_clients_recognise() {
        assert_eq!(Close::LoggedOut.code(), close::NORMAL);
        assert_eq!(Close::LoggedOut.reason(), "logged out");
    }

    #[test]
    fn only_a_lost_connection_is_lost() {
        let lost = Close::from_frame(FrameError::Io(std::io::ErrorKind::BrokenPipe.into()));
        assert!(lost.is_lost());
        assert_eq!(lost.code(), close::NORMAL);
        assert!(lost.reason().starts_with("connection lost: "));
        assert!(!Close::ClientClosed.is_lost());
        assert!(!Close::violation("bad frame").is_lost());
    }

    #[test]
    fn a_long_reason_is_cut_to_the_detail_limit() {
        let close = Close::violation("x".repeat(MAX_DETAIL_CHARS + 10));
        assert_eq!(close.reason().chars().count(), MAX_DETAIL_CHARS);
        assert_eq!(close.code(), close::PROTOCOL_VIOLATION);
    }
}
