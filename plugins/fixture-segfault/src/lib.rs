//! `fixture-segfault`: a plugin that crashes the process with SIGSEGV when it receives a
//! `button_pressed` event. Built only so conformance (and crash isolation) can prove they
//! report a crash and carry on. Everything else about it is well-behaved.

use switchboard_core::sdk::{Context, Plugin};
use switchboard_core::{Event, EventKind, PluginKind};

/// The plugin.
#[derive(Debug, Default)]
pub struct Segfault;

impl Plugin for Segfault {
    const ID: &'static str = "fixture-segfault";
    const NAME: &'static str = "Segfault fixture";
    const VERSION: &'static str = "0.1.0";
    const KIND: PluginKind = PluginKind::Fixture;
    const DESCRIPTION: &'static str = "Crashes with SIGSEGV on button_pressed (test fixture).";
    const SUBSCRIPTIONS: &'static [EventKind] = &[EventKind::ButtonPressed];

    fn on_event(&mut self, event: &Event, _ctx: &mut Context) {
        if let Event::ButtonPressed { .. } = event {
            // A real segfault, not a panic: catch_unwind cannot contain it, only a process
            // boundary can. Volatile so the compiler cannot reason the write away.
            let null = std::hint::black_box(std::ptr::null_mut::<u64>());
            // SAFETY: deliberately not safe: this fixture exists to crash the process.
            unsafe { null.write_volatile(0xdead) };
        }
    }
}

switchboard_core::export_plugin!(Segfault);
