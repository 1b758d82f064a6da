//! The seam around the WebRTC library: one [`PeerLink`] per remote participant.
//!
//! This is the only crate that depends on `webrtc`, and its public API names no `webrtc`
//! type. The session talks to a [`PeerLink`]
//! with plain Rust values: encoded frames in ([`AudioFrame`], [`VideoFrame`]), encoded frames
//! out ([`ReceivedFrame`] on a [`RemoteTrack`]), events ([`LinkEvent`]) and signaling payloads
//! as opaque [`serde_json::Value`]s that the signaling layer relays without reading them:
//! a session description is `{"type":"offer"|"answer","sdp":"..."}` and a candidate is
//! the browser's `RTCIceCandidateInit` shape, `{"candidate":"candidate:...","sdpMid":..}`.
//!
//! - [`link`]: [`PeerLink`] itself (offer/answer, trickle ICE, tracks, sending, close).
//! - [`certificate`]: the DTLS certificate a link presents, [`LinkCertificate`].
//! - [`engine`]: builds the library's API object (codecs, interceptors, ICE policy).
//! - [`receive`]: reads remote tracks and reassembles video frames from RTP packets.
//! - [`stats`]: the counters of one link.
//! - [`error`]: the seam's error type, [`RtcError`].
//!
//! Each step of a link's setup (description set, candidate gathered, ICE and DTLS state,
//! first audio written and read) is a `debug` tracing event with target [`SETUP_TRACE`]
//! and fields `stage` and `link` (a process-wide link number), so a subscriber can time a
//! call setup step by step (`benches/call_setup.rs` does; so does
//! `RUST_LOG=switchboard::setup=debug`).
//!
//! See docs/architecture-rtc.md for the threading model and why this library version.

pub mod certificate;
pub mod engine;
pub mod error;
pub mod link;
pub mod receive;
pub mod stats;

#[cfg(feature = "bare-pair")]
pub mod bare_pair;

use std::fmt;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use switchboard_config::{IceCandidates, NetworkConfig};
use tokio::sync::mpsc;

pub use certificate::LinkCertificate;
pub use error::RtcError;

/// The tracing target of call setup steps (see the crate docs): the same target as
/// `switchboard_signaling::SETUP_TRACE`, so one subscriber sees every step of a setup, the
/// links' here and the signaling's and the session's there.
pub const SETUP_TRACE: &str = "switchboard::setup";

pub use link::PeerLink;
pub use stats::LinkStats;

/// The two kinds of media a link carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    /// Opus, 48 kHz, stereo in SDP as WebRTC requires (the payload may be mono).
    Audio,
    /// VP8 or H.264.
    Video,
}

impl fmt::Display for MediaKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MediaKind::Audio => "audio",
            MediaKind::Video => "video",
        })
    }
}

/// The video codecs a link can negotiate. Both are registered in every link, so the
/// remote side (another switchboard host or a browser) can pick either.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VideoCodec {
    /// VP8 (RFC 7741), payload type 96.
    Vp8,
    /// H.264 constrained baseline, packetization mode 1 (RFC 6184), payload type 102.
    H264,
}

impl fmt::Display for VideoCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VideoCodec::Vp8 => "vp8",
            VideoCodec::H264 => "h264",
        })
    }
}

/// The codec of a received track.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Codec {
    /// Opus audio.
    Opus,
    /// VP8 video.
    Vp8,
    /// H.264 video.
    H264,
}

/// Where ICE may look for candidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IceScope {
    /// Only host candidates on 127.0.0.1 over UDP, no mDNS: calls between processes of
    /// one machine (tests, local runs) never touch the network.
    #[default]
    Loopback,
    /// Host candidates on every interface, plus whatever the configured ICE servers give.
    AllInterfaces,
}

/// One STUN or TURN server.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct IceServer {
    /// `stun:host:port` or `turn:host:port?transport=udp` URLs.
    pub urls: Vec<String>,
    /// TURN user name (empty for STUN).
    #[serde(default)]
    pub username: String,
    /// TURN credential (empty for STUN).
    #[serde(default)]
    pub credential: String,
}

/// How a [`PeerLink`] is built. DTLS-SRTP is not an option: media is always encrypted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkOptions {
    /// Where ICE gathers candidates.
    pub ice_scope: IceScope,
    /// STUN/TURN servers; none by default (loopback needs none).
    pub ice_servers: Vec<IceServer>,
    /// How many received frames a [`RemoteTrack`] buffers before it drops new ones (and
    /// counts them in [`LinkStats::frames_dropped_queue_full`]). A slow consumer must not
    /// make the link buffer without bound.
    pub receive_queue: usize,
    /// How long a connected link may hear nothing from its peer before it reports
    /// [`LinkState::Disconnected`] (it may recover).
    pub ice_disconnected_timeout: Duration,
    /// How long before such a link reports [`LinkState::Failed`].
    pub ice_failed_timeout: Duration,
    /// The DTLS certificate the link presents; `None` makes a new one for the link. A
    /// session makes one and gives it to all its links (see [`LinkCertificate`]).
    #[serde(skip)]
    pub certificate: Option<LinkCertificate>,
}

impl Default for LinkOptions {
    /// The `[network]` table's defaults.
    fn default() -> Self {
        Self::from(&NetworkConfig::default())
    }
}

impl From<&NetworkConfig> for LinkOptions {
    /// The links a participant with this `[network]` table makes.
    fn from(network: &NetworkConfig) -> Self {
        Self {
            ice_scope: match network.ice {
                IceCandidates::Loopback => IceScope::Loopback,
                IceCandidates::All => IceScope::AllInterfaces,
            },
            ice_servers: network
                .ice_servers
                .iter()
                .map(|s| IceServer {
                    urls: s.urls.clone(),
                    username: s.username.clone(),
                    credential: s.credential.clone(),
                })
                .collect(),
            receive_queue: 512,
            ice_disconnected_timeout: Duration::from_millis(network.ice_disconnected_timeout_ms),
            ice_failed_timeout: Duration::from_millis(network.ice_failed_timeout_ms),
            certificate: None,
        }
    }
}

/// One encoded audio packet to send: an Opus packet and the time it covers (20 ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioFrame {
    /// The Opus packet.
    pub data: Bytes,
    /// How much audio it carries; advances the RTP clock (48 kHz).
    pub duration: Duration,
}

/// One encoded video frame to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoFrame {
    /// The encoded frame (a VP8 frame, or H.264 Annex B access unit).
    pub data: Bytes,
    /// Capture time relative to the start of the stream; sets the RTP clock (90 kHz).
    pub timestamp: Duration,
    /// Whether the encoder made a keyframe (counted in stats; the packetizer needs no hint).
    pub keyframe: bool,
}

/// One encoded frame received from the remote peer: for audio one RTP payload (an Opus
/// packet), for video a whole depacketized frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedFrame {
    /// Audio or video.
    pub kind: MediaKind,
    /// The encoded bytes (Opus packet, VP8 frame, or H.264 Annex B access unit).
    pub data: Bytes,
    /// The RTP timestamp (48 kHz for audio, 90 kHz for video).
    pub rtp_timestamp: u32,
    /// RTP sequence number of the first packet of the frame.
    pub sequence: u16,
    /// For video, whether this is a keyframe (VP8 key frame, or H.264 IDR/SPS); false for audio.
    pub keyframe: bool,
    /// When the last packet of the frame was read from the transport.
    pub received_at: Instant,
}

/// A track the remote peer sends us, with the stream of its frames. The stream ends
/// when the track or the link ends.
#[derive(Debug)]
pub struct RemoteTrack {
    /// Audio or video.
    pub kind: MediaKind,
    /// The negotiated codec.
    pub codec: Codec,
    /// The remote track id (from its msid).
    pub id: String,
    /// The frames, in order.
    pub frames: mpsc::Receiver<ReceivedFrame>,
}

/// The state of a link, as the session sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkState {
    /// Created, nothing exchanged yet.
    New,
    /// ICE/DTLS in progress.
    Connecting,
    /// Media can flow.
    Connected,
    /// Connectivity lost; may recover.
    Disconnected,
    /// ICE or DTLS failed; the session raises PEER_CONNECTION_FAILED.
    Failed,
    /// Closed, locally or because the transport ended.
    Closed,
}

impl fmt::Display for LinkState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LinkState::New => "new",
            LinkState::Connecting => "connecting",
            LinkState::Connected => "connected",
            LinkState::Disconnected => "disconnected",
            LinkState::Failed => "failed",
            LinkState::Closed => "closed",
        })
    }
}

/// What a link tells the session.
#[derive(Debug)]
pub enum LinkEvent {
    /// A local ICE candidate to relay to the remote peer (trickle ICE), already in its
    /// wire shape.
    LocalCandidate {
        /// `{"candidate":"candidate:...","sdpMid":"0","sdpMLineIndex":0,...}`.
        candidate: serde_json::Value,
    },
    /// The connection state changed.
    State {
        /// The new state.
        state: LinkState,
    },
    /// The remote peer started sending a track.
    RemoteTrack {
        /// The track and its frame stream.
        track: RemoteTrack,
    },
    /// The remote peer asked for a keyframe (PLI or FIR) on our video track: the video
    /// encoder should make the next frame a keyframe.
    KeyframeRequested,
    /// A frame offered with [`PeerLink::hold_audio`] was sent (when the link connected,
    /// or at once on a link already connected), so the caller can count it as sent.
    HeldAudioSent,
}
