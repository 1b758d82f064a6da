//! `fixture-hang`: a plugin that never returns from a `button_pressed` event. Built only so
//! conformance (and crash isolation) can prove they report a hang and carry on.
//!
//! Settings (optional): `button`, so only that button id hangs it; `log`, a file that gets
//! one line per event handled without hanging (`button_pressed:ID`), so a test can see a
//! restarted instance at work.

use std::io::Write;
use std::path::PathBuf;

use serde::Deserialize;
use switchboard_core::sdk::{Context, Plugin, PluginError, Settings};
use switchboard_core::{Event, EventKind, PluginKind};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HangSettings {
    #[serde(default)]
    button: Option<String>,
    #[serde(default)]
    log: Option<PathBuf>,
}

/// The plugin.
#[derive(Debug, Default)]
pub struct Hang {
    settings: HangSettings,
}

impl Plugin for Hang {
    const ID: &'static str = "fixture-hang";
    const NAME: &'static str = "Hang fixture";
    const VERSION: &'static str = "0.1.0";
    const KIND: PluginKind = PluginKind::Fixture;
    const DESCRIPTION: &'static str = "Loops forever on button_pressed (test fixture).";
    const SUBSCRIPTIONS: &'static [EventKind] = &[EventKind::ButtonPressed];

    fn configure(&mut self, settings: &Settings) -> Result<(), PluginError> {
        self.settings = settings.parse()?;
        Ok(())
    }

    fn on_event(&mut self, event: &Event, _ctx: &mut Context) {
        if let Event::ButtonPressed { id } = event {
            if self.settings.button.as_ref().is_none_or(|b| b == id) {
                // Busy, not asleep: a hang that burns a core is the worst case a host must
                // survive. black_box keeps the loop from being optimised into something else.
                loop {
                    std::hint::black_box(());
                    std::hint::spin_loop();
                }
            }
            if let Some(path) = &self.settings.log {
                // A test fixture: a failed write shows as a missing line.
                if let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
                    let _ = writeln!(file, "button_pressed:{id}");
                }
            }
        }
    }
}

switchboard_core::export_plugin!(Hang);
