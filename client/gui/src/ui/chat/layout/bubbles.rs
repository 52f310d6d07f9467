//! Message bubbles measured: text wrapped to the bubble with room for the
//! time, pictures fitted, emoji and file cards at their own sizes.

use std::collections::HashMap;
use std::hash::Hash;

use natter_common::Content;

use crate::ui::chat::layout::room::TEXT_SIZE;
use crate::ui::fonts::LINE;
use crate::ui::media;
use crate::ui::theme;

pub const BUBBLE_PAD_X: f32 = 12.0;
pub const BUBBLE_PAD_Y: f32 = 8.0;
pub const EMOJI_SIZE: f32 = 56.0;
const PICTURE_MAX: (f32, f32) = (320.0, 240.0);
const FILE_CARD: (f32, f32) = (300.0, 74.0);

/// Measures text as the fonts will draw it.
pub trait Measure {
    fn width(&self, text: &str, size: f32) -> f32;
    /// `text` broken into lines no wider than `max_w`.
    fn wrap(&self, text: &str, size: f32, max_w: f32) -> Vec<String>;
}

/// What a row holds besides its header.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    Text { lines: Vec<String> },
    Emoji,
    Picture { w: f32, h: f32 },
    File,
}

/// Wrapped text and its widest line, by message, for one width.
pub type Wraps<K> = HashMap<K, (Vec<String>, f32)>;

/// The sizes messages are measured against at one list width.
pub struct Bubbles {
    max_bubble: f32,
    max_text: f32,
    line_h: f32,
    /// Room for the time (and delivery mark) inside a bubble.
    time_w: f32,
}

impl Bubbles {
    pub fn new(m: &impl Measure, width: f32) -> Self {
        let max_bubble = (width * 0.72).min(620.0);
        Self {
            max_bubble,
            max_text: max_bubble - 2.0 * BUBBLE_PAD_X,
            line_h: TEXT_SIZE * LINE,
            time_w: m.width("00:00", theme::SMALL) + 26.0,
        }
    }

    /// A message's body with its width and height.
    pub fn body<K: Copy + Eq + Hash>(
        &self,
        m: &impl Measure,
        wraps: &mut Wraps<K>,
        key: K,
        content: &Content,
    ) -> (Body, f32, f32) {
        match content {
            Content::Text(text) => self.text(m, wraps, key, text),
            Content::Emoji(_) => (Body::Emoji, EMOJI_SIZE + self.time_w, EMOJI_SIZE + 8.0),
            Content::Image { width, height, .. } => {
                let (w, h) = media::fit(
                    *width as f32,
                    *height as f32,
                    PICTURE_MAX.0.min(self.max_bubble - 8.0),
                    PICTURE_MAX.1,
                );
                (Body::Picture { w, h }, w + 8.0, h + 8.0)
            }
            Content::File(_) => (Body::File, FILE_CARD.0, FILE_CARD.1),
        }
    }

    /// A text bubble: the time goes on the last line if it fits there,
    /// else on a line of its own.
    fn text<K: Copy + Eq + Hash>(
        &self,
        m: &impl Measure,
        wraps: &mut Wraps<K>,
        key: K,
        text: &str,
    ) -> (Body, f32, f32) {
        let (lines, text_w) = wraps
            .entry(key)
            .or_insert_with(|| {
                let lines = m.wrap(text, TEXT_SIZE, self.max_text);
                let w = lines
                    .iter()
                    .map(|l| m.width(l, TEXT_SIZE))
                    .fold(0.0, f32::max);
                (lines, w)
            })
            .clone();
        let last_w = lines.last().map_or(0.0, |l| m.width(l, TEXT_SIZE));
        let time_inline = last_w + self.time_w <= self.max_text;
        let inner_w = if time_inline {
            text_w.max(last_w + self.time_w)
        } else {
            text_w.max(self.time_w)
        };
        let n = lines.len().max(1) as f32 + if time_inline { 0.0 } else { 0.8 };
        let h = n * self.line_h + 2.0 * BUBBLE_PAD_Y;
        (Body::Text { lines }, inner_w + 2.0 * BUBBLE_PAD_X, h)
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use natter_common::{BlobHash, EmojiId, MediaRef};

    /// Every character half as wide as the text is high; lines break
    /// anywhere.
    pub struct Fixed;

    impl Measure for Fixed {
        fn width(&self, text: &str, size: f32) -> f32 {
            text.chars().count() as f32 * size * 0.5
        }

        fn wrap(&self, text: &str, size: f32, max_w: f32) -> Vec<String> {
            let per_line = ((max_w / (size * 0.5)) as usize).max(1);
            let chars: Vec<char> = text.chars().collect();
            chars.chunks(per_line).map(|c| c.iter().collect()).collect()
        }
    }

    fn measured(content: &Content) -> (Body, f32, f32) {
        Bubbles::new(&Fixed, 600.0).body(&Fixed, &mut Wraps::new(), 0usize, content)
    }

    fn media() -> MediaRef {
        MediaRef {
            hash: BlobHash([7; 32]),
            name: "sunset.png".into(),
            size: 1000,
        }
    }

    #[test]
    fn text_wraps_to_the_bubble_and_the_time_fits_on_the_last_line() {
        let line_h = TEXT_SIZE * LINE;
        let (_, _, short_h) = measured(&Content::Text("short".into()));
        assert_eq!(short_h, line_h + 2.0 * BUBBLE_PAD_Y);
        let long = "x".repeat(200);
        let (body, w, _) = measured(&Content::Text(long.clone()));
        let Body::Text { lines } = body else {
            panic!("a text body");
        };
        assert!(lines.len() > 1);
        assert_eq!(lines.concat(), long);
        // No wider than the widest bubble.
        assert!(w <= (600.0f32 * 0.72).min(620.0) + 0.01);
    }

    #[test]
    fn a_time_that_does_not_fit_gets_a_line_of_its_own() {
        let line_h = TEXT_SIZE * LINE;
        let full = "x".repeat(46);
        let (body, _, h) = measured(&Content::Text(full));
        let Body::Text { lines } = body else {
            panic!("a text body");
        };
        assert_eq!(lines.len(), 1);
        assert_eq!(h, 1.8 * line_h + 2.0 * BUBBLE_PAD_Y);
    }

    #[test]
    fn pictures_shrink_to_fit_and_cards_keep_their_size() {
        let picture = Content::Image {
            media: media(),
            width: 1600,
            height: 1200,
        };
        let (body, w, _) = measured(&picture);
        assert_eq!(body, Body::Picture { w: 320.0, h: 240.0 });
        assert_eq!(w, 328.0);
        assert_eq!(measured(&Content::File(media())).1, FILE_CARD.0);
        assert_eq!(measured(&Content::Emoji(EmojiId(0))).2, EMOJI_SIZE + 8.0);
    }
}
