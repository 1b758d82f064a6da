//! Mixing of every remote participant's decoded audio into one stream, at the sink's pace.
//!
//! Decoded frames arrive whenever the network delivers them; the sink asks for one mixed
//! frame every 20 ms of its own clock. Between the two, each participant has a small jitter
//! buffer: it starts playing once `prefill` frames are queued, plays one frame per mix, and
//! falls back to buffering (silence for that participant only) when it runs dry. A queue
//! longer than `max_depth` drops its oldest frames so latency cannot grow without bound when
//! a sender's clock runs faster than the sink's.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use super::AudioFormat;

/// Mixes (20 ms each) over which a standing queue is measured before it is trimmed.
const TRIM_WINDOW: usize = 25;

/// Jitter buffer sizes, in 20 ms frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JitterConfig {
    /// Frames to queue before a participant starts (or restarts after running dry).
    pub prefill: usize,
    /// Frames above which the oldest are dropped.
    pub max_depth: usize,
}

impl Default for JitterConfig {
    /// One frame of prefill: on loopback and LANs packets come every 20 ms give or take a
    /// few, and every frame held here is 20 ms of mouth-to-ear latency. Four frames of depth
    /// absorb a burst after a stall.
    fn default() -> Self {
        Self { prefill: 1, max_depth: 4 }
    }
}

#[derive(Debug, Default)]
struct Participant {
    queue: VecDeque<Vec<i16>>,
    playing: bool,
    underruns: u64,
    dropped: u64,
    mixed: u64,
    /// RMS of the last frame mixed, 0..1, for active-speaker display.
    level: f32,
    /// Smallest queue length seen at a mix in the current window, and the mixes in it.
    window_min: usize,
    window_mixes: usize,
}

#[derive(Debug, Default)]
struct State {
    config: JitterConfig,
    participants: BTreeMap<String, Participant>,
}

/// The call's mixer. Cheap to clone; clones share one state (the session pushes, the sink
/// pulls).
#[derive(Debug, Clone, Default)]
pub struct Mixer {
    state: Arc<Mutex<State>>,
}

/// Counters of one participant's jitter buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ParticipantStats {
    /// Frames that went into the mix.
    pub mixed: u64,
    /// Times the buffer ran dry while playing.
    pub underruns: u64,
    /// Frames dropped because the buffer was over `max_depth`.
    pub dropped: u64,
    /// Frames queued now.
    pub queued: usize,
}

impl Mixer {
    /// A mixer with the default jitter buffer.
    pub fn new() -> Self {
        Self::with_config(JitterConfig::default())
    }

    /// A mixer with explicit jitter buffer sizes (`prefill` is at least 1).
    pub fn with_config(config: JitterConfig) -> Self {
        let config = JitterConfig {
            prefill: config.prefill.max(1),
            max_depth: config.max_depth.max(config.prefill.max(1)),
        };
        Self { state: Arc::new(Mutex::new(State { config, participants: BTreeMap::new() })) }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock leaves only counters half-updated; keep mixing.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues one decoded frame from participant `uid`; the participant appears on its first
    /// frame. Frames of the wrong length are padded or cut to 20 ms.
    pub fn push(&self, uid: &str, mut frame: Vec<i16>) {
        frame.resize(AudioFormat::FRAME_SAMPLES, 0);
        let mut state = self.lock();
        let max_depth = state.config.max_depth;
        let p = state.participants.entry(uid.to_owned()).or_default();
        p.queue.push_back(frame);
        while p.queue.len() > max_depth {
            p.queue.pop_front();
            p.dropped += 1;
        }
    }

    /// Forgets participant `uid` (they left): their queued audio is discarded.
    pub fn remove(&self, uid: &str) -> bool {
        self.lock().participants.remove(uid).is_some()
    }

    /// The participants currently known to the mixer.
    pub fn participants(&self) -> Vec<String> {
        self.lock().participants.keys().cloned().collect()
    }

    /// Counters for participant `uid`.
    pub fn stats(&self, uid: &str) -> Option<ParticipantStats> {
        self.lock().participants.get(uid).map(|p| ParticipantStats {
            mixed: p.mixed,
            underruns: p.underruns,
            dropped: p.dropped,
            queued: p.queue.len(),
        })
    }

    /// The loudness (RMS, 0..1) of each participant's last mixed frame.
    pub fn levels(&self) -> Vec<(String, f32)> {
        self.lock().participants.iter().map(|(uid, p)| (uid.clone(), p.level)).collect()
    }

    /// Mixes the next 20 ms into `out` (which is resized to one frame). Called by the sink,
    /// once per 20 ms of its clock.
    pub fn mix_into(&self, out: &mut Vec<i16>) {
        let mut acc = [0i32; AudioFormat::FRAME_SAMPLES];
        {
            let mut state = self.lock();
            let prefill = state.config.prefill;
            for p in state.participants.values_mut() {
                if !p.playing && p.queue.len() >= prefill {
                    p.playing = true;
                }
                if !p.playing {
                    continue;
                }
                p.window_min =
                    if p.window_mixes == 0 { p.queue.len() } else { p.window_min.min(p.queue.len()) };
                p.window_mixes += 1;
                if p.window_mixes == TRIM_WINDOW {
                    // Frames that stayed queued for the whole window were pure delay.
                    for _ in prefill..p.window_min {
                        p.queue.pop_front();
                        p.dropped += 1;
                    }
                    p.window_mixes = 0;
                }
                let Some(frame) = p.queue.pop_front() else {
                    p.playing = false;
                    p.underruns += 1;
                    p.level = 0.0;
                    continue;
                };
                for (a, s) in acc.iter_mut().zip(&frame) {
                    *a += i32::from(*s);
                }
                p.level = super::analysis::rms(&frame);
                p.mixed += 1;
            }
        }
        out.clear();
        // Hard clipping is the honest choice for a sum of a few voices; a limiter would add
        // latency and hide level problems in tests.
        out.extend(acc.iter().map(|&a| a.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16));
    }

    /// Mixes the next 20 ms into a new frame.
    pub fn mix_next(&self) -> Vec<i16> {
        let mut out = Vec::with_capacity(AudioFormat::FRAME_SAMPLES);
        self.mix_into(&mut out);
        out
    }
}
