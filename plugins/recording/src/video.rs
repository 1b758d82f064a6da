//! One participant's VP8 video track written as a WebM file, remuxed as it arrives: the
//! encoded frames go into Matroska SimpleBlocks through libwebm (the `webm` crate), never
//! decoded.
//!
//! libwebm writes each frame to the file as it is added, but it writes the segment's
//! `Duration` only when the file is finalized, so a host killed mid-recording would leave
//! a file that plays but claims to last 1 ms. To keep the promise that a killed recording
//! is good up to the last second, the track finds that `Duration` element once, right
//! after libwebm wrote the header, and rewrites it in place about once a second through a
//! second handle to the same file (`pwrite`, which leaves libwebm's own file position
//! alone).
//!
//! libwebm writes a frame as several small writes (element ID, size, block header, data).
//! They are gathered in `FrameSink` and reach the file in one `write` per frame, so a
//! kill lands between frames rather than inside one (and each frame costs one system call
//! instead of five).

use std::fmt;
use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use switchboard_core::sdk::MediaFrame;
use webm::mux::{Segment, SegmentBuilder, VideoCodecId, VideoTrack as WebmTrack, Writer};

use crate::safe_name;

/// The `Duration` element is rewritten once this much video has been added since the last
/// time: the crash-loss bound for the file's stated length.
const DURATION_REFRESH_NS: u64 = 1_000_000_000;
/// How far into the file the `Duration` element is looked for: libwebm writes the EBML
/// header, a SeekHead placeholder and the `Info` element first, about 200 bytes.
const HEADER_SCAN: usize = 4096;

/// The size of a VP8 keyframe from its uncompressed header (RFC 6386, 9.1): a 3-byte frame
/// tag whose lowest bit is 0 for a keyframe, the start code `9d 01 2a`, then 14-bit width
/// and height. `None` for an interframe or anything that is not VP8.
pub fn vp8_keyframe_size(data: &[u8]) -> Option<(u32, u32)> {
    if data.len() < 10 || data[0] & 1 != 0 || data[3..6] != [0x9d, 0x01, 0x2a] {
        return None;
    }
    let width = u32::from(u16::from_le_bytes([data[6], data[7]]) & 0x3fff);
    let height = u32::from(u16::from_le_bytes([data[8], data[9]]) & 0x3fff);
    (width > 0 && height > 0).then_some((width, height))
}

/// The file under libwebm's writer: writes gather in memory until [`FrameSink::flush_frame`]
/// (after each frame) or a seek (libwebm going back to fill in a size) sends them on.
#[derive(Debug, Clone)]
struct FrameSink(Arc<Mutex<SinkState>>);

#[derive(Debug)]
struct SinkState {
    file: File,
    pending: Vec<u8>,
}

impl FrameSink {
    fn new(file: File) -> Self {
        Self(Arc::new(Mutex::new(SinkState { file, pending: Vec::with_capacity(64 * 1024) })))
    }

    fn with<T>(&self, f: impl FnOnce(&mut SinkState) -> io::Result<T>) -> io::Result<T> {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Sends what libwebm wrote for the last frame to the file, in one write.
    fn flush_frame(&self) -> io::Result<()> {
        self.with(SinkState::send)
    }
}

impl SinkState {
    fn send(&mut self) -> io::Result<()> {
        if !self.pending.is_empty() {
            self.file.write_all(&self.pending)?;
            self.pending.clear();
        }
        Ok(())
    }
}

impl Write for FrameSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.with(|s| {
            s.pending.extend_from_slice(buf);
            Ok(buf.len())
        })
    }

    fn flush(&mut self) -> io::Result<()> {
        self.with(|s| {
            s.send()?;
            s.file.flush()
        })
    }
}

impl Seek for FrameSink {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        self.with(|s| {
            s.send()?;
            s.file.seek(to)
        })
    }
}

/// Where the segment's `Duration` float sits in a WebM file's header, and its width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationField {
    offset: u64,
    width: usize,
}

impl DurationField {
    /// Finds the `Duration` element (ID `44 89`) inside the `Info` element (ID
    /// `15 49 a9 66`) of a WebM header, with a 4- or 8-byte float payload.
    pub fn find(header: &[u8]) -> Option<Self> {
        let info = header.windows(4).position(|w| w == [0x15, 0x49, 0xa9, 0x66])?;
        let rest = &header[info..];
        let at =
            rest.windows(3).position(|w| w[0] == 0x44 && w[1] == 0x89 && (w[2] == 0x84 || w[2] == 0x88))?;
        let width = if rest[at + 2] == 0x84 { 4 } else { 8 };
        let offset = (info + at + 3) as u64;
        (info + at + 3 + width <= header.len()).then_some(Self { offset, width })
    }

    /// The payload for `ms` milliseconds (the segment's timecode scale is libwebm's
    /// default, 1 ms), big-endian as EBML floats are.
    fn encode(self, ms: u64) -> Vec<u8> {
        if self.width == 4 { (ms as f32).to_be_bytes().to_vec() } else { (ms as f64).to_be_bytes().to_vec() }
    }
}

/// One VP8 track being written as a WebM file.
pub(crate) struct VideoTrackFile {
    pub(crate) file: String,
    participant: String,
    track: String,
    start_offset_ms: u64,
    segment: Option<Segment<FrameSink>>,
    sink: FrameSink,
    webm_track: WebmTrack,
    /// A second handle on the file, for rewriting `Duration`.
    patch: File,
    duration: Option<DurationField>,
    size: (u32, u32),
    first_ts_us: u64,
    /// The newest frame's time on the file's timeline, and the one before it.
    last_ns: u64,
    previous_ns: u64,
    duration_written_ns: u64,
    frames: u64,
    keyframes: u64,
}

impl fmt::Debug for VideoTrackFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VideoTrackFile")
            .field("file", &self.file)
            .field("size", &self.size)
            .field("frames", &self.frames)
            .finish_non_exhaustive()
    }
}

fn webm_error(what: &str, e: impl fmt::Display) -> io::Error {
    io::Error::other(format!("{what}: {e}"))
}

impl VideoTrackFile {
    /// Starts the file at `frame`, a VP8 keyframe of `size` (from [`vp8_keyframe_size`]).
    pub(crate) fn create(
        dir: &Path,
        frame: &MediaFrame<'_>,
        size: (u32, u32),
        serial: u32,
        start_offset_ms: u64,
    ) -> io::Result<Self> {
        let base = format!("{}-{}", safe_name(frame.participant), safe_name(frame.track));
        let mut file = format!("{base}.webm");
        if dir.join(&file).exists() {
            file = format!("{base}-{serial}.webm");
        }
        let out = File::create(dir.join(&file))?;
        let patch = out.try_clone()?;
        let sink = FrameSink::new(out);
        let builder = SegmentBuilder::new(Writer::new(sink.clone()))
            .and_then(|b| b.set_writing_app(concat!("switchboard-recording ", env!("CARGO_PKG_VERSION"))))
            .and_then(|b| b.add_video_track(size.0, size.1, VideoCodecId::VP8, None))
            .map_err(|e| webm_error("starting the WebM segment", e))?;
        let (builder, webm_track) = builder;
        let mut track = Self {
            file,
            participant: frame.participant.to_owned(),
            track: frame.track.to_owned(),
            start_offset_ms,
            segment: Some(builder.build()),
            sink,
            webm_track,
            patch,
            duration: None,
            size,
            first_ts_us: frame.timestamp_us,
            last_ns: 0,
            previous_ns: 0,
            duration_written_ns: 0,
            frames: 0,
            keyframes: 0,
        };
        track.push(frame.timestamp_us, frame.data)?;
        // libwebm has written the header with the first frame: find its `Duration`.
        let mut header = vec![0; HEADER_SCAN];
        let read = File::open(dir.join(&track.file))?.read_at(&mut header, 0)?;
        header.truncate(read);
        track.duration = DurationField::find(&header);
        Ok(track)
    }

    pub(crate) fn push(&mut self, timestamp_us: u64, data: &[u8]) -> io::Result<()> {
        let segment =
            self.segment.as_mut().ok_or_else(|| io::Error::other("the WebM file is already finished"))?;
        let mut ns = timestamp_us.saturating_sub(self.first_ts_us) * 1000;
        // Strictly increasing: two frames tapped within the same microsecond (or out of
        // order across threads) keep their order one microsecond apart.
        if self.frames > 0 && ns <= self.last_ns {
            ns = self.last_ns + 1000;
        }
        let keyframe = vp8_keyframe_size(data).is_some();
        segment
            .add_frame(self.webm_track, data, ns, keyframe)
            .map_err(|e| webm_error("adding a frame", e))?;
        self.sink.flush_frame()?;
        self.previous_ns = self.last_ns;
        self.last_ns = ns;
        self.frames += 1;
        self.keyframes += u64::from(keyframe);
        if ns - self.duration_written_ns >= DURATION_REFRESH_NS {
            self.duration_written_ns = ns;
            self.write_duration()?;
        }
        Ok(())
    }

    /// The length of the file so far: up to the end of the newest frame, whose display time
    /// is taken to be the gap before it.
    fn duration_ms(&self) -> u64 {
        (self.last_ns + (self.last_ns - self.previous_ns)) / 1_000_000
    }

    fn write_duration(&self) -> io::Result<()> {
        match self.duration {
            Some(field) => self.patch.write_all_at(&field.encode(self.duration_ms()), field.offset),
            None => Ok(()),
        }
    }

    /// Finalizes the file (libwebm writes the cues and the final duration) and syncs it.
    pub(crate) fn finish(mut self) -> io::Result<()> {
        let duration = self.duration_ms();
        let segment =
            self.segment.take().ok_or_else(|| io::Error::other("the WebM file is already finished"))?;
        segment
            .finalize(Some(duration))
            .map_err(|_| io::Error::other("libwebm could not finalize the WebM segment"))?;
        self.sink.with(|s| {
            s.send()?;
            s.file.sync_all()
        })
    }

    pub(crate) fn manifest(&self) -> serde_json::Value {
        serde_json::json!({
            "file": self.file,
            "participant": self.participant,
            "track": self.track,
            "container": "webm",
            "codec": "vp8",
            "start_offset_ms": self.start_offset_ms,
            "width": self.size.0,
            "height": self.size.1,
            "frames": self.frames,
            "keyframes": self.keyframes,
        })
    }
}
