//! The session's side of the feature plugins: the media tap (encoded frames of every local
//! and remote track, handed to plugins that declared `wants_media`, e.g. recording) and
//! the host commands those plugins return (`announce_recording`, `announce_pip_mode`,
//! `route_audio_output`).
//!
//! Kept out of `runtime.rs` so that the runtime only has one-line hooks: the frames are
//! copied once into an `Arc` and shared by every tapping plugin; when no running plugin
//! wants media the tap costs one atomic load per frame.

use std::sync::Arc;
use std::time::Instant;

use switchboard_core::abi::{codec, media_kind};
use switchboard_core::config::AudioOutput;
use switchboard_core::model::{AudioMode, CallsException, ErrorCode};
use switchboard_core::settings::CallSettings;
use switchboard_core::{Command, Event};

use crate::bus::{Bus, MediaTapFrame};
use crate::media::AudioSink;

/// The track name of a participant's (one) audio track in tap frames.
pub const AUDIO_TRACK: &str = "audio";

/// Hands encoded frames to the bus's media tap. Cheap to clone: one per media task.
#[derive(Debug, Clone)]
pub(crate) struct MediaTap {
    bus: Bus,
    /// Tap timestamps count from here (the session's start).
    epoch: Instant,
}

impl MediaTap {
    pub(crate) fn new(bus: Bus, epoch: Instant) -> Self {
        Self { bus, epoch }
    }

    /// One encoded Opus frame of `participant`'s audio, timestamped now (arrival for remote
    /// audio, encoding for local audio: what a recorder needs to place gaps correctly).
    pub(crate) fn opus(&self, participant: &str, data: &[u8]) {
        if !self.bus.wants_media() {
            return;
        }
        let timestamp_us = u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.bus.media(Arc::new(MediaTapFrame {
            kind: media_kind::AUDIO,
            codec: codec::OPUS,
            keyframe: false,
            timestamp_us,
            participant: participant.to_owned(),
            track: AUDIO_TRACK.to_owned(),
            data: data.to_vec(),
        }));
    }
}

/// `route_audio_output`: moves playback to the cpal output `device`, mid-call, then raises
/// the `audio_mode_changed` the plugin asked for (`announce`). The new device is opened
/// before the old one is closed, so a device that cannot be opened is an error naming it,
/// the call keeps playing where it was, and nothing is announced: the modes last reported
/// (the old one selected) stay true.
pub(crate) fn route_audio_output(
    sink: Option<&mut AudioSink>,
    bus: &Bus,
    device: String,
    announce: Option<Vec<AudioMode>>,
) -> Result<(), CallsException> {
    let Some(sink) = sink else {
        return Err(CallsException::new(
            ErrorCode::DeviceMissing,
            format!("cannot route audio to `{device}`: the session has no audio output any more"),
        ));
    };
    let started = Instant::now();
    sink.set_output(&AudioOutput::Device(device.clone())).map_err(|e| {
        CallsException::new(
            e.code(),
            format!("moving playback to `{device}` failed, playback stays on `{}`: {e}", sink.output()),
        )
    })?;
    tracing::info!(device, took = ?started.elapsed(), "audio output moved");
    if let Some(modes) = announce {
        bus.publish(Event::AudioModeChanged { modes });
    }
    Ok(())
}

/// The `[call]` settings that ask a feature plugin for something at the start of the
/// session: `default_audio_mode` (a `set_audio_mode` for the audio-routing plugin) and
/// `start_recording_on_call_start` (a `start_recording`). They go through the bus like an
/// app's commands, so without a plugin providing the capability the bus raises
/// `CAPABILITY_MISSING` (a clear error, not a silent no-op); a plugin's refusal becomes an
/// `error` event.
pub(crate) fn call_start_commands(bus: &Bus, settings: &CallSettings) {
    let mut commands = Vec::new();
    if let Some(mode) = settings.default_audio_mode {
        commands.push(Command::SetAudioMode { mode });
    }
    if settings.start_recording_on_call_start {
        commands.push(Command::StartRecording);
    }
    if commands.is_empty() {
        return;
    }
    let bus = bus.clone();
    actix::spawn(async move {
        for command in commands {
            let name = command.name();
            match bus.command(command).await {
                Ok(()) => {}
                // Already published by the bus.
                Err(e) if e.code == ErrorCode::CapabilityMissing => {}
                Err(e) => {
                    let details = format!("`{name}` asked by the call settings at the start of the session");
                    bus.publish(Event::error(&e.with_details(details)));
                }
            }
        }
    });
}
