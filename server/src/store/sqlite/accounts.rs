//! Accounts in SQLite: names (unique by skeleton, so look-alikes are
//! taken), password hashes, and the addresses each account logged in from.

use std::net::IpAddr;

use natter_common::{Timestamp, UserName};
use rusqlite::{params, Row};

use super::error::backend;
use super::SqliteStore;
use crate::store::{Account, AccountId, Accounts, StoreError, MAX_KNOWN_ADDRESSES};

pub(super) fn account_row(row: &Row<'_>) -> rusqlite::Result<(i64, String, String)> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
}

pub(super) fn to_account((id, name, hash): (i64, String, String)) -> Result<Account, StoreError> {
    Ok(Account {
        id: AccountId(id),
        name: UserName::stored(&name).map_err(backend)?,
        password_hash: hash,
    })
}

impl Accounts for SqliteStore {
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
}

#[cfg(test)]
mod tests {
    use super::super::tests::{name, store};
    use super::*;

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
}
