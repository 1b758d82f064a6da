//! The signaling server: the HTTP token endpoints and the WebSocket rooms, on one port.
//!
//! One axum router serves `POST /v1/users`, `POST /v1/tokens`, `GET /v1/sessions/{id}` and
//! the WebSocket at `GET /v1/ws`. Each WebSocket connection is one task that owns its
//! socket; rooms live in one mutex-guarded map, and every member has a bounded outbound
//! queue that the room writes into while holding the lock, so all members of a room see
//! its events in the same order.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::{Json, Router};
use serde::Deserialize;
use switchboard_core::model::{CallsException, ErrorCode, GenerateToken, RtcUser};
use tokio::sync::{mpsc, watch};

use super::protocol::{
    API_KEY_HEADER, ClientMessage, CreateUserRequest, CreateUserResponse, GenerateTokenRequest, MemberState,
    PROTOCOL_VERSION, SETUP_TRACE, ServerMessage, SessionInfo, StateChange, signal_kind,
};
use super::tokens::{CallClaims, Secret, TokenIssuer, UserDirectory, UserRecord, constant_time_eq};

/// How many messages may wait for one member before the server gives up on it. A member
/// that falls this far behind is removed (as if its socket dropped) rather than letting
/// its queue grow without bound.
const OUTBOUND_QUEUE: usize = 1024;

/// The largest WebSocket message accepted; SDP and ICE payloads are a few kilobytes.
const MAX_MESSAGE_BYTES: usize = 1 << 20;

/// How long a final frame (an error, a close) may take to reach a client that stopped
/// reading, before the connection is dropped without it.
const FINAL_SEND_TIMEOUT: Duration = Duration::from_secs(2);

/// What the server needs to run.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The key admin calls must carry in `x-api-key`.
    pub api_key: String,
    /// The key call tokens are signed with.
    pub secret: Secret,
    /// How long call tokens stay valid.
    pub token_ttl: Duration,
    /// How long a socket may stay open without joining.
    pub join_timeout: Duration,
}

impl ServerConfig {
    /// Default token ttl: one hour.
    pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(3600);
    /// Default join timeout: ten seconds.
    pub const DEFAULT_JOIN_TIMEOUT: Duration = Duration::from_secs(10);

    /// A config with the default ttl and join timeout.
    pub fn new(api_key: impl Into<String>, secret: Secret) -> Self {
        Self {
            api_key: api_key.into(),
            secret,
            token_ttl: Self::DEFAULT_TOKEN_TTL,
            join_timeout: Self::DEFAULT_JOIN_TIMEOUT,
        }
    }
}

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The API key was empty, which would let anyone create users.
    #[error("the API key is empty; admin calls need a non-empty key")]
    EmptyApiKey,
    /// The listening socket could not be bound.
    #[error("could not listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Serving failed.
    #[error("the signaling server on {addr} failed: {source}")]
    Serve {
        /// The address it listened on.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The server task panicked or was cancelled.
    #[error("the signaling server task on {addr} ended abnormally: {message}")]
    Task {
        /// The address it listened on.
        addr: SocketAddr,
        /// What the runtime said.
        message: String,
    },
}

/// A running server. [`ServerHandle::shutdown`] stops it; dropping the handle stops it too.
#[derive(Debug)]
pub struct ServerHandle {
    local_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    all_connections_done: mpsc::Receiver<()>,
}

impl ServerHandle {
    /// The address the server is bound to (the real port when asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `http://ADDR`, the base of the HTTP endpoints.
    pub fn http_url(&self) -> String {
        format!("http://{}", self.local_addr)
    }

    /// `ws://ADDR/v1/ws`, the room WebSocket.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/v1/ws", self.local_addr)
    }

    /// Stops accepting, closes every WebSocket (members get a close frame, no `user_left`
    /// is sent since everyone goes), and returns once every connection has finished.
    pub async fn shutdown(mut self) -> Result<(), ServerError> {
        // A send error means nobody listens any more, which is the goal anyway.
        let _ = self.shutdown.send(true);
        let addr = self.local_addr;
        let served = (&mut self.task).await;
        // Every connection task holds the server state, which holds a sender of this
        // channel; `recv` returns `None` once the last of them is gone.
        while self.all_connections_done.recv().await.is_some() {}
        match served {
            Ok(Ok(())) => Ok(()),
            Ok(Err(source)) => Err(ServerError::Serve { addr, source }),
            Err(err) => Err(ServerError::Task { addr, message: err.to_string() }),
        }
    }
}

/// Binds `addr` and serves the signaling endpoints on the current tokio runtime.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use switchboard_signaling::{Secret, ServerConfig, start};
/// let config = ServerConfig::new("admin-key", Secret::generate()?);
/// let server = start("127.0.0.1:0".parse()?, config).await?;
/// println!("serving on {}", server.ws_url());
/// server.shutdown().await?;
/// # Ok(())
/// # }
/// ```
pub async fn start(addr: SocketAddr, config: ServerConfig) -> Result<ServerHandle, ServerError> {
    if config.api_key.is_empty() {
        return Err(ServerError::EmptyApiKey);
    }
    let listener =
        tokio::net::TcpListener::bind(addr).await.map_err(|source| ServerError::Bind { addr, source })?;
    let local_addr = listener.local_addr().map_err(|source| ServerError::Bind { addr, source })?;
    let (shutdown, shutdown_rx) = watch::channel(false);
    let (alive, all_connections_done) = mpsc::channel(1);
    let state = Arc::new(AppState {
        issuer: TokenIssuer::new(&config.secret, config.token_ttl),
        api_key: config.api_key,
        join_timeout: config.join_timeout,
        users: UserDirectory::default(),
        rooms: Rooms::default(),
        next_connection: AtomicU64::new(1),
        shutdown: shutdown_rx.clone(),
        _alive: alive,
    });
    let app = router(state);
    // Offers, answers and candidates are small messages sent back to back: without
    // TCP_NODELAY the second waits behind Nagle's algorithm for the first one's (delayed)
    // ACK, tens of milliseconds on every relay of a call setup.
    let listener = listener.tap_io(|tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "setting TCP_NODELAY on a signaling connection");
        }
    });
    let serve = axum::serve(listener, app).with_graceful_shutdown(shutdown_requested(shutdown_rx));
    let task = tokio::spawn(async move { serve.await });
    tracing::info!(%local_addr, "signaling server listening");
    Ok(ServerHandle { local_addr, shutdown, task, all_connections_done })
}

/// Resolves once shutdown is asked for, or once the handle is dropped.
async fn shutdown_requested(mut rx: watch::Receiver<bool>) {
    loop {
        if *rx.borrow_and_update() {
            return;
        }
        if rx.changed().await.is_err() {
            return;
        }
    }
}

struct AppState {
    api_key: String,
    issuer: TokenIssuer,
    join_timeout: Duration,
    users: UserDirectory,
    rooms: Rooms,
    next_connection: AtomicU64,
    shutdown: watch::Receiver<bool>,
    /// Dropped with the last clone of the state; see [`ServerHandle::shutdown`].
    _alive: mpsc::Sender<()>,
}

fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/users", post(create_user))
        .route("/v1/tokens", post(generate_token))
        .route("/v1/sessions/{session_id}", get(session_info))
        .route("/v1/ws", get(websocket))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, ErrorCode::Error, "no such endpoint") })
        .with_state(state)
}

// ---------------------------------------------------------------- HTTP

/// A refused HTTP call: a status and a `CallsException` JSON body.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    body: CallsException,
}

impl ApiError {
    fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self { status, body: CallsException::new(code, message) }
    }

    /// The HTTP status that fits a refusal with `body.code`.
    fn from_exception(body: CallsException) -> Self {
        let status = match body.code {
            ErrorCode::SessionIdNull | ErrorCode::UserAuthTokenNull | ErrorCode::InvalidArgument => {
                StatusCode::BAD_REQUEST
            }
            ErrorCode::ApiKeyInvalid
            | ErrorCode::AuthTokenNotFound
            | ErrorCode::TokenInvalid
            | ErrorCode::TokenExpired => StatusCode::UNAUTHORIZED,
            ErrorCode::TokenSessionMismatch => StatusCode::FORBIDDEN,
            ErrorCode::CallSessionNotFound => StatusCode::NOT_FOUND,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self { status, body }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

impl From<CallsException> for ApiError {
    fn from(body: CallsException) -> Self {
        Self::from_exception(body)
    }
}

fn check_api_key(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let given = headers.get(API_KEY_HEADER).map(|v| v.as_bytes()).unwrap_or_default();
    if constant_time_eq(given, state.api_key.as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::ApiKeyInvalid,
            "the API key is missing or wrong",
        ))
    }
}

/// Decodes a JSON body ourselves rather than with axum's `Json` extractor, so a bad body
/// is answered with a `CallsException` like every other refusal.
fn parse_body<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|err| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidArgument,
            format!("the body is not valid JSON: {err}"),
        )
    })
}

async fn create_user(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<CreateUserResponse>, ApiError> {
    check_api_key(&state, &headers)?;
    let request: CreateUserRequest = parse_body(&body)?;
    if request.uid.is_empty() {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidArgument, "uid is empty"));
    }
    // A user always has a name to show; the uid stands in when none is given.
    let name = if request.name.is_empty() { request.uid.clone() } else { request.name };
    let user = UserRecord { uid: request.uid.clone(), name, avatar: request.avatar };
    let auth_token = state.users.create(user)?;
    tracing::info!(uid = %request.uid, "user created");
    Ok(Json(CreateUserResponse { uid: request.uid, auth_token }))
}

async fn generate_token(
    State(state): State<Arc<AppState>>,
    body: Bytes,
) -> Result<Json<GenerateToken>, ApiError> {
    let request: GenerateTokenRequest = parse_body(&body)?;
    let session_id = request.session_id.filter(|s| !s.is_empty()).ok_or_else(|| {
        ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::SessionIdNull, "no session id was given")
    })?;
    let auth_token = request.auth_token.filter(|s| !s.is_empty()).ok_or_else(|| {
        ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::UserAuthTokenNull, "no user auth token was given")
    })?;
    let user = state.users.lookup(&auth_token).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::AuthTokenNotFound,
            "the user auth token is not known",
        )
    })?;
    let token = state.issuer.issue(&user, &session_id)?;
    Ok(Json(GenerateToken { session_id, token }))
}

async fn session_info(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(session_id): Path<String>,
) -> Result<Json<SessionInfo>, ApiError> {
    check_api_key(&state, &headers)?;
    let users = state.rooms.users(&session_id).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            ErrorCode::CallSessionNotFound,
            format!("no one is in session `{session_id}`"),
        )
    })?;
    Ok(Json(SessionInfo { session_id, users }))
}

// ---------------------------------------------------------------- WebSocket

/// `GET /v1/ws?token=...&session_id=...`: both optional; without a token the first
/// message must be `join`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct WsQuery {
    token: Option<String>,
    session_id: Option<String>,
}

async fn websocket(
    ws: WebSocketUpgrade,
    State(state): State<Arc<AppState>>,
    Query(query): Query<WsQuery>,
) -> Response {
    ws.max_message_size(MAX_MESSAGE_BYTES).on_upgrade(move |socket| connection(socket, state, query))
}

/// Why a connection's main loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exit {
    /// The member sent `leave`.
    Leave,
    /// The member sent `end_call`.
    EndCall,
    /// The socket closed or failed, or the room dropped the member.
    Gone,
    /// The server is shutting down.
    Shutdown,
}

/// One WebSocket, from upgrade to close.
async fn connection(mut socket: WebSocket, state: Arc<AppState>, query: WsQuery) {
    let shutdown = shutdown_requested(state.shutdown.clone());
    tokio::pin!(shutdown);

    let join = match query.token {
        Some(token) => JoinRequest { token, session_id: query.session_id, version: None, offer: None },
        None => {
            let first = tokio::select! {
                first = first_join(&mut socket, state.join_timeout) => first,
                () = &mut shutdown => Err(None),
            };
            match first {
                Ok(join) => join,
                Err(Some(refusal)) => {
                    tracing::info!(code = %refusal.code, "join refused: {}", refusal.message);
                    reject(socket, refusal).await;
                    return;
                }
                Err(None) => return,
            }
        }
    };
    let claims = match authorize(&state.issuer, &join) {
        Ok(claims) => claims,
        Err(refusal) => {
            tracing::info!(code = %refusal.code, "join refused: {}", refusal.message);
            reject(socket, refusal).await;
            return;
        }
    };

    let resource = format!("c{}", state.next_connection.fetch_add(1, Ordering::Relaxed));
    let user = RtcUser {
        uid: claims.sub,
        name: claims.name,
        avatar: claims.avatar,
        resource: resource.clone(),
        joined_at: now_ms(),
    };
    let session_id = claims.sid;
    let (tx, mut rx) = mpsc::channel(OUTBOUND_QUEUE);
    state.rooms.join(&session_id, user.clone(), tx, join.offer);
    tracing::info!(session = %session_id, uid = %user.uid, %resource, "joined");

    let exit = loop {
        tokio::select! {
            outbound = rx.recv() => match outbound {
                Some(msg) => {
                    if send_json(&mut socket, &msg).await.is_err() {
                        break Exit::Gone;
                    }
                }
                // The room dropped this member (it fell too far behind).
                None => break Exit::Gone,
            },
            inbound = socket.recv() => {
                let text = match inbound {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Binary(_))) => {
                        let refusal = ServerMessage::Error {
                            code: ErrorCode::InvalidArgument,
                            message: "binary frames are not part of the protocol; send JSON text".into(),
                        };
                        if send_json(&mut socket, &refusal).await.is_err() {
                            break Exit::Gone;
                        }
                        continue;
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break Exit::Gone,
                };
                match handle_message(&state, &session_id, &resource, text.as_str()) {
                    Ok(None) => {}
                    Ok(Some(exit)) => break exit,
                    Err(refusal) => {
                        let reply = ServerMessage::Error { code: refusal.code, message: refusal.message };
                        if send_json(&mut socket, &reply).await.is_err() {
                            break Exit::Gone;
                        }
                    }
                }
            }
            () = &mut shutdown => break Exit::Shutdown,
        }
    };

    match exit {
        Exit::EndCall => state.rooms.leave(&session_id, &resource, true),
        Exit::Leave | Exit::Gone => state.rooms.leave(&session_id, &resource, false),
        // Everyone is going; telling each member about the others would only race the
        // close frames.
        Exit::Shutdown => state.rooms.forget(&session_id, &resource),
    }
    tracing::info!(session = %session_id, uid = %user.uid, %resource, ?exit, "left");
    if exit != Exit::Gone {
        let code = if exit == Exit::Shutdown { close_code::AWAY } else { close_code::NORMAL };
        close(socket, code, "bye").await;
    }
}

/// The fields of a join, from the URL or from the first message.
#[derive(Debug)]
struct JoinRequest {
    token: String,
    session_id: Option<String>,
    version: Option<u32>,
    /// The offer that came with the join, for the member in the room the longest.
    offer: Option<serde_json::Value>,
}

/// Waits for the first message, which must be `join`. `Err(Some(refusal))` is to be sent
/// before closing; `Err(None)` means the client already went away.
async fn first_join(
    socket: &mut WebSocket,
    timeout: Duration,
) -> Result<JoinRequest, Option<CallsException>> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let Ok(inbound) = tokio::time::timeout_at(deadline, socket.recv()).await else {
            let message = format!("no join message within {} s", timeout.as_secs());
            return Err(Some(CallsException::new(ErrorCode::InvalidState, message)));
        };
        let text = match inbound {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(Message::Binary(_))) => {
                let message = "the first message must be a JSON join";
                return Err(Some(CallsException::new(ErrorCode::InvalidArgument, message)));
            }
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return Err(None),
        };
        return match serde_json::from_str::<ClientMessage>(text.as_str()) {
            Ok(ClientMessage::Join { token, session_id, version, offer }) => {
                Ok(JoinRequest { token, session_id, version, offer })
            }
            Ok(_) => {
                Err(Some(CallsException::new(ErrorCode::InvalidState, "the first message must be join")))
            }
            Err(err) => {
                Err(Some(CallsException::new(ErrorCode::InvalidArgument, format!("bad join message: {err}"))))
            }
        };
    }
}

/// Checks a join: protocol version, session id, token signature and expiry, and that the
/// token is for the session asked for.
fn authorize(issuer: &TokenIssuer, join: &JoinRequest) -> Result<CallClaims, CallsException> {
    if let Some(version) = join.version.filter(|v| *v != PROTOCOL_VERSION) {
        return Err(CallsException::new(
            ErrorCode::InvalidArgument,
            format!("protocol version {version} is not supported; this server speaks {PROTOCOL_VERSION}"),
        ));
    }
    if join.session_id.as_deref() == Some("") {
        return Err(CallsException::new(ErrorCode::SessionIdNull, "the session id is empty"));
    }
    let claims = issuer.verify(&join.token)?;
    match join.session_id.as_deref() {
        Some(asked) if asked != claims.sid => Err(CallsException::new(
            ErrorCode::TokenSessionMismatch,
            format!("the call token is for session `{}`, not `{asked}`", claims.sid),
        )),
        _ => Ok(claims),
    }
}

/// Acts on one message from a joined member. `Ok(Some(exit))` ends the connection; an
/// error is answered on the socket and the member stays.
fn handle_message(
    state: &AppState,
    session_id: &str,
    resource: &str,
    text: &str,
) -> Result<Option<Exit>, CallsException> {
    let msg: ClientMessage = serde_json::from_str(text)
        .map_err(|err| CallsException::new(ErrorCode::InvalidArgument, format!("bad message: {err}")))?;
    match msg {
        ClientMessage::Signal { to, payload } => {
            trace_relay(&payload);
            state.rooms.relay(session_id, resource, &to, payload)?;
            Ok(None)
        }
        ClientMessage::State { change: StateChange::Unknown } => {
            Err(CallsException::new(ErrorCode::InvalidArgument, "unknown state change kind"))
        }
        ClientMessage::State { change } => {
            state.rooms.change_state(session_id, resource, change)?;
            Ok(None)
        }
        ClientMessage::Leave => Ok(Some(Exit::Leave)),
        ClientMessage::EndCall => Ok(Some(Exit::EndCall)),
        ClientMessage::Join { .. } => Err(CallsException::new(ErrorCode::InvalidState, "already joined")),
        ClientMessage::Unknown => {
            Err(CallsException::new(ErrorCode::InvalidArgument, "unknown message type"))
        }
    }
}

/// A step of call setup (see [`SETUP_TRACE`]).
fn trace_relay(payload: &serde_json::Value) {
    tracing::debug!(target: SETUP_TRACE, stage = "server relays", kind = signal_kind(payload));
}

async fn send_json(socket: &mut WebSocket, msg: &ServerMessage) -> Result<(), axum::Error> {
    let text = serde_json::to_string(msg).expect("server messages always serialize");
    socket.send(Message::Text(text.into())).await
}

/// Sends a fatal error, bounded in time, without closing.
async fn send_final(socket: &mut WebSocket, refusal: CallsException) {
    let msg = ServerMessage::Error { code: refusal.code, message: refusal.message };
    let _ = tokio::time::timeout(FINAL_SEND_TIMEOUT, send_json(socket, &msg)).await;
}

/// Refuses a join: an `error` message, then a close frame (policy violation).
async fn reject(mut socket: WebSocket, refusal: CallsException) {
    send_final(&mut socket, refusal).await;
    close(socket, close_code::POLICY, "join refused").await;
}

/// Sends a close frame (bounded in time) and drops the socket.
async fn close(mut socket: WebSocket, code: u16, reason: &str) {
    let frame = Message::Close(Some(CloseFrame { code, reason: reason.into() }));
    let _ = tokio::time::timeout(FINAL_SEND_TIMEOUT, socket.send(frame)).await;
}

fn now_ms() -> u64 {
    // A clock before 1970 is a broken machine; 0 keeps the join going.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

// ---------------------------------------------------------------- rooms

/// Every session with at least one member. A session's room is created by its first join
/// and removed when its last member leaves.
#[derive(Debug, Default)]
struct Rooms {
    by_session: Mutex<HashMap<String, Room>>,
}

#[derive(Debug, Default)]
struct Room {
    /// In join order.
    members: Vec<Member>,
    /// Who asked to switch the call to video, once someone did: the switch is the whole
    /// call's (every member accepts it), so newcomers join it as a video call.
    switched_to_video_by: Option<RtcUser>,
}

#[derive(Debug)]
struct Member {
    user: RtcUser,
    state: MemberState,
    outbound: mpsc::Sender<ServerMessage>,
}

impl Room {
    fn users(&self) -> Vec<RtcUser> {
        self.members.iter().map(|m| m.user.clone()).collect()
    }

    fn find(&self, resource: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.user.resource == resource)
    }

    /// Queues `msg` for one member; false when its queue is full or gone.
    fn send_to(&self, resource: &str, msg: ServerMessage) -> bool {
        self.find(resource).is_some_and(|m| m.outbound.try_send(msg).is_ok())
    }

    /// Queues `msg` for every member but `except`; returns the members that could not
    /// take it.
    fn broadcast(&self, msg: &ServerMessage, except: Option<&str>) -> Vec<String> {
        self.members
            .iter()
            .filter(|m| Some(m.user.resource.as_str()) != except)
            .filter(|m| m.outbound.try_send(msg.clone()).is_err())
            .map(|m| m.user.resource.clone())
            .collect()
    }

    /// Removes `resource` and tells the others, then does the same for every member that
    /// could not take a message on the way (a full queue means a member is gone).
    fn remove(&mut self, resource: &str) {
        let mut pending = vec![resource.to_owned()];
        while let Some(resource) = pending.pop() {
            let Some(index) = self.members.iter().position(|m| m.user.resource == resource) else {
                continue;
            };
            let gone = self.members.remove(index);
            let msg = ServerMessage::UserLeft { user: gone.user, users: self.users() };
            pending.extend(self.broadcast(&msg, None));
        }
    }
}

impl Rooms {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Room>> {
        // A panic while holding the lock cannot leave a room half-edited in a way that
        // matters more than refusing service forever would.
        self.by_session.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn users(&self, session_id: &str) -> Option<Vec<RtcUser>> {
        self.lock().get(session_id).map(Room::users)
    }

    /// Adds a member: the newcomer gets `joined`, then the others get `user_joined`, all
    /// under the lock so that nothing another member sends can reach the newcomer first.
    /// An `offer` that came with the join goes to the member in the room the longest,
    /// right after its `user_joined`.
    fn join(
        &self,
        session_id: &str,
        user: RtcUser,
        outbound: mpsc::Sender<ServerMessage>,
        offer: Option<serde_json::Value>,
    ) {
        let mut rooms = self.lock();
        let room = rooms.entry(session_id.to_owned()).or_default();
        let resource = user.resource.clone();
        let offered_to = offer.as_ref().and_then(|_| room.members.first()).map(|m| m.user.resource.clone());
        room.members.push(Member {
            state: MemberState { resource: resource.clone(), ..MemberState::default() },
            user: user.clone(),
            outbound,
        });
        let users = room.users();
        let joined = ServerMessage::Joined {
            version: PROTOCOL_VERSION,
            session_id: session_id.to_owned(),
            you: user.clone(),
            users: users.clone(),
            states: room.members.iter().map(|m| m.state.clone()).collect(),
            offered_to: offered_to.clone(),
            switched_to_video_by: room.switched_to_video_by.clone(),
        };
        // The newcomer's queue is empty, so this cannot fail.
        room.send_to(&resource, joined);
        let mut lagging =
            room.broadcast(&ServerMessage::UserJoined { user: user.clone(), users }, Some(&resource));
        if let (Some(to), Some(payload)) = (offered_to, offer) {
            trace_relay(&payload);
            if !lagging.contains(&to) && !room.send_to(&to, ServerMessage::Signal { from: user, payload }) {
                lagging.push(to);
            }
        }
        for resource in lagging {
            room.remove(&resource);
        }
        prune(&mut rooms, session_id);
    }

    /// Takes a member out and tells the others. With `end_call` and exactly two members,
    /// the other first gets `call_ended`. Removes the room when it empties. Does nothing
    /// for a member that is already out.
    fn leave(&self, session_id: &str, resource: &str, end_call: bool) {
        let mut rooms = self.lock();
        let Some(room) = rooms.get_mut(session_id) else {
            return;
        };
        let Some(member) = room.find(resource) else {
            return;
        };
        if end_call && room.members.len() == 2 {
            let by = member.user.clone();
            // A member that cannot take this is removed just below anyway.
            let _ = room.broadcast(&ServerMessage::CallEnded { by }, Some(resource));
        }
        room.remove(resource);
        prune(&mut rooms, session_id);
    }

    /// Takes a member out without telling anyone (server shutdown).
    fn forget(&self, session_id: &str, resource: &str) {
        let mut rooms = self.lock();
        let Some(room) = rooms.get_mut(session_id) else {
            return;
        };
        room.members.retain(|m| m.user.resource != resource);
        prune(&mut rooms, session_id);
    }

    /// Forwards a payload from one member to another, and to no one else.
    fn relay(
        &self,
        session_id: &str,
        from: &str,
        to: &str,
        payload: serde_json::Value,
    ) -> Result<(), CallsException> {
        let mut rooms = self.lock();
        let room = rooms.get_mut(session_id).ok_or_else(not_a_member)?;
        let sender = room.find(from).ok_or_else(not_a_member)?.user.clone();
        if from == to {
            return Err(CallsException::new(ErrorCode::InvalidArgument, "a member cannot signal itself"));
        }
        if room.find(to).is_none() {
            return Err(CallsException::new(
                ErrorCode::InvalidArgument,
                format!("no member with resource `{to}` in session `{session_id}`"),
            ));
        }
        if !room.send_to(to, ServerMessage::Signal { from: sender, payload }) {
            room.remove(to);
        }
        prune(&mut rooms, session_id);
        Ok(())
    }

    /// Records a member's state change and tells the others.
    fn change_state(
        &self,
        session_id: &str,
        resource: &str,
        change: StateChange,
    ) -> Result<(), CallsException> {
        let mut rooms = self.lock();
        let room = rooms.get_mut(session_id).ok_or_else(not_a_member)?;
        if let StateChange::SwitchToVideoAccepted { request_initiated_by } = &change
            && room.find(request_initiated_by).is_none()
        {
            return Err(CallsException::new(
                ErrorCode::InvalidArgument,
                format!("no member with resource `{request_initiated_by}` asked for video"),
            ));
        }
        let member =
            room.members.iter_mut().find(|m| m.user.resource == resource).ok_or_else(not_a_member)?;
        match change {
            StateChange::MuteChanged { muted } => member.state.audio_muted = muted,
            StateChange::VideoPaused { paused } => member.state.video_paused = paused,
            StateChange::RecordingChanged { started } => member.state.recording = started,
            StateChange::SwitchToVideoRequested => {
                room.switched_to_video_by.get_or_insert_with(|| member.user.clone());
            }
            _ => {}
        }
        let msg = ServerMessage::StateChanged { user: member.user.clone(), change };
        for lagging in room.broadcast(&msg, Some(resource)) {
            room.remove(&lagging);
        }
        prune(&mut rooms, session_id);
        Ok(())
    }
}

/// Removes a session's room once it has no members (a departure, or a cascade of members
/// dropped for lagging, can empty it).
fn prune(rooms: &mut HashMap<String, Room>, session_id: &str) {
    if rooms.get(session_id).is_some_and(|room| room.members.is_empty()) {
        rooms.remove(session_id);
    }
}

fn not_a_member() -> CallsException {
    CallsException::new(
        ErrorCode::CallSessionNotFound,
        "this connection is no longer a member of the session",
    )
}
