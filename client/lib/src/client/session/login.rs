//! Getting a session onto a fresh connection: connect, authenticate
//! (the session token first, then the password), and read the catch-up
//! replay.

use natter_common::protocol::close;
use natter_common::{ClientMsg, ServerMsg};

use super::{Link, Session};
use crate::client::events::ClientEvent;
use crate::client::view::lock;
use crate::connection::{self, AUTH_TIMEOUT};
use crate::error::{unexpected, ClientError};

impl Session {
    /// Connects, authenticates (token first, then password) and reads the
    /// catch-up replay. Returns the live link and whether the server was
    /// newly trusted.
    pub(super) async fn establish(&mut self, resumed: bool) -> Result<(Link, bool), ClientError> {
        let (mut link, newly_trusted) = self.open().await?;
        let mut result = match self.token.clone() {
            Some(token) => {
                let resume = ClientMsg::Resume {
                    token,
                    since: self.last_seen,
                };
                match self.authenticate(&mut link, resume).await {
                    // The server allows another attempt on the same connection.
                    Err(e) if connection::is_stale_session(&e) => {
                        tracing::info!(
                            "the server forgot the session; logging in with the password"
                        );
                        self.token = None;
                        self.authenticate(&mut link, self.login_message()).await
                    }
                    other => other,
                }
            }
            None => self.authenticate(&mut link, self.login_message()).await,
        };
        if result.is_ok() {
            result = self.catch_up(&mut link, resumed).await;
        }
        match result {
            Ok(()) => {
                self.connection.send_replace(Some(link.connection.clone()));
                Ok((link, newly_trusted))
            }
            Err(e) => {
                let code = match e {
                    ClientError::Protocol(_) => close::PROTOCOL_VIOLATION,
                    _ => close::NORMAL,
                };
                link.abandon(code, e.to_string());
                Err(e)
            }
        }
    }

    /// Connects and greets; also says whether the server was newly trusted.
    async fn open(&mut self) -> Result<(Link, bool), ClientError> {
        let config = &self.config;
        let link = connection::connect_remembering(
            &config.server,
            &config.trust,
            self.fingerprint,
            &config.software,
            config.congestion,
        )
        .await?;
        self.fingerprint = Some(link.fingerprint);
        let newly_trusted = link.newly_trusted;
        let (connection, control, endpoint) = link.into_parts();
        let link = Link {
            connection,
            control,
            endpoint,
        };
        Ok((link, newly_trusted))
    }

    fn login_message(&self) -> ClientMsg {
        ClientMsg::Login {
            name: self.name.clone(),
            password: self.password.clone(),
            since: self.last_seen,
        }
    }

    async fn authenticate(
        &mut self,
        link: &mut Link,
        request: ClientMsg,
    ) -> Result<(), ClientError> {
        link.control.send(&request).await?;
        match link.control.receive_within(AUTH_TIMEOUT).await? {
            ServerMsg::LoggedIn {
                user,
                token,
                limits,
            } => {
                self.token = Some(token);
                self.me.get_or_insert(user);
                lock(&self.view).limits = limits;
                Ok(())
            }
            ServerMsg::Refused(refusal) => Err(ClientError::Refused(refusal)),
            other => Err(unexpected("LoggedIn", &other)),
        }
    }

    /// Reads `Online`, the replayed messages and `CaughtUp`, delivering them.
    async fn catch_up(&mut self, link: &mut Link, resumed: bool) -> Result<(), ClientError> {
        self.overflowed = false;
        self.emit(ClientEvent::Connected { resumed });
        loop {
            match link.control.receive_within(AUTH_TIMEOUT).await? {
                ServerMsg::Online { users } => self.replace_online(users),
                ServerMsg::Message(message) => self.deliver(message),
                ServerMsg::Joined { user } => self.joined(user),
                ServerMsg::Left { user } => self.left(user),
                ServerMsg::Presence { came, went } => self.presence(came, went),
                ServerMsg::CaughtUp { truncated, .. } => {
                    self.emit(ClientEvent::CaughtUp { truncated });
                    return Ok(());
                }
                ServerMsg::Refused(refusal) => return Err(ClientError::Refused(refusal)),
                other => return Err(unexpected("the catch-up replay", &other)),
            }
        }
    }
}
