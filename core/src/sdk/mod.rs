//! The plugin author SDK: implement [`Plugin`], add one [`export_plugin!`](crate::export_plugin)
//! line, build as a `cdylib`.
//!
//! ```
//! use switchboard_core::sdk::{Context, Plugin};
//! use switchboard_core::{Event, EventKind, PluginKind};
//!
//! #[derive(Default)]
//! struct Greeter { joined: usize }
//!
//! impl Plugin for Greeter {
//!     const ID: &'static str = "greeter";
//!     const NAME: &'static str = "Greeter";
//!     const VERSION: &'static str = "0.1.0";
//!     const KIND: PluginKind = PluginKind::Tool;
//!     const SUBSCRIPTIONS: &'static [EventKind] = &[EventKind::UserJoined];
//!
//!     fn on_event(&mut self, event: &Event, _ctx: &mut Context) {
//!         if let Event::UserJoined { .. } = event {
//!             self.joined += 1;
//!         }
//!     }
//! }
//!
//! switchboard_core::export_plugin!(Greeter);
//! # // The macro's module needs the plugin at module level, not inside a doctest `main`.
//! # fn main() {}
//! ```
//!
//! Rules the host relies on (PLUGINS.md has the whole list): a plugin never starts an async
//! runtime, never installs global state (panic hook, tracing subscriber, signal handlers,
//! locale, env, cwd), and acts on the call only by returning commands.

pub mod ffi;
pub mod testing;

use serde::de::DeserializeOwned;

use crate::command::{Capability, Command};
use crate::event::{Event, EventKind};
use crate::model::{CallsException, ErrorCode, RtcUser};
use crate::view::{UiInput, View, ViewRequest};
use crate::wire::PluginKind;

/// A plugin's settings: its `[plugin.settings]` TOML table, as JSON.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings {
    table: serde_json::Map<String, serde_json::Value>,
}

impl Settings {
    /// Settings from a JSON object.
    pub fn new(table: serde_json::Map<String, serde_json::Value>) -> Self {
        Self { table }
    }

    /// The raw table.
    pub fn table(&self) -> &serde_json::Map<String, serde_json::Value> {
        &self.table
    }

    /// True when no key is set.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Decodes the table into the plugin's own settings type. Put
    /// `#[serde(deny_unknown_fields)]` on it to reject unknown keys.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, PluginError> {
        serde_json::from_value(serde_json::Value::Object(self.table.clone()))
            .map_err(|e| PluginError::Settings(e.to_string()))
    }

    /// Fails unless the table is empty: for plugins that take no settings.
    pub fn expect_empty(&self) -> Result<(), PluginError> {
        match self.table.keys().next() {
            None => Ok(()),
            Some(key) => {
                Err(PluginError::Settings(format!("unknown setting `{key}`: this plugin takes no settings")))
            }
        }
    }
}

/// Why a plugin could not be created.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PluginError {
    /// Its settings are wrong.
    #[error("invalid settings: {0}")]
    Settings(String),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

/// Collects what a plugin does in answer to one message.
#[derive(Debug, Default)]
pub struct Context {
    commands: Vec<Command>,
}

impl Context {
    /// Asks the host to carry out a command after this call returns.
    pub fn send(&mut self, command: Command) {
        self.commands.push(command);
    }

    /// The commands sent so far.
    pub fn commands(&self) -> &[Command] {
        &self.commands
    }

    pub(crate) fn take(self) -> Vec<Command> {
        self.commands
    }
}

/// One encoded frame from the media tap, borrowed for the duration of the call.
#[derive(Debug, Clone, Copy)]
pub struct MediaFrame<'a> {
    /// [`crate::abi::media_kind`].
    pub kind: u32,
    /// [`crate::abi::codec`].
    pub codec: u32,
    /// True for a video keyframe.
    pub keyframe: bool,
    /// Microseconds since the start of the call.
    pub timestamp_us: u64,
    /// Whose media.
    pub participant: &'a str,
    /// Which track.
    pub track: &'a str,
    /// The encoded bytes.
    pub data: &'a [u8],
}

/// A Switchboard plugin. Every method has a no-op default; implement what you need.
///
/// The host calls one instance from one thread at a time. A panic in any method is caught
/// by the SDK, reported to the host as an error status, and fails the instance.
pub trait Plugin: Default + Send + 'static {
    /// A stable id, `[a-z0-9-]+`: config names the plugin by it.
    const ID: &'static str;
    /// A name for people.
    const NAME: &'static str;
    /// A semver version.
    const VERSION: &'static str;
    /// What kind of plugin this is.
    const KIND: PluginKind;
    /// One sentence on what it does.
    const DESCRIPTION: &'static str = "";
    /// Capabilities this plugin provides; commands needing them are routed here.
    const CAPABILITIES: &'static [Capability] = &[];
    /// Event kinds this plugin wants.
    const SUBSCRIPTIONS: &'static [EventKind] = &[];
    /// True to receive encoded media frames through [`Plugin::on_media`].
    const WANTS_MEDIA: bool = false;
    /// Ask for [`Plugin::on_tick`] about every this many milliseconds; 0 (the default)
    /// means never. Ticks are for polling what the call does not report (devices appearing,
    /// a clock); they are delivered through the same thread as events, so a tick never
    /// overlaps another call.
    const TICK_MS: u32 = 0;

    /// Applies the plugin's settings, once, right after `Default::default()`. The default
    /// accepts only an empty table.
    fn configure(&mut self, settings: &Settings) -> Result<(), PluginError> {
        settings.expect_empty()
    }

    /// Receives one event it subscribed to.
    fn on_event(&mut self, _event: &Event, _ctx: &mut Context) {}

    /// Carries out a command for one of its capabilities.
    fn on_command(
        &mut self,
        command: &Command,
        _from: &RtcUser,
        _ctx: &mut Context,
    ) -> Result<(), CallsException> {
        Err(CallsException::new(
            ErrorCode::NotImplemented,
            format!("plugin `{}` does not implement `{}`", Self::ID, command.name()),
        ))
    }

    /// Receives UI input (layout plugins).
    fn on_input(&mut self, _input: &UiInput, _ctx: &mut Context) {}

    /// Lays out the call view (layout plugins). `None` means "not a layout".
    fn render(&mut self, _request: &ViewRequest) -> Option<View> {
        None
    }

    /// Receives one encoded media frame (when [`Plugin::WANTS_MEDIA`]).
    fn on_media(&mut self, _frame: &MediaFrame<'_>) {}

    /// Called periodically when [`Plugin::TICK_MS`] is non-zero.
    fn on_tick(&mut self, _ctx: &mut Context) {}

    /// Called once before the instance is dropped: flush files here.
    fn shutdown(&mut self) {}
}

/// Exports a [`Plugin`] as the plugin library's one entry symbol. Use it once per `cdylib`,
/// at module level, as in the example of the [`sdk` module documentation](crate::sdk):
///
/// ```text
/// switchboard_core::export_plugin!(MyPlugin);
/// ```
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        #[doc(hidden)]
        mod __switchboard_plugin_export {
            use super::*;
            use $crate::abi::{SbBuffer, SbMediaFrame, SbPluginEntry};
            use $crate::sdk::ffi;

            static REGISTRY: ffi::Registry<$plugin> = ffi::Registry::new();

            unsafe extern "C" fn describe(host_abi_version: u32, out: *mut SbBuffer) -> i32 {
                // SAFETY: the host upholds the ABI contract for `out`; checked again inside.
                unsafe { ffi::describe::<$plugin>(host_abi_version, out) }
            }
            unsafe extern "C" fn create(
                host_abi_version: u32,
                settings: *const u8,
                settings_len: usize,
                out_instance: *mut u64,
                out_error: *mut SbBuffer,
            ) -> i32 {
                // SAFETY: the host upholds the ABI contract for the pointers; checked inside.
                unsafe {
                    ffi::create::<$plugin>(
                        &REGISTRY,
                        host_abi_version,
                        settings,
                        settings_len,
                        out_instance,
                        out_error,
                    )
                }
            }
            unsafe extern "C" fn handle(
                instance: u64,
                message: *const u8,
                len: usize,
                out: *mut SbBuffer,
            ) -> i32 {
                // SAFETY: the host upholds the ABI contract for the pointers; checked inside.
                unsafe { ffi::handle::<$plugin>(&REGISTRY, instance, message, len, out) }
            }
            unsafe extern "C" fn media(instance: u64, frame: *const SbMediaFrame) -> i32 {
                // SAFETY: the host upholds the ABI contract for `frame`; checked inside.
                unsafe { ffi::media::<$plugin>(&REGISTRY, instance, frame) }
            }
            unsafe extern "C" fn destroy(instance: u64) -> i32 {
                ffi::destroy::<$plugin>(&REGISTRY, instance)
            }
            unsafe extern "C" fn free_buffer(buffer: SbBuffer) {
                // SAFETY: the host hands back a buffer this library returned, unchanged.
                unsafe { ffi::free_buffer(buffer) }
            }

            /// The plugin's one exported symbol.
            #[allow(non_upper_case_globals)]
            #[unsafe(no_mangle)]
            pub static switchboard_plugin_entry: SbPluginEntry = SbPluginEntry {
                abi_version: $crate::abi::ABI_VERSION,
                struct_size: ::core::mem::size_of::<SbPluginEntry>() as u32,
                describe,
                create,
                handle,
                media: if <$plugin as $crate::sdk::Plugin>::WANTS_MEDIA { Some(media) } else { None },
                destroy,
                free_buffer,
            };

            /// The same functions, for the test harness in this crate's own tests.
            #[allow(dead_code)]
            pub fn entry() -> &'static SbPluginEntry {
                &switchboard_plugin_entry
            }
        }
    };
}
