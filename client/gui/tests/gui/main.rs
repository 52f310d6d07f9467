//! End-to-end test of the graphical client: a real server in this process,
//! two `natter` windows on a private Xvfb display driven with `xdotool`
//! like a person would (clicks, typing, the clipboard), and a third user
//! on the client library watching presence.
//!
//! alice (account made beforehand, server already trusted) logs in with
//! Enter on the prefilled form; bob creates his account in the register
//! mode and accepts the first-connection fingerprint prompt by clicking.
//! They exchange group texts (one in Chinese, pasted, one typed through a
//! real input method), a private text, an emoji from the panel, a picture
//! and a file (both through the share sheet's typed path), open the cache
//! browser, log out and close the window. Each step is checked in the
//! receiving client's state dump (`NATTER_STATE_DUMP`, refreshed with F12),
//! and at the end in the server's history as seen by another device of
//! alice's.
//!
//! The test clicks what the interface drew: the dump's `layout` names the
//! rectangles of the controls of the last frame. It waits on conditions
//! (polling the dump within a deadline), never on a fixed pause.
//!
//! Screenshots (login, busy chat room, emoji panel, cache browser) go to
//! `target/tmp/gui-screenshots/`, or to `docs/screenshots/` with
//! `NATTER_UPDATE_SCREENSHOTS=1`.
//!
//! Needs `Xvfb`, `xdotool`, `xclip` and IBus (see [`desktop::PACKAGES`]).
//! Without them the test says it is skipped and passes, unless `CI` is
//! set: then it fails.
//!
//! This file is the scenario, step by step; the support is in modules:
//! [`desktop`] (Xvfb, closing windows, screenshots' home), [`window`] (one
//! `natter` and its window, driven), [`dump`] (reading its state dump),
//! [`ime`] (IBus) and [`peers`] (the server and the library users).

mod desktop;
mod dump;
mod ime;
mod peers;
mod window;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use natter_client::trust::known_server_line;
use natter_client::{Client, Events};
use natter_common::emoji::CATALOGUE;
use natter_common::{ChatMessage, Content, Recipient};
use serde_json::Value;
use tokio::runtime::Runtime;

use crate::desktop::{missing_tools, screenshot_dir, Xvfb, PACKAGES};
use crate::dump::{find_message, layout, names};
use crate::ime::Ibus;
use crate::peers::{left, TestServer};
use crate::window::Gui;

const PASSWORD: &str = "correct horse battery";
/// The longest any one expected change may take (generous: two debug
/// GUIs under software GL on a loaded two-core machine).
const PATIENCE: Duration = Duration::from_secs(45);
/// How often a condition is checked again.
const POLL: Duration = Duration::from_millis(100);

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
    if skipped() {
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
    let server = TestServer::start(&runtime, work.path());
    let (carol, mut carol_events) = server.accounts_and_carol(&runtime);
    // alice types through a real IBus (English until the pinyin step).
    let ibus = Ibus::start(&xvfb, work.path());
    let mut alice = alice_logs_in(&xvfb, work.path(), &server, &ibus, &shots);
    let mut bob = bob_registers(&xvfb, work.path(), &server, &alice);

    online_at_both(&mut alice, &mut bob);
    group_texts(&mut alice, &mut bob);
    pinyin(&mut alice, &mut bob, &ibus, &shots);
    mixed_line(&mut alice, &mut bob, &shots);
    replies(&mut alice, &mut bob, &carol);
    private_text(&mut alice, &mut bob);
    emoji(&mut alice, &mut bob, &shots);
    picture(&mut alice, &mut bob, work.path(), &shots);
    let file_size = file(&mut alice, &mut bob, work.path());
    cache_browser(&mut bob, &shots);
    bob_logs_out(&mut alice, &mut bob, &runtime, &mut carol_events);
    close_windows(alice, bob, &runtime, &mut carol_events);

    // What the server stored, as another device of alice's reads it.
    let (group, private) = server.alice_history(&runtime);
    runtime.block_on(carol.logout()).expect("logout");
    assert_stored(&group, &private, file_size);
    server.stop(&runtime);
    let _ = writeln!(
        std::io::stderr(),
        "GUI end-to-end test passed in {:.1} s; screenshots in {}",
        started.elapsed().as_secs_f64(),
        shots.display()
    );
}

/// Whether the tools are missing, so the test is skipped (it fails
/// instead under CI).
fn skipped() -> bool {
    let missing = missing_tools();
    if missing.is_empty() {
        return false;
    }
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
        "\n**********\n*** gui skipped: {message}\n**********\n"
    );
    true
}

/// alice: the server is known, Enter on the prefilled form logs in.
fn alice_logs_in(xvfb: &Xvfb, work: &Path, server: &TestServer, ibus: &Ibus, shots: &Path) -> Gui {
    let known = work.join("alice-known-servers");
    let line = known_server_line(&server.addr, &server.fingerprint);
    std::fs::write(&known, line + "\n").expect("known servers file");
    let ibus_address = [("IBUS_ADDRESS", ibus.address.as_str())];
    let mut alice = Gui::launch(
        "alice",
        xvfb,
        work,
        &server.addr,
        &known,
        &[],
        &ibus_address,
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
    alice
}

/// bob: creates his account in the register mode and trusts the server
/// when the first-connection prompt asks.
fn bob_registers(xvfb: &Xvfb, work: &Path, server: &TestServer, alice: &Gui) -> Gui {
    let known = work.join("bob-known-servers");
    let mut bob = Gui::launch(
        "bob",
        xvfb,
        work,
        &server.addr,
        &known,
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
    assert_eq!(prompt, server.fingerprint.to_string());
    assert!(!known.exists(), "nothing is trusted before the click");
    bob.click("trust_button");
    bob.wait_for("bob registered and logged in", |d| {
        (d["screen"] == "chat" && d["me"] == "bob" && d["connection"] == "online").then_some(())
    });
    let recorded = std::fs::read_to_string(&known).expect("bob's known servers");
    assert!(
        recorded.contains(&known_server_line(&server.addr, &server.fingerprint)),
        "accepting the prompt records the server: {recorded:?}"
    );
    bob
}

/// Each sees the other online.
fn online_at_both(alice: &mut Gui, bob: &mut Gui) {
    alice.wait_for("bob online at alice's", |d| {
        names(&d["online"])
            .contains(&"bob".to_owned())
            .then_some(())
    });
    bob.wait_for("alice online at bob's", |d| {
        let online = names(&d["online"]);
        (online.contains(&"alice".to_owned()) && online.contains(&"carol".to_owned())).then_some(())
    });
}

/// Group texts: typed, then pasted (Chinese).
fn group_texts(alice: &mut Gui, bob: &mut Gui) {
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
}

/// Chinese typed with the pinyin input method: n i h a o, then space
/// picks the first candidate.
fn pinyin(alice: &mut Gui, bob: &mut Gui, ibus: &Ibus, shots: &Path) {
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
}

/// Three fonts on one line, pasted.
fn mixed_line(alice: &mut Gui, bob: &mut Gui, shots: &Path) {
    alice.paste(MIXED);
    alice.wait_for("the mixed line in the composer", |d| {
        (d["composer"] == MIXED).then_some(())
    });
    alice.key("Return");
    bob.wait_for("alice's mixed line at bob's", |d| {
        find_message(d, "group", |m| m["from"] == "alice" && m["text"] == MIXED)
    });
    bob.screenshot(&shots.join("mixed-text.png"));
}

/// Replies: carol's from the library, bob's typed.
fn replies(alice: &mut Gui, bob: &mut Gui, carol: &Client) {
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
}

/// A private text: bob picks alice in the people list.
fn private_text(alice: &mut Gui, bob: &mut Gui) {
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
}

/// An emoji from the panel (screenshot with the panel open).
fn emoji(alice: &mut Gui, bob: &mut Gui, shots: &Path) {
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
}

/// A picture through the share sheet's typed path; bob downloads it and
/// draws it inline: the busy chat room screenshot.
fn picture(alice: &mut Gui, bob: &mut Gui, work: &Path, shots: &Path) {
    let picture = work.join(PICTURE);
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
}

/// A file, privately, from bob to alice; returns its size.
fn file(alice: &mut Gui, bob: &mut Gui, work: &Path) -> usize {
    let file = work.join(FILE);
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
    notes.len()
}

/// The cache browser, from the menu.
fn cache_browser(bob: &mut Gui, shots: &Path) {
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
}

/// bob logs out from the menu; alice (and carol) see him go.
fn bob_logs_out(alice: &mut Gui, bob: &mut Gui, runtime: &Runtime, carol_events: &mut Events) {
    bob.click("menu_button");
    bob.wait_for("the menu open", |d| layout(d, "menu:logout"));
    bob.click("menu:logout");
    bob.wait_for("bob back on the login form", |d| {
        (d["screen"] == "login" && d["me"].is_null()).then_some(())
    });
    alice.wait_for("bob offline at alice's", |d| {
        (!names(&d["online"]).contains(&"bob".to_owned())).then_some(())
    });
    runtime.block_on(left(carol_events, "bob"));
}

/// Left alone, alice's window sleeps (it drew 5 frames a second once);
/// she closes it: she logs out and the program ends well. Then bob's.
fn close_windows(mut alice: Gui, bob: Gui, runtime: &Runtime, carol_events: &mut Events) {
    alice.wait_until_idle(1.0);
    let status = alice.close();
    assert!(status.success(), "alice's natter exited with {status}");
    runtime.block_on(left(carol_events, "alice"));
    let status = bob.close();
    assert!(status.success(), "bob's natter exited with {status}");
}

/// Everything sent is in the server's history, each in its conversation.
fn assert_stored(group: &[ChatMessage], private: &[ChatMessage], file_size: usize) {
    let love = CATALOGUE.iter().find(|e| e.key == EMOJI).unwrap().id;
    let has = |messages: &[ChatMessage], from: &str, what: &dyn Fn(&Content) -> bool| {
        messages
            .iter()
            .any(|m| m.from.as_str() == from && what(&m.content))
    };
    let text = |t: &'static str| move |c: &Content| *c == Content::Text(t.into());
    for (from, t) in [
        ("alice", GROUP_HELLO),
        ("alice", GROUP_CHINESE),
        ("alice", MIXED),
        ("alice", "你好"),
        ("carol", CAROL_REPLY),
        ("bob", BOB_REPLY),
    ] {
        assert!(has(group, from, &text(t)), "{group:#?}");
    }
    assert!(
        has(group, "alice", &|c| *c == Content::Emoji(love)),
        "{group:#?}"
    );
    assert!(
        has(group, "alice", &|c| matches!(
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
    assert!(has(private, "bob", &text(PRIVATE_TEXT)), "{private:#?}");
    assert!(
        has(private, "bob", &|c| matches!(
            c,
            Content::File(media) if media.name == FILE && media.size == file_size as u64
        )),
        "{private:#?}"
    );
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
