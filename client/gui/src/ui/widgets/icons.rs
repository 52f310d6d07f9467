//! The small icons drawn in code (buttons, delivery marks, file cards) and
//! the round letter avatars.

use macroquad::prelude::*;

use crate::ui::fonts::Fonts;
use crate::ui::theme;

/// A smiley outline: the emoji button.
pub fn icon_smiley(r: Rect, c: Color) {
    let (cx, cy) = (r.x + r.w / 2.0, r.y + r.h / 2.0);
    let s = r.w.min(r.h) * 0.3;
    draw_circle_lines(cx, cy, s, 1.8, c);
    draw_circle(cx - s * 0.35, cy - s * 0.25, s * 0.12, c);
    draw_circle(cx + s * 0.35, cy - s * 0.25, s * 0.12, c);
    draw_arc(cx, cy, 24, s * 0.5, 25.0, 1.6, 130.0, c);
}

/// A framed landscape: the picture button.
pub fn icon_picture(r: Rect, c: Color) {
    let (cx, cy) = (r.x + r.w / 2.0, r.y + r.h / 2.0);
    let s = r.w.min(r.h) * 0.3;
    draw_rectangle_lines(cx - s, cy - s * 0.8, 2.0 * s, 1.6 * s, 1.8, c);
    draw_triangle(
        vec2(cx - s * 0.8, cy + s * 0.6),
        vec2(cx - s * 0.2, cy - s * 0.1),
        vec2(cx + s * 0.4, cy + s * 0.6),
        c,
    );
    draw_triangle(
        vec2(cx, cy + s * 0.6),
        vec2(cx + s * 0.45, cy + s * 0.1),
        vec2(cx + s * 0.85, cy + s * 0.6),
        c,
    );
    draw_circle(cx + s * 0.45, cy - s * 0.35, s * 0.18, c);
}

/// A sheet with a folded corner: the file button and file cards.
pub fn icon_file(r: Rect, c: Color) {
    let (cx, cy) = (r.x + r.w / 2.0, r.y + r.h / 2.0);
    let s = r.w.min(r.h) * 0.3;
    let (l, t, rr, b) = (cx - s * 0.75, cy - s, cx + s * 0.75, cy + s);
    let fold = s * 0.5;
    draw_line(l, t, rr - fold, t, 1.8, c);
    draw_line(rr - fold, t, rr, t + fold, 1.8, c);
    draw_line(rr, t + fold, rr, b, 1.8, c);
    draw_line(rr, b, l, b, 1.8, c);
    draw_line(l, b, l, t, 1.8, c);
    draw_line(rr - fold, t, rr - fold, t + fold, 1.4, c);
    draw_line(rr - fold, t + fold, rr, t + fold, 1.4, c);
    for i in 0..3 {
        let y = cy - s * 0.1 + i as f32 * s * 0.35;
        draw_line(l + s * 0.3, y, rr - s * 0.3, y, 1.2, c);
    }
}

/// A paper plane: the send button.
pub fn icon_send(r: Rect, c: Color) {
    let (cx, cy) = (r.x + r.w / 2.0, r.y + r.h / 2.0);
    let s = r.w.min(r.h) * 0.3;
    draw_triangle(
        vec2(cx - s, cy - s * 0.9),
        vec2(cx + s, cy),
        vec2(cx - s * 0.35, cy),
        c,
    );
    draw_triangle(
        vec2(cx - s, cy + s * 0.9),
        vec2(cx + s, cy),
        vec2(cx - s * 0.35, cy),
        c,
    );
}

/// Three dots: the menu button.
pub fn icon_menu(r: Rect, c: Color) {
    let (cx, cy) = (r.x + r.w / 2.0, r.y + r.h / 2.0);
    for i in -1..=1 {
        draw_circle(cx, cy + i as f32 * 6.0, 2.2, c);
    }
}

/// A cross: close buttons.
pub fn icon_close(r: Rect, c: Color) {
    let (cx, cy) = (r.x + r.w / 2.0, r.y + r.h / 2.0);
    let s = r.w.min(r.h) * 0.2;
    draw_line(cx - s, cy - s, cx + s, cy + s, 2.0, c);
    draw_line(cx - s, cy + s, cx + s, cy - s, 2.0, c);
}

/// A small clock: a message waiting for the server.
pub fn icon_clock(cx: f32, cy: f32, s: f32, c: Color) {
    draw_circle_lines(cx, cy, s, 1.3, c);
    draw_line(cx, cy, cx, cy - s * 0.65, 1.3, c);
    draw_line(cx, cy, cx + s * 0.5, cy, 1.3, c);
}

/// A check mark: a stored message of ours.
pub fn icon_check(cx: f32, cy: f32, s: f32, c: Color) {
    draw_line(cx - s, cy, cx - s * 0.3, cy + s * 0.7, 1.5, c);
    draw_line(cx - s * 0.3, cy + s * 0.7, cx + s, cy - s * 0.7, 1.5, c);
}

/// A warning triangle: a refused message.
pub fn icon_warning(cx: f32, cy: f32, s: f32, c: Color) {
    draw_triangle(
        vec2(cx, cy - s),
        vec2(cx - s, cy + s * 0.8),
        vec2(cx + s, cy + s * 0.8),
        c,
    );
    draw_rectangle(cx - 0.8, cy - s * 0.4, 1.6, s * 0.7, theme::BACKGROUND);
    draw_rectangle(cx - 0.8, cy + s * 0.45, 1.6, 1.6, theme::BACKGROUND);
}

/// A round avatar with the name's first letter.
pub fn avatar(fonts: &Fonts, name: &str, cx: f32, cy: f32, radius: f32) {
    draw_circle(cx, cy, radius, theme::avatar_colour(name));
    let initial: String = name
        .chars()
        .next()
        .map(|c| c.to_uppercase().collect())
        .unwrap_or_default();
    let size = (radius * 1.0).round();
    let w = fonts.width(&initial, size);
    fonts.draw(&initial, cx - w / 2.0, cy + size * 0.36, size, WHITE);
}
