//! The graphical client's views (macroquad) and its frame loop.
//!
//! Each frame: drain the network thread's events into the state, draw the
//! screen the state names, collect the intents the views return, let the
//! state turn them into commands, and hand those on. Views only read
//! [`AppState`]; everything that changes it goes through
//! [`AppState::apply`] and [`AppState::handle`].
//!
//! Frames are paced: about 60 per second while something moves (typing,
//! scrolling, an animation, a transfer). When nothing moves the window
//! sleeps in miniquad's blocking event loop until input, a network event or
//! something due wakes it ([`window`]), so an idle client costs next to no
//! CPU even where there is no vsync (Xvfb).
//!
//! The environment hooks for tests are described in [`crate::app::hooks`].

pub mod bench;
pub mod cache_browser;
pub mod candidates;
pub mod chat;
pub mod emoji;
pub mod fonts;
pub mod glyphs;
#[cfg(target_os = "linux")]
pub mod ime;
pub mod login;
pub mod media;
pub mod theme;
pub mod widgets;
pub mod window;
#[cfg(target_os = "linux")]
pub mod x11;

use std::path::Path;
use std::time::{Duration, Instant};

use macroquad::miniquad::KeyCode;
use macroquad::prelude::*;

use crate::app::hooks::{self, DrawnControls, Hooks};
use crate::app::intent::Intent;
use crate::app::net::{Command, NetEvent, NetOptions, Network};
use crate::app::state::{AppState, Connection, Overlay, Screen, DEFAULT_SERVER};
use crate::app::title::window_title;
use crate::app::wake::Wakeup;
use crate::ui::fonts::Fonts;
use crate::ui::widgets::{FrameInput, InputCollector, Ui};
use crate::ui::window::{WindowLink, HEARTBEAT};

/// Frame interval while something moves.
pub const ACTIVE_FRAME: Duration = Duration::from_micros(16_667);
/// Frame interval when nothing changes (and when something must be
/// polled: the file dialog's answer).
pub const IDLE_FRAME: Duration = Duration::from_millis(100);
/// Frame interval after [`DEEP_IDLE_SECS`] of nothing, where the window
/// cannot sleep.
pub const DEEP_IDLE_FRAME: Duration = Duration::from_millis(200);
/// Seconds of nothing before frames slow to [`DEEP_IDLE_FRAME`].
const DEEP_IDLE_SECS: f64 = 5.0;
/// Seconds after the last input that the caret keeps blinking; then it
/// stays on (so an idle window needs no redraws).
const CARET_BLINK_SECS: f64 = 5.0;
/// How long after the last input or event frames stay fast.
const ACTIVE_LINGER_SECS: f64 = 0.6;
/// How long closing the window may wait for the logout.
const QUIT_WAIT: Duration = Duration::from_secs(4);

/// The window the client opens. Its event loop blocks until input or a
/// wake-up (see [`window`]); every kind of input asks for a frame.
pub fn window_conf() -> macroquad::conf::Conf {
    let mut miniquad_conf = macroquad::miniquad::conf::Conf {
        window_title: window::start_title(),
        window_width: 1180,
        window_height: 760,
        window_resizable: true,
        high_dpi: false,
        sample_count: 1,
        icon: Some(window_icon()),
        ..Default::default()
    };
    miniquad_conf.platform.blocking_event_loop = true;
    macroquad::conf::Conf {
        miniquad_conf,
        update_on: Some(macroquad::conf::UpdateTrigger {
            key_down: true,
            mouse_down: true,
            mouse_up: true,
            mouse_motion: true,
            mouse_wheel: true,
            specific_key: None,
            touch: true,
        }),
        ..Default::default()
    }
}

/// Asks for the next frame without waiting for input (only the UI thread
/// may: miniquad's loop panics on a contended lock otherwise).
pub fn keep_awake() {
    macroquad::miniquad::window::schedule_update();
}

/// A blue speech bubble, drawn in code, for the window icon.
fn window_icon() -> macroquad::miniquad::conf::Icon {
    fn paint<const N: usize>(size: usize) -> [u8; N] {
        let mut px = [0u8; N];
        let s = size as f32;
        for y in 0..size {
            for x in 0..size {
                let (fx, fy) = (x as f32 + 0.5, y as f32 + 0.5);
                let (cx, cy, r) = (s * 0.5, s * 0.45, s * 0.42);
                let d = ((fx - cx).powi(2) + (fy - cy).powi(2)).sqrt();
                let tail = fy > s * 0.6
                    && fy < s * 0.95
                    && fx > s * 0.12
                    && fx < s * 0.45
                    && (fx - s * 0.12) > (fy - s * 0.6) * 0.5;
                let inside = d <= r || tail;
                let dot = [0.32, 0.5, 0.68]
                    .iter()
                    .any(|k| ((fx - s * k).powi(2) + (fy - cy).powi(2)).sqrt() < s * 0.06);
                let i = (y * size + x) * 4;
                if inside {
                    let c = if dot {
                        [255, 255, 255]
                    } else {
                        [0x4c, 0x8d, 0xff]
                    };
                    px[i..i + 3].copy_from_slice(&c);
                    px[i + 3] = 255;
                }
            }
        }
        px
    }
    macroquad::miniquad::conf::Icon {
        small: paint::<1024>(16),
        medium: paint::<4096>(32),
        big: paint::<16384>(64),
    }
}

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
            if state.viewing_cached.is_some() {
                ui.mouse_enabled = false;
            }
            views.cache.draw(&mut ui, state, &mut views.chat.pictures);
            ui.mouse_enabled = true;
            if matches!(state.overlay, Some(Overlay::Picture { .. }))
                || state.viewing_cached.is_some()
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

/// The client: opens nothing itself; `macroquad::Window::from_config`
/// runs this future.
pub async fn run(hooks: Hooks) {
    prevent_quit();
    let mut input = InputCollector::new();
    let mut fonts = Fonts::start();
    let wakeup = Wakeup::default();
    let mut link = WindowLink::start(wakeup.clone());
    #[cfg(target_os = "linux")]
    let mut ime = ime::Ime::start(wakeup.clone());
    let network = match Network::start(NetOptions::from_env(), wakeup) {
        Ok(network) => network,
        Err(e) => {
            show_fatal(&format!("natter could not start its network thread: {e}")).await;
            return;
        }
    };
    let mut state = AppState::new(
        hooks.server.as_deref().unwrap_or(DEFAULT_SERVER),
        hooks.user.as_deref().unwrap_or(""),
        hooks.password.as_deref().unwrap_or(""),
    );
    let mut views = Views {
        controls: hooks.state_dump.is_some().then(DrawnControls::default),
        ..Views::default()
    };
    let mut driver = FrameDriver::new();
    let mut last_time = get_time();

    loop {
        let now = get_time();
        let dt = ((now - last_time) as f32).clamp(0.0, 0.25);
        last_time = now;
        #[allow(unused_mut)]
        let mut frame = input.collect();

        link.poll();
        if !fonts.ready() {
            fonts.poll();
            login::draw_loading(now);
            next_frame().await;
            keep_awake();
            driver.pace_for(Duration::from_millis(30));
            continue;
        }

        // What the network reported (and input left for the next frame).
        let mut activity = input.pending();
        #[cfg(target_os = "linux")]
        if let Some(ime) = &mut ime {
            activity |= route_keys(ime, &mut frame, &mut state, &network, &mut views);
        }
        let mut dump_now = false;
        while let Some(event) = network.try_recv() {
            activity = true;
            dump_now |= hooks.dump_auto
                && matches!(
                    event,
                    NetEvent::Accepted { .. }
                        | NetEvent::Message(_)
                        | NetEvent::LoggedIn { .. }
                        | NetEvent::LoggedOut
                );
            let logged_out = matches!(event, NetEvent::LoggedOut);
            for command in state.apply(event) {
                dispatch(command, &network, &mut views);
            }
            if logged_out {
                views.chat.reset();
            }
        }
        if let Some(intent) = views.dialog.poll() {
            activity = true;
            for command in state.handle(intent) {
                dispatch(command, &network, &mut views);
            }
        }

        let intents = driver.frame(&mut state, &mut views, &fonts, &frame, now, dt, activity);
        #[cfg(target_os = "linux")]
        if let (Some(ime), Some(caret)) = (&mut ime, views.caret) {
            report_caret(ime, &link, caret);
        }

        if frame.key_pressed(KeyCode::F11) {
            if let Some(path) = &hooks.screenshot {
                if let Err(e) = screenshot(path) {
                    tracing::warn!(error = %e, "screenshot failed");
                }
            }
        }
        for intent in intents {
            for command in state.handle(intent) {
                dispatch(command, &network, &mut views);
            }
        }
        if frame.key_pressed(KeyCode::F12) || dump_now {
            if let Some(path) = &hooks.state_dump {
                let ime = hooks::ImeDump {
                    preedit: views.preedit.as_ref().map(|(text, _)| text.clone()),
                    candidates: views
                        .candidates
                        .as_ref()
                        .map(|c| (c.items.clone(), c.cursor)),
                    #[cfg(target_os = "linux")]
                    caret: ime.as_ref().and_then(ime::Ime::caret),
                    #[cfg(not(target_os = "linux"))]
                    caret: None,
                };
                if let Err(e) = hooks::write_dump(&state, views.controls.as_ref(), &ime, path) {
                    tracing::warn!(error = %e, "state dump failed");
                }
            }
        }

        if is_quit_requested() {
            // Tell the user, then log out (bounded) and stop.
            draw_rectangle(
                0.0,
                0.0,
                screen_width(),
                screen_height(),
                Color::new(0.0, 0.0, 0.0, 0.6),
            );
            fonts.draw_centred(
                "Logging out...",
                Rect::new(0.0, 0.0, screen_width(), screen_height()),
                theme::LARGE,
                theme::TEXT,
            );
            next_frame().await;
            network.shutdown(QUIT_WAIT);
            return;
        }

        link.set_title(&window_title(&state));
        next_frame().await;
        driver.pace(now, &link, state.next_change(), views.dialog.waiting());
    }
}

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

/// The last drawn frame, kept in a texture: a frame with no change only
/// shows it again instead of drawing the whole interface. The interface is
/// drawn when something changed, when the caret blinks, every second while
/// a countdown is on screen, and once a minute anyway.
#[derive(Default)]
pub struct Canvas {
    target: Option<RenderTarget>,
    /// Copies the texture without blending (cheaper for software GL).
    opaque: Option<Material>,
    size: (u32, u32),
    rendered_at: f64,
    caret_on: bool,
}

impl std::fmt::Debug for Canvas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Canvas")
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl Canvas {
    /// Whether this frame must draw the interface.
    pub fn needs_render(&mut self, dirty: bool, caret_on: bool, periodic: bool, now: f64) -> bool {
        let size = (
            screen_width().max(1.0) as u32,
            screen_height().max(1.0) as u32,
        );
        let every = if periodic { 1.0 } else { 60.0 };
        let due = dirty
            || self.target.is_none()
            || size != self.size
            || caret_on != self.caret_on
            || now - self.rendered_at >= every;
        self.caret_on = caret_on;
        due
    }

    /// Directs drawing into the texture (made or resized as needed).
    pub fn begin(&mut self) {
        let size = (
            screen_width().max(1.0) as u32,
            screen_height().max(1.0) as u32,
        );
        if self.target.is_none() || self.size != size {
            let target = render_target(size.0, size.1);
            target.texture.set_filter(FilterMode::Nearest);
            self.target = Some(target);
            self.size = size;
        }
        let mut camera =
            Camera2D::from_display_rect(Rect::new(0.0, 0.0, size.0 as f32, size.1 as f32));
        camera.render_target = self.target.clone();
        set_camera(&camera);
    }

    /// Back to drawing on the window.
    pub fn end(&mut self, now: f64) {
        set_default_camera();
        self.rendered_at = now;
    }

    /// Shows the last drawn frame.
    pub fn present(&mut self) {
        if self.opaque.is_none() {
            self.opaque = load_material(
                ShaderSource::Glsl {
                    vertex: OPAQUE_VERTEX,
                    fragment: OPAQUE_FRAGMENT,
                },
                MaterialParams::default(),
            )
            .ok();
        }
        if let Some(material) = &self.opaque {
            gl_use_material(material);
        }
        if let Some(target) = &self.target {
            draw_texture_ex(
                &target.texture,
                0.0,
                0.0,
                WHITE,
                DrawTextureParams {
                    dest_size: Some(vec2(self.size.0 as f32, self.size.1 as f32)),
                    flip_y: true,
                    ..Default::default()
                },
            );
        }
        gl_use_default_material();
    }
}

const OPAQUE_VERTEX: &str = r#"#version 100
attribute vec3 position;
attribute vec2 texcoord;
varying lowp vec2 uv;
uniform mat4 Model;
uniform mat4 Projection;
void main() {
    gl_Position = Projection * Model * vec4(position, 1);
    uv = texcoord;
}"#;

const OPAQUE_FRAGMENT: &str = r#"#version 100
varying lowp vec2 uv;
uniform sampler2D Texture;
void main() {
    gl_FragColor = texture2D(Texture, uv);
}"#;

/// Sleeps until `interval` after the previous frame started.
fn pace(frame_started: &mut Instant, interval: Duration) {
    let elapsed = frame_started.elapsed();
    if elapsed < interval {
        std::thread::sleep(interval - elapsed);
    }
    *frame_started = Instant::now();
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
        && state.composer_focused
        && state.share_sheet.is_none()
        && state.overlay.is_none();
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

/// Writes what is on screen to a PNG (rows flipped: GL counts from the
/// bottom), through a temporary file renamed into place, so a script that
/// waits for the file never reads half of it.
pub fn screenshot(path: &Path) -> Result<(), String> {
    let shot = get_screen_data();
    let rgba = image::RgbaImage::from_raw(shot.width as u32, shot.height as u32, shot.bytes)
        .ok_or("screen data has the wrong size")?;
    let mut flipped = image::imageops::flip_vertical(&rgba);
    for p in flipped.pixels_mut() {
        p.0[3] = 255;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    flipped
        .save_with_format(&tmp, image::ImageFormat::Png)
        .map_err(|e| e.to_string())?;
    std::fs::rename(&tmp, path).map_err(|e| e.to_string())
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
