//! The file commands: upload and post a picture or file, fetch one by
//! hash, each with a progress bar on a terminal.

use std::future::Future;
use std::path::Path;

use anyhow::Context;
use natter_client::{ClientConfig, ClientError, ClientEvent, Events};
use natter_common::{BlobHash, Content, Recipient, UserName};

use crate::chat::wait_accepted;
use crate::login::{log_out, login};
use crate::output::say;

/// Drives a transfer future while drawing its progress on stderr (hidden
/// when stderr is not a terminal).
async fn with_progress<T>(
    events: &mut Events,
    label: &str,
    transfer: impl Future<Output = Result<T, ClientError>>,
) -> Result<T, ClientError> {
    let bar =
        indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_message(label.to_owned());
    tokio::pin!(transfer);
    let result = loop {
        tokio::select! {
            result = &mut transfer => break result,
            Some(event) = events.next() => {
                if let ClientEvent::Progress(p) = event {
                    bar.set_length(p.total);
                    bar.set_position(p.done);
                }
            }
        }
    };
    bar.finish_and_clear();
    result
}

pub async fn send_file(
    config: ClientConfig,
    user: &UserName,
    password: &str,
    to: Option<UserName>,
    as_file: bool,
    path: &Path,
) -> anyhow::Result<()> {
    anyhow::ensure!(path.is_file(), "{} is not a readable file", path.display());
    let (client, mut events) = login(config, user, password).await?;
    let to = to.map_or(Recipient::Everyone, Recipient::User);
    let (id, cancel) = client.new_transfer();
    let label = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let shared = with_progress(
        &mut events,
        &label,
        client.share_now(to, path, as_file, id, &cancel),
    )
    .await
    .with_context(|| format!("cannot send {}", path.display()));
    let shared = match shared {
        Ok(shared) => shared,
        Err(e) => {
            log_out(client).await;
            return Err(e);
        }
    };
    let answer = wait_accepted(&mut events, shared.message).await;
    log_out(client).await;
    let id = answer?;
    let media = shared
        .content
        .media()
        .expect("a shared file references media");
    let kind = if matches!(shared.content, Content::Image { .. }) {
        "picture"
    } else {
        "file"
    };
    say(&format!(
        "{} {} {} {} bytes",
        id.0, kind, media.hash, media.size
    ))?;
    if shared.stats.sent < media.size {
        eprintln!(
            "sent {} of {} bytes (the server had the rest)",
            shared.stats.sent, media.size
        );
    }
    Ok(())
}

pub async fn fetch(
    config: ClientConfig,
    user: &UserName,
    password: &str,
    hash: BlobHash,
    out: &Path,
) -> anyhow::Result<()> {
    let (client, mut events) = login(config, user, password).await?;
    let (id, cancel) = client.new_transfer();
    let label = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let result = with_progress(&mut events, &label, client.fetch_to(hash, out, id, &cancel)).await;
    log_out(client).await;
    let path = result.with_context(|| format!("cannot fetch {hash}"))?;
    say(&path.display().to_string())?;
    Ok(())
}
