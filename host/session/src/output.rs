//! What a headless participant writes: event lines (`--events`) and the stats file
//! (`--stats`), in the shapes of DESIGN.md's public contracts.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use switchboard_core::Event;

/// Writes one JSON object per event, one per line, flushed per line so a reader (or a test)
/// sees each event as it happens.
#[derive(Debug)]
pub struct EventLines<W: Write> {
    out: W,
}

impl<W: Write> EventLines<W> {
    /// Writes to `out`.
    pub fn new(out: W) -> Self {
        Self { out }
    }

    /// Writes one event line.
    pub fn write(&mut self, event: &Event) -> std::io::Result<()> {
        serde_json::to_writer(&mut self.out, event)?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }
}

/// Counters of one remote participant's media, as received here.
#[derive(Debug, Default, Serialize)]
pub struct RemoteStats {
    /// Audio RTP packets received.
    pub audio_packets: u64,
    /// Audio frames decoded.
    pub audio_frames_decoded: u64,
    /// Video RTP packets received.
    pub video_packets: u64,
    /// Video frames decoded.
    pub video_frames_decoded: u64,
}

/// Counters of what this participant sent.
#[derive(Debug, Default, Serialize)]
pub struct LocalStats {
    /// Audio packets sent (summed over peers).
    pub audio_packets_sent: u64,
    /// Video frames sent (summed over peers).
    pub video_frames_sent: u64,
}

/// The `--stats` file: `{"remote": {UID: {...}}, "local": {...}}`.
#[derive(Debug, Default, Serialize)]
pub struct StatsReport {
    /// Per remote participant, by uid.
    pub remote: BTreeMap<String, RemoteStats>,
    /// This participant.
    pub local: LocalStats,
}

/// A counter shared between media tasks without a lock.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_core::RtcUser;

    #[test]
    fn event_lines_are_one_json_object_per_line() {
        let mut lines = EventLines::new(Vec::new());
        lines.write(&Event::UserJoined { user: RtcUser::new("bob", "Bob") }).expect("write");
        lines.write(&Event::CallEnded).expect("write");
        let text = String::from_utf8(lines.out).expect("utf8");
        let parsed: Vec<serde_json::Value> =
            text.lines().map(|l| serde_json::from_str(l).expect("json")).collect();
        assert_eq!(parsed[0]["event"], "user_joined");
        assert_eq!(parsed[0]["user"]["uid"], "bob");
        assert_eq!(parsed[1], serde_json::json!({"event": "call_ended"}));
    }

    #[test]
    fn stats_have_the_contract_shape() {
        let mut report = StatsReport::default();
        report.remote.insert("bob".into(), RemoteStats { audio_packets: 5, ..RemoteStats::default() });
        let json = serde_json::to_value(&report).expect("json");
        assert_eq!(json["remote"]["bob"]["audio_packets"], 5);
        assert_eq!(json["remote"]["bob"]["video_frames_decoded"], 0);
        assert_eq!(json["local"]["audio_packets_sent"], 0);
    }
}
