//! One module per `switchboard` subcommand. Each has an `Args` (clap) and a `run`.

pub mod config;
pub mod conformance;
pub mod join;
pub mod new_plugin;
pub mod participant;
pub mod plugin_host;
pub mod plugins;
pub mod run;
pub mod serve;
pub mod snapshot;

/// The error every not-yet-built subcommand returns, so nothing pretends to work.
// Every subcommand is built now; kept for the next one that lands in pieces.
#[allow(dead_code)]
pub(crate) fn not_built(what: &str, issue: u32) -> anyhow::Error {
    anyhow::anyhow!("`switchboard {what}` is not built yet (tracked in issue #{issue})")
}
