//! Audio in a session: the microphone (capture, mute gate, Opus encoding), the speaker
//! (the mixer every remote participant's decoded audio goes into, and the output device),
//! one decoding task per remote audio track, and the audio levels that drive the active
//! speaker ([`crate::speaker`]).
//!
//! The session task ([`crate::runtime`]) owns one [`SessionAudio`] and calls it from its
//! loop: [`SessionAudio::next`] is the loop's one audio arm (a microphone frame, or a
//! remote participant's level), [`SessionAudio::encode`] turns a frame into the packet the
//! task sends on every link, and [`SessionAudio::receive`] starts decoding a remote track.
//! Sending the packet is the mesh's ([`crate::links`]); what the room or the bus hear is
//! the task's. So a change to how audio is captured, encoded, decoded, mixed or measured
//! belongs here, and a change to who gets it belongs to the links.
//!
//! Nothing here has a lock or a task of its own on the microphone's path: a frame comes
//! out of the device's channel, is encoded in place and returned to the loop. Decoding
//! runs in one task per remote track and meets the session only through the mixer, the
//! counters ([`crate::stats`]) and the bounded queue of levels.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use switchboard_config::MediaConfig;
use switchboard_core::model::{AudioMode, CallsException, ErrorCode};
use switchboard_media::audio::{
    self as media, AudioFormat, AudioSink, AudioSource, MediaError, Mixer, MuteGate, OpusDecoder, OpusEncoder,
};
use switchboard_rtc::{self as rtc, PeerLink};
use switchboard_runtime::bus::Bus;
use tokio::sync::mpsc;

use crate::speaker::{SpeakerDetector, level_dbfs};
use crate::stats::{RemoteCounters, SharedStats};
use crate::tap::{self, MediaTap};

/// Level reports queued from the decoding tasks (about 50 per second per remote); more
/// means the session task is stalled, and dropping them only delays the spotlight.
const LEVEL_QUEUE: usize = 256;

/// The audio devices and the encoder a session opens before it joins.
pub(crate) struct Devices {
    source: AudioSource,
    sink: AudioSink,
    mixer: Mixer,
    encoder: OpusEncoder,
}

impl Devices {
    /// Opens the configured microphone and speaker (blocking).
    pub(crate) fn open(media: &MediaConfig) -> Result<Self, CallsException> {
        let options = media::DeviceOptions::from(media);
        let source = media::start_source_with(&media.audio_input, options)
            .map_err(|e| CallsException::new(e.code(), format!("opening audio input: {e}")))?;
        let mixer = Mixer::new();
        let sink = media::start_sink_with(&media.audio_output, mixer.clone(), options)
            .map_err(|e| CallsException::new(e.code(), format!("opening audio output: {e}")))?;
        let encoder = OpusEncoder::new().map_err(|e| {
            CallsException::new(ErrorCode::SdkInitError, format!("creating the Opus encoder: {e}"))
        })?;
        tracing::debug!(target: switchboard_signaling::SETUP_TRACE, stage = "devices ready");
        Ok(Self { source, sink, mixer, encoder })
    }
}

/// What the audio side has for the session task's loop.
pub(crate) enum AudioInput {
    /// One microphone frame.
    Frame(Vec<i16>),
    /// The microphone stopped (see [`SessionAudio::source_ended`]).
    SourceEnded,
    /// One decoded frame's level of a remote participant (uid, dBFS).
    Level(String, f32),
}

/// The newest microphone frame: raw while alone and not recording (nothing is encoded
/// then), else as sent.
#[derive(Clone)]
enum LastAudio {
    Raw(Vec<i16>),
    Encoded(Bytes),
}

/// The session's audio: devices, encoder, mute gate, mixer, levels and active speaker.
pub(crate) struct SessionAudio {
    /// None once the microphone stopped or the session ended.
    source: Option<AudioSource>,
    /// None once the session ended.
    sink: Option<AudioSink>,
    mixer: Mixer,
    encoder: OpusEncoder,
    gate: MuteGate,
    /// The audio level of each remote frame, from the decoding tasks.
    levels_tx: mpsc::Sender<(String, f32)>,
    levels: mpsc::Receiver<(String, f32)>,
    speaker: SpeakerDetector,
    /// The newest microphone frame and when it came (none while muted), for new links.
    last_audio: Option<(LastAudio, Instant)>,
    /// Where local and remote Opus frames are tapped for recorders.
    tap: MediaTap,
    stats: Arc<SharedStats>,
}

impl SessionAudio {
    /// The audio of a session that opened `devices`, muted or not from the start.
    pub(crate) fn new(devices: Devices, muted: bool, tap: MediaTap, stats: Arc<SharedStats>) -> Self {
        let Devices { source, sink, mixer, encoder } = devices;
        let (levels_tx, levels) = mpsc::channel(LEVEL_QUEUE);
        Self {
            source: Some(source),
            sink: Some(sink),
            mixer,
            encoder,
            gate: MuteGate::new(muted),
            levels_tx,
            levels,
            speaker: SpeakerDetector::default(),
            last_audio: None,
            tap,
            stats,
        }
    }

    /// The next microphone frame or remote level; cancel-safe, for the task's `select!`.
    pub(crate) async fn next(&mut self) -> AudioInput {
        let (source, levels) = (&mut self.source, &mut self.levels);
        let frames = async {
            match source.as_mut() {
                Some(source) => source.frames().recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            frame = frames => match frame {
                Some(frame) => AudioInput::Frame(frame.samples),
                None => AudioInput::SourceEnded,
            },
            Some((uid, dbfs)) = levels.recv() => AudioInput::Level(uid, dbfs),
        }
    }

    /// One frame's audio level of a participant: the new active speaker (none when
    /// nobody is speaking) when the spotlight moves.
    pub(crate) fn level(&mut self, uid: &str, dbfs: f32) -> Option<Option<String>> {
        self.speaker.observe(uid, dbfs, Instant::now())
    }

    /// The level of the local user's microphone frame, as [`SessionAudio::level`]: a
    /// muted microphone is silence to the active speaker too.
    pub(crate) fn local_level(&mut self, local: &str, samples: &[i16]) -> Option<Option<String>> {
        let dbfs = if self.gate.is_muted() { f32::NEG_INFINITY } else { level_dbfs(samples) };
        self.level(local, dbfs)
    }

    /// Encodes one microphone frame of the local user's (`local`), which came at `now`, for
    /// the links; taps it. Nothing while muted, nor while nobody is `linked` and no
    /// recorder wants it (the frame is then kept raw for [`SessionAudio::prime`]).
    pub(crate) fn encode(
        &mut self,
        local: &str,
        samples: Vec<i16>,
        now: Instant,
        linked: bool,
    ) -> Result<Option<rtc::AudioFrame>, MediaError> {
        if self.gate.is_muted() {
            self.last_audio = None;
            return Ok(None);
        }
        // Alone, nothing is encoded (nobody to send it to), unless a recorder wants it.
        if !linked && !self.tap.recording() {
            self.last_audio = Some((LastAudio::Raw(samples), now));
            return Ok(None);
        }
        let packet = Bytes::from(self.encoder.encode(&samples)?);
        self.last_audio = Some((LastAudio::Encoded(packet.clone()), now));
        self.tap.opus(local, &packet);
        Ok(Some(rtc::AudioFrame { data: packet, duration: AudioFormat::FRAME_DURATION }))
    }

    /// `mute_audio`: mutes or unmutes the microphone.
    pub(crate) fn set_muted(&self, muted: bool) {
        self.gate.set_muted(muted);
    }

    /// Gives a new link the newest microphone frame, to send the moment it connects
    /// rather than at the next frame, up to 20 ms later (see `PeerLink::hold_audio`).
    /// Called once the offer or answer is on its way: the link connects a few ms later.
    pub(crate) fn prime(&self, link: &Arc<PeerLink>) {
        let Some((audio, at)) = self.last_audio.clone() else { return };
        let link = Arc::clone(link);
        switchboard_runtime::exec::spawn(async move {
            let packet = match audio {
                LastAudio::Encoded(packet) => packet,
                // Alone until now, nothing was encoded. Encoding takes a few tenths of a
                // ms: on a thread of its own, with an encoder of its own, it overlaps the
                // trip of the offer or answer just queued instead of delaying it.
                LastAudio::Raw(samples) => {
                    let encoded = tokio::task::spawn_blocking(move || {
                        OpusEncoder::new().and_then(|mut encoder| encoder.encode(&samples))
                    });
                    match encoded.await {
                        Ok(Ok(packet)) => Bytes::from(packet),
                        failed => {
                            tracing::debug!("encoding the newest frame for a new link: {failed:?}");
                            return;
                        }
                    }
                }
            };
            let frame = rtc::AudioFrame { data: packet, duration: AudioFormat::FRAME_DURATION };
            if let Err(e) = link.hold_audio(&frame, at).await {
                tracing::debug!("holding audio for a new link: {e}");
            }
        });
    }

    /// Starts decoding a remote participant's (`uid`) audio track into the mixer, the
    /// tap, `counters` and the levels, in a task of its own.
    pub(crate) fn receive(
        &self,
        track: rtc::RemoteTrack,
        uid: String,
        counters: Arc<RemoteCounters>,
    ) -> Result<(), MediaError> {
        let decoder = OpusDecoder::new()?;
        let outlets = AudioOutlets {
            mixer: self.mixer.clone(),
            counters,
            stats: Arc::clone(&self.stats),
            tap: self.tap.clone(),
            levels: self.levels_tx.clone(),
        };
        switchboard_runtime::exec::spawn(decode_audio(track, decoder, uid, outlets));
        Ok(())
    }

    /// The participant `uid` has no link left: its audio leaves the mix, and it leaves
    /// the active speaker detection. The new active speaker (as [`SessionAudio::level`])
    /// when it was them.
    pub(crate) fn participant_left(&mut self, uid: &str) -> Option<Option<String>> {
        self.mixer.remove(uid);
        self.speaker.remove(uid)
    }

    /// `route_audio_output` (see [`tap::route_audio_output`]).
    pub(crate) fn route_output(
        &mut self,
        bus: &Bus,
        device: String,
        announce: Option<Vec<AudioMode>>,
    ) -> Result<(), CallsException> {
        tap::route_audio_output(self.sink.as_mut(), bus, device, announce)
    }

    /// The microphone stopped: drops it, and says why for the `error` event.
    pub(crate) fn source_ended(&mut self) -> String {
        let error = self.source.as_ref().and_then(AudioSource::take_error);
        self.source = None;
        match error {
            Some(e) => format!("the audio input stopped: {e}"),
            None => "the audio input stopped".to_owned(),
        }
    }

    /// Closes the devices. Idempotent; the error is the output's, which may fail to close.
    pub(crate) fn stop(&mut self) -> Result<(), MediaError> {
        if let Some(source) = self.source.take() {
            source.stop();
        }
        match self.sink.take() {
            Some(sink) => sink.stop(),
            None => Ok(()),
        }
    }
}

/// Where a remote participant's decoded audio goes, besides the speaker.
struct AudioOutlets {
    mixer: Mixer,
    counters: Arc<RemoteCounters>,
    stats: Arc<SharedStats>,
    tap: MediaTap,
    levels: mpsc::Sender<(String, f32)>,
}

async fn decode_audio(mut track: rtc::RemoteTrack, mut decoder: OpusDecoder, uid: String, out: AudioOutlets) {
    let AudioOutlets { mixer, counters, stats, tap, levels } = out;
    while let Some(frame) = track.frames.recv().await {
        counters.audio_packets.add(1);
        tap.opus(&uid, &frame.data);
        match decoder.decode(&frame.data) {
            Ok(pcm) => {
                counters.audio_frames_decoded.add(1);
                stats.remote_audio_decoded();
                // A level report lost to a full queue only delays the spotlight.
                let _ = levels.try_send((uid.clone(), level_dbfs(&pcm)));
                mixer.push(&uid, pcm);
            }
            Err(e) => tracing::debug!(uid, "undecodable audio packet: {e}"),
        }
    }
}
