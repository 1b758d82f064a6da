//! Raw video frames: planar I420 (what cameras, encoders and decoders exchange) and the
//! RGBA conversion renderers need.

use super::VideoError;

/// One raw frame in I420 (YUV 4:2:0, three planes, BT.601 limited range).
///
/// Planes are tightly packed: the Y plane is `width` bytes per row, the U and V planes
/// `chroma_width()` bytes per row and `chroma_height()` rows. Odd sizes round the chroma
/// planes up, as libvpx and openh264 do.
#[derive(Clone, PartialEq, Eq)]
pub struct I420Frame {
    width: u32,
    height: u32,
    y: Vec<u8>,
    u: Vec<u8>,
    v: Vec<u8>,
    /// Presentation time in microseconds since the source started.
    pub timestamp_us: u64,
}

impl std::fmt::Debug for I420Frame {
    // The planes are hundreds of kilobytes; printing them helps nobody.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("I420Frame")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("timestamp_us", &self.timestamp_us)
            .finish_non_exhaustive()
    }
}

impl I420Frame {
    /// A frame filled with one colour (`y`, `u`, `v`).
    pub fn filled(
        width: u32,
        height: u32,
        (y, u, v): (u8, u8, u8),
        timestamp_us: u64,
    ) -> Result<Self, VideoError> {
        check_size(width, height)?;
        let (cw, ch) = chroma_size(width, height);
        Ok(Self {
            width,
            height,
            y: vec![y; width as usize * height as usize],
            u: vec![u; cw * ch],
            v: vec![v; cw * ch],
            timestamp_us,
        })
    }

    /// A frame from its three planes, each tightly packed (see the type's docs).
    pub fn from_planes(
        width: u32,
        height: u32,
        y: Vec<u8>,
        u: Vec<u8>,
        v: Vec<u8>,
        timestamp_us: u64,
    ) -> Result<Self, VideoError> {
        check_size(width, height)?;
        let (cw, ch) = chroma_size(width, height);
        let luma = width as usize * height as usize;
        if y.len() != luma || u.len() != cw * ch || v.len() != cw * ch {
            return Err(VideoError::PlaneSize {
                width,
                height,
                got: [y.len(), u.len(), v.len()],
                expected: [luma, cw * ch, cw * ch],
            });
        }
        Ok(Self { width, height, y, u, v, timestamp_us })
    }

    /// A frame copied from planes with arbitrary row strides (decoder output).
    ///
    /// Each plane slice must hold at least `stride * (rows - 1) + row_width` bytes.
    pub fn copy_from_strided(
        width: u32,
        height: u32,
        planes: [(&[u8], usize); 3],
        timestamp_us: u64,
    ) -> Result<Self, VideoError> {
        check_size(width, height)?;
        let (cw, ch) = chroma_size(width, height);
        let dims = [(width as usize, height as usize), (cw, ch), (cw, ch)];
        let mut out: [Vec<u8>; 3] = Default::default();
        for (i, ((data, stride), (w, h))) in planes.into_iter().zip(dims).enumerate() {
            let needed = stride * (h - 1) + w;
            if stride < w || data.len() < needed {
                return Err(VideoError::PlaneSize {
                    width,
                    height,
                    got: [data.len(), stride, i],
                    expected: [needed, w, i],
                });
            }
            let mut plane = Vec::with_capacity(w * h);
            for row in 0..h {
                plane.extend_from_slice(&data[row * stride..row * stride + w]);
            }
            out[i] = plane;
        }
        let [y, u, v] = out;
        Ok(Self { width, height, y, u, v, timestamp_us })
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// Width of the U and V planes.
    pub fn chroma_width(&self) -> usize {
        chroma_size(self.width, self.height).0
    }

    /// Height of the U and V planes.
    pub fn chroma_height(&self) -> usize {
        chroma_size(self.width, self.height).1
    }

    /// The luma plane.
    pub fn y(&self) -> &[u8] {
        &self.y
    }

    /// The blue-difference chroma plane.
    pub fn u(&self) -> &[u8] {
        &self.u
    }

    /// The red-difference chroma plane.
    pub fn v(&self) -> &[u8] {
        &self.v
    }

    /// The three planes, mutable, for sources that draw into the frame.
    pub fn planes_mut(&mut self) -> (&mut [u8], &mut [u8], &mut [u8]) {
        (&mut self.y, &mut self.u, &mut self.v)
    }

    /// The (Y, U, V) of one pixel.
    pub fn yuv_at(&self, x: u32, y: u32) -> Option<(u8, u8, u8)> {
        if x >= self.width || y >= self.height {
            return None;
        }
        let cw = self.chroma_width();
        let c = (y as usize / 2) * cw + x as usize / 2;
        Some((self.y[y as usize * self.width as usize + x as usize], self.u[c], self.v[c]))
    }

    /// The mean (Y, U, V) over a rectangle, clipped to the frame. `None` when the clipped
    /// rectangle is empty.
    pub fn mean_yuv(&self, x0: u32, y0: u32, w: u32, h: u32) -> Option<(f32, f32, f32)> {
        let x1 = (x0.saturating_add(w)).min(self.width);
        let y1 = (y0.saturating_add(h)).min(self.height);
        if x0 >= x1 || y0 >= y1 {
            return None;
        }
        let (mut sy, mut su, mut sv) = (0u64, 0u64, 0u64);
        for row in y0..y1 {
            for col in x0..x1 {
                let (py, pu, pv) = self.yuv_at(col, row)?;
                sy += u64::from(py);
                su += u64::from(pu);
                sv += u64::from(pv);
            }
        }
        let n = f64::from((x1 - x0) * (y1 - y0));
        Some(((sy as f64 / n) as f32, (su as f64 / n) as f32, (sv as f64 / n) as f32))
    }

    /// Converts to RGBA8 (alpha 255), row-major, `width * height * 4` bytes: what the web UI
    /// and PNG snapshots draw.
    pub fn to_rgba(&self) -> Vec<u8> {
        let mut out = vec![0u8; self.width as usize * self.height as usize * 4];
        self.write_rgba(&mut out);
        out
    }

    /// Converts into a caller's RGBA8 buffer of `width * height * 4` bytes (reused across
    /// frames by renderers). Extra bytes are left alone; a short buffer gets only the rows
    /// that fit.
    pub fn write_rgba(&self, out: &mut [u8]) {
        let w = self.width as usize;
        let cw = self.chroma_width();
        for (row, line) in out.chunks_exact_mut(w * 4).take(self.height as usize).enumerate() {
            let yrow = &self.y[row * w..row * w + w];
            let crow = (row / 2) * cw;
            for (col, px) in line.chunks_exact_mut(4).enumerate() {
                let (r, g, b) = yuv_to_rgb(yrow[col], self.u[crow + col / 2], self.v[crow + col / 2]);
                px.copy_from_slice(&[r, g, b, 255]);
            }
        }
    }

    /// Builds a frame from RGBA8 pixels (`width * height * 4` bytes), averaging chroma over
    /// each 2x2 block.
    pub fn from_rgba(width: u32, height: u32, rgba: &[u8], timestamp_us: u64) -> Result<Self, VideoError> {
        let mut frame = Self::filled(width, height, (16, 128, 128), timestamp_us)?;
        let (w, h) = (width as usize, height as usize);
        if rgba.len() < w * h * 4 {
            return Err(VideoError::PlaneSize {
                width,
                height,
                got: [rgba.len(), 0, 0],
                expected: [w * h * 4, 0, 0],
            });
        }
        let cw = frame.chroma_width();
        let (mut usum, mut vsum) = (vec![0u32; frame.u.len()], vec![0u32; frame.v.len()]);
        let mut count = vec![0u32; frame.u.len()];
        for row in 0..h {
            for col in 0..w {
                let p = &rgba[(row * w + col) * 4..(row * w + col) * 4 + 3];
                let (y, u, v) = rgb_to_yuv(p[0], p[1], p[2]);
                frame.y[row * w + col] = y;
                let c = (row / 2) * cw + col / 2;
                usum[c] += u32::from(u);
                vsum[c] += u32::from(v);
                count[c] += 1;
            }
        }
        for c in 0..count.len() {
            frame.u[c] = (usum[c] / count[c].max(1)) as u8;
            frame.v[c] = (vsum[c] / count[c].max(1)) as u8;
        }
        Ok(frame)
    }

    /// Peak signal-to-noise ratio of the luma plane against `reference`, in dB (`None` when
    /// the sizes differ; infinity when identical). Used to compare codecs at similar quality.
    pub fn psnr_y(&self, reference: &I420Frame) -> Option<f64> {
        if self.width != reference.width || self.height != reference.height {
            return None;
        }
        let sse: u64 = self
            .y
            .iter()
            .zip(&reference.y)
            .map(|(&a, &b)| {
                let d = i64::from(a) - i64::from(b);
                (d * d) as u64
            })
            .sum();
        if sse == 0 {
            return Some(f64::INFINITY);
        }
        let mse = sse as f64 / self.y.len() as f64;
        Some(10.0 * (255.0 * 255.0 / mse).log10())
    }
}

fn check_size(width: u32, height: u32) -> Result<(), VideoError> {
    // 8K is far beyond anything a call sends; the bound keeps size arithmetic in range.
    if width == 0 || height == 0 || width > 8192 || height > 8192 {
        return Err(VideoError::InvalidSize { width, height });
    }
    Ok(())
}

fn chroma_size(width: u32, height: u32) -> (usize, usize) {
    (width.div_ceil(2) as usize, height.div_ceil(2) as usize)
}

/// RGB to BT.601 limited-range YUV, the colour space WebRTC's VP8 and H.264 assume.
pub fn rgb_to_yuv(r: u8, g: u8, b: u8) -> (u8, u8, u8) {
    let (r, g, b) = (i32::from(r), i32::from(g), i32::from(b));
    let y = ((66 * r + 129 * g + 25 * b + 128) >> 8) + 16;
    let u = ((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128;
    let v = ((112 * r - 94 * g - 18 * b + 128) >> 8) + 128;
    (clamp_u8(y), clamp_u8(u), clamp_u8(v))
}

/// BT.601 limited-range YUV to RGB.
pub fn yuv_to_rgb(y: u8, u: u8, v: u8) -> (u8, u8, u8) {
    let c = i32::from(y) - 16;
    let d = i32::from(u) - 128;
    let e = i32::from(v) - 128;
    let r = (298 * c + 409 * e + 128) >> 8;
    let g = (298 * c - 100 * d - 208 * e + 128) >> 8;
    let b = (298 * c + 516 * d + 128) >> 8;
    (clamp_u8(r), clamp_u8(g), clamp_u8(b))
}

fn clamp_u8(v: i32) -> u8 {
    v.clamp(0, 255) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rgb_round_trips_through_yuv_within_rounding() {
        for &(r, g, b) in &[(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255), (16, 200, 90)] {
            let (y, u, v) = rgb_to_yuv(r, g, b);
            let (r2, g2, b2) = yuv_to_rgb(y, u, v);
            for (a, b) in [(r, r2), (g, g2), (b, b2)] {
                assert!((i32::from(a) - i32::from(b)).abs() <= 3, "{r},{g},{b} -> {r2},{g2},{b2}");
            }
        }
    }

    #[test]
    fn odd_sizes_round_chroma_up_and_rgba_has_every_pixel() {
        let f = I420Frame::filled(5, 3, (81, 90, 240), 0).expect("valid size");
        assert_eq!((f.chroma_width(), f.chroma_height()), (3, 2));
        let rgba = f.to_rgba();
        assert_eq!(rgba.len(), 5 * 3 * 4);
        assert!(rgba[0] > 200 && rgba[1] < 40 && rgba[2] < 40, "red expected: {:?}", &rgba[..4]);
        let back = I420Frame::from_rgba(5, 3, &rgba, 0).expect("valid size");
        assert!(back.psnr_y(&f).expect("same size") > 40.0);
    }

    #[test]
    fn wrong_plane_sizes_are_refused() {
        let err = I420Frame::from_planes(4, 4, vec![0; 16], vec![0; 3], vec![0; 4], 0);
        assert!(matches!(err, Err(VideoError::PlaneSize { .. })));
        assert!(matches!(I420Frame::filled(0, 4, (0, 0, 0), 0), Err(VideoError::InvalidSize { .. })));
    }
}
