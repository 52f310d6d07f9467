//! Natter's graphical client: the macroquad frame loop and what it draws.
//!
//! [`app`] is plain state with `apply(event)` and `handle(intent)`, no
//! macroquad import, and the network thread that drives a headless
//! [`natter_client::Client`]; [`ui`] draws that state and returns intents.
//! The `natter` binary opens the window, and hosts a local server when none
//! answers.

pub mod app;
pub mod ui;
