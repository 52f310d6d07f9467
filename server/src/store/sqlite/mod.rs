//! The embedded store: one SQLite file in WAL mode with `synchronous=FULL`,
//! so a message is on disk before the sender is told it was accepted.
//!
//! This file opens the database and holds its schema; the queries live by
//! subject in [`accounts`], [`tokens`], [`messages`] and [`media`].

mod accounts;
mod media;
mod messages;
mod tokens;

use std::net::IpAddr;
use std::path::Path;
use std::sync::Mutex;

use natter_common::protocol::MediaKind;
use natter_common::{BlobHash, ClientMsgId, Conversation, MessageId, Refusal, Timestamp, UserName};
use rusqlite::{Connection, OptionalExtension};

use super::migrate;
use super::{
    Account, AccountId, Appended, Family, NewMessage, NewToken, Page, Reservation, Resumed, Store,
    StoreError, UploadLimits,
};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS accounts (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
    token_hash BLOB PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    expires_at INTEGER NOT NULL
    -- family, parent, grace_until: added by migrate::tokens
);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sender_id INTEGER NOT NULL REFERENCES accounts(id),
    recipient_id INTEGER REFERENCES accounts(id),
    client_id INTEGER NOT NULL,
    sent_at INTEGER NOT NULL,
    content BLOB NOT NULL,
    UNIQUE (sender_id, client_id)
);
CREATE TABLE IF NOT EXISTS blobs (
    hash BLOB PRIMARY KEY,
    size INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS uploads (
    hash BLOB NOT NULL REFERENCES blobs(hash),
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    kind INTEGER NOT NULL,
    uploaded_at INTEGER NOT NULL,
    PRIMARY KEY (hash, account_id)
);
CREATE TABLE IF NOT EXISTS message_media (
    message_id INTEGER PRIMARY KEY REFERENCES messages(id),
    hash BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS known_addresses (
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    ip TEXT NOT NULL,
    last_login INTEGER NOT NULL,
    PRIMARY KEY (account_id, ip)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS partials (
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    hash BLOB NOT NULL,
    size INTEGER NOT NULL,
    started_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, hash)
);
CREATE INDEX IF NOT EXISTS message_media_by_hash ON message_media(hash);
CREATE INDEX IF NOT EXISTS messages_by_recipient ON messages(recipient_id, id);
CREATE INDEX IF NOT EXISTS messages_by_sender ON messages(sender_id, id);
-- A private conversation's pages: without it, every message either person
-- ever sent was read to find the few between them.
CREATE INDEX IF NOT EXISTS messages_by_pair ON messages(sender_id, recipient_id, id);
";

/// SQLite-backed [`Store`].
pub struct SqliteStore {
    db: Mutex<Connection>,
}

/// Wraps any error of the store; SQLite's busy, locked, full and I/O
/// failures become [`StoreError::Transient`] so callers can answer "try
/// again" instead of a final refusal.
pub(super) fn backend<E: std::fmt::Display + std::any::Any>(e: E) -> StoreError {
    let transient = (&e as &dyn std::any::Any)
        .downcast_ref::<rusqlite::Error>()
        .and_then(rusqlite::Error::sqlite_error_code)
        .is_some_and(is_transient);
    if transient {
        StoreError::Transient(e.to_string())
    } else {
        StoreError::Backend(e.to_string())
    }
}

fn is_transient(code: rusqlite::ErrorCode) -> bool {
    use rusqlite::ErrorCode::*;
    matches!(
        code,
        DatabaseBusy | DatabaseLocked | DiskFull | SystemIoFailure | OutOfMemory
    )
}

impl SqliteStore {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let db = Connection::open(path).map_err(backend)?;
        db.pragma_update(None, "journal_mode", "WAL")
            .map_err(backend)?;
        db.pragma_update(None, "synchronous", "FULL")
            .map_err(backend)?;
        db.pragma_update(None, "foreign_keys", "ON")
            .map_err(backend)?;
        db.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(backend)?;
        db.execute_batch(SCHEMA).map_err(backend)?;
        db.execute_batch(messages::MESSAGES_SCHEMA)
            .map_err(backend)?;
        migrate::tokens(&db)?;
        migrate::names(&db)?;
        Ok(Self { db: Mutex::new(db) })
    }

    /// How long a write waits for another connection's lock on the
    /// database before it fails as transient ([`StoreError::Transient`]).
    pub fn set_busy_timeout(&self, wait: std::time::Duration) -> Result<(), StoreError> {
        self.lock().busy_timeout(wait).map_err(backend)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite half-written
        // (transactions roll back), so a poisoned lock is still usable.
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn exists(&self, sql: &str, params: &[&dyn rusqlite::ToSql]) -> Result<bool, StoreError> {
        let db = self.lock();
        db.query_row(sql, params, |_| Ok(()))
            .optional()
            .map(|r| r.is_some())
            .map_err(backend)
    }
}

/// Each method is the inherent one of the same name in its subject's file
/// (an inherent method takes precedence, so these do not recurse).
impl Store for SqliteStore {
    fn create_account(&self, name: &UserName, password_hash: &str) -> Result<Account, StoreError> {
        SqliteStore::create_account(self, name, password_hash)
    }

    fn account(&self, name: &str) -> Result<Option<Account>, StoreError> {
        SqliteStore::account(self, name)
    }

    fn save_token(
        &self,
        account: AccountId,
        token_hash: [u8; 32],
        expires: Timestamp,
    ) -> Result<(), StoreError> {
        SqliteStore::save_token(self, account, token_hash, expires)
    }

    fn token_account(
        &self,
        token_hash: [u8; 32],
        now: Timestamp,
    ) -> Result<Option<Account>, StoreError> {
        SqliteStore::token_account(self, token_hash, now)
    }

    fn drop_token(&self, token_hash: [u8; 32]) -> Result<(), StoreError> {
        SqliteStore::drop_token(self, token_hash)
    }

    fn append(&self, m: NewMessage) -> Result<Appended, StoreError> {
        SqliteStore::append(self, m)
    }

    fn missed(
        &self,
        viewer: &Account,
        since: Option<MessageId>,
        limit: u32,
    ) -> Result<Page, StoreError> {
        SqliteStore::missed(self, viewer, since, limit)
    }

    fn history(
        &self,
        viewer: &Account,
        conversation: &Conversation,
        before: Option<MessageId>,
        limit: u16,
    ) -> Result<Page, StoreError> {
        SqliteStore::history(self, viewer, conversation, before, limit)
    }

    fn blob_size(&self, hash: BlobHash) -> Result<Option<u64>, StoreError> {
        SqliteStore::blob_size(self, hash)
    }

    fn record_upload(
        &self,
        account: AccountId,
        hash: BlobHash,
        size: u64,
        kind: MediaKind,
    ) -> Result<(), StoreError> {
        SqliteStore::record_upload(self, account, hash, size, kind)
    }

    fn used_bytes(&self, account: AccountId) -> Result<u64, StoreError> {
        SqliteStore::used_bytes(self, account)
    }

    fn may_fetch(&self, viewer: &Account, hash: BlobHash) -> Result<bool, StoreError> {
        SqliteStore::may_fetch(self, viewer, hash)
    }

    fn uploaded(&self, account: AccountId, hash: BlobHash) -> Result<bool, StoreError> {
        SqliteStore::uploaded(self, account, hash)
    }

    fn is_known_address(&self, account: AccountId, address: IpAddr) -> Result<bool, StoreError> {
        SqliteStore::is_known_address(self, account, address)
    }

    fn remember_address(
        &self,
        account: AccountId,
        address: IpAddr,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        SqliteStore::remember_address(self, account, address, now)
    }

    fn reserve_upload(
        &self,
        account: AccountId,
        hash: BlobHash,
        size: u64,
        limits: UploadLimits,
    ) -> Result<Reservation, StoreError> {
        SqliteStore::reserve_upload(self, account, hash, size, limits)
    }

    fn release_upload(&self, account: AccountId, hash: BlobHash) -> Result<(), StoreError> {
        SqliteStore::release_upload(self, account, hash)
    }

    fn stale_partials(&self, before: Timestamp) -> Result<Vec<(AccountId, BlobHash)>, StoreError> {
        SqliteStore::stale_partials(self, before)
    }

    fn partials(&self) -> Result<Vec<(AccountId, BlobHash)>, StoreError> {
        SqliteStore::partials(self)
    }

    fn blob_hashes(&self) -> Result<Vec<BlobHash>, StoreError> {
        SqliteStore::blob_hashes(self)
    }

    fn forget_blob(&self, hash: BlobHash) -> Result<(), StoreError> {
        SqliteStore::forget_blob(self, hash)
    }

    fn rotate_token(&self, old: [u8; 32], new: NewToken) -> Result<Option<Resumed>, StoreError> {
        SqliteStore::rotate_token(self, old, new)
    }

    fn token_alive(&self, token_hash: [u8; 32]) -> Result<bool, StoreError> {
        SqliteStore::token_alive(self, token_hash)
    }

    fn drop_family(&self, family: Family) -> Result<(), StoreError> {
        SqliteStore::drop_family(self, family)
    }

    fn drop_account_tokens(&self, account: AccountId) -> Result<(), StoreError> {
        SqliteStore::drop_account_tokens(self, account)
    }

    fn trim_logins(&self, account: AccountId, keep: u32) -> Result<(), StoreError> {
        SqliteStore::trim_logins(self, account, keep)
    }

    fn rejection(
        &self,
        sender: AccountId,
        client_id: ClientMsgId,
    ) -> Result<Option<Refusal>, StoreError> {
        SqliteStore::rejection(self, sender, client_id)
    }

    fn remember_rejection(
        &self,
        sender: AccountId,
        client_id: ClientMsgId,
        refusal: &Refusal,
    ) -> Result<(), StoreError> {
        SqliteStore::remember_rejection(self, sender, client_id, refusal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::params;

    pub(super) fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("natter.db")).unwrap();
        (dir, store)
    }

    pub(super) fn name(s: &str) -> UserName {
        UserName::parse(s).unwrap()
    }

    pub(super) fn rotation(hash: u8, now: i64) -> NewToken {
        NewToken {
            hash: [hash; 32],
            now: Timestamp(now),
            expires: Timestamp(now + 1_000_000),
            grace_until: Timestamp(now + 60_000),
        }
    }

    #[test]
    fn an_old_database_gets_skeleton_keys_and_keeps_look_alikes_working() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("natter.db");
        {
            let db = Connection::open(&path).unwrap();
            db.execute_batch(SCHEMA).unwrap();
            for (id, n) in [
                (1, "alice"),
                (2, "\u{430}lice"),
                (3, ".."),
                (4, "\u{fb01}le"),
            ] {
                db.execute(
                    "INSERT INTO accounts VALUES (?1, ?2, ?3, ?4, 0)",
                    params![id, n, n.to_lowercase(), format!("h{id}")],
                )
                .unwrap();
            }
            db.execute(
                "INSERT INTO tokens VALUES (?1, 1, ?2)",
                params![&[9u8; 32][..], i64::MAX],
            )
            .unwrap();
        }
        for _ in 0..2 {
            let store = SqliteStore::open(&path).unwrap();
            for (n, hash) in [("alice", "h1"), ("\u{430}lice", "h2"), ("..", "h3")] {
                assert_eq!(store.account(n).unwrap().unwrap().password_hash, hash);
            }
            assert_eq!(
                store.account("\u{fb01}le").unwrap().unwrap().password_hash,
                "h4"
            );
            assert_eq!(store.account("file").unwrap().unwrap().password_hash, "h4");
            assert!(matches!(
                store.create_account(&name("\u{430}lic\u{435}"), "h"),
                Err(StoreError::NameTaken)
            ));
            assert!(store.token_alive([9; 32]).unwrap());
        }
        let store = SqliteStore::open(&path).unwrap();
        assert!(store
            .rotate_token([9; 32], rotation(8, Timestamp::now().0))
            .unwrap()
            .is_some());
    }
}
