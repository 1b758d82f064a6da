//! The synthetic cameras "front" and "back": test patterns a receiver can recognise after a
//! lossy codec, and the checks that recognise them.
//!
//! Every pattern frame has three bands, top to bottom:
//! - the counter strip (an eighth of the height): 20 black/white cells, a sync pair `1 0`,
//!   the frame counter's low 16 bits (most significant first) and two parity bits. Cells are
//!   at least 16 pixels wide at 320x240, big enough to survive VP8/H.264 at call bitrates;
//! - the bars: "front" has eight vertical bars (white, yellow, cyan, green, magenta, red,
//!   blue, black); "back" has six horizontal bars of another palette (orange, purple, teal,
//!   pink, olive, navy), so the two differ at a glance and to [`read_pattern`];
//! - the label band (an eighth of the height): the participant's name and the running
//!   counter in an 8x8 bitmap font, for people looking at the picture.

use super::VideoError;
use super::frame::{I420Frame, rgb_to_yuv};

/// Which synthetic camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PatternKind {
    /// Vertical colour bars.
    Front,
    /// Horizontal bars in another palette.
    Back,
}

impl PatternKind {
    /// Parses the config name (`front` or `back`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "front" => Some(Self::Front),
            "back" => Some(Self::Back),
            _ => None,
        }
    }

    /// The config name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Front => "front",
            Self::Back => "back",
        }
    }

    /// The other camera (what `switchCamera()` toggles to).
    pub fn other(self) -> Self {
        match self {
            Self::Front => Self::Back,
            Self::Back => Self::Front,
        }
    }

    /// The RGB colours of the bars, in order (left to right, or top to bottom).
    pub fn palette(self) -> &'static [(u8, u8, u8)] {
        match self {
            Self::Front => &FRONT_PALETTE,
            Self::Back => &BACK_PALETTE,
        }
    }
}

impl std::fmt::Display for PatternKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

const FRONT_PALETTE: [(u8, u8, u8); 8] = [
    (235, 235, 235),
    (235, 235, 16),
    (16, 235, 235),
    (16, 235, 16),
    (235, 16, 235),
    (235, 16, 16),
    (16, 16, 235),
    (16, 16, 16),
];

const BACK_PALETTE: [(u8, u8, u8); 6] =
    [(255, 128, 0), (128, 0, 192), (0, 160, 160), (255, 105, 180), (128, 128, 0), (0, 0, 128)];

/// Cells in the counter strip: sync `1 0`, 16 data bits, 2 parity bits.
const STRIP_CELLS: u32 = 20;
const COUNTER_BITS: u32 = 16;
const WHITE_Y: u8 = 235;
const BLACK_Y: u8 = 16;
const LABEL_BACKGROUND_Y: u8 = 48;

/// The smallest frame a pattern is drawn at: below this the cells get too small to survive
/// a codec.
pub const MIN_PATTERN_SIZE: (u32, u32) = (64, 48);

/// How far (Euclidean distance in Y'CbCr code values) the mean colour of a bar may be from
/// the pattern's for [`read_pattern`] to accept it. Measured VP8 and H.264 round trips at
/// call bitrates stay well under 15; another palette is over 60 away.
pub const BAR_TOLERANCE: f32 = 32.0;

struct Bands {
    strip_h: u32,
    bars_top: u32,
    bars_h: u32,
    label_top: u32,
}

fn bands(height: u32) -> Bands {
    // Even band edges keep chroma rows from straddling two bands.
    let strip_h = (height / 8) & !1;
    let label_h = (height / 8) & !1;
    Bands { strip_h, bars_top: strip_h, bars_h: height - strip_h - label_h, label_top: height - label_h }
}

/// Draws frame number `counter` of the pattern `kind`, labelled with `name`.
pub fn draw(
    kind: PatternKind,
    width: u32,
    height: u32,
    name: &str,
    counter: u64,
    timestamp_us: u64,
) -> Result<I420Frame, VideoError> {
    if width < MIN_PATTERN_SIZE.0 || height < MIN_PATTERN_SIZE.1 {
        return Err(VideoError::InvalidSize { width, height });
    }
    let mut frame = I420Frame::filled(width, height, (BLACK_Y, 128, 128), timestamp_us)?;
    let b = bands(height);
    let palette = kind.palette();
    let n = palette.len() as u32;
    for (k, &(r, g, bl)) in palette.iter().enumerate() {
        let k = k as u32;
        let colour = rgb_to_yuv(r, g, bl);
        match kind {
            PatternKind::Front => {
                let (x0, x1) = (k * width / n, (k + 1) * width / n);
                fill(&mut frame, x0, b.bars_top, x1 - x0, b.bars_h, colour);
            }
            PatternKind::Back => {
                let (y0, y1) = (b.bars_top + k * b.bars_h / n, b.bars_top + (k + 1) * b.bars_h / n);
                fill(&mut frame, 0, y0, width, y1 - y0, colour);
            }
        }
    }
    for (i, bit) in strip_bits(counter).into_iter().enumerate() {
        let i = i as u32;
        let (x0, x1) = (i * width / STRIP_CELLS, (i + 1) * width / STRIP_CELLS);
        let y = if bit { WHITE_Y } else { BLACK_Y };
        fill(&mut frame, x0, 0, x1 - x0, b.strip_h, (y, 128, 128));
    }
    fill(&mut frame, 0, b.label_top, width, height - b.label_top, (LABEL_BACKGROUND_Y, 128, 128));
    let label = format!("{name} #{counter}");
    draw_text(&mut frame, &label, b.label_top, height - b.label_top);
    Ok(frame)
}

fn strip_bits(counter: u64) -> [bool; STRIP_CELLS as usize] {
    let value = (counter & 0xffff) as u16;
    let mut bits = [false; STRIP_CELLS as usize];
    bits[0] = true;
    bits[1] = false;
    for i in 0..COUNTER_BITS as usize {
        bits[2 + i] = value >> (15 - i) & 1 == 1;
    }
    let (even, odd) = parities(value);
    bits[18] = even;
    bits[19] = odd;
    bits
}

/// Parity of the data bits at even and at odd positions: catches any single misread cell
/// and most misreads of two neighbours.
fn parities(value: u16) -> (bool, bool) {
    let even = (value & 0xAAAA).count_ones() % 2 == 1;
    let odd = (value & 0x5555).count_ones() % 2 == 1;
    (even, odd)
}

/// Fills a rectangle (clipped) with one colour. Chroma is written for every 2x2 block the
/// rectangle touches, which is exact when edges are even.
fn fill(frame: &mut I420Frame, x: u32, y: u32, w: u32, h: u32, (cy, cu, cv): (u8, u8, u8)) {
    let (fw, fh) = (frame.width(), frame.height());
    let (x1, y1) = ((x + w).min(fw), (y + h).min(fh));
    if x >= x1 || y >= y1 {
        return;
    }
    let cw = frame.chroma_width();
    let (py, pu, pv) = frame.planes_mut();
    for row in y..y1 {
        let start = (row * fw) as usize;
        py[start + x as usize..start + x1 as usize].fill(cy);
    }
    let (cx0, cx1) = ((x / 2) as usize, x1.div_ceil(2) as usize);
    for crow in (y / 2)..y1.div_ceil(2) {
        let start = crow as usize * cw;
        pu[start + cx0..start + cx1].fill(cu);
        pv[start + cx0..start + cx1].fill(cv);
    }
}

/// Draws `text` in white into the luma plane, centred vertically in the band and scaled to
/// fit it (and the width).
fn draw_text(frame: &mut I420Frame, text: &str, band_top: u32, band_h: u32) {
    let chars = text.chars().count().max(1) as u32;
    let scale = (band_h * 3 / 4 / 8).min(frame.width() / (chars * 8 + 2)).max(1);
    let top = band_top + band_h.saturating_sub(8 * scale) / 2;
    let left = scale * 2;
    let fw = frame.width();
    let fh = frame.height();
    let (py, _, _) = frame.planes_mut();
    for (i, ch) in text.chars().enumerate() {
        let glyph = font8x8::legacy::BASIC_LEGACY
            .get(ch as usize)
            .copied()
            .unwrap_or(font8x8::legacy::BASIC_LEGACY[b'?' as usize]);
        let gx = left + i as u32 * 8 * scale;
        for (gy, bits) in glyph.iter().enumerate() {
            for bit in 0..8u32 {
                if bits >> bit & 1 == 0 {
                    continue;
                }
                for dy in 0..scale {
                    for dx in 0..scale {
                        let (px, pyy) = (gx + bit * scale + dx, top + gy as u32 * scale + dy);
                        if px < fw && pyy < fh {
                            py[(pyy * fw + px) as usize] = WHITE_Y;
                        }
                    }
                }
            }
        }
    }
}

/// What [`read_pattern`] saw in a frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PatternReading {
    /// The pattern whose bars match, if any.
    pub kind: Option<PatternKind>,
    /// The frame counter's low 16 bits, if the strip's sync and parity check out.
    pub counter: Option<u16>,
    /// The worst bar's colour distance from the front pattern (diagnostics).
    pub front_error: f32,
    /// The worst bar's colour distance from the back pattern (diagnostics).
    pub back_error: f32,
}

/// Looks at a (possibly decoded, lossy) frame and says which pattern it shows and which
/// frame counter it carries. Works at any size at or above [`MIN_PATTERN_SIZE`].
pub fn read_pattern(frame: &I420Frame) -> PatternReading {
    let front_error = bar_error(frame, PatternKind::Front);
    let back_error = bar_error(frame, PatternKind::Back);
    let kind = if front_error <= BAR_TOLERANCE && front_error < back_error {
        Some(PatternKind::Front)
    } else if back_error <= BAR_TOLERANCE {
        Some(PatternKind::Back)
    } else {
        None
    };
    PatternReading { kind, counter: read_counter(frame), front_error, back_error }
}

/// The largest distance between a bar's expected colour and the mean colour of the middle
/// of where that bar should be.
fn bar_error(frame: &I420Frame, kind: PatternKind) -> f32 {
    let (width, height) = (frame.width(), frame.height());
    if width < MIN_PATTERN_SIZE.0 || height < MIN_PATTERN_SIZE.1 {
        return f32::INFINITY;
    }
    let b = bands(height);
    let palette = kind.palette();
    let n = palette.len() as u32;
    let mut worst = 0.0f32;
    for (k, &(r, g, bl)) in palette.iter().enumerate() {
        let k = k as u32;
        // The middle half of the bar in both directions, away from edges where codecs
        // smear colours into their neighbours.
        let (x0, y0, w, h) = match kind {
            PatternKind::Front => {
                let bw = width / n;
                (k * width / n + bw / 4, b.bars_top + b.bars_h / 4, (bw / 2).max(1), (b.bars_h / 2).max(1))
            }
            PatternKind::Back => {
                let bh = b.bars_h / n;
                (width / 4, b.bars_top + k * b.bars_h / n + bh / 4, width / 2, (bh / 2).max(1))
            }
        };
        let Some((my, mu, mv)) = frame.mean_yuv(x0, y0, w, h) else {
            return f32::INFINITY;
        };
        let (ey, eu, ev) = rgb_to_yuv(r, g, bl);
        let d = ((my - f32::from(ey)).powi(2) + (mu - f32::from(eu)).powi(2) + (mv - f32::from(ev)).powi(2))
            .sqrt();
        worst = worst.max(d);
    }
    worst
}

/// Reads the counter strip; `None` when sync or parity fail (not a pattern frame, or too
/// damaged to trust).
pub fn read_counter(frame: &I420Frame) -> Option<u16> {
    let (width, height) = (frame.width(), frame.height());
    if width < MIN_PATTERN_SIZE.0 || height < MIN_PATTERN_SIZE.1 {
        return None;
    }
    let b = bands(height);
    let mut bits = [false; STRIP_CELLS as usize];
    for (i, bit) in bits.iter_mut().enumerate() {
        let i = i as u32;
        let (x0, x1) = (i * width / STRIP_CELLS, (i + 1) * width / STRIP_CELLS);
        let cw = x1 - x0;
        let (my, _, _) =
            frame.mean_yuv(x0 + cw / 4, b.strip_h / 4, (cw / 2).max(1), (b.strip_h / 2).max(1))?;
        // Midway between black (16) and white (235).
        *bit = my > 125.0;
    }
    if !bits[0] || bits[1] {
        return None;
    }
    let value = bits[2..18].iter().fold(0u16, |acc, &bit| acc << 1 | u16::from(bit));
    let (even, odd) = parities(value);
    (bits[18] == even && bits[19] == odd).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_patterns_read_back_exactly_at_every_size() {
        for (w, h) in [(64, 48), (320, 240), (640, 480), (1280, 720), (333, 251)] {
            for kind in [PatternKind::Front, PatternKind::Back] {
                for counter in [0u64, 1, 2, 0x7fff, 0xffff, 0x1_0005] {
                    let f = draw(kind, w, h, "alice", counter, 0).expect("big enough");
                    let r = read_pattern(&f);
                    assert_eq!(r.kind, Some(kind), "{w}x{h} {kind} {counter}: {r:?}");
                    assert_eq!(r.counter, Some((counter & 0xffff) as u16), "{w}x{h} {kind}");
                }
            }
        }
    }

    #[test]
    fn a_flat_frame_is_no_pattern() {
        let f = I420Frame::filled(320, 240, (128, 128, 128), 0).expect("valid size");
        let r = read_pattern(&f);
        assert_eq!(r.kind, None);
        assert_eq!(r.counter, None);
    }

    #[test]
    fn the_two_palettes_are_far_apart() {
        let front = draw(PatternKind::Front, 320, 240, "x", 0, 0).expect("big enough");
        let r = read_pattern(&front);
        assert!(r.back_error > 2.0 * BAR_TOLERANCE, "{r:?}");
        let back = draw(PatternKind::Back, 320, 240, "x", 0, 0).expect("big enough");
        let r = read_pattern(&back);
        assert!(r.front_error > 2.0 * BAR_TOLERANCE, "{r:?}");
    }

    #[test]
    fn too_small_is_an_error() {
        assert!(matches!(draw(PatternKind::Front, 32, 32, "x", 0, 0), Err(VideoError::InvalidSize { .. })));
    }
}
