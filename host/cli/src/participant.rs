//! The flags `switchboard join` and `switchboard run` share: who joins which session with
//! which config, how long, and where the stats go.

use std::path::PathBuf;

use switchboard_session::participant::Credentials;

/// How a participant joins, for `join` and `run` (flattened into each one's `Args`).
#[derive(Debug, clap::Args)]
pub struct ParticipantArgs {
    /// The signaling server.
    #[arg(long, default_value = "ws://127.0.0.1:7700")]
    pub server: String,
    /// The server's API key (with --user): create the user's tokens here.
    #[arg(long, env = "SWITCHBOARD_API_KEY")]
    pub api_key: Option<String>,
    /// The user id to join as (with --api-key).
    #[arg(long)]
    pub user: Option<String>,
    /// The display name (defaults to the user id).
    #[arg(long)]
    pub name: Option<String>,
    /// An avatar URL.
    #[arg(long, default_value = "")]
    pub avatar: String,
    /// A user auth token (instead of --api-key and --user).
    #[arg(long)]
    pub auth_token: Option<String>,
    /// A call token (instead of generating one).
    #[arg(long)]
    pub token: Option<String>,
    /// The session to join.
    #[arg(long)]
    pub session: String,
    /// The participant's config (call settings, media, layout, plugins).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Leave after this many seconds.
    #[arg(long)]
    pub duration: Option<f64>,
    /// Where the stats JSON goes at exit.
    #[arg(long)]
    pub stats: Option<PathBuf>,
    /// Stay in the session after `call_ended` (by default the participant ends its session
    /// then, as the seed tells apps to).
    #[arg(long)]
    pub stay_after_call_ended: bool,
}

impl ParticipantArgs {
    /// The credentials the flags give: a call token, else a user auth token, else the API
    /// key with a user id.
    pub fn credentials(&self) -> anyhow::Result<Credentials> {
        if let Some(token) = &self.token {
            return Ok(Credentials::CallToken(token.clone()));
        }
        if let Some(token) = &self.auth_token {
            return Ok(Credentials::AuthToken(token.clone()));
        }
        match (&self.api_key, &self.user) {
            (Some(key), Some(uid)) => Ok(Credentials::ApiKey {
                key: key.clone(),
                uid: uid.clone(),
                name: self.name.clone().unwrap_or_else(|| uid.clone()),
                avatar: self.avatar.clone(),
            }),
            _ => anyhow::bail!("give --token, --auth-token, or --api-key with --user"),
        }
    }
}
