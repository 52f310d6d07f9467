//! Natter's server as a library: `Server::bind` then `Server::run(shutdown)`.
//!
//! The binary in `main.rs` only parses flags and wires up Ctrl-C; tests,
//! benchmarks and the GUI's embedded server call the same two functions.
//! Where things live: [`listener`] accepts connections under the limits
//! [`admission`] keeps, [`session`] is the one task per connection,
//! [`context`] the state all of them share, [`auth`] checks passwords and
//! throttles guessing, [`hub`] tracks presence and fans messages out,
//! [`router`] validates, stores and routes what users send, [`history`]
//! answers history pages, [`store`] keeps accounts and history, [`media`]
//! stores pictures and files and serves their transfer streams, [`tls`]
//! owns the certificate.

pub mod admission;
pub mod auth;
pub mod commit;
pub mod config;
pub mod context;
pub mod history;
pub mod hub;
pub mod listener;
pub mod media;
pub mod router;
pub mod send_rate;
pub mod session;
pub mod store;
pub mod tls;

use std::future::Future;

pub use config::Config;
pub use listener::{Endpoint, Server};

/// Binds the server and runs it until `shutdown` completes, then drains.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let server = Server::bind(config).await?;
    server.run(shutdown).await
}
