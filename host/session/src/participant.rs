//! Setting up one participant: config, plugins, bus, call token, session. Shared by
//! `switchboard join` (headless) and `switchboard run` (web UI).

use std::path::{Path, PathBuf};

use switchboard_config::Config;
use switchboard_config::file::{self as config_file, ConfigFileError};
use switchboard_core::CallsException;
use switchboard_rtc::LinkOptions;
use switchboard_runtime::bus::{Bus, BusError, BusOptions};
use switchboard_runtime::loader::{self, LoadError, PluginSearch};
use switchboard_signaling::client::{ClientError, SignalingClient};

use crate::runtime::{Session, SessionOptions};

/// Why a participant could not be set up. Each variant keeps its cause as `source()`, so a
/// caller can find a [`CallsException`] or a [`ClientError`] in the chain and read its code.
#[derive(Debug, thiserror::Error)]
pub enum ParticipantError {
    /// The config file could not be read or parsed.
    #[error(transparent)]
    Config(#[from] ConfigFileError),
    /// A configured plugin could not be found or loaded.
    #[error("loading plugins")]
    Plugins(#[source] LoadError),
    /// The bus did not start.
    #[error("starting the plugin bus")]
    Bus(#[source] BusError),
    /// The signaling server's URL is unusable.
    #[error("connecting to {server}")]
    Connect {
        /// The server URL given.
        server: String,
        /// Why.
        #[source]
        source: ClientError,
    },
    /// Creating the user's auth token failed.
    #[error("creating user {uid}")]
    CreateUser {
        /// The user id.
        uid: String,
        /// Why.
        #[source]
        source: ClientError,
    },
    /// `generateToken` failed.
    #[error("generating a call token for session {session_id}")]
    Token {
        /// The session.
        session_id: String,
        /// Why.
        #[source]
        source: ClientError,
    },
    /// `startSession` failed.
    #[error("joining session {session_id}")]
    Join {
        /// The session.
        session_id: String,
        /// The exception, with the Direct Call guide's error code.
        #[source]
        source: CallsException,
    },
}

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
pub fn load_config(path: Option<&Path>) -> Result<(Config, Option<PathBuf>), ParticipantError> {
    let Some(path) = path else { return Ok((Config::default(), None)) };
    let loaded = config_file::load(path)?;
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
        eprintln!("warning: {warning}");
    }
    Ok((loaded.config, Some(path.to_owned())))
}

/// Loads the config's plugins and starts the bus. Must run inside the bus's executor (`switchboard_runtime::exec`).
pub fn start_bus(config: &Config) -> Result<Bus, ParticipantError> {
    let search = PluginSearch::new(&config.host.plugin_dirs);
    let specs = loader::load_configured(config, &search).map_err(ParticipantError::Plugins)?;
    Bus::start(specs, BusOptions::from_config(config)).map_err(ParticipantError::Bus)
}

/// Turns credentials into a call token for `session_id`.
pub async fn call_token(
    server: &str,
    credentials: &Credentials,
    session_id: &str,
) -> Result<String, ParticipantError> {
    let client = SignalingClient::new(server)
        .map_err(|source| ParticipantError::Connect { server: server.to_owned(), source })?;
    let auth_token = match credentials {
        Credentials::CallToken(token) => return Ok(token.clone()),
        Credentials::AuthToken(token) => token.clone(),
        Credentials::ApiKey { key, uid, name, avatar } => {
            client
                .create_user(key, uid, name, avatar)
                .await
                .map_err(|source| ParticipantError::CreateUser { uid: uid.clone(), source })?
                .auth_token
        }
    };
    let token = client
        .generate_token(session_id, &auth_token)
        .await
        .map_err(|source| ParticipantError::Token { session_id: session_id.to_owned(), source })?;
    Ok(token.token)
}

/// Starts the session for a prepared bus.
pub async fn start_session(
    server: &str,
    token: String,
    session_id: &str,
    config: Config,
    bus: Bus,
) -> Result<Session, ParticipantError> {
    let options = SessionOptions {
        server: server.to_owned(),
        token,
        session_id: Some(session_id.to_owned()),
        link: LinkOptions::from(&config.network),
        config,
    };
    // The exception stays in the chain (not just its text), so callers can read its code.
    Session::start(options, bus)
        .await
        .map_err(|source| ParticipantError::Join { session_id: session_id.to_owned(), source })
}
