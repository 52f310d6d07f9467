//! The fonts the UI draws with, as a fallback chain: a CJK-capable
//! TrueType font found on the system (or the WenQuanYi Micro Hei copy
//! shipped in `assets/fonts/`), then symbol fonts, ending with Symbola (the
//! system's or the shipped copy) for emoji and other symbols. Each
//! character is drawn with the first font that has it ([`crate::ui::glyphs`]
//! picks); one no font has draws as a replacement mark, never as nothing.
//! The files are read on a worker thread while the first frames show a
//! default-font screen; the parse then happens once on the UI thread
//! (macroquad's atlas needs it).
//!
//! Also measures and wraps text with a per-character advance cache, so a
//! long history is wrapped once per width, not per frame.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{mpsc, Arc};

use macroquad::prelude::*;

use crate::ui::glyphs::{self, Coverage, Pick};

/// The shipped CJK font (Apache-2.0; see `assets/fonts/README.md`).
static SHIPPED: &[u8] = include_bytes!("../../../../assets/fonts/wqy-microhei.ttc");
/// The shipped symbol and emoji font (Symbola, free for any use; see
/// `assets/fonts/README.md`).
static SHIPPED_SYMBOLS: &[u8] = include_bytes!("../../../../assets/fonts/symbola.ttf");

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

/// System fonts for symbols the CJK font lacks (arrows, maths, dingbats),
/// all of those found are used, in order.
const SYSTEM_SYMBOLS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
];

/// Monochrome emoji fonts, the first found is used (else the shipped one).
const SYSTEM_EMOJI: &[&str] = &[
    "/usr/share/fonts/truetype/ancient-scripts/Symbola_hint.ttf",
    "/usr/share/fonts/gdouros-symbola/Symbola.ttf",
];

/// Line height as a multiple of the font size.
pub const LINE: f32 = 1.4;

/// One font file read: its bytes and where they came from.
type FontFile = (Arc<Vec<u8>>, String);

enum Loading {
    Reading(mpsc::Receiver<Vec<FontFile>>),
    Done,
}

/// The chain of fonts and the measurements made with it.
pub struct Fonts {
    chain: Vec<Font>,
    coverage: Coverage,
    loading: Loading,
    /// Where the fonts came from, for the log.
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

/// The first of `paths` that can be read.
fn read_first(paths: impl IntoIterator<Item = std::path::PathBuf>) -> Option<FontFile> {
    paths.into_iter().find_map(|p| {
        std::fs::read(&p)
            .ok()
            .map(|b| (Arc::new(b), p.display().to_string()))
    })
}

/// Reads the chain's files (blocking): the CJK font, the symbol fonts, the
/// emoji font, each from the system or the shipped copy.
fn read_chain() -> Vec<FontFile> {
    let primary = read_first(
        std::env::var_os("NATTER_FONT")
            .map(std::path::PathBuf::from)
            .into_iter()
            .chain(SYSTEM_CANDIDATES.iter().map(|p| Path::new(p).to_path_buf())),
    )
    .unwrap_or_else(|| (Arc::new(SHIPPED.to_vec()), "shipped".to_owned()));
    let mut chain = vec![primary];
    chain.extend(
        SYSTEM_SYMBOLS
            .iter()
            .filter_map(|p| read_first([Path::new(p).to_path_buf()])),
    );
    chain.push(
        read_first(SYSTEM_EMOJI.iter().map(|p| Path::new(p).to_path_buf())).unwrap_or_else(|| {
            (
                Arc::new(SHIPPED_SYMBOLS.to_vec()),
                "shipped symbola".to_owned(),
            )
        }),
    );
    chain
}

impl Fonts {
    fn empty(loading: Loading) -> Self {
        Self {
            chain: Vec::new(),
            coverage: Coverage::new(Vec::new()),
            loading,
            source: "default".into(),
            advances: RefCell::default(),
            new_glyphs: std::cell::Cell::new(false),
        }
    }

    /// Starts reading the font files in the background.
    pub fn start() -> Self {
        let (tx, rx) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("natter-font".into())
            .spawn(move || {
                let _ = tx.send(read_chain());
            });
        Self::empty(match spawned {
            Ok(_) => Loading::Reading(rx),
            Err(_) => Loading::Done,
        })
    }

    /// The shipped fonts, loaded now (for the benchmark and the emoji
    /// sheet: the same pictures on every machine).
    pub fn load_now() -> Self {
        let mut fonts = Self::empty(Loading::Done);
        fonts.install(vec![
            (Arc::new(SHIPPED.to_vec()), "shipped".into()),
            (Arc::new(SHIPPED_SYMBOLS.to_vec()), "shipped symbola".into()),
        ]);
        fonts
    }

    /// Installs the fonts once their bytes have arrived. Returns true on
    /// the frame it happens (the parse takes a few hundred ms, once).
    pub fn poll(&mut self) -> bool {
        let Loading::Reading(rx) = &self.loading else {
            return false;
        };
        let files = match rx.try_recv() {
            Ok(files) => files,
            Err(mpsc::TryRecvError::Empty) => return false,
            Err(mpsc::TryRecvError::Disconnected) => Vec::new(),
        };
        self.loading = Loading::Done;
        self.install(files);
        if self.chain.is_empty() {
            self.install(vec![(Arc::new(SHIPPED.to_vec()), "shipped".into())]);
        }
        true
    }

    /// Parses each file into the chain; one that fails is left out.
    fn install(&mut self, files: Vec<FontFile>) {
        let mut faces = Vec::new();
        let mut sources = Vec::new();
        self.chain.clear();
        for (bytes, source) in files {
            match load_ttf_font_from_bytes(&bytes) {
                Ok(font) => {
                    self.chain.push(font);
                    faces.push(bytes);
                    sources.push(source);
                }
                Err(e) => tracing::warn!(%source, error = %e, "font did not load"),
            }
        }
        self.coverage = Coverage::new(faces);
        self.source = sources.join(", ");
        self.advances.borrow_mut().clear();
        tracing::debug!(fonts = %self.source, "font chain loaded");
    }

    /// Whether the real fonts are in (until then, only ASCII draws well).
    pub fn ready(&self) -> bool {
        !self.chain.is_empty()
    }

    fn params(&self, font: usize, size: f32, color: Color) -> TextParams<'_> {
        TextParams {
            font: self.chain.get(font),
            font_size: size as u16,
            color,
            ..Default::default()
        }
    }

    /// Who draws `c`: a font of the chain, nobody, or the replacement.
    fn pick(&self, c: char) -> Pick {
        if self.chain.is_empty() {
            return Pick::Font(0);
        }
        self.coverage.pick(c)
    }

    /// Draws one line with its baseline at `y`, each run of characters
    /// with the first font that has them; returns its width.
    pub fn draw(&self, text: &str, x: f32, y: f32, size: f32, color: Color) -> f32 {
        let mut pen = x;
        for (pick, range) in glyphs::runs(text, |c| self.pick(c)) {
            let run = &text[range];
            // Every glyph enters the atlas through `advance`, so a frame
            // knows when it added any (see `take_new_glyphs`).
            let width = self.width(run, size);
            match pick {
                Pick::Font(font) => {
                    draw_text_ex(run, pen.round(), y.round(), self.params(font, size, color));
                }
                Pick::Missing => {
                    let (font, mark) = self.coverage.replacement();
                    let mark = mark.to_string();
                    let step = self.advance_in(mark.chars().next().unwrap_or('?'), font, size);
                    for i in 0..run.chars().count() {
                        let at = pen + i as f32 * step;
                        draw_text_ex(&mark, at.round(), y.round(), self.params(font, size, color));
                    }
                }
                Pick::Invisible => {}
            }
            pen += width;
        }
        pen - x
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

    /// The advance of one character at `size`, in the font that draws it
    /// (the replacement's for a missing one, nothing for an invisible one).
    pub fn advance(&self, c: char, size: f32) -> f32 {
        let key = (c, size as u16);
        if let Some(w) = self.advances.borrow().get(&key) {
            return *w;
        }
        let w = match self.pick(c) {
            Pick::Font(font) => self.measure(c, font, size),
            Pick::Invisible => 0.0,
            Pick::Missing => {
                let (font, mark) = self.coverage.replacement();
                self.advance_in(mark, font, size)
            }
        };
        self.advances.borrow_mut().insert(key, w);
        w
    }

    /// The advance of `c` in the chain's font `font` (cached under `c`
    /// only when that is the font that draws it).
    fn advance_in(&self, c: char, font: usize, size: f32) -> f32 {
        if self.pick(c) == Pick::Font(font) {
            self.advance(c, size)
        } else {
            self.measure(c, font, size)
        }
    }

    /// Measures (and so rasterises into the atlas) one character.
    fn measure(&self, c: char, font: usize, size: f32) -> f32 {
        let mut buf = [0u8; 4];
        self.new_glyphs.set(true);
        measure_text(
            c.encode_utf8(&mut buf),
            self.chain.get(font),
            size as u16,
            1.0,
        )
        .width
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
