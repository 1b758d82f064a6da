//! Encode and decode time per frame for VP8 and H.264 at 320x240, 640x480 and 1280x720,
//! plus (printed once per case) bytes per frame and luma PSNR at the default bitrate: the
//! measurements behind the default codec in docs/architecture-video.md.
//!
//! Two contents: `pattern` is what the synthetic cameras send (static bars, a changing
//! counter strip and label); `motion` adds a textured square moving 6 px a frame across
//! the bars, closer to a camera's work for the encoder.
//!
//! Run: `cargo bench -p switchboard-media --bench video`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use switchboard_media::video::{
    EncodedFrame, EncoderSettings, I420Frame, PatternKind, VideoCodec, VideoDecoder, VideoEncoder,
    draw_pattern,
};

const SIZES: [(u32, u32); 3] = [(320, 240), (640, 480), (1280, 720)];
const CODECS: [VideoCodec; 2] = [VideoCodec::Vp8, VideoCodec::H264];
const FRAMES: u64 = 90;
const FPS: u32 = 30;

#[derive(Clone, Copy)]
enum Content {
    Pattern,
    Motion,
}

impl Content {
    fn name(self) -> &'static str {
        match self {
            Self::Pattern => "pattern",
            Self::Motion => "motion",
        }
    }
}

fn frames(content: Content, width: u32, height: u32) -> Vec<I420Frame> {
    (0..FRAMES)
        .map(|i| {
            let mut frame = draw_pattern(PatternKind::Front, width, height, "bench", i, i * 33_333)
                .expect("bench sizes are big enough for the pattern");
            if let Content::Motion = content {
                draw_moving_square(&mut frame, i);
            }
            frame
        })
        .collect()
}

/// A square of pseudo-random texture a third of the height wide, moving right 6 px a frame.
fn draw_moving_square(frame: &mut I420Frame, i: u64) {
    let (w, h) = (frame.width() as usize, frame.height() as usize);
    let side = h / 3;
    let x0 = (i as usize * 6) % (w - side);
    let y0 = h / 3;
    let (y, _, _) = frame.planes_mut();
    for row in 0..side {
        for col in 0..side {
            // The texture moves with the square, so it is motion, not noise.
            let t = (row * 31 + col * 17 + (row * col) % 13) as u8;
            y[(y0 + row) * w + x0 + col] = 40u8.wrapping_add(t.wrapping_mul(3) % 180);
        }
    }
}

fn encode_all(codec: VideoCodec, input: &[I420Frame]) -> Vec<EncodedFrame> {
    let (w, h) = (input[0].width(), input[0].height());
    let mut enc = VideoEncoder::new(codec, EncoderSettings::for_size(w, h, FPS)).expect("encoder");
    input.iter().flat_map(|f| enc.encode(f, false).expect("encode")).collect()
}

/// Prints bytes per frame, bitrate and mean luma PSNR for one case: the size/quality side
/// of the comparison (criterion measures the time side).
fn report_quality(codec: VideoCodec, content: Content, input: &[I420Frame], packets: &[EncodedFrame]) {
    let mut dec = VideoDecoder::new(codec).expect("decoder");
    let mut psnr = Vec::new();
    for packet in packets {
        // Match by timestamp: a skipped frame (H.264 rate control) has no packet.
        let frame = input.iter().find(|f| f.timestamp_us == packet.timestamp_us).expect("input frame");
        if let Some(decoded) = dec.decode_frame(packet).expect("decode") {
            psnr.push(decoded.psnr_y(frame).expect("same size").min(99.0));
        }
    }
    let bytes: usize = packets.iter().map(|p| p.data.len()).sum();
    let per_frame = bytes as f64 / packets.len().max(1) as f64;
    let kbps = per_frame * 8.0 * f64::from(FPS) / 1000.0;
    let mean_psnr = psnr.iter().sum::<f64>() / psnr.len().max(1) as f64;
    let target = EncoderSettings::for_size(input[0].width(), input[0].height(), FPS).bitrate_bps / 1000;
    eprintln!(
        "quality {codec} {} {}x{}: {} of {FRAMES} frames coded, {per_frame:.0} B/frame = {kbps:.0} kbit/s (target {target}), \
         PSNR-Y {mean_psnr:.1} dB",
        content.name(),
        input[0].width(),
        input[0].height(),
        packets.len(),
    );
}

fn bench(c: &mut Criterion) {
    for content in [Content::Pattern, Content::Motion] {
        let mut group = c.benchmark_group(format!("video/{}", content.name()));
        group
            .sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2));
        for (w, h) in SIZES {
            let input = frames(content, w, h);
            for codec in CODECS {
                let packets = encode_all(codec, &input);
                report_quality(codec, content, &input, &packets);
                let size = format!("{w}x{h}");

                group.bench_with_input(
                    BenchmarkId::new(format!("{codec}/encode"), &size),
                    &input,
                    |b, input| {
                        let mut enc =
                            VideoEncoder::new(codec, EncoderSettings::for_size(w, h, FPS)).expect("encoder");
                        let mut i = 0u64;
                        b.iter(|| {
                            // Timestamps keep moving so rate control sees real time passing.
                            let mut frame = input[(i % FRAMES) as usize].clone();
                            frame.timestamp_us = i * 33_333;
                            i += 1;
                            black_box(enc.encode(&frame, false).expect("encode"))
                        });
                    },
                );

                group.bench_with_input(
                    BenchmarkId::new(format!("{codec}/decode"), &size),
                    &packets,
                    |b, packets| {
                        let mut dec = VideoDecoder::new(codec).expect("decoder");
                        let mut i = 0usize;
                        b.iter(|| {
                            // The sequence starts with a keyframe, so wrapping around is valid.
                            let packet = &packets[i % packets.len()];
                            i += 1;
                            black_box(dec.decode_frame(packet).expect("decode"))
                        });
                    },
                );
            }
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
