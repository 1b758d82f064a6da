//! Pure rectangle arithmetic of the default layout: the grid, the spotlight split and the
//! button bar. No plugin state here, so every function is easy to test on its own.

use switchboard_core::view::Rect;

/// The aspect ratio tiles are shaped to (video is 16:9 almost everywhere).
pub const TILE_ASPECT: f32 = 16.0 / 9.0;
/// The gap between tiles, in pixels, on windows large enough for it.
const GAP: f32 = 8.0;
/// The button bar's height, in pixels, on windows large enough for it.
const BAR_HEIGHT: f32 = 72.0;

/// The gap to use inside `area`: the usual one, shrunk on tiny windows so that gaps never
/// eat the whole area (which would push rectangles outside it).
fn gap_for(area: &Rect, slots: usize) -> f32 {
    let slots = slots.max(1) as f32 + 1.0;
    GAP.min(area.w / (4.0 * slots)).min(area.h / (4.0 * slots)).max(0.0)
}

/// The largest `aspect`-shaped size that fits in `w` x `h`.
fn fit(w: f32, h: f32, aspect: f32) -> (f32, f32) {
    let (w, h) = (w.max(0.0), h.max(0.0));
    if w / aspect <= h { (w, w / aspect) } else { (h * aspect, h) }
}

/// Splits the window into the call area and the button bar (bottom, full width). No bar
/// when there are no buttons.
pub fn split_bar(width: f32, height: f32, has_buttons: bool) -> (Rect, Option<Rect>) {
    let (width, height) = (width.max(0.0), height.max(0.0));
    if !has_buttons {
        return (Rect::new(0.0, 0.0, width, height), None);
    }
    let bar_h = BAR_HEIGHT.min(height * 0.2);
    (Rect::new(0.0, 0.0, width, height - bar_h), Some(Rect::new(0.0, height - bar_h, width, bar_h)))
}

/// `n` equal 16:9 tiles in a centred grid inside `area`, choosing the column count that
/// gives the largest tiles. The last row is centred when it is not full.
pub fn grid(area: &Rect, n: usize) -> Vec<Rect> {
    if n == 0 {
        return Vec::new();
    }
    let mut best: Option<(f32, usize, f32, f32, f32)> = None;
    for cols in 1..=n {
        let rows = n.div_ceil(cols);
        let gap = gap_for(area, cols.max(rows));
        let cell_w = (area.w - gap * (cols as f32 + 1.0)) / cols as f32;
        let cell_h = (area.h - gap * (rows as f32 + 1.0)) / rows as f32;
        let (tw, th) = fit(cell_w, cell_h, TILE_ASPECT);
        let area_score = tw * th;
        if best.is_none_or(|(score, ..)| area_score > score) {
            best = Some((area_score, cols, tw, th, gap));
        }
    }
    let Some((_, cols, tw, th, gap)) = best else { return Vec::new() };
    let rows = n.div_ceil(cols);
    let block_h = rows as f32 * th + (rows as f32 - 1.0) * gap;
    let y0 = area.y + (area.h - block_h) / 2.0;
    let mut out = Vec::with_capacity(n);
    for row in 0..rows {
        let in_row = cols.min(n - row * cols);
        let row_w = in_row as f32 * tw + (in_row as f32 - 1.0) * gap;
        let x0 = area.x + (area.w - row_w) / 2.0;
        for col in 0..in_row {
            out.push(Rect::new(x0 + col as f32 * (tw + gap), y0 + row as f32 * (th + gap), tw, th));
        }
    }
    out
}

/// The spotlight split: one main rectangle and `strip` small 16:9 tiles in a centred row
/// along the bottom of `area`. With no small tiles the main one takes the whole area.
pub fn spotlight(area: &Rect, strip: usize) -> (Rect, Vec<Rect>) {
    if strip == 0 {
        return (inset(area), Vec::new());
    }
    let gap = gap_for(area, strip);
    let band_h = (area.h * 0.24).min(180.0);
    let main = Rect::new(
        area.x + gap,
        area.y + gap,
        (area.w - 2.0 * gap).max(0.0),
        (area.h - band_h - 2.0 * gap).max(0.0),
    );
    let band_y = area.y + area.h - band_h;
    let k = strip as f32;
    let (mut tw, mut th) = ((band_h - gap).max(0.0) * TILE_ASPECT, (band_h - gap).max(0.0));
    if k * tw + (k + 1.0) * gap > area.w {
        tw = ((area.w - (k + 1.0) * gap) / k).max(0.0);
        th = tw / TILE_ASPECT;
    }
    let row_w = k * tw + (k - 1.0) * gap;
    let x0 = area.x + (area.w - row_w) / 2.0;
    let y = band_y + ((band_h - gap) - th).max(0.0) / 2.0;
    let tiles = (0..strip).map(|i| Rect::new(x0 + i as f32 * (tw + gap), y, tw, th)).collect();
    (main, tiles)
}

/// `r` moved to `(x, y)` and kept inside `bounds` (a drag never leaves the window).
pub fn clamp_to(r: &Rect, x: f32, y: f32, bounds: &Rect) -> Rect {
    let x = if x.is_finite() { x } else { r.x };
    let y = if y.is_finite() { y } else { r.y };
    let max_x = bounds.x + (bounds.w - r.w).max(0.0);
    let max_y = bounds.y + (bounds.h - r.h).max(0.0);
    Rect::new(x.clamp(bounds.x, max_x), y.clamp(bounds.y, max_y), r.w.min(bounds.w), r.h.min(bounds.h))
}

/// A `w` x `h` box at `(x, y)`, shrunk and moved as needed to stay inside `bounds`.
pub fn boxed(x: f32, y: f32, w: f32, h: f32, bounds: &Rect) -> Rect {
    let r = Rect::new(x, y, w.min(bounds.w.max(0.0)), h.min(bounds.h.max(0.0)));
    clamp_to(&r, x, y, bounds)
}

/// A `w` x `h` box centred in `bounds`, shrunk to fit.
pub fn centred(w: f32, h: f32, bounds: &Rect) -> Rect {
    let (w, h) = (w.min(bounds.w.max(0.0)), h.min(bounds.h.max(0.0)));
    Rect::new(bounds.x + (bounds.w.max(0.0) - w) / 2.0, bounds.y + (bounds.h.max(0.0) - h) / 2.0, w, h)
}

/// `area` less the usual margin on every side (less on tiny windows), for a lone tile.
pub fn inset(area: &Rect) -> Rect {
    let gap = gap_for(area, 1);
    Rect::new(area.x + gap, area.y + gap, (area.w - 2.0 * gap).max(0.0), (area.h - 2.0 * gap).max(0.0))
}
