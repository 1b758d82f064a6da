//! The counters of one [`super::PeerLink`], kept with relaxed atomics because they are
//! only ever read as a snapshot for `--stats` and benchmarks.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// A snapshot of one link's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkStats {
    /// Opus packets written to the audio track.
    pub audio_packets_sent: u64,
    /// Bytes of those packets (payload only).
    pub audio_bytes_sent: u64,
    /// Video frames written to the video track.
    pub video_frames_sent: u64,
    /// Keyframes among them.
    pub video_keyframes_sent: u64,
    /// Bytes of those frames (encoded, before packetization).
    pub video_bytes_sent: u64,
    /// Audio RTP packets received.
    pub audio_packets_received: u64,
    /// Bytes of their payloads.
    pub audio_bytes_received: u64,
    /// Video RTP packets received.
    pub video_packets_received: u64,
    /// Whole video frames reassembled and handed to the session.
    pub video_frames_received: u64,
    /// Bytes of those frames.
    pub video_bytes_received: u64,
    /// Video frames abandoned because a packet of theirs never arrived.
    pub video_frames_incomplete: u64,
    /// Frames dropped because the session did not read a track's queue fast enough.
    pub frames_dropped_queue_full: u64,
    /// PLI/FIR received from the remote peer for our video.
    pub keyframe_requests_received: u64,
    /// PLI sent to the remote peer.
    pub keyframe_requests_sent: u64,
}

/// The live counters behind [`LinkStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub audio_packets_sent: AtomicU64,
    pub audio_bytes_sent: AtomicU64,
    pub video_frames_sent: AtomicU64,
    pub video_keyframes_sent: AtomicU64,
    pub video_bytes_sent: AtomicU64,
    pub audio_packets_received: AtomicU64,
    pub audio_bytes_received: AtomicU64,
    pub video_packets_received: AtomicU64,
    pub video_frames_received: AtomicU64,
    pub video_bytes_received: AtomicU64,
    pub video_frames_incomplete: AtomicU64,
    pub frames_dropped_queue_full: AtomicU64,
    pub keyframe_requests_received: AtomicU64,
    pub keyframe_requests_sent: AtomicU64,
}

/// Adds `n` to a counter.
pub(crate) fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl Counters {
    pub(crate) fn snapshot(&self) -> LinkStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        LinkStats {
            audio_packets_sent: get(&self.audio_packets_sent),
            audio_bytes_sent: get(&self.audio_bytes_sent),
            video_frames_sent: get(&self.video_frames_sent),
            video_keyframes_sent: get(&self.video_keyframes_sent),
            video_bytes_sent: get(&self.video_bytes_sent),
            audio_packets_received: get(&self.audio_packets_received),
            audio_bytes_received: get(&self.audio_bytes_received),
            video_packets_received: get(&self.video_packets_received),
            video_frames_received: get(&self.video_frames_received),
            video_bytes_received: get(&self.video_bytes_received),
            video_frames_incomplete: get(&self.video_frames_incomplete),
            frames_dropped_queue_full: get(&self.frames_dropped_queue_full),
            keyframe_requests_received: get(&self.keyframe_requests_received),
            keyframe_requests_sent: get(&self.keyframe_requests_sent),
        }
    }
}
