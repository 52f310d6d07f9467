//! The chat room: people on the left, the conversation on the right with
//! its header, message list, uploads and composer, plus the popups that
//! float over it (emoji picker, menu, toasts, share sheet, picture view).
//!
//! [`layout`] works out the geometry without drawing (and is tested
//! without a window); the other modules draw one part each. This one
//! draws a frame of the room: the parts in order, with the regions a popup
//! covers kept from the mouse for what lies under it.

pub mod layout;

mod composer;
mod header;
mod messages;
mod popups;
mod row;
mod sidebar;

use macroquad::miniquad::KeyCode;
use macroquad::prelude::*;
use natter_common::Conversation;

use crate::app::intent::Intent;
use crate::app::state::AppState;
use crate::ui::chat::layout::{Room, BANNER_H};
use crate::ui::chat::messages::MessageList;
use crate::ui::emoji::{self, EmojiPicker};
use crate::ui::media::{self, Pictures};
use crate::ui::theme;
use crate::ui::widgets::Ui;

pub use popups::draw_picture_overlay;

/// The chat room's view-side memory: the message lists, the pictures'
/// textures, the emoji picker's animation.
pub struct ChatView {
    list: MessageList,
    pub pictures: Pictures,
    pub picker: EmojiPicker,
}

impl std::fmt::Debug for ChatView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatView").finish_non_exhaustive()
    }
}

impl Default for ChatView {
    fn default() -> Self {
        Self::new()
    }
}

impl ChatView {
    pub fn new() -> Self {
        Self {
            list: MessageList::default(),
            pictures: Pictures::new(media::TEXTURE_BUDGET),
            picker: EmojiPicker::default(),
        }
    }

    /// Forgets layouts and scroll positions (after logout).
    pub fn reset(&mut self) {
        self.list.reset();
    }

    /// Scrolls conversation `c` by `pixels` (positive = older).
    pub fn scroll_by(&mut self, c: &Conversation, pixels: f32) {
        self.list.scroll_by(c, pixels);
    }

    /// Eases down to the newest message.
    pub fn scroll_to_bottom_smoothly(&mut self, c: &Conversation) {
        self.list.scroll_to_bottom_smoothly(c);
    }

    /// Jumps to the newest message.
    pub fn scroll_to_bottom(&mut self, c: &Conversation) {
        self.list.scroll_to_bottom(c);
    }

    /// Whether a scroll is still easing.
    pub fn scrolling(&self, c: &Conversation) -> bool {
        self.list.scrolling(c)
    }

    /// Frames spent in layout rebuilds (for the benchmark).
    pub fn rebuilds(&self) -> u64 {
        self.list.rebuilds
    }
}

/// Draws the chat room.
pub fn draw(ui: &mut Ui, state: &AppState, view: &mut ChatView) {
    let (w, h) = (screen_width(), screen_height());
    let composer_h = composer::height(ui, state, w - theme::SIDEBAR_WIDTH);
    let banner_h = if header::banner_shown(state) {
        BANNER_H
    } else {
        0.0
    };
    let uploads = composer::uploads_here(state);
    let room = Room::new(w, h, composer_h, banner_h, uploads.len());

    // Popups drawn later cover the mouse for what is drawn first.
    let modal = state.popups.overlay.is_some()
        || state.share_sheet.is_some()
        || state.popups.viewing_cached.is_some();
    ui.mouse_enabled = !modal;
    block_popups(ui, state, &room);

    sidebar::draw(ui, state, room.sidebar);
    // Rows scrolled under the header or the composer must not take clicks.
    ui.blocked.extend(room.covers);
    view.list.draw(ui, state, &mut view.pictures, room.list);
    ui.blocked.truncate(ui.blocked.len() - room.covers.len());
    composer::draw_uploads(ui, &uploads, room.uploads);
    header::draw(ui, state, room.header);
    if banner_h > 0.0 {
        header::draw_banner(ui, state, room.banner);
    }
    composer::draw(ui, state, room.composer);

    // Popups, top to bottom; each gets the mouse back.
    ui.blocked.clear();
    if !modal {
        view.picker.draw(ui, state, room.emoji_anchor);
        if state.popups.menu_open {
            popups::draw_menu(ui, room.menu);
        }
    }
    popups::draw_toasts(ui, state, room.main, room.composer.y);
    ui.mouse_enabled = true;
    if let Some(sheet) = &state.share_sheet {
        popups::draw_share_sheet(ui, sheet);
    }
    read_shortcuts(ui, state);
}

/// Keeps the mouse from what lies under the open popups (the emoji
/// panel, the menu, the toasts) while the room under them is drawn.
fn block_popups(ui: &mut Ui, state: &AppState, room: &Room) {
    if state.composer.emoji_panel.progress > 0.0 {
        ui.blocked.push(emoji::panel_rect(room.emoji_anchor));
    }
    if state.popups.menu_open {
        ui.blocked.push(room.menu);
    }
    let toasts = layout::toast_rects(state.toasts.len(), room.main, room.composer.y);
    ui.blocked.extend(toasts.iter().map(|(r, _)| *r));
}

/// Escape closes the topmost popup; files dropped on the window are
/// shared.
fn read_shortcuts(ui: &mut Ui, state: &AppState) {
    if ui.input.key_pressed(KeyCode::Escape) {
        if state.share_sheet.is_some() {
            ui.emit(Intent::CloseShareSheet);
        } else if state.popups.overlay.is_some()
            || state.popups.viewing_cached.is_some()
            || state.popups.menu_open
        {
            ui.emit(Intent::CloseOverlay);
        } else if state.composer.emoji_panel.open {
            ui.emit(Intent::ToggleEmojiPanel);
        }
    }
    for path in &ui.input.dropped {
        ui.intents.push(Intent::ShareDropped(path.clone()));
    }
}
