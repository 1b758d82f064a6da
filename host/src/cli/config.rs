//! `switchboard config`.

/// Arguments of `switchboard config`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `switchboard config`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    Err(super::not_built("config", 2))
}
