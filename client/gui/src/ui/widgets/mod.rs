//! Immediate-mode building blocks the views are drawn with: the frame's
//! input, the `Ui` a view draws with, filled shapes, buttons, text fields
//! and the small icons drawn in code.

mod buttons;
mod icons;
mod input;
mod shapes;
mod text_field;
mod ui;

pub use buttons::{button, icon_button, ButtonStyle};
pub use icons::{
    avatar, icon_check, icon_clock, icon_close, icon_file, icon_menu, icon_picture, icon_send,
    icon_smiley, icon_warning,
};
pub use input::{FrameInput, InputCollector, Key};
pub use shapes::{progress_bar, rounded_frame, rounded_rect, shadow};
pub use text_field::{
    caret_visible, clean_pasted, field_line_count, next_caret_blink, paste, text_field,
    FieldAction, FieldLook,
};
pub use ui::Ui;
