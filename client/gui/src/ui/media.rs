//! Pictures on screen: decoded with the `image` crate on worker threads,
//! uploaded as textures on the UI thread, and kept in an LRU cache with a
//! byte budget that drops the least recently drawn and reloads them from
//! their cache file when they are needed again. Undecodable bytes become a
//! placeholder, never a panic.
//!
//! Also the system file dialog, run on a worker thread and polled.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use macroquad::prelude::*;

use crate::app::intent::Intent;

/// GPU memory the picture cache may hold.
pub const TEXTURE_BUDGET: usize = 256 << 20;
/// Longest side of an uploaded texture: larger pictures are scaled down
/// on the worker (the large view does not need more on a screen).
pub const MAX_TEXTURE_SIDE: u32 = 2048;
/// Decoded pictures uploaded per frame, so a burst does not stall a frame.
const UPLOADS_PER_FRAME: usize = 3;
/// Decoder threads.
const DECODERS: usize = 2;

/// A decoded picture, ready for upload.
struct Decoded {
    width: u16,
    height: u16,
    rgba: Vec<u8>,
}

enum Slot {
    Decoding,
    Ready {
        texture: Texture2D,
        bytes: usize,
        last_drawn: u64,
    },
    Failed,
}

/// What a view gets for a picture this frame.
pub enum PictureView<'a> {
    Loading,
    Ready(&'a Texture2D),
    Failed,
}

/// The texture cache.
pub struct Pictures {
    slots: HashMap<PathBuf, Slot>,
    jobs: mpsc::Sender<PathBuf>,
    done: mpsc::Receiver<(PathBuf, Result<Decoded, String>)>,
    used: usize,
    budget: usize,
    frame: u64,
    /// Pictures uploaded and evicted so far (for the benchmark and tests).
    pub uploads: u64,
    pub evictions: u64,
}

impl std::fmt::Debug for Pictures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pictures")
            .field("used", &self.used)
            .field("count", &self.slots.len())
            .finish()
    }
}

impl Pictures {
    pub fn new(budget: usize) -> Self {
        let (jobs, jobs_rx) = mpsc::channel::<PathBuf>();
        let (done_tx, done) = mpsc::channel();
        let jobs_rx = Arc::new(Mutex::new(jobs_rx));
        for i in 0..DECODERS {
            let jobs_rx = jobs_rx.clone();
            let done_tx = done_tx.clone();
            let _ = std::thread::Builder::new()
                .name(format!("natter-decode-{i}"))
                .spawn(move || loop {
                    let job = match jobs_rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    let Ok(path) = job else { return };
                    let result = decode_file(&path);
                    if done_tx.send((path, result)).is_err() {
                        return;
                    }
                });
        }
        Self {
            slots: HashMap::new(),
            jobs,
            done,
            used: 0,
            budget,
            frame: 0,
            uploads: 0,
            evictions: 0,
        }
    }

    /// The picture at `path`: asks for it to be decoded if it is not in,
    /// and marks it drawn this frame.
    pub fn get(&mut self, path: &Path) -> PictureView<'_> {
        let frame = self.frame;
        if !self.slots.contains_key(path) {
            self.slots.insert(path.to_path_buf(), Slot::Decoding);
            let _ = self.jobs.send(path.to_path_buf());
            return PictureView::Loading;
        }
        match self.slots.get_mut(path) {
            Some(Slot::Ready {
                texture,
                last_drawn,
                ..
            }) => {
                *last_drawn = frame;
                PictureView::Ready(texture)
            }
            Some(Slot::Failed) => PictureView::Failed,
            _ => PictureView::Loading,
        }
    }

    /// Adds a picture made in memory (the benchmark's).
    pub fn insert_rgba(&mut self, key: PathBuf, width: u16, height: u16, rgba: &[u8]) {
        let texture = Texture2D::from_rgba8(width, height, rgba);
        let bytes = rgba.len();
        self.used += bytes;
        self.uploads += 1;
        if let Some(Slot::Ready { bytes: old, .. }) = self.slots.insert(
            key,
            Slot::Ready {
                texture,
                bytes,
                last_drawn: self.frame,
            },
        ) {
            self.used -= old;
        }
    }

    /// Once per frame: uploads what the decoders finished and evicts the
    /// least recently drawn pictures while over budget. Returns whether
    /// anything changed on screen.
    pub fn pump(&mut self) -> bool {
        self.frame += 1;
        let mut changed = false;
        for _ in 0..UPLOADS_PER_FRAME {
            let Ok((path, result)) = self.done.try_recv() else {
                break;
            };
            // Only if it is still wanted.
            if !matches!(self.slots.get(&path), Some(Slot::Decoding)) {
                continue;
            }
            changed = true;
            let slot = match result {
                Ok(d) => {
                    let texture = Texture2D::from_rgba8(d.width, d.height, &d.rgba);
                    texture.set_filter(FilterMode::Linear);
                    self.used += d.rgba.len();
                    self.uploads += 1;
                    Slot::Ready {
                        texture,
                        bytes: d.rgba.len(),
                        last_drawn: self.frame,
                    }
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "picture did not decode");
                    Slot::Failed
                }
            };
            self.slots.insert(path, slot);
        }
        self.evict();
        changed
    }

    /// Whether decodes are still on their way.
    pub fn busy(&self) -> bool {
        self.slots.values().any(|s| matches!(s, Slot::Decoding))
    }

    fn evict(&mut self) {
        if self.used <= self.budget {
            return;
        }
        let mut ready: Vec<(u64, PathBuf, usize)> = self
            .slots
            .iter()
            .filter_map(|(p, s)| match s {
                Slot::Ready {
                    last_drawn, bytes, ..
                } if *last_drawn + 1 < self.frame => Some((*last_drawn, p.clone(), *bytes)),
                _ => None,
            })
            .collect();
        ready.sort_by_key(|(t, _, _)| *t);
        for (_, path, bytes) in ready {
            if self.used <= self.budget {
                break;
            }
            self.slots.remove(&path);
            self.used -= bytes;
            self.evictions += 1;
        }
    }

    /// Bytes of texture memory in use.
    pub fn used(&self) -> usize {
        self.used
    }
}

/// Reads and decodes a picture file, bounded in size, scaled down to
/// [`MAX_TEXTURE_SIDE`].
fn decode_file(path: &Path) -> Result<Decoded, String> {
    let mut reader = image::io::Reader::open(path)
        .map_err(|e| e.to_string())?
        .with_guessed_format()
        .map_err(|e| e.to_string())?;
    let mut limits = image::io::Limits::default();
    limits.max_image_width = Some(20_000);
    limits.max_image_height = Some(20_000);
    limits.max_alloc = Some(512 << 20);
    reader.limits(limits);
    let picture = reader.decode().map_err(|e| e.to_string())?;
    let picture = if picture.width() > MAX_TEXTURE_SIDE || picture.height() > MAX_TEXTURE_SIDE {
        picture.resize(
            MAX_TEXTURE_SIDE,
            MAX_TEXTURE_SIDE,
            image::imageops::FilterType::Triangle,
        )
    } else {
        picture
    };
    let rgba = picture.to_rgba8();
    let (w, h) = (rgba.width(), rgba.height());
    if w == 0 || h == 0 {
        return Err("empty picture".into());
    }
    Ok(Decoded {
        width: w as u16,
        height: h as u16,
        rgba: rgba.into_raw(),
    })
}

/// `(w, h)` scaled to fit in `max_w` × `max_h`, keeping its shape; never
/// zero, never larger than it is.
pub fn fit(w: f32, h: f32, max_w: f32, max_h: f32) -> (f32, f32) {
    let (w, h) = (w.max(1.0), h.max(1.0));
    let k = (max_w / w).min(max_h / h).min(1.0);
    ((w * k).max(8.0), (h * k).max(8.0))
}

/// Draws a picture (or its placeholder) in `r`.
pub fn draw_picture(view: PictureView, r: Rect, fonts: &crate::ui::fonts::Fonts, name: &str) {
    match view {
        PictureView::Ready(texture) => {
            draw_texture_ex(
                texture,
                r.x,
                r.y,
                WHITE,
                DrawTextureParams {
                    dest_size: Some(vec2(r.w, r.h)),
                    ..Default::default()
                },
            );
        }
        PictureView::Loading => {
            crate::ui::widgets::rounded_rect(r, 8.0, crate::ui::theme::FIELD);
            crate::ui::widgets::icon_picture(r, crate::ui::theme::FAINT);
        }
        PictureView::Failed => {
            crate::ui::widgets::rounded_rect(r, 8.0, crate::ui::theme::FIELD);
            crate::ui::widgets::icon_picture(
                Rect::new(r.x, r.y - 10.0, r.w, r.h),
                crate::ui::theme::DANGER,
            );
            let label = fonts.fit(
                &format!("Cannot show {name}"),
                crate::ui::theme::SMALL,
                r.w - 12.0,
            );
            let w = fonts.width(&label, crate::ui::theme::SMALL);
            fonts.draw(
                &label,
                r.x + (r.w - w) / 2.0,
                r.y + r.h / 2.0 + 26.0,
                crate::ui::theme::SMALL,
                crate::ui::theme::MUTED,
            );
        }
    }
}

/// The system file dialog, on a worker thread.
#[derive(Debug, Default)]
pub struct FileDialog {
    pending: Option<mpsc::Receiver<(Option<PathBuf>, bool, Duration)>>,
}

impl FileDialog {
    /// Opens the dialog (once at a time).
    pub fn open(&mut self, picture: bool) {
        if self.pending.is_some() {
            return;
        }
        let (tx, rx) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("natter-dialog".into())
            .spawn(move || {
                let started = Instant::now();
                let mut dialog = rfd::FileDialog::new();
                dialog = if picture {
                    dialog
                        .set_title("Send a picture")
                        .add_filter("Pictures", &["png", "jpg", "jpeg", "gif", "webp"])
                } else {
                    dialog.set_title("Send a file")
                };
                let path = dialog.pick_file();
                let _ = tx.send((path, picture, started.elapsed()));
            });
        if spawned.is_ok() {
            self.pending = Some(rx);
        }
    }

    /// Whether a dialog is open (its answer must be polled for).
    pub fn waiting(&self) -> bool {
        self.pending.is_some()
    }

    /// The dialog's answer, once it has one. An empty answer within half a
    /// second means there is no dialog on this system.
    pub fn poll(&mut self) -> Option<Intent> {
        let rx = self.pending.as_ref()?;
        match rx.try_recv() {
            Ok((path, picture, took)) => {
                self.pending = None;
                let quick = path.is_none() && took < Duration::from_millis(500);
                Some(Intent::FilePicked {
                    path,
                    picture,
                    quick,
                })
            }
            Err(mpsc::TryRecvError::Empty) => None,
            Err(mpsc::TryRecvError::Disconnected) => {
                self.pending = None;
                Some(Intent::FilePicked {
                    path: None,
                    picture: false,
                    quick: true,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pictures_fit_their_box_and_keep_their_shape() {
        assert_eq!(fit(640.0, 480.0, 320.0, 240.0), (320.0, 240.0));
        assert_eq!(fit(100.0, 50.0, 320.0, 240.0), (100.0, 50.0));
        let (w, h) = fit(10_000.0, 10.0, 320.0, 240.0);
        assert_eq!(w, 320.0);
        assert!(h >= 8.0);
        assert_eq!(fit(0.0, 0.0, 320.0, 240.0), (8.0, 8.0));
    }

    #[test]
    fn bad_picture_bytes_are_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.png");
        std::fs::write(&path, b"\x89PNG\r\n\x1a\nnot really").unwrap();
        assert!(decode_file(&path).is_err());
        assert!(decode_file(&dir.path().join("missing.png")).is_err());
    }

    #[test]
    fn large_pictures_are_scaled_down_for_the_gpu() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.png");
        image::RgbaImage::new(4096, 100).save(&path).unwrap();
        let d = decode_file(&path).unwrap();
        assert_eq!(d.width as u32, MAX_TEXTURE_SIDE);
        assert_eq!(d.rgba.len(), d.width as usize * d.height as usize * 4);
    }
}
