//! `switchboard run` in a live call, in real headless Chromium: a signaling server, two
//! headless `switchboard join` participants and one `switchboard run`, all real processes
//! with real WebRTC between them. The page must show the three of them, and its buttons
//! must act on the call.

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chromiumoxide::cdp::browser_protocol::page::CaptureScreenshotFormat;
use chromiumoxide::page::{Page, ScreenshotParams};
use serde_json::Value;

use crate::fixtures::json_lines;
use crate::web::browser::{Chromium, WAIT, eval_json, wait_until};

const API_KEY: &str = "run-test-key";

/// Child processes, killed if the test fails before it stops them on purpose.
#[derive(Default)]
struct Children(Vec<(String, Child)>);

impl Children {
    fn spawn(&mut self, name: &str, command: &mut Command) -> &mut Child {
        let child = command.spawn().unwrap_or_else(|e| panic!("spawning {name}: {e}"));
        self.0.push((name.to_owned(), child));
        &mut self.0.last_mut().expect("just pushed").1
    }

    fn take(&mut self, name: &str) -> Child {
        let at = self.0.iter().position(|(n, _)| n == name).unwrap_or_else(|| panic!("no child {name}"));
        self.0.remove(at).1
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        // Last started first: participants leave before the server goes away.
        for (_, child) in self.0.iter_mut().rev() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn switchboard() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    command.env("SWITCHBOARD_API_KEY", API_KEY).env_remove("SWITCHBOARD_SECRET");
    command
}

/// Reads the first stdout line of `child`, which must be piped.
fn first_line(child: &mut Child) -> String {
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut line = String::new();
    std::io::BufReader::new(stdout).read_line(&mut line).expect("reads the first stdout line");
    line.trim().to_owned()
}

/// A participant's config: a tone for a microphone, a WAV file for a speaker, a small test
/// pattern for a camera (small and slow, so three participants encode and decode on a
/// shared two-core machine), and `call` lines for the `[call]` table.
fn write_config(dir: &Path, name: &str, tone_hz: u32, call: &str) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    let wav = dir.join(format!("{name}.wav"));
    let text = format!(
        "[call]\n{call}\n[media]\naudio_input = \"tone:{tone_hz}\"\naudio_output = \"wav:{}\"\n\
         video_input = \"pattern:front\"\nvideo_width = 160\nvideo_height = 120\nvideo_fps = 10\n",
        wav.display()
    );
    std::fs::write(&path, text).expect("writes a config");
    path
}

fn join(dir: &Path, server: &str, uid: &str, tone_hz: u32, call: &str) -> (Command, PathBuf) {
    let events = dir.join(format!("{uid}.events.jsonl"));
    let mut command = switchboard();
    command
        .args(["join", "--server", server, "--user", uid, "--session", "standup", "--duration", "60"])
        .arg("--config")
        .arg(write_config(dir, uid, tone_hz, call))
        .arg("--events")
        .arg(&events)
        .stdout(Stdio::null());
    (command, events)
}

/// Polls the JSON lines of `path` until one satisfies `found`, failing with `what`.
async fn wait_for_line(path: &Path, what: &str, found: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(line) = json_lines(path).into_iter().find(|l| found(l)) {
            return line;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what} in {}:\n{}",
            path.display(),
            std::fs::read_to_string(path).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn is_event(line: &Value, name: &str) -> bool {
    line["event"] == name
}

/// Clicks the element with `testid`. The page redraws its bar and tiles whenever the call
/// state changes (a speaker change, a frame's tile), which can replace the node between
/// finding and clicking it; then the click is retried on the new node, up to 10 times
/// 50 ms apart, and a real absence still fails with the last error.
async fn click(page: &Page, testid: &str) {
    let selector = format!("[data-testid=\"{testid}\"]");
    let mut attempts = 0;
    loop {
        attempts += 1;
        let result = match page.find_element(selector.clone()).await {
            Ok(element) => element.click().await.map(|_| ()),
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => return,
            // "Could not find node with given id" or "Node is either not visible or not an
            // HTMLElement": the node found was replaced or detached by a redraw.
            Err(_) if attempts < 10 => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("clicking {testid} (attempt {attempts}): {e}"),
        }
    }
}

fn artifact(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/test-artifacts/web");
    std::fs::create_dir_all(&dir).expect("creating target/test-artifacts/web");
    dir.join(name)
}

/// `switchboard serve` on a free loopback port, owned by `children`; its WebSocket URL.
fn start_server(children: &mut Children) -> String {
    let serve = children
        .spawn("serve", switchboard().args(["serve", "--listen", "127.0.0.1:0"]).stdout(Stdio::piped()));
    let line = first_line(serve);
    let server = line.rsplit(' ').next().expect("an address").to_owned();
    assert!(server.starts_with("ws://127.0.0.1:"), "{line}");
    server
}

/// Issue 5: a live 3-party call shows three tiles with the decoded video; the page's mute
/// reaches the others as `user_muted`; the page's end raises `call_end_button_pressed` and
/// ends `run`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_three_party_call_in_the_page_mutes_and_ends() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut children = Children::default();

    let server = start_server(&mut children);

    let (mut bob, bob_events) = join(dir.path(), &server, "bob", 440, "");
    children.spawn("bob", &mut bob);
    let (mut carol, carol_events) = join(dir.path(), &server, "carol", 550, "start_with_video_muted = true");
    children.spawn("carol", &mut carol);
    for events in [&bob_events, &carol_events] {
        wait_for_line(events, "session_started", |l| is_event(l, "session_started")).await;
    }

    let run_events = dir.path().join("alice.events.jsonl");
    let run = children.spawn(
        "run",
        switchboard()
            .args(["run", "--server", &server, "--user", "alice", "--name", "Alice Liddell"])
            .args(["--session", "standup", "--listen", "127.0.0.1:0"])
            .arg("--config")
            .arg(write_config(dir.path(), "alice", 660, ""))
            .arg("--events")
            .arg(&run_events)
            .stdout(Stdio::piped()),
    );
    let line = first_line(run);
    let url = line.strip_prefix("ui on ").unwrap_or_else(|| panic!("the address line: {line}")).to_owned();
    assert!(printed_key(&url).is_some(), "{line}");

    let chromium = Chromium::launch(1280, 720).await;
    let page = chromium.open(&url).await;
    wait_until(&page, "document.querySelectorAll('.tile').length === 3", "the page shows three tiles").await;
    let uids: Vec<String> =
        eval_json(&page, "[...document.querySelectorAll('.tile')].map(t => t.dataset.uid).sort()").await;
    assert_eq!(uids, ["alice", "bob", "carol"]);
    let label: String =
        eval_json(&page, "document.querySelector('[data-testid=\"tile-alice-label\"]').textContent").await;
    assert!(label.contains("Alice Liddell"), "alice's name label: {label:?}");
    // Bob's decoded video and Alice's self view are drawn; Carol joined with her camera
    // paused, so she is an avatar with the video-off indicator.
    for uid in ["bob", "alice"] {
        let drawn = format!(
            "document.querySelector('[data-testid=\"video-{uid}\"]') && \
             (window.__switchboard.frames['{uid}'] || 0) >= 3"
        );
        wait_until(&page, &drawn, &format!("{uid}'s video frames on the page")).await;
    }
    wait_until(&page, "document.querySelector('[data-testid=\"tile-carol-avatar\"]')", "carol's avatar")
        .await;
    wait_until(
        &page,
        "document.querySelector('[data-testid=\"tile-carol-video-off\"]')",
        "carol's video-off indicator",
    )
    .await;
    wait_until(
        &page,
        "document.getElementById('call-status').textContent === '3 in the call'",
        "the status line",
    )
    .await;

    // Mute from the page: the others hear of it, and the page shows it.
    wait_until(&page, "document.querySelector('[data-testid=\"button-mute_audio\"]')", "the mute button")
        .await;
    click(&page, "button-mute_audio").await;
    for events in [&bob_events, &carol_events] {
        wait_for_line(events, "user_muted of alice", |l| {
            is_event(l, "user_muted") && l["muted"]["uid"] == "alice"
        })
        .await;
    }
    wait_until(&page, "document.querySelector('[data-testid=\"tile-alice-muted\"]')", "alice shown muted")
        .await;
    wait_until(
        &page,
        "document.querySelector('[data-testid=\"button-mute_audio\"]').classList.contains('toggled')",
        "the mute button toggled",
    )
    .await;

    // Clicking a small tile (spotlight mode) makes it the main one: the input goes to the
    // layout plugin and the call is laid out again.
    let small: String =
        eval_json(&page, "document.querySelector('.tile.clickable:not(.main)').dataset.uid").await;
    click(&page, &format!("tile-{small}")).await;
    wait_until(
        &page,
        &format!("document.querySelector('[data-testid=\"tile-{small}\"]').classList.contains('main')"),
        &format!("{small}'s tile made the main one"),
    )
    .await;

    let shot = artifact("run-three-party.png");
    page.save_screenshot(ScreenshotParams::builder().format(CaptureScreenshotFormat::Png).build(), &shot)
        .await
        .unwrap_or_else(|e| panic!("saving {}: {e}", shot.display()));
    println!("screenshot: {}", shot.display());

    // End from the page: only the run side gets call_end_button_pressed, and run exits.
    click(&page, "button-end_call").await;
    wait_for_line(&run_events, "call_end_button_pressed", |l| is_event(l, "call_end_button_pressed")).await;
    let mut run = children.take("run");
    let exit = tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            if let Some(status) = run.try_wait().expect("waits for run") {
                return Some(status);
            }
            if std::time::Instant::now() > deadline {
                let _ = run.kill();
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .await
    .expect("joins the waiter");
    let exit = exit.expect("`switchboard run` exits after the end button");
    assert!(exit.success(), "run exits cleanly: {exit}");
    for events in [&bob_events, &carol_events] {
        wait_for_line(events, "alice leaving", |l| is_event(l, "user_left") && l["user"]["uid"] == "alice")
            .await;
        assert!(
            !json_lines(events).iter().any(|l| is_event(l, "call_end_button_pressed")),
            "only the one who pressed end gets call_end_button_pressed"
        );
    }
    chromium.close().await;
}

#[derive(Debug, serde::Deserialize, PartialEq)]
struct StageBox {
    mode: String,
    x: f64,
    y: f64,
    w: f64,
    h: f64,
}

async fn count(page: &Page, selector: &str) -> usize {
    eval_json(page, &format!("document.querySelectorAll('{selector}').length")).await
}

async fn stage_box(page: &Page) -> StageBox {
    eval_json(
        page,
        "(() => { const s = document.getElementById('stage'); const r = s.getBoundingClientRect(); \
           return {mode: s.dataset.mode, x: r.x, y: r.y, w: r.width, h: r.height}; })()",
    )
    .await
}

/// Issue 6 (PIP): with the pip plugin loaded, the live page has a PIP button; pressing it
/// goes through the bus (`button_pressed`, the layout's `enter_pip_mode`, the plugin's
/// announcement) and the page turns into a small floating window with the active speaker's
/// tile alone and no buttons; its restore control brings the full call view back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_page_enters_and_leaves_pip_through_the_bus() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut children = Children::default();
    let server = start_server(&mut children);

    let (mut bob, bob_events) = join(dir.path(), &server, "bob", 440, "");
    children.spawn("bob", &mut bob);
    wait_for_line(&bob_events, "session_started", |l| is_event(l, "session_started")).await;

    let config = write_config(dir.path(), "alice", 660, "");
    // Plugins loaded by path: the layout too (`run` adds it by name only when no plugin is
    // loaded by path, since one of those may be the layout).
    let mut text = std::fs::read_to_string(&config).expect("reads the config");
    for lib in ["layout_default", "pip"] {
        let path = crate::fixtures::built_plugin(lib);
        text.push_str(&format!("\n[[plugin]]\npath = \"{}\"\n", path.display()));
    }
    std::fs::write(&config, text).expect("writes the config");
    let run_events = dir.path().join("alice.events.jsonl");
    let run = children.spawn(
        "run",
        switchboard()
            .args(["run", "--server", &server, "--user", "alice", "--session", "standup"])
            .args(["--listen", "127.0.0.1:0"])
            .arg("--config")
            .arg(&config)
            .arg("--events")
            .arg(&run_events)
            .stdout(Stdio::piped()),
    );
    let line = first_line(run);
    let url = line.strip_prefix("ui on ").unwrap_or_else(|| panic!("the address line: {line}")).to_owned();

    let chromium = Chromium::launch(1280, 720).await;
    let page = chromium.open(&url).await;
    wait_until(&page, "document.querySelectorAll('.tile').length === 2", "the page shows two tiles").await;
    wait_until(&page, "document.querySelector('[data-testid=\"button-pip\"]')", "the PIP button").await;
    let ids: Vec<String> =
        eval_json(&page, "[...document.querySelectorAll('#button-bar button')].map(b => b.dataset.id)").await;
    assert_eq!(
        ids.iter().rev().take(2).collect::<Vec<_>>(),
        ["end_call", "pip"],
        "pip comes before end: {ids:?}"
    );
    let full = stage_box(&page).await;
    assert_eq!(full.mode, "call");

    click(&page, "button-pip").await;
    wait_for_line(&run_events, "pip_mode_changed entering", |l| {
        is_event(l, "pip_mode_changed") && l["active"] == true
    })
    .await;
    wait_until(
        &page,
        "document.getElementById('stage').dataset.mode === 'pip' && \
         document.querySelectorAll('.tile').length === 1",
        "the PIP view",
    )
    .await;
    assert_eq!(count(&page, ".tile").await, 1, "only the active speaker's tile");
    assert_eq!(count(&page, "#button-bar").await, 0, "no button bar in PIP");
    assert_eq!(count(&page, "button[data-testid^=\"button-\"]").await, 0, "no buttons in PIP");
    // A small window floating in the bottom-right corner, unscaled.
    let small = stage_box(&page).await;
    assert!(
        (small.w - 320.0).abs() < 1.0 && (small.h - 180.0).abs() < 1.0,
        "the PIP window's size: {small:?}"
    );
    assert!(
        (small.x + small.w - (1280.0 - 16.0)).abs() < 1.0 && (small.y + small.h - (720.0 - 16.0)).abs() < 1.0,
        "the PIP window sits in the bottom-right corner: {small:?}"
    );
    let tile: StageBox = eval_json(
        &page,
        "(() => { const t = document.querySelector('.tile'); const r = t.getBoundingClientRect(); \
           return {mode: t.dataset.uid, x: r.x, y: r.y, w: r.width, h: r.height}; })()",
    )
    .await;
    assert!((tile.w - small.w).abs() < 1.0 && (tile.h - small.h).abs() < 1.0, "the tile fills it: {tile:?}");
    let shot = artifact("run-pip.png");
    page.save_screenshot(ScreenshotParams::builder().format(CaptureScreenshotFormat::Png).build(), &shot)
        .await
        .unwrap_or_else(|e| panic!("saving {}: {e}", shot.display()));
    println!("screenshot: {}", shot.display());

    click(&page, "pip-restore").await;
    wait_for_line(&run_events, "pip_mode_changed leaving", |l| {
        is_event(l, "pip_mode_changed") && l["active"] == false
    })
    .await;
    wait_until(
        &page,
        "document.getElementById('stage').dataset.mode === 'call' && \
         document.querySelectorAll('.tile').length === 2 && \
         document.querySelector('[data-testid=\"button-pip\"]')",
        "the full call view back",
    )
    .await;
    assert_eq!(stage_box(&page).await, full, "the full view fills the window again");
    let errors: Vec<Value> = json_lines(&run_events).into_iter().filter(|l| is_event(l, "error")).collect();
    assert!(errors.is_empty(), "errors: {errors:?}");
    chromium.close().await;
}

/// `run` alone in a call: SIGTERM ends the session (`session_ended` in its events file) and
/// the process exits 0; the page's address line comes first on stdout.
#[tokio::test]
async fn run_leaves_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut children = Children::default();
    let server = start_server(&mut children);

    let events = dir.path().join("alice.events.jsonl");
    let run = children.spawn(
        "run",
        switchboard()
            .args(["run", "--server", &server, "--user", "alice", "--session", "solo"])
            .args(["--listen", "127.0.0.1:0"])
            .arg("--config")
            .arg(write_config(dir.path(), "alice", 660, ""))
            .arg("--events")
            .arg(&events)
            .stdout(Stdio::piped()),
    );
    let line = first_line(run);
    assert!(line.starts_with("ui on http://127.0.0.1:"), "{line}");
    wait_for_line(&events, "session_started", |l| is_event(l, "session_started")).await;

    let mut run = children.take("run");
    let status = Command::new("kill").args(["-TERM", &run.id().to_string()]).status().expect("runs kill");
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || run.wait()).await.expect("joins").expect("waits");
    assert!(exit.success(), "run exits cleanly on SIGTERM: {exit}");
    wait_for_line(&events, "session_ended", |l| is_event(l, "session_ended")).await;
}

/// The key in a URL `run` printed, `http://127.0.0.1:PORT/?key=KEY` with 48 hex digits.
fn printed_key(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("http://127.0.0.1:")?;
    let (port, key) = rest.split_once("/?key=")?;
    let hex = key.len() == 48 && key.bytes().all(|b| b.is_ascii_hexdigit());
    (port.parse::<u16>().is_ok() && hex).then_some(key)
}

/// One raw HTTP GET of `target` at `addr` with `headers`; the status code.
fn http_status(addr: &str, target: &str, headers: &[(&str, &str)]) -> u16 {
    use std::io::{Read as _, Write as _};
    let mut tcp = std::net::TcpStream::connect(addr).unwrap_or_else(|e| panic!("connecting to {addr}: {e}"));
    tcp.set_read_timeout(Some(WAIT)).expect("a read timeout");
    let mut request = format!("GET {target} HTTP/1.1\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("Connection: close\r\n\r\n");
    tcp.write_all(request.as_bytes()).expect("writing the request");
    let mut answer = String::new();
    // A refused WebSocket handshake is answered and closed like any request.
    let _ = tcp.read_to_string(&mut answer);
    answer.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0)
}

/// One hostile request: what it is, its target, its headers.
type HttpCase<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>);

/// `headers` as the `&str` pairs [`http_status`] takes.
fn borrowed<'a>(headers: &'a [(&'static str, String)]) -> Vec<(&'a str, &'a str)> {
    headers.iter().map(|(name, value)| (*name, value.as_str())).collect()
}

/// The page `run` serves needs the key it printed: without it, with another one, from
/// another site's origin or under a rebound DNS name it is refused; with it, it is served.
#[tokio::test]
async fn run_serves_its_page_only_with_the_printed_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut children = Children::default();
    let server = start_server(&mut children);
    let events = dir.path().join("alice.events.jsonl");
    let run = children.spawn(
        "run",
        switchboard()
            .args(["run", "--server", &server, "--user", "alice", "--session", "keyed"])
            .args(["--listen", "127.0.0.1:0"])
            .arg("--config")
            .arg(write_config(dir.path(), "alice", 660, ""))
            .arg("--events")
            .arg(&events)
            .stdout(Stdio::piped()),
    );
    let line = first_line(run);
    let url = line.strip_prefix("ui on ").unwrap_or_else(|| panic!("the address line: {line}"));
    let key = printed_key(url).unwrap_or_else(|| panic!("no key in {url}"));
    let addr = url.trim_start_matches("http://").split('/').next().expect("host:port").to_owned();
    let port = addr.rsplit(':').next().expect("a port");
    let page = format!("/?key={key}");
    let wrong = format!("/?key={}", "0".repeat(48));
    let evil = format!("evil.example:{port}");
    let own_origin = format!("http://{addr}");
    let handshake = |origin: &str| {
        [
            ("Host", addr.clone()),
            ("Origin", origin.to_owned()),
            ("Upgrade", "websocket".to_owned()),
            ("Sec-WebSocket-Version", "13".to_owned()),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==".to_owned()),
        ]
    };
    let evil_handshake = handshake("http://evil.example");
    let own_handshake = handshake(&own_origin);
    let ws_key = format!("/ws?key={key}");
    let hostile: [HttpCase<'_>; 5] = [
        ("the page without the key", "/", vec![("Host", addr.as_str())]),
        ("the page with another key", wrong.as_str(), vec![("Host", addr.as_str())]),
        ("the page under a rebound name", page.as_str(), vec![("Host", evil.as_str())]),
        ("the socket from another origin, with the key", ws_key.as_str(), borrowed(&evil_handshake)),
        ("the socket of its own origin without the key", "/ws", borrowed(&own_handshake)),
    ];
    for (what, target, headers) in &hostile {
        assert_eq!(http_status(&addr, target, headers), 403, "{what}");
    }
    println!("{n} of {n} hostile requests to `run` refused", n = hostile.len());
    assert_eq!(http_status(&addr, &page, &[("Host", &addr)]), 200, "the printed URL");
    assert_eq!(http_status(&addr, &page, &[("Host", &format!("localhost:{port}"))]), 200, "under localhost");
    wait_for_line(&events, "session_started", |l| is_event(l, "session_started")).await;
    let errors: Vec<Value> = json_lines(&events).into_iter().filter(|l| is_event(l, "error")).collect();
    assert!(errors.is_empty(), "errors: {errors:?}");
}

/// A non-loopback `--listen` is refused before anything starts, with what it would expose
/// and how to opt in; `[ui] listen` likewise, with its place in the file.
#[test]
fn run_refuses_a_non_loopback_listen_address() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), "alice", 660, "");
    for listen in ["0.0.0.0:0", "[::]:0", "192.0.2.10:7800"] {
        let out = switchboard()
            .args(["run", "--server", "ws://127.0.0.1:9", "--user", "alice", "--session", "s"])
            .args(["--listen", listen])
            .arg("--config")
            .arg(&config)
            .output()
            .expect("runs switchboard run");
        assert!(!out.status.success(), "{listen} was accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("not a loopback address"), "{listen}: {stderr}");
        assert!(stderr.contains("video"), "{listen}: says what it would expose: {stderr}");
        assert!(stderr.contains("--allow-remote-ui"), "{listen}: says how to opt in: {stderr}");
        assert!(!stderr.contains("creating user"), "{listen}: it went on to join: {stderr}");
        assert!(
            out.stdout.is_empty(),
            "{listen}: it served the page: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }

    let remote = dir.path().join("remote.toml");
    let mut text = std::fs::read_to_string(&config).expect("reads the config");
    text.push_str("[ui]\nlisten = \"0.0.0.0:7800\"\n");
    std::fs::write(&remote, &text).expect("writes the config");
    let line = text.lines().count();
    // --allow-remote-ui is for --listen: the file's own address needs the file's opt-in.
    for extra in [&[][..], &["--allow-remote-ui"][..]] {
        let out = switchboard()
            .args(["run", "--server", "ws://127.0.0.1:9", "--user", "alice", "--session", "s"])
            .args(extra)
            .arg("--config")
            .arg(&remote)
            .output()
            .expect("runs switchboard run");
        assert!(!out.status.success(), "`[ui] listen = 0.0.0.0:7800` was accepted ({extra:?})");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(&format!("{}:{line}:", remote.display())), "{stderr}");
        assert!(stderr.contains("not a loopback address"), "{stderr}");
        assert!(stderr.contains("allow_remote = true"), "{stderr}");
        assert!(out.stdout.is_empty(), "{}", String::from_utf8_lossy(&out.stdout));
    }
}

/// Opted in (`--allow-remote-ui`, or `[ui] allow_remote = true`), `run` serves an address
/// on all interfaces, warns on stderr what that exposes, and prints a loopback URL with
/// its key.
#[test]
fn run_serves_a_remote_address_only_when_opted_in_and_warns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), "alice", 660, "");
    let opted_in = dir.path().join("opted-in.toml");
    let mut text = std::fs::read_to_string(&config).expect("reads the config");
    text.push_str("[ui]\nlisten = \"0.0.0.0:0\"\nallow_remote = true\n");
    std::fs::write(&opted_in, text).expect("writes the config");
    let flag = ["--listen", "0.0.0.0:0", "--allow-remote-ui"];
    for (how, config, extra) in [("the flag", &config, &flag[..]), ("the config", &opted_in, &[][..])] {
        let out = switchboard()
            .args(["run", "--server", "ws://127.0.0.1:9", "--user", "alice", "--session", "s"])
            .args(extra)
            .arg("--config")
            .arg(config)
            .output()
            .expect("runs switchboard run");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let url = stdout.lines().next().and_then(|l| l.strip_prefix("ui on ")).unwrap_or_default();
        assert!(printed_key(url).is_some(), "{how}: the address line: {stdout}\n{stderr}");
        assert!(stderr.contains("warning: the web UI listens on 0.0.0.0:"), "{how}: {stderr}");
        assert!(stderr.contains("video") && stderr.contains("end the call"), "{how}: {stderr}");
        // It went on to join, and failed there: nobody serves ws://127.0.0.1:9.
        assert!(stderr.contains("creating user alice"), "{how}: {stderr}");
    }
}

/// A server nobody listens on: `run` fails with the reason, not a hang or a panic.
#[tokio::test]
async fn run_without_a_server_fails_with_the_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = switchboard()
        .args(["run", "--server", "ws://127.0.0.1:9", "--user", "alice", "--session", "s"])
        .args(["--listen", "127.0.0.1:0"])
        .arg("--config")
        .arg(write_config(dir.path(), "alice", 660, ""))
        .output()
        .expect("runs switchboard run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("creating user alice"), "{stderr}");
}
