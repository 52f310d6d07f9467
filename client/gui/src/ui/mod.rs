//! The graphical client's views (macroquad) and its frame loop.
//!
//! [`frame_loop`] runs the client: each frame it applies what the network
//! reported, draws one [`frame`] of whatever screen the state names
//! ([`login`], [`chat`], [`cache_browser`]), and hands the intents the
//! views return to the state. [`driver`] paces the frames and [`canvas`]
//! keeps the last one; [`window`] and [`screen`] are the window itself,
//! [`ime`] the input method. Views draw with the building blocks in
//! [`widgets`], the [`fonts`] and the [`theme`].
//!
//! The environment hooks for tests are described in [`crate::app::hooks`].

pub mod bench;
pub mod cache_browser;
pub mod candidates;
pub mod canvas;
pub mod chat;
pub mod driver;
pub mod emoji;
pub mod fonts;
pub mod frame;
pub mod frame_loop;
pub mod glyphs;
#[cfg(target_os = "linux")]
pub mod ime;
pub mod login;
pub mod media;
pub mod screen;
pub mod theme;
pub mod widgets;
pub mod window;
#[cfg(target_os = "linux")]
pub mod x11;

pub use frame_loop::run;
pub use screen::window_conf;
