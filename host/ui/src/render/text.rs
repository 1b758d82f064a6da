//! Text for the snapshot renderer, from the pre-rasterized Noto Sans Mono glyphs that the
//! `noto-sans-mono-bitmap` crate compiles in: no system font, no font file, the same
//! pixels on every machine (so PNG snapshots are reproducible).

use noto_sans_mono_bitmap::{FontWeight, RasterHeight, get_raster, get_raster_width};
use tiny_skia::{Pixmap, PixmapPaint, Transform};

/// The text sizes the renderer uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextSize {
    /// Labels and buttons.
    Small,
    /// Names on video placeholders and prompts.
    Medium,
    /// Avatar initials.
    Large,
}

impl TextSize {
    fn raster(self) -> RasterHeight {
        match self {
            Self::Small => RasterHeight::Size16,
            Self::Medium => RasterHeight::Size20,
            Self::Large => RasterHeight::Size32,
        }
    }

    /// The line height in pixels.
    pub fn height(self) -> u32 {
        self.raster().val() as u32
    }
}

/// Weight of the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weight {
    /// Regular.
    Regular,
    /// Bold.
    Bold,
}

impl Weight {
    fn font(self) -> FontWeight {
        match self {
            Self::Regular => FontWeight::Regular,
            Self::Bold => FontWeight::Bold,
        }
    }
}

/// The advance of one character (the font is monospaced).
pub fn char_width(size: TextSize, weight: Weight) -> u32 {
    get_raster_width(weight.font(), size.raster()) as u32
}

/// The width of `text` in pixels.
pub fn width(text: &str, size: TextSize, weight: Weight) -> u32 {
    text.chars().count() as u32 * char_width(size, weight)
}

/// `text` cut to at most `max_width` pixels, ending in ".." when cut.
pub fn fit(text: &str, max_width: f32, size: TextSize, weight: Weight) -> String {
    let cw = char_width(size, weight).max(1) as f32;
    let max_chars = (max_width / cw).floor().max(0.0) as usize;
    let count = text.chars().count();
    if count <= max_chars {
        return text.to_owned();
    }
    if max_chars <= 2 {
        return text.chars().take(max_chars).collect();
    }
    let mut s: String = text.chars().take(max_chars - 2).collect();
    s.push_str("..");
    s
}

/// Draws `text` with its top-left corner at `(x, y)`, in `rgb`. Characters the font lacks
/// are drawn as `?`.
pub fn draw(target: &mut Pixmap, text: &str, x: f32, y: f32, size: TextSize, weight: Weight, rgb: [u8; 3]) {
    let w = width(text, size, weight);
    let h = size.height();
    let Some(mut glyphs) = Pixmap::new(w.max(1), h.max(1)) else { return };
    let cw = char_width(size, weight) as usize;
    let stride = w as usize * 4;
    let data = glyphs.data_mut();
    for (i, c) in text.chars().enumerate() {
        let Some(raster) = get_raster(c, weight.font(), size.raster())
            .or_else(|| get_raster('?', weight.font(), size.raster()))
        else {
            continue;
        };
        for (row, line) in raster.raster().iter().enumerate().take(h as usize) {
            for (col, &alpha) in line.iter().enumerate().take(cw) {
                let at = row * stride + (i * cw + col) * 4;
                // Premultiplied RGBA, as tiny-skia stores pixels.
                let premul = |c: u8| ((u16::from(c) * u16::from(alpha)) / 255) as u8;
                if let Some(px) = data.get_mut(at..at + 4) {
                    px.copy_from_slice(&[premul(rgb[0]), premul(rgb[1]), premul(rgb[2]), alpha]);
                }
            }
        }
    }
    target.draw_pixmap(
        x.round() as i32,
        y.round() as i32,
        glyphs.as_ref(),
        &PixmapPaint::default(),
        Transform::identity(),
        None,
    );
}

/// Draws `text` centred on `(cx, cy)`.
pub fn draw_centred(
    target: &mut Pixmap,
    text: &str,
    cx: f32,
    cy: f32,
    size: TextSize,
    weight: Weight,
    rgb: [u8; 3],
) {
    let w = width(text, size, weight) as f32;
    let h = size.height() as f32;
    draw(target, text, cx - w / 2.0, cy - h / 2.0, size, weight, rgb);
}
