//! The in-process instance: [`PluginInstance`], a safe wrapper around one loaded plugin's
//! C entry points (create an instance, hand it messages and media frames, destroy it),
//! implementing [`PluginHandle`].
//!
//! Every buffer the plugin returns is given back to the plugin's own `free_buffer` (whoever
//! allocates frees), and every status is turned into a typed [`PluginError`] (defined with
//! the trait, public here).
//!
//! Uses the library and handle modules below it; the out-of-process side
//! ([`crate::isolation`]) uses this one, not the other way round.

use std::sync::Arc;

use switchboard_core::abi::{ABI_VERSION, SbBuffer, SbMediaFrame, SbStr, status};
use switchboard_core::sdk::MediaFrame;
use switchboard_core::wire::PluginReply;

pub use crate::handle::PluginError;
use crate::handle::{PluginHandle, decode_reply, status_error};
use crate::library::{PluginLibrary, take_buffer, with_buffer};

/// One live plugin instance in the host. Calls (through [`PluginHandle`]) need `&mut self`:
/// the ABI allows one call at a time per instance. Dropping it destroys the instance.
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

    /// Destroys the instance (the plugin's `shutdown` runs). Dropping does the same but
    /// cannot report an error. The by-value form of [`PluginHandle::destroy`], for an
    /// instance that is not boxed.
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

impl PluginHandle for PluginInstance {
    fn library(&self) -> &Arc<PluginLibrary> {
        &self.library
    }

    fn is_isolated(&self) -> bool {
        false
    }

    fn handle_bytes(&mut self, message: &[u8]) -> Result<PluginReply, PluginError> {
        let decoded = self.call_handle(message, decode_reply)?;
        decoded.map_err(|message| PluginError::BadReply { plugin: self.id().to_owned(), message })
    }

    fn handle_raw(&mut self, message: &[u8]) -> Result<Vec<u8>, PluginError> {
        self.call_handle(message, <[u8]>::to_vec)
    }

    fn media(&mut self, frame: &MediaFrame<'_>) -> Result<(), PluginError> {
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

    fn destroy(mut self: Box<Self>) -> Result<(), PluginError> {
        self.destroy_inner()
    }
}

impl Drop for PluginInstance {
    fn drop(&mut self) {
        if let Err(e) = self.destroy_inner() {
            tracing::warn!(plugin = %self.id(), "destroying plugin instance: {e}");
        }
    }
}
