//! The chat client: a cheap handle ([`Client`]) in front of one background
//! task that owns the connection, logs in, delivers events in order without
//! duplicates, keeps unconfirmed messages, and reconnects when the network
//! drops.
//!
//! # Delivery rules
//!
//! - Messages are delivered in increasing id order, each once: the task
//!   remembers the highest id it delivered and asks the server to replay
//!   only newer ones after a reconnect.
//! - A sent message stays pending until the server accepts or rejects it.
//!   After a reconnect, pending messages are resent in order with the same
//!   client id; the server recognises them, so nothing is stored twice.
//! - `Rejected` is final, except for two answers that mean "not now":
//!   `RateLimited` (the account sends faster than the server allows) and
//!   `Unavailable` (the server's storage is busy or full). Such a message
//!   stays pending: the task emits [`ClientEvent::Throttled`] with the
//!   delay, holds it and every later pending message back, and when the
//!   delay is over resends them in order with the same client ids. The
//!   delay is the server's `retry_after_ms`, or for `Unavailable` the
//!   reconnect backoff's schedule (200 ms doubling to 10 s, jittered),
//!   which an acceptance resets. The server holds the session's later
//!   sends back until the held one is resent, so messages are stored in
//!   the order they were sent, each once, and the application only ever
//!   sees `Accepted` or a final `Rejected` for each.
//! - Events go through a bounded queue. If the application stops reading
//!   and the queue fills up, the task stops delivering, and once the
//!   application has drained half of the queue it reconnects and catches
//!   up from the last message it did deliver. Memory stays bounded and
//!   nothing is lost, except beyond the server's replay cap (2000
//!   messages), which `CaughtUp { truncated: true }` reports; older ones
//!   are then paged with [`Client::history`].
//!
//! # Where it lives
//!
//! `handle.rs` is the [`Client`] the application holds; it talks to the
//! task in `session/` through the requests of `request.rs` and reads what
//! the task publishes in `view.rs`. `session/delivery.rs` implements the
//! rules above; `events.rs` is what the application reads.

pub(crate) mod config;
pub(crate) mod events;
pub(crate) mod handle;
pub(crate) mod register;
pub(crate) mod request;
pub(crate) mod session;
mod validate;
pub(crate) mod view;

pub use self::config::ClientConfig;
pub use self::events::{ClientEvent, Events, EVENT_QUEUE};
pub use self::handle::{Client, MAX_PENDING_SENDS};
pub use self::register::{register, register_account, Registration};
pub use self::request::HistoryPage;
