//! The embedded store: one SQLite file in WAL mode with `synchronous=FULL`,
//! so a message is on disk before the sender is told it was accepted.
//!
//! This file opens the database; the tables are in [`schema`], upgrades of
//! older databases in [`migrate`], and the queries live by subject in
//! [`accounts`], [`tokens`], [`messages`] and [`blobs`], each implementing
//! its part of [`Store`]. [`error`] sorts SQLite's failures.

mod accounts;
mod blobs;
mod error;
mod messages;
mod migrate;
mod schema;
mod tokens;

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension};

use self::error::backend;
#[cfg(doc)]
use super::Store;
use super::StoreError;

/// SQLite-backed [`Store`].
pub struct SqliteStore {
    db: Mutex<Connection>,
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
        db.execute_batch(schema::SCHEMA).map_err(backend)?;
        db.execute_batch(schema::REJECTIONS_SCHEMA)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Accounts, NewToken, Tokens};
    use natter_common::{Timestamp, UserName};
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
            db.execute_batch(schema::SCHEMA).unwrap();
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
