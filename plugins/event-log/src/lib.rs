//! `event-log`: writes every call event it receives as one JSON object per line to the file
//! named by its `path` setting. A real tool for debugging calls.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use serde::Deserialize;
use switchboard_core::sdk::{Context, Plugin, PluginError, Settings};
use switchboard_core::{Event, EventKind, PluginKind};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventLogSettings {
    /// The file to append to; created when missing.
    path: PathBuf,
    /// Flush after every batch of events (default true), so a crash loses nothing.
    #[serde(default = "yes")]
    flush: bool,
}

fn yes() -> bool {
    true
}

/// The plugin.
#[derive(Debug, Default)]
pub struct EventLog {
    out: Option<BufWriter<File>>,
    flush: bool,
    failed_write: bool,
}

impl Plugin for EventLog {
    const ID: &'static str = "event-log";
    const NAME: &'static str = "Event log";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const KIND: PluginKind = PluginKind::Tool;
    const DESCRIPTION: &'static str = "Writes every call event as one JSON object per line to a file.";
    const SUBSCRIPTIONS: &'static [EventKind] = EventKind::ALL;

    fn configure(&mut self, settings: &Settings) -> Result<(), PluginError> {
        let settings: EventLogSettings = settings.parse()?;
        // A log in a folder that does not exist yet (a fresh `target/demo/`) is still a log.
        if let Some(parent) = settings.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| PluginError::Other(format!("creating the folder {}: {e}", parent.display())))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&settings.path)
            .map_err(|e| PluginError::Other(format!("opening {}: {e}", settings.path.display())))?;
        self.out = Some(BufWriter::new(file));
        self.flush = settings.flush;
        Ok(())
    }

    fn on_event(&mut self, event: &Event, _ctx: &mut Context) {
        let Some(out) = self.out.as_mut() else { return };
        // A full disk must not take the call down; the first failure is remembered so the
        // log does not spin on a broken file.
        if self.failed_write {
            return;
        }
        let written = serde_json::to_writer(&mut *out, event)
            .map_err(std::io::Error::from)
            .and_then(|()| out.write_all(b"\n"))
            .and_then(|()| if self.flush { out.flush() } else { Ok(()) });
        if written.is_err() {
            self.failed_write = true;
        }
    }

    fn shutdown(&mut self) {
        if let Some(out) = self.out.as_mut() {
            // Nothing to report to on shutdown; a failed final flush loses at most the
            // unflushed tail, which `flush = true` (the default) keeps empty.
            let _ = out.flush();
        }
    }
}

switchboard_core::export_plugin!(EventLog);
