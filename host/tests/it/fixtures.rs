//! Helpers for tests that load the workspace's real plugin cdylibs through the ABI.
//!
//! The libraries are built by `cargo build --workspace` into `target/debug`; the test binary
//! lives in `target/debug/deps` and finds them through the loader's own search (the folder
//! of the executable and its parent).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use actix::{Actor, Context, Handler};
use switchboard_core::{CallsException, Event};
use switchboard_host::bus::HostCommand;
use switchboard_host::listeners::{CallsEventListener, FnListener};
use switchboard_host::loader::{self, LoadError, PluginLibrary, PluginSearch, PluginSpec};

/// The path of the workspace plugin `name`, or a panic saying to build the workspace.
pub fn library_path(name: &str) -> PathBuf {
    match PluginSearch::new(&[]).find(name) {
        Ok(path) => path,
        Err(e @ LoadError::NotFound { .. }) => panic!(
            "{e}\nthe plugin cdylibs are built by the workspace build: run `cargo build --workspace` \
             first, then the tests"
        ),
        Err(e) => panic!("{e}"),
    }
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

/// Stands in for the session: records host commands and accepts them.
#[derive(Debug, Default)]
pub struct HostRecorder {
    pub seen: Arc<Mutex<Vec<HostCommand>>>,
}

impl Actor for HostRecorder {
    type Context = Context<Self>;
}

impl Handler<HostCommand> for HostRecorder {
    type Result = Result<(), CallsException>;

    fn handle(&mut self, command: HostCommand, _ctx: &mut Context<Self>) -> Self::Result {
        self.seen.lock().expect("lock").push(command);
        Ok(())
    }
}
