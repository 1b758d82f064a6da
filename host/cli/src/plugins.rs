//! `switchboard plugins`: list and inspect plugin libraries.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde_json::json;
use switchboard_core::abi::ABI_VERSION;

use switchboard_config::file as config_file;
use switchboard_runtime::loader::{self, LoadError, PluginLibrary, PluginSearch};

/// Arguments of `switchboard plugins`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: PluginsCommand,
}

#[derive(Debug, clap::Subcommand)]
enum PluginsCommand {
    /// List the plugins found in the plugin folders (the config's `host.plugin_dirs`, each
    /// `--dir`, then the folder of this binary and its parent). Broken libraries are listed
    /// with their error.
    List {
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
        /// A config file whose `host.plugin_dirs` and `[[plugin]] path`s are searched too.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Another folder to search (repeatable).
        #[arg(long = "dir")]
        dirs: Vec<PathBuf>,
    },
    /// Load one plugin library and show what it declares.
    Inspect {
        /// The library file.
        path: PathBuf,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `switchboard plugins`.
pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        PluginsCommand::List { json, config, dirs } => list(json, config.as_deref(), dirs),
        PluginsCommand::Inspect { path, json } => inspect(&path, json),
    }
}

fn list(as_json: bool, config: Option<&Path>, extra_dirs: Vec<PathBuf>) -> anyhow::Result<()> {
    let mut dirs = Vec::new();
    let mut files = Vec::new();
    if let Some(config) = config {
        let loaded = config_file::load(config)?;
        dirs.extend(loaded.config.host.plugin_dirs.iter().cloned());
        files.extend(loaded.config.plugins.iter().filter_map(|p| p.path.clone()));
    }
    dirs.extend(extra_dirs);
    let search = PluginSearch::new(&dirs);
    for file in search.candidates() {
        if !files.contains(&file) {
            files.push(file);
        }
    }
    let results: Vec<(PathBuf, Result<std::sync::Arc<PluginLibrary>, LoadError>)> =
        files.into_iter().map(|path| (path.clone(), loader::load(&path))).collect();

    if as_json {
        let items: Vec<serde_json::Value> = results
            .iter()
            .map(|(path, result)| match result {
                Ok(library) => describe_json(library),
                Err(e) => json!({ "path": path, "error": e.to_string() }),
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&items).context("encoding the listing")?);
        return Ok(());
    }

    if results.is_empty() {
        let searched: Vec<String> = search.dirs().iter().map(|d| d.display().to_string()).collect();
        println!("no plugin libraries found in {}", searched.join(", "));
        return Ok(());
    }
    let rows: Vec<[String; 7]> = results
        .iter()
        .filter_map(|(_, result)| result.as_ref().ok())
        .map(|library| {
            let d = library.descriptor();
            let caps: Vec<&str> = d.capabilities.iter().map(|c| c.as_str()).collect();
            [
                d.id.clone(),
                d.name.clone(),
                d.version.clone(),
                d.kind.to_string(),
                if caps.is_empty() { "-".to_owned() } else { caps.join(",") },
                d.abi_version.to_string(),
                library.path().display().to_string(),
            ]
        })
        .collect();
    let header = ["ID", "NAME", "VERSION", "KIND", "CAPABILITIES", "ABI", "PATH"].map(str::to_owned);
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = row.iter().zip(widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        println!("{}", line.join("  ").trim_end());
    }
    for (_, result) in &results {
        if let Err(e) = result {
            println!("broken: {e}");
        }
    }
    Ok(())
}

fn describe_json(library: &PluginLibrary) -> serde_json::Value {
    let d = library.descriptor();
    json!({
        "path": library.path(),
        "id": d.id,
        "name": d.name,
        "version": d.version,
        "kind": d.kind,
        "description": d.description,
        "capabilities": d.capabilities,
        "subscriptions": d.subscriptions,
        "wants_media": d.wants_media,
        "abi_version": d.abi_version,
        "wire_version": d.v,
    })
}

fn inspect(path: &Path, as_json: bool) -> anyhow::Result<()> {
    // The error names the file and, for an ABI mismatch, both versions.
    let library = loader::load(path)?;
    if as_json {
        let text =
            serde_json::to_string_pretty(&describe_json(&library)).context("encoding the description")?;
        println!("{text}");
        return Ok(());
    }
    let d = library.descriptor();
    let list = |items: Vec<&str>| if items.is_empty() { "-".to_owned() } else { items.join(", ") };
    println!("id:            {}", d.id);
    println!("name:          {}", d.name);
    println!("version:       {}", d.version);
    println!("kind:          {}", d.kind);
    if !d.description.is_empty() {
        println!("description:   {}", d.description);
    }
    println!("capabilities:  {}", list(d.capabilities.iter().map(|c| c.as_str()).collect()));
    println!("subscriptions: {}", list(d.subscriptions.iter().map(|k| k.as_str()).collect()));
    println!("wants media:   {}", if d.wants_media { "yes" } else { "no" });
    println!("ABI version:   {} (this host: {ABI_VERSION})", d.abi_version);
    println!("path:          {}", library.path().display());
    Ok(())
}
