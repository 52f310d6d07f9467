//! The embedded store: one SQLite file in WAL mode with `synchronous=FULL`,
//! so a message is on disk before the sender is told it was accepted.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Mutex;

use natter_common::codec;
use natter_common::protocol::MediaKind;
use natter_common::{
    BlobHash, ChatMessage, ClientMsgId, Content, Conversation, MessageId, Recipient, Refusal,
    Timestamp, UserName,
};
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::migrate;
use super::{
    Account, AccountId, Appended, Family, NewMessage, NewToken, Page, Reservation, Resumed, Store,
    StoreError, UploadLimits, MAX_KNOWN_ADDRESSES, REMEMBERED_REJECTIONS,
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

const MESSAGE_COLUMNS: &str = "m.id, s.name, r.name, m.sent_at, m.content
    FROM messages m JOIN accounts s ON s.id = m.sender_id
    LEFT JOIN accounts r ON r.id = m.recipient_id";

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
        db.execute_batch(MESSAGES_SCHEMA).map_err(backend)?;
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
}

fn account_row(row: &Row<'_>) -> rusqlite::Result<(i64, String, String)> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
}

fn to_account((id, name, hash): (i64, String, String)) -> Result<Account, StoreError> {
    Ok(Account {
        id: AccountId(id),
        name: UserName::stored(&name).map_err(backend)?,
        password_hash: hash,
    })
}

type MessageRow = (i64, String, Option<String>, i64, Vec<u8>);

fn message_row(row: &Row<'_>) -> rusqlite::Result<MessageRow> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
    ))
}

fn to_message((id, from, to, sent_at, content): MessageRow) -> Result<ChatMessage, StoreError> {
    Ok(ChatMessage {
        id: MessageId(id as u64),
        from: UserName::stored(&from).map_err(backend)?,
        to: match to {
            None => Recipient::Everyone,
            Some(name) => Recipient::User(UserName::stored(&name).map_err(backend)?),
        },
        sent_at: Timestamp(sent_at),
        content: codec::decode_payload::<Content>(&content).map_err(backend)?,
    })
}

/// A message id as SQLite's signed integer; ids the database can never
/// hold (2^63 and above) saturate instead of wrapping to negative.
fn sql_id(id: u64) -> i64 {
    i64::try_from(id).unwrap_or(i64::MAX)
}

/// Runs a message query whose last parameter is the row limit, returning
/// up to `limit` rows (newest first in SQL) as an oldest-first page.
fn page(
    db: &Connection,
    sql: &str,
    params: &[&dyn rusqlite::ToSql],
    limit: u32,
) -> Result<Page, StoreError> {
    let mut stmt = db.prepare_cached(sql).map_err(backend)?;
    let rows = stmt
        .query_map(params, message_row)
        .map_err(backend)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(backend)?;
    let more = rows.len() > limit as usize;
    let mut messages = rows
        .into_iter()
        .take(limit as usize)
        .map(to_message)
        .collect::<Result<Vec<_>, _>>()?;
    messages.reverse();
    Ok(Page { messages, more })
}

/// The newest messages after `?1` that account `?2` may see, at most `?3`.
/// Each of the three ways to see a message is its own index range, cut to
/// the limit before they are merged: a condition with `OR` made SQLite
/// fetch and sort every match (the whole group history for a login without
/// a cursor, over half a second per 200,000 messages, under the store lock).
fn missed_sql() -> String {
    format!(
        "SELECT {MESSAGE_COLUMNS} WHERE m.id IN (
            SELECT id FROM (SELECT id FROM messages WHERE recipient_id IS NULL AND id > ?1
                            ORDER BY id DESC LIMIT ?3)
            UNION ALL
            SELECT id FROM (SELECT id FROM messages WHERE recipient_id = ?2 AND id > ?1
                            ORDER BY id DESC LIMIT ?3)
            UNION ALL
            SELECT id FROM (SELECT id FROM messages WHERE sender_id = ?2 AND id > ?1
                            ORDER BY id DESC LIMIT ?3))
         ORDER BY m.id DESC LIMIT ?3"
    )
}

impl Store for SqliteStore {
    fn create_account(&self, name: &UserName, password_hash: &str) -> Result<Account, StoreError> {
        let db = self.lock();
        let result = db.execute(
            "INSERT INTO accounts (name, name_key, password_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![name.as_str(), name.skeleton(), password_hash, Timestamp::now().0],
        );
        match result {
            Ok(_) => Ok(Account {
                id: AccountId(db.last_insert_rowid()),
                name: name.clone(),
                password_hash: password_hash.to_owned(),
            }),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Err(StoreError::NameTaken)
            }
            Err(e) => Err(backend(e)),
        }
    }

    /// By the name's skeleton, so a look-alike spelling reaches the account
    /// that owns the name (and needs its password). Where accounts made
    /// before skeletons share one, the exact spelling picks among them.
    fn account(&self, name: &str) -> Result<Option<Account>, StoreError> {
        // As typed first (an old account may be spelled in another form),
        // then in the normal form.
        let spellings: Vec<UserName> = [UserName::stored(name), UserName::parse(name)]
            .into_iter()
            .flatten()
            .collect();
        let Some(skeleton) = spellings.first().map(UserName::skeleton) else {
            return Ok(None);
        };
        let db = self.lock();
        let mut stmt = db
            .prepare_cached(
                "SELECT id, name, password_hash, name_key FROM accounts
                 WHERE name_key >= ?1 AND name_key < ?1 || char(2)
                 ORDER BY id",
            )
            .map_err(backend)?;
        let mut candidates = stmt
            .query_map([&skeleton], |r| {
                Ok((account_row(r)?, r.get::<_, String>(3)?))
            })
            .map_err(backend)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(backend)?;
        // The range (it uses the index) holds the skeleton and the keys of
        // old look-alikes, `skeleton` U+0001 `id`.
        let legacy = format!("{skeleton}\u{1}");
        candidates.retain(|(_, key)| *key == skeleton || key.starts_with(&legacy));
        let spelled = |wanted: &UserName| {
            candidates.iter().position(|((_, n, _), _)| {
                UserName::stored(n).is_ok_and(|n| n.key() == wanted.key())
            })
        };
        let exact = spellings.iter().find_map(spelled);
        let owner = candidates.iter().position(|(_, key)| *key == skeleton);
        match exact.or(owner) {
            Some(i) => to_account(candidates.swap_remove(i).0).map(Some),
            None => Ok(None),
        }
    }

    fn save_token(
        &self,
        account: AccountId,
        token_hash: [u8; 32],
        expires: Timestamp,
    ) -> Result<(), StoreError> {
        let db = self.lock();
        db.execute(
            "INSERT INTO tokens (token_hash, account_id, expires_at, family) VALUES (?1, ?2, ?3, ?1)",
            params![&token_hash[..], account.0, expires.0],
        )
        .map_err(backend)?;
        // Expired tokens are dead weight; clear them while we are here.
        db.execute(
            "DELETE FROM tokens WHERE expires_at < ?1 OR grace_until < ?1",
            [Timestamp::now().0],
        )
        .map_err(backend)?;
        Ok(())
    }

    fn token_account(
        &self,
        token_hash: [u8; 32],
        now: Timestamp,
    ) -> Result<Option<Account>, StoreError> {
        let db = self.lock();
        db.query_row(
            "SELECT a.id, a.name, a.password_hash FROM tokens t JOIN accounts a ON a.id = t.account_id
             WHERE t.token_hash = ?1 AND t.expires_at >= ?2
               AND (t.grace_until IS NULL OR t.grace_until >= ?2)",
            params![&token_hash[..], now.0],
            account_row,
        )
        .optional()
        .map_err(backend)?
        .map(to_account)
        .transpose()
    }

    fn drop_token(&self, token_hash: [u8; 32]) -> Result<(), StoreError> {
        let db = self.lock();
        db.execute(
            "DELETE FROM tokens WHERE token_hash = ?1",
            [&token_hash[..]],
        )
        .map_err(backend)?;
        Ok(())
    }

    fn append(&self, m: NewMessage) -> Result<Appended, StoreError> {
        let content = codec::to_bytes(&m.content).map_err(backend)?;
        let mut db = self.lock();
        // The message and its attachment record commit together: a crash
        // between them would leave a message nobody can fetch.
        let tx = db.transaction().map_err(backend)?;
        let client_id = m.client_id.0 as i64;
        let inserted = tx
            .execute(
                "INSERT INTO messages (sender_id, recipient_id, client_id, sent_at, content)
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (sender_id, client_id) DO NOTHING",
                params![
                    m.from.id.0,
                    m.to.as_ref().map(|a| a.id.0),
                    client_id,
                    m.sent_at.0,
                    content
                ],
            )
            .map_err(backend)?;
        let row = tx
            .query_row(
                &format!("SELECT {MESSAGE_COLUMNS} WHERE m.sender_id = ?1 AND m.client_id = ?2"),
                params![m.from.id.0, client_id],
                message_row,
            )
            .map_err(backend)?;
        let message = to_message(row)?;
        if inserted == 1 {
            if let Some(media) = message.content.media() {
                tx.execute(
                    "INSERT INTO message_media (message_id, hash) VALUES (?1, ?2)",
                    params![message.id.0 as i64, &media.hash.0[..]],
                )
                .map_err(backend)?;
            }
        }
        tx.commit().map_err(backend)?;
        Ok(Appended {
            message,
            fresh: inserted == 1,
        })
    }

    fn missed(
        &self,
        viewer: &Account,
        since: Option<MessageId>,
        limit: u32,
    ) -> Result<Page, StoreError> {
        let db = self.lock();
        // Ids are below 2^63: a larger `since` has nothing newer.
        let since = since.map_or(0, |m| sql_id(m.0));
        page(
            &db,
            &missed_sql(),
            &[&since, &viewer.id.0, &(limit as i64 + 1)],
            limit,
        )
    }

    fn history(
        &self,
        viewer: &Account,
        conversation: &Conversation,
        before: Option<MessageId>,
        limit: u16,
    ) -> Result<Page, StoreError> {
        // Ids are below 2^63: a larger `before` means "from the newest".
        let before = before.map_or(i64::MAX, |m| sql_id(m.0));
        let fetch = limit as i64 + 1;
        match conversation {
            Conversation::Group => {
                let db = self.lock();
                let sql = format!(
                    "SELECT {MESSAGE_COLUMNS} WHERE m.recipient_id IS NULL AND m.id < ?1
                     ORDER BY m.id DESC LIMIT ?2"
                );
                page(&db, &sql, &[&before, &fetch], limit.into())
            }
            Conversation::With(peer) => {
                let Some(peer) = self.account(peer.as_str())? else {
                    return Ok(Page::default());
                };
                let db = self.lock();
                let sql = format!(
                    "SELECT {MESSAGE_COLUMNS} WHERE m.id < ?1 AND (
                        (m.sender_id = ?2 AND m.recipient_id = ?3) OR
                        (m.sender_id = ?3 AND m.recipient_id = ?2))
                     ORDER BY m.id DESC LIMIT ?4"
                );
                page(
                    &db,
                    &sql,
                    &[&before, &viewer.id.0, &peer.id.0, &fetch],
                    limit.into(),
                )
            }
        }
    }

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

    // ---- logins: known addresses, throttling ----

    fn is_known_address(&self, account: AccountId, address: IpAddr) -> Result<bool, StoreError> {
        self.exists(
            "SELECT 1 FROM known_addresses WHERE account_id = ?1 AND ip = ?2",
            &[&account.0, &address.to_string()],
        )
    }

    fn remember_address(
        &self,
        account: AccountId,
        address: IpAddr,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut db = self.lock();
        let tx = db.transaction().map_err(backend)?;
        tx.execute(
            "INSERT INTO known_addresses (account_id, ip, last_login) VALUES (?1, ?2, ?3)
             ON CONFLICT (account_id, ip) DO UPDATE SET last_login = excluded.last_login",
            params![account.0, address.to_string(), now.0],
        )
        .map_err(backend)?;
        tx.execute(
            "DELETE FROM known_addresses WHERE account_id = ?1 AND ip NOT IN
             (SELECT ip FROM known_addresses WHERE account_id = ?1
              ORDER BY last_login DESC LIMIT ?2)",
            params![account.0, MAX_KNOWN_ADDRESSES],
        )
        .map_err(backend)?;
        tx.commit().map_err(backend)
    }

    // ---- media: reservations, partial uploads, reconciling ----

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

    // ---- tokens and sessions ----

    fn rotate_token(&self, old: [u8; 32], new: NewToken) -> Result<Option<Resumed>, StoreError> {
        let mut db = self.lock();
        let tx = db.transaction().map_err(backend)?;
        let found = tx
            .query_row(
                "SELECT a.id, a.name, a.password_hash, t.family, t.parent
                 FROM tokens t JOIN accounts a ON a.id = t.account_id
                 WHERE t.token_hash = ?1 AND t.expires_at >= ?2
                   AND (t.grace_until IS NULL OR t.grace_until >= ?2)",
                params![&old[..], new.now.0],
                |r| {
                    Ok((
                        account_row(r)?,
                        r.get::<_, Vec<u8>>(3)?,
                        r.get::<_, Option<Vec<u8>>>(4)?,
                    ))
                },
            )
            .optional()
            .map_err(backend)?;
        let Some((account, family, parent)) = found else {
            return Ok(None);
        };
        let family = Family(family.try_into().map_err(|_| backend("bad token family"))?);
        // The client shows it holds `old`: the token before it is done with,
        // and successors issued earlier from `old` never arrived.
        if let Some(parent) = parent {
            tx.execute("DELETE FROM tokens WHERE token_hash = ?1", [&parent[..]])
                .map_err(backend)?;
        }
        tx.execute("DELETE FROM tokens WHERE parent = ?1", [&old[..]])
            .map_err(backend)?;
        tx.execute(
            "INSERT INTO tokens (token_hash, account_id, expires_at, family, parent)
             SELECT ?1, account_id, ?2, family, token_hash FROM tokens WHERE token_hash = ?3",
            params![&new.hash[..], new.expires.0, &old[..]],
        )
        .map_err(backend)?;
        tx.execute(
            "UPDATE tokens SET grace_until = MIN(COALESCE(grace_until, ?2), ?2)
             WHERE token_hash = ?1",
            params![&old[..], new.grace_until.0],
        )
        .map_err(backend)?;
        tx.commit().map_err(backend)?;
        Ok(Some(Resumed {
            account: to_account(account)?,
            family,
        }))
    }

    fn token_alive(&self, token_hash: [u8; 32]) -> Result<bool, StoreError> {
        self.exists(
            "SELECT 1 FROM tokens WHERE token_hash = ?1",
            &[&&token_hash[..]],
        )
    }

    fn drop_family(&self, family: Family) -> Result<(), StoreError> {
        let db = self.lock();
        db.execute("DELETE FROM tokens WHERE family = ?1", [&family.0[..]])
            .map_err(backend)?;
        Ok(())
    }

    fn drop_account_tokens(&self, account: AccountId) -> Result<(), StoreError> {
        let db = self.lock();
        db.execute("DELETE FROM tokens WHERE account_id = ?1", [account.0])
            .map_err(backend)?;
        Ok(())
    }

    fn trim_logins(&self, account: AccountId, keep: u32) -> Result<(), StoreError> {
        let db = self.lock();
        db.execute(
            "DELETE FROM tokens WHERE account_id = ?1 AND family IN (
                SELECT family FROM tokens WHERE account_id = ?1 GROUP BY family
                ORDER BY MAX(expires_at) DESC, MAX(rowid) DESC LIMIT -1 OFFSET ?2)",
            params![account.0, keep],
        )
        .map_err(backend)?;
        Ok(())
    }

    // ---- messages ----

    fn rejection(
        &self,
        sender: AccountId,
        client_id: ClientMsgId,
    ) -> Result<Option<Refusal>, StoreError> {
        let db = self.lock();
        let reason: Option<Vec<u8>> = db
            .query_row(
                "SELECT reason FROM rejected_sends WHERE sender_id = ?1 AND client_id = ?2",
                params![sender.0, client_id.0 as i64],
                |r| r.get(0),
            )
            .optional()
            .map_err(backend)?;
        reason
            .map(|r| codec::decode_payload::<Refusal>(&r).map_err(backend))
            .transpose()
    }

    fn remember_rejection(
        &self,
        sender: AccountId,
        client_id: ClientMsgId,
        refusal: &Refusal,
    ) -> Result<(), StoreError> {
        let reason = codec::to_bytes(refusal).map_err(backend)?;
        let mut db = self.lock();
        let tx = db.transaction().map_err(backend)?;
        tx.execute(
            "INSERT INTO rejected_sends (sender_id, client_id, reason) VALUES (?1, ?2, ?3)
             ON CONFLICT (sender_id, client_id) DO NOTHING",
            params![sender.0, client_id.0 as i64, reason],
        )
        .map_err(backend)?;
        tx.execute(
            "DELETE FROM rejected_sends WHERE sender_id = ?1 AND id <= (
                SELECT id FROM rejected_sends WHERE sender_id = ?1
                ORDER BY id DESC LIMIT 1 OFFSET ?2)",
            params![sender.0, REMEMBERED_REJECTIONS],
        )
        .map_err(backend)?;
        tx.commit().map_err(backend)
    }
}

/// Final refusals of sends, so a resend of the same client id gets the
/// same answer; at most [`REMEMBERED_REJECTIONS`] per sender.
const MESSAGES_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS rejected_sends (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sender_id INTEGER NOT NULL REFERENCES accounts(id),
    client_id INTEGER NOT NULL,
    reason BLOB NOT NULL,
    UNIQUE (sender_id, client_id)
);
CREATE INDEX IF NOT EXISTS rejected_sends_by_sender ON rejected_sends(sender_id, id);
";
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
    use natter_common::ClientMsgId;

    fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("natter.db")).unwrap();
        (dir, store)
    }

    fn name(s: &str) -> UserName {
        UserName::parse(s).unwrap()
    }

    fn text(from: &Account, to: Option<&Account>, client_id: u64, body: &str) -> NewMessage {
        NewMessage {
            from: from.clone(),
            to: to.cloned(),
            client_id: ClientMsgId(client_id),
            sent_at: Timestamp::now(),
            content: Content::Text(body.into()),
        }
    }

    #[test]
    fn known_addresses_are_per_account_and_bounded() {
        let (_dir, s) = store();
        let alice = s.create_account(&name("alice"), "h").unwrap();
        let bob = s.create_account(&name("bob"), "h").unwrap();
        let home: IpAddr = "192.0.2.1".parse().unwrap();
        s.remember_address(alice.id, home, Timestamp(1)).unwrap();
        assert!(s.is_known_address(alice.id, home).unwrap());
        assert!(!s.is_known_address(bob.id, home).unwrap());
        for n in 0..MAX_KNOWN_ADDRESSES {
            let ip: IpAddr = format!("198.51.100.{n}").parse().unwrap();
            s.remember_address(alice.id, ip, Timestamp(2 + i64::from(n)))
                .unwrap();
        }
        assert!(
            !s.is_known_address(alice.id, home).unwrap(),
            "oldest forgotten"
        );
        let kept: u32 = s
            .lock()
            .query_row("SELECT COUNT(*) FROM known_addresses", [], |r| r.get(0))
            .unwrap();
        assert_eq!(kept, MAX_KNOWN_ADDRESSES);
    }

    #[test]
    fn names_are_unique_without_case() {
        let (_dir, store) = store();
        store.create_account(&name("Alice"), "h").unwrap();
        assert!(matches!(
            store.create_account(&name("alice"), "h"),
            Err(StoreError::NameTaken)
        ));
        assert_eq!(
            store.account("ALICE").unwrap().unwrap().name.as_str(),
            "Alice"
        );
    }

    fn rotation(hash: u8, now: i64) -> NewToken {
        NewToken {
            hash: [hash; 32],
            now: Timestamp(now),
            expires: Timestamp(now + 1_000_000),
            grace_until: Timestamp(now + 60_000),
        }
    }

    #[test]
    fn a_replaced_token_resumes_only_within_its_grace() {
        let (_dir, store) = store();
        let a = store.create_account(&name("a"), "h").unwrap();
        let now = Timestamp::now().0;
        store
            .save_token(a.id, [1; 32], Timestamp(now + 1_000_000))
            .unwrap();
        let resumed = store.rotate_token([1; 32], rotation(2, now)).unwrap();
        assert_eq!(resumed.unwrap().family, Family([1; 32]));
        assert!(store
            .rotate_token([1; 32], rotation(3, now + 59_000))
            .unwrap()
            .is_some());
        assert!(store
            .rotate_token([1; 32], rotation(4, now + 61_000))
            .unwrap()
            .is_none());
        assert!(store.token_alive([3; 32]).unwrap());
        assert!(!store.token_alive([2; 32]).unwrap(), "never arrived");
    }

    #[test]
    fn logouts_drop_a_family_or_an_account() {
        let (_dir, store) = store();
        let a = store.create_account(&name("a"), "h").unwrap();
        let far = Timestamp(Timestamp::now().0 + 1_000_000);
        store.save_token(a.id, [1; 32], far).unwrap();
        store.save_token(a.id, [5; 32], far).unwrap();
        let now = Timestamp::now().0;
        store.rotate_token([1; 32], rotation(2, now)).unwrap();
        store.drop_family(Family([1; 32])).unwrap();
        assert!(!store.token_alive([1; 32]).unwrap() && !store.token_alive([2; 32]).unwrap());
        assert!(store.token_alive([5; 32]).unwrap());
        store.drop_account_tokens(a.id).unwrap();
        assert!(!store.token_alive([5; 32]).unwrap());
    }

    #[test]
    fn look_alike_names_are_taken_and_reach_the_owner() {
        let (_dir, store) = store();
        let alice = store.create_account(&name("alice"), "h").unwrap();
        for look_alike in ["\u{430}lice", "ALICE", "ａｌｉｃｅ"] {
            assert!(
                matches!(
                    store.create_account(&name(look_alike), "h"),
                    Err(StoreError::NameTaken)
                ),
                "{look_alike}"
            );
            assert_eq!(store.account(look_alike).unwrap().unwrap().id, alice.id);
        }
        assert!(store.account("bob").unwrap().is_none());
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

    #[test]
    fn an_account_keeps_only_its_newest_logins() {
        let (_dir, store) = store();
        let a = store.create_account(&name("a"), "h").unwrap();
        let b = store.create_account(&name("b"), "h").unwrap();
        let far = Timestamp::now().0 + 1_000_000;
        store.save_token(b.id, [200; 32], Timestamp(far)).unwrap();
        for i in 0..10u8 {
            store
                .save_token(a.id, [i; 32], Timestamp(far + i64::from(i)))
                .unwrap();
            store.trim_logins(a.id, 4).unwrap();
        }
        let alive: Vec<u8> = (0..10u8)
            .filter(|&i| store.token_alive([i; 32]).unwrap())
            .collect();
        assert_eq!(alive, vec![6, 7, 8, 9]);
        assert!(
            store.token_alive([200; 32]).unwrap(),
            "other accounts untouched"
        );
    }

    #[test]
    fn a_resend_returns_the_original_and_is_not_fresh() {
        let (_dir, store) = store();
        let a = store.create_account(&name("a"), "h").unwrap();
        let first = store.append(text(&a, None, 9, "hi")).unwrap();
        let again = store.append(text(&a, None, 9, "hi")).unwrap();
        assert!(first.fresh && !again.fresh);
        assert_eq!(first.message, again.message);
        assert_eq!(store.missed(&a, None, 10).unwrap().messages.len(), 1);
    }

    #[test]
    fn private_history_is_visible_only_to_its_parties() {
        let (_dir, store) = store();
        let a = store.create_account(&name("a"), "h").unwrap();
        let b = store.create_account(&name("b"), "h").unwrap();
        let c = store.create_account(&name("c"), "h").unwrap();
        store.append(text(&a, Some(&b), 1, "secret")).unwrap();
        store.append(text(&a, None, 2, "hello all")).unwrap();
        assert_eq!(store.missed(&b, None, 10).unwrap().messages.len(), 2);
        assert_eq!(store.missed(&c, None, 10).unwrap().messages.len(), 1);
        let with_a = store
            .history(&b, &Conversation::With(name("A")), None, 10)
            .unwrap();
        assert_eq!(with_a.messages.len(), 1);
        assert!(store
            .history(&c, &Conversation::With(name("a")), None, 10)
            .unwrap()
            .messages
            .is_empty());
    }

    #[test]
    fn pages_are_oldest_first_and_say_when_more_exist() {
        let (_dir, store) = store();
        let a = store.create_account(&name("a"), "h").unwrap();
        for i in 0..5 {
            store.append(text(&a, None, i, &format!("m{i}"))).unwrap();
        }
        let newest = store.history(&a, &Conversation::Group, None, 2).unwrap();
        assert!(newest.more);
        assert_eq!(newest.messages[0].content, Content::Text("m3".into()));
        let older = store
            .history(&a, &Conversation::Group, Some(newest.messages[0].id), 10)
            .unwrap();
        assert!(!older.more);
        assert_eq!(older.messages.len(), 3);
        let missed = store.missed(&a, Some(MessageId(2)), 2).unwrap();
        assert_eq!(missed.messages.len(), 2);
        assert!(missed.more);
    }

    fn file(from: &Account, client_id: u64, hash: BlobHash) -> NewMessage {
        NewMessage {
            content: Content::File(natter_common::MediaRef {
                hash,
                name: "f".into(),
                size: 1,
            }),
            ..text(from, None, client_id, "")
        }
    }

    #[test]
    fn a_message_whose_attachment_cannot_be_recorded_is_not_stored() {
        let (_dir, store) = store();
        let a = store.create_account(&name("a"), "h").unwrap();
        store
            .lock()
            .execute_batch(
                "CREATE TRIGGER no_media BEFORE INSERT ON message_media
                 BEGIN SELECT RAISE(FAIL, 'disk full'); END;",
            )
            .unwrap();
        assert!(store.append(file(&a, 1, BlobHash([1; 32]))).is_err());
        assert!(store.missed(&a, None, 10).unwrap().messages.is_empty());
        // Nor does a resend find a half-stored original to return.
        store.lock().execute_batch("DROP TRIGGER no_media").unwrap();
        let again = store.append(file(&a, 1, BlobHash([1; 32]))).unwrap();
        assert!(again.fresh);
    }

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
