//! Colours, sizes and the easing curve of the client's dark theme. The
//! bubble colours keep the student project's scheme recognisable: our
//! group messages blue, others' green, our private ones grey, private ones
//! received red.

use macroquad::color::Color;

/// A colour from `0xRRGGBB`.
pub const fn hex(rgb: u32) -> Color {
    Color::new(
        ((rgb >> 16) & 0xff) as f32 / 255.0,
        ((rgb >> 8) & 0xff) as f32 / 255.0,
        (rgb & 0xff) as f32 / 255.0,
        1.0,
    )
}

/// The same colour with another opacity.
pub fn alpha(c: Color, a: f32) -> Color {
    Color::new(c.r, c.g, c.b, a)
}

/// Ease-out cubic: fast start, gentle stop (popups sliding and growing
/// in, fresh emoji popping).
pub fn ease_out(t: f32) -> f32 {
    let t = t.clamp(0.0, 1.0);
    1.0 - (1.0 - t).powi(3)
}

/// Linear mix of two colours.
pub fn mix(a: Color, b: Color, t: f32) -> Color {
    Color::new(
        a.r + (b.r - a.r) * t,
        a.g + (b.g - a.g) * t,
        a.b + (b.b - a.b) * t,
        a.a + (b.a - a.a) * t,
    )
}

pub const BACKGROUND: Color = hex(0x1b1e24);
pub const SIDEBAR: Color = hex(0x15171c);
pub const HEADER: Color = hex(0x20242b);
pub const SURFACE: Color = hex(0x272b33);
pub const SURFACE_HOVER: Color = hex(0x323741);
pub const SECONDARY: Color = Color::new(1.0, 1.0, 1.0, 0.09);
pub const SECONDARY_HOVER: Color = Color::new(1.0, 1.0, 1.0, 0.16);
pub const FIELD: Color = hex(0x15181d);
pub const BORDER: Color = hex(0x363c47);
pub const TEXT: Color = hex(0xe7e9ee);
pub const MUTED: Color = hex(0x8c94a3);
pub const FAINT: Color = hex(0x5d6472);
pub const ACCENT: Color = hex(0x4c8dff);
pub const ACCENT_HOVER: Color = hex(0x6aa0ff);
pub const DANGER: Color = hex(0xe5484d);
pub const DANGER_BG: Color = hex(0x3b1719);
pub const SUCCESS: Color = hex(0x3fb950);
pub const WARNING: Color = hex(0xe8a33d);
pub const WARNING_BG: Color = hex(0x3a2c12);

/// Our message to the group: blue.
pub const BUBBLE_GROUP_MINE: Color = hex(0x24519f);
/// Someone else's message to the group: green.
pub const BUBBLE_GROUP_THEIRS: Color = hex(0x1c5a41);
/// Our private message: grey.
pub const BUBBLE_PRIVATE_MINE: Color = hex(0x434954);
/// A private message to us: red.
pub const BUBBLE_PRIVATE_THEIRS: Color = hex(0x7a2934);

pub const NAME_GROUP_MINE: Color = hex(0x8fb8ff);
pub const NAME_GROUP_THEIRS: Color = hex(0x74d4a0);
pub const NAME_PRIVATE_MINE: Color = hex(0xb8bdc7);
pub const NAME_PRIVATE_THEIRS: Color = hex(0xff8f98);

/// Font sizes.
pub const SMALL: f32 = 13.0;
pub const BODY: f32 = 16.0;
pub const LARGE: f32 = 20.0;
pub const TITLE: f32 = 30.0;

pub const RADIUS: f32 = 10.0;
pub const SIDEBAR_WIDTH: f32 = 250.0;
pub const HEADER_HEIGHT: f32 = 56.0;

/// A stable colour for a user's avatar, from their name.
pub fn avatar_colour(name: &str) -> Color {
    const PALETTE: [u32; 8] = [
        0x4c8dff, 0x3fb950, 0xe8a33d, 0xd15fe0, 0x2bb3c0, 0xe5484d, 0x8b7cf6, 0xe07a3f,
    ];
    let mut h: u32 = 2166136261;
    for b in name.to_lowercase().bytes() {
        h = (h ^ b as u32).wrapping_mul(16777619);
    }
    hex(PALETTE[(h % PALETTE.len() as u32) as usize])
}
