//! Frame pacing: the interface is drawn only when something changed (else
//! the last frame is shown again), frames come about 60 a second while
//! anything moves, and when nothing does the window sleeps until input, a
//! network event or the next thing due wakes it.

use std::time::{Duration, Instant};

use crate::app::intent::Intent;
use crate::app::state::{AppState, Connection};
use crate::ui::canvas::Canvas;
use crate::ui::fonts::Fonts;
use crate::ui::frame::{draw_frame, Views};
use crate::ui::screen::keep_awake;
use crate::ui::widgets::{self, FrameInput};
use crate::ui::window::{WindowLink, HEARTBEAT};

/// Frame interval while something moves.
pub const ACTIVE_FRAME: Duration = Duration::from_micros(16_667);
/// Frame interval when nothing changes (and when something must be
/// polled: the file dialog's answer).
pub const IDLE_FRAME: Duration = Duration::from_millis(100);
/// Frame interval after `DEEP_IDLE_SECS` of nothing, where the window
/// cannot sleep.
pub const DEEP_IDLE_FRAME: Duration = Duration::from_millis(200);
/// Seconds of nothing before frames slow to [`DEEP_IDLE_FRAME`].
const DEEP_IDLE_SECS: f64 = 5.0;
/// Seconds after the last input that the caret keeps blinking; then it
/// stays on (so an idle window needs no redraws).
const CARET_BLINK_SECS: f64 = 5.0;
/// How long after the last input or event frames stay fast.
const ACTIVE_LINGER_SECS: f64 = 0.6;

/// Draws frames only when needed and paces the loop: fast while anything
/// moves, slower when idle, slowest after a while of nothing.
#[derive(Debug)]
pub struct FrameDriver {
    canvas: Canvas,
    last_active: f64,
    last_input: f64,
    animating: bool,
    /// A countdown is on screen: draw every second.
    periodic: bool,
    drawn_revision: u64,
    frame_started: Instant,
    /// Frames in which the interface was really drawn (not just shown again).
    pub renders: u64,
}

impl Default for FrameDriver {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameDriver {
    pub fn new() -> Self {
        Self {
            canvas: Canvas::default(),
            last_active: 0.0,
            last_input: 0.0,
            animating: true,
            periodic: false,
            drawn_revision: u64::MAX,
            frame_started: Instant::now(),
            renders: 0,
        }
    }

    /// One frame: advances the state's clock, uploads decoded pictures,
    /// draws the interface if anything changed (else shows the last one)
    /// and returns the views' intents. `activity` says the network or a
    /// dialog reported something.
    #[allow(clippy::too_many_arguments)]
    pub fn frame(
        &mut self,
        state: &mut AppState,
        views: &mut Views,
        fonts: &Fonts,
        input: &FrameInput,
        now: f64,
        dt: f32,
        activity: bool,
    ) -> Vec<Intent> {
        // Typing and clicking restart the caret's blink; a pointer moving
        // over the window does not (it would keep an idle window drawing).
        if !input.keys.is_empty() || input.clicked {
            self.last_input = now;
        }
        let activity = activity | views.chat.pictures.pump() | input.any();
        state.tick(now);
        let caret_on = now - self.last_input > CARET_BLINK_SECS || widgets::caret_visible(now);
        let dirty = activity || self.animating || state.revision != self.drawn_revision;
        let periodic = matches!(state.connection, Connection::Reconnecting { .. });
        self.periodic = periodic;
        let (intents, view_animating) = if self.canvas.needs_render(dirty, caret_on, periodic, now)
        {
            self.canvas.begin();
            let out = draw_frame(state, views, fonts, input, now, dt, caret_on);
            self.canvas.end(now);
            self.renders += 1;
            out
        } else {
            (Vec::new(), false)
        };
        self.canvas.present();
        self.drawn_revision = state.revision;
        // A frame that grew the glyph atlas may show stale text: draw the
        // next one too.
        let new_glyphs = fonts.take_new_glyphs();
        self.animating =
            view_animating || new_glyphs || state.animating() || views.chat.pictures.busy();
        if activity || self.animating {
            self.last_active = now;
        }
        intents
    }

    /// Waits for the next frame: asks for it at once while anything
    /// moves (or where the window cannot sleep), else lets the window sleep
    /// until woken or until the earliest of `due` (the state's next change,
    /// on its clock), the caret's next blink, a countdown's next second, a
    /// poll of the file dialog (`polling`) and the heartbeat.
    pub fn pace(&mut self, now: f64, link: &WindowLink, due: Option<f64>, polling: bool) {
        let idle = now - self.last_active;
        if idle < ACTIVE_LINGER_SECS || !link.can_sleep() {
            link.frame_starts(None);
            keep_awake();
            self.pace_for(if idle < ACTIVE_LINGER_SECS {
                ACTIVE_FRAME
            } else if idle < DEEP_IDLE_SECS || polling {
                IDLE_FRAME
            } else {
                DEEP_IDLE_FRAME
            });
            return;
        }
        let mut wait = HEARTBEAT.as_secs_f64();
        if polling {
            wait = wait.min(IDLE_FRAME.as_secs_f64());
        }
        if self.periodic {
            wait = wait.min(1.0);
        }
        let blink_ends = self.last_input + CARET_BLINK_SECS;
        if now < blink_ends {
            wait = wait
                .min(widgets::next_caret_blink(now) - now)
                .min(blink_ends - now);
        }
        if let Some(at) = due {
            wait = wait.min(at - now);
        }
        // Input can wake the window faster than frames are useful.
        self.pace_for(ACTIVE_FRAME);
        link.frame_starts(Some(
            Instant::now() + Duration::from_secs_f64(wait.max(0.0)),
        ));
    }

    /// Sleeps until `interval` after the previous frame started.
    pub fn pace_for(&mut self, interval: Duration) {
        pace(&mut self.frame_started, interval);
    }
}

/// Sleeps until `interval` after the previous frame started.
fn pace(frame_started: &mut Instant, interval: Duration) {
    let elapsed = frame_started.elapsed();
    if elapsed < interval {
        std::thread::sleep(interval - elapsed);
    }
    *frame_started = Instant::now();
}
