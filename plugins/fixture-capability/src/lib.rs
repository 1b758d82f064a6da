//! `fixture-capability`: provides the `recording` capability without recording anything,
//! for routing tests.
//!
//! - `start_recording` / `stop_recording` answer ok, or `INVALID_STATE` when already in
//!   that state.
//! - It subscribes to `user_joined` and `button_pressed` only. A `button_pressed` whose id
//!   names a command returns that command: `record` -> `start_recording`, `stop` ->
//!   `stop_recording`, `pip` -> `enter_pip_mode`, `mute` -> `mute_audio {muted: true}`.
//! - It wants media: each media tap frame is logged as `{"media": {participant, track, len}}`.
//! - With a `path` setting, it appends one JSON line per message it gets:
//!   `{"event": {...}}`, `{"command": {...}}` or `{"media": {...}}`, so a test can see
//!   exactly what reached it.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;

use serde::Deserialize;
use switchboard_core::model::{CallsException, ErrorCode};
use switchboard_core::sdk::{Context, MediaFrame, Plugin, PluginError, Settings};
use switchboard_core::{Capability, Command, Event, EventKind, PluginKind, RtcUser};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CapabilitySettings {
    /// Where to log what reached the plugin.
    #[serde(default)]
    path: Option<PathBuf>,
}

/// The plugin.
#[derive(Debug, Default)]
pub struct CapabilityFixture {
    recording: bool,
    log: Option<File>,
}

impl CapabilityFixture {
    fn log(&mut self, line: serde_json::Value) {
        if let Some(file) = self.log.as_mut() {
            // A test fixture: a failed write shows up as a missing line in the test.
            let _ = writeln!(file, "{line}");
        }
    }
}

impl Plugin for CapabilityFixture {
    const ID: &'static str = "fixture-capability";
    const NAME: &'static str = "Capability fixture";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const KIND: PluginKind = PluginKind::Fixture;
    const DESCRIPTION: &'static str = "Provides `recording` without recording, for routing tests.";
    const CAPABILITIES: &'static [Capability] = &[Capability::Recording];
    const SUBSCRIPTIONS: &'static [EventKind] = &[EventKind::UserJoined, EventKind::ButtonPressed];
    const WANTS_MEDIA: bool = true;

    fn configure(&mut self, settings: &Settings) -> Result<(), PluginError> {
        let settings: CapabilitySettings = settings.parse()?;
        if let Some(path) = settings.path {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|e| PluginError::Other(format!("opening {}: {e}", path.display())))?;
            self.log = Some(file);
        }
        Ok(())
    }

    fn on_event(&mut self, event: &Event, ctx: &mut Context) {
        self.log(serde_json::json!({ "event": event }));
        if let Event::ButtonPressed { id } = event {
            match id.as_str() {
                "record" => ctx.send(Command::StartRecording),
                "stop" => ctx.send(Command::StopRecording),
                "pip" => ctx.send(Command::EnterPipMode),
                "mute" => ctx.send(Command::MuteAudio { muted: true }),
                _ => {}
            }
        }
    }

    fn on_media(&mut self, frame: &MediaFrame<'_>) {
        self.log(serde_json::json!({
            "media": { "participant": frame.participant, "track": frame.track, "len": frame.data.len() }
        }));
    }

    fn on_command(
        &mut self,
        command: &Command,
        _from: &RtcUser,
        _ctx: &mut Context,
    ) -> Result<(), CallsException> {
        self.log(serde_json::json!({ "command": command }));
        match command {
            Command::StartRecording if self.recording => {
                Err(CallsException::new(ErrorCode::InvalidState, "already recording"))
            }
            Command::StartRecording => {
                self.recording = true;
                Ok(())
            }
            Command::StopRecording if !self.recording => {
                Err(CallsException::new(ErrorCode::InvalidState, "not recording"))
            }
            Command::StopRecording => {
                self.recording = false;
                Ok(())
            }
            other => Err(CallsException::new(
                ErrorCode::NotImplemented,
                format!("fixture-capability does not handle `{}`", other.name()),
            )),
        }
    }
}

switchboard_core::export_plugin!(CapabilityFixture);
