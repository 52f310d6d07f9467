//! The server under load in a child process of this binary (the hidden
//! `serve-load` subcommand), pinned to CPU 0 while the driver keeps CPU 1,
//! so that its CPU time and memory are its own.

use crate::measure::status_mib;
use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;

use anyhow::{bail, Context};
use natter_common::Fingerprint;
use tokio::io::{AsyncBufReadExt, BufReader};

/// A running `serve-load` child and where it listens.
pub struct LoadChild {
    pub addr: SocketAddr,
    pub fingerprint: Fingerprint,
    /// Whether it runs pinned to CPU 0 (see [`pinning`]).
    pub pinned: bool,
    args: Vec<OsString>,
    process: tokio::process::Child,
    pid: String,
}

impl LoadChild {
    /// A Natter server on a fresh port over `dir`, with extra server flags.
    pub async fn natter(dir: &Path, flags: &[String]) -> anyhow::Result<Self> {
        let mut args = base_args(dir, "127.0.0.1:0");
        args.extend(flags.iter().map(OsString::from));
        Self::start(args).await
    }

    /// The bare-quinn fan-out relay (see [`super::relay`]) over `dir`.
    pub async fn relay(dir: &Path) -> anyhow::Result<Self> {
        let mut args = base_args(dir, "127.0.0.1:0");
        args.push("--relay".into());
        Self::start(args).await
    }

    async fn start(args: Vec<OsString>) -> anyhow::Result<Self> {
        let pinned = pinning();
        let exe = std::env::current_exe()?;
        let mut command = if pinned {
            let mut c = tokio::process::Command::new("taskset");
            c.args(["-c", "0"]).arg(exe);
            c
        } else {
            tokio::process::Command::new(exe)
        };
        let mut process = command
            .arg("serve-load")
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("starting the server process")?;
        let stdout = process.stdout.take().context("child stdout")?;
        let line = BufReader::new(stdout)
            .lines()
            .next_line()
            .await?
            .context("the server process exited before it listened")?;
        let words: Vec<&str> = line.split_whitespace().collect();
        let ["natter", addr, fingerprint] = words[..] else {
            bail!("unexpected server output {line:?}");
        };
        Ok(Self {
            addr: addr.parse()?,
            fingerprint: fingerprint.parse().map_err(anyhow::Error::msg)?,
            pinned,
            pid: process.id().context("child pid")?.to_string(),
            args,
            process,
        })
    }

    /// SIGKILLs the child: no drain, nothing flushed on the way out.
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        Ok(self.process.kill().await?)
    }

    /// Starts the (killed) child again on the same address and data.
    pub async fn start_again(&mut self) -> anyhow::Result<()> {
        let mut args = self.args.clone();
        let listen = args
            .iter()
            .position(|a| a == "--listen")
            .context("--listen")?
            + 1;
        args[listen] = self.addr.to_string().into();
        *self = Self::start(args).await?;
        Ok(())
    }

    /// Closes its stdin (it drains and exits) and waits for it.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        drop(self.process.stdin.take());
        self.process.wait().await?;
        Ok(())
    }

    /// CPU seconds (user + system) it has used so far.
    pub fn cpu_seconds(&self) -> f64 {
        crate::cpu_seconds(&self.pid)
    }

    /// Datagrams the kernel dropped at its UDP socket so far because its
    /// receive buffer was full (the `drops` column of /proc/net/udp).
    pub fn udp_drops(&self) -> u64 {
        let local = format!("0100007F:{:04X}", self.addr.port());
        let table = std::fs::read_to_string("/proc/net/udp").unwrap_or_default();
        table
            .lines()
            .filter(|l| l.split_whitespace().nth(1) == Some(&local))
            .filter_map(|l| l.split_whitespace().last()?.parse::<u64>().ok())
            .sum()
    }

    /// Its resident set size now (VmRSS), in MiB.
    pub fn rss_mib(&self) -> f64 {
        status_mib(&self.pid, "VmRSS:")
    }

    /// Its peak resident set size so far (VmHWM), in MiB.
    pub fn peak_rss_mib(&self) -> f64 {
        status_mib(&self.pid, "VmHWM:")
    }

    /// Waits until it is nearly idle (under 5 % of a core over 200 ms),
    /// at most `limit`: e.g. until the presence notices of a room filling
    /// up are all out. How long that took.
    pub async fn quiet(&self, limit: std::time::Duration) -> std::time::Duration {
        let started = std::time::Instant::now();
        let mut last = self.cpu_seconds();
        while started.elapsed() < limit {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            let now = self.cpu_seconds();
            if now - last < 0.01 {
                break;
            }
            last = now;
        }
        started.elapsed()
    }

    /// Waits until its RSS stops moving (two readings 250 ms apart within
    /// 1 %), at most `limit`; the last reading in MiB.
    pub async fn settled_rss_mib(&self, limit: std::time::Duration) -> f64 {
        let deadline = tokio::time::Instant::now() + limit;
        let mut last = self.rss_mib();
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            let now = self.rss_mib();
            if (now - last).abs() <= last * 0.01 || tokio::time::Instant::now() >= deadline {
                return now;
            }
            last = now;
        }
    }
}

fn base_args(dir: &Path, listen: &str) -> Vec<OsString> {
    vec![
        "--listen".into(),
        listen.into(),
        "--data-dir".into(),
        dir.as_os_str().to_owned(),
    ]
}

/// Whether server and driver get a core each: two or more cores and
/// `taskset` (util-linux) at hand. The server child is started under
/// `taskset -c 0`; [`pin_driver`] moves this process to CPU 1.
/// Decided once: after [`pin_driver`] this process sees a single core.
pub fn pinning() -> bool {
    static PINNING: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *PINNING.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        cores >= 2
            && std::process::Command::new("taskset")
                .arg("-V")
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
    })
}

/// Pins every thread of this process (the driver) to CPU 1; whether it did.
pub fn pin_driver() -> bool {
    pinning()
        && std::process::Command::new("taskset")
            .args(["-a", "-p", "-c", "1", &std::process::id().to_string()])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
}
