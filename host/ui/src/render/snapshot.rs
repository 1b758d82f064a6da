//! PNG snapshots of a layout without a call: a [`ViewRequest`] built from config and N
//! synthetic participants, laid out by whichever layout the caller provides (the plugin
//! named by `[ui] layout`), drawn with tiny-skia, encoded as PNG.

use switchboard_config::Config;
use switchboard_core::view::{Overlay, ParticipantView, Rect, View, ViewRequest};
use switchboard_core::{AudioMode, AudioModeKind, Mode, RtcUser};

use super::draw::draw_view;

/// The names synthetic participants get, in order; past the list, `Guest N`.
pub const NAMES: &[&str] = &[
    "Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy", "Mallory", "Niaj",
    "Olivia", "Peggy", "Rupert", "Sybil", "Trent", "Uma", "Victor", "Walter",
];

/// Why a snapshot could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// A participant id given on the command line matches nobody.
    #[error(
        "no participant `{id}`: use a name in lower case (alice, bob, ...) or a number from 1 to {count}"
    )]
    UnknownParticipant {
        /// The id as given.
        id: String,
        /// How many participants there are.
        count: usize,
    },
    /// The image size is zero or too large.
    #[error("image size {width}x{height} is not usable (each side 1 to 8192 pixels)")]
    BadSize {
        /// Width asked for.
        width: u32,
        /// Height asked for.
        height: u32,
    },
    /// The layout failed.
    #[error("the layout failed: {0}")]
    Layout(#[source] LayoutError),
    /// The layout answered with a view the renderer cannot draw.
    #[error("the layout returned an unusable view: {0}")]
    BadView(String),
    /// PNG encoding failed.
    #[error("encoding the PNG: {0}")]
    Png(String),
}

/// Why a layout could not lay a view out, as the caller's layout function reports it.
pub type LayoutError = Box<dyn std::error::Error + Send + Sync>;

/// What to put in the snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotSpec {
    /// How many participants (the first one is the local user).
    pub participants: usize,
    /// The active speaker: a uid (`bob`) or a 1-based number.
    pub speaking: Option<String>,
    /// Participants whose video is off.
    pub video_off: Vec<String>,
    /// Participants whose microphone is muted.
    pub muted: Vec<String>,
    /// Overrides `[call] mode`.
    pub mode: Option<Mode>,
    /// Show the call as being recorded.
    pub recording: bool,
    /// Show the idle-timeout prompt with this many seconds left.
    pub idle_seconds_left: Option<u32>,
    /// Picture-in-picture.
    pub pip: bool,
    /// Image width in pixels.
    pub width: u32,
    /// Image height in pixels.
    pub height: u32,
}

impl SnapshotSpec {
    /// A spec with `participants` people and nothing else set.
    pub fn new(participants: usize, width: u32, height: u32) -> Self {
        Self {
            participants,
            speaking: None,
            video_off: Vec::new(),
            muted: Vec::new(),
            mode: None,
            recording: false,
            idle_seconds_left: None,
            pip: false,
            width,
            height,
        }
    }
}

/// `n` synthetic participants: Alice (local), Bob, Carol, ...; uids are the names in lower
/// case.
pub fn synthetic_participants(n: usize) -> Vec<ParticipantView> {
    (0..n)
        .map(|i| {
            let name = NAMES.get(i).map_or_else(|| format!("Guest {}", i + 1), |s| (*s).to_owned());
            let uid = name.to_lowercase().replace(' ', "-");
            ParticipantView {
                user: RtcUser::new(uid, name),
                is_local: i == 0,
                audio_muted: false,
                video_off: false,
            }
        })
        .collect()
}

/// Finds a participant by uid or 1-based number.
fn resolve(participants: &[ParticipantView], id: &str) -> Result<usize, SnapshotError> {
    let id = id.trim();
    let by_number = id.parse::<usize>().ok().filter(|n| (1..=participants.len()).contains(n)).map(|n| n - 1);
    by_number
        .or_else(|| participants.iter().position(|p| p.user.uid.eq_ignore_ascii_case(id)))
        .ok_or_else(|| SnapshotError::UnknownParticipant { id: id.to_owned(), count: participants.len() })
}

/// The render request for a snapshot: the config's call settings and buttons, the
/// synthetic participants, and the states the spec asks for.
pub fn synthetic_request(config: &Config, spec: &SnapshotSpec) -> Result<ViewRequest, SnapshotError> {
    if spec.width == 0 || spec.height == 0 || spec.width > 8192 || spec.height > 8192 {
        return Err(SnapshotError::BadSize { width: spec.width, height: spec.height });
    }
    let mut participants = synthetic_participants(spec.participants);
    for id in &spec.video_off {
        let i = resolve(&participants, id)?;
        participants[i].video_off = true;
    }
    for id in &spec.muted {
        let i = resolve(&participants, id)?;
        participants[i].audio_muted = true;
    }
    let active_speaker = match &spec.speaking {
        Some(id) => Some(participants[resolve(&participants, id)?].user.uid.clone()),
        None => None,
    };
    let mut settings = config.call.clone();
    if let Some(mode) = spec.mode {
        settings.mode = mode;
    }
    Ok(ViewRequest {
        width: spec.width as f32,
        height: spec.height as f32,
        audio_only: settings.audio_only_call,
        settings,
        button_order: config.ui.buttons.clone(),
        custom_buttons: config.ui.custom_buttons.clone(),
        participants,
        active_speaker,
        recording: spec.recording,
        pip: spec.pip,
        idle_seconds_left: spec.idle_seconds_left,
        // Two outputs, so the audio-mode button shows as usable, as on a phone.
        audio_modes: vec![
            AudioMode { mode: AudioModeKind::Speaker, is_selected: true },
            AudioMode { mode: AudioModeKind::Earpiece, is_selected: false },
        ],
    })
}

/// Asks `layout` for the view of `request` and checks it can be drawn: the window size it
/// was asked for, and finite rectangles.
pub fn view_for(
    request: &ViewRequest,
    layout: &dyn Fn(&ViewRequest) -> Result<View, LayoutError>,
) -> Result<View, SnapshotError> {
    let view = layout(request).map_err(SnapshotError::Layout)?;
    if view.width != request.width || view.height != request.height {
        return Err(SnapshotError::BadView(format!(
            "asked for {}x{}, got {}x{}",
            request.width, request.height, view.width, view.height
        )));
    }
    let overlay_rects = view.overlays.iter().filter_map(|o| match o {
        Overlay::RecordingIndicator { rect }
        | Overlay::IdleTimeoutPrompt { rect, .. }
        | Overlay::PipWindow { rect } => Some(rect),
        _ => None,
    });
    let rects: Vec<&Rect> =
        view.tiles.iter().map(|t| &t.rect).chain(view.button_bar.as_ref()).chain(overlay_rects).collect();
    if let Some(bad) = rects.iter().find(|r| !r.is_finite()) {
        return Err(SnapshotError::BadView(format!("rectangle {bad:?} is not finite")));
    }
    Ok(view)
}

/// Draws `view` and encodes it as PNG.
pub fn render_png(view: &View) -> Result<Vec<u8>, SnapshotError> {
    let (w, h) = (view.width.round() as u32, view.height.round() as u32);
    let mut pixmap = tiny_skia::Pixmap::new(w, h).ok_or(SnapshotError::BadSize { width: w, height: h })?;
    draw_view(&mut pixmap, view);
    pixmap.encode_png().map_err(|e| SnapshotError::Png(e.to_string()))
}
