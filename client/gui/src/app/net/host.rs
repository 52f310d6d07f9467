//! The server "Host a server here" starts: a `natter-server` running
//! inside this process on the network thread's runtime, until the window
//! closes, and the addresses others can join it at.

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::oneshot;

use crate::app::link::NetEvent;

/// A server running inside this process.
pub(super) struct Hosted {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Hosted {
    /// Binds a server on `listen` with its data in `data_dir` and starts
    /// it; with the report of how to join it.
    pub(super) async fn start(
        listen: SocketAddr,
        data_dir: PathBuf,
    ) -> anyhow::Result<(Self, NetEvent)> {
        let config = natter_server::Config::new(listen, data_dir);
        let server = natter_server::Server::bind(config).await?;
        let endpoint = server.endpoint();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async move {
            let _ = stopped.await;
        }));
        let hosting = NetEvent::Hosting {
            join_addresses: join_addresses(endpoint.addr.port()),
            fingerprint: endpoint.fingerprint,
        };
        Ok((Self { stop, task }, hosting))
    }

    /// Asks the server to stop and lets it drain for at most `wait`.
    pub(super) async fn stop(self, wait: Duration) {
        let _ = self.stop.send(());
        let _ = tokio::time::timeout(wait, self.task).await;
    }
}

/// Addresses others can join a server on this machine with: the LAN
/// address (found by asking the OS which interface would route outwards;
/// no packet is sent), then loopback.
fn join_addresses(port: u16) -> Vec<String> {
    let mut out = Vec::new();
    let lan = UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| s.connect("192.0.2.1:9").map(|()| s))
        .and_then(|s| s.local_addr());
    if let Ok(addr) = lan {
        if !addr.ip().is_loopback() && !addr.ip().is_unspecified() {
            out.push(format!("{}:{port}", addr.ip()));
        }
    }
    out.push(format!("127.0.0.1:{port}"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_always_offered_last() {
        let addresses = join_addresses(4433);
        assert_eq!(addresses.last().map(String::as_str), Some("127.0.0.1:4433"));
    }
}
