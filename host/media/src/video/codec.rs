//! What every video codec here shares: which codec ([`VideoCodec`]), how an encoder is set
//! up ([`EncoderSettings`]), what comes out ([`EncodedFrame`]), and the keyframe request
//! flag ([`KeyframeRequest`]).
//!
//! The VP8 and H.264 wrappers use these types; the choice between them is in `coder`, above
//! both, so this module names neither.

use super::VideoError;

/// A video codec both browsers and this host speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VideoCodec {
    /// VP8 through libvpx.
    Vp8,
    /// H.264 (constrained baseline) through openh264.
    H264,
}

/// The codec offered first. By the measurements in `docs/architecture-video.md`: VP8
/// encodes 720p in about half the time of openh264 with motion and is on par below that,
/// and it sends every frame at the configured rate, where openh264 holds its bitrate by
/// skipping frames. openh264 compresses the test content better; VP8 is also mandatory
/// for WebRTC browsers and royalty-free.
pub const DEFAULT_CODEC: VideoCodec = VideoCodec::Vp8;

impl VideoCodec {
    /// Parses `vp8` or `h264` (any case; `H.264` too).
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "vp8" => Some(Self::Vp8),
            "h264" | "h.264" | "avc" => Some(Self::H264),
            _ => None,
        }
    }

    /// The lower-case name used in config and logs.
    pub fn name(self) -> &'static str {
        match self {
            Self::Vp8 => "vp8",
            Self::H264 => "h264",
        }
    }

    /// The SDP/RTP MIME type (`video/VP8`, `video/H264`).
    pub fn mime_type(self) -> &'static str {
        match self {
            Self::Vp8 => "video/VP8",
            Self::H264 => "video/H264",
        }
    }

    /// The code of the plugin media tap ([`switchboard_core::abi::codec`]).
    pub fn abi_code(self) -> u32 {
        match self {
            Self::Vp8 => switchboard_core::abi::codec::VP8,
            Self::H264 => switchboard_core::abi::codec::H264,
        }
    }
}

impl std::fmt::Display for VideoCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How an encoder is set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncoderSettings {
    /// Frame width in pixels.
    pub width: u32,
    /// Frame height in pixels.
    pub height: u32,
    /// Frames per second the source delivers.
    pub fps: u32,
    /// Target bitrate in bits per second.
    pub bitrate_bps: u32,
    /// A keyframe at least every this many frames even without a request, so a receiver
    /// that lost a keyframe and whose PLI was lost too recovers on its own.
    pub keyframe_interval: u32,
    /// Encoder threads (1 or 2 on this 2-core machine; calls have several encoders).
    pub threads: u32,
}

impl EncoderSettings {
    /// Settings for a size and rate: about 0.08 bits per pixel (768 kbit/s at 640x480@30,
    /// close to what browsers send for that size), a keyframe every 3 seconds, one thread.
    pub fn for_size(width: u32, height: u32, fps: u32) -> Self {
        let pixels_per_second = u64::from(width) * u64::from(height) * u64::from(fps.max(1));
        let bitrate_bps = (pixels_per_second / 12).clamp(100_000, 8_000_000) as u32;
        Self { width, height, fps, bitrate_bps, keyframe_interval: fps.max(1) * 3, threads: 1 }
    }

    pub(crate) fn validate(&self) -> Result<(), VideoError> {
        let bad = |what: String| Err(VideoError::InvalidSettings { what });
        if self.width == 0 || self.height == 0 || self.width > 4096 || self.height > 2304 {
            return bad(format!("size {}x{} outside 1x1..4096x2304", self.width, self.height));
        }
        if self.width % 2 == 1 || self.height % 2 == 1 {
            return bad(format!("size {}x{} must be even for 4:2:0 video", self.width, self.height));
        }
        if self.fps == 0 || self.fps > 120 {
            return bad(format!("fps {} outside 1..=120", self.fps));
        }
        if self.bitrate_bps < 10_000 {
            return bad(format!("bitrate {} bit/s below 10 kbit/s", self.bitrate_bps));
        }
        if self.keyframe_interval == 0 {
            return bad("keyframe interval of 0 frames".to_owned());
        }
        if self.threads == 0 || self.threads > 16 {
            return bad(format!("{} threads outside 1..=16", self.threads));
        }
        Ok(())
    }

    pub(crate) fn frame_duration_us(&self) -> u64 {
        1_000_000 / u64::from(self.fps.max(1))
    }
}

/// One encoded video frame, ready for an RTP packetizer or the plugin media tap.
#[derive(Clone, PartialEq, Eq)]
pub struct EncodedFrame {
    /// Which codec produced it.
    pub codec: VideoCodec,
    /// The bitstream: a VP8 frame, or an H.264 access unit in Annex B (start codes).
    pub data: Vec<u8>,
    /// True for a keyframe (VP8 key frame, H.264 IDR): a decoder can start here.
    pub keyframe: bool,
    /// The raw frame's presentation time in microseconds.
    pub timestamp_us: u64,
}

impl std::fmt::Debug for EncodedFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncodedFrame")
            .field("codec", &self.codec)
            .field("bytes", &self.data.len())
            .field("keyframe", &self.keyframe)
            .field("timestamp_us", &self.timestamp_us)
            .finish()
    }
}

/// A keyframe request shared between the RTC seam (which calls [`Self::request`] when a
/// peer sends PLI or FIR, or a peer joins) and the encode loop (which passes
/// [`Self::take`] as `force_keyframe`). Requests arriving together collapse into one
/// keyframe.
#[derive(Debug, Clone, Default)]
pub struct KeyframeRequest(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl KeyframeRequest {
    /// A fresh request flag, not set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks for a keyframe on the next encoded frame.
    pub fn request(&self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether a keyframe was asked for since the last call; clears the request.
    pub fn take(&self) -> bool {
        self.0.swap(false, std::sync::atomic::Ordering::Relaxed)
    }
}
