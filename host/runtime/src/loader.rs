//! Finds and dlopens plugin libraries and checks their ABI.
//!
//! A plugin is found by name (`recording` is `librecording.so`, `layout-default` is
//! `liblayout_default.so`) in the configured folders, then in the folder of the running
//! executable and its parent, so that a cargo build tree works as it is (the `switchboard`
//! binary sits beside the plugins in `target/debug`; test binaries sit one level down, in
//! `target/debug/deps`).
//!
//! Loading is a handshake: the entry symbol's first two fields (ABI version, struct size)
//! are read and checked before anything else in the library is touched, then `describe`
//! says what the plugin is. Libraries are never unloaded.

use std::ffi::c_void;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use libloading::os::unix::{Library, RTLD_LOCAL, RTLD_NOW};
use switchboard_config::Config;
use switchboard_core::abi::{
    ABI_VERSION, CreateFn, DestroyFn, ENTRY_SYMBOL, ENTRY_SYMBOL_C, FreeBufferFn, HandleFn, MediaFn,
    RawPluginEntry, SbBuffer, SbPluginEntry, status,
};
use switchboard_core::wire::PluginDescriptor;

use crate::isolation::IsolationPolicy;

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

/// The file name of the plugin called `name`: `layout-default` is `liblayout_default.so`
/// (cargo turns `-` into `_` in library names).
pub fn library_file_name(name: &str) -> String {
    format!("{}{}{}", std::env::consts::DLL_PREFIX, name.replace('-', "_"), std::env::consts::DLL_SUFFIX)
}

/// True for a valid plugin id: `[a-z0-9-]+`.
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Where plugins are looked for, in order.
#[derive(Debug, Clone, Default)]
pub struct PluginSearch {
    dirs: Vec<PathBuf>,
}

impl PluginSearch {
    /// The configured folders, then the folder of the running executable and its parent.
    pub fn new(configured: &[PathBuf]) -> Self {
        let mut search = Self::only(configured.to_vec());
        for dir in executable_dirs() {
            search.push(dir);
        }
        search
    }

    /// Exactly these folders.
    pub fn only(dirs: Vec<PathBuf>) -> Self {
        let mut search = Self::default();
        for dir in dirs {
            search.push(dir);
        }
        search
    }

    fn push(&mut self, dir: PathBuf) {
        if !self.dirs.contains(&dir) {
            self.dirs.push(dir);
        }
    }

    /// The folders, in search order.
    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// The path of the plugin called `name`: the first folder that has its file wins.
    pub fn find(&self, name: &str) -> Result<PathBuf, LoadError> {
        if !is_valid_id(name) {
            return Err(LoadError::InvalidName { name: name.to_owned() });
        }
        let file = library_file_name(name);
        self.dirs
            .iter()
            .map(|dir| dir.join(&file))
            .find(|path| path.is_file())
            .ok_or_else(|| LoadError::NotFound { name: name.to_owned(), file, searched: self.dirs.clone() })
    }

    /// Every file in the search folders that looks like a shared library (`lib*.so`), in
    /// search order and by name within a folder. Unreadable folders are skipped: a listing
    /// shows what is there.
    pub fn candidates(&self) -> Vec<PathBuf> {
        let mut found: Vec<PathBuf> = Vec::new();
        for dir in &self.dirs {
            let Ok(entries) = std::fs::read_dir(dir) else { continue };
            let mut here: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_file() && looks_like_library(p))
                .collect();
            here.sort();
            for path in here {
                let canonical = path.canonicalize().unwrap_or_else(|_| path.clone());
                if !found.iter().any(|f| f.canonicalize().unwrap_or_else(|_| f.clone()) == canonical) {
                    found.push(path);
                }
            }
        }
        found
    }
}

fn looks_like_library(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else { return false };
    name.starts_with(std::env::consts::DLL_PREFIX) && name.ends_with(std::env::consts::DLL_SUFFIX)
}

/// The folder of the running executable and its parent.
fn executable_dirs() -> Vec<PathBuf> {
    let Ok(exe) = std::env::current_exe() else { return Vec::new() };
    let mut dirs = Vec::new();
    if let Some(dir) = exe.parent() {
        dirs.push(dir.to_owned());
        if let Some(parent) = dir.parent() {
            dirs.push(parent.to_owned());
        }
    }
    dirs
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
    let bytes = unsafe { crate::plugin::take_buffer(entry.free_buffer, out) };
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

/// A plugin to start: its library, its `[plugin.settings]` as JSON, and how it runs.
#[derive(Debug, Clone)]
pub struct PluginSpec {
    /// The loaded library.
    pub library: Arc<PluginLibrary>,
    /// The settings handed to `create`, a JSON object.
    pub settings: serde_json::Value,
    /// In process or out of process, and the crash policy.
    pub isolation: IsolationPolicy,
}

impl PluginSpec {
    /// An in-process plugin with `settings`.
    pub fn new(library: Arc<PluginLibrary>, settings: serde_json::Value) -> Self {
        Self { library, settings, isolation: IsolationPolicy::default() }
    }

    /// The same plugin with another isolation policy.
    pub fn with_isolation(self, isolation: IsolationPolicy) -> Self {
        Self { isolation, ..self }
    }
}

/// Loads every `[[plugin]]` of a config, in order. The first failure stops: nothing starts
/// with a plugin missing.
pub fn load_configured(config: &Config, search: &PluginSearch) -> Result<Vec<PluginSpec>, LoadError> {
    let mut specs = Vec::with_capacity(config.plugins.len());
    for entry in &config.plugins {
        let label = entry
            .name
            .clone()
            .or_else(|| entry.path.as_ref().map(|p| p.display().to_string()))
            .unwrap_or_default();
        let library = match (&entry.name, &entry.path) {
            (Some(name), _) => {
                let library = load(&search.find(name)?)?;
                if library.id() != name {
                    return Err(LoadError::IdMismatch {
                        path: library.path().to_owned(),
                        name: name.clone(),
                        id: library.id().to_owned(),
                    });
                }
                library
            }
            (None, Some(path)) => load(path)?,
            // The config parser rejects a [[plugin]] with neither.
            (None, None) => return Err(LoadError::InvalidName { name: String::new() }),
        };
        let settings = serde_json::to_value(&entry.settings)
            .map_err(|source| LoadError::Settings { plugin: label, source })?;
        specs.push(PluginSpec { library, settings, isolation: IsolationPolicy::from_entry(entry) });
    }
    Ok(specs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_follow_cargo() {
        assert_eq!(library_file_name("recording"), "librecording.so");
        assert_eq!(library_file_name("layout-default"), "liblayout_default.so");
    }

    #[test]
    fn names_are_checked_before_touching_the_disk() {
        let search = PluginSearch::only(vec![PathBuf::from("/tmp")]);
        assert!(matches!(search.find("../etc/x"), Err(LoadError::InvalidName { .. })));
        assert!(matches!(search.find(""), Err(LoadError::InvalidName { .. })));
    }

    #[test]
    fn not_found_lists_the_folders() {
        let dir = tempfile::tempdir().expect("tempdir");
        let search = PluginSearch::only(vec![dir.path().to_owned()]);
        let err = search.find("nope").expect_err("missing");
        let text = err.to_string();
        assert!(text.contains("libnope.so") && text.contains(&dir.path().display().to_string()), "{text}");
    }

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
