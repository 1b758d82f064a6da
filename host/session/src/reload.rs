//! Config reload into a running bus: a new `[ui] layout`, or a plugin library file that
//! changed on disk, is hot-swapped with [`Bus::replace_plugin`] while the call goes on.
//!
//! `switchboard join` reloads on SIGHUP ([`reload_on_sighup`]). A library is never unloaded
//! (see the loader), and `dlopen` of a path already open returns the library already in
//! memory, so a changed file is first copied to a fresh path and loaded from there.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use switchboard_config::Config;
use switchboard_core::Event;
use switchboard_core::model::{CallsException, ErrorCode};

use switchboard_config::file::{self as config_file, ConfigFileError};
use switchboard_runtime::bus::{Bus, SwapError};
use switchboard_runtime::loader::{self, LoadError, PluginSearch, PluginSpec};

/// Why a reload did not (fully) happen. The bus keeps running with what it had.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The new config does not parse or validate.
    #[error(transparent)]
    Config(#[from] ConfigFileError),
    /// A plugin of the new config could not be loaded.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The new layout is not among the new config's `[[plugin]]` tables.
    #[error("`[ui] layout` names `{layout}`, which the reloaded config does not load as a [[plugin]]")]
    LayoutNotLoaded {
        /// The layout asked for.
        layout: String,
    },
    /// Copying a changed library to a fresh path failed.
    #[error("copying the changed library {from} to {to}: {source}")]
    Copy {
        /// The changed file.
        from: PathBuf,
        /// Where it was copied.
        to: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The swap itself was refused.
    #[error(transparent)]
    Swap(#[from] SwapError),
}

/// What a reloader remembers between reloads: the layout in use and the modification time
/// of each plugin's library file.
#[derive(Debug, Clone)]
pub struct Reloader {
    config_path: PathBuf,
    layout: String,
    mtimes: BTreeMap<String, (PathBuf, Option<SystemTime>)>,
}

fn mtime(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl Reloader {
    /// A reloader for the bus started from `config` (read from `config_path`).
    pub fn new(config_path: PathBuf, config: &Config) -> Self {
        let search = PluginSearch::new(&config.host.plugin_dirs);
        let mut mtimes = BTreeMap::new();
        for entry in &config.plugins {
            let path = match (&entry.name, &entry.path) {
                (Some(name), _) => search.find(name).ok(),
                (None, Some(path)) => Some(path.clone()),
                (None, None) => None,
            };
            if let (Some(id), Some(path)) = (entry.name.clone(), path) {
                let time = mtime(&path);
                mtimes.insert(id, (path, time));
            }
        }
        Self { config_path, layout: config.ui.layout.clone(), mtimes }
    }

    /// Reads the config file again and swaps what changed: the layout plugin when `[ui]
    /// layout` names another one, and every plugin whose library file is newer than when it
    /// was loaded. Returns one line per swap.
    pub async fn reload(&mut self, bus: &Bus) -> Result<Vec<String>, ReloadError> {
        let loaded = config_file::load(&self.config_path)?;
        let config = loaded.config;
        let search = PluginSearch::new(&config.host.plugin_dirs);
        let specs = loader::load_configured(&config, &search)?;
        let mut done = Vec::new();
        if config.ui.layout != self.layout {
            let Some(spec) = specs.iter().find(|s| s.library.id() == config.ui.layout) else {
                return Err(ReloadError::LayoutNotLoaded { layout: config.ui.layout.clone() });
            };
            bus.replace_plugin(&self.layout, spec.clone()).await?;
            done.push(format!("layout `{}` replaced by `{}`", self.layout, config.ui.layout));
            self.layout = config.ui.layout.clone();
        }
        let running: Vec<String> = bus.plugins().into_iter().map(|p| p.descriptor.id).collect();
        for spec in &specs {
            let id = spec.library.id().to_owned();
            if !running.contains(&id) {
                continue;
            }
            let Some((path, before)) = self.mtimes.get(&id).cloned() else { continue };
            let now = mtime(&path);
            if now.is_none() || now == before {
                continue;
            }
            let fresh = fresh_copy(&path)?;
            let library = loader::load(&fresh)?;
            let replacement = PluginSpec { library, ..spec.clone() };
            bus.replace_plugin(&id, replacement).await?;
            self.mtimes.insert(id.clone(), (path.clone(), now));
            done.push(format!(
                "plugin `{id}` reloaded from {} (copied to {})",
                path.display(),
                fresh.display()
            ));
        }
        Ok(done)
    }
}

/// Copies a library to a path no library was loaded from in this process.
fn fresh_copy(path: &Path) -> Result<PathBuf, ReloadError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("switchboard-reload-{}-{n}", std::process::id()));
    let to = dir.join(path.file_name().unwrap_or(path.as_os_str()));
    std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::copy(path, &to).map(|_| ()))
        .map_err(|source| ReloadError::Copy { from: path.to_owned(), to: to.clone(), source })?;
    Ok(to)
}

/// Reloads the config at `config_path` into `bus` each time the process gets SIGHUP, until
/// the executor stops. A failed reload publishes an `error` event and keeps the bus as
/// it was. Must run inside the bus's executor (`switchboard_runtime::exec`).
pub fn reload_on_sighup(bus: Bus, config_path: PathBuf, config: &Config) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut reloader = Reloader::new(config_path, config);
    let mut hangups = match signal(SignalKind::hangup()) {
        Ok(stream) => stream,
        Err(e) => {
            tracing::warn!("SIGHUP reload is off: {e}");
            return;
        }
    };
    switchboard_runtime::exec::spawn(async move {
        while hangups.recv().await.is_some() {
            match reloader.reload(&bus).await {
                Ok(done) if done.is_empty() => tracing::info!("config reloaded: nothing to swap"),
                Ok(done) => {
                    for line in done {
                        tracing::info!("config reloaded: {line}");
                    }
                }
                Err(e) => {
                    tracing::error!("reloading the config: {e}");
                    let exception = CallsException::new(
                        ErrorCode::PluginLoadFailed,
                        format!("reloading the config: {e}"),
                    );
                    bus.publish(Event::error(&exception));
                }
            }
        }
    });
}
