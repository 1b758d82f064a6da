//! `switchboard serve`.

/// Arguments of `switchboard serve`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `switchboard serve`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    Err(super::not_built("serve", 3))
}
