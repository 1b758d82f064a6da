//! Video sources: the set of cameras a participant can switch between, and the capture
//! thread that paces frames in real time onto a channel.
//!
//! Opens a camera as a [`Capture`]: a synthetic pattern (here) or a V4L2 device (`v4l2`).
//! Both that trait and [`SourceSettings`] are in `capture`, below this module and `v4l2`,
//! so the dependency runs one way: source, then v4l2, then capture.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use switchboard_config::VideoInput;
use tokio::sync::mpsc as tokio_mpsc;

use super::VideoError;
use super::capture::{Capture, SourceSettings};
use super::frame::I420Frame;
use super::pattern::{self, PatternKind};

/// How many frames wait for a slow consumer before new ones are dropped. Two absorbs a
/// consumer's scheduling jitter without letting latency build up.
const CHANNEL_FRAMES: usize = 2;

/// One camera a participant can send from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Camera {
    /// A synthetic test pattern (`pattern:front`, `pattern:back`).
    Pattern(PatternKind),
    /// A V4L2 device by path (`/dev/video0`); needs the `v4l2` feature.
    Device(String),
}

impl std::fmt::Display for Camera {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Pattern(kind) => write!(f, "pattern:{kind}"),
            Self::Device(path) => write!(f, "device:{path}"),
        }
    }
}

/// The cameras `switchCamera()` cycles through, and which one is in use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CameraSet {
    cameras: Vec<Camera>,
    current: usize,
}

impl CameraSet {
    /// The cameras for a `[media] video_input`:
    /// - `pattern:front` / `pattern:back`: both patterns, starting with the one named;
    /// - `device:PATH`: every V4L2 camera, starting with that one;
    /// - `default`: every V4L2 camera, starting with the first.
    ///
    /// A camera that is absent, or a build without the `v4l2` feature, is a
    /// [`VideoError::DeviceMissing`]; there is no silent fallback to a pattern.
    pub fn from_input(input: &VideoInput) -> Result<Self, VideoError> {
        match input {
            VideoInput::Pattern(name) => {
                let kind = PatternKind::from_name(name).ok_or_else(|| VideoError::DeviceMissing {
                    device: format!("pattern:{name}"),
                    reason: "the synthetic cameras are `pattern:front` and `pattern:back`".to_owned(),
                })?;
                Ok(Self::patterns(kind))
            }
            VideoInput::Default => devices_starting_with(None),
            VideoInput::Device(path) => devices_starting_with(Some(path)),
        }
    }

    /// Both synthetic cameras, starting with `first`.
    pub fn patterns(first: PatternKind) -> Self {
        Self { cameras: vec![Camera::Pattern(first), Camera::Pattern(first.other())], current: 0 }
    }

    /// A set of exactly these cameras, starting with the first. `None` when empty.
    pub fn from_cameras(cameras: Vec<Camera>) -> Option<Self> {
        (!cameras.is_empty()).then_some(Self { cameras, current: 0 })
    }

    /// The camera in use.
    pub fn current(&self) -> &Camera {
        &self.cameras[self.current]
    }

    /// How many cameras there are.
    pub fn len(&self) -> usize {
        self.cameras.len()
    }

    /// Always false: a set has at least one camera.
    pub fn is_empty(&self) -> bool {
        self.cameras.is_empty()
    }

    /// The camera after the current one (front <-> back, or the next device), without
    /// moving to it. [`VideoError::OnlyOneCamera`] when there is nothing to switch to.
    pub fn peek_next(&self) -> Result<&Camera, VideoError> {
        if self.cameras.len() < 2 {
            return Err(VideoError::OnlyOneCamera { camera: self.current().to_string() });
        }
        Ok(&self.cameras[(self.current + 1) % self.cameras.len()])
    }

    /// Moves to the next camera and returns it.
    pub fn switch(&mut self) -> Result<&Camera, VideoError> {
        self.peek_next()?;
        self.current = (self.current + 1) % self.cameras.len();
        Ok(self.current())
    }
}

#[cfg(feature = "v4l2")]
fn devices_starting_with(first: Option<&String>) -> Result<CameraSet, VideoError> {
    let mut paths = super::v4l2::list_cameras();
    let device = first.cloned().unwrap_or_else(|| "default".to_owned());
    if let Some(first) = first {
        let Some(pos) = paths.iter().position(|p| p == first) else {
            return Err(VideoError::DeviceMissing {
                device,
                reason: format!("no such V4L2 capture device (found: {})", list_or_none(&paths)),
            });
        };
        paths.rotate_left(pos);
    }
    CameraSet::from_cameras(paths.into_iter().map(Camera::Device).collect()).ok_or_else(|| {
        VideoError::DeviceMissing { device, reason: "no V4L2 capture device found".to_owned() }
    })
}

#[cfg(feature = "v4l2")]
fn list_or_none(paths: &[String]) -> String {
    if paths.is_empty() { "none".to_owned() } else { paths.join(", ") }
}

#[cfg(not(feature = "v4l2"))]
fn devices_starting_with(first: Option<&String>) -> Result<CameraSet, VideoError> {
    Err(no_camera_support(first.map_or("default", String::as_str)))
}

#[cfg(not(feature = "v4l2"))]
fn no_camera_support(device: &str) -> VideoError {
    VideoError::DeviceMissing {
        device: device.to_owned(),
        reason: "this build has no camera support (build with the `v4l2` cargo feature), use \
                 `pattern:front` or `pattern:back` for a synthetic camera"
            .to_owned(),
    }
}

/// Counters of a running source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SourceStats {
    /// Frames put on the channel.
    pub frames_sent: u64,
    /// Frames dropped because the consumer had not taken the previous ones.
    pub frames_dropped: u64,
    /// Frames not captured because the thread fell behind real time (the tick was late
    /// by a whole period or more).
    pub ticks_skipped: u64,
    /// Capture errors (a camera that stopped delivering); the last one is in the log.
    pub capture_errors: u64,
}

struct PatternCapture {
    kind: PatternKind,
    width: u32,
    height: u32,
    name: String,
}

impl Capture for PatternCapture {
    fn next_frame(&mut self, counter: u64, timestamp_us: u64) -> Result<I420Frame, VideoError> {
        pattern::draw(self.kind, self.width, self.height, &self.name, counter, timestamp_us)
    }
}

fn open(camera: &Camera, settings: &SourceSettings) -> Result<Box<dyn Capture>, VideoError> {
    match camera {
        Camera::Pattern(kind) => {
            // Draw once now so a size the pattern cannot use fails here, not in the thread.
            pattern::draw(*kind, settings.width, settings.height, &settings.name, 0, 0)?;
            Ok(Box::new(PatternCapture {
                kind: *kind,
                width: settings.width,
                height: settings.height,
                name: settings.name.clone(),
            }))
        }
        #[cfg(feature = "v4l2")]
        Camera::Device(path) => Ok(Box::new(super::v4l2::V4l2Capture::open(path, settings)?)),
        #[cfg(not(feature = "v4l2"))]
        Camera::Device(path) => Err(no_camera_support(path)),
    }
}

enum Control {
    Replace(Box<dyn Capture>),
    Stop,
}

#[derive(Default)]
struct Shared {
    paused: AtomicBool,
    frames_sent: AtomicU64,
    frames_dropped: AtomicU64,
    ticks_skipped: AtomicU64,
    capture_errors: AtomicU64,
}

/// A running camera: a thread that captures (or draws) a frame every `1/fps` seconds and
/// offers it on a channel, dropping it when the consumer has not taken the previous ones.
///
/// Frame `n` carries counter `n` and timestamp `n / fps` seconds from the start, so a
/// receiver sees gaps in counters when frames were skipped or dropped. Stopping (or
/// dropping) the source ends the thread; the channel then closes.
#[derive(Debug)]
pub struct VideoSource {
    control: mpsc::Sender<Control>,
    thread: Option<JoinHandle<()>>,
    shared: Arc<Shared>,
    cameras: Mutex<CameraSet>,
    settings: SourceSettings,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("paused", &self.paused.load(Ordering::Relaxed)).finish_non_exhaustive()
    }
}

impl VideoSource {
    /// Opens the set's current camera and starts the capture thread. Errors (a missing
    /// camera, a size a pattern cannot use, fps of 0) come back here, before any thread.
    pub fn start(
        cameras: CameraSet,
        settings: SourceSettings,
    ) -> Result<(Self, tokio_mpsc::Receiver<I420Frame>), VideoError> {
        if settings.fps == 0 || settings.fps > 120 {
            return Err(VideoError::InvalidSettings {
                what: format!("fps {} outside 1..=120", settings.fps),
            });
        }
        let capture = open(cameras.current(), &settings)?;
        let (frames_tx, frames_rx) = tokio_mpsc::channel(CHANNEL_FRAMES);
        let (control_tx, control_rx) = mpsc::channel();
        let shared = Arc::new(Shared::default());
        let thread_shared = Arc::clone(&shared);
        let period = settings.period();
        let thread = std::thread::Builder::new()
            .name("video-source".to_owned())
            .spawn(move || run(capture, period, frames_tx, control_rx, &thread_shared))
            .map_err(|e| VideoError::SourceThread { detail: format!("spawning the capture thread: {e}") })?;
        let source = Self {
            control: control_tx,
            thread: Some(thread),
            shared,
            cameras: Mutex::new(cameras),
            settings,
        };
        Ok((source, frames_rx))
    }

    /// `switchCamera()`: opens the next camera (front <-> back, or the next device) and
    /// sends from it from the next frame on. [`VideoError::OnlyOneCamera`] when there is
    /// only one; if the next camera fails to open, the current one stays in use.
    pub fn switch_camera(&self) -> Result<Camera, VideoError> {
        let mut cameras = self.cameras.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let next = cameras.peek_next()?.clone();
        let capture = open(&next, &self.settings)?;
        self.control
            .send(Control::Replace(capture))
            .map_err(|_| VideoError::SourceThread { detail: "the capture thread has stopped".to_owned() })?;
        cameras.switch()?;
        Ok(next)
    }

    /// The camera in use.
    pub fn current_camera(&self) -> Camera {
        self.cameras.lock().unwrap_or_else(std::sync::PoisonError::into_inner).current().clone()
    }

    /// `pauseVideo`: while paused no frames are produced (ticks still advance, so the
    /// counter jumps by the paused time on resume).
    pub fn set_paused(&self, paused: bool) {
        self.shared.paused.store(paused, Ordering::Relaxed);
    }

    /// Whether the source is paused.
    pub fn is_paused(&self) -> bool {
        self.shared.paused.load(Ordering::Relaxed)
    }

    /// The settings the source runs with.
    pub fn settings(&self) -> &SourceSettings {
        &self.settings
    }

    /// Counters so far.
    pub fn stats(&self) -> SourceStats {
        SourceStats {
            frames_sent: self.shared.frames_sent.load(Ordering::Relaxed),
            frames_dropped: self.shared.frames_dropped.load(Ordering::Relaxed),
            ticks_skipped: self.shared.ticks_skipped.load(Ordering::Relaxed),
            capture_errors: self.shared.capture_errors.load(Ordering::Relaxed),
        }
    }

    /// Stops the thread and waits for it (at most one frame's capture).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        // The thread may already have ended (receiver dropped); a failed send is fine.
        let _ = self.control.send(Control::Stop);
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the video capture thread panicked");
        }
    }
}

impl Drop for VideoSource {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn run(
    mut capture: Box<dyn Capture>,
    period: Duration,
    frames: tokio_mpsc::Sender<I420Frame>,
    control: mpsc::Receiver<Control>,
    shared: &Shared,
) {
    let period_ns = period.as_nanos() as u64;
    let start = Instant::now();
    let mut tick: u64 = 0;
    loop {
        let deadline = start + Duration::from_nanos(period_ns.saturating_mul(tick));
        // Waiting on the control channel until the tick's deadline both paces the frames
        // and answers stop/switch at once.
        match control.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(Control::Stop) | Err(mpsc::RecvTimeoutError::Disconnected) => return,
            Ok(Control::Replace(next)) => {
                capture = next;
                continue;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        if !shared.paused.load(Ordering::Relaxed) {
            let timestamp_us = tick * period.as_micros() as u64;
            match capture.next_frame(tick, timestamp_us) {
                Ok(frame) => match frames.try_send(frame) {
                    Ok(()) => {
                        shared.frames_sent.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(tokio_mpsc::error::TrySendError::Full(_)) => {
                        shared.frames_dropped.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(tokio_mpsc::error::TrySendError::Closed(_)) => return,
                },
                Err(e) => {
                    if shared.capture_errors.fetch_add(1, Ordering::Relaxed) == 0 {
                        tracing::warn!("video capture failed: {e}");
                    }
                }
            }
        } else if frames.is_closed() {
            return;
        }
        // Next tick; when the thread fell a whole period or more behind (a stalled
        // machine), skip to the current tick instead of bursting out the backlog.
        let due = (start.elapsed().as_nanos() / u128::from(period_ns.max(1))) as u64;
        let next = (tick + 1).max(due);
        shared.ticks_skipped.fetch_add(next - tick - 1, Ordering::Relaxed);
        tick = next;
    }
}
