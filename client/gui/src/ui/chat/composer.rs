//! The composer at the bottom of the conversation: the emoji, picture and
//! file buttons, the text field (growing to six lines), the send button
//! and the length warning; above it, the cards of uploads in progress.

use macroquad::prelude::*;
use natter_common::Conversation;

use crate::app::human_size;
use crate::app::intent::{Field, Intent};
use crate::app::state::{AppState, Transfer, TransferPurpose};
use crate::app::truncate_for_display;
use crate::ui::chat::layout::{self, LIST_PAD_X, TEXT_SIZE, UPLOAD_CARD_H};
use crate::ui::theme;
use crate::ui::widgets::{
    self, icon_button, progress_bar, rounded_rect, text_field, FieldAction, FieldLook, Ui,
};

/// An icon drawn in code into a button's rectangle.
type Icon = fn(Rect, Color);

/// How high the composer is for the text in it, in a main area `main_w`
/// wide.
pub fn height(ui: &Ui, state: &AppState, main_w: f32) -> f32 {
    let inner = layout::composer_text_width(main_w);
    let lines = widgets::field_line_count(ui.fonts, &state.composer.draft.text, TEXT_SIZE, inner);
    layout::composer_height(lines)
}

/// Draws the composer in `r`.
pub fn draw(ui: &mut Ui, state: &AppState, r: Rect) {
    draw_rectangle(r.x, r.y, r.w, r.h, theme::HEADER);
    draw_rectangle(r.x, r.y, r.w, 1.0, theme::BORDER);
    let by = r.y + r.h - 14.0 - 36.0;
    let tools: [(&str, bool, Icon, Intent); 3] = [
        (
            "emoji_button",
            state.composer.emoji_panel.open,
            widgets::icon_smiley,
            Intent::ToggleEmojiPanel,
        ),
        (
            "picture_button",
            false,
            widgets::icon_picture,
            Intent::PickFile { picture: true },
        ),
        (
            "file_button",
            false,
            widgets::icon_file,
            Intent::PickFile { picture: false },
        ),
    ];
    let mut x = r.x + 14.0;
    for (control, active, icon, intent) in tools {
        let b = Rect::new(x, by, 36.0, 36.0);
        ui.mark(control, b);
        if icon_button(ui, b, active, icon) {
            ui.emit(intent);
        }
        x += 40.0;
    }
    x += 8.0;
    let field = Rect::new(x, r.y + 14.0, r.x + r.w - x - 70.0, r.h - 28.0);
    draw_field(ui, state, field);
    draw_send(ui, state, Rect::new(r.x + r.w - 58.0, by, 44.0, 36.0));
    let count = state.composer.draft.text.chars().count();
    if count > state.composer.max_chars * 9 / 10 {
        let label = format!("{count}/{}", state.composer.max_chars);
        let (x, y) = (field.x + field.w - 70.0, field.y - 3.0);
        ui.fonts.draw(&label, x, y, 11.0, theme::WARNING);
    }
}

/// The text field; Enter sends.
fn draw_field(ui: &mut Ui, state: &AppState, field: Rect) {
    ui.mark("composer", field);
    let focused =
        state.composer.focused && state.share_sheet.is_none() && state.popups.overlay.is_none();
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
    if text_field(
        ui,
        field,
        Field::Composer,
        &state.composer.draft,
        focused,
        look,
    ) == FieldAction::Submit
    {
        ui.emit(Intent::SendText);
    }
}

/// The send button: lit only when there is something to send.
fn draw_send(ui: &mut Ui, state: &AppState, send: Rect) {
    ui.mark("send_button", send);
    let can_send = !state.composer.draft.text.trim().is_empty();
    let fill = match (can_send, ui.hover(send)) {
        (true, true) => theme::ACCENT_HOVER,
        (true, false) => theme::ACCENT,
        (false, _) => theme::SURFACE,
    };
    rounded_rect(send, 8.0, fill);
    widgets::icon_send(send, if can_send { WHITE } else { theme::FAINT });
    if ui.clicked(send) && can_send {
        ui.emit(Intent::SendText);
    }
}

/// The uploads running in the selected conversation.
pub fn uploads_here(state: &AppState) -> Vec<&Transfer> {
    state
        .media
        .transfers
        .values()
        .filter(|t| matches!(&t.purpose, TransferPurpose::Upload { conversation, .. } if *conversation == state.selected))
        .collect()
}

/// Cards for the first three uploads, right-aligned in `r`.
pub fn draw_uploads(ui: &mut Ui, uploads: &[&Transfer], r: Rect) {
    if uploads.is_empty() {
        return;
    }
    draw_rectangle(r.x, r.y, r.w, r.h, theme::BACKGROUND);
    for (i, t) in uploads.iter().take(3).enumerate() {
        let card = Rect::new(
            r.x + r.w - LIST_PAD_X - 360.0,
            r.y + 4.0 + i as f32 * UPLOAD_CARD_H,
            360.0,
            52.0,
        );
        draw_upload(ui, t, card);
    }
}

/// One upload: what is sent, how far, how fast; it can be cancelled.
fn draw_upload(ui: &mut Ui, t: &Transfer, card: Rect) {
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
        ui.emit(Intent::CancelTransfer(t.id));
    }
}
