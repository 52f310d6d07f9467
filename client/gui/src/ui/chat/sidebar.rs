//! The sidebar: the brand and server, the conversations (the group, then
//! the people, online first, with unread counts), the card of a server
//! hosted here, and who we are with the connection's state.

use macroquad::prelude::*;
use natter_common::Conversation;

use crate::app::intent::Intent;
use crate::app::state::{AppState, Connection, Hosting};
use crate::ui::theme;
use crate::ui::widgets::{avatar, button, rounded_rect, ButtonStyle, Ui};

/// Height of one conversation's row, with the gap under it.
const ROW_STEP: f32 = 46.0;

/// Draws the sidebar in `r`.
pub fn draw(ui: &mut Ui, state: &AppState, r: Rect) {
    draw_rectangle(r.x, r.y, r.w, r.h, theme::SIDEBAR);
    draw_brand(ui, state, r);
    ui.fonts
        .draw("CONVERSATIONS", r.x + 20.0, 108.0, 11.0, theme::FAINT);
    let mut y = 118.0;
    let footer_h = if state.login.hosting.is_some() {
        190.0
    } else {
        66.0
    };
    let people = state.people();
    for (c, online) in &people {
        if y + ROW_STEP > r.h - footer_h {
            break;
        }
        let row = Rect::new(r.x + 8.0, y, r.w - 16.0, 44.0);
        draw_conversation(ui, state, c, *online, row);
        y += ROW_STEP;
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
    if let Some(hosting) = &state.login.hosting {
        let card = Rect::new(r.x + 10.0, r.h - footer_h, r.w - 20.0, 118.0);
        draw_hosting(ui, hosting, card);
    }
    draw_me(ui, state, Rect::new(r.x, r.h - 62.0, r.w, 62.0));
}

/// The speech-bubble logo, the name, and the server we are on.
fn draw_brand(ui: &Ui, state: &AppState, r: Rect) {
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
}

/// One conversation's row: its avatar and name (with presence), its
/// unread count; a click selects it.
fn draw_conversation(ui: &mut Ui, state: &AppState, c: &Conversation, online: bool, row: Rect) {
    match c {
        Conversation::Group => ui.mark("conversation:group", row),
        Conversation::With(user) => ui.mark(format_args!("conversation:{user}"), row),
    }
    let selected = *c == state.selected;
    let hover = ui.hover(row);
    if selected || hover {
        let fill = if selected {
            theme::SURFACE_HOVER
        } else {
            theme::SURFACE
        };
        rounded_rect(row, 8.0, fill);
    }
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
            let dot = if online { theme::SUCCESS } else { theme::FAINT };
            draw_circle(row.x + 33.0, row.y + 33.0, 5.5, theme::SIDEBAR);
            draw_circle(row.x + 33.0, row.y + 33.0, 4.0, dot);
            let name = ui.fonts.fit(user.as_str(), theme::BODY, row.w - 90.0);
            let colour = if online { theme::TEXT } else { theme::MUTED };
            ui.fonts
                .draw_centred_v(&name, row.x + 46.0, row.y, row.h, theme::BODY, colour);
        }
    }
    let unread = state.conversations.get(c).map_or(0, |l| l.unread);
    if unread > 0 && !selected {
        draw_unread(ui, unread, row);
    }
    if ui.clicked(row) {
        ui.emit(Intent::SelectConversation(c.clone()));
    }
}

/// The unread count at the right of a conversation's row.
fn draw_unread(ui: &Ui, unread: u32, row: Rect) {
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

/// The card of the server this app hosts: how others join, and a button
/// that copies the address and fingerprint.
fn draw_hosting(ui: &mut Ui, hosting: &Hosting, card: Rect) {
    rounded_rect(card, 10.0, theme::hex(0x17251d));
    draw_circle(card.x + 16.0, card.y + 18.0, 4.0, theme::SUCCESS);
    let (x, y) = (card.x + 12.0, card.y);
    let small = theme::SMALL;
    ui.fonts.draw(
        "Hosting a server here",
        card.x + 28.0,
        y + 23.0,
        small,
        theme::SUCCESS,
    );
    ui.fonts
        .draw("Others join with", x, y + 44.0, 12.0, theme::MUTED);
    let address = hosting.join_addresses.first().cloned().unwrap_or_default();
    ui.fonts.draw(&address, x, y + 62.0, small, theme::TEXT);
    let fp = hosting.fingerprint.to_string();
    let short = format!(
        "{}...{}",
        &fp[..19.min(fp.len())],
        &fp[fp.len().saturating_sub(6)..]
    );
    ui.fonts.draw(&short, x, y + 82.0, 12.0, theme::MUTED);
    let copy = Rect::new(x, y + 90.0, card.w - 24.0, 22.0);
    if button(
        ui,
        copy,
        "Copy address + fingerprint",
        ButtonStyle::Secondary,
    ) {
        macroquad::miniquad::window::clipboard_set(&format!("{address} {fp}"));
    }
}

/// Who we are, and the connection's state, at the sidebar's foot.
fn draw_me(ui: &Ui, state: &AppState, me: Rect) {
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
