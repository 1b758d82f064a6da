//! Real cameras through Video4Linux2 (the `v4l2` cargo feature): listing capture devices
//! and capturing YUYV frames converted to I420.
//!
//! Implements `capture`'s [`Capture`] trait; `source` opens it. It does not use `source`.

use v4l::buffer::Type;
use v4l::io::traits::CaptureStream;
use v4l::prelude::MmapStream;
use v4l::video::Capture as _;
use v4l::{Device, FourCC};

use super::VideoError;
use super::capture::{Capture, SourceSettings};
use super::frame::I420Frame;

/// Paths of the V4L2 devices that can capture video, in index order.
pub(crate) fn list_cameras() -> Vec<String> {
    let mut nodes = v4l::context::enum_devices();
    nodes.sort_by_key(|n| n.index());
    nodes
        .into_iter()
        .filter(|node| {
            Device::with_path(node.path())
                .and_then(|d| d.query_caps())
                .is_ok_and(|caps| caps.capabilities.contains(v4l::capability::Flags::VIDEO_CAPTURE))
        })
        .map(|node| node.path().display().to_string())
        .collect()
}

/// An open camera streaming YUYV through memory-mapped buffers.
pub(crate) struct V4l2Capture {
    stream: MmapStream<'static>,
    path: String,
    width: u32,
    height: u32,
    // The device must outlive the stream's buffers; the stream also holds its handle.
    _device: Device,
}

impl V4l2Capture {
    /// Opens `path` at the configured size and rate in YUYV (every UVC camera offers it).
    /// The camera may pick a nearby size; frames come at the size it picked and the
    /// encoder follows.
    pub(crate) fn open(path: &str, settings: &SourceSettings) -> Result<Self, VideoError> {
        let missing = |reason: String| VideoError::DeviceMissing { device: path.to_owned(), reason };
        let device = Device::with_path(path).map_err(|e| missing(format!("opening: {e}")))?;
        let mut format = device.format().map_err(|e| missing(format!("reading its format: {e}")))?;
        format.width = settings.width;
        format.height = settings.height;
        format.fourcc = FourCC::new(b"YUYV");
        let format = device.set_format(&format).map_err(|e| missing(format!("setting YUYV format: {e}")))?;
        if format.fourcc != FourCC::new(b"YUYV") {
            return Err(missing(format!("the camera offers {} instead of YUYV", format.fourcc)));
        }
        // Best effort: some cameras fix their rate; the capture thread paces anyway.
        let _ = device.set_params(&v4l::video::capture::Parameters::with_fps(settings.fps));
        let stream = MmapStream::with_buffers(&device, Type::VideoCapture, 4)
            .map_err(|e| missing(format!("starting the stream: {e}")))?;
        Ok(Self {
            stream,
            path: path.to_owned(),
            width: format.width,
            height: format.height,
            _device: device,
        })
    }
}

impl Capture for V4l2Capture {
    fn next_frame(&mut self, _counter: u64, timestamp_us: u64) -> Result<I420Frame, VideoError> {
        let (buf, _meta) = self.stream.next().map_err(|e| VideoError::DeviceMissing {
            device: self.path.clone(),
            reason: format!("capturing a frame: {e}"),
        })?;
        yuyv_to_i420(buf, self.width, self.height, timestamp_us)
    }
}

/// Converts packed YUYV 4:2:2 to planar I420, averaging chroma over row pairs.
fn yuyv_to_i420(buf: &[u8], width: u32, height: u32, timestamp_us: u64) -> Result<I420Frame, VideoError> {
    let (w, h) = (width as usize, height as usize);
    if buf.len() < w * h * 2 || w % 2 == 1 {
        return Err(VideoError::PlaneSize {
            width,
            height,
            got: [buf.len(), 0, 0],
            expected: [w * h * 2, 0, 0],
        });
    }
    let (cw, ch) = (w / 2, h.div_ceil(2));
    let mut y = vec![0u8; w * h];
    let mut u = vec![0u8; cw * ch];
    let mut v = vec![0u8; cw * ch];
    for row in 0..h {
        let line = &buf[row * w * 2..(row + 1) * w * 2];
        for (i, px) in line.chunks_exact(4).enumerate() {
            y[row * w + 2 * i] = px[0];
            y[row * w + 2 * i + 1] = px[2];
            let c = (row / 2) * cw + i;
            if row % 2 == 0 {
                u[c] = px[1];
                v[c] = px[3];
            } else {
                u[c] = ((u16::from(u[c]) + u16::from(px[1])) / 2) as u8;
                v[c] = ((u16::from(v[c]) + u16::from(px[3])) / 2) as u8;
            }
        }
    }
    I420Frame::from_planes(width, height, y, u, v, timestamp_us)
}
