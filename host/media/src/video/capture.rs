//! What a camera is to the capture thread: the [`Capture`] trait every camera implements
//! (the synthetic patterns in `source`, V4L2 devices in `v4l2`) and the [`SourceSettings`]
//! it is opened with.
//!
//! Both camera kinds and the source that drives them use this module; it uses none of them.

use std::time::Duration;

use switchboard_config::MediaConfig;

use super::VideoError;
use super::frame::I420Frame;

/// What a source produces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceSettings {
    /// Frame width in pixels.
    pub width: u32,
    /// Frame height in pixels.
    pub height: u32,
    /// Frames per second.
    pub fps: u32,
    /// The participant's name, drawn into pattern frames.
    pub name: String,
}

impl SourceSettings {
    /// From `[media] video_width`, `video_height`, `video_fps` and the participant's name.
    pub fn from_config(media: &MediaConfig, name: &str) -> Self {
        Self {
            width: media.video_width,
            height: media.video_height,
            fps: media.video_fps,
            name: name.to_owned(),
        }
    }

    /// The time between two frames.
    pub(crate) fn period(&self) -> Duration {
        Duration::from_nanos(1_000_000_000 / u64::from(self.fps.max(1)))
    }
}

/// Produces frames from one camera at a time.
pub(crate) trait Capture: Send {
    /// The frame for tick `counter` at `timestamp_us`.
    fn next_frame(&mut self, counter: u64, timestamp_us: u64) -> Result<I420Frame, VideoError>;
}
