//! Filled shapes the views are built from: rounded rectangles and frames,
//! drop shadows, progress bars.

use macroquad::models::{draw_mesh, Mesh, Vertex};
use macroquad::prelude::*;

use crate::ui::theme;

/// A filled rectangle with rounded corners, as one mesh (so translucent
/// colours do not double up where parts overlap).
pub fn rounded_rect(r: Rect, radius: f32, color: Color) {
    let radius = radius.min(r.w / 2.0).min(r.h / 2.0).max(0.0);
    if radius < 0.5 {
        draw_rectangle(r.x, r.y, r.w, r.h, color);
        return;
    }
    const SEGMENTS: usize = 6;
    let c = [color.r, color.g, color.b, color.a].map(|v| (v * 255.0).round() as u8);
    let centre = Vertex {
        position: vec3(r.x + r.w / 2.0, r.y + r.h / 2.0, 0.0),
        uv: Vec2::ZERO,
        color: c,
        normal: Vec4::ZERO,
    };
    let mut vertices = vec![centre];
    let corners = [
        (r.x + r.w - radius, r.y + r.h - radius, 0.0f32),
        (r.x + radius, r.y + r.h - radius, 90.0),
        (r.x + radius, r.y + radius, 180.0),
        (r.x + r.w - radius, r.y + radius, 270.0),
    ];
    for (cx, cy, start) in corners {
        for i in 0..=SEGMENTS {
            let a = (start + 90.0 * i as f32 / SEGMENTS as f32).to_radians();
            vertices.push(Vertex {
                position: vec3(cx + radius * a.cos(), cy + radius * a.sin(), 0.0),
                uv: Vec2::ZERO,
                color: c,
                normal: Vec4::ZERO,
            });
        }
    }
    let n = vertices.len() as u16 - 1;
    let mut indices = Vec::with_capacity(n as usize * 3);
    for i in 1..=n {
        let next = if i == n { 1 } else { i + 1 };
        indices.extend_from_slice(&[0, i, next]);
    }
    draw_mesh(&Mesh {
        vertices,
        indices,
        texture: None,
    });
}

/// A rounded outline: a slightly larger rounded rectangle behind `inner`.
pub fn rounded_frame(r: Rect, radius: f32, thickness: f32, border: Color, inner: Color) {
    rounded_rect(r, radius, border);
    let t = thickness;
    rounded_rect(
        Rect::new(r.x + t, r.y + t, r.w - 2.0 * t, r.h - 2.0 * t),
        radius - t,
        inner,
    );
}

/// A progress bar.
pub fn progress_bar(r: Rect, fraction: f32, color: Color) {
    rounded_rect(r, r.h / 2.0, theme::FIELD);
    let w = (r.w * fraction.clamp(0.0, 1.0)).max(r.h);
    rounded_rect(Rect::new(r.x, r.y, w, r.h), r.h / 2.0, color);
}

/// A soft drop shadow under a floating card.
pub fn shadow(r: Rect, radius: f32) {
    for i in 1..=4 {
        let g = i as f32 * 2.0;
        rounded_rect(
            Rect::new(r.x - g, r.y - g + 3.0, r.w + 2.0 * g, r.h + 2.0 * g),
            radius + g,
            Color::new(0.0, 0.0, 0.0, 0.07),
        );
    }
}
