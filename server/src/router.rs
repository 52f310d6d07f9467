//! What happens to a message a user sends: checked, then stored durably
//! and fanned out by the [`committer`](crate::commit), which keeps every
//! session's view in id order.
//!
//! Every `Send` first takes a token from its account's [`SendRate`]
//! bucket; its content is checked by [`check_content`], the rule the
//! client library applies before sending. A final refusal is remembered
//! (see [`Messages::remember_rejection`]) so a resend of that `client_id`
//! gets it again; a retryable one
//! (`RateLimited`, `Unavailable`) holds the session's later sends back
//! until it is resent (see [`SendOrder`]).
//!
//! [`SendRate`]: crate::send_rate::SendRate
//! [`Messages::remember_rejection`]: crate::store::Messages::remember_rejection

use std::time::{Duration, Instant};

use natter_common::rules::check_content;
use natter_common::{ClientMsgId, Content, MediaRef, Recipient, Refusal, Timestamp};

use crate::context::Context;
use crate::store::{Account, Appended, NewMessage};

/// Keeps one session's messages in the order it sent them. After a
/// retryable refusal, every other `Send` of the session is refused the
/// same way until that `client_id` comes again: a client that resends in
/// order never sees a later message stored before an earlier one.
#[derive(Debug, Default)]
pub struct SendOrder {
    held: Option<Held>,
}

#[derive(Debug)]
struct Held {
    client_id: ClientMsgId,
    /// `None` for `Unavailable`; the retry time for `RateLimited`.
    until: Option<Instant>,
}

impl SendOrder {
    /// The refusal for a send that must wait for the held one, if any.
    fn waiting(&self, client_id: ClientMsgId, now: Instant) -> Option<Refusal> {
        let held = self.held.as_ref().filter(|h| h.client_id != client_id)?;
        Some(match held.until {
            Some(until) => rate_limited(until.saturating_duration_since(now)),
            None => Refusal::Unavailable,
        })
    }

    fn settle(&mut self, client_id: ClientMsgId, outcome: &Result<Appended, Refusal>) {
        let until = match outcome {
            Err(Refusal::RateLimited { retry_after_ms }) => {
                Some(Instant::now() + Duration::from_millis(u64::from(*retry_after_ms)))
            }
            Err(Refusal::Unavailable) => None,
            _ => {
                if self.held.as_ref().is_some_and(|h| h.client_id == client_id) {
                    self.held = None;
                }
                return;
            }
        };
        self.held = Some(Held { client_id, until });
    }
}

fn rate_limited(wait: Duration) -> Refusal {
    let ms = wait.as_millis().clamp(1, u128::from(u32::MAX));
    Refusal::RateLimited {
        retry_after_ms: ms as u32,
    }
}

/// Whether a refusal of a `Send` is its final answer, remembered for
/// resends. Not: waiting for a turn, a transient store failure, or a
/// server bug.
fn is_final(refusal: &Refusal) -> bool {
    !matches!(
        refusal,
        Refusal::RateLimited { .. } | Refusal::Unavailable | Refusal::Internal | Refusal::Busy(_)
    )
}

/// Validates, stores and routes one message from `from`. The sender is the
/// session's account: nothing the client sends can change it.
pub async fn send(
    ctx: &Context,
    from: &Account,
    order: &mut SendOrder,
    client_id: ClientMsgId,
    to: Recipient,
    content: Content,
) -> Result<Appended, Refusal> {
    let now = Instant::now();
    if let Some(refusal) = order.waiting(client_id, now) {
        return Err(refusal);
    }
    let outcome = match ctx.send_rate.take(from.id, now) {
        Err(wait) => Err(rate_limited(wait)),
        Ok(()) => send_in_turn(ctx, from, client_id, to, content).await,
    };
    order.settle(client_id, &outcome);
    outcome
}

/// [`send`] once the message has its turn and its token.
async fn send_in_turn(
    ctx: &Context,
    from: &Account,
    client_id: ClientMsgId,
    to: Recipient,
    content: Content,
) -> Result<Appended, Refusal> {
    let sender = from.id;
    let remembered = ctx
        .store
        .call(move |s| s.rejection(sender, client_id))
        .await
        .map_err(internal)?;
    if let Some(refusal) = remembered {
        return Err(refusal);
    }
    let outcome = check_and_store(ctx, from, client_id, to, content).await;
    if let Err(refusal) = &outcome {
        if is_final(refusal) {
            let refusal = refusal.clone();
            let remembered = ctx
                .store
                .call(move |s| s.remember_rejection(sender, client_id, &refusal))
                .await;
            if let Err(e) = remembered {
                tracing::warn!(error = %e, "could not remember a rejection");
            }
        }
    }
    outcome
}

async fn check_and_store(
    ctx: &Context,
    from: &Account,
    client_id: ClientMsgId,
    to: Recipient,
    content: Content,
) -> Result<Appended, Refusal> {
    check_content(&content, ctx.config.max_text_chars)?;
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
    ctx.committer.append(new).await.map_err(internal)
}

/// A message may reference a blob only once it is completely uploaded, with
/// its true size, and only if the sender uploaded it or can already see it
/// (so forwarding works but guessing hashes does not). To a sender who may
/// not see the blob, "missing", "not yours" and "wrong size" are one
/// answer, so a refusal never tells that a blob exists.
async fn check_media(ctx: &Context, from: &Account, media: &MediaRef) -> Result<(), Refusal> {
    let size = crate::media::visible_size(ctx, from, media.hash)
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

/// A store failure as a refusal: a transient one (busy, full) may be
/// retried, anything else is the server's fault.
fn internal(e: crate::store::StoreError) -> Refusal {
    if e.is_transient() {
        tracing::warn!(error = %e, "store unavailable");
        Refusal::Unavailable
    } else {
        tracing::error!(error = %e, "store failed");
        Refusal::Internal
    }
}
