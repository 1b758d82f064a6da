//! Call-level benchmarks through whole sessions (signaling server, tokens, WebRTC mesh,
//! Opus, mixer, sinks), as `switchboard join` runs them, in one process so one clock
//! times both ends:
//!
//! 1. **Call setup**: from `Session::start` (the seed's `startSession`, call token in hand)
//!    of the second participant to the first remote audio frame it decoded, against three
//!    baselines on the WebRTC library's own peer connections (in-memory signaling) in the
//!    same run, alternating: the original bare pair (library defaults, RTP every 2 ms, to
//!    the first RTP packet read), a like-for-like bare audio call (the sessions' loopback
//!    settings, 20 ms Opus frames encoded and decoded, to the first frame decoded), and the
//!    same audio call with the library's defaults.
//!    p50/p95/min/max, then every setup step (the `switchboard::setup` traces) itemised.
//!    Each of these runs in two placements, alternating: every party on the bench's one
//!    thread, and every party on threads of its own as processes of their own would run
//!    (the server on a runtime of its own, Bob in an executor of his own, the bare
//!    answerer on a runtime of its own).
//! 2. **Mouth-to-ear** (needs PipeWire, `SWITCHBOARD_BENCH_CLICKS`, default 30, 0 skips):
//!    Alice's microphone is a WAV click train (`wav:` source, one 5 ms 2 kHz burst every
//!    500 ms, paced in real time from her `Session::start`); Bob plays the call into the
//!    cpal device `spk_a`. Mouth = when the onset sample was due at Alice's source. Two ear
//!    times: at the sink (when the onset sample is due at the device's output, from cpal's
//!    playback timestamp, through a `media::PlayoutProbe` on `spk_a`), and at the monitor
//!    (when it reached this process through a capture of `spk_a_monitor`).
//!
//! `SWITCHBOARD_BENCH_SINK=NAME` plays into null sink NAME instead of `spk_a`.
//!
//! `eval "$(scripts/pipewire-up.sh)" && cargo bench -p switchboard-session --bench call_setup [-- RUNS]`
//! (default 30 setup runs).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchboard_config::Config;
use switchboard_config::{AudioInput, AudioOutput};
use switchboard_media::audio::analysis::{ClickDetector, click_onsets};
use switchboard_media::audio::{self as media, AudioFormat};
use switchboard_rtc::LinkOptions;
use switchboard_runtime::bus::{Bus, BusOptions};
use switchboard_session::{Session, SessionOptions};
use switchboard_signaling::{self as signaling, Secret, ServerConfig, ServerHandle, SignalingClient};
use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot};

const API_KEY: &str = "bench-key";
const LIMIT: Duration = Duration::from_secs(10);
/// The click period of the mouth-to-ear source; far above any latency, so each onset at
/// the ear matches the last click sent before it. (Where the onset falls within its 20 ms
/// frame makes no difference in steady state: a sample waits for the rest of its frame and
/// then plays that much later after the frame's start; measured: 72.5-84.8 ms p50 with a
/// 507 ms period, 74.8 ms with 500 ms, same conditions.)
const CLICK_PERIOD_SAMPLES: usize = AudioFormat::SAMPLE_RATE as usize / 2;

struct Server {
    handle: ServerHandle,
    client: SignalingClient,
}

impl Server {
    /// Starts a server on `runtime` (its own threads, as `switchboard serve` runs it in a
    /// process of its own) or, without one, on the caller's.
    async fn start(runtime: Option<&Handle>) -> Self {
        let secret = Secret::generate().expect("a random secret");
        let started =
            signaling::start("127.0.0.1:0".parse().expect("addr"), ServerConfig::new(API_KEY, secret));
        let handle = match runtime {
            Some(runtime) => runtime.spawn(started).await.expect("the server's start task"),
            None => started.await,
        }
        .expect("the signaling server starts");
        let client = SignalingClient::new(&handle.ws_url()).expect("client");
        Self { handle, client }
    }

    async fn token(&self, uid: &str, session: &str) -> String {
        let user = self.client.create_user(API_KEY, uid, uid, "").await.expect("user");
        self.client.generate_token(session, &user.auth_token).await.expect("token").token
    }

    /// Starts a session as `uid` with a bus of its own (no plugins), as `join` does.
    async fn session(&self, token: String, session: &str, input: AudioInput, output: AudioOutput) -> Session {
        let (options, bus) = self.prepare(token, session, input, output);
        Session::start(options, bus).await.expect("session starts")
    }

    /// What an app has before it starts a session: its config and its bus (started with
    /// the app, not with the call).
    fn prepare(
        &self,
        token: String,
        session: &str,
        input: AudioInput,
        output: AudioOutput,
    ) -> (SessionOptions, Bus) {
        (self.options(token, session, input, output), new_bus())
    }

    fn options(
        &self,
        token: String,
        session: &str,
        input: AudioInput,
        output: AudioOutput,
    ) -> SessionOptions {
        let mut config = Config::default();
        config.call.audio_only_call = true;
        config.media.audio_input = input;
        config.media.audio_output = output;
        SessionOptions {
            server: self.handle.ws_url(),
            token,
            session_id: Some(session.to_owned()),
            config,
            link: LinkOptions::default(),
        }
    }
}

/// A bus without plugins, in the executor of the caller.
fn new_bus() -> Bus {
    Bus::start(Vec::new(), BusOptions::default()).expect("bus")
}

/// Where the parties of a setup run run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Placement {
    /// Every party on the bench's one thread: the server, Bob and Alice (each bare peer).
    OneThread,
    /// Each party on threads of its own, as processes of their own would run them: the
    /// server on a 2-worker tokio runtime as `switchboard serve` does, Bob in an
    /// System of his own as `switchboard join` does, Alice on the bench's thread; the bare
    /// answerer on a 1-worker runtime of its own, the offerer on the bench's thread.
    OwnThreads,
}

impl Placement {
    fn name(self) -> &'static str {
        match self {
            Placement::OneThread => "one thread",
            Placement::OwnThreads => "own threads",
        }
    }
}

/// Bob, the member waiting in the room, on a thread of his own: an executor that
/// runs one session at a time, driven through [`CalleeCall`]s.
struct CalleeThread {
    calls: mpsc::UnboundedSender<CalleeCall>,
    thread: std::thread::JoinHandle<()>,
}

enum CalleeCall {
    /// Starts a session; replies with the instant just before `Session::start`.
    Start { options: Box<SessionOptions>, reply: oneshot::Sender<Instant> },
    /// When the session decoded its first remote audio, if it did yet.
    Decoded { reply: oneshot::Sender<Option<Instant>> },
    /// Ends the session and replies once it is over.
    End { reply: oneshot::Sender<()> },
}

impl CalleeThread {
    fn spawn() -> Self {
        let (calls, mut rx) = mpsc::unbounded_channel::<CalleeCall>();
        let thread = std::thread::spawn(move || {
            switchboard_runtime::exec::block_on(async move {
                let mut current: Option<(Session, Instant)> = None;
                while let Some(call) = rx.recv().await {
                    match call {
                        CalleeCall::Start { options, reply } => {
                            let bus = new_bus();
                            let started = Instant::now();
                            current = Some((
                                Session::start(*options, bus).await.expect("bob's session starts"),
                                started,
                            ));
                            let _ = reply.send(started);
                        }
                        CalleeCall::Decoded { reply } => {
                            let at = current
                                .as_ref()
                                .and_then(|(bob, at)| Some(*at + bob.first_remote_audio_after()?));
                            let _ = reply.send(at);
                        }
                        CalleeCall::End { reply } => {
                            if let Some((bob, _)) = current.take() {
                                end(&[&bob]).await;
                            }
                            let _ = reply.send(());
                        }
                    }
                }
            });
        });
        Self { calls, thread }
    }

    async fn call<T>(&self, call: impl FnOnce(oneshot::Sender<T>) -> CalleeCall) -> T {
        let (tx, rx) = oneshot::channel();
        self.calls.send(call(tx)).unwrap_or_else(|_| panic!("bob's thread is gone"));
        rx.await.expect("bob's thread replies")
    }

    /// Ends the thread (its System stops once nothing can call it).
    fn stop(self) {
        drop(self.calls);
        self.thread.join().expect("bob's thread");
    }
}

/// Bob in a setup run, where the placement puts him.
enum Bob<'a> {
    /// On the bench's thread; the instant just before his `Session::start`.
    Here(Session, Instant),
    Apart(&'a CalleeThread),
}

impl<'a> Bob<'a> {
    /// Starts Bob's session; returns him and when his start began.
    async fn start(
        server: &Server,
        token: String,
        sid: &str,
        apart: Option<&'a CalleeThread>,
    ) -> (Bob<'a>, Instant) {
        let options = server.options(token, sid, AudioInput::Tone(660.0), AudioOutput::Null);
        match apart {
            Some(thread) => {
                let started =
                    thread.call(|reply| CalleeCall::Start { options: Box::new(options), reply }).await;
                (Bob::Apart(thread), started)
            }
            None => {
                let bus = new_bus();
                let started = Instant::now();
                let bob = Session::start(options, bus).await.expect("session starts");
                (Bob::Here(bob, started), started)
            }
        }
    }

    /// When Bob decoded his first remote audio, if he did yet.
    async fn decoded_at(&self) -> Option<Instant> {
        match self {
            Bob::Here(bob, started) => Some(*started + bob.first_remote_audio_after()?),
            Bob::Apart(thread) => thread.call(|reply| CalleeCall::Decoded { reply }).await,
        }
    }

    async fn end(self) {
        match self {
            Bob::Here(bob, _) => end(&[&bob]).await,
            Bob::Apart(thread) => thread.call(|reply| CalleeCall::End { reply }).await,
        }
    }
}

async fn end(sessions: &[&Session]) {
    for session in sessions {
        let _ = session.end_session().await;
    }
    for session in sessions {
        session.finished().await;
    }
}

/// One setup run: Bob waits in the room (100-119 ms); Alice's start is timed until she
/// decoded Bob. Bob runs on `apart` when given, else on this thread with Alice.
/// Returns the times and the itemised steps (ms from Alice's start).
async fn run_session(
    server: &Server,
    i: usize,
    apart: Option<&CalleeThread>,
) -> ((Duration, Duration, Duration), HashMap<String, f64>) {
    let sid = format!("setup-{i}-{}", apart.is_some());
    let (bob_token, alice_token) = (server.token("bob", &sid).await, server.token("alice", &sid).await);
    let (bob, _) = Bob::start(server, bob_token, &sid, apart).await;
    // Bob waits in the room, as a callee does: long enough for his microphone to be
    // running, and for a varying part of a 20 ms frame, so Alice's start falls anywhere
    // in his frame cycle (as it would in a real call) instead of always at the same phase.
    tokio::time::sleep(Duration::from_millis(100 + (i.wrapping_mul(7) % 20) as u64)).await;
    let (options, bus) = server.prepare(alice_token, &sid, AudioInput::Tone(440.0), AudioOutput::Null);
    setup_trace::clear();
    let start = Instant::now();
    let alice = Session::start(options, bus).await.expect("session starts");
    let joined = start.elapsed();
    let first = tokio::time::timeout(LIMIT, async {
        loop {
            if let Some(after) = alice.first_remote_audio_after() {
                return after;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .expect("alice decodes bob's audio");
    // The other direction (the offerer's audio at the answerer), from Alice's start too.
    let other = tokio::time::timeout(LIMIT, async {
        loop {
            if let Some(at) = bob.decoded_at().await {
                return at.saturating_duration_since(start);
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .expect("bob decodes alice's audio");
    let mut steps = setup_trace::steps_since(start, "alice", "bob");
    steps.insert("alice: first remote audio decoded".into(), ms(first));
    steps.insert("bob: first remote audio decoded".into(), ms(other));
    let _ = alice.end_session().await;
    bob.end().await;
    alice.finished().await;
    ((joined, first, other), steps)
}

/// A bare audio call, with its steps from the creation of the peers; the answerer on
/// `answerer_rt` when given.
async fn run_bare_call(
    settings: BareSettings,
    answerer_rt: Option<&Handle>,
) -> ((Duration, Duration), HashMap<String, f64>) {
    setup_trace::clear();
    let start = Instant::now();
    let (offerer, answerer) = run_bare_audio(settings, LIMIT, answerer_rt).await;
    let mut steps = setup_trace::steps_since(start, "bare offerer", "bare answerer");
    steps.insert("bare offerer: first remote audio decoded".into(), ms(offerer));
    steps.insert("bare answerer: first remote audio decoded".into(), ms(answerer));
    ((offerer, answerer), steps)
}

// ---- The bare pair (the library's own peer connections, wired as its examples do) -------

use switchboard_rtc::bare_pair::{BareSettings, run_bare_audio, run_bare_rtp};

#[path = "support/setup_trace.rs"]
mod setup_trace;

// ---- Reporting ---------------------------------------------------------------------------

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn report(what: &str, ms: &mut [f64]) {
    ms.sort_by(f64::total_cmp);
    println!(
        "{what:<44} p50 {:>7.1} ms  p95 {:>7.1} ms  min {:>7.1} ms  max {:>7.1} ms  (n={})",
        percentile(ms, 0.5),
        percentile(ms, 0.95),
        ms[0],
        ms[ms.len() - 1],
        ms.len()
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Prints every step seen in the runs, by p50 time from the start, with the p50 of the
/// step's own duration (from the step before it in the same run).
fn itemise(title: &str, runs: &[HashMap<String, f64>]) {
    let mut labels: Vec<(String, f64)> = Vec::new();
    for label in runs.iter().flat_map(|r| r.keys()).collect::<std::collections::BTreeSet<_>>() {
        let mut at: Vec<f64> = runs.iter().filter_map(|r| r.get(label).copied()).collect();
        at.sort_by(f64::total_cmp);
        labels.push((label.clone(), percentile(&at, 0.5)));
    }
    labels.sort_by(|a, b| a.1.total_cmp(&b.1));
    println!("{title}");
    // SWITCHBOARD_BENCH_RAW=1 prints every run's steps too.
    if std::env::var_os("SWITCHBOARD_BENCH_RAW").is_some() {
        for (i, run) in runs.iter().enumerate() {
            let row: Vec<String> =
                labels.iter().map(|(l, _)| run.get(l).map_or("-".into(), |v| format!("{v:.1}"))).collect();
            println!("run {i}: {}", row.join(" "));
        }
    }
    println!("| step | at p50 | at p95 | since previous step, p50 | seen in |");
    println!("|---|---|---|---|---|");
    let mut previous: Option<&str> = None;
    for (label, _) in &labels {
        let mut at: Vec<f64> = runs.iter().filter_map(|r| r.get(label).copied()).collect();
        at.sort_by(f64::total_cmp);
        let mut step: Vec<f64> = runs
            .iter()
            .filter_map(|r| Some(r.get(label)? - previous.map_or(Some(0.0), |p| r.get(p).copied())?))
            .collect();
        step.sort_by(f64::total_cmp);
        let step = if step.is_empty() { "-".to_owned() } else { format!("{:.2} ms", percentile(&step, 0.5)) };
        println!(
            "| {label} | {:.2} ms | {:.2} ms | {step} | {}/{} |",
            percentile(&at, 0.5),
            percentile(&at, 0.95),
            at.len(),
            runs.len()
        );
        previous = Some(label);
    }
}

/// What the own-threads placement runs on: a server on a runtime of its own, Bob's
/// thread, and the bare answerer's runtime.
struct Apart {
    server: Server,
    bob: CalleeThread,
    answerer: Handle,
}

/// The figures of one placement, run by run.
#[derive(Default)]
struct Figures {
    joined: Vec<f64>,
    first: Vec<f64>,
    other: Vec<f64>,
    call_first: Vec<f64>,
    call_other: Vec<f64>,
    default_call_first: Vec<f64>,
    session_steps: Vec<HashMap<String, f64>>,
    call_steps: Vec<HashMap<String, f64>>,
}

impl Figures {
    /// One session run, then one of each bare audio call.
    async fn measure(
        &mut self,
        server: &Server,
        bob: Option<&CalleeThread>,
        answerer: Option<&Handle>,
        i: usize,
    ) {
        let ((j, f, o), steps) = run_session(server, i, bob).await;
        self.joined.push(ms(j));
        self.first.push(ms(f));
        self.other.push(ms(o));
        self.session_steps.push(steps);
        let ((f, o), steps) = run_bare_call(BareSettings::Loopback, answerer).await;
        self.call_first.push(ms(f));
        self.call_other.push(ms(o));
        self.call_steps.push(steps);
        self.default_call_first.push(ms(run_bare_call(BareSettings::LibraryDefaults, answerer).await.0.0));
    }

    fn report(&mut self, placement: Placement, old_bare_p50: f64) {
        println!("\nparties on {}:", placement.name());
        report("session: start -> joined (start returned)", &mut self.joined);
        report("session: start -> first remote audio decoded", &mut self.first);
        report("  other way: start -> answerer decoded offerer", &mut self.other);
        report("bare audio call: create -> offerer decoded", &mut self.call_first);
        report("  other way: answerer decoded offerer", &mut self.call_other);
        report("bare audio call, library defaults: offerer decoded", &mut self.default_call_first);
        let first = percentile(&self.first, 0.5);
        println!(
            "ratio of p50s, session first audio / old bare pair: {:.2}, / bare audio call: {:.2}, \
             / bare audio call with library defaults: {:.2}",
            first / old_bare_p50,
            first / percentile(&self.call_first, 0.5),
            first / percentile(&self.default_call_first, 0.5)
        );
        println!(
            "ratio of p95s, session / bare audio call: {:.2}",
            percentile(&self.first, 0.95) / percentile(&self.call_first, 0.95)
        );
        let (session, call) = (&self.session_steps, &self.call_steps);
        let name = placement.name();
        itemise(
            &format!("\nsession steps on {name}, ms from Alice's Session::start (Alice offers, Bob answers)"),
            session,
        );
        itemise(&format!("\nbare audio call steps on {name}, ms from creating the peers"), call);
    }
}

/// The setup runs, both placements and every baseline alternating run by run.
async fn setup(here: &Server, apart: &Apart, runs: usize) {
    let placements = [
        (Placement::OneThread, here, None, None),
        (Placement::OwnThreads, &apart.server, Some(&apart.bob), Some(&apart.answerer)),
    ];
    // One untimed run of each, so first-use costs do not land in the first sample.
    for (_, server, bob, answerer) in placements {
        Figures::default().measure(server, bob, answerer, usize::MAX).await;
    }
    run_bare_rtp(LIMIT).await;
    let mut figures = [Figures::default(), Figures::default()];
    let mut bare = Vec::new();
    for i in 0..runs {
        for ((_, server, bob, answerer), figures) in placements.iter().zip(&mut figures) {
            figures.measure(server, *bob, *answerer, i).await;
        }
        bare.push(ms(run_bare_rtp(LIMIT).await.first_rtp));
    }
    println!("call setup on loopback, {runs} runs each, alternating");
    report("bare pair (old, one thread): create -> first RTP read", &mut bare);
    let old_bare_p50 = percentile(&bare, 0.5);
    for ((placement, ..), figures) in placements.iter().zip(&mut figures) {
        figures.report(*placement, old_bare_p50);
    }
}

// ---- Mouth-to-ear ------------------------------------------------------------------------

/// A WAV one click period long: a 5 ms 2 kHz burst at -6 dBFS, then silence. Returns the onset index the
/// click detector finds in it (the same detector times the ear side).
fn write_clicks(path: &Path) -> usize {
    let burst = AudioFormat::SAMPLE_RATE as usize / 200;
    let step = std::f64::consts::TAU * 2000.0 / f64::from(AudioFormat::SAMPLE_RATE);
    let samples: Vec<i16> = (0..CLICK_PERIOD_SAMPLES)
        .map(|i| if i < burst { ((i as f64 * step).sin() * 0.5 * f64::from(i16::MAX)) as i16 } else { 0 })
        .collect();
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: AudioFormat::SAMPLE_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(path, spec).expect("creates the click file");
    for s in &samples {
        writer.write_sample(*s).expect("writes");
    }
    writer.finalize().expect("finalizes");
    // The start of the file counts as quiet (the loop ends in silence).
    let onsets = click_onsets(&samples, 0.1, 2400);
    *onsets.first().expect("the click is detected in the source")
}

async fn mouth_to_ear(server: &Server, clicks: usize) {
    // A null sink of its own keeps other test runs on the shared PipeWire out of the monitor.
    let sink_name = std::env::var("SWITCHBOARD_BENCH_SINK").unwrap_or_else(|_| "spk_a".to_owned());
    let monitor_name = format!("{sink_name}_monitor");
    let hint = "run `eval \"$(scripts/pipewire-up.sh)\"` first";
    let outputs = media::output_device_names().expect("listing devices");
    assert!(outputs.contains(&sink_name), "no ALSA device {sink_name}: {hint}");
    let dir = tempfile::tempdir().expect("tempdir");
    let wav = dir.path().join("clicks.wav");
    let onset = write_clicks(&wav);

    let (bob_token, alice_token) = (server.token("bob", "m2e").await, server.token("alice", "m2e").await);
    // Attached before Bob's session opens `spk_a`, so his sink feeds it.
    let mut probe = media::probe_playout(&sink_name);
    let bob = server
        .session(bob_token, "m2e", AudioInput::Tone(660.0), AudioOutput::Device(sink_name.clone()))
        .await;
    // The monitor runs on its own thread: blocking reads, timestamps from the capture.
    // (at the sink?, ear instant)
    let (ear_tx, mut ear_rx) = mpsc::unbounded_channel::<(bool, Instant)>();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let listener = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut monitor = media::start_source(&AudioInput::Device(monitor_name.clone()))
                .expect("the monitor of the sink");
            let mut detect = ClickDetector::new(0.1, 2400);
            let mut detect_sink = ClickDetector::new(0.1, 2400);
            while !stop.load(std::sync::atomic::Ordering::Acquire) {
                let Some(frame) = monitor.frames().blocking_recv() else { break };
                for idx in detect.feed(&frame.samples) {
                    let after =
                        (AudioFormat::FRAME_SAMPLES - 1 - idx) as f64 / f64::from(AudioFormat::SAMPLE_RATE);
                    let _ = ear_tx.send((false, frame.captured_at - Duration::from_secs_f64(after)));
                }
                while let Some(chunk) = probe.try_next() {
                    for idx in detect_sink.feed(chunk.samples()) {
                        let _ = ear_tx.send((true, chunk.due_at(idx)));
                    }
                }
            }
            (monitor.xruns(), monitor.device_delay())
        })
    };
    // Alice's source starts pacing inside `Session::start`: sample n is due at about
    // `source_start + n / 48 kHz`. Stamped just before the call, it is early by the few
    // microseconds before the source thread starts (which shortens the figure by as much).
    let source_start = Instant::now();
    let alice = server.session(alice_token, "m2e", AudioInput::Wav(wav.clone()), AudioOutput::Null).await;
    let period = Duration::from_secs_f64(CLICK_PERIOD_SAMPLES as f64 / f64::from(AudioFormat::SAMPLE_RATE));
    let first_onset = Duration::from_secs_f64(onset as f64 / f64::from(AudioFormat::SAMPLE_RATE));
    let (mut at_sink, mut at_monitor) = (Vec::new(), Vec::new());
    let deadline = Instant::now() + period * (clicks as u32 + 4);
    while at_monitor.len() < clicks {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(Some((sink_side, ear))) = tokio::time::timeout(left, ear_rx.recv()).await else { break };
        let since = ear.saturating_duration_since(source_start + first_onset);
        let k = (since.as_secs_f64() / period.as_secs_f64()).floor() as u32;
        let mouth = source_start + first_onset + period * k;
        if sink_side { at_sink.push(ms(ear - mouth)) } else { at_monitor.push(ms(ear - mouth)) }
    }
    stop.store(true, std::sync::atomic::Ordering::Release);
    end(&[&alice, &bob]).await;
    let (xruns, delay) = listener.join().expect("the monitor thread");
    assert!(!at_monitor.is_empty(), "no click came back from the monitor");
    assert!(!at_sink.is_empty(), "the playout probe saw no click");
    report("mouth-to-ear: wav clicks -> call -> sink (playback)", &mut at_sink);
    report("mouth-to-ear: ... -> sink -> monitor capture", &mut at_monitor);
    println!("  monitor xruns {xruns}, monitor device delay {delay:?}");
}

fn main() {
    // `cargo bench` passes `--bench`; a number among the arguments sets the run count.
    let runs: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(30);
    let clicks = std::env::var("SWITCHBOARD_BENCH_CLICKS").ok().and_then(|v| v.parse().ok()).unwrap_or(30);
    setup_trace::install();
    // The own-threads placement's runtimes: the server's as `switchboard serve` makes it,
    // and one worker for the bare answerer.
    let server_rt = tokio::runtime::Runtime::new().expect("the server's runtime");
    let answerer_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");
    let (server_on, answerer) = (server_rt.handle().clone(), answerer_rt.handle().clone());
    // The bus's executor is what `switchboard join` runs sessions in.
    switchboard_runtime::exec::block_on(async move {
        let server = Server::start(None).await;
        if runs > 0 {
            let apart =
                Apart { server: Server::start(Some(&server_on)).await, bob: CalleeThread::spawn(), answerer };
            setup(&server, &apart, runs).await;
            apart.server.handle.shutdown().await.expect("server stops");
            apart.bob.stop();
        }
        if clicks > 0 {
            mouth_to_ear(&server, clicks).await;
        }
        server.handle.shutdown().await.expect("server stops");
    });
}
