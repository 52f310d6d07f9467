//! The fan-out load: N sessions in one room, S of them sending on a fixed
//! schedule, every session (senders included) timing and checking what it
//! receives. One lightweight task per connection; the same driver runs
//! against Natter and against the bare relay.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use natter_common::codec::decode_payload;
use natter_common::{ChatMessage, Content, ServerMsg, SessionToken};
use tokio::sync::Semaphore;

use super::child::LoadChild;
use super::frames::Frames;
use super::run::Run;
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

/// State every client task shares: the run's (see [`Run`]) and what only
/// this driver counts.
pub struct Shared {
    pub run: Run,
    pub relay: bool,
    /// Failed attempts to get in that were tried again.
    pub retries: AtomicU64,
    /// Sends the server answered with `Accepted`.
    pub accepted: AtomicU64,
}

impl Shared {
    pub fn new(load: Load, relay: bool) -> Arc<Self> {
        Arc::new(Self {
            run: Run::new(load),
            relay,
            retries: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
        })
    }

    /// Counts a session that ended before the stop, keeping the first
    /// reason.
    fn closed(&self, connection: &quinn::Connection, error: Option<anyhow::Error>) {
        let reason = match (connection.close_reason(), error) {
            (Some(reason), _) => reason.to_string(),
            (None, Some(e)) => e.to_string(),
            (None, None) => "the server finished the stream".into(),
        };
        self.run.closed(reason);
    }

    /// Ends the run: notes the sessions that ended early, kills the
    /// server child, then stops the client tasks. Killing it first spares
    /// the teardown a storm the run is not about: every client leaving
    /// would be announced to all the others, whose readers are gone.
    pub async fn end(&self, child: &mut LoadChild) -> anyhow::Result<Dropped> {
        let (count, first_reason) = self.run.dropped();
        child.kill().await?;
        self.run.stop.cancel();
        Ok(Dropped {
            count,
            first_reason,
        })
    }

    /// Whether every send is answered and every answered message reached
    /// every session still connected.
    pub fn drained(&self) -> bool {
        let run = &self.run;
        let (sent, accepted) = (run.sent.load(Relaxed), self.accepted.load(Relaxed));
        accepted + run.rejected.load(Relaxed) >= sent
            && run.received.load(Relaxed) >= accepted * run.connected()
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
        shared.run.ready.fetch_add(1, Relaxed);
        let Session {
            connection,
            send,
            mut frames,
        } = session;
        // Finishing the control stream would end the session: senders
        // keep it in their task, the others here.
        let (sender, _send) = if i < shared.run.load.senders {
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
    let expected = (shared.run.load.rate * shared.run.load.secs) as usize + 16;
    let mut tally = Tally::new(shared.run.load.senders, expected);
    loop {
        tokio::select! {
            biased;
            _ = shared.run.stop.cancelled() => break,
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
            let now = shared.run.ns(Instant::now());
            if let Some(stamp) = Stamp::parse(&text) {
                let before = tally.duplicates;
                if tally.record(stamp, now) && tally.duplicates == before {
                    shared.run.received.fetch_add(1, Relaxed);
                }
            }
        }
        ServerMsg::Accepted { .. } => {
            shared.accepted.fetch_add(1, Relaxed);
        }
        ServerMsg::Rejected { .. } => {
            shared.run.rejected.fetch_add(1, Relaxed);
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
    let n = shared.run.load.clients;
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
    while shared.run.ready.load(Relaxed) < n {
        if let Some(failed) = tasks.iter().position(|t| t.is_finished()) {
            let task = tasks.swap_remove(failed);
            shared.run.stop.cancel();
            return Err(match task.await? {
                Err(e) => e.context(format!("client {failed} failed to get in")),
                Ok(_) => anyhow::anyhow!(
                    "client {failed} was dropped before the run: {}",
                    shared.run.dropped().1.unwrap_or_default()
                ),
            });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(tasks)
}
