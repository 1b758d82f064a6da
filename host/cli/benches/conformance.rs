//! Bench: wall time of one whole `switchboard conformance` run over the event-log plugin
//! (every check, each in its own child process). Run with
//! `cargo bench -p switchboard --bench conformance`; prints min / median / max of 5 runs.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn main() {
    let exe = Path::new(env!("CARGO_BIN_EXE_switchboard"));
    let profile_dir = exe.parent().expect("binary has a directory");
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build.current_dir(&workspace).args(["build", "-p", "event-log"]);
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        build.arg("--release");
    }
    assert!(build.status().expect("running cargo build").success(), "building event-log failed");
    let plugin = profile_dir.join("libevent_log.so");

    let mut times: Vec<Duration> = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let output = Command::new(exe)
            .arg("conformance")
            .arg(&plugin)
            .args(["--json", "--seed", "1", "--settings", r#"{"path": "{tmp}/events.jsonl"}"#])
            .output()
            .expect("running switchboard conformance");
        times.push(started.elapsed());
        assert!(output.status.success(), "conformance failed: {}", String::from_utf8_lossy(&output.stdout));
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "conformance run over event-log ({} checks): min {:.0} ms, median {:.0} ms, max {:.0} ms (5 runs)",
        switchboard_conformance::checks::ALL.len(),
        ms(times[0]),
        ms(times[times.len() / 2]),
        ms(times[times.len() - 1])
    );
}
