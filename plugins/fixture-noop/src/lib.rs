//! `fixture-noop`: subscribes to every event and does nothing with them. Used by the bus
//! benchmark to measure the cost of delivery through the C ABI alone.

use switchboard_core::sdk::Plugin;
use switchboard_core::{EventKind, PluginKind};

/// The plugin.
#[derive(Debug, Default)]
pub struct Noop;

impl Plugin for Noop {
    const ID: &'static str = "fixture-noop";
    const NAME: &'static str = "No-op fixture";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const KIND: PluginKind = PluginKind::Fixture;
    const DESCRIPTION: &'static str = "Subscribes to every event and does nothing (for benchmarks).";
    const SUBSCRIPTIONS: &'static [EventKind] = EventKind::ALL;
}

switchboard_core::export_plugin!(Noop);
