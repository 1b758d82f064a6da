//! `fixture-layout`: the smallest layout that exercises the render and input paths of the
//! host: one row of equal tiles, one per participant, and an `end_call` button. Pressing a
//! button whose id is `end_call` returns `end_session`; `record` returns `start_recording`.
//! The real layouts are `layout-default` and its alternatives; this one exists for tests.

use switchboard_core::sdk::{Context, Plugin};
use switchboard_core::view::{Button, Rect, Tile, TileContent, UiInput, View, ViewRequest};
use switchboard_core::{Capability, Command, PluginKind};

/// The plugin.
#[derive(Debug, Default)]
pub struct LayoutFixture;

impl Plugin for LayoutFixture {
    const ID: &'static str = "fixture-layout";
    const NAME: &'static str = "Layout fixture";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const KIND: PluginKind = PluginKind::Fixture;
    const DESCRIPTION: &'static str = "One row of tiles and an end button (for tests).";
    const CAPABILITIES: &'static [Capability] = &[Capability::Layout];

    fn render(&mut self, request: &ViewRequest) -> Option<View> {
        let count = request.participants.len().max(1) as f32;
        let width = request.width / count;
        let tiles = request
            .participants
            .iter()
            .enumerate()
            .map(|(i, p)| Tile {
                uid: p.user.uid.clone(),
                rect: Rect::new(i as f32 * width, 0.0, width, request.height),
                z: 0,
                content: TileContent::Video {
                    aspect_ratio: request.settings.main_video_container.aspect_ratio,
                },
                name_label: None,
                muted: p.audio_muted,
                video_off: p.video_off,
                active_speaker: request.active_speaker.as_deref() == Some(p.user.uid.as_str()),
                main: false,
                controls: Vec::new(),
                clickable: false,
                draggable: false,
            })
            .collect();
        Some(View {
            width: request.width,
            height: request.height,
            tiles,
            buttons: vec![Button {
                id: "end_call".to_owned(),
                label: "End".to_owned(),
                icon: String::new(),
                enabled: true,
                toggled: false,
            }],
            button_bar: None,
            overlays: Vec::new(),
        })
    }

    fn on_input(&mut self, input: &UiInput, ctx: &mut Context) {
        if let UiInput::ButtonPressed { id } = input {
            match id.as_str() {
                "end_call" => ctx.send(Command::EndSession),
                "record" => ctx.send(Command::StartRecording),
                _ => {}
            }
        }
    }
}

switchboard_core::export_plugin!(LayoutFixture);
