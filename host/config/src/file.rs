//! Reads config files from disk into [`Loaded`].
//!
//! Parsing itself is pure and lives in `switchboard-core`; this module adds the IO and the
//! one thing that depends on where the file is: relative paths in `host.plugin_dirs` and in
//! a `[[plugin]]`'s `path` are resolved against the folder of the config file, so a config
//! works the same whatever the current directory is.

use std::path::{Path, PathBuf};

use crate::{Config, ConfigError, Loaded};

/// Why a config file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    /// The file could not be read.
    #[error("reading config file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
    /// The file was read but is not a valid config; the error says `file:line:col`.
    #[error(transparent)]
    Invalid(#[from] ConfigError),
}

/// Reads and parses the config file at `path`. Errors and warnings name the file as given.
pub fn load(path: &Path) -> Result<Loaded, ConfigFileError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| ConfigFileError::Read { path: path.to_owned(), source })?;
    parse(&text, path)
}

/// Parses config text as if it had been read from `path` (for tests and for configs that
/// do not live in a file: relative paths then resolve against `path`'s folder all the same).
pub fn parse(text: &str, path: &Path) -> Result<Loaded, ConfigFileError> {
    let mut loaded = Config::from_toml_str(text, &path.display().to_string())?;
    resolve_paths(&mut loaded.config, &base_dir(path));
    Ok(loaded)
}

/// The folder relative paths in the config at `path` are relative to.
pub fn base_dir(path: &Path) -> PathBuf {
    match path.parent() {
        // `Path::new("config.toml").parent()` is `Some("")`: the current directory.
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// Makes `host.plugin_dirs` and every `[[plugin]] path` absolute-or-relative-to-`base`.
pub fn resolve_paths(config: &mut Config, base: &Path) {
    for dir in &mut config.host.plugin_dirs {
        *dir = resolve(base, dir);
    }
    for plugin in &mut config.plugins {
        if let Some(path) = plugin.path.as_mut() {
            *path = resolve(base, path);
        }
    }
}

fn resolve(base: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() { path.to_owned() } else { base.join(path) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_resolve_against_the_config_folder() {
        let text = r#"
            [host]
            plugin_dirs = ["plugins", "/opt/sb"]
            [[plugin]]
            path = "lib/libx.so"
            [[plugin]]
            name = "recording"
        "#;
        let loaded = parse(text, Path::new("/etc/switchboard/call.toml")).expect("valid config");
        assert_eq!(
            loaded.config.host.plugin_dirs,
            vec![PathBuf::from("/etc/switchboard/plugins"), PathBuf::from("/opt/sb")]
        );
        assert_eq!(loaded.config.plugins[0].path, Some(PathBuf::from("/etc/switchboard/lib/libx.so")));
        assert_eq!(loaded.config.plugins[1].path, None);
    }

    #[test]
    fn a_bare_file_name_resolves_against_the_current_directory() {
        let loaded = parse("[host]\nplugin_dirs = [\"p\"]\n", Path::new("call.toml")).expect("valid config");
        assert_eq!(loaded.config.host.plugin_dirs, vec![PathBuf::from("./p")]);
    }

    #[test]
    fn a_missing_file_names_the_path() {
        let err = load(Path::new("/nonexistent/switchboard.toml")).expect_err("no such file");
        assert!(err.to_string().contains("/nonexistent/switchboard.toml"), "{err}");
    }

    #[test]
    fn errors_carry_the_file_name() {
        let err = parse("[call]\nmode = 3\n", Path::new("x/call.toml")).expect_err("wrong type");
        assert!(err.to_string().starts_with("x/call.toml:2:"), "{err}");
    }
}
