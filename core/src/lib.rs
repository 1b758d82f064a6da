//! switchboard-core: the Switchboard contract.
//!
//! Events, commands, call settings, the view model that layouts produce, the plugin ABI
//! and the plugin author SDK. This crate does no IO and knows no async runtime: a plugin
//! links it alone. The host's own configuration lives in switchboard-config.
//!
//! - [`settings`]: the seed's `CallSettings` with its defaults and builder.
//! - [`event`], [`command`], [`model`]: what flows on the call-event bus.
//! - [`view`]: the view model.
//! - [`abi`], [`wire`]: the C ABI and the JSON messages that cross it.
//! - [`sdk`]: the `Plugin` trait, `export_plugin!` and test support for plugin authors.

pub mod abi;
pub mod command;
pub mod event;
pub mod model;
pub mod sdk;
pub mod settings;
pub mod view;
pub mod wire;

pub use command::{Capability, Command};
pub use event::{Event, EventKind};
pub use model::{AudioMode, AudioModeKind, CallsException, ErrorCode, RtcUser};
pub use settings::{CallSettings, Mode};
pub use wire::{PluginDescriptor, PluginKind};
