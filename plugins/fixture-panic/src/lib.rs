//! `fixture-panic`: subscribes to every event and panics on the kind named by its `on`
//! setting (default `user_joined`). Tests use it to check that a panicking plugin is
//! contained, marked failed and reported while the others go on.

use serde::Deserialize;
use switchboard_core::sdk::{Context, Plugin, PluginError, Settings};
use switchboard_core::{Event, EventKind, PluginKind};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PanicSettings {
    /// The event kind to panic on.
    #[serde(default = "default_kind")]
    on: EventKind,
}

fn default_kind() -> EventKind {
    EventKind::UserJoined
}

/// The plugin.
#[derive(Debug)]
pub struct PanicFixture {
    on: EventKind,
}

impl Default for PanicFixture {
    fn default() -> Self {
        Self { on: default_kind() }
    }
}

impl Plugin for PanicFixture {
    const ID: &'static str = "fixture-panic";
    const NAME: &'static str = "Panic fixture";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const KIND: PluginKind = PluginKind::Fixture;
    const DESCRIPTION: &'static str = "Panics on a chosen event kind (for tests).";
    const SUBSCRIPTIONS: &'static [EventKind] = EventKind::ALL;

    fn configure(&mut self, settings: &Settings) -> Result<(), PluginError> {
        let settings: PanicSettings = settings.parse()?;
        if settings.on == EventKind::Unknown {
            return Err(PluginError::Settings("`on` names no known event kind".to_owned()));
        }
        self.on = settings.on;
        Ok(())
    }

    fn on_event(&mut self, event: &Event, _ctx: &mut Context) {
        if event.kind() == self.on {
            panic!("fixture-panic was told to panic on {}", self.on);
        }
    }
}

switchboard_core::export_plugin!(PanicFixture);
