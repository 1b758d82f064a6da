//! Finds plugin libraries and turns a config's `[[plugin]]` tables into [`PluginSpec`]s.
//!
//! A plugin is found by name (`recording` is `librecording.so`, `layout-default` is
//! `liblayout_default.so`) in the configured folders, then in the folder of the running
//! executable and its parent, so that a cargo build tree works as it is (the `switchboard`
//! binary sits beside the plugins in `target/debug`; test binaries sit one level down, in
//! `target/debug/deps`).
//!
//! Opening a found file ([`load`]: dlopen, ABI handshake, `describe`) and the
//! [`PluginLibrary`] it yields live in the crate's private `library` module and are
//! re-exported here, so this stays the one public path for loading. This module uses only
//! that module and the one holding [`IsolationPolicy`]; it knows nothing of instances.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use switchboard_config::Config;

pub use crate::library::{LoadError, PluginLibrary, is_valid_id, load};
use crate::policy::IsolationPolicy;

/// The file name of the plugin called `name`: `layout-default` is `liblayout_default.so`
/// (cargo turns `-` into `_` in library names).
pub fn library_file_name(name: &str) -> String {
    format!("{}{}{}", std::env::consts::DLL_PREFIX, name.replace('-', "_"), std::env::consts::DLL_SUFFIX)
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
}
