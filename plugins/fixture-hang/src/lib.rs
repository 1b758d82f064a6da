//! `fixture-hang`: a plugin that never returns from a `button_pressed` event. Built only so
//! conformance (and crash isolation) can prove they report a hang and carry on.

use switchboard_core::sdk::{Context, Plugin};
use switchboard_core::{Event, EventKind, PluginKind};

/// The plugin.
#[derive(Debug, Default)]
pub struct Hang;

impl Plugin for Hang {
    const ID: &'static str = "fixture-hang";
    const NAME: &'static str = "Hang fixture";
    const VERSION: &'static str = "0.1.0";
    const KIND: PluginKind = PluginKind::Fixture;
    const DESCRIPTION: &'static str = "Loops forever on button_pressed (test fixture).";
    const SUBSCRIPTIONS: &'static [EventKind] = &[EventKind::ButtonPressed];

    fn on_event(&mut self, event: &Event, _ctx: &mut Context) {
        if let Event::ButtonPressed { .. } = event {
            // Busy, not asleep: a hang that burns a core is the worst case a host must
            // survive. black_box keeps the loop from being optimised into something else.
            loop {
                std::hint::black_box(());
                std::hint::spin_loop();
            }
        }
    }
}

switchboard_core::export_plugin!(Hang);
