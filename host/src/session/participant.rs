//! Setting up one participant: config, plugins, bus, call token, session. Shared by
//! `switchboard join` (headless) and `switchboard run` (web UI).

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use switchboard_core::Config;

use super::runtime::{Session, SessionOptions};
use crate::bus::{Bus, BusOptions};
use crate::config_file;
use crate::loader::{self, PluginSearch};
use crate::rtc::LinkOptions;
use crate::signaling::client::SignalingClient;

/// How a participant proves who it is.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// A call token from `generateToken`.
    CallToken(String),
    /// A user auth token: the participant calls `generateToken` itself.
    AuthToken(String),
    /// The server's API key and a user: the participant creates the user's auth token and
    /// then the call token (local runs and tests).
    ApiKey {
        /// The server's API key.
        key: String,
        /// The user id.
        uid: String,
        /// The display name.
        name: String,
        /// An avatar URL.
        avatar: String,
    },
}

/// Reads the config file (or takes the defaults), logging each unknown-key warning.
pub fn load_config(path: Option<&Path>) -> anyhow::Result<(Config, Option<PathBuf>)> {
    let Some(path) = path else { return Ok((Config::default(), None)) };
    let loaded = config_file::load(path)?;
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
        eprintln!("warning: {warning}");
    }
    Ok((loaded.config, Some(path.to_owned())))
}

/// Loads the config's plugins and starts the bus. Must run inside an actix `System`.
pub fn start_bus(config: &Config) -> anyhow::Result<Bus> {
    let search = PluginSearch::new(&config.host.plugin_dirs);
    let specs = loader::load_configured(config, &search).context("loading plugins")?;
    Bus::start(specs, BusOptions::from_config(config)).context("starting the plugin bus")
}

/// Turns credentials into a call token for `session_id`.
pub async fn call_token(server: &str, credentials: &Credentials, session_id: &str) -> anyhow::Result<String> {
    let client = SignalingClient::new(server).with_context(|| format!("connecting to {server}"))?;
    let auth_token = match credentials {
        Credentials::CallToken(token) => return Ok(token.clone()),
        Credentials::AuthToken(token) => token.clone(),
        Credentials::ApiKey { key, uid, name, avatar } => {
            client
                .create_user(key, uid, name, avatar)
                .await
                .with_context(|| format!("creating user {uid}"))?
                .auth_token
        }
    };
    let token = client
        .generate_token(session_id, &auth_token)
        .await
        .with_context(|| format!("generating a call token for session {session_id}"))?;
    Ok(token.token)
}

/// Starts the session for a prepared bus.
pub async fn start_session(
    server: &str,
    token: String,
    session_id: &str,
    config: Config,
    bus: Bus,
) -> anyhow::Result<Session> {
    let options = SessionOptions {
        server: server.to_owned(),
        token,
        session_id: Some(session_id.to_owned()),
        link: LinkOptions::from(&config.network),
        config,
    };
    // The exception stays in the chain (not just its text), so callers can read its code.
    Session::start(options, bus).await.with_context(|| format!("joining session {session_id}"))
}
