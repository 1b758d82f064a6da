//! Unit tests of the recording plugin through the SDK harness (the real ABI glue), with
//! ffprobe reading the files it writes.

use std::path::Path;
use std::process::Command as Process;

use switchboard_core::abi::{codec, media_kind};
use switchboard_core::sdk::MediaFrame;
use switchboard_core::sdk::testing::Harness;
use switchboard_core::{Command, Event, RtcUser};

use super::*;

fn alice() -> RtcUser {
    RtcUser::new("alice", "Alice")
}

fn harness(folder: &Path) -> Harness<Recording> {
    Harness::<Recording>::with_settings(&serde_json::json!({ "folder": folder })).expect("plugin created")
}

/// Feeds `seconds` of 20 ms frames for `uid`, starting at `from_us`.
fn feed(h: &mut Harness<Recording>, uid: &str, from_us: u64, seconds: u64) {
    for i in 0..seconds * 50 {
        let frame = MediaFrame {
            kind: media_kind::AUDIO,
            codec: codec::OPUS,
            keyframe: false,
            timestamp_us: from_us + i * 20_000,
            participant: uid,
            track: "audio",
            data: &OPUS_SILENCE,
        };
        h.media(&frame).expect("media accepted");
    }
}

/// The one recording directory under `folder`.
fn recording_dir(folder: &Path) -> std::path::PathBuf {
    let dirs: Vec<_> = std::fs::read_dir(folder).expect("folder").map(|e| e.expect("entry").path()).collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs[0].clone()
}

/// ffprobe's (codec, duration in seconds) of a file's one stream.
fn probe(path: &Path) -> (String, f64) {
    let out = Process::new("ffprobe")
        .args(["-v", "error", "-show_entries", "stream=codec_name:format=duration", "-of", "json"])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    assert!(out.status.success(), "ffprobe {}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("ffprobe json");
    let codec = json["streams"][0]["codec_name"].as_str().expect("codec").to_owned();
    let duration = json["format"]["duration"].as_str().expect("duration").parse().expect("number");
    (codec, duration)
}

#[test]
fn toc_byte_gives_the_packet_duration() {
    assert_eq!(opus_packet_samples(&OPUS_SILENCE), Some(960));
    // SILK 60 ms, one frame; CELT 2.5 ms, code 3 with 4 frames.
    assert_eq!(opus_packet_samples(&[3 << 3]), Some(2880));
    assert_eq!(opus_packet_samples(&[(16 << 3) | 3, 4]), Some(480));
    assert_eq!(opus_packet_samples(&[]), None);
}

#[test]
fn start_and_stop_write_one_playable_file_per_track_and_announce() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut h = harness(dir.path());
    h.events(&[Event::SessionStarted { session_id: "s1".into(), user: alice() }]).expect("events");
    let commands = h.command(Command::StartRecording, &alice()).expect("abi").expect("started");
    assert_eq!(commands, vec![Command::AnnounceRecording { started: true }]);
    feed(&mut h, "alice", 1_000_000, 3);
    feed(&mut h, "bob", 1_500_000, 2);
    let commands = h.command(Command::StopRecording, &alice()).expect("abi").expect("stopped");
    assert_eq!(commands, vec![Command::AnnounceRecording { started: false }]);

    let rec = recording_dir(dir.path());
    assert!(rec.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("s1-")));
    let (codec, duration) = probe(&rec.join("alice-audio.opus"));
    assert_eq!(codec, "opus");
    assert!((duration - 3.0).abs() < 0.1, "alice: {duration}");
    let (_, duration) = probe(&rec.join("bob-audio.opus"));
    assert!((duration - 2.0).abs() < 0.1, "bob: {duration}");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(rec.join("manifest.json")).expect("manifest")).expect("json");
    assert_eq!(manifest["complete"], true);
    assert_eq!(manifest["started_by"], "alice");
    assert_eq!(manifest["tracks"].as_array().map(Vec::len), Some(2));
    let bob = manifest["tracks"].as_array().expect("tracks").iter().find(|t| t["participant"] == "bob");
    assert_eq!(bob.expect("bob's track")["start_offset_ms"], 500);
}

#[test]
fn a_gap_in_the_packets_is_filled_so_the_duration_stays_true() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut h = harness(dir.path());
    h.command(Command::StartRecording, &alice()).expect("abi").expect("started");
    feed(&mut h, "alice", 0, 1);
    // Muted for two seconds, then one more second.
    feed(&mut h, "alice", 3_000_000, 1);
    h.command(Command::StopRecording, &alice()).expect("abi").expect("stopped");
    let (_, duration) = probe(&recording_dir(dir.path()).join("alice-audio.opus"));
    assert!((duration - 4.0).abs() < 0.1, "{duration}");
}

#[test]
fn starting_twice_or_stopping_when_idle_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut h = harness(dir.path());
    let e = h.command(Command::StopRecording, &alice()).expect("abi").expect_err("not recording");
    assert_eq!(e.code, ErrorCode::InvalidState);
    h.command(Command::StartRecording, &alice()).expect("abi").expect("started");
    let e = h.command(Command::StartRecording, &alice()).expect("abi").expect_err("already");
    assert_eq!(e.code, ErrorCode::InvalidState);
    assert!(e.message.contains("already recording"), "{}", e.message);
}

#[test]
fn start_recording_on_call_start_starts_with_the_session() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut h = Harness::<Recording>::with_settings(
        &serde_json::json!({ "folder": dir.path(), "start_recording_on_call_start": true }),
    )
    .expect("plugin created");
    let commands =
        h.events(&[Event::SessionStarted { session_id: "s2".into(), user: alice() }]).expect("events");
    assert_eq!(commands, vec![Command::AnnounceRecording { started: true }]);
}

#[test]
fn files_are_readable_while_recording_is_still_going() {
    // What a SIGKILL leaves: no end-of-stream, only the pages written so far.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut h = harness(dir.path());
    h.command(Command::StartRecording, &alice()).expect("abi").expect("started");
    feed(&mut h, "alice", 0, 3);
    let (_, duration) = probe(&recording_dir(dir.path()).join("alice-audio.opus"));
    assert!((2.0..=3.0).contains(&duration), "at most a second is still in memory: {duration}");
}

#[test]
fn unknown_settings_are_refused() {
    let e = Harness::<Recording>::with_settings(&serde_json::json!({ "folderr": "x" })).expect_err("refused");
    assert!(e.message.contains("folderr"), "{}", e.message);
}

/// Real VP8 frames: `seconds` of ffmpeg's test pattern at 30 fps (a keyframe every
/// second), read back from the IVF file ffmpeg writes.
fn vp8_frames(dir: &Path, seconds: u32) -> Vec<Vec<u8>> {
    let ivf = dir.join("pattern.ivf");
    let status = Process::new("ffmpeg")
        .args(["-v", "error", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=30", "-t"])
        .arg(seconds.to_string())
        .args(["-c:v", "libvpx", "-g", "30", "-y"])
        .arg(&ivf)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success(), "ffmpeg made the VP8 test pattern");
    let bytes = std::fs::read(&ivf).expect("ivf");
    let mut frames = Vec::new();
    let mut at = 32;
    while at + 12 <= bytes.len() {
        let size = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize;
        frames.push(bytes[at + 12..at + 12 + size].to_vec());
        at += 12 + size;
    }
    frames
}

/// Feeds VP8 frames for `uid` at 30 fps from `from_us`.
fn feed_video(h: &mut Harness<Recording>, uid: &str, from_us: u64, frames: &[Vec<u8>]) {
    for (i, data) in frames.iter().enumerate() {
        let frame = MediaFrame {
            kind: media_kind::VIDEO,
            codec: codec::VP8,
            keyframe: video::vp8_keyframe_size(data).is_some(),
            timestamp_us: from_us + i as u64 * 33_333,
            participant: uid,
            track: "video",
            data,
        };
        h.media(&frame).expect("media accepted");
    }
}

#[test]
fn vp8_keyframes_give_their_size_and_interframes_do_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let frames = vp8_frames(dir.path(), 1);
    assert_eq!(video::vp8_keyframe_size(&frames[0]), Some((160, 120)));
    assert_eq!(video::vp8_keyframe_size(&frames[1]), None);
    assert_eq!(video::vp8_keyframe_size(&[0; 4]), None);
}

#[test]
fn video_is_written_as_webm_from_its_first_keyframe() {
    let dir = tempfile::tempdir().expect("tempdir");
    let frames = vp8_frames(dir.path(), 3);
    let folder = dir.path().join("rec");
    let mut h = harness(&folder);
    h.command(Command::StartRecording, &alice()).expect("abi").expect("started");
    feed(&mut h, "alice", 0, 3);
    // The track joins mid-GOP: the frames before the next keyframe cannot be decoded.
    feed_video(&mut h, "alice", 0, &frames[20..]);
    h.command(Command::StopRecording, &alice()).expect("abi").expect("stopped");

    let rec = recording_dir(&folder);
    let (codec, duration) = probe(&rec.join("alice-video.webm"));
    assert_eq!(codec, "vp8");
    // From the keyframe at frame 30 (1 s) to the end (3 s).
    assert!((duration - 2.0).abs() < 0.1, "video: {duration}");
    let decoded = Process::new("ffmpeg")
        .args(["-v", "error", "-xerror", "-i"])
        .arg(rec.join("alice-video.webm"))
        .args(["-f", "null", "-"])
        .output()
        .expect("ffmpeg runs");
    assert!(
        decoded.status.success() && decoded.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&decoded.stderr)
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(rec.join("manifest.json")).expect("manifest")).expect("json");
    let video = manifest["tracks"].as_array().expect("tracks").iter().find(|t| t["track"] == "video");
    let video = video.expect("the video track is in the manifest");
    assert_eq!(video["container"], "webm");
    assert_eq!(video["frames"], 60);
    assert_eq!(video["keyframes"], 2);
    assert_eq!(video["start_offset_ms"], 333, "a third of a second after the audio's first frame");
    assert_eq!(manifest["video_frames_before_keyframe"], 10);
}

#[test]
fn a_webm_being_written_states_its_duration_to_the_last_second() {
    // What a SIGKILL leaves: libwebm never finalized the file.
    let dir = tempfile::tempdir().expect("tempdir");
    let frames = vp8_frames(dir.path(), 4);
    let folder = dir.path().join("rec");
    let mut h = harness(&folder);
    h.command(Command::StartRecording, &alice()).expect("abi").expect("started");
    feed_video(&mut h, "alice", 0, &frames);
    let (codec, duration) = probe(&recording_dir(&folder).join("alice-video.webm"));
    assert_eq!(codec, "vp8");
    assert!((3.0..=4.1).contains(&duration), "at most the last second is not stated: {duration}");
}

#[test]
fn h264_video_is_counted_not_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut h = harness(dir.path());
    h.command(Command::StartRecording, &alice()).expect("abi").expect("started");
    let frame = MediaFrame {
        kind: media_kind::VIDEO,
        codec: codec::H264,
        keyframe: true,
        timestamp_us: 0,
        participant: "alice",
        track: "video",
        data: &[0, 0, 0, 1, 0x65],
    };
    h.media(&frame).expect("media accepted");
    h.command(Command::StopRecording, &alice()).expect("abi").expect("stopped");
    let rec = recording_dir(dir.path());
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(rec.join("manifest.json")).expect("manifest")).expect("json");
    assert_eq!(manifest["video_frames_skipped_h264"], 1);
    assert!(!rec.join("alice-video.webm").exists());
}
