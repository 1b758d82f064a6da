//! The two ends the session plugs into its tracks: [`Capture`] (local source -> mute gate
//! -> Opus packets to send) and [`RemoteAudio`] (one remote's packets -> decoder -> mixer).

use std::time::{Duration, Instant};

use switchboard_config::AudioInput;

use super::{AudioFormat, AudioSource, MediaError, Mixer, MuteGate, OpusDecoder, OpusEncoder, start_source};

/// One Opus packet (20 ms) ready for the outgoing track.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedAudio {
    /// The Opus packet.
    pub packet: Vec<u8>,
    /// How much audio it carries (always 20 ms); advances the RTP clock.
    pub duration: Duration,
    /// When its frame was captured (see [`super::AudioFrame::captured_at`]).
    pub captured_at: Instant,
}

/// The local participant's outgoing audio.
#[derive(Debug)]
pub struct Capture {
    source: AudioSource,
    encoder: OpusEncoder,
    gate: MuteGate,
    sent: u64,
    muted_frames: u64,
}

impl Capture {
    /// Starts the configured source. `gate` is shared with whoever handles `muteAudio`.
    pub fn start(input: &AudioInput, gate: MuteGate) -> Result<Self, MediaError> {
        Self::from_source(start_source(input)?, gate)
    }

    /// Wraps a source already running (e.g. [`super::click_source`]).
    pub fn from_source(source: AudioSource, gate: MuteGate) -> Result<Self, MediaError> {
        Ok(Self { source, encoder: OpusEncoder::new()?, gate, sent: 0, muted_frames: 0 })
    }

    /// Waits for the next packet to send. While the gate is closed, captured frames are
    /// consumed and dropped before the encoder, so nothing is sent and nothing queues up
    /// for later. `None` means the source ended ([`Capture::take_error`] says why).
    pub async fn next_packet(&mut self) -> Option<Result<EncodedAudio, MediaError>> {
        loop {
            let frame = self.source.frames().recv().await?;
            if let Some(packet) = self.gate_and_encode(frame) {
                return Some(packet);
            }
        }
    }

    /// [`Capture::next_packet`] for threads outside an async runtime.
    pub fn blocking_next_packet(&mut self) -> Option<Result<EncodedAudio, MediaError>> {
        loop {
            let frame = self.source.frames().blocking_recv()?;
            if let Some(packet) = self.gate_and_encode(frame) {
                return Some(packet);
            }
        }
    }

    fn gate_and_encode(&mut self, frame: super::AudioFrame) -> Option<Result<EncodedAudio, MediaError>> {
        if self.gate.is_muted() {
            self.muted_frames += 1;
            return None;
        }
        let packet = self.encoder.encode(&frame.samples).map(|packet| {
            self.sent += 1;
            EncodedAudio { packet, duration: AudioFormat::FRAME_DURATION, captured_at: frame.captured_at }
        });
        Some(packet)
    }

    /// The mute switch.
    pub fn gate(&self) -> &MuteGate {
        &self.gate
    }

    /// Packets handed out so far (`audio_packets_sent` in `--stats`).
    pub fn packets_sent(&self) -> u64 {
        self.sent
    }

    /// Frames dropped because the gate was closed.
    pub fn muted_frames(&self) -> u64 {
        self.muted_frames
    }

    /// What the source is (e.g. `tone:440`).
    pub fn source_name(&self) -> &str {
        self.source.name()
    }

    /// Why the source ended, if it failed.
    pub fn take_error(&self) -> Option<MediaError> {
        self.source.take_error()
    }
}

/// One remote participant's incoming audio. Dropping it removes the participant from the
/// mix (they left, or their track ended).
#[derive(Debug)]
pub struct RemoteAudio {
    uid: String,
    decoder: OpusDecoder,
    mixer: Mixer,
    packets: u64,
    concealed: u64,
    /// RTP sequence number of the last packet decoded, for loss and reorder detection.
    last_sequence: Option<u16>,
}

/// Gaps longer than this (in packets) are a restart, not loss: concealing a second of
/// audio would only delay the real packets behind it.
const MAX_CONCEALED_GAP: u16 = 5;

impl RemoteAudio {
    /// A decoder for participant `uid` feeding `mixer`.
    pub fn new(uid: impl Into<String>, mixer: Mixer) -> Result<Self, MediaError> {
        Ok(Self {
            uid: uid.into(),
            decoder: OpusDecoder::new()?,
            mixer,
            packets: 0,
            concealed: 0,
            last_sequence: None,
        })
    }

    /// Decodes one received packet into the mix.
    pub fn receive(&mut self, packet: &[u8]) -> Result<(), MediaError> {
        let pcm = self.decoder.decode(packet)?;
        self.packets += 1;
        self.mixer.push(&self.uid, pcm);
        Ok(())
    }

    /// Decodes a packet carrying RTP sequence number `sequence`: a gap of up to five
    /// packets is concealed first, and a packet older than the last one decoded (late or
    /// duplicated) is dropped, since its slot in the mix has passed. Returns whether it
    /// was decoded.
    pub fn receive_sequenced(&mut self, sequence: u16, packet: &[u8]) -> Result<bool, MediaError> {
        if let Some(last) = self.last_sequence {
            let ahead = sequence.wrapping_sub(last);
            if ahead == 0 || ahead > u16::MAX / 2 {
                return Ok(false);
            }
            if ahead - 1 <= MAX_CONCEALED_GAP {
                for _ in 1..ahead {
                    self.lost()?;
                }
            }
        }
        self.last_sequence = Some(sequence);
        self.receive(packet)?;
        Ok(true)
    }

    /// Fills in for a packet that never arrived (a gap in sequence numbers).
    pub fn lost(&mut self) -> Result<(), MediaError> {
        let pcm = self.decoder.conceal_lost()?;
        self.concealed += 1;
        self.mixer.push(&self.uid, pcm);
        Ok(())
    }

    /// The participant's uid.
    pub fn uid(&self) -> &str {
        &self.uid
    }

    /// Packets decoded (`audio_packets` in `--stats`).
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// Packets concealed.
    pub fn concealed(&self) -> u64 {
        self.concealed
    }
}

impl Drop for RemoteAudio {
    fn drop(&mut self) {
        self.mixer.remove(&self.uid);
    }
}
