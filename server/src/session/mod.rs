//! One task per connection: the hello, the login, then the session loop that
//! serves the control stream and passes on what the hub queues for it.
//!
//! Everything the client sends is bounded: the whole login must finish
//! within the auth timeout and in a few attempts, frames are size-checked
//! by the codec, and a protocol violation closes only this connection.
//!
//! This file runs the connection from its first stream to its close;
//! [`handshake`] is the hello and the login, [`live`] the logged-in session
//! loop, [`logout`] the logout of a login or an account, [`close`] why a
//! session ends and [`write`](mod@write) how a frame reaches the client.

mod close;
mod handshake;
mod live;
mod logout;
mod write;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use natter_common::codec::FrameReader;
use natter_common::rules::CONTROL_PRIORITY;
use quinn::VarInt;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{timeout, timeout_at, Instant};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, Instrument};

use crate::admission;
use crate::context::{Context, Shared};
use close::Close;
use handshake::{authenticate, hello};
use live::Session;

/// What a connection holds while it lives: its place in its address's
/// counts and its server-wide slot.
pub struct Seat {
    pub place: admission::Connection,
    pub slot: OwnedSemaphorePermit,
}

/// Serves one connection from its handshake until it ends or `shutdown`
/// fires.
///
/// Not an `async fn` itself, and given the `Connecting` rather than the
/// `Incoming`: an async fn keeps its arguments for its whole life, and
/// every connection's task would hold the first packet's state (~400
/// bytes, twice) while its client idles.
pub fn serve(
    ctx: Shared,
    connecting: quinn::Connecting,
    seat: Seat,
    shutdown: CancellationToken,
) -> impl Future<Output = ()> + Send {
    let remote = connecting.remote_address();
    let span = tracing::info_span!("session", %remote, user = tracing::field::Empty);
    connection(ctx, connecting, seat, shutdown, remote).instrument(span)
}

async fn connection(
    ctx: Shared,
    connecting: quinn::Connecting,
    mut seat: Seat,
    shutdown: CancellationToken,
    remote: SocketAddr,
) {
    let connection = match connecting.await {
        Ok(c) => c,
        Err(e) => {
            debug!(error = %e, "handshake failed");
            return;
        }
    };
    let outcome = run(&ctx, &connection, remote, &mut seat.place, &shutdown).await;
    let (code, reason) = (outcome.code(), outcome.reason());
    if outcome.is_lost() {
        debug!(%reason, "session ended");
    } else {
        info!(code, %reason, "closing session");
    }
    connection.close(VarInt::from_u32(code), reason.as_bytes());
}

async fn run(
    ctx: &Shared,
    connection: &quinn::Connection,
    remote: SocketAddr,
    place: &mut admission::Connection,
    shutdown: &CancellationToken,
) -> Close {
    let deadline = Instant::now() + ctx.config.auth_timeout();
    let auth_timeout = || Close::AuthTimeout(ctx.config.auth_timeout_secs);
    let (mut send, recv) = tokio::select! {
        _ = shutdown.cancelled() => return Close::Shutdown,
        r = timeout_at(deadline, connection.accept_bi()) => match r {
            Err(_) => return auth_timeout(),
            Ok(Err(e)) => return Close::Lost(e.to_string()),
            Ok(Ok(streams)) => streams,
        },
    };
    let _ = send.set_priority(CONTROL_PRIORITY);
    let mut reader = FrameReader::new(recv);

    // Boxed, as the login below: a session's task holds only what the
    // live part needs (see `Session::run`), not the largest step's state.
    match timeout_at(deadline, Box::pin(hello(&mut send, &mut reader))).await {
        Err(_) => return auth_timeout(),
        Ok(Err(close)) => return close,
        Ok(Ok(())) => {}
    }

    let (login, _seat) = tokio::select! {
        _ = shutdown.cancelled() => return Close::Shutdown,
        r = timeout_at(deadline, Box::pin(authenticate(ctx, &mut send, &mut reader, remote))) => match r {
            Err(_) => return auth_timeout(),
            Ok(Err(close)) => return close,
            Ok(Ok(login)) => login,
        },
    };
    place.authenticated();
    grant_transfers(ctx, connection);
    tracing::Span::current().record("user", login.account.name.as_str());
    info!("logged in");

    let mut session = Session::new(ctx, connection, send, login);
    let close = session.serve(reader, shutdown).await;
    info!("logged out");
    // Close first so transfers see the end of their streams, flush what
    // they received (a resume continues from it) and finish by themselves.
    connection.close(VarInt::from_u32(close.code()), close.reason().as_bytes());
    let drain = async { while session.transfers.join_next().await.is_some() {} };
    let _ = timeout(Duration::from_secs(5), drain).await;
    close
}

/// Lets a logged-in client open its transfer streams: until now only the
/// control stream was allowed (see the listener's transport settings).
fn grant_transfers(ctx: &Context, connection: &quinn::Connection) {
    connection.set_max_concurrent_bi_streams(VarInt::from_u32(1 + ctx.config.max_transfers));
}

#[cfg(test)]
mod tests {
    fn size_of_future<A, B, C, D, F: std::future::Future>(
        _: impl FnOnce(A, B, C, D) -> F,
    ) -> usize {
        std::mem::size_of::<F>()
    }

    /// Every connection's task holds this much while its client idles:
    /// the largest steps (the login, a send, a history page, a batch's
    /// write) are boxed, the frame reader keeps no scratch array, and the
    /// task does not keep the handshake's first packet. It was 19 KiB,
    /// then 4.
    #[test]
    fn an_idle_sessions_task_is_small() {
        let size = size_of_future(super::serve);
        assert!(size <= 2048, "a session's task is {size} bytes");
    }
}
