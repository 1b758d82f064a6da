//! The seam between the bus and a plugin instance: [`PluginHandle`], the one trait that an
//! in-process instance ([`crate::plugin::PluginInstance`]) and an out-of-process one
//! ([`crate::isolation::ProcessInstance`]) implement, and [`PluginError`], what their calls
//! fail with.
//!
//! It uses only the library module below it; both kinds of instance depend on it, and it
//! depends on neither. The trait is public as [`crate::instance::PluginHandle`], the error
//! as [`crate::plugin::PluginError`].

use std::sync::Arc;

use switchboard_core::abi::{ABI_VERSION, status};
use switchboard_core::sdk::MediaFrame;
use switchboard_core::wire::{HostEnvelope, HostMessage, PluginReply};

use crate::library::PluginLibrary;

/// A live plugin instance, in the host or in a child process: what a bus actor holds, as
/// the `Box<dyn PluginHandle>` that [`crate::instance::create`] makes.
///
/// Calls need `&mut self`: the ABI allows one call at a time per instance. Dropping an
/// instance destroys it; [`destroy`](Self::destroy) does the same and reports an error.
pub trait PluginHandle: Send + std::fmt::Debug {
    /// The library this instance runs.
    fn library(&self) -> &Arc<PluginLibrary>;

    /// The plugin's id.
    fn id(&self) -> &str {
        self.library().id()
    }

    /// True for an instance in a child process.
    fn is_isolated(&self) -> bool;

    /// Sends an already encoded [`HostEnvelope`] and decodes the reply (an empty reply is
    /// the default reply). The bus's hot path: events arrive here serialized once.
    fn handle_bytes(&mut self, message: &[u8]) -> Result<PluginReply, PluginError>;

    /// Sends one message and decodes the reply: encodes the envelope, then
    /// [`handle_bytes`](Self::handle_bytes).
    fn handle(&mut self, msg: HostMessage) -> Result<PluginReply, PluginError> {
        let bytes =
            serde_json::to_vec(&HostEnvelope::new(msg)).map_err(|e| PluginError::InvalidArgument {
                plugin: self.id().to_owned(),
                call: "handle",
                message: format!("host message cannot be encoded: {e}"),
            })?;
        self.handle_bytes(&bytes)
    }

    /// Sends raw bytes as a message and returns the raw reply (for conformance checks and
    /// fuzzing, and for the plugin host child, which passes replies on undecoded).
    fn handle_raw(&mut self, message: &[u8]) -> Result<Vec<u8>, PluginError>;

    /// True when the plugin exports a media function.
    fn takes_media(&self) -> bool {
        self.library().entry.media.is_some()
    }

    /// Hands one encoded media frame to the plugin, borrowed for the call.
    fn media(&mut self, frame: &MediaFrame<'_>) -> Result<(), PluginError>;

    /// Destroys the instance (the plugin's `shutdown` runs; a child process ends).
    /// Dropping does the same but cannot report an error.
    fn destroy(self: Box<Self>) -> Result<(), PluginError>;
}

/// Decodes the bytes of a plugin's reply to `handle`: empty is the default reply. The error
/// is the decoder's message, for [`PluginError::BadReply`].
pub(crate) fn decode_reply(bytes: &[u8]) -> Result<PluginReply, String> {
    if bytes.is_empty() {
        Ok(PluginReply::default())
    } else {
        serde_json::from_slice::<PluginReply>(bytes).map_err(|e| e.to_string())
    }
}

/// Why a call into a plugin failed. Every variant names the plugin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PluginError {
    /// The plugin panicked; the SDK caught it. The instance refuses calls from now on.
    #[error("plugin `{plugin}` panicked: {message}")]
    PluginPanicked {
        /// The plugin's id.
        plugin: String,
        /// The panic message.
        message: String,
    },
    /// The instance failed earlier and refuses calls.
    #[error("plugin `{plugin}` failed earlier and refuses calls: {message}")]
    Failed {
        /// The plugin's id.
        plugin: String,
        /// The plugin's message.
        message: String,
    },
    /// `create` refused (its settings are wrong, a file could not be opened...).
    #[error("plugin `{plugin}` could not be created: {message}")]
    CreateFailed {
        /// The plugin's id.
        plugin: String,
        /// The plugin's message.
        message: String,
    },
    /// The plugin does not support this host's ABI version.
    #[error("plugin `{plugin}` refused ABI version {ABI_VERSION}: {message}")]
    AbiMismatch {
        /// The plugin's id.
        plugin: String,
        /// The plugin's message (which versions it supports).
        message: String,
    },
    /// The plugin could not decode the message or a pointer was invalid.
    #[error("plugin `{plugin}` rejected the {call} call as invalid: {message}")]
    InvalidArgument {
        /// The plugin's id.
        plugin: String,
        /// Which call.
        call: &'static str,
        /// The plugin's message.
        message: String,
    },
    /// The instance handle is not live (destroyed already).
    #[error("plugin `{plugin}` does not know instance {instance}")]
    UnknownInstance {
        /// The plugin's id.
        plugin: String,
        /// The handle.
        instance: u64,
    },
    /// Another non-OK status.
    #[error("plugin `{plugin}` failed the {call} call with status {status} ({}): {message}", status::name(*status))]
    Status {
        /// The plugin's id.
        plugin: String,
        /// Which call.
        call: &'static str,
        /// The status.
        status: i32,
        /// The plugin's message.
        message: String,
    },
    /// The plugin's reply could not be decoded.
    #[error("plugin `{plugin}` returned an undecodable reply: {message}")]
    BadReply {
        /// The plugin's id.
        plugin: String,
        /// The decoding error.
        message: String,
    },
    /// Media was sent to a plugin that exports no media function.
    #[error("plugin `{plugin}` does not take media")]
    NoMedia {
        /// The plugin's id.
        plugin: String,
    },
    /// The process of an isolated plugin died (a segfault, an abort, running out of its
    /// memory limit) or broke the pipe.
    #[error("plugin `{plugin}` crashed during the {call} call: {detail}")]
    Crashed {
        /// The plugin's id.
        plugin: String,
        /// Which call.
        call: &'static str,
        /// How it ended: the signal or exit status.
        detail: String,
    },
    /// An isolated plugin did not answer within its deadline; its process was killed.
    #[error(
        "plugin `{plugin}` timed out: the {call} call took over {deadline_ms} ms, so its process was killed"
    )]
    TimedOut {
        /// The plugin's id.
        plugin: String,
        /// Which call.
        call: &'static str,
        /// The deadline.
        deadline_ms: u64,
    },
    /// An isolated plugin crashed and its crash policy disables it.
    #[error("{cause}; plugin `{plugin}` is disabled ({why})")]
    Disabled {
        /// The plugin's id.
        plugin: String,
        /// The crash that disabled it.
        cause: Box<PluginError>,
        /// Which part of the policy: `on_crash = "disable"`, or the restarts ran out.
        why: String,
    },
    /// The process for an isolated plugin could not be started.
    #[error("plugin `{plugin}`: starting its plugin host process {exe}: {message}")]
    Spawn {
        /// The plugin's id.
        plugin: String,
        /// The executable.
        exe: String,
        /// Why.
        message: String,
    },
}

impl PluginError {
    /// True when the instance is unusable after this error (it panicked, failed earlier,
    /// is gone or answers garbage), so the host should stop calling it.
    pub fn is_fatal(&self) -> bool {
        !matches!(self, Self::CreateFailed { .. } | Self::NoMedia { .. })
    }

    /// The ABI status and message this error stands for: how the plugin host child passes
    /// a plugin's error to the host unchanged.
    pub fn status_and_message(&self) -> (i32, String) {
        match self {
            Self::PluginPanicked { message, .. } => (status::PANIC, message.clone()),
            Self::Failed { message, .. } => (status::FAILED, message.clone()),
            Self::CreateFailed { message, .. } => (status::ERROR, message.clone()),
            Self::AbiMismatch { message, .. } => (status::ABI_MISMATCH, message.clone()),
            Self::InvalidArgument { message, .. } => (status::INVALID_ARGUMENT, message.clone()),
            Self::UnknownInstance { instance, .. } => {
                (status::UNKNOWN_INSTANCE, format!("unknown instance {instance}"))
            }
            Self::Status { status, message, .. } => (*status, message.clone()),
            other => (status::ERROR, other.to_string()),
        }
    }
}

pub(crate) fn status_error(
    plugin: String,
    call: &'static str,
    code: i32,
    message: String,
    instance: u64,
) -> PluginError {
    match code {
        status::PANIC => PluginError::PluginPanicked { plugin, message },
        status::FAILED => PluginError::Failed { plugin, message },
        status::ABI_MISMATCH => PluginError::AbiMismatch { plugin, message },
        status::INVALID_ARGUMENT => PluginError::InvalidArgument { plugin, call, message },
        status::UNKNOWN_INSTANCE => PluginError::UnknownInstance { plugin, instance },
        status => PluginError::Status { plugin, call, status, message },
    }
}
