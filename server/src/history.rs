//! History pages on request: the store's page for a conversation, trimmed
//! so that its frame always fits the frame limit.
//!
//! A page is cut at its old end: the client pages older with `before` =
//! the first id it got, so nothing is lost by sending fewer messages.

use natter_common::codec;
use natter_common::limits::{MAX_FRAME_BYTES, MAX_HISTORY_PAGE};
use natter_common::{ChatMessage, Conversation, MessageId, Refusal, RequestId, ServerMsg};

use crate::context::Context;
use crate::store::Account;

/// Answers one `History` request. `limit` 0 is an empty page whose `more`
/// says whether older messages exist; above [`MAX_HISTORY_PAGE`] it is
/// clamped.
pub async fn answer(
    ctx: &Context,
    viewer: &Account,
    request: RequestId,
    conversation: Conversation,
    before: Option<MessageId>,
    limit: u16,
) -> ServerMsg {
    let (viewer, wanted) = (viewer.clone(), conversation.clone());
    let limit = limit.min(MAX_HISTORY_PAGE);
    match ctx
        .store
        .call(move |s| s.history(&viewer, &wanted, before, limit))
        .await
    {
        Ok(page) => fit(request, conversation, page.messages, page.more),
        Err(e) => {
            tracing::error!(error = %e, "history query failed");
            ServerMsg::Refused(if e.is_transient() {
                Refusal::Unavailable
            } else {
                Refusal::Internal
            })
        }
    }
}

/// Builds the `History` frame, dropping the oldest messages of the page
/// (and setting `more`) until it encodes within [`MAX_FRAME_BYTES`].
pub fn fit(
    request: RequestId,
    conversation: Conversation,
    mut messages: Vec<ChatMessage>,
    mut more: bool,
) -> ServerMsg {
    let empty = ServerMsg::History {
        request,
        conversation: conversation.clone(),
        messages: Vec::new(),
        more: true,
    };
    // The empty page holds a 1-byte count; a page of up to 2^14 messages
    // needs at most 2 bytes for it.
    let fixed = encoded_len(&empty) + 1;
    let sizes: Vec<usize> = messages.iter().map(encoded_len).collect();
    let mut total = fixed + sizes.iter().sum::<usize>();
    let mut drop = 0;
    while total > MAX_FRAME_BYTES as usize && drop < sizes.len() {
        total -= sizes[drop];
        drop += 1;
    }
    if drop > 0 {
        tracing::debug!(dropped = drop, "history page trimmed to fit a frame");
        messages.drain(..drop);
        more = true;
    }
    ServerMsg::History {
        request,
        conversation,
        messages,
        more,
    }
}

fn encoded_len<T: serde::Serialize>(value: &T) -> usize {
    // Encoding a message that was decoded from the store cannot fail; if
    // it did, counting it as too large drops it rather than the session.
    codec::to_bytes(value).map_or(usize::MAX / 2, |b| b.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use natter_common::{Content, Recipient, Timestamp, UserName};

    fn message(id: u64, chars: usize) -> ChatMessage {
        ChatMessage {
            id: MessageId(id),
            from: UserName::parse("alice").unwrap(),
            to: Recipient::Everyone,
            sent_at: Timestamp(1),
            content: Content::Text("😀".repeat(chars)),
        }
    }

    fn frame_len(msg: &ServerMsg) -> usize {
        codec::encode_frame(msg).expect("fits a frame").len()
    }

    #[test]
    fn a_page_too_large_for_a_frame_loses_its_oldest_messages() {
        let page: Vec<_> = (1..=100).map(|id| message(id, 4000)).collect();
        let msg = fit(RequestId(1), Conversation::Group, page, false);
        let ServerMsg::History { messages, more, .. } = &msg else {
            panic!("a history page");
        };
        assert!(*more);
        assert!(
            messages.len() < 100 && messages.len() > 50,
            "{}",
            messages.len()
        );
        assert_eq!(messages.last().unwrap().id, MessageId(100), "newest kept");
        assert!(frame_len(&msg) <= MAX_FRAME_BYTES as usize + 4);
    }

    #[test]
    fn a_page_that_fits_is_unchanged() {
        let page: Vec<_> = (1..=3).map(|id| message(id, 10)).collect();
        let msg = fit(RequestId(1), Conversation::Group, page.clone(), false);
        assert_eq!(
            msg,
            ServerMsg::History {
                request: RequestId(1),
                conversation: Conversation::Group,
                messages: page,
                more: false
            }
        );
    }
}
