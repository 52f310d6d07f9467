//! The frame's input: keyboard, mouse and dropped files, gathered from a
//! miniquad input subscriber and handed out frame by frame.
//!
//! Every key repeat and its modifiers are seen this way: `get_char_pressed`
//! alone cannot tell Ctrl+V from a typed `v`. Characters typed with Ctrl,
//! Alt or Super held and control characters (Backspace arrives as `\u{8}`
//! too) are dropped; the keys themselves are handled by code.

use std::path::PathBuf;

use macroquad::miniquad::{self, EventHandler, KeyCode, KeyMods};
use macroquad::prelude::*;

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

#[cfg(test)]
mod tests {
    use super::*;

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
