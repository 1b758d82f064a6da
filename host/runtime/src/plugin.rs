//! A safe wrapper around one loaded plugin's C entry points: create an instance, hand it
//! messages and media frames, destroy it.
//!
//! Every buffer the plugin returns is given back to the plugin's own `free_buffer` (whoever
//! allocates frees), and every status is turned into a typed [`PluginError`].

use std::sync::Arc;

use switchboard_core::abi::{ABI_VERSION, SbBuffer, SbMediaFrame, SbStr, status};
use switchboard_core::sdk::MediaFrame;
use switchboard_core::wire::{HostEnvelope, HostMessage, PluginReply};

use crate::library::{PluginLibrary, take_buffer, with_buffer};

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

/// One live plugin instance. Calls need `&mut self`: the ABI allows one call at a time per
/// instance. Dropping it destroys the instance.
#[derive(Debug)]
pub struct PluginInstance {
    library: Arc<PluginLibrary>,
    instance: u64,
    destroyed: bool,
}

impl PluginInstance {
    /// Creates an instance with `settings` (a JSON object: the plugin's `[plugin.settings]`).
    pub fn create(library: Arc<PluginLibrary>, settings: &serde_json::Value) -> Result<Self, PluginError> {
        let bytes = serde_json::to_vec(settings).map_err(|e| PluginError::CreateFailed {
            plugin: library.id().to_owned(),
            message: format!("settings cannot be encoded: {e}"),
        })?;
        let mut instance = 0u64;
        let mut error = SbBuffer::EMPTY;
        // SAFETY: `create` is the checked v1 entry of this library; the settings pointer is
        // valid for its length during the call and both out pointers are live locals.
        let code = unsafe {
            (library.entry.create)(ABI_VERSION, bytes.as_ptr(), bytes.len(), &mut instance, &mut error)
        };
        // SAFETY: `error` was filled by this plugin and is given back exactly once.
        let message = unsafe { take_buffer(library.entry.free_buffer, error) };
        let message = String::from_utf8_lossy(&message).into_owned();
        let plugin = library.id().to_owned();
        match code {
            status::OK => Ok(Self { library, instance, destroyed: false }),
            status::ERROR => Err(PluginError::CreateFailed { plugin, message }),
            other => Err(status_error(plugin, "create", other, message, instance)),
        }
    }

    /// The plugin's id.
    pub fn id(&self) -> &str {
        self.library.id()
    }

    /// The library this instance belongs to.
    pub fn library(&self) -> &Arc<PluginLibrary> {
        &self.library
    }

    /// Sends one message and decodes the reply.
    pub fn handle(&mut self, msg: HostMessage) -> Result<PluginReply, PluginError> {
        let bytes =
            serde_json::to_vec(&HostEnvelope::new(msg)).map_err(|e| PluginError::InvalidArgument {
                plugin: self.id().to_owned(),
                call: "handle",
                message: format!("host message cannot be encoded: {e}"),
            })?;
        self.handle_bytes(&bytes)
    }

    /// Sends an already encoded [`HostEnvelope`] and decodes the reply (an empty reply is
    /// the default reply).
    pub fn handle_bytes(&mut self, message: &[u8]) -> Result<PluginReply, PluginError> {
        let decoded = self.call_handle(message, |bytes| {
            if bytes.is_empty() {
                Ok(PluginReply::default())
            } else {
                serde_json::from_slice::<PluginReply>(bytes).map_err(|e| e.to_string())
            }
        })?;
        decoded.map_err(|message| PluginError::BadReply { plugin: self.id().to_owned(), message })
    }

    /// Sends raw bytes as a message and returns the raw reply (for conformance checks and
    /// fuzzing).
    pub fn handle_raw(&mut self, message: &[u8]) -> Result<Vec<u8>, PluginError> {
        self.call_handle(message, <[u8]>::to_vec)
    }

    fn call_handle<R>(&mut self, message: &[u8], on_ok: impl FnOnce(&[u8]) -> R) -> Result<R, PluginError> {
        let mut out = SbBuffer::EMPTY;
        // SAFETY: `handle` is the checked v1 entry; `message` is valid for its length during
        // the call; `out` is a live local; the instance handle came from this library's
        // `create` (a stale one is answered with UNKNOWN_INSTANCE, not UB).
        let code =
            unsafe { (self.library.entry.handle)(self.instance, message.as_ptr(), message.len(), &mut out) };
        let free = self.library.entry.free_buffer;
        if code == status::OK {
            // SAFETY: `out` was filled by this plugin and is given back exactly once.
            return Ok(unsafe { with_buffer(free, out, on_ok) });
        }
        // SAFETY: as above.
        let text = unsafe { take_buffer(free, out) };
        let text = String::from_utf8_lossy(&text).into_owned();
        Err(status_error(self.id().to_owned(), "handle", code, text, self.instance))
    }

    /// True when the plugin exports a media function.
    pub fn takes_media(&self) -> bool {
        self.library.entry.media.is_some()
    }

    /// Hands one encoded media frame to the plugin, borrowed for the call.
    pub fn media(&mut self, frame: &MediaFrame<'_>) -> Result<(), PluginError> {
        let Some(media) = self.library.entry.media else {
            return Err(PluginError::NoMedia { plugin: self.id().to_owned() });
        };
        let raw = SbMediaFrame {
            struct_size: std::mem::size_of::<SbMediaFrame>() as u32,
            kind: frame.kind,
            codec: frame.codec,
            keyframe: u32::from(frame.keyframe),
            timestamp_us: frame.timestamp_us,
            participant: SbStr { ptr: frame.participant.as_ptr(), len: frame.participant.len() },
            track: SbStr { ptr: frame.track.as_ptr(), len: frame.track.len() },
            data: frame.data.as_ptr(),
            data_len: frame.data.len(),
        };
        // SAFETY: `media` is the checked v1 entry; `raw` and everything it points to live
        // until the call returns.
        let code = unsafe { media(self.instance, &raw) };
        if code == status::OK {
            return Ok(());
        }
        // The media function returns no message, only a status.
        Err(status_error(self.id().to_owned(), "media", code, String::new(), self.instance))
    }

    /// Destroys the instance (the plugin's `shutdown` runs). Dropping does the same but
    /// cannot report an error.
    pub fn destroy(mut self) -> Result<(), PluginError> {
        self.destroy_inner()
    }

    fn destroy_inner(&mut self) -> Result<(), PluginError> {
        if self.destroyed {
            return Ok(());
        }
        self.destroyed = true;
        // SAFETY: `destroy` is the checked v1 entry; the handle is this library's and is
        // destroyed once (guarded by `destroyed`).
        let code = unsafe { (self.library.entry.destroy)(self.instance) };
        if code == status::OK {
            Ok(())
        } else {
            Err(status_error(self.id().to_owned(), "destroy", code, String::new(), self.instance))
        }
    }
}

impl Drop for PluginInstance {
    fn drop(&mut self) {
        if let Err(e) = self.destroy_inner() {
            tracing::warn!(plugin = %self.id(), "destroying plugin instance: {e}");
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
