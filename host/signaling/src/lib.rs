//! switchboard-signaling: the signaling server and token issuer (`switchboard serve`),
//! and its client.
//!
//! The server and the tokens are behind the `server` feature; the protocol and the client
//! are always built. Neither needs WebRTC or any media library: offers, answers and
//! candidates are opaque JSON here.
//!
//! - `tokens` (feature `server`): users, opaque user auth tokens, and call tokens (HS256 JWTs bound to one
//!   session and one user, with an expiry).
//! - [`protocol`]: the JSON messages of the room WebSocket and the HTTP bodies.
//! - `server` (feature `server`): the axum server; `start` runs it in-process and returns
//!   a `ServerHandle` with the bound address and a shutdown.
//! - [`client`]: [`SignalingClient`], the async client sessions and `switchboard join` use.
//!
//! The endpoints, all on one port:
//! - `POST /v1/users` (header `x-api-key`) `{uid, name, avatar}` -> `{uid, auth_token}`
//! - `POST /v1/tokens` `{session_id, auth_token}` -> `{session_id, token}`
//! - `GET /v1/sessions/{session_id}` (header `x-api-key`) -> `{session_id, users}`
//! - `GET /v1/ws[?token=..&session_id=..]`: the room WebSocket ([`protocol`]).
//!
//! Refusals carry the seed's codes in a `CallsException` body (`{code, message}`) over
//! HTTP, or as an `error` message followed by a close frame on the WebSocket.

pub mod client;
pub mod protocol;
#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "server")]
pub mod tokens;

pub use client::{ClientError, JoinedRoom, RoomConnection, RoomEvents, RoomSender, SignalingClient};
pub use protocol::{
    API_KEY_HEADER, ClientMessage, MemberState, PROTOCOL_VERSION, SETUP_TRACE, ServerMessage, StateChange,
    signal_kind,
};
#[cfg(feature = "server")]
pub use server::{ServerConfig, ServerError, ServerHandle, start};
#[cfg(feature = "server")]
pub use tokens::{CallClaims, Secret, SecretError, TokenIssuer};
