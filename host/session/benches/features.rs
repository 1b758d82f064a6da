//! Feature plugin benchmarks (a bench binary printing figures):
//! 1. CPU cost of recording one participant's audio and video: the real `recording` plugin
//!    behind the bus, fed real Opus packets (50 a second) and real VP8 frames of the
//!    pattern camera (640x480, 30 a second, the session's encoder settings) through the
//!    media tap at the real rate, for `SWITCHBOARD_BENCH_SECONDS` (default 10) with
//!    recording on, then as long with it off; the difference in process CPU time is the
//!    cost of recording.
//! 2. From `set_audio_mode` to sound on the new device: the `audio-routing` plugin's part
//!    (the bus command, which lists devices and answers `route_audio_output`) and the
//!    sink's part (moving playback to the other PipeWire null sink until the tone is heard
//!    on that sink's monitor), over several moves back and forth.
//!
//! Run: `cargo build --release -p recording -p audio-routing && eval "$(scripts/pipewire-up.sh)"
//! && cargo bench -p switchboard-session --bench features`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use switchboard_config::{AudioInput, AudioOutput};
use switchboard_core::abi::{codec, media_kind};
use switchboard_core::{AudioModeKind, Command};
use switchboard_media::audio::analysis::rms;
use switchboard_media::audio::{self as media, AudioFormat, Mixer, OpusEncoder};
use switchboard_media::video::{self, EncoderSettings, PatternKind, VideoCodec, VideoEncoder};
use switchboard_runtime::bus::{Bus, BusOptions, MediaTapFrame};
use switchboard_runtime::loader::{self, PluginSearch, PluginSpec};

/// The recorded camera: what a session sends by default.
const VIDEO_SIZE: (u32, u32) = (640, 480);
const VIDEO_FPS: u32 = 30;

fn cpu_time() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a rusage into the pointer it is given, which is valid.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn spec(name: &str, settings: serde_json::Value) -> PluginSpec {
    let path = PluginSearch::new(&[]).find(name).unwrap_or_else(|e| {
        eprintln!("{e}\nbuild the plugins first: cargo build --release -p recording -p audio-routing");
        std::process::exit(2);
    });
    PluginSpec::new(loader::load(&path).expect("loads the plugin"), settings)
}

/// Opus packets of a voice-like signal, as the session's encoder makes them.
fn packets() -> Vec<Vec<u8>> {
    let mut enc = OpusEncoder::new().expect("encoder");
    (0..50)
        .map(|f| {
            let frame: Vec<i16> = (0..AudioFormat::FRAME_SAMPLES)
                .map(|i| {
                    let t = (f * AudioFormat::FRAME_SAMPLES + i) as f32 / AudioFormat::SAMPLE_RATE as f32;
                    let v = 0.3 * (std::f32::consts::TAU * 180.0 * t).sin()
                        + 0.15 * (std::f32::consts::TAU * 540.0 * t).sin();
                    (v * f32::from(i16::MAX)) as i16
                })
                .collect();
            enc.encode(&frame).expect("encode")
        })
        .collect()
}

/// Two seconds of the moving pattern camera as VP8 frames (a keyframe first), encoded
/// ahead so the encoder's cost stays out of the measurement.
fn video_frames() -> Vec<(bool, Vec<u8>)> {
    let (w, h) = VIDEO_SIZE;
    let mut encoder =
        VideoEncoder::new(VideoCodec::Vp8, EncoderSettings::for_size(w, h, VIDEO_FPS)).expect("VP8 encoder");
    let mut out = Vec::new();
    for n in 0..u64::from(VIDEO_FPS) * 2 {
        let frame =
            video::draw_pattern(PatternKind::Front, w, h, "alice", n, n * 1_000_000 / u64::from(VIDEO_FPS))
                .expect("pattern");
        for packet in encoder.encode(&frame, n == 0).expect("encode") {
            out.push((packet.keyframe, packet.data));
        }
    }
    out
}

/// Taps `seconds` of one participant's audio (every 20 ms) and video (every 1/30 s) at the
/// real rate; returns the CPU time used.
async fn tap_for(
    bus: &Bus,
    packets: &[Vec<u8>],
    frames: &[(bool, Vec<u8>)],
    seconds: u64,
    epoch: Instant,
) -> Duration {
    let start_cpu = cpu_time();
    let start = Instant::now();
    let (mut audio, mut video) = (0u64, 0u64);
    let end = seconds * 1_000_000;
    loop {
        let audio_at = audio * 20_000;
        let video_at = video * 1_000_000 / u64::from(VIDEO_FPS);
        let next_us = audio_at.min(video_at);
        if next_us >= end {
            break;
        }
        if let Some(wait) = (start + Duration::from_micros(next_us)).checked_duration_since(Instant::now()) {
            tokio::time::sleep(wait).await;
        }
        let timestamp_us = epoch.elapsed().as_micros() as u64;
        if audio_at <= video_at {
            bus.media(Arc::new(MediaTapFrame {
                kind: media_kind::AUDIO,
                codec: codec::OPUS,
                keyframe: false,
                timestamp_us,
                participant: "alice".into(),
                track: "audio".into(),
                data: packets[audio as usize % packets.len()].clone(),
            }));
            audio += 1;
        } else {
            let (keyframe, data) = &frames[video as usize % frames.len()];
            bus.media(Arc::new(MediaTapFrame {
                kind: media_kind::VIDEO,
                codec: codec::VP8,
                keyframe: *keyframe,
                timestamp_us,
                participant: "alice".into(),
                track: "video".into(),
                data: data.clone(),
            }));
            video += 1;
        }
    }

    bus.flush_plugin("recording").await.expect("flush");
    cpu_time() - start_cpu
}

async fn recording_cpu(seconds: u64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let bus = Bus::start(
        vec![spec("recording", serde_json::json!({ "folder": dir.path() }))],
        BusOptions::default(),
    )
    .expect("bus");
    let packets = packets();
    let frames = video_frames();
    let mean = packets.iter().map(Vec::len).sum::<usize>() / packets.len();
    let video_kbps = frames.iter().map(|(_, f)| f.len()).sum::<usize>() * 8 / 1000 / 2;
    let epoch = Instant::now();
    bus.command(Command::StartRecording).await.expect("recording starts");
    let on = tap_for(&bus, &packets, &frames, seconds, epoch).await;
    bus.command(Command::StopRecording).await.expect("recording stops");
    let off = tap_for(&bus, &packets, &frames, seconds, epoch).await;
    let share = |cpu: Duration| cpu.as_secs_f64() / seconds as f64 * 100.0;
    let (w, h) = VIDEO_SIZE;
    let per_second = 50 + u64::from(VIDEO_FPS);
    println!(
        "recording one participant ({mean} B Opus packets 50/s + VP8 {w}x{h}@{VIDEO_FPS} {video_kbps} kbit/s, \
         {seconds} s): process CPU {:.3}% of a core with recording, {:.3}% without; recording costs {:.3}% of \
         a core ({:.1} µs per frame)",
        share(on),
        share(off),
        share(on.saturating_sub(off)),
        on.saturating_sub(off).as_secs_f64() * 1e6 / (seconds * per_second) as f64
    );
    bus.shutdown().await;
}

/// Reads one monitor until a frame carries the tone; returns when.
fn heard_after(monitor: &mut media::AudioSource, since: Instant) -> Duration {
    loop {
        let frame = monitor.frames().blocking_recv().expect("monitor keeps producing");
        if rms(&frame.samples) > 0.02 {
            return since.elapsed();
        }
        assert!(since.elapsed() < Duration::from_secs(5), "no sound on the new device after 5 s");
    }
}

async fn routing_plugin_part(moves: usize) -> Vec<f64> {
    let bus = Bus::start(
        vec![spec(
            "audio-routing",
            serde_json::json!({ "rule": [
                { "pattern": "spk_a", "mode": "SPEAKER" },
                { "pattern": "spk_b", "mode": "HEADPHONES" },
            ]}),
        )],
        BusOptions::default(),
    )
    .expect("bus");
    // The plugin's part: set_audio_mode through the bus to the plugin and its answer (it
    // lists the devices afresh). Its route_audio_output then goes to the host, which has
    // no session here: that part is timed below, on a real sink.
    let mut plugin_ms = Vec::new();
    for i in 0..moves {
        let mode = if i % 2 == 0 { AudioModeKind::Headphones } else { AudioModeKind::Speaker };
        let t = Instant::now();
        bus.command(Command::SetAudioMode { mode }).await.expect("the plugin answers");
        plugin_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    bus.shutdown().await;
    plugin_ms
}

/// The sink's part; blocking, so it runs outside the actix runtime.
fn routing_sink_part(moves: usize, mut plugin_ms: Vec<f64>) {
    let mixer = Mixer::new();
    let stop = Arc::new(AtomicBool::new(false));
    let talker = {
        let (mixer, stop) = (mixer.clone(), stop.clone());
        let mut tone = media::start_source(&AudioInput::Tone(440.0)).expect("tone");
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match tone.frames().blocking_recv() {
                    Some(frame) => mixer.push("bench", frame.samples),
                    None => break,
                }
            }
        })
    };
    let mut monitors = [
        media::start_source(&AudioInput::Device("spk_a_monitor".into())).expect("monitor a"),
        media::start_source(&AudioInput::Device("spk_b_monitor".into())).expect("monitor b"),
    ];
    let names = ["spk_a", "spk_b"];
    let mut sink = media::start_sink(&AudioOutput::Device("spk_a".into()), mixer.clone()).expect("spk_a");
    thread::sleep(Duration::from_millis(500));
    let mut switch_ms = Vec::new();
    let mut sound_ms = Vec::new();
    for i in 0..moves {
        let to = (i + 1) % 2;
        // Let the old device's sound die away on the new one's monitor, then drop it all.
        thread::sleep(Duration::from_millis(300));
        while monitors[to].frames().try_recv().is_ok() {}
        let t = Instant::now();
        sink.set_output(&AudioOutput::Device(names[to].into())).expect("moves");
        switch_ms.push(t.elapsed().as_secs_f64() * 1e3);
        sound_ms.push(heard_after(&mut monitors[to], t).as_secs_f64() * 1e3);
    }
    stop.store(true, Ordering::Relaxed);
    sink.stop().expect("stop");
    let _ = talker.join();
    let stats = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        format!("median {:.1} ms, max {:.1} ms", v[v.len() / 2], v[v.len() - 1])
    };
    println!("set_audio_mode, plugin part (bus + device listing): {}", stats(&mut plugin_ms));
    println!("set_audio_mode, sink move (open new, close old): {}", stats(&mut switch_ms));
    println!("set_audio_mode, sink move to tone heard on the new sink's monitor: {}", stats(&mut sound_ms));
}

fn main() {
    let seconds: u64 =
        std::env::var("SWITCHBOARD_BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(10);
    let pipewire = std::env::var_os("XDG_RUNTIME_DIR").is_some();
    let plugin_ms = switchboard_runtime::exec::block_on(async move {
        recording_cpu(seconds).await;
        if pipewire { routing_plugin_part(10).await } else { Vec::new() }
    });
    if pipewire {
        routing_sink_part(10, plugin_ms);
    } else {
        println!("set_audio_mode latency skipped: PipeWire is not up (eval \"$(scripts/pipewire-up.sh)\")");
    }
}
