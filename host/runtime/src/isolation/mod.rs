//! Crash isolation: the out-of-process instance and both ends of its pipe.
//!
//! A plugin with `isolation = "process"` runs in a child process (`switchboard plugin-host
//! PATH`, see [`server`]) and is driven over a pipe with the same ABI messages as an
//! in-process one (see [`frame`] and [`process`]). [`ProcessInstance`] implements the same
//! [`crate::instance::PluginHandle`] as [`crate::plugin::PluginInstance`], so the bus's
//! plugin actors hold either kind the same way. A segfault, an abort, a hang past the
//! deadline or a blown memory limit ends only the child; the actor reports it with an
//! `error` event and restarts or disables the plugin according to its [`IsolationPolicy`].
//!
//! This module uses the library, handle, policy and plugin modules below it (the child
//! serves a plain [`crate::plugin::PluginInstance`]); choosing between the two kinds is
//! [`crate::instance::create`]'s job, above both. [`IsolationPolicy`] itself is defined
//! below the loader, which puts it in every [`crate::loader::PluginSpec`], and is public
//! here.

pub mod frame;
pub mod process;
pub mod server;

pub use self::process::ProcessInstance;
pub use crate::policy::IsolationPolicy;
