//! The view model: what a layout plugin produces and a renderer draws, toolkit-free.
//!
//! The host sends a layout plugin a [`ViewRequest`] (window size, settings, who is in the
//! call and their state); the plugin answers with a [`View`]: tiles with rectangles, the
//! button bar and overlays. UI input ([`UiInput`]) flows back the same way.

use serde::{Deserialize, Serialize};

use crate::model::{AudioMode, RtcUser};
use crate::settings::{AspectRatio, AvatarMode, CallSettings, MainVideoContainerSetting, Position};

/// A rectangle in window pixels, origin top left.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct Rect {
    /// Left edge.
    pub x: f32,
    /// Top edge.
    pub y: f32,
    /// Width.
    pub w: f32,
    /// Height.
    pub h: f32,
}

impl Rect {
    /// A rectangle from its left, top, width and height.
    pub const fn new(x: f32, y: f32, w: f32, h: f32) -> Self {
        Self { x, y, w, h }
    }

    /// True when every coordinate is finite and the size is not negative.
    pub fn is_finite(&self) -> bool {
        [self.x, self.y, self.w, self.h].iter().all(|v| v.is_finite()) && self.w >= 0.0 && self.h >= 0.0
    }

    /// True when this rectangle lies inside `outer` (edges may touch), with a small
    /// tolerance for float rounding.
    pub fn is_inside(&self, outer: &Rect) -> bool {
        const EPS: f32 = 0.01;
        self.x >= outer.x - EPS
            && self.y >= outer.y - EPS
            && self.x + self.w <= outer.x + outer.w + EPS
            && self.y + self.h <= outer.y + outer.h + EPS
    }

    /// True when the two rectangles share area (touching edges do not count).
    pub fn overlaps(&self, other: &Rect) -> bool {
        const EPS: f32 = 0.01;
        self.x + EPS < other.x + other.w
            && other.x + EPS < self.x + self.w
            && self.y + EPS < other.y + other.h
            && other.y + EPS < self.y + self.h
    }
}

/// One participant as the layout sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParticipantView {
    /// Who.
    pub user: RtcUser,
    /// True for the local user.
    #[serde(default)]
    pub is_local: bool,
    /// Their microphone is muted.
    #[serde(default)]
    pub audio_muted: bool,
    /// Their video is off (paused, audio-only call, or no frames yet).
    #[serde(default)]
    pub video_off: bool,
}

/// What a layout plugin is asked to lay out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ViewRequest {
    /// Window width in pixels.
    pub width: f32,
    /// Window height in pixels.
    pub height: f32,
    /// The call's settings (mode, buttons, avatar mode, main video container...).
    pub settings: CallSettings,
    /// Built-in button order from `[ui] buttons`, `None` for the layout's own.
    #[serde(default)]
    pub button_order: Option<Vec<String>>,
    /// Buttons declared in config.
    #[serde(default)]
    pub custom_buttons: Vec<CustomButton>,
    /// Everyone in the call, the local user included, in join order.
    pub participants: Vec<ParticipantView>,
    /// The current active speaker.
    #[serde(default)]
    pub active_speaker: Option<String>,
    /// True while the call is being recorded.
    #[serde(default)]
    pub recording: bool,
    /// True while in picture-in-picture.
    #[serde(default)]
    pub pip: bool,
    /// Seconds left before the idle timeout, while the prompt is up.
    #[serde(default)]
    pub idle_seconds_left: Option<u32>,
    /// The audio outputs available.
    #[serde(default)]
    pub audio_modes: Vec<AudioMode>,
    /// True when the call is audio-only (no video at all).
    #[serde(default)]
    pub audio_only: bool,
}

/// What a tile shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TileContent {
    /// The participant's video.
    Video {
        /// How it fits the tile.
        aspect_ratio: AspectRatio,
    },
    /// The participant's avatar (video off).
    Avatar {
        /// Circle, square or fullscreen.
        mode: AvatarMode,
        /// Initials drawn when there is no avatar image.
        initials: String,
        /// The avatar image URL, empty for none.
        #[serde(default)]
        url: String,
    },
}

/// A control drawn on a tile (main video container settings).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TileControl {
    /// `full_screen`, `zoom` or `user_list`.
    pub id: String,
    /// The corner it sits in.
    pub position: Position,
}

impl TileControl {
    /// The controls of the main tile: the visible ones of the main video container's
    /// full-screen, zoom and user-list buttons, in that order.
    pub fn for_main_tile(mvc: &MainVideoContainerSetting) -> Vec<TileControl> {
        [
            ("full_screen", mvc.full_screen_button),
            ("zoom", mvc.zoom_button),
            ("user_list", mvc.user_list_button),
        ]
        .into_iter()
        .filter(|(_, c)| c.visible)
        .map(|(id, c)| TileControl { id: id.to_owned(), position: c.position })
        .collect()
    }
}

/// The name label of a tile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NameLabel {
    /// The text.
    pub text: String,
    /// The corner it sits in.
    pub position: Position,
    /// Background colour, `#RRGGBB`.
    pub background_color: String,
}

/// One participant's tile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tile {
    /// Whose tile.
    pub uid: String,
    /// Where it is drawn.
    pub rect: Rect,
    /// Drawing order, higher on top.
    pub z: i32,
    /// Video or avatar.
    pub content: TileContent,
    /// The name label, `None` when hidden.
    #[serde(default)]
    pub name_label: Option<NameLabel>,
    /// Show the muted indicator.
    #[serde(default)]
    pub muted: bool,
    /// Show the video-off indicator.
    #[serde(default)]
    pub video_off: bool,
    /// Highlight as the active speaker.
    #[serde(default)]
    pub active_speaker: bool,
    /// True for the main (large) tile.
    #[serde(default)]
    pub main: bool,
    /// Controls drawn on the tile.
    #[serde(default)]
    pub controls: Vec<TileControl>,
    /// Clicking the tile sends [`UiInput::TileClicked`].
    #[serde(default)]
    pub clickable: bool,
    /// Dragging the tile sends [`UiInput::TileDragged`].
    #[serde(default)]
    pub draggable: bool,
}

/// One button of the button bar.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Button {
    /// The id a press carries.
    pub id: String,
    /// The text.
    pub label: String,
    /// An icon name.
    #[serde(default)]
    pub icon: String,
    /// False greys it out.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// True for an "on" toggle (muted, paused, recording).
    #[serde(default)]
    pub toggled: bool,
}

fn yes() -> bool {
    true
}

/// Something drawn over the tiles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Overlay {
    /// The call is being recorded.
    RecordingIndicator {
        /// Where it is drawn.
        rect: Rect,
    },
    /// The lone participant is about to be timed out.
    IdleTimeoutPrompt {
        /// Where it is drawn.
        rect: Rect,
        /// Seconds left.
        seconds_left: u32,
    },
    /// The compact picture-in-picture window.
    PipWindow {
        /// Where it is drawn.
        rect: Rect,
    },
    /// An overlay this build does not know.
    #[serde(other)]
    Unknown,
}

/// A laid-out call view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct View {
    /// Window width.
    pub width: f32,
    /// Window height.
    pub height: f32,
    /// The tiles, in drawing order.
    pub tiles: Vec<Tile>,
    /// The button bar; empty when the default layout is disabled or in PIP.
    #[serde(default)]
    pub buttons: Vec<Button>,
    /// Where the button bar is drawn.
    #[serde(default)]
    pub button_bar: Option<Rect>,
    /// Overlays.
    #[serde(default)]
    pub overlays: Vec<Overlay>,
}

/// Input from the call UI, sent to the layout plugin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "input", rename_all = "snake_case")]
#[non_exhaustive]
pub enum UiInput {
    /// A button was pressed.
    ButtonPressed {
        /// The button's id.
        id: String,
    },
    /// A tile was clicked.
    TileClicked {
        /// Whose tile.
        uid: String,
    },
    /// A tile was dragged to a new place.
    TileDragged {
        /// Whose tile.
        uid: String,
        /// The new left edge.
        x: f32,
        /// The new top edge.
        y: f32,
    },
    /// The window was resized.
    WindowResized {
        /// The new width.
        width: f32,
        /// The new height.
        height: f32,
    },
    /// An input this build does not know.
    #[serde(other)]
    Unknown,
}

// ---- Built-in buttons, shared by every layout ----
//
// The seed's default layout has a fixed set of buttons whose presses become commands. A
// third-party layout that keeps those buttons should behave the same way, so the ids, the
// bar's contents and the press-to-command mapping live here, next to the view model,
// rather than in one layout plugin.

/// The ids of the built-in buttons.
pub mod button_id {
    /// Mute or unmute the local microphone.
    pub const MUTE_AUDIO: &str = "mute_audio";
    /// Pause or resume the local camera.
    pub const PAUSE_VIDEO: &str = "pause_video";
    /// Switch between camera sources.
    pub const SWITCH_CAMERA: &str = "switch_camera";
    /// Cycle through the available audio outputs.
    pub const AUDIO_MODE: &str = "audio_mode";
    /// Turn an audio-only call into a video call.
    pub const SWITCH_TO_VIDEO: &str = "switch_to_video";
    /// Start or stop recording.
    pub const RECORD: &str = "record";
    /// Leave the call.
    pub const END_CALL: &str = "end_call";
    /// Enter or leave picture-in-picture (`enter_pip_mode` / `exit_pip_mode`). Not in
    /// [`DEFAULT_ORDER`]: PIP needs a plugin providing it, so the bar shows this button only
    /// when `button_order` lists it (the live UI lists it, before `end_call`, when a pip
    /// plugin is loaded; see [`with_pip`]). A renderer sends the same press to go back from
    /// the compact PIP view, which has no button bar.
    pub const PIP: &str = "pip";
    /// Every built-in id shown without a pip plugin, in the default order of the button bar.
    pub const DEFAULT_ORDER: &[&str] =
        &[MUTE_AUDIO, PAUSE_VIDEO, SWITCH_CAMERA, AUDIO_MODE, SWITCH_TO_VIDEO, RECORD, END_CALL];

    /// `order` with [`PIP`] added before [`END_CALL`] (or last), unless it is there already.
    pub fn with_pip(order: &[&str]) -> Vec<String> {
        let mut ids: Vec<String> = order.iter().map(|&id| id.to_owned()).collect();
        if !ids.iter().any(|id| id == PIP) {
            let at = ids.iter().position(|id| id == END_CALL).unwrap_or(ids.len());
            ids.insert(at, PIP.to_owned());
        }
        ids
    }
}

fn audio_mode_label(mode: crate::model::AudioModeKind) -> &'static str {
    use crate::model::AudioModeKind;
    match mode {
        AudioModeKind::Speaker => "Speaker",
        AudioModeKind::Earpiece => "Earpiece",
        AudioModeKind::Bluetooth => "Bluetooth",
        AudioModeKind::Headphones => "Headphones",
    }
}

/// The button bar for a request: the built-in buttons the settings show, in
/// `button_order` (or [`button_id::DEFAULT_ORDER`]), with the custom buttons inserted at
/// their positions. Empty when `enable_default_layout` is false or in picture-in-picture.
///
/// The rules are the seed's: the record button only with `show_call_record_button`, the
/// switch-to-video button only on audio-only calls, every other built-in under its
/// `show_*_button` option. Toggles follow the local participant (muted, paused) and the
/// recording state.
pub fn button_bar(request: &ViewRequest) -> Vec<Button> {
    let s = &request.settings;
    if !s.enable_default_layout || request.pip {
        return Vec::new();
    }
    let local = request.participants.iter().find(|p| p.is_local);
    let muted = local.is_some_and(|p| p.audio_muted);
    let paused = local.is_some_and(|p| p.video_off) && !request.audio_only;
    let order: Vec<&str> = match &request.button_order {
        Some(ids) => ids.iter().map(String::as_str).collect(),
        None => button_id::DEFAULT_ORDER.to_vec(),
    };
    let button = |id: &str, label: &str, icon: &str, enabled: bool, toggled: bool| Button {
        id: id.to_owned(),
        label: label.to_owned(),
        icon: icon.to_owned(),
        enabled,
        toggled,
    };
    let mut bar: Vec<Button> = Vec::new();
    for id in order {
        // An id listed twice in config would draw two buttons doing the same thing.
        if bar.iter().any(|b| b.id == id) {
            continue;
        }
        let b = match id {
            button_id::MUTE_AUDIO if s.show_mute_audio_button => {
                button(id, if muted { "Unmute" } else { "Mute" }, "mic", true, muted)
            }
            button_id::PAUSE_VIDEO if s.show_pause_video_button => button(
                id,
                if paused { "Start video" } else { "Stop video" },
                "camera",
                !request.audio_only,
                paused,
            ),
            button_id::SWITCH_CAMERA if s.show_switch_camera_button => {
                button(id, "Flip camera", "switch-camera", !request.audio_only, false)
            }
            button_id::AUDIO_MODE if s.show_audio_mode_button => {
                let selected = request.audio_modes.iter().find(|m| m.is_selected).map(|m| m.mode);
                button(
                    id,
                    selected.map_or("Audio", audio_mode_label),
                    "speaker",
                    request.audio_modes.len() >= 2,
                    false,
                )
            }
            button_id::SWITCH_TO_VIDEO if s.show_switch_to_video_call_button && request.audio_only => {
                button(id, "Video call", "video", true, false)
            }
            button_id::RECORD if s.show_call_record_button => button(
                id,
                if request.recording { "Stop rec" } else { "Record" },
                "record",
                true,
                request.recording,
            ),
            button_id::END_CALL if s.show_end_call_button => button(id, "End", "end-call", true, false),
            // Only listed when a pip plugin provides PIP; in PIP the bar is empty anyway.
            button_id::PIP => button(id, "PIP", "pip", true, false),
            _ => continue,
        };
        bar.push(b);
    }
    // Insert in ascending position so that each position means "index in the final bar".
    let mut custom: Vec<&CustomButton> = request.custom_buttons.iter().collect();
    custom.sort_by_key(|b| b.position.unwrap_or(usize::MAX));
    for c in custom {
        let at = c.position.unwrap_or(usize::MAX).min(bar.len());
        bar.insert(at, button(&c.id, &c.label, &c.icon, true, false));
    }
    bar
}

/// What a layout remembers between messages to turn a built-in button press into the
/// matching command: the last [`ViewRequest`] sets it, events keep it current.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CallUiState {
    /// The local user's uid, once known.
    pub local_uid: Option<String>,
    /// The local microphone is muted.
    pub audio_muted: bool,
    /// The local camera is paused.
    pub video_paused: bool,
    /// The call is being recorded.
    pub recording: bool,
    /// The call is audio-only.
    pub audio_only: bool,
    /// The available audio outputs.
    pub audio_modes: Vec<AudioMode>,
    /// The last active speaker reported by `active_speaker_changed`.
    pub active_speaker: Option<String>,
    /// The call is shown in picture-in-picture (`pip_mode_changed`).
    pub pip: bool,
}

impl CallUiState {
    /// Takes the state a render request carries.
    pub fn update_from_request(&mut self, request: &ViewRequest) {
        if let Some(local) = request.participants.iter().find(|p| p.is_local) {
            self.local_uid = Some(local.user.uid.clone());
            self.audio_muted = local.audio_muted;
            self.video_paused = local.video_off && !request.audio_only;
        }
        self.recording = request.recording;
        self.pip = request.pip;
        self.audio_only = request.audio_only;
        self.audio_modes = request.audio_modes.clone();
        if request.active_speaker.is_some() {
            self.active_speaker = request.active_speaker.clone();
        }
    }

    fn is_local(&self, uid: &str) -> bool {
        self.local_uid.as_deref() == Some(uid)
    }

    /// Follows one call event.
    pub fn apply_event(&mut self, event: &crate::event::Event) {
        use crate::event::Event;
        match event {
            Event::SessionStarted { user, .. } => self.local_uid = Some(user.uid.clone()),
            Event::UserMuted { muted, .. } if self.is_local(&muted.uid) => self.audio_muted = true,
            Event::UserUnmuted { user } if self.is_local(&user.uid) => self.audio_muted = false,
            Event::UserVideoPaused { user, paused } if self.is_local(&user.uid) => {
                self.video_paused = *paused
            }
            Event::RecordingToggled { recording_started, .. } => self.recording = *recording_started,
            Event::AudioModeChanged { modes } => self.audio_modes = modes.clone(),
            Event::CallSwitchedToVideo { .. } => self.audio_only = false,
            Event::ActiveSpeakerChanged { uid } => self.active_speaker = uid.clone(),
            Event::PipModeChanged { active } => self.pip = *active,
            _ => {}
        }
    }

    /// The command a press of built-in button `id` stands for, or `None` for a custom
    /// button, an unknown id, or a press that has nothing to do (cycling audio outputs
    /// when fewer than two are available).
    pub fn command_for_button(&self, id: &str) -> Option<crate::command::Command> {
        use crate::command::Command;
        Some(match id {
            button_id::MUTE_AUDIO => Command::MuteAudio { muted: !self.audio_muted },
            button_id::PAUSE_VIDEO => Command::PauseVideo { paused: !self.video_paused },
            button_id::SWITCH_CAMERA => Command::SwitchCamera,
            button_id::AUDIO_MODE => {
                if self.audio_modes.len() < 2 {
                    return None;
                }
                let selected = self.audio_modes.iter().position(|m| m.is_selected).unwrap_or(0);
                let next = self.audio_modes[(selected + 1) % self.audio_modes.len()];
                Command::SetAudioMode { mode: next.mode }
            }
            button_id::SWITCH_TO_VIDEO => Command::SwitchToVideoCall,
            button_id::RECORD if self.recording => Command::StopRecording,
            button_id::RECORD => Command::StartRecording,
            button_id::END_CALL => Command::EndSession,
            button_id::PIP if self.pip => Command::ExitPipMode,
            button_id::PIP => Command::EnterPipMode,
            _ => return None,
        })
    }
}

/// The initials drawn on an avatar: the first letter of the first two words of a name,
/// upper-cased (`"Ada Lovelace"` gives `"AL"`), or `"?"` for an empty name.
pub fn initials(name: &str) -> String {
    let s: String = name
        .split_whitespace()
        .take(2)
        .filter_map(|w| w.chars().next())
        .flat_map(char::to_uppercase)
        .collect();
    if s.is_empty() { "?".to_owned() } else { s }
}

/// A button declared in config (`[[ui.button]]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomButton {
    /// The id `button_pressed` carries.
    pub id: String,
    /// The text on the button.
    pub label: String,
    /// An icon name, empty for none.
    #[serde(default)]
    pub icon: String,
    /// Where in the button bar it goes (0 is first); absent puts it last.
    #[serde(default)]
    pub position: Option<usize>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::Command;
    use crate::model::AudioModeKind;

    fn modes(kinds: &[AudioModeKind], selected: usize) -> Vec<AudioMode> {
        kinds.iter().enumerate().map(|(i, &mode)| AudioMode { mode, is_selected: i == selected }).collect()
    }

    #[test]
    fn initials_take_two_words() {
        assert_eq!(initials("Ada Lovelace"), "AL");
        assert_eq!(initials("  bob  "), "B");
        assert_eq!(initials("Jean Luc Picard"), "JL");
        assert_eq!(initials(""), "?");
    }

    #[test]
    fn audio_mode_cycles_after_the_selected_one() {
        use AudioModeKind::*;
        let mut state = CallUiState::default();
        assert_eq!(state.command_for_button(button_id::AUDIO_MODE), None, "nothing known");
        state.audio_modes = modes(&[Speaker], 0);
        assert_eq!(state.command_for_button(button_id::AUDIO_MODE), None, "nothing to switch to");
        state.audio_modes = modes(&[Speaker, Earpiece, Bluetooth], 2);
        assert_eq!(
            state.command_for_button(button_id::AUDIO_MODE),
            Some(Command::SetAudioMode { mode: Speaker })
        );
        assert_eq!(state.command_for_button("raise_hand"), None);
    }

    /// A request with no participants and every setting at its default.
    fn empty_request() -> ViewRequest {
        ViewRequest {
            width: 100.0,
            height: 100.0,
            settings: CallSettings::default(),
            button_order: None,
            custom_buttons: Vec::new(),
            participants: Vec::new(),
            active_speaker: None,
            recording: false,
            pip: false,
            idle_seconds_left: None,
            audio_modes: Vec::new(),
            audio_only: false,
        }
    }

    #[test]
    fn custom_buttons_past_the_end_go_last_and_pip_has_none() {
        let mut request = ViewRequest {
            button_order: Some(vec![button_id::END_CALL.to_owned()]),
            custom_buttons: vec![CustomButton {
                id: "x".into(),
                label: "X".into(),
                icon: String::new(),
                position: Some(99),
            }],
            ..empty_request()
        };
        let ids: Vec<String> = button_bar(&request).into_iter().map(|b| b.id).collect();
        assert_eq!(ids, ["end_call", "x"]);
        request.pip = true;
        assert!(button_bar(&request).is_empty());
    }

    #[test]
    fn the_pip_button_shows_only_when_listed_and_toggles_pip() {
        let mut request = empty_request();
        let ids = |r: &ViewRequest| button_bar(r).into_iter().map(|b| b.id).collect::<Vec<_>>();
        assert!(!ids(&request).iter().any(|id| id == button_id::PIP), "not in the default order");
        request.button_order = Some(button_id::with_pip(button_id::DEFAULT_ORDER));
        let bar = ids(&request);
        assert_eq!(&bar[bar.len() - 2..], ["pip", "end_call"]);
        assert_eq!(button_id::with_pip(&["pip", "mute_audio"]), ["pip", "mute_audio"], "already listed");

        let mut state = CallUiState::default();
        assert_eq!(state.command_for_button(button_id::PIP), Some(Command::EnterPipMode));
        state.apply_event(&crate::event::Event::PipModeChanged { active: true });
        assert_eq!(state.command_for_button(button_id::PIP), Some(Command::ExitPipMode));
    }
}
