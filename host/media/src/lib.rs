//! switchboard-media: audio and video, with no network and no WebRTC.
//!
//! - [`audio`]: sources (cpal input, `tone:HZ`, `wav:PATH`), Opus, the mixer, sinks (cpal
//!   output, WAV, null), device probing and the signal analysis tests and benches use.
//! - [`video`]: cameras (front/back test patterns, V4L2 behind the `v4l2` feature), I420
//!   frames, VP8 (libvpx) and H.264 (openh264) codecs.
//!
//! The C media libraries (libopus, libvpx, openh264) are linked by this crate alone.

pub mod audio;
pub mod video;
