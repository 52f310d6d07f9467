//! Buttons: labelled ones in four styles, and square ones drawn by an icon.

use macroquad::prelude::*;

use crate::ui::theme;
use crate::ui::widgets::shapes::rounded_rect;
use crate::ui::widgets::ui::Ui;

/// How a button looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ButtonStyle {
    Primary,
    Secondary,
    Ghost,
    Danger,
}

/// A labelled button; true when clicked.
pub fn button(ui: &mut Ui, r: Rect, label: &str, style: ButtonStyle) -> bool {
    let hover = ui.hover(r);
    let (bg, fg) = match (style, hover) {
        (ButtonStyle::Primary, false) => (theme::ACCENT, WHITE),
        (ButtonStyle::Primary, true) => (theme::ACCENT_HOVER, WHITE),
        (ButtonStyle::Secondary, false) => (theme::SECONDARY, theme::TEXT),
        (ButtonStyle::Secondary, true) => (theme::SECONDARY_HOVER, theme::TEXT),
        (ButtonStyle::Ghost, false) => (Color::new(0.0, 0.0, 0.0, 0.0), theme::MUTED),
        (ButtonStyle::Ghost, true) => (theme::SURFACE_HOVER, theme::TEXT),
        (ButtonStyle::Danger, false) => (theme::DANGER, WHITE),
        (ButtonStyle::Danger, true) => (theme::mix(theme::DANGER, WHITE, 0.15), WHITE),
    };
    if bg.a > 0.0 {
        rounded_rect(r, 8.0, bg);
    }
    let size = if r.h < 30.0 {
        theme::SMALL
    } else {
        theme::BODY - 1.0
    };
    let label = ui.fonts.fit(label, size, r.w - 12.0);
    ui.fonts.draw_centred(&label, r, size, fg);
    ui.clicked(r)
}

/// A square button drawn by `icon`; true when clicked.
pub fn icon_button(ui: &mut Ui, r: Rect, active: bool, icon: impl FnOnce(Rect, Color)) -> bool {
    let hover = ui.hover(r);
    if hover || active {
        rounded_rect(
            r,
            8.0,
            if active {
                theme::SURFACE_HOVER
            } else {
                theme::SURFACE
            },
        );
    }
    icon(
        r,
        if hover || active {
            theme::TEXT
        } else {
            theme::MUTED
        },
    );
    ui.clicked(r)
}
