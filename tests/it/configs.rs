//! The configs and scripts the project ships are valid: they load with no error and no
//! unknown-key warning, every plugin they name is found and accepts its settings, and every
//! script parses. A user copying one of them starts from something that works.

use std::path::{Path, PathBuf};

use switchboard_config::file as config_file;
use switchboard_config::script::Script;
use switchboard_runtime::loader::{self, PluginSearch};
use switchboard_runtime::plugin::PluginInstance;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace root").to_owned()
}

/// Every `*.toml` under these folders of the repository, sorted.
fn tomls(folders: &[&str]) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = folders
        .iter()
        .flat_map(|folder| std::fs::read_dir(root().join(folder)).expect("a shipped folder").flatten())
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    files.sort();
    files
}

fn is_script(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("script-"))
}

#[test]
fn shipped_configs_load_cleanly_and_their_plugins_accept_their_settings() {
    // scripts/test.sh builds the workspace first, so the plugins are in target/debug.
    let search = PluginSearch::only(vec![root().join("target/debug")]);
    // Plugins resolve relative paths in their settings (event-log's `path`) against the
    // working directory: keep what they create out of the repository.
    let scratch = tempfile::tempdir().expect("a scratch folder");
    std::env::set_current_dir(scratch.path()).expect("entering the scratch folder");
    let configs: Vec<PathBuf> =
        tomls(&["config", "config/demo", "docs/snapshots"]).into_iter().filter(|p| !is_script(p)).collect();
    assert!(configs.len() >= 5, "expected the default, demo and snapshot configs, found {configs:?}");
    for path in configs {
        let loaded = config_file::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(loaded.warnings.is_empty(), "{}: {:?}", path.display(), loaded.warnings);
        let specs = loader::load_configured(&loaded.config, &search)
            .unwrap_or_else(|e| panic!("{}: loading its plugins: {e}", path.display()));
        assert_eq!(specs.len(), loaded.config.plugins.len(), "{}", path.display());
        for spec in specs {
            let id = spec.library.id().to_owned();
            let instance = PluginInstance::create(spec.library, &spec.settings)
                .unwrap_or_else(|e| panic!("{}: plugin {id} refuses its settings: {e}", path.display()));
            instance.destroy().unwrap_or_else(|e| panic!("{}: destroying {id}: {e}", path.display()));
        }
    }
}

#[test]
fn shipped_scripts_parse() {
    let scripts: Vec<PathBuf> = tomls(&["config/demo"]).into_iter().filter(|p| is_script(p)).collect();
    assert!(!scripts.is_empty(), "the demo has scripts");
    for path in scripts {
        let text = std::fs::read_to_string(&path).expect("readable script");
        let script = Script::from_toml_str(&text, &path.display().to_string())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(!script.steps.is_empty(), "{}: no steps", path.display());
    }
}
