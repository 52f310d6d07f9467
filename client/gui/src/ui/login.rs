//! The login and account creation screen: server, name, password (and its
//! confirmation), inline errors, the first-connection fingerprint prompt,
//! the loud refusal of a changed certificate, and the offer to host a
//! server here when nothing answers locally.

use macroquad::miniquad::KeyCode;
use macroquad::prelude::*;
use natter_common::Fingerprint;

use crate::app::intent::{Field, Intent};
use crate::app::login::TrustPrompt;
use crate::app::state::{AppState, FormError, Hosting, Screen, TextBuffer};
use crate::ui::fonts::Fonts;
use crate::ui::theme;
use crate::ui::widgets::{
    button, rounded_rect, shadow, text_field, ButtonStyle, FieldAction, FieldLook, Ui,
};

const CARD_W: f32 = 460.0;
const PAD: f32 = 36.0;
const FIELD_H: f32 = 44.0;
const FIELD_BLOCK: f32 = 22.0 + FIELD_H + 14.0;

/// Fingerprint split in two lines of 4-digit groups, for reading aloud.
fn fingerprint_lines(fp: &str) -> Vec<String> {
    let hex = fp.strip_prefix("SHA256:").unwrap_or(fp);
    let groups: Vec<String> = hex
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    groups.chunks(8).map(|g| g.join(" ")).collect()
}

fn extra_height(fonts: &Fonts, state: &AppState, inner_w: f32) -> f32 {
    let mut h = 0.0;
    match &state.login.form.error {
        Some(FormError::Message(m) | FormError::Hint(m)) => {
            h += fonts.wrap(m, theme::SMALL, inner_w).len() as f32 * 19.0 + 10.0
        }
        Some(FormError::CertificateChanged { .. }) => h += 246.0,
        None => {}
    }
    if state.login.trust_prompt.is_some() {
        h += 226.0;
    }
    if state.login.form.offer_host || state.login.host_starting {
        h += 130.0;
    }
    if state.login.hosting.is_some() {
        h += 56.0;
    }
    h
}

/// Draws the form and reads its keyboard.
pub fn draw(ui: &mut Ui, state: &AppState) {
    let (w, h) = (screen_width(), screen_height());
    clear_background(theme::SIDEBAR);
    draw_backdrop(w, h);
    let register = state.screen == Screen::Register;
    let inner_w = CARD_W - 2.0 * PAD;
    let fields = if register { 4.0 } else { 3.0 };
    let card_h = PAD
        + 92.0
        + fields * FIELD_BLOCK
        + 50.0
        + 46.0
        + extra_height(ui.fonts, state, inner_w)
        + PAD
        - 10.0;
    let card = Rect::new(
        ((w - CARD_W) / 2.0).round(),
        ((h - card_h) / 2.0).max(16.0).round(),
        CARD_W,
        card_h,
    );
    shadow(card, 18.0);
    rounded_rect(card, 18.0, theme::SURFACE);

    let x = card.x + PAD;
    let mut y = card.y + PAD;
    draw_brand(ui, register, x, y);
    y += 92.0;
    let submit = draw_fields(ui, state, register, x, &mut y);
    y += 4.0;
    draw_submit(ui, state, register, submit, Rect::new(x, y, inner_w, 46.0));
    y += 56.0;
    draw_switch(ui, state, register, x, y);
    y += 40.0;
    match &state.login.form.error {
        Some(error @ (FormError::Message(m) | FormError::Hint(m))) => {
            let colour = match error {
                FormError::Hint(_) => theme::NAME_GROUP_MINE,
                _ => theme::NAME_PRIVATE_THEIRS,
            };
            for line in ui.fonts.wrap(m, theme::SMALL, inner_w) {
                ui.fonts.draw(&line, x, y + 14.0, theme::SMALL, colour);
                y += 19.0;
            }
            y += 10.0;
        }
        Some(FormError::CertificateChanged {
            server,
            known,
            presented,
        }) => {
            let r = Rect::new(x - 12.0, y, inner_w + 24.0, 236.0);
            draw_certificate_changed(ui, server, known, presented, r);
            y += 246.0;
        }
        None => {}
    }
    if let Some(prompt) = &state.login.trust_prompt {
        draw_trust_prompt(ui, prompt, Rect::new(x - 12.0, y, inner_w + 24.0, 216.0));
        y += 226.0;
    }
    if state.login.form.offer_host || state.login.host_starting {
        draw_host_offer(ui, state, Rect::new(x - 12.0, y, inner_w + 24.0, 120.0));
        y += 130.0;
    }
    if let Some(hosting) = &state.login.hosting {
        draw_hosting(ui, hosting, x, y);
    }
}

/// A soft backdrop: two large faint circles.
fn draw_backdrop(w: f32, h: f32) {
    draw_poly(
        w * 0.15,
        h * 0.2,
        96,
        260.0,
        0.0,
        Color::new(0.30, 0.55, 1.0, 0.05),
    );
    draw_poly(
        w * 0.9,
        h * 0.95,
        96,
        320.0,
        0.0,
        Color::new(0.25, 0.73, 0.31, 0.05),
    );
}

/// The logo, the name, and what this form is for.
fn draw_brand(ui: &Ui, register: bool, x: f32, y: f32) {
    draw_circle(x + 18.0, y + 18.0, 18.0, theme::ACCENT);
    draw_triangle(
        vec2(x + 6.0, y + 28.0),
        vec2(x + 3.0, y + 40.0),
        vec2(x + 19.0, y + 32.0),
        theme::ACCENT,
    );
    for i in 0..3 {
        draw_circle(x + 10.0 + i as f32 * 8.0, y + 18.0, 2.4, WHITE);
    }
    ui.fonts
        .draw("natter", x + 48.0, y + 30.0, theme::TITLE, theme::TEXT);
    let subtitle = if register {
        "Create an account on this server"
    } else {
        "Log in to chat — 群聊、私聊、表情、图片和文件"
    };
    ui.fonts
        .draw(subtitle, x, y + 68.0, theme::SMALL, theme::MUTED);
}

/// How one field of the form looks: its label, its text, whether it is
/// masked, its placeholder, and the control name the state dump gives it.
fn field_look(
    state: &AppState,
    field: Field,
    register: bool,
) -> (&'static str, &TextBuffer, bool, &'static str, &'static str) {
    match field {
        Field::Server => (
            "Server",
            &state.login.form.server,
            false,
            "host:port",
            "field:server",
        ),
        Field::Name => (
            "User name",
            &state.login.form.name,
            false,
            "letters, digits, _ - .",
            "field:name",
        ),
        Field::Password => (
            "Password",
            &state.login.form.password,
            true,
            if register {
                "at least 8 characters"
            } else {
                ""
            },
            "field:password",
        ),
        _ => (
            "Confirm password",
            &state.login.form.confirm,
            true,
            "type it again",
            "field:confirm",
        ),
    }
}

/// The form's fields from `y` down (moving `y` past them); Tab moves the
/// focus on. Returns whether Enter was pressed in one.
fn draw_fields(ui: &mut Ui, state: &AppState, register: bool, x: f32, y: &mut f32) -> bool {
    let order: &[Field] = if register {
        &[Field::Server, Field::Name, Field::Password, Field::Confirm]
    } else {
        &[Field::Server, Field::Name, Field::Password]
    };
    let focus = state
        .login
        .form
        .focus
        .filter(|f| order.contains(f))
        .unwrap_or(Field::Name);
    let mut submit = false;
    for field in order {
        let (label, buffer, masked, placeholder, control) = field_look(state, *field, register);
        ui.fonts
            .draw(label, x, *y + 14.0, theme::SMALL, theme::MUTED);
        let r = Rect::new(x, *y + 22.0, CARD_W - 2.0 * PAD, FIELD_H);
        ui.mark(control, r);
        let look = FieldLook {
            placeholder,
            masked,
            multiline: false,
            size: theme::BODY,
        };
        let focused = *field == focus && state.login.trust_prompt.is_none();
        match text_field(ui, r, *field, buffer, focused, look) {
            FieldAction::Submit => submit = true,
            FieldAction::Next => {
                let i = order.iter().position(|f| f == field).unwrap_or(0);
                ui.emit(Intent::Focus(order[(i + 1) % order.len()]));
            }
            FieldAction::None => {}
        }
        *y += FIELD_BLOCK;
    }
    submit
}

/// The button that logs in or creates the account (`submit`: Enter was
/// pressed in a field); it says so while busy.
fn draw_submit(ui: &mut Ui, state: &AppState, register: bool, submit: bool, r: Rect) {
    let busy = state.login.form.busy || state.login.host_starting;
    let label = match (busy, register, state.login.host_starting) {
        (true, _, true) => "Starting a server...".to_owned(),
        (true, _, false) => format!("Connecting{}", ".".repeat(1 + (ui.now * 3.0) as usize % 3)),
        (false, true, _) => "Create account".to_owned(),
        (false, false, _) => "Log in".to_owned(),
    };
    ui.mark("login_button", r);
    let clicked = button(ui, r, &label, ButtonStyle::Primary) && !busy;
    if (submit || clicked) && !busy && state.login.trust_prompt.is_none() {
        ui.emit(if register {
            Intent::Register
        } else {
            Intent::Login
        });
    }
}

/// "No account yet? Create one" (or back to logging in), at `y`.
fn draw_switch(ui: &mut Ui, state: &AppState, register: bool, x: f32, y: f32) {
    let busy = state.login.form.busy || state.login.host_starting;
    let inner_w = CARD_W - 2.0 * PAD;
    let (question, link, intent) = if register {
        ("Have an account?", "Log in", Intent::ShowLogin)
    } else {
        ("No account yet?", "Create one", Intent::ShowRegister)
    };
    let qw = ui.fonts.width(question, theme::SMALL);
    let lw = ui.fonts.width(link, theme::SMALL);
    let start = x + (inner_w - qw - lw - 6.0) / 2.0;
    ui.fonts
        .draw(question, start, y + 16.0, theme::SMALL, theme::MUTED);
    let link_r = Rect::new(start + qw + 6.0, y, lw, 22.0);
    ui.mark("register_link", link_r);
    let colour = if ui.hover(link_r) {
        theme::ACCENT_HOVER
    } else {
        theme::ACCENT
    };
    ui.fonts
        .draw(link, link_r.x, y + 16.0, theme::SMALL, colour);
    if ui.clicked(link_r) && !busy {
        ui.emit(intent);
    }
}

/// The loud refusal of a certificate that is not the recorded one, in `r`.
fn draw_certificate_changed(
    ui: &Ui,
    server: &str,
    known: &Fingerprint,
    presented: &Fingerprint,
    r: Rect,
) {
    rounded_rect(r, 10.0, theme::DANGER);
    rounded_rect(
        Rect::new(r.x + 2.0, r.y + 2.0, r.w - 4.0, r.h - 4.0),
        9.0,
        theme::DANGER_BG,
    );
    ui.fonts.draw(
        "REFUSED: the server's certificate CHANGED",
        r.x + 14.0,
        r.y + 26.0,
        theme::BODY,
        theme::DANGER,
    );
    let server = ui.fonts.fit(server, theme::SMALL, r.w - 28.0);
    ui.fonts
        .draw(&server, r.x + 14.0, r.y + 48.0, theme::SMALL, theme::TEXT);
    let mut ly = r.y + 72.0;
    for (title, fp) in [
        ("Recorded:", known.to_string()),
        ("Presented now:", presented.to_string()),
    ] {
        ui.fonts.draw(title, r.x + 14.0, ly, 12.0, theme::MUTED);
        ly += 17.0;
        for line in fingerprint_lines(&fp) {
            ui.fonts.draw(&line, r.x + 14.0, ly, 13.0, theme::TEXT);
            ly += 17.0;
        }
        ly += 6.0;
    }
    let warning = "Someone may be intercepting the connection. If the server's operator really replaced \
                   its certificate, remove its line from the known_servers file, then log in again.";
    for line in ui.fonts.wrap(warning, 12.0, r.w - 28.0) {
        ui.fonts.draw(
            &line,
            r.x + 14.0,
            ly + 4.0,
            12.0,
            theme::NAME_PRIVATE_THEIRS,
        );
        ly += 16.0;
    }
}

/// The first-connection prompt in `r`: the server's fingerprint to
/// compare, Trust and Cancel (or Escape).
fn draw_trust_prompt(ui: &mut Ui, prompt: &TrustPrompt, r: Rect) {
    rounded_rect(r, 10.0, theme::WARNING_BG);
    ui.fonts.draw(
        "First connection to this server",
        r.x + 14.0,
        r.y + 26.0,
        theme::BODY,
        theme::WARNING,
    );
    let server = ui.fonts.fit(&prompt.server, theme::SMALL, r.w - 28.0);
    ui.fonts
        .draw(&server, r.x + 14.0, r.y + 48.0, theme::SMALL, theme::TEXT);
    ui.fonts.draw(
        "Its certificate fingerprint (SHA-256):",
        r.x + 14.0,
        r.y + 72.0,
        12.0,
        theme::MUTED,
    );
    let mut ly = r.y + 92.0;
    for line in fingerprint_lines(&prompt.fingerprint.to_string()) {
        ui.fonts.draw(&line, r.x + 14.0, ly, 14.0, theme::TEXT);
        ly += 19.0;
    }
    let advice = "Compare it with the one the server's operator gave you. Trusting records it, so a change later is refused.";
    for line in ui.fonts.wrap(advice, 12.0, r.w - 28.0) {
        ui.fonts
            .draw(&line, r.x + 14.0, ly + 6.0, 12.0, theme::MUTED);
        ly += 16.0;
    }
    let by = r.y + r.h - 48.0;
    let trust = Rect::new(r.x + 14.0, by, 190.0, 36.0);
    ui.mark("trust_button", trust);
    if button(ui, trust, "Trust and connect", ButtonStyle::Primary) {
        ui.emit(Intent::AcceptFingerprint);
    }
    let cancel = Rect::new(r.x + 214.0, by, 100.0, 36.0);
    ui.mark("trust_cancel", cancel);
    if button(ui, cancel, "Cancel", ButtonStyle::Secondary) {
        ui.emit(Intent::RejectFingerprint);
    }
    if ui.input.key_pressed(KeyCode::Escape) {
        ui.emit(Intent::RejectFingerprint);
    }
}

/// The offer to host a server here when nothing answered, in `r`.
fn draw_host_offer(ui: &mut Ui, state: &AppState, r: Rect) {
    rounded_rect(r, 10.0, theme::hex(0x17251d));
    ui.fonts.draw(
        "No server here yet?",
        r.x + 14.0,
        r.y + 26.0,
        theme::BODY,
        theme::SUCCESS,
    );
    let text =
        "Host one inside this app: it listens on port 4433 and others on your network can join.";
    let mut ly = r.y + 48.0;
    for line in ui.fonts.wrap(text, 12.0, r.w - 28.0) {
        ui.fonts.draw(&line, r.x + 14.0, ly, 12.0, theme::MUTED);
        ly += 16.0;
    }
    let label = if state.login.host_starting {
        "Starting..."
    } else {
        "Host a server here"
    };
    let b = Rect::new(r.x + 14.0, r.y + r.h - 46.0, 190.0, 34.0);
    if button(ui, b, label, ButtonStyle::Primary) && !state.login.host_starting {
        ui.emit(Intent::HostLocally);
    }
}

/// How others join the server hosted here, at `y`.
fn draw_hosting(ui: &Ui, hosting: &Hosting, x: f32, y: f32) {
    let inner_w = CARD_W - 2.0 * PAD;
    draw_circle(x + 5.0, y + 12.0, 4.0, theme::SUCCESS);
    let addresses = hosting.join_addresses.join("  ·  ");
    let line = ui.fonts.fit(
        &format!("Hosting: others join with {addresses}"),
        12.0,
        inner_w - 14.0,
    );
    ui.fonts
        .draw(&line, x + 14.0, y + 16.0, 12.0, theme::SUCCESS);
    let fp = ui
        .fonts
        .fit(&hosting.fingerprint.to_string(), 11.0, inner_w - 14.0);
    ui.fonts.draw(&fp, x + 14.0, y + 34.0, 11.0, theme::MUTED);
}

/// The screen shown for the first frames, while the real font loads:
/// drawn with macroquad's built-in font only.
pub fn draw_loading(now: f64) {
    let (w, h) = (screen_width(), screen_height());
    clear_background(theme::SIDEBAR);
    let title = "natter";
    let d = measure_text(title, None, 40, 1.0);
    draw_text(
        title,
        (w - d.width) / 2.0,
        h / 2.0 - 10.0,
        40.0,
        theme::TEXT,
    );
    let dots = ".".repeat(1 + (now * 3.0) as usize % 3);
    let sub = format!("loading fonts{dots}");
    let d = measure_text(&sub, None, 20, 1.0);
    draw_text(
        &sub,
        (w - d.width) / 2.0,
        h / 2.0 + 24.0,
        20.0,
        theme::MUTED,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_read_in_groups() {
        let fp = natter_common::Fingerprint([0xab; 32]).to_string();
        let lines = fingerprint_lines(&fp);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0], "abab abab abab abab abab abab abab abab");
    }
}
