//! Getting a session for one command: the password (from the environment
//! or the terminal), the login, telling the user about a newly trusted
//! server, and logging out again at the end.

use anyhow::{anyhow, Context};
use natter_client::connection::ServerAddress;
use natter_client::{register_account, Client, ClientConfig, ClientError, Events};
use natter_common::{Fingerprint, UserName};

use crate::output::say;

/// The password from NATTER_PASSWORD, or asked on the terminal.
pub fn password(user: &UserName) -> anyhow::Result<String> {
    if let Ok(password) = std::env::var("NATTER_PASSWORD") {
        return Ok(password);
    }
    rpassword::prompt_password(format!("Password for {user}: "))
        .context("cannot read the password (set NATTER_PASSWORD when there is no terminal)")
}

/// A new password: from NATTER_PASSWORD, or typed twice.
pub fn new_password(user: &UserName) -> anyhow::Result<String> {
    if let Ok(password) = std::env::var("NATTER_PASSWORD") {
        return Ok(password);
    }
    let read = |prompt: String| {
        rpassword::prompt_password(prompt)
            .context("cannot read the password (set NATTER_PASSWORD when there is no terminal)")
    };
    let first = read(format!("New password for {user}: "))?;
    let second = read("Repeat the password: ".to_owned())?;
    if first != second {
        return Err(ClientError::PasswordMismatch.into());
    }
    Ok(first)
}

/// Creates the account `user`; prints its name as the server stores it.
pub async fn register(
    config: &ClientConfig,
    user: &UserName,
    password: &str,
) -> anyhow::Result<()> {
    let registration = register_account(config, user.as_str(), password)
        .await
        .map_err(|e| with_trust_hint(config, e))
        .with_context(|| format!("cannot register {user} on {}", config.server))?;
    announce_trust(config, registration.newly_trusted);
    say(&format!("registered {}", registration.user))?;
    Ok(())
}

pub async fn login(
    config: ClientConfig,
    user: &UserName,
    password: &str,
) -> anyhow::Result<(Client, Events)> {
    let server = config.server.clone();
    let shown = config.clone();
    let (client, events) = Client::login(config, user.as_str(), password)
        .await
        .map_err(|e| with_trust_hint(&shown, e))
        .with_context(|| format!("cannot log in to {server} as {user}"))?;
    announce_trust(&shown, client.newly_trusted());
    Ok((client, events))
}

/// Logs out at the end of a one-shot command, so the server does not keep
/// the session's token. Its failure does not undo what the command did.
pub async fn log_out(client: Client) {
    if let Err(e) = client.logout().await {
        tracing::debug!("logout: {e}");
    }
}

/// Ends every session of the account.
pub async fn logout_everywhere(
    config: ClientConfig,
    user: &UserName,
    password: &str,
) -> anyhow::Result<()> {
    let (client, _events) = login(config, user, password).await?;
    client
        .logout_everywhere()
        .await
        .context("cannot log out everywhere")?;
    say(&format!("logged {user} out everywhere"))?;
    Ok(())
}

/// Names the known-servers file in a changed-certificate error, since the
/// fix is to edit it.
fn with_trust_hint(config: &ClientConfig, e: ClientError) -> anyhow::Error {
    match e {
        ClientError::CertificateChanged { .. } => {
            anyhow!("{e} ({})", config.trust.known_servers.display())
        }
        other => other.into(),
    }
}

/// Tells the user, like ssh, that a server was trusted on first use.
fn announce_trust(config: &ClientConfig, newly_trusted: Option<Fingerprint>) {
    if let Some(fingerprint) = newly_trusted {
        let server = ServerAddress::parse(&config.server)
            .map_or_else(|_| config.server.clone(), |a| a.key());
        eprintln!(
            "Permanently added '{server}' ({fingerprint}) to the list of known servers ({}).",
            config.trust.known_servers.display()
        );
    }
}
