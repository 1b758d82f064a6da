//! Draws a [`View`] into a tiny-skia pixmap: tiles (a test-pattern placeholder for video, an
//! avatar with initials when video is off), name labels, indicators, tile controls, the
//! button bar and overlays. Everything comes from the view model; nothing here decides
//! layout.

use switchboard_core::settings::{AspectRatio, AvatarMode, Position};
use switchboard_core::view::{Button, Overlay, Rect, Tile, TileContent, View};
use tiny_skia::{
    Color, FillRule, GradientStop, LinearGradient, Paint, Path, PathBuilder, Pixmap, Point, SpreadMode,
    Stroke, Transform,
};

use super::text::{self, TextSize, Weight};

const BACKGROUND: [u8; 3] = [0x1b, 0x1c, 0x21];
const TILE_BACKGROUND: [u8; 3] = [0x2a, 0x2c, 0x34];
const BAR_BACKGROUND: [u8; 3] = [0x12, 0x13, 0x17];
const SPEAKER_GREEN: [u8; 3] = [0x3d, 0xdc, 0x84];
const DANGER_RED: [u8; 3] = [0xe5, 0x48, 0x4d];
const WHITE: [u8; 3] = [0xff, 0xff, 0xff];
/// The shape of the synthetic video frames a placeholder stands for (the 640x480 default).
const VIDEO_ASPECT: f32 = 4.0 / 3.0;

fn paint(rgb: [u8; 3], alpha: u8) -> Paint<'static> {
    let mut p = Paint::default();
    p.set_color_rgba8(rgb[0], rgb[1], rgb[2], alpha);
    p.anti_alias = true;
    p
}

fn sk_rect(r: &Rect) -> Option<tiny_skia::Rect> {
    tiny_skia::Rect::from_xywh(r.x, r.y, r.w, r.h)
}

/// A rectangle with rounded corners (radius clamped to half the shorter side).
fn rounded(r: &Rect, radius: f32) -> Option<Path> {
    if !(r.is_finite() && r.w > 0.5 && r.h > 0.5) {
        return None;
    }
    let k = radius.min(r.w / 2.0).min(r.h / 2.0).max(0.0);
    let (x0, y0, x1, y1) = (r.x, r.y, r.x + r.w, r.y + r.h);
    let mut pb = PathBuilder::new();
    pb.move_to(x0 + k, y0);
    pb.line_to(x1 - k, y0);
    pb.quad_to(x1, y0, x1, y0 + k);
    pb.line_to(x1, y1 - k);
    pb.quad_to(x1, y1, x1 - k, y1);
    pb.line_to(x0 + k, y1);
    pb.quad_to(x0, y1, x0, y1 - k);
    pb.line_to(x0, y0 + k);
    pb.quad_to(x0, y0, x0 + k, y0);
    pb.close();
    pb.finish()
}

fn fill_rounded(pm: &mut Pixmap, r: &Rect, radius: f32, paint: &Paint<'_>) {
    if let Some(path) = rounded(r, radius) {
        pm.fill_path(&path, paint, FillRule::Winding, Transform::identity(), None);
    }
}

fn fill_circle(pm: &mut Pixmap, cx: f32, cy: f32, radius: f32, paint: &Paint<'_>) {
    if let Some(path) = PathBuilder::from_circle(cx, cy, radius) {
        pm.fill_path(&path, paint, FillRule::Winding, Transform::identity(), None);
    }
}

fn line(pm: &mut Pixmap, a: (f32, f32), b: (f32, f32), width: f32, rgb: [u8; 3]) {
    let mut pb = PathBuilder::new();
    pb.move_to(a.0, a.1);
    pb.line_to(b.0, b.1);
    if let Some(path) = pb.finish() {
        let stroke = Stroke { width, line_cap: tiny_skia::LineCap::Round, ..Stroke::default() };
        pm.stroke_path(&path, &paint(rgb, 255), &stroke, Transform::identity(), None);
    }
}

/// A stable, pleasant colour per participant, so the same person looks the same in every
/// snapshot.
fn participant_colour(uid: &str) -> [u8; 3] {
    const PALETTE: [[u8; 3]; 8] = [
        [0x4f, 0x7c, 0xd9],
        [0xd9, 0x6c, 0x4f],
        [0x4f, 0xb0, 0x8a],
        [0xa0, 0x5f, 0xd0],
        [0xd0, 0xa8, 0x3c],
        [0x3c, 0xa8, 0xc8],
        [0xc8, 0x4f, 0x8c],
        [0x7a, 0x9a, 0x3c],
    ];
    // FNV-1a: tiny, stable across runs and platforms (unlike std's hasher).
    let hash =
        uid.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    PALETTE[(hash % PALETTE.len() as u64) as usize]
}

fn shade(rgb: [u8; 3], factor: f32) -> [u8; 3] {
    rgb.map(|c| (f32::from(c) * factor).clamp(0.0, 255.0) as u8)
}

/// The label of a tile: the name label's text, else the uid.
fn tile_name(tile: &Tile) -> &str {
    tile.name_label.as_ref().map_or(tile.uid.as_str(), |l| l.text.as_str())
}

/// The picture area of a video tile: letterboxed for CONTAIN, the whole tile otherwise.
fn picture_rect(tile: &Tile, aspect: AspectRatio) -> Rect {
    let r = tile.rect;
    if aspect != AspectRatio::Contain {
        return r;
    }
    let (w, h) =
        if r.w / VIDEO_ASPECT <= r.h { (r.w, r.w / VIDEO_ASPECT) } else { (r.h * VIDEO_ASPECT, r.h) };
    Rect::new(r.x + (r.w - w) / 2.0, r.y + (r.h - h) / 2.0, w, h)
}

/// A test-pattern-like stand-in for a participant's video: a gradient in their colour,
/// colour bars along the bottom and a centring circle, with their name in the middle.
fn draw_video_placeholder(pm: &mut Pixmap, tile: &Tile, aspect: AspectRatio) {
    let r = tile.rect;
    if aspect == AspectRatio::Contain {
        fill_rounded(pm, &r, 10.0, &paint([0, 0, 0], 255));
    }
    let pic = picture_rect(tile, aspect);
    let base = participant_colour(&tile.uid);
    let gradient = LinearGradient::new(
        Point::from_xy(pic.x, pic.y),
        Point::from_xy(pic.x + pic.w, pic.y + pic.h),
        vec![
            GradientStop::new(0.0, rgb_color(shade(base, 1.1))),
            GradientStop::new(1.0, rgb_color(shade(base, 0.45))),
        ],
        SpreadMode::Pad,
        Transform::identity(),
    );
    if let Some(shader) = gradient {
        let p = Paint { shader, anti_alias: true, ..Paint::default() };
        fill_rounded(pm, &pic, if aspect == AspectRatio::Contain { 0.0 } else { 10.0 }, &p);
    }
    // SMPTE-style bars in the lower fifth of the picture.
    const BARS: [[u8; 3]; 7] = [
        [0xc0, 0xc0, 0xc0],
        [0xc0, 0xc0, 0x00],
        [0x00, 0xc0, 0xc0],
        [0x00, 0xc0, 0x00],
        [0xc0, 0x00, 0xc0],
        [0xc0, 0x00, 0x00],
        [0x00, 0x00, 0xc0],
    ];
    let inset = (pic.w.min(pic.h) * 0.06).min(14.0);
    let bar_h = pic.h * 0.12;
    let bars_w = pic.w - 2.0 * inset;
    let bar_y = pic.y + pic.h - inset - bar_h - pic.h * 0.1;
    for (i, rgb) in BARS.iter().enumerate() {
        let bw = bars_w / BARS.len() as f32;
        if let Some(rect) = tiny_skia::Rect::from_xywh(pic.x + inset + i as f32 * bw, bar_y, bw + 0.5, bar_h)
        {
            pm.fill_rect(rect, &paint(*rgb, 150), Transform::identity(), None);
        }
    }
    // A centring circle and cross, as on a test card.
    let (cx, cy) = (pic.x + pic.w / 2.0, pic.y + pic.h * 0.42);
    let radius = pic.w.min(pic.h) * 0.22;
    if let Some(path) = PathBuilder::from_circle(cx, cy, radius) {
        let stroke = Stroke { width: 2.0, ..Stroke::default() };
        pm.stroke_path(&path, &paint(WHITE, 110), &stroke, Transform::identity(), None);
    }
    line(pm, (cx - radius * 1.3, cy), (cx + radius * 1.3, cy), 1.0, shade(WHITE, 0.8));
    line(pm, (cx, cy - radius * 1.3), (cx, cy + radius * 1.3), 1.0, shade(WHITE, 0.8));
    let size = if pic.w >= 300.0 { TextSize::Medium } else { TextSize::Small };
    let name = text::fit(tile_name(tile), pic.w - 16.0, size, Weight::Bold);
    // Small tiles carry the name on their label; a second copy in the middle would collide.
    if pic.h >= 200.0 || (tile.name_label.is_none() && pic.h > 40.0) {
        text::draw_centred(pm, &name, cx, cy, size, Weight::Bold, WHITE);
    }
}

fn rgb_color(rgb: [u8; 3]) -> Color {
    Color::from_rgba8(rgb[0], rgb[1], rgb[2], 255)
}

fn draw_avatar(pm: &mut Pixmap, tile: &Tile, mode: AvatarMode, initials: &str) {
    let r = tile.rect;
    let colour = participant_colour(&tile.uid);
    fill_rounded(pm, &r, 10.0, &paint(TILE_BACKGROUND, 255));
    let side = r.w.min(r.h);
    let (cx, cy) = (r.x + r.w / 2.0, r.y + r.h / 2.0);
    let size = if side >= 90.0 {
        TextSize::Large
    } else if side >= 40.0 {
        TextSize::Medium
    } else {
        TextSize::Small
    };
    match mode {
        AvatarMode::Circle => fill_circle(pm, cx, cy, side * 0.28, &paint(colour, 255)),
        AvatarMode::Square => {
            let s = side * 0.56;
            fill_rounded(pm, &Rect::new(cx - s / 2.0, cy - s / 2.0, s, s), s * 0.08, &paint(colour, 255));
        }
        AvatarMode::Fullscreen => fill_rounded(pm, &r, 10.0, &paint(shade(colour, 0.8), 255)),
    }
    if side >= 16.0 {
        text::draw_centred(pm, initials, cx, cy, size, Weight::Bold, WHITE);
    }
}

/// Where things go in one corner of a tile: the next free spot, moving inwards.
struct CornerCursor {
    tile: Rect,
    pad: f32,
    used: [f32; 4],
}

impl CornerCursor {
    fn index(p: Position) -> usize {
        match p {
            Position::TopLeft => 0,
            Position::TopRight => 1,
            Position::BottomLeft => 2,
            Position::BottomRight => 3,
        }
    }

    /// Places a `w` x `h` box in corner `p`, after whatever is already there (items in the
    /// same corner line up horizontally, inwards).
    fn place(&mut self, p: Position, w: f32, h: f32) -> Rect {
        let i = Self::index(p);
        let offset = self.used[i];
        self.used[i] += w + 6.0;
        let t = self.tile;
        let x = match p {
            Position::TopLeft | Position::BottomLeft => t.x + self.pad + offset,
            Position::TopRight | Position::BottomRight => t.x + t.w - self.pad - offset - w,
        };
        let y = match p {
            Position::TopLeft | Position::TopRight => t.y + self.pad,
            Position::BottomLeft | Position::BottomRight => t.y + t.h - self.pad - h,
        };
        Rect::new(x, y, w, h)
    }

    fn is_free(&self, p: Position) -> bool {
        self.used[Self::index(p)] == 0.0
    }
}

fn parse_hex(colour: &str) -> Option<[u8; 3]> {
    let hex = colour.strip_prefix('#')?;
    if hex.len() != 6 {
        return None;
    }
    let byte = |i: usize| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok();
    Some([byte(0)?, byte(2)?, byte(4)?])
}

fn draw_control(pm: &mut Pixmap, id: &str, r: &Rect) {
    fill_rounded(pm, r, 6.0, &paint([0, 0, 0], 150));
    let (x, y, w, h) = (r.x, r.y, r.w, r.h);
    let (cx, cy) = (x + w / 2.0, y + h / 2.0);
    let k = w.min(h) * 0.28;
    match id {
        "full_screen" => {
            for (sx, sy) in [(-1.0, -1.0), (1.0, -1.0), (-1.0, 1.0), (1.0, 1.0)] {
                let corner = (cx + sx * k, cy + sy * k);
                line(pm, corner, (corner.0 - sx * k * 0.6, corner.1), 2.0, WHITE);
                line(pm, corner, (corner.0, corner.1 - sy * k * 0.6), 2.0, WHITE);
            }
        }
        "zoom" => {
            if let Some(path) = PathBuilder::from_circle(cx - k * 0.25, cy - k * 0.25, k * 0.7) {
                let stroke = Stroke { width: 2.0, ..Stroke::default() };
                pm.stroke_path(&path, &paint(WHITE, 255), &stroke, Transform::identity(), None);
            }
            line(pm, (cx + k * 0.25, cy + k * 0.25), (cx + k, cy + k), 2.5, WHITE);
        }
        "user_list" => {
            for dy in [-0.7, 0.0, 0.7] {
                fill_circle(pm, cx - k * 0.8, cy + dy * k, 1.8, &paint(WHITE, 255));
                line(pm, (cx - k * 0.4, cy + dy * k), (cx + k, cy + dy * k), 2.0, WHITE);
            }
        }
        _ => text::draw_centred(pm, "?", cx, cy, TextSize::Small, Weight::Bold, WHITE),
    }
}

fn draw_muted_badge(pm: &mut Pixmap, r: &Rect) {
    let (cx, cy, rad) = (r.x + r.w / 2.0, r.y + r.h / 2.0, r.w.min(r.h) / 2.0);
    fill_circle(pm, cx, cy, rad, &paint(DANGER_RED, 235));
    // A microphone: capsule and stand, crossed out.
    fill_rounded(
        pm,
        &Rect::new(cx - rad * 0.22, cy - rad * 0.55, rad * 0.44, rad * 0.75),
        rad * 0.22,
        &paint(WHITE, 255),
    );
    line(pm, (cx, cy + rad * 0.3), (cx, cy + rad * 0.55), 1.5, WHITE);
    line(pm, (cx - rad * 0.55, cy - rad * 0.55), (cx + rad * 0.55, cy + rad * 0.55), 2.0, WHITE);
}

fn draw_video_off_badge(pm: &mut Pixmap, r: &Rect) {
    let (cx, cy, rad) = (r.x + r.w / 2.0, r.y + r.h / 2.0, r.w.min(r.h) / 2.0);
    fill_circle(pm, cx, cy, rad, &paint([0x55, 0x57, 0x60], 235));
    // A camera body and lens, crossed out.
    fill_rounded(
        pm,
        &Rect::new(cx - rad * 0.55, cy - rad * 0.3, rad * 0.75, rad * 0.6),
        2.0,
        &paint(WHITE, 255),
    );
    if let Some(path) = {
        let mut pb = PathBuilder::new();
        pb.move_to(cx + rad * 0.25, cy);
        pb.line_to(cx + rad * 0.6, cy - rad * 0.3);
        pb.line_to(cx + rad * 0.6, cy + rad * 0.3);
        pb.close();
        pb.finish()
    } {
        pm.fill_path(&path, &paint(WHITE, 255), FillRule::Winding, Transform::identity(), None);
    }
    line(pm, (cx - rad * 0.6, cy - rad * 0.6), (cx + rad * 0.6, cy + rad * 0.6), 2.0, DANGER_RED);
}

fn draw_tile(pm: &mut Pixmap, tile: &Tile) {
    if !(tile.rect.is_finite() && tile.rect.w >= 1.0 && tile.rect.h >= 1.0) {
        return;
    }
    match &tile.content {
        TileContent::Video { aspect_ratio } => draw_video_placeholder(pm, tile, *aspect_ratio),
        TileContent::Avatar { mode, initials, .. } => draw_avatar(pm, tile, *mode, initials),
    }
    let small = tile.rect.h < 60.0 || tile.rect.w < 100.0;
    let mut corners = CornerCursor { tile: tile.rect, pad: if small { 4.0 } else { 8.0 }, used: [0.0; 4] };
    if let Some(label) = &tile.name_label {
        let bg = parse_hex(&label.background_color).unwrap_or([0x33, 0x33, 0x33]);
        let max_w = (tile.rect.w * 0.6).max(0.0);
        let shown = text::fit(&label.text, max_w - 12.0, TextSize::Small, Weight::Regular);
        if !shown.is_empty() && tile.rect.h >= 24.0 {
            let w = text::width(&shown, TextSize::Small, Weight::Regular) as f32 + 12.0;
            let r = corners.place(label.position, w, 22.0);
            fill_rounded(pm, &r, 4.0, &paint(bg, 220));
            text::draw(pm, &shown, r.x + 6.0, r.y + 3.0, TextSize::Small, Weight::Regular, WHITE);
        }
    }
    if tile.rect.h >= 40.0 && tile.rect.w >= 80.0 {
        for control in &tile.controls {
            let r = corners.place(control.position, 28.0, 28.0);
            draw_control(pm, &control.id, &r);
        }
        // Indicators go in the first free corner, so they never cover a label or control.
        let corner = [Position::TopLeft, Position::TopRight, Position::BottomRight, Position::BottomLeft]
            .into_iter()
            .find(|p| corners.is_free(*p))
            .unwrap_or(Position::TopLeft);
        let badge = if small { 18.0 } else { 26.0 };
        if tile.muted {
            let r = corners.place(corner, badge, badge);
            draw_muted_badge(pm, &r);
        }
        if tile.video_off {
            let r = corners.place(corner, badge, badge);
            draw_video_off_badge(pm, &r);
        }
    }
    if tile.active_speaker
        && let Some(path) = rounded(&tile.rect, 10.0)
    {
        let stroke = Stroke { width: 4.0, ..Stroke::default() };
        pm.stroke_path(&path, &paint(SPEAKER_GREEN, 255), &stroke, Transform::identity(), None);
    }
}

fn draw_buttons(pm: &mut Pixmap, bar: &Rect, buttons: &[Button]) {
    if let Some(rect) = sk_rect(bar) {
        pm.fill_rect(rect, &paint(BAR_BACKGROUND, 255), Transform::identity(), None);
    }
    if buttons.is_empty() || bar.w < 1.0 || bar.h < 1.0 {
        return;
    }
    let n = buttons.len() as f32;
    let gap = 10.0_f32.min(bar.w / (4.0 * (n + 1.0)));
    let bw = ((bar.w - gap * (n + 1.0)) / n).clamp(0.0, 128.0);
    let bh = (bar.h - 20.0).clamp(0.0, 44.0).max(bar.h * 0.6);
    let total = n * bw + (n - 1.0) * gap;
    let x0 = bar.x + (bar.w - total) / 2.0;
    let y = bar.y + (bar.h - bh) / 2.0;
    for (i, b) in buttons.iter().enumerate() {
        let r = Rect::new(x0 + i as f32 * (bw + gap), y, bw, bh);
        let (bg, fg) = if b.id == "end_call" {
            (DANGER_RED, WHITE)
        } else if b.toggled {
            ([0xee, 0xee, 0xf0], [0x12, 0x13, 0x17])
        } else {
            ([0x3a, 0x3c, 0x46], WHITE)
        };
        let alpha = if b.enabled { 255 } else { 90 };
        fill_rounded(pm, &r, bh / 2.0, &paint(bg, alpha));
        let label = text::fit(&b.label, bw - 12.0, TextSize::Small, Weight::Regular);
        let fg = if b.enabled { fg } else { shade(fg, 0.55) };
        if bh >= 16.0 {
            text::draw_centred(
                pm,
                &label,
                r.x + bw / 2.0,
                r.y + bh / 2.0,
                TextSize::Small,
                Weight::Regular,
                fg,
            );
        }
    }
}

fn draw_overlay(pm: &mut Pixmap, overlay: &Overlay) {
    match overlay {
        Overlay::RecordingIndicator { rect } => {
            fill_rounded(pm, rect, rect.h / 2.0, &paint([0, 0, 0], 170));
            fill_circle(
                pm,
                rect.x + rect.h / 2.0 + 2.0,
                rect.y + rect.h / 2.0,
                rect.h * 0.22,
                &paint(DANGER_RED, 255),
            );
            text::draw(
                pm,
                &text::fit("REC", rect.w - rect.h - 6.0, TextSize::Small, Weight::Bold),
                rect.x + rect.h + 4.0,
                rect.y + (rect.h - TextSize::Small.height() as f32) / 2.0,
                TextSize::Small,
                Weight::Bold,
                WHITE,
            );
        }
        Overlay::IdleTimeoutPrompt { rect, seconds_left } => {
            fill_rounded(pm, rect, 12.0, &paint([0x20, 0x22, 0x2a], 240));
            if let Some(path) = rounded(rect, 12.0) {
                let stroke = Stroke { width: 2.0, ..Stroke::default() };
                pm.stroke_path(&path, &paint([0xd0, 0xa8, 0x3c], 255), &stroke, Transform::identity(), None);
            }
            let cx = rect.x + rect.w / 2.0;
            let title = text::fit("You are the only one here", rect.w - 20.0, TextSize::Medium, Weight::Bold);
            let detail = text::fit(
                &format!("The call ends in {seconds_left} s"),
                rect.w - 20.0,
                TextSize::Small,
                Weight::Regular,
            );
            text::draw_centred(pm, &title, cx, rect.y + rect.h * 0.38, TextSize::Medium, Weight::Bold, WHITE);
            text::draw_centred(
                pm,
                &detail,
                cx,
                rect.y + rect.h * 0.66,
                TextSize::Small,
                Weight::Regular,
                WHITE,
            );
        }
        Overlay::PipWindow { rect } => {
            if let Some(path) = rounded(rect, 4.0) {
                let stroke = Stroke { width: 3.0, ..Stroke::default() };
                pm.stroke_path(&path, &paint(WHITE, 200), &stroke, Transform::identity(), None);
            }
        }
        // An overlay this build does not know is skipped rather than guessed at.
        _ => {}
    }
}

/// Draws a whole view onto `pm` (which should be the view's size).
pub fn draw_view(pm: &mut Pixmap, view: &View) {
    pm.fill(rgb_color(BACKGROUND));
    let mut tiles: Vec<&Tile> = view.tiles.iter().collect();
    // Stable sort: equal z keeps the layout's order.
    tiles.sort_by_key(|t| t.z);
    for tile in tiles {
        draw_tile(pm, tile);
    }
    if let Some(bar) = &view.button_bar {
        draw_buttons(pm, bar, &view.buttons);
    }
    for overlay in &view.overlays {
        draw_overlay(pm, overlay);
    }
}
