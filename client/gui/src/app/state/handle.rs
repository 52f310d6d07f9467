//! What the user asks, carried out: [`AppState::handle`] hands each
//! intent to the subject it is about, and sends what the composer and the
//! share sheet hand over to the conversation on screen.

use natter_common::Conversation;

use super::AppState;
use crate::app::intent::{Field, Intent};
use crate::app::link::Command;
use crate::app::login::Screen;
use crate::app::share::{self, Choice};

impl AppState {
    /// Carries out one intent, handing it to the subject it is about;
    /// returns what the network thread (or the frame loop, for dialogs)
    /// must do.
    pub fn handle(&mut self, intent: Intent) -> Vec<Command> {
        self.revision += 1;
        match intent {
            Intent::Focus(Field::Composer) => self.composer.focused = true,
            Intent::Focus(Field::SharePath) => self.composer.focused = false,
            Intent::Edit {
                field: Field::Composer,
                ..
            }
            | Intent::SendText
            | Intent::SendEmoji(_)
            | Intent::ToggleEmojiPanel => return self.compose(intent),
            Intent::Edit {
                field: Field::SharePath,
                ..
            }
            | Intent::PickFile { .. }
            | Intent::FilePicked { .. }
            | Intent::ShareTypedPath
            | Intent::CloseShareSheet => {
                let choice = share::handle(&mut self.share_sheet, &mut self.composer, intent);
                return self.share(choice);
            }
            Intent::ShareDropped(path) if self.screen == Screen::Chat => {
                return self.share(Some(share::dropped(path)))
            }
            Intent::ShareDropped(_) => {}
            Intent::Focus(_)
            | Intent::Edit { .. }
            | Intent::ShowRegister
            | Intent::ShowLogin
            | Intent::Login
            | Intent::Register
            | Intent::AcceptFingerprint
            | Intent::RejectFingerprint
            | Intent::HostLocally => return self.login.handle(intent, &mut self.screen),
            Intent::BackToLogin => self.reset_to_login(),
            Intent::SelectConversation(c) => return self.select(c),
            Intent::LoadOlder => {
                let older = self.conversations.load_older(&self.selected);
                return older.into_iter().collect();
            }
            Intent::FetchMedia { .. }
            | Intent::OpenFile(_)
            | Intent::ShowFolder(_)
            | Intent::OpenPath(_)
            | Intent::ShowPathInFolder(_)
            | Intent::CancelTransfer(_) => return self.media.handle(intent),
            Intent::ViewPicture { .. }
            | Intent::ViewCachedPicture(_)
            | Intent::CloseOverlay
            | Intent::ToggleMenu
            | Intent::OpenCacheBrowser
            | Intent::CacheTab(_) => return self.popups.handle(intent),
            Intent::Logout => {
                self.popups.menu_open = false;
                return vec![Command::Logout];
            }
            Intent::DismissToast(id) => self.toasts.dismiss(id),
        }
        Vec::new()
    }

    fn select(&mut self, c: Conversation) -> Vec<Command> {
        self.popups.menu_open = false;
        self.composer.focused = true;
        let history = self.conversations.open(&c);
        self.selected = c;
        history.into_iter().collect()
    }

    /// An intent of the composer; what it hands over goes to the
    /// conversation on screen.
    fn compose(&mut self, intent: Intent) -> Vec<Command> {
        match self.composer.handle(intent, &mut self.toasts, self.now) {
            Some(content) if self.me.is_some() => vec![Command::Send {
                conversation: self.selected.clone(),
                content,
            }],
            _ => Vec::new(),
        }
    }

    /// What the share sheet chose: the dialog to run, or a file to share
    /// into the conversation on screen.
    fn share(&mut self, choice: Option<Choice>) -> Vec<Command> {
        match choice {
            Some(Choice::Dialog { picture }) => vec![Command::OpenFileDialog { picture }],
            Some(Choice::File { path, picture }) if self.me.is_some() => vec![Command::Share {
                conversation: self.selected.clone(),
                path,
                as_file: !picture,
            }],
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::super::tests::logged_in;
    use super::*;
    use crate::app::conversations::tests::name;
    use crate::app::intent::Edit;
    use crate::app::state::DEFAULT_SERVER;

    #[test]
    fn the_share_sheet_shares_into_the_conversation_on_screen() {
        let mut s = logged_in("alice");
        let bob = Conversation::With(name("bob"));
        s.handle(Intent::SelectConversation(bob.clone()));
        let commands = s.handle(Intent::PickFile { picture: true });
        assert_eq!(commands, vec![Command::OpenFileDialog { picture: true }]);
        s.handle(Intent::FilePicked {
            path: None,
            picture: true,
            quick: true,
        });
        s.handle(Intent::Focus(Field::SharePath));
        assert!(!s.composer.focused);
        s.handle(Intent::Edit {
            field: Field::SharePath,
            edit: Edit::Insert("/tmp/cat.png".into()),
        });
        let commands = s.handle(Intent::ShareTypedPath);
        let share = Command::Share {
            conversation: bob,
            path: PathBuf::from("/tmp/cat.png"),
            as_file: false,
        };
        assert_eq!(commands, vec![share]);
        assert!(s.share_sheet.is_none() && s.composer.focused);
    }

    #[test]
    fn nothing_is_sent_or_shared_before_login() {
        let mut s = AppState::new(DEFAULT_SERVER, "alice", "pw");
        s.handle(Intent::Edit {
            field: Field::Composer,
            edit: Edit::Insert("hello".into()),
        });
        assert!(s.handle(Intent::SendText).is_empty());
        let dropped = Intent::ShareDropped(PathBuf::from("/tmp/cat.png"));
        assert!(s.handle(dropped).is_empty());
        assert!(s.handle(Intent::ShareTypedPath).is_empty());
    }

    #[test]
    fn intents_reach_their_subject() {
        let mut s = AppState::new(DEFAULT_SERVER, "", "");
        s.handle(Intent::Focus(Field::Server));
        assert_eq!(s.login.form.focus, Some(Field::Server));
        s.handle(Intent::Edit {
            field: Field::Name,
            edit: Edit::Insert("alice".into()),
        });
        assert_eq!(s.login.form.name.text, "alice");
        assert!(s.composer.draft.text.is_empty());
        s.handle(Intent::ToggleMenu);
        assert!(s.popups.menu_open);
        assert!(s.handle(Intent::Logout) == vec![Command::Logout] && !s.popups.menu_open);
    }

    #[test]
    fn selecting_a_conversation_asks_its_history_once() {
        let mut s = logged_in("alice");
        let bob = Conversation::With(name("bob"));
        s.handle(Intent::ToggleMenu);
        let commands = s.handle(Intent::SelectConversation(bob.clone()));
        assert!(matches!(commands.as_slice(), [Command::History { .. }]));
        assert_eq!(s.selected, bob);
        assert!(!s.popups.menu_open);
        assert!(s.handle(Intent::SelectConversation(bob)).is_empty());
        assert_eq!(s.title(), "natter — alice → bob");
    }
}
