//! A real server in a child process, for faults an in-process server
//! cannot suffer: killed with SIGKILL (no drain, no close frames, nothing
//! flushed on the way out) and started again on the same address and data
//! dir, so clients find it where they left it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use natter_client::ClientConfig;
use natter_common::Fingerprint;
use tokio::io::{AsyncBufReadExt, BufReader};

/// The `natter-fault-server` child and where it listens.
pub struct ChildServer {
    pub addr: SocketAddr,
    pub fingerprint: Fingerprint,
    pub data_dir: PathBuf,
    exe: PathBuf,
    process: tokio::process::Child,
}

impl ChildServer {
    /// Starts `exe` (the `natter-fault-server` binary, whose path only an
    /// integration test knows) at `addr` on `data_dir`, and waits until it
    /// says it listens.
    pub async fn start(exe: &Path, addr: SocketAddr, data_dir: &Path) -> Self {
        let mut process = tokio::process::Command::new(exe)
            .arg("--addr")
            .arg(addr.to_string())
            .arg("--dir")
            .arg(data_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start the server process");
        let stdout = process.stdout.take().expect("child stdout");
        let line = crate::within("the server process to listen", async {
            BufReader::new(stdout).lines().next_line().await
        })
        .await
        .expect("read the server's first line")
        .expect("the server process exited before it listened");
        let words: Vec<&str> = line.split_whitespace().collect();
        let [word, addr, fingerprint] = words[..] else {
            panic!("unexpected server output {line:?}");
        };
        assert_eq!(word, "natter", "unexpected server output {line:?}");
        Self {
            addr: addr.parse().expect("server address"),
            fingerprint: fingerprint.parse().expect("server fingerprint"),
            data_dir: data_dir.to_path_buf(),
            exe: exe.to_path_buf(),
            process,
        }
    }

    /// Kills the server with SIGKILL and waits until it is gone.
    pub async fn kill(&mut self) {
        self.process.kill().await.expect("SIGKILL the server");
    }

    /// Starts the (killed) server again on the same address and data.
    pub async fn start_again(&mut self) {
        let again = Self::start(&self.exe, self.addr, &self.data_dir).await;
        assert_eq!(again.fingerprint, self.fingerprint, "the identity survives");
        *self = again;
    }

    /// Client settings that pin this server's certificate.
    pub fn client_config(&self) -> ClientConfig {
        crate::pinned_config(&self.addr.to_string(), &self.data_dir, self.fingerprint)
    }
}
