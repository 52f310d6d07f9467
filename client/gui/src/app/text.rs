//! The text buffer behind every field of the client (the login form, the
//! composer, the share sheet's path): its contents, its caret, and one
//! [`Edit`] at a time applied to them without ever splitting a character.

use crate::app::intent::Edit;

/// A text field's contents and caret (a byte offset on a char boundary).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextBuffer {
    pub text: String,
    pub caret: usize,
}

impl TextBuffer {
    /// A buffer holding `text`, the caret at its end (where typing goes on).
    pub fn new(text: &str) -> Self {
        Self {
            text: text.to_owned(),
            caret: text.len(),
        }
    }

    /// Applies one edit; `max_chars` bounds the length after an insert.
    /// False when an insert had to be cut to fit, so the caller can say so.
    pub fn edit(&mut self, edit: &Edit, max_chars: usize) -> bool {
        self.caret = floor_boundary(&self.text, self.caret);
        match edit {
            Edit::Insert(s) => return self.insert(s, max_chars),
            Edit::Backspace => {
                if let Some(i) = self.before_caret() {
                    self.text.replace_range(i..self.caret, "");
                    self.caret = i;
                }
            }
            Edit::Delete => {
                if let Some(end) = self.after_caret() {
                    self.text.replace_range(self.caret..end, "");
                }
            }
            Edit::Left => self.caret = self.before_caret().unwrap_or(self.caret),
            Edit::Right => self.caret = self.after_caret().unwrap_or(self.caret),
            Edit::Home => {
                self.caret = self.text[..self.caret].rfind('\n').map_or(0, |i| i + 1);
            }
            Edit::End => {
                self.caret = self.text[self.caret..]
                    .find('\n')
                    .map_or(self.text.len(), |i| self.caret + i);
            }
            Edit::SetCaret(at) => self.caret = floor_boundary(&self.text, *at),
            Edit::Clear => *self = Self::default(),
        }
        true
    }

    /// Inserts as much of `s` at the caret as `max_chars` leaves room for.
    fn insert(&mut self, s: &str, max_chars: usize) -> bool {
        let room = max_chars.saturating_sub(self.text.chars().count());
        let piece: String = s.chars().take(room).collect();
        self.text.insert_str(self.caret, &piece);
        self.caret += piece.len();
        piece.chars().count() == s.chars().count()
    }

    /// Where the character before the caret starts.
    fn before_caret(&self) -> Option<usize> {
        self.text[..self.caret]
            .char_indices()
            .next_back()
            .map(|(i, _)| i)
    }

    /// Where the character after the caret ends.
    fn after_caret(&self) -> Option<usize> {
        let c = self.text[self.caret..].chars().next()?;
        Some(self.caret + c.len_utf8())
    }
}

fn floor_boundary(s: &str, mut at: usize) -> usize {
    at = at.min(s.len());
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_editing_respects_characters_and_limits() {
        let mut b = TextBuffer::new("你好");
        b.edit(&Edit::Backspace, 100);
        assert_eq!(b.text, "你");
        b.edit(&Edit::Insert("ab\ncd".into()), 100);
        b.edit(&Edit::Home, 100);
        assert_eq!(b.caret, "你ab\n".len());
        b.edit(&Edit::Left, 100);
        b.edit(&Edit::Delete, 100);
        assert_eq!(b.text, "你abcd");
        b.edit(&Edit::SetCaret(2), 100);
        assert_eq!(b.caret, 0);
        assert!(!b.edit(&Edit::Insert("xyz".into()), 7));
        assert_eq!(b.text, "xy你abcd");
    }

    #[test]
    fn the_caret_moves_by_whole_characters() {
        let mut b = TextBuffer::new("a你");
        b.edit(&Edit::Left, 100);
        assert_eq!(b.caret, 1);
        b.edit(&Edit::Right, 100);
        assert_eq!(b.caret, "a你".len());
        b.edit(&Edit::Right, 100);
        assert_eq!(b.caret, "a你".len());
        b.edit(&Edit::End, 100);
        b.edit(&Edit::Clear, 100);
        assert_eq!(b, TextBuffer::default());
    }
}
