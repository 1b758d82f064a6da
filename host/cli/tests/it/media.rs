//! The media engine end to end: codec, mixer, WAV files, and real cpal devices on the
//! PipeWire null sinks that scripts/pipewire-up.sh creates.

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use switchboard_config::{AudioInput, AudioOutput};
use switchboard_core::ErrorCode;
use switchboard_media::audio::analysis::{rms, tone_ratio};
use switchboard_media::audio::{
    self as media, AudioFormat, Capture, JitterConfig, MediaError, Mixer, MuteGate, OpusDecoder, OpusEncoder,
    RemoteAudio,
};

/// The share of power at the tone required of audio that went through real-time threads
/// (a paced sink, a device). Looser than the codec tests': on a loaded 2-core machine those
/// paths have the odd glitch (an xrun, a late thread, a jitter-buffer underrun), which
/// lowers the share at the tone. 0.3 still separates a tone from silence (0) and from
/// other tones (< 0.01), which the tests check too.
pub(crate) const LIVE_TONE: f32 = 0.3;

/// Reads `ms` milliseconds of frames from a running source.
pub(crate) fn collect(source: &mut media::AudioSource, ms: u64) -> Vec<i16> {
    let frames = (ms / 20) as usize;
    let mut out = Vec::with_capacity(frames * AudioFormat::FRAME_SAMPLES);
    for _ in 0..frames {
        let frame = source.frames().blocking_recv().expect("source keeps producing frames");
        assert_eq!(frame.samples.len(), AudioFormat::FRAME_SAMPLES);
        out.extend_from_slice(&frame.samples);
    }
    out
}

fn sine(hz: f32, frames: usize) -> Vec<Vec<i16>> {
    let step = std::f32::consts::TAU * hz / AudioFormat::SAMPLE_RATE as f32;
    (0..frames)
        .map(|f| {
            (0..AudioFormat::FRAME_SAMPLES)
                .map(|i| (((f * AudioFormat::FRAME_SAMPLES + i) as f32 * step).sin() * 8000.0) as i16)
                .collect()
        })
        .collect()
}

/// A remote participant for the tests: a tone source sent through Opus into the mixer,
/// in real time, as the session will do with network packets.
struct Talker {
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Talker {
    fn start(uid: &'static str, hz: f32, mixer: &Mixer) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let (stop2, mixer) = (Arc::clone(&stop), mixer.clone());
        let thread = thread::spawn(move || {
            let mut source = media::start_source(&AudioInput::Tone(hz)).expect("tone source");
            let mut enc = OpusEncoder::new().expect("encoder");
            let mut dec = OpusDecoder::new().expect("decoder");
            while !stop2.load(Ordering::Acquire) {
                let Some(frame) = source.frames().blocking_recv() else { break };
                let packet = enc.encode(&frame.samples).expect("encode");
                mixer.push(uid, dec.decode(&packet).expect("decode"));
            }
        });
        Self { stop, thread: Some(thread) }
    }
}

impl Drop for Talker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            t.join().expect("talker thread");
        }
    }
}

#[test]
fn tone_survives_opus_round_trip() {
    let mut source = media::start_source(&AudioInput::Tone(440.0)).expect("tone source");
    assert_eq!(source.name(), "tone:440");
    let mut enc = OpusEncoder::new().expect("encoder");
    let mut dec = OpusDecoder::new().expect("decoder");
    let mut decoded = Vec::new();
    for _ in 0..25 {
        let frame = source.frames().blocking_recv().expect("tone frame");
        let packet = enc.encode(&frame.samples).expect("encode");
        assert!(packet.len() < 200, "a 20 ms voice packet at 32 kbit/s is ~80 bytes, got {}", packet.len());
        decoded.extend(dec.decode(&packet).expect("decode"));
    }
    // Skip the codec's start-up (look-ahead and the encoder settling).
    let steady = &decoded[10 * AudioFormat::FRAME_SAMPLES..];
    assert!(tone_ratio(steady, 440.0) > 0.8, "440 Hz ratio {}", tone_ratio(steady, 440.0));
    assert!(tone_ratio(steady, 1000.0) < 0.01, "1000 Hz ratio {}", tone_ratio(steady, 1000.0));
    assert!(dec.conceal_lost().expect("concealment").len() == AudioFormat::FRAME_SAMPLES);
}

#[test]
fn codec_rejects_wrong_frame_size() {
    let mut enc = OpusEncoder::new().expect("encoder");
    let err = enc.encode(&[0; 480]).expect_err("10 ms is not our frame");
    assert!(matches!(err, MediaError::FrameSize { got: 480, expected: 960, .. }), "{err}");
    let mut dec = OpusDecoder::new().expect("decoder");
    assert!(matches!(dec.decode(&[0xff, 0xff, 0xff]), Err(MediaError::Opus { .. })));
}

#[test]
fn mixer_mixes_two_tones_and_follows_joins_and_leaves() {
    let mixer = Mixer::new();
    let (a, b) = (sine(440.0, 10), sine(1000.0, 10));
    let mut mixed = Vec::new();
    for (fa, fb) in a.into_iter().zip(b) {
        mixer.push("alice", fa);
        mixer.push("bob", fb);
        mixed.extend(mixer.mix_next());
    }
    assert_eq!(mixer.participants(), ["alice", "bob"]);
    for hz in [440.0, 1000.0] {
        assert!(tone_ratio(&mixed, hz) > 0.4, "{hz} Hz ratio {}", tone_ratio(&mixed, hz));
    }
    assert!(tone_ratio(&mixed, 700.0) < 0.01);

    // Bob leaves: only alice remains in the mix.
    assert!(mixer.remove("bob"));
    let mut after = Vec::new();
    for f in sine(440.0, 5) {
        mixer.push("alice", f);
        after.extend(mixer.mix_next());
    }
    assert!(tone_ratio(&after, 440.0) > 0.9);
    assert!(tone_ratio(&after, 1000.0) < 0.01);
    assert_eq!(mixer.participants(), ["alice"]);
}

#[test]
fn jitter_buffer_prefills_drops_and_recovers() {
    let mixer = Mixer::with_config(JitterConfig { prefill: 2, max_depth: 3 });
    let frames = sine(440.0, 8);
    mixer.push("carol", frames[0].clone());
    assert_eq!(rms(&mixer.mix_next()), 0.0, "one frame is below prefill: silence");
    mixer.push("carol", frames[1].clone());
    assert!(rms(&mixer.mix_next()) > 0.1, "prefill reached: playing");
    assert!(rms(&mixer.mix_next()) > 0.1);
    assert_eq!(rms(&mixer.mix_next()), 0.0, "ran dry");
    let stats = mixer.stats("carol").expect("carol known");
    assert_eq!((stats.mixed, stats.underruns), (2, 1));
    // A burst over max_depth keeps only the newest frames.
    for f in &frames[2..8] {
        mixer.push("carol", f.clone());
    }
    let stats = mixer.stats("carol").expect("carol known");
    assert_eq!((stats.queued, stats.dropped), (3, 3));
    assert_eq!(mixer.mix_next(), frames[5]);
}

#[test]
fn mute_gate_reports_changes_once() {
    let gate = MuteGate::new(true);
    assert!(gate.is_muted());
    assert!(!gate.set_muted(true), "already muted");
    let other = gate.clone();
    assert!(other.set_muted(false));
    assert!(!gate.is_muted(), "clones share the switch");
}

#[tokio::test]
async fn muted_capture_sends_nothing_until_unmuted() {
    let gate = MuteGate::new(true); // start_with_audio_muted
    let mut capture = Capture::start(&AudioInput::Tone(440.0), gate.clone()).expect("capture");
    let waited = tokio::time::timeout(Duration::from_millis(300), capture.next_packet()).await;
    assert!(waited.is_err(), "a muted capture hands out no packet");
    assert_eq!(capture.packets_sent(), 0);
    assert!(capture.muted_frames() >= 10, "frames were captured and dropped: {}", capture.muted_frames());

    assert!(gate.set_muted(false));
    let mixer = Mixer::new();
    let mut remote = RemoteAudio::new("alice", mixer.clone()).expect("remote");
    let mut heard = Vec::new();
    for _ in 0..20 {
        let packet = capture.next_packet().await.expect("source runs").expect("encodes");
        remote.receive(&packet.packet).expect("decodes");
        heard.extend(mixer.mix_next());
    }
    assert_eq!((capture.packets_sent(), remote.packets()), (20, 20));
    assert!(tone_ratio(&heard[9600..], 440.0) > 0.8, "ratio {}", tone_ratio(&heard[9600..], 440.0));
    remote.lost().expect("concealment");
    assert_eq!(remote.concealed(), 1);

    // With RTP sequence numbers: a gap of two is concealed, a late packet is dropped.
    let packet = capture.next_packet().await.expect("source runs").expect("encodes");
    assert_eq!(packet.duration, Duration::from_millis(20));
    assert!(remote.receive_sequenced(65_534, &packet.packet).expect("first"));
    assert!(remote.receive_sequenced(1, &packet.packet).expect("across the wrap, two lost"));
    assert_eq!(remote.concealed(), 3);
    assert!(!remote.receive_sequenced(0, &packet.packet).expect("late"));
    assert!(!remote.receive_sequenced(1, &packet.packet).expect("duplicate"));
    assert_eq!(remote.packets(), 22);

    // The remote leaving takes them out of the mix.
    assert_eq!(mixer.participants(), ["alice"]);
    drop(remote);
    assert!(mixer.participants().is_empty());
}

#[test]
fn wav_sink_writes_a_valid_file_even_before_it_is_closed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("out.wav");
    let mixer = Mixer::new();
    let _talker = Talker::start("dave", 440.0, &mixer);
    let sink = media::start_sink(&AudioOutput::Wav(path.clone()), mixer.clone()).expect("wav sink");

    // The header is rewritten every second: a reader in the middle of the call (or after a
    // crash) sees a valid file with the audio so far.
    thread::sleep(Duration::from_millis(1300));
    let partial = hound::WavReader::open(&path).expect("partial file is valid");
    assert!(partial.len() >= 48_000, "at least 1 s in the header, got {}", partial.len());

    thread::sleep(Duration::from_millis(700));
    sink.stop().expect("finalize");
    let reader = hound::WavReader::open(&path).expect("final file is valid");
    let spec = reader.spec();
    assert_eq!((spec.channels, spec.sample_rate, spec.bits_per_sample), (1, 48_000, 16));
    let samples: Vec<i16> = reader.into_samples::<i16>().collect::<Result<_, _>>().expect("samples");
    assert!(samples.len() >= 90 * AudioFormat::FRAME_SAMPLES, "~2 s written, got {}", samples.len());
    let tail = &samples[samples.len() - 48_000..];
    assert!(tone_ratio(tail, 440.0) > LIVE_TONE, "440 Hz ratio {}", tone_ratio(tail, 440.0));
    assert!(tone_ratio(tail, 1000.0) < 0.01);
}

#[test]
fn sink_moves_between_wav_files_and_finalizes_both() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (first, second) = (dir.path().join("first.wav"), dir.path().join("second.wav"));
    let mixer = Mixer::new();
    let _talker = Talker::start("gina", 440.0, &mixer);
    let mut sink = media::start_sink(&AudioOutput::Wav(first.clone()), mixer.clone()).expect("wav sink");
    thread::sleep(Duration::from_millis(600));
    sink.set_output(&AudioOutput::Wav(second.clone())).expect("move");
    sink.set_output(&AudioOutput::Wav(second.clone())).expect("same output: no-op");
    thread::sleep(Duration::from_millis(600));
    drop(sink); // dropping finalizes too
    for path in [first, second] {
        let samples: Vec<i16> = hound::WavReader::open(&path)
            .expect("valid file")
            .into_samples::<i16>()
            .collect::<Result<_, _>>()
            .expect("samples");
        assert!(samples.len() >= 20 * AudioFormat::FRAME_SAMPLES, "{}: {}", path.display(), samples.len());
        let tail = &samples[samples.len() - 9600..];
        assert!(tone_ratio(tail, 440.0) > LIVE_TONE, "{}: ratio {}", path.display(), tone_ratio(tail, 440.0));
        assert!(tone_ratio(tail, 1000.0) < 0.01);
    }
}

#[test]
fn wav_source_loops_and_resamples() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("in.wav");
    // 0.25 s of 600 Hz, stereo, 44.1 kHz: converted to 48 kHz mono and looped.
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 44_100,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&path, spec).expect("create wav");
    for i in 0..11_025 {
        let s = ((i as f32 * std::f32::consts::TAU * 600.0 / 44_100.0).sin() * 10_000.0) as i16;
        w.write_sample(s).expect("left");
        w.write_sample(s).expect("right");
    }
    w.finalize().expect("finalize");
    let mut source = media::start_source(&AudioInput::Wav(path)).expect("wav source");
    let got = collect(&mut source, 600);
    assert!(tone_ratio(&got, 600.0) > 0.8, "600 Hz ratio {}", tone_ratio(&got, 600.0));
    // The file is 250 ms; 600 ms of frames means it looped at least twice.
    assert!(rms(&got[got.len() - 4800..]) > 0.1);

    let missing = media::start_source(&AudioInput::Wav("/nonexistent/x.wav".into())).expect_err("no file");
    assert_eq!(missing.code(), ErrorCode::DeviceMissing);
    assert!(missing.to_string().contains("/nonexistent/x.wav"), "{missing}");
}

#[test]
fn missing_device_is_a_typed_error_naming_it() {
    let err = media::start_sink(&AudioOutput::Device("no_such_speaker".into()), Mixer::new())
        .expect_err("no such device");
    assert!(matches!(&err, MediaError::DeviceMissing { name, .. } if name == "no_such_speaker"), "{err}");
    assert_eq!(err.code(), ErrorCode::DeviceMissing);
    let err = media::start_source(&AudioInput::Device("no_such_mic".into())).expect_err("no such device");
    assert!(err.to_string().contains("no_such_mic"), "{err}");
}

// ---- Real devices on PipeWire ----------------------------------------------------------

/// Device tests share the null sinks, so they run one at a time.
static PIPEWIRE: Mutex<()> = Mutex::new(());

/// Fails (never skips) when the PipeWire null sinks are not there.
pub(crate) fn require_pipewire() -> MutexGuard<'static, ()> {
    let guard = PIPEWIRE.lock().unwrap_or_else(|p| p.into_inner());
    let hint = "PipeWire with the null sinks is not up: run `eval \"$(scripts/pipewire-up.sh)\"` \
                in this shell first (CI does)";
    assert!(std::env::var_os("XDG_RUNTIME_DIR").is_some(), "XDG_RUNTIME_DIR is unset. {hint}");
    let pactl = Command::new("pactl").arg("info").output();
    assert!(pactl.is_ok_and(|o| o.status.success()), "`pactl info` fails. {hint}");
    let outputs = media::output_device_names().expect("listing output devices");
    let inputs = media::input_device_names().expect("listing input devices");
    for (list, name) in
        [(&outputs, "spk_a"), (&outputs, "spk_b"), (&inputs, "spk_a_monitor"), (&inputs, "spk_b_monitor")]
    {
        assert!(list.iter().any(|d| d == name), "ALSA device `{name}` missing from {list:?}. {hint}");
    }
    guard
}

#[test]
fn tone_played_on_spk_a_is_heard_on_its_monitor() {
    let _pw = require_pipewire();
    let mut monitor =
        media::start_source(&AudioInput::Device("spk_a_monitor".into())).expect("monitor of spk_a");
    let mixer = Mixer::new();
    let _talker = Talker::start("erin", 440.0, &mixer);
    let sink = media::start_sink(&AudioOutput::Device("spk_a".into()), mixer.clone()).expect("spk_a");

    collect(&mut monitor, 300); // start-up: the first buffers are silence
    let heard = collect(&mut monitor, 1000);
    assert!(tone_ratio(&heard, 440.0) > LIVE_TONE, "440 Hz ratio {}", tone_ratio(&heard, 440.0));
    assert!(tone_ratio(&heard, 1000.0) < 0.01, "1000 Hz ratio {}", tone_ratio(&heard, 1000.0));
    assert!(sink.stats().frames > 40, "{:?}", sink.stats());
    assert!(sink.take_error().is_none());
    sink.stop().expect("stop");
}

#[test]
fn moving_the_sink_moves_the_sound() {
    let _pw = require_pipewire();
    let mut mon_a = media::start_source(&AudioInput::Device("spk_a_monitor".into())).expect("monitor a");
    let mut mon_b = media::start_source(&AudioInput::Device("spk_b_monitor".into())).expect("monitor b");
    let mixer = Mixer::new();
    let _talker = Talker::start("frank", 440.0, &mixer);
    let mut sink = media::start_sink(&AudioOutput::Device("spk_a".into()), mixer.clone()).expect("spk_a");

    // Reads both monitors side by side for `ms`, keeping the two in step.
    let listen =
        |a: &mut media::AudioSource, b: &mut media::AudioSource, ms| (collect(a, ms), collect(b, ms));
    listen(&mut mon_a, &mut mon_b, 300);
    let (a, b) = listen(&mut mon_a, &mut mon_b, 600);
    assert!(tone_ratio(&a, 440.0) > LIVE_TONE, "before the move spk_a plays: {}", tone_ratio(&a, 440.0));
    assert!(rms(&b) < 0.001, "before the move spk_b is silent: rms {}", rms(&b));

    let moved_at = Instant::now();
    sink.set_output(&AudioOutput::Device("spk_b".into())).expect("move to spk_b");
    assert_eq!(sink.output(), &AudioOutput::Device("spk_b".into()));
    assert!(moved_at.elapsed() < Duration::from_secs(2));
    // Drop what the monitors captured around the switch.
    while mon_a.frames().try_recv().is_ok() {}
    while mon_b.frames().try_recv().is_ok() {}
    listen(&mut mon_a, &mut mon_b, 300);
    let (a, b) = listen(&mut mon_a, &mut mon_b, 600);
    assert!(tone_ratio(&b, 440.0) > LIVE_TONE, "after the move spk_b plays: {}", tone_ratio(&b, 440.0));
    assert!(rms(&a) < 0.001, "after the move spk_a is silent: rms {}", rms(&a));

    // A move to a device that does not exist fails and leaves the sound where it was.
    let err = sink.set_output(&AudioOutput::Device("spk_nowhere".into())).expect_err("no such sink");
    assert_eq!(err.code(), ErrorCode::DeviceMissing);
    assert_eq!(sink.output(), &AudioOutput::Device("spk_b".into()));
    sink.stop().expect("stop");
}

#[test]
fn device_pulls_play_frames_sample_exact_across_pulls() {
    // A device callback pulls a few milliseconds at a time, not whole frames: the frames
    // must come out contiguous, and running dry mid-pull is reported as missing samples.
    let mixer = Mixer::with_config(JitterConfig { prefill: 1, max_depth: 4 });
    let ramp: Vec<Vec<i16>> =
        (0..2).map(|f| (0..AudioFormat::FRAME_SAMPLES).map(|i| (f * 1000 + i) as i16).collect()).collect();
    mixer.push("hana", ramp[0].clone());
    mixer.push("hana", ramp[1].clone());
    let mut played = Vec::new();
    let mut missing = 0;
    for _ in 0..8 {
        let mut buf = [0i16; 256];
        missing += mixer.mix_samples(&mut buf);
        played.extend_from_slice(&buf);
    }
    assert_eq!(&played[..960], &ramp[0][..]);
    assert_eq!(&played[960..1920], &ramp[1][..]);
    assert!(played[1920..].iter().all(|&s| s == 0), "dry: silence");
    assert_eq!(missing, 2048 - 1920, "the rest of the pull that ran dry");
    let stats = mixer.stats("hana").expect("hana known");
    assert_eq!((stats.mixed, stats.underruns, stats.queued), (2, 1, 0));
}

#[test]
fn adaptive_buffer_waits_until_the_next_frame_is_due_in_time() {
    let mixer = Mixer::new();
    let frames = sine(440.0, 3);
    mixer.push("ivan", frames[0].clone());
    // Pulls of 256 samples need the next frame's first sample 16 ms from now, but it is
    // only due 20 ms after this one arrived: starting now would run dry.
    let mut buf = [0i16; 256];
    mixer.mix_samples(&mut buf);
    assert_eq!(rms(&buf), 0.0, "not started yet");
    // Once enough of the wait has passed (here: the next frame is queued), it plays.
    mixer.push("ivan", frames[1].clone());
    mixer.mix_samples(&mut buf);
    assert!(rms(&buf) > 0.1, "started");
    assert_eq!(&buf[..], &frames[0][..256], "from the first frame's first sample");
    assert!(mixer.stats("ivan").expect("ivan").margin > Duration::ZERO);
}

/// The device period comes from the options (`[media] audio_period_frames`): the device's
/// callbacks ask for that many frames.
#[test]
fn the_device_runs_at_the_period_asked_for() {
    let _pw = require_pipewire();
    let mixer = Mixer::new();
    for period_frames in [media::DeviceOptions::default().period_frames, 960] {
        let options = media::DeviceOptions { period_frames };
        let sink = media::start_sink_with(&AudioOutput::Device("spk_a".into()), mixer.clone(), options)
            .expect("spk_a");
        thread::sleep(Duration::from_millis(300));
        assert_eq!(sink.stats().period_frames, period_frames as usize);
        sink.stop().expect("stop");
    }
}

#[test]
fn playout_probe_sees_what_the_device_plays() {
    let _pw = require_pipewire();
    let mut probe = media::probe_playout("spk_a");
    let mixer = Mixer::new();
    let _talker = Talker::start("jo", 440.0, &mixer);
    let opened = Instant::now();
    let sink = media::start_sink(&AudioOutput::Device("spk_a".into()), mixer.clone()).expect("spk_a");
    thread::sleep(Duration::from_millis(1000));
    let mut samples = Vec::new();
    while let Some(chunk) = probe.try_next() {
        // Each buffer is due at the device after the callback that filled it.
        assert!(chunk.due > opened);
        assert_eq!(chunk.due_at(0), chunk.due);
        samples.extend_from_slice(chunk.samples());
    }
    assert!(samples.len() > 24_000, "the callback fed the probe: {} samples", samples.len());
    let tail = &samples[samples.len() - 24_000..];
    assert!(tone_ratio(tail, 440.0) > LIVE_TONE, "440 Hz ratio {}", tone_ratio(tail, 440.0));
    sink.stop().expect("stop");

    // A probe waits for the next sink opened on its device; others do not feed it.
    let mut other = media::probe_playout("spk_b");
    let sink = media::start_sink(&AudioOutput::Device("spk_a".into()), mixer.clone()).expect("spk_a");
    thread::sleep(Duration::from_millis(200));
    assert!(other.try_next().is_none(), "spk_a does not feed a probe on spk_b");
    sink.stop().expect("stop");
}
