//! Natter's client library: a headless async chat client over QUIC.
//!
//! [`Client::login`] connects, checks the server's certificate fingerprint
//! ([`trust`]), logs in, and hands back a [`Client`] to act with and an
//! [`Events`] stream of what happens. A background task keeps the session
//! alive across network drops: it reconnects, resumes, replays what was
//! missed without duplicates, and resends unconfirmed messages. The GUI
//! (the `natter` crate), the CLI, the end-to-end tests and the benchmarks
//! all use this crate; it draws nothing and hosts no server.
//!
//! Pictures and files travel on streams of their own: [`transfer`] runs
//! uploads and downloads ([`Client::share`], [`Client::fetch`]) into the
//! per-account [`cache`], with [`hash`] and [`picture`] reading local files
//! and [`launch`] handing cached ones to the operating system. The
//! [`connection`] module reaches a server and speaks the control stream.

pub mod cache;
pub mod client;
pub mod connection;
pub mod error;
pub mod hash;
pub mod launch;
pub mod picture;
pub mod transfer;
pub mod trust;

pub use cache::{CachedItem, MediaCache};
pub use client::{
    register, register_account, Client, ClientConfig, ClientEvent, Events, HistoryPage,
    Registration,
};
pub use error::ClientError;
pub use transfer::{Progress, Share, ShareReceipt, TransferId};
pub use trust::{FirstUse, Trust};

/// Messages a client asks for per history page (the GUI at every login).
pub const HISTORY_PAGE: u16 = 100;
