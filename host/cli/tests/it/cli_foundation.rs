//! `switchboard config check`, `plugins list` and `plugins inspect`, run as a user would.

use std::path::Path;
use std::process::{Command, Output};

use crate::fixtures::library_path;

fn switchboard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_switchboard")).args(args).output().expect("run switchboard")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn default_config() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/default.toml")
}

#[test]
fn config_check_accepts_the_default_config_without_warnings() {
    let out = switchboard(&["config", "check", default_config().to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "ok\n");
}

#[test]
fn config_check_prints_warnings_with_their_location() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("call.toml");
    std::fs::write(&file, "[call]\nmode = \"single\"\nshow_end_button = false\n").expect("write");
    let out = switchboard(&["config", "check", file.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!("{}:3:1: unknown key `call.show_end_button`", file.display())),
        "{stdout}"
    );
    assert!(stdout.ends_with("ok\n"), "{stdout}");
}

#[test]
fn config_check_fails_with_file_line_col() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, "[media]\naudio_input = \"tone:loud\"\n").expect("write");
    let out = switchboard(&["config", "check", file.to_str().expect("utf-8")]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains(&format!("{}:2:", file.display())), "{stderr}");
    assert!(stderr.contains("tone"), "{stderr}");
}

#[test]
fn plugins_list_json_shows_good_and_broken_plugins() {
    let dir = library_path("event-log").parent().expect("folder").to_owned();
    let out = switchboard(&["plugins", "list", "--json", "--dir", dir.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let items: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("JSON array");
    let by_id = |id: &str| items.iter().find(|i| i["id"] == id).cloned();
    let cap = by_id("fixture-capability").expect("fixture-capability listed");
    assert_eq!(cap["capabilities"], serde_json::json!(["recording"]));
    assert_eq!(cap["abi_version"], 1);
    assert_eq!(cap["kind"], "fixture");
    assert_eq!(by_id("event-log").expect("event-log listed")["version"], "0.1.0");
    let broken = items
        .iter()
        .find(|i| i["path"].as_str().is_some_and(|p| p.ends_with("libfixture_wrong_abi.so")))
        .expect("the wrong-ABI fixture is listed");
    let error = broken["error"].as_str().expect("with its error");
    assert!(error.contains("999") && error.contains("supports 1"), "{error}");
}

#[test]
fn plugins_list_table_has_a_row_per_plugin() {
    let out = switchboard(&["plugins", "list"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("ID "), "{stdout}");
    assert!(
        stdout.lines().any(|l| l.starts_with("fixture-capability ") && l.contains("recording")),
        "{stdout}"
    );
    assert!(stdout.lines().any(|l| l.starts_with("broken: ") && l.contains("999")), "{stdout}");
}

#[test]
fn plugins_inspect_describes_one_library() {
    let path = library_path("fixture-capability");
    let out = switchboard(&["plugins", "inspect", path.to_str().expect("utf-8"), "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let d: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(d["id"], "fixture-capability");
    assert_eq!(d["subscriptions"], serde_json::json!(["user_joined", "button_pressed"]));
    assert_eq!(d["wants_media"], true);

    let wrong = library_path("fixture-wrong-abi");
    let out = switchboard(&["plugins", "inspect", wrong.to_str().expect("utf-8")]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("plugin declares ABI version 999, this host supports 1"));
}
