//! `switchboard snapshot`.

/// Arguments of `switchboard snapshot`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `switchboard snapshot`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    Err(super::not_built("snapshot", 5))
}
