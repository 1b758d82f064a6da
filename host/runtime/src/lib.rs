//! switchboard-runtime: the plugin runtime.
//!
//! - [`loader`]: finds plugin libraries in the configured folders, dlopens them and checks
//!   the ABI handshake ([`loader::PluginLibrary`]).
//! - [`plugin`]: [`plugin::PluginInstance`], one in-process instance behind a safe API.
//! - [`isolation`]: instances in a child process (`isolation = "process"`), the
//!   [`isolation::IsolationPolicy`], and the child's side of the pipe.
//! - [`bus`]: the call-event bus, one actor per plugin, routing plugin commands to the
//!   host or to the plugin providing a capability.
//! - [`listeners`]: the app-facing listener API.
//! - [`exec`]: the executor everything that uses the bus runs on.
//!
//! The actor system is an implementation detail: nothing in this crate's public API names
//! an actix type, so its users need not depend on actix.

pub mod bus;
pub mod exec;
pub mod isolation;
mod library;
pub mod listeners;
pub mod loader;
mod mailbox;
pub mod plugin;
mod policy;
