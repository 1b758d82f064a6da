//! Helpers for tests that load the workspace's real plugin cdylibs through the ABI.
//!
//! The libraries are built by the README's build (`cargo build --workspace --all-targets`)
//! into `target/debug`, which [`ensure_built`] runs once per test run (a no-op after that
//! command); the test binary lives in `target/debug/deps` and finds them through the
//! loader's own search (the folder of the executable and its parent).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};

use switchboard_core::Event;
use switchboard_runtime::bus::{Bus, HostCommand};
use switchboard_runtime::listeners::{CallsEventListener, FnListener};
use switchboard_runtime::loader::{self, PluginLibrary, PluginSearch, PluginSpec};

/// The workspace's root folder.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root")
}

/// The build's target profile folder, where `switchboard` and the plugin cdylibs land.
pub fn profile_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_switchboard")).parent().expect("binary has a directory").to_owned()
}

/// The variables cargo sets for a test binary it runs (besides `CARGO`, which names the
/// cargo to run), and the prefixes of the families of them.
const CARGO_RUN_VARS: [&str; 9] = [
    "CARGO_MANIFEST_DIR",
    "CARGO_MANIFEST_PATH",
    "CARGO_CRATE_NAME",
    "CARGO_BIN_NAME",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_TARGET_TMPDIR",
    "CARGO_RUSTC_CURRENT_DIR",
    "OUT_DIR",
    "CARGO_MAKEFLAGS",
];
const CARGO_RUN_PREFIXES: [&str; 2] = ["CARGO_PKG_", "CARGO_BIN_EXE_"];

/// Runs, once per test run, the build the README's test command runs (`cargo build
/// --workspace --all-targets`): a no-op after that command. Building only the plugin crates
/// instead resolved their dependencies' features differently and rebuilt them (and the
/// plugins) in the middle of the suite, half a minute of both cores while calls were being
/// timed. Run alone (`cargo test -p switchboard`), it brings the plugins up to date.
fn ensure_built() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        cmd.current_dir(workspace()).args(["build", "--workspace", "--all-targets"]);
        // What cargo set for this test process is not the build's environment: some build
        // scripts rerun when it changes (ring's on CARGO_MANIFEST_DIR), which dirtied
        // half the dependency tree.
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            if CARGO_RUN_VARS.contains(&name.as_ref())
                || CARGO_RUN_PREFIXES.iter().any(|prefix| name.starts_with(prefix))
            {
                cmd.env_remove(name.as_ref());
            }
        }
        if profile_dir().file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("running cargo build for the plugins");
        assert!(status.success(), "building the workspace's plugins failed");
    });
}

/// The plugin cdylib `lib{lib_name}.so` of this build, for tests that hand a path to
/// `switchboard` processes.
pub fn built_plugin(lib_name: &str) -> PathBuf {
    ensure_built();
    let path = profile_dir().join(format!("lib{lib_name}.so"));
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// The path of the workspace plugin `name`, found as the host finds plugins.
pub fn library_path(name: &str) -> PathBuf {
    ensure_built();
    PluginSearch::new(&[]).find(name).unwrap_or_else(|e| panic!("{e}"))
}

/// The loaded workspace plugin `name`.
pub fn library(name: &str) -> Arc<PluginLibrary> {
    let path = library_path(name);
    loader::load(&path).unwrap_or_else(|e| panic!("loading {}: {e}", path.display()))
}

/// A spec for the workspace plugin `name` with `settings`.
pub fn spec(name: &str, settings: serde_json::Value) -> PluginSpec {
    PluginSpec::new(library(name), settings)
}

/// The JSON lines of a file written by a plugin (empty when the file does not exist yet).
pub fn json_lines(path: &Path) -> Vec<serde_json::Value> {
    let Ok(text) = std::fs::read_to_string(path) else { return Vec::new() };
    // A writer may be in the middle of a line: only newline-terminated lines are complete.
    let complete = text.rfind('\n').map_or("", |end| &text[..end]);
    complete
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l:?}: {e}")))
        .collect()
}

/// The events an `event-log` file holds, without the `plugin_status_changed` noise.
pub fn logged_events(path: &Path) -> Vec<Event> {
    json_lines(path)
        .into_iter()
        .map(|v| serde_json::from_value::<Event>(v).expect("event-log writes events"))
        .filter(|e| !matches!(e, Event::PluginStatusChanged { .. }))
        .collect()
}

/// What a [`recorder`] saw.
pub type Seen = Arc<Mutex<Vec<Event>>>;

/// A listener that keeps every event it sees.
pub fn recorder() -> (Arc<dyn CallsEventListener>, Seen) {
    let seen = Seen::default();
    let sink = seen.clone();
    (Arc::new(FnListener(move |e: &Event| sink.lock().expect("lock").push(e.clone()))), seen)
}

/// Stands in for the session: takes the bus's host commands, records them and accepts
/// them. Must run inside the bus's executor.
pub fn record_host_commands(bus: &Bus) -> Arc<Mutex<Vec<HostCommand>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut commands = bus.host_commands();
    let sink = Arc::clone(&seen);
    switchboard_runtime::exec::spawn(async move {
        while let Some(request) = commands.recv().await {
            sink.lock().expect("lock").push(request.command.clone());
            request.answer(Ok(()));
        }
    });
    seen
}
