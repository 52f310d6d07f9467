//! Font fallback without a window: which font of the chain draws each
//! character (the first that has it), which characters draw as nothing on
//! purpose (variation selectors, joiners), and the text cut into runs that
//! one font draws. macroquad draws a whole string with one font and shows
//! a box for whatever that font lacks; [`crate::ui::fonts`] draws run by run.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

/// Who draws a character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    /// The font at this place in the chain.
    Font(usize),
    /// Nothing, on purpose: it only modifies its neighbour.
    Invisible,
    /// No font has it: draw the replacement.
    Missing,
}

/// Characters that change how their neighbour looks (emoji or text
/// presentation, joined sequences) and have no glyph of their own.
pub fn is_invisible(c: char) -> bool {
    matches!(c as u32,
        0x200B..=0x200D // zero-width space, (non-)joiner
        | 0x2060 | 0xFEFF // word joiner, byte order mark
        | 0xFE00..=0xFE0F | 0xE0100..=0xE01EF // variation selectors
        | 0xE0020..=0xE007F) // emoji tag characters
}

/// The fonts' character maps, parsed on demand, with each character's
/// pick remembered.
pub struct Coverage {
    faces: Vec<Arc<Vec<u8>>>,
    picks: RefCell<HashMap<char, Pick>>,
}

impl std::fmt::Debug for Coverage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coverage")
            .field("fonts", &self.faces.len())
            .finish_non_exhaustive()
    }
}

impl Coverage {
    /// The chain, first font first: the bytes of each font file (face 0
    /// of a collection, as macroquad uses).
    pub fn new(faces: Vec<Arc<Vec<u8>>>) -> Self {
        Self {
            faces,
            picks: RefCell::default(),
        }
    }

    /// Which font draws `c`.
    pub fn pick(&self, c: char) -> Pick {
        if let Some(pick) = self.picks.borrow().get(&c) {
            return *pick;
        }
        let pick = if is_invisible(c) {
            Pick::Invisible
        } else {
            self.faces
                .iter()
                .position(|bytes| has_glyph(bytes, c))
                .map_or(Pick::Missing, Pick::Font)
        };
        self.picks.borrow_mut().insert(c, pick);
        pick
    }

    /// The font and character that stand in for a missing one: U+FFFD
    /// where a font has it, else a question mark.
    pub fn replacement(&self) -> (usize, char) {
        match self.pick('\u{FFFD}') {
            Pick::Font(i) => (i, '\u{FFFD}'),
            _ => (0, '?'),
        }
    }
}

/// Whether the font file has a real glyph (not glyph 0, the box) for `c`.
fn has_glyph(bytes: &[u8], c: char) -> bool {
    ttf_parser::Face::parse(bytes, 0)
        .ok()
        .and_then(|face| face.glyph_index(c))
        .is_some_and(|g| g.0 != 0)
}

/// `text` cut into the longest runs whose characters have the same pick.
pub fn runs(text: &str, mut pick: impl FnMut(char) -> Pick) -> Vec<(Pick, Range<usize>)> {
    let mut out: Vec<(Pick, Range<usize>)> = Vec::new();
    for (at, c) in text.char_indices() {
        let p = pick(c);
        let end = at + c.len_utf8();
        match out.last_mut() {
            Some((last, range)) if *last == p => range.end = end,
            _ => out.push((p, at..end)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const WQY: &str = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc";

    fn shipped(name: &str) -> Arc<Vec<u8>> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../assets/fonts")
            .join(name);
        Arc::new(std::fs::read(path).expect("shipped font"))
    }

    #[test]
    fn text_is_cut_where_the_font_changes() {
        let pick = |c: char| match c {
            'a'..='z' | ' ' => Pick::Font(0),
            '\u{FE0F}' => Pick::Invisible,
            _ => Pick::Font(2),
        };
        let text = "ab ⛰\u{FE0F} c";
        let got: Vec<(Pick, &str)> = runs(text, pick)
            .into_iter()
            .map(|(p, r)| (p, &text[r]))
            .collect();
        assert_eq!(
            got,
            [
                (Pick::Font(0), "ab "),
                (Pick::Font(2), "⛰"),
                (Pick::Invisible, "\u{FE0F}"),
                (Pick::Font(0), " c"),
            ]
        );
        assert!(runs("", pick).is_empty());
    }

    #[test]
    fn the_shipped_chain_draws_chinese_emoji_and_symbols_with_no_box() {
        let coverage = Coverage::new(vec![shipped("wqy-microhei.ttc"), shipped("symbola.ttf")]);
        for c in "周末去爬山吗 abc".chars() {
            assert_eq!(coverage.pick(c), Pick::Font(0), "{c:?}");
        }
        for c in ['⛰', '😀', '🙂', '❤', '☕'] {
            assert_eq!(coverage.pick(c), Pick::Font(1), "{c:?}");
        }
        assert_eq!(coverage.pick('\u{FE0F}'), Pick::Invisible);
        // A private-use character no font has: drawn as the replacement.
        assert_eq!(coverage.pick('\u{10FFFD}'), Pick::Missing);
        let (font, c) = coverage.replacement();
        assert_eq!(coverage.pick(c), Pick::Font(font));
        // The system copy, where there is one, is the same font.
        if let Ok(system) = std::fs::read(WQY) {
            assert!(has_glyph(&system, '周'));
        }
    }
}
