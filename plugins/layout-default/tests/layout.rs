//! View-model tests of `layout-default`, driven through the real ABI glue with the SDK's
//! `Harness`: snapshots of tile rectangles and buttons per mode, participant count and key
//! settings; geometric properties over many sizes; button presses, clicks and drags.

use std::fmt::Write as _;

use layout_default::DefaultLayout;
use switchboard_core::sdk::testing::Harness;
use switchboard_core::settings::{AvatarMode, CallSettings, Mode, Position};
use switchboard_core::view::CustomButton;
use switchboard_core::view::{Overlay, ParticipantView, Rect, TileContent, UiInput, View, ViewRequest};
use switchboard_core::{AudioMode, AudioModeKind, Command, Event, RtcUser};

const NAMES: &[&str] = &[
    "Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy", "Mallory", "Niaj",
    "Olivia", "Peggy", "Rupert", "Sybil",
];

fn participants(n: usize) -> Vec<ParticipantView> {
    (0..n)
        .map(|i| {
            let name = NAMES.get(i).map_or_else(|| format!("Guest {i}"), |s| (*s).to_owned());
            ParticipantView {
                user: RtcUser::new(name.to_lowercase().replace(' ', "-"), name),
                is_local: i == 0,
                audio_muted: i % 3 == 2,
                video_off: i % 4 == 3,
            }
        })
        .collect()
}

fn request(n: usize, settings: CallSettings) -> ViewRequest {
    let participants = participants(n);
    ViewRequest {
        width: 1280.0,
        height: 720.0,
        active_speaker: participants.get(1).map(|p| p.user.uid.clone()),
        settings,
        button_order: None,
        custom_buttons: Vec::new(),
        participants,
        recording: false,
        pip: false,
        idle_seconds_left: None,
        audio_modes: vec![
            AudioMode { mode: AudioModeKind::Speaker, is_selected: true },
            AudioMode { mode: AudioModeKind::Earpiece, is_selected: false },
        ],
        audio_only: false,
    }
}

fn render(req: &ViewRequest) -> View {
    let mut h = Harness::<DefaultLayout>::new().expect("creating the plugin");
    h.render(req).expect("render through the ABI").expect("a layout returns a view")
}

fn r(rect: &Rect) -> String {
    format!("{:.0},{:.0} {:.0}x{:.0}", rect.x, rect.y, rect.w, rect.h)
}

/// A compact, reviewable text form of a view.
fn describe(view: &View) -> String {
    let mut s = String::new();
    for t in &view.tiles {
        let content = match &t.content {
            TileContent::Video { aspect_ratio } => format!("video({aspect_ratio:?})"),
            TileContent::Avatar { mode, initials, .. } => format!("avatar({mode:?},{initials})"),
        };
        let mut flags = Vec::new();
        for (on, name) in [
            (t.main, "main"),
            (t.muted, "muted"),
            (t.video_off, "video-off"),
            (t.active_speaker, "speaking"),
            (t.clickable, "click"),
            (t.draggable, "drag"),
        ] {
            if on {
                flags.push(name.to_owned());
            }
        }
        if let Some(label) = &t.name_label {
            flags.push(format!("label@{:?}", label.position));
        }
        for c in &t.controls {
            flags.push(format!("{}@{:?}", c.id, c.position));
        }
        let _ =
            writeln!(s, "  tile {:<8} z{} {:<22} {} [{}]", t.uid, t.z, r(&t.rect), content, flags.join(" "));
    }
    let buttons: Vec<String> = view
        .buttons
        .iter()
        .map(|b| {
            format!("{}{}{}", b.id, if b.toggled { "*" } else { "" }, if b.enabled { "" } else { "(off)" })
        })
        .collect();
    let _ =
        writeln!(s, "  bar {} [{}]", view.button_bar.as_ref().map_or("none".into(), r), buttons.join(" "));
    for o in &view.overlays {
        let _ = match o {
            Overlay::RecordingIndicator { rect } => writeln!(s, "  overlay recording {}", r(rect)),
            Overlay::IdleTimeoutPrompt { rect, seconds_left } => {
                writeln!(s, "  overlay idle {}s {}", seconds_left, r(rect))
            }
            Overlay::PipWindow { rect } => writeln!(s, "  overlay pip {}", r(rect)),
            _ => writeln!(s, "  overlay unknown"),
        };
    }
    s
}

const COUNTS: &[usize] = &[1, 2, 3, 4, 6, 9, 16];

fn table(settings: &CallSettings, tweak: impl Fn(&mut ViewRequest)) -> String {
    let mut out = String::new();
    for &n in COUNTS {
        let mut req = request(n, settings.clone());
        tweak(&mut req);
        let _ = writeln!(out, "{n} participants:");
        out.push_str(&describe(&render(&req)));
    }
    out
}

fn key_settings(mode: Mode) -> CallSettings {
    let mut s = CallSettings::builder()
        .mode(mode)
        .avatar_mode(AvatarMode::Square)
        .show_call_record_button(true)
        .enable_video_tile_drag(false)
        .build();
    s.main_video_container.name_label.position = Position::TopRight;
    s.main_video_container.zoom_button.visible = false;
    s
}

fn audio_only(req: &mut ViewRequest) {
    req.audio_only = true;
    req.recording = true;
    req.settings.audio_only_call = true;
}

#[test]
fn default_mode_seed_settings() {
    insta::assert_snapshot!(table(&CallSettings::builder().mode(Mode::Default).build(), |_| {}));
}

#[test]
fn default_mode_key_settings() {
    insta::assert_snapshot!(table(&key_settings(Mode::Default), audio_only));
}

#[test]
fn spotlight_mode_seed_settings() {
    insta::assert_snapshot!(table(&CallSettings::default(), |_| {}));
}

#[test]
fn spotlight_mode_key_settings() {
    insta::assert_snapshot!(table(&key_settings(Mode::Spotlight), audio_only));
}

#[test]
fn single_mode_seed_settings() {
    insta::assert_snapshot!(table(&CallSettings::builder().mode(Mode::Single).build(), |_| {}));
}

#[test]
fn single_mode_key_settings() {
    insta::assert_snapshot!(table(&key_settings(Mode::Single), audio_only));
}

#[test]
fn disabled_default_layout_shows_only_the_call_view() {
    for mode in [Mode::Default, Mode::Spotlight, Mode::Single] {
        let req = request(4, CallSettings::builder().mode(mode).enable_default_layout(false).build());
        let view = render(&req);
        assert!(view.buttons.is_empty(), "{mode:?}: {:?}", view.buttons);
        assert_eq!(view.button_bar, None);
        assert!(!view.tiles.is_empty());
    }
}

#[test]
fn every_show_button_option_hides_its_button() {
    let ids = |req: &ViewRequest| render(req).buttons.into_iter().map(|b| b.id).collect::<Vec<_>>();
    let all = request(2, CallSettings::builder().show_call_record_button(true).build());
    assert_eq!(ids(&all), ["mute_audio", "pause_video", "switch_camera", "audio_mode", "record", "end_call"]);
    type TurnOff = fn(&mut CallSettings);
    let checks: [(TurnOff, &str); 6] = [
        (|s| s.show_mute_audio_button = false, "mute_audio"),
        (|s| s.show_pause_video_button = false, "pause_video"),
        (|s| s.show_switch_camera_button = false, "switch_camera"),
        (|s| s.show_audio_mode_button = false, "audio_mode"),
        (|s| s.show_call_record_button = false, "record"),
        (|s| s.show_end_call_button = false, "end_call"),
    ];
    for (off, id) in checks {
        let mut req = all.clone();
        off(&mut req.settings);
        let got = ids(&req);
        assert!(!got.contains(&id.to_owned()), "{id} still shown: {got:?}");
        assert_eq!(got.len(), 5, "only {id} goes: {got:?}");
    }
    // The record button is off by default (the seed's default).
    assert!(!ids(&request(2, CallSettings::default())).contains(&"record".to_owned()));
}

#[test]
fn switch_to_video_only_on_audio_only_calls() {
    let mut req = request(2, CallSettings::default());
    assert!(!render(&req).buttons.iter().any(|b| b.id == "switch_to_video"));
    req.audio_only = true;
    assert!(render(&req).buttons.iter().any(|b| b.id == "switch_to_video"));
    req.settings.show_switch_to_video_call_button = false;
    assert!(!render(&req).buttons.iter().any(|b| b.id == "switch_to_video"));
}

#[test]
fn avatar_modes_apply_when_video_is_off() {
    for mode in [AvatarMode::Circle, AvatarMode::Square, AvatarMode::Fullscreen] {
        let mut req = request(2, CallSettings::builder().avatar_mode(mode).mode(Mode::Default).build());
        req.participants[1].video_off = true;
        let view = render(&req);
        assert!(matches!(view.tiles[0].content, TileContent::Video { .. }));
        assert_eq!(
            view.tiles[1].content,
            TileContent::Avatar { mode, initials: "B".into(), url: String::new() },
            "video-off tile uses the avatar mode"
        );
    }
}

#[test]
fn button_order_and_custom_buttons() {
    let mut req = request(2, CallSettings::default());
    req.button_order =
        Some(vec!["end_call".into(), "mute_audio".into(), "bogus".into(), "mute_audio".into()]);
    req.custom_buttons = vec![
        CustomButton {
            id: "raise_hand".into(),
            label: "Raise hand".into(),
            icon: "hand".into(),
            position: Some(1),
        },
        CustomButton { id: "share".into(), label: "Share".into(), icon: String::new(), position: None },
        CustomButton { id: "first".into(), label: "First".into(), icon: String::new(), position: Some(0) },
    ];
    let ids: Vec<String> = render(&req).buttons.into_iter().map(|b| b.id).collect();
    assert_eq!(ids, ["first", "raise_hand", "end_call", "mute_audio", "share"]);
}

#[test]
fn toggles_follow_local_state_and_recording() {
    let mut req = request(2, CallSettings::builder().show_call_record_button(true).build());
    req.participants[0].audio_muted = true;
    req.participants[0].video_off = true;
    req.recording = true;
    let view = render(&req);
    let toggled = |id: &str| view.buttons.iter().find(|b| b.id == id).expect("button shown").toggled;
    assert!(toggled("mute_audio") && toggled("pause_video") && toggled("record"));
    assert!(!toggled("end_call"));
    assert!(view.overlays.iter().any(|o| matches!(o, Overlay::RecordingIndicator { .. })));
}

#[test]
fn presses_become_commands_from_the_current_state() {
    let mut h = Harness::<DefaultLayout>::new().expect("create");
    let mut req = request(3, CallSettings::builder().show_call_record_button(true).build());
    h.render(&req).expect("render");
    let press = |h: &mut Harness<DefaultLayout>, id: &str| {
        h.events(&[Event::ButtonPressed { id: id.into() }]).expect("event")
    };
    assert_eq!(press(&mut h, "mute_audio"), [Command::MuteAudio { muted: true }]);
    assert_eq!(press(&mut h, "pause_video"), [Command::PauseVideo { paused: true }]);
    assert_eq!(press(&mut h, "switch_camera"), [Command::SwitchCamera]);
    assert_eq!(press(&mut h, "audio_mode"), [Command::SetAudioMode { mode: AudioModeKind::Earpiece }]);
    assert_eq!(press(&mut h, "switch_to_video"), [Command::SwitchToVideoCall]);
    assert_eq!(press(&mut h, "record"), [Command::StartRecording]);
    assert_eq!(press(&mut h, "end_call"), [Command::EndSession]);
    assert_eq!(press(&mut h, "raise_hand"), [], "custom buttons give no command");

    // Events keep the state current between renders.
    let alice = RtcUser::new("alice", "Alice");
    h.events(&[
        Event::UserMuted { muted: alice.clone(), muted_by: alice.clone() },
        Event::RecordingToggled { recording_started: true, user: alice.clone() },
        Event::AudioModeChanged {
            modes: vec![
                AudioMode { mode: AudioModeKind::Speaker, is_selected: false },
                AudioMode { mode: AudioModeKind::Bluetooth, is_selected: true },
            ],
        },
    ])
    .expect("events");
    assert_eq!(press(&mut h, "mute_audio"), [Command::MuteAudio { muted: false }]);
    assert_eq!(press(&mut h, "record"), [Command::StopRecording]);
    assert_eq!(press(&mut h, "audio_mode"), [Command::SetAudioMode { mode: AudioModeKind::Speaker }]);

    // UI input works the same way, and a new request resets the state to what it says.
    req.participants[0].audio_muted = false;
    h.render(&req).expect("render");
    assert_eq!(
        h.input(UiInput::ButtonPressed { id: "mute_audio".into() }).expect("input"),
        [Command::MuteAudio { muted: true }]
    );
}

fn main_uid(view: &View) -> &str {
    &view.tiles.iter().find(|t| t.main).expect("a main tile").uid
}

#[test]
fn spotlight_follows_speaker_and_clicks() {
    let mut h = Harness::<DefaultLayout>::new().expect("create");
    let mut req = request(4, CallSettings::default());
    req.active_speaker = Some("carol".into());
    let view = h.render(&req).expect("render").expect("view");
    assert_eq!(main_uid(&view), "carol");
    assert!(view.tiles.iter().find(|t| t.uid == "carol").is_some_and(|t| t.active_speaker));

    h.input(UiInput::TileClicked { uid: "dave".into() }).expect("click");
    let view = h.render(&req).expect("render").expect("view");
    assert_eq!(main_uid(&view), "dave", "a clicked tile is pinned over the speaker");
    h.input(UiInput::TileClicked { uid: "dave".into() }).expect("click");
    let view = h.render(&req).expect("render").expect("view");
    assert_eq!(main_uid(&view), "carol", "clicking the pinned tile un-pins it");

    // Without an active speaker in the request, the last active_speaker_changed is used.
    req.active_speaker = None;
    h.events(&[Event::ActiveSpeakerChanged { uid: Some("bob".into()) }]).expect("event");
    let view = h.render(&req).expect("render").expect("view");
    assert_eq!(main_uid(&view), "bob");
}

#[test]
fn tile_click_disabled_does_nothing() {
    let mut h = Harness::<DefaultLayout>::new().expect("create");
    let req = request(4, CallSettings::builder().enable_video_tile_click(false).build());
    let view = h.render(&req).expect("render").expect("view");
    assert!(view.tiles.iter().all(|t| !t.clickable));
    h.input(UiInput::TileClicked { uid: "dave".into() }).expect("click");
    assert_eq!(main_uid(&h.render(&req).expect("render").expect("view")), "bob");
}

#[test]
fn drag_moves_a_small_tile_inside_the_window() {
    let mut h = Harness::<DefaultLayout>::new().expect("create");
    let req = request(4, CallSettings::default());
    let before = h.render(&req).expect("render").expect("view");
    let carol = before.tiles.iter().find(|t| t.uid == "carol").expect("carol").clone();
    assert!(carol.draggable && !carol.main);

    h.input(UiInput::TileDragged { uid: "carol".into(), x: 100.0, y: 50.0 }).expect("drag");
    let view = h.render(&req).expect("render").expect("view");
    let moved = view.tiles.iter().find(|t| t.uid == "carol").expect("carol");
    assert_eq!((moved.rect.x, moved.rect.y), (100.0, 50.0));
    assert!(moved.z > view.tiles.iter().find(|t| t.main).expect("main").z, "a dragged tile floats on top");

    h.input(UiInput::TileDragged { uid: "carol".into(), x: 1e9, y: -1e9 }).expect("drag");
    let view = h.render(&req).expect("render").expect("view");
    let window = Rect::new(0.0, 0.0, view.width, view.height);
    let moved = view.tiles.iter().find(|t| t.uid == "carol").expect("carol");
    assert!(moved.rect.is_inside(&window), "{:?}", moved.rect);
    assert_eq!(moved.rect.y, 0.0);

    // With drag disabled the tile stays in the strip.
    let mut no_drag = req.clone();
    no_drag.settings.enable_video_tile_drag = false;
    let view = h.render(&no_drag).expect("render").expect("view");
    let tile = view.tiles.iter().find(|t| t.uid == "carol").expect("carol");
    assert_eq!(tile.rect, carol.rect);
    assert!(!tile.draggable);
}

#[test]
fn single_mode_picks_pinned_then_speaker_then_remote_then_local() {
    let mut req = request(3, CallSettings::builder().mode(Mode::Single).build());
    req.active_speaker = Some("carol".into());
    assert_eq!(main_uid(&render(&req)), "carol");
    req.active_speaker = None;
    assert_eq!(main_uid(&render(&req)), "bob");
    req.participants.truncate(1);
    assert_eq!(main_uid(&render(&req)), "alice");
    assert_eq!(render(&req).tiles.len(), 1);
}

#[test]
fn pip_is_only_the_speaker_without_buttons() {
    let mut req = request(6, CallSettings::builder().mode(Mode::Default).build());
    req.pip = true;
    req.width = 320.0;
    req.height = 180.0;
    req.active_speaker = Some("erin".into());
    let view = render(&req);
    assert_eq!(view.tiles.len(), 1);
    assert_eq!(view.tiles[0].uid, "erin");
    assert!(view.buttons.is_empty() && view.button_bar.is_none());
    assert!(view.overlays.iter().any(|o| matches!(o, Overlay::PipWindow { .. })));
}

#[test]
fn idle_prompt_when_seconds_left() {
    let mut req = request(1, CallSettings::default());
    assert!(render(&req).overlays.is_empty());
    req.idle_seconds_left = Some(42);
    let view = render(&req);
    assert!(view.overlays.iter().any(|o| matches!(o, Overlay::IdleTimeoutPrompt { seconds_left: 42, .. })));
}

/// A small deterministic generator, so failures reproduce.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f32 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 33) as f32) / (u32::MAX >> 1) as f32
    }
}

#[test]
fn rectangles_are_finite_inside_and_apart_where_the_mode_says() {
    let mut rng = Lcg(7);
    let mut sizes = vec![(1.0, 1.0), (37.0, 20.0), (320.0, 180.0), (1920.0, 1080.0), (400.0, 1200.0)];
    for _ in 0..6 {
        sizes.push((1.0 + rng.next() * 3000.0, 1.0 + rng.next() * 2000.0));
    }
    let mut h = Harness::<DefaultLayout>::new().expect("create");
    for n in 0..=32 {
        for &(w, hgt) in &sizes {
            for mode in [Mode::Default, Mode::Spotlight, Mode::Single] {
                for layout_on in [true, false] {
                    let mut req = request(
                        n,
                        CallSettings::builder().mode(mode).enable_default_layout(layout_on).build(),
                    );
                    req.width = w;
                    req.height = hgt;
                    req.recording = n % 2 == 0;
                    req.idle_seconds_left = (n == 1).then_some(30);
                    let view = h.render(&req).expect("render").expect("view");
                    let ctx = format!("{mode:?} n={n} {w}x{hgt} layout={layout_on}");
                    check_view(&view, mode, n, &ctx);
                }
            }
        }
    }
}

fn check_view(view: &View, mode: Mode, n: usize, ctx: &str) {
    let window = Rect::new(0.0, 0.0, view.width, view.height);
    let expected = match (mode, n) {
        (_, 0) => 0,
        (Mode::Single, _) => 1,
        _ => n,
    };
    assert_eq!(view.tiles.len(), expected, "{ctx}");
    let mut rects: Vec<&Rect> = view.tiles.iter().map(|t| &t.rect).collect();
    if let Some(bar) = &view.button_bar {
        rects.push(bar);
    }
    for o in &view.overlays {
        match o {
            Overlay::RecordingIndicator { rect }
            | Overlay::IdleTimeoutPrompt { rect, .. }
            | Overlay::PipWindow { rect } => {
                assert!(rect.is_finite() && rect.is_inside(&window), "{ctx}: overlay {rect:?}")
            }
            _ => {}
        }
    }
    for rect in &rects {
        assert!(rect.is_finite(), "{ctx}: {rect:?} not finite");
        assert!(rect.is_inside(&window), "{ctx}: {rect:?} outside {window:?}");
    }
    // Every mode keeps its tiles apart from each other and from the button bar (the grid
    // cells, spotlight's main tile and strip); nothing is dragged here.
    for (i, a) in rects.iter().enumerate() {
        for b in &rects[i + 1..] {
            assert!(!a.overlaps(b), "{ctx}: {a:?} overlaps {b:?}");
        }
    }
}

#[test]
fn dragged_tiles_stay_inside_any_window() {
    let mut rng = Lcg(11);
    let mut h = Harness::<DefaultLayout>::new().expect("create");
    for n in [2, 5, 16, 32] {
        for _ in 0..10 {
            let mut req = request(n, CallSettings::default());
            req.width = 1.0 + rng.next() * 2500.0;
            req.height = 1.0 + rng.next() * 1500.0;
            let uid = req.participants[n - 1].user.uid.clone();
            let (x, y) = ((rng.next() - 0.5) * 6000.0, (rng.next() - 0.5) * 6000.0);
            h.input(UiInput::TileDragged { uid, x, y }).expect("drag");
            let view = h.render(&req).expect("render").expect("view");
            let window = Rect::new(0.0, 0.0, view.width, view.height);
            for t in &view.tiles {
                assert!(t.rect.is_finite() && t.rect.is_inside(&window), "{:?} in {window:?}", t.rect);
            }
        }
    }
}
