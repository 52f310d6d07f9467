//! A Natter server in a process of its own, for fault tests that must kill
//! it without warning (SIGKILL) and start it again on the same address and
//! data. Prints `natter ADDR FINGERPRINT` once it listens, then serves
//! until its stdin closes or it is killed.
//!
//! `natter-fault-server --addr 127.0.0.1:0 --dir D [--idle-secs N]`

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use tokio::io::AsyncReadExt;

#[derive(Parser)]
struct Args {
    /// Where to listen; 127.0.0.1:0 picks a port.
    #[arg(long)]
    addr: SocketAddr,
    /// The data directory.
    #[arg(long)]
    dir: PathBuf,
    /// The idle timeout: how soon a client notices the server died.
    #[arg(long, default_value_t = 3)]
    idle_secs: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    natter_tests::init_child_logging();
    let args = Args::parse();
    let mut config = natter_server::Config::new(args.addr, &args.dir);
    config.idle_timeout_secs = args.idle_secs;
    // A storm is the point: the per-user send rate limit is not under test.
    config.messages_per_sec = 1_000_000;
    config.message_burst = 1_000_000;
    let server = natter_server::Server::bind(config)
        .await
        .context("starting the server")?;
    let endpoint = server.endpoint();
    println!("natter {} {}", endpoint.addr, endpoint.fingerprint);
    let stdin_closed = async {
        let mut sink = Vec::new();
        let _ = tokio::io::stdin().read_to_end(&mut sink).await;
    };
    server.run(stdin_closed).await
}
