//! Signal analysis for tests and benchmarks: tone detection (Goertzel), loudness (RMS) and
//! click onsets for latency measurement.

use super::AudioFormat;

/// Samples per Goertzel block: 25 ms, a bin width of 40 Hz (tones at multiples of 40 Hz,
/// like 440 and 1000, fit whole cycles). Short blocks keep a glitch from spoiling more
/// than the block it falls in.
const BLOCK: usize = AudioFormat::SAMPLE_RATE as usize / 40;

/// Power of `samples` at `hz` relative to their total power, 0..1.
///
/// Goertzel's algorithm evaluates one DFT bin; divided by the signal's energy it says what
/// share of the signal sits at that frequency, independent of level. It runs over blocks of
/// 25 ms whose powers are summed: audio that went through a device has the odd dropped or
/// repeated buffer, and one coherent bin over seconds would let the phase jumps at those
/// seams cancel the tone out. A pure tone at `hz` gives close to 1, silence 0, a tone
/// 100 Hz or more away close to 0. Windows shorter than a block are analysed whole.
pub fn tone_ratio(samples: &[i16], hz: f32) -> f32 {
    let energy: f64 = samples.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
    if energy == 0.0 {
        return 0.0;
    }
    let block = BLOCK.min(samples.len());
    let power: f64 = samples.chunks_exact(block).map(|b| goertzel_power(b, hz)).sum();
    let analysed = (samples.len() / block * block) as f64 / samples.len() as f64;
    ((power / (energy * analysed)) as f32).clamp(0.0, 1.0)
}

/// The power in the DFT bin at `hz`, normalised so that a sinusoid's equals its energy
/// (sum of squares) over the block.
fn goertzel_power(block: &[i16], hz: f32) -> f64 {
    let n = block.len() as f64;
    let w = std::f64::consts::TAU * f64::from(hz) / f64::from(AudioFormat::SAMPLE_RATE);
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in block {
        let s0 = f64::from(x) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    // A sinusoid of amplitude A puts (A n / 2)^2 in its bin and A^2 n / 2 into the energy:
    // the factor 2/n makes the two equal.
    2.0 * (s1 * s1 + s2 * s2 - coeff * s1 * s2) / n
}

/// Whether `samples` hold a clear tone at `hz`: at least `min_ratio` of their power there
/// (0.5 is a good threshold for a tone alone, lower when mixed with others).
pub fn has_tone(samples: &[i16], hz: f32, min_ratio: f32) -> bool {
    tone_ratio(samples, hz) >= min_ratio
}

/// Root mean square of `samples`, 0..1 of full scale.
pub fn rms(samples: &[i16]) -> f32 {
    if samples.is_empty() {
        return 0.0;
    }
    let sum: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    ((sum / samples.len() as f64).sqrt() / f64::from(i16::MAX)) as f32
}

/// Indices where a click starts: the first sample whose magnitude reaches `threshold`
/// (0..1 of full scale) after at least `quiet` samples below it (the start of `samples`
/// counts as quiet). Used to time a click train through the pipeline.
pub fn click_onsets(samples: &[i16], threshold: f32, quiet: usize) -> Vec<usize> {
    let mut detector = ClickDetector::new(threshold, quiet);
    detector.below = quiet;
    detector.feed(samples)
}

/// [`click_onsets`] over a stream that arrives in frames: the quiet run carries over from
/// one frame to the next, so a click on a frame boundary is found once.
#[derive(Debug, Clone)]
pub struct ClickDetector {
    level: i32,
    quiet: usize,
    below: usize,
}

impl ClickDetector {
    /// A detector for clicks reaching `threshold` (0..1 of full scale) after `quiet` samples
    /// below it.
    pub fn new(threshold: f32, quiet: usize) -> Self {
        Self { level: (threshold.clamp(0.0, 1.0) * f32::from(i16::MAX)) as i32, quiet, below: 0 }
    }

    /// The onsets within `frame`, as indices into it.
    pub fn feed(&mut self, frame: &[i16]) -> Vec<usize> {
        let mut onsets = Vec::new();
        for (i, &s) in frame.iter().enumerate() {
            if i32::from(s).abs() >= self.level {
                if self.below >= self.quiet {
                    onsets.push(i);
                }
                self.below = 0;
            } else {
                self.below += 1;
            }
        }
        onsets
    }
}
