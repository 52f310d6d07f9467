//! End-to-end test of the graphical client: a real server in this process,
//! two `natter` windows on a private Xvfb display driven with `xdotool`
//! like a person would (clicks, typing, the clipboard), and a third user
//! on the client library watching presence.
//!
//! alice (account made beforehand, server already trusted) logs in with
//! Enter on the prefilled form; bob creates his account in the register
//! mode and accepts the first-connection fingerprint prompt by clicking.
//! They exchange group texts (one in Chinese, pasted), a private text, an
//! emoji from the panel, a picture and a file (both through the share
//! sheet's typed path), open the cache browser, log out and close the
//! window. Each step is checked in the receiving client's state dump
//! (`NATTER_STATE_DUMP`, refreshed with F12), and at the end in the
//! server's history as seen by another device of alice's.
//!
//! The test clicks what the interface drew: the dump's `layout` names the
//! rectangles of the controls of the last frame. It waits on conditions
//! (polling the dump within a deadline), never on a fixed pause.
//!
//! Screenshots (login, busy chat room, emoji panel, cache browser) go to
//! `target/tmp/gui-screenshots/`, or to `docs/screenshots/` with
//! `NATTER_UPDATE_SCREENSHOTS=1`.
//!
//! Needs `Xvfb`, `xdotool` and `xclip` (see `.ci/run`). Without them the
//! test says it is skipped and passes, unless `CI` is set: then it fails.
//!
//! Windows are closed the way a window manager closes them: a
//! `WM_DELETE_WINDOW` client message, sent by [`x11::request_close`]
//! (Xvfb has no window manager, and `xdotool windowclose` destroys the
//! window under the program instead, which kills it with an X error).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use natter_client::trust::known_server_line;
use natter_client::{Client, ClientConfig, ClientEvent, Events, FirstUse, Trust};
use natter_common::emoji::CATALOGUE;
use natter_common::{Content, Conversation, Fingerprint, Recipient, UserName};
use natter_server::{Config, Server};
use serde_json::Value;

const PASSWORD: &str = "correct horse battery";
/// The longest any one expected change may take (generous: two debug
/// GUIs under software GL on a loaded two-core machine).
const PATIENCE: Duration = Duration::from_secs(45);
/// How often a condition is checked again.
const POLL: Duration = Duration::from_millis(100);
/// How long an idle window's CPU use is measured for.
const IDLE_WINDOW: Duration = Duration::from_secs(4);
/// The tools the test drives the windows with.
const TOOLS: [&str; 7] = [
    "Xvfb",
    "xdotool",
    "xclip",
    "xprop",
    "dbus-run-session",
    "ibus-daemon",
    "ibus",
];
const PACKAGES: &str = "xvfb xauth libxkbcommon0 libxi6 libgl1 libegl1 xdotool imagemagick \
                        fonts-wqy-microhei xclip x11-utils dbus-daemon ibus ibus-libpinyin";

const GROUP_HELLO: &str = "Hello bob, hello everyone!";
const GROUP_CHINESE: &str = "大家好，今天中午一起吃饭吗？";
/// Chinese, a symbol with an emoji variation selector, and an emoji: three
/// fonts of the fallback chain on one line.
const MIXED: &str = "周末去爬山吗 ⛰️ 😀";
const CAROL_REPLY: &str = "Count me in — 我也去！";
const BOB_REPLY: &str = "Hi alice! Noon works for me.";
const PRIVATE_TEXT: &str = "psst alice, this one is just for you";
const EMOJI: &str = "love";
const PICTURE: &str = "sunset.png";
const PICTURE_SIZE: (u32, u32) = (480, 320);
const FILE: &str = "meeting-notes.txt";

#[test]
fn two_gui_clients_chat_under_xvfb() {
    let missing: Vec<&str> = TOOLS.into_iter().filter(|t| !on_path(t)).collect();
    if !missing.is_empty() {
        let message = format!(
            "the GUI end-to-end test needs {} (apt-get install {PACKAGES})",
            missing.join(", ")
        );
        if std::env::var_os("CI").is_some() {
            panic!("{message}");
        }
        // Straight to stderr: the test harness hides `eprintln!` of a
        // passing test, and this must be seen.
        let _ = writeln!(
            std::io::stderr(),
            "\n**********\n*** gui.rs skipped: {message}\n**********\n"
        );
        return;
    }
    let started = Instant::now();
    let work = tempfile::tempdir().expect("temp dir");
    let shots = screenshot_dir();
    let xvfb = Xvfb::start(work.path());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");

    // The server, alice's and carol's accounts, carol watching.
    let server_dir = work.path().join("server");
    let (endpoint, stop_server, server_task) = runtime.block_on(async {
        let config = Config::new("127.0.0.1:0".parse().unwrap(), &server_dir);
        let server = Server::bind(config).await.expect("server binds");
        let endpoint = server.endpoint();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async {
            let _ = stopped.await;
        }));
        (endpoint, stop, task)
    });
    let server = endpoint.addr.to_string();
    let library = library_config(&server, endpoint.fingerprint, work.path());
    let (carol, mut carol_events) = runtime.block_on(async {
        for name in ["alice", "carol"] {
            natter_client::register(&library, name, PASSWORD)
                .await
                .expect("register");
        }
        Client::login(library.clone(), "carol", PASSWORD)
            .await
            .expect("carol logs in")
    });

    // alice: the server is known, Enter on the prefilled form logs in.
    let alice_known = work.path().join("alice-known-servers");
    std::fs::write(
        &alice_known,
        known_server_line(&server, &endpoint.fingerprint) + "\n",
    )
    .expect("known servers file");
    // alice types through a real IBus (English until the pinyin step).
    let ibus = Ibus::start(&xvfb, work.path());
    let mut alice = Gui::launch(
        "alice",
        &xvfb,
        work.path(),
        &server,
        &alice_known,
        &[],
        &[("IBUS_ADDRESS", ibus.address.as_str())],
    );
    alice.wait_for("the login form", |d| {
        (d["screen"] == "login" && layout(d, "login_button").is_some()).then_some(())
    });
    alice.screenshot(&shots.join("login.png"));
    alice.key("Return");
    alice.wait_for("alice logged in", |d| {
        (d["screen"] == "chat" && d["me"] == "alice" && d["connection"] == "online").then_some(())
    });
    alice.wait_for_title("natter — alice → group");

    // bob: creates his account in the register mode and trusts the server
    // when the first-connection prompt asks.
    let bob_known = work.path().join("bob-known-servers");
    let mut bob = Gui::launch(
        "bob",
        &xvfb,
        work.path(),
        &server,
        &bob_known,
        &[alice.window],
        &[],
    );
    bob.wait_for("the login form", |d| {
        (d["screen"] == "login" && layout(d, "register_link").is_some()).then_some(())
    });
    bob.click("register_link");
    bob.wait_for("the register form", |d| {
        (d["screen"] == "register" && layout(d, "field:confirm").is_some()).then_some(())
    });
    bob.click("field:confirm");
    bob.type_text(PASSWORD);
    bob.key("Return");
    let prompt = bob.wait_for("the fingerprint prompt", |d| {
        d["trust_prompt"].as_str().map(str::to_owned)
    });
    assert_eq!(prompt, endpoint.fingerprint.to_string());
    assert!(!bob_known.exists(), "nothing is trusted before the click");
    bob.click("trust_button");
    bob.wait_for("bob registered and logged in", |d| {
        (d["screen"] == "chat" && d["me"] == "bob" && d["connection"] == "online").then_some(())
    });
    let recorded = std::fs::read_to_string(&bob_known).expect("bob's known servers");
    assert!(
        recorded.contains(&known_server_line(&server, &endpoint.fingerprint)),
        "accepting the prompt records the server: {recorded:?}"
    );

    // Each sees the other online.
    alice.wait_for("bob online at alice's", |d| {
        names(&d["online"])
            .contains(&"bob".to_owned())
            .then_some(())
    });
    bob.wait_for("alice online at bob's", |d| {
        let online = names(&d["online"]);
        (online.contains(&"alice".to_owned()) && online.contains(&"carol".to_owned())).then_some(())
    });

    // Group texts: typed, pasted (Chinese), from the library, and a reply.
    alice.click("composer");
    alice.type_text(GROUP_HELLO);
    alice.key("Return");
    bob.wait_for("alice's group text at bob's", |d| {
        find_message(d, "group", |m| {
            m["from"] == "alice" && m["text"] == GROUP_HELLO
        })
    });
    alice.wait_for("alice's text stored", |d| {
        find_message(d, "group", |m| {
            m["text"] == GROUP_HELLO && m["pending"] == false && m["id"].is_u64()
        })
    });
    alice.paste(GROUP_CHINESE);
    alice.wait_for("the pasted text in the composer", |d| {
        (d["composer"] == GROUP_CHINESE).then_some(())
    });
    alice.key("Return");
    bob.wait_for("alice's Chinese text at bob's", |d| {
        find_message(d, "group", |m| {
            m["from"] == "alice" && m["text"] == GROUP_CHINESE
        })
    });
    // Chinese typed with the pinyin input method: n i h a o, then space
    // picks the first candidate.
    ibus.engine("libpinyin");
    alice.click("composer");
    alice.type_text("nihao");
    // libpinyin shows its best conversion as it goes (n: 年, ni: 你...).
    alice.wait_for("nihao being composed at the caret", |d| {
        let p = d["preedit"].as_str()?;
        (p.contains('好') || p.contains("hao")).then_some(())
    });
    // No panel runs, so the app draws the candidates itself, 你好 among
    // them, one highlighted.
    alice.wait_for("the candidates drawn in the app", |d| {
        let c = d["candidates"].as_array()?;
        (c.iter().any(|w| w == "你好") && d["candidate_cursor"].is_u64()).then_some(())
    });
    alice.screenshot(&shots.join("ime-preedit.png"));
    // The caret's place on the screen went to the input method (for its
    // candidate window): inside the composer, wherever the window is.
    let origin = alice.origin();
    alice.wait_for("the caret reported to the input method", |d| {
        let c: Vec<i64> = d["ime_caret"]
            .as_array()?
            .iter()
            .filter_map(Value::as_i64)
            .collect();
        let r = layout(d, "composer")?;
        let (x, y) = ((c[0] - origin.0) as f64, (c[1] - origin.1) as f64);
        (x >= r[0] && x <= r[0] + r[2] && y >= r[1] && y <= r[1] + r[3] && c[3] > 0).then_some(())
    });
    alice.key("space");
    alice.wait_for("你好 committed into the composer", |d| {
        (d["composer"] == "你好").then_some(())
    });
    alice.key("Return");
    bob.wait_for("alice's typed Chinese at bob's", |d| {
        find_message(d, "group", |m| m["from"] == "alice" && m["text"] == "你好")
    });
    ibus.engine("xkb:us::eng");
    alice.paste(MIXED);
    alice.wait_for("the mixed line in the composer", |d| {
        (d["composer"] == MIXED).then_some(())
    });
    alice.key("Return");
    bob.wait_for("alice's mixed line at bob's", |d| {
        find_message(d, "group", |m| m["from"] == "alice" && m["text"] == MIXED)
    });
    bob.screenshot(&shots.join("mixed-text.png"));
    carol
        .send(Recipient::Everyone, Content::Text(CAROL_REPLY.into()))
        .expect("carol sends");
    bob.click("composer");
    bob.type_text(BOB_REPLY);
    bob.key("Return");
    alice.wait_for("carol's and bob's replies at alice's", |d| {
        find_message(d, "group", |m| m["from"] == "bob" && m["text"] == BOB_REPLY)?;
        find_message(d, "group", |m| {
            m["from"] == "carol" && m["text"] == CAROL_REPLY
        })
    });

    // A private text: bob picks alice in the people list.
    bob.click("conversation:alice");
    bob.wait_for("the conversation with alice selected", |d| {
        (d["selected"] == "@alice").then_some(())
    });
    bob.wait_for_title("natter — bob → alice");
    bob.click("composer");
    bob.type_text(PRIVATE_TEXT);
    bob.key("Return");
    alice.wait_for("bob's private text at alice's", |d| {
        let private = find_message(d, "@bob", |m| {
            m["from"] == "bob" && m["to"] == "@alice" && m["text"] == PRIVATE_TEXT
        });
        if private.is_some() {
            assert!(
                find_message(d, "group", |m| m["text"] == PRIVATE_TEXT).is_none(),
                "a private message must not show in the group"
            );
        }
        private
    });
    alice.wait_for_title("natter — alice → group (1 unread)");
    bob.click("conversation:group");
    bob.wait_for("the group selected", |d| {
        (d["selected"] == "group").then_some(())
    });

    // An emoji from the panel (screenshot with the panel open).
    alice.click("emoji_button");
    let cell = alice.wait_for("the emoji panel fully open", |d| {
        layout(d, &format!("emoji:{EMOJI}"))
    });
    alice.point_at(cell);
    alice.screenshot(&shots.join("emoji-panel.png"));
    alice.click(&format!("emoji:{EMOJI}"));
    bob.wait_for("alice's emoji at bob's", |d| {
        find_message(d, "group", |m| m["from"] == "alice" && m["emoji"] == EMOJI)
    });
    alice.wait_for("the emoji panel closed", |d| {
        (d["emoji_panel_open"] == false).then_some(())
    });

    // A picture through the share sheet's typed path; bob downloads it
    // and draws it inline: the busy chat room screenshot.
    let picture = work.path().join(PICTURE);
    make_picture(&picture);
    alice.share("picture_button", &picture);
    let cached = bob.wait_for("alice's picture drawn inline at bob's", |d| {
        let m = find_message(d, "group", |m| {
            m["from"] == "alice" && m["kind"] == "picture" && m["name"] == PICTURE
        })?;
        layout(d, &format!("picture:{PICTURE}"))?;
        m["cached"].as_str().map(PathBuf::from)
    });
    assert_eq!(
        std::fs::read(&cached).expect("bob's copy"),
        std::fs::read(&picture).expect("the picture"),
        "bob's copy of the picture is the picture"
    );
    bob.screenshot(&shots.join("chat-room.png"));

    // A file, privately, from bob to alice.
    let file = work.path().join(FILE);
    let notes = "Natter meeting notes\n".repeat(1500);
    std::fs::write(&file, &notes).expect("write the file");
    bob.click("conversation:alice");
    bob.wait_for("the conversation with alice selected", |d| {
        (d["selected"] == "@alice").then_some(())
    });
    bob.share("file_button", &file);
    alice.wait_for("bob's file at alice's", |d| {
        let m = find_message(d, "@bob", |m| {
            m["from"] == "bob" && m["kind"] == "file" && m["name"] == FILE
        })?;
        (m["size"] == notes.len()).then_some(())
    });

    // The cache browser, from the menu.
    bob.click("menu_button");
    bob.wait_for("the menu open", |d| layout(d, "menu:cache_browser"));
    bob.click("menu:cache_browser");
    bob.wait_for("the cached picture in the cache browser", |d| {
        (d["overlay"] == "cache browser Pictures").then_some(())?;
        // Cached under its name with a piece of its hash: sunset-1a2b....png
        let stem = PICTURE.trim_end_matches(".png");
        d["layout"]
            .as_object()?
            .keys()
            .find(|k| k.starts_with(&format!("cache:picture:{stem}-")))
            .map(|_| ())
    });
    bob.screenshot(&shots.join("cache-browser.png"));
    bob.key("Escape");
    bob.wait_for("the cache browser closed", |d| {
        d["overlay"].is_null().then_some(())
    });

    // bob logs out from the menu; alice sees him go.
    bob.click("menu_button");
    bob.wait_for("the menu open", |d| layout(d, "menu:logout"));
    bob.click("menu:logout");
    bob.wait_for("bob back on the login form", |d| {
        (d["screen"] == "login" && d["me"].is_null()).then_some(())
    });
    alice.wait_for("bob offline at alice's", |d| {
        (!names(&d["online"]).contains(&"bob".to_owned())).then_some(())
    });
    runtime.block_on(left(&mut carol_events, "bob"));

    // Left alone, alice's window sleeps (it drew 5 frames a second once).
    alice.wait_until_idle(1.0);

    // alice closes her window: she logs out and the program ends well.
    let status = alice.close();
    assert!(status.success(), "alice's natter exited with {status}");
    runtime.block_on(left(&mut carol_events, "alice"));
    let status = bob.close();
    assert!(status.success(), "bob's natter exited with {status}");

    // What the server stored, as another device of alice's reads it.
    runtime.block_on(async {
        let (device, _events) = Client::login(library.clone(), "alice", PASSWORD)
            .await
            .expect("alice logs in on another device");
        let group = device
            .history(Conversation::Group, None, 100)
            .await
            .expect("group history")
            .messages;
        let private = device
            .history(Conversation::With(user("bob")), None, 100)
            .await
            .expect("private history")
            .messages;
        let love = CATALOGUE.iter().find(|e| e.key == EMOJI).unwrap().id;
        let has = |messages: &[natter_common::ChatMessage],
                   from: &str,
                   what: &dyn Fn(&Content) -> bool| {
            messages
                .iter()
                .any(|m| m.from.as_str() == from && what(&m.content))
        };
        let text = |t: &'static str| move |c: &Content| *c == Content::Text(t.into());
        assert!(has(&group, "alice", &text(GROUP_HELLO)), "{group:#?}");
        assert!(has(&group, "alice", &text(GROUP_CHINESE)), "{group:#?}");
        assert!(has(&group, "alice", &text(MIXED)), "{group:#?}");
        assert!(has(&group, "alice", &text("你好")), "{group:#?}");
        assert!(has(&group, "carol", &text(CAROL_REPLY)), "{group:#?}");
        assert!(has(&group, "bob", &text(BOB_REPLY)), "{group:#?}");
        assert!(
            has(&group, "alice", &|c| *c == Content::Emoji(love)),
            "{group:#?}"
        );
        assert!(
            has(&group, "alice", &|c| matches!(
                c,
                Content::Image { media, width, height }
                    if media.name == PICTURE && (*width, *height) == PICTURE_SIZE
            )),
            "{group:#?}"
        );
        assert!(
            group.iter().all(|m| m.to == Recipient::Everyone),
            "only group messages in the group: {group:#?}"
        );
        assert!(has(&private, "bob", &text(PRIVATE_TEXT)), "{private:#?}");
        assert!(
            has(&private, "bob", &|c| matches!(
                c,
                Content::File(media) if media.name == FILE && media.size == notes.len() as u64
            )),
            "{private:#?}"
        );
        device.logout().await.expect("logout");
        carol.logout().await.expect("logout");
    });

    let _ = stop_server.send(());
    runtime
        .block_on(server_task)
        .expect("server task")
        .expect("server ran");
    let _ = writeln!(
        std::io::stderr(),
        "GUI end-to-end test passed in {:.1} s; screenshots in {}",
        started.elapsed().as_secs_f64(),
        shots.display()
    );
}

/// One `natter` process and its window.
struct Gui {
    name: &'static str,
    child: Child,
    display: String,
    window: u32,
    dump: PathBuf,
    shot: PathBuf,
    log: PathBuf,
}

impl Gui {
    /// Starts `natter` for `name` with the login form prefilled, its own
    /// cache, home and known-servers file, and finds its window (the one
    /// that is not in `others`).
    fn launch(
        name: &'static str,
        xvfb: &Xvfb,
        work: &Path,
        server: &str,
        known_servers: &Path,
        others: &[u32],
        env: &[(&str, &str)],
    ) -> Gui {
        let home = work.join(format!("{name}-home"));
        std::fs::create_dir_all(&home).expect("home dir");
        let log = work.join(format!("{name}.log"));
        let stdout = std::fs::File::create(&log).expect("log file");
        let stderr = stdout.try_clone().expect("log file");
        let display = format!(":{}", xvfb.display);
        let dump = work.join(format!("{name}.json"));
        let shot = work.join(format!("{name}-shot.png"));
        let child = Command::new(env!("CARGO_BIN_EXE_natter"))
            .env("DISPLAY", &display)
            .env_remove("XAUTHORITY")
            .env_remove("WAYLAND_DISPLAY")
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("XDG_DATA_HOME", home.join("data"))
            .env("XDG_CACHE_HOME", home.join("cache"))
            // No desktop portal: the share sheet falls back to a typed path
            // at once (and no dialog opens on a developer's own desktop).
            .env(
                "DBUS_SESSION_BUS_ADDRESS",
                format!("unix:path={}", home.join("no-bus").display()),
            )
            .env("NATTER_SERVER", server)
            .env("NATTER_USER", name)
            .env("NATTER_PASSWORD", PASSWORD)
            .env("NATTER_KNOWN_SERVERS", known_servers)
            .env("NATTER_CACHE_DIR", home.join("media"))
            .env("NATTER_STATE_DUMP", &dump)
            .env("NATTER_STATE_DUMP_AUTO", "1")
            .env("NATTER_SCREENSHOT", &shot)
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("start natter");
        let mut gui = Gui {
            name,
            child,
            display,
            window: 0,
            dump,
            shot,
            log,
        };
        // natter marks its window with its pid (_NET_WM_PID).
        let pid = gui.child.id().to_string();
        let deadline = Instant::now() + PATIENCE;
        gui.window = loop {
            gui.assert_running();
            let found = xdotool_output(&gui.display, &["search", "--pid", &pid]);
            if let Some(w) = found
                .lines()
                .filter_map(|l| l.trim().parse::<u32>().ok())
                .find(|w| !others.contains(w))
            {
                break w;
            }
            assert!(Instant::now() < deadline, "{name}'s window never appeared");
            std::thread::sleep(POLL);
        };
        // Keys go to the window under the pointer: keep it inside.
        gui.xdotool(&[
            "mousemove",
            "--window",
            &gui.window.to_string(),
            "600",
            "20",
        ]);
        gui
    }

    /// The window's title as the window manager reads it
    /// (`_NET_WM_NAME`, and `WM_NAME` for older ones), through `xprop`.
    fn titles(&self) -> Option<(String, String)> {
        let out = Command::new("xprop")
            .env("DISPLAY", &self.display)
            .env("LC_ALL", "C.UTF-8")
            .args(["-id", &self.window.to_string(), "_NET_WM_NAME", "WM_NAME"])
            .output()
            .expect("run xprop");
        let text = String::from_utf8_lossy(&out.stdout);
        let value = |name: &str| {
            text.lines()
                .find(|l| l.starts_with(&format!("{name}(")))
                .and_then(|l| l.split_once(" = "))
                .map(|(_, v)| v.trim().trim_matches('"').to_owned())
        };
        Some((value("_NET_WM_NAME")?, value("WM_NAME")?))
    }

    /// Waits until the window is called `title`.
    fn wait_for_title(&mut self, title: &str) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let titles = self.titles();
            if titles == Some((title.to_owned(), title.to_owned())) {
                return;
            }
            self.assert_running();
            assert!(
                Instant::now() < deadline,
                "{}: the window title stayed {titles:?}, not {title:?}",
                self.name
            );
            std::thread::sleep(POLL);
        }
    }

    /// Waits until the program has used less than `percent` of a core
    /// over a [`IDLE_WINDOW`] with no input: an idle window sleeps.
    fn wait_until_idle(&mut self, percent: f64) {
        let deadline = Instant::now() + PATIENCE;
        let mut last = f64::NAN;
        while Instant::now() < deadline {
            self.assert_running();
            let before = cpu_secs(self.child.id());
            let started = Instant::now();
            std::thread::sleep(IDLE_WINDOW);
            let used = cpu_secs(self.child.id()) - before;
            last = used / started.elapsed().as_secs_f64() * 100.0;
            if last < percent {
                return;
            }
        }
        panic!(
            "{}: an idle window still uses {last:.1}% of a core",
            self.name
        );
    }

    /// Panics (with the program's log) if it has exited.
    fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "{}'s natter exited ({status}):\n{}",
                self.name,
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
    }

    /// Runs `xdotool` on this window's display, with the window raised
    /// first: the two windows overlap, and without a window manager the
    /// keyboard goes to the window under the pointer.
    fn xdotool(&self, args: &[&str]) {
        let window = self.window.to_string();
        let mut all = vec!["windowraise", &window];
        all.extend_from_slice(args);
        let status = Command::new("xdotool")
            .env("DISPLAY", &self.display)
            .args(&all)
            .status()
            .expect("run xdotool");
        assert!(status.success(), "xdotool {all:?} failed: {status}");
    }

    /// Where the window's top-left corner is on the screen.
    fn origin(&self) -> (i64, i64) {
        let window = self.window.to_string();
        let out = xdotool_output(&self.display, &["getwindowgeometry", "--shell", &window]);
        let value = |key: &str| {
            out.lines()
                .find_map(|l| l.strip_prefix(key)?.parse().ok())
                .unwrap_or_else(|| panic!("no {key} in {out:?}"))
        };
        (value("X="), value("Y="))
    }

    /// Presses a key (`Return`, `F12`, `ctrl+v`...).
    fn key(&self, key: &str) {
        self.xdotool(&["key", key]);
    }

    /// Types ASCII text, key by key.
    fn type_text(&self, text: &str) {
        self.xdotool(&["type", "--delay", "15", "--", text]);
    }

    /// Puts `text` on the clipboard and pastes it with Ctrl+V (xdotool
    /// types CJK unreliably; the app has no input method anyway).
    fn paste(&self, text: &str) {
        let mut xclip = Command::new("xclip")
            .env("DISPLAY", &self.display)
            .args(["-selection", "clipboard", "-i"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run xclip");
        xclip
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .expect("feed xclip");
        // xclip forks a child that serves the selection; the parent ends.
        assert!(xclip.wait().expect("xclip").success());
        // Paste only once the selection is really served.
        let deadline = Instant::now() + PATIENCE;
        loop {
            let out = Command::new("xclip")
                .env("DISPLAY", &self.display)
                .args(["-selection", "clipboard", "-o"])
                .stderr(Stdio::null())
                .output()
                .expect("run xclip -o");
            if out.stdout == text.as_bytes() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the clipboard never held {text:?}"
            );
            std::thread::sleep(POLL);
        }
        self.key("ctrl+v");
    }

    /// Moves the pointer to the middle of `rect` (a layout rectangle).
    fn point_at(&self, rect: [f64; 4]) {
        let (x, y) = centre(rect);
        self.xdotool(&["mousemove", "--window", &self.window.to_string(), &x, &y]);
    }

    /// Clicks the control the last frame drew under `control`.
    fn click(&mut self, control: &str) {
        let rect = self.wait_for(&format!("control {control:?} on screen"), |d| {
            layout(d, control)
        });
        let (x, y) = centre(rect);
        let window = self.window.to_string();
        self.xdotool(&["mousemove", "--window", &window, &x, &y, "click", "1"]);
    }

    /// Shares `path` through the share sheet that `button` opens, typing
    /// the path into its field.
    fn share(&mut self, button: &str, path: &Path) {
        self.click(button);
        self.click("share:path_field");
        self.type_text(path.to_str().expect("UTF-8 temp path"));
        self.key("Return");
        self.wait_for("the share sheet closed", |d| {
            layout(d, "share:path_field").is_none().then_some(())
        });
    }

    /// The last state dump written, if any.
    fn read_dump(&self) -> Option<Value> {
        let text = std::fs::read_to_string(&self.dump).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Asks for a fresh dump (F12) until `check` finds what it wants in
    /// one, within [`PATIENCE`].
    fn wait_for<T>(&mut self, what: &str, mut check: impl FnMut(&Value) -> Option<T>) -> T {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let last = self.read_dump();
            if let Some(found) = last.as_ref().and_then(&mut check) {
                return found;
            }
            if Instant::now() > deadline {
                // What the screen showed, from outside (the app may hang).
                let screen = Path::new(env!("CARGO_TARGET_TMPDIR")).join("gui-failure.png");
                let _ = Command::new("import")
                    .args(["-display", &self.display, "-window", "root"])
                    .arg(&screen)
                    .status();
                panic!(
                    "{}: timed out waiting for {what} (screen: {}); last dump:\n{}\nlog:\n{}",
                    self.name,
                    screen.display(),
                    last.map(|d| serde_json::to_string_pretty(&d).unwrap())
                        .unwrap_or_else(|| "(none)".into()),
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            self.assert_running();
            self.key("F12");
            std::thread::sleep(POLL);
        }
    }

    /// Takes a screenshot (F11) and copies it to `to`.
    fn screenshot(&self, to: &Path) {
        let _ = std::fs::remove_file(&self.shot);
        self.key("F11");
        let deadline = Instant::now() + PATIENCE;
        while !self.shot.exists() {
            assert!(
                Instant::now() < deadline,
                "{}: no screenshot for {}",
                self.name,
                to.display()
            );
            std::thread::sleep(POLL);
        }
        std::fs::copy(&self.shot, to).expect("copy the screenshot");
    }

    /// Asks the window to close (as a window manager would) and waits for
    /// the program to end. What it logged goes to the test's output.
    fn close(mut self) -> ExitStatus {
        x11::request_close(&self.display, self.window).expect("send WM_DELETE_WINDOW");
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for natter") {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                if !log.trim().is_empty() {
                    eprintln!("{}'s natter logged:\n{log}", self.name);
                }
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{}'s natter did not quit",
                self.name
            );
            std::thread::sleep(POLL);
        }
    }
}

impl Drop for Gui {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A real IBus with the pinyin engine on a private session bus, stopped
/// when dropped.
struct Ibus {
    child: Child,
    env: Vec<(String, String)>,
    address: String,
}

impl Ibus {
    fn start(xvfb: &Xvfb, work: &Path) -> Ibus {
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

    fn ibus(&self, args: &[&str]) -> std::process::Output {
        let mut ibus = Command::new("ibus");
        ibus.args(args).envs(self.env.iter().map(|(k, v)| (k, v)));
        if !self.address.is_empty() {
            ibus.env("IBUS_ADDRESS", &self.address);
        }
        ibus.output().expect("run ibus")
    }

    /// Switches the input method's engine, and waits until it says so.
    fn engine(&self, name: &str) {
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
    fn drop(&mut self) {
        let _ = self.ibus(&["exit"]);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(POLL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A private X server, stopped when dropped.
struct Xvfb {
    display: u32,
    child: Child,
}

impl Xvfb {
    /// Starts `Xvfb` on the first free display of :90..:120 (Xvfb itself
    /// refuses one in use, and clears what a crashed server left).
    fn start(work: &Path) -> Xvfb {
        for display in 90..120u32 {
            let socket = PathBuf::from(format!("/tmp/.X11-unix/X{display}"));
            let lock = std::fs::read_to_string(format!("/tmp/.X{display}-lock"));
            if lock.is_ok_and(|pid| Path::new(&format!("/proc/{}", pid.trim())).exists()) {
                continue;
            }
            let log = std::fs::File::create(work.join("xvfb.log")).expect("xvfb log");
            let mut child = Command::new("Xvfb")
                .arg(format!(":{display}"))
                // -noreset: the server must not reset (and drop new
                // connections for a moment) whenever its last client leaves.
                .args([
                    "-screen",
                    "0",
                    "1280x800x24",
                    "-nolisten",
                    "tcp",
                    "-noreset",
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("start Xvfb");
            let deadline = Instant::now() + PATIENCE;
            loop {
                if socket.exists() && x11::connect(&format!(":{display}")).is_ok() {
                    return Xvfb { display, child };
                }
                if child.try_wait().expect("Xvfb status").is_some() {
                    break; // taken meanwhile: try the next one
                }
                assert!(Instant::now() < deadline, "Xvfb :{display} did not start");
                std::thread::sleep(POLL);
            }
        }
        panic!("no free X display in :90..:120");
    }
}

impl Drop for Xvfb {
    /// Stops the server with SIGTERM, so it removes its socket and lock
    /// file (SIGKILL would leave them behind).
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(POLL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Just enough of the X11 protocol to close a window politely.
mod x11 {
    use std::io::{self, Read, Write};
    use std::os::unix::net::UnixStream;
    use std::time::Duration;

    /// Sends `window` a `WM_PROTOCOLS` / `WM_DELETE_WINDOW` client message,
    /// as a window manager does when its close button is pressed, and
    /// waits until the X server has handled it.
    pub fn request_close(display: &str, window: u32) -> io::Result<()> {
        let mut x = connect(display)?;
        let protocols = intern_atom(&mut x, "WM_PROTOCOLS")?;
        let delete = intern_atom(&mut x, "WM_DELETE_WINDOW")?;
        // SendEvent, no propagation, empty mask: to the window's owner.
        let mut request = vec![25u8, 0];
        request.extend(11u16.to_le_bytes());
        request.extend(window.to_le_bytes());
        request.extend(0u32.to_le_bytes());
        // The ClientMessage event (format 32): protocol atom, CurrentTime.
        request.extend([33u8, 32, 0, 0]);
        request.extend(window.to_le_bytes());
        request.extend(protocols.to_le_bytes());
        request.extend(delete.to_le_bytes());
        request.extend([0u8; 16]);
        x.write_all(&request)?;
        // GetInputFocus: its reply comes after any error SendEvent caused.
        x.write_all(&[43, 0, 1, 0])?;
        read_reply(&mut x).map(|_| ())
    }

    /// A connection to `display` (`:N`) past the setup handshake: proof
    /// that the server is up and serving clients.
    pub fn connect(display: &str) -> io::Result<UnixStream> {
        let number = display.trim_start_matches(':');
        let mut x = UnixStream::connect(format!("/tmp/.X11-unix/X{number}"))?;
        x.set_read_timeout(Some(Duration::from_secs(10)))?;
        // Setup: little-endian, protocol 11.0, no authorisation data.
        x.write_all(&[b'l', 0, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0])?;
        let mut head = [0u8; 8];
        x.read_exact(&mut head)?;
        let mut rest = vec![0u8; u16::from_le_bytes([head[6], head[7]]) as usize * 4];
        x.read_exact(&mut rest)?;
        if head[0] != 1 {
            let reason = &rest[..(head[1] as usize).min(rest.len())];
            return Err(io::Error::other(format!(
                "the X server refused the connection: {}",
                String::from_utf8_lossy(reason)
            )));
        }
        Ok(x)
    }

    fn intern_atom(x: &mut UnixStream, name: &str) -> io::Result<u32> {
        let padded = name.len().div_ceil(4) * 4;
        let mut request = vec![16u8, 0];
        request.extend((2 + padded as u16 / 4).to_le_bytes());
        request.extend((name.len() as u16).to_le_bytes());
        request.extend([0u8, 0]);
        request.extend(name.as_bytes());
        request.resize(8 + padded, 0);
        x.write_all(&request)?;
        let reply = read_reply(x)?;
        Ok(u32::from_le_bytes([
            reply[8], reply[9], reply[10], reply[11],
        ]))
    }

    /// The next reply, skipping events; an X error becomes an `Err`.
    fn read_reply(x: &mut UnixStream) -> io::Result<Vec<u8>> {
        loop {
            let mut packet = vec![0u8; 32];
            x.read_exact(&mut packet)?;
            match packet[0] {
                0 => {
                    return Err(io::Error::other(format!(
                        "X error {} (request {})",
                        packet[1], packet[10]
                    )))
                }
                1 => {
                    let extra =
                        u32::from_le_bytes([packet[4], packet[5], packet[6], packet[7]]) as usize;
                    let mut more = vec![0u8; extra * 4];
                    x.read_exact(&mut more)?;
                    packet.extend(more);
                    return Ok(packet);
                }
                _ => continue,
            }
        }
    }
}

/// Client settings for the library users (carol, alice's other device).
fn library_config(server: &str, fingerprint: Fingerprint, work: &Path) -> ClientConfig {
    ClientConfig::new(
        server,
        Trust {
            known_servers: work.join("library-known-servers"),
            pinned: Some(fingerprint),
            first_use: FirstUse::Refuse,
        },
    )
}

/// Waits until `events` report that `name` left.
async fn left(events: &mut Events, name: &str) {
    let wait = async {
        while let Some(event) = events.next().await {
            if matches!(&event, ClientEvent::Left(u) if u.as_str() == name) {
                return;
            }
        }
        panic!("carol's events ended before {name} left");
    };
    tokio::time::timeout(PATIENCE, wait)
        .await
        .unwrap_or_else(|_| panic!("the server never said {name} left"));
}

/// Where the screenshots go: the repository's `docs/screenshots/` when
/// updating them, else a directory under `target/`.
fn screenshot_dir() -> PathBuf {
    let dir = if std::env::var_os("NATTER_UPDATE_SCREENSHOTS").is_some_and(|v| v == "1") {
        let client = Path::new(env!("CARGO_MANIFEST_DIR"));
        client
            .ancestors()
            .nth(2)
            .expect("workspace")
            .join("docs/screenshots")
    } else {
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("gui-screenshots")
    };
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

/// A small landscape at sunset, made here so the test needs no asset.
fn make_picture(path: &Path) {
    let (w, h) = PICTURE_SIZE;
    let picture = image::RgbImage::from_fn(w, h, |x, y| {
        let (fx, fy) = (x as f32 / w as f32, y as f32 / h as f32);
        let hill = 0.72 + 0.08 * (fx * 7.0).sin() + 0.04 * (fx * 17.0).cos();
        let sun = ((fx - 0.62).powi(2) * 2.25 + (fy - 0.55).powi(2)).sqrt();
        let rgb = if fy > hill {
            [30.0 + 40.0 * fy, 50.0 + 30.0 * fx, 60.0]
        } else if sun < 0.12 {
            [255.0, 236.0, 170.0]
        } else {
            let glow = (0.35 - sun).max(0.0) * 1.6;
            [
                70.0 + 185.0 * fy + 60.0 * glow,
                40.0 + 110.0 * fy * fy + 80.0 * glow,
                120.0 - 60.0 * fy + 20.0 * glow,
            ]
        };
        image::Rgb(rgb.map(|c: f32| c.clamp(0.0, 255.0) as u8))
    });
    picture.save(path).expect("write the picture");
}

/// CPU seconds (user + system) process `pid` used so far.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("process stat");
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .expect("stat format")
        .1
        .split_whitespace()
        .collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

/// Whether `tool` is an executable on `PATH`.
fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()))
}

/// What `xdotool` prints (empty when it finds nothing).
fn xdotool_output(display: &str, args: &[&str]) -> String {
    let out = Command::new("xdotool")
        .env("DISPLAY", display)
        .args(args)
        .output()
        .expect("run xdotool");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The rectangle the dump's layout gives `control`.
fn layout(dump: &Value, control: &str) -> Option<[f64; 4]> {
    let r = dump["layout"][control].as_array()?;
    let v: Vec<f64> = r.iter().filter_map(Value::as_f64).collect();
    (v.len() == 4).then(|| [v[0], v[1], v[2], v[3]])
}

/// The middle of a layout rectangle, as xdotool arguments.
fn centre(r: [f64; 4]) -> (String, String) {
    (
        format!("{}", (r[0] + r[2] / 2.0).round()),
        format!("{}", (r[1] + r[3] / 2.0).round()),
    )
}

/// The first message of `conversation` that `pick` accepts.
fn find_message(dump: &Value, conversation: &str, pick: impl Fn(&Value) -> bool) -> Option<Value> {
    dump["conversations"]
        .as_array()?
        .iter()
        .find(|c| c["conversation"] == conversation)?["messages"]
        .as_array()?
        .iter()
        .find(|m| pick(m))
        .cloned()
}

/// A JSON array of strings as strings.
fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn user(name: &str) -> UserName {
    UserName::parse(name).expect("user name")
}
