//! The feature plugins in real calls: recording (files ffprobe reads, `recording_toggled`
//! on both sides, SIGKILL mid-recording), picture-in-picture through the view model, and
//! audio routing on PipeWire null sinks. Participants are `switchboard join` processes
//! against a `switchboard serve` process, as a user would run them.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::fixtures::{built_plugin, workspace};

const BIN: &str = env!("CARGO_BIN_EXE_switchboard");
const API_KEY: &str = "features-test-key";

/// A child process killed (and reaped) on drop, so a failed assertion leaves nothing behind.
struct Proc(Option<Child>);

impl Proc {
    fn pid(&self) -> u32 {
        self.0.as_ref().expect("running").id()
    }

    fn wait(mut self) -> std::process::ExitStatus {
        self.0.take().expect("running").wait().expect("waits")
    }

    fn kill9(mut self) {
        let status = Command::new("kill").args(["-KILL", &self.pid().to_string()]).status().expect("kill");
        assert!(status.success());
        let _ = self.0.take().expect("running").wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `switchboard serve` on a free port; returns it and its WebSocket URL.
fn serve() -> (Proc, String) {
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--api-key", API_KEY])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawns switchboard serve");
    let stdout = child.stdout.take().expect("piped");
    let proc = Proc(Some(child));
    let mut line = String::new();
    std::io::BufReader::new(stdout).read_line(&mut line).expect("reads the address line");
    let url = line.trim().rsplit(' ').next().expect("an address").to_owned();
    (proc, url)
}

/// Writes a participant's config: an audio-only call, a tone as microphone, the output
/// given, the default layout, and `plugins` (TOML `[[plugin]]` tables) after it.
fn write_config(dir: &Path, name: &str, tone: u32, output: &str, plugins: &str) -> PathBuf {
    write_call_config(dir, name, "audio_only_call = true", "", tone, output, plugins)
}

/// [`write_config`] for a video call: a small front pattern camera besides the tone.
fn write_video_config(dir: &Path, name: &str, tone: u32, plugins: &str) -> PathBuf {
    let camera = "video_input = \"pattern:front\"\nvideo_width = 320\nvideo_height = 240\nvideo_fps = 15\n";
    write_call_config(dir, name, "audio_only_call = false", camera, tone, "null", plugins)
}

fn write_call_config(
    dir: &Path,
    name: &str,
    call: &str,
    camera: &str,
    tone: u32,
    output: &str,
    plugins: &str,
) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    let layout = built_plugin("layout_default");
    let text = format!(
        "[call]\n{call}\n\n[media]\naudio_input = \"tone:{tone}\"\naudio_output = \"{output}\"\n{camera}\n\
         [[plugin]]\npath = \"{}\"\n\n{plugins}",
        layout.display()
    );
    std::fs::write(&path, text).expect("writes config");
    path
}

/// `switchboard join` as `uid`, writing its events to `<dir>/<uid>.events`.
fn join(server: &str, dir: &Path, uid: &str, config: &Path, script: Option<&str>, seconds: f64) -> Proc {
    let mut cmd = join_command(server, dir, uid, config, script, seconds);
    Proc(Some(cmd.spawn().expect("spawns switchboard join")))
}

/// The command [`join`] runs, for a test that changes its environment first.
fn join_command(
    server: &str,
    dir: &Path,
    uid: &str,
    config: &Path,
    script: Option<&str>,
    seconds: f64,
) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(["join", "--server", server, "--api-key", API_KEY, "--user", uid, "--session", "features"])
        .arg("--config")
        .arg(config)
        .arg("--events")
        .arg(dir.join(format!("{uid}.events")))
        .args(["--duration", &seconds.to_string()])
        .stdout(Stdio::null());
    if let Some(script) = script {
        let path = dir.join(format!("{uid}.script.toml"));
        std::fs::write(&path, script).expect("writes script");
        cmd.arg("--script").arg(path);
    }
    cmd
}

/// The event lines a participant wrote.
fn events(dir: &Path, uid: &str) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join(format!("{uid}.events")))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn named<'a>(events: &'a [serde_json::Value], name: &str) -> Vec<&'a serde_json::Value> {
    events.iter().filter(|e| e["event"] == name).collect()
}

/// ffprobe's codec of the first stream and the duration of a file (the one stream of each
/// recorded track); `None` when ffprobe cannot read it.
fn probe(path: &Path) -> Option<(String, f64)> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "stream=codec_name:format=duration", "-of", "json"])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    if !out.status.success() {
        return None;
    }
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    let codec = json["streams"][0]["codec_name"].as_str()?.to_owned();
    let duration = json["format"]["duration"].as_str()?.parse().ok()?;
    Some((codec, duration))
}

/// True when ffmpeg decodes the whole file without an error.
fn decodes(path: &Path) -> Result<(), String> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-xerror", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .map_err(|e| format!("running ffmpeg: {e}"))?;
    if out.status.success() && out.stderr.is_empty() {
        Ok(())
    } else {
        Err(format!("ffmpeg: {}, {}", out.status, String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// How many frames ffmpeg decodes from a file's first stream, errors or not: what a player
/// shows of a file whose end was cut by a kill (its last frame may be incomplete).
fn decoded_frames(path: &Path) -> u64 {
    let out = Command::new("ffprobe")
        .args(["-v", "quiet", "-count_frames", "-select_streams", "0"])
        .args(["-show_entries", "stream=nb_read_frames", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(0)
}

/// The one recording folder under `folder`.
fn recording_dir(folder: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(folder)
        .unwrap_or_else(|e| panic!("{}: {e}", folder.display()))
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(dirs.len(), 1, "one recording: {dirs:?}");
    dirs[0].clone()
}

fn recording_plugin(folder: &Path) -> String {
    format!(
        "[[plugin]]\npath = \"{}\"\n[plugin.settings]\nfolder = \"{}\"\n",
        built_plugin("recording").display(),
        folder.display()
    )
}

#[test]
fn recording_a_two_party_video_call_gives_playable_files_and_both_sides_hear_of_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let folder = dir.path().join("recordings");
    let (_server, url) = serve();
    let bob_config = write_video_config(dir.path(), "bob", 660, "");
    let alice_config = write_video_config(dir.path(), "alice", 440, &recording_plugin(&folder));
    let bob = join(&url, dir.path(), "bob", &bob_config, None, 8.0);
    std::thread::sleep(Duration::from_millis(300));
    // Recording runs for 3 s, once the link has had time to connect.
    let script = "[[step]]\nat_ms = 2000\naction = \"start_recording\"\n\n\
                  [[step]]\nat_ms = 5000\naction = \"stop_recording\"\n\n\
                  [[step]]\nat_ms = 5800\naction = \"end_session\"\n";
    let alice = join(&url, dir.path(), "alice", &alice_config, Some(script), 8.0);
    assert!(alice.wait().success(), "alice's join exits cleanly");
    let _ = bob.wait();

    for uid in ["alice", "bob"] {
        let events = events(dir.path(), uid);
        let toggles = named(&events, "recording_toggled");
        assert_eq!(toggles.len(), 2, "{uid} got recording_toggled twice: {toggles:?}");
        assert_eq!(toggles[0]["recording_started"], true, "{uid}");
        assert_eq!(toggles[1]["recording_started"], false, "{uid}");
        for t in &toggles {
            assert_eq!(t["user"]["uid"], "alice", "{uid}: alice started and stopped it");
        }
        assert!(named(&events, "error").is_empty(), "{uid} errors: {:?}", named(&events, "error"));
    }

    let rec = recording_dir(&folder);
    for uid in ["alice", "bob"] {
        for (track, expected) in [("audio.opus", "opus"), ("video.webm", "vp8")] {
            let file = rec.join(format!("{uid}-{track}"));
            let (codec, duration) =
                probe(&file).unwrap_or_else(|| panic!("ffprobe reads {}", file.display()));
            assert_eq!(codec, expected, "{}", file.display());
            assert!((duration - 3.0).abs() <= 0.3, "{uid}'s {track} lasts {duration} s, recorded 3 s");
            decodes(&file).unwrap_or_else(|e| panic!("{} does not decode: {e}", file.display()));
        }
    }
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(rec.join("manifest.json")).expect("manifest")).expect("json");
    assert_eq!(manifest["complete"], true);
    assert_eq!(manifest["stopped_by"], "alice");
}

#[test]
fn a_recording_killed_with_sigkill_leaves_playable_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let folder = dir.path().join("recordings");
    let (_server, url) = serve();
    let bob_config = write_video_config(dir.path(), "bob", 660, "");
    let alice_config = write_video_config(dir.path(), "alice", 440, &recording_plugin(&folder));
    let _bob = join(&url, dir.path(), "bob", &bob_config, None, 10.0);
    std::thread::sleep(Duration::from_millis(300));
    let script = "[[step]]\nat_ms = 1500\naction = \"start_recording\"\n";
    let alice = join(&url, dir.path(), "alice", &alice_config, Some(script), 10.0);
    // About 3 s of recording, then the host dies without any chance to close its files.
    std::thread::sleep(Duration::from_millis(4500));
    alice.kill9();

    let rec = recording_dir(&folder);
    for uid in ["alice", "bob"] {
        // A second of Opus is 50 frames, of the 15 fps camera 15.
        for (track, expected, per_second) in [("audio.opus", "opus", 50), ("video.webm", "vp8", 15)] {
            let file = rec.join(format!("{uid}-{track}"));
            let (codec, duration) =
                probe(&file).unwrap_or_else(|| panic!("ffprobe reads {} after SIGKILL", file.display()));
            assert_eq!(codec, expected, "{}", file.display());
            // Everything up to the last second before the kill is there.
            assert!(duration >= 1.0, "{uid}'s {track} after SIGKILL lasts {duration} s");
            let frames = decoded_frames(&file);
            assert!(frames >= per_second, "{}: {frames} frames decode after SIGKILL", file.display());
        }
    }
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(rec.join("manifest.json")).expect("manifest")).expect("json");
    assert_eq!(manifest["complete"], false, "the manifest says the recording was cut short");
}

/// A participant alone in the call records its own audio too (nothing is sent then, but
/// the recorder still gets every encoded frame).
#[test]
fn recording_alone_records_the_local_audio() {
    let dir = tempfile::tempdir().expect("tempdir");
    let folder = dir.path().join("recordings");
    let (_server, url) = serve();
    let config = write_config(dir.path(), "alice", 440, "null", &recording_plugin(&folder));
    let script = "[[step]]\nat_ms = 300\naction = \"start_recording\"\n\n\
                  [[step]]\nat_ms = 2300\naction = \"stop_recording\"\n\n\
                  [[step]]\nat_ms = 2600\naction = \"end_session\"\n";
    let alice = join(&url, dir.path(), "alice", &config, Some(script), 5.0);
    assert!(alice.wait().success(), "alice's join exits cleanly");
    let file = recording_dir(&folder).join("alice-audio.opus");
    let (codec, duration) = probe(&file).unwrap_or_else(|| panic!("ffprobe reads {}", file.display()));
    assert_eq!(codec, "opus");
    assert!((duration - 2.0).abs() <= 0.3, "alice's audio lasts {duration} s, recorded 2 s alone");
    decodes(&file).unwrap_or_else(|e| panic!("{} does not decode: {e}", file.display()));
}

#[test]
fn a_late_joiner_learns_that_the_call_is_being_recorded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let folder = dir.path().join("recordings");
    let (_server, url) = serve();
    let alice_config = write_config(dir.path(), "alice", 440, "null", &recording_plugin(&folder));
    let bob_config = write_config(dir.path(), "bob", 660, "null", "");
    let script = "[[step]]\nat_ms = 300\naction = \"start_recording\"\n";
    let alice = join(&url, dir.path(), "alice", &alice_config, Some(script), 4.0);
    std::thread::sleep(Duration::from_millis(1500));
    let bob = join(&url, dir.path(), "bob", &bob_config, None, 2.0);
    assert!(bob.wait().success(), "bob's join exits cleanly");
    drop(alice);

    let events = events(dir.path(), "bob");
    let toggles = named(&events, "recording_toggled");
    assert_eq!(toggles.len(), 1, "bob is told once: {toggles:?}");
    assert_eq!(toggles[0]["recording_started"], true);
    assert_eq!(toggles[0]["user"]["uid"], "alice", "and by whom");
}

#[test]
fn feature_plugins_pass_conformance() {
    for (lib, settings) in [
        ("recording", r#"{"folder": "{tmp}/rec"}"#),
        ("pip", "{}"),
        ("audio_routing", r#"{"default_audio_mode": "SPEAKER"}"#),
    ] {
        let out = Command::new(BIN)
            .arg("conformance")
            .arg(built_plugin(lib))
            .args(["--json", "--seed", "42", "--settings", settings])
            .output()
            .expect("running switchboard conformance");
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
        let failed: Vec<_> = report["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .filter(|c| c["status"] != "passed" && c["status"] != "skipped" && c["status"] != "warning")
            .collect();
        assert!(failed.is_empty(), "{lib}: {failed:#?}");
        assert!(out.status.success(), "{lib}: conformance exit status");
    }
}

// ---------------------------------------------------------------------------------------
// Audio routing on PipeWire null sinks

/// Waits (up to `timeout`) for an `audio_mode_changed` of `uid` after the first `skip`
/// events that satisfies `want`; returns its index.
fn wait_for_modes(
    dir: &Path,
    uid: &str,
    skip: usize,
    timeout: Duration,
    want: impl Fn(&[(String, bool)]) -> bool,
) -> Option<usize> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let all = events(dir, uid);
        for (i, e) in all.iter().enumerate().skip(skip) {
            if e["event"] != "audio_mode_changed" {
                continue;
            }
            let modes: Vec<(String, bool)> = e["modes"]
                .as_array()
                .map(|m| {
                    m.iter()
                        .map(|m| {
                            (m["mode"].as_str().unwrap_or_default().to_owned(), m["is_selected"] == true)
                        })
                        .collect()
                })
                .unwrap_or_default();
            if want(&modes) {
                return Some(i);
            }
        }
        if std::time::Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn selected(modes: &[(String, bool)], mode: &str) -> bool {
    modes.iter().any(|(m, s)| m == mode && *s)
}

fn available(modes: &[(String, bool)], mode: &str) -> bool {
    modes.iter().any(|(m, _)| m == mode)
}

/// Listens on both monitors side by side after dropping what they hold.
fn listen(
    a: &mut switchboard_media::audio::AudioSource,
    b: &mut switchboard_media::audio::AudioSource,
) -> (Vec<i16>, Vec<i16>) {
    while a.frames().try_recv().is_ok() {}
    while b.frames().try_recv().is_ok() {}
    super::media::collect(a, 300);
    super::media::collect(b, 300);
    (super::media::collect(a, 800), super::media::collect(b, 800))
}

fn pipewire_up(sinks: &[&str]) {
    let out =
        Command::new(workspace().join("scripts/pipewire-up.sh")).args(sinks).output().expect("pipewire-up");
    assert!(out.status.success(), "pipewire-up: {}", String::from_utf8_lossy(&out.stderr));
}

/// Unloads the null sink `name` and its monitor remap (what pipewire-up.sh loaded).
fn remove_sink(name: &str) {
    let list = Command::new("pactl").args(["list", "short", "modules"]).output().expect("pactl");
    let list = String::from_utf8_lossy(&list.stdout).into_owned();
    for line in list.lines() {
        if line.contains(&format!("sink_name={name} "))
            || line.contains(&format!("source_name={name}_monitor "))
        {
            let id = line.split_whitespace().next().expect("module id");
            assert!(Command::new("pactl").args(["unload-module", id]).status().expect("pactl").success());
        }
    }
}

/// The routing tests' devices: PipeWire held for this test, sinks `spk_a` and `spk_b` (and
/// no `spk_bt` left by an earlier run, which would make BLUETOOTH available from the
/// start), and a capture of each sink's monitor.
fn routing_sinks() -> (
    std::sync::MutexGuard<'static, ()>,
    switchboard_media::audio::AudioSource,
    switchboard_media::audio::AudioSource,
) {
    use switchboard_config::AudioInput;
    let pw = super::media::require_pipewire();
    remove_sink("spk_bt");
    pipewire_up(&["spk_a", "spk_b"]);
    let monitor = |sink: &str| {
        switchboard_media::audio::start_source(&AudioInput::Device(format!("{sink}_monitor")))
            .unwrap_or_else(|e| panic!("monitor of {sink}: {e}"))
    };
    (pw, monitor("spk_a"), monitor("spk_b"))
}

#[test]
fn audio_routing_plays_on_the_selected_sink_moves_on_set_audio_mode_and_follows_sinks() {
    use switchboard_media::audio::analysis::{rms, tone_ratio};

    let (_pw, mut mon_a, mut mon_b) = routing_sinks();

    let dir = tempfile::tempdir().expect("tempdir");
    let (_server, url) = serve();
    let bob_config = write_config(dir.path(), "bob", 440, "null", "");
    let routing = format!(
        "[[plugin]]\npath = \"{}\"\n[plugin.settings]\ndefault_audio_mode = \"SPEAKER\"\n\
         [[plugin.settings.rule]]\npattern = \"spk_a\"\nmode = \"SPEAKER\"\n\
         [[plugin.settings.rule]]\npattern = \"spk_b\"\nmode = \"HEADPHONES\"\n\
         [[plugin.settings.rule]]\npattern = \"spk_bt\"\nmode = \"BLUETOOTH\"\n",
        built_plugin("audio_routing").display()
    );
    // Alice starts on no device: the plugin routes her to SPEAKER (spk_a) at once.
    let alice_config = write_config(dir.path(), "alice", 880, "null", &routing);
    let _bob = join(&url, dir.path(), "bob", &bob_config, None, 40.0);
    std::thread::sleep(Duration::from_millis(300));
    let script = "[[step]]\nat_ms = 7000\naction = \"set_audio_mode\"\nmode = \"HEADPHONES\"\n";
    let _alice = join(&url, dir.path(), "alice", &alice_config, Some(script), 40.0);

    let first = wait_for_modes(dir.path(), "alice", 0, Duration::from_secs(10), |m| {
        selected(m, "SPEAKER") && available(m, "HEADPHONES") && !available(m, "BLUETOOTH")
    })
    .expect("audio_mode_changed with SPEAKER selected at the start");
    std::thread::sleep(Duration::from_millis(1500)); // the link connects, bob's tone arrives
    let (a, b) = listen(&mut mon_a, &mut mon_b);
    assert!(
        tone_ratio(&a, 440.0) > super::media::LIVE_TONE,
        "SPEAKER plays on spk_a: {}",
        tone_ratio(&a, 440.0)
    );
    assert!(rms(&b) < 0.001, "spk_b is silent: rms {}", rms(&b));

    let moved = wait_for_modes(dir.path(), "alice", first + 1, Duration::from_secs(10), |m| {
        selected(m, "HEADPHONES")
    })
    .expect("audio_mode_changed with HEADPHONES selected after set_audio_mode");
    let (a, b) = listen(&mut mon_a, &mut mon_b);
    assert!(
        tone_ratio(&b, 440.0) > super::media::LIVE_TONE,
        "HEADPHONES plays on spk_b: {}",
        tone_ratio(&b, 440.0)
    );
    assert!(rms(&a) < 0.001, "spk_a is silent after the move: rms {}", rms(&a));

    // A sink appears mid-call, then goes away: audio_mode_changed each time.
    pipewire_up(&["spk_a", "spk_b", "spk_bt"]);
    let added = wait_for_modes(dir.path(), "alice", moved + 1, Duration::from_secs(10), |m| {
        available(m, "BLUETOOTH") && selected(m, "HEADPHONES")
    });
    remove_sink("spk_bt");
    pipewire_up(&["spk_a", "spk_b"]);
    let added = added.expect("audio_mode_changed listing BLUETOOTH once spk_bt exists");
    wait_for_modes(dir.path(), "alice", added + 1, Duration::from_secs(10), |m| {
        !available(m, "BLUETOOTH") && selected(m, "HEADPHONES")
    })
    .expect("audio_mode_changed without BLUETOOTH once spk_bt is gone");
    let errors = named(&events(dir.path(), "alice"), "error").into_iter().cloned().collect::<Vec<_>>();
    assert!(errors.is_empty(), "alice's errors: {errors:?}");
}

/// Issue 6 (audio routing): when playback cannot move to the new device, the call keeps
/// playing on the old one, an `error` event names the device that failed, and
/// `audio_mode_changed` keeps the old mode selected (it never reports the new one).
#[test]
fn a_move_that_fails_keeps_playing_on_the_old_device_and_the_old_mode_selected() {
    use switchboard_media::audio::analysis::tone_ratio;

    let (_pw, mut mon_a, mut mon_b) = routing_sinks();

    // A device ALSA lists but cannot open: a LADSPA PCM whose plugin does not exist (a PCM
    // on a missing sound card would not even be listed). Only alice sees it: her HOME holds
    // the shared ~/.asoundrc plus that PCM.
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).expect("creates a home");
    let real = std::env::var_os("HOME").map(PathBuf::from).expect("HOME is set");
    let mut asoundrc =
        std::fs::read_to_string(real.join(".asoundrc")).expect("pipewire-up wrote ~/.asoundrc");
    asoundrc.push_str(
        "pcm.spk_broken { type ladspa; slave.pcm \"null\"; path \"/nonexistent\"; \
         plugins [ { label no_such_plugin } ]; hint { show on; description \"cannot be opened\" } }\n",
    );
    std::fs::write(home.join(".asoundrc"), asoundrc).expect("writes .asoundrc");

    let (_server, url) = serve();
    let bob_config = write_config(dir.path(), "bob", 440, "null", "");
    let routing = format!(
        "[[plugin]]\npath = \"{}\"\n[plugin.settings]\ndefault_audio_mode = \"SPEAKER\"\n\
         [[plugin.settings.rule]]\npattern = \"spk_a\"\nmode = \"SPEAKER\"\n\
         [[plugin.settings.rule]]\npattern = \"spk_broken\"\nmode = \"HEADPHONES\"\n",
        built_plugin("audio_routing").display()
    );
    let alice_config = write_config(dir.path(), "alice", 880, "null", &routing);
    let _bob = join(&url, dir.path(), "bob", &bob_config, None, 40.0);
    std::thread::sleep(Duration::from_millis(300));
    let script = "[[step]]\nat_ms = 5000\naction = \"set_audio_mode\"\nmode = \"HEADPHONES\"\n";
    let mut alice = join_command(&url, dir.path(), "alice", &alice_config, Some(script), 40.0);
    alice.env("HOME", &home);
    let _alice = Proc(Some(alice.spawn().expect("spawns alice")));

    wait_for_modes(dir.path(), "alice", 0, Duration::from_secs(10), |m| {
        selected(m, "SPEAKER") && available(m, "HEADPHONES")
    })
    .expect("audio_mode_changed with SPEAKER selected and HEADPHONES (spk_broken) available");

    // The move fails: an error that says which device and where playback stays.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let failed = loop {
        let all = events(dir.path(), "alice");
        if let Some(i) = all.iter().position(|e| e["event"] == "error") {
            break (i, all[i].clone());
        }
        assert!(std::time::Instant::now() < deadline, "no error event after the failed move: {all:?}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let message = failed.1["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("moving playback to `spk_broken` failed")
            && message.contains("stays on `device:spk_a`")
            && message.contains("device `spk_broken` is not available"),
        "{message}"
    );
    // The plugin stops waiting for the move and reports the modes as they are.
    wait_for_modes(dir.path(), "alice", failed.0 + 1, Duration::from_secs(10), |m| {
        selected(m, "SPEAKER") && !selected(m, "HEADPHONES")
    })
    .expect("audio_mode_changed with SPEAKER still selected after the failed move");
    let all = events(dir.path(), "alice");
    for e in named(&all, "audio_mode_changed") {
        let headphones = e["modes"]
            .as_array()
            .is_some_and(|m| m.iter().any(|m| m["mode"] == "HEADPHONES" && m["is_selected"] == true));
        assert!(!headphones, "HEADPHONES was never playing: {e}");
    }

    // Bob is still heard, on spk_a.
    let (a, _) = listen(&mut mon_a, &mut mon_b);
    assert!(
        tone_ratio(&a, 440.0) > super::media::LIVE_TONE,
        "the call still plays on spk_a: {}",
        tone_ratio(&a, 440.0)
    );
    assert_eq!(named(&all, "error").len(), 1, "one error for one failed move: {:?}", named(&all, "error"));
}
