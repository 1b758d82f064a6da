//! `fixture-thread-leak`: a plugin that starts a worker thread on create and never stops
//! or joins it, so conformance's `threads-after-destroy` must fail.

use switchboard_core::sdk::{Plugin, PluginError, Settings};
use switchboard_core::{EventKind, PluginKind};

/// The plugin.
#[derive(Debug, Default)]
pub struct ThreadLeak;

impl Plugin for ThreadLeak {
    const ID: &'static str = "fixture-thread-leak";
    const NAME: &'static str = "Thread leak fixture";
    const VERSION: &'static str = "0.1.0";
    const KIND: PluginKind = PluginKind::Fixture;
    const DESCRIPTION: &'static str = "Starts a thread on create that it never joins (test fixture).";
    const SUBSCRIPTIONS: &'static [EventKind] = &[EventKind::CallEnded];

    fn configure(&mut self, settings: &Settings) -> Result<(), PluginError> {
        settings.expect_empty()?;
        // The bug under test: the handle is dropped, so nobody ever stops this thread.
        let spawned = std::thread::Builder::new().name("leaky-worker".to_owned()).spawn(|| {
            loop {
                std::thread::sleep(std::time::Duration::from_secs(3600));
            }
        });
        spawned.map(drop).map_err(|e| PluginError::Other(format!("spawning the worker: {e}")))
    }
}

switchboard_core::export_plugin!(ThreadLeak);
