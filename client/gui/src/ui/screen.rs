//! The window as macroquad opens it (its configuration and the icon drawn
//! in code), asking for the next frame, and what is on screen written to
//! a PNG.

use std::path::Path;

use macroquad::prelude::*;

use crate::ui::window;

/// The window the client opens. Its event loop blocks until input or a
/// wake-up (see [`window`]); every kind of input asks for a frame.
pub fn window_conf() -> macroquad::conf::Conf {
    let mut miniquad_conf = macroquad::miniquad::conf::Conf {
        window_title: window::start_title(),
        window_width: 1180,
        window_height: 760,
        window_resizable: true,
        high_dpi: false,
        sample_count: 1,
        icon: Some(window_icon()),
        ..Default::default()
    };
    miniquad_conf.platform.blocking_event_loop = true;
    macroquad::conf::Conf {
        miniquad_conf,
        update_on: Some(macroquad::conf::UpdateTrigger {
            key_down: true,
            mouse_down: true,
            mouse_up: true,
            mouse_motion: true,
            mouse_wheel: true,
            specific_key: None,
            touch: true,
        }),
        ..Default::default()
    }
}

/// Asks for the next frame without waiting for input (only the UI thread
/// may: miniquad's loop panics on a contended lock otherwise).
pub fn keep_awake() {
    macroquad::miniquad::window::schedule_update();
}

/// A blue speech bubble, drawn in code, for the window icon.
fn window_icon() -> macroquad::miniquad::conf::Icon {
    fn paint<const N: usize>(size: usize) -> [u8; N] {
        let mut px = [0u8; N];
        let s = size as f32;
        for y in 0..size {
            for x in 0..size {
                let (fx, fy) = (x as f32 + 0.5, y as f32 + 0.5);
                let (cx, cy, r) = (s * 0.5, s * 0.45, s * 0.42);
                let d = ((fx - cx).powi(2) + (fy - cy).powi(2)).sqrt();
                let tail = fy > s * 0.6
                    && fy < s * 0.95
                    && fx > s * 0.12
                    && fx < s * 0.45
                    && (fx - s * 0.12) > (fy - s * 0.6) * 0.5;
                let inside = d <= r || tail;
                let dot = [0.32, 0.5, 0.68]
                    .iter()
                    .any(|k| ((fx - s * k).powi(2) + (fy - cy).powi(2)).sqrt() < s * 0.06);
                let i = (y * size + x) * 4;
                if inside {
                    let c = if dot {
                        [255, 255, 255]
                    } else {
                        [0x4c, 0x8d, 0xff]
                    };
                    px[i..i + 3].copy_from_slice(&c);
                    px[i + 3] = 255;
                }
            }
        }
        px
    }
    macroquad::miniquad::conf::Icon {
        small: paint::<1024>(16),
        medium: paint::<4096>(32),
        big: paint::<16384>(64),
    }
}

/// Writes what is on screen to a PNG (rows flipped: GL counts from the
/// bottom), through a temporary file renamed into place, so a script that
/// waits for the file never reads half of it.
pub fn screenshot(path: &Path) -> Result<(), String> {
    let shot = get_screen_data();
    let rgba = image::RgbaImage::from_raw(shot.width as u32, shot.height as u32, shot.bytes)
        .ok_or("screen data has the wrong size")?;
    let mut flipped = image::imageops::flip_vertical(&rgba);
    for p in flipped.pixels_mut() {
        p.0[3] = 255;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    flipped
        .save_with_format(&tmp, image::ImageFormat::Png)
        .map_err(|e| e.to_string())?;
    std::fs::rename(&tmp, path).map_err(|e| e.to_string())
}
