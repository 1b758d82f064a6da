//! `fixture-segfault`: a plugin that crashes its process when it receives a `button_pressed`
//! event. Built only so conformance (and crash isolation) can prove they report a crash and
//! carry on. Everything else about it is well-behaved.
//!
//! Settings (all optional; the defaults are what conformance expects):
//! - `crash_on`: the event name that crashes it (default `button_pressed`), so a live call
//!   can trigger it with a scripted action (`user_muted`).
//! - `button`: with `crash_on = "button_pressed"`, only this button id crashes it.
//! - `how`: `segfault` (default, a null write), `abort`, or `eat-memory` (allocates until
//!   the allocator fails, for memory limits).
//! - `log`: a file that gets one line per event it handled without crashing, so a test can
//!   see a restarted instance at work.

use std::io::Write;
use std::path::PathBuf;

use serde::Deserialize;
use switchboard_core::sdk::{Context, Plugin, PluginError, Settings};
use switchboard_core::{Event, EventKind, PluginKind};

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum How {
    #[default]
    Segfault,
    Abort,
    EatMemory,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SegfaultSettings {
    #[serde(default = "default_crash_on")]
    crash_on: String,
    #[serde(default)]
    button: Option<String>,
    #[serde(default)]
    how: How,
    #[serde(default)]
    log: Option<PathBuf>,
}

fn default_crash_on() -> String {
    EventKind::ButtonPressed.to_string()
}

impl Default for SegfaultSettings {
    fn default() -> Self {
        Self { crash_on: default_crash_on(), button: None, how: How::default(), log: None }
    }
}

/// The plugin.
#[derive(Debug, Default)]
pub struct Segfault {
    settings: SegfaultSettings,
}

impl Plugin for Segfault {
    const ID: &'static str = "fixture-segfault";
    const NAME: &'static str = "Segfault fixture";
    const VERSION: &'static str = "0.1.0";
    const KIND: PluginKind = PluginKind::Fixture;
    const DESCRIPTION: &'static str = "Crashes with SIGSEGV on button_pressed (test fixture).";
    const SUBSCRIPTIONS: &'static [EventKind] =
        &[EventKind::ButtonPressed, EventKind::UserMuted, EventKind::UserUnmuted];

    fn configure(&mut self, settings: &Settings) -> Result<(), PluginError> {
        self.settings = settings.parse()?;
        Ok(())
    }

    fn on_event(&mut self, event: &Event, _ctx: &mut Context) {
        let s = &self.settings;
        let triggered = event.kind().as_str() == s.crash_on
            && match (event, &s.button) {
                (Event::ButtonPressed { id }, Some(button)) => id == button,
                _ => true,
            };
        if triggered {
            crash(&s.how);
        }
        if let Some(path) = &s.log {
            // A test fixture: a failed write is visible as a missing line, nothing more to do.
            if let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
                let _ = writeln!(file, "{}", event.kind());
            }
        }
    }
}

fn crash(how: &How) {
    match how {
        How::Segfault => {
            // A real segfault, not a panic: catch_unwind cannot contain it, only a process
            // boundary can. Volatile so the compiler cannot reason the write away.
            let null = std::hint::black_box(std::ptr::null_mut::<u64>());
            // SAFETY: deliberately not safe: this fixture exists to crash the process.
            unsafe { null.write_volatile(0xdead) };
        }
        How::Abort => std::process::abort(),
        How::EatMemory => {
            // Touch every page so the memory is really taken, in 64 MiB steps, up to 8 GiB:
            // under a memory limit the allocator fails long before (and Rust aborts).
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            for _ in 0..128 {
                hoard.push(vec![1u8; 64 << 20]);
                std::hint::black_box(&hoard);
            }
        }
    }
}

switchboard_core::export_plugin!(Segfault);
