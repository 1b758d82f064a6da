//! The HTTP routes of the web UI and the WebSocket loop of one page.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::State;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::http::header;
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
