//! Natter's own emoji, drawn in code with macroquad shapes: the art
//! (`art`, painted with the `brush`es), the animated picker panel, and
//! the sheet that shows them all.

mod art;
mod brush;
mod picker;
mod sheet;

pub use art::draw_emoji;
pub use picker::{panel_rect, EmojiPicker, PANEL_COLUMNS};
pub use sheet::sheet;
