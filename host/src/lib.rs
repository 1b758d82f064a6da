//! switchboard-host: the runtime behind the `switchboard` binary.
//!
//! - [`config_file`]: reads config files from disk into [`switchboard_core::Config`].
//! - [`loader`], [`plugin`]: finds plugin libraries, dlopens them, checks the ABI, and wraps
//!   the C entry points in a safe API.
//! - [`bus`], [`listeners`]: the actix call-event bus, one actor per plugin, and the
//!   app-facing listener API.
//! - [`signaling`]: the signaling server and token issuer (`switchboard serve`).
//! - [`rtc`]: the seam around the WebRTC library.
//! - [`media`]: capture, codecs, mixing and playback.
//! - [`video`]: cameras and test patterns, VP8/H.264 encoding and decoding, frames.
//! - [`render`]: renderers of the view model (PNG snapshots, the web UI).
//! - [`cli`]: one module per subcommand.

pub mod bus;
pub mod cli;
pub mod config_file;
pub mod listeners;
pub mod loader;
pub mod media;
pub mod plugin;
pub mod render;
pub mod rtc;
pub mod session;
pub mod signaling;
pub mod video;
