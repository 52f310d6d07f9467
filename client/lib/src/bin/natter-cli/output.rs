//! What natter-cli prints: events and messages as lines for people
//! (made safe for a terminal) or as one JSON object each for scripts.

use std::io::{self, Write};

use chrono::SecondsFormat;
use natter_client::ClientEvent;
use natter_common::{ChatMessage, Content, Recipient, Timestamp, UserName};
use serde_json::{json, Value};

/// Writes one line to stdout.
pub fn say(line: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(out, "{line}")
}

pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// An event as a line for people, or `None` for events not worth a line.
pub fn event_plain(event: &ClientEvent) -> Option<String> {
    Some(match event {
        ClientEvent::Message(message) => message_plain(message),
        ClientEvent::Connected { resumed: false } => "* connected".to_owned(),
        ClientEvent::Connected { resumed: true } => "* reconnected".to_owned(),
        ClientEvent::Online(users) => {
            let names: Vec<&str> = users.iter().map(UserName::as_str).collect();
            format!("* online: {}", names.join(", "))
        }
        ClientEvent::Joined(user) => format!("* {user} joined"),
        ClientEvent::Left(user) => format!("* {user} left"),
        ClientEvent::CaughtUp { truncated: true } => {
            "* (more missed messages are older: see `natter-cli history`)".to_owned()
        }
        ClientEvent::Rejected { reason, .. } => printable(&format!("* message refused: {reason}")),
        ClientEvent::Disconnected { reason, retry_in } => printable(&format!(
            "* disconnected: {reason}; retrying in {:.1} s",
            retry_in.as_secs_f64()
        )),
        ClientEvent::Throttled { retry_in, .. } => format!(
            "* sending slowed down: retrying in {:.1} s",
            retry_in.as_secs_f64()
        ),
        ClientEvent::Closed { reason } => printable(&format!("* closed: {reason}")),
        ClientEvent::CaughtUp { truncated: false }
        | ClientEvent::Accepted { .. }
        | ClientEvent::Progress(_)
        | ClientEvent::TransferDone { .. } => return None,
    })
}

/// `[HH:MM:SS] alice → everyone: hi`, in local time. Later lines of a
/// multi-line message are indented so they cannot pass for messages.
pub fn message_plain(message: &ChatMessage) -> String {
    let time = chrono::DateTime::<chrono::Local>::from(message.sent_at.to_utc()).format("%H:%M:%S");
    let to = match &message.to {
        Recipient::Everyone => "everyone".to_owned(),
        Recipient::User(user) => user.to_string(),
    };
    let body = printable(&message.content.summary()).replace('\n', "\n    ");
    format!("[{time}] {} → {to}: {body}", message.from)
}

/// An event as one JSON object.
pub fn event_json(event: &ClientEvent) -> String {
    let (name, mut fields): (&str, Vec<(&str, Value)>) = match event {
        ClientEvent::Message(message) => return message_json(message),
        ClientEvent::Connected { resumed } => ("connected", vec![("resumed", json!(resumed))]),
        ClientEvent::Online(users) => {
            let users: Vec<&str> = users.iter().map(UserName::as_str).collect();
            ("online", vec![("users", json!(users))])
        }
        ClientEvent::Joined(user) => ("joined", vec![("user", json!(user.as_str()))]),
        ClientEvent::Left(user) => ("left", vec![("user", json!(user.as_str()))]),
        ClientEvent::CaughtUp { truncated } => ("caught_up", vec![("truncated", json!(truncated))]),
        ClientEvent::Accepted {
            client_id,
            id,
            sent_at,
        } => (
            "accepted",
            vec![
                ("client_id", json!(client_id.0)),
                ("id", json!(id.0)),
                ("sent_at", json!(time_json(*sent_at))),
            ],
        ),
        ClientEvent::Rejected { client_id, reason } => (
            "rejected",
            vec![
                ("client_id", json!(client_id.0)),
                ("reason", json!(reason.to_string())),
            ],
        ),
        ClientEvent::Disconnected { reason, retry_in } => (
            "disconnected",
            vec![
                ("reason", json!(reason)),
                ("retry_in_ms", json!(retry_in.as_millis() as u64)),
            ],
        ),
        ClientEvent::Throttled {
            client_id,
            reason,
            retry_in,
        } => (
            "throttled",
            vec![
                ("client_id", json!(client_id.0)),
                ("reason", json!(reason.to_string())),
                ("retry_in_ms", json!(retry_in.as_millis() as u64)),
            ],
        ),
        ClientEvent::Closed { reason } => ("closed", vec![("reason", json!(reason.to_string()))]),
        ClientEvent::Progress(p) => (
            "progress",
            vec![
                ("transfer", json!(p.id.0)),
                ("name", json!(p.name)),
                ("upload", json!(p.upload)),
                ("done", json!(p.done)),
                ("total", json!(p.total)),
                ("bytes_per_sec", json!(p.bytes_per_sec)),
            ],
        ),
        ClientEvent::TransferDone { id, outcome } => (
            "transfer_done",
            match outcome {
                Ok(path) => vec![
                    ("transfer", json!(id.0)),
                    ("path", json!(path.display().to_string())),
                ],
                Err(e) => vec![("transfer", json!(id.0)), ("error", json!(e.to_string()))],
            },
        ),
    };
    fields.insert(0, ("event", json!(name)));
    object(fields)
}

/// `{"event":"message","id":12,"from":"alice","to":null,"sent_at":"…","text":"hi"}`;
/// emoji carry `"emoji"`, pictures and files `"kind"`, `"hash"`, `"name"`, `"size"`.
pub fn message_json(message: &ChatMessage) -> String {
    let to = match &message.to {
        Recipient::Everyone => Value::Null,
        Recipient::User(user) => json!(user.as_str()),
    };
    let mut fields = vec![
        ("event", json!("message")),
        ("id", json!(message.id.0)),
        ("from", json!(message.from.as_str())),
        ("to", to),
        ("sent_at", json!(time_json(message.sent_at))),
    ];
    match &message.content {
        Content::Text(text) => fields.push(("text", json!(text))),
        Content::Emoji(id) => {
            let key = id
                .emoji()
                .map_or_else(|| format!("emoji-{}", id.0), |e| e.key.to_owned());
            fields.push(("emoji", json!(key)));
            fields.push(("emoji_id", json!(id.0)));
        }
        Content::Image {
            media,
            width,
            height,
        } => {
            fields.push(("kind", json!("image")));
            fields.push(("hash", json!(media.hash.to_hex())));
            fields.push(("name", json!(media.name)));
            fields.push(("size", json!(media.size)));
            fields.push(("width", json!(width)));
            fields.push(("height", json!(height)));
        }
        Content::File(media) => {
            fields.push(("kind", json!("file")));
            fields.push(("hash", json!(media.hash.to_hex())));
            fields.push(("name", json!(media.name)));
            fields.push(("size", json!(media.size)));
        }
    }
    object(fields)
}

/// RFC 3339 UTC with milliseconds: `2026-11-25T20:00:00.123Z`.
fn time_json(at: Timestamp) -> String {
    at.to_utc().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A JSON object with its keys in the given order (`event` first), which
/// `serde_json::Map` would sort.
fn object(fields: Vec<(&str, Value)>) -> String {
    let members: Vec<String> = fields
        .into_iter()
        .map(|(key, value)| format!("{}:{value}", Value::from(key)))
        .collect();
    format!("{{{}}}", members.join(","))
}

/// Text from other people made safe for a terminal: control and
/// text-direction characters replaced, newlines kept.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\n' => '\n',
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => '\u{fffd}',
            c if c.is_control() => '\u{fffd}',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use natter_common::{BlobHash, EmojiId, MediaRef, MessageId};

    use super::*;

    fn message(content: Content, to: Recipient) -> ChatMessage {
        ChatMessage {
            id: MessageId(12),
            from: UserName::parse("alice").unwrap(),
            to,
            sent_at: Timestamp(1_795_636_800_123),
            content,
        }
    }

    #[test]
    fn messages_print_as_ordered_json() {
        let line = message_json(&message(Content::Text("hi".into()), Recipient::Everyone));
        assert_eq!(
            line,
            r#"{"event":"message","id":12,"from":"alice","to":null,"sent_at":"2026-11-25T20:00:00.123Z","text":"hi"}"#
        );
        let bob = Recipient::User(UserName::parse("bob").unwrap());
        let line = message_json(&message(Content::Emoji(EmojiId(0)), bob));
        assert!(
            line.contains(r#""to":"bob""#) && line.contains(r#""emoji":"happy""#),
            "{line}"
        );
        let file = Content::File(MediaRef {
            hash: BlobHash([0xab; 32]),
            name: "a\"b".into(),
            size: 3,
        });
        let value: Value =
            serde_json::from_str(&message_json(&message(file, Recipient::Everyone))).unwrap();
        assert_eq!(value["kind"], "file");
        assert_eq!(value["name"], "a\"b");
        assert_eq!(value["hash"], "ab".repeat(32));
    }

    #[test]
    fn events_print_as_json_with_the_event_first() {
        let line = event_json(&ClientEvent::Joined(UserName::parse("bob").unwrap()));
        assert_eq!(line, r#"{"event":"joined","user":"bob"}"#);
    }

    #[test]
    fn terminal_output_cannot_be_spoofed() {
        let text = Content::Text("hi\u{1b}[2J\n[00:00:00] mallory → everyone: x\u{202e}".into());
        let line = message_plain(&message(text, Recipient::Everyone));
        assert!(!line.contains('\u{1b}') && !line.contains('\u{202e}'));
        assert!(line.contains("\n    [00:00:00] mallory"));
        assert!(line
            .ends_with(" → everyone: hi\u{fffd}[2J\n    [00:00:00] mallory → everyone: x\u{fffd}"));
    }
}
