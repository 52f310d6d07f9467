//! `natter-bench serve-load` (hidden): the child side of the load
//! scenarios. Runs the natter_server library as `natter-server` does, with
//! every server flag available, or with `--relay` the bare-quinn baseline;
//! prints `natter ADDR FINGERPRINT` once it listens and serves until its
//! stdin closes.

use tokio::io::AsyncReadExt;

/// The child's flags: the server's own, plus the baseline switch.
#[derive(clap::Args)]
pub struct ServeLoad {
    /// Run the bare-quinn fan-out relay instead of Natter (same certificate
    /// handling, same listen address and data dir flags).
    #[arg(long)]
    relay: bool,
    #[command(flatten)]
    config: natter_server::Config,
}

pub async fn serve_load(args: ServeLoad) -> anyhow::Result<()> {
    natter_tests::init_child_logging();
    let stdin_closed = async {
        let mut sink = Vec::new();
        let _ = tokio::io::stdin().read_to_end(&mut sink).await;
    };
    if args.relay {
        let dir = args.config.data_dir();
        return super::relay::serve(args.config.listen, &dir, stdin_closed).await;
    }
    let server = natter_server::Server::bind(args.config).await?;
    let endpoint = server.endpoint();
    println!("natter {} {}", endpoint.addr, endpoint.fingerprint);
    server.run(stdin_closed).await
}
