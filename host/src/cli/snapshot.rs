//! `switchboard snapshot`: renders a layout to PNG without a call, through the same view
//! model as a live call. Used for docs and tests.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use switchboard_core::Config;
use switchboard_core::Mode;
use switchboard_core::abi::{self, SbBuffer, SbPluginEntry};
use switchboard_core::view::{View, ViewRequest};
use switchboard_core::wire::{HostEnvelope, HostMessage, PluginDescriptor, PluginReply};

use crate::render::snapshot::{SnapshotSpec, render_png, synthetic_request, view_for};

/// Arguments of `switchboard snapshot`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The config file; `[ui] layout` names the layout plugin.
    #[arg(long)]
    pub config: PathBuf,
    /// How many participants (Alice, the local user, then Bob, Carol, ...).
    #[arg(long)]
    pub participants: usize,
    /// The active speaker: a name in lower case (`bob`) or a number from 1.
    #[arg(long)]
    pub speaking: Option<String>,
    /// Participants whose video is off, comma separated.
    #[arg(long, value_delimiter = ',')]
    pub video_off: Vec<String>,
    /// Participants whose microphone is muted, comma separated.
    #[arg(long, value_delimiter = ',')]
    pub muted: Vec<String>,
    /// Overrides `[call] mode`: default, spotlight or single.
    #[arg(long, value_parser = parse_mode)]
    pub mode: Option<Mode>,
    /// Show the call as being recorded.
    #[arg(long)]
    pub recording: bool,
    /// Show the idle-timeout prompt with this many seconds left.
    #[arg(long)]
    pub idle: Option<u32>,
    /// Picture-in-picture.
    #[arg(long)]
    pub pip: bool,
    /// Image size, WIDTHxHEIGHT.
    #[arg(long, value_parser = parse_size, default_value = "960x540")]
    pub size: (u32, u32),
    /// Where to write the PNG.
    #[arg(long)]
    pub out: PathBuf,
}

fn parse_mode(s: &str) -> Result<Mode, String> {
    match s {
        "default" => Ok(Mode::Default),
        "spotlight" => Ok(Mode::Spotlight),
        "single" => Ok(Mode::Single),
        _ => Err(format!("unknown mode `{s}`, expected default, spotlight or single")),
    }
}

fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let err = || format!("`{s}` is not a size like 960x540");
    let (w, h) = s.split_once(['x', 'X']).ok_or_else(err)?;
    Ok((w.trim().parse().map_err(|_| err())?, h.trim().parse().map_err(|_| err())?))
}

/// Runs `switchboard snapshot`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.config)
        .with_context(|| format!("reading config {}", args.config.display()))?;
    let loaded = Config::from_toml_str(&text, &args.config.display().to_string())?;
    for warning in &loaded.warnings {
        eprintln!("warning: {warning}");
    }
    let config = loaded.config;
    let spec = SnapshotSpec {
        participants: args.participants,
        speaking: args.speaking,
        video_off: args.video_off,
        muted: args.muted,
        mode: args.mode,
        recording: args.recording,
        idle_seconds_left: args.idle,
        pip: args.pip,
        width: args.size.0,
        height: args.size.1,
    };
    let request = synthetic_request(&config, &spec)?;
    let config_dir = args.config.parent().unwrap_or(Path::new("."));
    let layout = load_layout_for_snapshot(&config, config_dir)
        .with_context(|| format!("loading layout plugin `{}`", config.ui.layout))?;
    let view = view_for(&request, &|req| layout.render(req))?;
    let png = render_png(&view)?;
    std::fs::write(&args.out, png).with_context(|| format!("writing {}", args.out.display()))?;
    println!("{}", args.out.display());
    Ok(())
}

// ---------------------------------------------------------------------------------------
// TEMPORARY: a minimal dlopen of the layout plugin, only for `switchboard snapshot`, so the
// snapshot renderer did not wait for the shared loader (host/src/loader.rs). At merge, the
// lead replaces `load_layout_for_snapshot` and `SnapshotLayout` with the shared loader;
// nothing else in this file or in `render` depends on how the plugin is loaded.
// ---------------------------------------------------------------------------------------

/// A layout plugin instance loaded for one snapshot. TEMPORARY, see above.
#[derive(Debug)]
pub struct SnapshotLayout {
    entry: *const SbPluginEntry,
    instance: u64,
    /// Kept last so the library outlives every use of `entry`.
    _library: libloading::Library,
}

/// Where a plugin named `name` may be: `[host] plugin_dirs` (relative to the config file),
/// then the folder of the running binary (a cargo build tree puts plugins there).
fn candidates(name: &str, config: &Config, config_dir: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = config.host.plugin_dirs.iter().map(|d| config_dir.join(d)).collect();
    if let Some(exe_dir) = std::env::current_exe().ok().and_then(|p| p.parent().map(Path::to_path_buf)) {
        dirs.push(exe_dir);
    }
    let files = [
        format!("{}{}{}", std::env::consts::DLL_PREFIX, name.replace('-', "_"), std::env::consts::DLL_SUFFIX),
        format!("{}{}{}", std::env::consts::DLL_PREFIX, name, std::env::consts::DLL_SUFFIX),
    ];
    dirs.iter().flat_map(|d| files.iter().map(move |f| d.join(f))).collect()
}

/// Finds, dlopens and creates the layout plugin named by `[ui] layout`. TEMPORARY, see above.
pub fn load_layout_for_snapshot(config: &Config, config_dir: &Path) -> anyhow::Result<SnapshotLayout> {
    let name = config.ui.layout.as_str();
    let tried = candidates(name, config, config_dir);
    let Some(path) = tried.iter().find(|p| p.is_file()) else {
        let list: Vec<String> = tried.iter().map(|p| p.display().to_string()).collect();
        bail!(
            "plugin `{name}` not found; looked for {} (build it with `cargo build -p {name}`)",
            list.join(", ")
        );
    };
    // SAFETY: loading a library runs its initialisers; plugins are Rust cdylibs built with
    // the SDK, which has none besides Rust's own.
    let library =
        unsafe { libloading::Library::new(path) }.with_context(|| format!("dlopen {}", path.display()))?;
    // SAFETY: the SDK exports the entry as a static `SbPluginEntry`; the symbol's address is
    // the struct's address. Only its first two fields are read before they are checked.
    let entry: *const SbPluginEntry = unsafe {
        let symbol = library
            .get::<*const SbPluginEntry>(abi::ENTRY_SYMBOL_C)
            .with_context(|| format!("{} has no `{}` symbol", path.display(), abi::ENTRY_SYMBOL))?;
        *symbol
    };
    // SAFETY: `entry` points into the loaded library, which `library` keeps mapped.
    let (version, size) = unsafe { ((*entry).abi_version, (*entry).struct_size) };
    if version != abi::ABI_VERSION {
        bail!("{} speaks plugin ABI {version}, this host speaks {}", path.display(), abi::ABI_VERSION);
    }
    if (size as usize) < std::mem::size_of::<SbPluginEntry>() {
        bail!(
            "{} has an entry struct of {size} bytes, expected at least {}",
            path.display(),
            std::mem::size_of::<SbPluginEntry>()
        );
    }
    let mut layout = SnapshotLayout { entry, instance: 0, _library: library };
    let descriptor: PluginDescriptor = {
        let mut out = SbBuffer::EMPTY;
        // SAFETY: the entry was checked above; `out` is a live local.
        let code = unsafe { ((*entry).describe)(abi::ABI_VERSION, &mut out) };
        let bytes = layout.take(out);
        if code != abi::status::OK {
            bail!("describe failed ({}): {}", abi::status::name(code), String::from_utf8_lossy(&bytes));
        }
        serde_json::from_slice(&bytes).context("decoding the plugin descriptor")?
    };
    if !descriptor.capabilities.contains(&switchboard_core::Capability::Layout) {
        bail!("plugin `{}` does not provide the `layout` capability", descriptor.id);
    }
    let settings = config
        .plugins
        .iter()
        .find(|p| p.name.as_deref() == Some(name))
        .map(|p| serde_json::to_string(&p.settings))
        .transpose()
        .context("encoding plugin settings")?
        .unwrap_or_else(|| "{}".to_owned());
    let mut instance = 0;
    let mut error = SbBuffer::EMPTY;
    // SAFETY: every pointer is a live local of the right type and length.
    let code = unsafe {
        ((*entry).create)(abi::ABI_VERSION, settings.as_ptr(), settings.len(), &mut instance, &mut error)
    };
    let message = layout.take(error);
    if code != abi::status::OK {
        bail!("create failed ({}): {}", abi::status::name(code), String::from_utf8_lossy(&message));
    }
    layout.instance = instance;
    Ok(layout)
}

impl SnapshotLayout {
    /// Copies a buffer the plugin returned and gives it back to the plugin.
    fn take(&self, buffer: SbBuffer) -> Vec<u8> {
        if buffer.ptr.is_null() {
            return Vec::new();
        }
        // SAFETY: the plugin just returned this buffer, valid for `len` bytes.
        let bytes = unsafe { std::slice::from_raw_parts(buffer.ptr, buffer.len) }.to_vec();
        // SAFETY: returned by this plugin, handed back once, unchanged.
        unsafe { ((*self.entry).free_buffer)(buffer) };
        bytes
    }

    /// Asks the plugin for the view of `request`.
    pub fn render(&self, request: &ViewRequest) -> anyhow::Result<View> {
        let message =
            serde_json::to_vec(&HostEnvelope::new(HostMessage::Render { request: request.clone() }))?;
        let mut out = SbBuffer::EMPTY;
        // SAFETY: the entry was checked on load; the pointers are live locals.
        let code =
            unsafe { ((*self.entry).handle)(self.instance, message.as_ptr(), message.len(), &mut out) };
        let bytes = self.take(out);
        if code != abi::status::OK {
            bail!("render failed ({}): {}", abi::status::name(code), String::from_utf8_lossy(&bytes));
        }
        let reply: PluginReply =
            if bytes.is_empty() { PluginReply::default() } else { serde_json::from_slice(&bytes)? };
        reply.view.context("the plugin answered a render request without a view (is it a layout?)")
    }
}

impl Drop for SnapshotLayout {
    fn drop(&mut self) {
        if self.instance != 0 {
            // SAFETY: the instance was created by this entry and is destroyed once, here.
            unsafe { ((*self.entry).destroy)(self.instance) };
        }
    }
}
