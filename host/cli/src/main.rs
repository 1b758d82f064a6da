//! The `switchboard` binary: serve, run, join, snapshot, conformance, config, plugins.
//!
//! The CLI only: each subcommand parses its arguments and calls the library crates under
//! `host/`. Without the default `call` feature (`--no-default-features`) the binary has no
//! `join` or `run`, and links no WebRTC or media library: a small signaling server.

use clap::{Parser, Subcommand};

mod config;
mod conformance;
#[cfg(feature = "call")]
mod join;
mod new_plugin;
#[cfg(feature = "call")]
mod participant;
mod plugin_host;
mod plugins;
mod report;
#[cfg(feature = "call")]
mod run;
mod serve;
mod snapshot;

/// Switchboard: real audio/video calls whose whole user-facing surface is plugins.
#[derive(Debug, Parser)]
#[command(name = "switchboard", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the signaling server and token issuer.
    Serve(serve::Args),
    /// Join a call as a participant with the web UI.
    #[cfg(feature = "call")]
    Run(run::Args),
    /// Join a call as a headless participant (scripts, bots, tests).
    #[cfg(feature = "call")]
    Join(join::Args),
    /// Render a layout to PNG without a call.
    Snapshot(snapshot::Args),
    /// Check a plugin library against the plugin contract.
    Conformance(conformance::Args),
    /// Work with config files.
    Config(config::Args),
    /// List and inspect plugins.
    Plugins(plugins::Args),
    /// Start a new plugin crate from the template.
    NewPlugin(new_plugin::Args),
    /// The child process of a plugin with `isolation = "process"` (internal).
    #[command(hide = true)]
    PluginHost(plugin_host::Args),
}

fn main() -> std::process::ExitCode {
    init_tracing();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
        #[cfg(feature = "call")]
        Command::Run(args) => run::run(args),
        #[cfg(feature = "call")]
        Command::Join(args) => join::run(args),
        Command::Snapshot(args) => snapshot::run(args),
        Command::Conformance(args) => conformance::run(args),
        Command::Config(args) => config::run(args),
        Command::Plugins(args) => plugins::run(args),
        Command::NewPlugin(args) => new_plugin::run(args),
        Command::PluginHost(args) => plugin_host::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", report::error_line(&err));
            std::process::ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr, filtered by `RUST_LOG`. The default shows our warnings and errors,
/// and only errors of the WebRTC library, whose warnings on every normal close would drown
/// ours.
fn init_tracing() {
    const DEFAULT: &str = "warn,webrtc=error,webrtc_ice=error,webrtc_dtls=error,webrtc_srtp=error,\
                           webrtc_mdns=error,webrtc_sctp=error,webrtc_data=error";
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}
