//! The session's side of the feature plugins: the media tap (encoded frames of every local
//! and remote track, handed to plugins that declared `wants_media`, e.g. recording) and
//! the host commands those plugins return (`announce_recording`, `announce_pip_mode`,
//! `route_audio_output`).
//!
//! Kept out of the media it taps, so that audio (`audio.rs`) and [`crate::video`] have
//! one-line hooks, each with its own clone of the `MediaTap`, and the session task in
//! [`crate::runtime`] only turns recording on and off: the frames are copied once into an
//! `Arc` and shared by every tapping plugin; when no running plugin wants media the tap
//! costs one atomic load per frame. A leaf module: it imports nothing of this crate.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use switchboard_config::AudioOutput;
use switchboard_core::abi::{codec, media_kind};
use switchboard_core::model::{AudioMode, CallsException, ErrorCode};
use switchboard_core::settings::CallSettings;
use switchboard_core::{Command, Event};

use switchboard_media::audio::AudioSink;
use switchboard_media::video::VideoCodec;
use switchboard_runtime::bus::{Bus, MediaTapFrame};

/// The track name of a participant's (one) audio track in tap frames.
pub const AUDIO_TRACK: &str = "audio";
/// The track name of a participant's camera in tap frames.
pub const VIDEO_TRACK: &str = "video";

/// Hands encoded frames to the bus's media tap. Cheap to clone: one per media task.
#[derive(Debug, Clone)]
pub(crate) struct MediaTap {
    bus: Bus,
    /// Tap timestamps count from here (the session's start).
    epoch: Instant,
    /// A plugin of this host announced a recording and has not announced its end.
    recording: Arc<AtomicBool>,
}

impl MediaTap {
    pub(crate) fn new(bus: Bus, epoch: Instant) -> Self {
        Self { bus, epoch, recording: Arc::default() }
    }

    /// A plugin of this host announced that its recording started or stopped.
    pub(crate) fn set_recording(&self, started: bool) {
        self.recording.store(started, Ordering::Relaxed);
    }

    /// Whether this host is recording: the encoder keeps encoding for the recorder even
    /// when no link is connected (a participant alone in a recorded call).
    pub(crate) fn recording(&self) -> bool {
        self.recording.load(Ordering::Relaxed) && self.bus.wants_media()
    }

    /// One encoded Opus frame of `participant`'s audio, timestamped now (arrival for remote
    /// audio, encoding for local audio: what a recorder needs to place gaps correctly).
    pub(crate) fn opus(&self, participant: &str, data: &[u8]) {
        self.frame(media_kind::AUDIO, codec::OPUS, false, participant, AUDIO_TRACK, data);
    }

    /// One encoded video frame of `participant`'s camera (a whole VP8 frame or H.264 access
    /// unit), timestamped now like audio. Remote frames are tapped only from a keyframe on
    /// and never after a lost one (the decoder's own rule), so a recorder can write them
    /// as they come.
    pub(crate) fn video(&self, participant: &str, codec: VideoCodec, keyframe: bool, data: &[u8]) {
        let codec = match codec {
            VideoCodec::Vp8 => codec::VP8,
            VideoCodec::H264 => codec::H264,
        };
        self.frame(media_kind::VIDEO, codec, keyframe, participant, VIDEO_TRACK, data);
    }

    fn frame(&self, kind: u32, codec: u32, keyframe: bool, participant: &str, track: &str, data: &[u8]) {
        if !self.bus.wants_media() {
            return;
        }
        let timestamp_us = u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.bus.media(Arc::new(MediaTapFrame {
            kind,
            codec,
            keyframe,
            timestamp_us,
            participant: participant.to_owned(),
            track: track.to_owned(),
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
    switchboard_runtime::exec::spawn(async move {
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
