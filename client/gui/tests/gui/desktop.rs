//! The desktop the windows live on: a private Xvfb display, just enough of
//! the X11 protocol to close a window politely, the tools the test drives
//! it with, and where the screenshots go.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{PATIENCE, POLL};

/// The tools the test drives the windows with.
const TOOLS: [&str; 7] = [
    "Xvfb",
    "xdotool",
    "xclip",
    "xprop",
    "dbus-run-session",
    "ibus-daemon",
    "ibus",
];
/// The Debian packages that bring them (and what the windows need).
pub const PACKAGES: &str = "xvfb xauth libxkbcommon0 libxi6 libgl1 libegl1 xdotool imagemagick \
                            fonts-wqy-microhei xclip x11-utils dbus-daemon ibus ibus-libpinyin";

/// The tools that are not on `PATH`.
pub fn missing_tools() -> Vec<&'static str> {
    TOOLS.into_iter().filter(|t| !on_path(t)).collect()
}

/// A private X server, stopped when dropped.
pub struct Xvfb {
    pub display: u32,
    child: Child,
}

impl Xvfb {
    /// Starts `Xvfb` on the first free display of :90..:120 (Xvfb itself
    /// refuses one in use, and clears what a crashed server left).
    pub fn start(work: &Path) -> Xvfb {
        for display in 90..120u32 {
            let socket = PathBuf::from(format!("/tmp/.X11-unix/X{display}"));
            let lock = std::fs::read_to_string(format!("/tmp/.X{display}-lock"));
            if lock.is_ok_and(|pid| Path::new(&format!("/proc/{}", pid.trim())).exists()) {
                continue;
            }
            let log = std::fs::File::create(work.join("xvfb.log")).expect("xvfb log");
            let mut child = Command::new("Xvfb")
                .arg(format!(":{display}"))
                // -noreset: the server must not reset (and drop new
                // connections for a moment) whenever its last client leaves.
                .args([
                    "-screen",
                    "0",
                    "1280x800x24",
                    "-nolisten",
                    "tcp",
                    "-noreset",
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("start Xvfb");
            let deadline = Instant::now() + PATIENCE;
            loop {
                if socket.exists() && x11::connect(&format!(":{display}")).is_ok() {
                    return Xvfb { display, child };
                }
                if child.try_wait().expect("Xvfb status").is_some() {
                    break; // taken meanwhile: try the next one
                }
                assert!(Instant::now() < deadline, "Xvfb :{display} did not start");
                std::thread::sleep(POLL);
            }
        }
        panic!("no free X display in :90..:120");
    }
}

impl Drop for Xvfb {
    /// Stops the server with SIGTERM, so it removes its socket and lock
    /// file (SIGKILL would leave them behind).
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        reap(&mut self.child);
    }
}

/// Waits a few seconds for `child`, asked to stop, to exit; then kills it.
pub fn reap(child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(POLL);
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Just enough of the X11 protocol to close a window politely.
pub mod x11 {
    use std::io::{self, Read, Write};
    use std::os::unix::net::UnixStream;
    use std::time::Duration;

    /// Sends `window` a `WM_PROTOCOLS` / `WM_DELETE_WINDOW` client message,
    /// as a window manager does when its close button is pressed, and
    /// waits until the X server has handled it.
    pub fn request_close(display: &str, window: u32) -> io::Result<()> {
        let mut x = connect(display)?;
        let protocols = intern_atom(&mut x, "WM_PROTOCOLS")?;
        let delete = intern_atom(&mut x, "WM_DELETE_WINDOW")?;
        // SendEvent, no propagation, empty mask: to the window's owner.
        let mut request = vec![25u8, 0];
        request.extend(11u16.to_le_bytes());
        request.extend(window.to_le_bytes());
        request.extend(0u32.to_le_bytes());
        // The ClientMessage event (format 32): protocol atom, CurrentTime.
        request.extend([33u8, 32, 0, 0]);
        request.extend(window.to_le_bytes());
        request.extend(protocols.to_le_bytes());
        request.extend(delete.to_le_bytes());
        request.extend([0u8; 16]);
        x.write_all(&request)?;
        // GetInputFocus: its reply comes after any error SendEvent caused.
        x.write_all(&[43, 0, 1, 0])?;
        read_reply(&mut x).map(|_| ())
    }

    /// A connection to `display` (`:N`) past the setup handshake: proof
    /// that the server is up and serving clients.
    pub fn connect(display: &str) -> io::Result<UnixStream> {
        let number = display.trim_start_matches(':');
        let mut x = UnixStream::connect(format!("/tmp/.X11-unix/X{number}"))?;
        x.set_read_timeout(Some(Duration::from_secs(10)))?;
        // Setup: little-endian, protocol 11.0, no authorisation data.
        x.write_all(&[b'l', 0, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0])?;
        let mut head = [0u8; 8];
        x.read_exact(&mut head)?;
        let mut rest = vec![0u8; u16::from_le_bytes([head[6], head[7]]) as usize * 4];
        x.read_exact(&mut rest)?;
        if head[0] != 1 {
            let reason = &rest[..(head[1] as usize).min(rest.len())];
            return Err(io::Error::other(format!(
                "the X server refused the connection: {}",
                String::from_utf8_lossy(reason)
            )));
        }
        Ok(x)
    }

    fn intern_atom(x: &mut UnixStream, name: &str) -> io::Result<u32> {
        let padded = name.len().div_ceil(4) * 4;
        let mut request = vec![16u8, 0];
        request.extend((2 + padded as u16 / 4).to_le_bytes());
        request.extend((name.len() as u16).to_le_bytes());
        request.extend([0u8, 0]);
        request.extend(name.as_bytes());
        request.resize(8 + padded, 0);
        x.write_all(&request)?;
        let reply = read_reply(x)?;
        Ok(u32::from_le_bytes([
            reply[8], reply[9], reply[10], reply[11],
        ]))
    }

    /// The next reply, skipping events; an X error becomes an `Err`.
    fn read_reply(x: &mut UnixStream) -> io::Result<Vec<u8>> {
        loop {
            let mut packet = vec![0u8; 32];
            x.read_exact(&mut packet)?;
            match packet[0] {
                0 => {
                    return Err(io::Error::other(format!(
                        "X error {} (request {})",
                        packet[1], packet[10]
                    )))
                }
                1 => {
                    let extra =
                        u32::from_le_bytes([packet[4], packet[5], packet[6], packet[7]]) as usize;
                    let mut more = vec![0u8; extra * 4];
                    x.read_exact(&mut more)?;
                    packet.extend(more);
                    return Ok(packet);
                }
                _ => continue,
            }
        }
    }
}

/// Where the screenshots go: the repository's `docs/screenshots/` when
/// updating them, else a directory under `target/`.
pub fn screenshot_dir() -> PathBuf {
    let dir = if std::env::var_os("NATTER_UPDATE_SCREENSHOTS").is_some_and(|v| v == "1") {
        let client = Path::new(env!("CARGO_MANIFEST_DIR"));
        client
            .ancestors()
            .nth(2)
            .expect("workspace")
            .join("docs/screenshots")
    } else {
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("gui-screenshots")
    };
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

/// CPU seconds (user + system) process `pid` used so far.
pub fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("process stat");
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .expect("stat format")
        .1
        .split_whitespace()
        .collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

/// Whether `tool` is an executable on `PATH`.
fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()))
}

/// What `xdotool` prints (empty when it finds nothing).
pub fn xdotool_output(display: &str, args: &[&str]) -> String {
    let out = Command::new("xdotool")
        .env("DISPLAY", display)
        .args(args)
        .output()
        .expect("run xdotool");
    String::from_utf8_lossy(&out.stdout).into_owned()
}
