//! A real IBus with the pinyin engine, on a private session bus: what
//! alice types Chinese through.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use crate::desktop::{reap, Xvfb};
use crate::{PATIENCE, POLL};

/// A real IBus with the pinyin engine on a private session bus, stopped
/// when dropped.
pub struct Ibus {
    child: Child,
    env: Vec<(String, String)>,
    /// The bus address an app connects to (`IBUS_ADDRESS`).
    pub address: String,
}

impl Ibus {
    /// Starts `ibus-daemon` (no panel, no XIM) and waits until it answers.
    pub fn start(xvfb: &Xvfb, work: &Path) -> Ibus {
        let home = work.join("ibus-home");
        std::fs::create_dir_all(&home).expect("ibus home");
        let env = vec![
            ("DISPLAY".to_owned(), format!(":{}", xvfb.display)),
            ("HOME".to_owned(), home.display().to_string()),
            (
                "XDG_CONFIG_HOME".to_owned(),
                home.join("config").display().to_string(),
            ),
            (
                "XDG_CACHE_HOME".to_owned(),
                home.join("cache").display().to_string(),
            ),
        ];
        let log = std::fs::File::create(work.join("ibus.log")).expect("ibus log");
        let child = Command::new("dbus-run-session")
            .args([
                "--",
                "ibus-daemon",
                "--replace",
                "--panel=disable",
                "--xim=false",
            ])
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("ibus log"))
            .stderr(log)
            .spawn()
            .expect("start ibus-daemon");
        let mut ibus = Ibus {
            child,
            env,
            address: String::new(),
        };
        let deadline = Instant::now() + PATIENCE;
        ibus.address = loop {
            let out = ibus.ibus(&["address"]);
            if out.status.success() {
                let address = String::from_utf8_lossy(&out.stdout).trim().to_owned();
                if address.starts_with("unix:") {
                    break address;
                }
            }
            assert!(Instant::now() < deadline, "ibus-daemon never answered");
            std::thread::sleep(POLL);
        };
        ibus
    }

    /// Runs the `ibus` tool against this daemon.
    fn ibus(&self, args: &[&str]) -> std::process::Output {
        let mut ibus = Command::new("ibus");
        ibus.args(args).envs(self.env.iter().map(|(k, v)| (k, v)));
        if !self.address.is_empty() {
            ibus.env("IBUS_ADDRESS", &self.address);
        }
        ibus.output().expect("run ibus")
    }

    /// Switches the input method's engine, and waits until it says so.
    pub fn engine(&self, name: &str) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let _ = self.ibus(&["engine", name]);
            let now = self.ibus(&["engine"]);
            if String::from_utf8_lossy(&now.stdout).trim() == name {
                return;
            }
            assert!(Instant::now() < deadline, "ibus never took engine {name}");
            std::thread::sleep(POLL);
        }
    }
}

impl Drop for Ibus {
    /// Asks the daemon to exit (and its session bus with it).
    fn drop(&mut self) {
        let _ = self.ibus(&["exit"]);
        reap(&mut self.child);
    }
}
