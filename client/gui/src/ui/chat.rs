//! The chat room: people on the left, the conversation on the right with
//! its header, message list, transfers and composer, plus the popups that
//! float over it (emoji picker, menu, share sheet, toasts, picture view).
//!
//! The message list draws only the rows in view. Row heights are measured
//! once per conversation revision and width (text is wrapped once per
//! width, cached by message), kept as offsets, and the visible range is
//! found by binary search, so a 10,000-message history costs what a screen
//! of it costs. Scrolling is smooth (eased towards a target) and keeps the
//! reading position when older pages arrive above or new messages below.

use std::collections::HashMap;

use macroquad::miniquad::KeyCode;
use macroquad::prelude::*;
use natter_common::{Content, Conversation, MediaKind, Recipient};

use crate::app::intent::{Field, Intent};
use crate::app::state::{
    AppState, Connection, ConversationLog, Delivery, Entry, EntryKey, MediaSlot, Transfer,
    TransferPurpose,
};
use crate::app::{human_size, truncate_for_display};
use crate::ui::emoji::{self, EmojiPicker};
use crate::ui::fonts::LINE;
use crate::ui::media::{self, Pictures};
use crate::ui::theme;
use crate::ui::widgets::{
    self, avatar, button, icon_button, progress_bar, rounded_rect, shadow, text_field, ButtonStyle,
    FieldAction, FieldLook, Ui,
};

const LIST_PAD_X: f32 = 24.0;
const LIST_TOP_PAD: f32 = 56.0;
const BUBBLE_PAD_X: f32 = 12.0;
const BUBBLE_PAD_Y: f32 = 8.0;
const TEXT_SIZE: f32 = theme::BODY;
const DAY_SEPARATOR: f32 = 44.0;
const HEADER_LINE: f32 = 22.0;
const EMOJI_SIZE: f32 = 56.0;
const PICTURE_MAX: (f32, f32) = (320.0, 240.0);
const FILE_CARD: (f32, f32) = (300.0, 74.0);
const AVATAR_GUTTER: f32 = 44.0;
/// Messages from one sender closer than this share one header.
const GROUP_GAP_MS: i64 = 5 * 60 * 1000;
const WHEEL_STEP: f32 = 72.0;

/// What a row holds besides its header.
#[derive(Debug, Clone)]
enum Body {
    Text { lines: Vec<String> },
    Emoji,
    Picture { w: f32, h: f32 },
    File,
}

/// One laid-out message.
#[derive(Debug, Clone)]
struct Row {
    y: f32,
    h: f32,
    day_separator: bool,
    header: bool,
    /// Height of the bubble (or emoji, picture).
    body_h: f32,
    body_w: f32,
    body: Body,
}

/// The measured rows of one conversation at one width.
#[derive(Debug, Default)]
struct Layout {
    width: f32,
    revision: u64,
    built: bool,
    rows: Vec<Row>,
    keys: Vec<EntryKey>,
    total: f32,
    /// Wrapped text by message, valid for `width`.
    wraps: HashMap<EntryKey, (Vec<String>, f32)>,
}

/// Scroll position: distance from the bottom (0 = newest in view), eased
/// towards `target`.
#[derive(Debug, Clone, Copy, Default)]
struct Scroll {
    offset: f32,
    target: f32,
}

/// The chat room's view-side memory: layouts, scroll positions, textures.
pub struct ChatView {
    layouts: HashMap<Conversation, Layout>,
    scrolls: HashMap<Conversation, Scroll>,
    pub pictures: Pictures,
    pub picker: EmojiPicker,
    /// Frames spent in layout rebuilds (for the benchmark).
    pub rebuilds: u64,
    /// The state's count of our sends, as last seen: a new send scrolls
    /// to the newest message.
    sent_seen: u64,
    /// Per conversation, the newest message the reader has seen at the
    /// bottom; newer ones make a "new messages" button.
    seen: HashMap<Conversation, Option<EntryKey>>,
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

fn bubble_colours(state: &AppState, e: &Entry) -> (Color, Color) {
    let mine = state.is_me(&e.from);
    match (&e.to, mine) {
        (Recipient::Everyone, true) => (theme::BUBBLE_GROUP_MINE, theme::NAME_GROUP_MINE),
        (Recipient::Everyone, false) => (theme::BUBBLE_GROUP_THEIRS, theme::NAME_GROUP_THEIRS),
        (Recipient::User(_), true) => (theme::BUBBLE_PRIVATE_MINE, theme::NAME_PRIVATE_MINE),
        (Recipient::User(_), false) => (theme::BUBBLE_PRIVATE_THEIRS, theme::NAME_PRIVATE_THEIRS),
    }
}

impl ChatView {
    pub fn new() -> Self {
        Self {
            layouts: HashMap::new(),
            scrolls: HashMap::new(),
            pictures: Pictures::new(media::TEXTURE_BUDGET),
            picker: EmojiPicker::default(),
            rebuilds: 0,
            sent_seen: 0,
            seen: HashMap::new(),
        }
    }

    /// Forgets layouts and scroll positions (after logout).
    pub fn reset(&mut self) {
        self.layouts.clear();
        self.scrolls.clear();
        self.seen.clear();
    }

    /// Scrolls the selected conversation by `pixels` (positive = older).
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
        self.scrolls
            .get(c)
            .is_some_and(|s| (s.offset - s.target).abs() > 0.5)
    }

    /// Brings the layout of `c` up to date for `width`; keeps the reading
    /// position of a scrolled-up reader.
    fn update_layout(
        &mut self,
        ui: &Ui,
        c: &Conversation,
        log: &ConversationLog,
        width: f32,
        view_h: f32,
    ) {
        let layout = self.layouts.entry(c.clone()).or_default();
        if layout.built && layout.revision == log.revision && (layout.width - width).abs() < 0.5 {
            return;
        }
        self.rebuilds += 1;
        let scroll = self.scrolls.entry(c.clone()).or_default();
        // The row at the top of the view, and how far into it we are.
        let anchor = if layout.built && scroll.offset > 0.5 && layout.total > view_h {
            let top = layout.total - view_h - scroll.offset;
            let i = layout
                .rows
                .partition_point(|r| r.y + r.h <= top)
                .min(layout.rows.len().saturating_sub(1));
            layout.rows.get(i).map(|r| (layout.keys[i], top - r.y))
        } else {
            None
        };
        if (layout.width - width).abs() >= 0.5 {
            layout.wraps.clear();
        }
        layout.width = width;
        layout.revision = log.revision;
        layout.built = true;
        let max_bubble = (width * 0.72).min(620.0);
        let max_text = max_bubble - 2.0 * BUBBLE_PAD_X;
        let line_h = TEXT_SIZE * LINE;
        let time_w = ui.fonts.width("00:00", theme::SMALL) + 26.0;

        let mut rows = Vec::with_capacity(log.entries.len());
        let mut keys = Vec::with_capacity(log.entries.len());
        let mut wraps = std::mem::take(&mut layout.wraps);
        let mut y = LIST_TOP_PAD;
        let mut prev: Option<&Entry> = None;
        for e in &log.entries {
            let key = e.key();
            let day_separator = prev.is_none_or(|p| p.day != e.day);
            let header = day_separator
                || prev.is_none_or(|p| {
                    !p.from.same_account(&e.from) || e.sent_at.0 - p.sent_at.0 > GROUP_GAP_MS
                });
            let (body, body_w, body_h) = match &e.content {
                Content::Text(text) => {
                    let (lines, text_w) = wraps
                        .entry(key)
                        .or_insert_with(|| {
                            let lines = ui.fonts.wrap(text, TEXT_SIZE, max_text);
                            let w = lines
                                .iter()
                                .map(|l| ui.fonts.width(l, TEXT_SIZE))
                                .fold(0.0, f32::max);
                            (lines, w)
                        })
                        .clone();
                    let last_w = lines.last().map_or(0.0, |l| ui.fonts.width(l, TEXT_SIZE));
                    let time_inline = last_w + time_w <= max_text;
                    let inner_w = if time_inline {
                        text_w.max(last_w + time_w)
                    } else {
                        text_w.max(time_w)
                    };
                    let n = lines.len().max(1) as f32 + if time_inline { 0.0 } else { 0.8 };
                    let h = n * line_h + 2.0 * BUBBLE_PAD_Y;
                    (Body::Text { lines }, inner_w + 2.0 * BUBBLE_PAD_X, h)
                }
                Content::Emoji(_) => (Body::Emoji, EMOJI_SIZE + time_w, EMOJI_SIZE + 8.0),
                Content::Image {
                    width: pw,
                    height: ph,
                    ..
                } => {
                    let (w, h) = media::fit(
                        *pw as f32,
                        *ph as f32,
                        PICTURE_MAX.0.min(max_bubble - 8.0),
                        PICTURE_MAX.1,
                    );
                    (Body::Picture { w, h }, w + 8.0, h + 8.0)
                }
                Content::File(_) => (Body::File, FILE_CARD.0, FILE_CARD.1),
            };
            let failed = matches!(e.delivery, Delivery::Failed(_));
            let mut h = body_h + if header { HEADER_LINE + 8.0 } else { 3.0 };
            if day_separator {
                h += DAY_SEPARATOR;
            }
            if failed {
                h += 20.0;
            }
            rows.push(Row {
                y,
                h,
                day_separator,
                header,
                body_h,
                body_w,
                body,
            });
            keys.push(key);
            y += h;
            prev = Some(e);
        }
        // Keep only the wraps still in use.
        if wraps.len() > log.entries.len() + 64 {
            let live: std::collections::HashSet<EntryKey> = keys.iter().copied().collect();
            wraps.retain(|k, _| live.contains(k));
        }
        layout.wraps = wraps;
        layout.rows = rows;
        layout.keys = keys;
        layout.total = y + 12.0;

        if let Some((key, delta)) = anchor {
            if let Some(i) = layout.keys.iter().rposition(|k| *k == key) {
                let new_top = layout.rows[i].y + delta;
                let offset = (layout.total - view_h - new_top).max(0.0);
                let shift = offset - scroll.offset;
                scroll.offset = offset;
                scroll.target = (scroll.target + shift).max(0.0);
            }
        }
    }
}

/// Draws the chat room.
pub fn draw(ui: &mut Ui, state: &AppState, view: &mut ChatView) {
    let (w, h) = (screen_width(), screen_height());
    let main = Rect::new(theme::SIDEBAR_WIDTH, 0.0, w - theme::SIDEBAR_WIDTH, h);

    // Popups drawn later cover the mouse for what is drawn first.
    let modal =
        state.overlay.is_some() || state.share_sheet.is_some() || state.viewing_cached.is_some();
    ui.mouse_enabled = !modal;
    let composer_h = composer_height(ui, state, main.w);
    let composer = Rect::new(main.x, h - composer_h, main.w, composer_h);
    let emoji_anchor = vec2(composer.x + 12.0, composer.y - 4.0);
    if state.emoji_panel.progress > 0.0 {
        ui.blocked.push(emoji::panel_rect(emoji_anchor));
    }
    let menu = menu_rect(main);
    if state.menu_open {
        ui.blocked.push(menu);
    }
    let toasts = toast_rects(state, main, composer.y);
    ui.blocked.extend(toasts.iter().map(|(r, _)| *r));

    draw_sidebar(ui, state, Rect::new(0.0, 0.0, theme::SIDEBAR_WIDTH, h));

    let banner_h = if matches!(state.connection, Connection::Online | Connection::Offline) {
        0.0
    } else {
        40.0
    };
    let uploads: Vec<&Transfer> = state
        .transfers
        .values()
        .filter(|t| matches!(&t.purpose, TransferPurpose::Upload { conversation, .. } if *conversation == state.selected))
        .collect();
    let uploads_h = uploads.len().min(3) as f32 * 58.0;
    let list = Rect::new(
        main.x,
        theme::HEADER_HEIGHT + banner_h,
        main.w,
        composer.y - theme::HEADER_HEIGHT - banner_h - uploads_h,
    );
    // Rows scrolled under the header or the composer must not take clicks.
    let covers = [
        Rect::new(main.x, 0.0, main.w, list.y),
        Rect::new(main.x, list.y + list.h, main.w, h - list.y - list.h),
    ];
    ui.blocked.extend(covers);
    draw_messages(ui, state, view, list);
    ui.blocked.truncate(ui.blocked.len() - covers.len());
    draw_uploads(
        ui,
        &uploads,
        Rect::new(main.x, list.y + list.h, main.w, uploads_h),
    );
    draw_header(
        ui,
        state,
        Rect::new(main.x, 0.0, main.w, theme::HEADER_HEIGHT),
    );
    if banner_h > 0.0 {
        draw_banner(
            ui,
            state,
            Rect::new(main.x, theme::HEADER_HEIGHT, main.w, banner_h),
        );
    }
    draw_composer(ui, state, composer);

    // Popups, top to bottom; each gets the mouse back.
    ui.blocked.clear();
    if !modal {
        view.picker.draw(ui, state, emoji_anchor);
        if state.menu_open {
            draw_menu(ui, menu);
        }
    }
    draw_toast_stack(ui, state, composer.y);
    ui.mouse_enabled = true;
    if let Some(sheet) = &state.share_sheet {
        draw_share_sheet(ui, sheet);
    }

    // Keyboard shortcuts.
    if ui.input.key_pressed(KeyCode::Escape) {
        if state.share_sheet.is_some() {
            ui.emit(Intent::CloseShareSheet);
        } else if state.overlay.is_some() || state.viewing_cached.is_some() || state.menu_open {
            ui.emit(Intent::CloseOverlay);
        } else if state.emoji_panel.open {
            ui.emit(Intent::ToggleEmojiPanel);
        }
    }
    for path in &ui.input.dropped {
        ui.intents.push(Intent::ShareDropped(path.clone()));
    }
}

fn draw_sidebar(ui: &mut Ui, state: &AppState, r: Rect) {
    draw_rectangle(r.x, r.y, r.w, r.h, theme::SIDEBAR);
    // Brand.
    draw_circle(r.x + 30.0, 32.0, 13.0, theme::ACCENT);
    draw_triangle(
        vec2(r.x + 22.0, 40.0),
        vec2(r.x + 20.0, 50.0),
        vec2(r.x + 31.0, 43.0),
        theme::ACCENT,
    );
    for i in 0..3 {
        draw_circle(r.x + 24.0 + i as f32 * 6.0, 32.0, 1.8, WHITE);
    }
    ui.fonts.draw("natter", r.x + 52.0, 39.0, 22.0, theme::TEXT);
    let server = ui.fonts.fit(&state.server, theme::SMALL, r.w - 40.0);
    ui.fonts
        .draw(&server, r.x + 20.0, 74.0, theme::SMALL, theme::FAINT);

    ui.fonts
        .draw("CONVERSATIONS", r.x + 20.0, 108.0, 11.0, theme::FAINT);
    let mut y = 118.0;
    let footer_h = if state.hosting.is_some() { 190.0 } else { 66.0 };
    let people = state.people();
    for (c, online) in &people {
        if y + 46.0 > r.h - footer_h {
            break;
        }
        let row = Rect::new(r.x + 8.0, y, r.w - 16.0, 44.0);
        match c {
            Conversation::Group => ui.mark("conversation:group", row),
            Conversation::With(user) => ui.mark(format_args!("conversation:{user}"), row),
        }
        let selected = *c == state.selected;
        let hover = ui.hover(row);
        if selected || hover {
            rounded_rect(
                row,
                8.0,
                if selected {
                    theme::SURFACE_HOVER
                } else {
                    theme::SURFACE
                },
            );
        }
        let unread = state.conversations.get(c).map_or(0, |l| l.unread);
        match c {
            Conversation::Group => {
                group_icon(row.x + 22.0, row.y + 22.0, 15.0);
                ui.fonts.draw_centred_v(
                    "Group chat",
                    row.x + 46.0,
                    row.y,
                    row.h,
                    theme::BODY,
                    theme::TEXT,
                );
            }
            Conversation::With(user) => {
                avatar(ui.fonts, user.as_str(), row.x + 22.0, row.y + 22.0, 15.0);
                let dot = if *online {
                    theme::SUCCESS
                } else {
                    theme::FAINT
                };
                draw_circle(row.x + 33.0, row.y + 33.0, 5.5, theme::SIDEBAR);
                draw_circle(row.x + 33.0, row.y + 33.0, 4.0, dot);
                let name = ui.fonts.fit(user.as_str(), theme::BODY, row.w - 90.0);
                let colour = if *online { theme::TEXT } else { theme::MUTED };
                ui.fonts
                    .draw_centred_v(&name, row.x + 46.0, row.y, row.h, theme::BODY, colour);
            }
        }
        if unread > 0 && !selected {
            let label = if unread > 99 {
                "99+".to_owned()
            } else {
                unread.to_string()
            };
            let bw = ui.fonts.width(&label, 12.0) + 14.0;
            let badge = Rect::new(row.x + row.w - bw - 10.0, row.y + 12.0, bw.max(22.0), 20.0);
            rounded_rect(badge, 10.0, theme::ACCENT);
            ui.fonts.draw_centred(&label, badge, 12.0, WHITE);
        }
        if ui.clicked(row) {
            ui.emit(Intent::SelectConversation(c.clone()));
        }
        y += 46.0;
    }
    if people.len() == 1 {
        ui.fonts.draw(
            "Nobody else is online yet.",
            r.x + 20.0,
            y + 22.0,
            theme::SMALL,
            theme::FAINT,
        );
    }

    // Hosting card.
    if let Some(hosting) = &state.hosting {
        let card = Rect::new(r.x + 10.0, r.h - footer_h, r.w - 20.0, 118.0);
        rounded_rect(card, 10.0, theme::hex(0x17251d));
        draw_circle(card.x + 16.0, card.y + 18.0, 4.0, theme::SUCCESS);
        ui.fonts.draw(
            "Hosting a server here",
            card.x + 28.0,
            card.y + 23.0,
            theme::SMALL,
            theme::SUCCESS,
        );
        ui.fonts.draw(
            "Others join with",
            card.x + 12.0,
            card.y + 44.0,
            12.0,
            theme::MUTED,
        );
        let address = hosting.join_addresses.first().cloned().unwrap_or_default();
        ui.fonts.draw(
            &address,
            card.x + 12.0,
            card.y + 62.0,
            theme::SMALL,
            theme::TEXT,
        );
        let fp = hosting.fingerprint.to_string();
        let short = format!(
            "{}...{}",
            &fp[..19.min(fp.len())],
            &fp[fp.len().saturating_sub(6)..]
        );
        ui.fonts
            .draw(&short, card.x + 12.0, card.y + 82.0, 12.0, theme::MUTED);
        let copy = Rect::new(card.x + 12.0, card.y + 90.0, card.w - 24.0, 22.0);
        if button(
            ui,
            copy,
            "Copy address + fingerprint",
            ButtonStyle::Secondary,
        ) {
            macroquad::miniquad::window::clipboard_set(&format!("{address} {fp}"));
        }
    }

    // Me.
    let me = Rect::new(r.x, r.h - 62.0, r.w, 62.0);
    draw_rectangle(me.x, me.y, me.w, 1.0, theme::BORDER);
    let name = state.me.as_ref().map_or("", |m| m.as_str());
    avatar(ui.fonts, name, me.x + 30.0, me.y + 31.0, 16.0);
    let shown = ui.fonts.fit(name, theme::BODY, me.w - 70.0);
    ui.fonts
        .draw(&shown, me.x + 56.0, me.y + 28.0, theme::BODY, theme::TEXT);
    let (dot, label) = match &state.connection {
        Connection::Online => (theme::SUCCESS, "Online"),
        Connection::Reconnecting { .. } => (theme::WARNING, "Reconnecting..."),
        Connection::Closed(_) => (theme::DANGER, "Disconnected"),
        Connection::Offline => (theme::FAINT, "Offline"),
    };
    draw_circle(me.x + 60.0, me.y + 43.0, 3.5, dot);
    ui.fonts
        .draw(label, me.x + 68.0, me.y + 48.0, 12.0, theme::MUTED);
}

/// The group's avatar: two people on an accent disc.
fn group_icon(cx: f32, cy: f32, r: f32) {
    draw_poly(cx, cy, 32, r, 0.0, theme::ACCENT);
    let dim = theme::mix(theme::ACCENT, WHITE, 0.45);
    for (dx, colour) in [(-0.3f32, dim), (0.22, WHITE)] {
        let x = cx + dx * r;
        draw_poly(x, cy - r * 0.25, 16, r * 0.24, 0.0, colour);
        // Shoulders: the upper half of a disc.
        let (sy, sr) = (cy + r * 0.5, r * 0.42);
        let steps = 12;
        for i in 0..steps {
            let a0 = std::f32::consts::PI * (1.0 + i as f32 / steps as f32);
            let a1 = std::f32::consts::PI * (1.0 + (i + 1) as f32 / steps as f32);
            draw_triangle(
                vec2(x, sy),
                vec2(x + sr * a0.cos(), sy + sr * a0.sin()),
                vec2(x + sr * a1.cos(), sy + sr * a1.sin()),
                colour,
            );
        }
    }
}

fn draw_header(ui: &mut Ui, state: &AppState, r: Rect) {
    draw_rectangle(r.x, r.y, r.w, r.h, theme::HEADER);
    draw_rectangle(r.x, r.y + r.h - 1.0, r.w, 1.0, theme::BORDER);
    let title = ui.fonts.fit(&state.title(), 18.0, r.w - 120.0);
    ui.fonts
        .draw(&title, r.x + LIST_PAD_X, r.y + 25.0, 18.0, theme::TEXT);
    let subtitle = match &state.selected {
        Conversation::Group => {
            let n = state.online.len();
            format!("Everyone · {n} online")
        }
        Conversation::With(user) => {
            if state.online.iter().any(|u| u.same_account(user)) {
                "Private conversation · online".to_owned()
            } else {
                "Private conversation · offline: they will read it later".to_owned()
            }
        }
    };
    ui.fonts
        .draw(&subtitle, r.x + LIST_PAD_X, r.y + 45.0, 12.0, theme::MUTED);
    let button_r = Rect::new(r.x + r.w - 52.0, r.y + 10.0, 36.0, 36.0);
    ui.mark("menu_button", button_r);
    if icon_button(ui, button_r, state.menu_open, widgets::icon_menu) {
        ui.emit(Intent::ToggleMenu);
    }
}

fn menu_rect(main: Rect) -> Rect {
    Rect::new(
        main.x + main.w - 236.0,
        theme::HEADER_HEIGHT - 4.0,
        220.0,
        92.0,
    )
}

fn draw_menu(ui: &mut Ui, r: Rect) {
    shadow(r, 10.0);
    rounded_rect(r, 10.0, theme::SURFACE);
    let items = [
        (
            "Cached pictures & files",
            Intent::OpenCacheBrowser,
            "menu:cache_browser",
        ),
        ("Log out", Intent::Logout, "menu:logout"),
    ];
    for (i, (label, intent, control)) in items.into_iter().enumerate() {
        let item = Rect::new(r.x + 6.0, r.y + 6.0 + i as f32 * 40.0, r.w - 12.0, 38.0);
        ui.mark(control, item);
        if ui.hover(item) {
            rounded_rect(item, 6.0, theme::SURFACE_HOVER);
        }
        let colour = if i == 1 {
            theme::NAME_PRIVATE_THEIRS
        } else {
            theme::TEXT
        };
        ui.fonts.draw_centred_v(
            label,
            item.x + 12.0,
            item.y,
            item.h,
            theme::BODY - 1.0,
            colour,
        );
        if ui.clicked(item) {
            ui.emit(intent);
        }
    }
    // A click elsewhere closes the menu.
    if ui.input.clicked && !ui.click_used && !r.contains(ui.mouse()) {
        ui.click_used = true;
        ui.emit(Intent::ToggleMenu);
    }
}

fn draw_banner(ui: &mut Ui, state: &AppState, r: Rect) {
    match &state.connection {
        Connection::Reconnecting { reason, retry_at } => {
            draw_rectangle(r.x, r.y, r.w, r.h, theme::WARNING_BG);
            widgets::icon_clock(r.x + LIST_PAD_X + 6.0, r.y + r.h / 2.0, 7.0, theme::WARNING);
            let text = format!(
                "Connection lost — reconnecting... ({}; next try in {:.0} s). Messages you send wait and go out after.",
                truncate_for_display(reason, 60),
                (retry_at - ui.now).max(0.0).ceil()
            );
            let text = ui
                .fonts
                .fit(&text, theme::SMALL, r.w - 2.0 * LIST_PAD_X - 20.0);
            ui.fonts.draw_centred_v(
                &text,
                r.x + LIST_PAD_X + 20.0,
                r.y,
                r.h,
                theme::SMALL,
                theme::WARNING,
            );
        }
        Connection::Closed(reason) => {
            draw_rectangle(r.x, r.y, r.w, r.h, theme::DANGER_BG);
            let text = format!("Disconnected: {}", truncate_for_display(reason, 120));
            let text = ui
                .fonts
                .fit(&text, theme::SMALL, r.w - 2.0 * LIST_PAD_X - 140.0);
            ui.fonts.draw_centred_v(
                &text,
                r.x + LIST_PAD_X,
                r.y,
                r.h,
                theme::SMALL,
                theme::NAME_PRIVATE_THEIRS,
            );
            let b = Rect::new(r.x + r.w - 140.0, r.y + 6.0, 120.0, r.h - 12.0);
            if button(ui, b, "Log in again", ButtonStyle::Danger) {
                ui.emit(Intent::BackToLogin);
            }
        }
        _ => {}
    }
}

fn draw_messages(ui: &mut Ui, state: &AppState, view: &mut ChatView, list: Rect) {
    let c = state.selected.clone();
    if view.sent_seen != state.sent_count {
        view.sent_seen = state.sent_count;
        view.scrolls.entry(c.clone()).or_default().target = 0.0;
    }
    let empty = ConversationLog::default();
    let log = state.current_log().unwrap_or(&empty);
    let width = list.w - 2.0 * LIST_PAD_X - AVATAR_GUTTER;
    view.update_layout(ui, &c, log, width, list.h);

    // Scrolling.
    let total = view.layouts.get(&c).map_or(0.0, |l| l.total);
    let max_offset = (total - list.h).max(0.0);
    {
        let s = view.scrolls.entry(c.clone()).or_default();
        if ui.input.wheel != 0.0 && ui.hover(list) {
            s.target += ui.input.wheel.signum() * WHEEL_STEP * ui.input.wheel.abs().min(5.0);
        }
        for key in &ui.input.keys {
            if let widgets::Key::Down { code, .. } = key {
                match code {
                    KeyCode::PageUp => s.target += list.h * 0.85,
                    KeyCode::PageDown => s.target -= list.h * 0.85,
                    _ => {}
                }
            }
        }
        s.target = s.target.clamp(0.0, max_offset);
        let k = 1.0 - (-ui.dt * 16.0).exp();
        s.offset += (s.target - s.offset) * k;
        if (s.offset - s.target).abs() < 0.5 {
            s.offset = s.target;
        } else {
            ui.animating = true;
        }
        s.offset = s.offset.clamp(0.0, max_offset);
    }
    let offset = view.scrolls.get(&c).map_or(0.0, |s| s.offset);

    // Near the top with more on the server: page older history in.
    if log.more_before && !log.loading_older && offset >= max_offset - 80.0 {
        ui.emit(Intent::LoadOlder);
    }

    let Some(layout) = view.layouts.get(&c) else {
        return;
    };
    // Content y of the view's top; short content sits at the bottom.
    let top = total - list.h - offset;
    let shift = list.y - top;
    if log.loading_older {
        ui.fonts.draw(
            "Loading older messages...",
            list.x + LIST_PAD_X,
            LIST_TOP_PAD / 2.0 + shift + 6.0,
            theme::SMALL,
            theme::FAINT,
        );
    } else if !log.more_before && !log.entries.is_empty() {
        let text = match &c {
            Conversation::Group => "The beginning of the group chat.".to_owned(),
            Conversation::With(u) => format!(
                "The beginning of your conversation with {}.",
                truncate_for_display(u.as_str(), 24)
            ),
        };
        let w = ui.fonts.width(&text, theme::SMALL);
        ui.fonts.draw(
            &text,
            list.x + (list.w - w) / 2.0,
            LIST_TOP_PAD / 2.0 + shift + 6.0,
            theme::SMALL,
            theme::FAINT,
        );
    }
    if log.entries.is_empty() && !log.loading_older {
        let text = "No messages yet — say hello.";
        let w = ui.fonts.width(text, theme::BODY);
        ui.fonts.draw(
            text,
            list.x + (list.w - w) / 2.0,
            list.y + list.h / 2.0,
            theme::BODY,
            theme::FAINT,
        );
    }

    // Messages that arrived below while the reader is scrolled up.
    let newest = log.entries.last().map(Entry::key);
    let seen = view.seen.entry(c.clone()).or_insert(newest);
    if offset < 4.0 {
        *seen = newest;
    }
    let fresh = match *seen {
        Some(key) => log
            .entries
            .iter()
            .rev()
            .take(100)
            .take_while(|e| e.key() != key)
            .count(),
        None => log.entries.len().min(100),
    };
    let pill = (fresh > 0).then(|| {
        let label = if fresh >= 100 {
            "99+ new messages".to_owned()
        } else if fresh == 1 {
            "1 new message".to_owned()
        } else {
            format!("{fresh} new messages")
        };
        let w = ui.fonts.width(&label, theme::SMALL) + 44.0;
        (
            label,
            Rect::new(list.x + (list.w - w) / 2.0, list.y + list.h - 46.0, w, 32.0),
        )
    });
    if let Some((_, r)) = &pill {
        ui.blocked.push(*r);
    }

    let first = layout.rows.partition_point(|r| r.y + r.h < top);
    let mut fetches = Vec::new();
    for (i, row) in layout.rows.iter().enumerate().skip(first) {
        if row.y > top + list.h {
            break;
        }
        let Some(entry) = log.entries.get(i) else {
            break;
        };
        draw_row(
            ui,
            state,
            &mut view.pictures,
            &mut fetches,
            entry,
            row,
            list,
            shift,
        );
    }
    for intent in fetches {
        ui.emit(intent);
    }
    if let Some((label, r)) = pill {
        ui.blocked.pop();
        shadow(r, 16.0);
        rounded_rect(
            r,
            16.0,
            if ui.hover(r) {
                theme::ACCENT_HOVER
            } else {
                theme::ACCENT
            },
        );
        // A small down arrow, then the count.
        let (ax, ay) = (r.x + 20.0, r.y + r.h / 2.0);
        draw_triangle(
            vec2(ax - 5.0, ay - 2.0),
            vec2(ax + 5.0, ay - 2.0),
            vec2(ax, ay + 4.0),
            WHITE,
        );
        ui.fonts
            .draw_centred_v(&label, r.x + 32.0, r.y, r.h, theme::SMALL, WHITE);
        if ui.clicked(r) {
            view.scroll_to_bottom_smoothly(&c);
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn draw_row(
    ui: &mut Ui,
    state: &AppState,
    pictures: &mut Pictures,
    fetches: &mut Vec<Intent>,
    e: &Entry,
    row: &Row,
    list: Rect,
    shift: f32,
) {
    let mut y = row.y + shift;
    if row.day_separator {
        let label = e.day_label();
        let w = ui.fonts.width(&label, 12.0) + 20.0;
        let cx = list.x + list.w / 2.0;
        draw_rectangle(
            list.x + LIST_PAD_X,
            y + 22.0,
            list.w - 2.0 * LIST_PAD_X,
            1.0,
            theme::BORDER,
        );
        let pill = Rect::new(cx - w / 2.0, y + 12.0, w, 21.0);
        rounded_rect(pill, 10.0, theme::SURFACE);
        ui.fonts.draw_centred(&label, pill, 12.0, theme::MUTED);
        y += DAY_SEPARATOR;
    }
    let mine = state.is_me(&e.from);
    let (bubble, name_colour) = bubble_colours(state, e);
    let left = list.x + LIST_PAD_X + AVATAR_GUTTER;
    let right = list.x + list.w - LIST_PAD_X;
    let x = if mine { right - row.body_w } else { left };
    if row.header {
        y += 8.0;
        let who = if mine {
            "You".to_owned()
        } else {
            truncate_for_display(e.from.as_str(), 32)
        };
        let private = match (&e.to, mine) {
            (Recipient::User(to), true) => format!("  → {}", truncate_for_display(to.as_str(), 24)),
            (Recipient::User(_), false) => "  · private".to_owned(),
            _ => String::new(),
        };
        let label = format!("{who}{private}");
        let label_w = ui.fonts.width(&label, theme::SMALL);
        let lx = if mine { right - label_w } else { left };
        ui.fonts
            .draw(&label, lx, y + 14.0, theme::SMALL, name_colour);
        if !mine {
            avatar(
                ui.fonts,
                e.from.as_str(),
                list.x + LIST_PAD_X + 16.0,
                y + 30.0,
                16.0,
            );
        }
        y += HEADER_LINE;
    } else {
        y += 3.0;
    }
    let body = Rect::new(x, y, row.body_w, row.body_h);
    let time_colour = Color::new(1.0, 1.0, 1.0, 0.55);
    match (&row.body, &e.content) {
        (Body::Text { lines, .. }, _) => {
            rounded_rect(body, 14.0, bubble);
            let line_h = TEXT_SIZE * LINE;
            for (i, line) in lines.iter().enumerate() {
                let ly = body.y + BUBBLE_PAD_Y + i as f32 * line_h;
                if ly > list.y + list.h || ly + line_h < list.y {
                    continue;
                }
                ui.fonts.draw_centred_v(
                    line,
                    body.x + BUBBLE_PAD_X,
                    ly,
                    line_h,
                    TEXT_SIZE,
                    theme::TEXT,
                );
            }
            draw_time(
                ui,
                e,
                body.x + body.w - BUBBLE_PAD_X,
                body.y + body.h - 8.0,
                time_colour,
            );
        }
        (Body::Emoji, Content::Emoji(id)) => {
            let age = (ui.now - e.arrived_at) as f32;
            let t = ui.now as f32 + (e.sent_at.0 % 1000) as f32 / 160.0;
            // A gentle bob; newly arrived ones pop in.
            let pop = if age < 0.6 {
                theme::ease_out(age / 0.6)
            } else {
                1.0
            };
            let bob = (t * 2.2).sin() * 2.5;
            let pulse = 1.0 + 0.035 * (t * 2.2 + 1.2).sin();
            let ex = if mine {
                body.x + body.w - EMOJI_SIZE / 2.0
            } else {
                body.x + EMOJI_SIZE / 2.0
            };
            let hovered = ui.hover(Rect::new(
                ex - EMOJI_SIZE / 2.0,
                body.y,
                EMOJI_SIZE,
                EMOJI_SIZE,
            ));
            // Under the mouse it grows and keeps moving (frames come fast
            // while hovered; at rest the window is redrawn rarely).
            let grow = if hovered { 1.12 } else { 1.0 };
            ui.animating |= hovered;
            emoji::draw_emoji(
                *id,
                ex,
                body.y + EMOJI_SIZE / 2.0 + bob,
                EMOJI_SIZE * pulse * pop * grow,
                t,
            );
            let tx = if mine {
                body.x + body.w - EMOJI_SIZE - 6.0
            } else {
                body.x + body.w
            };
            draw_time(ui, e, tx, body.y + body.h - 6.0, theme::FAINT);
        }
        (Body::Picture { w, h }, Content::Image { media, .. }) => {
            rounded_rect(body, 12.0, bubble);
            let pic = Rect::new(body.x + 4.0, body.y + 4.0, *w, *h);
            let view = match state.pictures.get(&media.hash) {
                Some(MediaSlot::Ready(path)) => pictures.get(path),
                Some(MediaSlot::Failed(_)) => media::PictureView::Failed,
                Some(MediaSlot::Fetching(_)) => media::PictureView::Loading,
                None => {
                    fetches.push(Intent::FetchMedia {
                        media: media.clone(),
                        kind: MediaKind::Photo,
                    });
                    media::PictureView::Loading
                }
            };
            if matches!(view, media::PictureView::Ready(_)) {
                ui.mark(format_args!("picture:{}", media.name), pic);
            }
            media::draw_picture(view, pic, ui.fonts, &media.name);
            if let Some(MediaSlot::Fetching(ticket)) = state.pictures.get(&media.hash) {
                if let Some(t) = state.transfers.get(ticket) {
                    progress_bar(
                        Rect::new(pic.x + 12.0, pic.y + pic.h - 16.0, pic.w - 24.0, 5.0),
                        t.fraction(),
                        theme::ACCENT,
                    );
                }
            }
            let tw = time_width(ui, e) + 14.0;
            let time = Rect::new(pic.x + pic.w - tw - 6.0, pic.y + pic.h - 24.0, tw, 18.0);
            rounded_rect(time, 9.0, Color::new(0.0, 0.0, 0.0, 0.45));
            draw_time(ui, e, time.x + time.w - 7.0, time.y + 13.5, WHITE);
            if ui.clicked(pic) {
                ui.emit(Intent::ViewPicture {
                    media: media.clone(),
                });
            }
        }
        (Body::File, Content::File(media)) => {
            ui.mark(format_args!("file:{}", media.name), body);
            rounded_rect(body, 12.0, bubble);
            let icon = Rect::new(body.x + 8.0, body.y + 10.0, 40.0, 40.0);
            rounded_rect(icon, 8.0, Color::new(0.0, 0.0, 0.0, 0.25));
            widgets::icon_file(icon, theme::TEXT);
            let name = ui.fonts.fit(&media.name, theme::BODY - 1.0, body.w - 70.0);
            ui.fonts.draw(
                &name,
                body.x + 58.0,
                body.y + 24.0,
                theme::BODY - 1.0,
                theme::TEXT,
            );
            let slot = state.files.get(&media.hash);
            let transfer = match slot {
                Some(MediaSlot::Fetching(t)) => state.transfers.get(t),
                _ => None,
            };
            if let Some(t) = transfer {
                progress_bar(
                    Rect::new(body.x + 58.0, body.y + 36.0, body.w - 70.0, 6.0),
                    t.fraction(),
                    theme::ACCENT,
                );
                let label = format!(
                    "{} of {}",
                    human_size(t.done),
                    human_size(t.total.max(media.size))
                );
                ui.fonts
                    .draw(&label, body.x + 58.0, body.y + 62.0, 12.0, theme::MUTED);
                let cancel = Rect::new(body.x + body.w - 30.0, body.y + 46.0, 24.0, 24.0);
                if icon_button(ui, cancel, false, widgets::icon_close) {
                    ui.emit(Intent::CancelTransfer(t.ticket));
                }
            } else {
                let size = match slot {
                    Some(MediaSlot::Failed(_)) => "download failed".to_owned(),
                    _ => human_size(media.size),
                };
                ui.fonts
                    .draw(&size, body.x + 58.0, body.y + 44.0, 12.0, theme::MUTED);
                let open = Rect::new(body.x + 58.0, body.y + 50.0, 56.0, 20.0);
                if button(ui, open, "Open", ButtonStyle::Secondary) {
                    ui.emit(Intent::OpenFile(media.clone()));
                }
                let folder = Rect::new(body.x + 120.0, body.y + 50.0, 90.0, 20.0);
                if button(ui, folder, "Show folder", ButtonStyle::Secondary) {
                    ui.emit(Intent::ShowFolder(media.clone()));
                }
                draw_time(
                    ui,
                    e,
                    body.x + body.w - 10.0,
                    body.y + body.h - 8.0,
                    time_colour,
                );
            }
        }
        _ => {}
    }
    if let Delivery::Failed(reason) = &e.delivery {
        let text = ui
            .fonts
            .fit(&format!("Not sent: {reason}"), 12.0, list.w * 0.6);
        let w = ui.fonts.width(&text, 12.0) + 18.0;
        let fx = if mine { right - w } else { left };
        widgets::icon_warning(fx + 6.0, body.y + body.h + 11.0, 6.0, theme::DANGER);
        ui.fonts.draw(
            &text,
            fx + 18.0,
            body.y + body.h + 15.0,
            12.0,
            theme::DANGER,
        );
    }
}

/// The time (and delivery mark) right-aligned at `right`, baseline `y`.
/// Whether the time carries a delivery mark (our own messages sent from
/// this window).
fn has_mark(e: &Entry) -> bool {
    !matches!(e.delivery, Delivery::Delivered) || e.local.is_some() || e.client_id.is_some()
}

/// Width of the time label and its mark.
fn time_width(ui: &Ui, e: &Entry) -> f32 {
    ui.fonts.width(&e.time_label, 11.0) + if has_mark(e) { 14.0 } else { 0.0 }
}

fn draw_time(ui: &Ui, e: &Entry, right: f32, y: f32, colour: Color) {
    let w = ui.fonts.width(&e.time_label, 11.0);
    let mark_w = if has_mark(e) { 14.0 } else { 0.0 };
    let x = right - w - mark_w;
    ui.fonts.draw(&e.time_label, x, y, 11.0, colour);
    let (cx, cy) = (right - 5.0, y - 4.0);
    match e.delivery {
        Delivery::Pending => widgets::icon_clock(cx, cy, 4.5, colour),
        Delivery::Delivered if e.local.is_some() || e.client_id.is_some() => {
            widgets::icon_check(cx, cy, 4.0, colour)
        }
        Delivery::Failed(_) => widgets::icon_warning(cx, cy, 5.0, theme::DANGER),
        _ => {}
    }
}

fn draw_uploads(ui: &mut Ui, uploads: &[&Transfer], r: Rect) {
    if uploads.is_empty() {
        return;
    }
    draw_rectangle(r.x, r.y, r.w, r.h, theme::BACKGROUND);
    for (i, t) in uploads.iter().take(3).enumerate() {
        let card = Rect::new(
            r.x + r.w - LIST_PAD_X - 360.0,
            r.y + 4.0 + i as f32 * 58.0,
            360.0,
            52.0,
        );
        rounded_rect(card, 10.0, theme::SURFACE);
        let picture = matches!(t.purpose, TransferPurpose::Upload { picture: true, .. });
        let icon = Rect::new(card.x + 6.0, card.y + 6.0, 40.0, 40.0);
        if picture {
            widgets::icon_picture(icon, theme::MUTED);
        } else {
            widgets::icon_file(icon, theme::MUTED);
        }
        let name = ui
            .fonts
            .fit(&format!("Sending {}", t.name), theme::SMALL, card.w - 100.0);
        ui.fonts.draw(
            &name,
            card.x + 52.0,
            card.y + 20.0,
            theme::SMALL,
            theme::TEXT,
        );
        progress_bar(
            Rect::new(card.x + 52.0, card.y + 28.0, card.w - 96.0, 6.0),
            t.fraction(),
            theme::ACCENT,
        );
        let detail = if t.total > 0 {
            format!(
                "{:.0}% · {} of {} · {}/s",
                t.fraction() * 100.0,
                human_size(t.done),
                human_size(t.total),
                human_size(t.bytes_per_sec as u64)
            )
        } else {
            "Preparing...".to_owned()
        };
        ui.fonts
            .draw(&detail, card.x + 52.0, card.y + 47.0, 11.0, theme::MUTED);
        let cancel = Rect::new(card.x + card.w - 36.0, card.y + 12.0, 28.0, 28.0);
        if icon_button(ui, cancel, false, widgets::icon_close) {
            ui.emit(Intent::CancelTransfer(t.ticket));
        }
    }
}

const COMPOSER_BUTTONS: f32 = 3.0 * 40.0 + 12.0;

fn composer_height(ui: &Ui, state: &AppState, main_w: f32) -> f32 {
    let inner = main_w - COMPOSER_BUTTONS - 2.0 * LIST_PAD_X - 56.0 - 24.0;
    let lines =
        widgets::field_line_count(ui.fonts, &state.composer.text, TEXT_SIZE, inner).clamp(1, 6);
    lines as f32 * TEXT_SIZE * LINE + 16.0 + 28.0
}

fn draw_composer(ui: &mut Ui, state: &AppState, r: Rect) {
    draw_rectangle(r.x, r.y, r.w, r.h, theme::HEADER);
    draw_rectangle(r.x, r.y, r.w, 1.0, theme::BORDER);
    let by = r.y + r.h - 14.0 - 36.0;
    let mut x = r.x + 14.0;
    let b = Rect::new(x, by, 36.0, 36.0);
    ui.mark("emoji_button", b);
    if icon_button(ui, b, state.emoji_panel.open, widgets::icon_smiley) {
        ui.emit(Intent::ToggleEmojiPanel);
    }
    x += 40.0;
    let b = Rect::new(x, by, 36.0, 36.0);
    ui.mark("picture_button", b);
    if icon_button(ui, b, false, widgets::icon_picture) {
        ui.emit(Intent::PickFile { picture: true });
    }
    x += 40.0;
    let b = Rect::new(x, by, 36.0, 36.0);
    ui.mark("file_button", b);
    if icon_button(ui, b, false, widgets::icon_file) {
        ui.emit(Intent::PickFile { picture: false });
    }
    x += 48.0;
    let field = Rect::new(x, r.y + 14.0, r.x + r.w - x - 70.0, r.h - 28.0);
    ui.mark("composer", field);
    let focused = state.composer_focused && state.share_sheet.is_none() && state.overlay.is_none();
    let placeholder = match &state.selected {
        Conversation::Group => {
            "Message the group — Enter sends, Shift+Enter for a new line, Ctrl+V pastes".to_owned()
        }
        Conversation::With(u) => {
            format!("Message {} privately", truncate_for_display(u.as_str(), 24))
        }
    };
    let look = FieldLook {
        placeholder: &placeholder,
        masked: false,
        multiline: true,
        size: TEXT_SIZE,
    };
    if text_field(ui, field, Field::Composer, &state.composer, focused, look) == FieldAction::Submit
    {
        ui.emit(Intent::SendText);
    }
    let send = Rect::new(r.x + r.w - 58.0, by, 44.0, 36.0);
    ui.mark("send_button", send);
    let can_send = !state.composer.text.trim().is_empty();
    let hover = ui.hover(send);
    rounded_rect(
        send,
        8.0,
        if can_send {
            if hover {
                theme::ACCENT_HOVER
            } else {
                theme::ACCENT
            }
        } else {
            theme::SURFACE
        },
    );
    widgets::icon_send(send, if can_send { WHITE } else { theme::FAINT });
    if ui.clicked(send) && can_send {
        ui.emit(Intent::SendText);
    }
    let count = state.composer.text.chars().count();
    if count > state.max_text_chars * 9 / 10 {
        let label = format!("{count}/{}", state.max_text_chars);
        ui.fonts.draw(
            &label,
            field.x + field.w - 70.0,
            field.y - 3.0,
            11.0,
            theme::WARNING,
        );
    }
}

fn toast_rects(state: &AppState, main: Rect, bottom: f32) -> Vec<(Rect, usize)> {
    let mut y = bottom - 12.0;
    let mut out = Vec::new();
    for (i, _) in state.toasts.iter().enumerate().rev() {
        let r = Rect::new(main.x + main.w - 380.0, y - 56.0, 360.0, 56.0);
        y -= 64.0;
        out.push((r, i));
    }
    out
}

/// Draws the toasts, stacked up from `bottom`.
fn draw_toast_stack(ui: &mut Ui, state: &AppState, bottom: f32) {
    let main = Rect::new(
        theme::SIDEBAR_WIDTH,
        0.0,
        screen_width() - theme::SIDEBAR_WIDTH,
        screen_height(),
    );
    for (r, i) in toast_rects(state, main, bottom) {
        let Some(toast) = state.toasts.get(i) else {
            continue;
        };
        let age = (state.now - toast.shown_at) as f32;
        let slide = 1.0 - theme::ease_out(age / 0.25);
        if slide > 0.0 {
            ui.animating = true;
        }
        let r = Rect::new(r.x + slide * 40.0, r.y, r.w, r.h);
        shadow(r, 12.0);
        rounded_rect(
            r,
            12.0,
            if toast.error {
                theme::DANGER_BG
            } else {
                theme::SURFACE
            },
        );
        draw_rectangle(
            r.x,
            r.y + 10.0,
            3.0,
            r.h - 20.0,
            if toast.error {
                theme::DANGER
            } else {
                theme::ACCENT
            },
        );
        let action_w = if toast.action.is_some() { 70.0 } else { 0.0 };
        let lines = ui
            .fonts
            .wrap(&toast.text, theme::SMALL, r.w - 60.0 - action_w);
        let shown = lines.len().min(2);
        let top = r.y + (r.h - shown as f32 * 18.0) / 2.0 + 13.0;
        for (j, line) in lines.iter().take(2).enumerate() {
            ui.fonts.draw(
                line,
                r.x + 16.0,
                top + j as f32 * 18.0,
                theme::SMALL,
                theme::TEXT,
            );
        }
        if let Some((label, intent)) = &toast.action {
            let b = Rect::new(
                r.x + r.w - 36.0 - action_w,
                r.y + 14.0,
                action_w - 6.0,
                28.0,
            );
            if button(ui, b, label, ButtonStyle::Primary) {
                ui.emit(intent.clone());
                ui.emit(Intent::DismissToast(toast.id));
            }
        }
        let close = Rect::new(r.x + r.w - 32.0, r.y + 14.0, 26.0, 28.0);
        if icon_button(ui, close, false, widgets::icon_close) {
            ui.emit(Intent::DismissToast(toast.id));
        }
    }
}

fn draw_share_sheet(ui: &mut Ui, sheet: &crate::app::state::ShareSheet) {
    let (w, h) = (screen_width(), screen_height());
    draw_rectangle(0.0, 0.0, w, h, Color::new(0.0, 0.0, 0.0, 0.55));
    let card = Rect::new((w - 540.0) / 2.0, (h - 250.0) / 2.0, 540.0, 250.0);
    shadow(card, 14.0);
    rounded_rect(card, 14.0, theme::SURFACE);
    let title = if sheet.picture {
        "Send a picture"
    } else {
        "Send a file"
    };
    ui.fonts.draw(
        title,
        card.x + 24.0,
        card.y + 40.0,
        theme::LARGE,
        theme::TEXT,
    );
    let hint = if sheet.dialog_open {
        "Choose it in the file dialog, or type its path here:"
    } else if sheet.no_dialog {
        "No file dialog is available on this system. Type the file's path:"
    } else {
        "Type the path of the file, or browse for it:"
    };
    ui.fonts.draw(
        hint,
        card.x + 24.0,
        card.y + 72.0,
        theme::SMALL,
        theme::MUTED,
    );
    let field = Rect::new(card.x + 24.0, card.y + 88.0, card.w - 48.0, 42.0);
    ui.mark("share:path_field", field);
    let look = FieldLook {
        placeholder: "/home/you/Pictures/cat.png",
        masked: false,
        multiline: false,
        size: theme::BODY - 1.0,
    };
    if text_field(ui, field, Field::SharePath, &sheet.path, true, look) == FieldAction::Submit {
        ui.emit(Intent::ShareTypedPath);
    }
    if let Some(error) = &sheet.error {
        ui.fonts.draw(
            error,
            card.x + 24.0,
            card.y + 152.0,
            theme::SMALL,
            theme::DANGER,
        );
    }
    let by = card.y + card.h - 60.0;
    if !sheet.dialog_open
        && button(
            ui,
            Rect::new(card.x + 24.0, by, 110.0, 38.0),
            "Browse...",
            ButtonStyle::Secondary,
        )
    {
        ui.emit(Intent::PickFile {
            picture: sheet.picture,
        });
    }
    let cancel = Rect::new(card.x + card.w - 250.0, by, 110.0, 38.0);
    ui.mark("share:cancel", cancel);
    if button(ui, cancel, "Cancel", ButtonStyle::Secondary) {
        ui.emit(Intent::CloseShareSheet);
    }
    let send = Rect::new(card.x + card.w - 130.0, by, 106.0, 38.0);
    ui.mark("share:send", send);
    if button(ui, send, "Send", ButtonStyle::Primary) {
        ui.emit(Intent::ShareTypedPath);
    }
}

/// The large view of a picture, over everything; a click closes it.
pub fn draw_picture_overlay(ui: &mut Ui, state: &AppState, view: &mut ChatView) {
    let path = match (&state.viewing_cached, &state.overlay) {
        (Some(path), _) => Some(path.clone()),
        (None, Some(crate::app::state::Overlay::Picture { media })) => {
            match state.pictures.get(&media.hash) {
                Some(MediaSlot::Ready(path)) => Some(path.clone()),
                _ => None,
            }
        }
        _ => return,
    };
    let (w, h) = (screen_width(), screen_height());
    draw_rectangle(0.0, 0.0, w, h, Color::new(0.02, 0.03, 0.05, 0.92));
    let name = match &state.overlay {
        Some(crate::app::state::Overlay::Picture { media }) if state.viewing_cached.is_none() => {
            media.name.clone()
        }
        _ => path
            .as_ref()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    let picture = match &path {
        Some(p) => view.pictures.get(p),
        None => media::PictureView::Loading,
    };
    let (tw, th) = match &picture {
        media::PictureView::Ready(t) => (t.width(), t.height()),
        _ => (320.0, 240.0),
    };
    let (pw, ph) = media::fit(tw, th, w - 80.0, h - 110.0);
    let r = Rect::new((w - pw) / 2.0, (h - ph) / 2.0 + 10.0, pw, ph);
    media::draw_picture(picture, r, ui.fonts, &name);
    let label = ui.fonts.fit(&name, theme::BODY, w - 200.0);
    ui.fonts.draw(&label, 28.0, 36.0, theme::BODY, theme::TEXT);
    ui.fonts.draw(
        "Click anywhere or press Esc to close",
        28.0,
        56.0,
        12.0,
        theme::MUTED,
    );
    if ui.input.clicked && !ui.click_used {
        ui.click_used = true;
        ui.emit(Intent::CloseOverlay);
    }
}
