//! The session on a live connection: requests from the handle go out,
//! the server's messages come in and are answered, until the connection
//! is lost or the session ends.

use std::time::{Duration, Instant};

use natter_common::protocol::close;
use natter_common::{ClientMsg, Refusal, ServerMsg};
use tokio::time::timeout;

use super::delivery::{hold_over, room_for_events};
use super::{logged_out_by_server, Link, Outcome, Session};
use crate::client::events::ClientEvent;
use crate::client::request::{Command, HistoryPage, HistoryWait};
use crate::connection::describe_close;
use crate::error::ClientError;

/// How long `logout` waits for the server to close the connection.
const LOGOUT_TIMEOUT: Duration = Duration::from_secs(3);

impl Session {
    /// The live loop on one connection: commands in, server messages in.
    pub(super) async fn serve(&mut self, link: &mut Link) -> Outcome {
        if let Err(e) = self.send_unsent(link).await {
            return Outcome::Lost(e.to_string());
        }
        loop {
            // Unbiased: neither a burst of sends nor a burst of incoming
            // messages may starve the other.
            tokio::select! {
                () = self.shutdown.cancelled() => return Outcome::Shutdown,
                command = self.commands.recv() => {
                    let Some(command) = command else { return Outcome::Shutdown };
                    if let Some(outcome) = self.command_online(command, link).await {
                        return outcome;
                    }
                }
                msg = link.control.receive() => match msg {
                    Ok(msg) => {
                        if let Err(e) = self.server_message(msg) {
                            let reason = e.to_string();
                            link.connection
                                .close(close::PROTOCOL_VIOLATION.into(), reason.as_bytes());
                            return Outcome::Lost(reason);
                        }
                    }
                    Err(e) => return Outcome::Lost(e.to_string()),
                },
                () = hold_over(self.send_after) => {
                    self.send_after = None;
                    if let Err(e) = self.send_unsent(link).await {
                        return Outcome::Lost(e.to_string());
                    }
                }
                () = room_for_events(&self.events, self.overflowed) => {
                    return Outcome::Lost("catching up after the application fell behind".into());
                }
            }
        }
    }

    /// Sends, in order, what waited for this connection: pending messages
    /// and history requests.
    async fn send_unsent(&mut self, link: &mut Link) -> Result<(), ClientError> {
        let held = self.sends_held();
        for send in self.pending.iter_mut().filter(|s| !s.sent && !held) {
            link.control.send(&send.message()).await?;
            send.sent = true;
        }
        self.history.retain(|h| !h.reply.is_closed());
        for wait in self.history.iter_mut().filter(|h| !h.sent) {
            link.control.send(&wait.message()).await?;
            wait.sent = true;
        }
        Ok(())
    }

    /// Handles a command while connected; `Some` ends the connection.
    async fn command_online(&mut self, command: Command, link: &mut Link) -> Option<Outcome> {
        let written = match command {
            Command::Send(mut send) => {
                if self.sends_held() {
                    // Goes out after the ones held back, in order.
                    self.pending.push_back(send);
                    return None;
                }
                let msg = send.message();
                send.sent = true;
                self.pending.push_back(send);
                link.control.send(&msg).await
            }
            Command::History(mut wait) => {
                wait.request = self.next_request();
                wait.sent = true;
                let msg = wait.message();
                self.history.push_back(wait);
                link.control.send(&msg).await
            }
            Command::Ping(reply) => {
                let nonce = self.next_nonce;
                self.next_nonce = self.next_nonce.wrapping_add(1);
                self.pings.insert(nonce, (Instant::now(), reply));
                link.control.send(&ClientMsg::Ping { nonce }).await
            }
            Command::Reconnect => return Some(Outcome::Lost("reconnect requested".into())),
            Command::Logout { everywhere, reply } => {
                let result = logout(link, everywhere).await;
                return Some(Outcome::LoggedOut(reply, result));
            }
        };
        written.err().map(|e| Outcome::Lost(e.to_string()))
    }

    /// Handles a server message while connected. An error is a protocol
    /// violation that ends the connection.
    fn server_message(&mut self, msg: ServerMsg) -> Result<(), ClientError> {
        match msg {
            ServerMsg::Message(message) => self.deliver(message),
            ServerMsg::Joined { user } => self.joined(user),
            ServerMsg::Left { user } => self.left(user),
            ServerMsg::Presence { came, went } => self.presence(came, went),
            ServerMsg::Online { users } => self.replace_online(users),
            ServerMsg::Accepted {
                client_id,
                id,
                sent_at,
            } => {
                self.send_backoff.reset();
                self.settle(
                    client_id,
                    ClientEvent::Accepted {
                        client_id,
                        id,
                        sent_at,
                    },
                )
            }
            ServerMsg::Rejected {
                client_id,
                reason: reason @ (Refusal::RateLimited { .. } | Refusal::Unavailable),
            } => self.hold_sends(client_id, reason),
            ServerMsg::Rejected { client_id, reason } => {
                self.settle(client_id, ClientEvent::Rejected { client_id, reason })
            }
            ServerMsg::History {
                request,
                messages,
                more,
                ..
            } => {
                let page = Ok(HistoryPage { messages, more });
                if !self.answer_history(|h| h.request == request, page) {
                    tracing::debug!(?request, "history page nobody waits for");
                }
            }
            ServerMsg::Pong { nonce } => {
                if let Some((sent, reply)) = self.pings.remove(&nonce) {
                    let _ = reply.send(Ok(sent.elapsed()));
                }
            }
            // After login, a refusal answers the request that has no other
            // answer: a history request (the server answers in order).
            ServerMsg::Refused(refusal) => {
                if !self.answer_history(|_| true, Err(ClientError::Refused(refusal.clone()))) {
                    tracing::warn!("the server refused something: {refusal}");
                }
            }
            other @ (ServerMsg::Welcome { .. }
            | ServerMsg::Registered { .. }
            | ServerMsg::LoggedIn { .. }
            | ServerMsg::CaughtUp { .. }) => {
                return Err(ClientError::Protocol(format!(
                    "unexpected {} after login",
                    other.kind()
                )));
            }
        }
        Ok(())
    }

    /// Answers the first history request on this connection that `pick`
    /// accepts; false when nobody waits for the answer.
    fn answer_history(
        &mut self,
        pick: impl Fn(&HistoryWait) -> bool,
        answer: Result<HistoryPage, ClientError>,
    ) -> bool {
        let Some(at) = self.history.iter().position(|h| h.sent && pick(h)) else {
            return false;
        };
        let wait = self.history.remove(at).expect("position is in range");
        let _ = wait.reply.send(answer);
        true
    }
}

/// Asks the server to log this login (or every login of the account) out
/// and waits, bounded, for it to close the connection as it does then.
async fn logout(link: &mut Link, everywhere: bool) -> Result<(), ClientError> {
    let msg = match everywhere {
        true => ClientMsg::LogoutEverywhere,
        false => ClientMsg::Logout,
    };
    match link.control.send(&msg).await {
        Ok(()) => match timeout(LOGOUT_TIMEOUT, link.connection.closed()).await {
            Ok(_) if logged_out_by_server(&link.connection) => Ok(()),
            // Closed for another reason (the server could not
            // forget the tokens): the tokens may still work.
            Ok(e @ quinn::ConnectionError::ApplicationClosed(_)) => {
                Err(ClientError::Closed(describe_close(&e)))
            }
            Ok(_) => Ok(()),
            Err(_) => Err(ClientError::Protocol(
                "the server did not close the connection after logout".into(),
            )),
        },
        // The connection died under the logout: the session is over either way.
        Err(e) => {
            tracing::debug!("logout not delivered: {e}");
            Ok(())
        }
    }
}
