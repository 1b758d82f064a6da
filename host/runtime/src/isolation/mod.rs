//! Crash isolation and hot swap of plugins.
//!
//! A plugin with `isolation = "process"` runs in a child process (`switchboard plugin-host
//! PATH`, see [`server`]) and is driven over a pipe with the same ABI messages as an
//! in-process one (see [`frame`] and [`process`]). [`Instance`] is the seam the bus's plugin
//! actors hold: either kind, the same calls. A segfault, an abort, a hang past the deadline
//! or a blown memory limit ends only the child; the actor reports it with an `error` event
//! and restarts or disables the plugin according to its [`IsolationPolicy`].

pub mod frame;
pub mod process;
pub mod server;

use std::sync::Arc;

use switchboard_config::Isolation;
use switchboard_core::sdk::MediaFrame;
use switchboard_core::wire::{HostMessage, PluginReply};

pub use self::process::ProcessInstance;
use crate::library::PluginLibrary;
use crate::plugin::{PluginError, PluginInstance};
pub use crate::policy::IsolationPolicy;

/// A live plugin instance, in the host or in a child process: what a bus actor holds.
#[derive(Debug)]
pub enum Instance {
    /// Loaded into the host.
    InProcess(PluginInstance),
    /// In a child process (boxed: it carries pipes and buffers, and the actor holds one or
    /// the other for its whole life).
    Process(Box<ProcessInstance>),
}

impl Instance {
    /// Creates an instance of `library` with `settings`, where `policy` says.
    pub fn create(
        library: Arc<PluginLibrary>,
        settings: &serde_json::Value,
        policy: &IsolationPolicy,
    ) -> Result<Self, PluginError> {
        match policy.mode {
            Isolation::InProcess => PluginInstance::create(library, settings).map(Self::InProcess),
            Isolation::Process => {
                ProcessInstance::spawn(library, settings, policy).map(|p| Self::Process(Box::new(p)))
            }
        }
    }

    /// The plugin's id.
    pub fn id(&self) -> &str {
        self.library().id()
    }

    /// The library.
    pub fn library(&self) -> &Arc<PluginLibrary> {
        match self {
            Self::InProcess(i) => i.library(),
            Self::Process(p) => p.library(),
        }
    }

    /// True for an out-of-process instance.
    pub fn is_isolated(&self) -> bool {
        matches!(self, Self::Process(_))
    }

    /// Sends one message and decodes the reply.
    pub fn handle(&mut self, msg: HostMessage) -> Result<PluginReply, PluginError> {
        match self {
            Self::InProcess(i) => i.handle(msg),
            Self::Process(p) => p.handle(msg),
        }
    }

    /// Sends an encoded host envelope and decodes the reply.
    pub fn handle_bytes(&mut self, message: &[u8]) -> Result<PluginReply, PluginError> {
        match self {
            Self::InProcess(i) => i.handle_bytes(message),
            Self::Process(p) => p.handle_bytes(message),
        }
    }

    /// True when the plugin exports a media function.
    pub fn takes_media(&self) -> bool {
        match self {
            Self::InProcess(i) => i.takes_media(),
            Self::Process(p) => p.takes_media(),
        }
    }

    /// Hands one media frame to the plugin.
    pub fn media(&mut self, frame: &MediaFrame<'_>) -> Result<(), PluginError> {
        match self {
            Self::InProcess(i) => i.media(frame),
            Self::Process(p) => p.media(frame),
        }
    }

    /// Destroys the instance.
    pub fn destroy(self) -> Result<(), PluginError> {
        match self {
            Self::InProcess(i) => i.destroy(),
            Self::Process(p) => (*p).destroy(),
        }
    }
}
