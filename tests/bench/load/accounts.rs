//! Thousands of accounts made before the server starts: registering them
//! through the server would run argon2 for each and trip its sign-up
//! limits. One password is hashed once with the server's own hasher (its
//! real argon2id parameters, so logins cost what they cost in production),
//! the schema is created by the server's store, and the accounts, with a
//! login token each, go into its SQLite file in one transaction.

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use natter_common::{SessionToken, Timestamp, UserName};
use natter_server::store::sqlite::SqliteStore;
use rusqlite::{params, Connection};

/// How the accounts were made, for the JSON line.
pub const HOW: &str = "pre-created: one argon2id hash (server's hasher and parameters) \
     and one login token per account, inserted into the store's SQLite in one transaction";

/// The name of account `i`.
pub fn name(i: usize) -> String {
    format!("load{i}")
}

/// Creates `count` accounts ([`name`]`(0)`, …) with `password` in the
/// data dir `dir`, each with a valid token: the tokens, in account order.
pub async fn create(dir: &Path, count: usize, password: &str) -> anyhow::Result<Vec<SessionToken>> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("natter.db");
    drop(SqliteStore::open(&path)?);
    let hasher = natter_server::auth::Hasher::new(1, Duration::from_secs(60))?;
    let phc = hasher
        .hash(Ipv4Addr::LOCALHOST.into(), password.to_owned())
        .await
        .map_err(|e| anyhow::anyhow!("hashing the password: {e}"))?;
    tokio::task::spawn_blocking({
        let path = path.clone();
        move || insert(&path, count, &phc)
    })
    .await?
}

fn insert(path: &Path, count: usize, phc: &str) -> anyhow::Result<Vec<SessionToken>> {
    let mut db = Connection::open(path)?;
    let tx = db.transaction()?;
    let now = Timestamp::now().0;
    let expires = now + 30 * 24 * 3600 * 1000;
    let mut tokens = Vec::with_capacity(count);
    {
        let mut account = tx.prepare(
            "INSERT INTO accounts (name, name_key, password_hash, created_at)
             VALUES (?1, ?2, ?3, ?4)",
        )?;
        let mut token = tx.prepare(
            "INSERT INTO tokens (token_hash, account_id, expires_at, family)
             VALUES (?1, ?2, ?3, ?1)",
        )?;
        for i in 0..count {
            let name = UserName::parse(&self::name(i))?;
            account.execute(params![name.as_str(), name.skeleton(), phc, now])?;
            let id = tx.last_insert_rowid();
            let (secret, hash) = natter_server::auth::new_token();
            token.execute(params![&hash[..], id, expires])?;
            tokens.push(secret);
        }
    }
    tx.commit()?;
    Ok(tokens)
}
