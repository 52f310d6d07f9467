//! The fan-out load: N sessions in one room, S of them sending on a fixed
//! schedule, every session (senders included) timing and checking what it
//! receives. One lightweight task per connection; the same driver runs
//! against Natter and against the bare relay.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use natter_common::codec::decode_payload;
use natter_common::{ChatMessage, Content, ServerMsg, SessionToken};
use tokio::sync::{watch, Semaphore};
use tokio_util::sync::CancellationToken;

use super::child::LoadChild;
use super::frames::Frames;
use super::sender;
use super::session::{self, Session};
use super::stamp::Stamp;
use super::tally::Tally;

/// Handshakes in flight at once while the room fills.
const HANDSHAKES: usize = 32;
/// Attempts to get in before a client gives up (and the run fails).
const ATTEMPTS: usize = 5;

/// The shape of a run.
#[derive(Clone)]
pub struct Load {
    pub clients: usize,
    pub senders: usize,
    /// Messages per second, all senders together.
    pub rate: f64,
    pub body: usize,
    pub secs: f64,
    /// How long to wait past the send phase for the last deliveries.
    pub grace: Duration,
}

/// Who the clients talk to: Natter (each resumes with its token) or the
/// bare relay.
#[derive(Clone)]
pub enum Target {
    Natter(Arc<Vec<SessionToken>>),
    Relay,
}

/// Sessions the server ended before the run did.
pub struct Dropped {
    pub count: usize,
    pub first_reason: Option<String>,
}

/// State every client task shares: counters, the start signal, the stop.
pub struct Shared {
    /// The one monotonic clock every stamp is read from.
    clock: Instant,
    pub load: Load,
    pub relay: bool,
    pub ready: AtomicUsize,
    /// Failed attempts to get in that were tried again.
    pub retries: AtomicU64,
    pub sent: AtomicU64,
    pub accepted: AtomicU64,
    pub rejected: AtomicU64,
    /// First deliveries, all recipients together.
    pub received: AtomicU64,
    /// Sessions whose stream ended before the run stopped.
    closed: AtomicUsize,
    /// Why the first session that ended early ended.
    first_close: std::sync::Mutex<Option<String>>,
    /// Worst lateness of a send against its schedule, µs.
    pub send_lag_us: AtomicU64,
    pub(super) start: watch::Sender<Option<Instant>>,
    pub stop: CancellationToken,
}

impl Shared {
    pub fn new(load: Load, relay: bool) -> Arc<Self> {
        Arc::new(Self {
            clock: Instant::now(),
            load,
            relay,
            ready: AtomicUsize::new(0),
            retries: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            received: AtomicU64::new(0),
            closed: AtomicUsize::new(0),
            send_lag_us: AtomicU64::new(0),
            first_close: std::sync::Mutex::new(None),
            start: watch::channel(None).0,
            stop: CancellationToken::new(),
        })
    }

    /// Releases the senders: their schedule starts at `at`.
    pub fn start(&self, at: Instant) {
        self.start.send_replace(Some(at));
    }

    /// `at` in ns on the shared clock.
    pub fn ns(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.clock).as_nanos() as u64
    }

    /// Counts a session that ended before the stop, keeping the first
    /// reason.
    fn closed(&self, connection: &quinn::Connection, error: Option<anyhow::Error>) {
        self.closed.fetch_add(1, Relaxed);
        let reason = match (connection.close_reason(), error) {
            (Some(reason), _) => reason.to_string(),
            (None, Some(e)) => e.to_string(),
            (None, None) => "the server finished the stream".into(),
        };
        let mut first = self.first_close.lock().unwrap_or_else(|p| p.into_inner());
        first.get_or_insert(reason);
    }

    /// Ends the run: notes the sessions that ended early, kills the
    /// server child, then stops the client tasks. Killing it first spares
    /// the teardown a storm the run is not about: every client leaving
    /// would be announced to all the others, whose readers are gone.
    pub async fn end(&self, child: &mut LoadChild) -> anyhow::Result<Dropped> {
        let dropped = Dropped {
            count: self.closed.load(Relaxed),
            first_reason: self.first_close.lock().ok().and_then(|r| r.clone()),
        };
        child.kill().await?;
        self.stop.cancel();
        Ok(dropped)
    }

    /// Whether every send is answered and every answered message reached
    /// every session still connected.
    pub fn drained(&self) -> bool {
        let (sent, accepted) = (self.sent.load(Relaxed), self.accepted.load(Relaxed));
        let online = (self.load.clients - self.closed.load(Relaxed)) as u64;
        accepted + self.rejected.load(Relaxed) >= sent
            && self.received.load(Relaxed) >= accepted * online
    }
}

/// Spawns client `i`: it gets in (waiting for a handshake slot), then
/// receives until the stop; senders also send on their schedule.
pub fn spawn_client(
    i: usize,
    endpoint: quinn::Endpoint,
    server: SocketAddr,
    target: Target,
    shared: Arc<Shared>,
    handshakes: Arc<Semaphore>,
) -> tokio::task::JoinHandle<anyhow::Result<Tally>> {
    tokio::spawn(async move {
        let permit = handshakes.acquire_owned().await?;
        let session = get_in(i, &endpoint, server, &target, &shared).await?;
        drop(permit);
        shared.ready.fetch_add(1, Relaxed);
        let Session {
            connection,
            send,
            mut frames,
        } = session;
        // Finishing the control stream would end the session: senders
        // keep it in their task, the others here.
        let (sender, _send) = if i < shared.load.senders {
            (
                Some(tokio::spawn(sender::run(i, send, shared.clone()))),
                None,
            )
        } else {
            (None, Some(send))
        };
        let tally = receive_until_stop(&connection, &mut frames, &shared).await;
        if let Some(sender) = sender {
            sender.abort();
        }
        Ok(tally)
    })
}

/// Receives until the run stops or the server ends the session; what
/// arrived.
async fn receive_until_stop(
    connection: &quinn::Connection,
    frames: &mut Frames,
    shared: &Shared,
) -> Tally {
    let expected = (shared.load.rate * shared.load.secs) as usize + 16;
    let mut tally = Tally::new(shared.load.senders, expected);
    loop {
        tokio::select! {
            biased;
            _ = shared.stop.cancelled() => break,
            frame = frames.next() => match frame {
                Ok(Some(payload)) => receive(payload, &mut tally, shared),
                end => {
                    shared.closed(connection, end.err());
                    break;
                }
            },
        }
    }
    tally
}

/// Connects and logs in (or joins the relay), trying again a few times
/// as a real client would: a handshake can fail when the server's socket
/// drops packets while the room fills. A token that was rotated by an
/// attempt whose answer was lost still resumes within its grace.
async fn get_in(
    i: usize,
    endpoint: &quinn::Endpoint,
    server: SocketAddr,
    target: &Target,
    shared: &Shared,
) -> anyhow::Result<Session> {
    let mut attempt = 0;
    loop {
        let result = match target {
            Target::Natter(tokens) => session::resume(endpoint, server, tokens[i].clone()).await,
            Target::Relay => session::join_relay(endpoint, server).await,
        };
        attempt += 1;
        match result {
            Err(_) if attempt < ATTEMPTS => shared.retries.fetch_add(1, Relaxed),
            other => return other,
        };
    }
}

/// One frame from the server: a stamped message, or an answer to a send.
fn receive(payload: &[u8], tally: &mut Tally, shared: &Shared) {
    if super::presence::is_presence(payload) {
        return;
    }
    let Ok(msg) = decode_payload::<ServerMsg>(payload) else {
        return;
    };
    match msg {
        ServerMsg::Message(ChatMessage {
            content: Content::Text(text),
            ..
        }) => {
            let now = shared.ns(Instant::now());
            if let Some(stamp) = Stamp::parse(&text) {
                let before = tally.duplicates;
                if tally.record(stamp, now) && tally.duplicates == before {
                    shared.received.fetch_add(1, Relaxed);
                }
            }
        }
        ServerMsg::Accepted { .. } => {
            shared.accepted.fetch_add(1, Relaxed);
        }
        ServerMsg::Rejected { .. } => {
            shared.rejected.fetch_add(1, Relaxed);
        }
        _ => {}
    }
}

/// Spawns all `clients` clients and waits until every one is in; the
/// tasks, or the first error.
pub async fn fill(
    server: SocketAddr,
    target: &Target,
    shared: &Arc<Shared>,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<anyhow::Result<Tally>>>> {
    let n = shared.load.clients;
    let endpoints = session::endpoints(n)?;
    let handshakes = Arc::new(Semaphore::new(HANDSHAKES));
    let mut tasks: Vec<_> = (0..n)
        .map(|i| {
            let endpoint = session::endpoint_for(&endpoints, i).clone();
            spawn_client(
                i,
                endpoint,
                server,
                target.clone(),
                shared.clone(),
                handshakes.clone(),
            )
        })
        .collect();
    while shared.ready.load(Relaxed) < n {
        if let Some(failed) = tasks.iter().position(|t| t.is_finished()) {
            let task = tasks.swap_remove(failed);
            shared.stop.cancel();
            return Err(match task.await? {
                Err(e) => e.context(format!("client {failed} failed to get in")),
                Ok(_) => anyhow::anyhow!(
                    "client {failed} was dropped before the run: {}",
                    shared
                        .first_close
                        .lock()
                        .map(|r| r.clone())
                        .ok()
                        .flatten()
                        .unwrap_or_default()
                ),
            });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(tasks)
}
