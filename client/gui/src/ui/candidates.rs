//! The input method's candidates, drawn by the app when no panel process
//! can show a candidate window: a small box under the caret (above it
//! when there is no room below), numbered, the highlighted one marked.

use macroquad::prelude::*;

use crate::ui::theme;
use crate::ui::widgets::Ui;

/// The page of candidates to show, with the highlighted one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidates {
    /// The candidates of the page the cursor is on.
    pub items: Vec<String>,
    /// The highlighted candidate, as an index into `items`, if shown.
    pub cursor: Option<usize>,
}

const PAD: f32 = 6.0;
const GAP: f32 = 12.0;

/// Draws `candidates` next to `caret` (window coordinates).
pub fn draw(ui: &Ui, caret: Rect, candidates: &Candidates) {
    let size = theme::BODY;
    let line_h = size * 1.6;
    let labels: Vec<String> = candidates
        .items
        .iter()
        .enumerate()
        .map(|(i, item)| format!("{}.{item}", i + 1))
        .collect();
    let widths: Vec<f32> = labels.iter().map(|l| ui.fonts.width(l, size)).collect();
    let w = widths.iter().sum::<f32>() + GAP * (labels.len().max(1) - 1) as f32 + PAD * 2.0;
    let h = line_h + PAD;
    let at = place(caret, vec2(w, h), vec2(screen_width(), screen_height()));
    draw_rectangle(at.x, at.y, w, h, theme::SURFACE);
    draw_rectangle_lines(at.x, at.y, w, h, 1.0, theme::BORDER);
    let mut x = at.x + PAD;
    for (i, (label, width)) in labels.iter().zip(&widths).enumerate() {
        let y = at.y + PAD / 2.0;
        if candidates.cursor == Some(i) {
            draw_rectangle(x - 3.0, y, width + 6.0, line_h, theme::ACCENT);
        }
        ui.fonts
            .draw_centred_v(label, x, y, line_h, size, theme::TEXT);
        x += width + GAP;
    }
}

/// Where a box of `size` goes: under the caret, or above it when it would
/// leave the `screen`; kept inside horizontally.
fn place(caret: Rect, size: Vec2, screen: Vec2) -> Vec2 {
    let below = caret.y + caret.h + 2.0;
    let y = if below + size.y <= screen.y {
        below
    } else {
        (caret.y - size.y - 2.0).max(0.0)
    };
    let x = caret.x.min(screen.x - size.x).max(0.0);
    vec2(x, y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_box_goes_under_the_caret_or_above_it_at_the_bottom() {
        let screen = vec2(800.0, 600.0);
        let caret = Rect::new(100.0, 100.0, 1.5, 20.0);
        assert_eq!(place(caret, vec2(200.0, 30.0), screen), vec2(100.0, 122.0));
        let low = Rect::new(700.0, 570.0, 1.5, 20.0);
        assert_eq!(place(low, vec2(200.0, 30.0), screen), vec2(600.0, 538.0));
    }
}
