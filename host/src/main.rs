//! The `switchboard` binary: serve, run, join, snapshot, conformance, config, plugins.

use clap::{Parser, Subcommand};
use switchboard_host::cli;

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
    Serve(cli::serve::Args),
    /// Join a call as a participant with the web UI.
    Run(cli::run::Args),
    /// Join a call as a headless participant (scripts, bots, tests).
    Join(cli::join::Args),
    /// Render a layout to PNG without a call.
    Snapshot(cli::snapshot::Args),
    /// Check a plugin library against the plugin contract.
    Conformance(cli::conformance::Args),
    /// Work with config files.
    Config(cli::config::Args),
    /// List and inspect plugins.
    Plugins(cli::plugins::Args),
    /// Start a new plugin crate from the template.
    NewPlugin(cli::new_plugin::Args),
    /// The child process of a plugin with `isolation = "process"` (internal).
    #[command(hide = true)]
    PluginHost(cli::plugin_host::Args),
}

fn main() -> std::process::ExitCode {
    init_tracing();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => cli::serve::run(args),
        Command::Run(args) => cli::run::run(args),
        Command::Join(args) => cli::join::run(args),
        Command::Snapshot(args) => cli::snapshot::run(args),
        Command::Conformance(args) => cli::conformance::run(args),
        Command::Config(args) => cli::config::run(args),
        Command::Plugins(args) => cli::plugins::run(args),
        Command::NewPlugin(args) => cli::new_plugin::run(args),
        Command::PluginHost(args) => cli::plugin_host::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", cli::error_line(&err));
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
