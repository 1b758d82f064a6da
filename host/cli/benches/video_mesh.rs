//! CPU of a video mesh: N `switchboard join` processes (default 4) in one session on
//! loopback, each sending the 640x480@30 `pattern:front` camera as VP8 and a tone as Opus,
//! and decoding everyone else's video and audio. Reports the CPU time the processes used
//! over a steady-state window, in cores (CPU seconds per wall second), summed over the
//! participants, and the frame rate each decoded.
//!
//! Run: `cargo bench -p switchboard --bench video_mesh`. Environment:
//! `MESH_PARTICIPANTS` (4), `MESH_SECONDS` (measured window, 10), `MESH_SIZE` (640x480),
//! `MESH_FPS` (30). CPU time comes from /proc/PID/stat (user + system, all threads), so
//! other load on the machine slows the call but is not counted in it.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const API_KEY: &str = "mesh-bench-key";
/// Time for every link to connect and the first keyframes to flow before measuring.
const WARM_UP: Duration = Duration::from_secs(6);

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// User + system CPU seconds of a process, all threads included.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("process alive");
    // The command name is in parentheses and may hold spaces; fields follow the last ')'.
    let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    // Fields 14 and 15 of the full line (utime, stime) are 11 and 12 after the name.
    let ticks: u64 = fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    // SAFETY: sysconf only reads a system constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    ticks as f64 / hz
}

fn spawn_server(bin: &str) -> (Child, String) {
    let mut server = Command::new(bin)
        .args(["serve", "--listen", "127.0.0.1:0", "--api-key", API_KEY])
        .env("SWITCHBOARD_SECRET", "0123456789abcdef0123456789abcdef")
        .stdout(Stdio::piped())
        .spawn()
        .expect("serve starts");
    let stdout = server.stdout.take().expect("piped stdout");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("address line");
    let url = line.trim().rsplit(' ').next().expect("url at the end").to_owned();
    (server, url)
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let participants: usize = env_or("MESH_PARTICIPANTS", 4);
    let seconds: u64 = env_or("MESH_SECONDS", 10);
    let size: String = env_or("MESH_SIZE", "640x480".to_owned());
    let fps: u32 = env_or("MESH_FPS", 30);
    let (width, height) = size.split_once('x').expect("WxH");
    let bin = env!("CARGO_BIN_EXE_switchboard");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("mesh.toml");
    std::fs::write(
        &config,
        format!(
            "[media]\naudio_input = \"tone:440\"\naudio_output = \"null\"\nvideo_input = \"pattern:front\"\n\
             video_width = {width}\nvideo_height = {height}\nvideo_fps = {fps}\n"
        ),
    )
    .expect("config written");

    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("video mesh: {participants} participants, {size}@{fps}, VP8, measured over {seconds} s");
    println!("load average before: {}", loadavg.trim());

    let (mut server, url) = spawn_server(bin);
    let duration = WARM_UP.as_secs() + seconds + 3;
    let mut joins: Vec<Child> = (0..participants)
        .map(|i| {
            let stats = dir.path().join(format!("p{i}.json"));
            Command::new(bin)
                .args(["join", "--server", &url, "--api-key", API_KEY, "--session", "mesh"])
                .args(["--user", &format!("p{i}"), "--config"])
                .arg(&config)
                .args(["--duration", &duration.to_string(), "--events", "/dev/null", "--stats"])
                .arg(&stats)
                .stdout(Stdio::null())
                .spawn()
                .expect("join starts")
        })
        .collect();

    std::thread::sleep(WARM_UP);
    let pids: Vec<u32> = joins.iter().map(Child::id).collect();
    let server_pid = server.id();
    let start = Instant::now();
    let before: Vec<f64> = pids.iter().map(|&p| cpu_seconds(p)).collect();
    let server_before = cpu_seconds(server_pid);
    std::thread::sleep(Duration::from_secs(seconds));
    let wall = start.elapsed().as_secs_f64();
    let after: Vec<f64> = pids.iter().map(|&p| cpu_seconds(p)).collect();
    let server_cores = (cpu_seconds(server_pid) - server_before) / wall;

    let per: Vec<f64> = before.iter().zip(&after).map(|(b, a)| (a - b) / wall).collect();
    for child in &mut joins {
        let status = child.wait().expect("join exits");
        assert!(status.success(), "a participant failed: {status}");
    }
    let _ = server.kill();
    let _ = server.wait();

    println!(
        "CPU per participant (cores): {}",
        per.iter().map(|c| format!("{c:.3}")).collect::<Vec<_>>().join(", ")
    );
    println!("CPU of the mesh (cores):     {:.3}  (target: under 1.0)", per.iter().sum::<f64>());
    println!("CPU of the signaling server: {server_cores:.3}");
    let call_seconds = duration as f64;
    for i in 0..participants {
        let path = dir.path().join(format!("p{i}.json"));
        let stats: serde_json::Value = read_json(&path);
        let decoded: Vec<String> = stats["remote"]
            .as_object()
            .expect("remote stats")
            .iter()
            .map(|(uid, r)| {
                let frames = r["video_frames_decoded"].as_u64().unwrap_or(0);
                format!("{uid} {frames} ({:.1} fps over the call)", frames as f64 / call_seconds)
            })
            .collect();
        println!("p{i} decoded: {}", decoded.join(", "));
    }
    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load average after: {}", loadavg.trim());
}

fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).expect("stats file");
    serde_json::from_str(&text).expect("stats json")
}
