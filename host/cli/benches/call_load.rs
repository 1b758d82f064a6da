//! CPU and memory of an N-party audio-only call (default 8): `switchboard serve` and N
//! `switchboard join` processes (the bench profile's binary) in a full mesh on loopback,
//! each sending its own tone and mixing everyone else's into a `null` sink (paced in real
//! time like a device, without one).
//!
//! Once every participant sees all N in the call and a settling time has passed, CPU is
//! read from `/proc/PID/stat` (utime + stime) at the start and end of a measurement window,
//! and memory from `/proc/PID/status` (VmRSS at the end, VmHWM the peak). The stats files
//! written at exit prove the media flowed: every participant decoded every other.
//!
//! The same host gives very different CPU figures from hour to hour (neighbours on the
//! hypervisor, shared caches), so each run also measures, right after its window and with
//! the call still running, a reference (the median of three): the call's Opus work alone
//! (N encodes and N x (N-1) decodes of the same tones per 20 ms) in a hot loop on one
//! thread. The call's CPU divided by that reference is comparable between runs and hours;
//! the reference itself says how fast the host was. The host's steal time over the window
//! is printed too.
//!
//! `cargo bench -p switchboard --bench call_load [-- N]`
//! (`SWITCHBOARD_BENCH_WINDOW=SECS` sets the window, default 10; `SWITCHBOARD_BIN=PATH`
//! measures another build of the binary).

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use switchboard_media::audio::{AudioFormat, OpusDecoder, OpusEncoder};

const API_KEY: &str = "bench-key";
const SETTLE: Duration = Duration::from_secs(3);

/// Kills its children when the bench ends or panics.
struct Children(Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// utime + stime in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("reads /proc/PID/stat");
    // The command name is in parentheses and may hold spaces; fields count from after it.
    let rest = &stat[stat.rfind(')').expect("a comm field") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of stat(5) are the 12th and 13th after the comm.
    fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
}

/// A `/proc/PID/status` field in kB.
fn status_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("reads /proc/PID/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a system constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    assert!(ticks > 0, "sysconf(_SC_CLK_TCK) failed");
    ticks as f64
}

/// (steal, total) jiffies of all CPUs from the first line of `/proc/stat`.
fn host_jiffies() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").expect("reads /proc/stat");
    let cpu = stat.lines().next().expect("a cpu line");
    let fields: Vec<u64> = cpu.split_whitespace().skip(1).filter_map(|f| f.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal (guest time is inside user already).
    (fields.get(7).copied().unwrap_or(0), fields.iter().take(8).sum())
}

/// The tone participant `i` sends, as the `tone:HZ` source makes it (0.3 of full scale).
fn tone_frames(hz: f64, frames: usize) -> Vec<Vec<i16>> {
    let step = std::f64::consts::TAU * hz / f64::from(AudioFormat::SAMPLE_RATE);
    (0..frames)
        .map(|f| {
            (0..AudioFormat::FRAME_SAMPLES)
                .map(|s| {
                    (((f * AudioFormat::FRAME_SAMPLES + s) as f64 * step).sin() * 0.3 * f64::from(i16::MAX))
                        as i16
                })
                .collect()
        })
        .collect()
}

/// CPU seconds this thread has used.
fn thread_cpu() -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid timespec for the call to fill in.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

/// The Opus work of `seconds` of an `n`-party call (each of the `n` tones encoded once and
/// decoded by the `n - 1` others), done in a hot loop: its CPU as a % of one core over
/// `seconds` of call.
fn codec_reference(n: usize, seconds: usize) -> f64 {
    let frames_per_second = (1000 / AudioFormat::FRAME_DURATION.as_millis()) as usize;
    let mut packets: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut encode_cpu = 0.0;
    for i in 0..n {
        let frames = tone_frames(300.0 + 100.0 * i as f64, seconds * frames_per_second);
        let mut encoder = OpusEncoder::new().expect("encoder");
        let start = thread_cpu();
        let encoded: Vec<Vec<u8>> = frames.iter().map(|f| encoder.encode(f).expect("encodes")).collect();
        encode_cpu += thread_cpu() - start;
        packets.push(encoded);
    }
    let start = thread_cpu();
    for (i, stream) in packets.iter().enumerate() {
        for _listener in (0..n).filter(|&j| j != i) {
            let mut decoder = OpusDecoder::new().expect("decoder");
            for packet in stream {
                std::hint::black_box(decoder.decode(packet).expect("decodes"));
            }
        }
    }
    let decode_cpu = thread_cpu() - start;
    (encode_cpu + decode_cpu) / seconds as f64 * 100.0
}

fn count_users(events: &Path) -> usize {
    let Ok(text) = std::fs::read_to_string(events) else { return 0 };
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"] == "user_list_changed")
        .filter_map(|e| e["users"].as_array().map(Vec::len))
        .next_back()
        .unwrap_or(0)
}

fn main() {
    let n: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(8);
    let window = Duration::from_secs(
        std::env::var("SWITCHBOARD_BENCH_WINDOW").ok().and_then(|v| v.parse().ok()).unwrap_or(10),
    );
    // SWITCHBOARD_BIN runs another build of the binary (e.g. a release one from a debug
    // build of this bench, which compiles much faster than the bench profile's dev-deps).
    let bin =
        std::env::var("SWITCHBOARD_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_switchboard").to_owned());
    let bin = bin.as_str();
    println!("binary: {bin}");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut children = Children(Vec::new());

    let mut serve = Command::new(bin)
        .args(["serve", "--listen", "127.0.0.1:0", "--api-key", API_KEY])
        .env("SWITCHBOARD_SECRET", "bench-secret-0123456789abcdef")
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawns serve");
    let stdout = serve.stdout.take().expect("piped");
    children.0.push(serve);
    let mut line = String::new();
    std::io::BufReader::new(stdout).read_line(&mut line).expect("the address line");
    let url = line.trim().rsplit(' ').next().expect("an address").to_owned();

    let config = dir.path().join("call.toml");
    let mut parts: Vec<(PathBuf, PathBuf)> = Vec::new();
    let joined_at = Instant::now();
    for i in 0..n {
        let hz = 300 + 100 * i;
        let config = config.with_file_name(format!("p{i}.toml"));
        std::fs::write(
            &config,
            format!("[call]\naudio_only_call = true\n[media]\naudio_input = \"tone:{hz}\"\naudio_output = \"null\"\n"),
        )
        .expect("writes the config");
        let events = dir.path().join(format!("p{i}.events"));
        let stats = dir.path().join(format!("p{i}.stats.json"));
        let child = Command::new(bin)
            .args(["join", "--server", &url, "--api-key", API_KEY, "--session", "load"])
            .args(["--user", &format!("p{i}"), "--duration", "120"])
            .arg("--config")
            .arg(&config)
            .arg("--events")
            .arg(&events)
            .arg("--stats")
            .arg(&stats)
            .stdout(Stdio::null())
            .spawn()
            .expect("spawns join");
        children.0.push(child);
        parts.push((events, stats));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while parts.iter().any(|(events, _)| count_users(events) < n) {
        assert!(Instant::now() < deadline, "not everyone saw all {n} participants");
        std::thread::sleep(Duration::from_millis(50));
    }
    println!("{n} participants in the call after {:.1} s", joined_at.elapsed().as_secs_f64());
    std::thread::sleep(SETTLE);

    let pids: Vec<u32> = children.0.iter().map(Child::id).collect();
    let before: Vec<u64> = pids.iter().map(|&p| cpu_ticks(p)).collect();
    let host_before = host_jiffies();
    let start = Instant::now();
    std::thread::sleep(window);
    let after: Vec<u64> = pids.iter().map(|&p| cpu_ticks(p)).collect();
    let elapsed = start.elapsed().as_secs_f64();
    let host_after = host_jiffies();
    let steal = (host_after.0 - host_before.0) as f64 / (host_after.1 - host_before.1).max(1) as f64 * 100.0;
    // With the call still running, so the reference sees the same neighbours.
    // The median of three short repetitions: one of them alone can meet a busy moment.
    let mut references: Vec<f64> = (0..3).map(|_| codec_reference(n, 2)).collect();
    references.sort_by(f64::total_cmp);
    let reference = references[1];
    let hz = clock_ticks_per_second();
    let share = |i: usize| (after[i] - before[i]) as f64 / hz / elapsed * 100.0;

    let mut total = 0.0;
    let (mut rss, mut hwm) = (Vec::new(), Vec::new());
    for (i, &pid) in pids.iter().enumerate() {
        let (r, h) = (status_kb(pid, "VmRSS:"), status_kb(pid, "VmHWM:"));
        let who = if i == 0 { "serve".to_owned() } else { format!("join p{}", i - 1) };
        println!(
            "{who:<10} cpu {:>5.1} % of a core  rss {:>6.1} MB  peak {:>6.1} MB",
            share(i),
            r as f64 / 1024.0,
            h as f64 / 1024.0
        );
        total += share(i);
        if i > 0 {
            rss.push(r as f64 / 1024.0);
            hwm.push(h as f64 / 1024.0);
        }
    }
    let joins: f64 = (1..pids.len()).map(share).sum();
    println!(
        "total cpu {total:.1} % of one core ({joins:.1} % in the {n} participants, {:.1} % in serve) over {elapsed:.1} s",
        share(0)
    );
    println!(
        "reference: the call's Opus work alone takes {reference:.1} % of one core here; \
         call / reference = {:.2}; host steal time over the window {steal:.1} %",
        total / reference
    );
    let max = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    println!(
        "participant rss: mean {:.1} MB, max {:.1} MB; peak (VmHWM) max {:.1} MB",
        mean(&rss),
        max(&rss),
        max(&hwm)
    );

    // End everyone with SIGTERM and check the stats: all decoded all.
    for child in &children.0[1..] {
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    }
    for child in &mut children.0[1..] {
        let _ = child.wait();
    }
    let mut least = u64::MAX;
    for (i, (_, stats)) in parts.iter().enumerate() {
        let text = std::fs::read_to_string(stats).expect("stats written");
        let json: serde_json::Value = serde_json::from_str(&text).expect("stats JSON");
        for j in (0..n).filter(|&j| j != i) {
            let decoded = json["remote"][format!("p{j}")]["audio_frames_decoded"].as_u64().unwrap_or(0);
            least = least.min(decoded);
        }
    }
    println!("fewest audio frames any participant decoded from any other: {least}");
    assert!(least > 0, "some pair of participants never heard each other");
}
