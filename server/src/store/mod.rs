//! Accounts, login tokens and message history behind one small interface.
//!
//! [`Store`] is synchronous and is called from `spawn_blocking` (see
//! [`Blocking`]); SQLite ([`sqlite::SqliteStore`]) is the embedded default. A
//! PostgreSQL store for several server nodes would implement the same trait.

pub mod sqlite;

use std::sync::Arc;

use natter_common::protocol::MediaKind;
use natter_common::{
    BlobHash, ChatMessage, ClientMsgId, Content, Conversation, MessageId, Timestamp, UserName,
};

/// A stored account.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: AccountId,
    pub name: UserName,
    /// PHC-format argon2id hash.
    pub password_hash: String,
}

/// Row id of an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AccountId(pub i64);

/// A message about to be stored; `to == None` is the group.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub from: Account,
    pub to: Option<Account>,
    pub client_id: ClientMsgId,
    pub sent_at: Timestamp,
    pub content: Content,
}

/// The outcome of [`Store::append`].
#[derive(Debug, Clone)]
pub struct Appended {
    pub message: ChatMessage,
    /// False when (sender, client id) was already stored: a resend. The
    /// returned message is the original, and must not be delivered again.
    pub fresh: bool,
}

/// A page of messages, oldest first; `more` says older ones exist.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub messages: Vec<ChatMessage>,
    pub more: bool,
}

/// What bounds one user's uploads, for [`Store::reserve_upload`].
#[derive(Debug, Clone, Copy)]
pub struct UploadLimits {
    pub quota: u64,
    pub max_partials: u32,
}

/// The outcome of [`Store::reserve_upload`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    Reserved,
    /// `used` (stored and reserved) plus the upload would pass the quota.
    OverQuota {
        used: u64,
    },
    /// The account already has its most unfinished uploads.
    TooManyPartials,
}

/// Errors from a store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the name is taken")]
    NameTaken,
    #[error("storage error: {0}")]
    Backend(String),
}

/// Durable state. Every write is durable when the call returns.
pub trait Store: Send + Sync + 'static {
    /// Creates an account; [`StoreError::NameTaken`] if the case-folded
    /// name exists.
    fn create_account(&self, name: &UserName, password_hash: &str) -> Result<Account, StoreError>;
    /// Looks an account up by name, without regard to case.
    fn account(&self, name: &str) -> Result<Option<Account>, StoreError>;
    /// Records a login token (by its hash) valid until `expires`.
    fn save_token(
        &self,
        account: AccountId,
        token_hash: [u8; 32],
        expires: Timestamp,
    ) -> Result<(), StoreError>;
    /// The account a still-valid token belongs to.
    fn token_account(
        &self,
        token_hash: [u8; 32],
        now: Timestamp,
    ) -> Result<Option<Account>, StoreError>;
    /// Forgets a token (logout).
    fn drop_token(&self, token_hash: [u8; 32]) -> Result<(), StoreError>;
    /// Stores a message, or returns the one stored earlier under the same
    /// (sender, client id). Ids grow in commit order.
    fn append(&self, message: NewMessage) -> Result<Appended, StoreError>;
    /// Messages `viewer` may see with ids above `since`: the newest `limit`
    /// of them, oldest first; `more` if older ones were left out.
    fn missed(
        &self,
        viewer: &Account,
        since: Option<MessageId>,
        limit: u32,
    ) -> Result<Page, StoreError>;
    /// Up to `limit` messages of one conversation older than `before`.
    fn history(
        &self,
        viewer: &Account,
        conversation: &Conversation,
        before: Option<MessageId>,
        limit: u16,
    ) -> Result<Page, StoreError>;

    /// The size of a complete stored blob.
    fn blob_size(&self, hash: BlobHash) -> Result<Option<u64>, StoreError>;
    /// Records that `account` uploaded (or re-uploaded) a complete blob;
    /// its reservation, if any, becomes stored bytes in the same commit.
    fn record_upload(
        &self,
        account: AccountId,
        hash: BlobHash,
        size: u64,
        kind: MediaKind,
    ) -> Result<(), StoreError>;
    /// Bytes of media `account` stores (each blob it uploaded, once) or
    /// has reserved for unfinished uploads.
    fn used_bytes(&self, account: AccountId) -> Result<u64, StoreError>;
    /// Whether `viewer` may fetch a blob: they uploaded it, or they can see
    /// a message that references it.
    fn may_fetch(&self, viewer: &Account, hash: BlobHash) -> Result<bool, StoreError>;
    /// Whether `account` uploaded the blob.
    fn uploaded(&self, account: AccountId, hash: BlobHash) -> Result<bool, StoreError>;

    // ---- logins: known addresses, throttling ----

    // ---- media: reservations, partial uploads, reconciling ----

    /// Reserves `size` bytes of `account`'s quota for an upload of `hash`,
    /// atomically: stored bytes, other reservations and this one together
    /// stay within `limits.quota`, and the account keeps at most
    /// `limits.max_partials` unfinished uploads. Reserving again for the
    /// same blob (a resume) keeps one reservation and marks it fresh.
    fn reserve_upload(
        &self,
        account: AccountId,
        hash: BlobHash,
        size: u64,
        limits: UploadLimits,
    ) -> Result<Reservation, StoreError>;
    /// Gives up a reservation: its upload failed for good or expired.
    fn release_upload(&self, account: AccountId, hash: BlobHash) -> Result<(), StoreError>;
    /// Unfinished uploads last started before `before`.
    fn stale_partials(&self, before: Timestamp) -> Result<Vec<(AccountId, BlobHash)>, StoreError>;
    /// Every unfinished upload.
    fn partials(&self) -> Result<Vec<(AccountId, BlobHash)>, StoreError>;
    /// Every recorded blob.
    fn blob_hashes(&self) -> Result<Vec<BlobHash>, StoreError>;
    /// Forgets a blob whose file is gone, and who uploaded it, so the next
    /// upload of it receives the bytes again.
    fn forget_blob(&self, hash: BlobHash) -> Result<(), StoreError>;

    // ---- tokens and sessions ----

    // ---- messages ----
}

/// Runs store calls on tokio's blocking pool so SQLite's fsyncs never stall
/// the executor.
#[derive(Clone)]
pub struct Blocking(pub Arc<dyn Store>);

impl Blocking {
    pub async fn call<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
    {
        let store = self.0.clone();
        tokio::task::spawn_blocking(move || f(store.as_ref()))
            .await
            .map_err(|e| StoreError::Backend(format!("store task failed: {e}")))?
    }
}
