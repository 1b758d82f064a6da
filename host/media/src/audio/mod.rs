//! The media engine: capture, Opus, mixing and playback of call audio.
//!
//! Everything here works on one format, [`AudioFormat`]: 48 kHz, mono, signed 16-bit PCM
//! in frames of 20 ms (960 samples). Devices that want another channel count or sample type
//! are adapted at the device edge; nothing else in the host sees them.
//!
//! The session drives it like this: one [`Capture`] for the local participant, one
//! [`RemoteAudio`] per remote participant, one [`Mixer`] and one [`AudioSink`] per call.
//!
//! ```no_run
//! use switchboard_config::{AudioInput, AudioOutput};
//! use switchboard_media::audio::{self as media, Capture, Mixer, MuteGate, RemoteAudio};
//!
//! # async fn call() -> Result<(), media::MediaError> {
//! // Local side: paced 20 ms frames -> mute gate -> Opus packets for the outgoing track.
//! let gate = MuteGate::new(false); // `start_with_audio_muted` passes true
//! let mut capture = Capture::start(&AudioInput::Tone(440.0), gate.clone())?;
//! if let Some(packet) = capture.next_packet().await {
//!     let packet = packet?; // write `packet.packet` to the WebRTC track
//! #   let _ = packet;
//! }
//! gate.set_muted(true); // muteAudio(true): from now on nothing is sent
//!
//! // Remote side: packets from bob's track are decoded into the mixer; the sink plays it.
//! let mixer = Mixer::new();
//! let mut sink = media::start_sink(&AudioOutput::Device("spk_a".into()), mixer.clone())?;
//! let mut bob = RemoteAudio::new("bob", mixer.clone())?;
//! # let received: Vec<u8> = Vec::new();
//! bob.receive(&received)?; // per RTP packet; `bob.lost()` for a gap
//! sink.set_output(&AudioOutput::Device("spk_b".into()))?; // audio routing, mid-call
//! drop(bob); // bob left: out of the mix
//! sink.stop()?; // endSession: closes the device / finalizes the WAV file
//! # Ok(()) }
//! ```
//!
//! The lower-level parts ([`start_source`], [`OpusEncoder`], [`OpusDecoder`],
//! [`Mixer::push`]) are public too, for tests, benches and other pipelines.
//!
//! Threads: every source owns one worker thread (plus the cpal callback thread for device
//! sources); a paced sink (null, WAV) owns one worker thread, a device sink only the cpal
//! callback thread, which mixes straight from the jitter buffers. Nothing here needs an async runtime; frames leave
//! a source on a tokio channel so async code can `.await` them.

pub mod analysis;
mod capture;
mod codec;
mod device;
mod mixer;
mod probe;
mod sink;
mod source;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

pub use capture::{Capture, EncodedAudio, RemoteAudio};
pub use codec::{OpusDecoder, OpusEncoder};
pub use device::{DeviceOptions, Direction, input_device_names, output_device_names};
pub use mixer::{JITTER_HALF_LIFE, JitterConfig, Mixer, ParticipantStats};
pub use probe::{PROBE_CHUNK, PlayedChunk, PlayoutProbe, probe_playout};
pub use sink::{AudioSink, SinkStats, start_sink, start_sink_with};
pub use source::{AudioSource, click_source, start_source, start_source_with};

use switchboard_core::ErrorCode;

/// The one audio format of the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioFormat;

impl AudioFormat {
    /// Samples per second.
    pub const SAMPLE_RATE: u32 = 48_000;
    /// Channels of every frame (mono: voice calls gain nothing from stereo, and it halves
    /// Opus and mixing work). Device sinks copy the mono mix to every device channel.
    pub const CHANNELS: u16 = 1;
    /// Samples in one frame: 20 ms at 48 kHz, the Opus frame size WebRTC uses by default.
    pub const FRAME_SAMPLES: usize = 960;
    /// The duration of one frame.
    pub const FRAME_DURATION: Duration = Duration::from_millis(20);
}

/// One 20 ms frame of mono PCM.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioFrame {
    /// Exactly [`AudioFormat::FRAME_SAMPLES`] samples.
    pub samples: Vec<i16>,
    /// When the last sample of the frame was produced (synthetic sources) or delivered by
    /// the device (device sources); latency measurement starts here.
    pub captured_at: Instant,
}

impl AudioFrame {
    /// A frame of silence stamped now.
    pub fn silence() -> Self {
        Self { samples: vec![0; AudioFormat::FRAME_SAMPLES], captured_at: Instant::now() }
    }
}

/// The mute switch between a source and the encoder.
///
/// Muting does not stop the source (a device stays open, so unmuting is instant); it tells
/// the sending loop to drop frames instead of encoding and sending them, so that nothing at
/// all goes out while muted. Clones share one switch.
#[derive(Debug, Clone, Default)]
pub struct MuteGate(Arc<AtomicBool>);

impl MuteGate {
    /// A gate, initially muted or not (`start_with_audio_muted`).
    pub fn new(muted: bool) -> Self {
        Self(Arc::new(AtomicBool::new(muted)))
    }

    /// Mutes or unmutes; returns whether the state changed (so the caller emits
    /// `user_muted` once per change).
    pub fn set_muted(&self, muted: bool) -> bool {
        self.0.swap(muted, Ordering::AcqRel) != muted
    }

    /// Whether frames must be dropped instead of sent.
    pub fn is_muted(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// Everything that can go wrong in the media engine.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// A configured device does not exist (or vanished).
    #[error("audio {direction} device `{name}` not found (available: {available})")]
    DeviceMissing { direction: Direction, name: String, available: String },
    /// The audio system names the device but cannot reach it: it went away while open
    /// (unplugged, its sink unloaded), or it is listed with nothing behind it.
    #[error("audio {direction} device `{name}` is not available (listed, but gone or unreachable)")]
    DeviceUnavailable { direction: Direction, name: String },
    /// The device exists but could not be opened or failed while running.
    #[error("audio {direction} device `{name}`: {message}")]
    Device { direction: Direction, name: String, message: String },
    /// The device cannot run at 48 kHz in a sample type we convert.
    #[error("audio {direction} device `{name}` does not support {what}")]
    UnsupportedDevice { direction: Direction, name: String, what: String },
    /// The audio system itself could not be reached.
    #[error("audio host unavailable: {0}")]
    Host(String),
    /// A WAV file could not be read or written.
    #[error("wav file {}: {source}", path.display())]
    Wav { path: PathBuf, source: hound::Error },
    /// A WAV file has a format the engine does not take.
    #[error("wav file {}: {what}", path.display())]
    WavFormat { path: PathBuf, what: String },
    /// libopus failed.
    #[error("opus {op}: {source}")]
    Opus { op: &'static str, source: opus::Error },
    /// A frame of the wrong length was handed to the codec.
    #[error("opus {op}: frame has {got} samples, expected {expected}")]
    FrameSize { op: &'static str, got: usize, expected: usize },
    /// The worker thread of a source or sink could not be started or died.
    #[error("media worker `{name}`: {message}")]
    Worker { name: String, message: String },
}

impl MediaError {
    /// The seed's error code for the `error` event this failure becomes.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::DeviceMissing { .. }
            | Self::DeviceUnavailable { .. }
            | Self::Device { .. }
            | Self::UnsupportedDevice { .. }
            | Self::Host(_)
            | Self::Wav { .. }
            | Self::WavFormat { .. } => ErrorCode::DeviceMissing,
            Self::Opus { .. } | Self::FrameSize { .. } | Self::Worker { .. } => ErrorCode::Error,
        }
    }
}
