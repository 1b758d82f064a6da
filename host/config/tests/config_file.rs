//! The TOML config: round trips, `file:line:col` errors, unknown-key warnings, and the
//! shipped `config/default.toml`.

use switchboard_config::{
    AudioInput, AudioOutput, Config, ConfigError, IceCandidates, IceServerConfig, Isolation, VideoInput,
};
use switchboard_core::settings::{AvatarMode, Mode};
use switchboard_core::{AudioModeKind, CallSettings};

fn parse_err(text: &str) -> ConfigError {
    Config::from_toml_str(text, "call.toml").expect_err("invalid config")
}

#[test]
fn an_empty_file_is_all_defaults() {
    let loaded = Config::from_toml_str("", "empty.toml").expect("valid");
    assert_eq!(loaded.config, Config::default());
    assert!(loaded.warnings.is_empty());
}

#[test]
fn toml_round_trip() {
    let mut config = Config {
        call: CallSettings::builder()
            .audio_only_call(true)
            .mode(Mode::Default)
            .avatar_mode(AvatarMode::Fullscreen)
            .default_audio_mode(Some(AudioModeKind::Bluetooth))
            .idle_timeout_period(45)
            .build(),
        ..Config::default()
    };
    config.call.main_video_container.name_label.background_color = "#102030".into();
    config.media.audio_input = AudioInput::Tone(440.0);
    config.media.audio_output = AudioOutput::Null;
    config.media.video_input = VideoInput::Pattern("back".into());
    config.ui.layout = "layout-grid".into();
    config.ui.buttons = Some(vec!["mute_audio".into(), "end_call".into()]);
    config.host.plugin_dirs = vec!["plugins".into()];
    config.network.ice = IceCandidates::All;
    config.network.ice_servers = vec![IceServerConfig {
        urls: vec!["turn:turn.example.org:3478".into()],
        username: "u".into(),
        credential: "c".into(),
    }];
    let loaded = Config::from_toml_str(
        "[[plugin]]\nname = \"recording\"\nisolation = \"process\"\n[plugin.settings]\nfolder = \"rec\"\n",
        "p.toml",
    )
    .expect("valid");
    config.plugins = loaded.config.plugins;
    assert_eq!(config.plugins[0].isolation, Isolation::Process);

    let text = config.to_toml_string().expect("serializable");
    let back = Config::from_toml_str(&text, "round.toml").expect("its own output parses");
    assert!(back.warnings.is_empty(), "{:?}", back.warnings);
    assert_eq!(back.config, config, "{text}");
}

#[test]
fn a_syntax_error_has_file_line_col() {
    let err = parse_err("[call]\naudio_only_call = true\nmode = \"spotlight\n");
    assert_eq!((err.location.origin.as_str(), err.location.line), ("call.toml", 3), "{err}");
    assert!(err.to_string().starts_with("call.toml:3:"), "{err}");
}

#[test]
fn a_wrong_type_has_file_line_col_and_says_what_was_expected() {
    let err = parse_err("[call]\n\naudio_only_call = \"yes\"\n");
    assert_eq!(err.location.line, 3, "{err}");
    assert_eq!(err.location.column, 19, "{err}");
    assert!(err.message.contains("bool"), "{err}");
}

#[test]
fn a_bad_enum_value_lists_the_choices() {
    let err = parse_err("[call]\nmode = \"mosaic\"\n");
    assert_eq!(err.location.line, 2, "{err}");
    assert!(err.message.contains("spotlight"), "{err}");
}

#[test]
fn a_bad_media_source_has_file_line_col() {
    let err = parse_err("[media]\naudio_input = \"default\"\nvideo_input = \"webcam\"\n");
    assert_eq!((err.location.line, err.location.column), (3, 15), "{err}");
    assert!(err.message.contains("pattern:front"), "{err}");

    let err = parse_err("[media]\n\naudio_period_frames = 10\n");
    assert_eq!((err.location.line, err.location.column), (3, 1), "{err}");
    assert!(err.message.contains("16 to 8192, not 10"), "{err}");

    let err = parse_err("[media]\naudio_input = \"tone:-5\"\n");
    assert_eq!(err.location.line, 2, "{err}");
    assert!(err.message.contains("frequency"), "{err}");
}

#[test]
fn unknown_keys_warn_with_their_location() {
    let text = "[call]\nmode = \"single\"\nshow_end_button = false\n\n[mystery]\nx = 1\n";
    let loaded = Config::from_toml_str(text, "call.toml").expect("unknown keys are not errors");
    assert_eq!(loaded.config.call.mode, Mode::Single);
    let warnings: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        vec![
            "call.toml:3:1: unknown key `call.show_end_button` is ignored",
            "call.toml:5:2: unknown key `mystery` is ignored",
        ]
    );
}

#[test]
fn the_network_table_parses_and_refuses_what_cannot_work_with_file_line_col() {
    let text = "[network]\nice = \"all\"\nice_failed_timeout_ms = 8000\n\n[[network.ice_server]]\n\
                urls = [\"stun:stun.example.org:3478\"]\n\n[[network.ice_server]]\n\
                urls = [\"turn:turn.example.org:3478\"]\nusername = \"u\"\ncredential = \"c\"\n";
    let loaded = Config::from_toml_str(text, "net.toml").expect("valid");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let network = loaded.config.network;
    assert_eq!(network.ice, IceCandidates::All);
    assert_eq!((network.ice_disconnected_timeout_ms, network.ice_failed_timeout_ms), (5000, 8000));
    assert_eq!(network.ice_servers.len(), 2);
    assert_eq!(network.ice_servers[1].username, "u");

    let err = parse_err("[network]\nice = \"lan\"\n");
    assert_eq!(err.location.line, 2, "{err}");
    assert!(err.message.contains("loopback") && err.message.contains("all"), "{err}");

    let err = parse_err("[network]\nice_disconnected_timeout_ms = 3000\nice_failed_timeout_ms = 1000\n");
    assert_eq!((err.location.line, err.location.column), (3, 1), "{err}");
    assert!(err.message.contains("at least `ice_disconnected_timeout_ms` (3000 ms)"), "{err}");

    let err = parse_err("[network]\n[[network.ice_server]]\nurls = [\"stun:a.example:3478\"]\n");
    assert_eq!(err.location.line, 2, "{err}");
    assert!(err.message.contains("ice = \"all\""), "{err}");

    let err = parse_err("[network]\nice = \"all\"\n[[network.ice_server]]\nurls = [\"http://a.example\"]\n");
    assert_eq!(err.location.line, 3, "{err}");
    assert!(err.message.contains("`http://a.example` is not a STUN or TURN URL"), "{err}");
}

#[test]
fn a_plugin_needs_a_name_or_a_path() {
    let err = parse_err("[[plugin]]\nisolation = \"process\"\n");
    assert_eq!(err.location.line, 1, "{err}");
    assert!(err.message.contains("`name` or `path`"), "{err}");
}

#[test]
fn the_shipped_default_config_is_every_default_with_no_warnings() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/default.toml");
    let text = std::fs::read_to_string(path).expect("config/default.toml exists");
    let loaded = Config::from_toml_str(&text, "config/default.toml").expect("valid");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let config = loaded.config;
    assert_eq!(config.call, CallSettings::default());
    assert_eq!(config.media, Config::default().media);
    assert_eq!(config.network, Config::default().network);
    assert_eq!(config.ui, Config::default().ui);
    assert_eq!(config.host, Config::default().host);
    let names: Vec<Option<&str>> = config.plugins.iter().map(|p| p.name.as_deref()).collect();
    assert_eq!(names, vec![Some(config.ui.layout.as_str())], "the default config loads its layout");

    // Every key a config can have appears in the file (commented out when its default is
    // "absent"), so the file documents them all: compare against the serialized defaults.
    let full = Config { plugins: config.plugins.clone(), ..Config::default() };
    let serialized: toml::Table =
        toml::from_str(&full.to_toml_string().expect("serializable")).expect("toml");
    let mut missing = Vec::new();
    collect_keys(&serialized, "", &mut |key| {
        let leaf = key.rsplit('.').next().unwrap_or(key);
        if !text.contains(&format!("{leaf} =")) {
            missing.push(key.to_owned());
        }
    });
    for optional in ["default_audio_mode", "buttons", "urls", "username", "credential"] {
        assert!(text.contains(&format!("# {optional} =")), "`{optional}` is documented");
    }
    assert!(missing.is_empty(), "keys missing from config/default.toml: {missing:?}");
}

fn collect_keys(table: &toml::Table, prefix: &str, f: &mut impl FnMut(&str)) {
    for (key, value) in table {
        let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
        match value {
            toml::Value::Table(t) => collect_keys(t, &path, f),
            toml::Value::Array(items) if items.iter().all(toml::Value::is_table) && !items.is_empty() => {
                for item in items {
                    if let toml::Value::Table(t) = item {
                        collect_keys(t, &path, f);
                    }
                }
            }
            _ => f(&path),
        }
    }
}

#[test]
fn ui_listen_must_be_a_loopback_address_unless_allow_remote() {
    for listen in ["0.0.0.0:7800", "[::]:7800", "192.0.2.10:7800", "[::ffff:192.0.2.10]:7800"] {
        let err = parse_err(&format!("[ui]\nlayout = \"layout-default\"\nlisten = \"{listen}\"\n"));
        assert_eq!((err.location.line, err.location.column), (3, 1), "{err}");
        assert!(err.message.contains("not a loopback address"), "{err}");
        assert!(err.message.contains("video"), "says what it would expose: {err}");
        assert!(err.message.contains("allow_remote = true"), "says how to opt in: {err}");
    }
    for listen in ["127.0.0.1:7800", "127.0.0.1:0", "[::1]:7800", "127.0.0.2:80", "[::ffff:127.0.0.1]:7800"] {
        let loaded = Config::from_toml_str(&format!("[ui]\nlisten = \"{listen}\"\n"), "call.toml")
            .unwrap_or_else(|e| panic!("{listen}: {e}"));
        assert!(!loaded.config.ui.allow_remote);
    }
    let loaded = Config::from_toml_str("[ui]\nlisten = \"0.0.0.0:7800\"\nallow_remote = true\n", "call.toml")
        .expect("opted in");
    assert!(loaded.config.ui.allow_remote);
    assert_eq!(loaded.config.ui.listen_addr(), Ok("0.0.0.0:7800".parse().expect("an address")));
}

#[test]
fn ui_listen_must_be_an_address_and_port() {
    for listen in ["localhost:7800", "127.0.0.1", "7800", "evil.example:80", ""] {
        let err = parse_err(&format!("[ui]\nlisten = \"{listen}\"\n"));
        assert_eq!(err.location.line, 2, "{err}");
        assert!(err.message.contains("is not ADDRESS:PORT"), "{listen}: {err}");
    }
}
