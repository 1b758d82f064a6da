//! `switchboard plugin-host PATH` (hidden): the child process of a plugin that runs with
//! `isolation = "process"`. It speaks length-prefixed frames on stdin/stdout with the host
//! that started it; people never run it by hand.

use std::path::PathBuf;

use anyhow::Context;

/// Arguments of the hidden `plugin-host` subcommand.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The plugin library to serve.
    pub path: PathBuf,
    /// The address-space limit (RLIMIT_AS) of this process, in bytes.
    #[arg(long)]
    pub memory_limit_bytes: Option<u64>,
}

/// Serves the plugin until the host closes the pipe or destroys the instance.
pub fn run(args: Args) -> anyhow::Result<()> {
    switchboard_runtime::isolation::server::serve(&args.path, args.memory_limit_bytes)
        .with_context(|| format!("serving plugin {}", args.path.display()))
}
