//! `layout-default`: the seed's default call layout. Three modes (DEFAULT grid, SPOTLIGHT,
//! SINGLE), the built-in button bar, avatars, indicators, the main video container's
//! controls, and the recording, idle-timeout and picture-in-picture overlays.
//!
//! The plugin keeps only what the host does not send with every render request: which tile
//! was clicked (pinned), where small tiles were dragged, and the call state needed to turn
//! a button press into a command (the last request plus the events since).

pub mod geometry;

use std::collections::BTreeMap;

use switchboard_core::sdk::{Context, Plugin};
use switchboard_core::settings::{CallSettings, Mode};
use switchboard_core::view::{
    self, CallUiState, NameLabel, Overlay, ParticipantView, Rect, Tile, TileContent, TileControl, UiInput,
    View, ViewRequest,
};
use switchboard_core::{Capability, Event, EventKind, PluginKind};

use geometry::{boxed, centred, clamp_to, grid, inset, split_bar, spotlight};

/// The plugin.
#[derive(Debug, Default)]
pub struct DefaultLayout {
    /// Call state for button presses.
    ui: CallUiState,
    /// The settings of the last request (click and drag permissions).
    settings: Option<CallSettings>,
    /// The tile clicked into the main spot, until it is clicked again or leaves.
    pinned: Option<String>,
    /// Small tiles moved by dragging: their top-left corners in window pixels.
    dragged: BTreeMap<String, (f32, f32)>,
}

impl DefaultLayout {
    fn spotlight_settings(&self) -> (bool, bool, bool) {
        let s = self.settings.clone().unwrap_or_default();
        (s.mode == Mode::Spotlight, s.enable_video_tile_click, s.enable_video_tile_drag)
    }

    fn press(&mut self, id: &str, ctx: &mut Context) {
        // Custom buttons map to no command: the host has already raised `button_pressed`
        // for them, which is all a custom button does.
        if let Some(command) = self.ui.command_for_button(id) {
            ctx.send(command);
        }
    }
}

/// Which participant takes the main spot: the pinned one, else the active speaker, else
/// the first remote participant, else the local one.
pub fn pick_main(
    participants: &[ParticipantView],
    pinned: Option<&str>,
    active: Option<&str>,
) -> Option<usize> {
    let find = |uid: Option<&str>| uid.and_then(|uid| participants.iter().position(|p| p.user.uid == uid));
    find(pinned)
        .or_else(|| find(active))
        .or_else(|| participants.iter().position(|p| !p.is_local))
        .or(if participants.is_empty() { None } else { Some(0) })
}

/// One participant's tile, before the mode decides whether it is clickable or draggable.
fn tile(
    p: &ParticipantView,
    rect: Rect,
    z: i32,
    main: bool,
    req: &ViewRequest,
    active: Option<&str>,
) -> Tile {
    let s = &req.settings;
    let mvc = &s.main_video_container;
    let video_off = p.video_off || req.audio_only;
    let content = if video_off {
        TileContent::Avatar {
            mode: s.avatar_mode,
            initials: view::initials(&p.user.name),
            url: p.user.avatar.clone(),
        }
    } else {
        TileContent::Video {
            aspect_ratio: if main {
                mvc.aspect_ratio
            } else {
                switchboard_core::settings::AspectRatio::Default
            },
        }
    };
    let name_label = mvc.name_label.visible.then(|| NameLabel {
        text: if p.is_local { format!("{} (You)", p.user.name) } else { p.user.name.clone() },
        position: mvc.name_label.position,
        background_color: mvc.name_label.background_color.clone(),
    });
    let controls = if main { TileControl::for_main_tile(mvc) } else { Vec::new() };
    Tile {
        uid: p.user.uid.clone(),
        rect,
        z,
        content,
        name_label,
        muted: p.audio_muted,
        video_off,
        active_speaker: active == Some(p.user.uid.as_str()),
        main,
        controls,
        clickable: false,
        draggable: false,
    }
}

/// Lays out one request. Pure: the plugin's state comes in as arguments.
pub fn layout(
    req: &ViewRequest,
    pinned: Option<&str>,
    dragged: &BTreeMap<String, (f32, f32)>,
    active: Option<&str>,
) -> View {
    let (width, height) = (finite_or_zero(req.width), finite_or_zero(req.height));
    let window = Rect::new(0.0, 0.0, width, height);
    let s = &req.settings;
    let mut overlays = Vec::new();

    if req.pip {
        // Picture-in-picture: only the speaker, no buttons, the whole (small) window.
        let tiles = pick_main(&req.participants, None, active)
            .map(|i| {
                let mut t = tile(&req.participants[i], window, 0, true, req, active);
                t.controls.clear();
                t
            })
            .into_iter()
            .collect();
        overlays.push(Overlay::PipWindow { rect: window });
        push_status_overlays(req, &window, &mut overlays);
        return View { width, height, tiles, buttons: Vec::new(), button_bar: None, overlays };
    }

    let buttons = view::button_bar(req);
    let (area, button_bar) = split_bar(width, height, !buttons.is_empty());
    let mut tiles = Vec::new();
    match s.mode {
        Mode::Default => {
            for (p, rect) in req.participants.iter().zip(grid(&area, req.participants.len())) {
                tiles.push(tile(p, rect, 0, false, req, active));
            }
        }
        Mode::Single => {
            if let Some(i) = pick_main(&req.participants, pinned, active) {
                tiles.push(tile(&req.participants[i], inset(&area), 0, true, req, active));
            }
        }
        Mode::Spotlight => {
            if let Some(main_i) = pick_main(&req.participants, pinned, active) {
                let others: Vec<&ParticipantView> = req
                    .participants
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i != main_i)
                    .map(|(_, p)| p)
                    .collect();
                let (main_rect, strip) = spotlight(&area, others.len());
                let mut main = tile(&req.participants[main_i], main_rect, 0, true, req, active);
                // Clicking the main tile un-pins it, so it is clickable only while pinned.
                main.clickable = s.enable_video_tile_click && pinned == Some(main.uid.as_str());
                tiles.push(main);
                for (p, rect) in others.into_iter().zip(strip) {
                    let (rect, z) = match dragged.get(&p.user.uid) {
                        Some(&(x, y)) if s.enable_video_tile_drag => (clamp_to(&rect, x, y, &area), 2),
                        _ => (rect, 1),
                    };
                    let mut t = tile(p, rect, z, false, req, active);
                    t.clickable = s.enable_video_tile_click;
                    t.draggable = s.enable_video_tile_drag;
                    tiles.push(t);
                }
            }
        }
    }
    push_status_overlays(req, &window, &mut overlays);
    View { width, height, tiles, buttons, button_bar, overlays }
}

fn finite_or_zero(v: f32) -> f32 {
    if v.is_finite() { v.max(0.0) } else { 0.0 }
}

/// The recording indicator (top left) and the idle-timeout prompt (centred).
fn push_status_overlays(req: &ViewRequest, window: &Rect, overlays: &mut Vec<Overlay>) {
    if req.recording {
        overlays.push(Overlay::RecordingIndicator { rect: boxed(12.0, 12.0, 140.0, 30.0, window) });
    }
    if let Some(seconds_left) = req.idle_seconds_left {
        overlays.push(Overlay::IdleTimeoutPrompt { rect: centred(420.0, 130.0, window), seconds_left });
    }
}

impl Plugin for DefaultLayout {
    const ID: &'static str = "layout-default";
    const NAME: &'static str = "Default layout";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const KIND: PluginKind = PluginKind::Layout;
    const DESCRIPTION: &'static str =
        "The seed's default layout: grid, spotlight and single modes with the built-in button bar.";
    const CAPABILITIES: &'static [Capability] = &[Capability::Layout];
    const SUBSCRIPTIONS: &'static [EventKind] = &[
        EventKind::SessionStarted,
        EventKind::ButtonPressed,
        EventKind::ActiveSpeakerChanged,
        EventKind::UserMuted,
        EventKind::UserUnmuted,
        EventKind::UserVideoPaused,
        EventKind::UserLeft,
        EventKind::RecordingToggled,
        EventKind::AudioModeChanged,
        EventKind::CallSwitchedToVideo,
    ];

    fn on_event(&mut self, event: &Event, ctx: &mut Context) {
        self.ui.apply_event(event);
        match event {
            Event::ButtonPressed { id } => self.press(id, ctx),
            Event::UserLeft { user } => {
                if self.pinned.as_deref() == Some(user.uid.as_str()) {
                    self.pinned = None;
                }
                self.dragged.remove(&user.uid);
            }
            _ => {}
        }
    }

    fn on_input(&mut self, input: &UiInput, ctx: &mut Context) {
        let (spotlight_mode, click, drag) = self.spotlight_settings();
        match input {
            UiInput::ButtonPressed { id } => self.press(id, ctx),
            UiInput::TileClicked { uid } if spotlight_mode && click => {
                if self.pinned.as_deref() == Some(uid.as_str()) {
                    self.pinned = None;
                } else {
                    // The pinned tile moves to the main spot; a drag position no longer applies.
                    self.dragged.remove(uid);
                    self.pinned = Some(uid.clone());
                }
            }
            UiInput::TileDragged { uid, x, y }
                if spotlight_mode && drag && x.is_finite() && y.is_finite() =>
            {
                self.dragged.insert(uid.clone(), (*x, *y));
            }
            // Resizes need nothing: every render request carries the window size.
            _ => {}
        }
    }

    fn render(&mut self, request: &ViewRequest) -> Option<View> {
        self.ui.update_from_request(request);
        self.settings = Some(request.settings.clone());
        let active = request.active_speaker.clone().or_else(|| self.ui.active_speaker.clone());
        Some(layout(request, self.pinned.as_deref(), &self.dragged, active.as_deref()))
    }
}

switchboard_core::export_plugin!(DefaultLayout);
