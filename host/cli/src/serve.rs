//! `switchboard serve`: runs the signaling server and token issuer until SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use switchboard_signaling::{Secret, ServerConfig};

/// The environment variable that holds the API key when `--api-key` is not given.
pub const API_KEY_ENV: &str = "SWITCHBOARD_API_KEY";
/// The environment variable that holds the JWT secret when `--secret-file` is not given.
pub const SECRET_ENV: &str = "SWITCHBOARD_SECRET";

/// Arguments of `switchboard serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The address to listen on (HTTP and WebSocket on the same port).
    #[arg(long, default_value = "127.0.0.1:7700")]
    pub listen: SocketAddr,
    /// The key admin calls (creating users) must carry in `x-api-key`
    /// [default: $SWITCHBOARD_API_KEY].
    #[arg(long)]
    pub api_key: Option<String>,
    /// How long call tokens stay valid, in seconds.
    #[arg(long, default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..))]
    pub token_ttl: u64,
    /// A file holding the JWT secret (at least 16 bytes; a trailing newline is ignored).
    /// Without it the secret comes from $SWITCHBOARD_SECRET, and without that a random one
    /// is made, so tokens die with the server.
    #[arg(long)]
    pub secret_file: Option<PathBuf>,
}

/// Runs `switchboard serve`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let api_key = match args.api_key {
        Some(key) => key,
        None => std::env::var(API_KEY_ENV)
            .with_context(|| format!("reading the API key: give --api-key or set {API_KEY_ENV}"))?,
    };
    let secret = load_secret(args.secret_file.as_deref())?;
    let mut config = ServerConfig::new(api_key, secret);
    config.token_ttl = Duration::from_secs(args.token_ttl);

    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let server = switchboard_signaling::start(args.listen, config)
            .await
            .with_context(|| format!("starting the signaling server on {}", args.listen))?;
        // One line on stdout, so that scripts that asked for port 0 learn the real one.
        println!("switchboard serve: listening on {}", server.ws_url());
        wait_for_stop_signal().await?;
        tracing::info!("stopping the signaling server");
        server.shutdown().await.context("stopping the signaling server")
    })
}

/// The JWT secret: `--secret-file`, else `$SWITCHBOARD_SECRET`, else a random one.
fn load_secret(file: Option<&std::path::Path>) -> anyhow::Result<Secret> {
    if let Some(path) = file {
        let mut bytes =
            std::fs::read(path).with_context(|| format!("reading the secret file {}", path.display()))?;
        while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            bytes.pop();
        }
        return Secret::from_bytes(bytes, &path.display().to_string())
            .with_context(|| format!("loading the secret file {}", path.display()));
    }
    match std::env::var_os(SECRET_ENV) {
        Some(value) => Secret::from_bytes(value.into_encoded_bytes(), SECRET_ENV)
            .with_context(|| format!("loading the secret from {SECRET_ENV}")),
        None => {
            tracing::warn!(
                "no --secret-file and no {SECRET_ENV}: signing call tokens with a random secret; \
                 tokens die with this server"
            );
            Secret::generate().context("generating a random secret")
        }
    }
}

/// Resolves on SIGINT (Ctrl-C) or, on Unix, SIGTERM.
async fn wait_for_stop_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("listening for SIGTERM")?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result.context("listening for SIGINT"),
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.context("listening for Ctrl-C")
    }
}
