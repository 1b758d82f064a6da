//! H.264 through openh264 (built from the crate's bundled source): constrained-baseline
//! real-time encoding with IDR frames on demand, and decoding to I420.

use openh264::OpenH264API;
use openh264::decoder::{Decoder, DecoderConfig};
use openh264::encoder::{
    BitRate, Encoder, EncoderConfig, FrameRate, FrameType, IntraFramePeriod, RateControlMode, UsageType,
};
use openh264::formats::YUVSource;

use super::VideoError;
use super::codec::{EncodedFrame, EncoderSettings, VideoCodec};
use super::frame::I420Frame;

fn codec_error(operation: &'static str, err: openh264::Error) -> VideoError {
    VideoError::Codec { codec: VideoCodec::H264, operation, detail: err.to_string() }
}

/// Lends an [`I420Frame`]'s planes to openh264 without copying.
struct FrameRef<'a>(&'a I420Frame);

impl YUVSource for FrameRef<'_> {
    fn dimensions(&self) -> (usize, usize) {
        (self.0.width() as usize, self.0.height() as usize)
    }

    fn strides(&self) -> (usize, usize, usize) {
        let cw = self.0.chroma_width();
        (self.0.width() as usize, cw, cw)
    }

    fn y(&self) -> &[u8] {
        self.0.y()
    }

    fn u(&self) -> &[u8] {
        self.0.u()
    }

    fn v(&self) -> &[u8] {
        self.0.v()
    }
}

/// An H.264 encoder.
pub struct H264Encoder {
    inner: Encoder,
    settings: EncoderSettings,
    frames: u64,
}

impl std::fmt::Debug for H264Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H264Encoder").field("settings", &self.settings).field("frames", &self.frames).finish()
    }
}

impl H264Encoder {
    /// Opens a real-time H.264 encoder.
    pub fn new(settings: EncoderSettings) -> Result<Self, VideoError> {
        settings.validate()?;
        let config = EncoderConfig::new()
            .usage_type(UsageType::CameraVideoRealTime)
            .rate_control_mode(RateControlMode::Bitrate)
            .bitrate(BitRate::from_bps(settings.bitrate_bps))
            .max_frame_rate(FrameRate::from_hz(settings.fps as f32))
            .intra_frame_period(IntraFramePeriod::from_num_frames(settings.keyframe_interval))
            // openh264 only holds a bitrate when it may skip frames (it warns otherwise);
            // libwebrtc runs it the same way. A skipped frame returns no packet.
            .skip_frames(true)
            .num_threads(settings.threads as u16);
        let inner = Encoder::with_api_config(OpenH264API::from_source(), config)
            .map_err(|e| codec_error("init", e))?;
        Ok(Self { inner, settings, frames: 0 })
    }

    /// The settings in force.
    pub fn settings(&self) -> EncoderSettings {
        self.settings
    }

    /// Encodes one frame of the configured size into one Annex B access unit;
    /// `force_keyframe` makes it an IDR frame.
    pub fn encode(
        &mut self,
        frame: &I420Frame,
        force_keyframe: bool,
    ) -> Result<Vec<EncodedFrame>, VideoError> {
        if (frame.width(), frame.height()) != (self.settings.width, self.settings.height) {
            return Err(VideoError::InvalidSize { width: frame.width(), height: frame.height() });
        }
        // openh264 initialises itself on the first frame, which is an IDR anyway; asking
        // for an IDR before that would reach an uninitialised encoder.
        if force_keyframe && self.frames > 0 {
            self.inner.force_intra_frame();
        }
        self.frames += 1;
        let ts = openh264::Timestamp::from_millis(frame.timestamp_us / 1000);
        let bitstream = self.inner.encode_at(&FrameRef(frame), ts).map_err(|e| codec_error("encode", e))?;
        let keyframe = match bitstream.frame_type() {
            FrameType::IDR => true,
            FrameType::I | FrameType::P | FrameType::IPMixed => false,
            FrameType::Skip | FrameType::Invalid => return Ok(Vec::new()),
        };
        let data = bitstream.to_vec();
        if data.is_empty() {
            return Ok(Vec::new());
        }
        Ok(vec![EncodedFrame { codec: VideoCodec::H264, data, keyframe, timestamp_us: frame.timestamp_us }])
    }
}

/// An H.264 decoder.
pub struct H264Decoder {
    inner: Decoder,
}

impl std::fmt::Debug for H264Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H264Decoder").finish_non_exhaustive()
    }
}

impl H264Decoder {
    /// Opens an H.264 decoder.
    pub fn new() -> Result<Self, VideoError> {
        let inner = Decoder::with_api_config(OpenH264API::from_source(), DecoderConfig::new())
            .map_err(|e| codec_error("init decoder", e))?;
        Ok(Self { inner })
    }

    /// Decodes one access unit (Annex B).
    pub fn decode(&mut self, data: &[u8], timestamp_us: u64) -> Result<Option<I420Frame>, VideoError> {
        if data.is_empty() {
            return Ok(None);
        }
        let Some(yuv) = self.inner.decode(data).map_err(|e| codec_error("decode", e))? else {
            return Ok(None);
        };
        let (w, h) = yuv.dimensions();
        let (sy, su, sv) = yuv.strides();
        let (w, h) = (
            u32::try_from(w).map_err(|_| VideoError::InvalidSize { width: u32::MAX, height: 0 })?,
            u32::try_from(h).map_err(|_| VideoError::InvalidSize { width: 0, height: u32::MAX })?,
        );
        I420Frame::copy_from_strided(w, h, [(yuv.y(), sy), (yuv.u(), su), (yuv.v(), sv)], timestamp_us)
            .map(Some)
    }
}
