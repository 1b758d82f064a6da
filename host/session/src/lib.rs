//! switchboard-session: call sessions, `startSession(token, settings)` to `endSession()`.
//!
//! The one crate that combines the others: signaling, WebRTC links, media, the plugin bus
//! and the renderers meet here.
//!
//! # Where a change belongs
//! The running call:
//! - [`runtime`]: [`Session`], the handle, and the one task that owns a call's state: its
//!   `select!` loop, and the glue between the room, the semantics and the concerns below
//!   (what a room message, a link event or a command does to each, what the room is told,
//!   what the bus hears).
//! - [`semantics`]: the seed's event rules as a pure state machine: which events a call
//!   raises, and when.
//!
//! The concerns the task holds, a plain struct each, which never import one another:
//! - `links` (internal): the WebRTC mesh: a link per remote connection, the spare link,
//!   the first offer that rides in the join, answers, candidates, sending audio to all.
//! - `audio` (internal): the microphone, mute gate and Opus encoding, decoding of remote
//!   audio into the mixer and speaker, audio levels and the active speaker.
//! - [`video`]: the camera, encoding, decoding and the switch to video inside a session.
//! - [`tap`]: the media tap and the host side of the feature plugins' commands.
//! - `stats` (internal): the media counters the media tasks share, read by
//!   [`Session::stats`].
//! - [`speaker`]: active speaker detection from audio levels (`active_speaker_changed`).
//!
//! Around a session:
//! - [`participant`]: config, plugins, bus and token for one participant process.
//! - [`output`]: event lines and the stats file of headless participants.
//! - [`live`]: `switchboard run`'s live UI, call events folded into the layout's view.
//! - [`reload`]: a changed config carried into a running bus on SIGHUP.
//!
//! Modules import one way, top down: `participant` uses `runtime`; `runtime` uses
//! `semantics`, `links`, `audio`, `video`, `tap`, `stats` and `output`; `audio` uses
//! `speaker`, `tap` and `stats`; `video` uses `tap` and `stats`; `live` uses `video`;
//! `stats` uses `output`; `links`, `semantics`, `speaker`, `tap`, `output` and `reload` use
//! no other module. A concern that needs another goes through the task in `runtime`,
//! never by importing it.
//!
//! # As a library
//! The seed's flow maps onto these calls: an admin creates a user's auth token
//! ([`SignalingClient::create_user`](switchboard_signaling::SignalingClient::create_user)),
//! `generateToken` is [`SignalingClient::generate_token`](switchboard_signaling::SignalingClient::generate_token),
//! `startSession(callToken, settings)` is [`Session::start`] with the settings in
//! [`SessionOptions::config`], the actions are [`Session::command`] (and
//! [`Session::end_session`]), and listeners are registered on the session's bus with
//! [`Bus::add_listener`](switchboard_runtime::bus::Bus::add_listener) under a unique id. Sessions run
//! inside the bus's executor (`switchboard_runtime::exec`). `examples/call.rs` is a complete two-party call.
//!
//! ```no_run
//! use std::sync::Arc;
//! use switchboard_config::Config;
//! use switchboard_core::{CallSettings, Command, Event};
//! use switchboard_runtime::bus::{Bus, BusOptions};
//! use switchboard_runtime::listeners::FnListener;
//! use switchboard_rtc::LinkOptions;
//! use switchboard_session::{Session, SessionOptions};
//! use switchboard_signaling::SignalingClient;
//!
//! # fn main() -> anyhow::Result<()> {
//! switchboard_runtime::exec::block_on(async {
//!     let server = "ws://127.0.0.1:7700";
//!     let client = SignalingClient::new(server)?;
//!     let user = client.create_user("API-KEY", "alice", "Alice", "").await?;
//!     let token = client.generate_token("session-1", &user.auth_token).await?.token;
//!
//!     let bus = Bus::start(Vec::new(), BusOptions::default())?;
//!     bus.add_listener("app", Arc::new(FnListener(|event: &Event| println!("{event:?}"))))?;
//!     let mut config = Config::default();
//!     config.call = CallSettings::builder().audio_only_call(true).start_with_audio_muted(true).build();
//!     let options =
//!         SessionOptions { server: server.into(), token, session_id: None, config, link: LinkOptions::default() };
//!     let session = Session::start(options, bus).await?;
//!     session.command(Command::MuteAudio { muted: false }).await?;
//!     session.end_session().await?;
//!     Ok(())
//! })
//! # }
//! ```

pub mod live;
pub mod output;
pub mod participant;
pub mod reload;
pub mod runtime;
pub mod semantics;
pub mod speaker;
pub mod tap;
pub mod video;

mod audio;
mod links;
mod stats;

pub use runtime::{Session, SessionOptions};
pub use video::{ParticipantFrame, VideoFrames};
