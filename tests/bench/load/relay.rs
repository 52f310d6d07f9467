//! The baseline for fan-out and idle memory: a bare quinn relay with no
//! accounts, no storage and no parsing beyond frame lengths. Each client
//! opens one bi stream and sends a first frame (its hello, answered with an
//! empty frame once it is in the room); every later frame is written as it
//! is to every member's stream, through a bounded queue per member like
//! Natter's. What it reaches is the ceiling quinn and the driver put on
//! any server on this machine.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use super::frames::Frames;

/// Frames queued for one member before further ones are dropped for it.
const QUEUE: usize = 1024;

type Member = mpsc::Sender<Arc<[u8]>>;

/// Everyone in the room, by connection.
#[derive(Clone, Default)]
struct Room(Arc<Mutex<Vec<(usize, Member)>>>);

impl Room {
    fn join(&self, id: usize, member: Member) {
        self.lock().push((id, member));
    }

    fn leave(&self, id: usize) {
        self.lock().retain(|(m, _)| *m != id);
    }

    fn broadcast(&self, frame: &Arc<[u8]>) {
        for (_, member) in self.lock().iter() {
            let _ = member.try_send(frame.clone());
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(usize, Member)>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Serves the relay at `listen` with the certificate kept in `dir` until
/// `shutdown` completes.
pub async fn serve(
    listen: SocketAddr,
    dir: &Path,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let identity = natter_server::tls::load_or_generate(dir)?;
    let fingerprint = identity.fingerprint();
    let config = natter_server::tls::server_config(identity, quinn::TransportConfig::default())?;
    let endpoint = quinn::Endpoint::server(config, listen)?;
    println!("natter {} {}", endpoint.local_addr()?, fingerprint);
    let room = Room::default();
    let accept = async {
        let mut next = 0;
        while let Some(incoming) = endpoint.accept().await {
            next += 1;
            tokio::spawn(member(incoming, next, room.clone()));
        }
    };
    tokio::select! {
        _ = accept => {}
        _ = shutdown => {}
    }
    endpoint.close(0u32.into(), b"bye");
    Ok(())
}

/// One member: its hello, then its frames out to the room and the room's
/// frames in to it.
async fn member(incoming: quinn::Incoming, id: usize, room: Room) {
    let Ok(connection) = incoming.await else {
        return;
    };
    let Ok((mut send, recv)) = connection.accept_bi().await else {
        return;
    };
    let mut frames = Frames::new(recv);
    if !matches!(frames.next().await, Ok(Some(_))) || send.write_all(&[0; 4]).await.is_err() {
        return;
    }
    let (tx, mut rx) = mpsc::channel::<Arc<[u8]>>(QUEUE);
    room.join(id, tx);
    let writer = tokio::spawn(async move {
        while let Some(frame) = rx.recv().await {
            if send.write_all(&frame).await.is_err() {
                return;
            }
        }
    });
    while let Ok(Some(payload)) = frames.next().await {
        let mut frame = Vec::with_capacity(4 + payload.len());
        frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        frame.extend_from_slice(payload);
        room.broadcast(&frame.into());
    }
    room.leave(id);
    writer.abort();
}
