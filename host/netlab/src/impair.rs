//! What a link does to the frames that cross it, and the pure logic that applies it (no IO,
//! so it is tested without namespaces).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::Error;
use crate::rng::Rng;

/// `Duration::from_millis`, short enough for a one-line impairment.
pub const fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

/// Which way a frame crosses a host's link, seen from the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Frames the host sends (its upload).
    Egress,
    /// Frames the host receives (its download).
    Ingress,
}

impl Direction {
    /// Both directions, egress first.
    pub const BOTH: [Direction; 2] = [Direction::Egress, Direction::Ingress];

    pub(crate) fn index(self) -> usize {
        match self {
            Direction::Egress => 0,
            Direction::Ingress => 1,
        }
    }
}

/// How jitter is drawn around the fixed delay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JitterDistribution {
    /// Uniform in `[delay - jitter, delay + jitter]`.
    #[default]
    Uniform,
    /// Normal with mean `delay` and standard deviation `jitter`, clamped to ±4 deviations.
    Normal,
}

/// What one direction of a link does to the IP frames that cross it.
///
/// The stages run in this order: loss, then the rate cap's queue, then delay and jitter,
/// then reordering. A frame whose total delay comes out negative leaves at once. Frames
/// other than IPv4 and IPv6 (ARP) are never impaired; only [`Link::down`](crate::Link::down)
/// stops them.
///
/// ```
/// use switchboard_netlab::{Impairment, ms};
/// let lossy = Impairment::loss(0.15);
/// let bad_wifi = Impairment { loss: 0.02, delay: ms(40), jitter: ms(25), rate_kbit: Some(2_000), ..Impairment::NONE };
/// let satellite = Impairment::delay(ms(300)).with_jitter(ms(10)).with_loss(0.01);
/// # let _ = (lossy, bad_wifi, satellite);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Impairment {
    /// Probability in `[0, 1]` that a frame is dropped.
    pub loss: f64,
    /// Fixed one-way delay added to every frame.
    pub delay: Duration,
    /// Spread around `delay` (see [`JitterDistribution`]); frames overtake each other when
    /// it exceeds the gap between them, as on a real path.
    pub jitter: Duration,
    /// How `jitter` is drawn.
    pub jitter_distribution: JitterDistribution,
    /// Probability in `[0, 1]` that a frame is held back and sent right after the next
    /// frame in the same direction (or after [`REORDER_HOLD`] if none comes): an explicit
    /// swap that needs no delay.
    pub reorder: f64,
    /// A rate cap in kbit/s (1 kbit = 1000 bits) on Ethernet frame bytes: a token bucket
    /// feeding a FIFO queue that drops the frame that does not fit (tail drop).
    pub rate_kbit: Option<u32>,
    /// The bucket's depth in bytes: what may pass at once after an idle period. Default:
    /// 5 ms at the rate, at least two full-size frames (3028 bytes).
    pub burst_bytes: Option<u32>,
    /// The queue's capacity in bytes. Default: 100 ms at the rate, at least four
    /// full-size frames (6056 bytes).
    pub queue_bytes: Option<u32>,
}

/// How long an explicitly reordered frame waits for a frame to overtake it.
pub const REORDER_HOLD: Duration = Duration::from_millis(50);

/// The largest frame the defaults count with (Ethernet header and 1500 bytes of payload).
const FULL_FRAME: u32 = 1514;

impl Default for Impairment {
    fn default() -> Self {
        Self::NONE
    }
}

impl Impairment {
    /// A clean link.
    pub const NONE: Impairment = Impairment {
        loss: 0.0,
        delay: Duration::ZERO,
        jitter: Duration::ZERO,
        jitter_distribution: JitterDistribution::Uniform,
        reorder: 0.0,
        rate_kbit: None,
        burst_bytes: None,
        queue_bytes: None,
    };

    /// Drops each frame with probability `p`.
    pub fn loss(p: f64) -> Self {
        Self { loss: p, ..Self::NONE }
    }

    /// Delays each frame by `d`.
    pub fn delay(d: Duration) -> Self {
        Self { delay: d, ..Self::NONE }
    }

    /// Caps the rate at `kbit` kbit/s with the default burst and queue.
    pub fn rate_kbit(kbit: u32) -> Self {
        Self { rate_kbit: Some(kbit), ..Self::NONE }
    }

    /// Swaps each frame with the next one with probability `p`.
    pub fn reorder(p: f64) -> Self {
        Self { reorder: p, ..Self::NONE }
    }

    /// This impairment with loss `p`.
    pub fn with_loss(self, p: f64) -> Self {
        Self { loss: p, ..self }
    }

    /// This impairment with delay `d`.
    pub fn with_delay(self, d: Duration) -> Self {
        Self { delay: d, ..self }
    }

    /// This impairment with uniform jitter `j`.
    pub fn with_jitter(self, j: Duration) -> Self {
        Self { jitter: j, jitter_distribution: JitterDistribution::Uniform, ..self }
    }

    /// This impairment with normal jitter of standard deviation `j`.
    pub fn with_normal_jitter(self, j: Duration) -> Self {
        Self { jitter: j, jitter_distribution: JitterDistribution::Normal, ..self }
    }

    /// This impairment with reordering probability `p`.
    pub fn with_reorder(self, p: f64) -> Self {
        Self { reorder: p, ..self }
    }

    /// This impairment with a rate cap of `kbit` kbit/s.
    pub fn with_rate_kbit(self, kbit: u32) -> Self {
        Self { rate_kbit: Some(kbit), ..self }
    }

    /// Checks the probabilities and the rate.
    pub fn validate(&self) -> Result<(), Error> {
        let invalid = |reason: String| Err(Error::InvalidImpairment { reason });
        if !(0.0..=1.0).contains(&self.loss) {
            return invalid(format!("loss {} is not a probability in [0, 1]", self.loss));
        }
        if !(0.0..=1.0).contains(&self.reorder) {
            return invalid(format!("reorder {} is not a probability in [0, 1]", self.reorder));
        }
        if self.rate_kbit == Some(0) {
            return invalid("rate_kbit 0 would stop the link; use Link::down".to_owned());
        }
        if self.rate_kbit.is_none() && (self.burst_bytes.is_some() || self.queue_bytes.is_some()) {
            return invalid("burst_bytes and queue_bytes need rate_kbit".to_owned());
        }
        if self.delay.saturating_add(self.jitter.saturating_mul(4)) > Duration::from_secs(60) {
            return invalid(format!("delay {:?} with jitter {:?} exceeds a minute", self.delay, self.jitter));
        }
        Ok(())
    }

    /// The rate in bytes per second, the burst and the queue, when capped.
    pub(crate) fn rate(&self) -> Option<RateCap> {
        let kbit = self.rate_kbit?;
        let bytes_per_sec = f64::from(kbit) * 1000.0 / 8.0;
        let at = |d: f64| (bytes_per_sec * d) as u32;
        Some(RateCap {
            bytes_per_sec,
            burst: self.burst_bytes.unwrap_or_else(|| at(0.005).max(2 * FULL_FRAME)),
            queue: self.queue_bytes.unwrap_or_else(|| at(0.1).max(4 * FULL_FRAME)),
        })
    }

    /// Whether this impairment leaves frames alone.
    pub fn is_none(&self) -> bool {
        self == &Self::NONE
    }
}

/// A rate cap in the units the bucket works in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RateCap {
    pub(crate) bytes_per_sec: f64,
    pub(crate) burst: u32,
    pub(crate) queue: u32,
}

/// A token bucket in front of a FIFO queue. Departure times are computed when a frame
/// arrives, which is exact for a FIFO at a fixed rate.
#[derive(Debug, Default)]
pub(crate) struct Bucket {
    /// Tokens (bytes) at `at`.
    tokens: f64,
    /// When `tokens` was last brought up to date; the last departure, or None when fresh.
    at: Option<Instant>,
    /// Departure time and size of each queued frame, oldest first.
    queued: VecDeque<(Instant, u32)>,
    queued_bytes: u64,
}

impl Bucket {
    /// When a frame of `len` bytes arriving at `now` leaves the queue, or None when the
    /// queue is full (tail drop).
    pub(crate) fn admit(&mut self, now: Instant, len: u32, cap: RateCap) -> Option<Instant> {
        while let Some(&(leaves, bytes)) = self.queued.front() {
            if leaves > now {
                break;
            }
            self.queued.pop_front();
            self.queued_bytes -= u64::from(bytes);
        }
        if !self.queued.is_empty() && self.queued_bytes + u64::from(len) > u64::from(cap.queue) {
            return None;
        }
        let (start, tokens) = match self.at {
            None => (now, f64::from(cap.burst)),
            Some(at) if at >= now => (at, self.tokens),
            Some(at) => {
                let refill = (now - at).as_secs_f64() * cap.bytes_per_sec;
                (now, (self.tokens + refill).min(f64::from(cap.burst)))
            }
        };
        let need = f64::from(len);
        let (leaves, left) = if tokens >= need {
            (start, tokens - need)
        } else {
            (start + Duration::from_secs_f64((need - tokens) / cap.bytes_per_sec), 0.0)
        };
        self.at = Some(leaves);
        self.tokens = left;
        if leaves > now {
            self.queued.push_back((leaves, len));
            self.queued_bytes += u64::from(len);
        }
        Some(leaves)
    }
}

/// What a stage decided for one frame.
#[derive(Debug, PartialEq)]
pub(crate) enum Verdict {
    Lost,
    QueueFull,
    /// Leaves the stage at this time.
    Leaves(Instant),
}

/// One direction of one link: the generator and the bucket behind an [`Impairment`].
#[derive(Debug)]
pub(crate) struct Stage {
    pub(crate) rng: Rng,
    pub(crate) bucket: Bucket,
}

impl Stage {
    pub(crate) fn new(seed: u64) -> Self {
        Self { rng: Rng::new(seed), bucket: Bucket::default() }
    }

    /// Loss, the rate cap and delay with jitter for a frame of `len` bytes arriving at
    /// `now` (reordering is the bridge's, as it needs the next frame).
    pub(crate) fn judge(&mut self, imp: &Impairment, now: Instant, len: u32) -> Verdict {
        if self.rng.chance(imp.loss) {
            return Verdict::Lost;
        }
        let mut leaves = now;
        if let Some(cap) = imp.rate() {
            match self.bucket.admit(now, len, cap) {
                Some(at) => leaves = at,
                None => return Verdict::QueueFull,
            }
        }
        let delay = imp.delay.as_secs_f64();
        let jitter = imp.jitter.as_secs_f64();
        let total = if jitter > 0.0 {
            let draw = match imp.jitter_distribution {
                JitterDistribution::Uniform => self.rng.symmetric(),
                JitterDistribution::Normal => self.rng.normal(),
            };
            delay + jitter * draw
        } else {
            delay
        };
        if total > 0.0 {
            leaves += Duration::from_secs_f64(total);
        }
        Verdict::Leaves(leaves)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cap(kbit: u32, burst: u32, queue: u32) -> RateCap {
        Impairment {
            rate_kbit: Some(kbit),
            burst_bytes: Some(burst),
            queue_bytes: Some(queue),
            ..Impairment::NONE
        }
        .rate()
        .expect("capped")
    }

    #[test]
    fn the_bucket_passes_its_burst_then_the_rate() {
        // 80 kbit/s = 10,000 bytes/s: a 1000-byte frame every 100 ms once the burst is spent.
        let t0 = Instant::now();
        let mut bucket = Bucket::default();
        let c = cap(80, 2000, 1_000_000);
        let leaves: Vec<Duration> = (0..5).map(|_| bucket.admit(t0, 1000, c).expect("room") - t0).collect();
        assert_eq!(leaves[0], Duration::ZERO);
        assert_eq!(leaves[1], Duration::ZERO);
        for (i, l) in leaves.iter().enumerate().skip(2) {
            let expected = 0.1 * (i as f64 - 1.0);
            assert!((l.as_secs_f64() - expected).abs() < 1e-6, "frame {i} leaves at {l:?}");
        }
    }

    #[test]
    fn the_bucket_refills_after_idle_up_to_its_burst() {
        let t0 = Instant::now();
        let mut bucket = Bucket::default();
        let c = cap(80, 2000, 1_000_000);
        for _ in 0..2 {
            assert_eq!(bucket.admit(t0, 1000, c), Some(t0));
        }
        // Ten seconds idle refill the bucket to its 2000 bytes, not 100,000.
        let t1 = t0 + Duration::from_secs(10);
        assert_eq!(bucket.admit(t1, 1000, c), Some(t1));
        assert_eq!(bucket.admit(t1, 1000, c), Some(t1));
        assert!(bucket.admit(t1, 1000, c).expect("room") > t1);
    }

    #[test]
    fn a_full_queue_drops_the_tail() {
        let t0 = Instant::now();
        let mut bucket = Bucket::default();
        let c = cap(80, 1000, 3000);
        let admitted = (0..10).filter(|_| bucket.admit(t0, 1000, c).is_some()).count();
        // One frame from the burst, three queued; the rest find the queue full.
        assert_eq!(admitted, 4);
        // Once the queue has drained, frames are admitted again.
        assert!(bucket.admit(t0 + Duration::from_secs(1), 1000, c).is_some());
    }

    #[test]
    fn jitter_stays_within_its_bounds_and_varies() {
        let t0 = Instant::now();
        let mut stage = Stage::new(5);
        let imp = Impairment::delay(ms(100)).with_jitter(ms(30));
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..1000 {
            let Verdict::Leaves(at) = stage.judge(&imp, t0, 100) else { panic!("no loss configured") };
            let d = at - t0;
            assert!(d >= ms(70) && d <= ms(130), "{d:?}");
            seen.insert(d.as_millis());
        }
        assert!(seen.len() > 30, "jitter should spread the delay: {seen:?}");
    }

    #[test]
    fn invalid_impairments_are_refused() {
        assert!(Impairment::loss(1.5).validate().is_err());
        assert!(Impairment::loss(f64::NAN).validate().is_err());
        assert!(Impairment::reorder(-0.1).validate().is_err());
        assert!(Impairment::rate_kbit(0).validate().is_err());
        assert!(Impairment { burst_bytes: Some(1), ..Impairment::NONE }.validate().is_err());
        assert!(Impairment::delay(Duration::from_secs(61)).validate().is_err());
        assert!(Impairment::loss(1.0).with_delay(ms(10)).with_rate_kbit(64).validate().is_ok());
    }
}
