//! Test support for plugin authors: drive a plugin with events, commands, input and render
//! requests and assert on what it returns, without a host or a call.
//!
//! The harness goes through the same C ABI glue and the same JSON messages as the host, so
//! a plugin that passes here sees the same bytes in a real call.
//!
//! ```
//! use switchboard_core::sdk::testing::Harness;
//! use switchboard_core::sdk::{Context, Plugin};
//! use switchboard_core::{Command, Event, EventKind, PluginKind, RtcUser};
//!
//! /// Mutes the local user whenever someone joins.
//! #[derive(Default)]
//! struct MuteOnJoin;
//! impl Plugin for MuteOnJoin {
//!     const ID: &'static str = "mute-on-join";
//!     const NAME: &'static str = "Mute on join";
//!     const VERSION: &'static str = "0.1.0";
//!     const KIND: PluginKind = PluginKind::Tool;
//!     const SUBSCRIPTIONS: &'static [EventKind] = &[EventKind::UserJoined];
//!     fn on_event(&mut self, _event: &Event, ctx: &mut Context) {
//!         ctx.send(Command::MuteAudio { muted: true });
//!     }
//! }
//!
//! let mut harness = Harness::<MuteOnJoin>::new().unwrap();
//! let commands = harness.events(&[Event::UserJoined { user: RtcUser::new("bob", "Bob") }]).unwrap();
//! assert_eq!(commands, vec![Command::MuteAudio { muted: true }]);
//! ```

use super::{Plugin, ffi};
use crate::abi::{ABI_VERSION, SbBuffer, status};
use crate::command::Command;
use crate::event::Event;
use crate::model::{CallsException, RtcUser};
use crate::view::{UiInput, View, ViewRequest};
use crate::wire::{HostEnvelope, HostMessage, PluginDescriptor, PluginReply};

/// Why a harness call failed: the status the ABI returned and the plugin's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("plugin returned status {status} ({name}): {message}", name = status::name(*.status))]
pub struct HarnessError {
    /// The ABI status code.
    pub status: i32,
    /// The plugin's message.
    pub message: String,
}

/// One plugin instance driven through the ABI glue.
#[derive(Debug)]
pub struct Harness<P: Plugin> {
    registry: ffi::Registry<P>,
    instance: u64,
}

fn take(buffer: SbBuffer) -> Vec<u8> {
    if buffer.ptr.is_null() {
        return Vec::new();
    }
    // SAFETY: the buffer was just returned by the glue and is valid for `len` bytes.
    let bytes = unsafe { std::slice::from_raw_parts(buffer.ptr, buffer.len) }.to_vec();
    // SAFETY: returned by the glue, freed once, here.
    unsafe { ffi::free_buffer(buffer) };
    bytes
}

impl<P: Plugin> Harness<P> {
    /// An instance with empty settings.
    pub fn new() -> Result<Self, HarnessError> {
        Self::with_settings(&serde_json::json!({}))
    }

    /// An instance with these settings (a JSON object, as the host would pass its TOML table).
    pub fn with_settings(settings: &serde_json::Value) -> Result<Self, HarnessError> {
        let registry = ffi::Registry::new();
        let bytes = settings.to_string();
        let mut instance = 0;
        let mut error = SbBuffer::EMPTY;
        // SAFETY: every pointer is a live local of the right type and length.
        let code = unsafe {
            ffi::create::<P>(&registry, ABI_VERSION, bytes.as_ptr(), bytes.len(), &mut instance, &mut error)
        };
        let message = take(error);
        if code != status::OK {
            return Err(HarnessError {
                status: code,
                message: String::from_utf8_lossy(&message).into_owned(),
            });
        }
        Ok(Self { registry, instance })
    }

    /// The plugin's descriptor, as the host would read it.
    pub fn descriptor() -> PluginDescriptor {
        ffi::descriptor::<P>()
    }

    fn send(&mut self, msg: HostMessage) -> Result<PluginReply, HarnessError> {
        let bytes = serde_json::to_vec(&HostEnvelope::new(msg))
            .map_err(|e| HarnessError { status: -1, message: e.to_string() })?;
        let mut out = SbBuffer::EMPTY;
        // SAFETY: every pointer is a live local of the right type and length.
        let code =
            unsafe { ffi::handle::<P>(&self.registry, self.instance, bytes.as_ptr(), bytes.len(), &mut out) };
        let reply = take(out);
        if code != status::OK {
            return Err(HarnessError { status: code, message: String::from_utf8_lossy(&reply).into_owned() });
        }
        if reply.is_empty() {
            return Ok(PluginReply::default());
        }
        serde_json::from_slice(&reply)
            .map_err(|e| HarnessError { status: -1, message: format!("undecodable reply: {e}") })
    }

    /// Delivers events; returns the commands the plugin sent.
    pub fn events(&mut self, events: &[Event]) -> Result<Vec<Command>, HarnessError> {
        Ok(self.send(HostMessage::Events { events: events.to_vec() })?.commands)
    }

    /// Delivers one tick (what the host sends every `TICK_MS`); returns the commands the
    /// plugin sent.
    pub fn tick(&mut self) -> Result<Vec<Command>, HarnessError> {
        Ok(self.send(HostMessage::Tick)?.commands)
    }

    /// Asks the plugin to carry out a command for one of its capabilities. The outer error
    /// is an ABI failure; the inner one is the plugin's answer.
    pub fn command(
        &mut self,
        command: Command,
        from: &RtcUser,
    ) -> Result<Result<Vec<Command>, CallsException>, HarnessError> {
        let reply = self.send(HostMessage::Command { command, from: from.clone() })?;
        Ok(match reply.error {
            Some(e) => Err(e),
            None => Ok(reply.commands),
        })
    }

    /// Hands one media tap frame to the plugin through the ABI's `media` entry, as the host
    /// does for plugins with `WANTS_MEDIA`.
    pub fn media(&mut self, frame: &super::MediaFrame<'_>) -> Result<(), HarnessError> {
        let raw = crate::abi::SbMediaFrame {
            struct_size: std::mem::size_of::<crate::abi::SbMediaFrame>() as u32,
            kind: frame.kind,
            codec: frame.codec,
            keyframe: u32::from(frame.keyframe),
            timestamp_us: frame.timestamp_us,
            participant: crate::abi::SbStr { ptr: frame.participant.as_ptr(), len: frame.participant.len() },
            track: crate::abi::SbStr { ptr: frame.track.as_ptr(), len: frame.track.len() },
            data: frame.data.as_ptr(),
            data_len: frame.data.len(),
        };
        // SAFETY: `raw` and the slices it points into live until the call returns.
        let code = unsafe { ffi::media::<P>(&self.registry, self.instance, &raw) };
        if code == status::OK {
            Ok(())
        } else {
            Err(HarnessError { status: code, message: format!("media returned {}", status::name(code)) })
        }
    }

    /// Delivers UI input; returns the commands the plugin sent.
    pub fn input(&mut self, input: UiInput) -> Result<Vec<Command>, HarnessError> {
        Ok(self.send(HostMessage::Input { input })?.commands)
    }

    /// Asks for a view.
    pub fn render(&mut self, request: &ViewRequest) -> Result<Option<View>, HarnessError> {
        Ok(self.send(HostMessage::Render { request: request.clone() })?.view)
    }

    /// Sends raw bytes as a message, as a fuzzer would; returns the status and reply bytes.
    pub fn raw(&mut self, bytes: &[u8]) -> (i32, Vec<u8>) {
        let mut out = SbBuffer::EMPTY;
        // SAFETY: every pointer is a live local of the right type and length.
        let code =
            unsafe { ffi::handle::<P>(&self.registry, self.instance, bytes.as_ptr(), bytes.len(), &mut out) };
        (code, take(out))
    }
}

impl<P: Plugin> Drop for Harness<P> {
    fn drop(&mut self) {
        ffi::destroy::<P>(&self.registry, self.instance);
    }
}
