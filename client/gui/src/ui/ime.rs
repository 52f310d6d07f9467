//! Input methods over D-Bus: IBus (and fcitx5, which serves the same
//! interface through its IBus frontend), the way toolkits without XIM talk
//! to them. miniquad reads keys with no input method, so while the
//! composer has focus its keys go here first: an input context on the
//! input method's bus gets each one (`ProcessKeyEvent`); what it does not
//! consume comes back to the composer in order; what it commits is
//! inserted; its preedit is drawn at the caret.
//!
//! Everything runs on one thread with its own small tokio runtime. With no
//! input method (no `IBUS_ADDRESS` and no IBus address file for this
//! display) [`Ime::start`] gives `None` and keys go straight to the
//! composer, as before; failures are logged at debug level only.

pub mod lookup;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};

use futures_lite::StreamExt as _;
use macroquad::miniquad::KeyCode;
use zbus::zvariant::{OwnedObjectPath, OwnedValue, Structure};

use crate::app::wake::Wakeup;
use crate::ui::widgets::Key;

const IBUS: &str = "org.freedesktop.IBus";
const IBUS_PATH: &str = "/org/freedesktop/IBus";
const CONTEXT: &str = "org.freedesktop.IBus.InputContext";
/// IBus capabilities: preedit text and focus.
const CAPABILITIES: u32 = 1 | 8;
/// IBus capability: the client draws the lookup table (candidates).
const CAP_LOOKUP_TABLE: u32 = 4;
/// The bus name of IBus's panel, which draws candidate windows.
const PANEL: &str = "org.freedesktop.IBus.Panel";
/// IBus's modifier bits.
const SHIFT_MASK: u32 = 1;
const RELEASE_MASK: u32 = 1 << 30;

/// What the input method tells the frame loop, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum ImeEvent {
    /// A key it did not consume: the composer's.
    Pass(Key),
    /// A key it consumed.
    Consumed,
    /// Text to insert at the caret.
    Commit(String),
    /// The candidates to draw (none: hide them).
    Candidates(Option<lookup::Candidates>),
    /// The text being composed (empty: none), with the cursor in chars.
    Preedit { text: String, cursor: usize },
}

/// What the frame loop asks of the input method thread.
#[derive(Debug, Clone, PartialEq)]
enum Request {
    /// A key for the input method.
    Key(Key),
    /// The caret's rectangle on the screen (root-window coordinates).
    Caret(CaretRect),
}

/// A rectangle on the screen, as `SetCursorLocation` takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaretRect {
    pub x: i32,
    pub y: i32,
    pub w: i32,
    pub h: i32,
}

/// The frame loop's handle on the input method thread.
pub struct Ime {
    keys: tokio::sync::mpsc::UnboundedSender<Request>,
    events: mpsc::Receiver<ImeEvent>,
    ready: Arc<AtomicBool>,
    /// Keys sent and not answered yet.
    in_flight: usize,
    /// What is being composed, and its cursor.
    pub preedit: Option<(String, usize)>,
    /// The caret rectangle last reported.
    caret: Option<CaretRect>,
    /// The candidates to draw, when no panel draws them.
    pub candidates: Option<lookup::Candidates>,
}

impl std::fmt::Debug for Ime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ime")
            .field("ready", &self.ready())
            .field("preedit", &self.preedit)
            .finish_non_exhaustive()
    }
}

impl Ime {
    /// Connects to the user's input method, if there is one.
    pub fn start(wakeup: Wakeup) -> Option<Self> {
        let address = address()?;
        let (keys, keys_rx) = tokio::sync::mpsc::unbounded_channel();
        let (events_tx, events) = mpsc::channel();
        let ready = Arc::new(AtomicBool::new(false));
        let ready_flag = ready.clone();
        let spawned = std::thread::Builder::new()
            .name("natter-ime".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(e) => return tracing::debug!(error = %e, "no runtime for the input method"),
                };
                let out = Out {
                    tx: events_tx,
                    wakeup,
                };
                if let Err(e) = runtime.block_on(serve(&address, keys_rx, &out, &ready_flag)) {
                    tracing::debug!(error = %e, "input method unavailable");
                }
                ready_flag.store(false, Ordering::SeqCst);
            });
        spawned.ok()?;
        Some(Self {
            keys,
            events,
            ready,
            in_flight: 0,
            preedit: None,
            caret: None,
            candidates: None,
        })
    }

    /// Whether keys should go to the input method now.
    pub fn ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    /// Whether `key` goes to the input method: typed characters always;
    /// editing keys while something is being composed, or while earlier
    /// keys are still on their way (so order is kept).
    pub fn wants(&self, key: &Key) -> bool {
        match key {
            Key::Char(_) => true,
            Key::Down { code, ctrl, .. } => {
                !ctrl && keysym(code).is_some() && (self.preedit.is_some() || self.in_flight > 0)
            }
        }
    }

    /// Hands a key to the input method.
    pub fn send(&mut self, key: Key) {
        if self.keys.send(Request::Key(key)).is_ok() {
            self.in_flight += 1;
        }
    }

    /// The caret rectangle last reported, as `[x, y, w, h]`.
    pub fn caret(&self) -> Option<[i32; 4]> {
        self.caret.map(|c| [c.x, c.y, c.w, c.h])
    }

    /// Tells the input method where the caret is on the screen, so its
    /// candidate window opens beside it (only when it moved).
    pub fn set_caret(&mut self, caret: CaretRect) {
        if self.caret != Some(caret) && self.keys.send(Request::Caret(caret)).is_ok() {
            self.caret = Some(caret);
        }
    }

    /// The next thing the input method said, with the preedit kept here.
    pub fn next_event(&mut self) -> Option<ImeEvent> {
        let event = self.events.try_recv().ok()?;
        match &event {
            ImeEvent::Pass(_) | ImeEvent::Consumed => {
                self.in_flight = self.in_flight.saturating_sub(1);
            }
            ImeEvent::Preedit { text, cursor } => {
                self.preedit = (!text.is_empty()).then(|| (text.clone(), *cursor));
            }
            ImeEvent::Candidates(candidates) => self.candidates = candidates.clone(),
            ImeEvent::Commit(_) => {}
        }
        Some(event)
    }
}

/// The address of the IBus bus: `IBUS_ADDRESS`, else the file IBus writes
/// for this display under `~/.config/ibus/bus/`.
fn address() -> Option<String> {
    if let Ok(address) = std::env::var("IBUS_ADDRESS") {
        return Some(address);
    }
    let display = std::env::var("DISPLAY").ok()?;
    let number = display.rsplit(':').next()?.split('.').next()?.to_owned();
    let machine = std::fs::read_to_string("/etc/machine-id")
        .or_else(|_| std::fs::read_to_string("/var/lib/dbus/machine-id"))
        .ok()?;
    let dir = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?
        .join("ibus/bus");
    let file = std::fs::read_dir(dir).ok()?.flatten().find(|e| {
        let name = e.file_name().to_string_lossy().into_owned();
        name.starts_with(machine.trim()) && name.ends_with(&format!("-{number}"))
    })?;
    std::fs::read_to_string(file.path())
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("IBUS_ADDRESS=").map(str::to_owned))
}

/// Where the thread's reports go.
struct Out {
    tx: mpsc::Sender<ImeEvent>,
    wakeup: Wakeup,
}

impl Out {
    fn send(&self, event: ImeEvent) {
        if self.tx.send(event).is_ok() {
            self.wakeup.wake();
        }
    }
}

/// Creates an input context and feeds it keys until the frame loop goes.
async fn serve(
    address: &str,
    mut keys: tokio::sync::mpsc::UnboundedReceiver<Request>,
    out: &Out,
    ready: &AtomicBool,
) -> zbus::Result<()> {
    let conn = zbus::connection::Builder::address(address)?.build().await?;
    let mut incoming = zbus::MessageStream::from(&conn);
    let reply = conn
        .call_method(
            Some(IBUS),
            IBUS_PATH,
            Some(IBUS),
            "CreateInputContext",
            &("natter",),
        )
        .await?;
    let context: OwnedObjectPath = reply.body().deserialize()?;
    let call = |method: &'static str| {
        let conn = conn.clone();
        let context = context.clone();
        async move {
            conn.call_method(Some(IBUS), &context, Some(CONTEXT), method, &())
                .await
        }
    };
    conn.call_method(
        Some(IBUS),
        &context,
        Some(CONTEXT),
        "SetCapabilities",
        &(capabilities(&conn).await,),
    )
    .await?;
    call("FocusIn").await?;
    ready.store(true, Ordering::SeqCst);
    tracing::debug!(%context, "input method ready");
    let mut composing = false;
    loop {
        tokio::select! {
            request = keys.recv() => {
                let key = match request {
                    None => return Ok(()),
                    Some(Request::Caret(caret)) => {
                        set_cursor_location(&conn, &context, caret).await?;
                        continue;
                    }
                    Some(Request::Key(key)) => key,
                };
                let consumed = match to_ibus(&key) {
                    Some((keyval, keycode, state)) if composing || matches!(key, Key::Char(_)) => {
                        let reply = conn.call_method(Some(IBUS), &context, Some(CONTEXT),
                            "ProcessKeyEvent", &(keyval, keycode, state)).await?;
                        let consumed: bool = reply.body().deserialize()?;
                        conn.call_method(Some(IBUS), &context, Some(CONTEXT),
                            "ProcessKeyEvent", &(keyval, keycode, state | RELEASE_MASK)).await?;
                        consumed
                    }
                    _ => false,
                };
                // Signals sent before the reply are queued already: report
                // them first, so a commit lands before the next key.
                while let Some(Some(Ok(message))) = futures_lite::future::poll_once(incoming.next()).await {
                    handle_signal(&message, out, &mut composing);
                }
                out.send(if consumed { ImeEvent::Consumed } else { ImeEvent::Pass(key) });
            }
            message = incoming.next() => {
                match message {
                    Some(Ok(message)) => handle_signal(&message, out, &mut composing),
                    Some(Err(e)) => tracing::debug!(error = %e, "input method message"),
                    None => return Ok(()),
                }
            }
        }
    }
}

/// What the input context is told the client can do: with no panel to
/// show candidate windows, the client draws the lookup table itself.
async fn capabilities(conn: &zbus::Connection) -> u32 {
    let panel = conn
        .call_method(
            Some("org.freedesktop.DBus"),
            "/org/freedesktop/DBus",
            Some("org.freedesktop.DBus"),
            "NameHasOwner",
            &(PANEL,),
        )
        .await
        .and_then(|reply| reply.body().deserialize::<bool>())
        .unwrap_or(false);
    tracing::debug!(panel, "input method panel");
    if panel {
        CAPABILITIES
    } else {
        CAPABILITIES | CAP_LOOKUP_TABLE
    }
}

/// Reports the caret's screen rectangle to the input context.
async fn set_cursor_location(
    conn: &zbus::Connection,
    context: &OwnedObjectPath,
    caret: CaretRect,
) -> zbus::Result<()> {
    let CaretRect { x, y, w, h } = caret;
    tracing::debug!(x, y, w, h, "caret location for the input method");
    conn.call_method(
        Some(IBUS),
        context,
        Some(CONTEXT),
        "SetCursorLocation",
        &(x, y, w, h),
    )
    .await?;
    Ok(())
}

/// Turns the input context's signals into events.
fn handle_signal(message: &zbus::Message, out: &Out, composing: &mut bool) {
    if message.message_type() != zbus::message::Type::Signal {
        return;
    }
    // Not `message.header()`: IBus signs its signals with a well-known name
    // as the sender, which zbus's header panics on.
    let bytes: &[u8] = message.data();
    if header_string(bytes, INTERFACE_FIELD).as_deref() != Some(CONTEXT) {
        return;
    }
    let body = message.body();
    match header_string(bytes, MEMBER_FIELD).as_deref() {
        Some("CommitText") => {
            if let Some(text) = body.deserialize::<OwnedValue>().ok().and_then(ibus_text) {
                out.send(ImeEvent::Commit(text));
            }
        }
        Some("UpdatePreeditText") => {
            if let Ok((text, cursor, visible)) = body.deserialize::<(OwnedValue, u32, bool)>() {
                let text = ibus_text(text).filter(|_| visible).unwrap_or_default();
                *composing = !text.is_empty();
                out.send(ImeEvent::Preedit {
                    text,
                    cursor: cursor as usize,
                });
            }
        }
        Some("UpdateLookupTable") => {
            if let Ok((table, visible)) = body.deserialize::<(OwnedValue, bool)>() {
                let candidates = lookup::parse(&table).filter(|c| visible && !c.items.is_empty());
                out.send(ImeEvent::Candidates(candidates));
            }
        }
        Some("HideLookupTable") => out.send(ImeEvent::Candidates(None)),
        Some("HidePreeditText") => {
            *composing = false;
            out.send(ImeEvent::Preedit {
                text: String::new(),
                cursor: 0,
            });
        }
        _ => {}
    }
}

/// Header field codes (D-Bus specification, "Header Fields").
const INTERFACE_FIELD: u8 = 2;
const MEMBER_FIELD: u8 = 3;

/// A string field of a serialised D-Bus message's header (`None` if absent
/// or malformed).
fn header_string(bytes: &[u8], code: u8) -> Option<String> {
    let little = *bytes.first()? == b'l';
    let u32_at = |at: usize| -> Option<u32> {
        let b: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
        Some(if little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    };
    let fields_len = u32_at(12)? as usize;
    let end = 16 + fields_len;
    let mut at = 16;
    while at < end {
        at = at.next_multiple_of(8);
        let field = *bytes.get(at)?;
        let sig_len = *bytes.get(at + 1)? as usize;
        let sig = bytes.get(at + 2..at + 2 + sig_len)?;
        at += 2 + sig_len + 1;
        match sig {
            b"s" | b"o" => {
                at = at.next_multiple_of(4);
                let len = u32_at(at)? as usize;
                let value = bytes.get(at + 4..at + 4 + len)?;
                if field == code {
                    return String::from_utf8(value.to_vec()).ok();
                }
                at += 4 + len + 1;
            }
            b"g" => {
                let len = *bytes.get(at)? as usize;
                at += 1 + len + 1;
            }
            b"u" => at = at.next_multiple_of(4) + 4,
            _ => return None,
        }
    }
    None
}

/// The string of an `IBusText` (a variant holding `(sa{sv}sv)`).
fn ibus_text(value: OwnedValue) -> Option<String> {
    let structure = Structure::try_from(value).ok()?;
    let text = structure.fields().get(2)?;
    <&str>::try_from(text).ok().map(str::to_owned)
}

/// The X keysym of an editing key the input method may use.
fn keysym(code: &KeyCode) -> Option<u32> {
    Some(match code {
        KeyCode::Enter | KeyCode::KpEnter => 0xff0d,
        KeyCode::Backspace => 0xff08,
        KeyCode::Escape => 0xff1b,
        KeyCode::Left => 0xff51,
        KeyCode::Up => 0xff52,
        KeyCode::Right => 0xff53,
        KeyCode::Down => 0xff54,
        KeyCode::Delete => 0xffff,
        KeyCode::Home => 0xff50,
        KeyCode::End => 0xff57,
        _ => return None,
    })
}

/// A key as IBus wants it: keysym, evdev key code (0 where unknown), state.
fn to_ibus(key: &Key) -> Option<(u32, u32, u32)> {
    match key {
        Key::Char(c) => {
            let shift = if c.is_ascii_uppercase() {
                SHIFT_MASK
            } else {
                0
            };
            let keysym = if (*c as u32) < 0x100 {
                *c as u32
            } else {
                0x0100_0000 | *c as u32
            };
            Some((keysym, evdev(c.to_ascii_lowercase()), shift))
        }
        Key::Down { code, shift, .. } => {
            Some((keysym(code)?, 0, if *shift { SHIFT_MASK } else { 0 }))
        }
    }
}

/// The evdev key code of a letter or the space bar on a US layout.
fn evdev(c: char) -> u32 {
    const ROWS: [(&str, u32); 3] = [("qwertyuiop", 16), ("asdfghjkl", 30), ("zxcvbnm", 44)];
    if c == ' ' {
        return 57;
    }
    ROWS.iter()
        .find_map(|(row, first)| row.find(c).map(|i| first + i as u32))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_fields_are_read_from_the_bytes() {
        let message = zbus::Message::signal("/ic/1", CONTEXT, "CommitText")
            .unwrap()
            .build(&())
            .unwrap();
        let bytes: &[u8] = message.data();
        assert_eq!(
            header_string(bytes, INTERFACE_FIELD).as_deref(),
            Some(CONTEXT)
        );
        assert_eq!(
            header_string(bytes, MEMBER_FIELD).as_deref(),
            Some("CommitText")
        );
        assert_eq!(header_string(bytes, 6), None);
    }

    #[test]
    fn keys_reach_ibus_as_keysyms_and_evdev_codes() {
        assert_eq!(to_ibus(&Key::Char('n')), Some(('n' as u32, 49, 0)));
        assert_eq!(to_ibus(&Key::Char('A')), Some(('A' as u32, 30, SHIFT_MASK)));
        assert_eq!(to_ibus(&Key::Char(' ')), Some((0x20, 57, 0)));
        let enter = Key::Down {
            code: KeyCode::Enter,
            shift: false,
            ctrl: false,
        };
        assert_eq!(to_ibus(&enter), Some((0xff0d, 0, 0)));
        let f12 = Key::Down {
            code: KeyCode::F12,
            shift: false,
            ctrl: false,
        };
        assert_eq!(to_ibus(&f12), None);
    }
}
