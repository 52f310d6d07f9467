//! Text fields: one line or several, masked for passwords, with the caret,
//! horizontal scrolling, the input method's preedit, a click to place the
//! caret, and the editing keys (Backspace, Enter, Shift+Enter, Tab, Ctrl+V,
//! Ctrl+U) turned into intents.

use macroquad::miniquad::{self, KeyCode};
use macroquad::prelude::*;

use crate::app::intent::{Edit, Field, Intent};
use crate::app::state::TextBuffer;
use crate::ui::fonts::{Fonts, LINE};
use crate::ui::theme;
use crate::ui::widgets::input::Key;
use crate::ui::widgets::shapes::rounded_frame;
use crate::ui::widgets::ui::Ui;

/// Space between the field's frame and its text, left and right.
const PAD: f32 = 12.0;

/// Options of a text field.
#[derive(Debug, Clone, Copy)]
pub struct FieldLook<'s> {
    pub placeholder: &'s str,
    pub masked: bool,
    pub multiline: bool,
    pub size: f32,
}

/// What a text field did this frame besides editing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldAction {
    None,
    /// Enter (without Shift in a multi-line field).
    Submit,
    /// Tab: the form should move focus on.
    Next,
}

/// A text field bound to `buffer`; edits become intents. Only the focused
/// field reads the keyboard. Returns what else happened.
pub fn text_field(
    ui: &mut Ui,
    r: Rect,
    field: Field,
    buffer: &TextBuffer,
    focused: bool,
    look: FieldLook,
) -> FieldAction {
    draw_frame(ui, r, focused);
    let text = FieldText::lay_out(ui.fonts, r, buffer, look);
    let composing = focused && field == Field::Composer && ui.preedit.is_some();
    if text.display.is_empty() && !composing {
        let placeholder = ui.fonts.fit(look.placeholder, look.size, text.inner_w);
        ui.fonts.draw_centred_v(
            &placeholder,
            r.x + PAD,
            text.top,
            text.line_h,
            look.size,
            theme::FAINT,
        );
    } else {
        text.draw_lines(ui.fonts, r, look.size);
    }
    draw_caret(ui, r, &text, field, focused, look.size);
    if ui.clicked(r) {
        ui.emit(Intent::Focus(field));
        let at = text.byte_under(ui.fonts, r, ui.mouse(), look);
        let at = if look.masked {
            byte_of_char(&buffer.text, text.display[..at].chars().count())
        } else {
            at
        };
        ui.emit(Intent::Edit {
            field,
            edit: Edit::SetCaret(at),
        });
    }
    if !focused {
        return FieldAction::None;
    }
    read_keys(ui, field, look.multiline)
}

/// The field's frame: accent when focused, lighter under the mouse.
fn draw_frame(ui: &Ui, r: Rect, focused: bool) {
    let border = if focused {
        theme::ACCENT
    } else if ui.hover(r) {
        theme::FAINT
    } else {
        theme::BORDER
    };
    rounded_frame(
        r,
        8.0,
        if focused { 1.5 } else { 1.0 },
        border,
        theme::FIELD,
    );
}

/// The field's text laid out in its rectangle: what is shown (dots when
/// masked), its visual lines, which of them are in view, and where the
/// caret stands.
struct FieldText {
    display: String,
    /// Visual lines: byte ranges of `display`.
    lines: Vec<(usize, usize)>,
    caret_line: usize,
    first_line: usize,
    visible_lines: usize,
    /// The top of the first visible line.
    top: f32,
    line_h: f32,
    inner_w: f32,
    /// The caret's distance from the start of its line.
    caret_x: f32,
    /// How far a single line is scrolled left to keep the caret in view.
    scroll_x: f32,
}

impl FieldText {
    fn lay_out(fonts: &Fonts, r: Rect, buffer: &TextBuffer, look: FieldLook) -> Self {
        let inner_w = r.w - 2.0 * PAD;
        let size = look.size;
        let display: String = if look.masked {
            "•".repeat(buffer.text.chars().count())
        } else {
            buffer.text.clone()
        };
        let caret = if look.masked {
            buffer.text[..buffer.caret].chars().count() * '•'.len_utf8()
        } else {
            buffer.caret
        };
        let line_h = size * LINE;
        let lines = if look.multiline {
            layout_lines(fonts, &display, size, inner_w)
        } else {
            vec![(0, display.len())]
        };
        let caret_line = lines
            .iter()
            .rposition(|(start, _)| *start <= caret)
            .unwrap_or(0);
        let visible_lines = (((r.h - 2.0 * 8.0) / line_h).floor() as usize).max(1);
        let (first_line, top) = if look.multiline {
            (caret_line.saturating_sub(visible_lines - 1), r.y + 8.0)
        } else {
            (0, r.y + (r.h - line_h) / 2.0)
        };
        let (start, end) = lines[caret_line];
        let caret_x = fonts.width(&display[start..caret.min(end)], size);
        let scroll_x = if look.multiline {
            0.0
        } else {
            (caret_x - inner_w + 2.0).max(0.0)
        };
        Self {
            display,
            lines,
            caret_line,
            first_line,
            visible_lines,
            top,
            line_h,
            inner_w,
            caret_x,
            scroll_x,
        }
    }

    /// The top-left corner of the caret.
    fn caret_at(&self, r: Rect) -> Vec2 {
        vec2(
            r.x + PAD + self.caret_x - self.scroll_x,
            self.top + (self.caret_line - self.first_line) as f32 * self.line_h,
        )
    }

    fn draw_lines(&self, fonts: &Fonts, r: Rect, size: f32) {
        let shown = self
            .lines
            .iter()
            .enumerate()
            .skip(self.first_line)
            .take(self.visible_lines);
        for (i, (start, end)) in shown {
            let y = self.top + (i - self.first_line) as f32 * self.line_h;
            let text = &self.display[*start..*end];
            if self.scroll_x > 0.0 {
                self.draw_tail(fonts, text, r, y, size);
            } else {
                fonts.draw_centred_v(text, r.x + PAD, y, self.line_h, size, theme::TEXT);
            }
        }
    }

    /// Draws the part of a scrolled line that is not scrolled out.
    fn draw_tail(&self, fonts: &Fonts, text: &str, r: Rect, y: f32, size: f32) {
        let mut skip = 0.0;
        let mut from = 0;
        for (bi, c) in text.char_indices() {
            if skip >= self.scroll_x {
                from = bi;
                break;
            }
            skip += fonts.advance(c, size);
            from = bi + c.len_utf8();
        }
        fonts.draw_centred_v(
            &text[from..],
            r.x + PAD + skip - self.scroll_x,
            y,
            self.line_h,
            size,
            theme::TEXT,
        );
    }

    /// The byte of `display` nearest the mouse at `m`.
    fn byte_under(&self, fonts: &Fonts, r: Rect, m: Vec2, look: FieldLook) -> usize {
        let line = if look.multiline {
            (self.first_line + ((m.y - self.top) / self.line_h).max(0.0) as usize)
                .min(self.lines.len() - 1)
        } else {
            0
        };
        let (start, end) = self.lines[line];
        let mut x = r.x + PAD - self.scroll_x;
        for (bi, c) in self.display[start..end].char_indices() {
            let w = fonts.advance(c, look.size);
            if m.x < x + w / 2.0 {
                return start + bi;
            }
            x += w;
        }
        end
    }
}

/// The caret (or the input method's preedit in its place); the composer
/// also reports where its caret is, for the input method.
fn draw_caret(ui: &mut Ui, r: Rect, text: &FieldText, field: Field, focused: bool, size: f32) {
    let at = text.caret_at(r);
    if focused && field == Field::Composer {
        ui.caret = Some(Rect::new(at.x, at.y, 1.5, text.line_h));
    }
    let preedit = ui
        .preedit
        .clone()
        .filter(|_| focused && field == Field::Composer);
    if let Some((preedit, cursor)) = preedit {
        draw_preedit(ui, &preedit, cursor, at, text.line_h, size);
    } else if focused && ui.caret_on {
        draw_rectangle(
            at.x.round(),
            at.y + text.line_h * 0.18,
            1.5,
            text.line_h * 0.64,
            theme::ACCENT,
        );
    }
}

/// Turns this frame's keys into edits of `field`; returns Submit or Next
/// when Enter or Tab asked for it.
fn read_keys(ui: &mut Ui, field: Field, multiline: bool) -> FieldAction {
    let mut action = FieldAction::None;
    let input = ui.input;
    for key in &input.keys {
        if let Some(edit) = key_edit(*key, multiline, &mut action) {
            ui.emit(Intent::Edit { field, edit });
        }
    }
    action
}

/// The edit one key makes, if any; Enter and Tab set `action` instead.
fn key_edit(key: Key, multiline: bool, action: &mut FieldAction) -> Option<Edit> {
    match key {
        Key::Char('\n') if !multiline => None,
        Key::Char(c) => Some(Edit::Insert(c.to_string())),
        Key::Down { code, shift, ctrl } => match code {
            KeyCode::Backspace => Some(Edit::Backspace),
            KeyCode::Delete => Some(Edit::Delete),
            KeyCode::Left => Some(Edit::Left),
            KeyCode::Right => Some(Edit::Right),
            KeyCode::Home => Some(Edit::Home),
            KeyCode::End => Some(Edit::End),
            KeyCode::Enter | KeyCode::KpEnter => {
                if multiline && shift {
                    Some(Edit::Insert("\n".into()))
                } else {
                    *action = FieldAction::Submit;
                    None
                }
            }
            KeyCode::Tab => {
                *action = FieldAction::Next;
                None
            }
            KeyCode::V if ctrl => paste(multiline).map(Edit::Insert),
            KeyCode::Insert if shift => paste(multiline).map(Edit::Insert),
            KeyCode::U if ctrl => Some(Edit::Clear),
            _ => None,
        },
    }
}

/// The input method's text being composed, at the caret (`at`: the top
/// of its line): on the field's colour, underlined, with its own cursor.
fn draw_preedit(ui: &Ui, text: &str, cursor: usize, at: Vec2, line_h: f32, size: f32) {
    let w = ui.fonts.width(text, size);
    draw_rectangle(at.x, at.y, w + 2.0, line_h, theme::FIELD);
    ui.fonts
        .draw_centred_v(text, at.x, at.y, line_h, size, theme::TEXT);
    draw_rectangle(at.x, at.y + line_h * 0.86, w, 1.5, theme::ACCENT);
    let head: String = text.chars().take(cursor).collect();
    let cx = at.x + ui.fonts.width(&head, size);
    draw_rectangle(
        cx.round(),
        at.y + line_h * 0.18,
        1.5,
        line_h * 0.64,
        theme::ACCENT,
    );
}

/// The caret's blink: on for 0.6 s, off for 0.4 s.
pub fn caret_visible(now: f64) -> bool {
    now.fract() < CARET_ON_FRACTION
}

/// The part of each second the caret is shown.
const CARET_ON_FRACTION: f64 = 0.6;

/// When the caret next turns on or off.
pub fn next_caret_blink(now: f64) -> f64 {
    let second = now.floor();
    if now.fract() < CARET_ON_FRACTION {
        second + CARET_ON_FRACTION
    } else {
        second + 1.0
    }
}

/// The clipboard's text, cleaned for a field: line ends normalised, tabs
/// as spaces, other control characters dropped; one line for a one-line
/// field.
pub fn paste(multiline: bool) -> Option<String> {
    let raw = miniquad::window::clipboard_get()?;
    let text = clean_pasted(&raw, multiline);
    (!text.is_empty()).then_some(text)
}

/// See [`paste`].
pub fn clean_pasted(raw: &str, multiline: bool) -> String {
    let text = raw
        .replace("\r\n", "\n")
        .replace('\r', "\n")
        .replace('\t', "    ");
    text.chars()
        .filter_map(|c| match c {
            '\n' if multiline => Some('\n'),
            '\n' => Some(' '),
            c if c.is_control() => None,
            c => Some(c),
        })
        .collect()
}

fn byte_of_char(s: &str, n: usize) -> usize {
    s.char_indices().nth(n).map_or(s.len(), |(i, _)| i)
}

/// Visual lines of a multi-line field: byte ranges, wrapped to `max_w`.
fn layout_lines(fonts: &Fonts, text: &str, size: f32, max_w: f32) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut w = 0.0;
    for (i, c) in text.char_indices() {
        if c == '\n' {
            out.push((start, i));
            start = i + 1;
            w = 0.0;
            continue;
        }
        let a = fonts.advance(c, size);
        if w + a > max_w && i > start {
            out.push((start, i));
            start = i;
            w = 0.0;
        }
        w += a;
    }
    out.push((start, text.len()));
    out
}

/// How many visual lines a multi-line field needs for its text.
pub fn field_line_count(fonts: &Fonts, text: &str, size: f32, inner_w: f32) -> usize {
    layout_lines(fonts, text, size, inner_w).len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pasted_text_loses_control_characters() {
        assert_eq!(clean_pasted("a\r\nb\tc\u{1b}[2J", true), "a\nb    c[2J");
        assert_eq!(clean_pasted("a\nb", false), "a b");
        assert_eq!(clean_pasted("你好", false), "你好");
    }
}
