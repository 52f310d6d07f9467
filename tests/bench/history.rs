//! `natter-bench history`: how long a page of history takes from a large
//! store, against the cheapest read of the same size in the same run.
//!
//! Builds a store of `--messages` messages in a temp dir: accounts through
//! the server's store API, messages in one bulk transaction (six in ten
//! to the group, two in ten between the two measured users, two in ten
//! between other pairs). Then times `--pages` calls of the store's
//! `history` with pages of 200, from the newest and paging back (starting
//! again at the newest when a conversation runs out):
//! - **group** and **private**: one user's group and private pages;
//! - **private_during_sends**: the private pages again while another
//!   thread appends group messages, each committed and fsynced as the
//!   server does: a page must not wait for a send;
//! - **baseline**: `SELECT` of the same columns `ORDER BY id DESC LIMIT 200`
//!   on the bare messages table, paged the same way (no names, no
//!   decoding): a lower bound for any page.
//!
//! Prints one JSON line: p50/p90/p99/max in ms of each, and each p99
//! against the baseline's. Target (issue 9): group and private p99 under
//! 5 ms with 1,000,000 messages.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use natter_common::{codec, ClientMsgId, Content, Conversation, MessageId, Timestamp, UserName};
use natter_server::store::sqlite::SqliteStore;
use natter_server::store::{Account, Accounts, Messages, NewMessage, Page, StoreError};
use rusqlite::{params, Connection, OpenFlags};

use super::{percentile, rounded};

/// Messages per page: the page size the target is stated for.
const PAGE: u16 = 200;
/// Accounts in the store; the first two are the measured conversation.
const USERS: usize = 20;

/// Runs the scenario and prints its JSON line.
pub fn history(messages: u64, pages: usize, dir: Option<PathBuf>) -> anyhow::Result<()> {
    let temp = tempfile::tempdir_in(dir.unwrap_or_else(std::env::temp_dir))?;
    let path = temp.path().join("natter.db");
    let started = Instant::now();
    let users = build(&path, messages).context("building the store")?;
    let build_secs = started.elapsed().as_secs_f64();
    let db_mib = std::fs::metadata(&path)?.len() as f64 / (1u64 << 20) as f64;

    let store = Arc::new(SqliteStore::open(&path)?);
    let (viewer, peer) = (&users[0], &users[1]);
    let private = Conversation::With(peer.name.clone());
    let group = sorted(time_pages(pages, |before| {
        store.history(viewer, &Conversation::Group, before, PAGE)
    })?);
    let private_ms = sorted(time_pages(pages, |before| {
        store.history(viewer, &private, before, PAGE)
    })?);
    let (during, sends) = while_sending(&store, &users[2], || {
        time_pages(pages, |before| {
            store.history(viewer, &private, before, PAGE)
        })
    })?;
    let during = sorted(during);
    let baseline = sorted(baseline_pages(&path, pages)?);

    let p99 = |s: &[f64]| percentile(s, 99.0);
    let ratio = |s: &[f64]| rounded(p99(s) / p99(&baseline).max(1e-6), 2);
    let report = serde_json::json!({
        "scenario": "history",
        "messages": messages,
        "pages": pages,
        "page_size": PAGE,
        "build_secs": rounded(build_secs, 1),
        "db_mib": rounded(db_mib, 1),
        "group_ms": summary(&group),
        "private_ms": summary(&private_ms),
        "private_during_sends_ms": summary(&during),
        "sends_during": sends,
        "baseline_ms": summary(&baseline),
        "group_p99_vs_baseline": ratio(&group),
        "private_p99_vs_baseline": ratio(&private_ms),
        "private_during_sends_p99_vs_baseline": ratio(&during),
    });
    println!("{report}");
    Ok(())
}

/// Creates the accounts through the store and the messages in one bulk
/// transaction (a store call per message would fsync each).
fn build(path: &Path, messages: u64) -> anyhow::Result<Vec<Account>> {
    let store = SqliteStore::open(path)?;
    let mut users = Vec::with_capacity(USERS);
    for i in 0..USERS {
        let name = UserName::parse(&format!("user{i}"))?;
        users.push(store.create_account(&name, "unused")?);
    }
    drop(store);
    let mut db = Connection::open(path)?;
    db.pragma_update(None, "synchronous", "OFF")?;
    let tx = db.transaction()?;
    {
        let mut insert = tx.prepare(
            "INSERT INTO messages (sender_id, recipient_id, client_id, sent_at, content)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        let body = codec::to_bytes(&Content::Text("x".repeat(100)))?;
        let now = Timestamp::now().0;
        for i in 0..messages {
            let (from, to) = parties(i, &users);
            insert.execute(params![from, to, i as i64, now, body])?;
        }
    }
    tx.commit()?;
    Ok(users)
}

/// Who sends message `i` to whom (`None`: the group), by its last digit.
fn parties(i: u64, users: &[Account]) -> (i64, Option<i64>) {
    let id = |n: u64| users[n as usize % users.len()].id.0;
    // Other pairs never include the measured two (accounts 0 and 1).
    let others = users.len() as u64 - 2;
    match i % 10 {
        0..=5 => (id(i / 10), None),
        6 => (id(0), Some(id(1))),
        7 => (id(1), Some(id(0))),
        _ => (id(2 + i / 10 % others), Some(id(2 + (i / 10 + 1) % others))),
    }
}

/// Times `pages` calls of `page`, each asking for the page older than the
/// last one's oldest message (or the newest page when there is none).
fn time_pages(
    pages: usize,
    mut page: impl FnMut(Option<MessageId>) -> Result<Page, StoreError>,
) -> anyhow::Result<Vec<f64>> {
    let mut before = None;
    let mut samples = Vec::with_capacity(pages);
    for _ in 0..pages {
        let started = Instant::now();
        let got = page(before)?;
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(!got.messages.is_empty(), "an empty page");
        before = got.more.then(|| got.messages[0].id);
    }
    Ok(samples)
}

/// Runs `measure` while another thread appends group messages as `sender`
/// through the store, one commit each; returns its result and the sends.
fn while_sending<T>(
    store: &Arc<SqliteStore>,
    sender: &Account,
    measure: impl FnOnce() -> anyhow::Result<T>,
) -> anyhow::Result<(T, u64)> {
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let worker = {
        let (store, sender, stop, sent) =
            (store.clone(), sender.clone(), stop.clone(), sent.clone());
        std::thread::spawn(move || -> Result<(), StoreError> {
            while !stop.load(Ordering::Relaxed) {
                let n = sent.fetch_add(1, Ordering::Relaxed);
                store.append(NewMessage {
                    from: sender.clone(),
                    to: None,
                    client_id: ClientMsgId(u64::MAX - n),
                    sent_at: Timestamp::now(),
                    content: Content::Text("during the pages".into()),
                })?;
            }
            Ok(())
        })
    };
    let result = measure();
    stop.store(true, Ordering::Relaxed);
    let sends = worker
        .join()
        .map_err(|_| anyhow::anyhow!("the sending thread panicked"))?;
    sends?;
    Ok((result?, sent.load(Ordering::Relaxed)))
}

/// The lower bound: the same paging over the bare table on a read-only
/// connection, rows fetched but neither joined nor decoded.
fn baseline_pages(path: &Path, pages: usize) -> anyhow::Result<Vec<f64>> {
    let db = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut stmt = db.prepare(
        "SELECT id, sender_id, recipient_id, sent_at, content FROM messages
         WHERE id < ?1 ORDER BY id DESC LIMIT ?2",
    )?;
    let mut before = i64::MAX;
    let mut samples = Vec::with_capacity(pages);
    for _ in 0..pages {
        let started = Instant::now();
        let rows = stmt
            .query_map(params![before, PAGE], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, Option<i64>>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, Vec<u8>>(4)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
        before = match rows.last() {
            Some(oldest) if rows.len() == PAGE as usize => oldest.0,
            _ => i64::MAX,
        };
    }
    Ok(samples)
}

fn sorted(mut samples: Vec<f64>) -> Vec<f64> {
    samples.sort_by(|a, b| a.total_cmp(b));
    samples
}

/// p50/p90/p99/max of sorted samples in ms.
fn summary(sorted: &[f64]) -> serde_json::Value {
    serde_json::json!({
        "p50": rounded(percentile(sorted, 50.0), 3),
        "p90": rounded(percentile(sorted, 90.0), 3),
        "p99": rounded(percentile(sorted, 99.0), 3),
        "max": rounded(sorted.last().copied().unwrap_or(0.0), 3),
    })
}
