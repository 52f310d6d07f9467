//! Where the chat room's parts go in the window: sidebar, header, banner,
//! message list, upload cards, composer, menu and toasts.

use macroquad::math::{vec2, Rect, Vec2};

use crate::ui::fonts::LINE;
use crate::ui::theme;

/// Space left and right of the message list.
pub const LIST_PAD_X: f32 = 24.0;
/// The size of message and composer text.
pub const TEXT_SIZE: f32 = theme::BODY;
/// Height of the connection banner under the header.
pub const BANNER_H: f32 = 40.0;
/// Width of the composer's three buttons left of its field.
const COMPOSER_BUTTONS: f32 = 3.0 * 40.0 + 12.0;
/// At most this many upload cards show above the composer.
const UPLOAD_CARDS: usize = 3;
pub const UPLOAD_CARD_H: f32 = 58.0;

/// Where the chat room's parts go in a window of one size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Room {
    pub sidebar: Rect,
    /// Everything right of the sidebar.
    pub main: Rect,
    pub header: Rect,
    /// The connection banner under the header (no height when there is
    /// nothing to say).
    pub banner: Rect,
    pub list: Rect,
    /// The cards of uploads in progress, between the list and the composer.
    pub uploads: Rect,
    pub composer: Rect,
    /// What lies over the list above and below it: rows scrolled under
    /// these take no clicks.
    pub covers: [Rect; 2],
    /// The header's menu, when open.
    pub menu: Rect,
    /// The emoji panel grows from here.
    pub emoji_anchor: Vec2,
}

impl Room {
    /// The room in a `w` × `h` window, with a composer `composer_h` high,
    /// a banner `banner_h` high and `uploads` uploads running here.
    pub fn new(w: f32, h: f32, composer_h: f32, banner_h: f32, uploads: usize) -> Self {
        let main = Rect::new(theme::SIDEBAR_WIDTH, 0.0, w - theme::SIDEBAR_WIDTH, h);
        let composer = Rect::new(main.x, h - composer_h, main.w, composer_h);
        let uploads_h = uploads.min(UPLOAD_CARDS) as f32 * UPLOAD_CARD_H;
        let list = Rect::new(
            main.x,
            theme::HEADER_HEIGHT + banner_h,
            main.w,
            composer.y - theme::HEADER_HEIGHT - banner_h - uploads_h,
        );
        let below = list.y + list.h;
        Self {
            sidebar: Rect::new(0.0, 0.0, theme::SIDEBAR_WIDTH, h),
            header: Rect::new(main.x, 0.0, main.w, theme::HEADER_HEIGHT),
            banner: Rect::new(main.x, theme::HEADER_HEIGHT, main.w, banner_h),
            uploads: Rect::new(main.x, below, main.w, uploads_h),
            covers: [
                Rect::new(main.x, 0.0, main.w, list.y),
                Rect::new(main.x, below, main.w, h - list.y - list.h),
            ],
            menu: Rect::new(
                main.x + main.w - 236.0,
                theme::HEADER_HEIGHT - 4.0,
                220.0,
                92.0,
            ),
            emoji_anchor: vec2(composer.x + 12.0, composer.y - 4.0),
            main,
            list,
            composer,
        }
    }
}

/// How wide the composer's text may run in a main area `main_w` wide.
pub fn composer_text_width(main_w: f32) -> f32 {
    main_w - COMPOSER_BUTTONS - 2.0 * LIST_PAD_X - 56.0 - 24.0
}

/// The composer's height for text of `lines` lines: it grows to six.
pub fn composer_height(lines: usize) -> f32 {
    lines.clamp(1, 6) as f32 * TEXT_SIZE * LINE + 16.0 + 28.0
}

/// Where `count` toasts go, stacked up from `bottom` at the right of
/// `main`, the last one lowest: each rectangle with its toast's index.
pub fn toast_rects(count: usize, main: Rect, bottom: f32) -> Vec<(Rect, usize)> {
    let mut y = bottom - 12.0;
    (0..count)
        .rev()
        .map(|i| {
            let r = Rect::new(main.x + main.w - 380.0, y - 56.0, 360.0, 56.0);
            y -= 64.0;
            (r, i)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_room_stacks_header_banner_list_uploads_and_composer() {
        let room = Room::new(1180.0, 760.0, 70.0, BANNER_H, 5);
        assert_eq!(room.main.x, theme::SIDEBAR_WIDTH);
        assert_eq!(room.main.w, 1180.0 - theme::SIDEBAR_WIDTH);
        assert_eq!(room.banner.y, theme::HEADER_HEIGHT);
        assert_eq!(room.list.y, theme::HEADER_HEIGHT + BANNER_H);
        // Three upload cards at most, right under the list.
        assert_eq!(room.uploads.h, 3.0 * UPLOAD_CARD_H);
        assert_eq!(room.uploads.y, room.list.y + room.list.h);
        assert_eq!(room.composer.y, 760.0 - 70.0);
        assert_eq!(room.uploads.y + room.uploads.h, room.composer.y);
        // The covers are everything of the main area above and below.
        assert_eq!(room.covers[0].h, room.list.y);
        assert_eq!(room.covers[1].y + room.covers[1].h, 760.0);
    }

    #[test]
    fn toasts_stack_up_with_the_last_lowest() {
        let main = Rect::new(250.0, 0.0, 900.0, 700.0);
        let rects = toast_rects(3, main, 600.0);
        let order: Vec<usize> = rects.iter().map(|(_, i)| *i).collect();
        assert_eq!(order, [2, 1, 0]);
        assert_eq!(rects[0].0.y + rects[0].0.h, 588.0);
        assert_eq!(rects[1].0.y, rects[0].0.y - 64.0);
        assert_eq!(rects[0].0.x + rects[0].0.w, main.x + main.w - 20.0);
    }

    #[test]
    fn the_composer_grows_to_six_lines() {
        assert_eq!(composer_height(0), composer_height(1));
        assert!(composer_height(3) > composer_height(2));
        assert_eq!(composer_height(9), composer_height(6));
    }
}
