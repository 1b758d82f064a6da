//! `switchboard conformance`.

/// Arguments of `switchboard conformance`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `switchboard conformance`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    Err(super::not_built("conformance", 7))
}
