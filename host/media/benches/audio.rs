//! Audio benchmarks: Opus cost per 20 ms frame (criterion), and the local mouth-to-ear
//! latency of the media engine on PipeWire (a bench binary section printing percentiles).
//!
//! Run: `eval "$(scripts/pipewire-up.sh)" && cargo bench -p switchboard-media --bench audio`.
//! `SWITCHBOARD_BENCH_CLICKS=N` sets how many clicks the latency part times (default 40);
//! `SWITCHBOARD_BENCH_CLICKS=0` skips it; `SWITCHBOARD_BENCH_DEPTH=N` uses a fixed jitter
//! buffer (prefill 1, N frames deep) instead of the adaptive one;
//! `SWITCHBOARD_JITTER_HALFLIFE_MS=N` gives the adaptive one another half-life of its
//! jitter estimate (`Mixer::adaptive_with_half_life`); `SWITCHBOARD_AUDIO_PERIOD=N`
//! asks the devices for N-frame periods instead of the engine's default (what
//! `[media] audio_period_frames` sets in a participant's config);
//! `SWITCHBOARD_BENCH_SINK=NAME` plays into null sink NAME (default `spk_a`; create it with
//! `scripts/pipewire-up.sh NAME`) so other test runs on the same PipeWire stay out of it.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use criterion::Criterion;
use switchboard_config::{AudioInput, AudioOutput};
use switchboard_media::audio::analysis::ClickDetector;
use switchboard_media::audio::{self as media, AudioFormat, JitterConfig, Mixer, OpusDecoder, OpusEncoder};

/// A voice-like test signal: two partials with a slow vibrato and some noise, so Opus
/// works about as hard as on speech (a pure tone is cheaper to encode).
fn voice_like(frames: usize) -> Vec<Vec<i16>> {
    let mut seed = 0x2545_f491_u32;
    (0..frames)
        .map(|f| {
            (0..AudioFormat::FRAME_SAMPLES)
                .map(|i| {
                    let t = (f * AudioFormat::FRAME_SAMPLES + i) as f32 / AudioFormat::SAMPLE_RATE as f32;
                    let f0 = 180.0 + 20.0 * (t * 5.0).sin();
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    let noise = (seed as f32 / u32::MAX as f32 - 0.5) * 0.05;
                    let v = 0.3 * (std::f32::consts::TAU * f0 * t).sin()
                        + 0.15 * (std::f32::consts::TAU * 3.0 * f0 * t).sin()
                        + noise;
                    (v * f32::from(i16::MAX)) as i16
                })
                .collect()
        })
        .collect()
}

fn codec(c: &mut Criterion) {
    let frames = voice_like(50);
    let mut enc = OpusEncoder::new().expect("encoder");
    let mut dec = OpusDecoder::new().expect("decoder");
    let mut i = 0;
    c.bench_function("opus encode 20 ms mono", |b| {
        b.iter(|| {
            i = (i + 1) % frames.len();
            black_box(enc.encode(&frames[i]).expect("encode"))
        })
    });
    let packets: Vec<Vec<u8>> = frames.iter().map(|f| enc.encode(f).expect("encode")).collect();
    c.bench_function("opus decode 20 ms mono", |b| {
        b.iter(|| {
            i = (i + 1) % packets.len();
            black_box(dec.decode(&packets[i]).expect("decode"))
        })
    });
    c.bench_function("opus encode+decode 20 ms mono", |b| {
        b.iter(|| {
            i = (i + 1) % frames.len();
            let p = enc.encode(&frames[i]).expect("encode");
            black_box(dec.decode(&p).expect("decode"))
        })
    });
    let mixer = Mixer::new();
    c.bench_function("mix 8 remotes, 20 ms", |b| {
        b.iter(|| {
            for uid in ["a", "b", "c", "d", "e", "f", "g", "h"] {
                mixer.push(uid, frames[0].clone());
            }
            black_box(mixer.mix_next())
        })
    });
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let idx = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[idx]
}

/// Click source -> Opus encode -> decode -> mixer -> cpal sink `spk_a` -> PipeWire ->
/// cpal capture of `spk_a_monitor` -> click onset. Mouth time: when the click's onset
/// sample was due at the source (a synthetic source delivers a frame when its last sample
/// is due, as a microphone would). Two ear times, each from the same click detector:
/// - **at the sink**: when the onset sample is due at the device's output, from cpal's
///   playback timestamp for the buffer that carries it (a [`media::PlayoutProbe`]);
/// - **at the monitor**: when that sample reached this process through a capture of the
///   sink's monitor (frame delivery time minus the samples after it), which adds the
///   capture path no listener has.
fn mouth_to_ear(clicks: usize) {
    // A null sink of its own keeps other test runs on the shared PipeWire out of the monitor.
    let sink_name = std::env::var("SWITCHBOARD_BENCH_SINK").unwrap_or_else(|_| "spk_a".to_owned());
    let monitor_name = format!("{sink_name}_monitor");
    let hint = "run `eval \"$(scripts/pipewire-up.sh)\"` first";
    let outputs = media::output_device_names().expect("listing devices");
    assert!(outputs.contains(&sink_name), "no ALSA device {sink_name}: {hint}");

    let depth = std::env::var("SWITCHBOARD_BENCH_DEPTH").ok().and_then(|v| v.parse().ok());
    let half_life = std::env::var("SWITCHBOARD_JITTER_HALFLIFE_MS").ok().and_then(|v| v.parse().ok());
    let mixer = match (depth, half_life) {
        (Some(max_depth), _) => Mixer::with_config(JitterConfig { prefill: 1, max_depth }),
        (None, Some(ms)) => Mixer::adaptive_with_half_life(Duration::from_millis(ms)),
        (None, None) => Mixer::new(),
    };
    let mut devices = media::DeviceOptions::default();
    if let Some(period) = std::env::var("SWITCHBOARD_AUDIO_PERIOD").ok().and_then(|v| v.parse().ok()) {
        devices.period_frames = period;
    }
    let mut monitor = media::start_source_with(&AudioInput::Device(monitor_name.clone()), devices)
        .unwrap_or_else(|e| panic!("{e}: {hint}"));
    let mut probe = media::probe_playout(&sink_name);
    let sink = media::start_sink_with(&AudioOutput::Device(sink_name.clone()), mixer.clone(), devices)
        .unwrap_or_else(|e| panic!("{e}: {hint}"));
    // Let the devices settle before the first click.
    thread::sleep(Duration::from_millis(300));

    let mouths: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let talker = {
        let (mouths, stop, mixer) = (Arc::clone(&mouths), Arc::clone(&stop), mixer.clone());
        thread::spawn(move || {
            let mut source = media::click_source(Duration::from_millis(300));
            let mut enc = OpusEncoder::new().expect("encoder");
            let mut dec = OpusDecoder::new().expect("decoder");
            let mut detect = ClickDetector::new(0.1, 2400);
            while !stop.load(Ordering::Acquire) {
                let Some(frame) = source.frames().blocking_recv() else { break };
                // The same detector on both ends, so the threshold crossing is timed alike.
                for idx in detect.feed(&frame.samples) {
                    let offset = Duration::from_secs_f64(idx as f64 / f64::from(AudioFormat::SAMPLE_RATE));
                    let mouth = frame.captured_at - AudioFormat::FRAME_DURATION + offset;
                    mouths.lock().expect("mouths").push(mouth);
                }
                let packet = enc.encode(&frame.samples).expect("encode");
                mixer.push("remote", dec.decode(&packet).expect("decode"));
            }
        })
    };

    let latency = |ear: Instant| {
        let mouth = mouths.lock().expect("mouths").iter().rev().find(|&&m| m <= ear).copied();
        mouth.map(|mouth| (ear - mouth).as_secs_f64() * 1000.0)
    };
    let (mut at_monitor, mut at_sink) = (Vec::new(), Vec::new());
    let (mut detect_monitor, mut detect_sink) =
        (ClickDetector::new(0.1, 2400), ClickDetector::new(0.1, 2400));
    let deadline = Instant::now() + Duration::from_millis(300 * clicks as u64 + 2000);
    while at_monitor.len() < clicks && Instant::now() < deadline {
        let Some(frame) = monitor.frames().blocking_recv() else { break };
        for idx in detect_monitor.feed(&frame.samples) {
            let after = (AudioFormat::FRAME_SAMPLES - 1 - idx) as f64 / f64::from(AudioFormat::SAMPLE_RATE);
            at_monitor.extend(latency(frame.captured_at - Duration::from_secs_f64(after)));
        }
        while let Some(chunk) = probe.try_next() {
            for idx in detect_sink.feed(chunk.samples()) {
                at_sink.extend(latency(chunk.due_at(idx)));
            }
        }
    }
    stop.store(true, Ordering::Release);
    talker.join().expect("talker");
    let stats = sink.stats();
    let remote = mixer.stats("remote");
    drop(sink);

    assert!(!at_monitor.is_empty(), "no click came back from the monitor");
    assert!(!at_sink.is_empty(), "the playout probe saw no click");
    println!(
        "mouth-to-ear (local: click source -> opus -> mixer -> cpal {sink_name}), device period {}, \
         jitter buffer {}",
        devices.period_frames,
        depth.map_or("adaptive".to_owned(), |d| format!("fixed, depth {d}"))
    );
    report("  ear at the sink (cpal playback time)", &mut at_sink);
    report("  ear at the monitor (+ capture path)", &mut at_monitor);
    println!(
        "  sink {stats:?}; jitter buffer {remote:?}; monitor xruns {}, device delay {:?}",
        monitor.xruns(),
        monitor.device_delay()
    );
}

fn report(what: &str, ms: &mut [f64]) {
    ms.sort_by(f64::total_cmp);
    println!(
        "{what:<40} {} clicks: p50 {:.1} ms, p95 {:.1} ms, min {:.1} ms, max {:.1} ms",
        ms.len(),
        percentile(ms, 0.5),
        percentile(ms, 0.95),
        ms[0],
        ms[ms.len() - 1],
    );
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    codec(&mut c);
    c.final_summary();
    let clicks = std::env::var("SWITCHBOARD_BENCH_CLICKS").ok().and_then(|v| v.parse().ok()).unwrap_or(40);
    if clicks > 0 {
        mouth_to_ear(clicks);
    }
}
