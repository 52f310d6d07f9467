//! One task per connection: the hello, the login, then the session loop that
//! serves the control stream and passes on what the hub queues for it.
//!
//! Everything the client sends is bounded: the whole login must finish
//! within the auth timeout and in a few attempts, frames are size-checked
//! by the codec, and a protocol violation closes only this connection.
//!
//! This file runs the connection and says how it closes; [`handshake`] is
//! the hello and the login, [`live`] the logged-in session loop, [`logout`]
//! the logout of a login or an account.

mod handshake;
mod live;
mod logout;

use std::net::SocketAddr;
use std::time::Duration;

use natter_common::codec::{self, FrameError, FrameReader};
use natter_common::limits::MAX_DETAIL_CHARS;
use natter_common::protocol::close;
use natter_common::rules::CONTROL_PRIORITY;
use natter_common::ServerMsg;
use quinn::{SendStream, VarInt};
use tokio::time::{timeout, timeout_at, Instant};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, Instrument};

use crate::admission;
use crate::context::{Context, Shared};
use crate::hub::{Kick, KickReason};
use crate::router;
use handshake::{authenticate, hello};
use live::Session;
use logout::logged_out;

/// How long the server waits for a client to read what it was sent before
/// counting it as too slow.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a session ended, and how to tell the client.
struct Close {
    code: u32,
    reason: String,
}

impl Close {
    fn new(code: u32, reason: impl Into<String>) -> Self {
        let mut reason: String = reason.into();
        if reason.chars().count() > MAX_DETAIL_CHARS {
            reason = reason.chars().take(MAX_DETAIL_CHARS).collect();
        }
        Self { code, reason }
    }

    fn violation(e: impl std::fmt::Display) -> Self {
        Self::new(close::PROTOCOL_VIOLATION, e.to_string())
    }

    /// Maps a frame error: a broken peer is a violation, a lost connection
    /// needs no close at all (code NORMAL with an empty reason).
    fn from_frame(e: FrameError) -> Self {
        match e {
            FrameError::Io(e) => Self::new(close::NORMAL, format!("connection lost: {e}")),
            other => Self::violation(other),
        }
    }
}

/// Serves one incoming connection until it ends or `shutdown` fires.
/// `place` is the connection's place in its address's counts, held until
/// the connection ends.
pub async fn serve(
    ctx: Shared,
    incoming: quinn::Incoming,
    mut place: admission::Connection,
    shutdown: CancellationToken,
) {
    let remote = incoming.remote_address();
    let span = tracing::info_span!("session", %remote, user = tracing::field::Empty);
    async move {
        let connection = match incoming.await {
            Ok(c) => c,
            Err(e) => {
                debug!(error = %e, "handshake failed");
                return;
            }
        };
        let outcome = run(&ctx, &connection, remote, &mut place, &shutdown).await;
        if outcome.code == close::NORMAL && outcome.reason.starts_with("connection lost") {
            debug!(reason = %outcome.reason, "session ended");
        } else {
            info!(code = outcome.code, reason = %outcome.reason, "closing session");
        }
        connection.close(VarInt::from_u32(outcome.code), outcome.reason.as_bytes());
    }
    .instrument(span)
    .await
}

async fn run(
    ctx: &Shared,
    connection: &quinn::Connection,
    remote: SocketAddr,
    place: &mut admission::Connection,
    shutdown: &CancellationToken,
) -> Close {
    let deadline = Instant::now() + ctx.config.auth_timeout();
    let auth_timeout = || {
        Close::new(
            close::AUTH_TIMEOUT,
            format!("not logged in within {} s", ctx.config.auth_timeout_secs),
        )
    };
    let (mut send, recv) = tokio::select! {
        _ = shutdown.cancelled() => return Close::new(close::SHUTDOWN, "server shutting down"),
        r = timeout_at(deadline, connection.accept_bi()) => match r {
            Err(_) => return auth_timeout(),
            Ok(Err(e)) => return Close::new(close::NORMAL, format!("connection lost: {e}")),
            Ok(Ok(streams)) => streams,
        },
    };
    let _ = send.set_priority(CONTROL_PRIORITY);
    let mut reader = FrameReader::new(recv);

    match timeout_at(deadline, hello(&mut send, &mut reader)).await {
        Err(_) => return auth_timeout(),
        Ok(Err(close)) => return close,
        Ok(Ok(())) => {}
    }

    let (login, _seat) = tokio::select! {
        _ = shutdown.cancelled() => return Close::new(close::SHUTDOWN, "server shutting down"),
        r = timeout_at(deadline, authenticate(ctx, &mut send, &mut reader, remote)) => match r {
            Err(_) => return auth_timeout(),
            Ok(Err(close)) => return close,
            Ok(Ok(login)) => login,
        },
    };
    place.authenticated();
    grant_transfers(ctx, connection);
    tracing::Span::current().record("user", login.account.name.as_str());
    info!("logged in");

    let mut session = Session {
        ctx,
        connection,
        send,
        login,
        last_replayed: None,
        transfers: tokio::task::JoinSet::new(),
        kicked: Kick::default(),
        order: router::SendOrder::default(),
    };
    let close = session.serve(reader, shutdown).await;
    info!("logged out");
    // Close first so transfers see the end of their streams, flush what
    // they received (a resume continues from it) and finish by themselves.
    connection.close(VarInt::from_u32(close.code), close.reason.as_bytes());
    let drain = async { while session.transfers.join_next().await.is_some() {} };
    let _ = timeout(Duration::from_secs(5), drain).await;
    close
}

/// How a session the hub kicked closes.
fn kicked(kick: &Kick) -> Close {
    match kick.reason() {
        KickReason::TooSlow => too_slow(),
        KickReason::LoggedOut => logged_out(),
    }
}

fn too_slow() -> Close {
    Close::new(close::TOO_SLOW, "too slow: reconnect to catch up")
}

/// Lets a logged-in client open its transfer streams: until now only the
/// control stream was allowed (see the listener's transport settings).
fn grant_transfers(ctx: &Context, connection: &quinn::Connection) {
    connection.set_max_concurrent_bi_streams(VarInt::from_u32(1 + ctx.config.max_transfers));
}

/// Writes one frame; a client that does not read for [`WRITE_TIMEOUT`] is
/// too slow. A frame the server cannot encode (too large) is its own bug,
/// not the client's: it is logged and skipped, and the session goes on.
async fn write(send: &mut SendStream, msg: &ServerMsg) -> Result<(), Close> {
    match timeout(WRITE_TIMEOUT, codec::write_frame(send, msg)).await {
        Err(_) => Err(Close::new(close::TOO_SLOW, "too slow: not reading")),
        Ok(Err(e @ (FrameError::Encode(_) | FrameError::TooLarge { .. }))) => {
            tracing::error!(error = %e, frame = msg.kind(), "outgoing frame skipped");
            Ok(())
        }
        Ok(Err(e)) => Err(Close::from_frame(e)),
        Ok(Ok(())) => Ok(()),
    }
}
