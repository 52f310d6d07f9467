//! The client's frame loop.
//!
//! Each frame: drain the network thread's events into the state, draw the
//! screen the state names, collect the intents the views return, let the
//! state turn them into commands, and hand those on. Views only read
//! [`AppState`]; everything that changes it goes through
//! [`AppState::apply`] and [`AppState::handle`].
//!
//! Frames are paced ([`crate::ui::driver`]): about 60 per second while
//! something moves (typing, scrolling, an animation, a transfer). When
//! nothing moves the window sleeps in miniquad's blocking event loop until
//! input, a network event or something due wakes it
//! ([`crate::ui::window`]), so an idle client costs next to no CPU even
//! where there is no vsync (Xvfb).
//!
//! The environment hooks for tests are described in [`crate::app::hooks`].

use std::time::Duration;

use macroquad::miniquad::KeyCode;
use macroquad::prelude::*;

use crate::app::hooks::{self, DrawnControls, Hooks};
use crate::app::intent::Intent;
use crate::app::net::{Command, NetEvent, NetOptions, Network};
use crate::app::state::{AppState, DEFAULT_SERVER};
use crate::app::title::window_title;
use crate::app::wake::Wakeup;
use crate::ui::driver::{FrameDriver, IDLE_FRAME};
use crate::ui::fonts::Fonts;
use crate::ui::frame::Views;
#[cfg(target_os = "linux")]
use crate::ui::ime;
use crate::ui::screen::{keep_awake, screenshot};
use crate::ui::widgets::{FrameInput, InputCollector};
use crate::ui::window::WindowLink;
use crate::ui::{login, theme};

/// How long closing the window may wait for the logout.
const QUIT_WAIT: Duration = Duration::from_secs(4);

/// The client: opens nothing itself; `macroquad::Window::from_config`
/// runs this future.
pub async fn run(hooks: Hooks) {
    prevent_quit();
    match FrameLoop::start(hooks) {
        Ok(frame_loop) => frame_loop.run().await,
        Err(e) => show_fatal(&e).await,
    }
}

/// Everything the frame loop drives: the window, the input, the network
/// thread, the state and the views.
struct FrameLoop {
    hooks: Hooks,
    input: InputCollector,
    fonts: Fonts,
    link: WindowLink,
    #[cfg(target_os = "linux")]
    ime: Option<ime::Ime>,
    network: Network,
    state: AppState,
    views: Views,
    driver: FrameDriver,
}

impl FrameLoop {
    /// Starts the font loading, the window's link, the input method and
    /// the network thread; the state starts on the login form, prefilled
    /// from the hooks.
    fn start(hooks: Hooks) -> Result<Self, String> {
        let input = InputCollector::new();
        let fonts = Fonts::start();
        let wakeup = Wakeup::default();
        let link = WindowLink::start(wakeup.clone());
        #[cfg(target_os = "linux")]
        let ime = ime::Ime::start(wakeup.clone());
        let network = Network::start(NetOptions::from_env(), wakeup)
            .map_err(|e| format!("natter could not start its network thread: {e}"))?;
        let state = AppState::new(
            hooks.server.as_deref().unwrap_or(DEFAULT_SERVER),
            hooks.user.as_deref().unwrap_or(""),
            hooks.password.as_deref().unwrap_or(""),
        );
        let views = Views {
            controls: hooks.state_dump.is_some().then(DrawnControls::default),
            ..Views::default()
        };
        Ok(Self {
            hooks,
            input,
            fonts,
            link,
            #[cfg(target_os = "linux")]
            ime,
            network,
            state,
            views,
            driver: FrameDriver::new(),
        })
    }

    /// Runs frames until the window is closed.
    async fn run(mut self) {
        let mut last_time = get_time();
        loop {
            let now = get_time();
            let dt = ((now - last_time) as f32).clamp(0.0, 0.25);
            last_time = now;
            #[allow(unused_mut)]
            let mut frame = self.input.collect();
            self.link.poll();
            if !self.fonts.ready() {
                self.show_loading(now).await;
                continue;
            }
            let (activity, dump_now) = self.take_news(&mut frame);
            let intents = self.driver.frame(
                &mut self.state,
                &mut self.views,
                &self.fonts,
                &frame,
                now,
                dt,
                activity,
            );
            #[cfg(target_os = "linux")]
            if let (Some(ime), Some(caret)) = (&mut self.ime, self.views.caret) {
                report_caret(ime, &self.link, caret);
            }
            if frame.key_pressed(KeyCode::F11) {
                self.screenshot();
            }
            for intent in intents {
                self.handle(intent);
            }
            if frame.key_pressed(KeyCode::F12) || dump_now {
                self.dump();
            }
            if is_quit_requested() {
                self.quit().await;
                return;
            }
            self.link.set_title(&window_title(&self.state));
            next_frame().await;
            let due = self.state.next_change();
            let polling = self.views.dialog.waiting();
            self.driver.pace(now, &self.link, due, polling);
        }
    }

    /// A frame while the real font still loads.
    async fn show_loading(&mut self, now: f64) {
        self.fonts.poll();
        login::draw_loading(now);
        next_frame().await;
        keep_awake();
        self.driver.pace_for(Duration::from_millis(30));
    }

    /// Applies what the input method, the network and the file dialog
    /// reported since the last frame. Returns whether anything happened
    /// (input left for the next frame counts), and whether the state dump
    /// should be written now.
    fn take_news(&mut self, frame: &mut FrameInput) -> (bool, bool) {
        let mut activity = self.input.pending();
        #[cfg(target_os = "linux")]
        if let Some(ime) = &mut self.ime {
            let (state, network, views) = (&mut self.state, &self.network, &mut self.views);
            activity |= route_keys(ime, frame, state, network, views);
        }
        #[cfg(not(target_os = "linux"))]
        let _ = frame;
        let mut dump_now = false;
        while let Some(event) = self.network.try_recv() {
            activity = true;
            dump_now |= self.hooks.dump_auto && hooks::dumps_after(&event);
            let logged_out = matches!(event, NetEvent::LoggedOut);
            for command in self.state.apply(event) {
                dispatch(command, &self.network, &mut self.views);
            }
            if logged_out {
                self.views.chat.reset();
            }
        }
        if let Some(intent) = self.views.dialog.poll() {
            activity = true;
            self.handle(intent);
        }
        (activity, dump_now)
    }

    /// Lets the state handle `intent` and routes its commands.
    fn handle(&mut self, intent: Intent) {
        for command in self.state.handle(intent) {
            dispatch(command, &self.network, &mut self.views);
        }
    }

    /// F11: what is on screen, to the screenshot hook's file.
    fn screenshot(&self) {
        if let Some(path) = &self.hooks.screenshot {
            if let Err(e) = screenshot(path) {
                tracing::warn!(error = %e, "screenshot failed");
            }
        }
    }

    /// F12 (or an event a test waits for): the state, the drawn controls
    /// and the input method's view, to the state dump hook's file.
    fn dump(&self) {
        let Some(path) = &self.hooks.state_dump else {
            return;
        };
        let ime = hooks::ImeDump {
            preedit: self.views.preedit.as_ref().map(|(text, _)| text.clone()),
            candidates: self
                .views
                .candidates
                .as_ref()
                .map(|c| (c.items.clone(), c.cursor)),
            #[cfg(target_os = "linux")]
            caret: self.ime.as_ref().and_then(ime::Ime::caret),
            #[cfg(not(target_os = "linux"))]
            caret: None,
        };
        let controls = self.views.controls.as_ref();
        if let Err(e) = hooks::write_dump(&self.state, controls, &ime, path) {
            tracing::warn!(error = %e, "state dump failed");
        }
    }

    /// The window was closed: tell the user, then log out (bounded) and
    /// stop.
    async fn quit(self) {
        let (w, h) = (screen_width(), screen_height());
        draw_rectangle(0.0, 0.0, w, h, Color::new(0.0, 0.0, 0.0, 0.6));
        self.fonts.draw_centred(
            "Logging out...",
            Rect::new(0.0, 0.0, w, h),
            theme::LARGE,
            theme::TEXT,
        );
        next_frame().await;
        self.network.shutdown(QUIT_WAIT);
    }
}

/// Gives the composer's keys to the input method first: what it said since
/// the last frame is applied (commits inserted, keys it passed back put
/// before this frame's), then this frame's keys that it wants are sent.
/// Returns whether anything changed.
#[cfg(target_os = "linux")]
fn route_keys(
    ime: &mut ime::Ime,
    frame: &mut FrameInput,
    state: &mut AppState,
    network: &Network,
    views: &mut Views,
) -> bool {
    use crate::app::intent::{Edit, Field};
    use crate::app::state::Screen;
    let mut changed = false;
    let mut passed = Vec::new();
    while let Some(event) = ime.next_event() {
        changed = true;
        match event {
            ime::ImeEvent::Pass(key) => passed.push(key),
            ime::ImeEvent::Commit(text) => {
                let edit = Intent::Edit {
                    field: Field::Composer,
                    edit: Edit::Insert(text),
                };
                for command in state.handle(edit) {
                    dispatch(command, network, views);
                }
            }
            ime::ImeEvent::Consumed
            | ime::ImeEvent::Preedit { .. }
            | ime::ImeEvent::Candidates(_) => {}
        }
    }
    views.preedit = ime.preedit.clone();
    views.candidates = ime.candidates.clone();
    let composing = state.screen == Screen::Chat
        && state.composer.focused
        && state.share_sheet.is_none()
        && state.popups.overlay.is_none();
    let keys = std::mem::take(&mut frame.keys);
    for key in keys {
        if composing && ime.ready() && ime.wants(&key) {
            ime.send(key);
            changed = true;
        } else {
            passed.push(key);
        }
    }
    frame.keys = passed;
    changed
}

/// Tells the input method where the composer's caret is on the screen.
#[cfg(target_os = "linux")]
fn report_caret(ime: &mut ime::Ime, link: &WindowLink, caret: Rect) {
    if !ime.ready() {
        return;
    }
    if let Some((x, y)) = link.to_root(caret.x, caret.y) {
        ime.set_caret(ime::CaretRect {
            x,
            y,
            w: caret.w.ceil() as i32,
            h: caret.h.ceil() as i32,
        });
    }
}

/// Routes a command: the file dialog is the frame loop's, the rest goes to
/// the network thread.
fn dispatch(command: Command, network: &Network, views: &mut Views) {
    match command {
        Command::OpenFileDialog { picture } => views.dialog.open(picture),
        other => network.send(other),
    }
}

/// A last-resort screen for a failure before anything else can run.
async fn show_fatal(message: &str) {
    loop {
        clear_background(theme::SIDEBAR);
        draw_text(message, 24.0, 48.0, 20.0, theme::DANGER);
        if is_quit_requested() || is_key_pressed(KeyCode::Escape) {
            return;
        }
        next_frame().await;
        keep_awake();
        std::thread::sleep(IDLE_FRAME);
    }
}
