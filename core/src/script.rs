//! `--script` files: timed actions for headless participants, as TOML.
//!
//! ```toml
//! [[step]]
//! at_ms = 2000
//! action = "mute_audio"
//! muted = true
//!
//! [[step]]
//! at_ms = 8000
//! action = "end_session"
//! ```
//!
//! A step is a [`Command`] (its `action` tag and argument) plus `at_ms`, the time since the
//! session started. Steps run in time order; ties keep file order.

use serde::Deserialize;

use crate::command::Command;
use crate::config::{ConfigError, Location};

/// One timed action.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Milliseconds after the session started.
    pub at_ms: u64,
    /// What to do.
    pub command: Command,
}

/// A parsed script, steps sorted by time.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Script {
    /// The steps, in the order they run.
    pub steps: Vec<Step>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScript {
    #[serde(default)]
    step: Vec<toml::Spanned<RawStep>>,
}

#[derive(Deserialize)]
struct RawStep {
    at_ms: u64,
    #[serde(flatten)]
    command: toml::Table,
}

impl Script {
    /// Parses a script. `origin` names the file in errors (`file:line:col`).
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Script, ConfigError> {
        let at = |span| Location::of(origin, text, span);
        let raw: RawScript = toml::from_str(text)
            .map_err(|e| ConfigError { location: at(e.span()), message: e.message().to_owned() })?;
        let mut steps = Vec::with_capacity(raw.step.len());
        for spanned in raw.step {
            let span = spanned.span();
            let raw_step = spanned.into_inner();
            // The command keeps its own strictness: a step with an unknown action or a
            // missing argument is an error here rather than a silent no-op at run time.
            let command: Command =
                toml::Value::Table(raw_step.command.clone()).try_into().map_err(|e: toml::de::Error| {
                    ConfigError { location: at(Some(span.clone())), message: e.message().to_owned() }
                })?;
            if matches!(command, Command::Unknown) {
                let action = raw_step.command.get("action").and_then(toml::Value::as_str).unwrap_or("");
                return Err(ConfigError {
                    location: at(Some(span)),
                    message: format!(
                        "unknown action `{action}`, expected one of mute_audio, pause_video, switch_camera, \
                         set_audio_mode, enter_pip_mode, exit_pip_mode, switch_to_video_call, start_recording, \
                         stop_recording, end_session, set_layout_mode"
                    ),
                });
            }
            steps.push(Step { at_ms: raw_step.at_ms, command });
        }
        steps.sort_by_key(|s| s.at_ms);
        Ok(Script { steps })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AudioModeKind;

    #[test]
    fn parses_steps_in_time_order() {
        let text = r#"
[[step]]
at_ms = 8000
action = "end_session"

[[step]]
at_ms = 2000
action = "mute_audio"
muted = true

[[step]]
at_ms = 3000
action = "set_audio_mode"
mode = "HEADPHONES"
"#;
        let script = Script::from_toml_str(text, "s.toml").expect("valid script");
        assert_eq!(
            script.steps,
            vec![
                Step { at_ms: 2000, command: Command::MuteAudio { muted: true } },
                Step { at_ms: 3000, command: Command::SetAudioMode { mode: AudioModeKind::Headphones } },
                Step { at_ms: 8000, command: Command::EndSession },
            ]
        );
    }

    #[test]
    fn unknown_action_is_located() {
        let text = "[[step]]\nat_ms = 1\naction = \"dance\"\n";
        let err = Script::from_toml_str(text, "s.toml").expect_err("unknown action");
        assert!(err.to_string().starts_with("s.toml:1:1: unknown action `dance`"), "{err}");
    }

    #[test]
    fn missing_argument_is_an_error() {
        let text = "[[step]]\nat_ms = 1\naction = \"mute_audio\"\n";
        let err = Script::from_toml_str(text, "s.toml").expect_err("missing muted");
        assert!(err.to_string().contains("muted"), "{err}");
    }

    #[test]
    fn wrong_type_is_located() {
        let text = "[[step]]\nat_ms = \"soon\"\naction = \"end_session\"\n";
        let err = Script::from_toml_str(text, "s.toml").expect_err("bad at_ms");
        assert!(err.to_string().starts_with("s.toml:2:"), "{err}");
    }
}
