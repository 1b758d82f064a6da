//! Plugin ABI v1: the `#[repr(C)]` structs and constants that cross the plugin boundary.
//!
//! A plugin exports one data symbol, [`ENTRY_SYMBOL`], of type [`SbPluginEntry`]. The
//! struct starts with the ABI version and its own size, so a host reads those two fields
//! before trusting anything else. Only plain bytes and these structs cross the boundary:
//! messages are versioned JSON (see [`crate::wire`]) that tolerate unknown fields.
//!
//! Ownership: whoever allocates frees. Input buffers are the host's and borrowed for the
//! duration of one call; output buffers are the plugin's and the host gives them back
//! through [`SbPluginEntry::free_buffer`]. Instances are opaque `u64` handles, so a host
//! that misuses one (destroys it twice, say) gets [`status::UNKNOWN_INSTANCE`] instead of
//! undefined behaviour.

/// The ABI version this build speaks.
pub const ABI_VERSION: u32 = 1;

/// The name of the one symbol a plugin exports.
pub const ENTRY_SYMBOL: &str = "switchboard_plugin_entry";

/// The same name, NUL-terminated, for `dlsym`.
pub const ENTRY_SYMBOL_C: &[u8] = b"switchboard_plugin_entry\0";

/// Status codes every ABI function returns.
pub mod status {
    /// Success.
    pub const OK: i32 = 0;
    /// The call failed; the output buffer holds a UTF-8 message.
    pub const ERROR: i32 = 1;
    /// The plugin panicked; the output buffer holds the panic message. The instance is
    /// failed from now on.
    pub const PANIC: i32 = 2;
    /// The host's ABI version is not one this plugin supports; the output buffer says which
    /// it supports.
    pub const ABI_MISMATCH: i32 = 3;
    /// A pointer or length was invalid, or the message could not be decoded.
    pub const INVALID_ARGUMENT: i32 = 4;
    /// The instance handle is not (or no longer) a live instance.
    pub const UNKNOWN_INSTANCE: i32 = 5;
    /// The instance failed earlier (it panicked) and refuses further calls.
    pub const FAILED: i32 = 6;

    /// A short name for a status, for messages.
    pub fn name(status: i32) -> &'static str {
        match status {
            OK => "ok",
            ERROR => "error",
            PANIC => "panic",
            ABI_MISMATCH => "abi mismatch",
            INVALID_ARGUMENT => "invalid argument",
            UNKNOWN_INSTANCE => "unknown instance",
            FAILED => "failed",
            _ => "unknown status",
        }
    }
}

/// A byte buffer allocated by the plugin and returned to the host. The host reads `len`
/// bytes at `ptr` and hands the buffer back, unchanged, to `free_buffer`. `cap` is the
/// plugin's own bookkeeping. An empty buffer has a null `ptr`.
#[repr(C)]
#[derive(Debug)]
pub struct SbBuffer {
    /// Start of the bytes, or null.
    pub ptr: *mut u8,
    /// How many bytes are valid.
    pub len: usize,
    /// The allocation's capacity, for the plugin's allocator.
    pub cap: usize,
}

impl SbBuffer {
    /// The empty buffer.
    pub const EMPTY: SbBuffer = SbBuffer { ptr: std::ptr::null_mut(), len: 0, cap: 0 };
}

/// A borrowed UTF-8 string.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct SbStr {
    /// Start of the bytes.
    pub ptr: *const u8,
    /// Length in bytes.
    pub len: usize,
}

/// Media kinds of [`SbMediaFrame::kind`].
pub mod media_kind {
    /// Audio.
    pub const AUDIO: u32 = 0;
    /// Video.
    pub const VIDEO: u32 = 1;
}

/// Codecs of [`SbMediaFrame::codec`].
pub mod codec {
    /// Opus audio.
    pub const OPUS: u32 = 0;
    /// VP8 video.
    pub const VP8: u32 = 1;
    /// H.264 video.
    pub const H264: u32 = 2;
}

/// One encoded media frame from the media tap, borrowed for the duration of the call.
#[repr(C)]
#[derive(Debug)]
pub struct SbMediaFrame {
    /// `size_of::<SbMediaFrame>()` as the host built it; fields may be appended later.
    pub struct_size: u32,
    /// [`media_kind`].
    pub kind: u32,
    /// [`codec`].
    pub codec: u32,
    /// 1 when this video frame is a keyframe.
    pub keyframe: u32,
    /// Presentation time in microseconds since the start of the call.
    pub timestamp_us: u64,
    /// Whose media: the participant's uid.
    pub participant: SbStr,
    /// Which track of that participant.
    pub track: SbStr,
    /// The encoded frame.
    pub data: *const u8,
    /// Its length in bytes.
    pub data_len: usize,
}

/// `describe(host_abi_version, out) -> status`: writes the JSON descriptor to `out`.
pub type DescribeFn = unsafe extern "C" fn(host_abi_version: u32, out: *mut SbBuffer) -> i32;
/// `create(host_abi_version, settings, settings_len, out_instance, out_error) -> status`:
/// `settings` is the JSON object of the plugin's `[plugin.settings]` table.
pub type CreateFn = unsafe extern "C" fn(
    host_abi_version: u32,
    settings: *const u8,
    settings_len: usize,
    out_instance: *mut u64,
    out_error: *mut SbBuffer,
) -> i32;
/// `handle(instance, message, message_len, out) -> status`: one host message in, one reply
/// out (an empty reply means "nothing to say").
pub type HandleFn =
    unsafe extern "C" fn(instance: u64, message: *const u8, message_len: usize, out: *mut SbBuffer) -> i32;
/// `media(instance, frame) -> status`: one encoded frame from the media tap.
pub type MediaFn = unsafe extern "C" fn(instance: u64, frame: *const SbMediaFrame) -> i32;
/// `destroy(instance) -> status`.
pub type DestroyFn = unsafe extern "C" fn(instance: u64) -> i32;
/// `free_buffer(buffer)`: gives back a buffer the plugin returned.
pub type FreeBufferFn = unsafe extern "C" fn(buffer: SbBuffer);

/// The struct behind [`ENTRY_SYMBOL`].
#[repr(C)]
#[derive(Debug)]
pub struct SbPluginEntry {
    /// The ABI version the plugin was built for. Read first.
    pub abi_version: u32,
    /// `size_of::<SbPluginEntry>()` as the plugin was built. Read second.
    pub struct_size: u32,
    /// Describes the plugin.
    pub describe: DescribeFn,
    /// Creates an instance.
    pub create: CreateFn,
    /// Handles one message.
    pub handle: HandleFn,
    /// Receives media frames; null when the plugin does not want media. (Spelled out
    /// rather than `Option<MediaFn>` so cbindgen emits a nullable function pointer.)
    pub media: Option<unsafe extern "C" fn(instance: u64, frame: *const SbMediaFrame) -> i32>,
    /// Destroys an instance.
    pub destroy: DestroyFn,
    /// Frees a buffer the plugin returned.
    pub free_buffer: FreeBufferFn,
}

/// [`SbPluginEntry`] as a host reads it from a plugin it does not trust: the same layout
/// with every function pointer nullable, so that a null pointer from a broken plugin is a
/// checked error instead of undefined behaviour. `Option<extern "C" fn>` is guaranteed to
/// have the layout of the bare pointer. The host's loader and the conformance suite both
/// read entries through it.
///
/// cbindgen:ignore
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RawPluginEntry {
    /// [`SbPluginEntry::abi_version`].
    pub abi_version: u32,
    /// [`SbPluginEntry::struct_size`].
    pub struct_size: u32,
    /// [`SbPluginEntry::describe`].
    pub describe: Option<DescribeFn>,
    /// [`SbPluginEntry::create`].
    pub create: Option<CreateFn>,
    /// [`SbPluginEntry::handle`].
    pub handle: Option<HandleFn>,
    /// [`SbPluginEntry::media`].
    pub media: Option<MediaFn>,
    /// [`SbPluginEntry::destroy`].
    pub destroy: Option<DestroyFn>,
    /// [`SbPluginEntry::free_buffer`].
    pub free_buffer: Option<FreeBufferFn>,
}

const _: () = assert!(std::mem::size_of::<RawPluginEntry>() == std::mem::size_of::<SbPluginEntry>());
const _: () = assert!(std::mem::align_of::<RawPluginEntry>() == std::mem::align_of::<SbPluginEntry>());
