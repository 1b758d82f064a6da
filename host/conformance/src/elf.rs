//! Reads the dynamic symbol table of a plugin's ELF file, to see what it exports.

use std::path::{Path, PathBuf};

use object::{Object, ObjectSymbol, SymbolKind};

/// Why the symbol table could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ElfError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
    /// The file is not an object file this reader understands.
    #[error("parsing {path} as ELF: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's error.
        source: object::Error,
    },
}

/// One symbol the library defines and exports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    /// Its name.
    pub name: String,
    /// True for a data object, false for code and the rest.
    pub is_data: bool,
}

/// Symbols the static linker defines in every shared object; they are not the plugin's.
const LINKER_DEFINED: &[&str] =
    &["_init", "_fini", "_edata", "_end", "__bss_start", "_DYNAMIC", "_GLOBAL_OFFSET_TABLE_"];

/// Every global or weak symbol the library defines in its dynamic symbol table, linker
/// boilerplate left out.
pub fn exports(path: &Path) -> Result<Vec<Export>, ElfError> {
    let data = std::fs::read(path).map_err(|source| ElfError::Read { path: path.to_owned(), source })?;
    let file =
        object::File::parse(&*data).map_err(|source| ElfError::Parse { path: path.to_owned(), source })?;
    let mut out = Vec::new();
    for symbol in file.dynamic_symbols() {
        if symbol.is_undefined() || !symbol.is_global() {
            continue;
        }
        let Ok(name) = symbol.name() else { continue };
        if name.is_empty() || LINKER_DEFINED.contains(&name) {
            continue;
        }
        out.push(Export { name: name.to_owned(), is_data: symbol.kind() == SymbolKind::Data });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out.dedup();
    Ok(out)
}
