//! Choosing what to share: the sheet that asks which picture or file
//! (through the system's file dialog, or a typed path where there is
//! none), and a file dropped on the window. What is chosen goes to the
//! state to be sent; the upload is the media's business.

use std::path::{Path, PathBuf};

use crate::app::composer::Composer;
use crate::app::intent::Intent;
use crate::app::text::TextBuffer;

/// The longest path the sheet takes.
const MAX_PATH_CHARS: usize = 4096;

/// The sheet that asks which picture or file to share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareSheet {
    pub picture: bool,
    pub path: TextBuffer,
    /// The system dialog is open on a worker thread.
    pub dialog_open: bool,
    /// The system dialog answered at once with nothing: there is none.
    pub no_dialog: bool,
    pub error: Option<String>,
}

/// What the user chose on the sheet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// Run the system file dialog.
    Dialog { picture: bool },
    /// Share this file.
    File { path: PathBuf, picture: bool },
}

/// Carries out the sheet's intents (others change nothing). The composer
/// gives up the keyboard while the sheet is up, and gets it back after.
pub fn handle(
    sheet: &mut Option<ShareSheet>,
    composer: &mut Composer,
    intent: Intent,
) -> Option<Choice> {
    match intent {
        Intent::PickFile { picture } => {
            composer.emoji_panel.open = false;
            composer.focused = false;
            *sheet = Some(ShareSheet::open(picture));
            return Some(Choice::Dialog { picture });
        }
        Intent::FilePicked {
            path: Some(path),
            picture,
            ..
        } => {
            *sheet = None;
            composer.focused = true;
            return Some(Choice::File { path, picture });
        }
        Intent::FilePicked {
            path: None, quick, ..
        } => {
            if let Some(sheet) = sheet {
                sheet.dialog_open = false;
                sheet.no_dialog = quick;
            }
        }
        Intent::ShareTypedPath => {
            let choice = sheet.as_ref().and_then(ShareSheet::typed)?;
            *sheet = None;
            composer.focused = true;
            return Some(choice);
        }
        Intent::Edit { edit, .. } => {
            if let Some(sheet) = sheet {
                sheet.path.edit(&edit, MAX_PATH_CHARS);
            }
        }
        Intent::CloseShareSheet => {
            *sheet = None;
            composer.focused = true;
        }
        _ => {}
    }
    None
}

impl ShareSheet {
    fn open(picture: bool) -> Self {
        Self {
            picture,
            path: TextBuffer::default(),
            dialog_open: true,
            no_dialog: false,
            error: None,
        }
    }

    /// The typed path, unless nothing is typed.
    fn typed(&self) -> Option<Choice> {
        let typed = self.path.text.trim();
        (!typed.is_empty()).then(|| Choice::File {
            path: expand_home(typed),
            picture: self.picture,
        })
    }
}

/// A file dropped on the window: a picture when its name says so.
pub fn dropped(path: PathBuf) -> Choice {
    let picture = looks_like_picture(&path);
    Choice::File { path, picture }
}

/// Whether a path names a picture by its extension (for dropped files).
pub fn looks_like_picture(path: &Path) -> bool {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    matches!(
        ext.as_deref(),
        Some("png" | "jpg" | "jpeg" | "gif" | "webp")
    )
}

fn expand_home(typed: &str) -> PathBuf {
    if let Some(rest) = typed.strip_prefix("~/") {
        if let Some(home) = directories::BaseDirs::new() {
            return home.home_dir().join(rest);
        }
    }
    PathBuf::from(typed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::intent::{Edit, Field};

    #[test]
    fn the_share_sheet_falls_back_to_a_typed_path() {
        let (mut sheet, mut composer) = (None, Composer::default());
        let choice = handle(
            &mut sheet,
            &mut composer,
            Intent::PickFile { picture: true },
        );
        assert_eq!(choice, Some(Choice::Dialog { picture: true }));
        assert!(!composer.focused);
        let nothing = Intent::FilePicked {
            path: None,
            picture: true,
            quick: true,
        };
        assert_eq!(handle(&mut sheet, &mut composer, nothing), None);
        assert!(sheet.as_ref().unwrap().no_dialog);
        // Nothing typed yet: the sheet stays.
        assert_eq!(
            handle(&mut sheet, &mut composer, Intent::ShareTypedPath),
            None
        );
        let typed = Intent::Edit {
            field: Field::SharePath,
            edit: Edit::Insert(" /tmp/cat.png ".into()),
        };
        handle(&mut sheet, &mut composer, typed);
        let choice = handle(&mut sheet, &mut composer, Intent::ShareTypedPath);
        let path = PathBuf::from("/tmp/cat.png");
        assert_eq!(
            choice,
            Some(Choice::File {
                path,
                picture: true
            })
        );
        assert!(sheet.is_none() && composer.focused);
    }

    #[test]
    fn dropped_pictures_are_told_by_their_extension() {
        assert_eq!(
            dropped("/tmp/Cat.JPG".into()),
            Choice::File {
                path: "/tmp/Cat.JPG".into(),
                picture: true
            }
        );
        assert!(!looks_like_picture(Path::new("/tmp/notes.txt")));
        assert!(!looks_like_picture(Path::new("/tmp/png")));
    }
}
