//! Where a client connects, whom it trusts, and how it introduces itself.

use crate::trust::Trust;

/// Where to connect and whom to trust.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `HOST:PORT`.
    pub server: String,
    pub trust: Trust,
    /// Sent in the hello, for the server's logs ("natter-cli 0.1.0").
    pub software: String,
}

impl ClientConfig {
    /// A configuration naming this library as the software.
    pub fn new(server: impl Into<String>, trust: Trust) -> Self {
        Self {
            server: server.into(),
            trust,
            software: concat!("natter-client ", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }
}
