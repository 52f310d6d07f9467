//! Creating an account: one connection, one `Register`, no login.

use natter_common::{ClientMsg, Fingerprint, ServerMsg, UserName};

use super::config::ClientConfig;
use crate::connection::{self, AUTH_TIMEOUT};
use crate::error::{unexpected, ClientError};

/// The outcome of registering, with what the connection learnt about the
/// server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub user: UserName,
    /// Set when this connection trusted the server on first use and
    /// recorded its fingerprint: tell the user.
    pub newly_trusted: Option<Fingerprint>,
}

/// Creates an account; does not log in.
pub async fn register(
    config: &ClientConfig,
    name: &str,
    password: &str,
) -> Result<UserName, ClientError> {
    register_account(config, name, password)
        .await
        .map(|r| r.user)
}

/// [`register`], also saying whether the server was trusted on first use.
pub async fn register_account(
    config: &ClientConfig,
    name: &str,
    password: &str,
) -> Result<Registration, ClientError> {
    let mut link = connection::connect(&config.server, &config.trust, &config.software).await?;
    let newly_trusted = link.newly_trusted.then_some(link.fingerprint);
    let control = &mut link.control;
    let answer = async {
        control
            .send(&ClientMsg::Register {
                name: name.to_owned(),
                password: password.to_owned(),
            })
            .await?;
        control.receive_within(AUTH_TIMEOUT).await
    }
    .await;
    link.close("registered").await;
    match answer? {
        ServerMsg::Registered { user } => Ok(Registration {
            user,
            newly_trusted,
        }),
        ServerMsg::Refused(refusal) => Err(ClientError::Refused(refusal)),
        other => Err(unexpected("Registered", &other)),
    }
}
