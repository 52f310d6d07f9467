//! The conversation's title bar (who it is with, who is online, the menu
//! button) and the banner under it while the connection is lost.

use macroquad::prelude::*;
use natter_common::Conversation;

use crate::app::intent::Intent;
use crate::app::state::{AppState, Connection};
use crate::app::truncate_for_display;
use crate::ui::chat::layout::LIST_PAD_X;
use crate::ui::theme;
use crate::ui::widgets::{self, button, icon_button, ButtonStyle, Ui};

/// Draws the title bar in `r`.
pub fn draw(ui: &mut Ui, state: &AppState, r: Rect) {
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
    if icon_button(ui, button_r, state.popups.menu_open, widgets::icon_menu) {
        ui.emit(Intent::ToggleMenu);
    }
}

/// Whether the connection's state needs the banner.
pub fn banner_shown(state: &AppState) -> bool {
    !matches!(state.connection, Connection::Online | Connection::Offline)
}

/// The banner in `r`: reconnecting (with the countdown), or disconnected
/// with a way back to the login.
pub fn draw_banner(ui: &mut Ui, state: &AppState, r: Rect) {
    match &state.connection {
        Connection::Reconnecting { reason, retry_at } => {
            draw_reconnecting(ui, reason, *retry_at, r);
        }
        Connection::Closed(reason) => draw_closed(ui, reason, r),
        _ => {}
    }
}

fn draw_reconnecting(ui: &Ui, reason: &str, retry_at: f64, r: Rect) {
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

fn draw_closed(ui: &mut Ui, reason: &str, r: Rect) {
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
