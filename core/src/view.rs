//! The view model: what a layout plugin produces and a renderer draws, toolkit-free.
//!
//! The host sends a layout plugin a [`ViewRequest`] (window size, settings, who is in the
//! call and their state); the plugin answers with a [`View`]: tiles with rectangles, the
//! button bar and overlays. UI input ([`UiInput`]) flows back the same way.

use serde::{Deserialize, Serialize};

use crate::config::CustomButton;
use crate::model::{AudioMode, RtcUser};
use crate::settings::{AspectRatio, AvatarMode, CallSettings, Position};

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
