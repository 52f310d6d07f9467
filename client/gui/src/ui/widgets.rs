//! Immediate-mode building blocks: the frame's input, the `Ui` a view
//! draws with, rounded shapes, buttons, text fields (masking, caret,
//! Backspace, Enter, Shift+Enter, Ctrl+V) and the small icons drawn in code.
//!
//! Keyboard input comes from a miniquad input subscriber, so every key
//! repeat and its modifiers are seen: `get_char_pressed` alone cannot tell
//! Ctrl+V from a typed `v`. Characters typed with Ctrl, Alt or Super held
//! and control characters (Backspace arrives as `\u{8}` too) are dropped;
//! the keys themselves are handled by code.

use std::path::PathBuf;

use macroquad::miniquad::{self, EventHandler, KeyCode, KeyMods};
use macroquad::models::{draw_mesh, Mesh, Vertex};
use macroquad::prelude::*;

use crate::app::hooks::DrawnControls;
use crate::app::intent::{Edit, Field, Intent};
use crate::app::state::TextBuffer;
use crate::ui::fonts::{Fonts, LINE};
use crate::ui::theme;

/// One keyboard event of this frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Key {
    Char(char),
    Down {
        code: KeyCode,
        shift: bool,
        ctrl: bool,
    },
}

/// Everything the user did since the last frame.
#[derive(Debug, Clone, Default)]
pub struct FrameInput {
    pub keys: Vec<Key>,
    pub wheel: f32,
    pub moved: bool,
    pub clicked: bool,
    pub released: bool,
    pub dropped: Vec<PathBuf>,
    pub mouse: Vec2,
}

impl FrameInput {
    /// Whether anything at all happened (for frame pacing).
    pub fn any(&self) -> bool {
        !self.keys.is_empty()
            || self.wheel != 0.0
            || self.moved
            || self.clicked
            || self.released
            || !self.dropped.is_empty()
    }

    pub fn key_pressed(&self, code: KeyCode) -> bool {
        self.keys
            .iter()
            .any(|k| matches!(k, Key::Down { code: c, .. } if *c == code))
    }
}

/// One raw event, queued in arrival order.
#[derive(Debug, Clone, PartialEq)]
enum Raw {
    Key(Key),
    Wheel(f32),
    Moved,
    Down(Vec2),
    Up,
    Dropped(PathBuf),
}

/// Collects raw miniquad events and hands them out frame by frame.
///
/// Events that change what later ones mean (a click that moves the focus,
/// Tab) end a frame: the rest wait for the next one, so keys typed right
/// after a click (as `xdotool` does) reach the field the click focused.
pub struct InputCollector {
    subscriber: usize,
    queue: std::collections::VecDeque<Raw>,
    /// Where the last motion event put the pointer: a motion to the same
    /// place (how a sleeping window is woken) is no input.
    pointer: Option<(f32, f32)>,
}

impl std::fmt::Debug for InputCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InputCollector")
            .field("queued", &self.queue.len())
            .finish()
    }
}

impl InputCollector {
    pub fn new() -> Self {
        Self {
            subscriber: macroquad::input::utils::register_input_subscriber(),
            queue: std::collections::VecDeque::new(),
            pointer: None,
        }
    }

    /// The input of the frame that starts now.
    pub fn collect(&mut self) -> FrameInput {
        macroquad::input::utils::repeat_all_miniquad_input(self, self.subscriber);
        next_frame_input(&mut self.queue, mouse_position().into())
    }

    /// Whether events wait for the next frame (which should come soon).
    pub fn pending(&self) -> bool {
        !self.queue.is_empty()
    }
}

/// Takes one frame's worth of events off the queue: everything up to and
/// including a click (down and up) or a Tab; what follows waits.
fn next_frame_input(queue: &mut std::collections::VecDeque<Raw>, mouse: Vec2) -> FrameInput {
    let mut frame = FrameInput {
        mouse,
        ..FrameInput::default()
    };
    while let Some(raw) = queue.pop_front() {
        match raw {
            Raw::Key(key) => {
                frame.keys.push(key);
                if matches!(
                    key,
                    Key::Down {
                        code: KeyCode::Tab,
                        ..
                    }
                ) {
                    break;
                }
            }
            Raw::Wheel(y) => frame.wheel += y,
            Raw::Moved => frame.moved = true,
            Raw::Down(at) => {
                if frame.clicked {
                    queue.push_front(Raw::Down(at));
                    break;
                }
                frame.clicked = true;
                frame.mouse = at;
            }
            Raw::Up => {
                frame.released = true;
                if frame.clicked {
                    break;
                }
            }
            Raw::Dropped(path) => frame.dropped.push(path),
        }
    }
    frame
}

impl Default for InputCollector {
    fn default() -> Self {
        Self::new()
    }
}

impl EventHandler for InputCollector {
    fn update(&mut self) {}
    fn draw(&mut self) {}

    fn char_event(&mut self, character: char, mods: KeyMods, _repeat: bool) {
        if mods.ctrl || mods.alt || mods.logo || character.is_control() {
            return;
        }
        self.queue.push_back(Raw::Key(Key::Char(character)));
    }

    fn key_down_event(&mut self, code: KeyCode, mods: KeyMods, _repeat: bool) {
        self.queue.push_back(Raw::Key(Key::Down {
            code,
            shift: mods.shift,
            ctrl: mods.ctrl,
        }));
    }

    fn mouse_wheel_event(&mut self, _x: f32, y: f32) {
        self.queue.push_back(Raw::Wheel(y));
    }

    fn mouse_motion_event(&mut self, x: f32, y: f32) {
        if self.pointer.replace((x, y)) == Some((x, y)) {
            return;
        }
        if self.queue.back() != Some(&Raw::Moved) {
            self.queue.push_back(Raw::Moved);
        }
    }

    fn mouse_button_down_event(&mut self, button: MouseButton, x: f32, y: f32) {
        if button == MouseButton::Left {
            self.queue.push_back(Raw::Down(vec2(x, y)));
        }
    }

    fn mouse_button_up_event(&mut self, button: MouseButton, _x: f32, _y: f32) {
        if button == MouseButton::Left {
            self.queue.push_back(Raw::Up);
        }
    }

    fn files_dropped_event(&mut self) {
        for i in 0..miniquad::window::dropped_file_count() {
            if let Some(path) = miniquad::window::dropped_file_path(i) {
                self.queue.push_back(Raw::Dropped(path));
            }
        }
    }
}

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

/// A filled rectangle with rounded corners, as one mesh (so translucent
/// colours do not double up where parts overlap).
pub fn rounded_rect(r: Rect, radius: f32, color: Color) {
    let radius = radius.min(r.w / 2.0).min(r.h / 2.0).max(0.0);
    if radius < 0.5 {
        draw_rectangle(r.x, r.y, r.w, r.h, color);
        return;
    }
    const SEGMENTS: usize = 6;
    let c = [color.r, color.g, color.b, color.a].map(|v| (v * 255.0).round() as u8);
    let centre = Vertex {
        position: vec3(r.x + r.w / 2.0, r.y + r.h / 2.0, 0.0),
        uv: Vec2::ZERO,
        color: c,
        normal: Vec4::ZERO,
    };
    let mut vertices = vec![centre];
    let corners = [
        (r.x + r.w - radius, r.y + r.h - radius, 0.0f32),
        (r.x + radius, r.y + r.h - radius, 90.0),
        (r.x + radius, r.y + radius, 180.0),
        (r.x + r.w - radius, r.y + radius, 270.0),
    ];
    for (cx, cy, start) in corners {
        for i in 0..=SEGMENTS {
            let a = (start + 90.0 * i as f32 / SEGMENTS as f32).to_radians();
            vertices.push(Vertex {
                position: vec3(cx + radius * a.cos(), cy + radius * a.sin(), 0.0),
                uv: Vec2::ZERO,
                color: c,
                normal: Vec4::ZERO,
            });
        }
    }
    let n = vertices.len() as u16 - 1;
    let mut indices = Vec::with_capacity(n as usize * 3);
    for i in 1..=n {
        let next = if i == n { 1 } else { i + 1 };
        indices.extend_from_slice(&[0, i, next]);
    }
    draw_mesh(&Mesh {
        vertices,
        indices,
        texture: None,
    });
}

/// A rounded outline: a slightly larger rounded rectangle behind `inner`.
pub fn rounded_frame(r: Rect, radius: f32, thickness: f32, border: Color, inner: Color) {
    rounded_rect(r, radius, border);
    let t = thickness;
    rounded_rect(
        Rect::new(r.x + t, r.y + t, r.w - 2.0 * t, r.h - 2.0 * t),
        radius - t,
        inner,
    );
}

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

/// Options of a text field.
#[derive(Debug, Clone, Copy)]
pub struct FieldLook<'s> {
    pub placeholder: &'s str,
    pub masked: bool,
    pub multiline: bool,
    pub size: f32,
}

/// What a text field did this frame besides editing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldAction {
    None,
    /// Enter (without Shift in a multi-line field).
    Submit,
    /// Tab: the form should move focus on.
    Next,
}

/// A text field bound to `buffer`; edits become intents. Only the focused
/// field reads the keyboard. Returns what else happened.
pub fn text_field(
    ui: &mut Ui,
    r: Rect,
    field: Field,
    buffer: &TextBuffer,
    focused: bool,
    look: FieldLook,
) -> FieldAction {
    let hover = ui.hover(r);
    let border = if focused {
        theme::ACCENT
    } else if hover {
        theme::FAINT
    } else {
        theme::BORDER
    };
    rounded_frame(
        r,
        8.0,
        if focused { 1.5 } else { 1.0 },
        border,
        theme::FIELD,
    );
    let pad = 12.0;
    let inner_w = r.w - 2.0 * pad;
    let size = look.size;
    let display: String = if look.masked {
        "•".repeat(buffer.text.chars().count())
    } else {
        buffer.text.clone()
    };
    let caret_display = if look.masked {
        buffer.text[..buffer.caret].chars().count() * '•'.len_utf8()
    } else {
        buffer.caret
    };
    let line_h = size * LINE;

    // Lay the text out: visual lines with their byte ranges.
    let lines = if look.multiline {
        layout_lines(ui.fonts, &display, size, inner_w)
    } else {
        vec![(0, display.len())]
    };
    let caret_line = lines
        .iter()
        .rposition(|(start, _)| *start <= caret_display)
        .unwrap_or(0);

    let visible_lines = (((r.h - 2.0 * 8.0) / line_h).floor() as usize).max(1);
    let first_line = if look.multiline {
        caret_line.saturating_sub(visible_lines - 1)
    } else {
        0
    };
    let top = if look.multiline {
        r.y + 8.0
    } else {
        r.y + (r.h - line_h) / 2.0
    };

    // Horizontal scroll for a single line, so the caret stays visible.
    let caret_x_full = ui.fonts.width(
        &display[lines[caret_line].0..caret_display.min(lines[caret_line].1)],
        size,
    );
    let scroll_x = if look.multiline {
        0.0
    } else {
        (caret_x_full - inner_w + 2.0).max(0.0)
    };

    let composing = focused && field == Field::Composer && ui.preedit.is_some();
    if display.is_empty() && !composing {
        let placeholder = ui.fonts.fit(look.placeholder, size, inner_w);
        ui.fonts
            .draw_centred_v(&placeholder, r.x + pad, top, line_h, size, theme::FAINT);
    } else {
        for (i, (start, end)) in lines
            .iter()
            .enumerate()
            .skip(first_line)
            .take(visible_lines)
        {
            let y = top + (i - first_line) as f32 * line_h;
            let text = &display[*start..*end];
            if scroll_x > 0.0 {
                // Draw the tail that fits.
                let mut skip = 0.0;
                let mut from = 0;
                for (bi, c) in text.char_indices() {
                    if skip >= scroll_x {
                        from = bi;
                        break;
                    }
                    skip += ui.fonts.advance(c, size);
                    from = bi + c.len_utf8();
                }
                ui.fonts.draw_centred_v(
                    &text[from..],
                    r.x + pad + skip - scroll_x,
                    y,
                    line_h,
                    size,
                    theme::TEXT,
                );
            } else {
                ui.fonts
                    .draw_centred_v(text, r.x + pad, y, line_h, size, theme::TEXT);
            }
        }
    }
    if focused && field == Field::Composer {
        let y = top + (caret_line - first_line) as f32 * line_h;
        let x = r.x + pad + caret_x_full - scroll_x;
        ui.caret = Some(Rect::new(x, y, 1.5, line_h));
    }
    let preedit = ui
        .preedit
        .clone()
        .filter(|_| focused && field == Field::Composer);
    if let Some((text, cursor)) = preedit {
        let y = top + (caret_line - first_line) as f32 * line_h;
        let x = r.x + pad + caret_x_full - scroll_x;
        draw_preedit(ui, &text, cursor, vec2(x, y), line_h, size);
    } else if focused && ui.caret_on {
        let y = top + (caret_line - first_line) as f32 * line_h;
        let x = r.x + pad + caret_x_full - scroll_x;
        draw_rectangle(
            x.round(),
            y + line_h * 0.18,
            1.5,
            line_h * 0.64,
            theme::ACCENT,
        );
    }

    // Mouse: focus, and place the caret.
    if ui.clicked(r) {
        ui.emit(Intent::Focus(field));
        let m = ui.mouse();
        let line = if look.multiline {
            (first_line + ((m.y - top) / line_h).max(0.0) as usize).min(lines.len() - 1)
        } else {
            0
        };
        let (start, end) = lines[line];
        let mut x = r.x + pad - scroll_x;
        let mut at = end;
        for (bi, c) in display[start..end].char_indices() {
            let w = ui.fonts.advance(c, size);
            if m.x < x + w / 2.0 {
                at = start + bi;
                break;
            }
            x += w;
        }
        let at = if look.masked {
            byte_of_char(&buffer.text, display[..at].chars().count())
        } else {
            at
        };
        ui.emit(Intent::Edit {
            field,
            edit: Edit::SetCaret(at),
        });
    }

    if !focused {
        return FieldAction::None;
    }
    let mut action = FieldAction::None;
    for key in &ui.input.keys {
        let edit = match *key {
            Key::Char(c) => {
                if !look.multiline && c == '\n' {
                    continue;
                }
                Some(Edit::Insert(c.to_string()))
            }
            Key::Down { code, shift, ctrl } => match code {
                KeyCode::Backspace => Some(Edit::Backspace),
                KeyCode::Delete => Some(Edit::Delete),
                KeyCode::Left => Some(Edit::Left),
                KeyCode::Right => Some(Edit::Right),
                KeyCode::Home => Some(Edit::Home),
                KeyCode::End => Some(Edit::End),
                KeyCode::Enter | KeyCode::KpEnter => {
                    if look.multiline && shift {
                        Some(Edit::Insert("\n".into()))
                    } else {
                        action = FieldAction::Submit;
                        None
                    }
                }
                KeyCode::Tab => {
                    action = FieldAction::Next;
                    None
                }
                KeyCode::V if ctrl => paste(look.multiline).map(Edit::Insert),
                KeyCode::Insert if shift => paste(look.multiline).map(Edit::Insert),
                KeyCode::U if ctrl => Some(Edit::Clear),
                _ => None,
            },
        };
        if let Some(edit) = edit {
            ui.emit(Intent::Edit { field, edit });
        }
    }
    action
}

/// The input method's text being composed, at the caret (`at`: the top
/// of its line): on the field's colour, underlined, with its own cursor.
fn draw_preedit(ui: &Ui, text: &str, cursor: usize, at: Vec2, line_h: f32, size: f32) {
    let w = ui.fonts.width(text, size);
    draw_rectangle(at.x, at.y, w + 2.0, line_h, theme::FIELD);
    ui.fonts
        .draw_centred_v(text, at.x, at.y, line_h, size, theme::TEXT);
    draw_rectangle(at.x, at.y + line_h * 0.86, w, 1.5, theme::ACCENT);
    let head: String = text.chars().take(cursor).collect();
    let cx = at.x + ui.fonts.width(&head, size);
    draw_rectangle(
        cx.round(),
        at.y + line_h * 0.18,
        1.5,
        line_h * 0.64,
        theme::ACCENT,
    );
}

/// The caret's blink: on for 0.6 s, off for 0.4 s.
pub fn caret_visible(now: f64) -> bool {
    now.fract() < CARET_ON_FRACTION
}

/// The part of each second the caret is shown.
const CARET_ON_FRACTION: f64 = 0.6;

/// When the caret next turns on or off.
pub fn next_caret_blink(now: f64) -> f64 {
    let second = now.floor();
    if now.fract() < CARET_ON_FRACTION {
        second + CARET_ON_FRACTION
    } else {
        second + 1.0
    }
}

/// The clipboard's text, cleaned for a field: line ends normalised, tabs
/// as spaces, other control characters dropped; one line for a one-line
/// field.
pub fn paste(multiline: bool) -> Option<String> {
    let raw = miniquad::window::clipboard_get()?;
    let text = clean_pasted(&raw, multiline);
    (!text.is_empty()).then_some(text)
}

/// See [`paste`].
pub fn clean_pasted(raw: &str, multiline: bool) -> String {
    let text = raw
        .replace("\r\n", "\n")
        .replace('\r', "\n")
        .replace('\t', "    ");
    text.chars()
        .filter_map(|c| match c {
            '\n' if multiline => Some('\n'),
            '\n' => Some(' '),
            c if c.is_control() => None,
            c => Some(c),
        })
        .collect()
}

fn byte_of_char(s: &str, n: usize) -> usize {
    s.char_indices().nth(n).map_or(s.len(), |(i, _)| i)
}

/// Visual lines of a multi-line field: byte ranges, wrapped to `max_w`.
fn layout_lines(fonts: &Fonts, text: &str, size: f32, max_w: f32) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut w = 0.0;
    for (i, c) in text.char_indices() {
        if c == '\n' {
            out.push((start, i));
            start = i + 1;
            w = 0.0;
            continue;
        }
        let a = fonts.advance(c, size);
        if w + a > max_w && i > start {
            out.push((start, i));
            start = i;
            w = 0.0;
        }
        w += a;
    }
    out.push((start, text.len()));
    out
}

/// How many visual lines a multi-line field needs for its text.
pub fn field_line_count(fonts: &Fonts, text: &str, size: f32, inner_w: f32) -> usize {
    layout_lines(fonts, text, size, inner_w).len()
}

// ---- icons drawn in code ------------------------------------------------

/// A smiley outline: the emoji button.
pub fn icon_smiley(r: Rect, c: Color) {
    let (cx, cy) = (r.x + r.w / 2.0, r.y + r.h / 2.0);
    let s = r.w.min(r.h) * 0.3;
    draw_circle_lines(cx, cy, s, 1.8, c);
    draw_circle(cx - s * 0.35, cy - s * 0.25, s * 0.12, c);
    draw_circle(cx + s * 0.35, cy - s * 0.25, s * 0.12, c);
    draw_arc(cx, cy, 24, s * 0.5, 25.0, 1.6, 130.0, c);
}

/// A framed landscape: the picture button.
pub fn icon_picture(r: Rect, c: Color) {
    let (cx, cy) = (r.x + r.w / 2.0, r.y + r.h / 2.0);
    let s = r.w.min(r.h) * 0.3;
    draw_rectangle_lines(cx - s, cy - s * 0.8, 2.0 * s, 1.6 * s, 1.8, c);
    draw_triangle(
        vec2(cx - s * 0.8, cy + s * 0.6),
        vec2(cx - s * 0.2, cy - s * 0.1),
        vec2(cx + s * 0.4, cy + s * 0.6),
        c,
    );
    draw_triangle(
        vec2(cx, cy + s * 0.6),
        vec2(cx + s * 0.45, cy + s * 0.1),
        vec2(cx + s * 0.85, cy + s * 0.6),
        c,
    );
    draw_circle(cx + s * 0.45, cy - s * 0.35, s * 0.18, c);
}

/// A sheet with a folded corner: the file button and file cards.
pub fn icon_file(r: Rect, c: Color) {
    let (cx, cy) = (r.x + r.w / 2.0, r.y + r.h / 2.0);
    let s = r.w.min(r.h) * 0.3;
    let (l, t, rr, b) = (cx - s * 0.75, cy - s, cx + s * 0.75, cy + s);
    let fold = s * 0.5;
    draw_line(l, t, rr - fold, t, 1.8, c);
    draw_line(rr - fold, t, rr, t + fold, 1.8, c);
    draw_line(rr, t + fold, rr, b, 1.8, c);
    draw_line(rr, b, l, b, 1.8, c);
    draw_line(l, b, l, t, 1.8, c);
    draw_line(rr - fold, t, rr - fold, t + fold, 1.4, c);
    draw_line(rr - fold, t + fold, rr, t + fold, 1.4, c);
    for i in 0..3 {
        let y = cy - s * 0.1 + i as f32 * s * 0.35;
        draw_line(l + s * 0.3, y, rr - s * 0.3, y, 1.2, c);
    }
}

/// A paper plane: the send button.
pub fn icon_send(r: Rect, c: Color) {
    let (cx, cy) = (r.x + r.w / 2.0, r.y + r.h / 2.0);
    let s = r.w.min(r.h) * 0.3;
    draw_triangle(
        vec2(cx - s, cy - s * 0.9),
        vec2(cx + s, cy),
        vec2(cx - s * 0.35, cy),
        c,
    );
    draw_triangle(
        vec2(cx - s, cy + s * 0.9),
        vec2(cx + s, cy),
        vec2(cx - s * 0.35, cy),
        c,
    );
}

/// Three dots: the menu button.
pub fn icon_menu(r: Rect, c: Color) {
    let (cx, cy) = (r.x + r.w / 2.0, r.y + r.h / 2.0);
    for i in -1..=1 {
        draw_circle(cx, cy + i as f32 * 6.0, 2.2, c);
    }
}

/// A cross: close buttons.
pub fn icon_close(r: Rect, c: Color) {
    let (cx, cy) = (r.x + r.w / 2.0, r.y + r.h / 2.0);
    let s = r.w.min(r.h) * 0.2;
    draw_line(cx - s, cy - s, cx + s, cy + s, 2.0, c);
    draw_line(cx - s, cy + s, cx + s, cy - s, 2.0, c);
}

/// A small clock: a message waiting for the server.
pub fn icon_clock(cx: f32, cy: f32, s: f32, c: Color) {
    draw_circle_lines(cx, cy, s, 1.3, c);
    draw_line(cx, cy, cx, cy - s * 0.65, 1.3, c);
    draw_line(cx, cy, cx + s * 0.5, cy, 1.3, c);
}

/// A check mark: a stored message of ours.
pub fn icon_check(cx: f32, cy: f32, s: f32, c: Color) {
    draw_line(cx - s, cy, cx - s * 0.3, cy + s * 0.7, 1.5, c);
    draw_line(cx - s * 0.3, cy + s * 0.7, cx + s, cy - s * 0.7, 1.5, c);
}

/// A warning triangle: a refused message.
pub fn icon_warning(cx: f32, cy: f32, s: f32, c: Color) {
    draw_triangle(
        vec2(cx, cy - s),
        vec2(cx - s, cy + s * 0.8),
        vec2(cx + s, cy + s * 0.8),
        c,
    );
    draw_rectangle(cx - 0.8, cy - s * 0.4, 1.6, s * 0.7, theme::BACKGROUND);
    draw_rectangle(cx - 0.8, cy + s * 0.45, 1.6, 1.6, theme::BACKGROUND);
}

/// A round avatar with the name's first letter.
pub fn avatar(fonts: &Fonts, name: &str, cx: f32, cy: f32, radius: f32) {
    draw_circle(cx, cy, radius, theme::avatar_colour(name));
    let initial: String = name
        .chars()
        .next()
        .map(|c| c.to_uppercase().collect())
        .unwrap_or_default();
    let size = (radius * 1.0).round();
    let w = fonts.width(&initial, size);
    fonts.draw(&initial, cx - w / 2.0, cy + size * 0.36, size, WHITE);
}

/// A progress bar.
pub fn progress_bar(r: Rect, fraction: f32, color: Color) {
    rounded_rect(r, r.h / 2.0, theme::FIELD);
    let w = (r.w * fraction.clamp(0.0, 1.0)).max(r.h);
    rounded_rect(Rect::new(r.x, r.y, w, r.h), r.h / 2.0, color);
}

/// A soft drop shadow under a floating card.
pub fn shadow(r: Rect, radius: f32) {
    for i in 1..=4 {
        let g = i as f32 * 2.0;
        rounded_rect(
            Rect::new(r.x - g, r.y - g + 3.0, r.w + 2.0 * g, r.h + 2.0 * g),
            radius + g,
            Color::new(0.0, 0.0, 0.0, 0.07),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pasted_text_loses_control_characters() {
        assert_eq!(clean_pasted("a\r\nb\tc\u{1b}[2J", true), "a\nb    c[2J");
        assert_eq!(clean_pasted("a\nb", false), "a b");
        assert_eq!(clean_pasted("你好", false), "你好");
    }

    #[test]
    fn a_click_ends_the_frame_so_typing_after_it_goes_to_the_new_focus() {
        let mut queue: std::collections::VecDeque<Raw> = [
            Raw::Key(Key::Char('a')),
            Raw::Down(vec2(10.0, 20.0)),
            Raw::Up,
            Raw::Key(Key::Char('b')),
            Raw::Down(vec2(30.0, 40.0)),
            Raw::Up,
        ]
        .into();
        let first = next_frame_input(&mut queue, vec2(0.0, 0.0));
        assert_eq!(first.keys, [Key::Char('a')]);
        assert!(first.clicked && first.released);
        assert_eq!(first.mouse, vec2(10.0, 20.0));
        let second = next_frame_input(&mut queue, vec2(0.0, 0.0));
        assert_eq!(second.keys, [Key::Char('b')]);
        assert_eq!(second.mouse, vec2(30.0, 40.0));
        assert!(queue.is_empty());
        let idle = next_frame_input(&mut queue, vec2(5.0, 5.0));
        assert!(!idle.any());
    }

    #[test]
    fn tab_ends_the_frame() {
        let tab = Key::Down {
            code: KeyCode::Tab,
            shift: false,
            ctrl: false,
        };
        let mut queue: std::collections::VecDeque<Raw> =
            [Raw::Key(tab), Raw::Key(tab), Raw::Key(Key::Char('x'))].into();
        assert_eq!(next_frame_input(&mut queue, Vec2::ZERO).keys, [tab]);
        assert_eq!(next_frame_input(&mut queue, Vec2::ZERO).keys, [tab]);
        assert_eq!(
            next_frame_input(&mut queue, Vec2::ZERO).keys,
            [Key::Char('x')]
        );
    }
}
