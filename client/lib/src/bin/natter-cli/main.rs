//! `natter-cli`: register, send, follow, page history and list who is
//! online from a terminal or a script. A thin layer over the client library:
//! this file reads the command line and runs one command; `login` gets a
//! session, `chat` and `files` are the commands, `output` prints.

mod chat;
mod files;
mod login;
mod output;

use std::io;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use natter_client::{ClientConfig, FirstUse, Trust};
use natter_common::{BlobHash, Conversation, Fingerprint, UserName};

use crate::output::{is_broken_pipe, printable};

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
        hash: BlobHash,
        /// Where to write it.
        #[arg(long)]
        out: PathBuf,
    },
}

fn parse_hash(s: &str) -> Result<BlobHash, String> {
    BlobHash::from_hex(&s.to_ascii_lowercase())
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
    let config = client_config(&cli)?;
    // Read before starting the runtime: the prompt blocks.
    let password = match cli.command {
        Command::Register => login::new_password(&cli.user)?,
        _ => login::password(&cli.user)?,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(dispatch(cli.command, config, &cli.user, &password))
}

/// Where to connect and whom to trust, from the flags.
fn client_config(cli: &Cli) -> anyhow::Result<ClientConfig> {
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
    Ok(ClientConfig {
        software: concat!("natter-cli ", env!("CARGO_PKG_VERSION")).to_owned(),
        ..ClientConfig::new(cli.server.clone(), trust)
    })
}

/// Runs one command as `user`.
async fn dispatch(
    command: Command,
    config: ClientConfig,
    user: &UserName,
    password: &str,
) -> anyhow::Result<()> {
    match command {
        Command::Register => login::register(&config, user, password).await,
        Command::Send { to, text } => chat::send(config, user, password, to, &text.join(" ")).await,
        Command::Follow { json } => chat::follow(config, user, password, json).await,
        Command::History { with, limit, json } => {
            let conversation = with.map_or(Conversation::Group, Conversation::With);
            chat::history(config, user, password, conversation, limit, json).await
        }
        Command::SendFile { to, as_file, path } => {
            files::send_file(config, user, password, to, as_file, &path).await
        }
        Command::Fetch { hash, out } => files::fetch(config, user, password, hash, &out).await,
        Command::LogoutEverywhere => login::logout_everywhere(config, user, password).await,
        Command::Who => chat::who(config, user, password).await,
    }
}
