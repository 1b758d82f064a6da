//! The session's media counters: what each remote participant sent us and what we sent,
//! counted by the media tasks and threads without a lock and read into the `--stats`
//! [`StatsReport`] by [`Session::stats`](crate::Session::stats).
//!
//! A leaf module: audio, video and the session task all count into one [`SharedStats`]
//! (an `Arc` handed out at the start of the session), and none of them is needed here.
//! A new counter goes here and into [`StatsReport`] (`output.rs`, the file's shape).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::output::{Counter, LocalStats, RemoteStats, StatsReport};

/// Counters of one remote participant, shared with its decoding tasks.
#[derive(Debug, Default)]
pub(crate) struct RemoteCounters {
    pub(crate) audio_packets: Counter,
    pub(crate) audio_frames_decoded: Counter,
    pub(crate) video_packets: Counter,
    pub(crate) video_frames_decoded: Counter,
}

/// Everything the stats report reads, shared with media tasks.
#[derive(Debug, Default)]
pub(crate) struct SharedStats {
    remote: Mutex<BTreeMap<String, Arc<RemoteCounters>>>,
    pub(crate) audio_packets_sent: Counter,
    pub(crate) video_frames_sent: Counter,
    /// When the first remote audio frame was decoded (call setup measurements).
    first_remote_audio: Mutex<Option<Instant>>,
}

impl SharedStats {
    /// The counters of the remote participant `uid`, made on first use.
    pub(crate) fn remote(&self, uid: &str) -> Arc<RemoteCounters> {
        let mut remote = self.remote.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(remote.entry(uid.to_owned()).or_default())
    }

    /// Notes that a remote audio frame was just decoded; only the first one counts.
    pub(crate) fn remote_audio_decoded(&self) {
        self.first_remote_audio
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert_with(Instant::now);
    }

    /// How long after `start` the first remote audio was decoded.
    pub(crate) fn first_remote_audio_after(&self, start: Instant) -> Option<Duration> {
        let first = *self.first_remote_audio.lock().unwrap_or_else(PoisonError::into_inner);
        first.map(|t| t.saturating_duration_since(start))
    }

    /// The counters so far.
    pub(crate) fn report(&self) -> StatsReport {
        let remote = self.remote.lock().unwrap_or_else(PoisonError::into_inner);
        StatsReport {
            remote: remote
                .iter()
                .map(|(uid, c)| {
                    (
                        uid.clone(),
                        RemoteStats {
                            audio_packets: c.audio_packets.get(),
                            audio_frames_decoded: c.audio_frames_decoded.get(),
                            video_packets: c.video_packets.get(),
                            video_frames_decoded: c.video_frames_decoded.get(),
                        },
                    )
                })
                .collect(),
            local: LocalStats {
                audio_packets_sent: self.audio_packets_sent.get(),
                video_frames_sent: self.video_frames_sent.get(),
            },
        }
    }
}
