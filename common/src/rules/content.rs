//! What a message may contain (docs/protocol.md §7.7, §7.8): text that is
//! not blank and not too long, a catalogue emoji, or a media reference with
//! a printable name. Sizes and blob ownership are the server's alone to
//! check: only it knows the blobs.

use crate::limits::{MAX_MEDIA_NAME_CHARS, MAX_TEXT_CHARS};
use crate::message::{Content, MediaRef};
use crate::protocol::Refusal;

/// Checks a message's content before it is sent (client) or stored
/// (server), so both refuse the same things with the same words.
/// `max_text_chars` is the server's own text limit (the client learns it
/// from [`crate::Limits`] at login); [`MAX_TEXT_CHARS`] caps it either way.
pub fn check_content(content: &Content, max_text_chars: u32) -> Result<(), Refusal> {
    match content {
        Content::Text(text) => check_text(text, max_text_chars),
        Content::Emoji(id) => match id.emoji() {
            Some(_) => Ok(()),
            None => Err(Refusal::UnknownEmoji(id.0)),
        },
        Content::Image { media, .. } | Content::File(media) => check_media_name(media),
    }
}

fn check_text(text: &str, max_text_chars: u32) -> Result<(), Refusal> {
    if text.trim().is_empty() {
        return Err(Refusal::EmptyText);
    }
    let max = max_text_chars.min(MAX_TEXT_CHARS as u32);
    if text.chars().count() > max as usize {
        return Err(Refusal::TextTooLong { max_chars: max });
    }
    Ok(())
}

/// A media name is display text: 1 to [`MAX_MEDIA_NAME_CHARS`] characters,
/// none of them a control character (no line breaks in a message row).
fn check_media_name(media: &MediaRef) -> Result<(), Refusal> {
    let name = &media.name;
    if name.is_empty()
        || name.chars().count() > MAX_MEDIA_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(Refusal::InvalidMedia(format!(
            "a file name has 1 to {MAX_MEDIA_NAME_CHARS} printable characters"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BlobHash, EmojiId};

    fn text(s: &str) -> Content {
        Content::Text(s.into())
    }

    fn file(name: &str) -> Content {
        Content::File(MediaRef {
            hash: BlobHash([0; 32]),
            name: name.into(),
            size: 1,
        })
    }

    #[test]
    fn text_is_counted_in_characters_up_to_the_servers_limit() {
        assert_eq!(check_content(&text("hi"), 10), Ok(()));
        assert_eq!(check_content(&text(&"界".repeat(10)), 10), Ok(()));
        assert_eq!(
            check_content(&text(&"x".repeat(11)), 10),
            Err(Refusal::TextTooLong { max_chars: 10 })
        );
    }

    #[test]
    fn no_server_raises_the_text_limit_past_the_protocols() {
        let long = "x".repeat(MAX_TEXT_CHARS + 1);
        assert_eq!(
            check_content(&text(&long), u32::MAX),
            Err(Refusal::TextTooLong {
                max_chars: MAX_TEXT_CHARS as u32
            })
        );
    }

    #[test]
    fn blank_text_is_empty() {
        assert_eq!(check_content(&text(""), 10), Err(Refusal::EmptyText));
        assert_eq!(check_content(&text(" \n"), 10), Err(Refusal::EmptyText));
    }

    #[test]
    fn only_catalogue_emoji_are_sent() {
        assert_eq!(check_content(&Content::Emoji(EmojiId(0)), 10), Ok(()));
        assert_eq!(
            check_content(&Content::Emoji(EmojiId(999)), 10),
            Err(Refusal::UnknownEmoji(999))
        );
    }

    #[test]
    fn a_media_name_is_short_printable_text() {
        assert_eq!(check_content(&file("a.txt"), 10), Ok(()));
        let longest = "n".repeat(MAX_MEDIA_NAME_CHARS);
        assert_eq!(check_content(&file(&longest), 10), Ok(()));
        let too_long = "n".repeat(MAX_MEDIA_NAME_CHARS + 1);
        for bad in ["", "a\nb", "tab\there", too_long.as_str()] {
            assert!(
                matches!(check_content(&file(bad), 10), Err(Refusal::InvalidMedia(_))),
                "{bad:?}"
            );
        }
    }
}
