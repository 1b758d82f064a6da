//! `switchboard config`: work with config files.

use std::path::PathBuf;

use switchboard_config::file as config_file;

/// Arguments of `switchboard config`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: ConfigCommand,
}

#[derive(Debug, clap::Subcommand)]
enum ConfigCommand {
    /// Check a config file: prints each warning (unknown keys, with file:line:col) and
    /// `ok`, or the error; exits non-zero on an error.
    Check {
        /// The config file.
        file: PathBuf,
    },
}

/// Runs `switchboard config`.
pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        ConfigCommand::Check { file } => check(&file),
    }
}

fn check(file: &std::path::Path) -> anyhow::Result<()> {
    // The error already names the file (with line and column when it is a config error).
    let loaded = config_file::load(file)?;
    for warning in &loaded.warnings {
        println!("warning: {warning}");
    }
    println!("ok");
    Ok(())
}
