//! `switchboard join`.

/// Arguments of `switchboard join`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `switchboard join`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    Err(super::not_built("join", 3))
}
