//! Group commit: one committer thread stores every sent message, in
//! groups. A send hands its message over and waits; the committer takes
//! all that arrived while it was busy (at most [`MAX_GROUP`]), stores them
//! in one transaction, so one fsync covers the whole group, and only then
//! answers each sender and publishes the new ones to the hub, in id order.
//!
//! So the promise holds (a message is on disk before its `Accepted`), and
//! a slow fsync no longer serializes the room: the messages that arrive
//! during it wait together and go out together when it ends, instead of
//! one fsync each. Groups grow by themselves under load and stay single
//! messages when the room is quiet; nothing ever waits for a timer.
//!
//! Because one thread both stores and publishes, every session sees
//! messages in id order, and "the highest id seen" is a complete cursor
//! for catching up.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};

use tokio::sync::oneshot;

use crate::hub::Fanout;
use crate::store::{NewMessage, Store, StoreError, Stored};

/// The most messages stored in one transaction.
const MAX_GROUP: usize = 512;

/// The handle sends use; the thread stops once every handle is dropped.
pub struct Committer {
    queue: mpsc::Sender<Request>,
    /// Transactions committed so far: with [`Committer::append`]'s count of
    /// messages, the average group.
    groups: Arc<AtomicU64>,
}

struct Request {
    message: NewMessage,
    reply: oneshot::Sender<Stored>,
}

impl Committer {
    /// Starts the committer thread over `store`, publishing to `hub`.
    pub fn start(store: Arc<dyn Store>, hub: Arc<dyn Fanout>) -> std::io::Result<Self> {
        let (queue, requests) = mpsc::channel();
        let groups = Arc::new(AtomicU64::new(0));
        let count = groups.clone();
        std::thread::Builder::new()
            .name("natter-commit".into())
            .spawn(move || run(store.as_ref(), hub.as_ref(), &requests, &count))?;
        Ok(Self { queue, groups })
    }

    /// Stores `message` with whatever else arrives meanwhile. Returns once
    /// it is on disk and, if it is new, published.
    pub async fn append(&self, message: NewMessage) -> Stored {
        self.submit(message).await.map_err(|_| stopped())?
    }

    /// Hands `message` to the committer at once; the answer comes later.
    fn submit(&self, message: NewMessage) -> oneshot::Receiver<Stored> {
        let (reply, answer) = oneshot::channel();
        // If the thread is gone the reply is dropped: the answer says so.
        let _ = self.queue.send(Request { message, reply });
        answer
    }

    /// How many transactions have committed.
    pub fn groups(&self) -> u64 {
        self.groups.load(Ordering::Relaxed)
    }
}

fn stopped() -> StoreError {
    StoreError::Backend("the committer stopped".into())
}

fn run(
    store: &dyn Store,
    hub: &dyn Fanout,
    requests: &mpsc::Receiver<Request>,
    groups: &AtomicU64,
) {
    while let Ok(first) = requests.recv() {
        let mut group = vec![first];
        group.extend(requests.try_iter().take(MAX_GROUP - 1));
        commit(store, hub, group);
        groups.fetch_add(1, Ordering::Relaxed);
    }
}

/// Stores one group, then publishes and answers in order.
fn commit(store: &dyn Store, hub: &dyn Fanout, group: Vec<Request>) {
    let (messages, replies): (Vec<_>, Vec<_>) =
        group.into_iter().map(|r| (r.message, r.reply)).unzip();
    match store.append_group(messages) {
        Ok(stored) => {
            for (outcome, reply) in stored.into_iter().zip(replies) {
                if let Ok(appended) = &outcome {
                    if appended.fresh {
                        hub.publish(appended.message.clone());
                    }
                }
                // A sender that went away is fine: its client resends.
                let _ = reply.send(outcome);
            }
        }
        Err(e) => {
            for reply in replies {
                let _ = reply.send(Err(e.clone()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use natter_common::{ClientMsgId, Content, Timestamp, UserName};

    use super::*;
    use crate::hub::{Hub, Outbound};
    use crate::store::sqlite::SqliteStore;
    use crate::store::{Account, Accounts};

    fn message(from: &Account, client_id: u64) -> NewMessage {
        NewMessage {
            from: from.clone(),
            to: None,
            client_id: ClientMsgId(client_id),
            sent_at: Timestamp::now(),
            content: Content::Text(format!("m{client_id}")),
        }
    }

    /// While a commit waits on the disk (here: another connection holds
    /// the write lock), every message that arrives joins the next group:
    /// 100 sends cost at most two transactions, not 100, and still come
    /// out stored and published in the order they were sent.
    #[tokio::test]
    async fn sends_that_arrive_during_a_commit_share_the_next_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("natter.db");
        let store = Arc::new(SqliteStore::open(&path).unwrap());
        let a = store
            .create_account(&UserName::parse("a").unwrap(), "h")
            .unwrap();
        let hub = Arc::new(Hub::new(1024));
        let mut sub = hub.join(&UserName::parse("reader").unwrap());
        let committer = Committer::start(store, hub.clone()).unwrap();

        let disk = rusqlite::Connection::open(&path).unwrap();
        disk.execute_batch("BEGIN IMMEDIATE").unwrap();
        let answers: Vec<_> = (1..=100)
            .map(|i| committer.submit(message(&a, i)))
            .collect();
        disk.execute_batch("COMMIT").unwrap();

        let mut ids = Vec::new();
        for answer in answers {
            let appended = answer.await.unwrap().unwrap();
            assert!(appended.fresh);
            ids.push(appended.message.id);
        }
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids in send order");
        assert!(committer.groups() <= 2, "{} groups", committer.groups());
        let published: Vec<_> = std::iter::from_fn(|| match sub.rx.try_recv() {
            Ok(Outbound::Message(m)) => Some(m.id),
            _ => None,
        })
        .collect();
        assert_eq!(published, ids, "published once each, in id order");
    }
}
