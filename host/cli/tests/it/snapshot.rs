//! `switchboard snapshot`: the same binary renders a different layout when only
//! `[ui] layout` changes in the config, and every PNG has the requested size.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::fixtures::built_plugin;

const BIN: &str = env!("CARGO_BIN_EXE_switchboard");

/// The layout plugins are separate cdylib crates that `cargo test -p switchboard` does
/// not build; the host finds them next to the binary.
fn ensure_plugins() {
    built_plugin("layout_default");
    built_plugin("layout_stage");
}

fn write_config(dir: &Path, name: &str, layout: &str) -> PathBuf {
    let path = dir.join(name);
    let text = format!(
        "[call]\nmode = \"spotlight\"\nshow_call_record_button = true\n\n[ui]\nlayout = \"{layout}\"\n"
    );
    std::fs::write(&path, text).expect("writing the config");
    path
}

fn snapshot(config: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .arg("snapshot")
        .arg("--config")
        .arg(config)
        .args(["--participants", "4", "--speaking", "bob", "--video-off", "dave"])
        .args(extra)
        .arg("--out")
        .arg(out)
        .output()
        .expect("running switchboard snapshot")
}

fn decode(path: &Path) -> tiny_skia::Pixmap {
    let bytes = std::fs::read(path).expect("reading the PNG");
    tiny_skia::Pixmap::decode_png(&bytes).expect("the output is a PNG")
}

#[test]
fn swapping_the_layout_in_toml_changes_the_rendered_png() {
    ensure_plugins();
    let dir = tempfile::tempdir().expect("temp dir");
    let default_cfg = write_config(dir.path(), "default.toml", "layout-default");
    let stage_cfg = write_config(dir.path(), "stage.toml", "layout-stage");
    let (a, b) = (dir.path().join("default.png"), dir.path().join("stage.png"));
    for (cfg, out) in [(&default_cfg, &a), (&stage_cfg, &b)] {
        let run = snapshot(cfg, out, &["--size", "960x540"]);
        assert!(run.status.success(), "snapshot failed: {}", String::from_utf8_lossy(&run.stderr));
    }
    let (pa, pb) = (decode(&a), decode(&b));
    assert_eq!((pa.width(), pa.height()), (960, 540));
    assert_eq!((pb.width(), pb.height()), (960, 540));
    let differing = pa.pixels().iter().zip(pb.pixels()).filter(|(x, y)| x != y).count();
    assert!(
        differing > 960 * 540 / 10,
        "the two layouts should look clearly different: {differing} pixels differ"
    );

    // The same config twice gives the same image: snapshots are reproducible.
    let again = dir.path().join("again.png");
    let run = snapshot(&default_cfg, &again, &["--size", "960x540"]);
    assert!(run.status.success());
    assert_eq!(std::fs::read(&a).expect("png"), std::fs::read(&again).expect("png"));
}

#[test]
fn every_png_has_the_requested_size() {
    ensure_plugins();
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = write_config(dir.path(), "c.toml", "layout-default");
    for (size, w, h) in [("640x360", 640, 360), ("333x777", 333, 777), ("1x1", 1, 1)] {
        for mode in ["default", "spotlight", "single"] {
            let out = dir.path().join(format!("{mode}-{size}.png"));
            let run = snapshot(&cfg, &out, &["--size", size, "--mode", mode, "--recording", "--idle", "30"]);
            assert!(run.status.success(), "{size} {mode}: {}", String::from_utf8_lossy(&run.stderr));
            let png = decode(&out);
            assert_eq!((png.width(), png.height()), (w, h), "{size} {mode}");
        }
    }
}

#[test]
fn a_missing_layout_or_participant_is_a_clear_error() {
    ensure_plugins();
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("x.png");
    let cfg = write_config(dir.path(), "missing.toml", "layout-nowhere");
    let run = snapshot(&cfg, &out, &[]);
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("layout-nowhere") && stderr.contains("not found"), "{stderr}");
    assert!(!out.exists());

    let cfg = write_config(dir.path(), "ok.toml", "layout-default");
    let run = snapshot(&cfg, &out, &["--muted", "zed"]);
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("no participant `zed`"));
}
