//! Opus encoding and decoding of 20 ms mono frames (libopus through the `opus` crate).

use super::{AudioFormat, MediaError};

/// Largest packet we let the encoder produce; RFC 6716's bound for one 20 ms frame is far
/// below this, and WebRTC packets must fit one MTU anyway.
const MAX_PACKET: usize = 1275;

/// Encodes one participant's outgoing audio. Holds libopus state across frames, so use one
/// encoder per outgoing stream, in order.
#[derive(Debug)]
pub struct OpusEncoder {
    inner: opus::Encoder,
}

impl OpusEncoder {
    /// A VoIP-tuned encoder at 48 kHz mono, 32 kbit/s, with in-band FEC so a lost packet
    /// can be partly recovered from the next one.
    pub fn new() -> Result<Self, MediaError> {
        let err = |source| MediaError::Opus { op: "creating encoder", source };
        let mut inner =
            opus::Encoder::new(AudioFormat::SAMPLE_RATE, opus::Channels::Mono, opus::Application::Voip)
                .map_err(err)?;
        inner.set_bitrate(opus::Bitrate::Bits(32_000)).map_err(err)?;
        inner.set_inband_fec(true).map_err(err)?;
        Ok(Self { inner })
    }

    /// Encodes one 20 ms frame into one Opus packet.
    pub fn encode(&mut self, frame: &[i16]) -> Result<Vec<u8>, MediaError> {
        check_len("encode", frame.len())?;
        self.inner.encode_vec(frame, MAX_PACKET).map_err(|source| MediaError::Opus { op: "encode", source })
    }
}

/// Decodes one remote participant's audio. One decoder per remote: libopus keeps per-stream
/// state (and loss concealment needs the stream's history).
#[derive(Debug)]
pub struct OpusDecoder {
    inner: opus::Decoder,
}

impl OpusDecoder {
    /// A decoder producing 48 kHz mono.
    pub fn new() -> Result<Self, MediaError> {
        let inner = opus::Decoder::new(AudioFormat::SAMPLE_RATE, opus::Channels::Mono)
            .map_err(|source| MediaError::Opus { op: "creating decoder", source })?;
        Ok(Self { inner })
    }

    /// Decodes one packet into one frame of [`AudioFormat::FRAME_SAMPLES`] samples.
    pub fn decode(&mut self, packet: &[u8]) -> Result<Vec<i16>, MediaError> {
        let mut out = vec![0i16; AudioFormat::FRAME_SAMPLES];
        let n = self
            .inner
            .decode(packet, &mut out, false)
            .map_err(|source| MediaError::Opus { op: "decode", source })?;
        check_len("decode", n)?;
        Ok(out)
    }

    /// Produces a frame for a packet that never arrived (libopus packet loss concealment),
    /// so a gap sounds like a smeared syllable instead of a click.
    pub fn conceal_lost(&mut self) -> Result<Vec<i16>, MediaError> {
        let mut out = vec![0i16; AudioFormat::FRAME_SAMPLES];
        self.inner
            .decode(&[], &mut out, false)
            .map_err(|source| MediaError::Opus { op: "conceal", source })?;
        Ok(out)
    }
}

fn check_len(op: &'static str, got: usize) -> Result<(), MediaError> {
    if got == AudioFormat::FRAME_SAMPLES {
        Ok(())
    } else {
        Err(MediaError::FrameSize { op, got, expected: AudioFormat::FRAME_SAMPLES })
    }
}
