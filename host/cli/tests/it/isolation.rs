//! Crash isolation (plugins in a child process that segfault, abort, hang or eat memory)
//! and hot swap (replacing a plugin while the bus, or a live call, runs).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use switchboard_config::Config;
use switchboard_config::OnCrash;
use switchboard_core::model::ErrorCode;
use switchboard_core::view::{ParticipantView, ViewRequest};
use switchboard_core::{CallSettings, Event, RtcUser};
use switchboard_runtime::bus::{Bus, BusOptions, SwapError};
use switchboard_runtime::isolation::IsolationPolicy;
use switchboard_runtime::loader::{self, PluginSearch, PluginSpec};

use crate::fixtures::{Seen, library_path, logged_events, recorder, spec};

const SWITCHBOARD: &str = env!("CARGO_BIN_EXE_switchboard");

/// A policy running the plugin in a `switchboard plugin-host` child.
fn process(deadline_ms: u64) -> IsolationPolicy {
    IsolationPolicy {
        deadline: Duration::from_millis(deadline_ms),
        ..IsolationPolicy::process(Some(PathBuf::from(SWITCHBOARD)))
    }
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path).unwrap_or_default().lines().map(str::to_owned).collect()
}

fn errors_about(seen: &Seen, plugin: &str) -> Vec<String> {
    seen.lock()
        .expect("lock")
        .iter()
        .filter_map(|e| match e {
            Event::Error { code: ErrorCode::PluginFailed, message, details } if details == plugin => {
                Some(message.clone())
            }
            _ => None,
        })
        .collect()
}

fn press(bus: &Bus, id: &str) {
    bus.publish(Event::ButtonPressed { id: id.to_owned() });
}

fn state(bus: &Bus, id: &str) -> &'static str {
    bus.plugins().into_iter().find(|p| p.descriptor.id == id).map(|p| p.state).unwrap_or("absent")
}

#[actix::test]
async fn a_segfault_out_of_process_is_reported_restarted_and_the_others_go_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let crash_log = dir.path().join("segfault.log");
    let event_log = dir.path().join("events.jsonl");
    let bus = Bus::start(
        vec![
            spec("fixture-segfault", json!({ "button": "boom", "log": crash_log }))
                .with_isolation(process(2000)),
            spec("event-log", json!({ "path": event_log })),
        ],
        BusOptions::default(),
    )
    .expect("start");
    let (listener, seen) = recorder();
    bus.add_listener("test", listener).expect("listener");

    press(&bus, "before");
    press(&bus, "boom");
    press(&bus, "after");
    bus.flush().await;

    let errors = errors_about(&seen, "fixture-segfault");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("SIGSEGV") && errors[0].contains("restarting"), "{}", errors[0]);
    // The old instance handled `before`, the restarted one `after`.
    assert_eq!(lines(&crash_log), ["button_pressed", "button_pressed"]);
    assert_eq!(state(&bus, "fixture-segfault"), "running");
    // The in-process plugin saw every event, the crash notwithstanding.
    let presses =
        logged_events(&event_log).into_iter().filter(|e| matches!(e, Event::ButtonPressed { .. })).count();
    assert_eq!(presses, 3);
    bus.shutdown().await;
}

#[actix::test]
async fn an_abort_is_reported_with_its_signal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("abort.log");
    let bus = Bus::start(
        vec![
            spec("fixture-segfault", json!({ "button": "boom", "how": "abort", "log": log }))
                .with_isolation(process(2000)),
        ],
        BusOptions::default(),
    )
    .expect("start");
    let (listener, seen) = recorder();
    bus.add_listener("test", listener).expect("listener");
    press(&bus, "boom");
    press(&bus, "after");
    bus.flush().await;
    let errors = errors_about(&seen, "fixture-segfault");
    assert!(errors.iter().any(|e| e.contains("SIGABRT")), "{errors:?}");
    assert_eq!(lines(&log), ["button_pressed"]);
    bus.shutdown().await;
}

#[actix::test]
async fn eating_memory_past_the_limit_ends_only_the_child() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("oom.log");
    let policy = IsolationPolicy { memory_limit: Some(1 << 30), ..process(10_000) };
    let bus = Bus::start(
        vec![
            spec("fixture-segfault", json!({ "button": "boom", "how": "eat-memory", "log": log }))
                .with_isolation(policy),
        ],
        BusOptions::default(),
    )
    .expect("start");
    let (listener, seen) = recorder();
    bus.add_listener("test", listener).expect("listener");
    press(&bus, "boom");
    press(&bus, "after");
    bus.flush().await;
    let errors = errors_about(&seen, "fixture-segfault");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("crashed") && errors[0].contains("restarting"), "{}", errors[0]);
    assert_eq!(lines(&log), ["button_pressed"], "the restarted instance handles events");
    bus.shutdown().await;
}

#[actix::test]
async fn a_hang_times_out_is_killed_and_restarted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("hang.log");
    let bus = Bus::start(
        vec![spec("fixture-hang", json!({ "button": "stuck", "log": log })).with_isolation(process(300))],
        BusOptions::default(),
    )
    .expect("start");
    let (listener, seen) = recorder();
    bus.add_listener("test", listener).expect("listener");
    let started = Instant::now();
    press(&bus, "stuck");
    press(&bus, "after");
    bus.flush().await;
    let errors = errors_about(&seen, "fixture-hang");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("timed out") && errors[0].contains("300 ms"), "{}", errors[0]);
    assert_eq!(lines(&log), ["button_pressed:after"]);
    assert_eq!(state(&bus, "fixture-hang"), "running");
    assert!(started.elapsed() < Duration::from_secs(10), "the hang cost its deadline, not forever");
    bus.shutdown().await;
}

#[actix::test]
async fn a_plugin_that_keeps_crashing_is_disabled_after_max_restarts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("segfault.log");
    let policy = IsolationPolicy { max_restarts: 1, ..process(2000) };
    let bus = Bus::start(
        vec![spec("fixture-segfault", json!({ "button": "boom", "log": log })).with_isolation(policy)],
        BusOptions::default(),
    )
    .expect("start");
    let (listener, seen) = recorder();
    bus.add_listener("test", listener).expect("listener");
    press(&bus, "boom");
    bus.flush().await;
    press(&bus, "boom");
    bus.flush().await;
    press(&bus, "never");
    bus.flush().await;
    let errors = errors_about(&seen, "fixture-segfault");
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0].contains("restarting it (1 of 1)"), "{}", errors[0]);
    assert!(errors[1].contains("is disabled (after 1 restarts, max_restarts = 1)"), "{}", errors[1]);
    assert_eq!(state(&bus, "fixture-segfault"), "failed");
    assert!(lines(&log).is_empty(), "a disabled plugin gets nothing: {:?}", lines(&log));
    bus.shutdown().await;
}

#[actix::test]
async fn on_crash_disable_disables_at_the_first_crash() {
    let policy = IsolationPolicy { on_crash: OnCrash::Disable, ..process(2000) };
    let bus = Bus::start(
        vec![spec("fixture-segfault", json!({ "button": "boom" })).with_isolation(policy)],
        BusOptions::default(),
    )
    .expect("start");
    let (listener, seen) = recorder();
    bus.add_listener("test", listener).expect("listener");
    press(&bus, "boom");
    bus.flush().await;
    let errors = errors_about(&seen, "fixture-segfault");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("on_crash = \"disable\""), "{}", errors[0]);
    assert_eq!(state(&bus, "fixture-segfault"), "failed");
    bus.shutdown().await;
}

#[actix::test]
async fn an_isolated_layout_renders_the_same_view_as_in_process() {
    let request = view_request();
    let mut views = Vec::new();
    for policy in [IsolationPolicy::default(), process(2000)] {
        let bus = Bus::start(
            vec![spec("layout-default", json!({})).with_isolation(policy)],
            BusOptions { layout: Some("layout-default".into()), ..BusOptions::default() },
        )
        .expect("start");
        views.push(bus.render(request.clone()).await.expect("renders"));
        bus.shutdown().await;
    }
    assert_eq!(views[0], views[1]);
}

#[test]
fn config_takes_process_isolation_and_refuses_crash_keys_in_process() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("app.toml");
    let text = "[[plugin]]\nname = \"fixture-segfault\"\nisolation = \"process\"\non_crash = \"disable\"\n\
                max_restarts = 2\ndeadline_ms = 250\nmemory_limit_mb = 256\n";
    let config = Config::from_toml_str(text, "app.toml").expect("valid").config;
    let specs = loader::load_configured(&config, &PluginSearch::new(&[])).expect("loads");
    let policy = &specs[0].isolation;
    assert_eq!(policy.mode, switchboard_config::Isolation::Process);
    assert_eq!(policy.on_crash, OnCrash::Disable);
    assert_eq!(
        (policy.max_restarts, policy.deadline, policy.memory_limit),
        (2, Duration::from_millis(250), Some(256 << 20))
    );

    let bad = "[[plugin]]\nname = \"event-log\"\non_crash = \"restart\"\n";
    let err = Config::from_toml_str(bad, "app.toml").expect_err("in-process with a crash policy");
    assert_eq!(err.to_string().split(": ").next(), Some("app.toml:3:1"), "{err}");
    assert!(err.to_string().contains("applies only to a plugin with isolation = \"process\""), "{err}");

    let typo = "[[plugin]]\nname = \"event-log\"\nisolation = \"proces\"\n";
    let err = Config::from_toml_str(typo, "app.toml").expect_err("unknown mode");
    assert!(err.to_string().starts_with("app.toml:3:"), "{err}");
    std::fs::write(&path, text).expect("write");
}

fn view_request() -> ViewRequest {
    let participants = ["alice", "bob", "carol"]
        .iter()
        .map(|uid| ParticipantView {
            user: RtcUser::new(*uid, uid.to_uppercase()),
            is_local: *uid == "alice",
            audio_muted: false,
            video_off: false,
        })
        .collect();
    ViewRequest {
        width: 1280.0,
        height: 720.0,
        settings: CallSettings::default(),
        button_order: None,
        custom_buttons: Vec::new(),
        participants,
        active_speaker: Some("bob".into()),
        recording: false,
        pip: false,
        idle_seconds_left: None,
        audio_modes: Vec::new(),
        audio_only: false,
    }
}

#[actix::test]
async fn a_layout_is_hot_swapped_while_events_flow() {
    let dir = tempfile::tempdir().expect("tempdir");
    let event_log = dir.path().join("events.jsonl");
    let bus = Bus::start(
        vec![spec("layout-default", json!({})), spec("event-log", json!({ "path": event_log }))],
        BusOptions { layout: Some("layout-default".into()), ..BusOptions::default() },
    )
    .expect("start");
    let (listener, seen) = recorder();
    bus.add_listener("test", listener).expect("listener");
    let before = bus.render(view_request()).await.expect("renders");
    press(&bus, "one");
    bus.replace_plugin("layout-default", spec("layout-stage", json!({}))).await.expect("swaps");
    press(&bus, "two");
    let after = bus.render(view_request()).await.expect("renders after the swap");
    bus.flush().await;

    assert_ne!(before, after, "layout-stage draws another view");
    assert_eq!(bus.provider(switchboard_core::Capability::Layout).as_deref(), Some("layout-stage"));
    let presses =
        logged_events(&event_log).into_iter().filter(|e| matches!(e, Event::ButtonPressed { .. })).count();
    assert_eq!(presses, 2, "no event lost around the swap");
    let statuses: Vec<(String, String)> = seen
        .lock()
        .expect("lock")
        .iter()
        .filter_map(|e| match e {
            Event::PluginStatusChanged { plugin, status, .. } => Some((plugin.clone(), status.clone())),
            _ => None,
        })
        .collect();
    assert!(statuses.contains(&("layout-default".into(), "stopped".into())), "{statuses:?}");
    assert!(statuses.contains(&("layout-stage".into(), "running".into())), "{statuses:?}");

    // A replacement that would route differently is refused, and the bus keeps its plugin.
    let err = bus.replace_plugin("layout-stage", spec("fixture-hang", json!({}))).await.expect_err("refused");
    assert!(matches!(err, SwapError::Incompatible { .. }), "{err}");
    assert!(bus.render(view_request()).await.is_ok());
    bus.shutdown().await;
}

#[actix::test]
async fn a_crashed_plugin_can_be_replaced_by_a_fresh_instance() {
    let policy = IsolationPolicy { on_crash: OnCrash::Disable, ..process(2000) };
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("segfault.log");
    let bus = Bus::start(
        vec![
            spec("fixture-segfault", json!({ "button": "boom", "log": log })).with_isolation(policy.clone()),
        ],
        BusOptions::default(),
    )
    .expect("start");
    press(&bus, "boom");
    bus.flush().await;
    assert_eq!(state(&bus, "fixture-segfault"), "failed");
    let fresh = PluginSpec::new(
        loader::load(&library_path("fixture-segfault")).expect("loads"),
        json!({ "button": "boom", "log": log }),
    )
    .with_isolation(policy);
    bus.replace_plugin("fixture-segfault", fresh).await.expect("swaps");
    press(&bus, "again");
    bus.flush().await;
    assert_eq!(state(&bus, "fixture-segfault"), "running");
    assert_eq!(lines(&log), ["button_pressed"]);
    bus.shutdown().await;
}

// ---- A live call: `switchboard serve` and two `switchboard join` ----

struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start() -> Server {
        let mut child = Command::new(SWITCHBOARD)
            .args(["serve", "--listen", "127.0.0.1:0", "--api-key", "test-key"])
            .env("SWITCHBOARD_SECRET", "isolation-test-secret-0123456789")
            .stdout(Stdio::piped())
            .spawn()
            .expect("serve starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("serve prints its url");
        let url = line.trim().rsplit(' ').next().expect("url").to_owned();
        Server { child, url }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn join(server: &Server, uid: &str, config: &Path, events: &Path, script: Option<&Path>, secs: f64) -> Child {
    let mut command = Command::new(SWITCHBOARD);
    command
        .args(["join", "--server", &server.url, "--api-key", "test-key", "--user", uid, "--session", "iso"])
        .arg("--config")
        .arg(config)
        .arg("--events")
        .arg(events)
        .args(["--duration", &secs.to_string()]);
    if let Some(script) = script {
        command.arg("--script").arg(script);
    }
    command.spawn().expect("join starts")
}

fn event_lines(path: &Path) -> Vec<serde_json::Value> {
    crate::fixtures::json_lines(path)
}

#[test]
fn a_live_call_survives_an_isolated_plugin_segfaulting_mid_call() {
    let dir = tempfile::tempdir().expect("tempdir");
    let plugin_dir = library_path("fixture-segfault").parent().expect("folder").to_owned();
    let crash_log = dir.path().join("segfault.log");
    let wav = dir.path().join("alice-hears.wav");
    let alice_config = dir.path().join("alice.toml");
    std::fs::write(
        &alice_config,
        format!(
            "[media]\naudio_input = \"tone:440\"\naudio_output = \"wav:{}\"\nvideo_input = \"pattern:front\"\n\
             [host]\nplugin_dirs = [{:?}]\n\
             [[plugin]]\nname = \"layout-default\"\n\
             [[plugin]]\nname = \"fixture-segfault\"\nisolation = \"process\"\nmax_restarts = 2\n\
             [plugin.settings]\ncrash_on = \"user_muted\"\nlog = {:?}\n",
            wav.display(),
            plugin_dir.display().to_string(),
            crash_log.display().to_string(),
        ),
    )
    .expect("config");
    let bob_config = dir.path().join("bob.toml");
    std::fs::write(
        &bob_config,
        format!(
            "[media]\naudio_input = \"tone:660\"\naudio_output = \"null\"\nvideo_input = \"pattern:back\"\n\
             [host]\nplugin_dirs = [{:?}]\n[[plugin]]\nname = \"layout-default\"\n",
            plugin_dir.display().to_string()
        ),
    )
    .expect("config");
    // Alice mutes herself (the plugin segfaults on `user_muted`), then unmutes (the
    // restarted plugin logs `user_unmuted`).
    let script = dir.path().join("alice.script.toml");
    std::fs::write(
        &script,
        "[[step]]\nat_ms = 1500\naction = \"mute_audio\"\nmuted = true\n\
         [[step]]\nat_ms = 3000\naction = \"mute_audio\"\nmuted = false\n",
    )
    .expect("script");

    let server = Server::start();
    let alice_events = dir.path().join("alice.jsonl");
    let bob_events = dir.path().join("bob.jsonl");
    let mut bob = join(&server, "bob", &bob_config, &bob_events, None, 7.0);
    let mut alice = join(&server, "alice", &alice_config, &alice_events, Some(&script), 6.0);

    // Sample the WAV while the call runs: it must keep growing after the crash.
    let mut sizes = Vec::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(5500) {
        std::thread::sleep(Duration::from_millis(500));
        sizes.push((started.elapsed(), std::fs::metadata(&wav).map(|m| m.len()).unwrap_or(0)));
    }
    assert!(alice.wait().expect("alice exits").success(), "alice's join ends cleanly");
    assert!(bob.wait().expect("bob exits").success(), "bob's join ends cleanly");

    let events = event_lines(&alice_events);
    let error = events
        .iter()
        .find(|e| e["event"] == "error" && e["details"] == "fixture-segfault")
        .unwrap_or_else(|| panic!("an error event names the plugin: {events:#?}"));
    assert!(error["message"].as_str().unwrap_or("").contains("SIGSEGV"), "{error}");
    assert!(
        events.iter().any(|e| e["event"] == "plugin_status_changed"
            && e["plugin"] == "fixture-segfault"
            && e["status"] == "running"
            && e["detail"].as_str().unwrap_or("").contains("restarted")),
        "the plugin is restarted: {events:#?}"
    );
    assert!(events.iter().any(|e| e["event"] == "user_unmuted"), "the call goes on after the crash");
    assert!(!events.iter().any(|e| e["event"] == "user_left"), "bob never left: {events:#?}");
    assert_eq!(lines(&crash_log), ["user_unmuted"], "the restarted plugin handles events");
    // Audio kept arriving after the crash (at 1.5 s): the WAV grew between 3 s and 5 s.
    let at = |t: u64| sizes.iter().rev().find(|(e, _)| *e <= Duration::from_millis(t)).map_or(0, |(_, s)| *s);
    assert!(at(5000) > at(3000) + 16_000, "the WAV keeps getting audio after the crash: {sizes:?}");
}

#[test]
fn sighup_swaps_the_layout_of_a_live_call_without_dropping_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let plugin_dir = library_path("layout-default").parent().expect("folder").display().to_string();
    let wav = dir.path().join("alice-hears.wav");
    let config = |layout: &str| {
        format!(
            "[media]\naudio_input = \"tone:440\"\naudio_output = \"wav:{}\"\nvideo_input = \"pattern:front\"\n\
             [ui]\nlayout = \"{layout}\"\n[host]\nplugin_dirs = [{plugin_dir:?}]\n[[plugin]]\nname = \"{layout}\"\n",
            wav.display()
        )
    };
    let alice_config = dir.path().join("alice.toml");
    std::fs::write(&alice_config, config("layout-default")).expect("config");
    let bob_config = dir.path().join("bob.toml");
    std::fs::write(
        &bob_config,
        format!(
            "[media]\naudio_input = \"tone:660\"\naudio_output = \"null\"\nvideo_input = \"pattern:back\"\n\
             [host]\nplugin_dirs = [{plugin_dir:?}]\n[[plugin]]\nname = \"layout-default\"\n"
        ),
    )
    .expect("config");

    let server = Server::start();
    let alice_events = dir.path().join("alice.jsonl");
    let bob_events = dir.path().join("bob.jsonl");
    let mut bob = join(&server, "bob", &bob_config, &bob_events, None, 6.0);
    let mut alice = join(&server, "alice", &alice_config, &alice_events, None, 5.0);
    // The events file is written as it goes but may be buffered; the WAV is the sign of
    // life: wait until audio arrives (the call is up and SIGHUP is handled by then).
    let started = Instant::now();
    while std::fs::metadata(&wav).map(|m| m.len()).unwrap_or(0) < 32_000 {
        assert!(started.elapsed() < Duration::from_secs(4), "the call is up and audio arrives");
        std::thread::sleep(Duration::from_millis(50));
    }
    let size_at_swap = std::fs::metadata(&wav).map(|m| m.len()).unwrap_or(0);

    std::fs::write(&alice_config, config("layout-stage")).expect("new config");
    let pid = nix::unistd::Pid::from_raw(i32::try_from(alice.id()).expect("pid"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).expect("sighup");

    assert!(alice.wait().expect("alice exits").success(), "alice's join ends cleanly, not killed by SIGHUP");
    assert!(bob.wait().expect("bob exits").success());
    let events = event_lines(&alice_events);
    assert!(
        events.iter().any(|e| e["event"] == "plugin_status_changed"
            && e["plugin"] == "layout-stage"
            && e["status"] == "running"
            && e["detail"].as_str().unwrap_or("").contains("replaced `layout-default`")),
        "the layout is swapped: {events:#?}"
    );
    assert!(!events.iter().any(|e| e["event"] == "error"), "no error: {events:#?}");
    assert!(!events.iter().any(|e| e["event"] == "user_left"), "bob never left: {events:#?}");
    let size_at_end = std::fs::metadata(&wav).map(|m| m.len()).unwrap_or(0);
    assert!(
        size_at_end > size_at_swap + 16_000,
        "audio keeps flowing after the swap: {size_at_swap} -> {size_at_end}"
    );
}
