//! The UI font: a CJK-capable TrueType font found on the system, or the
//! WenQuanYi Micro Hei copy shipped in `assets/fonts/`. The file is read on
//! a worker thread while the first frames show a default-font screen; the
//! parse then happens once on the UI thread (macroquad's atlas needs it).
//!
//! Also measures and wraps text with a per-character advance cache, so a
//! long history is wrapped once per width, not per frame.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;
use std::sync::mpsc;

use macroquad::prelude::*;

/// The shipped fallback (Apache-2.0; see `assets/fonts/README.md`).
static SHIPPED: &[u8] = include_bytes!("../../../assets/fonts/wqy-microhei.ttc");

/// System fonts tried first, in order. Noto CJK is left out on purpose: it
/// takes seconds and hundreds of MB to load, more than the shipped font.
const SYSTEM_CANDIDATES: &[&str] = &[
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/wqy-microhei/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/google-droid/DroidSansFallbackFull.ttf",
    "C:\\Windows\\Fonts\\msyh.ttf",
    "C:\\Windows\\Fonts\\simhei.ttf",
    "/System/Library/Fonts/STHeiti Medium.ttc",
];

/// Line height as a multiple of the font size.
pub const LINE: f32 = 1.4;

enum Loading {
    Reading(mpsc::Receiver<(Vec<u8>, String)>),
    Done,
}

/// The font and the measurements made with it.
pub struct Fonts {
    font: Option<Font>,
    loading: Loading,
    /// Where the font came from, for the log.
    pub source: String,
    advances: RefCell<HashMap<(char, u16), f32>>,
    /// Set when a glyph new to this size was measured (and so added to
    /// macroquad's atlas) since [`Fonts::take_new_glyphs`] last looked.
    new_glyphs: std::cell::Cell<bool>,
}

impl std::fmt::Debug for Fonts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fonts")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl Fonts {
    /// Starts reading the font file in the background.
    pub fn start() -> Self {
        let (tx, rx) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("natter-font".into())
            .spawn(move || {
                let found = std::env::var_os("NATTER_FONT")
                    .map(std::path::PathBuf::from)
                    .into_iter()
                    .chain(SYSTEM_CANDIDATES.iter().map(|p| Path::new(p).to_path_buf()))
                    .find_map(|p| std::fs::read(&p).ok().map(|b| (b, p.display().to_string())));
                let _ = tx.send(found.unwrap_or_else(|| (SHIPPED.to_vec(), "shipped".to_owned())));
            });
        let loading = match spawned {
            Ok(_) => Loading::Reading(rx),
            Err(_) => Loading::Done,
        };
        Self {
            font: None,
            loading,
            source: "default".into(),
            advances: RefCell::default(),
            new_glyphs: std::cell::Cell::new(false),
        }
    }

    /// A font for a headless benchmark: the shipped one, loaded now.
    pub fn load_now() -> Self {
        let mut fonts = Self {
            font: None,
            loading: Loading::Done,
            source: String::new(),
            advances: RefCell::default(),
            new_glyphs: std::cell::Cell::new(false),
        };
        fonts.install(SHIPPED, "shipped".into());
        fonts
    }

    /// Installs the font once its bytes have arrived. Returns true on the
    /// frame it happens (the parse takes a few hundred ms, once).
    pub fn poll(&mut self) -> bool {
        let Loading::Reading(rx) = &self.loading else {
            return false;
        };
        match rx.try_recv() {
            Ok((bytes, source)) => {
                self.loading = Loading::Done;
                if !self.install(&bytes, source) {
                    self.install(SHIPPED, "shipped".into());
                }
                true
            }
            Err(mpsc::TryRecvError::Empty) => false,
            Err(mpsc::TryRecvError::Disconnected) => {
                self.loading = Loading::Done;
                self.install(SHIPPED, "shipped".into());
                true
            }
        }
    }

    fn install(&mut self, bytes: &[u8], source: String) -> bool {
        match load_ttf_font_from_bytes(bytes) {
            Ok(font) => {
                self.font = Some(font);
                self.source = source;
                self.advances.borrow_mut().clear();
                true
            }
            Err(e) => {
                tracing::warn!(%source, error = %e, "font did not load");
                false
            }
        }
    }

    /// Whether the real font is in (until then, only ASCII draws well).
    pub fn ready(&self) -> bool {
        self.font.is_some()
    }

    fn params(&self, size: f32, color: Color) -> TextParams<'_> {
        TextParams {
            font: self.font.as_ref(),
            font_size: size as u16,
            color,
            ..Default::default()
        }
    }

    /// Draws one line with its baseline at `y`; returns its width.
    pub fn draw(&self, text: &str, x: f32, y: f32, size: f32, color: Color) -> f32 {
        // Every glyph enters the atlas through `advance`, so a frame knows
        // when it added any (see `take_new_glyphs`).
        for c in text.chars() {
            self.advance(c, size);
        }
        draw_text_ex(text, x.round(), y.round(), self.params(size, color)).width
    }

    /// Whether glyphs were added to the atlas since the last call. When
    /// macroquad's atlas fills up it doubles and re-packs every glyph, so
    /// text drawn earlier in that frame samples the wrong places: such a
    /// frame must be drawn again.
    pub fn take_new_glyphs(&self) -> bool {
        self.new_glyphs.replace(false)
    }

    /// Draws one line vertically centred in a box of height `h` at `top`.
    pub fn draw_centred_v(
        &self,
        text: &str,
        x: f32,
        top: f32,
        h: f32,
        size: f32,
        color: Color,
    ) -> f32 {
        self.draw(text, x, top + (h + size * 0.72) / 2.0, size, color)
    }

    /// Draws one line centred in a rectangle.
    pub fn draw_centred(&self, text: &str, r: Rect, size: f32, color: Color) {
        let w = self.width(text, size);
        self.draw_centred_v(text, r.x + (r.w - w) / 2.0, r.y, r.h, size, color);
    }

    /// The advance of one character at `size`.
    pub fn advance(&self, c: char, size: f32) -> f32 {
        let key = (c, size as u16);
        if let Some(w) = self.advances.borrow().get(&key) {
            return *w;
        }
        let mut buf = [0u8; 4];
        let w = measure_text(
            c.encode_utf8(&mut buf),
            self.font.as_ref(),
            size as u16,
            1.0,
        )
        .width;
        self.advances.borrow_mut().insert(key, w);
        self.new_glyphs.set(true);
        w
    }

    /// The width of one line of text.
    pub fn width(&self, text: &str, size: f32) -> f32 {
        text.chars().map(|c| self.advance(c, size)).sum()
    }

    /// `text` cut to fit `max_w`, ending in "...".
    pub fn fit(&self, text: &str, size: f32, max_w: f32) -> String {
        if self.width(text, size) <= max_w {
            return text.to_owned();
        }
        let budget = max_w - 3.0 * self.advance('.', size);
        let mut out = String::new();
        let mut w = 0.0;
        for c in text.chars() {
            w += self.advance(c, size);
            if w > budget {
                break;
            }
            out.push(c);
        }
        out.push_str("...");
        out
    }

    /// Wraps text into lines no wider than `max_w`: at spaces where it can,
    /// between any two CJK characters, and inside over-long words when it
    /// must. Control characters become spaces; `\n` starts a new line.
    pub fn wrap(&self, text: &str, size: f32, max_w: f32) -> Vec<String> {
        wrap_with(text, max_w, |c| self.advance(c, size))
    }
}

/// The wrapping algorithm, with the measurement passed in (so it can be
/// tested without a font).
pub fn wrap_with(text: &str, max_w: f32, mut advance: impl FnMut(char) -> f32) -> Vec<String> {
    let mut lines = Vec::new();
    for paragraph in text.split('\n') {
        let mut line = String::new();
        let mut width = 0.0;
        // Byte offset in `line` after the last break opportunity, and the
        // width up to it.
        let mut last_break: Option<(usize, f32)> = None;
        for c in paragraph.chars() {
            let c = if c.is_control() { ' ' } else { c };
            let w = advance(c);
            if width + w > max_w && !line.is_empty() && c != ' ' {
                match last_break {
                    Some((at, w_at)) if at > 0 && at < line.len() => {
                        let rest = line.split_off(at);
                        lines.push(line.trim_end().to_owned());
                        line = rest;
                        width -= w_at;
                    }
                    _ => {
                        lines.push(std::mem::take(&mut line).trim_end().to_owned());
                        width = 0.0;
                    }
                }
                last_break = None;
            }
            if is_cjk(c) && !line.is_empty() {
                last_break = Some((line.len(), width));
            }
            line.push(c);
            width += w;
            if c == ' ' || is_cjk(c) {
                last_break = Some((line.len(), width));
            }
        }
        lines.push(line.trim_end().to_owned());
    }
    lines
}

/// Characters between which a line may break without a space.
fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x2E80..=0x9FFF | 0xAC00..=0xD7AF | 0xF900..=0xFAFF | 0xFF00..=0xFFEF | 0x20000..=0x2FA1F)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wrap(text: &str, max: f32) -> Vec<String> {
        wrap_with(text, max, |_| 1.0)
    }

    #[test]
    fn words_wrap_at_spaces() {
        assert_eq!(wrap("hello big world", 9.0), ["hello big", "world"]);
        assert_eq!(wrap("a\nb", 9.0), ["a", "b"]);
    }

    #[test]
    fn long_words_and_chinese_break_anywhere() {
        assert_eq!(wrap("abcdefghij", 4.0), ["abcd", "efgh", "ij"]);
        assert_eq!(wrap("你好世界和平", 4.0), ["你好世界", "和平"]);
        assert_eq!(wrap("ok 你好世界", 4.0), ["ok 你", "好世界"]);
    }

    #[test]
    fn control_characters_do_not_reach_the_renderer() {
        assert_eq!(wrap("a\tb\u{7}", 10.0), ["a b"]);
        assert_eq!(wrap("", 10.0), [""]);
    }
}
