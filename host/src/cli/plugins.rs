//! `switchboard plugins`.

/// Arguments of `switchboard plugins`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `switchboard plugins`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    Err(super::not_built("plugins", 2))
}
