//! `fixture-slow`: subscribes to every event and sleeps `delay_ms` (default 100) on each,
//! then, when `path` is set, appends the event's kind as one line to that file, so a test
//! can see how far it got. Tests use it to check that a slow plugin delays no other.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use switchboard_core::sdk::{Context, Plugin, PluginError, Settings};
use switchboard_core::{Event, EventKind, PluginKind};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SlowSettings {
    /// Milliseconds to sleep per event.
    #[serde(default = "default_delay")]
    delay_ms: u64,
    /// A progress file: one line per event handled.
    #[serde(default)]
    path: Option<PathBuf>,
}

fn default_delay() -> u64 {
    100
}

/// The plugin.
#[derive(Debug)]
pub struct Slow {
    delay: Duration,
    progress: Option<File>,
}

impl Default for Slow {
    fn default() -> Self {
        Self { delay: Duration::from_millis(default_delay()), progress: None }
    }
}

impl Plugin for Slow {
    const ID: &'static str = "fixture-slow";
    const NAME: &'static str = "Slow fixture";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const KIND: PluginKind = PluginKind::Fixture;
    const DESCRIPTION: &'static str = "Sleeps a configurable time on every event (for tests).";
    const SUBSCRIPTIONS: &'static [EventKind] = EventKind::ALL;

    fn configure(&mut self, settings: &Settings) -> Result<(), PluginError> {
        let settings: SlowSettings = settings.parse()?;
        self.delay = Duration::from_millis(settings.delay_ms);
        if let Some(path) = settings.path {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|e| PluginError::Other(format!("opening {}: {e}", path.display())))?;
            self.progress = Some(file);
        }
        Ok(())
    }

    fn on_event(&mut self, event: &Event, _ctx: &mut Context) {
        std::thread::sleep(self.delay);
        if let Some(file) = self.progress.as_mut() {
            // A test fixture: a failed write shows up as a missing line in the test.
            let _ = writeln!(file, "{}", event.kind());
        }
    }
}

switchboard_core::export_plugin!(Slow);
