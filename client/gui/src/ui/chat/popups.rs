//! What floats over the chat room: the header's menu, the toasts, the
//! share sheet that asks which picture or file to send, and the large view
//! of a picture.

use macroquad::prelude::*;

use crate::app::intent::{Field, Intent};
use crate::app::popups::Toast;
use crate::app::state::{AppState, MediaSlot, Overlay, ShareSheet};
use crate::ui::chat::layout;
use crate::ui::media::{self, Pictures};
use crate::ui::theme::{self, ease_out};
use crate::ui::widgets::{
    self, button, icon_button, rounded_rect, shadow, text_field, ButtonStyle, FieldAction,
    FieldLook, Ui,
};

/// The menu in `r`: the cache browser and logging out; a click elsewhere
/// closes it.
pub fn draw_menu(ui: &mut Ui, r: Rect) {
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
    if ui.input.clicked && !ui.click_used && !r.contains(ui.mouse()) {
        ui.click_used = true;
        ui.emit(Intent::ToggleMenu);
    }
}

/// Draws the toasts at the right of `main`, stacked up from `bottom`.
pub fn draw_toasts(ui: &mut Ui, state: &AppState, main: Rect, bottom: f32) {
    for (r, i) in layout::toast_rects(state.toasts.len(), main, bottom) {
        if let Some(toast) = state.toasts.get(i) {
            draw_toast(ui, state, toast, r);
        }
    }
}

/// One toast, sliding in from the right: its text (two lines at most),
/// its action button if any, and a close button.
fn draw_toast(ui: &mut Ui, state: &AppState, toast: &Toast, r: Rect) {
    let age = (state.now - toast.shown_at) as f32;
    let slide = 1.0 - ease_out(age / 0.25);
    if slide > 0.0 {
        ui.animating = true;
    }
    let r = Rect::new(r.x + slide * 40.0, r.y, r.w, r.h);
    let (fill, edge) = if toast.error {
        (theme::DANGER_BG, theme::DANGER)
    } else {
        (theme::SURFACE, theme::ACCENT)
    };
    shadow(r, 12.0);
    rounded_rect(r, 12.0, fill);
    draw_rectangle(r.x, r.y + 10.0, 3.0, r.h - 20.0, edge);
    let action_w = if toast.action.is_some() { 70.0 } else { 0.0 };
    let lines = ui
        .fonts
        .wrap(&toast.text, theme::SMALL, r.w - 60.0 - action_w);
    let shown = lines.len().min(2);
    let top = r.y + (r.h - shown as f32 * 18.0) / 2.0 + 13.0;
    for (j, line) in lines.iter().take(2).enumerate() {
        let y = top + j as f32 * 18.0;
        ui.fonts
            .draw(line, r.x + 16.0, y, theme::SMALL, theme::TEXT);
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

/// The share sheet over a dimmed window: the path typed (or chosen in
/// the file dialog), Browse, Cancel and Send.
pub fn draw_share_sheet(ui: &mut Ui, sheet: &ShareSheet) {
    let (w, h) = (screen_width(), screen_height());
    draw_rectangle(0.0, 0.0, w, h, Color::new(0.0, 0.0, 0.0, 0.55));
    let card = Rect::new((w - 540.0) / 2.0, (h - 250.0) / 2.0, 540.0, 250.0);
    shadow(card, 14.0);
    rounded_rect(card, 14.0, theme::SURFACE);
    let (x, y) = (card.x + 24.0, card.y);
    let title = if sheet.picture {
        "Send a picture"
    } else {
        "Send a file"
    };
    ui.fonts.draw(title, x, y + 40.0, theme::LARGE, theme::TEXT);
    let hint = if sheet.dialog_open {
        "Choose it in the file dialog, or type its path here:"
    } else if sheet.no_dialog {
        "No file dialog is available on this system. Type the file's path:"
    } else {
        "Type the path of the file, or browse for it:"
    };
    ui.fonts.draw(hint, x, y + 72.0, theme::SMALL, theme::MUTED);
    let field = Rect::new(x, y + 88.0, card.w - 48.0, 42.0);
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
        ui.fonts
            .draw(error, x, y + 152.0, theme::SMALL, theme::DANGER);
    }
    draw_share_buttons(ui, sheet, card);
}

fn draw_share_buttons(ui: &mut Ui, sheet: &ShareSheet, card: Rect) {
    let by = card.y + card.h - 60.0;
    let browse = Rect::new(card.x + 24.0, by, 110.0, 38.0);
    if !sheet.dialog_open && button(ui, browse, "Browse...", ButtonStyle::Secondary) {
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
pub fn draw_picture_overlay(ui: &mut Ui, state: &AppState, pictures: &mut Pictures) {
    let path = match (&state.popups.viewing_cached, &state.popups.overlay) {
        (Some(path), _) => Some(path.clone()),
        (None, Some(Overlay::Picture { media })) => match state.media.pictures.get(&media.hash) {
            Some(MediaSlot::Ready(path)) => Some(path.clone()),
            _ => None,
        },
        _ => return,
    };
    let (w, h) = (screen_width(), screen_height());
    draw_rectangle(0.0, 0.0, w, h, Color::new(0.02, 0.03, 0.05, 0.92));
    let name = match &state.popups.overlay {
        Some(Overlay::Picture { media }) if state.popups.viewing_cached.is_none() => {
            media.name.clone()
        }
        _ => path
            .as_ref()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    let picture = match &path {
        Some(p) => pictures.get(p),
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
