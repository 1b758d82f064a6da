//! `audio-routing`: the audio routing capability. It lists the output devices through cpal,
//! maps them to the seed's audio modes (SPEAKER, EARPIECE, BLUETOOTH, HEADPHONES) by the
//! name rules in its settings, reports them with `audio_mode_changed` at the start of the
//! session and whenever an output appears or disappears (it polls once a second, through
//! the SDK's tick), and on `set_audio_mode` asks the host to move playback to that mode's
//! device (`route_audio_output`), mid-call.
//!
//! A mode counts as selected only once the host has moved playback: the plugin hands the
//! modes to report along with `route_audio_output` (`announce`), the host raises that
//! `audio_mode_changed` only when the move worked, and the plugin takes its selection from
//! the `audio_mode_changed` it gets back. When the move fails (the device cannot be
//! opened), the call keeps playing on the old device, the host's `error` event says what
//! failed, and every later `audio_mode_changed` still has the old mode selected.
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
    /// The mode playing now, as the host last confirmed it (see [`Router::confirm`]).
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

    /// The device that plays `mode`, or an error naming the available modes. Selects
    /// nothing: the selection changes when the host confirms the move ([`Router::confirm`]).
    pub fn device_for(&self, mode: AudioModeKind) -> Result<String, CallsException> {
        match self.devices.get(&mode) {
            Some(device) => Ok(device.clone()),
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

    /// What `audio_mode_changed` carries: the available modes in the seed's order, the
    /// playing one selected.
    pub fn modes(&self) -> Vec<AudioMode> {
        self.modes_with(self.selected)
    }

    /// The available modes with `selected` selected: what to report once playback has moved.
    pub fn modes_with(&self, selected: Option<AudioModeKind>) -> Vec<AudioMode> {
        AudioModeKind::ALL
            .into_iter()
            .filter(|m| self.devices.contains_key(m))
            .map(|mode| AudioMode { mode, is_selected: selected == Some(mode) })
            .collect()
    }

    /// Takes the selection from an `audio_mode_changed` the host raised (so only a move
    /// that worked changes it).
    pub fn confirm(&mut self, modes: &[AudioMode]) {
        self.selected = modes.iter().find(|m| m.is_selected).map(|m| m.mode);
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

/// Ticks a move may take before the plugin stops waiting for the host's confirmation (a
/// failed move is never confirmed; the host's `error` event has said why).
const PENDING_TICKS: u32 = 3;

/// The plugin.
#[derive(Debug, Default)]
pub struct AudioRouting {
    router: Router,
    /// Between `session_started` and `session_ended`: only then is there a sink to move.
    in_session: bool,
    /// Ticks left to wait for the host to confirm the last `route_audio_output`.
    pending: Option<u32>,
    /// The fallback move failed: not retried until the devices change, so a device that
    /// cannot be opened gives one `error`, not one a second.
    fallback_failed: bool,
}

impl AudioRouting {
    /// Asks the host to play `mode`, reporting it selected once playback has moved.
    fn route(&mut self, mode: AudioModeKind, ctx: &mut Context) -> Result<(), CallsException> {
        let device = self.router.device_for(mode)?;
        let announce = Some(self.router.modes_with(Some(mode)));
        ctx.send(Command::RouteAudioOutput { device, announce });
        self.pending = Some(PENDING_TICKS);
        Ok(())
    }

    /// Re-lists the devices; when the selected mode is gone (or none plays yet), moves to
    /// the fallback (reported when the host confirms it); otherwise, when the modes
    /// changed (or `force`), reports them.
    fn refresh(&mut self, force: bool, ctx: &mut Context) {
        let changed = self.router.update(&output_device_names());
        if changed {
            self.fallback_failed = false;
        }
        if self.pending.is_none()
            && !self.fallback_failed
            && self.router.selected().is_none()
            && let Some(mode) = self.router.fallback()
            && self.route(mode, ctx).is_ok()
        {
            return;
        }
        if changed || force {
            ctx.send(Command::AnnounceAudioModes { modes: self.router.modes() });
        }
    }

    /// One tick of waiting for a move. A move never confirmed failed: the modes are
    /// reported as they are (the old selection), once.
    fn wait_for_move(&mut self, ctx: &mut Context) {
        match self.pending {
            Some(0) => {
                self.pending = None;
                if self.router.selected().is_none() {
                    self.fallback_failed = true;
                }
                ctx.send(Command::AnnounceAudioModes { modes: self.router.modes() });
            }
            Some(n) => self.pending = Some(n - 1),
            None => {}
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
    const SUBSCRIPTIONS: &'static [EventKind] =
        &[EventKind::SessionStarted, EventKind::SessionEnded, EventKind::AudioModeChanged];
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
            Event::SessionEnded { .. } => {
                self.in_session = false;
                self.pending = None;
            }
            // Raised by the host once a move worked (or from this plugin's report): the
            // selection is what really plays.
            Event::AudioModeChanged { modes } => {
                self.router.confirm(modes);
                self.pending = None;
            }
            _ => {}
        }
    }

    fn on_tick(&mut self, ctx: &mut Context) {
        if self.in_session {
            self.wait_for_move(ctx);
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
        // Reported by the host once playback has moved; a failed move is the host's
        // `error`, and the old mode stays selected.
        self.route(*mode, ctx)
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
        assert_eq!(r.device_for(AudioModeKind::Headphones).expect("available"), "spk_b");
        let modes = r.modes_with(Some(AudioModeKind::Headphones));
        assert_eq!(
            modes,
            vec![
                AudioMode { mode: AudioModeKind::Speaker, is_selected: false },
                AudioMode { mode: AudioModeKind::Headphones, is_selected: true },
            ]
        );
    }

    #[test]
    fn only_a_confirmed_move_changes_the_selection() {
        let mut r = Router::new(rules(), None);
        r.update(&names(&["spk_a", "spk_b"]));
        r.confirm(&r.modes_with(Some(AudioModeKind::Speaker)));
        assert_eq!(r.selected(), Some(AudioModeKind::Speaker));
        // Asking for HEADPHONES names its device but selects nothing until the host's
        // `audio_mode_changed` comes back; a failed move never brings one.
        r.device_for(AudioModeKind::Headphones).expect("available");
        assert_eq!(r.selected(), Some(AudioModeKind::Speaker));
        assert!(r.modes().iter().any(|m| m.mode == AudioModeKind::Speaker && m.is_selected));
        r.confirm(&r.modes_with(Some(AudioModeKind::Headphones)));
        assert_eq!(r.selected(), Some(AudioModeKind::Headphones));
    }

    #[test]
    fn an_unavailable_mode_is_an_error_naming_the_available_ones() {
        let mut r = Router::new(rules(), None);
        r.update(&names(&["spk_a", "spk_b"]));
        let e = r.device_for(AudioModeKind::Bluetooth).expect_err("no bluetooth");
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
        r.confirm(&r.modes_with(Some(AudioModeKind::Bluetooth)));
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
