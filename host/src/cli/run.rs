//! `switchboard run`.

/// Arguments of `switchboard run`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `switchboard run`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    Err(super::not_built("run", 5))
}
