//! Faults the server must survive with nothing lost and nothing made up:
//! killed without warning in the middle of a message storm and of uploads,
//! a full disk, a data dir it may not write. Real server (in a child
//! process where it must die), real client library, real QUIC, real
//! SQLite, real file systems.
//!
//! A client that vanishes without closing (its network goes silent) is
//! shown as left once the idle timeout notices:
//! `presence_follows_login_logout_and_a_dropped_connection`
//! in `chat.rs` proves that through a relay that is cut.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use natter_client::{Client, ClientError, ClientEvent, Events, TransferId};
use natter_common::codec;
use natter_common::protocol::{MediaKind, TransferReply};
use natter_common::{
    BlobHash, ChatMessage, ClientMsgId, Content, Conversation, MessageId, Recipient, Refusal,
};
use natter_tests::child::ChildServer;
use natter_tests::*;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

const MIB: u64 = 1 << 20;

/// The server binary the SIGKILL test runs as a child process.
const SERVER: &str = env!("CARGO_BIN_EXE_natter-fault-server");

/// How many of its messages a storm client lets wait for their
/// acknowledgement before it waits too: enough that a storm is always in
/// flight when the server dies, few enough to bound a test's memory.
const WINDOW: usize = 300;

fn text(s: &str) -> Content {
    Content::Text(s.into())
}

/// What a storm client did, as it saw it.
#[derive(Default)]
struct Storm {
    /// Every message it sent, in order: message `n` is `sent[n]`.
    sent: Vec<ClientMsgId>,
    /// The server's id for each acknowledged message.
    accepted: HashMap<ClientMsgId, MessageId>,
    /// The messages acknowledged before the test said the server was
    /// dead: the killed server stored them.
    acked_before_kill: Vec<ClientMsgId>,
    /// How many it had sent by then.
    sent_before_kill: usize,
    /// Reconnects made by the library itself.
    resumed: usize,
}

/// How far a storm client got, for the test to wait on.
#[derive(Clone, Copy, Default, Debug)]
struct StormProgress {
    accepted: usize,
    resumed: usize,
}

/// The test's orders to a storm client.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Order {
    Send,
    /// Stop sending; finish once every message is acknowledged.
    Finish,
}

/// Sends `"<me> <n>"` for n = 0, 1, … to everyone as fast as the library
/// takes them (at most [`WINDOW`] unacknowledged), until told to finish
/// and everything it sent is acknowledged.
async fn storm(
    client: Client,
    mut events: Events,
    me: &'static str,
    mut orders: watch::Receiver<Order>,
    killed: Arc<AtomicBool>,
    progress: watch::Sender<StormProgress>,
) -> Storm {
    let mut storm = Storm::default();
    let mut order = Order::Send;
    loop {
        if order == Order::Finish && storm.accepted.len() == storm.sent.len() {
            return storm;
        }
        let may_send = order != Order::Finish && storm.sent.len() - storm.accepted.len() < WINDOW;
        tokio::select! {
            biased;
            event = events.next() => match event.expect("the client stopped") {
                ClientEvent::Accepted { client_id, id, .. } => {
                    let earlier = storm.accepted.insert(client_id, id);
                    assert!(earlier.is_none(), "{me}: {client_id:?} acknowledged twice");
                    if !killed.load(Ordering::SeqCst) {
                        storm.acked_before_kill.push(client_id);
                    }
                    progress.send_modify(|p| p.accepted = storm.accepted.len());
                }
                ClientEvent::Connected { resumed: true } => {
                    storm.resumed += 1;
                    progress.send_modify(|p| p.resumed = storm.resumed);
                }
                ClientEvent::Rejected { client_id, reason } => {
                    panic!("{me}: {client_id:?} rejected: {reason}")
                }
                ClientEvent::Closed { reason } => panic!("{me}: the client gave up: {reason}"),
                _ => {}
            },
            changed = orders.changed(), if order != Order::Finish => {
                changed.expect("the test is gone");
                order = *orders.borrow_and_update();
            }
            () = std::future::ready(()), if may_send => {
                let n = storm.sent.len();
                let id = client
                    .send(Recipient::Everyone, text(&format!("{me} {n}")))
                    .expect("the library takes the message");
                storm.sent.push(id);
                if !killed.load(Ordering::SeqCst) {
                    storm.sent_before_kill += 1;
                }
                tokio::task::yield_now().await;
            }
        }
    }
}

/// Keeps draining an uploader's events (the storm's messages reach it too)
/// and publishes how far its upload got.
fn upload_progress(mut events: Events) -> watch::Receiver<u64> {
    let (tx, rx) = watch::channel(0);
    tokio::spawn(async move {
        while let Some(event) = events.next().await {
            if let ClientEvent::Progress(p) = event {
                if p.upload {
                    tx.send_replace(p.done);
                }
            }
        }
    });
    rx
}

/// Every message of the group conversation, oldest first, paged.
async fn whole_group_history(client: &Client) -> Vec<ChatMessage> {
    let mut all = Vec::new();
    let mut before = None;
    loop {
        let page = within(
            "a history page",
            client.history(Conversation::Group, before, 200),
        )
        .await
        .expect("history");
        before = page.messages.first().map(|m| m.id);
        let more = page.more;
        all.splice(0..0, page.messages);
        if !more || before.is_none() {
            return all;
        }
    }
}

/// Fetches `hash` by hash alone as `client` into `out`.
async fn fetch_blob(client: &Client, hash: BlobHash, out: &Path) -> Result<(), ClientError> {
    let (id, cancel): (TransferId, CancellationToken) = client.new_transfer();
    within("a fetch", client.fetch_to(hash, out, id, &cancel))
        .await
        .map(|_| ())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_loses_nothing_acknowledged_and_clients_carry_on_by_themselves() {
    init_logging();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    let mut server =
        ChildServer::start(SERVER.as_ref(), "127.0.0.1:0".parse().unwrap(), &data).await;

    // Three clients storm the group; two others upload a file each.
    let (orders, _) = watch::channel(Order::Send);
    let killed = Arc::new(AtomicBool::new(false));
    let mut storms = Vec::new();
    let mut storm_progress = Vec::new();
    for me in ["alice", "bob", "carol"] {
        let (client, events) = register_and_login(server.client_config(), me).await;
        let (tx, rx) = watch::channel(StormProgress::default());
        storm_progress.push(rx);
        let orders = orders.subscribe();
        storms.push((
            client.clone(),
            tokio::spawn(storm(client, events, me, orders, killed.clone(), tx)),
        ));
    }
    for progress in &mut storm_progress {
        within(
            "the storm to get going",
            progress.wait_for(|p| p.accepted >= 30),
        )
        .await
        .unwrap();
    }
    // The files are written before any upload starts, so both uploads run
    // at once.
    let mut files = Vec::new();
    for (me, size) in [("dave", 128 * MIB), ("erin", 112 * MIB)] {
        let source = dir.path().join(format!("{me}.bin"));
        random_file(&source, size, me);
        let hash = natter_client::hash::hash_file(&source).await.unwrap().0;
        let (client, events) = register_and_login(server.client_config(), me).await;
        files.push((me, client, events, source, hash, size));
    }
    let mut uploads = Vec::new();
    for (me, client, events, source, hash, size) in files {
        let progress = upload_progress(events);
        let (uploader, path) = (client.clone(), source.clone());
        let task = tokio::spawn(async move {
            let (id, cancel) = uploader.new_transfer();
            uploader
                .upload_now(MediaKind::File, &path, id, &cancel)
                .await
        });
        uploads.push((me, client, source, hash, size, progress, task));
    }
    // The storm is under way and both uploads are some way through.
    for (me, _, _, _, _, progress, _) in &mut uploads {
        within(
            &format!("{me}'s upload to get going"),
            progress.wait_for(|&d| d >= 8 * MIB),
        )
        .await
        .unwrap();
    }

    server.kill().await;
    killed.store(true, Ordering::SeqCst);
    for (me, _, _, _, _, _, task) in &mut uploads {
        if task.is_finished() {
            panic!("{me}'s upload ended before the kill: {:?}", task.await);
        }
    }
    server.start_again().await;

    // No partial blob is served. The uploader, who may fetch what it
    // uploaded, asks from a second device while its first has yet to
    // notice the restart and resume: the part on disk is not the blob.
    let mut refused = 0;
    for (me, _, source, hash, _, _, task) in &uploads {
        let (second, _events) = natter_client::Client::login(server.client_config(), me, PASSWORD)
            .await
            .unwrap();
        let out = dir.path().join(format!("{me}-early.bin"));
        match fetch_blob(&second, *hash, &out).await {
            Err(ClientError::Refused(Refusal::NoSuchBlob)) => {
                assert!(!out.exists(), "nothing of {me}'s blob was written");
                refused += 1;
            }
            Ok(()) => {
                assert!(
                    task.is_finished(),
                    "{me}'s blob was served before it was complete"
                );
                assert!(same_bytes(source, &out), "{me}'s blob was served partial");
            }
            Err(e) => panic!("fetching {me}'s blob early: {e}"),
        }
        second.logout().await.unwrap();
    }
    assert!(refused > 0, "no fetch came before an upload resumed");

    // The clients notice and reconnect by themselves, and the storm goes on.
    for (i, progress) in storm_progress.iter_mut().enumerate() {
        let before = progress.borrow().accepted;
        within(
            "a storm client to reconnect and be acknowledged again",
            progress.wait_for(|p| p.resumed >= 1 && p.accepted >= before + 30),
        )
        .await
        .unwrap_or_else(|_| panic!("storm client {i} stopped"));
    }
    orders.send_replace(Order::Finish);
    let mut results = Vec::new();
    for (client, task) in storms {
        results.push((client, within("the storm to finish", task).await.unwrap()));
    }

    // The uploads resume and what the server kept is exactly each file.
    for (me, client, source, hash, size, _, task) in uploads {
        let (media, stats) = within(&format!("{me}'s upload"), task)
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("{me}'s upload failed: {e}"));
        assert_eq!(media.hash, hash);
        assert!(stats.resumed_from > 0, "{me}'s upload started over");
        println!(
            "{me}: upload of {size} bytes resumed from {} after the kill",
            stats.resumed_from
        );
        assert_eq!(stats.sent + stats.resumed_from, size);
        let out = dir.path().join(format!("{me}-fetched.bin"));
        fetch_blob(&client, hash, &out).await.unwrap();
        assert!(
            same_bytes(&source, &out),
            "{me}'s blob differs from the file"
        );
    }

    // Every message sent is in history exactly once, in its sender's order,
    // under the id its acknowledgement gave, whether it was acknowledged
    // before the kill or resent after it.
    let history = whole_group_history(&results[0].0).await;
    let mut by_id: HashMap<MessageId, &ChatMessage> = HashMap::new();
    for m in &history {
        assert!(by_id.insert(m.id, m).is_none(), "{:?} twice", m.id);
    }
    for ((client, storm), me) in results.iter().zip(["alice", "bob", "carol"]) {
        assert!(storm.resumed >= 1, "{me} did not reconnect by itself");
        assert!(
            storm.sent_before_kill > storm.acked_before_kill.len(),
            "{me}: nothing was waiting for its acknowledgement when the server died"
        );
        assert!(
            !storm.acked_before_kill.is_empty(),
            "{me}: nothing acknowledged before the kill"
        );
        for (n, client_id) in storm.sent.iter().enumerate() {
            let id = storm.accepted[client_id];
            let stored = by_id
                .get(&id)
                .unwrap_or_else(|| panic!("{me} {n}, acknowledged as {id:?}, is not in history"));
            assert_eq!(stored.content, text(&format!("{me} {n}")), "{id:?}");
            assert_eq!(&stored.from, client.me());
        }
        let mine: Vec<String> = history
            .iter()
            .filter(|m| &m.from == client.me())
            .map(|m| match &m.content {
                Content::Text(t) => t.clone(),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        let expected: Vec<String> = (0..storm.sent.len()).map(|n| format!("{me} {n}")).collect();
        assert_eq!(
            mine, expected,
            "{me}'s messages in history, in order, once each"
        );
        println!(
            "{me}: {} messages, {} sent and {} acknowledged before the kill, {} reconnects",
            storm.sent.len(),
            storm.sent_before_kill,
            storm.acked_before_kill.len(),
            storm.resumed
        );
    }
    drop(server);
}

/// A size-limited tmpfs mounted for one test, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (as `mount -o size=` takes it). `None`,
    /// after a line saying the test is skipped, when not running as root:
    /// only root may mount. As root a mount that fails fails the test.
    fn mount(size: &str, test: &str) -> Option<Self> {
        use std::os::unix::fs::MetadataExt;
        let uid = std::fs::metadata("/proc/self")
            .map(|m| m.uid())
            .unwrap_or(u32::MAX);
        if uid != 0 {
            println!("SKIPPED {test}: mounting a size-limited tmpfs needs root (uid {uid})");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        run(
            "mount",
            &[
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size}"),
                "natter-faults",
            ],
            dir.path(),
        );
        Some(Self { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Makes the whole file system read-only: permissions do not stop root.
    fn remount_read_only(&self) {
        run("mount", &["-o", "remount,ro"], self.path());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.path())
            .status();
    }
}

/// Runs `command args… path`, failing the test if it fails.
fn run(command: &str, args: &[&str], path: &Path) {
    let status = std::process::Command::new(command)
        .args(args)
        .arg(path)
        .status()
        .unwrap_or_else(|e| panic!("{command}: {e}"));
    assert!(
        status.success(),
        "{command} {args:?} {}: {status}",
        path.display()
    );
}

/// Appends 64 KiB blocks to `path` until the file system is full.
fn fill(path: &Path) {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    let block = vec![0x5au8; 64 * 1024];
    loop {
        match file.write_all(&block) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(28) => return, // ENOSPC
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
    }
}

/// Cuts `by` bytes off the end of `path`: that much room on its disk.
fn shrink(path: &Path, by: u64) {
    let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    let len = file.metadata().unwrap().len();
    file.set_len(len - by).unwrap();
}

/// Waits until every message in `pending` is acknowledged, noting the
/// refusals met on the way; any final rejection or a closed client fails.
async fn until_accepted(
    events: &mut Events,
    mut pending: Vec<ClientMsgId>,
    throttled: &mut Vec<Refusal>,
) -> HashMap<ClientMsgId, MessageId> {
    let mut accepted = HashMap::new();
    expect(events, "every message acknowledged", |e| {
        match e {
            ClientEvent::Accepted { client_id, id, .. } => {
                if let Some(at) = pending.iter().position(|p| p == client_id) {
                    pending.remove(at);
                    accepted.insert(*client_id, *id);
                }
            }
            ClientEvent::Throttled { reason, .. } => throttled.push(reason.clone()),
            ClientEvent::Rejected { reason, .. } => panic!("rejected: {reason}"),
            ClientEvent::Closed { reason } => panic!("the client gave up: {reason}"),
            ClientEvent::Disconnected { reason, .. } => panic!("disconnected: {reason}"),
            _ => {}
        }
        pending.is_empty().then_some(())
    })
    .await;
    accepted
}

#[tokio::test]
async fn a_full_disk_gets_clear_refusals_and_everything_recovers_when_space_returns() {
    let test = "a_full_disk_gets_clear_refusals_and_everything_recovers_when_space_returns";
    let Some(disk) = Tmpfs::mount("40m", test) else {
        return;
    };
    let data = disk.path().join("data");
    let mut server = TestServer::start_at("127.0.0.1:0".parse().unwrap(), &data, |_| {}).await;
    let files = tempfile::tempdir().unwrap();
    let (alice, mut a) = server.user("alice").await;
    let (bob, mut b) = server.user("bob").await;
    let mut throttled = Vec::new();
    let first = alice.send(Recipient::Everyone, text("before")).unwrap();
    until_accepted(&mut a, vec![first], &mut throttled).await;

    // An upload of 16 MiB starts while there is room, and the disk fills
    // up under it, to 2 MiB from full: the server runs out of room part way
    // and says so.
    let source = files.path().join("big.bin");
    random_file(&source, 16 * MIB, "disk full");
    let (mut send, mut recv) = natter_tests::blobs::start_raw_upload(&alice, &source).await;
    let filler = disk.path().join("filler");
    fill(&filler);
    shrink(&filler, 2 * MIB);
    let bytes = std::fs::read(&source).unwrap();
    // The server stops reading once it cannot write: the send may fail.
    let _ = within("the upload's bytes to go", send.write_all(&bytes)).await;
    let _ = send.finish();
    let reply: Option<TransferReply> = within(
        "the server's answer to an upload it had no room for",
        codec::read_frame(&mut recv, 4096),
    )
    .await
    .unwrap();
    assert_eq!(reply, Some(TransferReply::Refused(Refusal::Unavailable)));

    // Asked again through the library with 1 MiB free (room for the
    // database, not for the rest of the file), the server says at once
    // that it has no room: a typed refusal, not a hang nor a dropped
    // connection.
    shrink(&filler, MIB);
    let (id, cancel) = alice.new_transfer();
    let refused = within(
        "the upload to be refused",
        alice.upload_now(MediaKind::File, &source, id, &cancel),
    )
    .await;
    match refused {
        Err(ClientError::Refused(Refusal::Unavailable)) => {}
        other => panic!("expected Unavailable for a full disk, got {other:?}"),
    }
    within("alice's session to answer", alice.ping())
        .await
        .unwrap();

    // Now not a byte free: chat is held back (or stored), never lost, and
    // nobody is disconnected.
    fill(&filler);
    let mut while_full = Vec::new();
    for n in 0..5 {
        while_full.push(
            alice
                .send(Recipient::Everyone, text(&format!("full {n}")))
                .unwrap(),
        );
    }
    let held = expect(&mut a, "an answer while the disk is full", |e| match e {
        ClientEvent::Throttled { reason, .. } => Some(Some(reason.clone())),
        ClientEvent::Accepted { client_id, .. } if *client_id == while_full[0] => Some(None),
        ClientEvent::Rejected { reason, .. } => panic!("rejected: {reason}"),
        _ => None,
    })
    .await;
    println!("the first message on a full disk: {held:?}");
    within("bob's session to answer", bob.ping()).await.unwrap();

    // Space returns: everything goes through and the upload completes.
    std::fs::remove_file(&filler).unwrap();
    // (The first one's acknowledgement, if it came already, was read.)
    let skip = usize::from(held.is_none());
    until_accepted(&mut a, while_full[skip..].to_vec(), &mut throttled).await;
    for reason in held.iter().chain(&throttled) {
        assert_eq!(*reason, Refusal::Unavailable, "held back as {reason}");
    }
    let (id, cancel) = alice.new_transfer();
    let (media, stats) = within(
        "the upload once space returns",
        alice.upload_now(MediaKind::File, &source, id, &cancel),
    )
    .await
    .unwrap();
    println!(
        "the upload resumed from {} once space returned",
        stats.resumed_from
    );
    assert!(stats.resumed_from > 0, "the upload started over");
    let out = files.path().join("fetched.bin");
    fetch_blob(&alice, media.hash, &out).await.unwrap();
    assert!(same_bytes(&source, &out));
    let after = bob.send(Recipient::Everyone, text("after")).unwrap();
    until_accepted(&mut b, vec![after], &mut throttled).await;

    // Everything acknowledged is there once, and the database is sound.
    let texts: Vec<Content> = whole_group_history(&bob)
        .await
        .into_iter()
        .map(|m| m.content)
        .collect();
    let mut expected = vec![text("before")];
    expected.extend((0..5).map(|n| text(&format!("full {n}"))));
    expected.push(text("after"));
    assert_eq!(texts, expected);
    server.stop().await;
    let db = rusqlite::Connection::open(data.join("natter.db")).unwrap();
    let check: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}

#[tokio::test]
async fn a_data_dir_that_cannot_be_written_is_a_clear_error_at_start() {
    let test = "a_data_dir_that_cannot_be_written_is_a_clear_error_at_start";
    let (Some(empty), Some(used)) = (Tmpfs::mount("4m", test), Tmpfs::mount("8m", test)) else {
        return;
    };
    // One that was never used, and one that holds a server's data.
    let mut server =
        TestServer::start_at("127.0.0.1:0".parse().unwrap(), used.path(), |_| {}).await;
    let _ = server.user("alice").await;
    server.stop().await;
    for disk in [&empty, &used] {
        disk.remount_read_only();
        let config = natter_server::Config::new("127.0.0.1:0".parse().unwrap(), disk.path());
        let error = match natter_server::Server::bind(config).await {
            Err(e) => format!("{e:#}"),
            Ok(_) => panic!("a server started on a read-only data dir"),
        };
        println!("{error}");
        // It names what could not be written, where.
        let dir = disk.path().display().to_string();
        assert!(error.contains(&dir), "{error}");
        if std::ptr::eq(disk, &empty) {
            assert!(error.contains("Read-only file system"), "{error}");
        } else {
            assert!(error.contains("natter.db"), "{error}");
        }
    }
}

/// A server killed and started again answers its old clients' next packet
/// with a stateless reset they can verify (the reset key is derived from
/// its identity, which survives), so they learn of the restart from that
/// packet and reconnect, instead of waiting out their idle timeout (the
/// fault server's is 3 s; it would say "stopped answering").
#[tokio::test]
async fn clients_learn_of_a_restart_from_the_servers_next_life() {
    init_logging();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    let mut server =
        ChildServer::start(SERVER.as_ref(), "127.0.0.1:0".parse().unwrap(), &data).await;
    let (alice, mut events) = register_and_login(server.client_config(), "alice").await;
    server.kill().await;
    server.start_again().await;
    // Long before the idle timeout: the next packet meets the new server.
    alice
        .send(Recipient::Everyone, Content::Text("after".into()))
        .unwrap();
    let reason = within("alice to notice the restart", async {
        loop {
            if let Some(ClientEvent::Disconnected { reason, .. }) = events.next().await {
                return reason;
            }
        }
    })
    .await;
    assert!(reason.contains("reset"), "{reason}");
    within("alice to be back", async {
        while !matches!(
            events.next().await,
            Some(ClientEvent::Connected { resumed: true })
        ) {}
    })
    .await;
}
