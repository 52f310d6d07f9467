//! `natter --bench-frames`: fills the state with 10,000 messages and 100
//! pictures made in memory, scrolls through them, and prints one JSON line
//! with the median CPU time of update+draw per frame, compared with the
//! same scroll through 50 messages measured in the same run (the baseline:
//! drawing only what is visible makes them cost the same), the median whole
//! frame, and the process's CPU use over 10 s of idling with the real
//! frame pacing (the window sleeping in the blocking event loop, woken by
//! its heartbeat).

use std::path::PathBuf;
use std::time::Instant;

use macroquad::prelude::*;
use natter_common::{
    BlobHash, ChatMessage, Content, EmojiId, MediaRef, MessageId, Recipient, Timestamp, UserName,
};

use crate::app::net::NetEvent;
use crate::app::state::{AppState, MediaSlot};
use crate::app::wake::Wakeup;
use crate::ui::driver::FrameDriver;
use crate::ui::fonts::Fonts;
use crate::ui::frame::Views;
use crate::ui::screen::{keep_awake, screenshot};
use crate::ui::widgets::{FrameInput, InputCollector};
use crate::ui::window::WindowLink;
use natter_client::ClientEvent;

const MESSAGES: u64 = 10_000;
const PICTURES: u64 = 100;
/// The baseline history: what a short conversation costs.
const BASELINE_MESSAGES: u64 = 50;
const SCROLL_FRAMES: usize = 400;
/// Pixels scrolled per frame.
const SCROLL_STEP: f32 = 120.0;
const IDLE_SECS: f64 = 10.0;
const SETTLE_SECS: f64 = 6.0;

const SAMPLES: &[&str] = &[
    "hi!",
    "Are we still on for tonight?",
    "你好，今天的作业写完了吗？我还差最后一题。",
    "The server restarted at noon; everything came back after a few seconds, and nobody lost a message.",
    "哈哈哈 😂 好的",
    "Here is a longer one, to make the wrapping work: the quick brown fox jumps over the lazy dog, \
     again and again, until the line is long enough to need three or four rows in a bubble.",
    "ok",
    "明天见！",
];

fn user(i: u64) -> UserName {
    let names = [
        "alice", "bob", "carol", "dave", "erin", "张伟", "frank", "grace", "heidi", "ivan", "judy",
        "bench",
    ];
    UserName::parse(names[(i as usize * 7 + 3) % names.len()])
        .unwrap_or_else(|_| UserName::parse("x").expect("valid"))
}

/// Fills a logged-in state with `messages` messages, `pictures` of them
/// pictures spread evenly.
pub fn filled_state(views: &mut Views, messages: u64, pictures: u64) -> AppState {
    let mut state = AppState::new("bench", "bench", "");
    let me = UserName::parse("bench").expect("valid name");
    state.apply(NetEvent::LoggedIn {
        me,
        server: "bench (in memory)".into(),
        max_text_chars: 4000,
    });
    let start = Timestamp::now().0 - messages as i64 * 45_000;
    let picture_every = (messages / pictures.max(1)).max(1);
    for i in 0..messages {
        let content = if i % picture_every == picture_every / 2 {
            let n = i / picture_every;
            let hash = BlobHash(*blake3::hash(&n.to_le_bytes()).as_bytes());
            let path = PathBuf::from(format!("memory://picture-{n}"));
            let (w, h) = (320u16 + (n % 3) as u16 * 160, 240u16);
            let rgba: Vec<u8> = (0..w as u32 * h as u32)
                .flat_map(|p| {
                    let (x, y) = (p % w as u32, p / w as u32);
                    [
                        (x * 255 / w as u32) as u8,
                        (y * 255 / h as u32) as u8,
                        (n * 37 % 255) as u8,
                        255,
                    ]
                })
                .collect();
            views.chat.pictures.insert_rgba(path.clone(), w, h, &rgba);
            state.media.pictures.insert(hash, MediaSlot::Ready(path));
            Content::Image {
                media: MediaRef {
                    hash,
                    name: format!("picture-{n}.png"),
                    size: rgba.len() as u64,
                },
                width: w as u32,
                height: h as u32,
            }
        } else if i % 10 == 3 {
            Content::Emoji(EmojiId((i % 17) as u16))
        } else {
            Content::Text(SAMPLES[(i as usize * 5) % SAMPLES.len()].to_owned())
        };
        state.apply(NetEvent::Client(ClientEvent::Message(ChatMessage {
            id: MessageId(i + 1),
            from: user(i),
            to: Recipient::Everyone,
            sent_at: Timestamp(start + i as i64 * 45_000),
            content,
        })));
    }
    let log = state
        .conversations
        .log_mut(&natter_common::Conversation::Group);
    log.more_before = false;
    log.loading_older = false;
    log.unread = 0;
    state
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// CPU seconds this process used so far (user + system, all threads), from
/// `/proc/self/stat`; `None` where there is no such file.
fn process_cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// One history being measured: its state, its views and its frames.
struct Subject {
    state: AppState,
    views: Views,
    driver: FrameDriver,
}

impl Subject {
    /// `messages` messages, `pictures` of them pictures, in `views`.
    fn new(mut views: Views, messages: u64, pictures: u64) -> Self {
        let state = filled_state(&mut views, messages, pictures);
        Self {
            state,
            views,
            driver: FrameDriver::new(),
        }
    }

    /// Draws one frame with no input.
    fn draw_once(&mut self, fonts: &Fonts, dt: f32) {
        let now = get_time();
        let input = FrameInput::default();
        let _ = self.driver.frame(
            &mut self.state,
            &mut self.views,
            fonts,
            &input,
            now,
            dt,
            true,
        );
    }

    /// One frame of `input`, its intents handled (`activity`: as if the
    /// network had reported something).
    fn frame(&mut self, fonts: &Fonts, input: &FrameInput, now: f64, dt: f32, activity: bool) {
        let intents = self.driver.frame(
            &mut self.state,
            &mut self.views,
            fonts,
            input,
            now,
            dt,
            activity,
        );
        for intent in intents {
            self.state.handle(intent);
        }
    }

    /// Scrolls `SCROLL_FRAMES` frames up through the group conversation;
    /// the update+draw CPU times and the whole-frame times, in ms.
    async fn scroll(&mut self, fonts: &Fonts, input: &mut InputCollector) -> (Vec<f64>, Vec<f64>) {
        let group = natter_common::Conversation::Group;
        let mut update_draw = Vec::new();
        let mut whole = Vec::new();
        let mut last = Instant::now();
        let mut last_time = get_time();
        for _ in 0..SCROLL_FRAMES {
            let frame = input.collect();
            let now = get_time();
            let dt = (now - last_time) as f32;
            last_time = now;
            self.views.chat.scroll_by(&group, SCROLL_STEP);
            let t0 = Instant::now();
            self.frame(fonts, &frame, now, dt, true);
            update_draw.push(t0.elapsed().as_secs_f64() * 1000.0);
            keep_awake();
            next_frame().await;
            whole.push(last.elapsed().as_secs_f64() * 1000.0);
            last = Instant::now();
        }
        (update_draw, whole)
    }

    /// Runs frames with the real pacing and no input for `secs`; how many.
    async fn idle(
        &mut self,
        fonts: &Fonts,
        input: &mut InputCollector,
        link: &mut WindowLink,
        secs: f64,
    ) -> u32 {
        let started = Instant::now();
        let mut last_time = get_time();
        let mut frames = 0;
        // The frame this starts in asked for no next one: pacing does from now.
        keep_awake();
        while started.elapsed().as_secs_f64() < secs {
            let frame = input.collect();
            let now = get_time();
            let dt = (now - last_time) as f32;
            last_time = now;
            self.frame(fonts, &frame, now, dt, false);
            next_frame().await;
            frames += 1;
            link.poll();
            self.driver.pace(now, link, self.state.next_change(), false);
        }
        frames
    }
}

/// What idling with the real pacing cost.
struct Idle {
    frames: u32,
    /// Frames in which the interface was really drawn.
    renders: u64,
    wall_secs: f64,
    cpu_percent: Option<f64>,
}

/// The baseline: the median update+draw time of a scroll through a short
/// conversation, in the same window and run (after one pass, not
/// counted, to warm the glyph cache and GPU state).
async fn baseline(fonts: &Fonts, input: &mut InputCollector) -> f64 {
    let mut baseline = Subject::new(Views::default(), BASELINE_MESSAGES, 1);
    let _ = baseline.scroll(fonts, input).await;
    baseline
        .views
        .chat
        .scroll_to_bottom(&natter_common::Conversation::Group);
    let (update_draw, _) = baseline.scroll(fonts, input).await;
    median(update_draw)
}

/// Idles with the real pacing, nothing moving: settles first (the pacing
/// slows down in steps), then measures.
async fn measure_idle(
    subject: &mut Subject,
    fonts: &Fonts,
    input: &mut InputCollector,
    link: &mut WindowLink,
) -> Idle {
    subject.idle(fonts, input, link, SETTLE_SECS).await;
    let renders_before = subject.driver.renders;
    let cpu_before = process_cpu_secs();
    let started = Instant::now();
    let frames = subject.idle(fonts, input, link, IDLE_SECS).await;
    let wall_secs = started.elapsed().as_secs_f64();
    Idle {
        frames,
        renders: subject.driver.renders - renders_before,
        wall_secs,
        cpu_percent: match (cpu_before, process_cpu_secs()) {
            (Some(a), Some(b)) => Some((b - a) / wall_secs * 100.0),
            _ => None,
        },
    }
}

/// Runs the benchmark in the open window and prints its JSON line.
pub async fn run() {
    let mut input = InputCollector::new();
    let fonts = Fonts::load_now();
    let mut link = WindowLink::start(Wakeup::default());
    let baseline_median = baseline(&fonts, &mut input).await;

    let views = Views::default();
    let fill_started = Instant::now();
    let mut subject = Subject::new(views, MESSAGES, PICTURES);
    let fill_ms = fill_started.elapsed().as_secs_f64() * 1000.0;

    // First frame: the layout of 10,000 rows is built.
    let started = Instant::now();
    subject.draw_once(&fonts, 0.016);
    let first_frame_ms = started.elapsed().as_secs_f64() * 1000.0;
    keep_awake();
    next_frame().await;

    // Scroll up through the history.
    let (update_draw, whole) = subject.scroll(&fonts, &mut input).await;

    // A look at the last scrolled frame, when asked for.
    if let Ok(path) = std::env::var("NATTER_SCREENSHOT") {
        subject.draw_once(&fonts, 0.0);
        if let Err(e) = screenshot(std::path::Path::new(&path)) {
            tracing::warn!(error = %e, "screenshot failed");
        }
        keep_awake();
        next_frame().await;
    }

    subject
        .views
        .chat
        .scroll_to_bottom(&natter_common::Conversation::Group);
    let idle = measure_idle(&mut subject, &fonts, &mut input, &mut link).await;

    let p95 = {
        let mut v = update_draw.clone();
        v.sort_by(|a, b| a.total_cmp(b));
        v.get((v.len() * 95 / 100).min(v.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0.0)
    };
    let median_update_draw = median(update_draw.clone());
    let line = serde_json::json!({
        "bench": "natter-gui-frames",
        "baseline_messages": BASELINE_MESSAGES,
        "baseline_median_update_draw_ms": (baseline_median * 1000.0).round() / 1000.0,
        "ratio_to_baseline": (median_update_draw / baseline_median.max(1e-9) * 100.0).round() / 100.0,
        "messages": MESSAGES,
        "pictures": PICTURES,
        "window": [screen_width(), screen_height()],
        "fill_ms": (fill_ms * 10.0).round() / 10.0,
        "first_frame_ms": (first_frame_ms * 100.0).round() / 100.0,
        "scroll_frames": SCROLL_FRAMES,
        "median_update_draw_ms": (median_update_draw * 1000.0).round() / 1000.0,
        "p95_update_draw_ms": (p95 * 1000.0).round() / 1000.0,
        "median_frame_ms": (median(whole) * 1000.0).round() / 1000.0,
        "texture_bytes": subject.views.chat.pictures.used(),
        "idle_secs": (idle.wall_secs * 100.0).round() / 100.0,
        "idle_frames": idle.frames,
        "idle_renders": idle.renders,
        "idle_sleeps": link.can_sleep(),
        "idle_cpu_percent": idle.cpu_percent.map(|p| (p * 100.0).round() / 100.0),
    });
    println!("{line}");
}
