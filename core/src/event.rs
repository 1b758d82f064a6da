//! Call events: the seed's eleven listener callbacks plus the project's additions.
//!
//! Every state change of a call is one of these on the bus; plugins and app listeners see
//! the same stream. On the wire an event is a JSON object tagged by `"event"`, with the
//! seed's model fields in snake_case, e.g. `{"event":"user_joined","user":{"uid":"bob",..}}`.

use serde::{Deserialize, Serialize};

use crate::model::{AudioMode, ErrorCode, RtcUser};

/// One call event.
///
/// Decoding tolerates unknown fields, and an event kind this build does not know decodes as
/// [`Event::Unknown`], so an older plugin keeps working with a newer host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    // ---- The seed's events ----
    /// A call between exactly two users ended; both users get it, whoever ended it.
    CallEnded,
    /// The local user pressed end or left; only that user gets it.
    CallEndButtonPressed,
    /// Another user joined.
    UserJoined {
        /// Who joined.
        user: RtcUser,
    },
    /// A user left.
    UserLeft {
        /// Who left.
        user: RtcUser,
    },
    /// After every join or leave: everyone now in the call, the local user included.
    UserListChanged {
        /// Everyone in the call.
        users: Vec<RtcUser>,
    },
    /// An audio output became available or unavailable.
    AudioModeChanged {
        /// The available outputs; the selected one has `is_selected`.
        modes: Vec<AudioMode>,
    },
    /// An audio call was switched to a video call.
    CallSwitchedToVideo {
        /// The call's session id.
        session_id: String,
        /// Who asked for video.
        request_initiated_by: RtcUser,
        /// Who accepted it.
        request_accepted_by: RtcUser,
    },
    /// A user was muted.
    UserMuted {
        /// Whose audio was muted.
        muted: RtcUser,
        /// Who muted it.
        muted_by: RtcUser,
    },
    /// Recording started or stopped.
    RecordingToggled {
        /// True when it started.
        recording_started: bool,
        /// Who started or stopped it.
        user: RtcUser,
    },
    /// Something failed while setting up or running the call.
    Error {
        /// A machine-readable code.
        code: ErrorCode,
        /// What went wrong.
        message: String,
        /// More detail, empty when there is none.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        details: String,
    },
    /// The idle timeout ended the call.
    SessionTimeout,

    // ---- The project's additions ----
    /// The local user joined the session (the first event of every session).
    SessionStarted {
        /// The session id.
        session_id: String,
        /// The local user.
        user: RtcUser,
    },
    /// The session is over and its resources are released (the last event of every session).
    SessionEnded {
        /// Why: `end_session`, `call_ended`, `session_timeout`, `kicked` or `error`.
        reason: String,
    },
    /// A user unmuted their audio (the seed reports only muting).
    UserUnmuted {
        /// Whose audio is live again.
        user: RtcUser,
    },
    /// A user paused or resumed their video.
    UserVideoPaused {
        /// Whose video changed.
        user: RtcUser,
        /// True when paused.
        paused: bool,
    },
    /// The local user is alone and the call ends itself in `seconds_left` seconds unless
    /// someone joins.
    IdleTimeoutWarning {
        /// Seconds until `session_timeout`.
        seconds_left: u32,
    },
    /// The loudest participant changed (spotlight follows it).
    ActiveSpeakerChanged {
        /// The new active speaker, `None` when nobody is speaking.
        uid: Option<String>,
    },
    /// A button of the call UI was pressed (built-in or declared in config).
    ButtonPressed {
        /// The button's id.
        id: String,
    },
    /// The local camera changed (after `switch_camera`).
    CameraSwitched {
        /// The name of the source now in use.
        source: String,
    },
    /// Picture-in-picture was entered or left.
    PipModeChanged {
        /// True while in picture-in-picture.
        active: bool,
    },
    /// A plugin was loaded, failed, restarted or swapped.
    PluginStatusChanged {
        /// The plugin's id.
        plugin: String,
        /// `running`, `failed`, `restarted`, `disabled` or `swapped`.
        status: String,
        /// Why, empty when there is nothing to say.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        detail: String,
    },
    /// An event kind this build does not know.
    #[serde(other)]
    Unknown,
}

/// The kind of an [`Event`], without its data: what plugins subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
    /// See [`Event::CallEnded`].
    CallEnded,
    /// See [`Event::CallEndButtonPressed`].
    CallEndButtonPressed,
    /// See [`Event::UserJoined`].
    UserJoined,
    /// See [`Event::UserLeft`].
    UserLeft,
    /// See [`Event::UserListChanged`].
    UserListChanged,
    /// See [`Event::AudioModeChanged`].
    AudioModeChanged,
    /// See [`Event::CallSwitchedToVideo`].
    CallSwitchedToVideo,
    /// See [`Event::UserMuted`].
    UserMuted,
    /// See [`Event::RecordingToggled`].
    RecordingToggled,
    /// See [`Event::Error`].
    Error,
    /// See [`Event::SessionTimeout`].
    SessionTimeout,
    /// See [`Event::SessionStarted`].
    SessionStarted,
    /// See [`Event::SessionEnded`].
    SessionEnded,
    /// See [`Event::UserUnmuted`].
    UserUnmuted,
    /// See [`Event::UserVideoPaused`].
    UserVideoPaused,
    /// See [`Event::IdleTimeoutWarning`].
    IdleTimeoutWarning,
    /// See [`Event::ActiveSpeakerChanged`].
    ActiveSpeakerChanged,
    /// See [`Event::ButtonPressed`].
    ButtonPressed,
    /// See [`Event::CameraSwitched`].
    CameraSwitched,
    /// See [`Event::PipModeChanged`].
    PipModeChanged,
    /// See [`Event::PluginStatusChanged`].
    PluginStatusChanged,
    /// A kind this build does not know.
    #[serde(other)]
    Unknown,
}

impl EventKind {
    /// Every known kind (not [`EventKind::Unknown`]).
    pub const ALL: &'static [EventKind] = &[
        Self::CallEnded,
        Self::CallEndButtonPressed,
        Self::UserJoined,
        Self::UserLeft,
        Self::UserListChanged,
        Self::AudioModeChanged,
        Self::CallSwitchedToVideo,
        Self::UserMuted,
        Self::RecordingToggled,
        Self::Error,
        Self::SessionTimeout,
        Self::SessionStarted,
        Self::SessionEnded,
        Self::UserUnmuted,
        Self::UserVideoPaused,
        Self::IdleTimeoutWarning,
        Self::ActiveSpeakerChanged,
        Self::ButtonPressed,
        Self::CameraSwitched,
        Self::PipModeChanged,
        Self::PluginStatusChanged,
    ];

    /// The seed's eleven event kinds.
    pub const SEED: &'static [EventKind] = &[
        Self::CallEnded,
        Self::CallEndButtonPressed,
        Self::UserJoined,
        Self::UserLeft,
        Self::UserListChanged,
        Self::AudioModeChanged,
        Self::CallSwitchedToVideo,
        Self::UserMuted,
        Self::RecordingToggled,
        Self::Error,
        Self::SessionTimeout,
    ];

    /// The wire name, e.g. `user_joined`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CallEnded => "call_ended",
            Self::CallEndButtonPressed => "call_end_button_pressed",
            Self::UserJoined => "user_joined",
            Self::UserLeft => "user_left",
            Self::UserListChanged => "user_list_changed",
            Self::AudioModeChanged => "audio_mode_changed",
            Self::CallSwitchedToVideo => "call_switched_to_video",
            Self::UserMuted => "user_muted",
            Self::RecordingToggled => "recording_toggled",
            Self::Error => "error",
            Self::SessionTimeout => "session_timeout",
            Self::SessionStarted => "session_started",
            Self::SessionEnded => "session_ended",
            Self::UserUnmuted => "user_unmuted",
            Self::UserVideoPaused => "user_video_paused",
            Self::IdleTimeoutWarning => "idle_timeout_warning",
            Self::ActiveSpeakerChanged => "active_speaker_changed",
            Self::ButtonPressed => "button_pressed",
            Self::CameraSwitched => "camera_switched",
            Self::PipModeChanged => "pip_mode_changed",
            Self::PluginStatusChanged => "plugin_status_changed",
            Self::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Event {
    /// This event's kind.
    pub fn kind(&self) -> EventKind {
        match self {
            Self::CallEnded => EventKind::CallEnded,
            Self::CallEndButtonPressed => EventKind::CallEndButtonPressed,
            Self::UserJoined { .. } => EventKind::UserJoined,
            Self::UserLeft { .. } => EventKind::UserLeft,
            Self::UserListChanged { .. } => EventKind::UserListChanged,
            Self::AudioModeChanged { .. } => EventKind::AudioModeChanged,
            Self::CallSwitchedToVideo { .. } => EventKind::CallSwitchedToVideo,
            Self::UserMuted { .. } => EventKind::UserMuted,
            Self::RecordingToggled { .. } => EventKind::RecordingToggled,
            Self::Error { .. } => EventKind::Error,
            Self::SessionTimeout => EventKind::SessionTimeout,
            Self::SessionStarted { .. } => EventKind::SessionStarted,
            Self::SessionEnded { .. } => EventKind::SessionEnded,
            Self::UserUnmuted { .. } => EventKind::UserUnmuted,
            Self::UserVideoPaused { .. } => EventKind::UserVideoPaused,
            Self::IdleTimeoutWarning { .. } => EventKind::IdleTimeoutWarning,
            Self::ActiveSpeakerChanged { .. } => EventKind::ActiveSpeakerChanged,
            Self::ButtonPressed { .. } => EventKind::ButtonPressed,
            Self::CameraSwitched { .. } => EventKind::CameraSwitched,
            Self::PipModeChanged { .. } => EventKind::PipModeChanged,
            Self::PluginStatusChanged { .. } => EventKind::PluginStatusChanged,
            Self::Unknown => EventKind::Unknown,
        }
    }

    /// An `error` event from an exception.
    pub fn error(exception: &crate::model::CallsException) -> Self {
        Self::Error {
            code: exception.code,
            message: exception.message.clone(),
            details: exception.details.clone(),
        }
    }
}
