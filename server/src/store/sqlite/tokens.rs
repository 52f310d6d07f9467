//! Login tokens in SQLite: issuing, rotation within a login's family with
//! a grace for the replaced token, and the logouts that drop them.

use natter_common::Timestamp;
use rusqlite::{params, OptionalExtension};

use super::accounts::{account_row, to_account};
use super::error::backend;
use super::SqliteStore;
use crate::store::{Account, AccountId, Family, NewToken, Resumed, StoreError, Tokens};

impl Tokens for SqliteStore {
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
}

#[cfg(test)]
mod tests {
    use super::super::tests::{name, rotation, store};
    use super::*;
    use crate::store::Accounts;

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
}
