//! The errors of the WebRTC seam: what failed, at which step, and why.

use std::time::Duration;

use super::{LinkState, MediaKind};

/// A boxed error from the WebRTC library. It is kept only as the `source` of an
/// [`RtcError`], so the library's own error type never shows in the seam's signatures.
pub type LibraryError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong in a [`super::PeerLink`].
#[derive(Debug, thiserror::Error)]
pub enum RtcError {
    /// Building the media engine, interceptors or the peer connection itself failed.
    #[error("setting up the peer connection ({step})")]
    Setup {
        /// What was being set up.
        step: &'static str,
        /// The library's error.
        #[source]
        source: LibraryError,
    },
    /// A signaling payload could not be read (not JSON of the expected shape, or not SDP).
    #[error("malformed {what} from the remote peer: {reason}")]
    BadSignal {
        /// Which payload: "offer", "answer" or "candidate".
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// One step of the offer/answer exchange was refused by the library (for example an
    /// answer that does not match our offer, or SDP that does not parse).
    #[error("{step} failed")]
    Negotiation {
        /// The step: "create offer", "set remote description", ...
        step: &'static str,
        /// The library's error.
        #[source]
        source: LibraryError,
    },
    /// A remote ICE candidate was rejected by the ICE agent.
    #[error("adding remote ICE candidate {candidate:?}")]
    Candidate {
        /// The candidate line as received.
        candidate: String,
        /// The library's error.
        #[source]
        source: LibraryError,
    },
    /// A track of this kind was already added to the link.
    #[error("a local {kind} track was already added to this peer link")]
    TrackExists {
        /// The kind of the track.
        kind: MediaKind,
    },
    /// Sending needs a local track of this kind, and none was added.
    #[error("no local {kind} track was added to this peer link")]
    NoTrack {
        /// The kind of the missing track.
        kind: MediaKind,
    },
    /// Writing an encoded frame to a track failed.
    #[error("sending a {kind} frame")]
    Send {
        /// The kind of the frame.
        kind: MediaKind,
        /// The library's error.
        #[source]
        source: LibraryError,
    },
    /// A keyframe was requested, but the remote peer sends us no video.
    #[error("no remote video track to request a keyframe for")]
    NoRemoteVideo,
    /// Sending an RTCP feedback packet (PLI) failed.
    #[error("sending RTCP {what}")]
    Rtcp {
        /// Which packet.
        what: &'static str,
        /// The library's error.
        #[source]
        source: LibraryError,
    },
    /// The connection did not reach `connected` in time.
    #[error("peer connection not connected after {after:?} (state {state})")]
    ConnectTimeout {
        /// How long we waited.
        after: Duration,
        /// The state it was in when we gave up.
        state: LinkState,
    },
    /// The connection failed (ICE or DTLS) or was closed while we waited for it.
    #[error("peer connection ended in state {state} before it connected")]
    NotConnected {
        /// `failed` or `closed`.
        state: LinkState,
    },
    /// Closing the peer connection reported an error (everything is released anyway).
    #[error("closing the peer connection")]
    Close {
        /// The library's error.
        #[source]
        source: LibraryError,
    },
}

/// Boxes a library error as the `source` of an [`RtcError`].
pub(crate) fn lib(e: impl std::error::Error + Send + Sync + 'static) -> LibraryError {
    Box::new(e)
}
