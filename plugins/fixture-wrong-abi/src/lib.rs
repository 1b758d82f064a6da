//! `fixture-wrong-abi`: an entry struct that declares ABI version 999. A host must refuse it
//! after reading the first two fields, naming both versions. The struct is written by hand
//! (not with `export_plugin!`) precisely so that it can lie about its version; every
//! function refuses the call in case a broken host calls one anyway.

use switchboard_core::abi::{SbBuffer, SbMediaFrame, SbPluginEntry, status};

/// The ABI version this fixture claims.
pub const CLAIMED_ABI_VERSION: u32 = 999;

unsafe extern "C" fn describe(_host_abi_version: u32, out: *mut SbBuffer) -> i32 {
    if !out.is_null() {
        // SAFETY: the host passes a valid out pointer; the empty buffer needs no freeing.
        unsafe { out.write(SbBuffer::EMPTY) };
    }
    status::ABI_MISMATCH
}

unsafe extern "C" fn create(
    _host_abi_version: u32,
    _settings: *const u8,
    _settings_len: usize,
    _out_instance: *mut u64,
    out_error: *mut SbBuffer,
) -> i32 {
    if !out_error.is_null() {
        // SAFETY: the host passes a valid out pointer; the empty buffer needs no freeing.
        unsafe { out_error.write(SbBuffer::EMPTY) };
    }
    status::ABI_MISMATCH
}

unsafe extern "C" fn handle(_instance: u64, _message: *const u8, _len: usize, out: *mut SbBuffer) -> i32 {
    if !out.is_null() {
        // SAFETY: the host passes a valid out pointer; the empty buffer needs no freeing.
        unsafe { out.write(SbBuffer::EMPTY) };
    }
    status::ABI_MISMATCH
}

unsafe extern "C" fn media(_instance: u64, _frame: *const SbMediaFrame) -> i32 {
    status::ABI_MISMATCH
}

unsafe extern "C" fn destroy(_instance: u64) -> i32 {
    status::UNKNOWN_INSTANCE
}

unsafe extern "C" fn free_buffer(_buffer: SbBuffer) {
    // This fixture only ever returns empty buffers.
}

/// The entry symbol, claiming ABI version 999.
#[allow(non_upper_case_globals)]
#[unsafe(no_mangle)]
pub static switchboard_plugin_entry: SbPluginEntry = SbPluginEntry {
    abi_version: CLAIMED_ABI_VERSION,
    struct_size: std::mem::size_of::<SbPluginEntry>() as u32,
    describe,
    create,
    handle,
    media: Some(media),
    destroy,
    free_buffer,
};
