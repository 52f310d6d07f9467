//! Server settings: every flag, its environment variable and its default.
//! Each limit the server enforces is one of these fields.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use natter_common::congestion::Congestion;
/// How the server is run. Parsed from flags by the binary; built directly by
/// tests and the GUI's embedded server.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// UDP address to listen on.
    #[arg(long, env = "NATTER_LISTEN", default_value = "0.0.0.0:4433")]
    pub listen: SocketAddr,

    /// Directory for the database, the certificate and uploaded media.
    /// Default: the platform data directory (e.g. ~/.local/share/natter).
    #[arg(long, env = "NATTER_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    /// PEM certificate chain to serve instead of the generated self-signed one.
    #[arg(long, env = "NATTER_CERT", requires = "key")]
    pub cert: Option<PathBuf>,

    /// PEM private key for --cert.
    #[arg(long, env = "NATTER_KEY", requires = "cert")]
    pub key: Option<PathBuf>,

    /// Most simultaneous connections; more are refused.
    #[arg(long, env = "NATTER_MAX_CONNECTIONS", default_value_t = 1000)]
    pub max_connections: usize,

    /// Most connections from one IP address, logged in or not (a shared
    /// NAT puts many users behind one address: keep this generous). More
    /// are closed at once with code 5 (SERVER_FULL) and a reason.
    #[arg(long, env = "NATTER_MAX_CONNECTIONS_PER_ADDRESS", default_value_t = 64)]
    pub max_connections_per_address: usize,

    /// Most connections from one IP address that have not logged in yet
    /// (counted from the first packet until a login succeeds). More are
    /// closed at once with code 5 (SERVER_FULL) and a reason.
    #[arg(
        long,
        env = "NATTER_MAX_UNAUTHENTICATED_PER_ADDRESS",
        default_value_t = 8
    )]
    pub max_unauthenticated_per_address: usize,

    /// Most sessions one account may have open at once (devices). A login
    /// past it is refused as `Busy` and its connection closed with code 5.
    #[arg(long, env = "NATTER_MAX_SESSIONS_PER_ACCOUNT", default_value_t = 8)]
    pub max_sessions_per_account: usize,

    /// Seconds a new connection has to log in before it is closed.
    #[arg(long, env = "NATTER_AUTH_TIMEOUT_SECS", default_value_t = 10)]
    pub auth_timeout_secs: u64,

    /// Seconds without any packet before a connection is dropped.
    #[arg(long, env = "NATTER_IDLE_TIMEOUT_SECS", default_value_t = 30)]
    pub idle_timeout_secs: u64,

    /// Messages queued for one session before it counts as too slow and is
    /// disconnected (it catches up from history when it reconnects).
    #[arg(long, env = "NATTER_SESSION_QUEUE", default_value_t = 1024)]
    pub session_queue: usize,

    /// Longest text message, in characters (at most 4000).
    #[arg(long, env = "NATTER_MAX_TEXT_CHARS", default_value_t = 4000)]
    pub max_text_chars: u32,

    /// Largest single picture or file upload, in bytes.
    #[arg(long, env = "NATTER_MAX_UPLOAD_BYTES", default_value_t = 4 << 30)]
    pub max_upload_bytes: u64,

    /// Total bytes of media each user may store.
    #[arg(long, env = "NATTER_QUOTA_BYTES", default_value_t = 20 << 30)]
    pub quota_bytes: u64,

    /// Concurrent transfer streams per connection.
    #[arg(long, env = "NATTER_MAX_TRANSFERS", default_value_t = 8)]
    pub max_transfers: u32,

    /// Uploads receiving at once across all connections (each holds 4 MiB
    /// of buffers); more wait for a turn.
    #[arg(long, env = "NATTER_MAX_UPLOADS", default_value_t = 64)]
    pub max_uploads: u32,

    /// Seconds an upload waits for a turn before it is refused as busy.
    #[arg(long, env = "NATTER_UPLOAD_WAIT_SECS", default_value_t = 30)]
    pub upload_wait_secs: u64,

    /// Of `--max-uploads`, the most one user may hold at once (all their
    /// connections together).
    #[arg(long, env = "NATTER_MAX_UPLOADS_PER_USER", default_value_t = 4)]
    pub max_uploads_per_user: u32,

    /// An upload slower than this many KiB/s over a window of
    /// `--idle-timeout-secs` is dropped with `Busy` (its partial file stays
    /// for a resume), so a trickle cannot hold a turn. 0 drops only
    /// uploads that send nothing for a whole window.
    #[arg(long, env = "NATTER_MIN_UPLOAD_KIB_S", default_value_t = 16)]
    pub min_upload_kib_s: u64,

    /// Unfinished uploads one user may keep on disk; starting another past
    /// this is refused until one finishes or expires.
    #[arg(long, env = "NATTER_MAX_PARTIALS_PER_USER", default_value_t = 16)]
    pub max_partials_per_user: u32,

    /// Hours an unfinished upload is kept for a resume, counted from its
    /// last start or resume, before the sweeper deletes it and releases its
    /// quota reservation (checked at start-up and every quarter of this,
    /// at least hourly; 0 deletes abandoned uploads within a second).
    #[arg(long, env = "NATTER_PARTIAL_MAX_AGE_HOURS", default_value_t = 24)]
    pub partial_max_age_hours: u64,

    /// Downloads sending at once across all connections (each holds a
    /// 1 MiB buffer); more wait for a turn like uploads.
    #[arg(long, env = "NATTER_MAX_DOWNLOADS", default_value_t = 64)]
    pub max_downloads: u32,

    /// Of `--max-downloads`, the most one user may hold at once.
    #[arg(long, env = "NATTER_MAX_DOWNLOADS_PER_USER", default_value_t = 8)]
    pub max_downloads_per_user: u32,

    /// Messages one user may send per second, on average, all of their
    /// sessions together. A send past it is answered `RateLimited` with the
    /// delay, and the client library resends it then.
    #[arg(long, env = "NATTER_MESSAGES_PER_SEC", default_value_t = 5)]
    pub messages_per_sec: u32,

    /// Messages one user may send in a burst above that average.
    #[arg(long, env = "NATTER_MESSAGE_BURST", default_value_t = 30)]
    pub message_burst: u32,

    /// Password guesses allowed per account per minute from addresses that
    /// never logged into it. Addresses that did (and devices holding a
    /// token) are not held back by strangers' guesses: each such address
    /// has this many guesses per minute of its own on that account.
    #[arg(long, env = "NATTER_LOGIN_FAILURES_PER_ACCOUNT", default_value_t = 5)]
    pub login_failures_per_account: u32,

    /// Password guesses (and logins with unknown names) allowed per client
    /// address per minute, over all the accounts it never logged into. Its
    /// logins into accounts it did log into are not refused by this limit,
    /// so one guesser behind a NAT does not lock out everyone behind it.
    #[arg(long, env = "NATTER_LOGIN_FAILURES_PER_ADDRESS", default_value_t = 20)]
    pub login_failures_per_address: u32,

    /// Accounts one IP address may register per hour (counted before the
    /// password is hashed; past it, `RateLimited`).
    #[arg(
        long,
        env = "NATTER_REGISTRATIONS_PER_ADDRESS_PER_HOUR",
        default_value_t = 10
    )]
    pub registrations_per_address_per_hour: u32,

    /// Password hashes computed at once, on worker threads of their own
    /// that each reuse one ~19 MiB block; 0 means one per CPU core. One
    /// client address may have at most half of them (at least one) queued
    /// or running at once.
    #[arg(long, env = "NATTER_HASH_WORKERS", default_value_t = 0)]
    pub hash_workers: usize,

    /// Seconds a login or sign-up waits for a hashing worker before it is
    /// refused as busy.
    #[arg(long, env = "NATTER_HASH_WAIT_SECS", default_value_t = 5)]
    pub hash_wait_secs: u64,

    /// Days a login token stays valid for resuming without the password.
    /// Each resume replaces the token with one valid this long again (the
    /// old one keeps a 60 s grace); a logout ends all tokens of its login.
    #[arg(long, env = "NATTER_TOKEN_DAYS", default_value_t = 30)]
    pub token_days: u32,

    /// Milliseconds a database write waits for a lock held elsewhere (a
    /// backup, an operator's sqlite3 shell) before the request is answered
    /// `Unavailable`, which clients retry.
    #[arg(long, env = "NATTER_STORE_BUSY_MS", default_value_t = 5000)]
    pub store_busy_ms: u64,
    /// The congestion controller for what the server sends (downloads,
    /// chat): `low-delay` keeps a router's queue near 10 ms so chat stays
    /// instant while a file moves; `cubic` is quinn's loss-based default.
    #[arg(long, env = "NATTER_CONGESTION", default_value = "low-delay")]
    pub congestion: Congestion,
}

impl Config {
    /// A configuration for tests and embedding: the given address and data
    /// directory, every other setting at its default.
    pub fn new(listen: SocketAddr, data_dir: impl Into<PathBuf>) -> Self {
        Self {
            listen,
            data_dir: Some(data_dir.into()),
            cert: None,
            key: None,
            max_connections: 1000,
            max_connections_per_address: 64,
            max_unauthenticated_per_address: 8,
            max_sessions_per_account: 8,
            auth_timeout_secs: 10,
            idle_timeout_secs: 30,
            session_queue: 1024,
            max_text_chars: natter_common::limits::MAX_TEXT_CHARS as u32,
            max_upload_bytes: 4 << 30,
            quota_bytes: 20 << 30,
            max_transfers: 8,
            max_uploads: 64,
            upload_wait_secs: 30,
            max_uploads_per_user: 4,
            min_upload_kib_s: 16,
            max_partials_per_user: 16,
            partial_max_age_hours: 24,
            max_downloads: 64,
            max_downloads_per_user: 8,
            messages_per_sec: 5,
            message_burst: 30,
            login_failures_per_account: 5,
            login_failures_per_address: 20,
            registrations_per_address_per_hour: 10,
            hash_workers: 0,
            hash_wait_secs: 5,
            token_days: 30,
            store_busy_ms: 5000,
            congestion: Congestion::default(),
        }
    }

    pub fn auth_timeout(&self) -> Duration {
        Duration::from_secs(self.auth_timeout_secs)
    }

    /// The data directory, defaulting to the platform's.
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir.clone().unwrap_or_else(default_data_dir)
    }
}

/// `~/.local/share/natter` on Linux and its equivalents elsewhere; the
/// current directory's `natter-data` if the platform has no home.
pub fn default_data_dir() -> PathBuf {
    directories::ProjectDirs::from("", "", "natter")
        .map(|d| d.data_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from("natter-data"))
}
