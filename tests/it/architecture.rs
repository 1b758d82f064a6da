//! The crate boundaries that ARCHITECTURE.md states, checked against Cargo's own graph
//! (`cargo tree`), so that an invariant breaks the build's tests, not a reviewer's memory.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

/// The C media libraries and the WebRTC library: what the signaling server, the
/// conformance suite and the plugins must never link.
const MEDIA_AND_WEBRTC: &[&str] =
    &["webrtc", "cpal", "alsa-sys", "opus", "audiopus_sys", "env-libvpx-sys", "openh264", "openh264-sys2"];

/// The workspace's host crates (everything under host/).
const HOST_CRATES: &[&str] = &[
    "switchboard-config",
    "switchboard-runtime",
    "switchboard-rtc",
    "switchboard-media",
    "switchboard-signaling",
    "switchboard-ui",
    "switchboard-conformance",
    "switchboard-session",
    "switchboard-netlab",
    "switchboard",
];

/// `cargo tree ARGS` in the workspace, one package name per line (duplicates removed).
fn tree(args: &[&str]) -> BTreeSet<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let output = Command::new(cargo)
        .current_dir(&root)
        .args(["tree", "--offline", "--locked", "--prefix", "none", "--format", "{p}"])
        .args(args)
        .output()
        .expect("running cargo tree");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "cargo tree {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout.lines().filter_map(|line| line.split_whitespace().next()).map(str::to_owned).collect()
}

/// The packages that depend on `package` directly (any kind of dependency: normal, build
/// or dev), workspace-wide and with every feature on.
fn direct_dependents(package: &str, edges: &str) -> BTreeSet<String> {
    let mut found =
        tree(&["--workspace", "--all-features", "--edges", edges, "--invert", package, "--depth", "1"]);
    found.remove(package);
    found
}

fn forbidden_in(packages: &BTreeSet<String>) -> Vec<&'static str> {
    MEDIA_AND_WEBRTC.iter().copied().filter(|name| packages.contains(*name)).collect()
}

#[test]
fn only_the_rtc_crate_depends_on_webrtc() {
    let dependents = direct_dependents("webrtc", "normal,build,dev");
    assert_eq!(dependents, BTreeSet::from(["switchboard-rtc".to_owned()]), "who depends on webrtc");
}

#[test]
fn only_the_media_crate_links_the_c_media_libraries() {
    for library in ["cpal", "opus", "env-libvpx-sys", "openh264"] {
        let dependents = direct_dependents(library, "normal,build");
        let hosts: BTreeSet<&String> =
            dependents.iter().filter(|p| HOST_CRATES.contains(&p.as_str())).collect();
        // The rtc crate's `bare-pair` feature (bench support: the library's own call)
        // encodes Opus itself; nothing else outside media may.
        let allowed = ["switchboard-media", "switchboard-rtc"];
        assert!(
            hosts.iter().all(|p| allowed.contains(&p.as_str())),
            "{library} is linked by {hosts:?}; only switchboard-media links the media libraries"
        );
    }
}

#[test]
fn signaling_and_conformance_build_without_webrtc_or_media() {
    for package in ["switchboard-signaling", "switchboard-conformance", "switchboard-config"] {
        let packages = tree(&["--package", package, "--all-features", "--edges", "normal,build"]);
        assert!(packages.contains(package) && packages.contains("switchboard-core"), "{packages:?}");
        assert_eq!(forbidden_in(&packages), Vec::<&str>::new(), "{package} pulls in");
    }
}

#[test]
fn the_server_binary_builds_without_webrtc_or_media() {
    let packages = tree(&["--package", "switchboard", "--no-default-features", "--edges", "normal,build"]);
    assert!(packages.contains("switchboard-signaling"), "the server is in it: {packages:?}");
    assert_eq!(forbidden_in(&packages), Vec::<&str>::new(), "`switchboard` without `call` pulls in");
    for participant_only in ["switchboard-session", "switchboard-rtc", "switchboard-media"] {
        assert!(!packages.contains(participant_only), "{participant_only} is in the server-only build");
    }
}

#[test]
fn plugins_link_only_the_contract() {
    let plugins = tree(&["--workspace", "--depth", "0"])
        .into_iter()
        .filter(|p| !p.starts_with("switchboard"))
        .collect::<Vec<_>>();
    assert!(plugins.len() >= 5, "the workspace's plugins: {plugins:?}");
    for plugin in &plugins {
        let packages = tree(&["--package", plugin, "--edges", "normal,build"]);
        let host: Vec<&&str> = HOST_CRATES.iter().filter(|c| packages.contains(**c)).collect();
        assert!(
            host.is_empty(),
            "plugin {plugin} links host crates {host:?}; plugins link switchboard-core only"
        );
        // A feature plugin may use a device library of its own (audio-routing lists cpal's
        // outputs), but never the call's WebRTC stack.
        assert!(!packages.contains("webrtc"), "plugin {plugin} pulls in webrtc");
    }
}

#[test]
fn the_actor_library_is_a_dependency_of_the_runtime_alone() {
    let dependents = direct_dependents("actix", "normal,build");
    let hosts: BTreeSet<&String> = dependents.iter().filter(|p| p.starts_with("switchboard")).collect();
    assert_eq!(hosts, BTreeSet::from([&"switchboard-runtime".to_owned()]), "who depends on actix");
}

#[test]
fn host_crates_depend_on_each_other_one_way() {
    // Each crate's allowed host dependencies: the layer order of ARCHITECTURE.md.
    let allowed: &[(&str, &[&str])] = &[
        ("switchboard-config", &["switchboard-core"]),
        ("switchboard-runtime", &["switchboard-core", "switchboard-config"]),
        ("switchboard-rtc", &["switchboard-core", "switchboard-config"]),
        ("switchboard-media", &["switchboard-core", "switchboard-config"]),
        ("switchboard-signaling", &["switchboard-core"]),
        ("switchboard-ui", &["switchboard-core", "switchboard-config"]),
        ("switchboard-conformance", &["switchboard-core"]),
        ("switchboard-netlab", &[]),
    ];
    for (package, may_use) in allowed {
        let direct =
            tree(&["--package", package, "--all-features", "--edges", "normal,build", "--depth", "1"]);
        let used: Vec<&String> = direct
            .iter()
            .filter(|p| p.starts_with("switchboard") && p.as_str() != *package)
            .filter(|p| !may_use.contains(&p.as_str()))
            .collect();
        assert!(used.is_empty(), "{package} depends on {used:?}, outside its layer ({may_use:?})");
    }
}

#[test]
fn the_network_lab_is_test_support_only() {
    // Tests may use it (dev-dependencies); no library or binary links it.
    let dependents = direct_dependents("switchboard-netlab", "normal,build");
    assert!(dependents.is_empty(), "{dependents:?} link switchboard-netlab; it is test support");
}

#[test]
fn the_contract_crate_stays_small() {
    // What a plugin links: serde, serde_json and thiserror, and what they bring.
    let direct = tree(&["--package", "switchboard-core", "--edges", "normal,build", "--depth", "1"]);
    let expected: BTreeSet<String> =
        ["switchboard-core", "serde", "serde_json", "thiserror"].into_iter().map(str::to_owned).collect();
    assert_eq!(direct, expected, "switchboard-core's dependencies");
}

#[test]
fn only_the_binary_uses_anyhow() {
    let dependents = direct_dependents("anyhow", "normal,build");
    let hosts: BTreeSet<&String> = dependents.iter().filter(|p| p.starts_with("switchboard")).collect();
    assert_eq!(hosts, BTreeSet::from([&"switchboard".to_owned()]), "library crates return their own errors");
}
