//! The graphical client's state and its link to the network, as plain data
//! that never touches a window.
//!
//! [`state`] holds what is on screen and hands each event to its subject:
//! [`login`] (the form and the trust prompt), [`conversations`] (messages
//! and the delivery of our own), [`composer`] (over the [`text`] buffer
//! every field uses), [`share`] (choosing a file), [`media`] (pictures,
//! files and their transfers) and [`popups`] (toasts, menu, overlays).
//! [`intent`] is what the user asked for; [`link`] what the state and the
//! network thread say to each other; [`net`] is that thread, which owns the
//! [`natter_client::Client`]. [`hooks`] holds the environment switches and
//! the state dump that end-to-end tests drive the GUI with, [`title`] the
//! window's title, [`wake`] the handle that wakes a sleeping window.

pub mod composer;
pub mod conversations;
pub mod hooks;
pub mod intent;
pub mod link;
pub mod login;
pub mod media;
pub mod net;
pub mod popups;
pub mod share;
pub mod state;
pub mod text;
pub mod title;
pub mod wake;

/// `text` cut to at most `max` characters, ending in "..." when cut: for
/// names and file names that come from the network and may be long. (The
/// CJK font draws "…" as centred dots, so three periods it is.)
pub fn truncate_for_display(text: &str, max: usize) -> String {
    let mut chars = text.chars();
    let head: String = chars.by_ref().take(max).collect();
    if chars.next().is_some() {
        let mut cut: String = head.chars().take(max.saturating_sub(3)).collect();
        cut.push_str("...");
        cut
    } else {
        head
    }
}

/// A byte count the way people read it: `532 B`, `1.4 MB`, `2.0 GB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_are_cut_with_an_ellipsis() {
        assert_eq!(truncate_for_display("alice", 8), "alice");
        assert_eq!(truncate_for_display("abcdefghij", 6), "abc...");
        assert_eq!(truncate_for_display("张伟张伟张伟", 5), "张伟...");
    }

    #[test]
    fn sizes_read_like_a_file_manager() {
        assert_eq!(human_size(532), "532 B");
        assert_eq!(human_size(1_400_000), "1.4 MB");
        assert_eq!(human_size(2_000_000_000), "2.0 GB");
    }
}
