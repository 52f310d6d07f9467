//! The emoji picker: a panel that grows out of the composer's emoji
//! button, its cells lifting under the mouse; a click sends that emoji.

use macroquad::prelude::*;
use natter_common::emoji::CATALOGUE;

use crate::app::intent::Intent;
use crate::app::state::AppState;
use crate::ui::emoji::art::draw_emoji;
use crate::ui::theme::{self, ease_out};
use crate::ui::widgets::{rounded_rect, shadow, Ui};

/// Hover animation of the picker's items.
#[derive(Debug, Clone, Default)]
pub struct EmojiPicker {
    hover: Vec<f32>,
}

/// Size of the picker panel.
pub const PANEL_COLUMNS: usize = 8;
const CELL: f32 = 52.0;
const PAD: f32 = 12.0;

/// The panel's full rectangle, given the point it grows from (its
/// bottom-left corner).
pub fn panel_rect(anchor: Vec2) -> Rect {
    let rows = CATALOGUE.len().div_ceil(PANEL_COLUMNS) as f32;
    let w = PANEL_COLUMNS as f32 * CELL + 2.0 * PAD;
    let h = rows * CELL + 2.0 * PAD + 26.0;
    Rect::new(anchor.x, anchor.y - h, w, h)
}

impl EmojiPicker {
    /// Draws the panel as far open as the state says.
    pub fn draw(&mut self, ui: &mut Ui, state: &AppState, anchor: Vec2) {
        let p = state.composer.emoji_panel.progress;
        if p <= 0.0 {
            self.hover.clear();
            return;
        }
        let e = ease_out(p);
        let full = panel_rect(anchor);
        let (w, h) = (full.w * (0.8 + 0.2 * e), full.h * (0.6 + 0.4 * e));
        let r = Rect::new(anchor.x, anchor.y - h - 8.0 * (1.0 - e), w, h);
        shadow(r, 14.0);
        rounded_rect(r, 14.0, theme::alpha(theme::SURFACE, 0.6 + 0.4 * e));
        if e < 0.25 {
            return;
        }
        let item_alpha = ((e - 0.25) / 0.75).clamp(0.0, 1.0);
        self.hover.resize(CATALOGUE.len(), 0.0);
        let mut label = None;
        for (i, emoji) in CATALOGUE.iter().enumerate() {
            let col = (i % PANEL_COLUMNS) as f32;
            let row = (i / PANEL_COLUMNS) as f32;
            let cell = Rect::new(
                r.x + PAD + col * CELL * (w / full.w),
                r.y + PAD + row * CELL * (h / full.h),
                CELL,
                CELL,
            );
            let hovered = state.composer.emoji_panel.open && ui.hover(cell);
            let hv = &mut self.hover[i];
            ui.animating |= ease_hover(hv, hovered, ui.dt);
            if *hv > 0.0 {
                rounded_rect(cell, 10.0, theme::alpha(theme::SURFACE_HOVER, *hv));
            }
            let scale = (0.6 + 0.4 * item_alpha) * (1.0 + 0.22 * ease_out(*hv));
            draw_emoji(
                emoji.id,
                cell.x + CELL / 2.0,
                cell.y + CELL / 2.0 - *hv * 2.0,
                34.0 * scale,
                ui.now as f32,
            );
            if hovered {
                label = Some(format!("{}  ·  {}", emoji.label_zh, emoji.label));
            }
            if state.composer.emoji_panel.open && p >= 1.0 {
                ui.mark(format_args!("emoji:{}", emoji.key), cell);
            }
            if state.composer.emoji_panel.open && ui.clicked(cell) {
                ui.emit(Intent::SendEmoji(emoji.id));
            }
        }
        let text = label.unwrap_or_else(|| "Pick a feeling".to_owned());
        ui.fonts.draw(
            &text,
            r.x + PAD + 4.0,
            r.y + r.h - PAD - 2.0,
            theme::SMALL,
            theme::alpha(theme::MUTED, item_alpha),
        );
    }
}

/// Moves a cell's hover level one frame towards 1 (hovered) or 0; true
/// while it still moves.
fn ease_hover(level: &mut f32, hovered: bool, dt: f32) -> bool {
    let target = if hovered { 1.0 } else { 0.0 };
    let step = dt * 10.0;
    if (*level - target).abs() <= 0.001 {
        return false;
    }
    *level = if *level < target {
        (*level + step).min(target)
    } else {
        (*level - step).max(target)
    };
    true
}
