//! The chat commands: send one message, follow everything, page a
//! conversation's history, list who is online.

use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use natter_client::{ClientConfig, ClientError, ClientEvent, Events};
use natter_common::emoji::Emoji;
use natter_common::limits::MAX_HISTORY_PAGE;
use natter_common::{
    ChatMessage, ClientMsgId, Content, Conversation, MessageId, Recipient, UserName,
};

use crate::login::{log_out, login};
use crate::output::{event_json, event_plain, message_json, message_plain, say};

/// How long `send` waits for the server to accept the message.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

pub async fn send(
    config: ClientConfig,
    user: &UserName,
    password: &str,
    to: Option<UserName>,
    text: &str,
) -> anyhow::Result<()> {
    let content = match text
        .strip_prefix(':')
        .and_then(|t| t.strip_suffix(':'))
        .and_then(Emoji::by_key)
    {
        Some(emoji) => Content::Emoji(emoji.id),
        None => Content::Text(text.to_owned()),
    };
    let to = to.map_or(Recipient::Everyone, Recipient::User);
    let (client, mut events) = login(config, user, password).await?;
    let sent = client.send(to, content).context("cannot send")?;
    let answer = wait_accepted(&mut events, sent).await;
    log_out(client).await;
    say(&answer?.0.to_string())?;
    Ok(())
}

/// Waits (bounded by [`SEND_TIMEOUT`]) for the server to accept or refuse
/// the message sent as `sent`.
pub async fn wait_accepted(events: &mut Events, sent: ClientMsgId) -> anyhow::Result<MessageId> {
    let answer = tokio::time::timeout(SEND_TIMEOUT, async {
        while let Some(event) = events.next().await {
            match event {
                ClientEvent::Accepted { client_id, id, .. } if client_id == sent => return Ok(id),
                ClientEvent::Rejected { client_id, reason } if client_id == sent => {
                    return Err(anyhow!(ClientError::Refused(reason))
                        .context("the server refused the message"));
                }
                ClientEvent::Closed { reason } => return Err(anyhow!(reason)),
                _ => {}
            }
        }
        Err(anyhow!("the client stopped"))
    })
    .await;
    answer.unwrap_or_else(|_| {
        Err(anyhow!(
            "the server did not accept the message within {} s",
            SEND_TIMEOUT.as_secs()
        ))
    })
}

pub async fn follow(
    config: ClientConfig,
    user: &UserName,
    password: &str,
    json: bool,
) -> anyhow::Result<()> {
    let (client, mut events) = login(config, user, password).await?;
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    loop {
        tokio::select! {
            _ = &mut interrupted => {
                log_out(client).await;
                return Ok(());
            }
            event = events.next() => match event {
                Some(ClientEvent::Closed { reason }) => {
                    if json {
                        say(&event_json(&ClientEvent::Closed { reason: reason.clone() }))?;
                    }
                    return Err(anyhow!(reason).context("stopped"));
                }
                Some(event) => {
                    let line = if json { Some(event_json(&event)) } else { event_plain(&event) };
                    if let Some(line) = line {
                        say(&line)?;
                    }
                }
                None => bail!("the client stopped"),
            },
        }
    }
}

pub async fn history(
    config: ClientConfig,
    user: &UserName,
    password: &str,
    conversation: Conversation,
    limit: usize,
    json: bool,
) -> anyhow::Result<()> {
    let (client, _events) = login(config, user, password).await?;
    // Pages come newest first, each oldest first inside.
    let mut messages: Vec<ChatMessage> = Vec::new();
    let mut before: Option<MessageId> = None;
    while messages.len() < limit {
        let want = (limit - messages.len()).min(MAX_HISTORY_PAGE.into()) as u16;
        let page = client
            .history(conversation.clone(), before, want)
            .await
            .context("cannot read history")?;
        let more = page.more && !page.messages.is_empty();
        before = page.messages.first().map(|m| m.id);
        let mut older = page.messages;
        older.append(&mut messages);
        messages = older;
        if !more {
            break;
        }
    }
    log_out(client).await;
    for message in &messages {
        let line = if json {
            message_json(message)
        } else {
            message_plain(message)
        };
        say(&line)?;
    }
    Ok(())
}

/// Prints who is online, one user per line.
pub async fn who(config: ClientConfig, user: &UserName, password: &str) -> anyhow::Result<()> {
    let (client, _events) = login(config, user, password).await?;
    for name in client.online() {
        say(name.as_str())?;
    }
    log_out(client).await;
    Ok(())
}
