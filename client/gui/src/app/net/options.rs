//! Where the network thread keeps things on disk: the platform's
//! directories, unless the test hooks' variables say otherwise.

use std::path::PathBuf;

use natter_client::Trust;

/// Where the network thread keeps things on disk.
#[derive(Debug, Clone)]
pub struct NetOptions {
    /// The known-servers file (`NATTER_KNOWN_SERVERS` overrides).
    pub known_servers: PathBuf,
    /// Root of the media cache (`NATTER_CACHE_DIR` overrides).
    pub cache_dir: Option<PathBuf>,
    /// Data directory of the embedded server (`NATTER_HOST_DATA_DIR`
    /// overrides the platform data directory's `server/`).
    pub server_data_dir: PathBuf,
}

impl NetOptions {
    /// Platform defaults, with the test hooks' overrides.
    pub fn from_env() -> Self {
        let dirs = directories::ProjectDirs::from("", "", "natter");
        let known_servers = std::env::var_os("NATTER_KNOWN_SERVERS")
            .map(PathBuf::from)
            .or_else(Trust::default_known_servers)
            .unwrap_or_else(|| PathBuf::from("natter-known-servers"));
        let cache_dir = std::env::var_os("NATTER_CACHE_DIR").map(PathBuf::from);
        let server_data_dir = std::env::var_os("NATTER_HOST_DATA_DIR")
            .map(PathBuf::from)
            .or_else(|| dirs.map(|d| d.data_dir().join("server")))
            .unwrap_or_else(|| PathBuf::from("natter-server-data"));
        Self {
            known_servers,
            cache_dir,
            server_data_dir,
        }
    }
}
