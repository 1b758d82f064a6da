//! `recording`: records the call to real media files, remuxing the encoded frames the
//! host's media tap hands over (no decoding, no re-encoding).
//!
//! Layout on disk, per recording: `<folder>/<session>-<unix ms>/` holding one file per
//! participant track: `<uid>-audio.opus` (Ogg/Opus) for audio and `<uid>-video.webm`
//! (WebM/VP8, see [`video`]) for a camera, and `manifest.json` listing the files, who
//! started and stopped the recording, and where each track starts on the recording's
//! timeline. One file per track keeps every file a plain, standard stream that any player
//! opens, and needs no mixing or interleaving (which would mean decoding, or holding
//! frames back to keep two tracks' timestamps in order).
//!
//! Crash safety: an Ogg page is ended (and written to the file, which is unbuffered) at
//! least every second of audio, and WebM frames are written as they come with the file's
//! duration rewritten every second, so a host killed with SIGKILL leaves files that play up
//! to the last second before the kill; the manifest is replaced atomically (write + rename).
//!
//! Timing: each track's timeline follows the tap timestamps; a stretch with no audio
//! packets longer than 200 ms (a muted microphone, lost packets) is filled with Opus
//! silence frames so the file's duration is the recorded wall-clock time. A video track
//! starts at its first keyframe (the host asks every sender for one when a recording
//! starts); a paused camera leaves a gap in the WebM timeline, which players hold on the
//! last picture.
//!
//! H.264 video (the non-default codec) is not recorded: WebM carries VP8. Such frames are
//! counted in the manifest.

pub mod video;

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use ogg::writing::{PacketWriteEndInfo, PacketWriter};
use serde::Deserialize;
use switchboard_core::abi::{codec, media_kind};
use switchboard_core::model::{CallsException, ErrorCode};
use switchboard_core::sdk::{Context, MediaFrame, Plugin, PluginError, Settings};
use switchboard_core::{Capability, Command, Event, EventKind, PluginKind, RtcUser};

use crate::video::{VideoTrackFile, vp8_keyframe_size};

/// Opus always runs at 48 kHz on the granule clock.
const SAMPLE_RATE: u64 = 48_000;
/// One 20 ms frame.
const FRAME_SAMPLES: u64 = 960;
/// An Ogg page is ended once this much audio has gathered in it: the crash-loss bound.
const PAGE_SAMPLES: u64 = SAMPLE_RATE;
/// A gap in the packets longer than this is filled with silence.
const GAP_FILL_SAMPLES: u64 = SAMPLE_RATE / 5;
/// A 20 ms CELT fullband mono frame of silence.
const OPUS_SILENCE: [u8; 3] = [0xF8, 0xFF, 0xFE];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordingSettings {
    /// Where recordings go; created when missing.
    #[serde(default = "default_folder")]
    folder: PathBuf,
    /// Start recording as soon as the session starts.
    #[serde(default)]
    start_recording_on_call_start: bool,
}

fn default_folder() -> PathBuf {
    PathBuf::from("recordings")
}

/// The number of 48 kHz samples an Opus packet holds, from its TOC byte (RFC 6716, 3.1).
pub fn opus_packet_samples(packet: &[u8]) -> Option<u64> {
    let toc = *packet.first()?;
    let config = usize::from(toc >> 3);
    let frame = match config {
        0..=11 => [480, 960, 1920, 2880][config % 4],
        12..=15 => [480, 960][config % 2],
        _ => [120, 240, 480, 960][config % 4],
    };
    let count = match toc & 3 {
        0 => 1,
        1 | 2 => 2,
        _ => u64::from(*packet.get(1)? & 0x3F),
    };
    Some(frame * count)
}

/// The `OpusHead` identification header (RFC 7845, 5.1). Pre-skip is 0: the tap carries
/// no encoder delay, and 0 keeps the file's duration equal to the recorded time.
fn opus_head(channels: u8) -> Vec<u8> {
    let mut head = b"OpusHead".to_vec();
    head.push(1);
    head.push(channels);
    head.extend_from_slice(&0u16.to_le_bytes());
    head.extend_from_slice(&48_000u32.to_le_bytes());
    head.extend_from_slice(&0i16.to_le_bytes());
    head.push(0);
    head
}

/// The `OpusTags` comment header (RFC 7845, 5.2) with our vendor string and no comments.
fn opus_tags() -> Vec<u8> {
    let vendor = concat!("switchboard-recording ", env!("CARGO_PKG_VERSION"));
    let mut tags = b"OpusTags".to_vec();
    tags.extend_from_slice(&(vendor.len() as u32).to_le_bytes());
    tags.extend_from_slice(vendor.as_bytes());
    tags.extend_from_slice(&0u32.to_le_bytes());
    tags
}

/// A file-name-safe form of a uid or track name.
pub(crate) fn safe_name(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .collect();
    if s.is_empty() { "_".to_owned() } else { s }
}

/// One participant track being written as an Ogg/Opus file.
struct Track {
    file: String,
    participant: String,
    track: String,
    start_offset_ms: u64,
    writer: PacketWriter<'static, File>,
    serial: u32,
    first_ts_us: u64,
    /// Samples queued so far (the granule position after the pending packet).
    granule: u64,
    /// The granule position that ended the last page.
    page_end: u64,
    /// The newest packet, held back so the last one can carry the end-of-stream flag.
    pending: Option<(Vec<u8>, u64)>,
    packets: u64,
    silence_packets: u64,
}

impl fmt::Debug for Track {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Track")
            .field("file", &self.file)
            .field("granule", &self.granule)
            .field("packets", &self.packets)
            .finish_non_exhaustive()
    }
}

impl Track {
    fn create(dir: &Path, frame: &MediaFrame<'_>, serial: u32, start_offset_ms: u64) -> io::Result<Self> {
        let base = format!("{}-{}", safe_name(frame.participant), safe_name(frame.track));
        let mut file = format!("{base}.opus");
        // Two participants whose names map to the same safe name get distinct files.
        if dir.join(&file).exists() {
            file = format!("{base}-{serial}.opus");
        }
        let out = File::create(dir.join(&file))?;
        let mut writer = PacketWriter::new(out);
        // The first packet's TOC says whether the sender encodes stereo.
        let channels = if frame.data.first().is_some_and(|toc| toc & 0x04 != 0) { 2 } else { 1 };
        writer.write_packet(opus_head(channels), serial, PacketWriteEndInfo::EndPage, 0)?;
        writer.write_packet(opus_tags(), serial, PacketWriteEndInfo::EndPage, 0)?;
        Ok(Self {
            file,
            participant: frame.participant.to_owned(),
            track: frame.track.to_owned(),
            start_offset_ms,
            writer,
            serial,
            first_ts_us: frame.timestamp_us,
            granule: 0,
            page_end: 0,
            pending: None,
            packets: 0,
            silence_packets: 0,
        })
    }

    fn push(&mut self, timestamp_us: u64, data: &[u8]) -> io::Result<()> {
        let due = timestamp_us.saturating_sub(self.first_ts_us) * SAMPLE_RATE / 1_000_000;
        // No packets for a while (muted, lost): silence keeps the file on the call's clock.
        // Shorter gaps are jitter: the packets are late, not missing.
        if due > self.granule + GAP_FILL_SAMPLES {
            while self.granule + FRAME_SAMPLES <= due {
                self.queue(OPUS_SILENCE.to_vec(), FRAME_SAMPLES)?;
                self.silence_packets += 1;
            }
        }
        let samples = opus_packet_samples(data).unwrap_or(FRAME_SAMPLES);
        self.queue(data.to_vec(), samples)
    }

    fn queue(&mut self, packet: Vec<u8>, samples: u64) -> io::Result<()> {
        if let Some((previous, granule)) = self.pending.take() {
            // End the page once a second of audio has gathered: the page reaches the file
            // now, so a crash loses at most that second.
            let end = if granule - self.page_end >= PAGE_SAMPLES {
                self.page_end = granule;
                PacketWriteEndInfo::EndPage
            } else {
                PacketWriteEndInfo::NormalPacket
            };
            self.writer.write_packet(previous, self.serial, end, granule)?;
        }
        self.granule += samples;
        self.pending = Some((packet, self.granule));
        self.packets += 1;
        Ok(())
    }

    /// Writes the last packet with the end-of-stream flag and syncs the file.
    fn finish(mut self) -> io::Result<()> {
        if let Some((last, granule)) = self.pending.take() {
            self.writer.write_packet(last, self.serial, PacketWriteEndInfo::EndStream, granule)?;
        }
        let mut file = self.writer.into_inner();
        file.flush()?;
        file.sync_all()
    }

    fn manifest(&self) -> serde_json::Value {
        serde_json::json!({
            "file": self.file,
            "participant": self.participant,
            "track": self.track,
            "container": "ogg",
            "codec": "opus",
            "start_offset_ms": self.start_offset_ms,
            "packets": self.packets,
            "silence_packets": self.silence_packets,
        })
    }
}

/// A recording in progress.
#[derive(Debug)]
struct Active {
    dir: PathBuf,
    started_by: String,
    started_at_unix_ms: u64,
    /// The tap timestamp of the first frame recorded: the recording's time zero.
    first_ts_us: Option<u64>,
    /// By (participant, track).
    tracks: BTreeMap<(String, String), Track>,
    /// By (participant, track).
    videos: BTreeMap<(String, String), VideoTrackFile>,
    /// Write failures, by file; a failed track stops recording, the others go on.
    failures: BTreeMap<String, String>,
    /// Video frames in a codec WebM does not carry (H.264).
    video_frames_skipped: u64,
    /// Video frames that came before their track's first keyframe.
    video_frames_before_keyframe: u64,
    next_serial: u32,
    /// Manifest entries of the tracks already finished (filled by `finish`).
    finished: Vec<serde_json::Value>,
}

impl Active {
    fn manifest(&self, stopped_by: Option<&str>) -> serde_json::Value {
        serde_json::json!({
            "format": "one file per participant track: Ogg/Opus audio, WebM/VP8 video",
            "started_by": self.started_by,
            "started_at_unix_ms": self.started_at_unix_ms,
            "stopped_by": stopped_by,
            "complete": stopped_by.is_some(),
            "tracks": self.tracks.values().map(Track::manifest)
                .chain(self.videos.values().map(VideoTrackFile::manifest))
                .collect::<Vec<_>>(),
            "failures": self.failures,
            "video_frames_skipped_h264": self.video_frames_skipped,
            "video_frames_before_keyframe": self.video_frames_before_keyframe,
        })
    }

    /// Replaces `manifest.json` atomically, so a crash leaves the old or the new one.
    fn write_manifest(&self, stopped_by: Option<&str>) -> io::Result<()> {
        let tmp = self.dir.join("manifest.json.tmp");
        let bytes = serde_json::to_vec_pretty(&self.manifest(stopped_by)).map_err(io::Error::other)?;
        fs::write(&tmp, bytes)?;
        fs::rename(&tmp, self.dir.join("manifest.json"))
    }

    fn on_frame(&mut self, frame: &MediaFrame<'_>) {
        if frame.kind == media_kind::VIDEO {
            self.on_video(frame);
            return;
        }
        if frame.kind != media_kind::AUDIO || frame.codec != codec::OPUS {
            return;
        }
        let key = (frame.participant.to_owned(), frame.track.to_owned());
        if let Some(track) = self.tracks.get_mut(&key) {
            if let Err(e) = track.push(frame.timestamp_us, frame.data) {
                self.fail(&key, &e);
            }
            return;
        }
        if self.failures.contains_key(&format!("{}-{}", key.0, key.1)) {
            return;
        }
        let zero = *self.first_ts_us.get_or_insert(frame.timestamp_us);
        let offset_ms = frame.timestamp_us.saturating_sub(zero) / 1000;
        self.next_serial += 1;
        let created = Track::create(&self.dir, frame, self.next_serial, offset_ms)
            .and_then(|mut track| track.push(frame.timestamp_us, frame.data).map(|()| track));
        match created {
            Ok(track) => {
                self.tracks.insert(key, track);
                // Best effort: the files are the recording; the manifest is rewritten at stop.
                let _ = self.write_manifest(None);
            }
            Err(e) => {
                self.failures.insert(format!("{}-{}", key.0, key.1), e.to_string());
            }
        }
    }

    fn on_video(&mut self, frame: &MediaFrame<'_>) {
        if frame.codec != codec::VP8 {
            self.video_frames_skipped += 1;
            return;
        }
        let key = (frame.participant.to_owned(), frame.track.to_owned());
        if let Some(track) = self.videos.get_mut(&key) {
            if let Err(e) = track.push(frame.timestamp_us, frame.data) {
                let file = track.file.clone();
                self.videos.remove(&key);
                self.failures.insert(file, e.to_string());
            }
            return;
        }
        if self.failures.contains_key(&format!("{}-{}", key.0, key.1)) {
            return;
        }
        let Some(size) = vp8_keyframe_size(frame.data) else {
            self.video_frames_before_keyframe += 1;
            return;
        };
        let zero = *self.first_ts_us.get_or_insert(frame.timestamp_us);
        let offset_ms = frame.timestamp_us.saturating_sub(zero) / 1000;
        self.next_serial += 1;
        match VideoTrackFile::create(&self.dir, frame, size, self.next_serial, offset_ms) {
            Ok(track) => {
                self.videos.insert(key, track);
                let _ = self.write_manifest(None);
            }
            Err(e) => {
                self.failures.insert(format!("{}-{}", key.0, key.1), e.to_string());
            }
        }
    }

    fn fail(&mut self, key: &(String, String), error: &io::Error) {
        if let Some(track) = self.tracks.remove(key) {
            self.failures.insert(track.file.clone(), error.to_string());
        }
    }

    /// Ends every file and writes the final manifest; the first failure is returned.
    fn finish(mut self, stopped_by: &str) -> Result<PathBuf, String> {
        let mut first_error = None;
        for (_, track) in std::mem::take(&mut self.tracks) {
            let file = track.file.clone();
            let manifest = track.manifest();
            match track.finish() {
                Ok(()) => {}
                Err(e) => {
                    first_error.get_or_insert_with(|| format!("finishing {file}: {e}"));
                    self.failures.insert(file, e.to_string());
                }
            }
            self.finished.push(manifest);
        }
        for (_, track) in std::mem::take(&mut self.videos) {
            let file = track.file.clone();
            let manifest = track.manifest();
            if let Err(e) = track.finish() {
                first_error.get_or_insert_with(|| format!("finishing {file}: {e}"));
                self.failures.insert(file, e.to_string());
            }
            self.finished.push(manifest);
        }
        let mut manifest = self.manifest(Some(stopped_by));
        manifest["tracks"] = serde_json::Value::Array(std::mem::take(&mut self.finished));
        let tmp = self.dir.join("manifest.json.tmp");
        let written = serde_json::to_vec_pretty(&manifest)
            .map_err(io::Error::other)
            .and_then(|bytes| fs::write(&tmp, bytes))
            .and_then(|()| fs::rename(&tmp, self.dir.join("manifest.json")));
        if let Err(e) = written {
            first_error.get_or_insert_with(|| format!("writing the manifest: {e}"));
        }
        if first_error.is_none()
            && let Some((file, e)) = self.failures.iter().next()
        {
            first_error = Some(format!("{file}: {e}"));
        }
        match first_error {
            None => Ok(self.dir),
            Some(e) => Err(format!("recording in {}: {e}", self.dir.display())),
        }
    }
}

/// The plugin.
#[derive(Debug, Default)]
pub struct Recording {
    folder: PathBuf,
    auto_start: bool,
    session_id: Option<String>,
    local: Option<RtcUser>,
    active: Option<Active>,
}

impl Recording {
    fn start(&mut self, by: &RtcUser) -> Result<(), CallsException> {
        if let Some(active) = &self.active {
            return Err(CallsException::new(
                ErrorCode::InvalidState,
                format!("already recording (started by {}) into {}", active.started_by, active.dir.display()),
            ));
        }
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let started_at_unix_ms = u64::try_from(now.as_millis()).unwrap_or(u64::MAX);
        let session = self.session_id.as_deref().map_or_else(|| "call".to_owned(), safe_name);
        let dir = self.folder.join(format!("{session}-{started_at_unix_ms}"));
        fs::create_dir_all(&dir).map_err(|e| {
            CallsException::new(
                ErrorCode::Error,
                format!("creating the recording folder {}: {e}", dir.display()),
            )
        })?;
        let active = Active {
            dir,
            started_by: by.uid.clone(),
            started_at_unix_ms,
            first_ts_us: None,
            tracks: BTreeMap::new(),
            videos: BTreeMap::new(),
            failures: BTreeMap::new(),
            video_frames_skipped: 0,
            video_frames_before_keyframe: 0,
            next_serial: 0,
            finished: Vec::new(),
        };
        active.write_manifest(None).map_err(|e| {
            CallsException::new(
                ErrorCode::Error,
                format!("writing the manifest in {}: {e}", active.dir.display()),
            )
        })?;
        self.active = Some(active);
        Ok(())
    }

    fn stop(&mut self, by: &RtcUser) -> Result<(), CallsException> {
        let Some(active) = self.active.take() else {
            return Err(CallsException::new(ErrorCode::InvalidState, "not recording: nothing to stop"));
        };
        active.finish(&by.uid).map(|_| ()).map_err(|e| CallsException::new(ErrorCode::Error, e))
    }
}

impl Plugin for Recording {
    const ID: &'static str = "recording";
    const NAME: &'static str = "Recording";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const KIND: PluginKind = PluginKind::Feature;
    const DESCRIPTION: &'static str = "Records each participant's audio and video, remuxed without re-encoding, into Ogg/Opus and WebM/VP8 files plus a manifest.";
    const CAPABILITIES: &'static [Capability] = &[Capability::Recording];
    const SUBSCRIPTIONS: &'static [EventKind] = &[EventKind::SessionStarted, EventKind::SessionEnded];
    const WANTS_MEDIA: bool = true;

    fn configure(&mut self, settings: &Settings) -> Result<(), PluginError> {
        let settings: RecordingSettings = settings.parse()?;
        self.folder = settings.folder;
        self.auto_start = settings.start_recording_on_call_start;
        Ok(())
    }

    fn on_event(&mut self, event: &Event, ctx: &mut Context) {
        match event {
            Event::SessionStarted { session_id, user } => {
                self.session_id = Some(session_id.clone());
                self.local = Some(user.clone());
                if self.auto_start && self.start(user).is_ok() {
                    ctx.send(Command::AnnounceRecording { started: true });
                }
            }
            Event::SessionEnded { .. } => {
                // The call is over: close the files. Nobody is left to tell.
                if let Some(active) = self.active.take() {
                    let by = self.local.as_ref().map_or("", |u| u.uid.as_str()).to_owned();
                    let _ = active.finish(&by);
                }
            }
            _ => {}
        }
    }

    fn on_command(
        &mut self,
        command: &Command,
        from: &RtcUser,
        ctx: &mut Context,
    ) -> Result<(), CallsException> {
        match command {
            Command::StartRecording => {
                self.start(from)?;
                ctx.send(Command::AnnounceRecording { started: true });
                Ok(())
            }
            Command::StopRecording => {
                let stopped = self.stop(from);
                // Even a stop whose files failed ends the recording: tell everyone.
                if !matches!(&stopped, Err(e) if e.code == ErrorCode::InvalidState) {
                    ctx.send(Command::AnnounceRecording { started: false });
                }
                stopped
            }
            other => Err(CallsException::new(
                ErrorCode::NotImplemented,
                format!("plugin `recording` does not carry out `{}`", other.name()),
            )),
        }
    }

    fn on_media(&mut self, frame: &MediaFrame<'_>) {
        if let Some(active) = self.active.as_mut() {
            active.on_frame(frame);
        }
    }

    fn shutdown(&mut self) {
        if let Some(active) = self.active.take() {
            let by = self.local.as_ref().map_or("", |u| u.uid.as_str()).to_owned();
            let _ = active.finish(&by);
        }
    }
}

switchboard_core::export_plugin!(Recording);

#[cfg(test)]
mod tests;
