//! The call-event bus with real plugin cdylibs loaded through the ABI.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use switchboard_core::model::ErrorCode;
use switchboard_core::view::{ParticipantView, UiInput, ViewRequest};
use switchboard_core::{CallSettings, Command, Event, RtcUser};
use switchboard_runtime::bus::{Bus, BusError, BusOptions, HostCommand, MediaTapFrame};

use crate::fixtures::{json_lines, logged_events, record_host_commands, recorder, spec};

fn user(uid: &str) -> RtcUser {
    RtcUser::new(uid, uid.to_uppercase())
}

#[actix::test]
async fn events_reach_only_subscribers_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("events.jsonl");
    let cap = dir.path().join("cap.jsonl");
    let bus = Bus::start(
        vec![spec("event-log", json!({ "path": log })), spec("fixture-capability", json!({ "path": cap }))],
        BusOptions::default(),
    )
    .expect("start");

    let published = vec![
        Event::UserJoined { user: user("bob") },
        Event::UserLeft { user: user("bob") },
        Event::ButtonPressed { id: "nothing".into() },
        Event::CallEnded,
        Event::UserJoined { user: user("carol") },
    ];
    for event in &published {
        bus.publish(event.clone());
    }
    bus.flush().await;

    // event-log subscribes to everything: all of them, in order.
    assert_eq!(logged_events(&log), published);
    // fixture-capability subscribes to user_joined and button_pressed only.
    let reached: Vec<serde_json::Value> = json_lines(&cap).into_iter().map(|l| l["event"].clone()).collect();
    let expected: Vec<serde_json::Value> = [&published[0], &published[2], &published[4]]
        .into_iter()
        .map(|e| serde_json::to_value(e).expect("json"))
        .collect();
    assert_eq!(reached, expected);
    bus.shutdown().await;
}

#[actix::test]
async fn many_events_keep_their_order_through_batching() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("events.jsonl");
    let bus =
        Bus::start(vec![spec("event-log", json!({ "path": log, "flush": false }))], BusOptions::default())
            .expect("start");
    let published: Vec<Event> = (0..3000).map(|i| Event::ButtonPressed { id: i.to_string() }).collect();
    for event in &published {
        bus.publish(event.clone());
    }
    bus.shutdown().await;
    assert_eq!(logged_events(&log), published);
}

#[actix::test]
async fn capability_commands_go_to_the_provider_and_its_answer_comes_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cap = dir.path().join("cap.jsonl");
    let bus = Bus::start(vec![spec("fixture-capability", json!({ "path": cap }))], BusOptions::default())
        .expect("start");
    assert_eq!(bus.provider(switchboard_core::Capability::Recording).as_deref(), Some("fixture-capability"));

    bus.command(Command::StartRecording).await.expect("the provider accepts");
    let refused = bus.command(Command::StartRecording).await.expect_err("the provider refuses");
    assert_eq!(refused.code, ErrorCode::InvalidState);
    assert_eq!(refused.message, "already recording");
    bus.command(Command::StopRecording).await.expect("the provider accepts");

    let commands: Vec<serde_json::Value> =
        json_lines(&cap).into_iter().filter_map(|l| l.get("command").cloned()).collect();
    assert_eq!(
        commands,
        vec![
            json!({"action": "start_recording"}),
            json!({"action": "start_recording"}),
            json!({"action": "stop_recording"})
        ]
    );
    bus.shutdown().await;
}

#[actix::test]
async fn host_commands_go_to_the_host_handler_with_the_local_user() {
    let bus = Bus::start(vec![], BusOptions::default()).expect("start");
    let refused = bus.command(Command::MuteAudio { muted: true }).await.expect_err("no session yet");
    assert_eq!(refused.code, ErrorCode::CallSessionNotFound);

    let seen = record_host_commands(&bus);
    bus.publish(Event::SessionStarted { session_id: "s1".into(), user: user("amy") });
    bus.command(Command::MuteAudio { muted: true }).await.expect("the host accepts");
    bus.command_from(Command::EndSession, user("zed")).await.expect("the host accepts");
    assert_eq!(
        *seen.lock().expect("lock"),
        vec![
            HostCommand { command: Command::MuteAudio { muted: true }, from: user("amy") },
            HostCommand { command: Command::EndSession, from: user("zed") },
        ]
    );
}

#[actix::test]
async fn a_missing_capability_is_an_error_event_and_an_error() {
    let bus = Bus::start(vec![spec("fixture-noop", json!({}))], BusOptions::default()).expect("start");
    let (listener, seen) = recorder();
    bus.add_listener("test", listener).expect("add");

    let err = bus.command(Command::EnterPipMode).await.expect_err("nobody provides pip");
    assert_eq!(err.code, ErrorCode::CapabilityMissing);
    assert!(err.message.contains("`pip`") && err.message.contains("enter_pip_mode"), "{}", err.message);
    bus.flush().await;
    let errors: Vec<Event> =
        seen.lock().expect("lock").iter().filter(|e| matches!(e, Event::Error { .. })).cloned().collect();
    assert_eq!(errors, vec![Event::error(&err)]);
}

#[actix::test]
async fn commands_returned_by_plugins_are_routed_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cap = dir.path().join("cap.jsonl");
    let bus = Bus::start(vec![spec("fixture-capability", json!({ "path": cap }))], BusOptions::default())
        .expect("start");
    let host_seen = record_host_commands(&bus);
    let (listener, seen) = recorder();
    bus.add_listener("test", listener).expect("add");

    // `record` makes the plugin return start_recording, which routes back to it (it provides
    // recording); `mute` returns a host command; `pip` needs a capability nobody provides.
    bus.publish(Event::ButtonPressed { id: "record".into() });
    bus.publish(Event::ButtonPressed { id: "mute".into() });
    bus.publish(Event::ButtonPressed { id: "pip".into() });
    bus.flush().await;

    let commands: Vec<serde_json::Value> =
        json_lines(&cap).into_iter().filter_map(|l| l.get("command").cloned()).collect();
    assert_eq!(commands, vec![json!({"action": "start_recording"})]);
    let host_commands: Vec<Command> =
        host_seen.lock().expect("lock").iter().map(|c| c.command.clone()).collect();
    assert_eq!(host_commands, vec![Command::MuteAudio { muted: true }]);
    let missing: Vec<Event> = seen
        .lock()
        .expect("lock")
        .iter()
        .filter(|e| matches!(e, Event::Error { code: ErrorCode::CapabilityMissing, .. }))
        .cloned()
        .collect();
    assert_eq!(missing.len(), 1, "{missing:?}");
    let Event::Error { message, details, .. } = &missing[0] else { unreachable!() };
    assert!(message.contains("enter_pip_mode"), "{message}");
    assert!(details.contains("fixture-capability"), "{details}");
}

#[actix::test]
async fn a_panicking_plugin_is_contained_and_reported_while_others_go_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("events.jsonl");
    let bus = Bus::start(
        vec![
            spec("fixture-panic", json!({ "on": "user_joined" })),
            spec("event-log", json!({ "path": log })),
        ],
        BusOptions::default(),
    )
    .expect("start");
    let (listener, seen) = recorder();
    bus.add_listener("test", listener).expect("add");

    bus.publish(Event::CallEndButtonPressed);
    bus.publish(Event::UserJoined { user: user("bob") });
    bus.flush().await;
    bus.publish(Event::UserLeft { user: user("bob") });
    bus.flush().await;

    let seen = seen.lock().expect("lock").clone();
    let failed_error = seen
        .iter()
        .find_map(|e| match e {
            Event::Error { code: ErrorCode::PluginFailed, message, details } => Some((message, details)),
            _ => None,
        })
        .expect("an error event for the failed plugin");
    assert_eq!(failed_error.1, "fixture-panic");
    assert!(
        failed_error.0.contains("fixture-panic") && failed_error.0.contains("panicked"),
        "{}",
        failed_error.0
    );
    assert!(
        seen.iter().any(|e| matches!(e, Event::PluginStatusChanged { plugin, status, .. }
            if plugin == "fixture-panic" && status == "failed")),
        "{seen:?}"
    );

    // The other plugin got everything, the failure report included, and goes on.
    let logged = logged_events(&log);
    assert_eq!(logged[0], Event::CallEndButtonPressed);
    assert_eq!(logged[1], Event::UserJoined { user: user("bob") });
    assert!(logged.iter().any(|e| matches!(e, Event::Error { code: ErrorCode::PluginFailed, .. })));
    assert_eq!(logged.last(), Some(&Event::UserLeft { user: user("bob") }));

    let states: Vec<(String, &str)> = bus.plugins().into_iter().map(|p| (p.descriptor.id, p.state)).collect();
    assert_eq!(states, vec![("fixture-panic".into(), "failed"), ("event-log".into(), "running")]);
    bus.shutdown().await;
}

#[actix::test]
async fn a_slow_plugin_does_not_hold_up_the_others() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("events.jsonl");
    let progress = dir.path().join("slow.txt");
    let bus = Bus::start(
        vec![
            spec("fixture-slow", json!({ "delay_ms": 400, "path": progress })),
            spec("event-log", json!({ "path": log })),
        ],
        BusOptions::default(),
    )
    .expect("start");
    let published: Vec<Event> = (0..5).map(|i| Event::ButtonPressed { id: i.to_string() }).collect();
    for event in &published {
        bus.publish(event.clone());
    }
    // The event log has everything while the slow plugin (2 s of sleeping for these five,
    // more for the start-up statuses) is still working through its queue.
    bus.flush_plugin("event-log").await.expect("loaded");
    assert_eq!(logged_events(&log), published);
    let handled = std::fs::read_to_string(&progress).unwrap_or_default().lines().count();
    assert!(handled < 2 + published.len(), "the slow plugin cannot be done yet ({handled} handled)");
    bus.flush().await;
    let handled: Vec<String> =
        std::fs::read_to_string(&progress).expect("progress").lines().map(str::to_owned).collect();
    assert_eq!(handled.iter().filter(|k| *k == "button_pressed").count(), published.len());
}

#[actix::test]
async fn media_reaches_only_plugins_that_want_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cap = dir.path().join("cap.jsonl");
    let bus = Bus::start(
        vec![spec("fixture-noop", json!({})), spec("fixture-capability", json!({ "path": cap }))],
        BusOptions::default(),
    )
    .expect("start");
    assert!(bus.wants_media());
    bus.media(Arc::new(MediaTapFrame {
        kind: switchboard_core::abi::media_kind::AUDIO,
        codec: switchboard_core::abi::codec::OPUS,
        keyframe: false,
        timestamp_us: 20_000,
        participant: "bob".into(),
        track: "audio".into(),
        data: vec![7; 61],
    }));
    bus.flush().await;
    let media: Vec<serde_json::Value> =
        json_lines(&cap).into_iter().filter_map(|l| l.get("media").cloned()).collect();
    assert_eq!(media, vec![json!({"participant": "bob", "track": "audio", "len": 61})]);
}

fn view_request(participants: &[&str]) -> ViewRequest {
    ViewRequest {
        width: 640.0,
        height: 480.0,
        settings: CallSettings::default(),
        button_order: None,
        custom_buttons: vec![],
        participants: participants
            .iter()
            .map(|uid| ParticipantView {
                user: user(uid),
                is_local: false,
                audio_muted: false,
                video_off: false,
            })
            .collect(),
        active_speaker: None,
        recording: false,
        pip: false,
        idle_seconds_left: None,
        audio_modes: vec![],
        audio_only: false,
    }
}

#[actix::test]
async fn rendering_without_a_layout_plugin_is_capability_missing() {
    let bus =
        Bus::start(vec![], BusOptions { layout: Some("layout-default".into()), ..BusOptions::default() })
            .expect("start");
    let err = bus.render(view_request(&[])).await.expect_err("no layout loaded");
    assert_eq!(err.code, ErrorCode::CapabilityMissing);
    assert!(err.message.contains("layout-default"), "{}", err.message);
}

#[actix::test]
async fn start_refuses_duplicates_bad_settings_and_a_non_layout_layout() {
    let err = Bus::start(
        vec![spec("fixture-noop", json!({})), spec("fixture-noop", json!({}))],
        BusOptions::default(),
    )
    .expect_err("duplicate");
    assert!(matches!(err, BusError::DuplicatePlugin { .. }), "{err}");

    let err =
        Bus::start(vec![spec("fixture-panic", json!({ "on": "no_such_event" }))], BusOptions::default())
            .expect_err("bad settings");
    assert!(err.to_string().contains("starting plugin `fixture-panic`"), "{err}");

    let err = Bus::start(
        vec![spec("fixture-noop", json!({}))],
        BusOptions {
            layout: Some("fixture-noop".into()),
            call_timeout: Duration::from_secs(1),
            on_delivered: None,
        },
    )
    .expect_err("not a layout");
    assert!(matches!(err, BusError::NotALayout { .. }), "{err}");
}

#[test]
fn starting_outside_an_actix_system_is_an_error() {
    let err = Bus::start(vec![], BusOptions::default()).expect_err("no system");
    assert!(matches!(err, BusError::NoSystem), "{err}");
}

#[actix::test]
async fn a_config_file_starts_the_bus_with_its_plugins() {
    let dir = tempfile::tempdir().expect("tempdir");
    let plugin_dir = crate::fixtures::library_path("event-log").parent().expect("folder").to_owned();
    let file = dir.path().join("call.toml");
    std::fs::write(
        &file,
        format!(
            "[ui]\nlayout = \"none\"\n[host]\nplugin_dirs = [{:?}]\n\
             [[plugin]]\nname = \"event-log\"\n[plugin.settings]\npath = \"events.jsonl\"\n\
             [[plugin]]\nname = \"fixture-capability\"\n",
            plugin_dir.display().to_string()
        ),
    )
    .expect("write");
    let loaded = switchboard_config::file::load(&file).expect("valid config");
    // event-log's `path` is the plugin's own setting, relative to the working directory;
    // point it into the temporary folder.
    let mut config = loaded.config;
    config.plugins[0]
        .settings
        .insert("path".into(), dir.path().join("events.jsonl").display().to_string().into());
    let bus = Bus::start_with_config(&config).expect("start");
    let ids: Vec<String> = bus.plugins().into_iter().map(|p| p.descriptor.id).collect();
    assert_eq!(ids, vec!["event-log", "fixture-capability"]);
    bus.publish(Event::CallEnded);
    bus.shutdown().await;
    assert_eq!(logged_events(&dir.path().join("events.jsonl")), vec![Event::CallEnded]);

    config.plugins[1].name = Some("no-such-plugin".into());
    let err = Bus::start_with_config(&config).expect_err("missing plugin");
    assert!(err.to_string().contains("plugin `no-such-plugin` not found"), "{err}");
}

#[actix::test]
async fn render_and_input_go_through_the_layout_plugin() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cap = dir.path().join("cap.jsonl");
    let bus = Bus::start(
        vec![spec("fixture-layout", json!({})), spec("fixture-capability", json!({ "path": cap }))],
        BusOptions { layout: Some("fixture-layout".into()), ..BusOptions::default() },
    )
    .expect("start");
    assert_eq!(bus.provider(switchboard_core::Capability::Layout).as_deref(), Some("fixture-layout"));
    let host_seen = record_host_commands(&bus);

    let view = bus.render(view_request(&["amy", "bob"])).await.expect("a view");
    let tiles: Vec<(&str, f32)> = view.tiles.iter().map(|t| (t.uid.as_str(), t.rect.x)).collect();
    assert_eq!(tiles, vec![("amy", 0.0), ("bob", 320.0)]);

    // The layout turns button presses into commands, routed like any other.
    bus.input(UiInput::ButtonPressed { id: "record".into() }).await.expect("delivered");
    bus.input(UiInput::ButtonPressed { id: "end_call".into() }).await.expect("delivered");
    bus.flush().await;
    let commands: Vec<serde_json::Value> =
        json_lines(&cap).into_iter().filter_map(|l| l.get("command").cloned()).collect();
    assert_eq!(commands, vec![json!({"action": "start_recording"})]);
    let host_commands: Vec<Command> =
        host_seen.lock().expect("lock").iter().map(|c| c.command.clone()).collect();
    assert_eq!(host_commands, vec![Command::EndSession]);
}
