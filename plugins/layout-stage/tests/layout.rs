//! View-model tests of `layout-stage` through the real ABI glue: snapshots per participant
//! count and key settings, geometric properties over many window sizes, clicks and presses.

use std::fmt::Write as _;

use layout_stage::StageLayout;
use switchboard_core::sdk::testing::Harness;
use switchboard_core::settings::{CallSettings, Mode};
use switchboard_core::view::{Overlay, ParticipantView, Rect, TileContent, UiInput, View, ViewRequest};
use switchboard_core::{Command, Event, RtcUser};

const NAMES: &[&str] = &[
    "Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy", "Mallory", "Niaj",
    "Olivia", "Peggy", "Rupert", "Sybil",
];

fn request(n: usize, settings: CallSettings) -> ViewRequest {
    let participants: Vec<ParticipantView> = (0..n)
        .map(|i| {
            let name = NAMES.get(i).map_or_else(|| format!("Guest {i}"), |s| (*s).to_owned());
            ParticipantView {
                user: RtcUser::new(name.to_lowercase().replace(' ', "-"), name),
                is_local: i == 0,
                audio_muted: i % 3 == 2,
                video_off: i % 4 == 3,
            }
        })
        .collect();
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
        audio_modes: Vec::new(),
        audio_only: false,
    }
}

fn harness(settings: serde_json::Value) -> Harness<StageLayout> {
    Harness::<StageLayout>::with_settings(&settings).expect("creating the plugin")
}

fn render_with(settings: serde_json::Value, req: &ViewRequest) -> View {
    harness(settings).render(req).expect("render through the ABI").expect("a view")
}

fn r(rect: &Rect) -> String {
    format!("{:.0},{:.0} {:.0}x{:.0}", rect.x, rect.y, rect.w, rect.h)
}

fn describe(view: &View) -> String {
    let mut s = String::new();
    for t in &view.tiles {
        let content = match &t.content {
            TileContent::Video { aspect_ratio } => format!("video({aspect_ratio:?})"),
            TileContent::Avatar { mode, initials, .. } => format!("avatar({mode:?},{initials})"),
        };
        let flags: Vec<&str> = [
            (t.main, "stage"),
            (t.muted, "muted"),
            (t.active_speaker, "speaking"),
            (t.clickable, "click"),
            (t.draggable, "drag"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect();
        let _ = writeln!(s, "  tile {:<8} {:<22} {} [{}]", t.uid, r(&t.rect), content, flags.join(" "));
    }
    let buttons: Vec<&str> = view.buttons.iter().map(|b| b.id.as_str()).collect();
    let _ =
        writeln!(s, "  bar {} [{}]", view.button_bar.as_ref().map_or("none".into(), r), buttons.join(" "));
    s
}

fn table(settings: serde_json::Value, call: &CallSettings) -> String {
    let mut out = String::new();
    for n in [1, 2, 3, 4, 6, 9, 16] {
        let _ = writeln!(out, "{n} participants:");
        out.push_str(&describe(&render_with(settings.clone(), &request(n, call.clone()))));
    }
    out
}

#[test]
fn stage_right_sidebar_seed_settings() {
    insta::assert_snapshot!(table(serde_json::json!({}), &CallSettings::default()));
}

#[test]
fn stage_left_sidebar_single_mode_and_no_buttons() {
    let call = CallSettings::builder().enable_default_layout(false).build();
    insta::assert_snapshot!(table(serde_json::json!({"sidebar": "left", "sidebar_width": 200}), &call));
    let single = CallSettings::builder().mode(Mode::Single).build();
    let view = render_with(serde_json::json!({}), &request(4, single));
    assert_eq!(view.tiles.len(), 1, "single mode hides the sidebar");
}

#[test]
fn unknown_settings_are_rejected() {
    assert!(Harness::<StageLayout>::with_settings(&serde_json::json!({"sidebar_wdth": 3})).is_err());
}

#[test]
fn looks_different_from_a_grid() {
    // The stage is wider than the whole sidebar, and rows are much wider than tall.
    let view = render_with(serde_json::json!({}), &request(4, CallSettings::default()));
    let stage = view.tiles.iter().find(|t| t.main).expect("stage");
    for row in view.tiles.iter().filter(|t| !t.main) {
        assert!(row.rect.x > stage.rect.x + stage.rect.w, "rows are right of the stage");
        assert!(row.rect.w > 2.5 * row.rect.h, "rows are list entries: {:?}", row.rect);
    }
}

#[test]
fn clicking_a_row_puts_it_on_stage_and_presses_give_commands() {
    let mut h = harness(serde_json::json!({}));
    let req = request(4, CallSettings::default());
    h.render(&req).expect("render");
    h.input(UiInput::TileClicked { uid: "dave".into() }).expect("click");
    let view = h.render(&req).expect("render").expect("view");
    assert_eq!(view.tiles.iter().find(|t| t.main).expect("stage").uid, "dave");
    assert_eq!(
        h.events(&[Event::ButtonPressed { id: "end_call".into() }]).expect("event"),
        [Command::EndSession]
    );
    assert_eq!(
        h.input(UiInput::ButtonPressed { id: "mute_audio".into() }).expect("input"),
        [Command::MuteAudio { muted: true }]
    );
}

#[test]
fn rectangles_are_finite_inside_and_apart() {
    let mut seed: u64 = 3;
    let mut next = move || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((seed >> 33) as f32) / (u32::MAX >> 1) as f32
    };
    let mut sizes = vec![(1.0, 1.0), (37.0, 20.0), (320.0, 180.0), (1920.0, 1080.0)];
    for _ in 0..6 {
        sizes.push((1.0 + next() * 3000.0, 1.0 + next() * 2000.0));
    }
    for side in ["left", "right"] {
        let mut h = harness(serde_json::json!({ "sidebar": side }));
        for n in 0..=32 {
            for &(w, hgt) in &sizes {
                let mut req = request(n, CallSettings::default());
                req.width = w;
                req.height = hgt;
                req.recording = true;
                req.pip = n == 5;
                let view = h.render(&req).expect("render").expect("view");
                let window = Rect::new(0.0, 0.0, w, hgt);
                let mut rects: Vec<&Rect> = view.tiles.iter().map(|t| &t.rect).collect();
                rects.extend(view.button_bar.as_ref());
                for (i, a) in rects.iter().enumerate() {
                    assert!(a.is_finite() && a.is_inside(&window), "n={n} {w}x{hgt}: {a:?}");
                    for b in &rects[i + 1..] {
                        assert!(!a.overlaps(b), "n={n} {w}x{hgt}: {a:?} overlaps {b:?}");
                    }
                }
                for o in &view.overlays {
                    if let Overlay::RecordingIndicator { rect } | Overlay::PipWindow { rect } = o {
                        assert!(rect.is_finite() && rect.is_inside(&window), "n={n} {w}x{hgt}: {rect:?}");
                    }
                }
            }
        }
    }
}
