//! How long `layout-default` takes to lay out a 16-participant call through the plugin ABI:
//! the render request encoded as JSON, passed through the C `handle` glue, laid out, and
//! the view decoded again, as the host does on every render. Target: under 100 µs.
//! A second group calls the layout function directly, to show what the JSON costs.

use criterion::{Criterion, criterion_group, criterion_main};
use layout_default::DefaultLayout;
use switchboard_core::sdk::testing::Harness;
use switchboard_core::settings::{CallSettings, Mode};
use switchboard_core::view::{ParticipantView, ViewRequest};
use switchboard_core::{AudioMode, AudioModeKind, RtcUser};

fn request(mode: Mode) -> ViewRequest {
    let participants: Vec<ParticipantView> = (0..16)
        .map(|i| ParticipantView {
            user: RtcUser::new(format!("user-{i}"), format!("User {i}")),
            is_local: i == 0,
            audio_muted: i % 3 == 0,
            video_off: i % 5 == 0,
        })
        .collect();
    ViewRequest {
        width: 1920.0,
        height: 1080.0,
        settings: CallSettings::builder().mode(mode).show_call_record_button(true).build(),
        button_order: None,
        custom_buttons: Vec::new(),
        active_speaker: Some("user-3".to_owned()),
        participants,
        recording: true,
        pip: false,
        idle_seconds_left: None,
        audio_modes: vec![
            AudioMode { mode: AudioModeKind::Speaker, is_selected: true },
            AudioMode { mode: AudioModeKind::Earpiece, is_selected: false },
        ],
        audio_only: false,
    }
}

fn layout_16(c: &mut Criterion) {
    let mut group = c.benchmark_group("layout_16_participants_through_abi");
    for (name, mode) in [("grid", Mode::Default), ("spotlight", Mode::Spotlight), ("single", Mode::Single)] {
        let req = request(mode);
        let mut harness = Harness::<DefaultLayout>::new().expect("creating the layout plugin");
        group.bench_function(name, |b| {
            b.iter(|| {
                let view = harness.render(std::hint::black_box(&req)).expect("render").expect("a view");
                std::hint::black_box(view)
            })
        });
    }
    group.finish();

    // The same layouts called directly, without the ABI: the difference is the cost of the
    // JSON messages crossing the boundary.
    let mut group = c.benchmark_group("layout_16_participants_direct");
    for (name, mode) in [("grid", Mode::Default), ("spotlight", Mode::Spotlight), ("single", Mode::Single)] {
        let req = request(mode);
        let dragged = std::collections::BTreeMap::new();
        group.bench_function(name, |b| {
            b.iter(|| {
                std::hint::black_box(layout_default::layout(
                    std::hint::black_box(&req),
                    None,
                    &dragged,
                    Some("user-3"),
                ))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, layout_16);
criterion_main!(benches);
