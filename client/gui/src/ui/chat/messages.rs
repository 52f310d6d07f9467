//! The message list of the selected conversation: its layout kept up to
//! date, scrolling (smooth, eased towards a target, paging older history
//! in near the top), the notes at the history's edges, the rows in view,
//! and the button down to messages that arrived below a reader scrolled up.

use std::collections::HashMap;

use macroquad::miniquad::KeyCode;
use macroquad::prelude::*;
use natter_common::Conversation;

use crate::app::intent::Intent;
use crate::app::state::{AppState, ConversationLog, Delivery, Entry, EntryKey};
use crate::app::truncate_for_display;
use crate::ui::chat::layout::{
    self, Layout, Measure, Message, Scroll, Stamp, AVATAR_GUTTER, LIST_PAD_X, LIST_TOP_PAD,
};
use crate::ui::chat::row::Rows;
use crate::ui::fonts::Fonts;
use crate::ui::media::Pictures;
use crate::ui::theme;
use crate::ui::widgets::{self, rounded_rect, shadow, Ui};

impl Measure for Fonts {
    fn width(&self, text: &str, size: f32) -> f32 {
        Fonts::width(self, text, size)
    }

    fn wrap(&self, text: &str, size: f32, max_w: f32) -> Vec<String> {
        Fonts::wrap(self, text, size, max_w)
    }
}

/// The message lists' memory across frames, per conversation: its layout,
/// its scroll position, and the newest message the reader has seen.
#[derive(Debug, Default)]
pub struct MessageList {
    layouts: HashMap<Conversation, Layout<EntryKey>>,
    scrolls: HashMap<Conversation, Scroll>,
    /// Per conversation, the newest message the reader has seen at the
    /// bottom; newer ones make a "new messages" button.
    seen: HashMap<Conversation, Option<EntryKey>>,
    /// The state's count of our sends, as last seen: a new send scrolls
    /// to the newest message.
    sent_seen: u64,
    /// Frames spent in layout rebuilds (for the benchmark).
    pub rebuilds: u64,
}

/// What the layout needs to know of an entry.
fn message(e: &Entry) -> Message<'_, EntryKey> {
    Message {
        key: e.key(),
        from: &e.from,
        day: e.day,
        sent_at: e.sent_at.0,
        content: &e.content,
        failed: matches!(e.delivery, Delivery::Failed(_)),
    }
}

impl MessageList {
    /// Forgets layouts and scroll positions (after logout).
    pub fn reset(&mut self) {
        self.layouts.clear();
        self.scrolls.clear();
        self.seen.clear();
    }

    /// Scrolls conversation `c` by `pixels` (positive = older).
    pub fn scroll_by(&mut self, c: &Conversation, pixels: f32) {
        let s = self.scrolls.entry(c.clone()).or_default();
        s.target = (s.target + pixels).max(0.0);
    }

    /// Eases down to the newest message.
    pub fn scroll_to_bottom_smoothly(&mut self, c: &Conversation) {
        self.scrolls.entry(c.clone()).or_default().target = 0.0;
    }

    /// Jumps to the newest message.
    pub fn scroll_to_bottom(&mut self, c: &Conversation) {
        self.scrolls.insert(c.clone(), Scroll::default());
    }

    /// Whether a scroll is still easing.
    pub fn scrolling(&self, c: &Conversation) -> bool {
        self.scrolls.get(c).is_some_and(Scroll::easing)
    }

    /// Draws the selected conversation's messages in `list`.
    pub fn draw(&mut self, ui: &mut Ui, state: &AppState, pictures: &mut Pictures, list: Rect) {
        let c = state.selected.clone();
        if self.sent_seen != state.sent_count {
            self.sent_seen = state.sent_count;
            self.scroll_to_bottom_smoothly(&c);
        }
        let empty = ConversationLog::default();
        let log = state.current_log().unwrap_or(&empty);
        self.update_layout(ui.fonts, &c, log, list);
        let total = self.layouts.get(&c).map_or(0.0, Layout::total);
        let max_offset = (total - list.h).max(0.0);
        let offset = self.scroll(ui, &c, list, max_offset);

        // Near the top with more on the server: page older history in.
        if log.more_before && !log.loading_older && offset >= max_offset - 80.0 {
            ui.emit(Intent::LoadOlder);
        }
        let Some(layout) = self.layouts.get(&c) else {
            return;
        };
        // Content y of the view's top; short content sits at the bottom.
        let top = total - list.h - offset;
        let shift = list.y - top;
        draw_edges(ui, &c, log, list, shift);
        let pill = new_messages_pill(ui, &mut self.seen, &c, log, list, offset);
        if let Some((_, r)) = &pill {
            ui.blocked.push(*r);
        }
        let mut rows = Rows::new(state, pictures, list, shift);
        for (i, row) in layout.visible(top, list.h) {
            let Some(entry) = log.entries.get(i) else {
                break;
            };
            rows.draw(ui, entry, row);
        }
        for intent in rows.fetches {
            ui.emit(intent);
        }
        if let Some((label, r)) = pill {
            ui.blocked.pop();
            if draw_pill(ui, &label, r) {
                self.scroll_to_bottom_smoothly(&c);
            }
        }
    }

    /// Brings the layout of `c` up to date for the list's width; keeps
    /// the reading position of a scrolled-up reader.
    fn update_layout(
        &mut self,
        fonts: &Fonts,
        c: &Conversation,
        log: &ConversationLog,
        list: Rect,
    ) {
        let stamp = Stamp {
            revision: log.revision,
            width: list.w - 2.0 * LIST_PAD_X - AVATAR_GUTTER,
        };
        let layout = self.layouts.entry(c.clone()).or_default();
        let scroll = self.scrolls.entry(c.clone()).or_default();
        let messages = log.entries.iter().map(message);
        if layout.update(fonts, messages, stamp, scroll, list.h) {
            self.rebuilds += 1;
        }
    }

    /// Applies this frame's wheel and page keys and eases the scroll of
    /// `c`; returns its offset.
    fn scroll(&mut self, ui: &mut Ui, c: &Conversation, list: Rect, max_offset: f32) -> f32 {
        let s = self.scrolls.entry(c.clone()).or_default();
        if ui.input.wheel != 0.0 && ui.hover(list) {
            s.wheel(ui.input.wheel);
        }
        for key in &ui.input.keys {
            if let widgets::Key::Down { code, .. } = key {
                match code {
                    KeyCode::PageUp => s.page(true, list.h),
                    KeyCode::PageDown => s.page(false, list.h),
                    _ => {}
                }
            }
        }
        ui.animating |= s.ease(ui.dt, max_offset);
        s.offset
    }
}

/// The notes at the history's edges: loading older messages, the
/// beginning of the conversation, or that it is empty.
fn draw_edges(ui: &Ui, c: &Conversation, log: &ConversationLog, list: Rect, shift: f32) {
    let y = LIST_TOP_PAD / 2.0 + shift + 6.0;
    if log.loading_older {
        let text = "Loading older messages...";
        ui.fonts
            .draw(text, list.x + LIST_PAD_X, y, theme::SMALL, theme::FAINT);
    } else if !log.more_before && !log.entries.is_empty() {
        let text = match c {
            Conversation::Group => "The beginning of the group chat.".to_owned(),
            Conversation::With(u) => format!(
                "The beginning of your conversation with {}.",
                truncate_for_display(u.as_str(), 24)
            ),
        };
        let w = ui.fonts.width(&text, theme::SMALL);
        let x = list.x + (list.w - w) / 2.0;
        ui.fonts.draw(&text, x, y, theme::SMALL, theme::FAINT);
    }
    if log.entries.is_empty() && !log.loading_older {
        let text = "No messages yet — say hello.";
        let w = ui.fonts.width(text, theme::BODY);
        let (x, y) = (list.x + (list.w - w) / 2.0, list.y + list.h / 2.0);
        ui.fonts.draw(text, x, y, theme::BODY, theme::FAINT);
    }
}

/// The "new messages" button for messages that arrived below while the
/// reader is scrolled up (at `offset`): its label and place, if any.
fn new_messages_pill(
    ui: &Ui,
    seen: &mut HashMap<Conversation, Option<EntryKey>>,
    c: &Conversation,
    log: &ConversationLog,
    list: Rect,
    offset: f32,
) -> Option<(String, Rect)> {
    let newest = log.entries.last().map(Entry::key);
    let seen = seen.entry(c.clone()).or_insert(newest);
    if offset < 4.0 {
        *seen = newest;
    }
    let fresh = layout::unseen(log.entries.iter().rev().map(Entry::key), *seen);
    (fresh > 0).then(|| {
        let label = layout::new_messages_label(fresh);
        let w = ui.fonts.width(&label, theme::SMALL) + 44.0;
        let r = Rect::new(list.x + (list.w - w) / 2.0, list.y + list.h - 46.0, w, 32.0);
        (label, r)
    })
}

/// Draws the "new messages" button; true when clicked.
fn draw_pill(ui: &mut Ui, label: &str, r: Rect) -> bool {
    shadow(r, 16.0);
    let fill = if ui.hover(r) {
        theme::ACCENT_HOVER
    } else {
        theme::ACCENT
    };
    rounded_rect(r, 16.0, fill);
    // A small down arrow, then the count.
    let (ax, ay) = (r.x + 20.0, r.y + r.h / 2.0);
    draw_triangle(
        vec2(ax - 5.0, ay - 2.0),
        vec2(ax + 5.0, ay - 2.0),
        vec2(ax, ay + 4.0),
        WHITE,
    );
    ui.fonts
        .draw_centred_v(label, r.x + 32.0, r.y, r.h, theme::SMALL, WHITE);
    ui.clicked(r)
}
