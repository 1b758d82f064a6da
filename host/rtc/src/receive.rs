//! Reading remote tracks: one task per track pulls RTP packets from the library and hands
//! the session whole encoded frames, in order, on the track's queue.
//!
//! Audio needs no reassembly (one Opus packet per RTP packet). Video frames span several
//! packets; `FrameAssembler` collects them by sequence number and emits a frame as soon
//! as its last packet (RTP marker) arrives and no packet is missing. Unlike the library's
//! sample builder it does not wait for the next frame's first packet before releasing a
//! frame, which would add one frame interval of latency.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::mpsc;
use webrtc::api::media_engine::{MIME_TYPE_H264, MIME_TYPE_OPUS, MIME_TYPE_VP8};
use webrtc::rtp::codecs::h264::H264Packet;
use webrtc::rtp::codecs::vp8::Vp8Packet;
use webrtc::rtp::packet::Packet;
use webrtc::rtp::packetizer::Depacketizer;
use webrtc::track::track_remote::TrackRemote;

use super::stats::{Counters, add};
use super::{Codec, MediaKind, ReceivedFrame, SETUP_TRACE};

/// How many distinct frames (RTP timestamps) may wait for missing packets before the
/// oldest is given up. Three frames is ~100 ms at 30 fps: enough for a NACK round trip on
/// a local network, short enough that the decoder asks for a keyframe quickly.
const MAX_PENDING_FRAMES: usize = 3;

/// The codec of a remote track from its negotiated MIME type, if it is one we speak.
pub(crate) fn codec_of(mime_type: &str) -> Option<Codec> {
    if mime_type.eq_ignore_ascii_case(MIME_TYPE_OPUS) {
        Some(Codec::Opus)
    } else if mime_type.eq_ignore_ascii_case(MIME_TYPE_VP8) {
        Some(Codec::Vp8)
    } else if mime_type.eq_ignore_ascii_case(MIME_TYPE_H264) {
        Some(Codec::H264)
    } else {
        None
    }
}

/// Reads one remote track until it ends, forwarding frames to `frames`. Never blocks on a
/// slow consumer: a full queue drops the frame and counts it.
pub(crate) async fn read_track(
    track: Arc<TrackRemote>,
    codec: Codec,
    frames: mpsc::Sender<ReceivedFrame>,
    counters: Arc<Counters>,
    link: u64,
) {
    let mut first = true;
    let mut assembler = match codec {
        Codec::Opus => None,
        Codec::Vp8 => Some(FrameAssembler::new(Box::new(Vp8Packet::default()), codec)),
        Codec::H264 => Some(FrameAssembler::new(Box::new(H264Packet::default()), codec)),
    };
    // The track read fails only when the track or the whole connection is closed.
    while let Ok((packet, _attributes)) = track.read_rtp().await {
        let now = Instant::now();
        if first {
            first = false;
            tracing::debug!(target: SETUP_TRACE, stage = "first rtp read", link, ?codec);
        }
        let ready: Vec<ReceivedFrame> = match assembler.as_mut() {
            None => {
                add(&counters.audio_packets_received, 1);
                add(&counters.audio_bytes_received, packet.payload.len() as u64);
                if packet.payload.is_empty() {
                    continue;
                }
                vec![ReceivedFrame {
                    kind: MediaKind::Audio,
                    data: packet.payload,
                    rtp_timestamp: packet.header.timestamp,
                    sequence: packet.header.sequence_number,
                    keyframe: false,
                    received_at: now,
                }]
            }
            Some(assembler) => {
                add(&counters.video_packets_received, 1);
                let out = assembler.push(packet, now);
                add(&counters.video_frames_incomplete, assembler.take_incomplete());
                for frame in &out {
                    add(&counters.video_frames_received, 1);
                    add(&counters.video_bytes_received, frame.data.len() as u64);
                }
                out
            }
        };
        for frame in ready {
            match frames.try_send(frame) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    add(&counters.frames_dropped_queue_full, 1);
                }
                // The session dropped the track's receiver: nobody wants this track, but
                // reading must go on so the library's buffers do not fill up.
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
    }
    tracing::debug!(track = %track.id(), "remote track ended");
}

/// One packet waiting for the rest of its frame.
#[derive(Debug)]
struct Pending {
    timestamp: u32,
    marker: bool,
    payload: Bytes,
}

/// Reassembles video frames from RTP packets; see the module docs.
pub(crate) struct FrameAssembler {
    depacketizer: Box<dyn Depacketizer + Send>,
    codec: Codec,
    /// Waiting packets by extended (unwrapped) sequence number.
    pending: BTreeMap<u64, Pending>,
    /// Extended sequence number of the newest packet seen, to unwrap the next one.
    newest: Option<u64>,
    /// Extended sequence number of the last packet of the last emitted frame.
    last_tail: Option<u64>,
    /// Frames given up since the last [`Self::take_incomplete`].
    incomplete: u64,
}

impl std::fmt::Debug for FrameAssembler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameAssembler")
            .field("codec", &self.codec)
            .field("pending", &self.pending.len())
            .field("last_tail", &self.last_tail)
            .finish_non_exhaustive()
    }
}

impl FrameAssembler {
    pub(crate) fn new(depacketizer: Box<dyn Depacketizer + Send>, codec: Codec) -> Self {
        Self { depacketizer, codec, pending: BTreeMap::new(), newest: None, last_tail: None, incomplete: 0 }
    }

    /// How many frames were given up since the last call.
    pub(crate) fn take_incomplete(&mut self) -> u64 {
        std::mem::take(&mut self.incomplete)
    }

    /// The extended sequence number of `seq`, relative to the newest one seen: RTP
    /// sequence numbers are 16 bits and wrap every ~20 minutes of video.
    fn unwrap_seq(&mut self, seq: u16) -> u64 {
        let ext = match self.newest {
            // Start high enough that a packet reordered before the first stays positive.
            None => (1u64 << 32) + u64::from(seq),
            Some(newest) => {
                let delta = seq.wrapping_sub(newest as u16) as i16;
                newest.wrapping_add_signed(i64::from(delta))
            }
        };
        if self.newest.is_none_or(|n| ext > n) {
            self.newest = Some(ext);
        }
        ext
    }

    /// Adds one packet and returns the frames it completed, oldest first.
    pub(crate) fn push(&mut self, packet: Packet, now: Instant) -> Vec<ReceivedFrame> {
        let ext = self.unwrap_seq(packet.header.sequence_number);
        if self.last_tail.is_some_and(|tail| ext <= tail) {
            // A late duplicate or retransmission of a frame already emitted or given up.
            return Vec::new();
        }
        self.pending.insert(
            ext,
            Pending {
                timestamp: packet.header.timestamp,
                marker: packet.header.marker,
                payload: packet.payload,
            },
        );
        let mut out = Vec::new();
        loop {
            if let Some(frame) = self.try_emit_oldest(now) {
                out.push(frame);
                continue;
            }
            if self.pending_frames() > MAX_PENDING_FRAMES {
                self.drop_oldest();
                continue;
            }
            break;
        }
        out
    }

    /// How many distinct frames have packets waiting.
    fn pending_frames(&self) -> usize {
        let mut count = 0;
        let mut last = None;
        for p in self.pending.values() {
            if last != Some(p.timestamp) {
                count += 1;
                last = Some(p.timestamp);
            }
        }
        count
    }

    /// Gives up the oldest waiting frame (a packet of it was lost).
    fn drop_oldest(&mut self) {
        let Some((&first, oldest)) = self.pending.iter().next() else { return };
        let timestamp = oldest.timestamp;
        let mut tail = first;
        while self.pending.first_key_value().is_some_and(|(_, p)| p.timestamp == timestamp) {
            if let Some((key, _)) = self.pending.pop_first() {
                tail = key;
            }
        }
        self.last_tail = Some(tail);
        self.incomplete += 1;
    }

    /// Emits the oldest waiting frame if all its packets are here.
    fn try_emit_oldest(&mut self, now: Instant) -> Option<ReceivedFrame> {
        let (&head, first) = self.pending.iter().next()?;
        // The frame starts here if this packet follows the last frame directly, or if it
        // says it starts a frame (after a loss, the start can only be told from payload).
        let follows = self.last_tail.is_some_and(|tail| head == tail + 1);
        if !follows && !self.depacketizer.is_partition_head(&first.payload) {
            return None;
        }
        let timestamp = first.timestamp;
        let mut tail = None;
        for (expected, (&seq, p)) in (head..).zip(self.pending.range(head..)) {
            if seq != expected || p.timestamp != timestamp {
                return None;
            }
            if self.depacketizer.is_partition_tail(p.marker, &p.payload) {
                tail = Some(seq);
                break;
            }
        }
        let tail = tail?;
        let mut data = Vec::new();
        let mut ok = true;
        for seq in head..=tail {
            if let Some(p) = self.pending.remove(&seq) {
                match self.depacketizer.depacketize(&p.payload) {
                    Ok(bytes) => data.extend_from_slice(&bytes),
                    Err(e) => {
                        tracing::debug!(error = %e, "undecodable video payload");
                        ok = false;
                    }
                }
            }
        }
        self.last_tail = Some(tail);
        if !ok || data.is_empty() {
            self.incomplete += 1;
            return None;
        }
        let keyframe = is_keyframe(self.codec, &data);
        Some(ReceivedFrame {
            kind: MediaKind::Video,
            data: Bytes::from(data),
            rtp_timestamp: timestamp,
            sequence: head as u16,
            keyframe,
            received_at: now,
        })
    }
}

/// Whether an encoded frame is a keyframe: VP8's frame tag has a zero P bit (RFC 6386
/// 9.1); an H.264 access unit holds an IDR slice or a sequence parameter set.
pub(crate) fn is_keyframe(codec: Codec, frame: &[u8]) -> bool {
    match codec {
        Codec::Opus => false,
        Codec::Vp8 => frame.first().is_some_and(|b| b & 0x01 == 0),
        Codec::H264 => frame
            .windows(4)
            .filter(|w| w[0] == 0 && w[1] == 0 && w[2] == 1)
            .any(|w| matches!(w[3] & 0x1f, 5 | 7)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use webrtc::rtp::header::Header;

    /// A VP8 RTP payload: a one-byte descriptor (S bit on the first packet) and data (the
    /// depacketizer refuses payloads under 4 bytes, as real ones never are).
    fn vp8_packet(seq: u16, ts: u32, start: bool, marker: bool, body: &[u8]) -> Packet {
        let mut payload = vec![if start { 0x10 } else { 0x00 }];
        payload.extend_from_slice(body);
        Packet {
            header: Header { sequence_number: seq, timestamp: ts, marker, ..Default::default() },
            payload: Bytes::from(payload),
        }
    }

    fn assembler() -> FrameAssembler {
        FrameAssembler::new(Box::new(Vp8Packet::default()), Codec::Vp8)
    }

    #[test]
    fn frame_released_on_marker_without_waiting_for_next_frame() {
        let mut a = assembler();
        let now = Instant::now();
        assert!(a.push(vp8_packet(10, 900, true, false, &[0, 1, 2]), now).is_empty());
        let out = a.push(vp8_packet(11, 900, false, true, &[3, 4, 5]), now);
        assert_eq!(out.len(), 1);
        assert_eq!(&out[0].data[..], &[0, 1, 2, 3, 4, 5]);
        assert!(out[0].keyframe);
        assert_eq!(out[0].rtp_timestamp, 900);
    }

    #[test]
    fn reordered_packets_are_put_back_in_order() {
        let mut a = assembler();
        let now = Instant::now();
        assert!(a.push(vp8_packet(65535, 1, false, true, &[3, 3, 3]), now).is_empty());
        assert!(a.push(vp8_packet(65533, 1, true, false, &[1, 1, 1]), now).is_empty());
        let out = a.push(vp8_packet(65534, 1, false, false, &[2, 2, 2]), now);
        assert_eq!(out.len(), 1);
        assert_eq!(&out[0].data[..], &[1, 1, 1, 2, 2, 2, 3, 3, 3]);
        // The next frame crosses the sequence number wrap.
        let out = a.push(vp8_packet(0, 2, true, true, &[5, 5, 5]), now);
        assert_eq!(out.len(), 1);
        assert!(!out[0].keyframe, "P bit set in 0x05 means interframe");
    }

    #[test]
    fn frame_with_lost_packet_is_given_up_and_later_frames_flow() {
        let mut a = assembler();
        let now = Instant::now();
        a.push(vp8_packet(1, 10, true, false, &[0, 0, 0]), now);
        // seq 2 (end of frame 10) is lost.
        let mut got = Vec::new();
        for (i, ts) in [20u32, 30, 40].into_iter().enumerate() {
            let seq = 3 + i as u16;
            got.extend(a.push(vp8_packet(seq, ts, true, true, &[0, 0, 0]), now));
        }
        let timestamps: Vec<u32> = got.iter().map(|f| f.rtp_timestamp).collect();
        assert_eq!(timestamps, vec![20, 30, 40]);
        assert_eq!(a.take_incomplete(), 1);
        // The lost packet arriving late is ignored.
        assert!(a.push(vp8_packet(2, 10, false, true, &[9, 9, 9]), now).is_empty());
    }

    #[test]
    fn h264_keyframe_detection() {
        assert!(is_keyframe(Codec::H264, &[0, 0, 0, 1, 0x67, 1, 0, 0, 1, 0x65]));
        assert!(!is_keyframe(Codec::H264, &[0, 0, 0, 1, 0x41, 9]));
    }
}
