//! `natter-cli`: register, send, follow, page history and list who is
//! online from a terminal or a script. A thin layer over the client library.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use chrono::SecondsFormat;
use clap::{Parser, Subcommand};
use natter_client::connection::ServerAddress;
use natter_client::{
    register_account, Client, ClientConfig, ClientError, ClientEvent, Events, FirstUse, Trust,
};
use natter_common::emoji::Emoji;
use natter_common::limits::MAX_HISTORY_PAGE;
use natter_common::{
    ChatMessage, Content, Conversation, Fingerprint, MessageId, Recipient, Timestamp, UserName,
};
use serde_json::{json, Value};

/// How long `send` waits for the server to accept the message.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// Natter chat from the command line.
#[derive(Debug, Parser)]
#[command(name = "natter-cli", version)]
struct Cli {
    /// Server address, HOST:PORT.
    #[arg(long, env = "NATTER_SERVER", default_value = "127.0.0.1:4433")]
    server: String,
    /// Your user name.
    #[arg(long, env = "NATTER_USER", value_parser = parse_user)]
    user: UserName,
    /// Accept only the server certificate with this fingerprint (SHA256:...).
    #[arg(long, env = "NATTER_FINGERPRINT")]
    fingerprint: Option<Fingerprint>,
    /// Known-servers file [default: known_servers in the natter config directory].
    #[arg(long, env = "NATTER_KNOWN_SERVERS")]
    known_servers: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create an account (asks for the password twice unless NATTER_PASSWORD is set).
    Register,
    /// Send a message and print its id once the server accepts it.
    Send {
        /// Send privately to this user instead of everyone.
        #[arg(long, value_parser = parse_user)]
        to: Option<UserName>,
        /// The text; `:happy:` sends that emoji from the catalogue.
        #[arg(required = true, num_args = 1..)]
        text: Vec<String>,
    },
    /// Print every event until interrupted.
    Follow {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Print a conversation's latest messages, oldest first.
    History {
        /// The private conversation with this user (default: the group).
        #[arg(long, value_parser = parse_user)]
        with: Option<UserName>,
        /// How many messages.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Print who is online, one user per line.
    Who,
    /// Log every device of this account out: all its sessions end and
    /// every one must log in with the password again.
    LogoutEverywhere,
    /// Upload a picture or file and post it (as a picture when it decodes
    /// as PNG, JPEG, GIF or WebP); prints the message id and the hash.
    SendFile {
        /// Send privately to this user instead of everyone.
        #[arg(long, value_parser = parse_user)]
        to: Option<UserName>,
        /// Post as a file even if it is a picture.
        #[arg(long)]
        as_file: bool,
        path: PathBuf,
    },
    /// Download a picture or file by its hash (you must be able to see a
    /// message that references it); verified before it is written to --out.
    Fetch {
        /// The BLAKE3 hash, 64 hex digits.
        #[arg(value_parser = parse_hash)]
        hash: natter_common::BlobHash,
        /// Where to write it.
        #[arg(long)]
        out: PathBuf,
    },
}

fn parse_hash(s: &str) -> Result<natter_common::BlobHash, String> {
    natter_common::BlobHash::from_hex(&s.to_ascii_lowercase())
        .ok_or_else(|| format!("not a BLAKE3 hash (64 hex digits): {s:?}"))
}

/// Names are checked as the server stores them: an account made before
/// the stricter rules for new names still logs in; `register` gets the
/// server's own verdict.
fn parse_user(s: &str) -> Result<UserName, String> {
    UserName::stored(s).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(io::stderr)
        .with_ansi(io::IsTerminal::is_terminal(&io::stderr()))
        .init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        // `natter-cli follow | head`: the reader left, nothing went wrong.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", printable(&format!("{e:#}")).replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let known_servers = match cli.known_servers.clone() {
        Some(path) => path,
        None => Trust::default_known_servers().context(
            "no configuration directory for the known-servers file: pass --known-servers",
        )?,
    };
    let trust = Trust {
        known_servers,
        pinned: cli.fingerprint,
        first_use: FirstUse::Accept,
    };
    let config = ClientConfig {
        software: concat!("natter-cli ", env!("CARGO_PKG_VERSION")).to_owned(),
        ..ClientConfig::new(cli.server.clone(), trust)
    };
    // Read before starting the runtime: the prompt blocks.
    let password = match cli.command {
        Command::Register => new_password(&cli.user)?,
        _ => password(&cli.user)?,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let user = &cli.user;
        match cli.command {
            Command::Register => {
                let registration = register_account(&config, user.as_str(), &password)
                    .await
                    .map_err(|e| with_trust_hint(&config, e))
                    .with_context(|| format!("cannot register {user} on {}", config.server))?;
                announce_trust(&config, registration.newly_trusted);
                say(&format!("registered {}", registration.user))?;
                Ok(())
            }
            Command::Send { to, text } => send(config, user, &password, to, &text.join(" ")).await,
            Command::Follow { json } => follow(config, user, &password, json).await,
            Command::History { with, limit, json } => {
                let conversation = with.map_or(Conversation::Group, Conversation::With);
                history(config, user, &password, conversation, limit, json).await
            }
            Command::SendFile { to, as_file, path } => {
                send_file(config, user, &password, to, as_file, &path).await
            }
            Command::Fetch { hash, out } => fetch(config, user, &password, hash, &out).await,
            Command::LogoutEverywhere => {
                let (client, _events) = login(config, user, &password).await?;
                client
                    .logout_everywhere()
                    .await
                    .context("cannot log out everywhere")?;
                say(&format!("logged {user} out everywhere"))?;
                Ok(())
            }
            Command::Who => {
                let (client, _events) = login(config, user, &password).await?;
                for name in client.online() {
                    say(name.as_str())?;
                }
                log_out(client).await;
                Ok(())
            }
        }
    })
}

/// The password from NATTER_PASSWORD, or asked on the terminal.
fn password(user: &UserName) -> anyhow::Result<String> {
    if let Ok(password) = std::env::var("NATTER_PASSWORD") {
        return Ok(password);
    }
    rpassword::prompt_password(format!("Password for {user}: "))
        .context("cannot read the password (set NATTER_PASSWORD when there is no terminal)")
}

/// A new password: from NATTER_PASSWORD, or typed twice.
fn new_password(user: &UserName) -> anyhow::Result<String> {
    if let Ok(password) = std::env::var("NATTER_PASSWORD") {
        return Ok(password);
    }
    let read = |prompt: String| {
        rpassword::prompt_password(prompt)
            .context("cannot read the password (set NATTER_PASSWORD when there is no terminal)")
    };
    let first = read(format!("New password for {user}: "))?;
    let second = read("Repeat the password: ".to_owned())?;
    if first != second {
        return Err(ClientError::PasswordMismatch.into());
    }
    Ok(first)
}

async fn login(
    config: ClientConfig,
    user: &UserName,
    password: &str,
) -> anyhow::Result<(Client, Events)> {
    let server = config.server.clone();
    let shown = config.clone();
    let (client, events) = Client::login(config, user.as_str(), password)
        .await
        .map_err(|e| with_trust_hint(&shown, e))
        .with_context(|| format!("cannot log in to {server} as {user}"))?;
    announce_trust(&shown, client.newly_trusted());
    Ok((client, events))
}

/// Logs out at the end of a one-shot command, so the server does not keep
/// the session's token. Its failure does not undo what the command did.
async fn log_out(client: Client) {
    if let Err(e) = client.logout().await {
        tracing::debug!("logout: {e}");
    }
}

/// Names the known-servers file in a changed-certificate error, since the
/// fix is to edit it.
fn with_trust_hint(config: &ClientConfig, e: ClientError) -> anyhow::Error {
    match e {
        ClientError::CertificateChanged { .. } => {
            anyhow!("{e} ({})", config.trust.known_servers.display())
        }
        other => other.into(),
    }
}

/// Tells the user, like ssh, that a server was trusted on first use.
fn announce_trust(config: &ClientConfig, newly_trusted: Option<Fingerprint>) {
    if let Some(fingerprint) = newly_trusted {
        let server = ServerAddress::parse(&config.server)
            .map_or_else(|_| config.server.clone(), |a| a.key());
        eprintln!(
            "Permanently added '{server}' ({fingerprint}) to the list of known servers ({}).",
            config.trust.known_servers.display()
        );
    }
}

async fn send(
    config: ClientConfig,
    user: &UserName,
    password: &str,
    to: Option<UserName>,
    text: &str,
) -> anyhow::Result<()> {
    let content = match text
        .strip_prefix(':')
        .and_then(|t| t.strip_suffix(':'))
        .and_then(Emoji::by_key)
    {
        Some(emoji) => Content::Emoji(emoji.id),
        None => Content::Text(text.to_owned()),
    };
    let to = to.map_or(Recipient::Everyone, Recipient::User);
    let (client, mut events) = login(config, user, password).await?;
    let sent = client.send(to, content).context("cannot send")?;
    let answer = wait_accepted(&mut events, sent).await;
    log_out(client).await;
    say(&answer?.0.to_string())?;
    Ok(())
}

/// Waits (bounded by [`SEND_TIMEOUT`]) for the server to accept or refuse
/// the message sent as `sent`.
async fn wait_accepted(
    events: &mut Events,
    sent: natter_common::ClientMsgId,
) -> anyhow::Result<MessageId> {
    let answer = tokio::time::timeout(SEND_TIMEOUT, async {
        while let Some(event) = events.next().await {
            match event {
                ClientEvent::Accepted { client_id, id, .. } if client_id == sent => return Ok(id),
                ClientEvent::Rejected { client_id, reason } if client_id == sent => {
                    return Err(anyhow!(ClientError::Refused(reason))
                        .context("the server refused the message"));
                }
                ClientEvent::Closed { reason } => return Err(anyhow!(reason)),
                _ => {}
            }
        }
        Err(anyhow!("the client stopped"))
    })
    .await;
    answer.unwrap_or_else(|_| {
        Err(anyhow!(
            "the server did not accept the message within {} s",
            SEND_TIMEOUT.as_secs()
        ))
    })
}

/// Drives a transfer future while drawing its progress on stderr (hidden
/// when stderr is not a terminal).
async fn with_progress<T>(
    events: &mut Events,
    label: &str,
    transfer: impl std::future::Future<Output = Result<T, ClientError>>,
) -> Result<T, ClientError> {
    let bar =
        indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_message(label.to_owned());
    tokio::pin!(transfer);
    let result = loop {
        tokio::select! {
            result = &mut transfer => break result,
            Some(event) = events.next() => {
                if let ClientEvent::Progress(p) = event {
                    bar.set_length(p.total);
                    bar.set_position(p.done);
                }
            }
        }
    };
    bar.finish_and_clear();
    result
}

async fn send_file(
    config: ClientConfig,
    user: &UserName,
    password: &str,
    to: Option<UserName>,
    as_file: bool,
    path: &std::path::Path,
) -> anyhow::Result<()> {
    anyhow::ensure!(path.is_file(), "{} is not a readable file", path.display());
    let (client, mut events) = login(config, user, password).await?;
    let to = to.map_or(Recipient::Everyone, Recipient::User);
    let (id, cancel) = client.new_transfer();
    let label = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let shared = with_progress(
        &mut events,
        &label,
        client.share_now(to, path, as_file, id, &cancel),
    )
    .await
    .with_context(|| format!("cannot send {}", path.display()));
    let shared = match shared {
        Ok(shared) => shared,
        Err(e) => {
            log_out(client).await;
            return Err(e);
        }
    };
    let answer = wait_accepted(&mut events, shared.client_id).await;
    log_out(client).await;
    let id = answer?;
    let media = shared
        .content
        .media()
        .expect("a shared file references media");
    let kind = if matches!(shared.content, Content::Image { .. }) {
        "picture"
    } else {
        "file"
    };
    say(&format!(
        "{} {} {} {} bytes",
        id.0, kind, media.hash, media.size
    ))?;
    if shared.stats.sent < media.size {
        eprintln!(
            "sent {} of {} bytes (the server had the rest)",
            shared.stats.sent, media.size
        );
    }
    Ok(())
}

async fn fetch(
    config: ClientConfig,
    user: &UserName,
    password: &str,
    hash: natter_common::BlobHash,
    out: &std::path::Path,
) -> anyhow::Result<()> {
    let (client, mut events) = login(config, user, password).await?;
    let (id, cancel) = client.new_transfer();
    let label = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let result = with_progress(&mut events, &label, client.fetch_to(hash, out, id, &cancel)).await;
    log_out(client).await;
    let path = result.with_context(|| format!("cannot fetch {hash}"))?;
    say(&path.display().to_string())?;
    Ok(())
}

async fn follow(
    config: ClientConfig,
    user: &UserName,
    password: &str,
    json: bool,
) -> anyhow::Result<()> {
    let (client, mut events) = login(config, user, password).await?;
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    loop {
        tokio::select! {
            _ = &mut interrupted => {
                log_out(client).await;
                return Ok(());
            }
            event = events.next() => match event {
                Some(ClientEvent::Closed { reason }) => {
                    if json {
                        say(&event_json(&ClientEvent::Closed { reason: reason.clone() }))?;
                    }
                    return Err(anyhow!(reason).context("stopped"));
                }
                Some(event) => {
                    let line = if json { Some(event_json(&event)) } else { event_plain(&event) };
                    if let Some(line) = line {
                        say(&line)?;
                    }
                }
                None => bail!("the client stopped"),
            },
        }
    }
}

async fn history(
    config: ClientConfig,
    user: &UserName,
    password: &str,
    conversation: Conversation,
    limit: usize,
    json: bool,
) -> anyhow::Result<()> {
    let (client, _events) = login(config, user, password).await?;
    // Pages come newest first, each oldest first inside.
    let mut messages: Vec<ChatMessage> = Vec::new();
    let mut before: Option<MessageId> = None;
    while messages.len() < limit {
        let want = (limit - messages.len()).min(MAX_HISTORY_PAGE.into()) as u16;
        let page = client
            .history(conversation.clone(), before, want)
            .await
            .context("cannot read history")?;
        let more = page.more && !page.messages.is_empty();
        before = page.messages.first().map(|m| m.id);
        let mut older = page.messages;
        older.append(&mut messages);
        messages = older;
        if !more {
            break;
        }
    }
    log_out(client).await;
    for message in &messages {
        let line = if json {
            message_json(message)
        } else {
            message_plain(message)
        };
        say(&line)?;
    }
    Ok(())
}

/// Writes one line to stdout.
fn say(line: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(out, "{line}")
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// An event as a line for people, or `None` for events not worth a line.
fn event_plain(event: &ClientEvent) -> Option<String> {
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
fn message_plain(message: &ChatMessage) -> String {
    let time = chrono::DateTime::<chrono::Local>::from(message.sent_at.to_utc()).format("%H:%M:%S");
    let to = match &message.to {
        Recipient::Everyone => "everyone".to_owned(),
        Recipient::User(user) => user.to_string(),
    };
    let body = printable(&message.content.summary()).replace('\n', "\n    ");
    format!("[{time}] {} → {to}: {body}", message.from)
}

/// An event as one JSON object.
fn event_json(event: &ClientEvent) -> String {
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
fn message_json(message: &ChatMessage) -> String {
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
fn printable(text: &str) -> String {
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
    use natter_common::{BlobHash, EmojiId, MediaRef};

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
