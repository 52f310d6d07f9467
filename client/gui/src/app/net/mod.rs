//! The network thread: a std thread with its own tokio runtime that owns
//! the [`natter_client::Client`] (and, when asked, an embedded server), and
//! talks to the frame loop through channels: [`Command`]s in,
//! [`NetEvent`]s out. The frame loop never waits on it; it drains events
//! with `try_recv` each frame.
//!
//! `task` is the thread's work, `host` the embedded server, `files`
//! the glue to the library's pictures, files and cache; this folder is the
//! only part of the GUI that calls the client library, so a change in the
//! library's API is adapted here.

mod files;
mod host;
mod options;
mod task;

use std::fmt;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::mpsc as tokio_mpsc;

use crate::app::wake::Wakeup;
use task::{NetTask, Outbox};

pub use crate::app::link::{CachedEntry, Command, NetEvent};
pub use options::NetOptions;

/// The frame loop's handle on the network thread.
pub struct Network {
    commands: tokio_mpsc::UnboundedSender<Command>,
    events: mpsc::Receiver<NetEvent>,
    thread: Option<JoinHandle<()>>,
    stopped: mpsc::Receiver<()>,
}

impl fmt::Debug for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Network").finish_non_exhaustive()
    }
}

impl Network {
    /// Starts the thread and its runtime. Every event it reports also
    /// wakes the window through `wakeup`.
    pub fn start(options: NetOptions, wakeup: Wakeup) -> std::io::Result<Self> {
        let (commands, commands_rx) = tokio_mpsc::unbounded_channel();
        let (tx, events) = mpsc::channel();
        let outbox = Outbox::new(tx, wakeup);
        let (stopped_tx, stopped) = mpsc::channel();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("natter-net")
            .enable_all()
            .build()?;
        let thread = std::thread::Builder::new()
            .name("natter-net".into())
            .spawn(move || {
                runtime.block_on(NetTask::new(outbox, options).run(commands_rx));
                runtime.shutdown_timeout(Duration::from_secs(1));
                let _ = stopped_tx.send(());
            })?;
        Ok(Self {
            commands,
            events,
            thread: Some(thread),
            stopped,
        })
    }

    /// Hands a command to the thread; never blocks.
    pub fn send(&self, command: Command) {
        let _ = self.commands.send(command);
    }

    /// The next report, if one is ready.
    pub fn try_recv(&self) -> Option<NetEvent> {
        self.events.try_recv().ok()
    }

    /// Logs out, stops any embedded server, and waits at most `wait` for
    /// the thread to finish.
    pub fn shutdown(mut self, wait: Duration) {
        let (commands, _) = tokio_mpsc::unbounded_channel();
        drop(std::mem::replace(&mut self.commands, commands));
        if self.stopped.recv_timeout(wait).is_ok() {
            if let Some(thread) = self.thread.take() {
                let _ = thread.join();
            }
        }
    }
}
