//! Commands: the seed's ten actions plus the project's additions.
//!
//! Apps, scripts and plugins ask for changes with commands; the host is the only place where
//! a command changes the call. A command that needs a capability (recording, PIP, audio
//! routing) goes to the plugin that provides it; asking for a capability nobody provides is
//! an error, never a silent no-op.

use serde::{Deserialize, Serialize};

use crate::model::{AudioMode, AudioModeKind};
use crate::settings::Mode;

/// A capability a plugin can provide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Capability {
    /// Draws the call view (produces view models).
    Layout,
    /// Records the call to media files.
    Recording,
    /// Picture-in-picture.
    Pip,
    /// Chooses the audio output device.
    AudioRouting,
    /// A capability this build does not know.
    #[serde(other)]
    Unknown,
}

impl Capability {
    /// The wire name, e.g. `audio_routing`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Layout => "layout",
            Self::Recording => "recording",
            Self::Pip => "pip",
            Self::AudioRouting => "audio_routing",
            Self::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for Capability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One command. On the wire (and in `--script` files) it is tagged by `"action"`, with the
/// argument beside it: `{"action":"mute_audio","muted":true}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Command {
    // ---- The seed's actions ----
    /// Toggle between camera sources.
    SwitchCamera,
    /// Stop (true) or resume (false) sending audio.
    MuteAudio {
        /// True to mute.
        muted: bool,
    },
    /// Stop (true) or resume (false) sending video.
    PauseVideo {
        /// True to pause.
        paused: bool,
    },
    /// Play the call through another output.
    SetAudioMode {
        /// The output to use.
        mode: AudioModeKind,
    },
    /// Show the call in picture-in-picture.
    EnterPipMode,
    /// Leave picture-in-picture.
    ExitPipMode,
    /// Turn an audio-only call into a video call for everyone.
    SwitchToVideoCall,
    /// Start recording the call.
    StartRecording,
    /// Stop recording the call.
    StopRecording,
    /// Leave the call and release every resource.
    EndSession,

    // ---- The project's additions ----
    /// Change the layout mode of the call view.
    SetLayoutMode {
        /// The new mode.
        mode: Mode,
    },
    /// Reported by an audio-routing plugin: the outputs now available. The host raises
    /// `audio_mode_changed` with them.
    AnnounceAudioModes {
        /// The available outputs; the selected one has `is_selected`.
        modes: Vec<AudioMode>,
    },
    /// Reported by a recording plugin after it started or stopped recording. The host
    /// raises `recording_toggled` (with the command's `from` as the user) locally, tells
    /// every other participant so that each of them raises it too, and sets
    /// `ViewRequest::recording` so the layout shows the indicator.
    AnnounceRecording {
        /// True when recording started, false when it stopped.
        started: bool,
    },
    /// Reported by a PIP plugin after it entered or left picture-in-picture. The host sets
    /// `ViewRequest::pip` for the next renders and raises `pip_mode_changed`.
    AnnouncePipMode {
        /// True while in picture-in-picture.
        active: bool,
    },
    /// Asked by an audio-routing plugin: play the call through this output device (its
    /// cpal device name, as in `[media] audio_output = "device:NAME"`). The host moves its
    /// sink there without dropping the call; a device it cannot open is an error naming it,
    /// and playback stays where it was.
    RouteAudioOutput {
        /// The cpal output device name, e.g. `spk_a`.
        device: String,
        /// The `audio_mode_changed` to raise once playback has moved. When the move fails
        /// nothing is raised (the `error` event says what failed), so the modes reported
        /// keep the old one selected: a plugin learns whether its choice took effect from
        /// the `audio_mode_changed` it gets back.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        announce: Option<Vec<AudioMode>>,
    },
    /// A command this build does not know.
    #[serde(other)]
    Unknown,
}

impl Command {
    /// The capability a plugin must provide for this command, or `None` when the host
    /// carries it out itself.
    pub fn capability(&self) -> Option<Capability> {
        match self {
            Self::SetAudioMode { .. } => Some(Capability::AudioRouting),
            Self::EnterPipMode | Self::ExitPipMode => Some(Capability::Pip),
            Self::StartRecording | Self::StopRecording => Some(Capability::Recording),
            _ => None,
        }
    }

    /// The wire name, e.g. `mute_audio`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::SwitchCamera => "switch_camera",
            Self::MuteAudio { .. } => "mute_audio",
            Self::PauseVideo { .. } => "pause_video",
            Self::SetAudioMode { .. } => "set_audio_mode",
            Self::EnterPipMode => "enter_pip_mode",
            Self::ExitPipMode => "exit_pip_mode",
            Self::SwitchToVideoCall => "switch_to_video_call",
            Self::StartRecording => "start_recording",
            Self::StopRecording => "stop_recording",
            Self::EndSession => "end_session",
            Self::SetLayoutMode { .. } => "set_layout_mode",
            Self::AnnounceAudioModes { .. } => "announce_audio_modes",
            Self::AnnounceRecording { .. } => "announce_recording",
            Self::AnnouncePipMode { .. } => "announce_pip_mode",
            Self::RouteAudioOutput { .. } => "route_audio_output",
            Self::Unknown => "unknown",
        }
    }
}
