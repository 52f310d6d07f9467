//! Where a client connects, whom it trusts, how it introduces itself, and
//! how it sends: which congestion controller, from which address.

use std::net::IpAddr;

use natter_common::congestion::Congestion;

use crate::trust::Trust;

/// Where to connect and whom to trust.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `HOST:PORT`.
    pub server: String,
    pub trust: Trust,
    /// Sent in the hello, for the server's logs ("natter-cli 0.1.0").
    pub software: String,
    /// The congestion controller for this end's sending (uploads and
    /// chat); [`Congestion::LowDelay`] unless measuring against quinn's.
    pub congestion: Congestion,
    /// The local address to send from (one interface of several, say);
    /// any, by default.
    pub local_address: Option<IpAddr>,
}

impl ClientConfig {
    /// A configuration naming this library as the software.
    pub fn new(server: impl Into<String>, trust: Trust) -> Self {
        Self {
            server: server.into(),
            trust,
            software: concat!("natter-client ", env!("CARGO_PKG_VERSION")).to_owned(),
            congestion: Congestion::default(),
            local_address: None,
        }
    }
}
