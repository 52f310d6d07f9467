//! Natter's own emoji art, drawn in code: one small painter per entry of
//! `natter_common::emoji::CATALOGUE`, found by its key in [`PAINTERS`]; an
//! id this build does not know gets a placeholder.

use macroquad::prelude::*;
use natter_common::EmojiId;

use crate::ui::emoji::brush::{
    brows, disc, drop, eye_arcs, eyes_dots, eyes_happy, face, frown, heart, open_smile, pie, smile,
    stroke, tear_stream, Spot, BLUSH, BROWN, HEART, TEAR, TONGUE, WHITE_SOFT, YELLOW, YELLOW_EDGE,
};
use crate::ui::theme;
use crate::ui::widgets::rounded_rect;

/// Paints one design at a spot.
type Painter = fn(&Spot);

/// Draws emoji `id` centred at (`cx`, `cy`), `size` across; `t` drives its
/// own small motion (falling tears, a pulsing heart).
pub fn draw_emoji(id: EmojiId, cx: f32, cy: f32, size: f32, t: f32) {
    let spot = Spot {
        cx,
        cy,
        u: size / 2.0,
        size,
        t,
    };
    let key = id.emoji().map(|e| e.key).unwrap_or("");
    match PAINTERS.iter().find(|(k, _)| *k == key) {
        Some((_, paint)) => paint(&spot),
        None => placeholder(&spot),
    }
}

/// The glyph for an emoji this build does not know: a dashed grey circle
/// with a question mark.
fn placeholder(s: &Spot) {
    let Spot { cx, cy, u, .. } = *s;
    let c = theme::FAINT;
    for i in 0..12 {
        let a = i as f32 * 30.0;
        draw_arc(cx, cy, 24, u * 0.82, a, u * 0.1, 18.0, c);
    }
    stroke(cx, cy - u * 0.2, u * 0.22, 180.0, 250.0, u * 0.12, c);
    draw_line(cx, cy + u * 0.02, cx, cy + u * 0.18, u * 0.12, c);
    disc(cx, cy + u * 0.4, u * 0.08, c);
}

/// Every design, by the catalogue key it draws.
static PAINTERS: &[(&str, Painter)] = &[
    ("happy", happy),
    ("cute", cute),
    ("love", love),
    ("tears_of_joy", tears_of_joy),
    ("crying", crying),
    ("sweat", sweat),
    ("upset", upset),
    ("wink", wink),
    ("surprised", surprised),
    ("angry", angry),
    ("cool", cool),
    ("thinking", thinking),
    ("sleepy", sleepy),
    ("thumbs_up", thumbs_up),
    ("heart", red_heart),
    ("party", party),
];

/// Grinning with happy eyes and the tongue showing.
fn happy(s: &Spot) {
    let Spot { cx, cy, u, .. } = *s;
    face(cx, cy, u, YELLOW, YELLOW_EDGE);
    eyes_happy(cx, cy, u);
    open_smile(cx, cy, u, true);
}

/// Big shining eyes, blushing cheeks and a small "w" mouth.
fn cute(s: &Spot) {
    let Spot { cx, cy, u, .. } = *s;
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
    for dx in [-0.09, 0.09] {
        stroke(
            cx + u * dx,
            cy + u * 0.24,
            u * 0.1,
            10.0,
            160.0,
            u * 0.06,
            BROWN,
        );
    }
}

/// Heart eyes that beat.
fn love(s: &Spot) {
    let Spot { cx, cy, u, t, .. } = *s;
    face(cx, cy, u, YELLOW, YELLOW_EDGE);
    let beat = 1.0 + 0.08 * (t * 6.0).sin().max(0.0);
    heart(cx - u * 0.36, cy - u * 0.16, u * 0.48 * beat, HEART);
    heart(cx + u * 0.36, cy - u * 0.16, u * 0.48 * beat, HEART);
    open_smile(cx, cy + u * 0.04, u * 0.85, false);
}

/// Laughing with squeezed eyes and two tears that wobble.
fn tears_of_joy(s: &Spot) {
    let Spot { cx, cy, u, t, .. } = *s;
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

/// Sad eyes, an open mouth and two streams of falling tears.
fn crying(s: &Spot) {
    let Spot { cx, cy, u, t, .. } = *s;
    face(cx, cy, u, YELLOW, YELLOW_EDGE);
    eye_arcs(cx, cy, u, 0.32, 0.17, (20.0, 140.0), 0.08);
    pie(cx, cy + u * 0.58, u * 0.3, 180.0, 180.0, BROWN);
    draw_ellipse(cx, cy + u * 0.48, u * 0.14, u * 0.06, 0.0, TONGUE);
    tear_stream(cx, cy, u, -1.0, t);
    tear_stream(cx, cy, u, 1.0, t + 0.5);
}

/// A flat-eyed smile with a sweat drop sliding down.
fn sweat(s: &Spot) {
    let Spot { cx, cy, u, t, .. } = *s;
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

/// Slanted brows over a frown.
fn upset(s: &Spot) {
    cross(s, (YELLOW, YELLOW_EDGE), (0.5, 0.32), (0.2, 0.45), 0.07);
}

/// A cross face in `colours` (base, edge): dotted eyes under brows
/// slanting from `outer` to `inner` (see [`brows`]), a frown.
fn cross(s: &Spot, colours: (Color, Color), outer: (f32, f32), inner: (f32, f32), width: f32) {
    let Spot { cx, cy, u, .. } = *s;
    face(cx, cy, u, colours.0, colours.1);
    eyes_dots(cx, cy + u * 0.05, u);
    brows(cx, cy, u, outer, inner, width);
    frown(cx, cy, u);
}

/// One eye winking, the tongue out.
fn wink(s: &Spot) {
    let Spot { cx, cy, u, .. } = *s;
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

/// Wide eyes under raised brows, an open mouth.
fn surprised(s: &Spot) {
    let Spot { cx, cy, u, .. } = *s;
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

/// Red-faced, with sharp brows and a frown.
fn angry(s: &Spot) {
    let red = (theme::hex(0xf26b3a), theme::hex(0xc9492a));
    cross(s, red, (0.55, 0.45), (0.15, 0.25), 0.09);
}

/// Dark sunglasses and a half smile.
fn cool(s: &Spot) {
    let Spot { cx, cy, u, .. } = *s;
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

/// One brow raised, a hand at the chin.
fn thinking(s: &Spot) {
    let Spot { cx, cy, u, .. } = *s;
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

/// Closed eyes and a "Z" rising.
fn sleepy(s: &Spot) {
    let Spot { cx, cy, u, t, .. } = *s;
    face(cx, cy, u, YELLOW, YELLOW_EDGE);
    eye_arcs(cx, cy, u, 0.28, 0.16, (30.0, 120.0), 0.07);
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

/// A fist with the thumb up and a blue cuff.
fn thumbs_up(s: &Spot) {
    let Spot { cx, cy, u, .. } = *s;
    let (x, y) = (cx - u * 0.55, cy - u * 0.05);
    // Cuff, fist and thumb: place and size in units, corner radius, colour.
    let parts = [
        ((-0.05, 0.0, 0.32, 0.85), 0.08, theme::hex(0x4c8dff)),
        ((0.25, -0.05, 0.9, 0.95), 0.25, YELLOW_EDGE),
        ((0.28, -0.02, 0.84, 0.89), 0.22, YELLOW),
        ((0.35, -0.75, 0.34, 0.85), 0.17, YELLOW_EDGE),
        ((0.38, -0.72, 0.28, 0.8), 0.14, YELLOW),
    ];
    for ((dx, dy, w, h), radius, colour) in parts {
        let r = Rect::new(x + u * dx, y + u * dy, u * w, u * h);
        rounded_rect(r, u * radius, colour);
    }
    for i in 1..4 {
        let fy = y + u * 0.22 * i as f32;
        draw_line(x + u * 0.75, fy, x + u * 1.1, fy, u * 0.05, YELLOW_EDGE);
    }
}

/// A red heart that beats.
fn red_heart(s: &Spot) {
    let Spot { cx, cy, u, size, t } = *s;
    let beat = 1.0 + 0.1 * ((t * 5.0).sin().max(0.0)).powi(2);
    heart(cx, cy - u * 0.12, size * 0.95 * beat, HEART);
    disc(
        cx - u * 0.45,
        cy - u * 0.38,
        u * 0.12 * beat,
        Color::new(1.0, 1.0, 1.0, 0.45),
    );
}

/// A popper: a striped cone, streamers and a burst of confetti.
fn party(s: &Spot) {
    let Spot { cx, cy, u, t, .. } = *s;
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

#[cfg(test)]
mod tests {
    use super::*;
    use natter_common::emoji::CATALOGUE;

    #[test]
    fn every_catalogue_entry_has_one_painter() {
        for emoji in CATALOGUE {
            let painters = PAINTERS.iter().filter(|(k, _)| *k == emoji.key).count();
            assert_eq!(painters, 1, "{}", emoji.key);
        }
        assert_eq!(PAINTERS.len(), CATALOGUE.len());
    }
}
