//! The window's title, from the state: who you are and who you talk to,
//! as the original's `me->peer` title said, and how many messages wait
//! unread elsewhere.

use natter_common::Conversation;

use crate::app::state::AppState;

/// What the window is called before anyone logs in.
pub const PLAIN: &str = "natter";

/// `natter — alice → bob`, `natter — alice → group (3 unread)`, or just
/// `natter` on the login screen.
pub fn window_title(state: &AppState) -> String {
    let Some(me) = &state.me else {
        return PLAIN.to_owned();
    };
    let peer = match &state.selected {
        Conversation::Group => "group",
        Conversation::With(user) => user.as_str(),
    };
    let unread = state.conversations.unread_total();
    if unread == 0 {
        format!("{PLAIN} — {me} → {peer}")
    } else {
        format!("{PLAIN} — {me} → {peer} ({unread} unread)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::link::NetEvent;
    use natter_common::UserName;

    fn logged_in(me: &str) -> AppState {
        let mut state = AppState::new("server", me, "");
        state.apply(NetEvent::LoggedIn {
            me: UserName::parse(me).unwrap(),
            server: "server".into(),
            max_text_chars: 4000,
        });
        state
    }

    #[test]
    fn the_title_names_me_and_the_peer_and_counts_unread() {
        assert_eq!(window_title(&AppState::new("s", "", "")), "natter");
        let mut state = logged_in("张伟");
        assert_eq!(window_title(&state), "natter — 张伟 → group");
        let bob = Conversation::With(UserName::parse("bob").unwrap());
        state.selected = bob.clone();
        assert_eq!(window_title(&state), "natter — 张伟 → bob");
        state.conversations.log_mut(&Conversation::Group).unread = 3;
        assert_eq!(window_title(&state), "natter — 张伟 → bob (3 unread)");
    }
}
