//! Natter's own connection to the X server, beside miniquad's (which
//! offers no way to rename the window or to wake its event loop from
//! another thread): finds the window miniquad opened, names it, and wakes
//! it.
//!
//! Everything here may fail (no `DISPLAY`, a Wayland session without
//! XWayland, an X server that refuses us): then [`X11Window::find`] gives
//! `None`, the window keeps its first title and never sleeps. Failures are
//! logged at debug level only.

use std::time::{Duration, Instant};

use x11rb::connection::Connection;
use x11rb::protocol::xproto::{
    self, AtomEnum, ConnectionExt as _, EventMask, MotionNotifyEvent, PropMode, Window,
};
use x11rb::rust_connection::RustConnection;
use x11rb::wrapper::ConnectionExt as _;

/// How deep under the root window to look for ours (a reparenting window
/// manager puts it inside its frame).
const SEARCH_DEPTH: usize = 3;

/// The atoms this module writes.
struct Atoms {
    utf8_string: u32,
    net_wm_name: u32,
    net_wm_pid: u32,
}

/// Our window, reached through our own connection.
pub struct X11Window {
    conn: RustConnection,
    window: Window,
    root: Window,
    atoms: Atoms,
}

impl std::fmt::Debug for X11Window {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("X11Window")
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

impl X11Window {
    /// Connects to `$DISPLAY` and finds the window whose `WM_NAME` is
    /// `start_title` (unique to this process), giving up after `patience`
    /// (the window may not be mapped yet on the first frame). Marks it with
    /// our pid (`_NET_WM_PID`), as other programs expect.
    pub fn find(start_title: &str, patience: Duration) -> Option<Self> {
        std::env::var_os("DISPLAY")?;
        let (conn, screen) = RustConnection::connect(None)
            .map_err(|e| tracing::debug!(error = %e, "no X11 connection for the window title"))
            .ok()?;
        let root = conn.setup().roots.get(screen)?.root;
        let deadline = Instant::now() + patience;
        let window = loop {
            if let Some(w) = search(&conn, root, start_title.as_bytes(), SEARCH_DEPTH) {
                break w;
            }
            if Instant::now() >= deadline {
                tracing::debug!("natter's X11 window was not found");
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let atoms = Atoms {
            utf8_string: atom(&conn, "UTF8_STRING")?,
            net_wm_name: atom(&conn, "_NET_WM_NAME")?,
            net_wm_pid: atom(&conn, "_NET_WM_PID")?,
        };
        let found = Self {
            conn,
            window,
            root,
            atoms,
        };
        let pid = std::process::id();
        let _ = found.conn.change_property32(
            PropMode::REPLACE,
            window,
            found.atoms.net_wm_pid,
            AtomEnum::CARDINAL,
            &[pid],
        );
        let _ = found.conn.flush();
        Some(found)
    }

    /// Sets the title the window manager, the task bar and `xprop` show:
    /// `_NET_WM_NAME` and `WM_NAME`, both UTF-8.
    pub fn set_title(&self, title: &str) {
        let result = (|| -> Result<(), x11rb::errors::ConnectionError> {
            for property in [self.atoms.net_wm_name, AtomEnum::WM_NAME.into()] {
                self.conn.change_property8(
                    PropMode::REPLACE,
                    self.window,
                    property,
                    self.atoms.utf8_string,
                    title.as_bytes(),
                )?;
            }
            self.conn.flush()
        })();
        if let Err(e) = result {
            tracing::debug!(error = %e, "could not set the window title");
        }
    }

    /// A point of the window in root-window (screen) coordinates.
    pub fn to_root(&self, x: i16, y: i16) -> Option<(i16, i16)> {
        let reply = self
            .conn
            .translate_coordinates(self.window, self.root, x, y)
            .ok()?
            .reply()
            .map_err(|e| tracing::debug!(error = %e, "could not translate coordinates"))
            .ok()?;
        Some((reply.dst_x, reply.dst_y))
    }

    /// Wakes miniquad's event loop when it sleeps. Its loop only draws
    /// after an input event that macroquad counts as one (and only its own
    /// thread may ask it to draw), so this sends the window a pointer
    /// motion to where the pointer really is: it moves nothing.
    pub fn wake(&self) {
        let result = (|| -> Result<(), Box<dyn std::error::Error>> {
            let pointer = self.conn.query_pointer(self.window)?.reply()?;
            let motion = MotionNotifyEvent {
                response_type: xproto::MOTION_NOTIFY_EVENT,
                detail: xproto::Motion::NORMAL,
                sequence: 0,
                time: x11rb::CURRENT_TIME,
                root: pointer.root,
                event: self.window,
                child: x11rb::NONE,
                root_x: pointer.root_x,
                root_y: pointer.root_y,
                event_x: pointer.win_x,
                event_y: pointer.win_y,
                state: pointer.mask,
                same_screen: pointer.same_screen,
            };
            // An empty mask: to the client that made the window, miniquad.
            self.conn
                .send_event(false, self.window, EventMask::NO_EVENT, motion)?;
            self.conn.flush()?;
            Ok(())
        })();
        if let Err(e) = result {
            tracing::debug!(error = %e, "could not wake the window");
        }
    }
}

fn atom(conn: &RustConnection, name: &str) -> Option<u32> {
    Some(
        conn.intern_atom(false, name.as_bytes())
            .ok()?
            .reply()
            .ok()?
            .atom,
    )
}

/// The first window under `parent` (depth first, at most `depth` levels)
/// whose `WM_NAME` is `name`.
fn search(conn: &RustConnection, parent: Window, name: &[u8], depth: usize) -> Option<Window> {
    let children = conn.query_tree(parent).ok()?.reply().ok()?.children;
    for &child in children.iter().rev() {
        let title = conn
            .get_property(false, child, AtomEnum::WM_NAME, AtomEnum::ANY, 0, 64)
            .ok()
            .and_then(|c| c.reply().ok());
        if title.is_some_and(|t| t.value == name) {
            return Some(child);
        }
    }
    if depth > 1 {
        for &child in children.iter().rev() {
            if let Some(found) = search(conn, child, name, depth - 1) {
                return Some(found);
            }
        }
    }
    None
}
