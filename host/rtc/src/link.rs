//! [`PeerLink`]: one WebRTC peer connection to one remote participant.
//!
//! The session drives it: add tracks, run offer/answer with [`PeerLink::create_offer`],
//! [`PeerLink::accept_offer`] and [`PeerLink::accept_answer`], relay the candidates that
//! come out as [`LinkEvent::LocalCandidate`] (those [`PeerLink::needs_trickle`] says a
//! description did not carry already) and feed the remote ones to
//! [`PeerLink::add_remote_candidate`]. Renegotiation (adding video to an audio call) is the
//! same exchange run again after [`PeerLink::add_video_track`].

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};

use tokio::sync::{Mutex, mpsc, watch};
use webrtc::dtls_transport::dtls_transport_state::RTCDtlsTransportState;
use webrtc::ice_transport::ice_candidate::{RTCIceCandidate, RTCIceCandidateInit};
use webrtc::ice_transport::ice_connection_state::RTCIceConnectionState;
use webrtc::ice_transport::ice_server::RTCIceServer;
use webrtc::media::Sample;
use webrtc::peer_connection::RTCPeerConnection;
use webrtc::peer_connection::configuration::RTCConfiguration;
use webrtc::peer_connection::peer_connection_state::RTCPeerConnectionState;
use webrtc::peer_connection::sdp::sdp_type::RTCSdpType;
use webrtc::peer_connection::sdp::session_description::RTCSessionDescription;
use webrtc::peer_connection::signaling_state::RTCSignalingState;
use webrtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use webrtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use webrtc::rtp_transceiver::rtp_codec::RTPCodecType;
use webrtc::rtp_transceiver::rtp_sender::RTCRtpSender;
use webrtc::track::track_local::TrackLocal;
use webrtc::track::track_local::track_local_static_sample::TrackLocalStaticSample;
use webrtc::track::track_remote::TrackRemote;

use super::engine::{build_api, opus_capability, video_capability};
use super::error::{RtcError, lib};
use super::receive::{codec_of, read_track};
use super::stats::{Counters, add};
use super::{
    AudioFrame, IceScope, LinkCertificate, LinkEvent, LinkOptions, LinkState, LinkStats, MediaKind,
    RemoteTrack, SETUP_TRACE, VideoCodec, VideoFrame,
};

/// The stream id (SDP msid) of our tracks; one stream per participant, so a browser
/// groups our audio and video for lip sync.
const STREAM_ID: &str = "switchboard";

/// The RTP clock step of the first video frame, before two timestamps give a real
/// interval: one frame at 30 fps.
const FIRST_VIDEO_FRAME_INTERVAL: Duration = Duration::from_micros(33_333);

/// The longest an answer waits for loopback candidates (gathered in about 1 ms).
const LOOPBACK_GATHER_WAIT: Duration = Duration::from_millis(50);

/// Numbers links in setup traces ([`SETUP_TRACE`]), process-wide.
static NEXT_LINK: AtomicU64 = AtomicU64::new(1);

/// One peer connection to one remote participant. Cheap to share behind an `Arc`; every
/// method takes `&self`. Needs a tokio runtime (the library spawns its tasks on it).
#[derive(Debug)]
pub struct PeerLink {
    pc: Arc<RTCPeerConnection>,
    shared: Arc<Shared>,
    video: StdMutex<Option<VideoSender>>,
    /// Remote candidates that arrived before the remote description, which the library
    /// refuses until it knows the remote ICE credentials. Held across the set-remote step
    /// so no candidate can slip between "not yet" and "drained".
    negotiation: Mutex<Negotiation>,
    /// How long an answer waits for our candidates to be gathered so it can carry them
    /// (see [`PeerLink::accept_offer`]); zero answers at once.
    answer_gather_wait: Duration,
}

/// State the library's callbacks need; they hold this, never the peer connection, so
/// there is no reference cycle.
#[derive(Debug)]
struct Shared {
    /// The link's number in setup traces.
    id: u64,
    counters: Arc<Counters>,
    /// Our audio track, once added. Here rather than in [`PeerLink`] because the held
    /// frame is sent from the library's connection-state callback.
    audio: StdMutex<Option<Arc<TrackLocalStaticSample>>>,
    /// Orders every audio write, and holds the newest frame offered before the link was
    /// connected (see [`PeerLink::hold_audio`]).
    audio_out: Mutex<AudioOut>,
    /// Whether the first audio packet has been written (traced once).
    first_audio_written: AtomicBool,
    state: watch::Sender<LinkState>,
    events: mpsc::UnboundedSender<LinkEvent>,
    receive_queue: usize,
    /// SSRCs of the remote video tracks, which a PLI must name.
    remote_video_ssrcs: StdMutex<Vec<u32>>,
    /// Whether a local candidate has been gathered (an answer on loopback waits for one).
    gathered: watch::Sender<bool>,
    /// Our candidates (their `candidate:` lines) that a description we handed out already
    /// carried: the peer has them, so they need not be trickled too.
    described: StdMutex<HashSet<String>>,
}

#[derive(Debug)]
struct VideoSender {
    track: Arc<TrackLocalStaticSample>,
    /// Timestamp of the previous frame, to turn timestamps into RTP clock steps.
    last_timestamp: Option<Duration>,
}

/// The newest audio frame offered while the link was not connected, and when it was
/// captured.
#[derive(Debug, Default)]
struct AudioOut {
    held: Option<(AudioFrame, Instant)>,
}

#[derive(Debug, Default)]
struct Negotiation {
    has_remote_description: bool,
    pending_candidates: Vec<RTCIceCandidateInit>,
}

impl Shared {
    /// Records a state and tells the session, once per change.
    fn set_state(&self, state: LinkState) {
        let changed = self.state.send_if_modified(|current| {
            // Closed is final: a late "failed" from a transport torn down by close() is noise.
            if *current == state || *current == LinkState::Closed {
                false
            } else {
                *current = state;
                true
            }
        });
        if changed {
            tracing::debug!(target: SETUP_TRACE, stage = "link state", link = self.id, %state);
            let _ = self.events.send(LinkEvent::State { state });
        }
    }

    /// Writes one audio frame on our track, in order with every other audio write.
    async fn write_audio(&self, out: &mut AudioOut, frame: &AudioFrame) -> Result<(), RtcError> {
        // A newer frame supersedes the held one.
        out.held = None;
        let track = lock(&self.audio).clone().ok_or(RtcError::NoTrack { kind: MediaKind::Audio })?;
        let sample = Sample { data: frame.data.clone(), duration: frame.duration, ..Default::default() };
        track
            .write_sample(&sample)
            .await
            .map_err(|source| RtcError::Send { kind: MediaKind::Audio, source: lib(source) })?;
        add(&self.counters.audio_packets_sent, 1);
        add(&self.counters.audio_bytes_sent, frame.data.len() as u64);
        if !self.first_audio_written.swap(true, Ordering::Relaxed) {
            tracing::debug!(target: SETUP_TRACE, stage = "first audio written", link = self.id);
        }
        Ok(())
    }

    /// The link just connected: sends the frame held while connecting, if it is still
    /// current (captured within one frame duration). Without this, the first audio would
    /// wait for the source's next frame, up to 20 ms after the transport is up.
    async fn send_held_audio(&self) {
        let mut out = self.audio_out.lock().await;
        let Some((frame, captured)) = out.held.take() else { return };
        if let Err(e) = self.send_if_current(&mut out, &frame, captured).await {
            tracing::debug!(link = self.id, "sending the held audio frame: {e}");
        }
    }

    /// Writes a held frame unless it is stale (captured more than its duration ago: a
    /// newer frame may have gone already), and announces it ([`LinkEvent::HeldAudioSent`]).
    async fn send_if_current(
        &self,
        out: &mut AudioOut,
        frame: &AudioFrame,
        captured: Instant,
    ) -> Result<(), RtcError> {
        if captured.elapsed() > frame.duration {
            return Ok(());
        }
        tracing::debug!(target: SETUP_TRACE, stage = "held audio sent", link = self.id);
        self.write_audio(out, frame).await?;
        let _ = self.events.send(LinkEvent::HeldAudioSent);
        Ok(())
    }
}

fn link_state(state: RTCPeerConnectionState) -> Option<LinkState> {
    Some(match state {
        RTCPeerConnectionState::Unspecified => return None,
        RTCPeerConnectionState::New => LinkState::New,
        RTCPeerConnectionState::Connecting => LinkState::Connecting,
        RTCPeerConnectionState::Connected => LinkState::Connected,
        RTCPeerConnectionState::Disconnected => LinkState::Disconnected,
        RTCPeerConnectionState::Failed => LinkState::Failed,
        RTCPeerConnectionState::Closed => LinkState::Closed,
    })
}

/// Reads a session description of the expected type from a signaling payload.
fn parse_description(
    value: serde_json::Value,
    expected: RTCSdpType,
    what: &'static str,
) -> Result<RTCSessionDescription, RtcError> {
    let desc: RTCSessionDescription =
        serde_json::from_value(value).map_err(|e| RtcError::BadSignal { what, reason: e.to_string() })?;
    if desc.sdp_type != expected {
        return Err(RtcError::BadSignal {
            what,
            reason: format!("type is {}, expected {expected}", desc.sdp_type),
        });
    }
    Ok(desc)
}

fn description_value(desc: &RTCSessionDescription) -> serde_json::Value {
    serde_json::json!({ "type": desc.sdp_type.to_string(), "sdp": desc.sdp })
}

impl PeerLink {
    /// Creates a link and the stream of its events. Nothing is sent until tracks are
    /// added and an offer is made or accepted.
    pub async fn new(options: LinkOptions) -> Result<(Self, mpsc::UnboundedReceiver<LinkEvent>), RtcError> {
        let api = build_api(&options)?;
        let config = RTCConfiguration {
            ice_servers: options
                .ice_servers
                .iter()
                .map(|s| RTCIceServer {
                    urls: s.urls.clone(),
                    username: s.username.clone(),
                    credential: s.credential.clone(),
                })
                .collect(),
            certificates: options.certificate.iter().map(LinkCertificate::to_library).collect(),
            ..Default::default()
        };
        let pc = Arc::new(api.new_peer_connection(config).await.map_err(|source| RtcError::Setup {
            step: "creating the peer connection",
            source: lib(source),
        })?);
        let id = NEXT_LINK.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(target: SETUP_TRACE, stage = "link created", link = id);
        let (events, events_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            id,
            counters: Arc::new(Counters::default()),
            audio: StdMutex::new(None),
            audio_out: Mutex::new(AudioOut::default()),
            first_audio_written: AtomicBool::new(false),
            state: watch::Sender::new(LinkState::New),
            events,
            receive_queue: options.receive_queue.max(1),
            remote_video_ssrcs: StdMutex::new(Vec::new()),
            gathered: watch::Sender::new(false),
            described: StdMutex::new(HashSet::new()),
        });

        let s = Arc::clone(&shared);
        pc.on_peer_connection_state_change(Box::new(move |state| {
            if let Some(state) = link_state(state) {
                s.set_state(state);
                if state == LinkState::Connected {
                    // After set_state, so a frame offered from now on is sent directly
                    // (see `hold_audio`).
                    let s = Arc::clone(&s);
                    tokio::spawn(async move { s.send_held_audio().await });
                }
            }
            Box::pin(async {})
        }));

        // ICE and DTLS steps, for setup traces only.
        pc.on_ice_connection_state_change(Box::new(move |state: RTCIceConnectionState| {
            tracing::debug!(target: SETUP_TRACE, stage = "ice state", link = id, %state);
            Box::pin(async {})
        }));
        pc.dtls_transport().on_state_change(Box::new(move |state: RTCDtlsTransportState| {
            tracing::debug!(target: SETUP_TRACE, stage = "dtls state", link = id, %state);
            Box::pin(async {})
        }));

        let s = Arc::clone(&shared);
        pc.on_ice_candidate(Box::new(move |candidate: Option<RTCIceCandidate>| {
            // `None` marks the end of gathering; trickle needs no message for it.
            if let Some(candidate) = candidate {
                if !s.gathered.send_replace(true) {
                    tracing::debug!(target: SETUP_TRACE, stage = "first candidate gathered", link = s.id);
                }
                match candidate.to_json().map(serde_json::to_value) {
                    Ok(Ok(candidate)) => {
                        let _ = s.events.send(LinkEvent::LocalCandidate { candidate });
                    }
                    Ok(Err(e)) => tracing::warn!(error = %e, "serializing a local candidate"),
                    Err(e) => tracing::warn!(error = %e, "reading a local candidate"),
                }
            }
            Box::pin(async {})
        }));

        let s = Arc::clone(&shared);
        pc.on_track(Box::new(move |track: Arc<TrackRemote>, _receiver, _transceiver| {
            let s = Arc::clone(&s);
            Box::pin(async move { s.start_remote_track(track) })
        }));

        let link = Self {
            pc,
            shared,
            video: StdMutex::new(None),
            negotiation: Mutex::new(Negotiation::default()),
            answer_gather_wait: match options.ice_scope {
                IceScope::Loopback => LOOPBACK_GATHER_WAIT,
                IceScope::AllInterfaces => Duration::ZERO,
            },
        };
        Ok((link, events_rx))
    }

    /// Adds our audio track (Opus 48 kHz). Before the first offer or answer, or followed
    /// by a renegotiation.
    pub async fn add_audio_track(&self) -> Result<(), RtcError> {
        if lock(&self.shared.audio).is_some() {
            return Err(RtcError::TrackExists { kind: MediaKind::Audio });
        }
        let track = Arc::new(TrackLocalStaticSample::new(
            opus_capability(),
            "audio".to_owned(),
            STREAM_ID.to_owned(),
        ));
        self.add_track(Arc::clone(&track), MediaKind::Audio).await?;
        *lock(&self.shared.audio) = Some(track);
        Ok(())
    }

    /// Adds our video track. On an established connection, follow it with
    /// [`Self::create_offer`] to renegotiate; audio keeps flowing meanwhile.
    pub async fn add_video_track(&self, codec: VideoCodec) -> Result<(), RtcError> {
        if lock(&self.video).is_some() {
            return Err(RtcError::TrackExists { kind: MediaKind::Video });
        }
        let track = Arc::new(TrackLocalStaticSample::new(
            video_capability(codec),
            "video".to_owned(),
            STREAM_ID.to_owned(),
        ));
        self.add_track(Arc::clone(&track), MediaKind::Video).await?;
        *lock(&self.video) = Some(VideoSender { track, last_timestamp: None });
        Ok(())
    }

    async fn add_track(&self, track: Arc<TrackLocalStaticSample>, kind: MediaKind) -> Result<(), RtcError> {
        let sender = self
            .pc
            .add_track(track as Arc<dyn TrackLocal + Send + Sync>)
            .await
            .map_err(|source| RtcError::Negotiation { step: "adding a track", source: lib(source) })?;
        // RTCP for our track must be read: the interceptors (NACK responder, reports) run
        // as it is read, and it carries the remote's PLI/FIR.
        tokio::spawn(read_sender_rtcp(sender, kind, Arc::clone(&self.shared)));
        Ok(())
    }

    /// Makes an offer (first negotiation or renegotiation) and returns it as a signaling
    /// payload `{"type":"offer","sdp":...}`. Local candidates follow as events.
    pub async fn create_offer(&self) -> Result<serde_json::Value, RtcError> {
        let offer = self
            .pc
            .create_offer(None)
            .await
            .map_err(|source| RtcError::Negotiation { step: "create offer", source: lib(source) })?;
        self.pc.set_local_description(offer.clone()).await.map_err(|source| RtcError::Negotiation {
            step: "set local description (offer)",
            source: lib(source),
        })?;
        tracing::debug!(target: SETUP_TRACE, stage = "offer ready", link = self.shared.id);
        Ok(self.hand_out(&offer))
    }

    /// Our last offer again, now with the candidates gathered since it was made (the one
    /// [`create_offer`](Self::create_offer) returned usually has none yet), or `None` when
    /// our local description is not an offer. The candidates it carries are not trickled
    /// again (see [`PeerLink::needs_trickle`]).
    pub async fn offer_with_candidates(&self) -> Option<serde_json::Value> {
        let offer = self.pc.local_description().await.filter(|d| d.sdp_type == RTCSdpType::Offer)?;
        Some(self.hand_out(&offer))
    }

    /// Whether a local candidate (a [`LinkEvent::LocalCandidate`] payload) still has to be
    /// trickled to the peer: not when a description we handed out carried it already.
    pub fn needs_trickle(&self, candidate: &serde_json::Value) -> bool {
        let line = candidate.get("candidate").and_then(serde_json::Value::as_str);
        !line.is_some_and(|line| lock(&self.shared.described).contains(line))
    }

    /// A description as a signaling payload, noting the candidates it carries.
    fn hand_out(&self, desc: &RTCSessionDescription) -> serde_json::Value {
        let mut described = lock(&self.shared.described);
        for line in desc.sdp.lines() {
            if let Some(candidate) = line.strip_prefix("a=").filter(|l| l.starts_with("candidate:")) {
                described.insert(candidate.trim_end().to_owned());
            }
        }
        description_value(desc)
    }

    /// Accepts the remote peer's offer and returns our answer as a signaling payload.
    pub async fn accept_offer(&self, offer: serde_json::Value) -> Result<serde_json::Value, RtcError> {
        let offer = parse_description(offer, RTCSdpType::Offer, "offer")?;
        self.set_remote(offer, "set remote description (offer)").await?;
        tracing::debug!(target: SETUP_TRACE, stage = "offer applied", link = self.shared.id);
        let answer = self
            .pc
            .create_answer(None)
            .await
            .map_err(|source| RtcError::Negotiation { step: "create answer", source: lib(source) })?;
        // Subscribed before gathering starts (set_local_description starts it).
        let mut gathered = self.shared.gathered.subscribe();
        self.pc.set_local_description(answer.clone()).await.map_err(|source| RtcError::Negotiation {
            step: "set local description (answer)",
            source: lib(source),
        })?;
        // With trickle ICE alone, our first binding request usually reaches the offerer
        // before our candidate does (the candidate goes through the signaling server), so
        // the offerer's first check round finds no pair and the pair is nominated only on
        // its next round, 200 ms later. On loopback the one host candidate is gathered in
        // about a millisecond: waiting for it lets the answer carry it, and the offerer
        // checks the pair the moment it applies the answer. (Not for gathering to
        // complete: the library reports that only after its own timeouts, ~50 ms later.)
        // Candidates it carries are not trickled again (`needs_trickle`).
        tracing::debug!(target: SETUP_TRACE, stage = "answer created", link = self.shared.id);
        if !self.answer_gather_wait.is_zero()
            && tokio::time::timeout(self.answer_gather_wait, gathered.wait_for(|g| *g))
                .await
                .is_ok_and(|r| r.is_ok())
            && let Some(full) = self.pc.local_description().await
        {
            tracing::debug!(target: SETUP_TRACE, stage = "answer ready", link = self.shared.id, candidates = true);
            return Ok(self.hand_out(&full));
        }
        tracing::debug!(target: SETUP_TRACE, stage = "answer ready", link = self.shared.id, candidates = false);
        Ok(self.hand_out(&answer))
    }

    /// Whether our last offer still waits for its answer: a new offer now would cross it,
    /// so a renegotiation waits until [`accept_answer`](Self::accept_answer).
    pub fn awaiting_answer(&self) -> bool {
        self.pc.signaling_state() == RTCSignalingState::HaveLocalOffer
    }

    /// Accepts the remote peer's answer to our last offer.
    pub async fn accept_answer(&self, answer: serde_json::Value) -> Result<(), RtcError> {
        let answer = parse_description(answer, RTCSdpType::Answer, "answer")?;
        self.set_remote(answer, "set remote description (answer)").await?;
        tracing::debug!(target: SETUP_TRACE, stage = "answer applied", link = self.shared.id);
        Ok(())
    }

    async fn set_remote(&self, desc: RTCSessionDescription, step: &'static str) -> Result<(), RtcError> {
        let mut negotiation = self.negotiation.lock().await;
        self.pc
            .set_remote_description(desc)
            .await
            .map_err(|source| RtcError::Negotiation { step, source: lib(source) })?;
        negotiation.has_remote_description = true;
        for candidate in std::mem::take(&mut negotiation.pending_candidates) {
            self.add_candidate_now(candidate).await?;
        }
        Ok(())
    }

    /// Adds a candidate the remote peer trickled, in its wire shape. One that arrives
    /// before the remote description is kept until the description is set.
    pub async fn add_remote_candidate(&self, candidate: serde_json::Value) -> Result<(), RtcError> {
        let candidate: RTCIceCandidateInit = serde_json::from_value(candidate)
            .map_err(|e| RtcError::BadSignal { what: "candidate", reason: e.to_string() })?;
        let mut negotiation = self.negotiation.lock().await;
        if negotiation.has_remote_description {
            self.add_candidate_now(candidate).await
        } else {
            negotiation.pending_candidates.push(candidate);
            Ok(())
        }
    }

    async fn add_candidate_now(&self, candidate: RTCIceCandidateInit) -> Result<(), RtcError> {
        let line = candidate.candidate.clone();
        self.pc
            .add_ice_candidate(candidate)
            .await
            .map_err(|source| RtcError::Candidate { candidate: line, source: lib(source) })
    }

    /// Sends one encoded audio packet (an Opus packet of `duration`, normally 20 ms).
    /// Before the connection is up the packet is dropped by the library; use
    /// [`Self::hold_audio`] then.
    pub async fn send_audio(&self, frame: &AudioFrame) -> Result<(), RtcError> {
        let mut out = self.shared.audio_out.lock().await;
        self.shared.write_audio(&mut out, frame).await
    }

    /// Offers an audio frame (captured at `captured`) while the link is not connected: the
    /// newest one offered is sent the moment the link connects, if it is still current
    /// then (captured within its own duration), instead of the first audio waiting for
    /// the next frame. If the link has connected meanwhile, the frame is sent now if it is
    /// still current (a newer frame may have been sent already otherwise). A frame older
    /// than the one held is dropped.
    pub async fn hold_audio(&self, frame: &AudioFrame, captured: Instant) -> Result<(), RtcError> {
        let mut out = self.shared.audio_out.lock().await;
        // Checked under the lock: the connect callback sets the state before it takes the
        // held frame under the same lock, so no frame falls between the two.
        if self.state() == LinkState::Connected {
            return self.shared.send_if_current(&mut out, frame, captured).await;
        }
        if lock(&self.shared.audio).is_none() {
            return Err(RtcError::NoTrack { kind: MediaKind::Audio });
        }
        if out.held.as_ref().is_none_or(|(_, held)| *held <= captured) {
            out.held = Some((frame.clone(), captured));
        }
        Ok(())
    }

    /// Sends one encoded video frame.
    ///
    /// The library's packetizer stamps a frame with the RTP clock and then advances the
    /// clock by the sample's duration, so the step after frame n is taken to be the
    /// interval between frames n-1 and n: right for a steady frame rate, and never zero
    /// (two frames with one RTP timestamp would be merged by the receiver).
    pub async fn send_video(&self, frame: &VideoFrame) -> Result<(), RtcError> {
        let (track, duration) = {
            let mut video = lock(&self.video);
            let sender = video.as_mut().ok_or(RtcError::NoTrack { kind: MediaKind::Video })?;
            let duration = match sender.last_timestamp {
                Some(last) => frame.timestamp.saturating_sub(last),
                None => FIRST_VIDEO_FRAME_INTERVAL,
            };
            sender.last_timestamp = Some(frame.timestamp);
            (Arc::clone(&sender.track), duration.max(Duration::from_millis(1)))
        };
        let sample = Sample { data: frame.data.clone(), duration, ..Default::default() };
        track
            .write_sample(&sample)
            .await
            .map_err(|source| RtcError::Send { kind: MediaKind::Video, source: lib(source) })?;
        let counters = &self.shared.counters;
        add(&counters.video_frames_sent, 1);
        add(&counters.video_bytes_sent, frame.data.len() as u64);
        if frame.keyframe {
            add(&counters.video_keyframes_sent, 1);
        }
        Ok(())
    }

    /// Asks the remote peer for a keyframe on every video track it sends us (RTCP PLI),
    /// e.g. after a decoding error.
    pub async fn request_keyframe(&self) -> Result<(), RtcError> {
        let ssrcs = lock(&self.shared.remote_video_ssrcs).clone();
        if ssrcs.is_empty() {
            return Err(RtcError::NoRemoteVideo);
        }
        for media_ssrc in ssrcs {
            let pli = PictureLossIndication { sender_ssrc: 0, media_ssrc };
            self.pc
                .write_rtcp(&[Box::new(pli)])
                .await
                .map_err(|source| RtcError::Rtcp { what: "PLI", source: lib(source) })?;
            add(&self.shared.counters.keyframe_requests_sent, 1);
        }
        Ok(())
    }

    /// The current state.
    pub fn state(&self) -> LinkState {
        *self.shared.state.borrow()
    }

    /// Waits until the link is connected, failed, closed, or `timeout` passed.
    pub async fn wait_connected(&self, timeout: Duration) -> Result<(), RtcError> {
        let mut rx = self.shared.state.subscribe();
        let outcome = tokio::time::timeout(
            timeout,
            rx.wait_for(|s| matches!(s, LinkState::Connected | LinkState::Failed | LinkState::Closed)),
        )
        .await;
        match outcome {
            Ok(Ok(state)) if *state == LinkState::Connected => Ok(()),
            Ok(Ok(state)) => Err(RtcError::NotConnected { state: *state }),
            // The sender lives in `self.shared`, so the channel cannot close while we wait.
            Ok(Err(_)) => Err(RtcError::NotConnected { state: LinkState::Closed }),
            Err(_) => Err(RtcError::ConnectTimeout { after: timeout, state: self.state() }),
        }
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> LinkStats {
        self.shared.counters.snapshot()
    }

    /// Closes the connection: stops tracks and transports, ends every remote track's
    /// frame stream and the tasks behind them, and reports [`LinkState::Closed`].
    pub async fn close(&self) -> Result<(), RtcError> {
        lock(&self.shared.audio).take();
        lock(&self.video).take();
        let result = self.pc.close().await;
        self.shared.set_state(LinkState::Closed);
        result.map_err(|source| RtcError::Close { source: lib(source) })
    }
}

impl Drop for PeerLink {
    /// A link dropped without [`PeerLink::close`] still releases its sockets and tasks:
    /// the library does not close a peer connection on drop.
    fn drop(&mut self) {
        if self.state() == LinkState::Closed {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let pc = Arc::clone(&self.pc);
            runtime.spawn(async move {
                if let Err(e) = pc.close().await {
                    tracing::debug!(error = %e, "closing a dropped peer link");
                }
            });
        }
    }
}

impl Shared {
    /// Starts reading a track the remote peer sends and announces it to the session.
    fn start_remote_track(self: Arc<Self>, track: Arc<TrackRemote>) {
        let mime = track.codec().capability.mime_type;
        let Some(codec) = codec_of(&mime) else {
            tracing::warn!(%mime, "remote track with a codec we do not speak; ignored");
            return;
        };
        let kind = match track.kind() {
            RTPCodecType::Video => MediaKind::Video,
            _ => MediaKind::Audio,
        };
        if kind == MediaKind::Video {
            lock(&self.remote_video_ssrcs).push(track.ssrc());
        }
        let (frames_tx, frames) = mpsc::channel(self.receive_queue);
        let remote = RemoteTrack { kind, codec, id: track.id(), frames };
        tracing::debug!(target: SETUP_TRACE, stage = "remote track", link = self.id, %kind);
        let _ = self.events.send(LinkEvent::RemoteTrack { track: remote });
        tokio::spawn(read_track(track, codec, frames_tx, Arc::clone(&self.counters), self.id));
    }
}

/// Reads the RTCP the remote peer sends about one of our tracks until the track stops,
/// turning PLI/FIR on video into [`LinkEvent::KeyframeRequested`].
async fn read_sender_rtcp(sender: Arc<RTCRtpSender>, kind: MediaKind, shared: Arc<Shared>) {
    while let Ok((packets, _attributes)) = sender.read_rtcp().await {
        if kind != MediaKind::Video {
            continue;
        }
        for packet in packets {
            let any = packet.as_any();
            if any.is::<PictureLossIndication>() || any.is::<FullIntraRequest>() {
                add(&shared.counters.keyframe_requests_received, 1);
                let _ = shared.events.send(LinkEvent::KeyframeRequested);
            }
        }
    }
}

/// Locks a std mutex, recovering the data if another thread panicked while holding it:
/// the values guarded here (a track handle, a list of SSRCs) stay valid either way.
fn lock<T>(mutex: &StdMutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
