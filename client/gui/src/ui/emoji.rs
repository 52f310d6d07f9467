//! Natter's own emoji art, drawn in code with macroquad shapes (faces,
//! arcs, eyes, tears, sweat drops, hearts), one design per entry of
//! `natter_common::emoji::CATALOGUE`; an id this build does not know gets a
//! placeholder. Also the animated picker panel.

use macroquad::prelude::*;
use natter_common::emoji::CATALOGUE;
use natter_common::EmojiId;

use crate::app::intent::Intent;
use crate::app::state::AppState;
use crate::ui::theme;
use crate::ui::widgets::{rounded_rect, shadow, Ui};

const YELLOW: Color = theme::hex(0xffcc4d);
const YELLOW_EDGE: Color = theme::hex(0xe3a72f);
const BROWN: Color = theme::hex(0x5b3a0a);
const TEAR: Color = theme::hex(0x5dadec);
const HEART: Color = theme::hex(0xf0364a);
const BLUSH: Color = Color::new(1.0, 0.45, 0.5, 0.55);
const TONGUE: Color = theme::hex(0xe2596b);
const WHITE_SOFT: Color = Color::new(1.0, 1.0, 1.0, 0.9);

/// Ease-out cubic: fast start, gentle stop.
pub fn ease_out(t: f32) -> f32 {
    let t = t.clamp(0.0, 1.0);
    1.0 - (1.0 - t).powi(3)
}

/// A filled circle with as many sides as its size needs to look round.
fn disc(cx: f32, cy: f32, r: f32, color: Color) {
    let sides = (r * 1.5).clamp(12.0, 64.0) as u8;
    draw_poly(cx, cy, sides, r, 0.0, color);
}

/// A filled pie slice from `start` through `sweep` degrees (clockwise on
/// screen, 0° pointing right).
fn pie(cx: f32, cy: f32, r: f32, start: f32, sweep: f32, color: Color) {
    let steps = ((sweep.abs() / 12.0).ceil() as usize).max(2);
    let mut prev = None;
    for i in 0..=steps {
        let a = (start + sweep * i as f32 / steps as f32).to_radians();
        let p = vec2(cx + r * a.cos(), cy + r * a.sin());
        if let Some(q) = prev {
            draw_triangle(vec2(cx, cy), q, p, color);
        }
        prev = Some(p);
    }
}

/// An arc stroke centred on its radius (macroquad's grows outwards).
fn stroke(cx: f32, cy: f32, r: f32, start: f32, sweep: f32, w: f32, color: Color) {
    draw_arc(cx, cy, 32, (r - w / 2.0).max(0.5), start, w, sweep, color);
}

fn heart(cx: f32, cy: f32, s: f32, color: Color) {
    let r = s * 0.3;
    disc(cx - r * 0.95, cy - r * 0.35, r, color);
    disc(cx + r * 0.95, cy - r * 0.35, r, color);
    draw_triangle(
        vec2(cx - r * 1.9, cy - r * 0.1),
        vec2(cx + r * 1.9, cy - r * 0.1),
        vec2(cx, cy + s * 0.62),
        color,
    );
}

fn drop(cx: f32, cy: f32, s: f32, color: Color) {
    disc(cx, cy, s * 0.5, color);
    draw_triangle(
        vec2(cx - s * 0.47, cy - s * 0.15),
        vec2(cx + s * 0.47, cy - s * 0.15),
        vec2(cx, cy - s * 1.15),
        color,
    );
}

fn face(cx: f32, cy: f32, u: f32, base: Color, edge: Color) {
    disc(cx, cy, u, edge);
    disc(cx, cy, u * 0.92, base);
    draw_ellipse(
        cx - u * 0.3,
        cy - u * 0.45,
        u * 0.28,
        u * 0.16,
        -30.0,
        Color::new(1.0, 1.0, 1.0, 0.18),
    );
}

fn eyes_dots(cx: f32, cy: f32, u: f32) {
    draw_ellipse(cx - u * 0.33, cy - u * 0.18, u * 0.09, u * 0.14, 0.0, BROWN);
    draw_ellipse(cx + u * 0.33, cy - u * 0.18, u * 0.09, u * 0.14, 0.0, BROWN);
}

fn eyes_happy(cx: f32, cy: f32, u: f32) {
    for dx in [-0.33, 0.33] {
        stroke(
            cx + u * dx,
            cy - u * 0.1,
            u * 0.17,
            200.0,
            140.0,
            u * 0.08,
            BROWN,
        );
    }
}

fn smile(cx: f32, cy: f32, u: f32) {
    stroke(cx, cy + u * 0.02, u * 0.45, 25.0, 130.0, u * 0.08, BROWN);
}

fn open_smile(cx: f32, cy: f32, u: f32, tongue: bool) {
    pie(cx, cy + u * 0.12, u * 0.5, 0.0, 180.0, BROWN);
    if tongue {
        draw_ellipse(cx, cy + u * 0.48, u * 0.22, u * 0.1, 0.0, TONGUE);
    }
    draw_rectangle(cx - u * 0.36, cy + u * 0.12, u * 0.72, u * 0.08, WHITE_SOFT);
}

fn frown(cx: f32, cy: f32, u: f32) {
    stroke(cx, cy + u * 0.72, u * 0.36, 215.0, 110.0, u * 0.08, BROWN);
}

fn tear_stream(cx: f32, cy: f32, u: f32, side: f32, t: f32) {
    let x = cx + side * u * 0.38;
    draw_rectangle(
        x - u * 0.09,
        cy - u * 0.05,
        u * 0.18,
        u * 0.75,
        Color::new(TEAR.r, TEAR.g, TEAR.b, 0.85),
    );
    let fall = (t * 1.3).fract();
    drop(x, cy + u * (0.1 + fall * 0.6), u * 0.16, TEAR);
}

/// Draws emoji `id` centred at (`cx`, `cy`), `size` across; `t` drives its
/// own small motion (falling tears, a pulsing heart).
pub fn draw_emoji(id: EmojiId, cx: f32, cy: f32, size: f32, t: f32) {
    let u = size / 2.0;
    let key = id.emoji().map(|e| e.key).unwrap_or("");
    match key {
        "happy" => {
            face(cx, cy, u, YELLOW, YELLOW_EDGE);
            eyes_happy(cx, cy, u);
            open_smile(cx, cy, u, true);
        }
        "cute" => {
            face(cx, cy, u, YELLOW, YELLOW_EDGE);
            for dx in [-0.33, 0.33] {
                let (x, y) = (cx + u * dx, cy - u * 0.1);
                disc(x, y, u * 0.16, BROWN);
                disc(x + u * 0.05, y - u * 0.06, u * 0.06, WHITE);
                disc(x - u * 0.05, y + u * 0.06, u * 0.03, WHITE);
            }
            draw_ellipse(cx - u * 0.58, cy + u * 0.22, u * 0.16, u * 0.09, 0.0, BLUSH);
            draw_ellipse(cx + u * 0.58, cy + u * 0.22, u * 0.16, u * 0.09, 0.0, BLUSH);
            // A small "w" mouth.
            stroke(
                cx - u * 0.09,
                cy + u * 0.24,
                u * 0.1,
                10.0,
                160.0,
                u * 0.06,
                BROWN,
            );
            stroke(
                cx + u * 0.09,
                cy + u * 0.24,
                u * 0.1,
                10.0,
                160.0,
                u * 0.06,
                BROWN,
            );
        }
        "love" => {
            face(cx, cy, u, YELLOW, YELLOW_EDGE);
            let beat = 1.0 + 0.08 * (t * 6.0).sin().max(0.0);
            heart(cx - u * 0.36, cy - u * 0.16, u * 0.48 * beat, HEART);
            heart(cx + u * 0.36, cy - u * 0.16, u * 0.48 * beat, HEART);
            open_smile(cx, cy + u * 0.04, u * 0.85, false);
        }
        "tears_of_joy" => {
            face(cx, cy, u, YELLOW, YELLOW_EDGE);
            for (dx, s) in [(-0.33f32, 1.0f32), (0.33, -1.0)] {
                let (x, y) = (cx + u * dx, cy - u * 0.15);
                draw_line(
                    x - s * u * 0.14,
                    y - u * 0.1,
                    x + s * u * 0.1,
                    y,
                    u * 0.08,
                    BROWN,
                );
                draw_line(
                    x + s * u * 0.1,
                    y,
                    x - s * u * 0.14,
                    y + u * 0.1,
                    u * 0.08,
                    BROWN,
                );
            }
            open_smile(cx, cy, u, true);
            let wobble = (t * 5.0).sin() * u * 0.03;
            drop(cx - u * 0.82, cy + u * 0.05 + wobble, u * 0.3, TEAR);
            drop(cx + u * 0.82, cy + u * 0.05 - wobble, u * 0.3, TEAR);
        }
        "crying" => {
            face(cx, cy, u, YELLOW, YELLOW_EDGE);
            for dx in [-0.33, 0.33] {
                stroke(
                    cx + u * dx,
                    cy - u * 0.32,
                    u * 0.17,
                    20.0,
                    140.0,
                    u * 0.08,
                    BROWN,
                );
            }
            pie(cx, cy + u * 0.58, u * 0.3, 180.0, 180.0, BROWN);
            draw_ellipse(cx, cy + u * 0.48, u * 0.14, u * 0.06, 0.0, TONGUE);
            tear_stream(cx, cy, u, -1.0, t);
            tear_stream(cx, cy, u, 1.0, t + 0.5);
        }
        "sweat" => {
            face(cx, cy, u, YELLOW, YELLOW_EDGE);
            for dx in [-0.33, 0.33] {
                draw_line(
                    cx + u * (dx - 0.13),
                    cy - u * 0.12,
                    cx + u * (dx + 0.13),
                    cy - u * 0.12,
                    u * 0.08,
                    BROWN,
                );
            }
            smile(cx, cy, u);
            let slide = (t * 0.8).fract() * u * 0.15;
            drop(cx + u * 0.55, cy - u * 0.35 + slide, u * 0.28, TEAR);
            disc(cx + u * 0.5, cy - u * 0.3 + slide, u * 0.05, WHITE_SOFT);
        }
        "upset" => {
            face(cx, cy, u, YELLOW, YELLOW_EDGE);
            eyes_dots(cx, cy + u * 0.05, u);
            draw_line(
                cx - u * 0.5,
                cy - u * 0.32,
                cx - u * 0.2,
                cy - u * 0.45,
                u * 0.07,
                BROWN,
            );
            draw_line(
                cx + u * 0.5,
                cy - u * 0.32,
                cx + u * 0.2,
                cy - u * 0.45,
                u * 0.07,
                BROWN,
            );
            frown(cx, cy, u);
        }
        "wink" => {
            face(cx, cy, u, YELLOW, YELLOW_EDGE);
            draw_ellipse(cx - u * 0.33, cy - u * 0.18, u * 0.09, u * 0.14, 0.0, BROWN);
            stroke(
                cx + u * 0.33,
                cy - u * 0.12,
                u * 0.16,
                200.0,
                140.0,
                u * 0.08,
                BROWN,
            );
            smile(cx, cy, u);
            draw_ellipse(cx + u * 0.15, cy + u * 0.5, u * 0.13, u * 0.1, 0.0, TONGUE);
        }
        "surprised" => {
            face(cx, cy, u, YELLOW, YELLOW_EDGE);
            for dx in [-0.33, 0.33] {
                disc(cx + u * dx, cy - u * 0.15, u * 0.14, WHITE);
                disc(cx + u * dx, cy - u * 0.15, u * 0.08, BROWN);
                stroke(
                    cx + u * dx,
                    cy - u * 0.3,
                    u * 0.22,
                    220.0,
                    100.0,
                    u * 0.06,
                    BROWN,
                );
            }
            draw_ellipse(cx, cy + u * 0.42, u * 0.15, u * 0.2, 0.0, BROWN);
        }
        "angry" => {
            face(cx, cy, u, theme::hex(0xf26b3a), theme::hex(0xc9492a));
            eyes_dots(cx, cy + u * 0.05, u);
            draw_line(
                cx - u * 0.55,
                cy - u * 0.45,
                cx - u * 0.15,
                cy - u * 0.25,
                u * 0.09,
                BROWN,
            );
            draw_line(
                cx + u * 0.55,
                cy - u * 0.45,
                cx + u * 0.15,
                cy - u * 0.25,
                u * 0.09,
                BROWN,
            );
            frown(cx, cy, u);
        }
        "cool" => {
            face(cx, cy, u, YELLOW, YELLOW_EDGE);
            let dark = theme::hex(0x1f2630);
            rounded_rect(
                Rect::new(cx - u * 0.7, cy - u * 0.35, u * 0.6, u * 0.38),
                u * 0.12,
                dark,
            );
            rounded_rect(
                Rect::new(cx + u * 0.1, cy - u * 0.35, u * 0.6, u * 0.38),
                u * 0.12,
                dark,
            );
            draw_line(
                cx - u * 0.15,
                cy - u * 0.28,
                cx + u * 0.15,
                cy - u * 0.28,
                u * 0.07,
                dark,
            );
            draw_line(
                cx - u * 0.55,
                cy - u * 0.28,
                cx - u * 0.35,
                cy - u * 0.18,
                u * 0.05,
                WHITE_SOFT,
            );
            stroke(
                cx + u * 0.08,
                cy + u * 0.02,
                u * 0.4,
                30.0,
                100.0,
                u * 0.08,
                BROWN,
            );
        }
        "thinking" => {
            face(cx, cy, u, YELLOW, YELLOW_EDGE);
            eyes_dots(cx, cy, u);
            draw_line(
                cx - u * 0.5,
                cy - u * 0.42,
                cx - u * 0.18,
                cy - u * 0.4,
                u * 0.07,
                BROWN,
            );
            stroke(
                cx + u * 0.33,
                cy - u * 0.4,
                u * 0.17,
                200.0,
                140.0,
                u * 0.07,
                BROWN,
            );
            draw_line(
                cx + u * 0.02,
                cy + u * 0.36,
                cx + u * 0.42,
                cy + u * 0.28,
                u * 0.08,
                BROWN,
            );
            // A hand at the chin: index finger up the cheek, then the fist.
            let finger = Rect::new(cx - u * 0.3, cy + u * 0.02, u * 0.2, u * 0.55);
            rounded_rect(finger, u * 0.1, YELLOW_EDGE);
            rounded_rect(
                Rect::new(
                    finger.x + u * 0.04,
                    finger.y + u * 0.04,
                    finger.w - u * 0.08,
                    finger.h - u * 0.06,
                ),
                u * 0.07,
                YELLOW,
            );
            draw_ellipse(
                cx - u * 0.3,
                cy + u * 0.66,
                u * 0.4,
                u * 0.24,
                -10.0,
                YELLOW_EDGE,
            );
            draw_ellipse(
                cx - u * 0.3,
                cy + u * 0.66,
                u * 0.34,
                u * 0.18,
                -10.0,
                YELLOW,
            );
            for k in 0..2 {
                let y = cy + u * (0.6 + k as f32 * 0.13);
                draw_line(
                    cx - u * 0.5,
                    y,
                    cx - u * 0.2,
                    y - u * 0.04,
                    u * 0.04,
                    YELLOW_EDGE,
                );
            }
        }
        "sleepy" => {
            face(cx, cy, u, YELLOW, YELLOW_EDGE);
            for dx in [-0.33, 0.33] {
                stroke(
                    cx + u * dx,
                    cy - u * 0.28,
                    u * 0.16,
                    30.0,
                    120.0,
                    u * 0.07,
                    BROWN,
                );
            }
            draw_ellipse(cx, cy + u * 0.42, u * 0.1, u * 0.12, 0.0, BROWN);
            let rise = (t * 0.7).fract();
            let z = u * (0.22 - rise * 0.06);
            let (zx, zy) = (
                cx + u * 0.62 + rise * u * 0.2,
                cy - u * 0.55 - rise * u * 0.35,
            );
            let c = Color::new(0.35, 0.55, 0.95, 1.0 - rise);
            draw_line(zx - z, zy - z, zx + z, zy - z, u * 0.07, c);
            draw_line(zx + z, zy - z, zx - z, zy + z, u * 0.07, c);
            draw_line(zx - z, zy + z, zx + z, zy + z, u * 0.07, c);
        }
        "thumbs_up" => {
            let (x, y) = (cx - u * 0.55, cy - u * 0.05);
            // Cuff, fist and thumb.
            rounded_rect(
                Rect::new(x - u * 0.05, y, u * 0.32, u * 0.85),
                u * 0.08,
                theme::hex(0x4c8dff),
            );
            rounded_rect(
                Rect::new(x + u * 0.25, y - u * 0.05, u * 0.9, u * 0.95),
                u * 0.25,
                YELLOW_EDGE,
            );
            rounded_rect(
                Rect::new(x + u * 0.28, y - u * 0.02, u * 0.84, u * 0.89),
                u * 0.22,
                YELLOW,
            );
            rounded_rect(
                Rect::new(x + u * 0.35, y - u * 0.75, u * 0.34, u * 0.85),
                u * 0.17,
                YELLOW_EDGE,
            );
            rounded_rect(
                Rect::new(x + u * 0.38, y - u * 0.72, u * 0.28, u * 0.8),
                u * 0.14,
                YELLOW,
            );
            for i in 1..4 {
                let fy = y + u * 0.22 * i as f32;
                draw_line(x + u * 0.75, fy, x + u * 1.1, fy, u * 0.05, YELLOW_EDGE);
            }
        }
        "heart" => {
            let beat = 1.0 + 0.1 * ((t * 5.0).sin().max(0.0)).powi(2);
            heart(cx, cy - u * 0.12, size * 0.95 * beat, HEART);
            disc(
                cx - u * 0.45,
                cy - u * 0.38,
                u * 0.12 * beat,
                Color::new(1.0, 1.0, 1.0, 0.45),
            );
        }
        "party" => {
            // A popper: a striped cone, streamers and a burst of confetti.
            let (tip, left, right) = (
                vec2(cx - u * 0.92, cy + u * 0.92),
                vec2(cx - u * 0.62, cy - u * 0.28),
                vec2(cx + u * 0.28, cy + u * 0.62),
            );
            draw_triangle(tip, left, right, theme::hex(0xf2a33a));
            for (k, colour) in [(0.35f32, 0xd15fe0u32), (0.65, 0x4c8dff)] {
                let a = tip + (left - tip) * k;
                let b = tip + (right - tip) * k;
                draw_line(a.x, a.y, b.x, b.y, u * 0.12, theme::hex(colour));
            }
            draw_line(
                left.x,
                left.y,
                right.x,
                right.y,
                u * 0.1,
                theme::hex(0xc97d1c),
            );
            stroke(
                cx + u * 0.05,
                cy - u * 0.55,
                u * 0.32,
                150.0,
                150.0,
                u * 0.09,
                theme::hex(0x3fb950),
            );
            stroke(
                cx + u * 0.55,
                cy + u * 0.05,
                u * 0.3,
                240.0,
                140.0,
                u * 0.09,
                theme::hex(0xf0364a),
            );
            let colours = [
                0xf0364a, 0x3fb950, 0x4c8dff, 0xd15fe0, 0xffcc4d, 0x2bb3c0, 0xff8f98, 0xffcc4d,
            ];
            for (i, c) in colours.iter().enumerate() {
                let a = (-165.0 + i as f32 * 27.0).to_radians();
                let burst = 0.62 + 0.12 * (t * 2.5 + i as f32 * 0.9).sin();
                let (px, py) = (
                    cx - u * 0.15 + a.cos() * u * burst * 1.2,
                    cy + u * 0.15 + a.sin() * u * burst * 1.2,
                );
                draw_poly(
                    px,
                    py,
                    4,
                    u * 0.11,
                    t * 90.0 + i as f32 * 40.0,
                    theme::hex(*c),
                );
            }
        }
        _ => placeholder(cx, cy, u),
    }
}

/// The glyph for an emoji this build does not know: a dashed grey circle
/// with a question mark.
fn placeholder(cx: f32, cy: f32, u: f32) {
    let c = theme::FAINT;
    for i in 0..12 {
        let a = i as f32 * 30.0;
        draw_arc(cx, cy, 24, u * 0.82, a, u * 0.1, 18.0, c);
    }
    stroke(cx, cy - u * 0.2, u * 0.22, 180.0, 250.0, u * 0.12, c);
    draw_line(cx, cy + u * 0.02, cx, cy + u * 0.18, u * 0.12, c);
    disc(cx, cy + u * 0.4, u * 0.08, c);
}

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
            let target = if hovered { 1.0 } else { 0.0 };
            let hv = &mut self.hover[i];
            let step = ui.dt * 10.0;
            if (*hv - target).abs() > 0.001 {
                *hv = if *hv < target {
                    (*hv + step).min(target)
                } else {
                    (*hv - step).max(target)
                };
                ui.animating = true;
            }
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

/// `natter --emoji-sheet`: every emoji large (and the placeholder), for
/// looking at the art; with `NATTER_SCREENSHOT` set, saves it and exits.
pub async fn sheet() {
    let fonts = crate::ui::fonts::Fonts::load_now();
    let shot = std::env::var_os("NATTER_SCREENSHOT").map(std::path::PathBuf::from);
    for frame in 0.. {
        clear_background(theme::BACKGROUND);
        let t = get_time() as f32;
        let ids = CATALOGUE.iter().map(|e| e.id).chain([EmojiId(999)]);
        for (i, id) in ids.enumerate() {
            let (col, row) = ((i % 6) as f32, (i / 6) as f32);
            let (x, y) = (110.0 + col * 170.0, 90.0 + row * 200.0);
            draw_emoji(id, x, y, 110.0, t);
            let label = id.emoji().map_or("unknown", |e| e.key);
            let w = fonts.width(label, theme::SMALL);
            fonts.draw(label, x - w / 2.0, y + 80.0, theme::SMALL, theme::MUTED);
        }
        if frame == 2 {
            if let Some(path) = &shot {
                if let Err(e) = crate::ui::screenshot(path) {
                    tracing::warn!(error = %e, "screenshot failed");
                }
                return;
            }
        }
        crate::ui::keep_awake();
        next_frame().await;
        std::thread::sleep(std::time::Duration::from_millis(30));
        if is_key_pressed(KeyCode::Escape) {
            return;
        }
    }
}
