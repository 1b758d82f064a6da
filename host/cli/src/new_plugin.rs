//! `switchboard new-plugin NAME`: writes a new plugin crate from the template in
//! templates/plugin (embedded in the binary), ready to build, load and pass conformance.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

/// Arguments of `switchboard new-plugin`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The plugin's id and crate name: lowercase letters, digits and dashes, starting with
    /// a letter.
    pub name: String,
    /// Where to create the crate (default: ./NAME).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// The switchboard-core crate to depend on (default: the one this binary was built from).
    #[arg(long, value_name = "PATH")]
    pub core_path: Option<PathBuf>,
}

/// The template's files: (path in the new crate, contents with `{{...}}` placeholders).
const TEMPLATE: &[(&str, &str)] = &[
    ("Cargo.toml", include_str!("../../../templates/plugin/Cargo.toml.tmpl")),
    ("src/lib.rs", include_str!("../../../templates/plugin/src/lib.rs.tmpl")),
    (".gitignore", include_str!("../../../templates/plugin/gitignore.tmpl")),
];

/// True for a name usable as plugin id and crate name.
pub fn valid_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// `my-plugin` -> `MyPlugin`.
fn struct_name(name: &str) -> String {
    name.split('-')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect()
}

/// The core crate next to this binary's source tree, when it is still there.
fn default_core_path() -> anyhow::Result<PathBuf> {
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../core");
    built_from.canonicalize().with_context(|| {
        format!(
            "switchboard-core is not at {} (where this binary was built from); pass --core-path",
            built_from.display()
        )
    })
}

/// Fills the placeholders of one template file.
fn render(template: &str, name: &str, core_path: &Path) -> String {
    template
        .replace("{{name}}", name)
        .replace("{{struct_name}}", &struct_name(name))
        .replace("{{lib_name}}", &name.replace('-', "_"))
        .replace("{{core_path}}", &core_path.display().to_string())
}

/// Runs `switchboard new-plugin`.
pub fn run(args: Args) -> anyhow::Result<()> {
    if !valid_name(&args.name) {
        bail!(
            "plugin name {:?} must be lowercase letters, digits and dashes, starting with a letter",
            args.name
        );
    }
    let dir = args.dir.clone().unwrap_or_else(|| PathBuf::from(&args.name));
    if dir.join("Cargo.toml").exists() {
        bail!("{} already holds a crate; not overwriting it", dir.display());
    }
    let core_path = match &args.core_path {
        Some(p) => {
            p.canonicalize().with_context(|| format!("finding switchboard-core at {}", p.display()))?
        }
        None => default_core_path()?,
    };
    if !core_path.join("Cargo.toml").exists() {
        bail!("{} is not the switchboard-core crate (no Cargo.toml)", core_path.display());
    }
    for (path, template) in TEMPLATE {
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&target, render(template, &args.name, &core_path))
            .with_context(|| format!("writing {}", target.display()))?;
    }
    println!("created plugin crate `{}` in {}", args.name, dir.display());
    println!("next: cd {} && cargo test && cargo build", dir.display());
    println!(
        "then: switchboard conformance {}/target/debug/lib{}.so",
        dir.display(),
        args.name.replace('-', "_")
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(valid_name("my-plugin2"));
        assert!(!valid_name("My-plugin"));
        assert!(!valid_name("2plugin"));
        assert!(!valid_name("plugin-"));
        assert!(!valid_name("my_plugin"));
        assert_eq!(struct_name("my-cool-plugin"), "MyCoolPlugin");
    }

    #[test]
    fn every_placeholder_is_filled() {
        for (path, template) in TEMPLATE {
            let out = render(template, "demo-plugin", Path::new("/x/core"));
            assert!(!out.contains("{{"), "{path} keeps a placeholder");
        }
    }
}
