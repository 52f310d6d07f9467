//! Messages in SQLite: storing a send (with its attachment record), the
//! catch-up after login, history pages, and the remembered refusals.

use natter_common::codec;
use natter_common::{
    ChatMessage, ClientMsgId, Content, Conversation, MessageId, Recipient, Refusal, Timestamp,
    UserName,
};
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::error::backend;
use super::SqliteStore;
use crate::store::{
    Account, AccountId, Accounts, Appended, Messages, NewMessage, Page, StoreError, Stored,
    REMEMBERED_REJECTIONS,
};

/// Final refusals of sends, so a resend of the same client id gets the
/// same answer; at most [`REMEMBERED_REJECTIONS`] per sender.
const MESSAGE_COLUMNS: &str = "m.id, s.name, r.name, m.sent_at, m.content
    FROM messages m JOIN accounts s ON s.id = m.sender_id
    LEFT JOIN accounts r ON r.id = m.recipient_id";

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

/// The newest group messages below id `?1`, at most `?2`: one range of the
/// recipient index.
fn group_page_sql() -> String {
    format!(
        "SELECT {MESSAGE_COLUMNS} WHERE m.recipient_id IS NULL AND m.id < ?1
         ORDER BY m.id DESC LIMIT ?2"
    )
}

/// The newest messages below id `?1` between accounts `?2` and `?3`, at
/// most `?4`: each direction is its own range of the pair index, cut to the
/// limit before they are merged, so a page costs the same however long the
/// conversation is.
fn private_page_sql() -> String {
    format!(
        "SELECT {MESSAGE_COLUMNS} WHERE m.id IN (
            SELECT id FROM (SELECT id FROM messages
                            WHERE sender_id = ?2 AND recipient_id = ?3 AND id < ?1
                            ORDER BY id DESC LIMIT ?4)
            UNION ALL
            SELECT id FROM (SELECT id FROM messages
                            WHERE sender_id = ?3 AND recipient_id = ?2 AND id < ?1
                            ORDER BY id DESC LIMIT ?4))
         ORDER BY m.id DESC LIMIT ?4"
    )
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

/// Inserts one message (and its attachment record) in the caller's
/// transaction, or finds the one stored under the same client id.
fn insert(db: &Connection, m: NewMessage) -> Result<Appended, StoreError> {
    let content = codec::to_bytes(&m.content).map_err(backend)?;
    let client_id = m.client_id.0 as i64;
    let inserted = db
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
    let row = db
        .query_row(
            &format!("SELECT {MESSAGE_COLUMNS} WHERE m.sender_id = ?1 AND m.client_id = ?2"),
            params![m.from.id.0, client_id],
            message_row,
        )
        .map_err(backend)?;
    let message = to_message(row)?;
    // The message and its attachment record commit together: a crash
    // between them would leave a message nobody can fetch.
    if inserted == 1 {
        if let Some(media) = message.content.media() {
            db.execute(
                "INSERT INTO message_media (message_id, hash) VALUES (?1, ?2)",
                params![message.id.0 as i64, &media.hash.0[..]],
            )
            .map_err(backend)?;
        }
    }
    Ok(Appended {
        message,
        fresh: inserted == 1,
    })
}

impl Messages for SqliteStore {
    fn append_group(&self, group: Vec<NewMessage>) -> Result<Vec<Stored>, StoreError> {
        let mut db = self.lock();
        let mut tx = db.transaction().map_err(backend)?;
        let mut stored = Vec::with_capacity(group.len());
        for m in group {
            // Each message in a savepoint of its own: one that cannot be
            // stored leaves nothing behind and fails alone...
            let one = tx.savepoint().map_err(backend)?;
            let outcome = insert(&one, m).and_then(|a| one.commit().map_err(backend).map(|()| a));
            // ...unless SQLite rolled the whole transaction back (a full
            // disk, an I/O error): then nothing of the group is stored.
            if let Err(e) = &outcome {
                if tx.is_autocommit() {
                    return Err(e.clone());
                }
            }
            stored.push(outcome);
        }
        tx.commit().map_err(backend)?;
        Ok(stored)
    }

    fn missed(
        &self,
        viewer: &Account,
        since: Option<MessageId>,
        limit: u32,
    ) -> Result<Page, StoreError> {
        let db = self.read();
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
                let db = self.read();
                page(&db, &group_page_sql(), &[&before, &fetch], limit.into())
            }
            Conversation::With(peer) => {
                let Some(peer) = self.account(peer.as_str())? else {
                    return Ok(Page::default());
                };
                let db = self.read();
                page(
                    &db,
                    &private_page_sql(),
                    &[&before, &viewer.id.0, &peer.id.0, &fetch],
                    limit.into(),
                )
            }
        }
    }

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

#[cfg(test)]
mod tests {
    use super::super::tests::{name, store};
    use super::*;
    use natter_common::BlobHash;

    /// SQLite's plan for `sql`, one line per step.
    fn plan(store: &SqliteStore, sql: &str, params: &[&dyn rusqlite::ToSql]) -> Vec<String> {
        let db = store.lock();
        let mut stmt = db.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        stmt.query_map(params, |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// Every query a user can repeat at will (catch-up, history pages)
    /// reads index ranges cut to its limit: each table is reached by a
    /// SEARCH of an index or the primary key, the only SCANs are of
    /// subqueries already cut to the limit, and nothing sorts its matches,
    /// whatever the history's length. The `OR` forms of the catch-up and
    /// the private page fail it: SQLite merged their index ranges and then
    /// sorted every match (`USE TEMP B-TREE FOR ORDER BY`), a whole
    /// conversation for one page. (Timing them would prove the same less
    /// reliably.)
    #[test]
    fn user_queries_read_only_index_ranges() {
        let (_dir, store) = store();
        let queries: [(&str, String, Vec<&dyn rusqlite::ToSql>); 3] = [
            ("catch-up", missed_sql(), vec![&0i64, &1i64, &10i64]),
            (
                "private page",
                private_page_sql(),
                vec![&0i64, &1i64, &2i64, &10i64],
            ),
            ("group page", group_page_sql(), vec![&0i64, &10i64]),
        ];
        for (what, sql, params) in queries {
            let steps = plan(&store, &sql, &params);
            for step in &steps {
                assert!(
                    reads_a_range(step),
                    "{what} reads more than index ranges ({step}): {steps:?}"
                );
            }
        }
    }

    /// Whether one step of a plan reads only a range of an index (or of a
    /// subquery that is cut to its limit), never a whole table or a sort.
    fn reads_a_range(step: &str) -> bool {
        let scan_of_subquery = step.starts_with("SCAN (subquery-");
        let search = step.starts_with("SEARCH ")
            && (step.contains(" USING INDEX ")
                || step.contains(" USING COVERING INDEX ")
                || step.contains(" USING INTEGER PRIMARY KEY "));
        let structure = ["LIST SUBQUERY", "COMPOUND QUERY", "LEFT-MOST SUBQUERY"]
            .iter()
            .any(|s| step.starts_with(s))
            || step == "UNION ALL"
            || step.starts_with("CO-ROUTINE");
        (scan_of_subquery || search || structure) && !step.contains("TEMP B-TREE")
    }

    /// The plans of the `OR` forms the pages had: the check above must
    /// refuse them, or it proves nothing.
    #[test]
    fn the_or_forms_of_the_pages_fail_the_range_check() {
        let (_dir, store) = store();
        let private_or = format!(
            "SELECT {MESSAGE_COLUMNS} WHERE m.id < ?1 AND (
                (m.sender_id = ?2 AND m.recipient_id = ?3) OR
                (m.sender_id = ?3 AND m.recipient_id = ?2))
             ORDER BY m.id DESC LIMIT ?4"
        );
        let steps = plan(&store, &private_or, &[&0i64, &1i64, &2i64, &10i64]);
        assert!(!steps.iter().all(|s| reads_a_range(s)), "{steps:?}");
        let missed_or = format!(
            "SELECT {MESSAGE_COLUMNS} WHERE m.id > ?1 AND
                (m.recipient_id IS NULL OR m.recipient_id = ?2 OR m.sender_id = ?2)
             ORDER BY m.id DESC LIMIT ?3"
        );
        let steps = plan(&store, &missed_or, &[&0i64, &1i64, &10i64]);
        assert!(!steps.iter().all(|s| reads_a_range(s)), "{steps:?}");
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

    /// A page is read beside the writer: while a send holds the writer in
    /// an uncommitted transaction (as during its fsync), history answers
    /// at once with the last commit, and sees the send once it commits.
    #[test]
    fn history_reads_do_not_wait_for_the_writer() {
        let (_dir, store) = store();
        let store = std::sync::Arc::new(store);
        let a = store.create_account(&name("a"), "h").unwrap();
        store.append(text(&a, None, 1, "committed")).unwrap();
        let mut writer = store.lock();
        let tx = writer.transaction().unwrap();
        tx.execute(
            "INSERT INTO messages (sender_id, client_id, sent_at, content) VALUES (?1, 2, 0, x'00')",
            [a.id.0],
        )
        .unwrap();
        let (done, pages) = std::sync::mpsc::channel();
        let (reader, viewer) = (store.clone(), a.clone());
        std::thread::spawn(move || {
            let page = reader.history(&viewer, &Conversation::Group, None, 10);
            let missed = reader.missed(&viewer, None, 10);
            done.send((page, missed)).unwrap();
        });
        // A bound on a failure, not a pause: the answer comes at once.
        let (page, missed) = pages
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("a history read waited for the writer");
        assert_eq!(page.unwrap().messages.len(), 1);
        assert_eq!(missed.unwrap().messages.len(), 1);
        tx.rollback().unwrap();
        drop(writer);
        store.append(text(&a, None, 3, "later")).unwrap();
        let page = store.history(&a, &Conversation::Group, None, 10).unwrap();
        assert_eq!(page.messages.len(), 2, "a reader sees every commit");
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

    /// Makes every attachment record fail, as a full disk would.
    fn refuse_attachments(store: &SqliteStore) {
        store
            .lock()
            .execute_batch(
                "CREATE TRIGGER no_media BEFORE INSERT ON message_media
                 BEGIN SELECT RAISE(FAIL, 'disk full'); END;",
            )
            .unwrap();
    }

    #[test]
    fn a_message_whose_attachment_cannot_be_recorded_is_not_stored() {
        let (_dir, store) = store();
        let a = store.create_account(&name("a"), "h").unwrap();
        refuse_attachments(&store);
        assert!(store.append(file(&a, 1, BlobHash([1; 32]))).is_err());
        assert!(store.missed(&a, None, 10).unwrap().messages.is_empty());
        // Nor does a resend find a half-stored original to return.
        store.lock().execute_batch("DROP TRIGGER no_media").unwrap();
        let again = store.append(file(&a, 1, BlobHash([1; 32]))).unwrap();
        assert!(again.fresh);
    }

    #[test]
    fn a_message_that_cannot_be_stored_fails_alone_in_its_group() {
        let (_dir, store) = store();
        let a = store.create_account(&name("a"), "h").unwrap();
        refuse_attachments(&store);
        let group = vec![
            text(&a, None, 1, "before"),
            file(&a, 2, BlobHash([1; 32])),
            text(&a, None, 3, "after"),
        ];
        let stored = store.append_group(group).unwrap();
        assert!(stored[0].is_ok() && stored[1].is_err() && stored[2].is_ok());
        let kept: Vec<u64> = store
            .missed(&a, None, 10)
            .unwrap()
            .messages
            .iter()
            .map(|m| m.id.0)
            .collect();
        let ids: Vec<u64> = [&stored[0], &stored[2]]
            .iter()
            .map(|s| s.as_ref().unwrap().message.id.0)
            .collect();
        assert_eq!(
            kept, ids,
            "the good ones are stored, in order, and only they"
        );
    }
}
