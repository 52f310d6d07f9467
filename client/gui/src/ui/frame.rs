//! One frame of the interface: the view-side memory that outlives a frame,
//! and the draw of whatever screen the state names.

use macroquad::prelude::*;

use crate::app::hooks::DrawnControls;
use crate::app::intent::Intent;
use crate::app::state::{AppState, Overlay, Screen};
use crate::ui::fonts::Fonts;
use crate::ui::widgets::{FrameInput, Ui};
use crate::ui::{cache_browser, candidates, chat, login, media, theme};

/// View-side memory that outlives a frame.
#[derive(Debug, Default)]
pub struct Views {
    pub chat: chat::ChatView,
    pub cache: cache_browser::CacheBrowser,
    pub dialog: media::FileDialog,
    /// Where the last drawn frame put the named controls; `Some` only when
    /// a state dump will report them.
    pub controls: Option<DrawnControls>,
    /// What the input method is composing, and its cursor.
    pub preedit: Option<(String, usize)>,
    /// Where the composer's caret was last drawn (window coordinates).
    pub caret: Option<Rect>,
    /// The input method's candidates, when the app draws them.
    pub candidates: Option<candidates::Candidates>,
}

/// Draws one frame of whatever screen the state names; returns the
/// intents and whether a view-side animation is running.
pub fn draw_frame(
    state: &AppState,
    views: &mut Views,
    fonts: &Fonts,
    input: &FrameInput,
    now: f64,
    dt: f32,
    caret_on: bool,
) -> (Vec<Intent>, bool) {
    let mut ui = Ui::new(fonts, input, now, dt);
    ui.caret_on = caret_on;
    ui.preedit = views.preedit.clone();
    ui.controls = views.controls.take().map(|mut c| {
        c.clear();
        c
    });
    match state.screen {
        Screen::Login | Screen::Register => login::draw(&mut ui, state),
        Screen::Chat => {
            clear_background(theme::BACKGROUND);
            chat::draw(&mut ui, state, &mut views.chat);
            if state.popups.viewing_cached.is_some() {
                ui.mouse_enabled = false;
            }
            views.cache.draw(&mut ui, state, &mut views.chat.pictures);
            ui.mouse_enabled = true;
            if matches!(state.popups.overlay, Some(Overlay::Picture { .. }))
                || state.popups.viewing_cached.is_some()
            {
                chat::draw_picture_overlay(&mut ui, state, &mut views.chat.pictures);
            }
            if let (Some(caret), Some(c)) = (ui.caret, &views.candidates) {
                candidates::draw(&ui, caret, c);
            }
        }
    }
    views.controls = ui.controls.take();
    views.caret = ui.caret;
    (ui.intents, ui.animating)
}
