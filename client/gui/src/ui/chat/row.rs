//! One message row: its day separator, the sender's line, the bubble by
//! kind (text, an animated emoji, a picture drawn inline, a file card) with
//! its time and delivery mark, and why it was not sent.

use macroquad::prelude::*;
use natter_common::{Content, EmojiId, MediaKind, MediaRef, Recipient};

use crate::app::intent::Intent;
use crate::app::state::{AppState, Delivery, Entry, MediaSlot};
use crate::app::{human_size, truncate_for_display};
use crate::ui::chat::layout::{
    Body, Row, RowPlaces, BUBBLE_PAD_X, BUBBLE_PAD_Y, EMOJI_SIZE, LIST_PAD_X, TEXT_SIZE,
};
use crate::ui::emoji;
use crate::ui::fonts::LINE;
use crate::ui::media::{self, Pictures};
use crate::ui::theme::{self, ease_out};
use crate::ui::widgets::{
    self, avatar, button, icon_button, progress_bar, rounded_rect, ButtonStyle, Ui,
};

/// The time on a coloured bubble.
const TIME_ON_BUBBLE: Color = Color::new(1.0, 1.0, 1.0, 0.55);

/// What the rows of one frame are drawn against, and the downloads they
/// found missing.
pub struct Rows<'f> {
    state: &'f AppState,
    pictures: &'f mut Pictures,
    list: Rect,
    /// How far content coordinates are moved down on the screen.
    shift: f32,
    /// Pictures to fetch: emitted once the rows are drawn.
    pub fetches: Vec<Intent>,
}

impl<'f> Rows<'f> {
    pub fn new(state: &'f AppState, pictures: &'f mut Pictures, list: Rect, shift: f32) -> Self {
        Self {
            state,
            pictures,
            list,
            shift,
            fetches: Vec::new(),
        }
    }

    /// Draws entry `e`, laid out as `row`.
    pub fn draw(&mut self, ui: &mut Ui, e: &Entry, row: &Row) {
        let mine = self.state.is_me(&e.from);
        let places = row.places(self.list, self.shift, mine);
        if row.day_separator {
            draw_day_separator(ui, e, self.list, places.top);
        }
        let (bubble, name_colour) = bubble_colours(self.state, e);
        if row.header {
            draw_sender(ui, e, mine, &places, self.list, name_colour);
        }
        let body = places.body;
        match (&row.body, &e.content) {
            (Body::Text { lines }, _) => draw_text(ui, e, lines, body, bubble, self.list),
            (Body::Emoji, Content::Emoji(id)) => draw_emoji(ui, e, *id, body, mine),
            (Body::Picture { w, h }, Content::Image { media, .. }) => {
                rounded_rect(body, 12.0, bubble);
                let pic = Rect::new(body.x + 4.0, body.y + 4.0, *w, *h);
                self.draw_picture(ui, e, media, pic);
            }
            (Body::File, Content::File(media)) => {
                draw_file(ui, self.state, e, media, body, bubble);
            }
            _ => {}
        }
        if let Delivery::Failed(reason) = &e.delivery {
            draw_failure(ui, reason, &places, mine, self.list);
        }
    }

    /// A picture inline at `pic`: fetched when missing, with its download's
    /// progress and its time; a click shows it large.
    fn draw_picture(&mut self, ui: &mut Ui, e: &Entry, media: &MediaRef, pic: Rect) {
        let slot = self.state.media.pictures.get(&media.hash);
        let view = match slot {
            Some(MediaSlot::Ready(path)) => self.pictures.get(path),
            Some(MediaSlot::Failed(_)) => media::PictureView::Failed,
            Some(MediaSlot::Fetching { .. }) => media::PictureView::Loading,
            None => {
                self.fetches.push(Intent::FetchMedia {
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
        if let Some(MediaSlot::Fetching {
            transfer: Some(ticket),
            ..
        }) = slot
        {
            if let Some(t) = self.state.media.transfers.get(ticket) {
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
}

/// The bubble's colour and the sender's name colour: group or private,
/// ours or theirs.
fn bubble_colours(state: &AppState, e: &Entry) -> (Color, Color) {
    let mine = state.is_me(&e.from);
    match (&e.to, mine) {
        (Recipient::Everyone, true) => (theme::BUBBLE_GROUP_MINE, theme::NAME_GROUP_MINE),
        (Recipient::Everyone, false) => (theme::BUBBLE_GROUP_THEIRS, theme::NAME_GROUP_THEIRS),
        (Recipient::User(_), true) => (theme::BUBBLE_PRIVATE_MINE, theme::NAME_PRIVATE_MINE),
        (Recipient::User(_), false) => (theme::BUBBLE_PRIVATE_THEIRS, theme::NAME_PRIVATE_THEIRS),
    }
}

/// A line across the list with the day's date in a pill, at `y`.
fn draw_day_separator(ui: &Ui, e: &Entry, list: Rect, y: f32) {
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
}

/// Who sent it (and to whom, when private); others get their avatar.
fn draw_sender(ui: &Ui, e: &Entry, mine: bool, places: &RowPlaces, list: Rect, colour: Color) {
    let y = places.header;
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
    let lx = if mine {
        places.right - label_w
    } else {
        places.left
    };
    ui.fonts.draw(&label, lx, y + 14.0, theme::SMALL, colour);
    if !mine {
        avatar(
            ui.fonts,
            e.from.as_str(),
            list.x + LIST_PAD_X + 16.0,
            y + 30.0,
            16.0,
        );
    }
}

/// A text bubble: the lines in view, then the time.
fn draw_text(ui: &Ui, e: &Entry, lines: &[String], body: Rect, bubble: Color, list: Rect) {
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
    let (right, y) = (body.x + body.w - BUBBLE_PAD_X, body.y + body.h - 8.0);
    draw_time(ui, e, right, y, TIME_ON_BUBBLE);
}

/// An emoji, large and alive: it bobs gently, pops in when new and grows
/// under the mouse.
fn draw_emoji(ui: &mut Ui, e: &Entry, id: EmojiId, body: Rect, mine: bool) {
    let age = (ui.now - e.arrived_at) as f32;
    let t = ui.now as f32 + (e.sent_at.0 % 1000) as f32 / 160.0;
    let pop = if age < 0.6 { ease_out(age / 0.6) } else { 1.0 };
    let bob = (t * 2.2).sin() * 2.5;
    let pulse = 1.0 + 0.035 * (t * 2.2 + 1.2).sin();
    let ex = if mine {
        body.x + body.w - EMOJI_SIZE / 2.0
    } else {
        body.x + EMOJI_SIZE / 2.0
    };
    let cell = Rect::new(ex - EMOJI_SIZE / 2.0, body.y, EMOJI_SIZE, EMOJI_SIZE);
    let hovered = ui.hover(cell);
    // Under the mouse it grows and keeps moving (frames come fast while
    // hovered; at rest the window is redrawn rarely).
    let grow = if hovered { 1.12 } else { 1.0 };
    ui.animating |= hovered;
    let size = EMOJI_SIZE * pulse * pop * grow;
    emoji::draw_emoji(id, ex, body.y + EMOJI_SIZE / 2.0 + bob, size, t);
    let tx = if mine {
        body.x + body.w - EMOJI_SIZE - 6.0
    } else {
        body.x + body.w
    };
    draw_time(ui, e, tx, body.y + body.h - 6.0, theme::FAINT);
}

/// A file card: icon and name, then the download's progress or the
/// buttons that open it.
fn draw_file(
    ui: &mut Ui,
    state: &AppState,
    e: &Entry,
    media: &MediaRef,
    body: Rect,
    bubble: Color,
) {
    ui.mark(format_args!("file:{}", media.name), body);
    rounded_rect(body, 12.0, bubble);
    let icon = Rect::new(body.x + 8.0, body.y + 10.0, 40.0, 40.0);
    rounded_rect(icon, 8.0, Color::new(0.0, 0.0, 0.0, 0.25));
    widgets::icon_file(icon, theme::TEXT);
    let size = theme::BODY - 1.0;
    let name = ui.fonts.fit(&media.name, size, body.w - 70.0);
    ui.fonts
        .draw(&name, body.x + 58.0, body.y + 24.0, size, theme::TEXT);
    let slot = state.media.files.get(&media.hash);
    let transfer = match slot {
        Some(MediaSlot::Fetching {
            transfer: Some(t), ..
        }) => state.media.transfers.get(t),
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
            ui.emit(Intent::CancelTransfer(t.id));
        }
    } else {
        let failed = matches!(slot, Some(MediaSlot::Failed(_)));
        draw_file_actions(ui, e, media, body, failed);
    }
}

/// Under a file's name when it is not downloading: its size (or that the
/// download failed), Open, Show folder, and the time.
fn draw_file_actions(ui: &mut Ui, e: &Entry, media: &MediaRef, body: Rect, failed: bool) {
    let size = if failed {
        "download failed".to_owned()
    } else {
        human_size(media.size)
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
    let (right, y) = (body.x + body.w - 10.0, body.y + body.h - 8.0);
    draw_time(ui, e, right, y, TIME_ON_BUBBLE);
}

/// Why the server or the library refused the message, under its bubble.
fn draw_failure(ui: &Ui, reason: &str, places: &RowPlaces, mine: bool, list: Rect) {
    let body = places.body;
    let text = ui
        .fonts
        .fit(&format!("Not sent: {reason}"), 12.0, list.w * 0.6);
    let w = ui.fonts.width(&text, 12.0) + 18.0;
    let fx = if mine { places.right - w } else { places.left };
    widgets::icon_warning(fx + 6.0, body.y + body.h + 11.0, 6.0, theme::DANGER);
    ui.fonts.draw(
        &text,
        fx + 18.0,
        body.y + body.h + 15.0,
        12.0,
        theme::DANGER,
    );
}

/// Whether the time carries a delivery mark (our own messages sent from
/// this window).
fn has_mark(e: &Entry) -> bool {
    !matches!(e.delivery, Delivery::Delivered) || e.sent_here()
}

/// Width of the time label and its mark.
fn time_width(ui: &Ui, e: &Entry) -> f32 {
    ui.fonts.width(&e.time_label, 11.0) + if has_mark(e) { 14.0 } else { 0.0 }
}

/// The time (and delivery mark) right-aligned at `right`, baseline `y`.
fn draw_time(ui: &Ui, e: &Entry, right: f32, y: f32, colour: Color) {
    let w = ui.fonts.width(&e.time_label, 11.0);
    let mark_w = if has_mark(e) { 14.0 } else { 0.0 };
    let x = right - w - mark_w;
    ui.fonts.draw(&e.time_label, x, y, 11.0, colour);
    let (cx, cy) = (right - 5.0, y - 4.0);
    match e.delivery {
        Delivery::Pending => widgets::icon_clock(cx, cy, 4.5, colour),
        Delivery::Delivered if e.sent_here() => widgets::icon_check(cx, cy, 4.0, colour),
        Delivery::Failed(_) => widgets::icon_warning(cx, cy, 5.0, theme::DANGER),
        _ => {}
    }
}
