//! The composer: the message being written, whether it has the keyboard,
//! how long a message may be, and the emoji panel that opens above it.
//! It turns "send" into the [`Content`] to send; queuing it is the
//! conversations' business.

use natter_common::limits::MAX_TEXT_CHARS;
use natter_common::{Content, EmojiId};

use crate::app::intent::{Edit, Intent};
use crate::app::popups::Toasts;
use crate::app::text::TextBuffer;

/// How long the emoji panel takes to open or close, in seconds.
pub const PANEL_ANIMATION_SECS: f64 = 0.15;

/// The emoji picker: open or not, and how far its opening animation got.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EmojiPanel {
    pub open: bool,
    /// 0 = closed, 1 = fully open; moves towards `open` over
    /// [`PANEL_ANIMATION_SECS`].
    pub progress: f32,
}

impl EmojiPanel {
    fn target(&self) -> f32 {
        if self.open {
            1.0
        } else {
            0.0
        }
    }

    /// Whether the panel is still opening or closing.
    pub fn moving(&self) -> bool {
        (self.progress - self.target()).abs() > f32::EPSILON
    }

    /// Moves the animation on by `dt` seconds.
    fn advance(&mut self, dt: f64) {
        let target = self.target();
        let step = (dt / PANEL_ANIMATION_SECS) as f32;
        let p = &mut self.progress;
        if *p < target {
            *p = (*p + step).min(target);
        } else if *p > target {
            *p = (*p - step).max(target);
        }
    }
}

/// The message box of the chat room.
#[derive(Debug, Clone, PartialEq)]
pub struct Composer {
    /// What is typed so far.
    pub draft: TextBuffer,
    /// It has the keyboard (not the share sheet's path field).
    pub focused: bool,
    /// The server's limit, learnt at login.
    pub max_chars: usize,
    pub emoji_panel: EmojiPanel,
}

impl Default for Composer {
    fn default() -> Self {
        Self {
            draft: TextBuffer::default(),
            focused: true,
            max_chars: MAX_TEXT_CHARS,
            emoji_panel: EmojiPanel {
                open: false,
                progress: 0.0,
            },
        }
    }
}

impl Composer {
    /// Carries out the composer's intents (others change nothing); answers
    /// with what to send, if anything.
    pub fn handle(&mut self, intent: Intent, toasts: &mut Toasts, now: f64) -> Option<Content> {
        match intent {
            Intent::SendText => return self.take_text(),
            Intent::SendEmoji(id) => return Some(self.emoji(id)),
            Intent::ToggleEmojiPanel => self.emoji_panel.open = !self.emoji_panel.open,
            Intent::Edit { edit, .. } => self.edit(&edit, toasts, now),
            _ => {}
        }
        None
    }

    /// The typed text as a message, leaving the composer empty; nothing
    /// when only blanks were typed.
    fn take_text(&mut self) -> Option<Content> {
        let text = self.draft.text.trim_end().trim_start_matches('\n');
        if text.trim().is_empty() {
            return None;
        }
        let text = text.to_owned();
        self.draft.edit(&Edit::Clear, 0);
        Some(Content::Text(text))
    }

    fn emoji(&mut self, id: EmojiId) -> Content {
        self.emoji_panel.open = false;
        Content::Emoji(id)
    }

    /// An edit of the draft; a paste cut to the limit says so.
    fn edit(&mut self, edit: &Edit, toasts: &mut Toasts, now: f64) {
        if !self.draft.edit(edit, self.max_chars) {
            let max = self.max_chars;
            toasts.error(
                now,
                format!("A message holds at most {max} characters: the rest was cut."),
            );
        }
    }

    /// Takes the server's limit (within what any server allows).
    pub fn limit(&mut self, max_text_chars: u32) {
        self.max_chars = (max_text_chars as usize).clamp(1, MAX_TEXT_CHARS);
    }

    /// Moves the emoji panel's animation on by `dt` seconds.
    pub fn tick(&mut self, dt: f64) {
        self.emoji_panel.advance(dt);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::intent::Field;

    fn typed(composer: &mut Composer, text: &str, toasts: &mut Toasts) {
        let edit = Intent::Edit {
            field: Field::Composer,
            edit: Edit::Insert(text.into()),
        };
        composer.handle(edit, toasts, 0.0);
    }

    #[test]
    fn sending_trims_the_text_and_ignores_blanks() {
        let (mut composer, mut toasts) = (Composer::default(), Toasts::default());
        typed(&mut composer, "\nhello \n", &mut toasts);
        let sent = composer.handle(Intent::SendText, &mut toasts, 0.0);
        assert_eq!(sent, Some(Content::Text("hello".into())));
        assert!(composer.draft.text.is_empty());
        typed(&mut composer, " \n ", &mut toasts);
        assert_eq!(composer.handle(Intent::SendText, &mut toasts, 0.0), None);
        assert_eq!(composer.draft.text, " \n ");
    }

    #[test]
    fn the_composer_cuts_overlong_pastes_and_says_so() {
        let (mut composer, mut toasts) = (Composer::default(), Toasts::default());
        composer.limit(5);
        typed(&mut composer, "0123456789", &mut toasts);
        assert_eq!(composer.draft.text, "01234");
        assert_eq!(toasts.len(), 1);
    }

    #[test]
    fn the_emoji_panel_animates_open_and_closed() {
        let (mut composer, mut toasts) = (Composer::default(), Toasts::default());
        composer.handle(Intent::ToggleEmojiPanel, &mut toasts, 0.0);
        assert!(composer.emoji_panel.moving());
        composer.tick(0.075);
        assert!((composer.emoji_panel.progress - 0.5).abs() < 0.01);
        composer.tick(0.5);
        assert_eq!(composer.emoji_panel.progress, 1.0);
        assert!(!composer.emoji_panel.moving());
        let sent = composer.handle(Intent::SendEmoji(EmojiId(2)), &mut toasts, 0.0);
        assert_eq!(sent, Some(Content::Emoji(EmojiId(2))));
        assert!(!composer.emoji_panel.open);
    }
}
