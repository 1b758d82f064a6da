//! One plugin library at the ABI boundary: dlopen, the ABI handshake, the checked entry
//! points ([`PluginLibrary`]), and the rule for buffers a plugin hands back
//! (`take_buffer`: whoever allocates frees).
//!
//! Loading is a handshake: the entry symbol's first two fields (ABI version, struct size)
//! are read and checked before anything else in the library is touched, then `describe`
//! says what the plugin is. Libraries are never unloaded.
//!
//! This is the bottom of the crate: it uses no other module of it. Finding a library by
//! name is [`crate::loader`]'s job (which re-exports this module's public items); calling
//! an instance is [`crate::plugin`]'s and [`crate::isolation`]'s.

use std::ffi::c_void;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use libloading::os::unix::{Library, RTLD_LOCAL, RTLD_NOW};
use switchboard_core::abi::{
    ABI_VERSION, CreateFn, DestroyFn, ENTRY_SYMBOL, ENTRY_SYMBOL_C, FreeBufferFn, HandleFn, MediaFn,
    RawPluginEntry, SbBuffer, SbPluginEntry, status,
};
use switchboard_core::wire::PluginDescriptor;

/// Why a plugin could not be found or loaded. Every variant says which plugin or file.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// No file for this name in any searched folder.
    #[error("plugin `{name}` not found: looked for {file} in {}", display_dirs(searched))]
    NotFound {
        /// The name asked for.
        name: String,
        /// The file name looked for.
        file: String,
        /// The folders searched, in order.
        searched: Vec<PathBuf>,
    },
    /// The name cannot be a plugin id.
    #[error("`{name}` is not a valid plugin name: use lowercase letters, digits and `-`")]
    InvalidName {
        /// The name.
        name: String,
    },
    /// `dlopen` failed.
    #[error("{}: cannot open library: {source}", path.display())]
    Open {
        /// The library.
        path: PathBuf,
        /// What `dlopen` said.
        source: libloading::Error,
    },
    /// The library has no entry symbol: it is not a Switchboard plugin.
    #[error("{}: not a switchboard plugin (no `{ENTRY_SYMBOL}` symbol): {source}", path.display())]
    NoEntry {
        /// The library.
        path: PathBuf,
        /// What `dlsym` said.
        source: libloading::Error,
    },
    /// The plugin was built for another ABI version.
    #[error("{}: plugin declares ABI version {found}, this host supports {expected}", path.display())]
    AbiMismatch {
        /// The library.
        path: PathBuf,
        /// The version the plugin declares.
        found: u32,
        /// The version this host speaks.
        expected: u32,
    },
    /// The entry struct is smaller than ABI v1's.
    #[error("{}: entry struct is {found} bytes, ABI version {ABI_VERSION} needs at least {expected}", path.display())]
    EntryTooSmall {
        /// The library.
        path: PathBuf,
        /// The size the plugin declares.
        found: u32,
        /// The size this host needs.
        expected: usize,
    },
    /// A required function pointer of the entry struct is null.
    #[error("{}: entry function `{field}` is null", path.display())]
    NullFunction {
        /// The library.
        path: PathBuf,
        /// Which field.
        field: &'static str,
    },
    /// `describe` returned an error status.
    #[error("{}: describe failed with status {status} ({}): {message}", path.display(), status::name(*status))]
    Describe {
        /// The library.
        path: PathBuf,
        /// The status.
        status: i32,
        /// The plugin's message.
        message: String,
    },
    /// The descriptor is not valid.
    #[error("{}: invalid descriptor: {message}", path.display())]
    BadDescriptor {
        /// The library.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The library found for a name describes a plugin with another id.
    #[error("{}: found for plugin name `{name}` but its id is `{id}`", path.display())]
    IdMismatch {
        /// The library.
        path: PathBuf,
        /// The name the config asked for.
        name: String,
        /// The id the plugin declares.
        id: String,
    },
    /// The plugin's settings could not be converted to JSON.
    #[error("plugin `{plugin}`: settings cannot be handed over as JSON: {source}")]
    Settings {
        /// The plugin.
        plugin: String,
        /// Why.
        source: serde_json::Error,
    },
}

fn display_dirs(dirs: &[PathBuf]) -> String {
    if dirs.is_empty() {
        return "no folder".to_owned();
    }
    dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")
}

/// The entry points of a loaded library, copied out of its entry struct after the checks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Entry {
    pub(crate) create: CreateFn,
    pub(crate) handle: HandleFn,
    pub(crate) media: Option<MediaFn>,
    pub(crate) destroy: DestroyFn,
    pub(crate) free_buffer: FreeBufferFn,
}

/// A loaded, checked plugin library. Cheap to share (`Arc`); the library stays mapped for
/// the life of the process.
#[derive(Debug)]
pub struct PluginLibrary {
    path: PathBuf,
    descriptor: PluginDescriptor,
    pub(crate) entry: Entry,
}

impl PluginLibrary {
    /// The file it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the plugin says it is.
    pub fn descriptor(&self) -> &PluginDescriptor {
        &self.descriptor
    }

    /// The plugin's id.
    pub fn id(&self) -> &str {
        &self.descriptor.id
    }
}

/// True for a valid plugin id: `[a-z0-9-]+`.
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Loads the plugin library at `path`: dlopen, ABI handshake, `describe`.
pub fn load(path: &Path) -> Result<Arc<PluginLibrary>, LoadError> {
    let path = path.to_owned();
    // SAFETY: dlopen runs the library's initialisers. Plugins are trusted code chosen by the
    // config (as any shared library a program links); RTLD_NOW resolves every symbol now, so
    // a missing dependency fails here instead of at a random later call, and RTLD_LOCAL
    // keeps each plugin's symbols (its own copy of std and switchboard-core) to itself.
    let library = unsafe { Library::open(Some(&path), RTLD_NOW | RTLD_LOCAL) }
        .map_err(|source| LoadError::Open { path: path.clone(), source })?;
    // The library is never unloaded: plugin code may have spawned threads or registered
    // thread-local destructors, and buffers or function pointers it handed out may still be
    // referenced; unloading would turn any of those into a jump into unmapped memory. A
    // plugin is loaded once per process, so the leak is bounded.
    let library: &'static Library = Box::leak(Box::new(library));

    // SAFETY: we only take the symbol's address here; it is read below as the header of an
    // `SbPluginEntry`, the type the ABI defines for this symbol.
    let symbol = unsafe { library.get::<*const c_void>(ENTRY_SYMBOL_C) }
        .map_err(|source| LoadError::NoEntry { path: path.clone(), source })?;
    let entry_ptr = symbol.into_raw().cast_const().cast::<u8>();

    // SAFETY: every ABI version starts the entry struct with two u32s (version, size), so
    // reading those 8 bytes is valid whatever version the plugin was built for. Unaligned
    // reads make no assumption about how the plugin aligned its static.
    let (abi_version, struct_size) = unsafe {
        (entry_ptr.cast::<u32>().read_unaligned(), entry_ptr.add(4).cast::<u32>().read_unaligned())
    };
    if abi_version != ABI_VERSION {
        return Err(LoadError::AbiMismatch { path, found: abi_version, expected: ABI_VERSION });
    }
    if (struct_size as usize) < std::mem::size_of::<SbPluginEntry>() {
        return Err(LoadError::EntryTooSmall {
            path,
            found: struct_size,
            expected: std::mem::size_of::<SbPluginEntry>(),
        });
    }
    if !entry_ptr.cast::<RawPluginEntry>().is_aligned() {
        return Err(LoadError::BadDescriptor { path, message: "entry struct is misaligned".to_owned() });
    }
    // SAFETY: the plugin declares ABI v1 and a struct at least as large as v1's, so the
    // symbol is a v1 `SbPluginEntry` (checked aligned above), which `RawPluginEntry` mirrors with
    // nullable function pointers. The library is leaked, so the static lives forever.
    let raw: &'static RawPluginEntry = unsafe { &*entry_ptr.cast::<RawPluginEntry>() };
    let null = |field| LoadError::NullFunction { path: path.clone(), field };
    let describe = raw.describe.ok_or_else(|| null("describe"))?;
    let entry = Entry {
        create: raw.create.ok_or_else(|| null("create"))?,
        handle: raw.handle.ok_or_else(|| null("handle"))?,
        media: raw.media,
        destroy: raw.destroy.ok_or_else(|| null("destroy"))?,
        free_buffer: raw.free_buffer.ok_or_else(|| null("free_buffer"))?,
    };

    let mut out = SbBuffer::EMPTY;
    // SAFETY: `describe` is the plugin's checked v1 function; `out` is a live local.
    let code = unsafe { describe(ABI_VERSION, &mut out) };
    // SAFETY: `out` was just filled by this plugin and is given back to it exactly once.
    let bytes = unsafe { take_buffer(entry.free_buffer, out) };
    if code != status::OK {
        return Err(LoadError::Describe {
            path,
            status: code,
            message: String::from_utf8_lossy(&bytes).into_owned(),
        });
    }
    let descriptor: PluginDescriptor = serde_json::from_slice(&bytes)
        .map_err(|e| LoadError::BadDescriptor { path: path.clone(), message: e.to_string() })?;
    check_descriptor(&descriptor, entry.media.is_some())
        .map_err(|message| LoadError::BadDescriptor { path: path.clone(), message })?;
    tracing::debug!(plugin = %descriptor.id, path = %path.display(), "loaded plugin library");
    Ok(Arc::new(PluginLibrary { path, descriptor, entry }))
}

fn check_descriptor(d: &PluginDescriptor, has_media: bool) -> Result<(), String> {
    if d.abi_version != ABI_VERSION {
        return Err(format!(
            "descriptor declares ABI version {}, entry struct declares {ABI_VERSION}",
            d.abi_version
        ));
    }
    if !is_valid_id(&d.id) {
        return Err(format!("id `{}` is not `[a-z0-9-]+`", d.id));
    }
    if let Err(e) = semver::Version::parse(&d.version) {
        return Err(format!("version `{}` is not semver: {e}", d.version));
    }
    if d.wants_media && !has_media {
        return Err("wants media but exports no media function".to_owned());
    }
    Ok(())
}

/// Copies a buffer the plugin returned and gives it back to the plugin.
///
/// # Safety
/// `buffer` was returned by the plugin whose `free_buffer` is `free`, is unchanged, and is
/// not used again.
pub(crate) unsafe fn take_buffer(free: FreeBufferFn, buffer: SbBuffer) -> Vec<u8> {
    // SAFETY: forwarded from the caller.
    unsafe { with_buffer(free, buffer, <[u8]>::to_vec) }
}

/// Runs `f` on the bytes of a plugin buffer, then gives the buffer back to the plugin (also
/// when `f` panics), so replies can be decoded in place without a copy.
///
/// # Safety
/// As for [`take_buffer`].
pub(crate) unsafe fn with_buffer<R>(free: FreeBufferFn, buffer: SbBuffer, f: impl FnOnce(&[u8]) -> R) -> R {
    struct Guard {
        free: FreeBufferFn,
        buffer: Option<SbBuffer>,
    }
    impl Drop for Guard {
        fn drop(&mut self) {
            if let Some(buffer) = self.buffer.take() {
                // SAFETY: the caller of `with_buffer` guarantees the buffer belongs to this
                // plugin and is given back once; `take` makes this the only give-back.
                unsafe { (self.free)(buffer) };
            }
        }
    }
    let bytes: &[u8] = if buffer.ptr.is_null() || buffer.len == 0 {
        &[]
    } else {
        // SAFETY: the plugin guarantees `ptr` is valid for `len` bytes until freed, and the
        // guard frees it only after `f` returns.
        unsafe { std::slice::from_raw_parts(buffer.ptr, buffer.len) }
    };
    let guard = Guard { free, buffer: Some(buffer) };
    let result = f(bytes);
    drop(guard);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_that_is_not_a_library_fails_to_open_with_its_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("libjunk.so");
        std::fs::write(&path, b"not an elf file").expect("write");
        let err = load(&path).expect_err("junk");
        assert!(matches!(err, LoadError::Open { .. }), "{err}");
        assert!(err.to_string().contains("libjunk.so"), "{err}");
    }
}
