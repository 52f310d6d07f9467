//! The cache browser (menu → "Cached pictures & files"): a thumbnail grid
//! of the pictures and a list of the files this client has downloaded or
//! sent, read from the media cache, each openable from here.

use macroquad::prelude::*;

use crate::app::human_size;
use crate::app::intent::Intent;
use crate::app::net::CachedEntry;
use crate::app::state::{AppState, CacheTab, Overlay};
use crate::ui::media::{self, Pictures};
use crate::ui::theme;
use crate::ui::widgets::{
    button, icon_button, icon_close, icon_file, rounded_rect, shadow, ButtonStyle, Ui,
};

const THUMB: f32 = 150.0;
const GAP: f32 = 14.0;
const FILE_ROW: f32 = 52.0;

/// Scroll positions of the two tabs.
#[derive(Debug, Clone, Default)]
pub struct CacheBrowser {
    scroll: [f32; 2],
}

impl CacheBrowser {
    /// Draws the browser if it is the open overlay.
    pub fn draw(&mut self, ui: &mut Ui, state: &AppState, pictures: &mut Pictures) {
        let Some(Overlay::CacheBrowser {
            tab,
            pictures: listed_pictures,
            files,
        }) = &state.popups.overlay
        else {
            self.scroll = [0.0; 2];
            return;
        };
        let card = draw_card(ui);
        let counts = [
            listed_pictures.as_ref().map(Vec::len),
            files.as_ref().map(Vec::len),
        ];
        draw_tabs(ui, *tab, counts, card);
        let area = Rect::new(card.x + 24.0, card.y + 110.0, card.w - 48.0, card.h - 130.0);
        let index = if *tab == CacheTab::Pictures { 0 } else { 1 };
        let listing = if index == 0 { listed_pictures } else { files };
        let Some(entries) = listing else {
            draw_note(ui, "Reading the cache...", area);
            return;
        };
        if entries.is_empty() {
            let text = if index == 0 {
                "No pictures cached yet."
            } else {
                "No files cached yet."
            };
            draw_note(ui, text, area);
            return;
        }
        let content_h = if index == 0 {
            let columns = ((area.w + GAP) / (THUMB + GAP)).floor().max(1.0) as usize;
            entries.len().div_ceil(columns) as f32 * (THUMB + 30.0 + GAP)
        } else {
            entries.len() as f32 * FILE_ROW
        };
        let scroll = &mut self.scroll[index];
        if ui.input.wheel != 0.0 && ui.hover(area) {
            *scroll -= ui.input.wheel.signum() * 80.0;
        }
        *scroll = scroll.clamp(0.0, (content_h - area.h).max(0.0));
        let scroll = *scroll;
        if index == 0 {
            draw_pictures(ui, pictures, entries, area, scroll);
        } else {
            draw_files(ui, entries, area, scroll);
        }
        // Cover what scrolled out of the area.
        draw_rectangle(
            card.x,
            card.y + 100.0,
            card.w,
            area.y - card.y - 100.0,
            theme::SURFACE,
        );
        draw_rectangle(
            card.x,
            area.y + area.h,
            card.w,
            card.y + card.h - area.y - area.h - 14.0,
            theme::SURFACE,
        );
    }
}

/// The card over the dimmed window, with its title and close button.
fn draw_card(ui: &mut Ui) -> Rect {
    let (w, h) = (screen_width(), screen_height());
    draw_rectangle(0.0, 0.0, w, h, Color::new(0.0, 0.0, 0.0, 0.55));
    let card = Rect::new(60.0, 40.0, w - 120.0, h - 80.0);
    shadow(card, 14.0);
    rounded_rect(card, 14.0, theme::SURFACE);
    ui.fonts.draw(
        "Cached pictures & files",
        card.x + 24.0,
        card.y + 40.0,
        theme::LARGE,
        theme::TEXT,
    );
    let close = Rect::new(card.x + card.w - 48.0, card.y + 14.0, 34.0, 34.0);
    ui.mark("cache:close", close);
    if icon_button(ui, close, false, icon_close) {
        ui.emit(Intent::CloseOverlay);
    }
    card
}

/// The Pictures and Files tabs, with how many each lists once read.
fn draw_tabs(ui: &mut Ui, tab: CacheTab, counts: [Option<usize>; 2], card: Rect) {
    let tabs = [
        ("Pictures", CacheTab::Pictures, "cache:pictures"),
        ("Files", CacheTab::Files, "cache:files"),
    ];
    for (i, (label, t, control)) in tabs.into_iter().enumerate() {
        let text = match counts[i] {
            Some(n) => format!("{label} ({n})"),
            None => label.to_owned(),
        };
        let r = Rect::new(card.x + 24.0 + i as f32 * 130.0, card.y + 60.0, 120.0, 34.0);
        ui.mark(control, r);
        let active = tab == t;
        let style = if active {
            ButtonStyle::Primary
        } else {
            ButtonStyle::Secondary
        };
        if button(ui, r, &text, style) && !active {
            ui.emit(Intent::CacheTab(t));
        }
    }
}

/// A line in place of a listing (still reading it, or empty).
fn draw_note(ui: &Ui, text: &str, area: Rect) {
    ui.fonts
        .draw(text, area.x, area.y + 20.0, theme::BODY, theme::MUTED);
}

fn draw_pictures(
    ui: &mut Ui,
    pictures: &mut Pictures,
    entries: &[CachedEntry],
    area: Rect,
    scroll: f32,
) {
    let columns = ((area.w + GAP) / (THUMB + GAP)).floor().max(1.0) as usize;
    for (i, entry) in entries.iter().enumerate() {
        let (col, row) = ((i % columns) as f32, (i / columns) as f32);
        let cell = Rect::new(
            area.x + col * (THUMB + GAP),
            area.y + row * (THUMB + 30.0 + GAP) - scroll,
            THUMB,
            THUMB,
        );
        if cell.y > area.y + area.h || cell.y + THUMB + 30.0 < area.y {
            continue;
        }
        rounded_rect(
            cell,
            10.0,
            if ui.hover(cell) {
                theme::SURFACE_HOVER
            } else {
                theme::FIELD
            },
        );
        let view = pictures.get(&entry.path);
        let (tw, th) = match &view {
            media::PictureView::Ready(t) => (t.width(), t.height()),
            _ => (THUMB, THUMB),
        };
        if matches!(view, media::PictureView::Ready(_)) {
            ui.mark(format_args!("cache:picture:{}", entry.name), cell);
        }
        let (pw, ph) = media::fit(tw, th, THUMB - 12.0, THUMB - 12.0);
        let pic = Rect::new(
            cell.x + (THUMB - pw) / 2.0,
            cell.y + (THUMB - ph) / 2.0,
            pw,
            ph,
        );
        media::draw_picture(view, pic, ui.fonts, &entry.name);
        let name = ui.fonts.fit(&entry.name, 12.0, THUMB);
        ui.fonts
            .draw(&name, cell.x, cell.y + THUMB + 16.0, 12.0, theme::TEXT);
        ui.fonts.draw(
            &human_size(entry.size),
            cell.x,
            cell.y + THUMB + 30.0,
            11.0,
            theme::FAINT,
        );
        if cell.y >= area.y && ui.clicked(cell) {
            ui.emit(Intent::ViewCachedPicture(entry.path.clone()));
        }
    }
}

fn draw_files(ui: &mut Ui, entries: &[CachedEntry], area: Rect, scroll: f32) {
    for (i, entry) in entries.iter().enumerate() {
        let row = Rect::new(
            area.x,
            area.y + i as f32 * FILE_ROW - scroll,
            area.w,
            FILE_ROW - 6.0,
        );
        if row.y > area.y + area.h || row.y + row.h < area.y {
            continue;
        }
        rounded_rect(
            row,
            8.0,
            if ui.hover(row) {
                theme::SURFACE_HOVER
            } else {
                theme::FIELD
            },
        );
        icon_file(
            Rect::new(row.x + 4.0, row.y + 3.0, 40.0, 40.0),
            theme::MUTED,
        );
        let name = ui.fonts.fit(&entry.name, theme::BODY - 1.0, row.w - 330.0);
        ui.fonts.draw(
            &name,
            row.x + 50.0,
            row.y + 28.0,
            theme::BODY - 1.0,
            theme::TEXT,
        );
        ui.fonts.draw(
            &human_size(entry.size),
            row.x + row.w - 270.0,
            row.y + 28.0,
            theme::SMALL,
            theme::MUTED,
        );
        if row.y < area.y {
            continue;
        }
        let open = Rect::new(row.x + row.w - 190.0, row.y + 8.0, 70.0, 30.0);
        if button(ui, open, "Open", ButtonStyle::Secondary) {
            ui.emit(Intent::OpenPath(entry.path.clone()));
        }
        let folder = Rect::new(row.x + row.w - 112.0, row.y + 8.0, 104.0, 30.0);
        if button(ui, folder, "Show folder", ButtonStyle::Secondary) {
            ui.emit(Intent::ShowPathInFolder(entry.path.clone()));
        }
    }
}
