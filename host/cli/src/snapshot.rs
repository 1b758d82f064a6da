//! `switchboard snapshot`: renders a layout to PNG without a call, through the same view
//! model as a live call. Used for docs and tests.

use std::cell::RefCell;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use switchboard_config::Config;
use switchboard_core::view::{View, ViewRequest};
use switchboard_core::wire::HostMessage;
use switchboard_core::{Capability, Mode};

use switchboard_config::file as config_file;
use switchboard_runtime::instance::PluginHandle;
use switchboard_runtime::loader::{self, PluginSearch};
use switchboard_runtime::plugin::PluginInstance;

use switchboard_ui::render::snapshot::{SnapshotSpec, render_png, synthetic_request, view_for};

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
    let loaded = config_file::load(&args.config)?;
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
    let layout = RefCell::new(
        load_layout(&config).with_context(|| format!("loading layout plugin `{}`", config.ui.layout))?,
    );
    let view = view_for(&request, &|req| render(&mut layout.borrow_mut(), req).map_err(Into::into))?;
    let png = render_png(&view)?;
    std::fs::write(&args.out, png).with_context(|| format!("writing {}", args.out.display()))?;
    println!("{}", args.out.display());
    Ok(())
}

/// Loads and creates the plugin named by `[ui] layout`, with the settings of its
/// `[[plugin]]` table when the config has one, through the same loader as a live call.
fn load_layout(config: &Config) -> anyhow::Result<PluginInstance> {
    let name = &config.ui.layout;
    let search = PluginSearch::new(&config.host.plugin_dirs);
    let library = loader::load(&search.find(name)?)?;
    if !library.descriptor().capabilities.contains(&Capability::Layout) {
        bail!("plugin `{}` does not provide the `layout` capability", library.id());
    }
    let settings = config
        .plugins
        .iter()
        .find(|p| p.name.as_deref() == Some(name.as_str()))
        .map(|p| serde_json::to_value(&p.settings))
        .transpose()
        .context("encoding plugin settings")?
        .unwrap_or_else(|| serde_json::json!({}));
    Ok(PluginInstance::create(library, &settings)?)
}

fn render(layout: &mut PluginInstance, request: &ViewRequest) -> anyhow::Result<View> {
    let reply = layout.handle(HostMessage::Render { request: request.clone() })?;
    reply
        .view
        .ok_or_else(|| anyhow::anyhow!("plugin `{}` answered a render request with no view", layout.id()))
}
