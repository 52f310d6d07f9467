//! Accounts, login tokens and message history behind one small interface.
//!
//! [`Store`] is synchronous and is called from `spawn_blocking` (see
//! [`Blocking`]). It is made of one trait per subject ([`Accounts`],
//! [`Tokens`], [`Messages`], [`Blobs`]); SQLite ([`sqlite::SqliteStore`]) is
//! the embedded default and implements each in its own file. A PostgreSQL
//! store for several server nodes would implement the same traits.

pub mod sqlite;

use std::net::IpAddr;
use std::sync::Arc;

use natter_common::protocol::MediaKind;
use natter_common::{
    BlobHash, ChatMessage, ClientMsgId, Content, Conversation, MessageId, Refusal, Timestamp,
    UserName,
};

/// Addresses remembered per account as having logged into it: a bound on
/// what one account's logins can make the store hold.
pub const MAX_KNOWN_ADDRESSES: u32 = 32;

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

/// The outcome of [`Messages::append`].
#[derive(Debug, Clone)]
pub struct Appended {
    pub message: ChatMessage,
    /// False when (sender, client id) was already stored: a resend. The
    /// returned message is the original, and must not be delivered again.
    pub fresh: bool,
}

/// One message's outcome in [`Messages::append_group`].
pub type Stored = Result<Appended, StoreError>;

/// A page of messages, oldest first; `more` says older ones exist.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub messages: Vec<ChatMessage>,
    pub more: bool,
}

/// What bounds one user's uploads, for [`Blobs::reserve_upload`].
#[derive(Debug, Clone, Copy)]
pub struct UploadLimits {
    pub quota: u64,
    pub max_partials: u32,
}

/// The outcome of [`Blobs::reserve_upload`].
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
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("the name is taken")]
    NameTaken,
    /// The database is busy or locked, the disk is full, or an I/O call
    /// failed: nothing was written, and the same call may succeed later.
    #[error("storage temporarily unavailable: {0}")]
    Transient(String),
    #[error("storage error: {0}")]
    Backend(String),
}

impl StoreError {
    /// Whether retrying the same call later may succeed (see
    /// [`StoreError::Transient`]).
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Transient(_))
    }
}

/// Durable state: everything below, from one backend. Every write is
/// durable when the call returns. The parts are split by subject as the
/// SQLite store's files are, so each file implements its own part.
pub trait Store: Accounts + Tokens + Messages + Blobs + Send + Sync + 'static {}

impl<T: Accounts + Tokens + Messages + Blobs + Send + Sync + 'static> Store for T {}

/// Accounts, and the addresses that logged into them.
pub trait Accounts {
    /// Creates an account; [`StoreError::NameTaken`] if an account with
    /// the same [`UserName::skeleton`] exists (a look-alike name).
    fn create_account(&self, name: &UserName, password_hash: &str) -> Result<Account, StoreError>;
    /// Looks an account up by name: by its skeleton, so without regard to
    /// case and look-alike characters.
    fn account(&self, name: &str) -> Result<Option<Account>, StoreError>;
    /// Whether `address` has logged into `account` with its password before
    /// (such an address is not held back by strangers' guesses).
    fn is_known_address(&self, account: AccountId, address: IpAddr) -> Result<bool, StoreError>;
    /// Records a successful password login from `address`. Only the
    /// [`MAX_KNOWN_ADDRESSES`] most recent addresses of an account are kept.
    fn remember_address(
        &self,
        account: AccountId,
        address: IpAddr,
        now: Timestamp,
    ) -> Result<(), StoreError>;
}

/// Login tokens and the families they rotate through.
pub trait Tokens {
    /// Records the token of a password login (by its hash) valid until
    /// `expires`. It starts a new [`Family`]: the tokens that resuming
    /// from this login rotates through.
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
    /// Resumes with a token: if `old` is valid at `new.now` (not expired
    /// and not past its grace), stores `new` in the same family and gives
    /// `old` a grace until `new.grace_until` (kept shorter if it already had
    /// one). Using a token also ends the grace of the one it replaced (the
    /// client evidently has the newer one) and forgets the successors `old`
    /// was given before (their reply was lost). `None` when `old` is
    /// unknown, expired or past its grace.
    fn rotate_token(&self, old: [u8; 32], new: NewToken) -> Result<Option<Resumed>, StoreError>;
    /// Whether a token is still stored (a session checks this after it
    /// registered for kicks, so a logout racing its login still ends it).
    fn token_alive(&self, token_hash: [u8; 32]) -> Result<bool, StoreError>;
    /// Forgets every token of one login (logout).
    fn drop_family(&self, family: Family) -> Result<(), StoreError>;
    /// Forgets every token of an account (logout everywhere).
    fn drop_account_tokens(&self, account: AccountId) -> Result<(), StoreError>;
    /// Keeps the tokens of an account's `keep` most recently renewed logins
    /// and forgets the rest, so logging in again and again cannot grow the
    /// table without bound.
    fn trim_logins(&self, account: AccountId, keep: u32) -> Result<(), StoreError>;
}

/// Message history, and the refusals remembered for resends.
pub trait Messages {
    /// Stores a group of messages in one transaction (one fsync for all),
    /// in order; each is stored, or its stored original returned for the
    /// same (sender, client id), or it fails alone. Ids grow in commit
    /// order. An outer error means nothing of the group was stored.
    fn append_group(&self, group: Vec<NewMessage>) -> Result<Vec<Stored>, StoreError>;
    /// [`Messages::append_group`] for one message.
    fn append(&self, message: NewMessage) -> Result<Appended, StoreError> {
        self.append_group(vec![message])?
            .pop()
            .unwrap_or_else(|| Err(StoreError::Backend("a group of one came back empty".into())))
    }
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
    /// The final refusal a `Send` of (sender, client id) got earlier, if
    /// it is still remembered (see [`Messages::remember_rejection`]).
    fn rejection(
        &self,
        sender: AccountId,
        client_id: ClientMsgId,
    ) -> Result<Option<Refusal>, StoreError>;
    /// Remembers a final refusal so a resend of the same client id gets
    /// it again. Each account's latest [`REMEMBERED_REJECTIONS`] are kept.
    fn remember_rejection(
        &self,
        sender: AccountId,
        client_id: ClientMsgId,
        refusal: &Refusal,
    ) -> Result<(), StoreError>;
}

/// The records of pictures and files: blobs, who uploaded them, who may
/// fetch them, and the reservations of unfinished uploads.
pub trait Blobs {
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
}

/// Rejections remembered per account; older ones are forgotten, and a
/// resend of one of those is judged afresh.
pub const REMEMBERED_REJECTIONS: u32 = 1000;

/// The tokens one password login rotates through; named by the hash of
/// its first token. Logging out ends the whole family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Family(pub [u8; 32]);

/// The token a resume issues, and the times that govern the old one.
#[derive(Debug, Clone, Copy)]
pub struct NewToken {
    pub hash: [u8; 32],
    pub now: Timestamp,
    pub expires: Timestamp,
    /// Until when the replaced token still resumes, in case the reply
    /// carrying this one is lost in flight.
    pub grace_until: Timestamp,
}

/// A successful [`Tokens::rotate_token`].
#[derive(Debug, Clone)]
pub struct Resumed {
    pub account: Account,
    pub family: Family,
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
