//! Upgrades of databases made by older servers, run by
//! [`super::SqliteStore::open`]: each is idempotent, so it runs at
//! every start and does nothing once done.

use rusqlite::{params, Connection};

use natter_common::UserName;

use super::error::backend;
use crate::store::StoreError;

/// Adds the token columns of rotation to a database made before them: a
/// token's family (its login), the token it replaced, and the end of its
/// grace once replaced. Old tokens become families of their own.
pub(super) fn tokens(db: &Connection) -> Result<(), StoreError> {
    let columns: Vec<String> = db
        .prepare("SELECT name FROM pragma_table_info('tokens')")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .map_err(backend)?;
    for (column, kind) in [
        ("family", "BLOB"),
        ("parent", "BLOB"),
        ("grace_until", "INTEGER"),
    ] {
        if !columns.iter().any(|c| c == column) {
            db.execute_batch(&format!("ALTER TABLE tokens ADD COLUMN {column} {kind}"))
                .map_err(backend)?;
        }
    }
    db.execute_batch(
        "UPDATE tokens SET family = token_hash WHERE family IS NULL;
         CREATE INDEX IF NOT EXISTS tokens_by_family ON tokens(family);
         CREATE INDEX IF NOT EXISTS tokens_by_parent ON tokens(parent);
         CREATE INDEX IF NOT EXISTS tokens_by_account ON tokens(account_id);",
    )
    .map_err(backend)
}

/// Recomputes every account's `name_key` as the skeleton of its name, so
/// databases made before skeletons refuse look-alikes too. Where two old
/// accounts share a skeleton, the older keeps it and the newer gets a key
/// of its own (`skeleton` U+0001 `id`): both keep working, and it is logged.
pub(super) fn names(db: &Connection) -> Result<(), StoreError> {
    let rows: Vec<(i64, String, String)> = db
        .prepare("SELECT id, name, name_key FROM accounts ORDER BY id")
        .and_then(|mut s| {
            s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect()
        })
        .map_err(backend)?;
    let mut taken = std::collections::HashMap::new();
    let mut changes = Vec::new();
    for (id, name, old_key) in rows {
        let Ok(parsed) = UserName::stored(&name) else {
            tracing::warn!(id, name, "account with an invalid name left as it is");
            continue;
        };
        let skeleton = parsed.skeleton();
        let key = match taken.get(&skeleton) {
            None => skeleton.clone(),
            Some(owner) => {
                tracing::warn!(
                    name,
                    owner,
                    "two accounts have look-alike names; both keep working"
                );
                format!("{skeleton}\u{1}{id}")
            }
        };
        taken.entry(skeleton).or_insert(name);
        if key != old_key {
            changes.push((id, key));
        }
    }
    if changes.is_empty() {
        return Ok(());
    }
    // Two passes, so no key is briefly held by two rows.
    let tx = db.unchecked_transaction().map_err(backend)?;
    for (id, _) in &changes {
        tx.execute(
            "UPDATE accounts SET name_key = char(2) || id WHERE id = ?1",
            [id],
        )
        .map_err(backend)?;
    }
    for (id, key) in &changes {
        tx.execute(
            "UPDATE accounts SET name_key = ?2 WHERE id = ?1",
            params![id, key],
        )
        .map_err(backend)?;
    }
    tx.commit().map_err(backend)
}
