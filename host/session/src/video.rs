//! Video in a session: the local camera encoded once and sent to every link, each remote
//! video track decoded on its own thread, `pauseVideo`, `switchCamera`, and the switch of
//! an audio-only call to video.
//!
//! The session task ([`crate::runtime`]) owns a `SessionVideo` and calls it from a few
//! hooks (a link is made, a remote track starts, a state change arrives, a command). The
//! methods return a `VideoOutcome`: the events to publish, the state changes to tell the
//! room, and whether the links must be renegotiated, which the session carries out, since
//! it owns the room and the links (`links.rs`). Video imports neither the task nor the
//! links nor audio: it is handed `PeerLink`s, and counts into the shared counters
//! (`stats.rs`).
//!
//! Threads, not tasks, do the heavy work, because the session runs on the bus executor's
//! single thread and a 5 ms VP8 encode there would delay audio:
//! - the capture thread ([`VideoSource`]) paces frames in real time;
//! - one encoder thread encodes each frame once (skipping the work while no link is
//!   connected) and hands it to a small async task that writes it to every link's track;
//! - one decoder thread per remote video track decodes, counts, and publishes the newest
//!   frame of that participant in the [`VideoFrames`] `watch` that renderers read.
//!
//! Both hand their encoded frames to the media tap ([`super::tap`]) for plugins that record:
//! the local frames as encoded, the remote ones as received, from a keyframe on. When a
//! recording starts, `SessionVideo::refresh_keyframes` makes every video track send a
//! keyframe, so the recorder has somewhere to start from.
//!
//! See docs/architecture-video.md, "In a session", for the renegotiation rule and the
//! switch-to-video exchange.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use switchboard_config::{Config, MediaConfig, VideoInput};
use switchboard_core::model::{CallsException, ErrorCode};
use switchboard_core::{Event, RtcUser};
use tokio::sync::{mpsc, watch};

use crate::stats::{RemoteCounters, SharedStats};
use crate::tap::MediaTap;
use switchboard_media::video::{
    CameraSet, DEFAULT_CODEC, EncodedFrame, EncoderSettings, I420Frame, KeyframeRequest, SourceSettings,
    VideoCodec, VideoDecoder, VideoEncoder, VideoError, VideoSource,
};
use switchboard_rtc::{self as rtc, LinkState, PeerLink, RemoteTrack};
use switchboard_signaling::protocol::StateChange;

/// How long a decoder waits before asking again for a keyframe it has not received: a
/// PLI round trip on a local network, plus the keyframe's own packets.
const KEYFRAME_RETRY: Duration = Duration::from_millis(300);

/// How many encoded frames wait for the task that writes them to the links. A frame that
/// does not fit is dropped and the next one is made a keyframe, so no receiver decodes a
/// frame whose reference it never got.
const SEND_QUEUE: usize = 4;

/// The newest frame of one participant, local or remote.
#[derive(Debug, Clone)]
pub struct ParticipantFrame {
    /// Whose frame.
    pub uid: String,
    /// True for the local camera's own picture (the self view), before encoding.
    pub is_local: bool,
    /// The picture.
    pub frame: Arc<I420Frame>,
    /// Counts this participant's frames from 1, so a reader can tell a new frame from one
    /// it has already drawn.
    pub seq: u64,
}

/// The newest frame of every participant whose video is on, by uid. A participant whose
/// video pauses, or who leaves, is removed; one who has not sent a frame yet is absent.
pub type VideoFrames = Arc<BTreeMap<String, ParticipantFrame>>;

/// The writer side of [`VideoFrames`], shared by the encoder and decoder threads.
#[derive(Debug, Clone)]
pub(super) struct VideoFeed(Arc<watch::Sender<VideoFrames>>);

impl VideoFeed {
    pub(super) fn new() -> Self {
        Self(Arc::new(watch::Sender::new(Arc::new(BTreeMap::new()))))
    }

    /// A reader for renderers.
    pub(super) fn subscribe(&self) -> watch::Receiver<VideoFrames> {
        self.0.subscribe()
    }

    fn publish(&self, uid: &str, is_local: bool, frame: I420Frame) {
        let frame = Arc::new(frame);
        self.0.send_modify(|frames| {
            let seq = frames.get(uid).map_or(0, |f| f.seq) + 1;
            let mut next = BTreeMap::clone(frames);
            next.insert(uid.to_owned(), ParticipantFrame { uid: uid.to_owned(), is_local, frame, seq });
            *frames = Arc::new(next);
        });
    }

    fn remove(&self, uid: &str) {
        self.0.send_if_modified(|frames| {
            if !frames.contains_key(uid) {
                return false;
            }
            let mut next = BTreeMap::clone(frames);
            next.remove(uid);
            *frames = Arc::new(next);
            true
        });
    }
}

/// What the session must do after a video step.
#[derive(Debug, Default)]
#[must_use = "the session must publish the events, broadcast the changes and renegotiate"]
pub(super) struct VideoOutcome {
    /// Events for the bus.
    pub(super) events: Vec<Event>,
    /// State changes for the room.
    pub(super) broadcast: Vec<StateChange>,
    /// True when video was just turned on: every link gets a video track and the links
    /// this side offers on are renegotiated.
    pub(super) renegotiate: bool,
}

impl VideoOutcome {
    fn event(event: Event) -> Self {
        Self { events: vec![event], ..Self::default() }
    }
}

/// Where a call stands on video.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// An audio-only call: no camera, no video track, remote video ignored.
    AudioOnly,
    /// The local user asked to switch to video; video is on here, and
    /// `call_switched_to_video` waits for someone's acceptance.
    Requested,
    /// A video call (from the start, or switched).
    Video,
}

/// Which side of a link offers when video is added to it: the side that joined later,
/// which is also the side that made the link's first offer (newcomers offer). Both sides
/// compute the same answer, so exactly one offers and there is no glare.
pub(super) fn offers_renegotiation(local: &RtcUser, remote: &RtcUser) -> bool {
    (local.joined_at, &local.resource) > (remote.joined_at, &remote.resource)
}

/// The cameras a session may open, checked before it joins: an explicitly named camera
/// that is missing fails the start (as a missing microphone does); `default` with no
/// camera is reported once joined and the call goes on receive-only.
#[derive(Debug)]
pub(super) struct CameraPlan {
    cameras: Result<CameraSet, VideoError>,
}

impl CameraPlan {
    /// Checks the configured camera. Audio-only calls open none, so check none.
    pub(super) fn check(config: &Config) -> Result<Option<Self>, CallsException> {
        if config.call.audio_only_call {
            return Ok(None);
        }
        let cameras = CameraSet::from_input(&config.media.video_input);
        match (&cameras, &config.media.video_input) {
            (Err(e), VideoInput::Device(_) | VideoInput::Pattern(_)) => {
                Err(CallsException::new(e.code(), format!("opening video input: {e}")))
            }
            _ => Ok(Some(Self { cameras })),
        }
    }
}

/// The codec of the video track every link gets.
pub(super) const LINK_VIDEO_CODEC: rtc::VideoCodec = rtc::VideoCodec::Vp8;

/// The session's video: see the module docs.
#[derive(Debug)]
pub(super) struct SessionVideo {
    phase: Phase,
    media: MediaConfig,
    local: RtcUser,
    session_id: String,
    /// The cameras checked at start, used by the first [`Self::open_camera`].
    plan: Option<CameraPlan>,
    source: Option<VideoSource>,
    paused: bool,
    keyframes: KeyframeRequest,
    /// The links that have our video track, by the remote's resource.
    senders: Arc<Mutex<BTreeMap<String, Arc<PeerLink>>>>,
    feed: VideoFeed,
    stats: Arc<SharedStats>,
    tap: MediaTap,
    /// How to ask each remote video track for a keyframe (its decoder's PLI channel).
    remote_keyframes: Arc<Mutex<Vec<mpsc::UnboundedSender<()>>>>,
}

impl SessionVideo {
    /// The video of a session that is about to join. Nothing runs until [`Self::start`].
    pub(super) fn new(
        config: &Config,
        plan: Option<CameraPlan>,
        session_id: &str,
        local: &RtcUser,
        stats: Arc<SharedStats>,
        tap: MediaTap,
    ) -> Self {
        Self {
            phase: if config.call.audio_only_call { Phase::AudioOnly } else { Phase::Video },
            media: config.media.clone(),
            local: local.clone(),
            session_id: session_id.to_owned(),
            plan,
            source: None,
            paused: config.call.start_with_video_muted,
            keyframes: KeyframeRequest::new(),
            senders: Arc::default(),
            feed: VideoFeed::new(),
            stats,
            tap,
            remote_keyframes: Arc::default(),
        }
    }

    /// The renderers' view of every participant's newest frame.
    pub(super) fn frames(&self) -> watch::Receiver<VideoFrames> {
        self.feed.subscribe()
    }

    /// Whether video is on (a video call, or a switch asked for or accepted).
    pub(super) fn is_on(&self) -> bool {
        self.phase != Phase::AudioOnly
    }

    /// Starts the camera of a video call, once joined (the pattern carries the name the
    /// server confirmed). `start_with_video_muted` starts it paused and tells everyone.
    pub(super) fn start(&mut self, local: &RtcUser) -> VideoOutcome {
        self.local = local.clone();
        if !self.is_on() {
            return VideoOutcome::default();
        }
        let mut out = self.open_camera();
        if self.paused {
            out.broadcast.push(StateChange::VideoPaused { paused: true });
            out.events.push(Event::UserVideoPaused { user: self.local.clone(), paused: true });
        }
        out
    }

    /// Opens the camera and starts the encoder; a failure is an `error` event and the
    /// call goes on without local video (remote video still arrives).
    fn open_camera(&mut self) -> VideoOutcome {
        let cameras = match self.plan.take() {
            Some(plan) => plan.cameras,
            None => CameraSet::from_input(&self.media.video_input),
        };
        match cameras.and_then(|cameras| self.start_pipeline(cameras)) {
            Ok(()) => VideoOutcome::default(),
            Err(e) => VideoOutcome::event(Event::error(&CallsException::new(
                e.code(),
                format!("opening video input `{}`: {e}; sending no video", self.media.video_input),
            ))),
        }
    }

    fn start_pipeline(&mut self, cameras: CameraSet) -> Result<(), VideoError> {
        let settings = SourceSettings::from_config(&self.media, &self.local.name);
        let encoder = VideoEncoder::new(
            DEFAULT_CODEC,
            EncoderSettings::for_size(settings.width, settings.height, settings.fps),
        )?;
        let (source, frames) = VideoSource::start(cameras, settings)?;
        source.set_paused(self.paused);
        let (encoded_tx, encoded_rx) = mpsc::channel(SEND_QUEUE);
        let encode = EncodeLoop {
            frames,
            encoder,
            keyframes: self.keyframes.clone(),
            senders: Arc::clone(&self.senders),
            out: encoded_tx,
            feed: self.feed.clone(),
            uid: self.local.uid.clone(),
            tap: self.tap.clone(),
        };
        std::thread::Builder::new()
            .name("video-encode".to_owned())
            .spawn(move || encode.run())
            .map_err(|e| VideoError::SourceThread { detail: format!("spawning the encoder thread: {e}") })?;
        switchboard_runtime::exec::spawn(send_encoded(
            encoded_rx,
            Arc::clone(&self.senders),
            Arc::clone(&self.stats),
        ));
        self.source = Some(source);
        Ok(())
    }

    /// Gives a link our video track, once, when video is on. Call before the link's first
    /// offer or answer, and on every link when video turns on.
    pub(super) async fn add_track(&self, resource: &str, link: &Arc<PeerLink>) -> Result<(), rtc::RtcError> {
        if !self.is_on() || lock(&self.senders).contains_key(resource) {
            return Ok(());
        }
        match link.add_video_track(LINK_VIDEO_CODEC).await {
            Ok(()) | Err(rtc::RtcError::TrackExists { .. }) => {}
            Err(e) => return Err(e),
        }
        lock(&self.senders).insert(resource.to_owned(), Arc::clone(link));
        Ok(())
    }

    /// A link closed (its user left, or the session ends).
    pub(super) fn link_closed(&self, user: &RtcUser, uid_still_present: bool) {
        lock(&self.senders).remove(&user.resource);
        if !uid_still_present {
            self.feed.remove(&user.uid);
        }
    }

    /// A peer asked for a keyframe (PLI/FIR), or a link just connected.
    pub(super) fn keyframe_requested(&self) {
        self.keyframes.request();
    }

    /// A recording started: the local encoder makes its next frame a keyframe and every
    /// remote video track is asked for one (PLI), so each recorded track can start at once
    /// instead of at the sender's next periodic keyframe.
    pub(super) fn refresh_keyframes(&self) {
        self.keyframes.request();
        lock(&self.remote_keyframes).retain(|pli| pli.send(()).is_ok());
    }

    /// A remote track of video started. With video on it is decoded on its own thread;
    /// on an audio-only call its frames are read and dropped (counted as packets), so the
    /// link's buffers never fill.
    pub(super) fn receive(
        &self,
        user: &RtcUser,
        track: RemoteTrack,
        counters: Arc<RemoteCounters>,
        link: Arc<PeerLink>,
    ) -> VideoOutcome {
        if !self.is_on() {
            switchboard_runtime::exec::spawn(drain(track, counters, link));
            return VideoOutcome::default();
        }
        let codec = match track.codec {
            rtc::Codec::H264 => VideoCodec::H264,
            _ => VideoCodec::Vp8,
        };
        let decoder = match VideoDecoder::new(codec) {
            Ok(decoder) => decoder,
            Err(e) => {
                return VideoOutcome::event(Event::error(
                    &CallsException::new(e.code(), format!("creating a {codec} decoder: {e}"))
                        .with_details(user.uid.clone()),
                ));
            }
        };
        // The decoder thread asks for keyframes through this task: PLI is async.
        let (want_keyframe, mut wanted) = mpsc::unbounded_channel::<()>();
        lock(&self.remote_keyframes).push(want_keyframe.clone());
        let pli_link = Arc::clone(&link);
        switchboard_runtime::exec::spawn(async move {
            while wanted.recv().await.is_some() {
                if let Err(e) = pli_link.request_keyframe().await {
                    tracing::debug!("asking for a keyframe: {e}");
                }
            }
        });
        let decode = DecodeLoop {
            track,
            decoder,
            uid: user.uid.clone(),
            counters,
            link,
            feed: self.feed.clone(),
            want_keyframe,
            tap: self.tap.clone(),
            codec,
        };
        if let Err(e) =
            std::thread::Builder::new().name(format!("video-decode-{}", user.uid)).spawn(move || decode.run())
        {
            return VideoOutcome::event(Event::error(&CallsException::new(
                ErrorCode::Error,
                format!("spawning the video decoder of {}: {e}", user.uid),
            )));
        }
        VideoOutcome::default()
    }

    /// A remote user paused or resumed: a paused user's last frame is not shown.
    pub(super) fn remote_paused(&self, user: &RtcUser, paused: bool) {
        if paused {
            self.feed.remove(&user.uid);
        }
    }

    /// `pauseVideo(paused)`. The caller raises `user_video_paused` and tells the room
    /// (through the call semantics, which know whether anything changed).
    pub(super) fn set_paused(&mut self, paused: bool) -> Result<(), CallsException> {
        if !self.is_on() {
            return Err(CallsException::new(
                ErrorCode::InvalidState,
                "`pause_video` on an audio-only call: there is no video to pause",
            ));
        }
        self.paused = paused;
        if let Some(source) = &self.source {
            source.set_paused(paused);
        }
        if paused {
            self.feed.remove(&self.local.uid);
        } else {
            // Receivers may have dropped their picture while paused: start clean.
            self.keyframes.request();
        }
        Ok(())
    }

    /// `switchCamera()`: front <-> back, or the next real camera.
    pub(super) fn switch_camera(&mut self) -> Result<VideoOutcome, CallsException> {
        if !self.is_on() {
            return Err(CallsException::new(
                ErrorCode::InvalidState,
                "`switch_camera` on an audio-only call: no camera is in use",
            ));
        }
        let Some(source) = &self.source else {
            return Err(CallsException::new(
                ErrorCode::DeviceMissing,
                format!("`switch_camera`: the video input `{}` did not open", self.media.video_input),
            ));
        };
        let camera = source
            .switch_camera()
            .map_err(|e| CallsException::new(e.code(), format!("switching camera: {e}")))?;
        // The new picture shares nothing with the old one.
        self.keyframes.request();
        Ok(VideoOutcome::event(Event::CameraSwitched { source: camera.to_string() }))
    }

    /// `switchToVideoCall()` by the local user. `alone` switches at once (nobody can
    /// accept); otherwise the others accept and `call_switched_to_video` follows.
    pub(super) fn request_switch(&mut self, alone: bool) -> Result<VideoOutcome, CallsException> {
        if self.phase != Phase::AudioOnly {
            return Err(CallsException::new(ErrorCode::InvalidState, "the call already has video"));
        }
        // The requester's own camera must work, or nothing changes.
        let cameras = CameraSet::from_input(&self.media.video_input)
            .map_err(|e| CallsException::new(e.code(), format!("opening video input: {e}")))?;
        self.start_pipeline(cameras)
            .map_err(|e| CallsException::new(e.code(), format!("starting video: {e}")))?;
        // Told to the room even when alone: the server records the switch, so that
        // whoever joins later joins a video call.
        let mut out = VideoOutcome {
            renegotiate: true,
            broadcast: vec![StateChange::SwitchToVideoRequested],
            ..VideoOutcome::default()
        };
        if alone {
            self.phase = Phase::Video;
            out.events.push(self.switched_event(&self.local, &self.local));
        } else {
            self.phase = Phase::Requested;
        }
        Ok(out)
    }

    /// The room says `by` switched the call to video before we joined: an audio-only
    /// session joins it as a video call, as every member accepted the switch, and raises
    /// `call_switched_to_video` (accepted by the local user) so its UI turns to video.
    /// Call before [`Self::start`], which then opens the camera.
    pub(super) fn join_switched_call(&mut self, by: &RtcUser) -> VideoOutcome {
        if self.phase != Phase::AudioOnly {
            return VideoOutcome::default();
        }
        self.phase = Phase::Video;
        VideoOutcome::event(self.switched_event(by, &self.local))
    }

    /// Another member asked to switch to video: accept (every member does), turn video
    /// on, and raise `call_switched_to_video`. Ignored when video is already on, except by
    /// a member whose own request crossed this one, which accepts it.
    pub(super) fn on_switch_requested(&mut self, by: &RtcUser) -> VideoOutcome {
        let was = self.phase;
        if was == Phase::Video {
            return VideoOutcome::default();
        }
        self.phase = Phase::Video;
        let mut out = if was == Phase::AudioOnly { self.open_camera() } else { VideoOutcome::default() };
        out.renegotiate = was == Phase::AudioOnly;
        out.broadcast.push(StateChange::SwitchToVideoAccepted { request_initiated_by: by.resource.clone() });
        out.events.push(self.switched_event(by, &self.local));
        out
    }

    /// A member accepted a switch (`initiated_by` is the asker, if still here). Completes
    /// the local request; anyone else already switched when the request arrived.
    pub(super) fn on_switch_accepted(
        &mut self,
        initiated_by: Option<&RtcUser>,
        by: &RtcUser,
    ) -> VideoOutcome {
        if self.phase != Phase::Requested {
            return VideoOutcome::default();
        }
        self.phase = Phase::Video;
        let asker = initiated_by.unwrap_or(&self.local).clone();
        VideoOutcome::event(self.switched_event(&asker, by))
    }

    fn switched_event(&self, initiated_by: &RtcUser, accepted_by: &RtcUser) -> Event {
        Event::CallSwitchedToVideo {
            session_id: self.session_id.clone(),
            request_initiated_by: initiated_by.clone(),
            request_accepted_by: accepted_by.clone(),
        }
    }

    /// Stops the camera; the encoder thread and the send task end when its channel closes,
    /// and decoder threads when their links close.
    pub(super) fn stop(&mut self) {
        if let Some(source) = self.source.take() {
            source.stop();
        }
        lock(&self.senders).clear();
        self.feed.remove(&self.local.uid);
    }
}

/// Encodes every camera frame once for all links.
struct EncodeLoop {
    frames: mpsc::Receiver<I420Frame>,
    encoder: VideoEncoder,
    keyframes: KeyframeRequest,
    senders: Arc<Mutex<BTreeMap<String, Arc<PeerLink>>>>,
    out: mpsc::Sender<EncodedFrame>,
    feed: VideoFeed,
    uid: String,
    tap: MediaTap,
}

impl EncodeLoop {
    fn run(mut self) {
        while let Some(frame) = self.frames.blocking_recv() {
            let connected = lock(&self.senders).values().any(|link| link.state() == LinkState::Connected);
            if !connected && !self.tap.recording() {
                // Nobody to send to and nothing recording: skip the work, and start with a
                // keyframe when someone connects.
                self.keyframes.request();
                self.feed.publish(&self.uid, true, frame);
                continue;
            }
            let force = self.keyframes.take();
            match self.encoder.encode(&frame, force) {
                Ok(encoded) => {
                    for packet in encoded {
                        self.tap.video(&self.uid, packet.codec, packet.keyframe, &packet.data);
                        match self.out.try_send(packet) {
                            Ok(()) => {}
                            // The links fell behind; the next frame must not depend on
                            // the one they never got.
                            Err(mpsc::error::TrySendError::Full(_)) => self.keyframes.request(),
                            Err(mpsc::error::TrySendError::Closed(_)) => return,
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!("encoding video: {e}");
                    self.keyframes.request();
                }
            }
            self.feed.publish(&self.uid, true, frame);
        }
    }
}

/// Writes encoded frames to every connected link that has our video track.
async fn send_encoded(
    mut encoded: mpsc::Receiver<EncodedFrame>,
    senders: Arc<Mutex<BTreeMap<String, Arc<PeerLink>>>>,
    stats: Arc<SharedStats>,
) {
    while let Some(packet) = encoded.recv().await {
        let frame = rtc::VideoFrame {
            data: Bytes::from(packet.data),
            timestamp: Duration::from_micros(packet.timestamp_us),
            keyframe: packet.keyframe,
        };
        let links: Vec<Arc<PeerLink>> = lock(&senders).values().cloned().collect();
        for link in links {
            if link.state() != LinkState::Connected {
                continue;
            }
            match link.send_video(&frame).await {
                Ok(()) => stats.video_frames_sent.add(1),
                Err(e) => tracing::debug!("sending video: {e}"),
            }
        }
    }
}

/// Decodes one remote video track.
struct DecodeLoop {
    track: RemoteTrack,
    decoder: VideoDecoder,
    uid: String,
    counters: Arc<RemoteCounters>,
    link: Arc<PeerLink>,
    feed: VideoFeed,
    want_keyframe: mpsc::UnboundedSender<()>,
    tap: MediaTap,
    codec: VideoCodec,
}

impl DecodeLoop {
    fn run(mut self) {
        // Until a keyframe arrives there is nothing to decode from: the first frames of a
        // track can be lost while the receiver binds, and a lost frame breaks the chain.
        let mut need_keyframe = true;
        let mut asked_at: Option<Instant> = None;
        // From zero: the packets of the first frame arrived before this track was announced.
        let mut seen = rtc::LinkStats::default();
        while let Some(frame) = self.track.frames.blocking_recv() {
            let now = self.link.stats();
            self.counters
                .video_packets
                .add(now.video_packets_received.saturating_sub(seen.video_packets_received));
            // A frame the link gave up on (a packet never came) or dropped breaks the
            // reference chain: wait for a keyframe.
            if now.video_frames_incomplete > seen.video_frames_incomplete
                || now.frames_dropped_queue_full > seen.frames_dropped_queue_full
            {
                need_keyframe = true;
            }
            seen = now;
            if need_keyframe && !frame.keyframe {
                if asked_at.is_none_or(|at| at.elapsed() >= KEYFRAME_RETRY) {
                    asked_at = Some(Instant::now());
                    let _ = self.want_keyframe.send(());
                }
                continue;
            }
            need_keyframe = false;
            self.tap.video(&self.uid, self.codec, frame.keyframe, &frame.data);
            let timestamp_us = u64::from(frame.rtp_timestamp) * 1000 / 90;
            match self.decoder.decode(&frame.data, timestamp_us) {
                Ok(Some(picture)) => {
                    self.counters.video_frames_decoded.add(1);
                    self.feed.publish(&self.uid, false, picture);
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::debug!(uid = self.uid, "undecodable video frame: {e}");
                    need_keyframe = true;
                }
            }
        }
        tracing::debug!(uid = self.uid, "remote video track ended");
    }
}

/// Reads a video track nobody decodes (an audio-only call), counting its packets.
async fn drain(mut track: RemoteTrack, counters: Arc<RemoteCounters>, link: Arc<PeerLink>) {
    let mut seen = 0;
    while track.frames.recv().await.is_some() {
        let now = link.stats().video_packets_received;
        counters.video_packets.add(now.saturating_sub(seen));
        seen = now;
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(uid: &str, joined_at: u64) -> RtcUser {
        RtcUser {
            uid: uid.into(),
            name: uid.into(),
            resource: format!("{uid}-r"),
            joined_at,
            ..RtcUser::default()
        }
    }

    fn audio_only(local: &RtcUser) -> SessionVideo {
        let mut config = Config::default();
        config.call.audio_only_call = true;
        config.media.video_input = VideoInput::Pattern("front".into());
        let bus =
            switchboard_runtime::bus::Bus::start(Vec::new(), switchboard_runtime::bus::BusOptions::default())
                .expect("bus");
        SessionVideo::new(&config, None, "s1", local, Arc::default(), MediaTap::new(bus, Instant::now()))
    }

    fn names(out: &VideoOutcome) -> Vec<&'static str> {
        out.events.iter().map(|e| e.kind().as_str()).collect()
    }

    #[test]
    fn exactly_one_side_of_a_link_renegotiates_and_it_is_the_newcomer() {
        let (old, new) = (user("a", 100), user("b", 200));
        assert!(offers_renegotiation(&new, &old));
        assert!(!offers_renegotiation(&old, &new));
        // Same millisecond: the resource decides, still exactly one side.
        let (x, y) = (user("x", 5), user("y", 5));
        assert_ne!(offers_renegotiation(&x, &y), offers_renegotiation(&y, &x));
    }

    #[test]
    fn a_switch_asked_and_accepted_raises_one_event_on_each_side() {
        switchboard_runtime::exec::block_on(async {
            let (alice, bob) = (user("alice", 1), user("bob", 2));
            let mut a = audio_only(&alice);
            let mut b = audio_only(&bob);
            assert!(a.set_paused(true).is_err(), "nothing to pause on an audio-only call");

            let asked = a.request_switch(false).expect("switch");
            assert!(asked.renegotiate);
            assert_eq!(asked.broadcast, [StateChange::SwitchToVideoRequested]);
            assert!(asked.events.is_empty(), "the event waits for an acceptance");
            assert!(a.is_on());

            let accepted = b.on_switch_requested(&alice);
            assert!(accepted.renegotiate);
            assert_eq!(
                accepted.broadcast,
                [StateChange::SwitchToVideoAccepted { request_initiated_by: "alice-r".into() }]
            );
            assert_eq!(
                accepted.events,
                [Event::CallSwitchedToVideo {
                    session_id: "s1".into(),
                    request_initiated_by: alice.clone(),
                    request_accepted_by: bob.clone(),
                }]
            );
            let done = a.on_switch_accepted(Some(&alice), &bob);
            assert_eq!(done.events, accepted.events, "both sides see the same asker and accepter");
            assert!(!done.renegotiate);
            // Further acceptances (group calls) and repeated requests change nothing.
            assert!(a.on_switch_accepted(Some(&alice), &user("carol", 3)).events.is_empty());
            assert!(b.on_switch_requested(&alice).events.is_empty());
            assert!(a.request_switch(false).is_err(), "already video");
            a.stop();
            b.stop();
        });
    }

    #[test]
    fn crossed_requests_still_give_each_side_one_event() {
        switchboard_runtime::exec::block_on(async {
            let (alice, bob) = (user("alice", 1), user("bob", 2));
            let mut a = audio_only(&alice);
            let mut b = audio_only(&bob);
            let _ = a.request_switch(false).expect("a asks");
            let _ = b.request_switch(false).expect("b asks");
            let a_accepts = a.on_switch_requested(&bob);
            assert_eq!(names(&a_accepts), ["call_switched_to_video"]);
            assert!(!a_accepts.renegotiate, "video is already on here");
            let b_accepts = b.on_switch_requested(&alice);
            assert_eq!(names(&b_accepts), ["call_switched_to_video"]);
            assert!(a.on_switch_accepted(Some(&alice), &bob).events.is_empty());
            assert!(b.on_switch_accepted(Some(&bob), &alice).events.is_empty());
            a.stop();
            b.stop();
        });
    }

    #[test]
    fn alone_the_switch_is_immediate() {
        switchboard_runtime::exec::block_on(async {
            let alice = user("alice", 1);
            let mut a = audio_only(&alice);
            let out = a.request_switch(true).expect("switch");
            assert_eq!(names(&out), ["call_switched_to_video"]);
            // Nobody is there to accept, but the room records it for whoever joins next.
            assert_eq!(out.broadcast, [StateChange::SwitchToVideoRequested]);
            a.stop();
        });
    }

    #[test]
    fn joining_a_switched_call_turns_video_on_once() {
        switchboard_runtime::exec::block_on(async {
            let (alice, carol) = (user("alice", 1), user("carol", 3));
            let mut c = audio_only(&carol);
            let out = c.join_switched_call(&alice);
            assert!(c.is_on());
            let [Event::CallSwitchedToVideo { request_initiated_by, request_accepted_by, .. }] =
                &out.events[..]
            else {
                panic!("one call_switched_to_video, got {:?}", out.events);
            };
            assert_eq!(
                (request_initiated_by.uid.as_str(), request_accepted_by.uid.as_str()),
                ("alice", "carol")
            );
            assert!(out.broadcast.is_empty() && !out.renegotiate, "nothing to tell, no link yet");
            assert!(c.join_switched_call(&alice).events.is_empty(), "a video call stays one");
        });
    }

    #[test]
    fn the_feed_keeps_the_newest_frame_and_counts() {
        let feed = VideoFeed::new();
        let rx = feed.subscribe();
        let frame = || I420Frame::filled(64, 48, (16, 128, 128), 0).expect("frame");
        feed.publish("bob", false, frame());
        feed.publish("bob", false, frame());
        feed.publish("me", true, frame());
        let frames = rx.borrow().clone();
        assert_eq!(frames["bob"].seq, 2);
        assert!(frames["me"].is_local);
        feed.remove("bob");
        assert!(!rx.borrow().contains_key("bob"));
    }
}
