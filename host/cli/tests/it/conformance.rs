//! Conformance: shipped plugins pass, fixtures fail what they are built to fail, the
//! generated template and the C plugin pass, and the C header is current.

use std::path::Path;

use crate::fixtures::workspace;

fn generate_header() -> String {
    let root = workspace();
    let config = cbindgen::Config::from_file(root.join("core/include/cbindgen.toml")).expect("cbindgen.toml");
    let mut out = Vec::new();
    cbindgen::Builder::new()
        .with_config(config)
        .with_src(root.join("core/src/abi.rs"))
        .generate()
        .expect("cbindgen generates the header")
        .write(&mut out);
    String::from_utf8(out).expect("utf-8 header")
}

#[test]
fn c_header_is_current() {
    let path = workspace().join("core/include/switchboard.h");
    let fresh = generate_header();
    if std::env::var_os("SWITCHBOARD_BLESS").is_some() {
        std::fs::write(&path, &fresh).expect("writing the header");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "core/include/switchboard.h is stale; regenerate it with \
         SWITCHBOARD_BLESS=1 cargo test -p switchboard --test it c_header"
    );
}

// ---------------------------------------------------------------------------------------
// Running conformance

use std::collections::BTreeMap;
use std::process::Command;

use crate::fixtures::{built_plugin, profile_dir};

/// Cargo for the generated plugin crates, on one job: their target dir is cold on a fresh
/// clone (about 16 s of compiling), and the call tests that run alongside need the other
/// core to keep their real-time media on time.
fn cargo() -> Command {
    let mut cargo = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cargo.env("CARGO_BUILD_JOBS", "1");
    cargo
}

/// Checks whose warnings only say "slow".
const TIMING_CHECKS: &[&str] = &["scan-time", "handler-latency"];

/// One conformance run, as JSON.
struct Run {
    success: bool,
    report: serde_json::Value,
}

impl Run {
    fn statuses(&self) -> BTreeMap<String, String> {
        self.report["checks"]
            .as_array()
            .expect("checks array")
            .iter()
            .map(|c| {
                (
                    c["name"].as_str().expect("name").to_owned(),
                    c["status"].as_str().expect("status").to_owned(),
                )
            })
            .collect()
    }

    fn status(&self, name: &str) -> String {
        self.statuses().get(name).cloned().unwrap_or_else(|| panic!("no check {name} in {:#}", self.report))
    }

    fn message(&self, name: &str) -> String {
        self.report["checks"]
            .as_array()
            .expect("checks array")
            .iter()
            .find(|c| c["name"] == name)
            .and_then(|c| c["message"].as_str())
            .unwrap_or_default()
            .to_owned()
    }

    fn not_passing(&self) -> BTreeMap<String, String> {
        self.statuses().into_iter().filter(|(_, s)| s != "passed" && s != "skipped").collect()
    }

    /// What keeps a plugin from passing, leaving out timing warnings: a loaded CI machine
    /// may be slow, and timing targets are for benchmarks, not test assertions.
    fn problems(&self) -> BTreeMap<String, String> {
        self.not_passing()
            .into_iter()
            .filter(|(name, status)| !(status == "warning" && TIMING_CHECKS.contains(&name.as_str())))
            .collect()
    }
}

fn conformance(lib: &Path, extra: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("conformance")
        .arg(lib)
        .args(["--json", "--seed", "42"])
        .args(extra)
        .output()
        .expect("running switchboard conformance");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!("report is not JSON ({e}): {stdout}\nstderr: {}", String::from_utf8_lossy(&output.stderr))
    });
    Run { success: output.status.success(), report }
}

fn check_count() -> usize {
    switchboard_conformance::checks::ALL.len()
}

#[test]
fn event_log_passes_every_check() {
    let run = conformance(&built_plugin("event_log"), &["--settings", r#"{"path": "{tmp}/events.jsonl"}"#]);
    assert!(run.problems().is_empty(), "event-log: {:#?}", run.problems());
    assert!(run.success, "exit status must be success");
    let summary = &run.report["summary"];
    assert_eq!(summary["skipped"], 2, "media-tap and layout-views do not apply");
    let count = |k: &str| summary[k].as_u64().expect("summary count") as usize;
    assert_eq!(count("passed") + count("warning") + count("skipped"), check_count());
    assert_eq!(run.report["seed"], 42);
}

#[test]
fn event_log_without_its_settings_fails_cleanly() {
    let run = conformance(&built_plugin("event_log"), &["--only", "^every-event-kind$"]);
    assert!(!run.success);
    assert_eq!(run.status("every-event-kind"), "failed");
    assert!(run.message("every-event-kind").contains("--settings"), "{}", run.message("every-event-kind"));
}

#[test]
fn segfault_fixture_is_reported_crashed_and_the_run_goes_on() {
    let run = conformance(&built_plugin("fixture_segfault"), &["--timeout-ms", "5000"]);
    assert!(!run.success);
    assert_eq!(run.status("every-event-kind"), "crashed");
    assert!(run.message("every-event-kind").contains("SIGSEGV"), "{}", run.message("every-event-kind"));
    assert_eq!(run.status("fuzz-events"), "crashed");
    // The checks that never send button_pressed still pass, before and after the crashes.
    for name in ["load-rtld-now", "descriptor-id", "create-destroy-repeated", "settings-unknown-key"] {
        assert_eq!(run.status(name), "passed", "{name}");
    }
    assert_eq!(run.statuses().len(), check_count(), "every check reported");
}

#[test]
fn hang_fixture_is_reported_timed_out_and_the_run_goes_on() {
    let run = conformance(
        &built_plugin("fixture_hang"),
        &[
            "--timeout-ms",
            "700",
            "--only",
            "^(descriptor-id|every-event-kind|create-destroy-repeated|fuzz-events|misuse-destroy-twice)$",
        ],
    );
    assert!(!run.success);
    assert_eq!(run.status("every-event-kind"), "timed_out");
    assert_eq!(run.status("fuzz-events"), "timed_out");
    assert_eq!(run.status("create-destroy-repeated"), "passed");
    assert_eq!(run.status("misuse-destroy-twice"), "passed", "the run goes on after a hang");
    assert_eq!(run.report["summary"]["timed_out"], 2);
}

#[test]
fn thread_leak_fixture_fails_threads_after_destroy() {
    let run = conformance(
        &built_plugin("fixture_thread_leak"),
        &["--only", "^(threads-after-destroy|every-event-kind|descriptor-.*)$"],
    );
    assert!(!run.success);
    assert_eq!(run.status("threads-after-destroy"), "failed");
    assert!(
        run.message("threads-after-destroy").contains("leaky-worker"),
        "{}",
        run.message("threads-after-destroy")
    );
    let others: Vec<_> = run.problems().into_keys().filter(|n| n != "threads-after-destroy").collect();
    assert!(others.is_empty(), "only the thread check fails: {others:?}");
}

#[test]
fn liar_fixture_is_caught_in_each_lie() {
    let run = conformance(&built_plugin("fixture_liar"), &[]);
    assert!(!run.success);
    let expected: BTreeMap<String, String> = [
        ("descriptor-id", "failed"),
        ("descriptor-version", "failed"),
        ("commands-valid", "failed"),
        ("capability-commands", "failed"),
        ("settings-unknown-key", "warning"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_owned(), b.to_owned()))
    .collect();
    assert_eq!(run.problems(), expected);
    assert!(run.message("commands-valid").contains("start_recording"), "{}", run.message("commands-valid"));
}

#[test]
fn a_seed_reproduces_the_same_fuzz_run() {
    let lib = built_plugin("fixture_liar");
    let a = conformance(&lib, &["--only", "^fuzz-events$"]);
    let b = conformance(&lib, &["--only", "^fuzz-events$"]);
    assert_eq!(a.message("fuzz-events"), b.message("fuzz-events"));
    assert!(a.message("fuzz-events").contains("seed 42"));
}

#[test]
fn text_output_ends_with_a_summary_line() {
    let output = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["conformance", "--only", "^descriptor-", "--skip", "stable"])
        .arg(built_plugin("fixture_liar"))
        .output()
        .expect("running switchboard conformance");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    assert_eq!(last, "4 passed, 2 failed, 0 crashed, 0 timed out, 0 skipped, 0 warnings", "{stdout}");
    assert!(!stdout.contains("descriptor-stable"));
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--seed"), "a failure names the seed");
}

#[test]
fn c_plugin_passes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let lib = dir.path().join("libc_hello.so");
    let root = workspace();
    let status = Command::new("cc")
        .args(["-shared", "-fPIC", "-fvisibility=hidden", "-O2", "-Wall", "-Wextra", "-Werror", "-I"])
        .arg(root.join("core/include"))
        .arg(root.join("plugins/c-hello/hello.c"))
        .arg("-o")
        .arg(&lib)
        .arg("-lpthread")
        .status()
        .expect("running cc");
    assert!(status.success(), "cc failed to build plugins/c-hello");
    let run = conformance(&lib, &[]);
    assert!(run.problems().is_empty(), "c-hello: {:#?}", run.problems());
    assert!(run.success);
}

#[test]
fn generated_template_plugin_builds_tests_and_passes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let krate = dir.path().join("hello-template");
    let status = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["new-plugin", "hello-template", "--dir"])
        .arg(&krate)
        .arg("--core-path")
        .arg(workspace().join("core"))
        .status()
        .expect("running switchboard new-plugin");
    assert!(status.success());
    // The workspace's lock file pins the same dependency versions (no network needed), and
    // a target dir of its own beside ours keeps the compiled dependencies between runs.
    std::fs::copy(workspace().join("Cargo.lock"), krate.join("Cargo.lock")).expect("copying Cargo.lock");
    let target = profile_dir().parent().expect("target dir").join("template-check");
    for args in [&["test", "--offline", "--quiet"][..], &["build", "--offline", "--quiet"][..]] {
        let status = cargo()
            .current_dir(&krate)
            .args(args)
            .env("CARGO_TARGET_DIR", &target)
            .status()
            .expect("running cargo in the generated crate");
        assert!(status.success(), "cargo {args:?} failed in the generated crate");
    }
    let run = conformance(&target.join("debug/libhello_template.so"), &[]);
    assert!(run.problems().is_empty(), "template: {:#?}", run.problems());
    assert!(run.success);
}

/// A grid layout written for this test; `BUG` shifts every tile right by a pixel once the
/// call has more than 20 participants, pushing the last column out of the window.
const GRID_LAYOUT: &str = r#"
use switchboard_core::command::Capability;
use switchboard_core::sdk::Plugin;
use switchboard_core::view::{Rect, Tile, TileContent, View, ViewRequest};
use switchboard_core::PluginKind;

const BUG: bool = {{bug}};

#[derive(Default)]
pub struct Grid;

impl Plugin for Grid {
    const ID: &'static str = "grid-layout";
    const NAME: &'static str = "Grid";
    const VERSION: &'static str = "0.1.0";
    const KIND: PluginKind = PluginKind::Layout;
    const DESCRIPTION: &'static str = "Everyone in an even grid.";
    const CAPABILITIES: &'static [Capability] = &[Capability::Layout];
    // Not that a layout needs media: it makes this plugin exercise the media-tap check too.
    const WANTS_MEDIA: bool = true;

    fn render(&mut self, r: &ViewRequest) -> Option<View> {
        let n = r.participants.len().max(1);
        let cols = (n as f32).sqrt().ceil() as usize;
        let rows = n.div_ceil(cols);
        let (w, h) = (r.width / cols as f32, r.height / rows as f32);
        let shift = if BUG && n > 20 { 1.0 } else { 0.0 };
        let tiles = r.participants.iter().enumerate().map(|(i, p)| Tile {
            uid: p.user.uid.clone(),
            rect: Rect::new((i % cols) as f32 * w + shift, (i / cols) as f32 * h, w, h),
            z: 0,
            content: TileContent::Video { aspect_ratio: r.settings.main_video_container.aspect_ratio },
            name_label: None,
            muted: p.audio_muted,
            video_off: p.video_off,
            active_speaker: false,
            main: i == 0,
            controls: Vec::new(),
            clickable: false,
            draggable: false,
        }).collect();
        Some(View { width: r.width, height: r.height, tiles, ..View::default() })
    }
}

switchboard_core::export_plugin!(Grid);
"#;

#[test]
fn layout_views_and_media_pass_for_a_grid_and_a_tile_outside_the_window_fails() {
    let dir = tempfile::tempdir().expect("temp dir");
    let krate = dir.path().join("grid-layout");
    let status = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["new-plugin", "grid-layout", "--dir"])
        .arg(&krate)
        .arg("--core-path")
        .arg(workspace().join("core"))
        .status()
        .expect("running switchboard new-plugin");
    assert!(status.success());
    std::fs::copy(workspace().join("Cargo.lock"), krate.join("Cargo.lock")).expect("copying Cargo.lock");
    let target = profile_dir().parent().expect("target dir").join("template-check");
    let lib = target.join("debug/libgrid_layout.so");
    for (bug, expected) in [("false", "passed"), ("true", "failed")] {
        std::fs::write(krate.join("src/lib.rs"), GRID_LAYOUT.replace("{{bug}}", bug))
            .expect("writing lib.rs");
        let status = cargo()
            .current_dir(&krate)
            .args(["build", "--offline", "--quiet"])
            .env("CARGO_TARGET_DIR", &target)
            .status()
            .expect("running cargo build");
        assert!(status.success(), "building the grid layout failed");
        let run =
            conformance(&lib, &["--only", "^(layout-views|media-tap|entry-functions-set|descriptor-.*)$"]);
        assert_eq!(run.status("media-tap"), "passed", "{}", run.message("media-tap"));
        assert_eq!(run.status("layout-views"), expected, "bug={bug}: {}", run.message("layout-views"));
        if bug == "true" {
            assert!(
                run.message("layout-views").contains("not finite and inside"),
                "{}",
                run.message("layout-views")
            );
        } else {
            assert!(run.problems().is_empty(), "{:#?}", run.problems());
        }
    }
}

#[test]
fn plugins_md_lists_every_check_with_its_sentence() {
    let guide = std::fs::read_to_string(workspace().join("PLUGINS.md")).expect("PLUGINS.md");
    for check in switchboard_conformance::checks::ALL {
        let row = format!("| `{}` | {} |", check.name, check.asserts);
        assert!(guide.contains(&row), "PLUGINS.md lacks or misstates the row: {row}");
    }
}
