//! A deliberately raw view of a plugin library, for conformance only.
//!
//! The host's loader (`switchboard_runtime::loader`) wraps a plugin in a safe API that refuses misuse.
//! Conformance has to *commit* misuse on purpose (describe with a wrong ABI version,
//! destroy twice, pass null out pointers, send garbage), so it keeps this small layer of its
//! own: `dlopen` with `RTLD_NOW | RTLD_LOCAL`, read the entry symbol's first two fields
//! before trusting the rest, and call the C functions with whatever the check asks for.
//!
//! Every function here mirrors one ABI function; none of them adds policy. The checks
//! decide what a status means.

use std::path::{Path, PathBuf};

use libloading::os::unix::{Library, RTLD_LOCAL, RTLD_NOW};
use switchboard_core::abi::{
    ABI_VERSION, CreateFn, DescribeFn, DestroyFn, ENTRY_SYMBOL, ENTRY_SYMBOL_C, FreeBufferFn, HandleFn,
    MediaFn, RawPluginEntry, SbBuffer, SbMediaFrame,
};

/// Why a library could not be opened or its entry could not be trusted.
#[derive(Debug, thiserror::Error)]
pub enum RawError {
    /// `dlopen` failed (a missing file, an unresolved symbol under `RTLD_NOW`, ...).
    #[error("dlopen {path} with RTLD_NOW|RTLD_LOCAL: {source}")]
    Open {
        /// The library.
        path: PathBuf,
        /// What the dynamic loader said.
        source: libloading::Error,
    },
    /// The entry symbol is missing.
    #[error("{path} does not export `{symbol}`: {source}")]
    NoEntry {
        /// The library.
        path: PathBuf,
        /// The symbol looked for.
        symbol: &'static str,
        /// What `dlsym` said.
        source: libloading::Error,
    },
    /// The entry speaks another ABI version.
    #[error("{path} speaks plugin ABI version {plugin}, this host speaks version {host}")]
    AbiVersion {
        /// The library.
        path: PathBuf,
        /// The plugin's version.
        plugin: u32,
        /// The host's version.
        host: u32,
    },
    /// The entry struct is smaller than this host's.
    #[error("{path} declares an entry struct of {plugin} bytes, this host needs at least {host}")]
    StructSize {
        /// The library.
        path: PathBuf,
        /// The declared size.
        plugin: u32,
        /// The size this host reads.
        host: usize,
    },
    /// A function pointer that must be set is null.
    #[error("{path}: entry field `{field}` is null")]
    NullFunction {
        /// The library.
        path: PathBuf,
        /// The field.
        field: &'static str,
    },
}

// The entry struct as conformance reads it is the loader's nullable mirror of
// `SbPluginEntry` (`RawPluginEntry`): a plugin that leaves a pointer null is reported, not
// called.

/// An opened plugin library whose entry symbol was found (but not yet trusted).
#[derive(Debug)]
pub struct RawLibrary {
    path: PathBuf,
    entry: *const RawPluginEntry,
    // Dropped last: the entry pointer and every function pointer point into it.
    _lib: Library,
}

/// The two fields every ABI version starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The ABI version the plugin was built for.
    pub abi_version: u32,
    /// The size of its entry struct.
    pub struct_size: u32,
}

impl RawLibrary {
    /// Opens `path` with `RTLD_NOW | RTLD_LOCAL` (every undefined symbol must resolve now;
    /// nothing the plugin defines leaks into the global namespace) and finds the entry.
    pub fn open(path: &Path) -> Result<Self, RawError> {
        // SAFETY: loading a library runs its initialisers; that is exactly what conformance
        // is here to exercise, and it runs in a throwaway child process.
        let lib = unsafe { Library::open(Some(path), RTLD_NOW | RTLD_LOCAL) }
            .map_err(|source| RawError::Open { path: path.to_owned(), source })?;
        // SAFETY: the symbol is declared as a data object; we take only its address here and
        // read through it after checking the header.
        let symbol = unsafe { lib.get::<*const RawPluginEntry>(ENTRY_SYMBOL_C) }
            .map_err(|source| RawError::NoEntry { path: path.to_owned(), symbol: ENTRY_SYMBOL, source })?;
        // A data symbol's "value" as libloading returns it is its address.
        let entry: *const RawPluginEntry = *symbol;
        Ok(Self { path: path.to_owned(), entry, _lib: lib })
    }

    /// The library's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads only the ABI version and struct size, which every ABI version puts first.
    pub fn header(&self) -> Header {
        // SAFETY: the symbol is at least these two u32 in every ABI version, and the
        // library (and so the symbol) lives as long as `self`.
        unsafe {
            Header {
                abi_version: std::ptr::addr_of!((*self.entry).abi_version).read_unaligned(),
                struct_size: std::ptr::addr_of!((*self.entry).struct_size).read_unaligned(),
            }
        }
    }

    /// The whole entry, after checking the version, the size and that the required
    /// functions are set.
    pub fn entry(&self) -> Result<Entry<'_>, RawError> {
        let header = self.header();
        if header.abi_version != ABI_VERSION {
            return Err(RawError::AbiVersion {
                path: self.path.clone(),
                plugin: header.abi_version,
                host: ABI_VERSION,
            });
        }
        if (header.struct_size as usize) < std::mem::size_of::<RawPluginEntry>() {
            return Err(RawError::StructSize {
                path: self.path.clone(),
                plugin: header.struct_size,
                host: std::mem::size_of::<RawPluginEntry>(),
            });
        }
        // SAFETY: version and size were checked, so the symbol holds a whole v1 entry; the
        // library outlives the returned borrow.
        let raw = unsafe { self.entry.read_unaligned() };
        fn need<F>(f: Option<F>, path: &Path, field: &'static str) -> Result<F, RawError> {
            f.ok_or_else(|| RawError::NullFunction { path: path.to_owned(), field })
        }
        let path = self.path.as_path();
        Ok(Entry {
            describe: need(raw.describe, path, "describe")?,
            create: need(raw.create, path, "create")?,
            handle: need(raw.handle, path, "handle")?,
            media: raw.media,
            destroy: need(raw.destroy, path, "destroy")?,
            free_buffer: need(raw.free_buffer, path, "free_buffer")?,
            _lib: std::marker::PhantomData,
        })
    }
}

/// The entry's functions, borrowed from an open [`RawLibrary`].
#[derive(Debug, Clone, Copy)]
pub struct Entry<'lib> {
    describe: DescribeFn,
    create: CreateFn,
    handle: HandleFn,
    media: Option<MediaFn>,
    destroy: DestroyFn,
    free_buffer: FreeBufferFn,
    _lib: std::marker::PhantomData<&'lib RawLibrary>,
}

/// A status and the bytes of the buffer that came with it (already freed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The ABI status.
    pub status: i32,
    /// The buffer's bytes (a message on error, a reply or descriptor on success).
    pub bytes: Vec<u8>,
}

impl Reply {
    /// The bytes as text, lossily, for messages.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

impl Entry<'_> {
    /// Copies a plugin buffer out and hands it back through `free_buffer`.
    fn take(&self, buffer: SbBuffer) -> Vec<u8> {
        if buffer.ptr.is_null() {
            return Vec::new();
        }
        // SAFETY: the plugin returned this buffer; the ABI says `ptr` is valid for `len`
        // bytes until it is given back, which happens right after the copy.
        let bytes = unsafe { std::slice::from_raw_parts(buffer.ptr, buffer.len) }.to_vec();
        // SAFETY: returned by this plugin, unchanged, given back once.
        unsafe { (self.free_buffer)(buffer) };
        bytes
    }

    /// True when the plugin has a media function.
    pub fn has_media(&self) -> bool {
        self.media.is_some()
    }

    /// `describe(host_abi_version, &out)`.
    pub fn describe(&self, host_abi_version: u32) -> Reply {
        let mut out = SbBuffer::EMPTY;
        // SAFETY: `out` is a live local; any version number is allowed by the ABI.
        let status = unsafe { (self.describe)(host_abi_version, &mut out) };
        Reply { status, bytes: self.take(out) }
    }

    /// `describe` with a null out pointer (misuse).
    pub fn describe_null_out(&self) -> i32 {
        // SAFETY: the ABI lets out pointers be null ("null or valid for writes").
        unsafe { (self.describe)(ABI_VERSION, std::ptr::null_mut()) }
    }

    /// `create(host_abi_version, settings, &instance, &error)`; the instance is 0 unless
    /// the status is OK.
    pub fn create(&self, host_abi_version: u32, settings: &[u8]) -> (Reply, u64) {
        let mut instance = 0u64;
        let mut error = SbBuffer::EMPTY;
        // SAFETY: settings is a live slice; both out pointers are live locals.
        let status = unsafe {
            (self.create)(host_abi_version, settings.as_ptr(), settings.len(), &mut instance, &mut error)
        };
        (Reply { status, bytes: self.take(error) }, instance)
    }

    /// `create` with a null `out_instance` (misuse).
    pub fn create_null_instance(&self, settings: &[u8]) -> Reply {
        let mut error = SbBuffer::EMPTY;
        // SAFETY: the ABI lets out pointers be null; the plugin must refuse, not write.
        let status = unsafe {
            (self.create)(ABI_VERSION, settings.as_ptr(), settings.len(), std::ptr::null_mut(), &mut error)
        };
        Reply { status, bytes: self.take(error) }
    }

    /// `create` with a null settings pointer and a non-zero length (misuse).
    pub fn create_null_settings(&self) -> (Reply, u64) {
        let mut instance = 0u64;
        let mut error = SbBuffer::EMPTY;
        // SAFETY: a null pointer with a length is the misuse under test; the ABI requires the
        // plugin to check it before reading.
        let status = unsafe { (self.create)(ABI_VERSION, std::ptr::null(), 16, &mut instance, &mut error) };
        (Reply { status, bytes: self.take(error) }, instance)
    }

    /// `handle(instance, message, &out)`.
    pub fn handle(&self, instance: u64, message: &[u8]) -> Reply {
        let mut out = SbBuffer::EMPTY;
        // SAFETY: the message is a live slice and `out` a live local.
        let status = unsafe { (self.handle)(instance, message.as_ptr(), message.len(), &mut out) };
        Reply { status, bytes: self.take(out) }
    }

    /// `handle` with a null message pointer and length `len` (misuse when `len > 0`).
    pub fn handle_null_message(&self, instance: u64, len: usize) -> Reply {
        let mut out = SbBuffer::EMPTY;
        // SAFETY: a null message is the misuse under test; the ABI requires the plugin to
        // check it before reading. `out` is a live local.
        let status = unsafe { (self.handle)(instance, std::ptr::null(), len, &mut out) };
        Reply { status, bytes: self.take(out) }
    }

    /// `handle` with a null out pointer (misuse: the plugin must not write through it).
    pub fn handle_null_out(&self, instance: u64, message: &[u8]) -> i32 {
        // SAFETY: the message is a live slice; a null out pointer is allowed by the ABI.
        unsafe { (self.handle)(instance, message.as_ptr(), message.len(), std::ptr::null_mut()) }
    }

    /// `media(instance, frame)`, or `None` when the plugin has no media function.
    pub fn media(&self, instance: u64, frame: &SbMediaFrame) -> Option<i32> {
        let media = self.media?;
        // SAFETY: the frame and everything it points to are live for the call.
        Some(unsafe { media(instance, frame) })
    }

    /// `destroy(instance)`.
    pub fn destroy(&self, instance: u64) -> i32 {
        // SAFETY: any handle value is allowed by the ABI (unknown ones must be refused).
        unsafe { (self.destroy)(instance) }
    }
}
