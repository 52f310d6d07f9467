//! The brushes the emoji art is painted with: its colours, and shapes made
//! of macroquad primitives (round discs, pie slices, arc strokes, hearts,
//! drops) and of those, face parts (the face itself, eyes, mouths, tears).

use macroquad::prelude::*;

use crate::ui::theme;

/// Where one emoji is painted: its centre, half its size (`u`, the unit
/// every design is measured in), its size, and the clock driving its
/// motion.
#[derive(Debug, Clone, Copy)]
pub struct Spot {
    pub cx: f32,
    pub cy: f32,
    pub u: f32,
    pub size: f32,
    pub t: f32,
}

pub const YELLOW: Color = theme::hex(0xffcc4d);
pub const YELLOW_EDGE: Color = theme::hex(0xe3a72f);
pub const BROWN: Color = theme::hex(0x5b3a0a);
pub const TEAR: Color = theme::hex(0x5dadec);
pub const HEART: Color = theme::hex(0xf0364a);
pub const BLUSH: Color = Color::new(1.0, 0.45, 0.5, 0.55);
pub const TONGUE: Color = theme::hex(0xe2596b);
pub const WHITE_SOFT: Color = Color::new(1.0, 1.0, 1.0, 0.9);

/// A filled circle with as many sides as its size needs to look round.
pub fn disc(cx: f32, cy: f32, r: f32, color: Color) {
    let sides = (r * 1.5).clamp(12.0, 64.0) as u8;
    draw_poly(cx, cy, sides, r, 0.0, color);
}

/// A filled pie slice from `start` through `sweep` degrees (clockwise on
/// screen, 0° pointing right).
pub fn pie(cx: f32, cy: f32, r: f32, start: f32, sweep: f32, color: Color) {
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
pub fn stroke(cx: f32, cy: f32, r: f32, start: f32, sweep: f32, w: f32, color: Color) {
    draw_arc(cx, cy, 32, (r - w / 2.0).max(0.5), start, w, sweep, color);
}

/// A heart `s` across, its lobes above (`cx`, `cy`).
pub fn heart(cx: f32, cy: f32, s: f32, color: Color) {
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

/// A drop of `s` across, pointing up.
pub fn drop(cx: f32, cy: f32, s: f32, color: Color) {
    disc(cx, cy, s * 0.5, color);
    draw_triangle(
        vec2(cx - s * 0.47, cy - s * 0.15),
        vec2(cx + s * 0.47, cy - s * 0.15),
        vec2(cx, cy - s * 1.15),
        color,
    );
}

/// The round face: an edge, the base colour and a soft highlight.
pub fn face(cx: f32, cy: f32, u: f32, base: Color, edge: Color) {
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

/// Two plain oval eyes.
pub fn eyes_dots(cx: f32, cy: f32, u: f32) {
    draw_ellipse(cx - u * 0.33, cy - u * 0.18, u * 0.09, u * 0.14, 0.0, BROWN);
    draw_ellipse(cx + u * 0.33, cy - u * 0.18, u * 0.09, u * 0.14, 0.0, BROWN);
}

/// Two eyes squeezed into upward arcs.
pub fn eyes_happy(cx: f32, cy: f32, u: f32) {
    eye_arcs(cx, cy, u, 0.1, 0.17, (200.0, 140.0), 0.08);
}

/// Two eyes drawn as arcs, `r` units round, their centres `y` units above
/// the face's, from `arc.0` through `arc.1` degrees, `width` units thick.
pub fn eye_arcs(cx: f32, cy: f32, u: f32, y: f32, r: f32, arc: (f32, f32), width: f32) {
    for dx in [-0.33, 0.33] {
        stroke(
            cx + u * dx,
            cy - u * y,
            u * r,
            arc.0,
            arc.1,
            u * width,
            BROWN,
        );
    }
}

/// A closed smiling mouth.
pub fn smile(cx: f32, cy: f32, u: f32) {
    stroke(cx, cy + u * 0.02, u * 0.45, 25.0, 130.0, u * 0.08, BROWN);
}

/// An open grin with teeth, and the tongue if asked.
pub fn open_smile(cx: f32, cy: f32, u: f32, tongue: bool) {
    pie(cx, cy + u * 0.12, u * 0.5, 0.0, 180.0, BROWN);
    if tongue {
        draw_ellipse(cx, cy + u * 0.48, u * 0.22, u * 0.1, 0.0, TONGUE);
    }
    draw_rectangle(cx - u * 0.36, cy + u * 0.12, u * 0.72, u * 0.08, WHITE_SOFT);
}

/// A downturned mouth.
pub fn frown(cx: f32, cy: f32, u: f32) {
    stroke(cx, cy + u * 0.72, u * 0.36, 215.0, 110.0, u * 0.08, BROWN);
}

/// A stream of tears under one eye (`side` -1 left, 1 right) with a drop
/// falling down it.
pub fn tear_stream(cx: f32, cy: f32, u: f32, side: f32, t: f32) {
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

/// Two brows, mirrored: each a line from `outer` to `inner` (offsets from
/// the centre in units, left side; up is positive), `width` units thick.
pub fn brows(cx: f32, cy: f32, u: f32, outer: (f32, f32), inner: (f32, f32), width: f32) {
    for side in [-1.0f32, 1.0] {
        draw_line(
            cx + side * u * outer.0,
            cy - u * outer.1,
            cx + side * u * inner.0,
            cy - u * inner.1,
            u * width,
            BROWN,
        );
    }
}
