//! A UDP relay between a client and the server that the test can cut, to
//! model a network that silently stops delivering packets (no close
//! frame reaches anyone), and heal again.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::net::UdpSocket;

/// Forwards datagrams from clients on `addr` to the server and back.
pub struct Relay {
    pub addr: SocketAddr,
    open: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    /// Starts relaying to `server`.
    pub async fn start(server: SocketAddr) -> Self {
        let front = Arc::new(UdpSocket::bind("127.0.0.1:0").await.expect("bind relay"));
        let addr = front.local_addr().unwrap();
        let open = Arc::new(AtomicBool::new(true));
        let task = tokio::spawn(run(front, server, open.clone()));
        Self { addr, open, task }
    }

    /// Drops every datagram from now on, both ways.
    pub fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
    }

    /// Forwards again.
    pub fn heal(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn run(front: Arc<UdpSocket>, server: SocketAddr, open: Arc<AtomicBool>) {
    // One back socket per client address, so the server sees distinct peers.
    let mut backs: std::collections::HashMap<SocketAddr, Arc<UdpSocket>> = Default::default();
    let mut buf = vec![0u8; 65536];
    loop {
        let Ok((n, client)) = front.recv_from(&mut buf).await else {
            return;
        };
        let back = match backs.get(&client) {
            Some(b) => b.clone(),
            None => {
                let back = Arc::new(UdpSocket::bind("127.0.0.1:0").await.expect("bind back"));
                back.connect(server).await.expect("connect back");
                let (front, back2, open) = (front.clone(), back.clone(), open.clone());
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 65536];
                    while let Ok(n) = back2.recv(&mut buf).await {
                        if open.load(Ordering::SeqCst) {
                            let _ = front.send_to(&buf[..n], client).await;
                        }
                    }
                });
                backs.insert(client, back.clone());
                back
            }
        };
        if open.load(Ordering::SeqCst) {
            let _ = back.send(&buf[..n]).await;
        }
    }
}
