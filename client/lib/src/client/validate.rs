//! The content check a send passes before it is queued: what the server
//! would refuse anyway is refused here, with the same reasons.

use natter_common::limits::{MAX_MEDIA_NAME_CHARS, MAX_TEXT_CHARS};
use natter_common::{Content, Limits, Refusal};

use crate::error::ClientError;

/// Refuses locally what the server would refuse: blank or too long text,
/// unknown emoji, bad file names. (Sizes are the transfer's business.)
pub(super) fn validate(content: &Content, limits: &Limits) -> Result<(), ClientError> {
    let invalid = |r: Refusal| Err(ClientError::InvalidInput(r.to_string()));
    match content {
        Content::Text(text) => {
            let max = (limits.max_text_chars as usize).min(MAX_TEXT_CHARS);
            if text.trim().is_empty() {
                return invalid(Refusal::EmptyText);
            }
            if text.chars().count() > max {
                return invalid(Refusal::TextTooLong {
                    max_chars: max as u32,
                });
            }
        }
        Content::Emoji(id) => {
            if id.emoji().is_none() {
                return invalid(Refusal::UnknownEmoji(id.0));
            }
        }
        Content::Image { media, .. } | Content::File(media) => {
            let name = &media.name;
            if name.is_empty()
                || name.chars().count() > MAX_MEDIA_NAME_CHARS
                || name.chars().any(char::is_control)
            {
                return invalid(Refusal::InvalidMedia(format!(
                    "a file name has 1 to {MAX_MEDIA_NAME_CHARS} printable characters"
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_text_chars: 10,
            max_upload_bytes: 100,
            quota_bytes: 1000,
            used_bytes: 0,
        }
    }

    #[test]
    fn sends_are_checked_against_the_servers_limits() {
        use natter_common::{BlobHash, EmojiId, MediaRef};
        assert!(validate(&Content::Text("hi".into()), &limits()).is_ok());
        assert!(validate(&Content::Text("界".repeat(10)), &limits()).is_ok());
        assert!(matches!(
            validate(&Content::Text("x".repeat(11)), &limits()),
            Err(ClientError::InvalidInput(_))
        ));
        assert!(validate(&Content::Text(String::new()), &limits()).is_err());
        assert!(validate(&Content::Text(" \n".into()), &limits()).is_err());
        assert!(validate(&Content::Emoji(EmojiId(0)), &limits()).is_ok());
        assert!(validate(&Content::Emoji(EmojiId(999)), &limits()).is_err());
        let media = |name: &str, size| MediaRef {
            hash: BlobHash([0; 32]),
            name: name.into(),
            size,
        };
        assert!(validate(&Content::File(media("a.txt", 100)), &limits()).is_ok());
        assert!(validate(&Content::File(media("", 1)), &limits()).is_err());
        assert!(validate(&Content::File(media("a\nb", 1)), &limits()).is_err());
        let generous = Limits {
            max_text_chars: u32::MAX,
            ..limits()
        };
        assert!(validate(&Content::Text("x".repeat(MAX_TEXT_CHARS + 1)), &generous).is_err());
    }
}
