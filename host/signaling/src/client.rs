//! An async client of the signaling server, for sessions, `switchboard join` and tests.
//!
//! [`SignalingClient`] does the HTTP token flow ([`SignalingClient::create_user`],
//! [`SignalingClient::generate_token`]) and opens rooms ([`SignalingClient::join`]). A
//! joined room is three values: the [`JoinedRoom`] snapshot, a cloneable [`RoomSender`]
//! for outgoing messages, and a [`RoomEvents`] stream of [`ServerMessage`]s. A background
//! task owns the socket; it ends when the server closes it, after [`RoomSender::close`],
//! or once every [`RoomSender`] is dropped.
//!
//! The client speaks plain `http://` and `ws://` only (no TLS is compiled in), which is
//! what a loopback or LAN signaling server needs.
//!
//! ```no_run
//! # async fn demo() -> Result<(), switchboard_signaling::ClientError> {
//! use switchboard_signaling::{ServerMessage, SignalingClient};
//!
//! let client = SignalingClient::new("ws://127.0.0.1:7700")?;
//! let user = client.create_user("admin-key", "alice", "Alice", "").await?;
//! let call = client.generate_token("standup", &user.auth_token).await?;
//! let (joined, sender, mut events) = client.join(&call.token, Some("standup")).await?;
//! // The newcomer offers to everyone already there (everyone but `joined.you`).
//! for peer in joined.users.iter().filter(|u| u.resource != joined.you.resource) {
//!     sender.signal(&peer.resource, serde_json::json!({"sdp": "..."}))?;
//! }
//! while let Some(msg) = events.recv().await {
//!     if let ServerMessage::Signal { from, payload } = msg {
//!         println!("{} says {payload}", from.uid);
//!         break;
//!     }
//! }
//! sender.close().await;
//! # Ok(())
//! # }
//! ```

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use switchboard_core::model::{CallsException, ErrorCode, GenerateToken, RtcUser};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;

use super::protocol::{
    API_KEY_HEADER, ClientMessage, CreateUserRequest, CreateUserResponse, GenerateTokenRequest, MemberState,
    PROTOCOL_VERSION, SETUP_TRACE, ServerMessage, SessionInfo, StateChange,
};

/// How long [`RoomSender::close`] waits for the server to close the socket.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long [`SignalingClient::join`] waits for the answer to `join`.
const JOIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a client call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The server address could not be understood.
    #[error("bad signaling server address `{url}`: {reason}")]
    BadUrl {
        /// The address given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The server refused the call with one of the seed's codes.
    #[error("the signaling server refused: {0}")]
    Refused(CallsException),
    /// The HTTP request did not get an answer.
    #[error("HTTP request to {url} failed: {source}")]
    Http {
        /// The endpoint.
        url: String,
        /// Why.
        source: reqwest::Error,
    },
    /// The server answered something that is not part of the protocol.
    #[error("unexpected answer from {url}: {detail}")]
    Unexpected {
        /// The endpoint.
        url: String,
        /// What came back.
        detail: String,
    },
    /// The WebSocket could not be opened or failed.
    #[error("WebSocket {url} failed: {source}")]
    WebSocket {
        /// The endpoint.
        url: String,
        /// Why.
        source: Box<tokio_tungstenite::tungstenite::Error>,
    },
    /// The room connection is already closed.
    #[error("the room connection is closed")]
    Closed,
}

impl ClientError {
    /// The seed's error code when the server refused, `None` for transport failures.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Self::Refused(exception) => Some(exception.code),
            _ => None,
        }
    }
}

/// A handle on one signaling server: its HTTP endpoints and its room WebSocket.
#[derive(Debug, Clone)]
pub struct SignalingClient {
    http: reqwest::Client,
    http_base: String,
    ws_url: String,
}

impl SignalingClient {
    /// A client of the server at `server`: `ws://HOST:PORT`, `http://HOST:PORT` or
    /// `HOST:PORT`; a path (such as `/v1/ws`) is ignored.
    pub fn new(server: &str) -> Result<Self, ClientError> {
        let bad = |reason: &str| ClientError::BadUrl { url: server.to_owned(), reason: reason.to_owned() };
        let rest = match server.split_once("://") {
            Some(("ws" | "http", rest)) => rest,
            Some(("wss" | "https", _)) => {
                return Err(bad("TLS is not compiled into this client; use ws:// or http://"));
            }
            Some((scheme, _)) => return Err(bad(&format!("unknown scheme `{scheme}`"))),
            None => server,
        };
        let authority = rest.split('/').next().unwrap_or_default();
        if authority.is_empty() {
            return Err(bad("no host"));
        }
        Ok(Self {
            http: reqwest::Client::new(),
            http_base: format!("http://{authority}"),
            ws_url: format!("ws://{authority}/v1/ws"),
        })
    }

    /// `http://HOST:PORT`.
    pub fn http_base(&self) -> &str {
        &self.http_base
    }

    /// `ws://HOST:PORT/v1/ws`.
    pub fn ws_url(&self) -> &str {
        &self.ws_url
    }

    /// Admin: creates (or re-creates) a user and returns its auth token.
    pub async fn create_user(
        &self,
        api_key: &str,
        uid: &str,
        name: &str,
        avatar: &str,
    ) -> Result<CreateUserResponse, ClientError> {
        let body =
            CreateUserRequest { uid: uid.to_owned(), name: name.to_owned(), avatar: avatar.to_owned() };
        let url = format!("{}/v1/users", self.http_base);
        let request = self.http.post(&url).header(API_KEY_HEADER, api_key).json(&body);
        answer(&url, request).await
    }

    /// The seed's `generateToken(sessionId, userAuthToken)`: a call token for one session.
    pub async fn generate_token(
        &self,
        session_id: &str,
        auth_token: &str,
    ) -> Result<GenerateToken, ClientError> {
        let body = GenerateTokenRequest {
            session_id: Some(session_id.to_owned()),
            auth_token: Some(auth_token.to_owned()),
        };
        let url = format!("{}/v1/tokens", self.http_base);
        answer(&url, self.http.post(&url).json(&body)).await
    }

    /// Admin: who is in a session now (`CALL_SESSION_NOT_FOUND` when no one is).
    pub async fn session_info(&self, api_key: &str, session_id: &str) -> Result<SessionInfo, ClientError> {
        let url = format!("{}/v1/sessions/{session_id}", self.http_base);
        answer(&url, self.http.get(&url).header(API_KEY_HEADER, api_key)).await
    }

    /// Opens the room WebSocket and joins with a call token: [`Self::connect`], then
    /// [`RoomConnection::join`] without an offer.
    pub async fn join(
        &self,
        token: &str,
        session_id: Option<&str>,
    ) -> Result<(JoinedRoom, RoomSender, RoomEvents), ClientError> {
        self.connect().await?.join(token, session_id, None).await
    }

    /// Opens the room WebSocket (TCP and the HTTP upgrade) without joining yet, so that a
    /// caller can prepare its first offer meanwhile and send it with the join.
    pub async fn connect(&self) -> Result<RoomConnection, ClientError> {
        let url = self.ws_url.clone();
        // TCP_NODELAY: signaling messages are small and sent back to back (see the server).
        let (socket, _) = tokio_tungstenite::connect_async_with_config(url.as_str(), None, true)
            .await
            .map_err(|source| ClientError::WebSocket { url: url.clone(), source: Box::new(source) })?;
        tracing::debug!(target: SETUP_TRACE, stage = "websocket open");
        Ok(RoomConnection { socket, url })
    }
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// An open room WebSocket that has not joined yet, from [`SignalingClient::connect`].
#[derive(Debug)]
pub struct RoomConnection {
    socket: Socket,
    url: String,
}

impl RoomConnection {
    /// Joins with a call token. `session_id`, when given, must be the token's session. A
    /// refusal comes back as [`ClientError::Refused`] with the server's code.
    ///
    /// `offer`, when given, is a first offer for the member in the room the longest; the
    /// server relays it with the join, and [`JoinedRoom::offered_to`] says who got it
    /// (see `ClientMessage::Join`).
    pub async fn join(
        self,
        token: &str,
        session_id: Option<&str>,
        offer: Option<serde_json::Value>,
    ) -> Result<(JoinedRoom, RoomSender, RoomEvents), ClientError> {
        let Self { mut socket, url } = self;
        let ws_error = |source| ClientError::WebSocket { url: url.clone(), source: Box::new(source) };
        let join = ClientMessage::Join {
            token: token.to_owned(),
            session_id: session_id.map(str::to_owned),
            version: Some(PROTOCOL_VERSION),
            offer,
        };
        socket.send(Message::text(to_json(&join))).await.map_err(ws_error)?;

        let first = tokio::time::timeout(JOIN_TIMEOUT, async {
            loop {
                match socket.next().await {
                    Some(Ok(Message::Text(text))) => return Ok(Some(text)),
                    Some(Ok(Message::Close(_))) | None => return Ok(None),
                    Some(Ok(_)) => continue,
                    Some(Err(err)) => return Err(ws_error(err)),
                }
            }
        })
        .await
        .map_err(|_| ClientError::Unexpected { url: url.clone(), detail: "no answer to join".into() })??;
        let Some(first) = first else {
            return Err(ClientError::Unexpected {
                url,
                detail: "the server closed the socket before joining".into(),
            });
        };
        let joined = match serde_json::from_str::<ServerMessage>(first.as_str()) {
            Ok(ServerMessage::Joined {
                version,
                session_id,
                you,
                users,
                states,
                offered_to,
                switched_to_video_by,
            }) => JoinedRoom { version, session_id, you, users, states, offered_to, switched_to_video_by },
            Ok(ServerMessage::Error { code, message }) => {
                // The server closes right after a refusal; answering its close is a
                // courtesy, so a failure here changes nothing.
                let _ = socket.close(None).await;
                return Err(ClientError::Refused(CallsException::new(code, message)));
            }
            Ok(other) => {
                return Err(ClientError::Unexpected {
                    url,
                    detail: format!("expected joined, got {other:?}"),
                });
            }
            Err(err) => {
                return Err(ClientError::Unexpected { url, detail: format!("bad joined message: {err}") });
            }
        };

        tracing::debug!(target: SETUP_TRACE, stage = "joined", uid = joined.you.uid);
        let (out_tx, out_rx) = mpsc::unbounded_channel();
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (finished_tx, finished_rx) = watch::channel(false);
        tokio::spawn(pump(socket, out_rx, events_tx, finished_tx));
        Ok((
            joined,
            RoomSender { outbound: out_tx, finished: finished_rx },
            RoomEvents { inbound: events_rx },
        ))
    }
}

/// Sends an HTTP request and decodes its JSON answer, or the server's `CallsException`.
async fn answer<T: serde::de::DeserializeOwned>(
    url: &str,
    request: reqwest::RequestBuilder,
) -> Result<T, ClientError> {
    let http_error = |source| ClientError::Http { url: url.to_owned(), source };
    let response = request.send().await.map_err(http_error)?;
    let status = response.status();
    let body = response.bytes().await.map_err(http_error)?;
    if status.is_success() {
        return serde_json::from_slice(&body).map_err(|err| ClientError::Unexpected {
            url: url.to_owned(),
            detail: format!("status {status}, undecodable body: {err}"),
        });
    }
    match serde_json::from_slice::<CallsException>(&body) {
        Ok(exception) => Err(ClientError::Refused(exception)),
        Err(_) => Err(ClientError::Unexpected {
            url: url.to_owned(),
            detail: format!("status {status}: {}", String::from_utf8_lossy(&body)),
        }),
    }
}

fn to_json(msg: &ClientMessage) -> String {
    serde_json::to_string(msg).expect("client messages always serialize")
}

/// What `joined` said: the session, the local member and everyone in the room.
#[derive(Debug, Clone, PartialEq)]
pub struct JoinedRoom {
    /// The protocol version the server speaks.
    pub version: u32,
    /// The session joined.
    pub session_id: String,
    /// The local member, with its `resource` (connection id) and `joined_at`.
    pub you: RtcUser,
    /// Everyone in the room, `you` included, in join order.
    pub users: Vec<RtcUser>,
    /// Everyone's recorded mute/pause/recording state, same order as `users`.
    pub states: Vec<MemberState>,
    /// The `resource` of the member that got the offer the join carried, if any.
    pub offered_to: Option<String>,
    /// Who switched the call to video, if it was switched before this join.
    pub switched_to_video_by: Option<RtcUser>,
}

impl JoinedRoom {
    /// Everyone already in the room but the local member: the peers a newcomer offers to
    /// (`offered_to` has the join's offer already).
    pub fn others(&self) -> impl Iterator<Item = &RtcUser> {
        self.users.iter().filter(|u| u.resource != self.you.resource)
    }
}

/// What the pump task is asked to do.
#[derive(Debug)]
enum Outgoing {
    /// Send a message.
    Message(ClientMessage),
    /// Send a close frame and wait for the server's.
    Close,
}

/// Sends messages into a joined room. Cheap to clone; every clone talks to the same socket.
#[derive(Debug, Clone)]
pub struct RoomSender {
    outbound: mpsc::UnboundedSender<Outgoing>,
    finished: watch::Receiver<bool>,
}

impl RoomSender {
    /// Sends any client message.
    pub fn send(&self, msg: ClientMessage) -> Result<(), ClientError> {
        self.outbound.send(Outgoing::Message(msg)).map_err(|_| ClientError::Closed)
    }

    /// Relays an opaque payload (SDP, ICE) to the member whose `resource` is `to`.
    pub fn signal(&self, to: &str, payload: serde_json::Value) -> Result<(), ClientError> {
        self.send(ClientMessage::Signal { to: to.to_owned(), payload })
    }

    /// Tells the others about a change of the local state.
    pub fn change_state(&self, change: StateChange) -> Result<(), ClientError> {
        self.send(ClientMessage::State { change })
    }

    /// Ends the call: with exactly two members the other gets `call_ended`; otherwise the
    /// same as leaving. The server then closes the socket.
    pub fn end_call(&self) -> Result<(), ClientError> {
        self.send(ClientMessage::EndCall)
    }

    /// Leaves the room; the server then closes the socket.
    pub fn leave(&self) -> Result<(), ClientError> {
        self.send(ClientMessage::Leave)
    }

    /// Leaves cleanly: sends `leave` and a close frame, then waits (at most a few seconds)
    /// until the socket is closed. Safe to call on an already closed connection.
    pub async fn close(&self) {
        // Errors mean the pump is already gone, which is what this waits for anyway.
        let _ = self.outbound.send(Outgoing::Message(ClientMessage::Leave));
        let _ = self.outbound.send(Outgoing::Close);
        self.closed().await;
    }

    /// Waits (at most a few seconds) until the socket is closed, by whichever side.
    pub async fn closed(&self) {
        let mut finished = self.finished.clone();
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, finished.wait_for(|done| *done)).await;
    }

    /// Whether the socket is closed.
    pub fn is_closed(&self) -> bool {
        *self.finished.borrow()
    }
}

/// The messages the server sends to a joined member, in order.
///
/// When the socket ends without the local side having asked (the server went away, the
/// network failed), the last item is a synthetic `Error` with code `SIGNALING_LOST`; after
/// the last item, [`RoomEvents::recv`] returns `None`. It also implements `Stream`.
#[derive(Debug)]
pub struct RoomEvents {
    inbound: mpsc::UnboundedReceiver<ServerMessage>,
}

impl RoomEvents {
    /// The next message, or `None` once the socket is closed and everything was read.
    pub async fn recv(&mut self) -> Option<ServerMessage> {
        self.inbound.recv().await
    }
}

impl futures_util::Stream for RoomEvents {
    type Item = ServerMessage;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<ServerMessage>> {
        self.inbound.poll_recv(cx)
    }
}

/// Owns the socket: writes what the senders queue, reads what the server sends.
async fn pump(
    mut socket: Socket,
    mut outbound: mpsc::UnboundedReceiver<Outgoing>,
    events: mpsc::UnboundedSender<ServerMessage>,
    finished: watch::Sender<bool>,
) {
    // Whether the local side asked for the end (leave, end_call, close, or every sender
    // dropped); if not, the end is reported as SIGNALING_LOST.
    let mut ending = false;
    let mut outbound_open = true;
    let lost: Option<String> = loop {
        tokio::select! {
            cmd = outbound.recv(), if outbound_open => {
                let sent = match cmd {
                    Some(Outgoing::Message(msg)) => {
                        ending |= matches!(msg, ClientMessage::Leave | ClientMessage::EndCall);
                        socket.send(Message::text(to_json(&msg))).await
                    }
                    Some(Outgoing::Close) | None => {
                        ending = true;
                        outbound_open = false;
                        socket.close(None).await
                    }
                };
                if let Err(err) = sent {
                    break (!ending).then(|| format!("sending to the signaling server failed: {err}"));
                }
            }
            inbound = socket.next() => match inbound {
                Some(Ok(Message::Text(text))) => match serde_json::from_str::<ServerMessage>(text.as_str()) {
                    // A dropped receiver only means nobody listens; keep the socket going.
                    Ok(msg) => { let _ = events.send(msg); }
                    Err(err) => tracing::warn!("ignoring an undecodable signaling message: {err}"),
                },
                Some(Ok(Message::Close(frame))) => {
                    let normal = frame.as_ref().is_some_and(|f| u16::from(f.code) == 1000);
                    break (!ending && !normal).then(|| match frame {
                        Some(f) => format!("the signaling server closed the connection ({}: {})", f.code, f.reason),
                        None => "the signaling server closed the connection".to_owned(),
                    });
                }
                Some(Ok(_)) => {}
                Some(Err(err)) => break (!ending).then(|| format!("the signaling connection failed: {err}")),
                None => break (!ending).then(|| "the signaling connection ended".to_owned()),
            },
        }
    };
    if let Some(message) = lost {
        let _ = events.send(ServerMessage::Error { code: ErrorCode::SignalingLost, message });
    }
    // Let tungstenite finish the closing handshake if it started; errors are expected on a
    // dead socket and change nothing.
    let _ = socket.close(None).await;
    let _ = finished.send(true);
}
