//! An emulated bottleneck between clients and a server: a UDP relay that
//! gives each direction a link rate, a propagation delay and a drop-tail
//! router queue sized in milliseconds of that rate.
//!
//! A datagram arriving at a direction's queue is dropped if the data
//! already queued would take longer than the buffer to send; otherwise it
//! leaves the queue when the link has sent everything before it (its size
//! at the link rate) and arrives one propagation delay later. The relay
//! runs on a thread of its own with its own timer, so what the clients
//! and server do cannot delay it; tokio's timer fires on millisecond ticks,
//! which adds up to 1 ms to a datagram's trip (a datagram is never sent
//! early).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::mpsc;

/// The link's shape, the same in both directions.
#[derive(Debug, Clone, Copy)]
pub struct LinkShape {
    pub rate_mbit: f64,
    /// Round-trip propagation delay: half of it each way.
    pub rtt_ms: f64,
    /// The router buffer, in milliseconds of the link rate.
    pub buffer_ms: f64,
}

impl LinkShape {
    fn bytes_per_sec(&self) -> f64 {
        self.rate_mbit * 1e6 / 8.0
    }
}

/// What one direction of the link saw.
#[derive(Debug, Default, Clone)]
pub struct DirectionStats {
    pub packets: u64,
    pub bytes: u64,
    /// Datagrams the router queue dropped because it was full.
    pub drops: u64,
    /// The queueing delay each forwarded datagram met, in ms.
    pub queue_ms: Vec<f64>,
}

/// Both directions: `up` is client to server.
#[derive(Debug, Default, Clone)]
pub struct LinkStats {
    pub up: DirectionStats,
    pub down: DirectionStats,
}

/// A running link: clients connect to `addr` instead of the server.
pub struct Link {
    pub addr: SocketAddr,
    stats: Arc<Mutex<LinkStats>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Link {
    /// Starts relaying to `server` through a link of `shape`.
    pub fn start(server: SocketAddr, shape: LinkShape) -> std::io::Result<Self> {
        let front = big_buffers(std::net::UdpSocket::bind("127.0.0.1:0")?)?;
        let addr = front.local_addr()?;
        let stats = Arc::new(Mutex::new(LinkStats::default()));
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let relay = Relay {
            server,
            shape,
            stats: stats.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("link".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("link runtime");
                runtime.block_on(async move {
                    let front = UdpSocket::from_std(front).expect("link socket");
                    tokio::select! {
                        _ = relay.run(front) => {}
                        _ = stopped => {}
                    }
                });
            })?;
        Ok(Self {
            addr,
            stats,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Takes what the link saw since the last call.
    pub fn take_stats(&self) -> LinkStats {
        std::mem::take(&mut *self.stats.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Socket buffers large enough that the relay itself drops nothing: the
/// router queue is the only place a datagram may be lost.
fn big_buffers(socket: std::net::UdpSocket) -> std::io::Result<std::net::UdpSocket> {
    let socket = socket2::Socket::from(socket);
    // The kernel caps these at net.core.{r,w}mem_max; best effort.
    let _ = socket.set_recv_buffer_size(8 << 20);
    let _ = socket.set_send_buffer_size(8 << 20);
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

struct Relay {
    server: SocketAddr,
    shape: LinkShape,
    stats: Arc<Mutex<LinkStats>>,
}

impl Relay {
    /// Client datagrams go up through one queue; each client gets a socket
    /// of its own toward the server, so the server sees distinct peers,
    /// and the replies come down through the other queue.
    async fn run(self, front: UdpSocket) {
        let front = Arc::new(front);
        let up = Queue::start(self.shape, self.stats.clone(), Direction::Up);
        let down = Queue::start(self.shape, self.stats.clone(), Direction::Down);
        let mut backs: HashMap<SocketAddr, Arc<UdpSocket>> = HashMap::new();
        let mut buf = vec![0u8; 65536];
        while let Ok((n, client)) = front.recv_from(&mut buf).await {
            let back = match backs.get(&client) {
                Some(back) => back.clone(),
                None => match self.open_back(client, &front, down.clone()).await {
                    Ok(back) => backs.entry(client).or_insert(back).clone(),
                    Err(_) => continue,
                },
            };
            up.offer(buf[..n].to_vec(), Target::Server(back));
        }
    }

    async fn open_back(
        &self,
        client: SocketAddr,
        front: &Arc<UdpSocket>,
        down: Queue,
    ) -> std::io::Result<Arc<UdpSocket>> {
        let back = big_buffers(std::net::UdpSocket::bind("127.0.0.1:0")?)?;
        let back = Arc::new(UdpSocket::from_std(back)?);
        back.connect(self.server).await?;
        let (reader, front) = (back.clone(), front.clone());
        tokio::spawn(async move {
            let mut buf = vec![0u8; 65536];
            while let Ok(n) = reader.recv(&mut buf).await {
                down.offer(buf[..n].to_vec(), Target::Client(front.clone(), client));
            }
        });
        Ok(back)
    }
}

#[derive(Clone, Copy)]
enum Direction {
    Up,
    Down,
}

/// Where a datagram goes once it is through the link.
enum Target {
    Server(Arc<UdpSocket>),
    Client(Arc<UdpSocket>, SocketAddr),
}

/// One direction's router queue and link.
#[derive(Clone)]
struct Queue {
    inner: Arc<Mutex<QueueState>>,
    shape: LinkShape,
    stats: Arc<Mutex<LinkStats>>,
    direction: Direction,
}

struct QueueState {
    /// When the link will have sent everything queued so far.
    busy_until: Instant,
    out: mpsc::UnboundedSender<(Instant, Vec<u8>, Target)>,
}

impl Queue {
    fn start(shape: LinkShape, stats: Arc<Mutex<LinkStats>>, direction: Direction) -> Self {
        let (out, mut rx) = mpsc::unbounded_channel::<(Instant, Vec<u8>, Target)>();
        // Arrival times only grow, so one task delivering in order is exact.
        tokio::spawn(async move {
            while let Some((at, packet, target)) = rx.recv().await {
                tokio::time::sleep_until(at.into()).await;
                let _ = match target {
                    Target::Server(socket) => socket.send(&packet).await,
                    Target::Client(socket, client) => socket.send_to(&packet, client).await,
                };
            }
        });
        Self {
            inner: Arc::new(Mutex::new(QueueState {
                busy_until: Instant::now(),
                out,
            })),
            shape,
            stats,
            direction,
        }
    }

    /// A datagram reaches the router: queued behind the others, or dropped
    /// when the queue already holds a full buffer's worth.
    fn offer(&self, packet: Vec<u8>, target: Target) {
        let now = Instant::now();
        let size = packet.len();
        let mut state = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let backlog = state.busy_until.saturating_duration_since(now);
        let accepted = backlog.as_secs_f64() * 1e3 <= self.shape.buffer_ms;
        if accepted {
            let on_wire = Duration::from_secs_f64(size as f64 / self.shape.bytes_per_sec());
            state.busy_until = state.busy_until.max(now) + on_wire;
            let arrives = state.busy_until + Duration::from_secs_f64(self.shape.rtt_ms / 2.0 / 1e3);
            let _ = state.out.send((arrives, packet, target));
        }
        drop(state);
        let mut stats = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        let stats = match self.direction {
            Direction::Up => &mut stats.up,
            Direction::Down => &mut stats.down,
        };
        if accepted {
            stats.packets += 1;
            stats.bytes += size as u64;
            stats.queue_ms.push(backlog.as_secs_f64() * 1e3);
        } else {
            stats.drops += 1;
        }
    }
}

/// Floods a link of `shape` with datagrams at twice its rate for `secs`
/// and measures what comes out: the rate in Mbit/s, datagrams dropped by
/// the queue, and datagrams lost anywhere else (must be 0).
pub async fn verify_rate(shape: LinkShape, secs: f64) -> std::io::Result<(f64, u64, u64)> {
    let sink = UdpSocket::from_std(big_buffers(std::net::UdpSocket::bind("127.0.0.1:0")?)?)?;
    let link = Link::start(sink.local_addr()?, shape)?;
    let source = UdpSocket::bind("127.0.0.1:0").await?;
    source.connect(link.addr).await?;
    let counting = tokio::spawn(async move {
        let mut buf = vec![0u8; 2048];
        let (mut received, mut first, mut last, mut bytes) = (0u64, None, Instant::now(), 0u64);
        while let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_millis(500), sink.recv(&mut buf)).await
        {
            let now = Instant::now();
            if first.is_none() {
                first = Some(now);
            } else {
                bytes += n as u64;
            }
            last = now;
            received += 1;
        }
        let span = first.map_or(0.0, |f| (last - f).as_secs_f64());
        (received, bytes as f64 * 8.0 / span.max(1e-9) / 1e6)
    });
    let packet = vec![0u8; 1200];
    let gap = Duration::from_secs_f64(1200.0 / (2.0 * shape.bytes_per_sec()));
    let (started, mut sent) = (Instant::now(), 0u64);
    while started.elapsed().as_secs_f64() < secs {
        // Send what is due by now at twice the link rate.
        let due = (started.elapsed().as_secs_f64() / gap.as_secs_f64()) as u64;
        while sent < due {
            source.send(&packet).await?;
            sent += 1;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let (received, mbit) = counting.await.map_err(std::io::Error::other)?;
    let stats = link.take_stats();
    let lost = sent.saturating_sub(received + stats.up.drops);
    Ok((mbit, stats.up.drops, lost))
}
