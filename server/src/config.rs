//! Server settings: every flag, its environment variable and its default.
//! Each limit the server enforces is one of these fields.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

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

    /// Failed logins allowed per account per minute.
    #[arg(long, env = "NATTER_LOGIN_FAILURES_PER_ACCOUNT", default_value_t = 5)]
    pub login_failures_per_account: u32,

    /// Failed logins allowed per client address per minute.
    #[arg(long, env = "NATTER_LOGIN_FAILURES_PER_ADDRESS", default_value_t = 20)]
    pub login_failures_per_address: u32,

    /// Days a login token stays valid for resuming without the password.
    #[arg(long, env = "NATTER_TOKEN_DAYS", default_value_t = 30)]
    pub token_days: u32,
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
            auth_timeout_secs: 10,
            idle_timeout_secs: 30,
            session_queue: 1024,
            max_text_chars: natter_common::limits::MAX_TEXT_CHARS as u32,
            max_upload_bytes: 4 << 30,
            quota_bytes: 20 << 30,
            max_transfers: 8,
            max_uploads: 64,
            upload_wait_secs: 30,
            login_failures_per_account: 5,
            login_failures_per_address: 20,
            token_days: 30,
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
