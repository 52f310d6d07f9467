//! `natter-bench`: measures Natter against a baseline in the same run.
//!
//! `natter-bench transfer` (see [`transfer`]) uploads and downloads a big
//! file through Natter against bare quinn, with chat probes beside it.
//!
//! `natter-bench wan` (see [`wan`]) measures chat latency while a file
//! moves over an emulated link, Natter's congestion controller against
//! quinn's Cubic.
//!
//! `natter-bench abuse` (see [`abuse`]) measures what hostile clients can
//! make the server hold, against an idle baseline in the same run.
//!
//! `natter-bench history` (see [`history`]) times history pages from a
//! store of a million messages, against a bare-table read of the same size.
//!
//! `natter-bench fanout` (see [`fanout`]) measures a room of thousands:
//! deliveries per second, loss, latency and server CPU per delivery,
//! against a bare quinn relay.
//!
//! `natter-bench idle` (see [`idle`]) measures the server's memory per
//! idle logged-in client, against the bare relay's per connection.
//!
//! `natter-bench login` (see [`login`]) times login storms and token
//! reconnects after a server crash, through the real client library.

mod abuse;
mod fanout;
mod history;
mod idle;
mod irc;
mod load;
mod login;
mod measure;
mod transfer;
mod wan;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use natter_common::congestion::Congestion;

pub(crate) use measure::{cpu_seconds, percentile, rounded};

#[derive(Parser)]
#[command(about = "Natter benchmarks, each against a baseline measured in the same run")]
struct Args {
    #[command(subcommand)]
    command: Bench,
}

#[derive(Subcommand)]
enum Bench {
    /// Upload throughput vs bare quinn, and chat latency during the upload.
    Transfer {
        /// File size in MiB.
        #[arg(long, default_value_t = 1024)]
        mib: u64,
        /// Rounds (medians are reported).
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Working directory (default: a temp dir).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Send Natter's uploads no faster than this (MiB/s), to see what
        /// chat latency a paced transfer leaves; the baselines stay at full
        /// speed.
        #[arg(long)]
        pace_mib_s: Option<u64>,
        /// The congestion controller on both ends: low-delay or cubic.
        #[arg(long, default_value = "low-delay")]
        congestion: Congestion,
    },
    /// What hostile clients can make the server hold (RSS), and what a
    /// logged-in user's ping and another user's uploads feel meanwhile.
    Abuse {
        /// Connections from one address signing up and guessing at once.
        #[arg(long, default_value_t = 100)]
        guessers: usize,
        /// Seconds each attack phase lasts.
        #[arg(long, default_value_t = 15)]
        secs: u64,
        /// Connections one user opens to trickle uploads on every stream.
        #[arg(long, default_value_t = 10)]
        hog_connections: usize,
        /// Working directory (default: a temp dir).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// History pages (group, private) from a large store vs a bare read.
    History {
        /// Messages in the store.
        #[arg(long, default_value_t = 1_000_000)]
        messages: u64,
        /// Pages timed per measurement.
        #[arg(long, default_value_t = 200)]
        pages: usize,
        /// Where the temp store goes (default: the system's temp dir).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Chat latency while a file moves over an emulated link (rate,
    /// propagation delay, router buffer), Natter's congestion controller
    /// against quinn's Cubic.
    Wan {
        #[arg(long, default_value_t = 20.0)]
        rate_mbit: f64,
        #[arg(long, default_value_t = 40.0)]
        rtt_ms: f64,
        #[arg(long, default_value_t = 200.0)]
        buffer_ms: f64,
        /// Run the four links of the README's table instead.
        #[arg(long)]
        matrix: bool,
        /// Seconds each transfer should take at the link rate.
        #[arg(long, default_value_t = 30.0)]
        secs: f64,
        /// Seconds of the idle phase.
        #[arg(long, default_value_t = 10.0)]
        idle_secs: f64,
        /// Transfers at once in each busy phase.
        #[arg(long, default_value_t = 1)]
        transfers: usize,
    },
    /// A room of thousands: N sessions, S of them posting at a fixed total
    /// rate; deliveries/s, loss, latency, server CPU per delivery and RSS,
    /// against a bare quinn relay measured in the same run.
    Fanout {
        #[command(flatten)]
        load: LoadArgs,
        /// Where the server's data dir goes (default: a temp dir under
        /// $TMPDIR; point it at the real disk to include fsync stalls).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Skip the bare-relay baseline.
        #[arg(long)]
        no_baseline: bool,
    },
    /// The fanout load shape against InspIRCd over TLS (a real IRC server,
    /// the yardstick): the same JSON fields, N − 1 recipients per message.
    Irc {
        #[command(flatten)]
        load: LoadArgs,
        /// The inspircd binary (default: `inspircd` on $PATH, else
        /// /usr/sbin/inspircd).
        #[arg(long)]
        inspircd: Option<PathBuf>,
    },
    /// Server memory per idle logged-in client (RSS before the logins and
    /// after N sessions caught up and settled), against the bare quinn
    /// relay's per connection.
    Idle {
        /// Idle sessions to hold.
        #[arg(long, default_value_t = 1000)]
        clients: usize,
        /// Where the server's data dir goes (default: a temp dir under
        /// $TMPDIR).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Skip the bare-relay baseline.
        #[arg(long)]
        no_baseline: bool,
        /// Then hold the sessions idle this many seconds more and measure
        /// again (steady state: see the scenario's docs).
        #[arg(long, default_value_t = 0)]
        hold_secs: u64,
    },
    /// Logins through the real client library: N at once (storm), or N
    /// reconnecting with their tokens after the server is killed and
    /// started again (tokens). Times, failures by kind, server RSS.
    Login {
        /// Clients (pre-created accounts).
        #[arg(long, default_value_t = 1000)]
        clients: usize,
        /// storm: all log in at once with passwords; tokens: all reconnect
        /// by themselves after a server crash and restart.
        #[arg(long, value_enum, default_value = "storm")]
        mode: login::Mode,
        /// Where the server's data dir goes (default: a temp dir under
        /// $TMPDIR).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// (internal) The child of fanout, idle and login: a Natter server with
    /// all of natter-server's flags, or the bare relay.
    #[command(hide = true)]
    ServeLoad(Box<load::serve::ServeLoad>),
    /// (internal) The server side: a Natter server and a bare quinn sink.
    #[command(hide = true)]
    Serve {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value = "low-delay")]
        congestion: Congestion,
    },
}

/// The load shape `fanout` and `irc` share: N clients in one room, S of
/// them posting at a fixed total rate.
#[derive(clap::Args)]
struct LoadArgs {
    /// Clients in the room (Natter delivers a group message to every
    /// session, the sender's too; IRC to all but the sender).
    #[arg(long, default_value_t = 1000)]
    clients: usize,
    /// How many of them send.
    #[arg(long, default_value_t = 10)]
    senders: usize,
    /// Messages per second, all senders together, evenly paced.
    #[arg(long, default_value_t = 100.0)]
    rate: f64,
    /// Bytes of text per message (at least 31: the stamp).
    #[arg(long, default_value_t = 100)]
    body: usize,
    /// Seconds of the send phase.
    #[arg(long, default_value_t = 10.0)]
    secs: f64,
    /// Most seconds to wait after the send phase for the last
    /// deliveries (the wait ends as soon as all have arrived).
    #[arg(long, default_value_t = 10.0)]
    grace: f64,
}

impl LoadArgs {
    fn load(&self) -> load::room::Load {
        load::room::Load {
            clients: self.clients.max(1),
            senders: self.senders.clamp(1, self.clients.max(1)),
            rate: self.rate.max(0.1),
            body: self.body,
            secs: self.secs.max(0.1),
            grace: Duration::from_secs_f64(self.grace.max(0.0)),
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Args::parse().command {
        Bench::Transfer {
            mib,
            rounds,
            dir,
            pace_mib_s,
            congestion,
        } => transfer::transfer(mib, rounds.max(1), dir, pace_mib_s, congestion).await,
        Bench::Abuse {
            guessers,
            secs,
            hog_connections,
            dir,
        } => abuse::abuse(guessers, secs.max(1), hog_connections, dir).await,
        Bench::History {
            messages,
            pages,
            dir,
        } => history::history(messages.max(1), pages.max(1), dir),
        Bench::Wan {
            rate_mbit,
            rtt_ms,
            buffer_ms,
            matrix,
            secs,
            idle_secs,
            transfers,
        } => {
            let shape = natter_tests::link::LinkShape {
                rate_mbit,
                rtt_ms,
                buffer_ms,
            };
            wan::wan(wan::Wan {
                shape,
                matrix,
                secs,
                idle_secs,
                transfers: transfers.max(1),
            })
            .await
        }
        Bench::Fanout {
            load,
            dir,
            no_baseline,
        } => fanout::fanout(load.load(), dir, !no_baseline).await,
        Bench::Irc { load, inspircd } => {
            // IRC does not echo a message to its sender: a room of one
            // would have nobody to deliver to.
            let load = load::room::Load {
                clients: load.clients.max(2),
                ..load.load()
            };
            irc::irc(load, inspircd).await
        }
        Bench::Idle {
            clients,
            dir,
            no_baseline,
            hold_secs,
        } => idle::idle(clients.max(1), dir, !no_baseline, hold_secs).await,
        Bench::Login { clients, mode, dir } => login::login(clients.max(1), mode, dir).await,
        Bench::ServeLoad(args) => load::serve::serve_load(*args).await,
        Bench::Serve { dir, congestion } => transfer::serve(&dir, congestion).await,
    }
}
