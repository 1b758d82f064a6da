//! `switchboard new-plugin`.

/// Arguments of `switchboard new-plugin`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `switchboard new-plugin`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    Err(super::not_built("new-plugin", 7))
}
