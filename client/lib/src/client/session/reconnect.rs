//! Between two connections: report the loss, wait out the backoff while
//! still taking commands, and try again until a login works or the
//! session ends.

use std::time::Duration;

use natter_common::Refusal;
use tokio::sync::oneshot;

use super::{Link, Outcome, Session};
use crate::client::events::ClientEvent;
use crate::client::request::Command;
use crate::error::ClientError;

/// Why [`Session::wait_offline`] returned.
enum Offline {
    Retry,
    Shutdown,
    LoggedOut(oneshot::Sender<Result<(), ClientError>>),
}

impl Session {
    /// Reconnects after a loss for `reason`, with backoff, until a login
    /// works; `None` when the session ended meanwhile.
    pub(super) async fn reconnect(&mut self, mut reason: String) -> Option<Link> {
        let mut hint = None;
        loop {
            let mut retry_in = self.backoff.next_delay(&mut rand::thread_rng());
            if let Some(at_least) = hint.take() {
                retry_in = retry_in.max(at_least);
            }
            self.emit(ClientEvent::Disconnected {
                reason: reason.clone(),
                retry_in,
            });
            match self.wait_offline(retry_in).await {
                Offline::Retry => {}
                Offline::Shutdown => {
                    self.stop(ClientError::Closed("the client was dropped".into()));
                    return None;
                }
                Offline::LoggedOut(reply) => {
                    self.stop(ClientError::Closed("logged out".into()));
                    let _ = reply.send(Ok(()));
                    return None;
                }
            }
            let shutdown = self.shutdown.clone();
            let attempt = tokio::select! {
                biased;
                () = shutdown.cancelled() => {
                    self.stop(ClientError::Closed("the client was dropped".into()));
                    return None;
                }
                attempt = self.establish(true) => attempt,
            };
            match attempt {
                Ok((link, _)) => {
                    self.backoff.reset();
                    return Some(link);
                }
                Err(e) if e.is_fatal() => {
                    self.give_up(e).await;
                    return None;
                }
                Err(e) => {
                    tracing::debug!("reconnect failed: {e}");
                    if let ClientError::Refused(Refusal::RateLimited { retry_after_ms }) = &e {
                        hint = Some(Duration::from_millis((*retry_after_ms).into()));
                    }
                    reason = e.to_string();
                }
            }
        }
    }

    /// Waits out a reconnect delay while still taking commands.
    async fn wait_offline(&mut self, delay: Duration) -> Offline {
        let sleep = tokio::time::sleep(delay);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                biased;
                () = self.shutdown.cancelled() => return Offline::Shutdown,
                command = self.commands.recv() => match command {
                    None => return Offline::Shutdown,
                    Some(Command::Send(send)) => self.pending.push_back(send),
                    Some(Command::History(mut wait)) => {
                        wait.request = self.next_request();
                        self.history.push_back(wait);
                    }
                    Some(Command::Ping(reply)) => {
                        let _ = reply.send(Err(ClientError::Closed("not connected".into())));
                    }
                    Some(Command::Reconnect) => return Offline::Retry,
                    Some(Command::Logout { everywhere: false, reply }) => {
                        return Offline::LoggedOut(reply)
                    }
                    Some(Command::Logout { everywhere: true, reply }) => {
                        let _ = reply.send(Err(ClientError::Closed(
                            "not connected: logging out everywhere needs the server".into(),
                        )));
                    }
                },
                () = &mut sleep => return Offline::Retry,
            }
        }
    }

    /// Forgets the connection: in-flight pings fail, everything else is
    /// sent again on the next one.
    pub(super) fn connection_lost(&mut self, outcome: &Outcome) {
        self.connection.send_replace(None);
        let reason = match outcome {
            Outcome::Lost(reason) => reason.clone(),
            Outcome::Shutdown | Outcome::LoggedOut(..) => "the client stopped".into(),
        };
        for (_, (_, reply)) in self.pings.drain() {
            let _ = reply.send(Err(ClientError::Closed(reason.clone())));
        }
        for send in &mut self.pending {
            send.sent = false;
        }
        for wait in &mut self.history {
            wait.sent = false;
        }
    }
}
