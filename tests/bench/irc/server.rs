//! InspIRCd as the server under test: a config generated in a temp dir
//! (TLS through `m_ssl_gnutls` with a fresh self-signed certificate, the
//! flood and connection limits lifted), run in the foreground pinned to
//! CPU 0, its CPU time and memory read from /proc.

use crate::measure::status_mib;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rustls::pki_types::CertificateDer;

/// A running InspIRCd and what the driver needs to reach it.
pub struct Inspircd {
    pub addr: SocketAddr,
    /// The DER of its certificate: the only one the driver accepts.
    pub cert: CertificateDer<'static>,
    /// What `inspircd --version` says.
    pub version: String,
    pub pinned: bool,
    process: tokio::process::Child,
    pid: String,
}

impl Inspircd {
    /// Writes a config and a certificate under `dir` and starts `exe` on a
    /// free loopback port; returns once the port accepts connections.
    pub async fn start(exe: &Path, dir: &Path) -> anyhow::Result<Self> {
        let version = std::process::Command::new(exe)
            .arg("--version")
            .output()
            .with_context(|| format!("running {}", exe.display()))?;
        let version = String::from_utf8_lossy(&version.stdout).trim().to_owned();
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()])?;
        let (cert_file, key_file) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert_file, certified.cert.pem())?;
        std::fs::write(&key_file, certified.key_pair.serialize_pem())?;
        std::fs::write(dir.join("motd"), "natter-bench\n")?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let config = dir.join("inspircd.conf");
        std::fs::write(&config, config_text(dir, port, &cert_file, &key_file))?;
        let pinned = crate::load::child::pinning();
        let mut command = if pinned {
            let mut c = tokio::process::Command::new("taskset");
            c.args(["-c", "0"]).arg(exe);
            c
        } else {
            tokio::process::Command::new(exe)
        };
        // --runasroot: it refuses to start as root otherwise (the bench
        // machine runs as root); it never forks, logs to a file in `dir`.
        let log = std::fs::File::create(dir.join("stdout.log"))?;
        let mut process = command
            .args(["--nofork", "--runasroot", "--config"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .context("starting inspircd")?;
        let pid = process.id().context("inspircd pid")?.to_string();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = process.try_wait()? {
                let out = std::fs::read_to_string(dir.join("stdout.log")).unwrap_or_default();
                bail!("inspircd exited with {status} before it listened:\n{out}");
            }
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                break;
            }
            if Instant::now() > deadline {
                bail!("inspircd did not listen on {addr} within 20 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(Self {
            addr,
            cert: certified.cert.der().clone(),
            version,
            pinned,
            process,
            pid,
        })
    }

    /// CPU seconds (user + system) it has used so far.
    pub fn cpu_seconds(&self) -> f64 {
        crate::cpu_seconds(&self.pid)
    }

    /// Its resident set size now (VmRSS), in MiB.
    pub fn rss_mib(&self) -> f64 {
        status_mib(&self.pid, "VmRSS:")
    }

    /// Its peak resident set size so far (VmHWM), in MiB.
    pub fn peak_rss_mib(&self) -> f64 {
        status_mib(&self.pid, "VmHWM:")
    }

    /// Waits until it is nearly idle (under 5 % of a core over 200 ms), at
    /// most `limit`: until the JOIN notices of the filling channel are out.
    pub async fn quiet(&self, limit: Duration) -> Duration {
        let started = Instant::now();
        let mut last = self.cpu_seconds();
        while started.elapsed() < limit {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let now = self.cpu_seconds();
            if now - last < 0.01 {
                break;
            }
            last = now;
        }
        started.elapsed()
    }

    /// SIGKILLs it (its own shutdown path is not under test).
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        Ok(self.process.kill().await?)
    }
}

/// The path of `inspircd`: `given`, else the first on $PATH, else
/// Debian's /usr/sbin/inspircd.
pub fn find(given: Option<PathBuf>) -> PathBuf {
    given
        .or_else(|| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|p| p.join("inspircd"))
                    .find(|p| p.is_file())
            })
        })
        .unwrap_or_else(|| "/usr/sbin/inspircd".into())
}

/// A minimal InspIRCd 3 config: one TLS client port, one connect class
/// with every per-address, flood and queue limit lifted (the equivalent of
/// what `fanout` lifts for Natter), no DNS or ident lookups.
fn config_text(dir: &Path, port: u16, cert: &Path, key: &Path) -> String {
    let dir = dir.display();
    let (cert, key) = (cert.display(), key.display());
    format!(
        r#"<server name="bench.irc" description="natter-bench irc" network="Bench">
<admin name="bench" nick="bench" email="bench@localhost">
<module name="ssl_gnutls">
<sslprofile name="Clients" provider="gnutls" certfile="{cert}" keyfile="{key}" requestclientcert="no">
<bind address="127.0.0.1" port="{port}" type="clients" sslprofile="Clients">
<connect name="bench" allow="*" timeout="300" pingfreq="3600" hardsendq="64M" softsendq="64M" recvq="1M" threshold="1000000" commandrate="100000000" fakelag="no" localmax="1000000" globalmax="1000000" maxconnwarn="no" resolvehostnames="no" useident="no" limit="1000000" maxchans="20">
<performance somaxconn="4096" softlimit="1000000" clonesonconnect="no" quietbursts="yes">
<channels users="20" opers="60">
<pid file="{dir}/inspircd.pid">
<files motd="{dir}/motd">
<log method="file" type="* -USERINPUT -USEROUTPUT" level="default" target="{dir}/ircd.log">
<dns timeout="1">
<options prefixquit="Quit: " syntaxhints="no" announcets="yes" hostintopic="yes" pingwarning="15" splitwhois="no" exemptchanops="">
<security hideserver="" userstats="Pu" customversion="" flatlinks="no" hidesplits="no" hideulines="no" hidebans="no" maxtargets="20">
"#
    )
}
