//! The content check a send passes before it is queued: what the server
//! would refuse anyway is refused here, by the same shared rule
//! (`natter_common::rules::check_content`).

use natter_common::rules::check_content;
use natter_common::{Content, Limits};

use crate::error::ClientError;

/// Refuses locally what the server would refuse: blank or too long text,
/// unknown emoji, bad file names. (Sizes are the transfer's business.)
pub(super) fn validate(content: &Content, limits: &Limits) -> Result<(), ClientError> {
    check_content(content, limits.max_text_chars)
        .map_err(|refusal| ClientError::InvalidInput(refusal.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use natter_common::limits::MAX_TEXT_CHARS;

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
