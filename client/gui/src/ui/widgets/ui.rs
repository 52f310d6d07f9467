//! `Ui`: what a view draws with for one frame (fonts, input, the clock),
//! where its intents go, and which parts of the window the mouse reaches.

use macroquad::prelude::*;

use crate::app::hooks::DrawnControls;
use crate::app::intent::Intent;
use crate::ui::fonts::Fonts;
use crate::ui::widgets::input::FrameInput;

/// What a view draws with: fonts, input, the clock, and where intents go.
pub struct Ui<'a> {
    pub fonts: &'a Fonts,
    pub input: &'a FrameInput,
    pub now: f64,
    pub dt: f32,
    pub intents: Vec<Intent>,
    /// Regions covered by something drawn later (popups): the mouse does
    /// not reach what is under them.
    pub blocked: Vec<Rect>,
    /// False while a modal covers the view being drawn.
    pub mouse_enabled: bool,
    /// A hover or transition is running in the view: keep frames coming.
    pub animating: bool,
    /// Whether the click of this frame was used by some widget.
    pub click_used: bool,
    /// Whether the caret is in the "on" half of its blink.
    pub caret_on: bool,
    /// Where the named controls were drawn, when a state dump wants them.
    pub controls: Option<DrawnControls>,
    /// What the input method is composing (and its cursor, in chars):
    /// drawn at the composer's caret.
    pub preedit: Option<(String, usize)>,
    /// Where the composer's caret was drawn (window coordinates), for the
    /// input method's candidate window.
    pub caret: Option<Rect>,
}

impl<'a> Ui<'a> {
    pub fn new(fonts: &'a Fonts, input: &'a FrameInput, now: f64, dt: f32) -> Self {
        Self {
            fonts,
            input,
            now,
            dt,
            intents: Vec::new(),
            blocked: Vec::new(),
            mouse_enabled: true,
            animating: false,
            click_used: false,
            caret_on: true,
            controls: None,
            preedit: None,
            caret: None,
        }
    }

    /// Notes that control `name` was drawn at `r` (for the state dump's
    /// `layout`); costs nothing unless recording.
    pub fn mark(&mut self, name: impl std::fmt::Display, r: Rect) {
        if let Some(controls) = &mut self.controls {
            controls.record(name.to_string(), [r.x, r.y, r.w, r.h]);
        }
    }

    pub fn mouse(&self) -> Vec2 {
        self.input.mouse
    }

    /// Whether the mouse is over `r` and nothing covers it there.
    pub fn hover(&self, r: Rect) -> bool {
        let m = self.input.mouse;
        self.mouse_enabled && r.contains(m) && !self.blocked.iter().any(|b| b.contains(m))
    }

    /// Whether `r` was clicked this frame.
    pub fn clicked(&mut self, r: Rect) -> bool {
        if self.input.clicked && !self.click_used && self.hover(r) {
            self.click_used = true;
            true
        } else {
            false
        }
    }

    pub fn emit(&mut self, intent: Intent) {
        self.intents.push(intent);
    }
}
