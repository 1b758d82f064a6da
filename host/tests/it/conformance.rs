//! Conformance: shipped plugins pass, fixtures fail what they are built to fail, the
//! generated template and the C plugin pass, and the C header is current.

use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().expect("workspace root")
}

fn generate_header() -> String {
    let root = workspace();
    let config = cbindgen::Config::from_file(root.join("core/include/cbindgen.toml")).expect("cbindgen.toml");
    let mut out = Vec::new();
    cbindgen::Builder::new()
        .with_config(config)
        .with_src(root.join("core/src/abi.rs"))
        .generate()
        .expect("cbindgen generates the header")
        .write(&mut out);
    String::from_utf8(out).expect("utf-8 header")
}

#[test]
fn c_header_is_current() {
    let path = workspace().join("core/include/switchboard.h");
    let fresh = generate_header();
    if std::env::var_os("SWITCHBOARD_BLESS").is_some() {
        std::fs::write(&path, &fresh).expect("writing the header");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "core/include/switchboard.h is stale; regenerate it with \
         SWITCHBOARD_BLESS=1 cargo test -p switchboard-host --test it c_header"
    );
}
