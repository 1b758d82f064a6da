//! `layout-stage`: a second call layout that looks nothing like the default one. The
//! speaker stands on a large stage; everyone else is listed in a sidebar of short rows
//! (thumbnail and name) down one side of the window; the button bar sits under the stage
//! only. Chosen purely by config: `[ui] layout = "layout-stage"`.
//!
//! Settings (`[[plugin]] name = "layout-stage"`, `[plugin.settings]`): `sidebar = "right"`
//! or `"left"`, `sidebar_width` in pixels (default 280, at most 40% of the window).
//! Mode SINGLE hides the sidebar; DEFAULT and SPOTLIGHT both show the stage and sidebar.
//! Clicking a sidebar row puts it on the stage (`enable_video_tile_click`); rows are a
//! list, so they are not draggable.

use serde::Deserialize;
use switchboard_core::sdk::{Context, Plugin, PluginError, Settings};
use switchboard_core::settings::{AspectRatio, Mode};
use switchboard_core::view::{
    self, CallUiState, NameLabel, Overlay, ParticipantView, Rect, Tile, TileContent, TileControl, UiInput,
    View, ViewRequest,
};
use switchboard_core::{Capability, Event, EventKind, PluginKind};

/// Which side the sidebar is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// Left of the stage.
    Left,
    /// Right of the stage (the default).
    #[default]
    Right,
}

/// `[plugin.settings]` of this layout.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StageSettings {
    /// Which side the sidebar is on.
    pub sidebar: Side,
    /// The sidebar's width in pixels (at most 40% of the window).
    pub sidebar_width: f32,
}

impl Default for StageSettings {
    fn default() -> Self {
        Self { sidebar: Side::Right, sidebar_width: 280.0 }
    }
}

/// The plugin.
#[derive(Debug, Default)]
pub struct StageLayout {
    config: StageSettings,
    ui: CallUiState,
    click_enabled: bool,
    pinned: Option<String>,
}

const GAP: f32 = 8.0;
const ROW_HEIGHT: f32 = 64.0;
const BAR_HEIGHT: f32 = 72.0;

/// Stage first: the pinned participant, else the active speaker, else the first remote
/// participant, else the local one.
pub fn pick_stage(
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

fn tile(p: &ParticipantView, rect: Rect, on_stage: bool, req: &ViewRequest, active: Option<&str>) -> Tile {
    let s = &req.settings;
    let mvc = &s.main_video_container;
    let video_off = p.video_off || req.audio_only;
    let content = if video_off {
        // Sidebar rows are too short for a full-tile avatar; a square thumbnail reads as a list.
        let mode = if on_stage { s.avatar_mode } else { switchboard_core::settings::AvatarMode::Square };
        TileContent::Avatar { mode, initials: view::initials(&p.user.name), url: p.user.avatar.clone() }
    } else {
        TileContent::Video { aspect_ratio: if on_stage { mvc.aspect_ratio } else { AspectRatio::Cover } }
    };
    let name_label = mvc.name_label.visible.then(|| NameLabel {
        text: if p.is_local { format!("{} (You)", p.user.name) } else { p.user.name.clone() },
        // In a row the name always sits at the left, where a list puts it.
        position: if on_stage {
            mvc.name_label.position
        } else {
            switchboard_core::settings::Position::TopLeft
        },
        background_color: mvc.name_label.background_color.clone(),
    });
    let controls = if on_stage { TileControl::for_main_tile(mvc) } else { Vec::new() };
    Tile {
        uid: p.user.uid.clone(),
        rect,
        z: 0,
        content,
        name_label,
        muted: p.audio_muted,
        video_off,
        active_speaker: active == Some(p.user.uid.as_str()),
        main: on_stage,
        controls,
        clickable: false,
        draggable: false,
    }
}

fn finite_or_zero(v: f32) -> f32 {
    if v.is_finite() { v.max(0.0) } else { 0.0 }
}

fn inset(r: &Rect, by: f32) -> Rect {
    let by = by.min(r.w / 4.0).min(r.h / 4.0).max(0.0);
    Rect::new(r.x + by, r.y + by, (r.w - 2.0 * by).max(0.0), (r.h - 2.0 * by).max(0.0))
}

/// Lays out one request. Pure: the plugin's state comes in as arguments.
pub fn layout(req: &ViewRequest, config: &StageSettings, pinned: Option<&str>, active: Option<&str>) -> View {
    let (width, height) = (finite_or_zero(req.width), finite_or_zero(req.height));
    let window = Rect::new(0.0, 0.0, width, height);
    let s = &req.settings;
    let mut overlays = Vec::new();
    let stage_i = pick_stage(&req.participants, pinned, active);

    if req.pip {
        let tiles = stage_i
            .map(|i| {
                let mut t = tile(&req.participants[i], window, true, req, active);
                t.controls.clear();
                t
            })
            .into_iter()
            .collect();
        overlays.push(Overlay::PipWindow { rect: window });
        status_overlays(req, &window, &mut overlays);
        return View { width, height, tiles, buttons: Vec::new(), button_bar: None, overlays };
    }

    let others: Vec<&ParticipantView> =
        req.participants.iter().enumerate().filter(|(i, _)| Some(*i) != stage_i).map(|(_, p)| p).collect();
    let show_sidebar = s.mode != Mode::Single && !others.is_empty();
    let sidebar_w = if show_sidebar {
        let w = if config.sidebar_width.is_finite() { config.sidebar_width } else { 280.0 };
        w.clamp(0.0, width * 0.4)
    } else {
        0.0
    };
    let (stage_col, sidebar) = match config.sidebar {
        Side::Right => (
            Rect::new(0.0, 0.0, width - sidebar_w, height),
            Rect::new(width - sidebar_w, 0.0, sidebar_w, height),
        ),
        Side::Left => {
            (Rect::new(sidebar_w, 0.0, width - sidebar_w, height), Rect::new(0.0, 0.0, sidebar_w, height))
        }
    };

    let buttons = view::button_bar(req);
    let (stage_area, button_bar) = if buttons.is_empty() {
        (stage_col, None)
    } else {
        let bar_h = BAR_HEIGHT.min(height * 0.2);
        (
            Rect::new(stage_col.x, stage_col.y, stage_col.w, stage_col.h - bar_h),
            Some(Rect::new(stage_col.x, stage_col.y + stage_col.h - bar_h, stage_col.w, bar_h)),
        )
    };

    let mut tiles = Vec::new();
    if let Some(i) = stage_i {
        let mut t = tile(&req.participants[i], inset(&stage_area, GAP), true, req, active);
        t.clickable = s.enable_video_tile_click && pinned == Some(t.uid.as_str());
        tiles.push(t);
    }
    if show_sidebar {
        let k = others.len() as f32;
        let gap = GAP.min(sidebar.h / (4.0 * (k + 1.0)));
        let row_h = ROW_HEIGHT.min((sidebar.h - gap * (k + 1.0)) / k).max(0.0);
        let row_w = (sidebar.w - 2.0 * gap).max(0.0);
        for (n, p) in others.into_iter().enumerate() {
            let rect = Rect::new(sidebar.x + gap, sidebar.y + gap + n as f32 * (row_h + gap), row_w, row_h);
            let mut t = tile(p, rect, false, req, active);
            t.clickable = s.enable_video_tile_click;
            tiles.push(t);
        }
    }
    status_overlays(req, &stage_area, &mut overlays);
    View { width, height, tiles, buttons, button_bar, overlays }
}

fn status_overlays(req: &ViewRequest, area: &Rect, overlays: &mut Vec<Overlay>) {
    if req.recording {
        let w = 140.0_f32.min(area.w);
        let h = 30.0_f32.min(area.h);
        // Top right of the stage, away from the default layout's top-left spot.
        let x = area.x + (area.w - w - 16.0).max(0.0);
        let y = area.y + 16.0_f32.min((area.h - h).max(0.0));
        overlays.push(Overlay::RecordingIndicator { rect: Rect::new(x, y, w, h) });
    }
    if let Some(seconds_left) = req.idle_seconds_left {
        let w = 420.0_f32.min(area.w);
        let h = 130.0_f32.min(area.h);
        let rect = Rect::new(area.x + (area.w - w) / 2.0, area.y + (area.h - h) / 2.0, w, h);
        overlays.push(Overlay::IdleTimeoutPrompt { rect, seconds_left });
    }
}

impl Plugin for StageLayout {
    const ID: &'static str = "layout-stage";
    const NAME: &'static str = "Stage layout";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const KIND: PluginKind = PluginKind::Layout;
    const DESCRIPTION: &'static str = "The speaker on a big stage, everyone else in a sidebar list.";
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

    fn configure(&mut self, settings: &Settings) -> Result<(), PluginError> {
        self.config = settings.parse()?;
        self.click_enabled = true;
        Ok(())
    }

    fn on_event(&mut self, event: &Event, ctx: &mut Context) {
        self.ui.apply_event(event);
        match event {
            Event::ButtonPressed { id } => {
                if let Some(command) = self.ui.command_for_button(id) {
                    ctx.send(command);
                }
            }
            Event::UserLeft { user } if self.pinned.as_deref() == Some(user.uid.as_str()) => {
                self.pinned = None
            }
            _ => {}
        }
    }

    fn on_input(&mut self, input: &UiInput, ctx: &mut Context) {
        match input {
            UiInput::ButtonPressed { id } => {
                if let Some(command) = self.ui.command_for_button(id) {
                    ctx.send(command);
                }
            }
            UiInput::TileClicked { uid } if self.click_enabled => {
                self.pinned =
                    if self.pinned.as_deref() == Some(uid.as_str()) { None } else { Some(uid.clone()) };
            }
            _ => {}
        }
    }

    fn render(&mut self, request: &ViewRequest) -> Option<View> {
        self.ui.update_from_request(request);
        self.click_enabled = request.settings.enable_video_tile_click;
        let active = request.active_speaker.clone().or_else(|| self.ui.active_speaker.clone());
        Some(layout(request, &self.config, self.pinned.as_deref(), active.as_deref()))
    }
}

switchboard_core::export_plugin!(StageLayout);
