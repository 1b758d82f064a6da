//! Who may use the web UI: a real `WebUi` server against hostile requests (cross-site
//! WebSocket hijacking, DNS rebinding, missing and wrong keys), over raw HTTP, a WebSocket
//! client with forged `Origin` and `Host`, and real headless Chromium. Every hostile
//! request must be refused with a 403 carrying nothing of the call, and nothing may reach
//! the call; the page at the printed URL must still work.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use switchboard_core::view::{Button, Rect, UiInput, View};
use switchboard_ui::web::{CallInfo, VideoFrame, WebUi, WebUiConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};

use super::BROWSERS;
use super::browser::{Chromium, WAIT, eval_json, wait_until};

/// Strings of the call that no refused request may see: a participant's uid and name, the
/// title and the status line.
const SECRETS: [&str; 4] = ["zelda-uid", "Zelda Secret", "board-meeting-title", "acquisition-status"];

/// A server with a view, call info and a video frame set, as a live call has them.
async fn live_ui(config: WebUiConfig) -> (WebUi, mpsc::Receiver<UiInput>) {
    let (ui, inputs) = WebUi::start(config).await.expect("starting the web UI");
    ui.set_view(View {
        width: 640.0,
        height: 360.0,
        tiles: vec![super::tile(
            "zelda-uid",
            Rect::new(0.0, 0.0, 640.0, 300.0),
            0,
            switchboard_core::view::TileContent::Video {
                aspect_ratio: switchboard_core::settings::AspectRatio::Cover,
            },
        )],
        buttons: vec![Button {
            id: "mute_audio".into(),
            label: "Zelda Secret".into(),
            icon: String::new(),
            enabled: true,
            toggled: false,
        }],
        button_bar: Some(Rect::new(0.0, 300.0, 640.0, 60.0)),
        overlays: Vec::new(),
    });
    ui.set_call_info(CallInfo { title: "board-meeting-title".into(), status: "acquisition-status".into() });
    ui.push_frame("zelda-uid", VideoFrame::rgba(8, 8, vec![200; 8 * 8 * 4])).expect("pushing a frame");
    // Let the encoder publish the frame, so that a socket let through would send it.
    tokio::time::sleep(Duration::from_millis(200)).await;
    (ui, inputs)
}

/// One hostile raw request: what it is, its request line, its headers.
type HttpCase<'a> = (&'a str, String, Vec<(&'a str, &'a str)>);

/// What the server answered one request (or one WebSocket handshake it refused).
#[derive(Debug)]
struct Answer {
    status: u16,
    /// The status line and headers, to show when an assertion fails.
    head: String,
    content_type: String,
    body: Vec<u8>,
}

/// Sends `request_line` and `headers` as they are (no header is added but
/// `Connection: close`) and reads the whole answer.
async fn raw_http(addr: SocketAddr, request_line: &str, headers: &[(&str, &str)]) -> Answer {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connecting to the web UI");
    let mut request = format!("{request_line}\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("Connection: close\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.expect("writing the request");
    let mut out = Vec::new();
    tokio::time::timeout(WAIT, tcp.read_to_end(&mut out))
        .await
        .expect("the server answers and closes")
        .expect("reading the answer");
    let split = out.windows(4).position(|w| w == b"\r\n\r\n").map_or(out.len(), |at| at + 4);
    let head = String::from_utf8_lossy(&out[..split]).into_owned();
    let status = head.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
    let content_type = head
        .lines()
        .find_map(|line| line.split_once(':').filter(|(name, _)| name.eq_ignore_ascii_case("content-type")))
        .map(|(_, value)| value.trim().to_owned())
        .unwrap_or_default();
    Answer { status, head, content_type, body: out[split..].to_vec() }
}

/// Asserts that `answer` is a plain 403 with nothing of the call in it.
fn assert_refused(what: &str, answer: &Answer) {
    let Answer { status, head, content_type, body } = answer;
    assert_eq!(*status, 403, "{what}: not refused:\n{head}{}", String::from_utf8_lossy(body));
    assert!(content_type.starts_with("text/plain"), "{what}: {head}");
    let text = String::from_utf8_lossy(body);
    for secret in SECRETS {
        assert!(!text.contains(secret), "{what}: the refusal shows {secret:?}: {text}");
    }
    assert!(!body.windows(2).any(|w| w == [0xff, 0xd8]), "{what}: a JPEG in the refusal");
    assert!(!text.contains("<script"), "{what}: the page in the refusal");
}

/// Asserts that nothing reached the call: no input, no page connected.
fn assert_untouched(ui: &WebUi, inputs: &mut mpsc::Receiver<UiInput>) {
    assert_eq!(ui.handle().connected_pages(), 0, "a hostile socket is connected");
    match inputs.try_recv() {
        Err(mpsc::error::TryRecvError::Empty) => {}
        other => panic!("a hostile request reached the call: {other:?}"),
    }
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens `/ws` with `query` (e.g. `?key=KEY`, or empty), `Host: host` and one `Origin`
/// header per item of `origins` (none when empty). Returns the socket when it was let
/// through, or what the server answered the handshake.
async fn ws_attempt(addr: SocketAddr, query: &str, host: &str, origins: &[&str]) -> Result<Socket, Answer> {
    let mut request = format!("ws://{addr}/ws{query}").into_client_request().expect("a WebSocket request");
    let headers = request.headers_mut();
    headers.insert("host", HeaderValue::from_str(host).expect("a Host value"));
    for origin in origins {
        headers.append("origin", HeaderValue::from_str(origin).expect("an Origin value"));
    }
    match tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request)).await {
        Ok(Ok((socket, _))) => Ok(socket),
        Ok(Err(tungstenite::Error::Http(response))) => Err(Answer {
            status: response.status().as_u16(),
            head: format!("{:?} {:?}", response.status(), response.headers()),
            content_type: response
                .headers()
                .get("content-type")
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default()
                .to_owned(),
            body: response.body().clone().unwrap_or_default(),
        }),
        Ok(Err(error)) => panic!("the handshake failed otherwise than by a refusal: {error}"),
        Err(_) => panic!("the handshake timed out"),
    }
}

/// The hostile HTTP requests of the issue and around it: the page, an asset and the
/// socket path without the key, with wrong keys, under hosts that are not this server (DNS
/// rebinding) and from other origins. Raw, so `Host` is exactly what the test says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hostile_http_request_is_refused() {
    let (ui, mut inputs) = live_ui(WebUiConfig::on_port(0)).await;
    let addr = ui.local_addr();
    let port = addr.port();
    let key = ui.access_key().to_owned();
    let own = format!("127.0.0.1:{port}");
    let wrong_key = "0".repeat(key.len());
    let get = |target: &str| format!("GET {target} HTTP/1.1");
    let page = get(&format!("/?key={key}"));

    let evil_port = format!("evil.example:{port}");
    let rebound = format!("localhost.evil.example:{port}");
    let nip = format!("127.0.0.1.nip.io:{port}");
    let other_port = format!("127.0.0.1:{}", port.wrapping_add(1).max(1));
    let lan = format!("192.0.2.10:{port}");
    let all = format!("0.0.0.0:{port}");
    let absolute = format!("GET http://evil.example:{port}/?key={key} HTTP/1.1");
    let hostile: Vec<HttpCase<'_>> = vec![
        ("the page without the key", get("/"), vec![("Host", &own)]),
        ("the page with a wrong key", get(&format!("/?key={wrong_key}")), vec![("Host", &own)]),
        (
            "the page with a prefix of the key",
            get(&format!("/?key={}", &key[..key.len() - 1])),
            vec![("Host", &own)],
        ),
        ("the page with the key and one more digit", get(&format!("/?key={key}0")), vec![("Host", &own)]),
        ("the page with an empty key", get("/?key="), vec![("Host", &own)]),
        ("the page with the key under another name", get(&format!("/?token={key}")), vec![("Host", &own)]),
        (
            "the page with the key in upper case",
            get(&format!("/?key={}", key.to_uppercase())),
            vec![("Host", &own)],
        ),
        ("the page under a rebound name", page.clone(), vec![("Host", &evil_port)]),
        ("the page under a rebound name on port 80", page.clone(), vec![("Host", "evil.example")]),
        ("the page under a name ending in a rebound domain", page.clone(), vec![("Host", &rebound)]),
        ("the page under a wildcard DNS name of loopback", page.clone(), vec![("Host", &nip)]),
        ("the page under another port", page.clone(), vec![("Host", &other_port)]),
        ("the page under a LAN address", page.clone(), vec![("Host", &lan)]),
        ("the page under the unspecified address", page.clone(), vec![("Host", &all)]),
        ("the page without a Host", page.clone(), vec![]),
        ("the page with two Hosts", page.clone(), vec![("Host", &own), ("Host", &evil_port)]),
        ("the page in absolute form naming another host", absolute, vec![("Host", &own)]),
        (
            "the page fetched from another origin",
            page.clone(),
            vec![("Host", &own), ("Origin", "http://evil.example")],
        ),
        ("the script under a rebound name", get("/app.js"), vec![("Host", &evil_port)]),
        (
            "the script fetched from another origin",
            get("/app.js"),
            vec![("Host", &own), ("Origin", "http://evil.example")],
        ),
        ("another path without the key", get("/favicon.ico"), vec![("Host", &own)]),
        ("the socket path without the key", get("/ws"), vec![("Host", &own)]),
    ];
    let mut refused = 0;
    for (what, line, headers) in &hostile {
        assert_refused(what, &raw_http(addr, line, headers).await);
        refused += 1;
    }
    assert_eq!(refused, hostile.len());
    println!("{refused} of {} hostile HTTP requests refused", hostile.len());
    assert_untouched(&ui, &mut inputs);

    // The control: the same server serves the page and its assets to the right requests.
    for host in [own.as_str(), &format!("localhost:{port}"), &format!("[::1]:{port}")] {
        let answer = raw_http(addr, &page, &[("Host", host)]).await;
        assert_eq!(answer.status, 200, "the page under {host}:\n{}", answer.head);
        assert!(String::from_utf8_lossy(&answer.body).contains("<script src=\"/app.js\">"));
        assert!(answer.head.to_ascii_lowercase().contains("referrer-policy: no-referrer"), "{}", answer.head);
    }
    let origin = format!("http://{own}");
    let answer = raw_http(addr, &page, &[("Host", &own), ("Origin", &origin)]).await;
    assert_eq!(answer.status, 200, "the page with its own origin");
    for asset in ["/app.js", "/style.css"] {
        let answer = raw_http(addr, &get(asset), &[("Host", &own)]).await;
        assert_eq!(answer.status, 200, "{asset} needs no key: it has no call data");
        let text = String::from_utf8_lossy(&answer.body);
        assert!(SECRETS.iter().all(|s| !text.contains(s)), "{asset} has call data");
    }
    ui.shutdown().await.expect("stopping the web UI");
}

/// Cross-site WebSocket hijacking: handshakes with forged `Origin` and `Host`, and without
/// or with a wrong key, are refused before a socket exists, so nothing is read and nothing
/// is sent (the issue's page muted the user, ended the call and started a recording). The
/// same client with the key and the server's own origin, or with no origin at all as a
/// non-browser client, gets the call and drives it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hostile_websocket_handshake_is_refused() {
    let (ui, mut inputs) = live_ui(WebUiConfig::on_port(0)).await;
    let addr = ui.local_addr();
    let port = addr.port();
    let key = format!("?key={}", ui.access_key());
    let wrong = format!("?key={}", "f".repeat(ui.access_key().len()));
    let own = format!("127.0.0.1:{port}");
    let own_origin = format!("http://{own}");
    let evil_host = format!("evil.example:{port}");
    let evil_origin_port = format!("http://evil.example:{port}");
    let other_port = format!("http://127.0.0.1:{}", port.wrapping_add(1).max(1));
    let https = format!("https://{own}");
    let localhost_origin = format!("http://localhost:{port}");
    let lan_host = format!("192.0.2.10:{port}");
    let lan_origin = format!("http://{lan_host}");

    let hostile: Vec<(&str, &str, &str, Vec<&str>)> = vec![
        ("the issue's page: another origin, no key", "", &own, vec!["http://evil.example"]),
        ("another origin with the key", &key, &own, vec!["http://evil.example"]),
        ("another origin with a wrong key", &wrong, &own, vec!["http://evil.example"]),
        ("a sandboxed frame or a file (Origin: null) with the key", &key, &own, vec!["null"]),
        ("another port's page with the key", &key, &own, vec![&other_port]),
        ("an https page of the same host with the key", &key, &own, vec![&https]),
        ("a page of localhost opening 127.0.0.1, with the key", &key, &own, vec![&localhost_origin]),
        (
            "DNS rebinding: a rebound name and its origin, with the key",
            &key,
            &evil_host,
            vec![&evil_origin_port],
        ),
        ("a rebound name without an origin, with the key", &key, &evil_host, vec![]),
        ("a LAN address without the opt-in, with the key", &key, &lan_host, vec![&lan_origin]),
        (
            "two origins, the own one first, with the key",
            &key,
            &own,
            vec![&own_origin, "http://evil.example"],
        ),
        ("the own origin without the key", "", &own, vec![&own_origin]),
        ("the own origin with a wrong key", &wrong, &own, vec![&own_origin]),
        ("no origin (not a browser) without the key", "", &own, vec![]),
        ("no origin (not a browser) with a wrong key", &wrong, &own, vec![]),
    ];
    let mut refused = 0;
    for (what, query, host, origins) in &hostile {
        match ws_attempt(addr, query, host, origins).await {
            Ok(mut socket) => {
                let _ = socket.close(None).await;
                panic!("{what}: the socket was let through");
            }
            Err(answer) => {
                assert_refused(what, &answer);
                refused += 1;
            }
        }
    }
    assert_eq!(refused, hostile.len());
    println!("{refused} of {} hostile WebSocket handshakes refused", hostile.len());
    assert_untouched(&ui, &mut inputs);

    // The controls: the page's own origin with the key, and a non-browser client with the
    // key and no origin, both get the call and can press a button.
    for (what, origins) in [("the own origin", vec![own_origin.as_str()]), ("no origin", vec![])] {
        let mut socket = ws_attempt(addr, &key, &own, &origins)
            .await
            .unwrap_or_else(|answer| panic!("{what} with the key was refused: {answer:?}"));
        let mut seen = String::new();
        let mut frames = 0;
        let deadline = tokio::time::Instant::now() + WAIT;
        while !(seen.contains("zelda-uid") && seen.contains("board-meeting-title") && frames > 0) {
            let message = tokio::time::timeout_at(deadline, socket.next())
                .await
                .unwrap_or_else(|_| panic!("{what}: the call never arrived; got {seen}"))
                .expect("the socket is open")
                .expect("a message");
            match message {
                Message::Text(text) => seen.push_str(text.as_str()),
                Message::Binary(_) => frames += 1,
                _ => {}
            }
        }
        socket
            .send(Message::text(r#"{"input":"button_pressed","id":"mute_audio"}"#))
            .await
            .expect("sending a press");
        let input =
            tokio::time::timeout(WAIT, inputs.recv()).await.expect("the press arrives").expect("open");
        assert_eq!(input, UiInput::ButtonPressed { id: "mute_audio".into() }, "{what}");
        socket.close(None).await.expect("closing");
    }
    ui.shutdown().await.expect("stopping the web UI");
}

/// Opted in to a remote listen address, the server takes the IP address it is browsed at
/// (here a LAN address in `Host`, the connection itself stays on loopback), but still
/// needs the key and still refuses DNS names and other origins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_server_takes_its_address_but_nothing_else() {
    let config = WebUiConfig {
        listen: "0.0.0.0:0".parse().expect("an address"),
        allow_remote: true,
        ..WebUiConfig::default()
    };
    let (ui, mut inputs) = live_ui(config).await;
    let port = ui.local_addr().port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    assert_eq!(ui.url(), format!("http://127.0.0.1:{port}/?key={}", ui.access_key()));
    let page = format!("GET /?key={} HTTP/1.1", ui.access_key());
    let lan = format!("192.0.2.10:{port}");
    let answer = raw_http(addr, &page, &[("Host", &lan)]).await;
    assert_eq!(answer.status, 200, "the opted-in address:\n{}", answer.head);

    let evil = format!("evil.example:{port}");
    let lan_origin = format!("http://{lan}");
    let hostile: Vec<HttpCase<'_>> = vec![
        ("the page at the address without the key", "GET / HTTP/1.1".into(), vec![("Host", &lan)]),
        ("the page under a DNS name", page.clone(), vec![("Host", &evil)]),
        (
            "the page from another origin",
            page.clone(),
            vec![("Host", &lan), ("Origin", "http://evil.example")],
        ),
    ];
    for (what, line, headers) in &hostile {
        assert_refused(what, &raw_http(addr, line, headers).await);
    }
    let key = format!("?key={}", ui.access_key());
    let socket = ws_attempt(addr, &key, &lan, &[&lan_origin]).await;
    let mut socket = socket.unwrap_or_else(|answer| panic!("the socket at the address: {answer:?}"));
    socket.close(None).await.expect("closing");
    match ws_attempt(addr, &key, &lan, &["http://evil.example"]).await {
        Ok(_) => panic!("another origin's socket was let through"),
        Err(answer) => assert_refused("another origin's socket", &answer),
    }
    println!("{} of {} hostile requests to an opted-in server refused", hostile.len() + 1, hostile.len() + 1);
    // The one socket let through sent nothing.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_untouched(&ui, &mut inputs);
    ui.shutdown().await.expect("stopping the web UI");
}

/// Serves `html` to every request on a new loopback port: the attacker's site.
async fn hostile_site(html: String) -> (u16, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binding the hostile site");
    let port = listener.local_addr().expect("its address").port();
    let task = tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let html = html.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tcp.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{html}",
                    html.len()
                );
                let _ = tcp.write_all(response.as_bytes()).await;
            });
        }
    });
    (port, task)
}

/// The issue's attack in real Chromium: a page of another site, open in the same browser
/// (and given the key, the worst case), opens the UI's socket four ways and would mute,
/// end and record at once; a DNS name rebound to 127.0.0.1 loads the page; the page is
/// opened without its key and with a wrong one. All refused, and the call sees nothing;
/// then the printed URL in the same browser draws the call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_site_in_chromium_cannot_watch_or_drive_the_call() {
    let _permit = BROWSERS.acquire().await.expect("the browser semaphore is never closed");
    let (ui, mut inputs) = live_ui(WebUiConfig::on_port(0)).await;
    let port = ui.local_addr().port();
    let key = ui.access_key().to_owned();
    let targets = [
        format!("ws://127.0.0.1:{port}/ws"),
        format!("ws://127.0.0.1:{port}/ws?key={key}"),
        format!("ws://localhost:{port}/ws?key={key}"),
        format!("ws://evil.example:{port}/ws?key={key}"),
    ];
    let script = format!(
        "window.attempts = {targets:?}.map((url) => {{\n\
           const attempt = {{ url, opened: false, messages: 0, closed: false }};\n\
           const ws = new WebSocket(url);\n\
           ws.onopen = () => {{\n\
             attempt.opened = true;\n\
             for (const id of ['mute_audio', 'end_call', 'record']) ws.send(JSON.stringify({{ input: 'button_pressed', id }}));\n\
           }};\n\
           ws.onmessage = () => {{ attempt.messages += 1; }};\n\
           ws.onclose = () => {{ attempt.closed = true; }};\n\
           return attempt;\n\
         }});"
    );
    let (site_port, site) =
        hostile_site(format!("<!doctype html><title>evil</title><script>{script}</script>")).await;

    // evil.example resolves to 127.0.0.1 in this browser, as an attacker's DNS would make it.
    let chromium = Chromium::launch_with(
        800,
        600,
        &["host-resolver-rules=MAP evil.example 127.0.0.1", "disable-features=HttpsUpgrades"],
    )
    .await;
    let evil = chromium.open(&format!("http://evil.example:{site_port}/")).await;
    wait_until(
        &evil,
        "window.attempts && window.attempts.every((a) => a.opened || a.closed)",
        "every hostile socket was refused or opened",
    )
    .await;
    #[derive(Debug, serde::Deserialize)]
    struct Attempt {
        url: String,
        opened: bool,
        messages: u32,
    }
    let attempts: Vec<Attempt> = eval_json(&evil, "window.attempts").await;
    assert_eq!(attempts.len(), targets.len());
    for attempt in &attempts {
        let Attempt { url, opened, messages } = attempt;
        assert!(!opened && *messages == 0, "the hostile page got {url}: {messages} messages");
    }
    let mut refused = attempts.len();

    // The page itself: under the rebound name, without its key, with a wrong one.
    let wrong = "0".repeat(key.len());
    for url in [
        format!("http://evil.example:{port}/?key={key}"),
        format!("http://127.0.0.1:{port}/"),
        format!("http://127.0.0.1:{port}/?key={wrong}"),
    ] {
        let page = chromium.open(&url).await;
        let (text, drawn): (String, bool) =
            eval_json(&page, "[document.body.innerText, typeof window.__switchboard !== 'undefined']").await;
        assert!(text.starts_with("forbidden"), "{url} shows {text:?}");
        assert!(!drawn, "{url} ran the call page");
        assert!(SECRETS.iter().all(|s| !text.contains(s)), "{url} shows the call: {text}");
        page.close().await.expect("closing the tab");
        refused += 1;
    }
    println!("{refused} of {} hostile browser requests refused", attempts.len() + 3);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_untouched(&ui, &mut inputs);

    // The printed URL, in the same browser: the call is drawn and its buttons work.
    let page = chromium.open(&ui.url()).await;
    wait_until(&page, "document.body.dataset.views >= 1", "the page drew the call").await;
    wait_until(&page, "window.__switchboard.frames['zelda-uid'] >= 1", "the page drew the frame").await;
    let first = tokio::time::timeout(WAIT, inputs.recv()).await.expect("the window size").expect("open");
    assert!(matches!(first, UiInput::WindowResized { .. }), "{first:?}");
    page.find_element("[data-testid=\"button-mute_audio\"]")
        .await
        .expect("the mute button")
        .click()
        .await
        .expect("clicking mute");
    let input = loop {
        match tokio::time::timeout(WAIT, inputs.recv()).await.expect("the press arrives").expect("open") {
            UiInput::WindowResized { .. } => continue,
            other => break other,
        }
    };
    assert_eq!(input, UiInput::ButtonPressed { id: "mute_audio".into() });
    assert_eq!(ui.handle().connected_pages(), 1, "only the page at the printed URL is connected");
    chromium.close().await;
    site.abort();
    ui.shutdown().await.expect("stopping the web UI");
}
