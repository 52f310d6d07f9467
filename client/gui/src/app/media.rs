//! Pictures and files: where each one's bytes are on this machine (by its
//! hash), and the uploads and downloads moving them, each under the one id
//! the library gave it. An upload is followed to its end: its bytes up,
//! then the library's word on the message that posts them, so a refused
//! picture or file is told to the user like a failed upload.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use natter_client::{Progress, TransferId};
use natter_common::{BlobHash, ClientMsgId, Conversation, MediaKind, MediaRef};

use crate::app::intent::Intent;
use crate::app::link::{Command, ShareIds};
use crate::app::popups::Toasts;

/// Where a picture's or file's bytes are on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaSlot {
    /// Asked for; `transfer` is `None` until the library has started the
    /// download. `then` is what to do with the file once it is here.
    Fetching {
        transfer: Option<TransferId>,
        then: AfterFetch,
    },
    Ready(PathBuf),
    Failed(String),
}

/// What to do with a file once it is downloaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFetch {
    Nothing,
    Open,
    ShowFolder,
}

/// Why a transfer runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferPurpose {
    /// Sharing a local file into a conversation; `message` is the id of
    /// the message that posts it once the bytes are up.
    Upload {
        conversation: Conversation,
        picture: bool,
        message: ClientMsgId,
    },
    /// Downloading a blob into the cache.
    Download { hash: BlobHash, kind: MediaKind },
}

/// One upload or download, with its progress.
#[derive(Debug, Clone, PartialEq)]
pub struct Transfer {
    /// The library's id for it.
    pub id: TransferId,
    pub name: String,
    pub purpose: TransferPurpose,
    pub done: u64,
    pub total: u64,
    pub bytes_per_sec: f64,
}

impl Transfer {
    fn new(id: TransferId, name: String, purpose: TransferPurpose, total: u64) -> Self {
        Self {
            id,
            name,
            purpose,
            done: 0,
            total,
            bytes_per_sec: 0.0,
        }
    }

    /// 0..=1, or 0 while the size is unknown.
    pub fn fraction(&self) -> f32 {
        if self.total == 0 {
            0.0
        } else {
            (self.done as f64 / self.total as f64).clamp(0.0, 1.0) as f32
        }
    }

    /// The message an upload posts.
    fn message(&self) -> Option<ClientMsgId> {
        match self.purpose {
            TransferPurpose::Upload { message, .. } => Some(message),
            TransferPurpose::Download { .. } => None,
        }
    }
}

/// The pictures and files this client knows, and what moves them.
#[derive(Debug, Clone, Default)]
pub struct Media {
    /// By the library's id.
    pub transfers: BTreeMap<TransferId, Transfer>,
    pub pictures: HashMap<BlobHash, MediaSlot>,
    pub files: HashMap<BlobHash, MediaSlot>,
}

impl Media {
    fn slots_mut(&mut self, kind: MediaKind) -> &mut HashMap<BlobHash, MediaSlot> {
        match kind {
            MediaKind::Photo => &mut self.pictures,
            MediaKind::File => &mut self.files,
        }
    }

    /// Something moves: frames must come fast.
    pub fn busy(&self) -> bool {
        !self.transfers.is_empty()
    }

    // ---- what the user asks -----------------------------------------

    /// Carries out the intents about pictures and files (others change
    /// nothing).
    pub fn handle(&mut self, intent: Intent) -> Vec<Command> {
        match intent {
            Intent::FetchMedia { media, kind } => self
                .fetch(media, kind, AfterFetch::Nothing)
                .into_iter()
                .collect(),
            Intent::OpenFile(media) => self.file_action(media, AfterFetch::Open),
            Intent::ShowFolder(media) => self.file_action(media, AfterFetch::ShowFolder),
            Intent::OpenPath(path) => vec![Command::OpenPath(path)],
            Intent::ShowPathInFolder(path) => vec![Command::ShowInFolder(path)],
            Intent::CancelTransfer(id) => self.cancel(id),
            _ => Vec::new(),
        }
    }

    /// Asks for a download unless one runs (then it may do more once
    /// done) or, when nothing more is wanted, the bytes are here or failed.
    fn fetch(&mut self, media: MediaRef, kind: MediaKind, then: AfterFetch) -> Option<Command> {
        let slots = self.slots_mut(kind);
        match slots.get_mut(&media.hash) {
            Some(MediaSlot::Fetching { then: wanted, .. }) => {
                if then != AfterFetch::Nothing {
                    *wanted = then;
                }
                return None;
            }
            Some(MediaSlot::Ready(_) | MediaSlot::Failed(_)) if then == AfterFetch::Nothing => {
                return None
            }
            _ => {}
        }
        let transfer = None;
        slots.insert(media.hash, MediaSlot::Fetching { transfer, then });
        Some(Command::Fetch { media, kind })
    }

    fn file_action(&mut self, media: MediaRef, then: AfterFetch) -> Vec<Command> {
        if let Some(MediaSlot::Ready(path)) = self.files.get(&media.hash) {
            return vec![after_fetch(then, path).unwrap_or(Command::OpenPath(path.clone()))];
        }
        self.fetch(media, MediaKind::File, then)
            .into_iter()
            .collect()
    }

    fn cancel(&mut self, id: TransferId) -> Vec<Command> {
        let Some(transfer) = self.transfers.remove(&id) else {
            return Vec::new();
        };
        if let TransferPurpose::Download { hash, kind } = transfer.purpose {
            self.slots_mut(kind).remove(&hash);
        }
        vec![Command::Cancel(id)]
    }

    // ---- what the network reports ------------------------------------

    /// [`Command::Fetch`] answered: the download runs under `outcome`'s
    /// id, or failed at once.
    pub fn fetching(
        &mut self,
        media: MediaRef,
        kind: MediaKind,
        outcome: Result<TransferId, String>,
        toasts: &mut Toasts,
        now: f64,
    ) -> Vec<Command> {
        let id = match outcome {
            Ok(id) => id,
            Err(reason) => {
                self.download_failed(media.hash, kind, &media.name, reason, toasts, now);
                return Vec::new();
            }
        };
        match self.slots_mut(kind).get_mut(&media.hash) {
            Some(MediaSlot::Fetching { transfer, .. }) if transfer.is_none() => {
                *transfer = Some(id)
            }
            // Nobody waits for these bytes any more.
            _ => return vec![Command::Cancel(id)],
        }
        let purpose = TransferPurpose::Download {
            hash: media.hash,
            kind,
        };
        let transfer = Transfer::new(id, media.name, purpose, media.size);
        self.transfers.insert(id, transfer);
        Vec::new()
    }

    /// [`Command::Share`] answered: the upload runs under `outcome`'s ids,
    /// or failed at once.
    pub fn sharing(
        &mut self,
        conversation: Conversation,
        path: &Path,
        as_file: bool,
        outcome: Result<ShareIds, String>,
        toasts: &mut Toasts,
        now: f64,
    ) {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        match outcome {
            Ok(ids) => {
                let purpose = TransferPurpose::Upload {
                    conversation,
                    picture: !as_file,
                    message: ids.message,
                };
                let transfer = Transfer::new(ids.transfer, name, purpose, 0);
                self.transfers.insert(ids.transfer, transfer);
            }
            Err(reason) => toasts.error(now, format!("Could not send {name}: {reason}")),
        }
    }

    pub fn progress(&mut self, p: &Progress) {
        if let Some(t) = self.transfers.get_mut(&p.id) {
            t.done = p.done;
            t.total = p.total;
            t.bytes_per_sec = p.bytes_per_sec as f64;
        }
    }

    /// A transfer ended: a download fills its slot (and may open the
    /// file); an upload waits for its message's fate, or says why it
    /// failed.
    pub fn transfer_done(
        &mut self,
        id: TransferId,
        outcome: Result<PathBuf, String>,
        toasts: &mut Toasts,
        now: f64,
    ) -> Vec<Command> {
        let Some(mut transfer) = self.transfers.remove(&id) else {
            return Vec::new();
        };
        match (&transfer.purpose, outcome) {
            (TransferPurpose::Download { hash, kind }, Ok(path)) => {
                let slot = self
                    .slots_mut(*kind)
                    .insert(*hash, MediaSlot::Ready(path.clone()));
                match slot {
                    Some(MediaSlot::Fetching { then, .. }) => after_fetch(then, &path),
                    _ => None,
                }
                .into_iter()
                .collect()
            }
            (TransferPurpose::Download { hash, kind }, Err(reason)) => {
                self.download_failed(*hash, *kind, &transfer.name, reason, toasts, now);
                Vec::new()
            }
            (TransferPurpose::Upload { .. }, Ok(_)) => {
                // Up; still "sending" until the server takes the message.
                transfer.done = transfer.total.max(transfer.done);
                self.transfers.insert(id, transfer);
                Vec::new()
            }
            (TransferPurpose::Upload { .. }, Err(reason)) => {
                toasts.error(now, format!("Could not send {}: {reason}", transfer.name));
                Vec::new()
            }
        }
    }

    fn download_failed(
        &mut self,
        hash: BlobHash,
        kind: MediaKind,
        name: &str,
        reason: String,
        toasts: &mut Toasts,
        now: f64,
    ) {
        self.slots_mut(kind)
            .insert(hash, MediaSlot::Failed(reason.clone()));
        if kind == MediaKind::File {
            toasts.error(now, format!("Could not download {name}: {reason}"));
        }
    }

    /// The upload whose message the library queued as `client_id`.
    fn upload_posting(&self, client_id: ClientMsgId) -> Option<TransferId> {
        self.transfers
            .values()
            .find(|t| t.message() == Some(client_id))
            .map(|t| t.id)
    }

    /// Whether `client_id` is the message of one of our uploads.
    pub fn posts(&self, client_id: ClientMsgId) -> bool {
        self.upload_posting(client_id).is_some()
    }

    /// The server stored the message of an upload: it is over (the
    /// message itself arrives like any other). False when no upload posts
    /// `client_id`.
    pub fn post_accepted(&mut self, client_id: ClientMsgId) -> bool {
        let Some(id) = self.upload_posting(client_id) else {
            return false;
        };
        self.transfers.remove(&id);
        true
    }

    /// The server refused the message of an upload: the upload failed,
    /// and the user is told why. False when no upload posts `client_id`.
    pub fn post_rejected(
        &mut self,
        client_id: ClientMsgId,
        reason: String,
        toasts: &mut Toasts,
        now: f64,
    ) -> bool {
        let Some(transfer) = self
            .upload_posting(client_id)
            .and_then(|id| self.transfers.remove(&id))
        else {
            return false;
        };
        toasts.error(now, format!("Could not send {}: {reason}", transfer.name));
        true
    }
}

/// The command that does what was wanted with a downloaded file.
fn after_fetch(then: AfterFetch, path: &Path) -> Option<Command> {
    match then {
        AfterFetch::Nothing => None,
        AfterFetch::Open => Some(Command::OpenPath(path.to_path_buf())),
        AfterFetch::ShowFolder => Some(Command::ShowInFolder(path.to_path_buf())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn picture() -> MediaRef {
        MediaRef {
            hash: BlobHash([4; 32]),
            name: "cat.png".into(),
            size: 10,
        }
    }

    fn fetch(media: &mut Media) -> Vec<Command> {
        let kind = MediaKind::Photo;
        media.handle(Intent::FetchMedia {
            media: picture(),
            kind,
        })
    }

    /// The library's answer to a fetch: a download under `id`.
    fn started(media: &mut Media, id: u64) -> Vec<Command> {
        let mut toasts = Toasts::default();
        let outcome = Ok(TransferId(id));
        media.fetching(picture(), MediaKind::Photo, outcome, &mut toasts, 0.0)
    }

    #[test]
    fn pictures_are_fetched_once() {
        let mut media = Media::default();
        assert_eq!(fetch(&mut media).len(), 1);
        // Asked again before the library answered, then after.
        assert!(fetch(&mut media).is_empty());
        assert!(started(&mut media, 1).is_empty());
        assert!(fetch(&mut media).is_empty());
        let mut toasts = Toasts::default();
        media.transfer_done(TransferId(1), Err("gone".into()), &mut toasts, 0.0);
        let failed = MediaSlot::Failed("gone".into());
        assert_eq!(media.pictures.get(&picture().hash), Some(&failed));
        assert!(fetch(&mut media).is_empty());
        // Pictures fail quietly: the view shows it.
        assert!(toasts.is_empty());
    }

    #[test]
    fn a_cancelled_download_is_forgotten_and_stopped() {
        let mut media = Media::default();
        fetch(&mut media);
        started(&mut media, 1);
        let commands = media.handle(Intent::CancelTransfer(TransferId(1)));
        assert_eq!(commands, vec![Command::Cancel(TransferId(1))]);
        assert!(media.pictures.is_empty() && !media.busy());
        // The library's answer for bytes nobody waits for any more.
        assert_eq!(started(&mut media, 2), vec![Command::Cancel(TransferId(2))]);
        assert!(media
            .handle(Intent::CancelTransfer(TransferId(1)))
            .is_empty());
    }

    #[test]
    fn a_file_download_that_cannot_start_is_told() {
        let mut media = Media::default();
        let mut toasts = Toasts::default();
        let report = MediaRef {
            name: "report.pdf".into(),
            ..picture()
        };
        let open = media.handle(Intent::OpenFile(report.clone()));
        assert!(matches!(open.as_slice(), [Command::Fetch { .. }]));
        let outcome = Err("not logged in".into());
        media.fetching(report, MediaKind::File, outcome, &mut toasts, 0.0);
        let text = &toasts.get(0).unwrap().text;
        assert_eq!(text, "Could not download report.pdf: not logged in");
    }

    #[test]
    fn an_upload_lasts_until_its_message_is_settled() {
        let mut media = Media::default();
        let mut toasts = Toasts::default();
        let ids = ShareIds {
            transfer: TransferId(5),
            message: ClientMsgId(50),
        };
        let path = Path::new("/tmp/notes.txt");
        let group = Conversation::Group;
        media.sharing(group, path, true, Ok(ids), &mut toasts, 0.0);
        assert!(media.posts(ClientMsgId(50)) && !media.posts(ClientMsgId(51)));
        media.progress(&Progress {
            id: TransferId(5),
            name: "notes.txt".into(),
            upload: true,
            done: 6,
            total: 10,
            bytes_per_sec: 3,
        });
        let done = Ok(PathBuf::from("/c/notes.txt"));
        media.transfer_done(TransferId(5), done, &mut toasts, 0.0);
        // Up: shown full while the server has yet to take the message.
        assert_eq!(media.transfers[&TransferId(5)].fraction(), 1.0);
        assert!(media.post_accepted(ClientMsgId(50)));
        assert!(!media.busy() && !media.post_accepted(ClientMsgId(50)));
        assert!(toasts.is_empty());
    }
}
