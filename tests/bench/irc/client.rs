//! One IRC client of the load: a single tokio task per connection over
//! TLS (tokio-rustls, trusting the server's generated certificate as its
//! one root) that registers, joins the channel, then reads lines and,
//! for the senders, posts stamped PRIVMSGs on the shared schedule.
//! Lines are cut out of one fixed buffer per connection; only a sender's
//! own messages are allocated.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{watch, Semaphore};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::load::room::Load;
use crate::load::run::Run;
use crate::load::stamp::Stamp;
use crate::load::tally::Tally;

/// The channel every client joins.
pub const CHANNEL: &str = "#room";
/// Connections registering at once while the channel fills. InspIRCd
/// completes a TLS client's registration on its once-a-second background
/// tick, so a small gate would cost a second per batch.
const HANDSHAKES: usize = 1024;
/// Clients per loopback source address (127.0.0.2, 127.0.0.3, …).
const PER_ADDRESS: usize = 250;
/// Longest line accepted (IRC's is 512 bytes; InspIRCd's tags add more).
const BUFFER: usize = 16 * 1024;

/// State every client task shares: the run's (see [`Run`]) and the TLS
/// parameters the first client negotiated.
pub struct Shared {
    pub run: Run,
    /// The TLS version and cipher suite the first client negotiated.
    pub tls: Mutex<Option<String>>,
}

impl Shared {
    pub fn new(load: Load) -> Arc<Self> {
        Arc::new(Self {
            run: Run::new(load),
            tls: Mutex::new(None),
        })
    }

    /// Deliveries expected per message: IRC does not echo a message to its
    /// sender.
    pub fn recipients(&self) -> u64 {
        self.run.load.clients as u64 - 1
    }

    /// Whether every message sent reached every other client still
    /// connected.
    pub fn drained(&self) -> bool {
        let run = &self.run;
        run.received.load(Relaxed) >= run.sent.load(Relaxed) * run.connected().saturating_sub(1)
    }
}

/// A TLS connector whose one trusted root is `cert`, the server's own
/// self-signed certificate: rustls checks the chain, the name and the
/// handshake signatures as it would for any server.
pub fn connector(cert: CertificateDer<'static>) -> anyhow::Result<TlsConnector> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

/// Starts the N clients; returns once all have joined the channel (or
/// one failed), their tasks still running until [`Shared::stop`].
pub async fn fill(
    addr: SocketAddr,
    connector: TlsConnector,
    shared: &Arc<Shared>,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<anyhow::Result<Tally>>>> {
    let gate = Arc::new(Semaphore::new(HANDSHAKES));
    let (joined_tx, mut joined) = tokio::sync::mpsc::channel::<anyhow::Result<()>>(64);
    let mut tasks = Vec::with_capacity(shared.run.load.clients);
    for i in 0..shared.run.load.clients {
        let (connector, shared) = (connector.clone(), shared.clone());
        let (gate, joined_tx) = (gate.clone(), joined_tx.clone());
        tasks.push(tokio::spawn(async move {
            let permit = gate.acquire_owned().await?;
            let joining = join(i, addr, &connector, &shared).await;
            drop(permit);
            // Subscribed before it counts as joined, so it cannot miss the
            // start.
            let start = shared.run.started();
            let (tls, rest) = match joining {
                Ok(ok) => {
                    let _ = joined_tx.send(Ok(())).await;
                    ok
                }
                Err(e) => {
                    let _ = joined_tx
                        .send(Err(anyhow::anyhow!("client {i}: {e:#}")))
                        .await;
                    return Err(e);
                }
            };
            run(i, tls, rest, start, &shared).await
        }));
    }
    drop(joined_tx);
    for _ in 0..shared.run.load.clients {
        joined.recv().await.context("a client task ended")??;
        shared.run.ready.fetch_add(1, Relaxed);
    }
    Ok(tasks)
}

/// Connects client `i` from its loopback source address, registers and
/// joins; the stream and any bytes read past the end of NAMES.
async fn join(
    i: usize,
    addr: SocketAddr,
    connector: &TlsConnector,
    shared: &Shared,
) -> anyhow::Result<(TlsStream<tokio::net::TcpStream>, Lines)> {
    let source = Ipv4Addr::new(127, 0, 0, 2 + (i / PER_ADDRESS) as u8);
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind((source, 0).into())?;
    let tcp = socket.connect(addr).await?;
    tcp.set_nodelay(true)?;
    let name = ServerName::try_from("localhost")?;
    let mut tls = connector.connect(name, tcp).await?;
    if i == 0 {
        let (_, connection) = tls.get_ref();
        let version = connection.protocol_version().and_then(|v| v.as_str());
        let suite = connection.negotiated_cipher_suite();
        let what = format!(
            "{} {}",
            version.unwrap_or("?"),
            suite.and_then(|s| s.suite().as_str()).unwrap_or("?")
        );
        *shared.tls.lock().unwrap_or_else(|p| p.into_inner()) = Some(what);
    }
    tls.write_all(format!("NICK n{i}\r\nUSER u{i} 0 * :natter-bench\r\n").as_bytes())
        .await?;
    let mut lines = Lines::new();
    loop {
        let n = tls.read(lines.space()).await?;
        if n == 0 {
            bail!("the server closed the connection while registering");
        }
        lines.filled += n;
        let mut reply = Vec::new();
        let mut done = false;
        while let Some(line) = lines.next_line() {
            let (command, rest) = command(line);
            match command {
                b"001" => reply.extend_from_slice(format!("JOIN {CHANNEL}\r\n").as_bytes()),
                b"366" => done = true,
                b"PING" => pong(&mut reply, rest),
                b"ERROR" => bail!("{}", String::from_utf8_lossy(line)),
                c if c.len() == 3 && (c[0] == b'4' || c[0] == b'5') => {
                    bail!("{}", String::from_utf8_lossy(line))
                }
                _ => {}
            }
            if done {
                break;
            }
        }
        if !reply.is_empty() {
            tls.write_all(&reply).await?;
        }
        if done {
            return Ok((tls, lines));
        }
        lines.compact()?;
    }
}

/// The run: reads and tallies every line until the stop; a sender also
/// posts its share of the schedule (message k of the run is due at k/R
/// seconds and sent by client k mod S).
async fn run(
    i: usize,
    mut tls: TlsStream<tokio::net::TcpStream>,
    mut lines: Lines,
    mut start: watch::Receiver<Option<Instant>>,
    shared: &Shared,
) -> anyhow::Result<Tally> {
    let load = &shared.run.load;
    let sender = i < load.senders;
    let messages = (load.rate * load.secs) as usize;
    let mut tally = Tally::new(load.senders, messages);
    let mut schedule: Option<(Instant, Instant)> = None;
    let every = Duration::from_secs_f64(load.senders as f64 / load.rate);
    let mut seq = 0u32;
    let mut reply = Vec::new();
    let mut started = false;
    // Made once: registering a fresh waiter on every wake-up would take
    // the token's lock twice per read.
    let stop = shared.run.stop.cancelled();
    tokio::pin!(stop);
    loop {
        // Lines already buffered (e.g. past the end of NAMES) come first.
        let now_ns = shared.run.ns(Instant::now());
        let before = tally.latencies_us.len();
        while let Some(line) = lines.next_line() {
            let (command, rest) = command(line);
            match command {
                b"PRIVMSG" => {
                    if let Some(stamp) = trailing(rest).and_then(stamp_of) {
                        tally.record(stamp, now_ns);
                    }
                }
                b"PING" => pong(&mut reply, rest),
                b"ERROR" => {
                    let reason = String::from_utf8_lossy(line).into_owned();
                    shared.run.closed(reason);
                    return Ok(tally);
                }
                c if c.len() == 3 && (c[0] == b'4' || c[0] == b'5') => {
                    shared.run.rejected.fetch_add(1, Relaxed);
                }
                _ => {}
            }
        }
        let firsts = tally.latencies_us.len() - before;
        if firsts > 0 {
            shared.run.received.fetch_add(firsts as u64, Relaxed);
        }
        if !reply.is_empty() {
            tls.write_all(&reply).await?;
            reply.clear();
        }
        lines.compact()?;
        let due = schedule.map(|(due, _)| due);
        tokio::select! {
            read = tls.read(lines.space()) => {
                match read {
                    Ok(0) => {
                        shared.run.closed("the server closed the connection".into());
                        return Ok(tally);
                    }
                    Ok(n) => lines.filled += n,
                    Err(e) => {
                        if !shared.run.stop.is_cancelled() {
                            shared.run.closed(e.to_string());
                        }
                        return Ok(tally);
                    }
                }
            }
            changed = start.changed(), if !started => {
                started = true;
                if let (Ok(()), true) = (changed, sender) {
                    if let Some(at) = *start.borrow() {
                        let first = at + Duration::from_secs_f64(i as f64 / load.rate);
                        schedule = Some((first, at + Duration::from_secs_f64(load.secs)));
                    }
                }
            }
            () = sleep_until(due), if due.is_some() => {
                let Some((due, end)) = schedule else { continue };
                let now = Instant::now();
                let lag = now.saturating_duration_since(due).as_micros() as u64;
                shared.run.send_lag_us.fetch_max(lag, Relaxed);
                let stamp = Stamp { sent_ns: shared.run.ns(now), sender: i, seq };
                let text = format!("PRIVMSG {CHANNEL} :{}\r\n", stamp.text(load.body));
                tls.write_all(text.as_bytes()).await?;
                shared.run.sent.fetch_add(1, Relaxed);
                seq += 1;
                let next = due + every;
                schedule = (next < end).then_some((next, end));
            }
            () = &mut stop => return Ok(tally),
        }
    }
}

async fn sleep_until(due: Option<Instant>) {
    if let Some(due) = due {
        tokio::time::sleep_until(due.into()).await;
    }
}

/// A line's command (after any `:prefix `) and the rest after it.
fn command(line: &[u8]) -> (&[u8], &[u8]) {
    let line = match line.strip_prefix(b":") {
        Some(prefixed) => prefixed
            .iter()
            .position(|&b| b == b' ')
            .map_or(&[][..], |at| &prefixed[at + 1..]),
        None => line,
    };
    match line.iter().position(|&b| b == b' ') {
        Some(at) => (&line[..at], &line[at + 1..]),
        None => (line, &[]),
    }
}

/// The trailing parameter (after ` :`) of a command's parameters.
fn trailing(params: &[u8]) -> Option<&[u8]> {
    let at = params.windows(2).position(|w| w == b" :")?;
    Some(&params[at + 2..])
}

fn stamp_of(text: &[u8]) -> Option<Stamp> {
    let header = text.get(..crate::load::stamp::HEADER)?;
    Stamp::parse(std::str::from_utf8(header).ok()?)
}

fn pong(reply: &mut Vec<u8>, params: &[u8]) {
    reply.extend_from_slice(b"PONG ");
    reply.extend_from_slice(params);
    reply.extend_from_slice(b"\r\n");
}

/// Lines cut out of one fixed buffer: `filled` bytes read, `taken` of them
/// already handed out.
struct Lines {
    buf: Vec<u8>,
    filled: usize,
    taken: usize,
}

impl Lines {
    fn new() -> Self {
        Self {
            buf: vec![0; BUFFER],
            filled: 0,
            taken: 0,
        }
    }

    /// Where the next read goes.
    fn space(&mut self) -> &mut [u8] {
        &mut self.buf[self.filled..]
    }

    /// The next complete line, without its line ending.
    fn next_line(&mut self) -> Option<&[u8]> {
        let rest = &self.buf[self.taken..self.filled];
        let end = rest.iter().position(|&b| b == b'\n')?;
        let line = &self.buf[self.taken..self.taken + end];
        self.taken += end + 1;
        Some(line.strip_suffix(b"\r").unwrap_or(line))
    }

    /// Moves the unfinished line to the front; fails if it fills the
    /// buffer.
    fn compact(&mut self) -> anyhow::Result<()> {
        self.buf.copy_within(self.taken..self.filled, 0);
        self.filled -= self.taken;
        self.taken = 0;
        if self.filled == self.buf.len() {
            bail!("a line longer than {BUFFER} bytes");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_commands_and_trailing_parameters() {
        let line = b":n1!u1@127.0.0.2 PRIVMSG #room :hello there";
        let (c, rest) = command(line);
        assert_eq!(c, b"PRIVMSG");
        assert_eq!(trailing(rest), Some(&b"hello there"[..]));
        assert_eq!(command(b"PING :abc"), (&b"PING"[..], &b":abc"[..]));
        assert_eq!(command(b":srv 366 n1 #room :End").0, b"366");
    }

    #[test]
    fn lines_span_reads() {
        let mut lines = Lines::new();
        let data = b"a b\r\nc d\r\ne";
        lines.space()[..data.len()].copy_from_slice(data);
        lines.filled += data.len();
        assert_eq!(lines.next_line(), Some(&b"a b"[..]));
        assert_eq!(lines.next_line(), Some(&b"c d"[..]));
        assert_eq!(lines.next_line(), None);
        lines.compact().unwrap();
        lines.space()[..2].copy_from_slice(b"\r\n");
        lines.filled += 2;
        assert_eq!(lines.next_line(), Some(&b"e"[..]));
    }
}
