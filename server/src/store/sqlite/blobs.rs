//! Blobs in SQLite, the records of pictures and files: who uploaded them,
//! who may fetch one, and the reservations of unfinished uploads that count
//! against a quota.

use natter_common::protocol::MediaKind;
use natter_common::{BlobHash, Timestamp};
use rusqlite::{params, Connection, OptionalExtension};

use super::error::backend;
use super::SqliteStore;
use crate::store::{Account, AccountId, Blobs, Reservation, StoreError, UploadLimits};

/// Bytes `account` stores plus those it reserved, leaving out the
/// reservation for `except` (the one being renewed).
fn used_bytes(
    db: &Connection,
    account: AccountId,
    except: Option<BlobHash>,
) -> Result<u64, StoreError> {
    let except = except.map(|h| h.0.to_vec()).unwrap_or_default();
    db.query_row(
        "SELECT (SELECT COALESCE(SUM(b.size), 0) FROM uploads u JOIN blobs b ON b.hash = u.hash
                 WHERE u.account_id = ?1)
              + (SELECT COALESCE(SUM(size), 0) FROM partials WHERE account_id = ?1 AND hash != ?2)",
        params![account.0, except],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n as u64)
    .map_err(backend)
}

fn blob_hash(bytes: &[u8]) -> Result<BlobHash, StoreError> {
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|_| backend("a stored hash is not 32 bytes"))?;
    Ok(BlobHash(bytes))
}

impl SqliteStore {
    fn partial_rows(
        &self,
        filter: &str,
        params: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<(AccountId, BlobHash)>, StoreError> {
        let db = self.lock();
        let mut stmt = db
            .prepare(&format!("SELECT account_id, hash FROM partials {filter}"))
            .map_err(backend)?;
        let rows = stmt
            .query_map(params, |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
            })
            .map_err(backend)?;
        rows.map(|r| {
            let (id, hash) = r.map_err(backend)?;
            Ok((AccountId(id), blob_hash(&hash)?))
        })
        .collect()
    }
}

impl Blobs for SqliteStore {
    fn blob_size(&self, hash: BlobHash) -> Result<Option<u64>, StoreError> {
        let db = self.lock();
        db.query_row(
            "SELECT size FROM blobs WHERE hash = ?1",
            [&hash.0[..]],
            |r| r.get::<_, i64>(0),
        )
        .optional()
        .map(|s| s.map(|s| s as u64))
        .map_err(backend)
    }

    fn record_upload(
        &self,
        account: AccountId,
        hash: BlobHash,
        size: u64,
        kind: MediaKind,
    ) -> Result<(), StoreError> {
        let mut db = self.lock();
        let tx = db.transaction().map_err(backend)?;
        let now = Timestamp::now().0;
        tx.execute(
            "INSERT INTO blobs (hash, size, created_at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
            params![&hash.0[..], size as i64, now],
        )
        .map_err(backend)?;
        let kind = match kind {
            MediaKind::Photo => 0,
            MediaKind::File => 1,
        };
        tx.execute(
            "INSERT INTO uploads (hash, account_id, kind, uploaded_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT DO NOTHING",
            params![&hash.0[..], account.0, kind, now],
        )
        .map_err(backend)?;
        tx.execute(
            "DELETE FROM partials WHERE account_id = ?1 AND hash = ?2",
            params![account.0, &hash.0[..]],
        )
        .map_err(backend)?;
        tx.commit().map_err(backend)
    }

    fn used_bytes(&self, account: AccountId) -> Result<u64, StoreError> {
        used_bytes(&self.lock(), account, None)
    }

    fn may_fetch(&self, viewer: &Account, hash: BlobHash) -> Result<bool, StoreError> {
        Ok(self.uploaded(viewer.id, hash)?
            || self.exists(
                "SELECT 1 FROM message_media mm JOIN messages m ON m.id = mm.message_id
                 WHERE mm.hash = ?1
                   AND (m.recipient_id IS NULL OR m.recipient_id = ?2 OR m.sender_id = ?2)
                 LIMIT 1",
                &[&&hash.0[..], &viewer.id.0],
            )?)
    }

    fn uploaded(&self, account: AccountId, hash: BlobHash) -> Result<bool, StoreError> {
        self.exists(
            "SELECT 1 FROM uploads WHERE hash = ?1 AND account_id = ?2",
            &[&&hash.0[..], &account.0],
        )
    }

    fn reserve_upload(
        &self,
        account: AccountId,
        hash: BlobHash,
        size: u64,
        limits: UploadLimits,
    ) -> Result<Reservation, StoreError> {
        let mut db = self.lock();
        let tx = db
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(backend)?;
        let used = used_bytes(&tx, account, Some(hash))?;
        let others: i64 = tx
            .query_row(
                "SELECT COUNT(*) FROM partials WHERE account_id = ?1 AND hash != ?2",
                params![account.0, &hash.0[..]],
                |r| r.get(0),
            )
            .map_err(backend)?;
        if others >= i64::from(limits.max_partials) {
            return Ok(Reservation::TooManyPartials);
        }
        if used.saturating_add(size) > limits.quota {
            return Ok(Reservation::OverQuota { used });
        }
        tx.execute(
            "INSERT INTO partials (account_id, hash, size, started_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (account_id, hash) DO UPDATE SET size = ?3, started_at = ?4",
            params![account.0, &hash.0[..], size as i64, Timestamp::now().0],
        )
        .map_err(backend)?;
        tx.commit().map_err(backend)?;
        Ok(Reservation::Reserved)
    }

    fn release_upload(&self, account: AccountId, hash: BlobHash) -> Result<(), StoreError> {
        self.lock()
            .execute(
                "DELETE FROM partials WHERE account_id = ?1 AND hash = ?2",
                params![account.0, &hash.0[..]],
            )
            .map_err(backend)?;
        Ok(())
    }

    fn stale_partials(&self, before: Timestamp) -> Result<Vec<(AccountId, BlobHash)>, StoreError> {
        self.partial_rows("WHERE started_at < ?1", &[&before.0])
    }

    fn partials(&self) -> Result<Vec<(AccountId, BlobHash)>, StoreError> {
        self.partial_rows("", &[])
    }

    fn blob_hashes(&self) -> Result<Vec<BlobHash>, StoreError> {
        let db = self.lock();
        let mut stmt = db.prepare("SELECT hash FROM blobs").map_err(backend)?;
        let rows = stmt
            .query_map([], |r| r.get::<_, Vec<u8>>(0))
            .map_err(backend)?;
        rows.map(|r| r.map_err(backend).and_then(|h| blob_hash(&h)))
            .collect()
    }

    fn forget_blob(&self, hash: BlobHash) -> Result<(), StoreError> {
        let mut db = self.lock();
        let tx = db.transaction().map_err(backend)?;
        tx.execute("DELETE FROM uploads WHERE hash = ?1", [&hash.0[..]])
            .map_err(backend)?;
        tx.execute("DELETE FROM blobs WHERE hash = ?1", [&hash.0[..]])
            .map_err(backend)?;
        tx.commit().map_err(backend)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{name, store};
    use super::*;
    use crate::store::Accounts;

    fn limits(quota: u64, max_partials: u32) -> UploadLimits {
        UploadLimits {
            quota,
            max_partials,
        }
    }

    #[test]
    fn reservations_count_against_the_quota_until_released_or_stored() {
        let (_dir, store) = store();
        let a = store.create_account(&name("a"), "h").unwrap();
        let (one, two) = (BlobHash([1; 32]), BlobHash([2; 32]));
        let reserve = |h, size| store.reserve_upload(a.id, h, size, limits(100, 8)).unwrap();
        assert_eq!(reserve(one, 60), Reservation::Reserved);
        assert_eq!(reserve(two, 60), Reservation::OverQuota { used: 60 });
        // A resume of the same upload is not counted twice.
        assert_eq!(reserve(one, 60), Reservation::Reserved);
        assert_eq!(store.used_bytes(a.id).unwrap(), 60);
        store.release_upload(a.id, one).unwrap();
        assert_eq!(store.used_bytes(a.id).unwrap(), 0);
        assert_eq!(reserve(two, 60), Reservation::Reserved);
        store.record_upload(a.id, two, 60, MediaKind::File).unwrap();
        assert_eq!(store.used_bytes(a.id).unwrap(), 60);
        assert!(store.partials().unwrap().is_empty());
    }

    #[test]
    fn unfinished_uploads_are_bounded_per_account() {
        let (_dir, store) = store();
        let a = store.create_account(&name("a"), "h").unwrap();
        for i in 0..3 {
            let got = store.reserve_upload(a.id, BlobHash([i; 32]), 1, limits(100, 3));
            assert_eq!(got.unwrap(), Reservation::Reserved);
        }
        let past = store.reserve_upload(a.id, BlobHash([9; 32]), 1, limits(100, 3));
        assert_eq!(past.unwrap(), Reservation::TooManyPartials);
        let resume = store.reserve_upload(a.id, BlobHash([0; 32]), 1, limits(100, 3));
        assert_eq!(resume.unwrap(), Reservation::Reserved);
    }
}
