//! The HTTP routes of the web UI and the WebSocket loop of one page.
//!
//! Every request passes [`guard`] (the rules of [`super::access`]) before any route.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt;
use futures_util::{SinkExt, StreamExt};
use switchboard_core::view::UiInput;
use tokio::sync::watch;

use super::Shared;
use super::protocol::{self, ServerMessage};

const INDEX_HTML: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const STYLE_CSS: &str = include_str!("assets/style.css");

/// Serves until `shutdown` turns true.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let router = Router::new()
        .route("/", get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }))
        .route("/app.js", get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }))
        .route("/style.css", get(|| async { asset("text/css; charset=utf-8", STYLE_CSS) }))
        .route("/ws", get(websocket))
        .layer(middleware::from_fn_with_state(Arc::clone(&shared), guard))
        .with_state(shared);
    // Input messages are tiny; without TCP_NODELAY a frame still in flight would hold a
    // small view message back behind Nagle's algorithm.
    let listener = listener.tap_io(|tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "setting TCP_NODELAY on a web UI connection");
        }
    });
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            // An Err means the WebUi is gone, which is a shutdown too.
            let _ = shutdown.wait_for(|stop| *stop).await;
        })
        .await
}

/// Refuses, with a plain 403, whatever the access rules do not let through; to the rest
/// adds headers that keep the key in the page's URL from leaking (no `Referer` to the
/// images a view names) and the page out of other sites' frames.
async fn guard(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    if let Err(refusal) = shared.guard.check(request.uri(), request.headers()) {
        // The path only: the query may hold a guess at the key, or the key itself.
        tracing::warn!(path = request.uri().path(), "web UI refused a request: {refusal}");
        return forbidden();
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("frame-ancestors 'none'"));
    response
}

/// The answer to every refused request, the WebSocket handshake included: nothing of the
/// call, and the same whichever rule refused it.
fn forbidden() -> Response {
    (
        StatusCode::FORBIDDEN,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8"), (header::CACHE_CONTROL, "no-store")],
        "forbidden: open the web UI at the address it printed, key included\n",
    )
        .into_response()
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    // no-store: the page and its scripts are embedded in the binary, and a page cached
    // from an older binary would speak an older protocol.
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "no-store")], body).into_response()
}

async fn websocket(ws: WebSocketUpgrade, State(shared): State<Arc<Shared>>) -> Response {
    ws.on_upgrade(move |socket| page_loop(socket, shared))
}

/// Counts a page as connected for as long as it lives.
struct PageCount(Arc<Shared>);

impl PageCount {
    fn new(shared: Arc<Shared>) -> Self {
        shared.pages.fetch_add(1, Ordering::Relaxed);
        Self(shared)
    }
}

impl Drop for PageCount {
    fn drop(&mut self) {
        self.0.pages.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Why a page connection ended.
#[derive(Debug)]
enum PageEnd {
    Closed,
    Shutdown,
    Socket(axum::Error),
}

impl From<axum::Error> for PageEnd {
    fn from(error: axum::Error) -> Self {
        Self::Socket(error)
    }
}

async fn page_loop(socket: WebSocket, shared: Arc<Shared>) {
    let _count = PageCount::new(Arc::clone(&shared));
    match run_page(socket, &shared).await {
        PageEnd::Closed | PageEnd::Shutdown => tracing::debug!("web UI page disconnected"),
        PageEnd::Socket(error) => tracing::debug!(%error, "web UI page connection failed"),
    }
}

async fn run_page(socket: WebSocket, shared: &Shared) -> PageEnd {
    let (mut tx, mut rx) = socket.split();
    let mut view = shared.view.subscribe();
    let mut info = shared.info.subscribe();
    let mut frames = shared.frames.subscribe();
    let mut shutdown = shared.shutdown.clone();
    // Marking every channel changed sends the current state in the loop's first turns,
    // so a page that connects late, or reloads, draws the call as it is now.
    view.mark_changed();
    info.mark_changed();
    frames.mark_changed();
    let mut sent_frames: HashMap<String, u64> = HashMap::new();

    let hello = ServerMessage::Hello { protocol: protocol::PROTOCOL_VERSION };
    let hello = serde_json::to_string(&hello).expect("the hello message serializes");
    if let Err(error) = tx.send(Message::Text(hello.into())).await {
        return error.into();
    }

    loop {
        let result: Result<(), PageEnd> = tokio::select! {
            incoming = rx.next() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    forward_input(shared, text.as_str()).await;
                    Ok(())
                }
                Some(Ok(Message::Close(_))) | None => Err(PageEnd::Closed),
                // Pings are answered by axum; binary input is not part of the protocol.
                Some(Ok(_)) => Ok(()),
                Some(Err(error)) => Err(error.into()),
            },
            changed = view.changed() => match changed {
                Ok(()) => {
                    let json = view.borrow_and_update().clone();
                    send_text(&mut tx, json).await
                }
                Err(_) => Err(PageEnd::Shutdown),
            },
            changed = info.changed() => match changed {
                Ok(()) => {
                    let json = info.borrow_and_update().clone();
                    send_text(&mut tx, json).await
                }
                Err(_) => Err(PageEnd::Shutdown),
            },
            changed = frames.changed() => match changed {
                Ok(()) => {
                    let set = Arc::clone(&frames.borrow_and_update());
                    send_frames(&mut tx, &set, &mut sent_frames).await
                }
                Err(_) => Err(PageEnd::Shutdown),
            },
            () = async {
                // The read guard wait_for returns is dropped here, inside the branch's own
                // future: held across the send below it would block the watch's sender.
                let _ = shutdown.wait_for(|stop| *stop).await;
            } => {
                // Best effort: the page shows "disconnected" either way.
                let _ = tx.send(Message::Close(None)).await;
                Err(PageEnd::Shutdown)
            },
        };
        if let Err(end) = result {
            return end;
        }
    }
}

type PageSink = futures_util::stream::SplitSink<WebSocket, Message>;

async fn send_text(tx: &mut PageSink, json: Option<Arc<str>>) -> Result<(), PageEnd> {
    match json {
        Some(json) => Ok(tx.send(Message::Text(Utf8Bytes::from(&*json))).await?),
        None => Ok(()),
    }
}

/// Sends the frames the page has not seen yet, and clears the ones that are gone.
async fn send_frames(
    tx: &mut PageSink,
    set: &super::FrameSet,
    sent: &mut HashMap<String, u64>,
) -> Result<(), PageEnd> {
    for (uid, frame) in set.iter() {
        if sent.get(uid) != Some(&frame.seq) {
            tx.send(Message::Binary(frame.message.clone())).await?;
            sent.insert(uid.clone(), frame.seq);
        }
    }
    let gone: Vec<String> = sent.keys().filter(|uid| !set.contains_key(*uid)).cloned().collect();
    for uid in gone {
        sent.remove(&uid);
        let message = ServerMessage::FrameCleared { uid };
        let json = serde_json::to_string(&message).expect("a frame-cleared message serializes");
        tx.send(Message::Text(json.into())).await?;
    }
    Ok(())
}

async fn forward_input(shared: &Shared, text: &str) {
    match protocol::decode_input(text) {
        Ok(UiInput::Unknown) => tracing::warn!(message = text, "ignoring an unknown UI input from a page"),
        Ok(input) => {
            // Awaiting here slows this page down when the session lags, rather than
            // dropping a click; the session dropping its receiver only loses input.
            if shared.inputs.send(input).await.is_err() {
                tracing::debug!("UI input arrived after the session stopped listening");
            }
        }
        Err(error) => tracing::warn!(%error, message = text, "ignoring a malformed UI input from a page"),
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::super::{CallInfo, WebUi, WebUiConfig};

    /// Sends `head` (the request line and headers, without the blank line) on a new
    /// connection and returns everything the server answers before it closes or 2 s pass.
    async fn raw(addr: std::net::SocketAddr, head: &str) -> String {
        let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connecting");
        tcp.write_all(format!("{head}\r\nConnection: close\r\n\r\n").as_bytes()).await.expect("writing");
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
        // A WebSocket that was let through stays open: read what came, then stop.
        while let Ok(Ok(n)) = tokio::time::timeout_at(deadline, tcp.read(&mut buf)).await {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    fn upgrade(path: &str, host: &str, origin: &str) -> String {
        format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nOrigin: {origin}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="
        )
    }

    #[tokio::test]
    async fn refusals_are_plain_403s_and_the_page_gets_its_headers() {
        let (ui, _inputs) = WebUi::start(WebUiConfig::default()).await.expect("start");
        ui.set_call_info(CallInfo { title: "secret-title".into(), status: "secret-status".into() });
        let addr = ui.local_addr();
        let host = addr.to_string();
        let key = ui.access_key().to_owned();

        let page = raw(addr, &format!("GET /?key={key} HTTP/1.1\r\nHost: {host}")).await;
        assert!(page.starts_with("HTTP/1.1 200"), "{page}");
        assert!(page.contains("referrer-policy: no-referrer"), "{page}");
        assert!(page.contains("frame-ancestors 'none'"), "{page}");
        assert!(page.contains("<script src=\"/app.js\">"), "{page}");

        let refused = [
            format!("GET / HTTP/1.1\r\nHost: {host}"),
            format!("GET /?key={key} HTTP/1.1\r\nHost: evil.example:{}", addr.port()),
            format!("GET /app.js HTTP/1.1\r\nHost: {host}\r\nOrigin: http://evil.example"),
            upgrade("/ws", &host, &format!("http://{host}")),
            upgrade(&format!("/ws?key={key}"), &host, "http://evil.example"),
        ];
        for head in &refused {
            let answer = raw(addr, head).await;
            assert!(answer.starts_with("HTTP/1.1 403"), "{head}\n->\n{answer}");
            assert!(answer.contains("content-type: text/plain"), "{answer}");
            assert!(!answer.contains("secret-"), "call data in a refusal: {answer}");
        }
        assert_eq!(ui.handle().connected_pages(), 0);

        let socket = raw(addr, &upgrade(&format!("/ws?key={key}"), &host, &format!("http://{host}"))).await;
        assert!(socket.starts_with("HTTP/1.1 101"), "{socket}");
        assert!(socket.contains("secret-title"), "the socket sends the call info: {socket}");
        ui.shutdown().await.expect("shutdown");
    }
}
