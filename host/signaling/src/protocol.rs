//! The room protocol: the JSON messages a participant and the signaling server exchange
//! over the WebSocket at `/v1/ws`, and the bodies of the HTTP token endpoints.
//!
//! Every WebSocket frame is one text message holding one JSON object tagged by `"type"`
//! (snake_case), e.g. `{"type":"signal","to":"c7","payload":{...}}`. Decoding tolerates
//! unknown fields, and a message type this build does not know decodes as the `Unknown`
//! variant instead of failing, so an older peer keeps working with a newer one. The
//! protocol version travels in `join` and `joined`; a change that an older peer would
//! misread bumps [`PROTOCOL_VERSION`].

use serde::{Deserialize, Serialize};
use switchboard_core::model::{ErrorCode, RtcUser};

/// The version of the room protocol this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// A message from a participant to the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ClientMessage {
    /// Join the session the call token is bound to. Must be the first message unless the
    /// token was given in the URL (`/v1/ws?token=...`).
    Join {
        /// The call token from `POST /v1/tokens`.
        token: String,
        /// The session to join. When given it must be the token's session
        /// (`TOKEN_SESSION_MISMATCH` otherwise); when absent the token's session is used.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session_id: Option<String>,
        /// The protocol version the client speaks; absent means [`PROTOCOL_VERSION`].
        #[serde(default, skip_serializing_if = "Option::is_none")]
        version: Option<u32>,
        /// A first offer, made while the socket opened, for the member in the room the
        /// longest: the server relays it as a `signal` right after that member's
        /// `user_joined`, and `joined` says who got it (`offered_to`). It saves the
        /// newcomer the round trip of waiting for `joined` before offering. Dropped when
        /// the room is empty. A server that predates it ignores it (no `offered_to`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        offer: Option<serde_json::Value>,
    },
    /// Relay an opaque WebRTC payload (SDP offer or answer, ICE candidate) to one member.
    Signal {
        /// The addressee's `resource` (its connection id, from the user list).
        to: String,
        /// Whatever the peers agree on; the server does not look inside.
        payload: serde_json::Value,
    },
    /// A change of the sender's call state, broadcast to the other members.
    State {
        /// What changed.
        change: StateChange,
    },
    /// Leave the session. The server answers with `user_left` to the others and closes the
    /// socket. Dropping the socket has the same effect.
    Leave,
    /// End the call. With exactly two members the other one receives `call_ended` before
    /// `user_left`; with any other count this is the same as [`ClientMessage::Leave`].
    EndCall,
    /// A message type this build does not know; the server answers with a non-fatal error.
    #[serde(other)]
    Unknown,
}

/// A change of one member's call state.
///
/// The server records mute, pause and recording so that a newcomer learns them in
/// `joined`, and forwards every change to the other members as `state_changed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum StateChange {
    /// The member muted or unmuted its audio (`muteAudio`).
    MuteChanged {
        /// True when its audio is now muted.
        muted: bool,
    },
    /// The member paused or resumed its video (`pauseVideo`).
    VideoPaused {
        /// True when its video is now paused.
        paused: bool,
    },
    /// The member started or stopped recording (`startRecording` / `stopRecording`).
    RecordingChanged {
        /// True when recording started.
        started: bool,
    },
    /// The member asks to switch the audio call to video (`switchToVideoCall`).
    SwitchToVideoRequested,
    /// The member accepts a switch to video asked for by another member.
    SwitchToVideoAccepted {
        /// The `resource` of the member who asked.
        request_initiated_by: String,
    },
    /// A change this build does not know. Its fields are lost in decoding, so the server
    /// cannot forward it and answers with a non-fatal error instead.
    #[serde(other)]
    Unknown,
}

/// The state the server keeps for each member, sent to newcomers in `joined`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MemberState {
    /// The member's `resource`.
    pub resource: String,
    /// Whether its audio is muted.
    pub audio_muted: bool,
    /// Whether its video is paused.
    pub video_paused: bool,
    /// Whether it is recording.
    pub recording: bool,
}

/// A message from the server to a participant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ServerMessage {
    /// The join succeeded. The newcomer sends an offer to every other member listed here
    /// (the mesh convention: newcomers offer, members answer), but `offered_to`, which
    /// already has the offer that came with `join`.
    Joined {
        /// The protocol version the server speaks.
        version: u32,
        /// The session joined.
        session_id: String,
        /// The joining member itself, with its unique `resource` and `joined_at`.
        you: RtcUser,
        /// Everyone now in the session, `you` included, in join order.
        users: Vec<RtcUser>,
        /// The recorded state of every member in `users`, same order.
        #[serde(default)]
        states: Vec<MemberState>,
        /// The `resource` of the member that got the offer carried by `join`, if any; the
        /// newcomer offers to the other members itself.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        offered_to: Option<String>,
        /// Who switched this call to video (`switchToVideoCall`), when it was switched; the
        /// user may have left since. A newcomer whose settings say audio-only joins it as
        /// a video call, as every member did when the switch was asked for. A server that
        /// predates it sends nothing, and the newcomer stays audio-only.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        switched_to_video_by: Option<RtcUser>,
    },
    /// Another member joined; it will send this member an offer (a `signal` that may
    /// follow at once, when the newcomer's `join` carried it).
    UserJoined {
        /// Who joined.
        user: RtcUser,
        /// Everyone now in the session, in join order.
        users: Vec<RtcUser>,
    },
    /// A member left (leave, end call, or a dropped socket).
    UserLeft {
        /// Who left.
        user: RtcUser,
        /// Everyone still in the session, in join order.
        users: Vec<RtcUser>,
    },
    /// A relayed WebRTC payload from another member.
    Signal {
        /// The sender.
        from: RtcUser,
        /// The payload exactly as the sender wrote it.
        payload: serde_json::Value,
    },
    /// Another member's call state changed.
    StateChanged {
        /// Whose state changed.
        user: RtcUser,
        /// What changed.
        change: StateChange,
    },
    /// The other member of a two-member call ended it. `user_left` for it follows.
    CallEnded {
        /// Who ended the call.
        by: RtcUser,
    },
    /// Something was refused. Before a successful join it is fatal (the server closes the
    /// socket right after); after it, it answers one bad message and the member stays.
    Error {
        /// A machine-readable code.
        code: ErrorCode,
        /// What went wrong, for people.
        message: String,
    },
    /// A message type this build does not know; clients ignore it.
    #[serde(other)]
    Unknown,
}

/// Body of `POST /v1/users` (admin, header `x-api-key`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CreateUserRequest {
    /// The user's id.
    pub uid: String,
    /// The display name.
    pub name: String,
    /// An avatar URL, empty when none.
    pub avatar: String,
}

/// Answer of `POST /v1/users`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateUserResponse {
    /// The user's id.
    pub uid: String,
    /// The user auth token that `POST /v1/tokens` takes.
    pub auth_token: String,
}

/// Body of `POST /v1/tokens` (the seed's `generateToken(sessionId, userAuthToken)`).
///
/// Both fields may be absent on the wire so that the server can answer with the seed's
/// `SESSION_ID_NULL` / `USER_AUTH_TOKEN_NULL` instead of a generic decoding error.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GenerateTokenRequest {
    /// The session the token will be bound to.
    pub session_id: Option<String>,
    /// The user auth token from `POST /v1/users`.
    pub auth_token: Option<String>,
}

/// Answer of `GET /v1/sessions/{session_id}` (admin): who is in a session now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// The session.
    pub session_id: String,
    /// Everyone in it, in join order.
    pub users: Vec<RtcUser>,
}

/// The header that carries the admin API key on the HTTP endpoints.
pub const API_KEY_HEADER: &str = "x-api-key";

/// The tracing target of call setup steps: `debug` events with a `stage` field, emitted by
/// the client, the server and the session as a call is set up (and by switchboard-rtc's
/// links under the same target), so a subscriber can time a setup step by step
/// (`RUST_LOG=switchboard::setup=debug`).
pub const SETUP_TRACE: &str = "switchboard::setup";

/// The kind of a relayed signaling payload for setup traces: `offer`, `answer`,
/// `candidate` or `other`. Reads only the shape, never the SDP.
pub fn signal_kind(payload: &serde_json::Value) -> &'static str {
    match payload.get("type").and_then(serde_json::Value::as_str) {
        Some("offer") => "offer",
        Some("answer") => "answer",
        _ if payload.get("candidate").is_some() => "candidate",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_messages_use_snake_case_type_tags() {
        let msg = ClientMessage::State { change: StateChange::MuteChanged { muted: true } };
        let json = serde_json::to_value(&msg).expect("serializes");
        assert_eq!(json, serde_json::json!({"type":"state","change":{"kind":"mute_changed","muted":true}}));
    }

    #[test]
    fn unknown_fields_and_types_are_tolerated() {
        let join: ClientMessage =
            serde_json::from_str(r#"{"type":"join","token":"t","extra":1}"#).expect("decodes");
        assert_eq!(
            join,
            ClientMessage::Join { token: "t".into(), session_id: None, version: None, offer: None }
        );
        let unknown: ClientMessage = serde_json::from_str(r#"{"type":"dance","x":1}"#).expect("decodes");
        assert_eq!(unknown, ClientMessage::Unknown);
        let unknown: ServerMessage = serde_json::from_str(r#"{"type":"weather"}"#).expect("decodes");
        assert_eq!(unknown, ServerMessage::Unknown);
        let change: StateChange = serde_json::from_str(r#"{"kind":"hologram"}"#).expect("decodes");
        assert_eq!(change, StateChange::Unknown);
    }

    #[test]
    fn error_codes_keep_the_seed_names() {
        let msg = ServerMessage::Error { code: ErrorCode::TokenExpired, message: "old".into() };
        let json = serde_json::to_string(&msg).expect("serializes");
        assert_eq!(json, r#"{"type":"error","code":"TOKEN_EXPIRED","message":"old"}"#);
    }
}
