//! What the user asked for: the values views return instead of acting.
//!
//! A view reads `&AppState`, draws, and hands back [`Intent`]s; the frame
//! loop feeds them to [`crate::app::state::AppState::handle`], which changes
//! the state and answers with commands for the network thread. Keeping the
//! user's wishes as data is what lets the state be tested without a window.

use std::path::PathBuf;

use natter_client::TransferId;
use natter_common::{Conversation, EmojiId, MediaKind, MediaRef};

/// Every editable text field of the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    Server,
    Name,
    Password,
    Confirm,
    /// The message box of the chat room.
    Composer,
    /// The typed path of a picture or file to share.
    SharePath,
}

/// One edit of a text field, as a keyboard or the clipboard produces it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    /// Typed or pasted text (already stripped of control characters,
    /// except `\n` for multi-line fields).
    Insert(String),
    Backspace,
    Delete,
    Left,
    Right,
    /// To the start of the line.
    Home,
    /// To the end of the line.
    End,
    /// Caret to a byte offset (clamped to a character boundary).
    SetCaret(usize),
    Clear,
}

/// Which half of the cache browser is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheTab {
    Pictures,
    Files,
}

/// A wish of the user, or of a view acting for them (a visible picture
/// that wants its bytes).
#[derive(Debug, Clone, PartialEq)]
pub enum Intent {
    Focus(Field),
    Edit {
        field: Field,
        edit: Edit,
    },
    /// Switch the form between logging in and creating an account.
    ShowRegister,
    ShowLogin,
    /// Submit the login form (its fields live in the state).
    Login,
    /// Submit the account creation form; logs in on success.
    Register,
    /// Trust the fingerprint the pending prompt shows, and connect.
    AcceptFingerprint,
    RejectFingerprint,
    /// Start a server inside this process and join it.
    HostLocally,
    /// After the connection ended for good: back to the login form.
    BackToLogin,

    SelectConversation(Conversation),
    SendText,
    SendEmoji(EmojiId),
    ToggleEmojiPanel,
    /// Open the share sheet (and the system file dialog, where there is one).
    PickFile {
        picture: bool,
    },
    /// The system file dialog answered; `None` is "cancelled or unavailable".
    FilePicked {
        path: Option<PathBuf>,
        picture: bool,
        quick: bool,
    },
    /// Send what the share sheet's path field names.
    ShareTypedPath,
    /// A file dropped on the window.
    ShareDropped(PathBuf),
    CloseShareSheet,
    /// Stop an upload or download, by the library's id for it.
    CancelTransfer(TransferId),

    /// A visible picture (or a thumbnail) wants its bytes.
    FetchMedia {
        media: MediaRef,
        kind: MediaKind,
    },
    /// Open a shared file with the system's program (downloading it first).
    OpenFile(MediaRef),
    /// Show a shared file in the file manager (downloading it first).
    ShowFolder(MediaRef),
    /// Open a cached file by its path (cache browser).
    OpenPath(PathBuf),
    ShowPathInFolder(PathBuf),
    /// Show a picture large, over everything.
    ViewPicture {
        media: MediaRef,
    },
    ViewCachedPicture(PathBuf),
    CloseOverlay,

    ToggleMenu,
    OpenCacheBrowser,
    CacheTab(CacheTab),
    Logout,
    /// The message list reached its top: page older history in.
    LoadOlder,
    DismissToast(u64),
}
