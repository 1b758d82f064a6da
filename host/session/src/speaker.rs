//! Active speaker detection from audio levels: who is talking loudest, with enough
//! hysteresis that the spotlight does not flicker between people, turned into
//! `active_speaker_changed` events (beyond the seed; the spotlight layout needs it).
//!
//! A pure state machine, time passed in: the session's audio (`audio.rs`) feeds it one
//! level per 20 ms audio frame of each participant (decoded remote audio, and the local
//! microphone while it is not muted) and the session task publishes what
//! [`SpeakerDetector::observe`] returns.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Below this smoothed level (dBFS) a participant counts as silent: well above the noise
/// floor of a quiet microphone, well below speech at a normal distance.
const SPEAKING_DBFS: f32 = -45.0;
/// How long a new participant must stay the loudest before the spotlight moves to them.
const HOLD: Duration = Duration::from_millis(400);
/// The smoothing time constant of the level: long enough to ride over the gaps between
/// syllables, short enough to follow a change of speaker within a second.
const SMOOTHING: Duration = Duration::from_millis(300);
/// How much louder than a still-speaking active speaker a challenger must be: two people
/// talking at about the same level do not toss the spotlight back and forth.
const MARGIN_DB: f32 = 6.0;
/// The level given to silence (and to a muted microphone).
const SILENCE_DBFS: f32 = -100.0;

/// The RMS level of one frame of 16-bit samples, in dBFS (0 is a full-scale square wave).
pub fn level_dbfs(samples: &[i16]) -> f32 {
    if samples.is_empty() {
        return SILENCE_DBFS;
    }
    let sum: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    let rms = (sum / samples.len() as f64).sqrt() / f64::from(i16::MAX);
    if rms <= 0.0 {
        return SILENCE_DBFS;
    }
    // Precision: a level in dB needs no more than f32.
    (20.0 * rms.log10()).max(f64::from(SILENCE_DBFS)) as f32
}

/// One participant's smoothed level.
#[derive(Debug, Clone, Copy)]
struct Level {
    dbfs: f32,
    at: Instant,
}

/// Decides who the active speaker is. See the module docs.
#[derive(Debug, Default)]
pub struct SpeakerDetector {
    levels: HashMap<String, Level>,
    current: Option<String>,
    /// The loudest speaking participant that is not the current one, and since when.
    challenger: Option<(String, Instant)>,
}

impl SpeakerDetector {
    /// The active speaker, if anyone has spoken yet.
    pub fn current(&self) -> Option<&str> {
        self.current.as_deref()
    }

    /// Takes one frame's level of `uid` at `now`. Returns the new active speaker when it
    /// changes.
    pub fn observe(&mut self, uid: &str, dbfs: f32, now: Instant) -> Option<Option<String>> {
        let level = self.levels.entry(uid.to_owned()).or_insert(Level { dbfs: SILENCE_DBFS, at: now });
        // Exponential smoothing in the dB domain, weighted by the time since the last frame.
        let dt = now.saturating_duration_since(level.at).as_secs_f32();
        let alpha = 1.0 - (-dt / SMOOTHING.as_secs_f32()).exp();
        level.dbfs += (dbfs.max(SILENCE_DBFS) - level.dbfs) * alpha;
        level.at = now;
        self.evaluate(now)
    }

    /// Forgets a participant who left. Returns the new active speaker when it was them.
    pub fn remove(&mut self, uid: &str) -> Option<Option<String>> {
        self.levels.remove(uid);
        if self.challenger.as_ref().is_some_and(|(c, _)| c == uid) {
            self.challenger = None;
        }
        if self.current.as_deref() != Some(uid) {
            return None;
        }
        // The spotlight cannot stay on someone who is gone: the loudest speaker now, or
        // nobody.
        self.current = self.loudest().map(str::to_owned);
        self.challenger = None;
        Some(self.current.clone())
    }

    /// The loudest participant above the speaking threshold.
    fn loudest(&self) -> Option<&str> {
        self.levels
            .iter()
            .filter(|(_, l)| l.dbfs >= SPEAKING_DBFS)
            .max_by(|a, b| a.1.dbfs.total_cmp(&b.1.dbfs).then_with(|| b.0.cmp(a.0)))
            .map(|(uid, _)| uid.as_str())
    }

    fn evaluate(&mut self, now: Instant) -> Option<Option<String>> {
        let Some(loudest) = self.loudest().map(str::to_owned) else {
            // Nobody speaks: the spotlight stays where it was (as in every call app).
            self.challenger = None;
            return None;
        };
        if self.current.as_deref() == Some(loudest.as_str()) {
            self.challenger = None;
            return None;
        }
        let Some(current) = self.current.as_deref() else {
            // The first voice of the call takes the spotlight at once.
            self.current = Some(loudest);
            return Some(self.current.clone());
        };
        let current_db = self.levels.get(current).map_or(SILENCE_DBFS, |l| l.dbfs);
        let loudest_db = self.levels.get(&loudest).map_or(SILENCE_DBFS, |l| l.dbfs);
        if current_db >= SPEAKING_DBFS && loudest_db < current_db + MARGIN_DB {
            self.challenger = None;
            return None;
        }
        match &self.challenger {
            Some((uid, since)) if *uid == loudest => {
                if now.saturating_duration_since(*since) >= HOLD {
                    self.current = Some(loudest);
                    self.challenger = None;
                    return Some(self.current.clone());
                }
                None
            }
            _ => {
                self.challenger = Some((loudest, now));
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME: Duration = Duration::from_millis(20);

    /// Feeds `frames` 20 ms frames at the given levels, returning every change.
    fn feed(
        d: &mut SpeakerDetector,
        t: &mut Instant,
        frames: usize,
        levels: &[(&str, f32)],
    ) -> Vec<Option<String>> {
        let mut changes = Vec::new();
        for _ in 0..frames {
            *t += FRAME;
            for (uid, db) in levels {
                if let Some(change) = d.observe(uid, *db, *t) {
                    changes.push(change);
                }
            }
        }
        changes
    }

    #[test]
    fn levels_of_silence_a_tone_and_full_scale() {
        assert_eq!(level_dbfs(&[0; 960]), SILENCE_DBFS);
        assert_eq!(level_dbfs(&[]), SILENCE_DBFS);
        let full: Vec<i16> = (0..960).map(|i| if i % 2 == 0 { i16::MAX } else { -i16::MAX }).collect();
        assert!(level_dbfs(&full).abs() < 0.01);
        // A sine at half scale: RMS 0.5/sqrt(2), about -9 dBFS.
        let sine: Vec<i16> = (0..960).map(|i| (16384.0 * (f64::from(i) * 0.1).sin()) as i16).collect();
        assert!((level_dbfs(&sine) + 9.0).abs() < 0.2, "{}", level_dbfs(&sine));
    }

    #[test]
    fn the_first_voice_takes_the_spotlight_and_silence_keeps_it() {
        let (mut d, mut t) = (SpeakerDetector::default(), Instant::now());
        assert!(feed(&mut d, &mut t, 50, &[("alice", SILENCE_DBFS), ("bob", SILENCE_DBFS)]).is_empty());
        let changes = feed(&mut d, &mut t, 50, &[("alice", -20.0), ("bob", SILENCE_DBFS)]);
        assert_eq!(changes, vec![Some("alice".to_owned())]);
        assert!(feed(&mut d, &mut t, 200, &[("alice", SILENCE_DBFS), ("bob", SILENCE_DBFS)]).is_empty());
        assert_eq!(d.current(), Some("alice"));
    }

    #[test]
    fn a_new_speaker_takes_over_only_after_holding_the_floor() {
        let (mut d, mut t) = (SpeakerDetector::default(), Instant::now());
        feed(&mut d, &mut t, 50, &[("alice", -20.0), ("bob", SILENCE_DBFS)]);
        // A cough from bob (100 ms) does not move the spotlight.
        assert!(feed(&mut d, &mut t, 5, &[("alice", SILENCE_DBFS), ("bob", -10.0)]).is_empty());
        assert!(feed(&mut d, &mut t, 50, &[("alice", -20.0), ("bob", SILENCE_DBFS)]).is_empty());
        // Bob talking on his own does, within about a second.
        let changes = feed(&mut d, &mut t, 50, &[("alice", SILENCE_DBFS), ("bob", -20.0)]);
        assert_eq!(changes, vec![Some("bob".to_owned())]);
    }

    #[test]
    fn the_louder_of_two_talkers_wins() {
        let (mut d, mut t) = (SpeakerDetector::default(), Instant::now());
        feed(&mut d, &mut t, 50, &[("alice", -35.0)]);
        let changes = feed(&mut d, &mut t, 100, &[("alice", -35.0), ("bob", -15.0)]);
        assert_eq!(changes, vec![Some("bob".to_owned())]);
    }

    #[test]
    fn two_people_at_the_same_level_do_not_toss_the_spotlight() {
        let (mut d, mut t) = (SpeakerDetector::default(), Instant::now());
        feed(&mut d, &mut t, 50, &[("alice", -20.0)]);
        let changes = feed(&mut d, &mut t, 200, &[("alice", -20.0), ("bob", -18.0)]);
        assert!(changes.is_empty(), "{changes:?}");
    }

    #[test]
    fn the_active_speaker_leaving_moves_the_spotlight() {
        let (mut d, mut t) = (SpeakerDetector::default(), Instant::now());
        feed(&mut d, &mut t, 50, &[("alice", -20.0), ("bob", SILENCE_DBFS)]);
        assert_eq!(d.remove("bob"), None, "bob was not the speaker");
        assert_eq!(d.remove("alice"), Some(None));
        assert_eq!(d.current(), None);
    }
}
