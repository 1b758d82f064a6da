//! The glue behind [`export_plugin!`](crate::export_plugin): turns the C ABI into calls on a
//! [`Plugin`], catching every panic. Not for direct use.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, PoisonError};

use super::{Context, MediaFrame, Plugin, Settings};
use crate::abi::{ABI_VERSION, SbBuffer, SbMediaFrame, status};
use crate::wire::{HostEnvelope, HostMessage, PluginDescriptor, PluginReply, WIRE_VERSION};

struct Slot<P> {
    plugin: P,
    failed: bool,
}

struct Inner<P> {
    next_id: u64,
    instances: BTreeMap<u64, Arc<Mutex<Slot<P>>>>,
}

/// The live instances of one plugin type, by handle.
#[derive(Debug)]
pub struct Registry<P> {
    inner: Mutex<Inner<P>>,
}

impl<P> std::fmt::Debug for Inner<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner").field("live", &self.instances.len()).finish()
    }
}

impl<P> Registry<P> {
    /// An empty registry (usable in a `static`).
    pub const fn new() -> Self {
        Self { inner: Mutex::new(Inner { next_id: 1, instances: BTreeMap::new() }) }
    }

    fn insert(&self, plugin: P) -> u64 {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let id = inner.next_id;
        inner.next_id += 1;
        inner.instances.insert(id, Arc::new(Mutex::new(Slot { plugin, failed: false })));
        id
    }

    fn get(&self, id: u64) -> Option<Arc<Mutex<Slot<P>>>> {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.instances.get(&id).cloned()
    }

    fn remove(&self, id: u64) -> Option<Arc<Mutex<Slot<P>>>> {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.instances.remove(&id)
    }

    /// How many instances are alive.
    pub fn live(&self) -> usize {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner).instances.len()
    }
}

impl<P> Default for Registry<P> {
    fn default() -> Self {
        Self::new()
    }
}

/// Hands `bytes` to the host through `out`. Empty bytes become the empty buffer.
///
/// # Safety
/// `out` is null or valid for writes.
unsafe fn write_out(out: *mut SbBuffer, bytes: Vec<u8>) {
    if out.is_null() {
        return;
    }
    let buffer = if bytes.is_empty() {
        SbBuffer::EMPTY
    } else {
        let mut bytes = std::mem::ManuallyDrop::new(bytes);
        SbBuffer { ptr: bytes.as_mut_ptr(), len: bytes.len(), cap: bytes.capacity() }
    };
    // SAFETY: the caller guarantees `out` is valid for writes; null was checked above.
    unsafe { out.write(buffer) };
}

/// Frees a buffer made by `write_out`.
///
/// # Safety
/// `buffer` was returned by this library and not freed yet.
pub unsafe fn free_buffer(buffer: SbBuffer) {
    if buffer.ptr.is_null() {
        return;
    }
    // SAFETY: the buffer came from a `Vec<u8>` of this allocator with exactly these parts.
    drop(unsafe { Vec::from_raw_parts(buffer.ptr, buffer.len, buffer.cap) });
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}

fn unsupported_abi(host_abi_version: u32) -> String {
    format!("host offers plugin ABI version {host_abi_version}, this plugin supports version {ABI_VERSION}")
}

/// The descriptor of `P`.
pub fn descriptor<P: Plugin>() -> PluginDescriptor {
    PluginDescriptor {
        v: WIRE_VERSION,
        abi_version: ABI_VERSION,
        id: P::ID.to_owned(),
        name: P::NAME.to_owned(),
        version: P::VERSION.to_owned(),
        kind: P::KIND,
        description: P::DESCRIPTION.to_owned(),
        capabilities: P::CAPABILITIES.to_vec(),
        subscriptions: P::SUBSCRIPTIONS.to_vec(),
        wants_media: P::WANTS_MEDIA,
        tick_ms: P::TICK_MS,
    }
}

/// `describe` for `P`.
///
/// # Safety
/// `out` is null or valid for writes.
pub unsafe fn describe<P: Plugin>(host_abi_version: u32, out: *mut SbBuffer) -> i32 {
    if host_abi_version != ABI_VERSION {
        // SAFETY: forwarded from the caller.
        unsafe { write_out(out, unsupported_abi(host_abi_version).into_bytes()) };
        return status::ABI_MISMATCH;
    }
    match catch_unwind(|| serde_json::to_vec(&descriptor::<P>())) {
        Ok(Ok(bytes)) => {
            // SAFETY: forwarded from the caller.
            unsafe { write_out(out, bytes) };
            status::OK
        }
        Ok(Err(e)) => {
            // SAFETY: forwarded from the caller.
            unsafe { write_out(out, e.to_string().into_bytes()) };
            status::ERROR
        }
        Err(payload) => {
            // SAFETY: forwarded from the caller.
            unsafe { write_out(out, panic_message(payload.as_ref()).into_bytes()) };
            status::PANIC
        }
    }
}

/// Borrows `len` bytes at `ptr`; a null pointer is only valid with a zero length.
///
/// # Safety
/// When non-null, `ptr` is valid for reads of `len` bytes for `'a`.
unsafe fn borrow<'a>(ptr: *const u8, len: usize) -> Option<&'a [u8]> {
    if ptr.is_null() {
        return (len == 0).then_some(&[]);
    }
    // SAFETY: the caller guarantees `ptr` is valid for `len` bytes.
    Some(unsafe { std::slice::from_raw_parts(ptr, len) })
}

fn create_instance<P: Plugin>(settings: &[u8]) -> Result<P, String> {
    let table = if settings.iter().all(u8::is_ascii_whitespace) {
        serde_json::Map::new()
    } else {
        match serde_json::from_slice::<serde_json::Value>(settings) {
            Ok(serde_json::Value::Object(map)) => map,
            Ok(other) => return Err(format!("settings must be a JSON object, got {other}")),
            Err(e) => return Err(format!("settings are not valid JSON: {e}")),
        }
    };
    let mut plugin = P::default();
    plugin.configure(&Settings::new(table)).map_err(|e| e.to_string())?;
    Ok(plugin)
}

/// `create` for `P`.
///
/// # Safety
/// `settings` is valid for `settings_len` bytes (or null with length 0); the out pointers
/// are null or valid for writes.
pub unsafe fn create<P: Plugin>(
    registry: &Registry<P>,
    host_abi_version: u32,
    settings: *const u8,
    settings_len: usize,
    out_instance: *mut u64,
    out_error: *mut SbBuffer,
) -> i32 {
    let fail = |code: i32, message: String| {
        // SAFETY: forwarded from the caller.
        unsafe { write_out(out_error, message.into_bytes()) };
        code
    };
    if host_abi_version != ABI_VERSION {
        return fail(status::ABI_MISMATCH, unsupported_abi(host_abi_version));
    }
    if out_instance.is_null() {
        return fail(status::INVALID_ARGUMENT, "out_instance is null".to_owned());
    }
    // SAFETY: forwarded from the caller.
    let Some(settings) = (unsafe { borrow(settings, settings_len) }) else {
        return fail(status::INVALID_ARGUMENT, "settings pointer is null with a non-zero length".to_owned());
    };
    match catch_unwind(|| create_instance::<P>(settings)) {
        Ok(Ok(plugin)) => {
            let id = registry.insert(plugin);
            // SAFETY: checked non-null above; the caller guarantees it is valid for writes.
            unsafe { out_instance.write(id) };
            status::OK
        }
        Ok(Err(message)) => fail(status::ERROR, message),
        Err(payload) => fail(status::PANIC, panic_message(payload.as_ref())),
    }
}

/// The hot message, a batch of events, as a plain struct. Decoding it as the internally
/// tagged [`HostMessage`] makes serde buffer the whole batch into an intermediate tree
/// before building the events; this shape decodes the events straight from the bytes.
/// It accepts exactly what the general path accepts for an `events` message.
#[derive(serde::Deserialize)]
struct EventsEnvelope {
    #[serde(rename = "v")]
    _v: u32,
    msg: EventsMessage,
}

#[derive(serde::Deserialize)]
struct EventsMessage {
    #[serde(rename = "type")]
    kind: String,
    events: Vec<crate::event::Event>,
}

fn decode(message: &[u8]) -> Result<HostMessage, String> {
    if let Ok(EventsEnvelope { msg: EventsMessage { kind, events }, .. }) = serde_json::from_slice(message)
        && kind == "events"
    {
        return Ok(HostMessage::Events { events });
    }
    let envelope: HostEnvelope =
        serde_json::from_slice(message).map_err(|e| format!("undecodable message: {e}"))?;
    Ok(envelope.msg)
}

fn dispatch<P: Plugin>(plugin: &mut P, message: &[u8]) -> Result<PluginReply, String> {
    let msg = decode(message)?;
    let mut ctx = Context::default();
    let mut reply = PluginReply { v: WIRE_VERSION, ..PluginReply::default() };
    match &msg {
        HostMessage::Events { events } => {
            for event in events {
                plugin.on_event(event, &mut ctx);
            }
        }
        HostMessage::Command { command, from } => {
            reply.error = plugin.on_command(command, from, &mut ctx).err();
        }
        HostMessage::Input { input } => plugin.on_input(input, &mut ctx),
        HostMessage::Render { request } => reply.view = plugin.render(request),
        HostMessage::Tick => plugin.on_tick(&mut ctx),
        HostMessage::Unknown => {}
    }
    reply.commands = ctx.take();
    Ok(reply)
}

/// Runs `f` on the live, non-failed instance `id`, catching panics (which fail it).
fn with_instance<P: Plugin>(
    registry: &Registry<P>,
    id: u64,
    f: impl FnOnce(&mut P) -> Result<Vec<u8>, (i32, String)>,
) -> Result<Vec<u8>, (i32, String)> {
    let Some(slot) = registry.get(id) else {
        return Err((status::UNKNOWN_INSTANCE, format!("no live instance {id}")));
    };
    let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
    if slot.failed {
        return Err((status::FAILED, format!("instance {id} failed earlier and refuses calls")));
    }
    match catch_unwind(AssertUnwindSafe(|| f(&mut slot.plugin))) {
        Ok(result) => result,
        Err(payload) => {
            slot.failed = true;
            Err((status::PANIC, panic_message(payload.as_ref())))
        }
    }
}

/// `handle` for `P`.
///
/// # Safety
/// `message` is valid for `len` bytes (or null with length 0); `out` is null or valid for
/// writes.
pub unsafe fn handle<P: Plugin>(
    registry: &Registry<P>,
    instance: u64,
    message: *const u8,
    len: usize,
    out: *mut SbBuffer,
) -> i32 {
    // SAFETY: forwarded from the caller.
    let result = match unsafe { borrow(message, len) } {
        None => Err((status::INVALID_ARGUMENT, "message pointer is null with a non-zero length".to_owned())),
        Some(message) => with_instance(registry, instance, |plugin| {
            let reply = dispatch(plugin, message).map_err(|e| (status::INVALID_ARGUMENT, e))?;
            if reply.is_empty() {
                Ok(Vec::new())
            } else {
                serde_json::to_vec(&reply).map_err(|e| (status::ERROR, e.to_string()))
            }
        }),
    };
    let (code, bytes) = match result {
        Ok(bytes) => (status::OK, bytes),
        Err((code, message)) => (code, message.into_bytes()),
    };
    // SAFETY: forwarded from the caller.
    unsafe { write_out(out, bytes) };
    code
}

/// `media` for `P`.
///
/// # Safety
/// `frame` is null or points to a valid frame whose pointers are valid for the call.
pub unsafe fn media<P: Plugin>(registry: &Registry<P>, instance: u64, frame: *const SbMediaFrame) -> i32 {
    if frame.is_null() {
        return status::INVALID_ARGUMENT;
    }
    // SAFETY: checked non-null; the caller guarantees it points to a valid frame.
    let raw = unsafe { &*frame };
    if (raw.struct_size as usize) < std::mem::size_of::<SbMediaFrame>() {
        return status::INVALID_ARGUMENT;
    }
    // SAFETY: the caller guarantees the frame's pointers are valid for their lengths.
    let (participant, track, data) = unsafe {
        (
            borrow(raw.participant.ptr, raw.participant.len),
            borrow(raw.track.ptr, raw.track.len),
            borrow(raw.data, raw.data_len),
        )
    };
    let (Some(participant), Some(track), Some(data)) = (participant, track, data) else {
        return status::INVALID_ARGUMENT;
    };
    let (Ok(participant), Ok(track)) = (std::str::from_utf8(participant), std::str::from_utf8(track)) else {
        return status::INVALID_ARGUMENT;
    };
    let frame = MediaFrame {
        kind: raw.kind,
        codec: raw.codec,
        keyframe: raw.keyframe != 0,
        timestamp_us: raw.timestamp_us,
        participant,
        track,
        data,
    };
    match with_instance(registry, instance, |plugin| {
        plugin.on_media(&frame);
        Ok(Vec::new())
    }) {
        Ok(_) => status::OK,
        Err((code, _)) => code,
    }
}

/// `destroy` for `P`: calls `shutdown` (catching panics) and drops the instance.
pub fn destroy<P: Plugin>(registry: &Registry<P>, instance: u64) -> i32 {
    let Some(slot) = registry.remove(instance) else {
        return status::UNKNOWN_INSTANCE;
    };
    let outcome = catch_unwind(AssertUnwindSafe(move || {
        let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
        if !slot.failed {
            slot.plugin.shutdown();
        }
    }));
    match outcome {
        Ok(()) => status::OK,
        Err(_) => status::PANIC,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::Command;
    use crate::event::Event;
    use crate::model::RtcUser;

    #[test]
    fn the_events_fast_path_decodes_what_the_general_path_does() {
        let messages = [
            HostMessage::Events {
                events: vec![Event::CallEnded, Event::UserJoined { user: RtcUser::new("b", "B") }],
            },
            HostMessage::Events { events: vec![] },
            HostMessage::Command { command: Command::StartRecording, from: RtcUser::new("a", "A") },
        ];
        for msg in messages {
            let bytes = serde_json::to_vec(&HostEnvelope::new(msg.clone())).expect("serializable");
            assert_eq!(decode(&bytes), Ok(msg));
        }
        // Both paths refuse an events message without events, or without a version.
        assert!(decode(br#"{"v":1,"msg":{"type":"events"}}"#).is_err());
        assert!(decode(br#"{"msg":{"type":"events","events":[]}}"#).is_err());
        // Unknown fields and unknown events are tolerated on the fast path too.
        let decoded =
            decode(br#"{"v":2,"x":0,"msg":{"type":"events","y":1,"events":[{"event":"new_thing"}]}}"#);
        assert_eq!(decoded, Ok(HostMessage::Events { events: vec![Event::Unknown] }));
    }
}
