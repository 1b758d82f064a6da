//! Mixing of every remote participant's decoded audio into one stream, at the sink's pace.
//!
//! Decoded frames arrive whenever the network delivers them; the sink pulls mixed samples
//! at its own pace: a device sink straight from its output callback, a buffer at a time
//! (a few milliseconds), a WAV or null sink one 20 ms frame per 20 ms of wall clock.
//! Between the two, each participant has a small jitter buffer that plays its frames
//! sample-exactly, so a pull may end in the middle of a frame.
//!
//! Two policies decide when a participant starts (or restarts after running dry) and how
//! much standing queue is trimmed:
//! - **Adaptive** ([`Mixer::new`], what calls use): a participant starts as soon as its
//!   next frame, expected 20 ms after the last one arrived, will be there before the sink
//!   needs it with a margin of the measured jitter (arrival jitter, and how late frames
//!   were when the buffer ran dry). On loopback that is a few milliseconds, not a frame.
//! - **Fixed** ([`Mixer::with_config`]): starts once `prefill` frames are queued.
//!
//! Either way a queue longer than `max_depth` frames drops its oldest, and a queue that
//! stayed longer than needed for a whole window (the sender's clock runs faster than the
//! sink's, or a burst arrived after a stall) is trimmed, so latency cannot build up.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::AudioFormat;

/// Pulls over which a standing queue is measured before it is trimmed.
const TRIM_WINDOW: usize = 25;
/// The shortest trim window in time.
const TRIM_WINDOW_TIME: Duration = Duration::from_millis(500);
/// Margin the adaptive policy keeps even with no measured jitter: the sender's and the
/// sink's threads are never woken exactly on time.
const MIN_MARGIN: Duration = Duration::from_millis(1);
/// Ceiling of the adaptive margin: more jitter than this is a network problem that a
/// bigger buffer would only turn into delay.
const MAX_MARGIN: Duration = Duration::from_millis(60);
/// A frame later than this was a pause (the sender muted or stalled), not jitter.
const MAX_LATENESS: Duration = Duration::from_millis(100);
/// Half-life of the jitter estimate: a burst of jitter raises the margin at once, a calm
/// stretch lowers it again this slowly. [`Mixer::adaptive_with_half_life`] sets another,
/// for measurements (BENCHMARKS.md, "Audio").
pub const JITTER_HALF_LIFE: Duration = Duration::from_secs(3);
/// The jitter assumed for a participant before its frames say otherwise: starting with a
/// little margin avoids running dry on the first late frame (the excess is trimmed out of
/// pauses once the estimate has decayed).
const INITIAL_JITTER: Duration = Duration::from_millis(10);
/// Samples below this magnitude (about -40 dBFS) count as quiet, for trimming.
const QUIET_LEVEL: u16 = 328;
/// A run of quiet samples this long (5 ms) is a pause that can be shortened unheard.
const QUIET_RUN: usize = AudioFormat::SAMPLE_RATE as usize / 200;
/// Samples mixed per step, so the accumulator lives on the stack.
const STEP: usize = AudioFormat::FRAME_SAMPLES;

/// Jitter buffer sizes, in 20 ms frames, for the fixed policy.
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Policy {
    Adaptive,
    Fixed,
}

#[derive(Debug)]
struct Participant {
    /// Frames and when each was pushed.
    queue: VecDeque<(Vec<i16>, Instant)>,
    /// Samples of the head frame already played.
    offset: usize,
    playing: bool,
    underruns: u64,
    dropped: u64,
    mixed: u64,
    /// RMS of the last samples mixed, 0..1, for active-speaker display.
    level: f32,
    /// When the last frame arrived.
    last_arrival: Option<Instant>,
    /// Running estimate of arrival jitter (decaying peak), seconds.
    jitter: f64,
    /// When the buffer last ran dry while playing, until the next frame arrives.
    starved_at: Option<Instant>,
    /// Trimming: smallest slack seen in the current window (frames for the fixed policy,
    /// seconds for the adaptive one), pulls in it, and when it started.
    window_min: f64,
    window_pulls: usize,
    window_start: Option<Instant>,
    /// Samples of standing queue still to trim, taken only out of pauses.
    pending_skip: usize,
}

impl Participant {
    fn new() -> Self {
        Self {
            queue: VecDeque::new(),
            offset: 0,
            playing: false,
            underruns: 0,
            dropped: 0,
            mixed: 0,
            level: 0.0,
            last_arrival: None,
            jitter: INITIAL_JITTER.as_secs_f64(),
            starved_at: None,
            window_min: f64::INFINITY,
            window_pulls: 0,
            window_start: None,
            pending_skip: 0,
        }
    }

    fn queued_samples(&self) -> usize {
        (self.queue.len() * AudioFormat::FRAME_SAMPLES).saturating_sub(self.offset)
    }

    /// The margin the adaptive policy keeps between a frame's expected arrival and the
    /// moment the sink needs it.
    fn margin(&self) -> Duration {
        Duration::from_secs_f64(self.jitter).clamp(MIN_MARGIN, MAX_MARGIN)
    }

    /// Adaptive policy: how long before the sink needs the next frame (the first sample
    /// after what is queued) that frame is expected, if a pull of `len` samples runs now.
    /// Pulls take `len` samples at a time, so the sample at position `q` is needed at the
    /// pull `floor(q / len)` from now. Negative: it is expected too late.
    fn slack(&self, now: Instant, len: usize) -> f64 {
        let Some(last) = self.last_arrival else { return f64::NEG_INFINITY };
        let pulls = (self.queued_samples() / len.max(1)) as f64;
        let needed = pulls * len as f64 / f64::from(AudioFormat::SAMPLE_RATE);
        let expected = last + AudioFormat::FRAME_DURATION;
        let ahead =
            if expected >= now { -(expected - now).as_secs_f64() } else { (now - expected).as_secs_f64() };
        needed + ahead
    }

    /// Trims up to `pending_skip` samples at the play position, but only out of a pause (a
    /// quiet run of at least [`QUIET_RUN`] samples), so no sound is cut: shortening
    /// silence by a few milliseconds is inaudible, cutting a syllable is not.
    fn skip_quiet(&mut self) {
        while self.pending_skip > 0 {
            let Some((frame, _)) = self.queue.front() else { return };
            let quiet = frame[self.offset..].iter().take_while(|s| s.unsigned_abs() < QUIET_LEVEL).count();
            if quiet < QUIET_RUN {
                return;
            }
            // Half a run stays, so the pause does not end abruptly.
            let skip = (quiet - QUIET_RUN / 2).min(self.pending_skip);
            self.offset += skip;
            self.pending_skip -= skip;
            if self.offset < frame.len() {
                return;
            }
            self.queue.pop_front();
            self.offset = 0;
        }
    }

    /// Drops the oldest whole frame that has not started playing (the one after the
    /// head when the head is half played, so what plays stays contiguous where it can).
    fn drop_one(&mut self) {
        let index = usize::from(self.offset > 0 && self.queue.len() > 1);
        if self.queue.remove(index).is_some() {
            if index == 0 {
                self.offset = 0;
            }
            self.dropped += 1;
        }
    }
}

#[derive(Debug)]
struct State {
    policy: Policy,
    /// Factor the jitter estimate decays by per frame received.
    jitter_decay: f64,
    config: JitterConfig,
    participants: BTreeMap<String, Participant>,
}

/// The call's mixer. Cheap to clone; clones share one state (the session pushes, the sink
/// pulls).
#[derive(Debug, Clone)]
pub struct Mixer {
    state: Arc<Mutex<State>>,
}

impl Default for Mixer {
    fn default() -> Self {
        Self::new()
    }
}

/// Counters of one participant's jitter buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ParticipantStats {
    /// Frames that went into the mix (played to their end).
    pub mixed: u64,
    /// Times the buffer ran dry while playing.
    pub underruns: u64,
    /// Frames dropped because the buffer was over `max_depth` or kept a standing queue.
    pub dropped: u64,
    /// Frames queued now.
    pub queued: usize,
    /// The margin the adaptive policy keeps now (its jitter estimate); zero when fixed.
    pub margin: Duration,
}

impl Mixer {
    /// A mixer with the adaptive jitter buffer (see the module docs), at most
    /// [`JitterConfig::default`]'s `max_depth` frames deep.
    pub fn new() -> Self {
        Self::adaptive_with_half_life(JITTER_HALF_LIFE)
    }

    /// The adaptive mixer of [`Mixer::new`] with another half-life of its jitter estimate
    /// than [`JITTER_HALF_LIFE`] (for measuring the trade-off; calls use the default).
    pub fn adaptive_with_half_life(half_life: Duration) -> Self {
        Self::build(Policy::Adaptive, JitterConfig::default(), half_life)
    }

    /// A mixer with a fixed jitter buffer of explicit sizes (`prefill` is at least 1).
    pub fn with_config(config: JitterConfig) -> Self {
        Self::build(Policy::Fixed, config, JITTER_HALF_LIFE)
    }

    fn build(policy: Policy, config: JitterConfig, half_life: Duration) -> Self {
        let config = JitterConfig {
            prefill: config.prefill.max(1),
            max_depth: config.max_depth.max(config.prefill.max(1)),
        };
        let frames = (half_life.as_secs_f64() / AudioFormat::FRAME_DURATION.as_secs_f64()).max(1.0);
        let jitter_decay = 0.5f64.powf(1.0 / frames);
        let state = State { policy, jitter_decay, config, participants: BTreeMap::new() };
        Self { state: Arc::new(Mutex::new(state)) }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock leaves only counters half-updated; keep mixing.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues one decoded frame from participant `uid`; the participant appears on its first
    /// frame. Frames of the wrong length are padded or cut to 20 ms.
    pub fn push(&self, uid: &str, mut frame: Vec<i16>) {
        frame.resize(AudioFormat::FRAME_SAMPLES, 0);
        let now = Instant::now();
        let mut state = self.lock();
        let (max_depth, decay) = (state.config.max_depth, state.jitter_decay);
        let p = state.participants.entry(uid.to_owned()).or_insert_with(Participant::new);
        // Jitter: how much later than 20 ms after the last one this frame came (early frames
        // cannot make the buffer run dry), and how late it came if the buffer had run dry
        // waiting for it.
        let mut observed = 0.0f64;
        if let Some(last) = p.last_arrival {
            let gap = now.saturating_duration_since(last);
            if gap < MAX_LATENESS {
                observed = (gap.as_secs_f64() - AudioFormat::FRAME_DURATION.as_secs_f64()).max(0.0);
            }
        }
        if let Some(starved) = p.starved_at.take() {
            let late = now.saturating_duration_since(starved);
            if late < MAX_LATENESS {
                observed = observed.max(late.as_secs_f64());
            }
        }
        p.jitter = (p.jitter * decay).max(observed);
        p.last_arrival = Some(now);
        p.queue.push_back((frame, now));
        while p.queue.len() > max_depth {
            p.queue.pop_front();
            p.offset = 0;
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
        let state = self.lock();
        let adaptive = state.policy == Policy::Adaptive;
        state.participants.get(uid).map(|p| ParticipantStats {
            mixed: p.mixed,
            underruns: p.underruns,
            dropped: p.dropped,
            queued: p.queue.len(),
            margin: if adaptive { p.margin() } else { Duration::ZERO },
        })
    }

    /// The loudness (RMS, 0..1) of each participant's last mixed samples.
    pub fn levels(&self) -> Vec<(String, f32)> {
        self.lock().participants.iter().map(|(uid, p)| (uid.clone(), p.level)).collect()
    }

    /// Mixes the next 20 ms into `out` (which is resized to one frame). Called by paced
    /// sinks, once per 20 ms of their clock.
    pub fn mix_into(&self, out: &mut Vec<i16>) {
        out.resize(AudioFormat::FRAME_SAMPLES, 0);
        self.mix_samples(out);
    }

    /// Mixes the next 20 ms into a new frame.
    pub fn mix_next(&self) -> Vec<i16> {
        let mut out = vec![0; AudioFormat::FRAME_SAMPLES];
        self.mix_samples(&mut out);
        out
    }

    /// Mixes the next `out.len()` samples into `out`, as one pull of the sink (a device
    /// callback's buffer). Returns how many samples of a playing participant were missing
    /// (it ran dry mid-pull and is silent there: an audible gap).
    ///
    /// Real-time safe enough for an audio callback: no allocation (finished frames are
    /// freed, which the allocator serves from its thread cache) and one short critical
    /// section per pull, shared only with `push`.
    pub fn mix_samples(&self, out: &mut [i16]) -> u64 {
        let now = Instant::now();
        let len = out.len();
        let mut missing = 0u64;
        let mut state = self.lock();
        let State { policy, config, participants, .. } = &mut *state;
        for p in participants.values_mut() {
            if !p.playing && Self::ready(*policy, config, p, now, len) {
                p.playing = true;
            }
            if p.playing {
                Self::trim(*policy, config, p, now, len);
                p.skip_quiet();
            }
        }
        for (index, chunk) in out.chunks_mut(STEP).enumerate() {
            let mut acc = [0i32; STEP];
            let acc = &mut acc[..chunk.len()];
            for p in participants.values_mut() {
                if !p.playing {
                    continue;
                }
                let mut filled = 0;
                let mut energy = 0.0f64;
                while filled < acc.len() {
                    let Some((frame, _)) = p.queue.front() else {
                        // Ran dry: silence for this participant until it has enough again.
                        p.playing = false;
                        p.underruns += 1;
                        p.starved_at = Some(now);
                        missing += (len - index * STEP - filled) as u64;
                        break;
                    };
                    let take = (acc.len() - filled).min(frame.len() - p.offset);
                    for (a, &s) in
                        acc[filled..filled + take].iter_mut().zip(&frame[p.offset..p.offset + take])
                    {
                        *a += i32::from(s);
                        energy += f64::from(s) * f64::from(s);
                    }
                    filled += take;
                    p.offset += take;
                    if p.offset == frame.len() {
                        p.queue.pop_front();
                        p.offset = 0;
                        p.mixed += 1;
                    }
                }
                if filled > 0 {
                    p.level = ((energy / filled as f64).sqrt() / f64::from(i16::MAX)) as f32;
                } else {
                    p.level = 0.0;
                }
            }
            // Hard clipping is the honest choice for a sum of a few voices; a limiter would
            // add latency and hide level problems in tests.
            for (o, &a) in chunk.iter_mut().zip(acc.iter()) {
                *o = a.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16;
            }
        }
        missing
    }

    /// Whether a participant that is not playing starts with this pull.
    fn ready(policy: Policy, config: &JitterConfig, p: &Participant, now: Instant, len: usize) -> bool {
        match policy {
            Policy::Fixed => p.queue.len() >= config.prefill,
            // Something to play, and the frame after it due in time with the margin.
            Policy::Adaptive => !p.queue.is_empty() && p.slack(now, len) >= p.margin().as_secs_f64(),
        }
    }

    /// Trims a standing queue: audio that stayed queued beyond what the policy needs for a
    /// whole window was pure delay (a faster sender clock, or a burst after a stall).
    fn trim(policy: Policy, config: &JitterConfig, p: &mut Participant, now: Instant, len: usize) {
        let excess = match policy {
            Policy::Fixed => p.queue.len() as f64,
            Policy::Adaptive => p.slack(now, len),
        };
        p.window_min = p.window_min.min(excess);
        p.window_pulls += 1;
        let start = *p.window_start.get_or_insert(now);
        // Paced sinks pull every 20 ms, so 25 pulls are the window; a device pulls a few
        // milliseconds at a time, so the adaptive window also lasts at least 0.5 s.
        let full = match policy {
            Policy::Fixed => p.window_pulls >= TRIM_WINDOW,
            Policy::Adaptive => {
                p.window_pulls >= TRIM_WINDOW && now.saturating_duration_since(start) >= TRIM_WINDOW_TIME
            }
        };
        if !full {
            return;
        }
        match policy {
            Policy::Fixed => {
                for _ in config.prefill..(p.window_min as usize) {
                    p.drop_one();
                }
            }
            Policy::Adaptive => {
                // Each frame dropped brings the next frame's need 20 ms closer; keep the
                // margin on the worst pull of the window.
                // Whole frames go at once (bounded latency even through continuous speech),
                // the rest only out of pauses.
                let frame = AudioFormat::FRAME_DURATION.as_secs_f64();
                let spare = (p.window_min - p.margin().as_secs_f64()).max(0.0);
                let whole = ((spare / frame).floor() as usize).min(p.queue.len().saturating_sub(1));
                for _ in 0..whole {
                    p.drop_one();
                }
                let rest = spare - whole as f64 * frame;
                p.pending_skip = (rest.min(frame) * f64::from(AudioFormat::SAMPLE_RATE)) as usize;
            }
        }
        p.window_min = f64::INFINITY;
        p.window_pulls = 0;
        p.window_start = Some(now);
    }
}
