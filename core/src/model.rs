//! The seed's data models (RTCUser, RTCMutedUser, ...) with snake_case field names.

use serde::{Deserialize, Serialize};

/// A participant of a call (the seed's `RTCUser`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct RtcUser {
    /// The user's id, unique within the app.
    pub uid: String,
    /// The display name.
    pub name: String,
    /// An avatar URL, empty when the user has none.
    pub avatar: String,
    /// The session resource this user joined from (one per connection).
    pub resource: String,
    /// When the user joined the call, in milliseconds since the Unix epoch.
    pub joined_at: u64,
}

impl RtcUser {
    /// A user with just an id and a name; the other fields empty.
    pub fn new(uid: impl Into<String>, name: impl Into<String>) -> Self {
        Self { uid: uid.into(), name: name.into(), ..Self::default() }
    }
}

/// The seed's `AudioMode` kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AudioModeKind {
    /// A loudspeaker.
    Speaker,
    /// The phone earpiece.
    Earpiece,
    /// A Bluetooth headset.
    Bluetooth,
    /// Wired headphones.
    Headphones,
}

impl AudioModeKind {
    /// Every audio mode, in the seed's order.
    pub const ALL: [AudioModeKind; 4] = [Self::Speaker, Self::Earpiece, Self::Bluetooth, Self::Headphones];

    /// The seed's constant name, e.g. `SPEAKER`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Speaker => "SPEAKER",
            Self::Earpiece => "EARPIECE",
            Self::Bluetooth => "BLUETOOTH",
            Self::Headphones => "HEADPHONES",
        }
    }
}

impl std::fmt::Display for AudioModeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for AudioModeKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|m| m.as_str().eq_ignore_ascii_case(s)).ok_or_else(|| {
            format!("unknown audio mode `{s}`, expected one of SPEAKER, EARPIECE, BLUETOOTH, HEADPHONES")
        })
    }
}

/// One available audio output (the seed's `AudioMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AudioMode {
    /// Which kind of output.
    pub mode: AudioModeKind,
    /// Whether this output is the one playing the call.
    pub is_selected: bool,
}

/// Who muted whom (the seed's `RTCMutedUser`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RtcMutedUser {
    /// The user whose audio was muted.
    pub muted: RtcUser,
    /// The user who muted it (the same user for a self-mute).
    pub muted_by: RtcUser,
}

/// A recording change (the seed's `RTCRecordingInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RtcRecordingInfo {
    /// True when recording started, false when it stopped.
    pub recording_started: bool,
    /// The user who started or stopped it.
    pub user: RtcUser,
}

/// An audio call switched to video (the seed's `CallSwitchRequestInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallSwitchRequestInfo {
    /// The call's session id.
    pub session_id: String,
    /// The user who asked for video.
    pub request_initiated_by: RtcUser,
    /// The user who accepted it.
    pub request_accepted_by: RtcUser,
}

/// A call token for one session and one user (the seed's `GenerateToken`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenerateToken {
    /// The session the token is bound to.
    pub session_id: String,
    /// The signed call token.
    pub token: String,
}

/// Error codes of the seed's `CallsException`, plus the project's own.
///
/// Unknown codes from a newer peer decode as [`ErrorCode::Unknown`] instead of failing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum ErrorCode {
    /// A failure with no more specific code.
    Error,
    /// The SDK could not be initialised.
    SdkInitError,
    /// No session id was given.
    SessionIdNull,
    /// No user auth token was given.
    UserAuthTokenNull,
    /// The user auth token is not known to the server.
    AuthTokenNotFound,
    /// The session does not exist or the action needs a running session.
    CallSessionNotFound,
    /// The call token's signature or format is invalid.
    TokenInvalid,
    /// The call token has expired.
    TokenExpired,
    /// The call token was issued for another session.
    TokenSessionMismatch,
    /// The API key was wrong.
    ApiKeyInvalid,
    /// No loaded plugin provides the capability an action needs.
    CapabilityMissing,
    /// A plugin panicked, crashed, hung or returned garbage.
    PluginFailed,
    /// A plugin could not be loaded.
    PluginLoadFailed,
    /// The connection to the signaling server was lost.
    SignalingLost,
    /// A WebRTC peer connection failed.
    PeerConnectionFailed,
    /// A configured audio or video device is missing or failed.
    DeviceMissing,
    /// The action is not valid in the call's current state.
    InvalidState,
    /// An argument of the action is invalid.
    InvalidArgument,
    /// The action is not implemented by this build.
    NotImplemented,
    /// A code this build does not know (sent by a newer peer or plugin).
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// The wire name, e.g. `AUTH_TOKEN_NOT_FOUND`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Error => "ERROR",
            Self::SdkInitError => "SDK_INIT_ERROR",
            Self::SessionIdNull => "SESSION_ID_NULL",
            Self::UserAuthTokenNull => "USER_AUTH_TOKEN_NULL",
            Self::AuthTokenNotFound => "AUTH_TOKEN_NOT_FOUND",
            Self::CallSessionNotFound => "CALL_SESSION_NOT_FOUND",
            Self::TokenInvalid => "TOKEN_INVALID",
            Self::TokenExpired => "TOKEN_EXPIRED",
            Self::TokenSessionMismatch => "TOKEN_SESSION_MISMATCH",
            Self::ApiKeyInvalid => "API_KEY_INVALID",
            Self::CapabilityMissing => "CAPABILITY_MISSING",
            Self::PluginFailed => "PLUGIN_FAILED",
            Self::PluginLoadFailed => "PLUGIN_LOAD_FAILED",
            Self::SignalingLost => "SIGNALING_LOST",
            Self::PeerConnectionFailed => "PEER_CONNECTION_FAILED",
            Self::DeviceMissing => "DEVICE_MISSING",
            Self::InvalidState => "INVALID_STATE",
            Self::InvalidArgument => "INVALID_ARGUMENT",
            Self::NotImplemented => "NOT_IMPLEMENTED",
            Self::Unknown => "UNKNOWN",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The seed's `CallsException`: what every failed action and every `error` event carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct CallsException {
    /// A machine-readable code.
    pub code: ErrorCode,
    /// What went wrong, for people.
    pub message: String,
    /// More detail (the plugin id, the device name, ...), empty when there is none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub details: String,
}

impl CallsException {
    /// An exception with a code and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), details: String::new() }
    }

    /// The same exception with `details` set.
    #[must_use]
    pub fn with_details(mut self, details: impl Into<String>) -> Self {
        self.details = details.into();
        self
    }
}
