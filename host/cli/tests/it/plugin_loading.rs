//! The loader and the safe plugin wrapper, on the workspace's real cdylibs.

use switchboard_core::abi::ABI_VERSION;
use switchboard_core::wire::HostMessage;
use switchboard_core::{Capability, Command, Event, EventKind, PluginKind, RtcUser};
use switchboard_runtime::instance::PluginHandle;
use switchboard_runtime::loader::{self, LoadError, PluginSearch};
use switchboard_runtime::plugin::{PluginError, PluginInstance};

use crate::fixtures::{library, library_path};

#[test]
fn the_handshake_reads_the_descriptor() {
    let log = library("event-log");
    let d = log.descriptor();
    assert_eq!(d.id, "event-log");
    assert_eq!(d.kind, PluginKind::Tool);
    assert_eq!(d.abi_version, ABI_VERSION);
    assert_eq!(d.subscriptions, EventKind::ALL);

    let cap = library("fixture-capability");
    assert_eq!(cap.descriptor().capabilities, vec![Capability::Recording]);
    assert_eq!(cap.descriptor().subscriptions, vec![EventKind::UserJoined, EventKind::ButtonPressed]);
    assert!(cap.descriptor().wants_media);
}

#[test]
fn wrong_abi_is_refused_naming_both_versions() {
    let path = library_path("fixture-wrong-abi");
    let err = loader::load(&path).expect_err("ABI 999 must be refused");
    assert!(matches!(err, LoadError::AbiMismatch { found: 999, expected: 1, .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("plugin declares ABI version 999, this host supports 1"), "{text}");
    assert!(text.contains("libfixture_wrong_abi.so"), "{text}");
}

#[test]
fn plugins_are_found_by_name_with_dashes_as_underscores() {
    let path = PluginSearch::new(&[]).find("fixture-capability").expect("built by the workspace");
    assert!(path.ends_with("libfixture_capability.so"), "{}", path.display());
}

#[test]
fn a_configured_folder_is_searched_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = dir.path().join("libevent_log.so");
    std::fs::copy(library_path("event-log"), &copy).expect("copy");
    let search = PluginSearch::new(&[dir.path().to_owned()]);
    assert_eq!(search.find("event-log").expect("found"), copy);
    assert_eq!(search.dirs()[0], dir.path());
}

#[test]
fn a_library_without_the_entry_symbol_is_not_a_plugin() {
    // Any real shared library without the symbol will do; the C library is everywhere.
    let libc = ["/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libc.so.6", "/lib64/libc.so.6"]
        .into_iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.exists())
        .expect("a libc.so.6 on this machine");
    let err = loader::load(&libc).expect_err("libc is no plugin");
    assert!(matches!(err, LoadError::NoEntry { .. }), "{err:?}");
    assert!(err.to_string().contains("not a switchboard plugin"), "{err}");
}

#[test]
fn instances_handle_messages_and_answer_commands() {
    let mut instance =
        PluginInstance::create(library("fixture-capability"), &serde_json::json!({})).expect("create");
    let from = RtcUser::new("amy", "Amy");
    let reply =
        instance.handle(HostMessage::Command { command: Command::StartRecording, from: from.clone() });
    assert_eq!(reply.expect("ok").error, None);
    let reply = instance.handle(HostMessage::Command { command: Command::StartRecording, from }).expect("ok");
    assert_eq!(reply.error.expect("already recording").message, "already recording");
    let reply = instance
        .handle(HostMessage::Events { events: vec![Event::ButtonPressed { id: "pip".into() }] })
        .expect("ok");
    assert_eq!(reply.commands, vec![Command::EnterPipMode]);
    instance.destroy().expect("destroy");
}

#[test]
fn bad_settings_fail_create_with_the_plugins_message() {
    let err = PluginInstance::create(library("fixture-panic"), &serde_json::json!({"colour": "red"}))
        .expect_err("unknown setting");
    assert!(matches!(err, PluginError::CreateFailed { .. }), "{err:?}");
    assert!(err.to_string().contains("colour"), "{err}");
}

#[test]
fn a_panic_becomes_a_typed_error_and_fails_the_instance() {
    let mut instance =
        PluginInstance::create(library("fixture-panic"), &serde_json::json!({"on": "call_ended"}))
            .expect("create");
    instance
        .handle(HostMessage::Events { events: vec![Event::SessionTimeout] })
        .expect("not the chosen kind");
    let err = instance.handle(HostMessage::Events { events: vec![Event::CallEnded] }).expect_err("panics");
    match &err {
        PluginError::PluginPanicked { plugin, message } => {
            assert_eq!(plugin, "fixture-panic");
            assert!(message.contains("told to panic on call_ended"), "{message}");
        }
        other => panic!("expected PluginPanicked, got {other:?}"),
    }
    let err =
        instance.handle(HostMessage::Events { events: vec![Event::SessionTimeout] }).expect_err("failed");
    assert!(matches!(err, PluginError::Failed { .. }), "{err:?}");
}

#[test]
fn garbage_is_refused_not_fatal_to_the_process() {
    let mut instance =
        PluginInstance::create(library("fixture-noop"), &serde_json::json!({})).expect("create");
    let err = instance.handle_raw(b"\xff\x00 not json").expect_err("undecodable");
    assert!(matches!(err, PluginError::InvalidArgument { .. }), "{err:?}");
    // An unknown message type from a newer host is answered, empty.
    let reply = instance.handle_raw(br#"{"v":7,"msg":{"type":"from_the_future","x":1}}"#).expect("tolerated");
    assert!(reply.is_empty());
}
