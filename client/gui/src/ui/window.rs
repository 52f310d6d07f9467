//! The window beyond what macroquad offers: its real title, and sleep.
//!
//! The window runs miniquad's blocking event loop: a frame is drawn only
//! when input arrives, when the frame loop asks for the next one (while
//! something moves), or when it is woken. The network thread wakes it
//! through [`Wakeup`] for every event; the alarm wakes it when something
//! on screen is due (a toast going, the caret's blink, a countdown) and
//! every [`HEARTBEAT`] at the latest, because a close request from the
//! window manager draws no frame by itself.
//!
//! One thread, the alarm, sends every wake-up, and sends it again every
//! [`RETRY`] until a frame that started after it reports in: miniquad's
//! loop, when it finds events already queued, handles them and then waits
//! for one more, so a wake-up that lands while a frame is drawn would
//! otherwise only count once the next input comes.
//!
//! Waking needs the X11 window (see [`crate::ui::x11`]). Until it is found,
//! or where it cannot be, the frame loop never sleeps in the event loop:
//! it asks for every next frame and paces itself, as before.

use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use crate::app::wake::Wakeup;

/// The longest an idle window sleeps.
pub const HEARTBEAT: Duration = Duration::from_secs(3);
/// How soon a wake-up no frame answered is sent again.
pub const RETRY: Duration = Duration::from_millis(100);

/// What the alarm thread hears.
#[derive(Debug, Clone, Copy)]
enum Alarm {
    /// Something new to show: wake now.
    WakeNow,
    /// A frame that drains the network after `started` runs; wake at
    /// `sleep_until` (`None`: the next frame is already asked for).
    Frame {
        started: Instant,
        sleep_until: Option<Instant>,
    },
}

/// The window's first title: unique to this process, so our own X11
/// connection can tell our window from any other `natter`'s. It is
/// replaced as soon as the window is found.
pub fn start_title() -> String {
    format!("natter [{}]", std::process::id())
}

/// What the finder thread hands over once the window is known.
struct Found {
    #[cfg(target_os = "linux")]
    window: Arc<crate::ui::x11::X11Window>,
    alarm: mpsc::Sender<Alarm>,
}

/// The frame loop's handle on the window.
pub struct WindowLink {
    finding: Option<mpsc::Receiver<Found>>,
    found: Option<Found>,
    title: String,
}

impl std::fmt::Debug for WindowLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WindowLink")
            .field("found", &self.found.is_some())
            .field("title", &self.title)
            .finish()
    }
}

impl WindowLink {
    /// Starts looking for the window (off the UI thread); once found,
    /// `wakeup` wakes it.
    pub fn start(wakeup: Wakeup) -> Self {
        let (tx, rx) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("natter-window".into())
            .spawn(move || find(wakeup, tx));
        if let Err(e) = spawned {
            tracing::debug!(error = %e, "no thread to find the window");
        }
        Self {
            finding: Some(rx),
            found: None,
            title: start_title(),
        }
    }

    /// Takes the window over once the finder has it.
    pub fn poll(&mut self) {
        let Some(rx) = &self.finding else { return };
        match rx.try_recv() {
            Ok(found) => {
                self.found = Some(found);
                self.finding = None;
                // The start title is a placeholder: name the window now.
                let title = std::mem::take(&mut self.title);
                self.set_title(if title == start_title() {
                    crate::app::title::PLAIN
                } else {
                    &title
                });
            }
            Err(mpsc::TryRecvError::Empty) => {}
            Err(mpsc::TryRecvError::Disconnected) => self.finding = None,
        }
    }

    /// A point of the window on the screen (root-window coordinates),
    /// once the window is found.
    pub fn to_root(&self, x: f32, y: f32) -> Option<(i32, i32)> {
        #[cfg(target_os = "linux")]
        if let Some(found) = &self.found {
            let (x, y) = found.window.to_root(x.round() as i16, y.round() as i16)?;
            return Some((x.into(), y.into()));
        }
        let _ = (x, y);
        None
    }

    /// Whether the window can be woken, and so may sleep.
    pub fn can_sleep(&self) -> bool {
        self.found.is_some()
    }

    /// Renames the window (only when the title changed).
    pub fn set_title(&mut self, title: &str) {
        if self.title == title {
            return;
        }
        self.title = title.to_owned();
        #[cfg(target_os = "linux")]
        if let Some(found) = &self.found {
            found.window.set_title(title);
        }
    }

    /// Reports a frame about to look at what arrived (so wake-ups sent
    /// before now are answered) and lets the window sleep until `deadline`
    /// at the latest (or [`HEARTBEAT`] from now, whichever is sooner);
    /// `None` when the next frame is already asked for.
    pub fn frame_starts(&self, deadline: Option<Instant>) {
        if let Some(found) = &self.found {
            let now = Instant::now();
            let _ = found.alarm.send(Alarm::Frame {
                started: now,
                sleep_until: deadline.map(|d| d.min(now + HEARTBEAT)),
            });
        }
    }
}

/// The finder thread: finds the window, installs the wake-up, starts the
/// alarm, hands both over.
#[cfg(target_os = "linux")]
fn find(wakeup: Wakeup, tx: mpsc::Sender<Found>) {
    let Some(window) = crate::ui::x11::X11Window::find(&start_title(), Duration::from_secs(5))
    else {
        return;
    };
    let window = Arc::new(window);
    let waking = window.clone();
    let (alarm, heard) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("natter-alarm".into())
        .spawn(move || run_alarm(&heard, &|| waking.wake()));
    if spawned.is_ok() {
        let wake_now = std::sync::Mutex::new(alarm.clone());
        wakeup.install(move || {
            if let Ok(alarm) = wake_now.lock() {
                let _ = alarm.send(Alarm::WakeNow);
            }
        });
        let _ = tx.send(Found { window, alarm });
    }
}

#[cfg(not(target_os = "linux"))]
fn find(_wakeup: Wakeup, _tx: mpsc::Sender<Found>) {}

/// Wakes the window when told to and at the last deadline given, and
/// again every [`RETRY`] until a frame that started after the wake-up
/// reports in. Ends when the frame loop is gone.
fn run_alarm(heard: &mpsc::Receiver<Alarm>, wake: &dyn Fn()) {
    let mut deadline: Option<Instant> = None;
    // When the unanswered wake-up was sent, and when to send it again.
    let mut unanswered: Option<(Instant, Instant)> = None;
    loop {
        let next = [deadline, unanswered.map(|(_, retry)| retry)]
            .into_iter()
            .flatten()
            .min();
        let message = match next {
            None => heard
                .recv()
                .map_err(|_| mpsc::RecvTimeoutError::Disconnected),
            Some(at) => heard.recv_timeout(at.saturating_duration_since(Instant::now())),
        };
        let now = Instant::now();
        let wake_now = match message {
            Ok(Alarm::WakeNow) => true,
            Ok(Alarm::Frame {
                started,
                sleep_until,
            }) => {
                if unanswered.is_some_and(|(sent, _)| started >= sent) {
                    unanswered = None;
                }
                deadline = sleep_until;
                false
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if deadline.is_some_and(|d| d <= now) {
                    deadline = None;
                    true
                } else {
                    unanswered.is_some_and(|(_, retry)| retry <= now)
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        };
        if wake_now {
            // Taken before sending: a frame that starts after this answers.
            let sent = unanswered.map_or(now, |(sent, _)| sent);
            wake();
            unanswered = Some((sent, Instant::now() + RETRY));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the alarm with a wake that reports each wake-up's time.
    fn alarm() -> (mpsc::Sender<Alarm>, mpsc::Receiver<Instant>) {
        let (tx, heard) = mpsc::channel();
        let (woke_tx, woke) = mpsc::channel();
        std::thread::spawn(move || {
            run_alarm(&heard, &move || {
                let _ = woke_tx.send(Instant::now());
            })
        });
        (tx, woke)
    }

    fn frame(started: Instant, sleep: Option<Duration>) -> Alarm {
        Alarm::Frame {
            started,
            sleep_until: sleep.map(|s| Instant::now() + s),
        }
    }

    #[test]
    fn the_alarm_wakes_at_the_last_deadline_given() {
        let (alarm, woke) = alarm();
        let start = Instant::now();
        alarm
            .send(frame(start, Some(Duration::from_secs(30))))
            .unwrap();
        alarm
            .send(frame(start, Some(Duration::from_millis(50))))
            .unwrap();
        let at = woke.recv_timeout(Duration::from_secs(10)).expect("woken");
        assert!(at >= start + Duration::from_millis(50));
        // Answered by a frame that started after it: no second wake-up.
        let answer = frame(Instant::now(), Some(Duration::from_secs(30)));
        alarm.send(answer).unwrap();
        let _ = woke.recv_timeout(RETRY * 2);
        assert!(woke.recv_timeout(RETRY * 8).is_err(), "woken again");
    }

    #[test]
    fn an_unanswered_wake_up_is_sent_again_until_a_later_frame_reports() {
        let (alarm, woke) = alarm();
        let before = Instant::now();
        alarm.send(Alarm::WakeNow).unwrap();
        woke.recv_timeout(Duration::from_secs(10)).expect("woken");
        // A frame that started before the wake-up does not answer it.
        alarm.send(frame(before, None)).unwrap();
        woke.recv_timeout(Duration::from_secs(10))
            .expect("woken again");
        alarm.send(frame(Instant::now(), None)).unwrap();
        // At most one more (sent before the answer arrived), then quiet.
        let _ = woke.recv_timeout(RETRY * 2);
        assert!(woke.recv_timeout(RETRY * 8).is_err(), "still waking");
    }
}
