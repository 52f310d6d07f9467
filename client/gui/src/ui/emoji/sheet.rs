//! `natter --emoji-sheet`: every emoji drawn large, for looking at the art.

use macroquad::prelude::*;
use natter_common::emoji::CATALOGUE;
use natter_common::EmojiId;

use crate::ui::emoji::art::draw_emoji;
use crate::ui::theme;

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
                if let Err(e) = crate::ui::screen::screenshot(path) {
                    tracing::warn!(error = %e, "screenshot failed");
                }
                return;
            }
        }
        crate::ui::screen::keep_awake();
        next_frame().await;
        std::thread::sleep(std::time::Duration::from_millis(30));
        if is_key_pressed(KeyCode::Escape) {
            return;
        }
    }
}
