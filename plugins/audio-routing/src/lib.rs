//! `audio-routing`: the audio routing capability. It lists the output devices through cpal,
//! maps them to the seed's audio modes (SPEAKER, EARPIECE, BLUETOOTH, HEADPHONES) by the
//! name rules in its settings, reports them with `audio_mode_changed` at the start of the
//! session and whenever an output appears or disappears (it polls once a second, through
//! the SDK's tick), and on `set_audio_mode` asks the host to move playback to that mode's
//! device (`route_audio_output`), mid-call.
//!
//! Settings (`[plugin.settings]`):
//! ```toml
//! default_audio_mode = "SPEAKER"       # optional: the mode to start in when available
//! [[plugin.settings.rule]]             # first matching rule wins, per device
//! pattern = "spk_a"                    # a glob on the cpal device name (`*` and `?`),
//! mode = "SPEAKER"                     # case-insensitive
//! ```
//! Without rules, built-in ones apply: `*blue*` BLUETOOTH, `*head*` HEADPHONES,
//! `*earpiece*` EARPIECE, `*speaker*` SPEAKER. A mode is available when some device maps
//! to it; the first such device (in cpal's order) plays it. Without `default_audio_mode`
//! the session starts in the first available mode in the seed's order.
//!
//! Asking for a mode no device maps to is an `INVALID_ARGUMENT` error naming the available
//! ones. When the selected device disappears, the plugin moves playback to the default
//! (or first available) mode and reports it.

use std::collections::BTreeMap;

use cpal::traits::{DeviceTrait, HostTrait};
use serde::Deserialize;
use switchboard_core::model::{AudioMode, AudioModeKind, CallsException, ErrorCode};
use switchboard_core::sdk::{Context, Plugin, PluginError, Settings};
use switchboard_core::{Capability, Command, Event, EventKind, PluginKind, RtcUser};

/// One name rule.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// A glob on the device name: `*` any run of characters, `?` one character.
    pub pattern: String,
    /// The mode a matching device plays.
    pub mode: AudioModeKind,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RoutingSettings {
    #[serde(default)]
    default_audio_mode: Option<AudioModeKind>,
    #[serde(default)]
    rule: Option<Vec<Rule>>,
}

fn default_rules() -> Vec<Rule> {
    [
        ("*blue*", AudioModeKind::Bluetooth),
        ("*head*", AudioModeKind::Headphones),
        ("*earpiece*", AudioModeKind::Earpiece),
        ("*speaker*", AudioModeKind::Speaker),
    ]
    .into_iter()
    .map(|(pattern, mode)| Rule { pattern: pattern.to_owned(), mode })
    .collect()
}

/// Case-insensitive glob match of the whole `name`.
pub fn glob_matches(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some(('*', rest)) => (0..=n.len()).any(|i| go(rest, &n[i..])),
            Some(('?', rest)) => !n.is_empty() && go(rest, &n[1..]),
            Some((c, rest)) => n.first().is_some_and(|d| d.eq_ignore_ascii_case(c)) && go(rest, &n[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    go(&p, &n)
}

/// The routing state, apart from device IO (so its rules are tested on names alone).
#[derive(Debug, Default)]
pub struct Router {
    rules: Vec<Rule>,
    default_mode: Option<AudioModeKind>,
    /// Each available mode and the device that plays it.
    devices: BTreeMap<AudioModeKind, String>,
    selected: Option<AudioModeKind>,
}

impl Router {
    /// A router with these rules (empty: the built-in ones).
    pub fn new(rules: Vec<Rule>, default_mode: Option<AudioModeKind>) -> Self {
        let rules = if rules.is_empty() { default_rules() } else { rules };
        Self { rules, default_mode, devices: BTreeMap::new(), selected: None }
    }

    /// Takes a fresh device list; true when the available modes changed.
    pub fn update(&mut self, names: &[String]) -> bool {
        let mut devices = BTreeMap::new();
        for name in names {
            if let Some(rule) = self.rules.iter().find(|r| glob_matches(&r.pattern, name)) {
                devices.entry(rule.mode).or_insert_with(|| name.clone());
            }
        }
        let changed = devices != self.devices;
        self.devices = devices;
        changed
    }

    /// The mode to play when none is selected or the selected one vanished.
    pub fn fallback(&self) -> Option<AudioModeKind> {
        self.default_mode
            .filter(|m| self.devices.contains_key(m))
            .or_else(|| AudioModeKind::ALL.into_iter().find(|m| self.devices.contains_key(m)))
    }

    /// Selects `mode`; returns its device, or an error naming the available modes.
    pub fn select(&mut self, mode: AudioModeKind) -> Result<String, CallsException> {
        match self.devices.get(&mode) {
            Some(device) => {
                self.selected = Some(mode);
                Ok(device.clone())
            }
            None => Err(CallsException::new(
                ErrorCode::InvalidArgument,
                format!("audio mode {mode} is not available; available: {}", self.available_names()),
            )),
        }
    }

    /// The selected mode, when it is still available.
    pub fn selected(&self) -> Option<AudioModeKind> {
        self.selected.filter(|m| self.devices.contains_key(m))
    }

    /// What `audio_mode_changed` carries: the available modes in the seed's order.
    pub fn modes(&self) -> Vec<AudioMode> {
        AudioModeKind::ALL
            .into_iter()
            .filter(|m| self.devices.contains_key(m))
            .map(|mode| AudioMode { mode, is_selected: self.selected == Some(mode) })
            .collect()
    }

    fn available_names(&self) -> String {
        let names: Vec<&str> = AudioModeKind::ALL
            .into_iter()
            .filter(|m| self.devices.contains_key(m))
            .map(AudioModeKind::as_str)
            .collect();
        if names.is_empty() { "none".to_owned() } else { names.join(", ") }
    }
}

/// The names of the output devices cpal lists (as `[media] audio_output = "device:NAME"`
/// takes them). Listing reads the backend's hints; it opens no device.
fn output_device_names() -> Vec<String> {
    let host = cpal::default_host();
    match host.output_devices() {
        Ok(devices) => devices
            .map(|d| match d.id() {
                Ok(id) => id.id().to_owned(),
                Err(_) => d.to_string(),
            })
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// The plugin.
#[derive(Debug, Default)]
pub struct AudioRouting {
    router: Router,
    /// Between `session_started` and `session_ended`: only then is there a sink to move.
    in_session: bool,
}

impl AudioRouting {
    /// Re-lists the devices; when the modes changed (or `force`), reports them, and when
    /// the selected mode is gone (or none was chosen yet), moves to the fallback.
    fn refresh(&mut self, force: bool, ctx: &mut Context) {
        let changed = self.router.update(&output_device_names());
        let mut moved = false;
        if self.router.selected().is_none()
            && let Some(mode) = self.router.fallback()
            && let Ok(device) = self.router.select(mode)
        {
            ctx.send(Command::RouteAudioOutput { device });
            moved = true;
        }
        if changed || moved || force {
            ctx.send(Command::AnnounceAudioModes { modes: self.router.modes() });
        }
    }
}

impl Plugin for AudioRouting {
    const ID: &'static str = "audio-routing";
    const NAME: &'static str = "Audio routing";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const KIND: PluginKind = PluginKind::Feature;
    const DESCRIPTION: &'static str = "Maps output devices to SPEAKER/EARPIECE/BLUETOOTH/HEADPHONES by name rules and moves playback on set_audio_mode.";
    const CAPABILITIES: &'static [Capability] = &[Capability::AudioRouting];
    const SUBSCRIPTIONS: &'static [EventKind] = &[EventKind::SessionStarted, EventKind::SessionEnded];
    const TICK_MS: u32 = 1000;

    fn configure(&mut self, settings: &Settings) -> Result<(), PluginError> {
        let settings: RoutingSettings = settings.parse()?;
        let rules = settings.rule.unwrap_or_default();
        for rule in &rules {
            if rule.pattern.is_empty() {
                return Err(PluginError::Settings("a rule's `pattern` must not be empty".to_owned()));
            }
        }
        self.router = Router::new(rules, settings.default_audio_mode);
        Ok(())
    }

    fn on_event(&mut self, event: &Event, ctx: &mut Context) {
        match event {
            Event::SessionStarted { .. } => {
                self.in_session = true;
                self.refresh(true, ctx);
            }
            Event::SessionEnded { .. } => self.in_session = false,
            _ => {}
        }
    }

    fn on_tick(&mut self, ctx: &mut Context) {
        if self.in_session {
            self.refresh(false, ctx);
        }
    }

    fn on_command(
        &mut self,
        command: &Command,
        _from: &RtcUser,
        ctx: &mut Context,
    ) -> Result<(), CallsException> {
        let Command::SetAudioMode { mode } = command else {
            return Err(CallsException::new(
                ErrorCode::NotImplemented,
                format!("plugin `audio-routing` does not carry out `{}`", command.name()),
            ));
        };
        // A fresh list: the device may have appeared since the last tick.
        self.router.update(&output_device_names());
        let device = self.router.select(*mode)?;
        ctx.send(Command::RouteAudioOutput { device });
        ctx.send(Command::AnnounceAudioModes { modes: self.router.modes() });
        Ok(())
    }
}

switchboard_core::export_plugin!(AudioRouting);

#[cfg(test)]
mod tests {
    use switchboard_core::sdk::testing::Harness;

    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    fn rules() -> Vec<Rule> {
        vec![
            Rule { pattern: "spk_a".into(), mode: AudioModeKind::Speaker },
            Rule { pattern: "spk_b".into(), mode: AudioModeKind::Headphones },
            Rule { pattern: "BT-*".into(), mode: AudioModeKind::Bluetooth },
        ]
    }

    #[test]
    fn globs_match_whole_names_case_insensitively() {
        assert!(glob_matches("spk_a", "SPK_A"));
        assert!(!glob_matches("spk_a", "spk_a_monitor"));
        assert!(glob_matches("*head*", "USB Headset"));
        assert!(glob_matches("bt-??", "BT-42"));
        assert!(!glob_matches("bt-??", "BT-4"));
    }

    #[test]
    fn devices_map_to_modes_by_the_first_matching_rule() {
        let mut r = Router::new(rules(), None);
        assert!(r.update(&names(&["default", "spk_a_monitor", "spk_b", "spk_a"])));
        assert!(!r.update(&names(&["default", "spk_a_monitor", "spk_b", "spk_a"])), "no change");
        assert_eq!(r.fallback(), Some(AudioModeKind::Speaker), "seed order without a default");
        assert_eq!(r.select(AudioModeKind::Headphones).expect("available"), "spk_b");
        let modes = r.modes();
        assert_eq!(
            modes,
            vec![
                AudioMode { mode: AudioModeKind::Speaker, is_selected: false },
                AudioMode { mode: AudioModeKind::Headphones, is_selected: true },
            ]
        );
    }

    #[test]
    fn an_unavailable_mode_is_an_error_naming_the_available_ones() {
        let mut r = Router::new(rules(), None);
        r.update(&names(&["spk_a", "spk_b"]));
        let e = r.select(AudioModeKind::Bluetooth).expect_err("no bluetooth");
        assert_eq!(e.code, ErrorCode::InvalidArgument);
        assert!(
            e.message.contains("BLUETOOTH is not available; available: SPEAKER, HEADPHONES"),
            "{}",
            e.message
        );
    }

    #[test]
    fn the_default_mode_wins_and_a_vanished_selection_falls_back() {
        let mut r = Router::new(rules(), Some(AudioModeKind::Headphones));
        r.update(&names(&["spk_a", "spk_b", "BT-1"]));
        assert_eq!(r.fallback(), Some(AudioModeKind::Headphones));
        r.select(AudioModeKind::Bluetooth).expect("available");
        assert!(r.update(&names(&["spk_a", "spk_b"])), "bluetooth left");
        assert_eq!(r.selected(), None);
        assert_eq!(r.fallback(), Some(AudioModeKind::Headphones));
    }

    #[test]
    fn settings_take_rules_and_refuse_unknown_keys() {
        let ok = serde_json::json!({
            "default_audio_mode": "HEADPHONES",
            "rule": [{"pattern": "spk_a", "mode": "SPEAKER"}],
        });
        Harness::<AudioRouting>::with_settings(&ok).expect("valid settings");
        let bad = serde_json::json!({ "rules": [] });
        assert!(Harness::<AudioRouting>::with_settings(&bad).is_err());
        let bad_mode = serde_json::json!({ "default_audio_mode": "LOUD" });
        assert!(Harness::<AudioRouting>::with_settings(&bad_mode).is_err());
    }

    #[test]
    fn a_command_for_another_capability_is_refused() {
        let mut h = Harness::<AudioRouting>::new().expect("created");
        let e =
            h.command(Command::EnterPipMode, &RtcUser::new("a", "A")).expect("abi").expect_err("not ours");
        assert_eq!(e.code, ErrorCode::NotImplemented);
    }
}
