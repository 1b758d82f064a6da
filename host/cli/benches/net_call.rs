//! Audio calls over impaired links: the share of 20 ms blocks at the listener that carry
//! the talker's tone, and when media started, for each network fault.
//!
//! Every party is a real process in a network namespace of its own (`switchboard-netlab`):
//! `switchboard serve` on "server", Alice (a 440 Hz tone) and Bob (listening, into a WAV
//! file) with `[network] ice = "all"`, so their media crosses the lab's bridge, which
//! impairs Bob's link both ways. Signal analysis of Bob's WAV file gives, over the call
//! from one second after the tone first arrived to one second before the end:
//! - `carried`: blocks whose power is mostly at 440 Hz (tone ratio >= 0.5);
//! - `clean`: blocks that are the tone and little else (ratio >= 0.9), the undistorted
//!   share under jitter;
//! - `media at`: when the first toned block reached Bob's sink, from the sink's start.
//!
//! Run as root: `cargo bench -p switchboard --bench net_call -- [SECONDS] [SCENARIO ...]`
//! (default 12 s per call; scenarios `clean loss15 loss20 jitter delay100`, default all).
//! Without `--bench` (`cargo test --benches`) it runs one short clean call as a smoke test.

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use switchboard_media::audio::analysis::tone_ratio;
use switchboard_netlab::{Impairment, Lab, ms};

const API_KEY: &str = "net-bench-key";
const TALKER_HZ: f32 = 440.0;
/// 20 ms at 48 kHz.
const BLOCK: usize = 960;

struct Scenario {
    name: &'static str,
    what: &'static str,
    impairment: Impairment,
}

fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario { name: "clean", what: "no impairment", impairment: Impairment::NONE },
        Scenario { name: "loss15", what: "15% random loss", impairment: Impairment::loss(0.15) },
        Scenario { name: "loss20", what: "20% random loss", impairment: Impairment::loss(0.20) },
        Scenario {
            name: "jitter",
            what: "100 ± 30 ms delay",
            impairment: Impairment { delay: ms(100), jitter: ms(30), ..Impairment::NONE },
        },
        Scenario { name: "delay100", what: "100 ms delay", impairment: Impairment::delay(ms(100)) },
    ]
}

/// Kills the child on drop, so a failed run leaves no process in the lab.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Outcome {
    carried: f64,
    clean: f64,
    media_at: Option<Duration>,
    blocks: usize,
}

/// The participants' and the server's stderr: shown with `SWITCHBOARD_BENCH_VERBOSE=1`.
fn stderr() -> Stdio {
    if std::env::var_os("SWITCHBOARD_BENCH_VERBOSE").is_some() { Stdio::inherit() } else { Stdio::null() }
}

fn switchboard() -> &'static str {
    env!("CARGO_BIN_EXE_switchboard")
}

fn participant_config(dir: &Path, uid: &str, input: &str, output: &str) -> PathBuf {
    let path = dir.join(format!("{uid}.toml"));
    let text = format!(
        "[call]\naudio_only_call = true\n[media]\naudio_input = \"{input}\"\naudio_output = \"{output}\"\n\
         [network]\nice = \"all\"\n"
    );
    std::fs::write(&path, text).expect("writes the config");
    path
}

fn join(lab: &Lab, server: &str, dir: &Path, uid: &str, config: &Path, seconds: u64) -> Proc {
    let child = lab
        .command(uid, switchboard())
        .args(["join", "--server", server, "--api-key", API_KEY, "--user", uid, "--session", "net"])
        .arg("--config")
        .arg(config)
        .arg("--events")
        .arg(dir.join(format!("{uid}.events")))
        .args(["--duration", &seconds.to_string()])
        .stdout(Stdio::null())
        .stderr(stderr())
        .spawn()
        .expect("spawns switchboard join");
    Proc(child)
}

fn wait_for_event(path: &Path, name: &str, timeout: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if std::fs::read_to_string(path).is_ok_and(|t| t.contains(&format!("\"event\":\"{name}\""))) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn run(scenario: &Scenario, seconds: u64) -> Outcome {
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = Lab::builder().host("server").host("alice").host("bob").build().expect("builds the lab");
    let listen = format!("{}:7700", lab.addr("server"));
    let mut serve = Proc(
        lab.command("server", switchboard())
            .args(["serve", "--listen", &listen, "--api-key", API_KEY])
            .env("SWITCHBOARD_SECRET", "net-bench-secret-net-bench-secret")
            .stdout(Stdio::piped())
            .stderr(stderr())
            .spawn()
            .expect("spawns switchboard serve"),
    );
    let mut line = String::new();
    let stdout = serve.0.stdout.take().expect("piped");
    std::io::BufReader::new(stdout).read_line(&mut line).expect("reads the address line");
    let server = format!("ws://{listen}");

    lab.link("bob").set(scenario.impairment.clone()).expect("impairs bob's link");
    let alice_config = participant_config(dir.path(), "alice", &format!("tone:{TALKER_HZ}"), "null");
    let _alice = join(&lab, &server, dir.path(), "alice", &alice_config, seconds + 15);
    assert!(
        wait_for_event(&dir.path().join("alice.events"), "session_started", Duration::from_secs(10)),
        "alice joined"
    );
    let wav = dir.path().join("bob.wav");
    let bob_config = participant_config(dir.path(), "bob", "tone:660", &format!("wav:{}", wav.display()));
    let mut bob = join(&lab, &server, dir.path(), "bob", &bob_config, seconds);
    let _ = bob.0.wait();
    analyse(&wav)
}

fn analyse(wav: &Path) -> Outcome {
    let samples: Vec<i16> = match hound::WavReader::open(wav) {
        Ok(mut reader) => reader.samples::<i16>().filter_map(Result::ok).collect(),
        Err(_) => Vec::new(),
    };
    let ratios: Vec<f32> = samples.chunks_exact(BLOCK).map(|b| tone_ratio(b, TALKER_HZ)).collect();
    let Some(first) = ratios.iter().position(|&r| r >= 0.5) else {
        return Outcome { carried: 0.0, clean: 0.0, media_at: None, blocks: ratios.len() };
    };
    // From one second after media began to one second before the end.
    let (start, end) = (first + 50, ratios.len().saturating_sub(50));
    let window = &ratios[start.min(end)..end];
    let share = |min: f32| {
        if window.is_empty() {
            0.0
        } else {
            window.iter().filter(|&&r| r >= min).count() as f64 / window.len() as f64
        }
    };
    Outcome {
        carried: share(0.5),
        clean: share(0.9),
        media_at: Some(Duration::from_millis(first as u64 * 20)),
        blocks: window.len(),
    }
}

fn main() {
    let benchmarking = std::env::args().any(|a| a == "--bench");
    if let Some(why) = switchboard_netlab::unavailable() {
        println!("net_call: skipped: {why}");
        return;
    }
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let seconds: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(if benchmarking { 12 } else { 5 });
    let wanted: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();
    let all = scenarios();
    let chosen: Vec<&Scenario> = if !benchmarking {
        all.iter().filter(|s| s.name == "clean").collect()
    } else if wanted.is_empty() {
        all.iter().collect()
    } else {
        all.iter().filter(|s| wanted.contains(&s.name)).collect()
    };
    println!("net_call: {seconds} s calls, Alice's 440 Hz tone at Bob's sink, Bob's link impaired both ways");
    println!(
        "{:<10} {:<20} {:>9} {:>9} {:>10} {:>7}",
        "scenario", "fault", "carried", "clean", "media at", "blocks"
    );
    for scenario in chosen {
        let out = run(scenario, seconds);
        let media = out.media_at.map_or_else(|| "never".to_owned(), |d| format!("{} ms", d.as_millis()));
        println!(
            "{:<10} {:<20} {:>8.1}% {:>8.1}% {:>10} {:>7}",
            scenario.name,
            scenario.what,
            out.carried * 100.0,
            out.clean * 100.0,
            media,
            out.blocks
        );
        if !benchmarking {
            assert!(out.carried > 0.9, "a clean call carries the tone: {:.1}%", out.carried * 100.0);
        }
    }
}
