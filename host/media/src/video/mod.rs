//! The video pipeline: cameras (synthetic patterns, V4L2 behind the `v4l2` feature) paced
//! in real time, VP8 and H.264 encoders and decoders, and the checks tests use to recognise
//! a pattern after a lossy codec.
//!
//! What the session calls:
//! - [`CameraSet::from_input`] with `[media] video_input`, then [`VideoSource::start`] with
//!   [`SourceSettings::from_config`]: a thread produces [`I420Frame`]s on a tokio channel at
//!   the configured rate, dropping frames the consumer is too slow to take.
//!   [`VideoSource::switch_camera`] (`switchCamera()`), [`VideoSource::set_paused`]
//!   (`pauseVideo`), [`VideoSource::stop`].
//! - [`VideoEncoder::new`] with a [`VideoCodec`] and [`EncoderSettings`];
//!   [`VideoEncoder::encode`]`(frame, force_keyframe)` returns [`EncodedFrame`]s (bytes,
//!   keyframe flag, timestamp). Pass `force_keyframe = true` when the peer sent PLI or FIR
//!   ([`KeyframeRequest`] carries that from the RTC seam to the encode loop).
//! - [`VideoDecoder::new`]; [`VideoDecoder::decode`]`(bytes, timestamp_us)` returns
//!   `Some(frame)` when a picture is complete. On an error, ask the sender for a keyframe.
//! - [`I420Frame::to_rgba`] for renderers.
//! - [`read_pattern`] for tests: which pattern a decoded frame shows and its frame counter.
//!
//! The submodules depend one way (each uses only those after it; all use [`VideoError`],
//! defined here, and everything public is re-exported here):
//!
//! ```text
//! coder   -> vp8, h264 -> codec, frame      (VideoEncoder/VideoDecoder pick the codec)
//! source  -> v4l2 -> capture -> frame       (v4l2 only with the `v4l2` feature)
//! source  -> pattern -> frame
//! ```

mod capture;
mod codec;
mod coder;
mod frame;
mod h264;
mod pattern;
mod source;
#[cfg(feature = "v4l2")]
mod v4l2;
mod vp8;

pub use capture::SourceSettings;
pub use codec::{DEFAULT_CODEC, EncodedFrame, EncoderSettings, KeyframeRequest, VideoCodec};
pub use coder::{VideoDecoder, VideoEncoder};
pub use frame::{I420Frame, rgb_to_yuv, yuv_to_rgb};
pub use h264::{H264Decoder, H264Encoder};
pub use pattern::{
    BAR_TOLERANCE, MIN_PATTERN_SIZE, PatternKind, PatternReading, draw as draw_pattern, read_counter,
    read_pattern,
};
pub use source::{Camera, CameraSet, SourceStats, VideoSource};
pub use vp8::{Vp8Decoder, Vp8Encoder};

use switchboard_core::ErrorCode;

/// Everything that can go wrong in the video pipeline.
#[derive(Debug, thiserror::Error)]
pub enum VideoError {
    /// A frame size of zero, above 8192, or below what a pattern needs.
    #[error("invalid video size {width}x{height}")]
    InvalidSize {
        /// Width asked for.
        width: u32,
        /// Height asked for.
        height: u32,
    },
    /// Plane buffers that do not match the frame size.
    #[error("plane sizes {got:?} do not fit a {width}x{height} I420 frame (expected {expected:?})")]
    PlaneSize {
        /// Frame width.
        width: u32,
        /// Frame height.
        height: u32,
        /// What was given.
        got: [usize; 3],
        /// What the size needs.
        expected: [usize; 3],
    },
    /// Encoder settings out of range.
    #[error("invalid encoder settings: {what}")]
    InvalidSettings {
        /// Which setting and why.
        what: String,
    },
    /// The codec library failed.
    #[error("{codec} {operation} failed: {detail}")]
    Codec {
        /// Which codec.
        codec: VideoCodec,
        /// What was being done (`init`, `encode`, `decode`, ...).
        operation: &'static str,
        /// The library's own message.
        detail: String,
    },
    /// A configured camera is absent, or this build cannot open cameras.
    #[error("camera `{device}` is not available: {reason}")]
    DeviceMissing {
        /// The camera asked for (`default` or a device path).
        device: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// `switchCamera()` with only one camera.
    #[error("cannot switch camera: `{camera}` is the only camera")]
    OnlyOneCamera {
        /// The one camera there is.
        camera: String,
    },
    /// The capture thread could not be started or has stopped.
    #[error("video source thread: {detail}")]
    SourceThread {
        /// What happened.
        detail: String,
    },
}

impl VideoError {
    /// The calls API error code this error is reported under (`onError`).
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::DeviceMissing { .. } => ErrorCode::DeviceMissing,
            Self::OnlyOneCamera { .. } => ErrorCode::InvalidState,
            Self::InvalidSize { .. } | Self::PlaneSize { .. } | Self::InvalidSettings { .. } => {
                ErrorCode::InvalidArgument
            }
            Self::Codec { .. } | Self::SourceThread { .. } => ErrorCode::Error,
        }
    }
}
