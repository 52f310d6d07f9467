//! Switches for tests, benchmarks and scripted runs, read from the
//! environment once at start, and the JSON state dump.
//!
//! | variable | effect |
//! | --- | --- |
//! | `NATTER_SERVER`, `NATTER_USER`, `NATTER_PASSWORD` | prefill the login form |
//! | `NATTER_KNOWN_SERVERS` | path of the known-servers file (instead of `~/.config/natter/known_servers`) |
//! | `NATTER_CACHE_DIR` | root of the media cache |
//! | `NATTER_STATE_DUMP=path` | F12 writes a JSON dump of the state there |
//! | `NATTER_STATE_DUMP_AUTO=1` | also write it after every `Accepted` and `Message` (and login, logout) |
//! | `NATTER_SCREENSHOT=path` | F11 writes a PNG screenshot there |
//! | `NATTER_HOST_DATA_DIR` | data directory of the server "Host a server here" starts (default: the platform data directory's `server/`) |
//! | `NATTER_FONT` | a TTF/TTC file to use instead of the system CJK font or the shipped one |
//! | `NATTER_BENCH_FRAMES=1` | same as `natter --bench-frames`: the headless frame-time benchmark (with `NATTER_SCREENSHOT`, also a PNG of its last scrolled frame) |
//! | `RUST_LOG` | log filter (default `warn`); `natter_gui=debug` logs the frame rate every 5 s |
//!
//! The dump is `{"screen": "login"|"register"|"chat", "me", "server",
//! "connection": "offline"|"online"|"reconnecting"|"closed: ...", "online",
//! "selected", "composer" (its text), "form_error", "trust_prompt"
//! (fingerprint), "hosting" ({"addresses", "fingerprint"}), "transfers",
//! "toasts", "overlay", "viewing_cached", "menu_open", "emoji_panel_open",
//! "conversations":
//! [{"conversation", "unread", "messages": [{"id" (null while pending),
//! "from", "to", "text" | "emoji" (catalogue key, or "#id" if unknown) |
//! "kind": "picture"|"file" + "name" + "cached" (path of the local copy
//! once fetched into the cache, else null), "pending", "failed"}]}],
//! "layout"}`;
//! conversations and recipients are named `group` or `@user`. It is
//! written to a temporary file and renamed, so a reader never sees half.
//!
//! `layout` maps control names to where the last drawn frame put them,
//! `[x, y, w, h]` in window pixels, so a script clicks what the interface
//! really drew: `field:server|name|password|confirm`, `login_button`,
//! `register_link` (the "Create one" / "Log in" switch), `trust_button`,
//! `trust_cancel`; in the chat room `conversation:group`,
//! `conversation:<user>`, `menu_button`, `menu:cache_browser`,
//! `menu:logout`, `composer`, `send_button`, `emoji_button`,
//! `picture_button`, `file_button`, `emoji:<key>` (only once the panel is
//! fully open), `share:path_field`, `share:send`, `share:cancel`,
//! `picture:<name>` (only once the picture itself is drawn inline),
//! `file:<name>`, `cache:close`, `cache:pictures`, `cache:files` and
//! `cache:picture:<name>` (a thumbnail, once drawn). Only recorded when
//! `NATTER_STATE_DUMP` is set.
//!
//! Keys: F11 screenshot, F12 dump, Esc closes popups. Under `xdotool`,
//! events that arrive in one burst are still handled in order: a click
//! ends a frame, so keys typed right after it reach the field it focused.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::{Path, PathBuf};

use natter_common::{BlobHash, Content, Conversation, Recipient};
use serde_json::{json, Value};

use crate::app::conversations::{Delivery, Entry};
use crate::app::link::NetEvent;
use crate::app::login::{FormError, Screen};
use crate::app::media::MediaSlot;
use crate::app::popups::Overlay;
use crate::app::state::{AppState, Connection};
use natter_client::ClientEvent;

/// The test and scripting switches.
#[derive(Debug, Clone, Default)]
pub struct Hooks {
    pub state_dump: Option<PathBuf>,
    pub dump_auto: bool,
    pub screenshot: Option<PathBuf>,
    pub server: Option<String>,
    pub user: Option<String>,
    pub password: Option<String>,
    pub bench: bool,
}

impl Hooks {
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Self {
            state_dump: var("NATTER_STATE_DUMP").map(PathBuf::from),
            dump_auto: var("NATTER_STATE_DUMP_AUTO").is_some_and(|v| v != "0"),
            screenshot: var("NATTER_SCREENSHOT").map(PathBuf::from),
            server: var("NATTER_SERVER"),
            user: var("NATTER_USER"),
            password: var("NATTER_PASSWORD"),
            bench: var("NATTER_BENCH_FRAMES").is_some_and(|v| v != "0"),
        }
    }
}

/// Where the named controls of the last drawn frame are, for the dump's
/// `layout`: the views record them as they draw.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DrawnControls {
    rects: BTreeMap<String, [f32; 4]>,
}

impl DrawnControls {
    /// Forgets the previous frame's controls.
    pub fn clear(&mut self) {
        self.rects.clear();
    }

    /// Records control `name` at `[x, y, w, h]`; a later one of the same
    /// name replaces it.
    pub fn record(&mut self, name: String, rect: [f32; 4]) {
        self.rects.insert(name, rect);
    }
}

/// How a conversation is named in the dump.
pub fn conversation_key(c: &Conversation) -> String {
    match c {
        Conversation::Group => "group".to_owned(),
        Conversation::With(u) => format!("@{u}"),
    }
}

/// The local copy of a picture or file, if there is one.
fn cached(slots: &HashMap<BlobHash, MediaSlot>, hash: &BlobHash) -> Value {
    match slots.get(hash) {
        Some(MediaSlot::Ready(path)) => json!(path.display().to_string()),
        _ => Value::Null,
    }
}

/// One message of a conversation, as the dump shows it.
fn entry(state: &AppState, e: &Entry) -> Value {
    let mut m = json!({
        "id": e.id.map(|id| id.0),
        "from": e.from.as_str(),
        "to": match &e.to {
            Recipient::Everyone => "group".to_owned(),
            Recipient::User(u) => format!("@{u}"),
        },
        "pending": e.delivery == Delivery::Pending,
        "failed": match &e.delivery {
            Delivery::Failed(reason) => Value::from(reason.as_str()),
            _ => Value::Null,
        },
    });
    match &e.content {
        Content::Text(t) => m["text"] = json!(t),
        Content::Emoji(id) => {
            m["emoji"] = json!(id
                .emoji()
                .map_or(format!("#{}", id.0), |e| e.key.to_owned()))
        }
        Content::Image {
            media,
            width,
            height,
        } => {
            m["kind"] = json!("picture");
            m["name"] = json!(media.name);
            m["width"] = json!(width);
            m["height"] = json!(height);
            m["cached"] = cached(&state.media.pictures, &media.hash);
        }
        Content::File(media) => {
            m["kind"] = json!("file");
            m["name"] = json!(media.name);
            m["size"] = json!(media.size);
            m["cached"] = cached(&state.media.files, &media.hash);
        }
    }
    m
}

/// The state as JSON, for tests to assert on, with where the last frame
/// drew the named controls.
pub fn dump(state: &AppState, controls: Option<&DrawnControls>) -> Value {
    let screen = match state.screen {
        Screen::Login => "login",
        Screen::Register => "register",
        Screen::Chat => "chat",
    };
    let connection = match &state.connection {
        Connection::Offline => "offline".to_owned(),
        Connection::Online => "online".to_owned(),
        Connection::Reconnecting { .. } => "reconnecting".to_owned(),
        Connection::Closed(reason) => format!("closed: {reason}"),
    };
    let conversations: Vec<Value> = state
        .conversations
        .iter()
        .map(|(c, log)| {
            json!({
                "conversation": conversation_key(c),
                "unread": log.unread,
                "messages": log.entries.iter().map(|e| entry(state, e)).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "screen": screen,
        "me": state.me.as_ref().map(|m| m.as_str()),
        "server": state.server,
        "connection": connection,
        "online": state.online.iter().map(|u| u.as_str()).collect::<Vec<_>>(),
        "selected": conversation_key(&state.selected),
        "composer": state.composer.draft.text,
        "form_error": match &state.login.form.error {
            None => Value::Null,
            Some(FormError::Message(m) | FormError::Hint(m)) => json!(m),
            Some(FormError::CertificateChanged { known, presented, .. }) => {
                json!(format!("certificate changed: known {known}, presented {presented}"))
            }
        },
        "trust_prompt": state.login.trust_prompt.as_ref().map(|p| p.fingerprint.to_string()),
        "hosting": state.login.hosting.as_ref().map(|h| json!({
            "addresses": h.join_addresses,
            "fingerprint": h.fingerprint.to_string(),
        })),
        "transfers": state.media.transfers.values().map(|t| json!({
            "name": t.name, "done": t.done, "total": t.total,
        })).collect::<Vec<_>>(),
        "overlay": match &state.popups.overlay {
            None => Value::Null,
            Some(Overlay::Picture { media }) => json!(format!("picture {}", media.name)),
            Some(Overlay::CacheBrowser { tab, .. }) => json!(format!("cache browser {tab:?}")),
        },
        "viewing_cached": state.popups.viewing_cached.as_ref().map(|p| p.display().to_string()),
        "menu_open": state.popups.menu_open,
        "emoji_panel_open": state.composer.emoji_panel.open,
        "toasts": state.toasts.iter().map(|t| t.text.as_str()).collect::<Vec<_>>(),
        "conversations": conversations,
        "layout": controls.map_or_else(|| json!({}), |c| json!(c.rects)),
    })
}

/// Whether `event` is one after which `NATTER_STATE_DUMP_AUTO` writes the
/// dump: a message stored or arriving, a login, a logout.
pub fn dumps_after(event: &NetEvent) -> bool {
    matches!(
        event,
        NetEvent::Client(ClientEvent::Accepted { .. } | ClientEvent::Message(_))
            | NetEvent::LoggedIn { .. }
            | NetEvent::LoggedOut
    )
}

/// What the input method is doing, as the views keep it.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ImeDump {
    /// What it is composing.
    pub preedit: Option<String>,
    /// The caret rectangle last reported to it, on the screen.
    pub caret: Option<[i32; 4]>,
    /// The candidates the app draws, and the highlighted one.
    pub candidates: Option<(Vec<String>, Option<usize>)>,
}

/// Writes [`dump`] to `path` atomically (temporary file, then rename),
/// with what the input method is doing (`preedit`, `ime_caret`).
pub fn write_dump(
    state: &AppState,
    controls: Option<&DrawnControls>,
    ime: &ImeDump,
    path: &Path,
) -> io::Result<()> {
    let mut value = dump(state, controls);
    value["preedit"] = serde_json::json!(ime.preedit);
    value["ime_caret"] = serde_json::json!(ime.caret);
    value["candidates"] = serde_json::json!(ime.candidates.as_ref().map(|c| &c.0));
    value["candidate_cursor"] = serde_json::json!(ime.candidates.as_ref().and_then(|c| c.1));
    let text = serde_json::to_string_pretty(&value).map_err(io::Error::other)?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::intent::Intent;
    use crate::app::link::Command;
    use natter_common::{ChatMessage, ClientMsgId, EmojiId, MessageId, Timestamp, UserName};

    #[test]
    fn the_dump_lists_messages_with_their_kind_and_pending_state() {
        let mut s = AppState::new("127.0.0.1:4433", "alice", "pw");
        s.handle(Intent::Login);
        let alice = UserName::parse("alice").unwrap();
        s.apply(NetEvent::LoggedIn {
            me: alice.clone(),
            server: "s".into(),
            max_text_chars: 100,
        });
        let hi = ChatMessage {
            id: MessageId(1),
            from: UserName::parse("bob").unwrap(),
            to: Recipient::Everyone,
            sent_at: Timestamp(0),
            content: Content::Text("hi 你好".into()),
        };
        assert!(dumps_after(&NetEvent::Client(ClientEvent::Message(
            hi.clone()
        ))));
        s.apply(NetEvent::Client(ClientEvent::Message(hi)));
        let Some(Command::Send {
            conversation,
            content,
        }) = s.handle(Intent::SendEmoji(EmojiId(0))).pop()
        else {
            panic!("the emoji is not sent");
        };
        let outcome = Ok(ClientMsgId(1));
        let queued = NetEvent::Queued {
            conversation,
            content,
            outcome,
        };
        assert!(!dumps_after(&queued));
        s.apply(queued);
        let mut controls = DrawnControls::default();
        controls.record("composer".into(), [1.0, 2.0, 3.0, 4.0]);
        let v = dump(&s, Some(&controls));
        assert_eq!(v["screen"], "chat");
        assert_eq!(v["me"], "alice");
        let messages = &v["conversations"][0]["messages"];
        assert_eq!(messages[0]["text"], "hi 你好");
        assert_eq!(messages[0]["id"], 1);
        assert_eq!(messages[1]["emoji"], "happy");
        assert_eq!(messages[1]["pending"], true);
        assert_eq!(messages[1]["id"], Value::Null);
        assert_eq!(v["layout"]["composer"], json!([1.0, 2.0, 3.0, 4.0]));

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let ime = ImeDump {
            preedit: Some("你好".into()),
            caret: Some([1, 2, 3, 4]),
            candidates: Some((vec!["你好".into(), "拟好".into()], Some(0))),
        };
        write_dump(&s, Some(&controls), &ime, &path).unwrap();
        let mut back: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(back["preedit"], "你好");
        assert_eq!(back["ime_caret"], serde_json::json!([1, 2, 3, 4]));
        back.as_object_mut().unwrap().remove("preedit");
        assert_eq!(back["candidates"], serde_json::json!(["你好", "拟好"]));
        assert_eq!(back["candidate_cursor"], 0);
        back.as_object_mut().unwrap().remove("ime_caret");
        back.as_object_mut().unwrap().remove("candidates");
        back.as_object_mut().unwrap().remove("candidate_cursor");
        assert_eq!(back, v);
    }
}
