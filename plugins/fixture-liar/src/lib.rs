//! `fixture-liar`: a plugin whose descriptor lies. Its id is not `[a-z0-9-]+`, its version
//! is not semver, it declares the `pip` capability but does not implement it, it declares no
//! `recording` capability yet emits `start_recording`, it emits a command nobody knows, and
//! it accepts any settings. Conformance must flag each of these.

use switchboard_core::command::Capability;
use switchboard_core::sdk::{Context, Plugin, PluginError, Settings};
use switchboard_core::{Command, Event, EventKind, PluginKind};

/// The plugin.
#[derive(Debug, Default)]
pub struct Liar;

impl Plugin for Liar {
    const ID: &'static str = "Liar_Plugin!";
    const NAME: &'static str = "Liar fixture";
    const VERSION: &'static str = "one.two";
    const KIND: PluginKind = PluginKind::Fixture;
    const DESCRIPTION: &'static str = "Lies in its descriptor (test fixture).";
    const CAPABILITIES: &'static [Capability] = &[Capability::Pip];
    const SUBSCRIPTIONS: &'static [EventKind] = &[EventKind::UserJoined, EventKind::ButtonPressed];

    fn configure(&mut self, _settings: &Settings) -> Result<(), PluginError> {
        // Lenient on purpose: a typo in config goes unnoticed.
        Ok(())
    }

    fn on_event(&mut self, event: &Event, ctx: &mut Context) {
        match event {
            Event::UserJoined { .. } => ctx.send(Command::StartRecording),
            Event::ButtonPressed { .. } => ctx.send(Command::Unknown),
            _ => {}
        }
    }
}

switchboard_core::export_plugin!(Liar);
