//! The embedded store: one SQLite file in WAL mode with `synchronous=FULL`,
//! so a message is on disk before the sender is told it was accepted.
//!
//! Users' reads (history pages, catch-up, name look-ups) run on read-only
//! connections of their own: WAL lets them read the last commit while the
//! one writer fsyncs the next, so a page never waits for a send.
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
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, TryLockError};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use self::error::backend;
#[cfg(doc)]
use super::Store;
use super::StoreError;

/// Read-only connections beside the writer: enough for the reads the
/// blocking pool runs at once on a small machine; more would only add page
/// caches. A read that finds all busy waits for one, never for the writer.
const READERS: usize = 4;

/// How long a statement waits for another connection's lock by default.
const BUSY_WAIT: Duration = Duration::from_secs(5);

/// SQLite-backed [`Store`].
pub struct SqliteStore {
    db: Mutex<Connection>,
    /// See [`SqliteStore::read`].
    readers: Vec<Mutex<Connection>>,
    /// Which reader a read waits for when all are busy.
    next_reader: AtomicUsize,
}

impl SqliteStore {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let db = Self::open_writer(path)?;
        let readers = (0..READERS)
            .map(|_| Self::open_reader(path).map(Mutex::new))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            db: Mutex::new(db),
            readers,
            next_reader: AtomicUsize::new(0),
        })
    }

    /// The one connection that writes; it creates and upgrades the schema
    /// and puts the file in WAL mode, which the readers rely on.
    fn open_writer(path: &Path) -> Result<Connection, StoreError> {
        let db = Connection::open(path).map_err(backend)?;
        db.pragma_update(None, "journal_mode", "WAL")
            .map_err(backend)?;
        db.pragma_update(None, "synchronous", "FULL")
            .map_err(backend)?;
        db.pragma_update(None, "foreign_keys", "ON")
            .map_err(backend)?;
        db.busy_timeout(BUSY_WAIT).map_err(backend)?;
        db.execute_batch(schema::SCHEMA).map_err(backend)?;
        db.execute_batch(schema::REJECTIONS_SCHEMA)
            .map_err(backend)?;
        migrate::tokens(&db)?;
        migrate::names(&db)?;
        Ok(db)
    }

    /// A connection that cannot write, opened after the writer has made
    /// the schema and the WAL.
    fn open_reader(path: &Path) -> Result<Connection, StoreError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let db = Connection::open_with_flags(path, flags).map_err(backend)?;
        db.busy_timeout(BUSY_WAIT).map_err(backend)?;
        Ok(db)
    }

    /// How long a statement waits for another connection's lock on the
    /// database before it fails as transient ([`StoreError::Transient`]).
    pub fn set_busy_timeout(&self, wait: Duration) -> Result<(), StoreError> {
        self.lock().busy_timeout(wait).map_err(backend)?;
        for reader in &self.readers {
            locked(reader).busy_timeout(wait).map_err(backend)?;
        }
        Ok(())
    }

    /// A read-only connection for a read a user can repeat at will: a free
    /// one if any, else the next in turn. It sees every committed write and
    /// never waits for the writer's lock (nor its fsync).
    fn read(&self) -> MutexGuard<'_, Connection> {
        for reader in &self.readers {
            match reader.try_lock() {
                Ok(db) => return db,
                Err(TryLockError::Poisoned(p)) => return p.into_inner(),
                Err(TryLockError::WouldBlock) => {}
            }
        }
        let turn = self.next_reader.fetch_add(1, Ordering::Relaxed) % self.readers.len();
        locked(&self.readers[turn])
    }

    /// The writer: every write, and reads that must see a transaction's
    /// own writes.
    fn lock(&self) -> MutexGuard<'_, Connection> {
        locked(&self.db)
    }

    fn exists(&self, sql: &str, params: &[&dyn rusqlite::ToSql]) -> Result<bool, StoreError> {
        let db = self.lock();
        db.query_row(sql, params, |_| Ok(()))
            .optional()
            .map(|r| r.is_some())
            .map_err(backend)
    }
}

/// Locks a connection. A panic while holding one cannot leave SQLite
/// half-written (transactions roll back), so a poisoned lock is still usable.
fn locked(db: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    db.lock().unwrap_or_else(|p| p.into_inner())
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
