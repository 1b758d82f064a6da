//! The codec choice (VP8 or H.264) behind one encoder and one decoder type, so the session
//! picks by config or SDP negotiation without knowing which library is underneath.
//!
//! The only module that names both codec wrappers; they and this module use the shared
//! types of `codec`, which uses neither.

use super::VideoError;
use super::codec::{EncodedFrame, EncoderSettings, VideoCodec};
use super::frame::I420Frame;
use super::h264::{H264Decoder, H264Encoder};
use super::vp8::{Vp8Decoder, Vp8Encoder};

/// An encoder of either codec.
#[derive(Debug)]
pub enum VideoEncoder {
    /// libvpx VP8.
    Vp8(Vp8Encoder),
    /// openh264 (boxed: its output buffer table is several kilobytes).
    H264(Box<H264Encoder>),
}

impl VideoEncoder {
    /// Opens an encoder.
    pub fn new(codec: VideoCodec, settings: EncoderSettings) -> Result<Self, VideoError> {
        Ok(match codec {
            VideoCodec::Vp8 => Self::Vp8(Vp8Encoder::new(settings)?),
            VideoCodec::H264 => Self::H264(Box::new(H264Encoder::new(settings)?)),
        })
    }

    /// The codec.
    pub fn codec(&self) -> VideoCodec {
        match self {
            Self::Vp8(_) => VideoCodec::Vp8,
            Self::H264(_) => VideoCodec::H264,
        }
    }

    /// The settings in force.
    pub fn settings(&self) -> EncoderSettings {
        match self {
            Self::Vp8(e) => e.settings(),
            Self::H264(e) => e.settings(),
        }
    }

    /// Encodes one frame; `force_keyframe` makes it a keyframe (answer to PLI/FIR, or a
    /// new receiver joining). Usually one frame comes out; none when the rate controller
    /// skips the frame. A frame of another size than the settings reopens the encoder at
    /// that size (a camera switch to a camera with another resolution), starting with a
    /// keyframe.
    pub fn encode(
        &mut self,
        frame: &I420Frame,
        force_keyframe: bool,
    ) -> Result<Vec<EncodedFrame>, VideoError> {
        let settings = self.settings();
        if (frame.width(), frame.height()) != (settings.width, settings.height) {
            let resized = EncoderSettings { width: frame.width(), height: frame.height(), ..settings };
            *self = Self::new(self.codec(), resized)?;
        }
        match self {
            Self::Vp8(e) => e.encode(frame, force_keyframe),
            Self::H264(e) => e.encode(frame, force_keyframe),
        }
    }
}

/// A decoder of either codec.
#[derive(Debug)]
pub enum VideoDecoder {
    /// libvpx VP8.
    Vp8(Vp8Decoder),
    /// openh264.
    H264(H264Decoder),
}

impl VideoDecoder {
    /// Opens a decoder.
    pub fn new(codec: VideoCodec) -> Result<Self, VideoError> {
        Ok(match codec {
            VideoCodec::Vp8 => Self::Vp8(Vp8Decoder::new()?),
            VideoCodec::H264 => Self::H264(H264Decoder::new()?),
        })
    }

    /// The codec.
    pub fn codec(&self) -> VideoCodec {
        match self {
            Self::Vp8(_) => VideoCodec::Vp8,
            Self::H264(_) => VideoCodec::H264,
        }
    }

    /// Decodes one encoded frame (a whole VP8 frame or H.264 access unit, as reassembled
    /// from RTP). `Some(frame)` when a picture is ready, stamped with `timestamp_us`;
    /// `None` when the data held no picture yet. An error means the stream is damaged
    /// (lost packets, no keyframe yet): ask the sender for a keyframe.
    pub fn decode(&mut self, data: &[u8], timestamp_us: u64) -> Result<Option<I420Frame>, VideoError> {
        match self {
            Self::Vp8(d) => d.decode(data, timestamp_us),
            Self::H264(d) => d.decode(data, timestamp_us),
        }
    }

    /// [`Self::decode`] for an [`EncodedFrame`].
    pub fn decode_frame(&mut self, frame: &EncodedFrame) -> Result<Option<I420Frame>, VideoError> {
        self.decode(&frame.data, frame.timestamp_us)
    }
}
