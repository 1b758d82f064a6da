//! `CallSettings`: every option of the seed's CallSettingsBuilder, with the seed's defaults.

use serde::{Deserialize, Serialize};

use crate::model::AudioModeKind;

/// How the call view arranges participants (the seed's `Mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// A grid of equal tiles.
    Default,
    /// The active speaker (or a clicked tile) large, the others small. The seed's default.
    #[default]
    Spotlight,
    /// One participant only.
    Single,
}

/// How a participant whose video is off is drawn (the seed's `AvatarMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AvatarMode {
    /// A round avatar. The seed's default.
    #[default]
    Circle,
    /// A square avatar.
    Square,
    /// The avatar fills the tile.
    Fullscreen,
}

/// How the main video fits its container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AspectRatio {
    /// Letterboxed: the whole frame is visible.
    Contain,
    /// Cropped: the container is filled.
    Cover,
    /// The platform's choice. The seed's default.
    #[default]
    Default,
}

/// A corner of the main video container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Position {
    /// Top left corner.
    TopLeft,
    /// Top right corner.
    TopRight,
    /// Bottom left corner.
    BottomLeft,
    /// Bottom right corner.
    BottomRight,
}

/// Where a control of the main video container sits and whether it is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlSetting {
    /// The corner it sits in.
    pub position: Position,
    /// Whether it is shown.
    pub visible: bool,
}

impl ControlSetting {
    const fn bottom_right() -> Self {
        Self { position: Position::BottomRight, visible: true }
    }
}

/// The name label of the main video container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NameLabelSetting {
    /// The corner it sits in.
    pub position: Position,
    /// Whether it is shown.
    pub visible: bool,
    /// Its background colour, `#RRGGBB`.
    pub background_color: String,
}

/// The seed's `MainVideoContainerSetting`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MainVideoContainerSetting {
    /// How the main video fits: contain, cover or default.
    pub aspect_ratio: AspectRatio,
    /// The full-screen button.
    pub full_screen_button: ControlSetting,
    /// The participant's name label.
    pub name_label: NameLabelSetting,
    /// The zoom button.
    pub zoom_button: ControlSetting,
    /// The user-list button.
    pub user_list_button: ControlSetting,
}

impl Default for MainVideoContainerSetting {
    fn default() -> Self {
        Self {
            aspect_ratio: AspectRatio::Default,
            full_screen_button: ControlSetting::bottom_right(),
            name_label: NameLabelSetting {
                position: Position::BottomLeft,
                visible: true,
                background_color: "#333333".to_owned(),
            },
            zoom_button: ControlSetting::bottom_right(),
            user_list_button: ControlSetting::bottom_right(),
        }
    }
}

/// The seed's `CallSettings`: how a call looks and starts. Field names are the seed's
/// option names in snake_case (`setAudioOnlyCall` is `audio_only_call`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CallSettings {
    /// False hides the button layout and shows only the call view.
    pub enable_default_layout: bool,
    /// An audio-only call instead of an audio-video call.
    pub audio_only_call: bool,
    /// Show the end-call button.
    pub show_end_call_button: bool,
    /// Show the switch-camera button.
    pub show_switch_camera_button: bool,
    /// Show the mute-audio button.
    pub show_mute_audio_button: bool,
    /// Show the pause-video button.
    pub show_pause_video_button: bool,
    /// Show the audio-mode button.
    pub show_audio_mode_button: bool,
    /// The layout mode.
    pub mode: Mode,
    /// Start with the microphone muted.
    pub start_with_audio_muted: bool,
    /// Start with the camera paused.
    pub start_with_video_muted: bool,
    /// The audio output to start with; `None` lets the platform (the audio-routing plugin) choose.
    pub default_audio_mode: Option<AudioModeKind>,
    /// Show the switch-to-video button (on audio-only calls).
    pub show_switch_to_video_call_button: bool,
    /// Show the record button.
    pub show_call_record_button: bool,
    /// Start recording as soon as the call is connected.
    pub start_recording_on_call_start: bool,
    /// How avatars are drawn when video is off.
    pub avatar_mode: AvatarMode,
    /// The main video container's settings.
    pub main_video_container: MainVideoContainerSetting,
    /// Allow dragging tiles in spotlight mode.
    pub enable_video_tile_drag: bool,
    /// Allow clicking a tile in spotlight mode to make it the main one.
    pub enable_video_tile_click: bool,
    /// Seconds a lone participant may stay before the call ends itself; the participant is
    /// warned 60 seconds before (at once when the period is shorter than that).
    pub idle_timeout_period: u32,
}

impl CallSettings {
    /// The seed's default idle timeout, in seconds.
    pub const DEFAULT_IDLE_TIMEOUT_SECS: u32 = 180;
    /// How long before the idle timeout the lone participant is warned, in seconds.
    pub const IDLE_WARNING_LEAD_SECS: u32 = 60;

    /// A builder starting from the seed's defaults.
    pub fn builder() -> CallSettingsBuilder {
        CallSettingsBuilder::default()
    }
}

impl Default for CallSettings {
    fn default() -> Self {
        Self {
            enable_default_layout: true,
            audio_only_call: false,
            show_end_call_button: true,
            show_switch_camera_button: true,
            show_mute_audio_button: true,
            show_pause_video_button: true,
            show_audio_mode_button: true,
            mode: Mode::Spotlight,
            start_with_audio_muted: false,
            start_with_video_muted: false,
            default_audio_mode: None,
            show_switch_to_video_call_button: true,
            show_call_record_button: false,
            start_recording_on_call_start: false,
            avatar_mode: AvatarMode::Circle,
            main_video_container: MainVideoContainerSetting::default(),
            enable_video_tile_drag: true,
            enable_video_tile_click: true,
            idle_timeout_period: Self::DEFAULT_IDLE_TIMEOUT_SECS,
        }
    }
}

/// Builds [`CallSettings`] the way the seed's `CallSettingsBuilder` does.
///
/// ```
/// use switchboard_core::settings::{CallSettings, Mode};
/// let settings = CallSettings::builder().audio_only_call(true).mode(Mode::Default).build();
/// assert!(settings.audio_only_call);
/// assert!(settings.show_end_call_button); // untouched options keep the seed's defaults
/// ```
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct CallSettingsBuilder {
    settings: CallSettings,
}

macro_rules! builder_setters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty),* $(,)?) => {
        impl CallSettingsBuilder {
            $(
                $(#[$doc])*
                pub fn $name(mut self, value: $ty) -> Self {
                    self.settings.$name = value;
                    self
                }
            )*
        }
    };
}

builder_setters! {
    /// The seed's `enableDefaultLayout`.
    enable_default_layout: bool,
    /// The seed's `setAudioOnlyCall`.
    audio_only_call: bool,
    /// The seed's `showEndCallButton`.
    show_end_call_button: bool,
    /// The seed's `showSwitchCameraButton`.
    show_switch_camera_button: bool,
    /// The seed's `showMuteAudioButton`.
    show_mute_audio_button: bool,
    /// The seed's `showPauseVideoButton`.
    show_pause_video_button: bool,
    /// The seed's `showAudioModeButton`.
    show_audio_mode_button: bool,
    /// The seed's `setMode`.
    mode: Mode,
    /// The seed's `startWithAudioMuted`.
    start_with_audio_muted: bool,
    /// The seed's `startWithVideoMuted`.
    start_with_video_muted: bool,
    /// The seed's `setDefaultAudioMode`.
    default_audio_mode: Option<AudioModeKind>,
    /// The seed's `showSwitchToVideoCallButton`.
    show_switch_to_video_call_button: bool,
    /// The seed's `showCallRecordButton`.
    show_call_record_button: bool,
    /// The seed's `startRecordingOnCallStart`.
    start_recording_on_call_start: bool,
    /// The seed's `setAvatarMode`.
    avatar_mode: AvatarMode,
    /// The seed's `setMainVideoContainerSetting`.
    main_video_container: MainVideoContainerSetting,
    /// The seed's `enableVideoTileDrag`.
    enable_video_tile_drag: bool,
    /// The seed's `enableVideoTileClick`.
    enable_video_tile_click: bool,
    /// The seed's `setIdleTimeoutPeriod`, in seconds.
    idle_timeout_period: u32,
}

impl CallSettingsBuilder {
    /// The finished settings.
    pub fn build(self) -> CallSettings {
        self.settings
    }
}
