//! One `natter` process and its window, driven like a person would: clicks
//! on the controls it drew, typing, the clipboard, keys; its state dump
//! read back (refreshed with F12) to wait for what a step expects.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::desktop::{cpu_secs, x11, xdotool_output, Xvfb};
use crate::dump::{centre, layout};
use crate::{PASSWORD, PATIENCE, POLL};

/// How long an idle window's CPU use is measured for.
const IDLE_WINDOW: Duration = Duration::from_secs(4);

/// One `natter` process and its window.
pub struct Gui {
    name: &'static str,
    child: Child,
    display: String,
    /// The X11 window's id.
    pub window: u32,
    dump: PathBuf,
    shot: PathBuf,
    log: PathBuf,
}

impl Gui {
    /// Starts `natter` for `name` with the login form prefilled, its own
    /// cache, home and known-servers file, and finds its window (the one
    /// that is not in `others`).
    pub fn launch(
        name: &'static str,
        xvfb: &Xvfb,
        work: &Path,
        server: &str,
        known_servers: &Path,
        others: &[u32],
        env: &[(&str, &str)],
    ) -> Gui {
        let home = work.join(format!("{name}-home"));
        std::fs::create_dir_all(&home).expect("home dir");
        let log = work.join(format!("{name}.log"));
        let stdout = std::fs::File::create(&log).expect("log file");
        let stderr = stdout.try_clone().expect("log file");
        let display = format!(":{}", xvfb.display);
        let dump = work.join(format!("{name}.json"));
        let shot = work.join(format!("{name}-shot.png"));
        let child = natter_command(name, &home, &display, &dump, &shot)
            .env("NATTER_SERVER", server)
            .env("NATTER_KNOWN_SERVERS", known_servers)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("start natter");
        let mut gui = Gui {
            name,
            child,
            display,
            window: 0,
            dump,
            shot,
            log,
        };
        gui.window = gui.find_window(others);
        // Keys go to the window under the pointer: keep it inside.
        gui.xdotool(&[
            "mousemove",
            "--window",
            &gui.window.to_string(),
            "600",
            "20",
        ]);
        gui
    }

    /// The program's window: the one of its pid that is not in `others`.
    fn find_window(&mut self, others: &[u32]) -> u32 {
        // natter marks its window with its pid (_NET_WM_PID).
        let pid = self.child.id().to_string();
        let deadline = Instant::now() + PATIENCE;
        loop {
            self.assert_running();
            let found = xdotool_output(&self.display, &["search", "--pid", &pid]);
            if let Some(w) = found
                .lines()
                .filter_map(|l| l.trim().parse::<u32>().ok())
                .find(|w| !others.contains(w))
            {
                return w;
            }
            let name = self.name;
            assert!(Instant::now() < deadline, "{name}'s window never appeared");
            std::thread::sleep(POLL);
        }
    }

    /// The window's title as the window manager reads it
    /// (`_NET_WM_NAME`, and `WM_NAME` for older ones), through `xprop`.
    fn titles(&self) -> Option<(String, String)> {
        let out = Command::new("xprop")
            .env("DISPLAY", &self.display)
            .env("LC_ALL", "C.UTF-8")
            .args(["-id", &self.window.to_string(), "_NET_WM_NAME", "WM_NAME"])
            .output()
            .expect("run xprop");
        let text = String::from_utf8_lossy(&out.stdout);
        let value = |name: &str| {
            text.lines()
                .find(|l| l.starts_with(&format!("{name}(")))
                .and_then(|l| l.split_once(" = "))
                .map(|(_, v)| v.trim().trim_matches('"').to_owned())
        };
        Some((value("_NET_WM_NAME")?, value("WM_NAME")?))
    }

    /// Waits until the window is called `title`.
    pub fn wait_for_title(&mut self, title: &str) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let titles = self.titles();
            if titles == Some((title.to_owned(), title.to_owned())) {
                return;
            }
            self.assert_running();
            assert!(
                Instant::now() < deadline,
                "{}: the window title stayed {titles:?}, not {title:?}",
                self.name
            );
            std::thread::sleep(POLL);
        }
    }

    /// Waits until the program has used less than `percent` of a core
    /// over a [`IDLE_WINDOW`] with no input: an idle window sleeps.
    pub fn wait_until_idle(&mut self, percent: f64) {
        let deadline = Instant::now() + PATIENCE;
        let mut last = f64::NAN;
        while Instant::now() < deadline {
            self.assert_running();
            let before = cpu_secs(self.child.id());
            let started = Instant::now();
            std::thread::sleep(IDLE_WINDOW);
            let used = cpu_secs(self.child.id()) - before;
            last = used / started.elapsed().as_secs_f64() * 100.0;
            if last < percent {
                return;
            }
        }
        panic!(
            "{}: an idle window still uses {last:.1}% of a core",
            self.name
        );
    }

    /// Panics (with the program's log) if it has exited.
    fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "{}'s natter exited ({status}):\n{}",
                self.name,
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
    }

    /// Runs `xdotool` on this window's display, with the window raised
    /// first: the two windows overlap, and without a window manager the
    /// keyboard goes to the window under the pointer.
    fn xdotool(&self, args: &[&str]) {
        let window = self.window.to_string();
        let mut all = vec!["windowraise", &window];
        all.extend_from_slice(args);
        let status = Command::new("xdotool")
            .env("DISPLAY", &self.display)
            .args(&all)
            .status()
            .expect("run xdotool");
        assert!(status.success(), "xdotool {all:?} failed: {status}");
    }

    /// Where the window's top-left corner is on the screen.
    pub fn origin(&self) -> (i64, i64) {
        let window = self.window.to_string();
        let out = xdotool_output(&self.display, &["getwindowgeometry", "--shell", &window]);
        let value = |key: &str| {
            out.lines()
                .find_map(|l| l.strip_prefix(key)?.parse().ok())
                .unwrap_or_else(|| panic!("no {key} in {out:?}"))
        };
        (value("X="), value("Y="))
    }

    /// Presses a key (`Return`, `F12`, `ctrl+v`...).
    pub fn key(&self, key: &str) {
        self.xdotool(&["key", key]);
    }

    /// Types ASCII text, key by key.
    pub fn type_text(&self, text: &str) {
        self.xdotool(&["type", "--delay", "15", "--", text]);
    }

    /// Puts `text` on the clipboard and pastes it with Ctrl+V (xdotool
    /// types CJK unreliably; the app has no input method anyway).
    pub fn paste(&self, text: &str) {
        let mut xclip = Command::new("xclip")
            .env("DISPLAY", &self.display)
            .args(["-selection", "clipboard", "-i"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run xclip");
        xclip
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .expect("feed xclip");
        // xclip forks a child that serves the selection; the parent ends.
        assert!(xclip.wait().expect("xclip").success());
        // Paste only once the selection is really served.
        let deadline = Instant::now() + PATIENCE;
        loop {
            let out = Command::new("xclip")
                .env("DISPLAY", &self.display)
                .args(["-selection", "clipboard", "-o"])
                .stderr(Stdio::null())
                .output()
                .expect("run xclip -o");
            if out.stdout == text.as_bytes() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the clipboard never held {text:?}"
            );
            std::thread::sleep(POLL);
        }
        self.key("ctrl+v");
    }

    /// Moves the pointer to the middle of `rect` (a layout rectangle).
    pub fn point_at(&self, rect: [f64; 4]) {
        let (x, y) = centre(rect);
        self.xdotool(&["mousemove", "--window", &self.window.to_string(), &x, &y]);
    }

    /// Clicks the control the last frame drew under `control`.
    pub fn click(&mut self, control: &str) {
        let rect = self.wait_for(&format!("control {control:?} on screen"), |d| {
            layout(d, control)
        });
        let (x, y) = centre(rect);
        let window = self.window.to_string();
        self.xdotool(&["mousemove", "--window", &window, &x, &y, "click", "1"]);
    }

    /// Shares `path` through the share sheet that `button` opens, typing
    /// the path into its field.
    pub fn share(&mut self, button: &str, path: &Path) {
        self.click(button);
        self.click("share:path_field");
        self.type_text(path.to_str().expect("UTF-8 temp path"));
        self.key("Return");
        self.wait_for("the share sheet closed", |d| {
            layout(d, "share:path_field").is_none().then_some(())
        });
    }

    /// The last state dump written, if any.
    fn read_dump(&self) -> Option<Value> {
        let text = std::fs::read_to_string(&self.dump).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Asks for a fresh dump (F12) until `check` finds what it wants in
    /// one, within [`PATIENCE`].
    pub fn wait_for<T>(&mut self, what: &str, mut check: impl FnMut(&Value) -> Option<T>) -> T {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let last = self.read_dump();
            if let Some(found) = last.as_ref().and_then(&mut check) {
                return found;
            }
            if Instant::now() > deadline {
                // What the screen showed, from outside (the app may hang).
                let screen = Path::new(env!("CARGO_TARGET_TMPDIR")).join("gui-failure.png");
                let _ = Command::new("import")
                    .args(["-display", &self.display, "-window", "root"])
                    .arg(&screen)
                    .status();
                panic!(
                    "{}: timed out waiting for {what} (screen: {}); last dump:\n{}\nlog:\n{}",
                    self.name,
                    screen.display(),
                    last.map(|d| serde_json::to_string_pretty(&d).unwrap())
                        .unwrap_or_else(|| "(none)".into()),
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            self.assert_running();
            self.key("F12");
            std::thread::sleep(POLL);
        }
    }

    /// Takes a screenshot (F11) and copies it to `to`.
    pub fn screenshot(&self, to: &Path) {
        let _ = std::fs::remove_file(&self.shot);
        self.key("F11");
        let deadline = Instant::now() + PATIENCE;
        while !self.shot.exists() {
            assert!(
                Instant::now() < deadline,
                "{}: no screenshot for {}",
                self.name,
                to.display()
            );
            std::thread::sleep(POLL);
        }
        std::fs::copy(&self.shot, to).expect("copy the screenshot");
    }

    /// Asks the window to close (as a window manager would) and waits for
    /// the program to end. What it logged goes to the test's output.
    pub fn close(mut self) -> ExitStatus {
        x11::request_close(&self.display, self.window).expect("send WM_DELETE_WINDOW");
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for natter") {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                if !log.trim().is_empty() {
                    eprintln!("{}'s natter logged:\n{log}", self.name);
                }
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{}'s natter did not quit",
                self.name
            );
            std::thread::sleep(POLL);
        }
    }
}

/// `natter` on `display` for `name`, with the login form prefilled and
/// its own home, cache, state dump (`dump`) and screenshot file (`shot`).
fn natter_command(name: &str, home: &Path, display: &str, dump: &Path, shot: &Path) -> Command {
    let mut natter = Command::new(env!("CARGO_BIN_EXE_natter"));
    natter
        .env("DISPLAY", display)
        .env_remove("XAUTHORITY")
        .env_remove("WAYLAND_DISPLAY")
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_CACHE_HOME", home.join("cache"))
        // No desktop portal: the share sheet falls back to a typed path
        // at once (and no dialog opens on a developer's own desktop).
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            format!("unix:path={}", home.join("no-bus").display()),
        )
        .env("NATTER_USER", name)
        .env("NATTER_PASSWORD", PASSWORD)
        .env("NATTER_CACHE_DIR", home.join("media"))
        .env("NATTER_STATE_DUMP", dump)
        .env("NATTER_STATE_DUMP_AUTO", "1")
        .env("NATTER_SCREENSHOT", shot)
        .env("RUST_LOG", "warn");
    natter
}

impl Drop for Gui {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
