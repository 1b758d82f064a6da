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

use crate::{ConfigError, Location};
use switchboard_core::command::Command;

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

/// The `[[step]]` keys that are not the command's argument.
const STEP_KEYS: [&str; 2] = ["at_ms", "action"];

impl Script {
    /// Parses a script. `origin` names the file in errors (`file:line:col`).
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Script, ConfigError> {
        let at = |span| Location::of(origin, text, span);
        let raw: RawScript = toml::from_str(text)
            .map_err(|e| ConfigError { location: at(e.span()), message: e.message().to_owned() })?;
        let mut steps = Vec::with_capacity(raw.step.len());
        for (index, spanned) in raw.step.into_iter().enumerate() {
            let span = spanned.span();
            let raw_step = spanned.into_inner();
            let action_value = raw_step.command.get("action");
            // Present but not text, as in `action = 5`.
            let action_mistyped = action_value.is_some_and(|v| !v.is_str());
            let action = action_value.and_then(toml::Value::as_str).unwrap_or("").to_owned();
            // The command keeps its own strictness: a step with an unknown action or a
            // missing argument is an error here rather than a silent no-op at run time.
            let command = match toml::Value::Table(raw_step.command).try_into::<Command>() {
                Ok(Command::Unknown) => Err((
                    format!(
                        "unknown action `{action}`, expected one of mute_audio, pause_video, switch_camera, \
                         set_audio_mode, enter_pip_mode, exit_pip_mode, switch_to_video_call, \
                         start_recording, stop_recording, end_session, set_layout_mode"
                    ),
                    Blame::Action,
                )),
                Ok(command) => Ok(command),
                Err(e) if action_mistyped => Err((e.message().to_owned(), Blame::Action)),
                Err(e) if action.is_empty() => Err((e.message().to_owned(), Blame::Step)),
                // A missing argument has no place of its own; the message names it.
                Err(e) if e.message().starts_with("missing field") => {
                    Err((format!("`{action}`: {}", e.message()), Blame::Step))
                }
                Err(e) => Err((format!("`{action}`: {}", e.message()), Blame::Argument)),
            };
            match command {
                Ok(command) => steps.push(Step { at_ms: raw_step.at_ms, command }),
                Err((message, blame)) => {
                    let span = blame.span(text, index).unwrap_or(span);
                    return Err(ConfigError { location: at(Some(span)), message });
                }
            }
        }
        steps.sort_by_key(|s| s.at_ms);
        Ok(Script { steps })
    }
}

/// What part of a step an error is about, to point at it.
#[derive(Clone, Copy)]
enum Blame {
    /// The step as a whole (its `[[step]]` header).
    Step,
    /// The `action` value.
    Action,
    /// The command's argument: its value when the step has exactly one (the actions of
    /// the seed take at most one), else the step itself.
    Argument,
}

impl Blame {
    /// Where in `text` the blamed part of step `index` is. Serde reads the command through
    /// its `action` tag without positions, so they come from a second, positioned parse.
    fn span(self, text: &str, index: usize) -> Option<std::ops::Range<usize>> {
        let doc = toml::de::DeTable::parse(text).ok()?;
        let step = doc.get_ref().get("step")?.get_ref().get(index)?;
        let toml::de::DeValue::Table(table) = step.get_ref() else { return None };
        match self {
            Blame::Step => None,
            Blame::Action => table.get("action").map(toml::Spanned::span),
            Blame::Argument => {
                let mut arguments =
                    table.iter().filter(|(key, _)| !STEP_KEYS.contains(&key.get_ref().as_ref()));
                match (arguments.next(), arguments.next()) {
                    (Some((_, value)), None) => Some(value.span()),
                    _ => None,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_core::model::AudioModeKind;

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

    /// Each error says where the fault is: the action's value, the argument's value, or
    /// the step when there is nothing more precise to point at.
    #[test]
    fn errors_point_at_the_fault() {
        let cases = [
            ("[[step]]\nat_ms = 1\naction = \"dance\"\n", "s.toml:3:10: unknown action `dance`"),
            (
                "[[step]]\nat_ms = 1\naction = \"mute_audio\"\nmuted = \"yes\"\n",
                "s.toml:4:9: `mute_audio`: invalid type",
            ),
            (
                "[[step]]\nat_ms = 1\naction = \"mute_audio\"\nmutd = true\n",
                "s.toml:1:1: `mute_audio`: missing field `muted`",
            ),
            ("[[step]]\nat_ms = 1\naction = 5\n", "s.toml:3:10: "),
            (
                "[[step]]\nat_ms = 1\naction = \"mute_audio\"\n",
                "s.toml:1:1: `mute_audio`: missing field `muted`",
            ),
            (
                "[[step]]\nat_ms = 1\naction = \"end_session\"\n\n[[step]]\nat_ms = 2\nmuted = true\n",
                "s.toml:5:1: missing field `action`",
            ),
            ("[[step]]\nat_ms = \"soon\"\naction = \"end_session\"\n", "s.toml:2:9: invalid type"),
        ];
        for (text, expected) in cases {
            let err = Script::from_toml_str(text, "s.toml").expect_err("an invalid script").to_string();
            assert!(err.starts_with(expected), "{text:?}: got {err:?}, expected {expected:?}...");
        }
    }
}
