//! What happens to a message a user sends: checked, stored durably, then
//! fanned out. Storing and publishing happen under one lock, so every
//! session sees messages in id order and "the highest id seen" is a
//! complete cursor for catching up.

use natter_common::{ClientMsgId, Content, MediaRef, Recipient, Refusal, Timestamp};

use crate::session::Context;
use crate::store::{Account, Appended, NewMessage};

/// Validates, stores and routes one message from `from`. The sender is the
/// session's account: nothing the client sends can change it.
pub async fn send(
    ctx: &Context,
    from: &Account,
    client_id: ClientMsgId,
    to: Recipient,
    content: Content,
) -> Result<Appended, Refusal> {
    check_content(ctx, &content)?;
    if let Some(media) = content.media() {
        check_media(ctx, from, media).await?;
    }
    let to = match to {
        Recipient::Everyone => None,
        Recipient::User(name) => {
            let key = name.as_str().to_owned();
            let found = ctx
                .store
                .call(move |s| s.account(&key))
                .await
                .map_err(internal)?;
            Some(found.ok_or_else(|| Refusal::UnknownRecipient(name.to_string()))?)
        }
    };
    let new = NewMessage {
        from: from.clone(),
        to,
        client_id,
        sent_at: Timestamp::now(),
        content,
    };
    let _order = ctx.sequencer.lock().await;
    let appended = ctx
        .store
        .call(move |s| s.append(new))
        .await
        .map_err(internal)?;
    if appended.fresh {
        ctx.hub.publish(appended.message.clone());
    }
    Ok(appended)
}

/// A message may reference a blob only once it is completely uploaded, with
/// its true size, and only if the sender uploaded it or can already see it
/// (so forwarding works but guessing hashes does not). To a sender who may
/// not see the blob, "missing", "not yours" and "wrong size" are one
/// answer, so a refusal never tells that a blob exists.
async fn check_media(ctx: &Context, from: &Account, media: &MediaRef) -> Result<(), Refusal> {
    let (hash, viewer) = (media.hash, from.clone());
    let size = ctx
        .store
        .call(move |s| match s.may_fetch(&viewer, hash)? {
            true => s.blob_size(hash),
            false => Ok(None),
        })
        .await
        .map_err(internal)?;
    match size {
        None => Err(Refusal::NoSuchBlob),
        Some(size) if size != media.size => Err(Refusal::InvalidMedia(format!(
            "the blob has {size} bytes, not {}",
            media.size
        ))),
        Some(_) => Ok(()),
    }
}

fn internal(e: crate::store::StoreError) -> Refusal {
    tracing::error!(error = %e, "store failed");
    Refusal::Internal
}

fn check_content(ctx: &Context, content: &Content) -> Result<(), Refusal> {
    match content {
        Content::Text(text) => {
            if text.trim().is_empty() {
                return Err(Refusal::EmptyText);
            }
            let max = ctx
                .config
                .max_text_chars
                .min(natter_common::limits::MAX_TEXT_CHARS as u32);
            if text.chars().count() > max as usize {
                return Err(Refusal::TextTooLong { max_chars: max });
            }
            Ok(())
        }
        Content::Emoji(id) => match id.emoji() {
            Some(_) => Ok(()),
            None => Err(Refusal::UnknownEmoji(id.0)),
        },
        Content::Image { media, .. } | Content::File(media) => {
            let name_ok = !media.name.is_empty()
                && media.name.chars().count() <= natter_common::limits::MAX_MEDIA_NAME_CHARS
                && !media.name.chars().any(char::is_control);
            if !name_ok {
                return Err(Refusal::InvalidMedia("bad file name".into()));
            }
            Ok(())
        }
    }
}
