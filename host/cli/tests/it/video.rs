//! The video pipeline end to end without a network: pattern cameras paced in real time,
//! VP8 and H.264 round trips, keyframes on demand, camera switching and the checks that
//! read a pattern back from a decoded frame.

use std::time::Duration;

use switchboard_config::VideoInput;
use switchboard_core::ErrorCode;
use switchboard_media::video::{
    Camera, CameraSet, EncoderSettings, I420Frame, KeyframeRequest, PatternKind, SourceSettings, VideoCodec,
    VideoDecoder, VideoEncoder, VideoError, VideoSource, draw_pattern, read_pattern,
};
use tokio::sync::mpsc::Receiver;

const CODECS: [VideoCodec; 2] = [VideoCodec::Vp8, VideoCodec::H264];

fn settings(name: &str) -> SourceSettings {
    SourceSettings { width: 320, height: 240, fps: 30, name: name.to_owned() }
}

async fn next_frame(frames: &mut Receiver<I420Frame>) -> I420Frame {
    tokio::time::timeout(Duration::from_secs(5), frames.recv())
        .await
        .expect("a frame within 5 s")
        .expect("the source is running")
}

/// Encodes and decodes `frame`, returning the decoded frame and whether it was a keyframe.
fn round_trip(
    enc: &mut VideoEncoder,
    dec: &mut VideoDecoder,
    frame: &I420Frame,
    force: bool,
) -> (I420Frame, bool) {
    let packets = enc.encode(frame, force).expect("encode");
    assert_eq!(packets.len(), 1, "one encoded frame per raw frame: {packets:?}");
    let packet = &packets[0];
    assert_eq!(packet.timestamp_us, frame.timestamp_us);
    assert_eq!(packet.codec, enc.codec());
    let decoded = dec.decode_frame(packet).expect("decode").expect("a picture per frame");
    assert_eq!((decoded.width(), decoded.height()), (frame.width(), frame.height()));
    (decoded, packet.keyframe)
}

/// Source -> encode -> decode for `count` frames; returns what `read_pattern` saw.
async fn pipeline(
    codec: VideoCodec,
    frames: &mut Receiver<I420Frame>,
    enc: &mut VideoEncoder,
    dec: &mut VideoDecoder,
    count: usize,
) -> Vec<(Option<PatternKind>, Option<u16>)> {
    let mut seen = Vec::new();
    for _ in 0..count {
        let frame = next_frame(frames).await;
        let (decoded, _) = round_trip(enc, dec, &frame, false);
        let reading = read_pattern(&decoded);
        assert!(reading.counter.is_some(), "{codec}: counter unreadable after the codec: {reading:?}");
        seen.push((reading.kind, reading.counter));
    }
    seen
}

fn assert_increasing(codec: VideoCodec, seen: &[(Option<PatternKind>, Option<u16>)]) {
    for pair in seen.windows(2) {
        assert!(pair[1].1 > pair[0].1, "{codec}: counter did not increase: {seen:?}");
    }
}

async fn front_then_back(codec: VideoCodec) {
    let (source, mut frames) = VideoSource::start(
        CameraSet::from_input(&VideoInput::Pattern("front".into())).expect("patterns"),
        settings("alice"),
    )
    .expect("start the front camera");
    let mut enc = VideoEncoder::new(codec, EncoderSettings::for_size(320, 240, 30)).expect("encoder");
    let mut dec = VideoDecoder::new(codec).expect("decoder");

    let seen = pipeline(codec, &mut frames, &mut enc, &mut dec, 10).await;
    assert!(seen.iter().all(|(kind, _)| *kind == Some(PatternKind::Front)), "{codec}: {seen:?}");
    assert_increasing(codec, &seen);

    assert_eq!(source.switch_camera().expect("two patterns"), Camera::Pattern(PatternKind::Back));
    assert_eq!(source.current_camera(), Camera::Pattern(PatternKind::Back));
    // Up to two frames of the old camera may still sit in the channel.
    let seen = pipeline(codec, &mut frames, &mut enc, &mut dec, 12).await;
    assert_increasing(codec, &seen);
    assert!(seen[3..].iter().all(|(kind, _)| *kind == Some(PatternKind::Back)), "{codec}: {seen:?}");

    assert_eq!(source.switch_camera().expect("two patterns"), Camera::Pattern(PatternKind::Front));
    let seen = pipeline(codec, &mut frames, &mut enc, &mut dec, 6).await;
    assert_eq!(seen.last().map(|s| s.0), Some(Some(PatternKind::Front)), "{codec}: {seen:?}");
    source.stop();
}

#[tokio::test]
async fn vp8_round_trip_shows_the_pattern_the_counter_and_the_switched_camera() {
    front_then_back(VideoCodec::Vp8).await;
}

#[tokio::test]
async fn h264_round_trip_shows_the_pattern_the_counter_and_the_switched_camera() {
    front_then_back(VideoCodec::H264).await;
}

#[test]
fn decoded_bars_keep_their_colours_within_tolerance() {
    for codec in CODECS {
        let mut enc = VideoEncoder::new(codec, EncoderSettings::for_size(640, 480, 30)).expect("encoder");
        let mut dec = VideoDecoder::new(codec).expect("decoder");
        for (i, kind) in [PatternKind::Front, PatternKind::Back].into_iter().cycle().take(6).enumerate() {
            let frame = draw_pattern(kind, 640, 480, "bob", i as u64, i as u64 * 33_333).expect("draw");
            let (decoded, _) = round_trip(&mut enc, &mut dec, &frame, false);
            let reading = read_pattern(&decoded);
            assert_eq!(reading.kind, Some(kind), "{codec} frame {i}: {reading:?}");
            assert_eq!(reading.counter, Some(i as u16), "{codec} frame {i}: {reading:?}");
            assert!(decoded.psnr_y(&frame).expect("same size") > 30.0, "{codec} frame {i}: poor quality");
            // The renderer's view: the sixth front bar is red.
            if kind == PatternKind::Front {
                let rgba = decoded.to_rgba();
                let (x, y) = (640 * 11 / 16, 240);
                let px = &rgba[(y * 640 + x) * 4..(y * 640 + x) * 4 + 4];
                assert!(px[0] > 190 && px[1] < 60 && px[2] < 60 && px[3] == 255, "{codec}: not red: {px:?}");
            }
        }
    }
}

#[test]
fn a_forced_keyframe_yields_a_keyframe_packet() {
    for codec in CODECS {
        let mut enc = VideoEncoder::new(codec, EncoderSettings::for_size(320, 240, 30)).expect("encoder");
        let mut dec = VideoDecoder::new(codec).expect("decoder");
        let mut keyframes = Vec::new();
        for i in 0..12u64 {
            let frame = draw_pattern(PatternKind::Front, 320, 240, "carol", i, i * 33_333).expect("draw");
            let (_, keyframe) = round_trip(&mut enc, &mut dec, &frame, i == 8);
            keyframes.push(keyframe);
        }
        let expected: Vec<bool> = (0..12).map(|i| i == 0 || i == 8).collect();
        assert_eq!(keyframes, expected, "{codec}: keyframes only first and on request");
    }
}

#[test]
fn keyframe_requests_collapse_and_clear() {
    let rtc_side = KeyframeRequest::new();
    let encoder_side = rtc_side.clone();
    assert!(!encoder_side.take());
    rtc_side.request();
    rtc_side.request();
    assert!(encoder_side.take(), "a PLI reaches the encoder");
    assert!(!encoder_side.take(), "two PLIs before a frame make one keyframe");
}

#[test]
fn keyframes_come_periodically_without_requests() {
    for codec in CODECS {
        let settings = EncoderSettings { keyframe_interval: 10, ..EncoderSettings::for_size(320, 240, 30) };
        let mut enc = VideoEncoder::new(codec, settings).expect("encoder");
        let mut dec = VideoDecoder::new(codec).expect("decoder");
        let mut keyframes = Vec::new();
        for i in 0..31u64 {
            let frame = draw_pattern(PatternKind::Back, 320, 240, "dave", i, i * 33_333).expect("draw");
            if round_trip(&mut enc, &mut dec, &frame, false).1 {
                keyframes.push(i);
            }
        }
        assert!(keyframes.len() >= 3, "{codec}: keyframes at {keyframes:?}, expected one per 10 frames");
        for pair in keyframes.windows(2) {
            assert!(pair[1] - pair[0] <= 10, "{codec}: keyframes at {keyframes:?}");
        }
    }
}

#[test]
fn a_late_joiner_decodes_from_the_next_keyframe() {
    for codec in CODECS {
        let mut enc = VideoEncoder::new(codec, EncoderSettings::for_size(320, 240, 30)).expect("encoder");
        let packets: Vec<_> = (0..6u64)
            .map(|i| {
                let frame = draw_pattern(PatternKind::Front, 320, 240, "erin", i, i * 33_333).expect("draw");
                enc.encode(&frame, i == 4).expect("encode").remove(0)
            })
            .collect();
        // A receiver that starts at the forced keyframe (frame 4) decodes it and what follows.
        let mut dec = VideoDecoder::new(codec).expect("decoder");
        for (i, packet) in packets.iter().enumerate().skip(4) {
            let decoded = dec.decode_frame(packet).expect("decode").expect("picture");
            assert_eq!(read_pattern(&decoded).counter, Some(i as u16), "{codec}");
        }
    }
}

#[test]
fn garbage_is_a_decode_error_not_a_crash() {
    for codec in CODECS {
        let mut dec = VideoDecoder::new(codec).expect("decoder");
        let garbage: Vec<u8> = (0..500u32).map(|i| (i * 7919 % 251) as u8).collect();
        // Either an error or no picture; never a picture made of noise, never a panic.
        if let Ok(Some(frame)) = dec.decode(&garbage, 0) {
            assert_eq!(read_pattern(&frame).counter, None, "{codec}");
        }
        assert!(matches!(dec.decode(&[], 0), Ok(None)), "{codec}: empty input");
    }
}

#[test]
fn a_frame_of_another_size_reopens_the_encoder_with_a_keyframe() {
    for codec in CODECS {
        let mut enc = VideoEncoder::new(codec, EncoderSettings::for_size(640, 480, 30)).expect("encoder");
        let mut dec = VideoDecoder::new(codec).expect("decoder");
        let big = draw_pattern(PatternKind::Front, 640, 480, "fay", 0, 0).expect("draw");
        round_trip(&mut enc, &mut dec, &big, false);
        let small = draw_pattern(PatternKind::Back, 320, 240, "fay", 1, 33_333).expect("draw");
        let (decoded, keyframe) = round_trip(&mut enc, &mut dec, &small, false);
        assert!(keyframe, "{codec}: a new size starts with a keyframe");
        assert_eq!(enc.settings().width, 320);
        assert_eq!(read_pattern(&decoded).kind, Some(PatternKind::Back), "{codec}");
    }
}

#[tokio::test]
async fn a_30_fps_source_delivers_about_30_frames_a_second_with_steady_timestamps() {
    let (source, mut frames) =
        VideoSource::start(CameraSet::patterns(PatternKind::Front), settings("gus")).expect("start");
    let started = tokio::time::Instant::now();
    let mut received = Vec::new();
    while started.elapsed() < Duration::from_secs(1) {
        received.push(next_frame(&mut frames).await);
    }
    // A behaviour check, not a benchmark: a broken pacer gives hundreds of frames or a few.
    assert!((20..=40).contains(&received.len()), "{} frames in 1 s", received.len());
    for pair in received.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        let ticks = read_pattern(b).counter.expect("counter") - read_pattern(a).counter.expect("counter");
        assert!(ticks >= 1, "counter moves forward");
        assert_eq!(b.timestamp_us - a.timestamp_us, u64::from(ticks) * 33_333, "timestamps follow the ticks");
    }
    let stats = source.stats();
    assert!(stats.frames_sent >= received.len() as u64);
    source.stop();
}

#[tokio::test]
async fn a_slow_consumer_makes_the_source_drop_frames_instead_of_queueing() {
    let (source, mut frames) =
        VideoSource::start(CameraSet::patterns(PatternKind::Back), settings("hal")).expect("start");
    let first = read_pattern(&next_frame(&mut frames).await).counter.expect("counter");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(source.stats().frames_dropped >= 5, "{:?}", source.stats());
    // At most the channel's two frames are stale; the third is fresh.
    let mut counters = Vec::new();
    for _ in 0..3 {
        counters.push(read_pattern(&next_frame(&mut frames).await).counter.expect("counter"));
    }
    assert!(counters[2] - first >= 10, "stale frames after a stall: first {first}, then {counters:?}");
    source.stop();
}

#[tokio::test]
async fn pausing_stops_frames_and_resuming_brings_them_back() {
    let (source, mut frames) =
        VideoSource::start(CameraSet::patterns(PatternKind::Front), settings("ivy")).expect("start");
    next_frame(&mut frames).await;
    source.set_paused(true);
    assert!(source.is_paused());
    // Drain what was produced before the pause took effect.
    tokio::time::sleep(Duration::from_millis(100)).await;
    while frames.try_recv().is_ok() {}
    let sent = source.stats().frames_sent;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(frames.try_recv().is_err(), "no frames while paused");
    assert_eq!(source.stats().frames_sent, sent);
    source.set_paused(false);
    next_frame(&mut frames).await;
    source.stop();
}

#[tokio::test]
async fn stopping_the_source_closes_the_channel() {
    let (source, mut frames) =
        VideoSource::start(CameraSet::patterns(PatternKind::Front), settings("jo")).expect("start");
    next_frame(&mut frames).await;
    source.stop();
    while frames.recv().await.is_some() {}
}

#[test]
fn switching_with_one_camera_is_an_error() {
    let mut one = CameraSet::from_cameras(vec![Camera::Pattern(PatternKind::Front)]).expect("one camera");
    let err = one.switch().expect_err("nothing to switch to");
    assert!(matches!(err, VideoError::OnlyOneCamera { .. }), "{err}");
    assert_eq!(err.code(), ErrorCode::InvalidState);

    let (source, _frames) = VideoSource::start(one, settings("kim")).expect("start");
    assert!(matches!(source.switch_camera(), Err(VideoError::OnlyOneCamera { .. })));
    assert_eq!(source.current_camera(), Camera::Pattern(PatternKind::Front));
}

#[test]
fn the_back_pattern_config_starts_on_the_back_camera() {
    let set = CameraSet::from_input(&VideoInput::Pattern("back".into())).expect("patterns");
    assert_eq!(set.current(), &Camera::Pattern(PatternKind::Back));
    assert_eq!(set.len(), 2);
}

#[cfg(not(feature = "v4l2"))]
#[test]
fn real_cameras_without_the_v4l2_feature_are_device_missing_never_a_pattern() {
    for input in [VideoInput::Default, VideoInput::Device("/dev/video0".into())] {
        let err = CameraSet::from_input(&input).expect_err("no camera support in this build");
        assert!(matches!(err, VideoError::DeviceMissing { .. }), "{err}");
        assert_eq!(err.code(), ErrorCode::DeviceMissing);
        assert!(err.to_string().contains("v4l2"), "says how to get cameras: {err}");
    }
}

#[test]
fn sizes_a_pattern_cannot_carry_fail_at_start() {
    let tiny = SourceSettings { width: 16, height: 16, fps: 30, name: "x".into() };
    let err = VideoSource::start(CameraSet::patterns(PatternKind::Front), tiny).expect_err("too small");
    assert!(matches!(err, VideoError::InvalidSize { .. }), "{err}");
    let still = SourceSettings { fps: 0, ..settings("x") };
    assert!(VideoSource::start(CameraSet::patterns(PatternKind::Front), still).is_err());
}
