//! The chat room's geometry, worked out without a window: where the room's
//! parts go, how each message is measured (wrapped text, bubble sizes,
//! messages grouped under one header), which rows are in view, and how the
//! list scrolls and keeps the reader's place. Nothing here draws; text is
//! measured through [`Measure`], so the tests use a fixed-width stand-in.
//!
//! Row heights are measured once per conversation revision and width
//! (text is wrapped once per width, cached by message) and kept as
//! offsets, so the rows in view are found by binary search and a
//! 10,000-message history costs what a screen of it costs.

mod bubbles;
mod room;
mod rows;
mod scroll;

pub use bubbles::{Body, Measure, BUBBLE_PAD_X, BUBBLE_PAD_Y, EMOJI_SIZE};
pub use room::{
    composer_height, composer_text_width, toast_rects, Room, BANNER_H, LIST_PAD_X, TEXT_SIZE,
    UPLOAD_CARD_H,
};
pub use rows::{Layout, Message, Row, RowPlaces, Stamp, AVATAR_GUTTER, LIST_TOP_PAD};
pub use scroll::{new_messages_label, unseen, Scroll};
