//! Real calls end to end: `switchboard serve` and several `switchboard join` processes on
//! loopback, with tone sources, WAV sinks (and one real cpal device on a PipeWire null
//! sink), checked through their event lines, stats files and the audio they received.
//!
//! Timeouts here only stop a hung test; nothing asserts on timing. The order of events in
//! one participant's file is the order it saw them, which is what the seed's rules are
//! about ("no `call_ended` when the third user left": none between that `user_left` and
//! the next thing that happened).

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use switchboard_config::AudioInput;
use switchboard_media::audio::analysis::{rms, tone_ratio};
use switchboard_media::audio::{self as media, AudioFormat};
use switchboard_rtc::{LinkEvent, LinkOptions, PeerLink};
use switchboard_signaling::{CallClaims, ServerMessage, SignalingClient};

const API_KEY: &str = "calls-test-key";
const SECRET: &str = "calls-test-secret-0123456789abcdef";
/// Long enough to never fire in a passing test on a loaded machine; short enough to fail a
/// hung one.
const HANG_GUARD: Duration = Duration::from_secs(30);

/// A child process killed when the test lets go of it (a failed assertion included).
struct Proc {
    child: Option<Child>,
}

impl Proc {
    fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    fn signal(&self, signal: &str) {
        let status =
            Command::new("kill").args([signal, &self.pid().to_string()]).status().expect("runs kill");
        assert!(status.success(), "kill {signal} {}", self.pid());
    }

    /// Waits for the process to exit by itself.
    fn wait(&mut self) -> ExitStatus {
        let child = self.child.as_mut().expect("running");
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().expect("waits") {
                self.child = None;
                return status;
            }
            assert!(start.elapsed() < HANG_GUARD, "process {} did not exit", child.id());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `switchboard serve` on 127.0.0.1:0 with a known secret (to craft expired tokens).
struct Serve {
    proc: Proc,
    url: String,
}

impl Serve {
    fn start() -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(["serve", "--listen", "127.0.0.1:0", "--api-key", API_KEY])
            .env("SWITCHBOARD_SECRET", SECRET)
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawns switchboard serve");
        let stdout = child.stdout.take().expect("piped");
        let proc = Proc { child: Some(child) };
        let mut line = String::new();
        std::io::BufReader::new(stdout).read_line(&mut line).expect("reads the address line");
        let url = line.trim().rsplit(' ').next().expect("an address").to_owned();
        assert!(url.starts_with("ws://127.0.0.1:"), "{line}");
        Self { proc, url }
    }

    fn client(&self) -> SignalingClient {
        SignalingClient::new(&self.url).expect("client")
    }
}

/// One `switchboard join` process and its files.
struct Joiner {
    proc: Proc,
    uid: String,
    events: PathBuf,
    stats: PathBuf,
    wav: PathBuf,
}

/// How a participant joins.
struct Spec<'a> {
    uid: &'a str,
    session: &'a str,
    /// The `[media] audio_input`.
    input: String,
    /// The `[media] audio_output`; `None` writes a WAV file in the test's folder.
    output: Option<String>,
    /// Extra lines for the `[call]` table.
    call: &'a str,
    /// Lines for the `[network]` table.
    network: &'a str,
    /// A script, as TOML.
    script: Option<&'a str>,
    /// Extra flags.
    flags: &'a [&'a str],
}

impl<'a> Spec<'a> {
    fn new(uid: &'a str, session: &'a str, hz: u32) -> Self {
        Self {
            uid,
            session,
            input: format!("tone:{hz}"),
            output: None,
            call: "",
            network: "",
            script: None,
            flags: &[],
        }
    }
}

fn write_config(dir: &Path, spec: &Spec<'_>, wav: &Path) -> PathBuf {
    let output = spec.output.clone().unwrap_or_else(|| format!("wav:{}", wav.display()));
    let config = dir.join(format!("{}.toml", spec.uid));
    let text = format!(
        "[call]\naudio_only_call = true\n{}\n[media]\naudio_input = \"{}\"\naudio_output = \"{output}\"\n\
         [network]\n{}\n",
        spec.call, spec.input, spec.network
    );
    std::fs::write(&config, text).expect("writes the config");
    config
}

fn join_command(server: &Serve, dir: &Path, spec: &Spec<'_>) -> (Command, PathBuf, PathBuf, PathBuf) {
    let events = dir.join(format!("{}.events", spec.uid));
    let stats = dir.join(format!("{}.stats.json", spec.uid));
    let wav = dir.join(format!("{}.wav", spec.uid));
    let config = write_config(dir, spec, &wav);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    cmd.args(["join", "--server", &server.url, "--api-key", API_KEY, "--user", spec.uid])
        .args(["--session", spec.session])
        .arg("--config")
        .arg(&config)
        .arg("--events")
        .arg(&events)
        .arg("--stats")
        .arg(&stats)
        .args(spec.flags)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(script) = spec.script {
        let path = dir.join(format!("{}.script.toml", spec.uid));
        std::fs::write(&path, script).expect("writes the script");
        cmd.arg("--script").arg(path);
    }
    (cmd, events, stats, wav)
}

/// Starts a participant and waits until it is in the session (`session_started`).
fn join(server: &Serve, dir: &Path, spec: Spec<'_>) -> Joiner {
    let (mut cmd, events, stats, wav) = join_command(server, dir, &spec);
    let child = cmd.stderr(Stdio::inherit()).spawn().expect("spawns switchboard join");
    let mut joiner =
        Joiner { proc: Proc { child: Some(child) }, uid: spec.uid.to_owned(), events, stats, wav };
    joiner.wait_for(|e| e["event"] == "session_started", "session_started");
    joiner
}

/// Runs a join that must be refused; returns its stderr and its event lines.
fn refused_join(server: &Serve, dir: &Path, spec: Spec<'_>) -> (String, Vec<Value>) {
    let (mut cmd, events, ..) = join_command(server, dir, &spec);
    let out = cmd.output().expect("runs switchboard join");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{} joined but should not have: {stderr}", spec.uid);
    (stderr, read_events(&events))
}

fn read_events(path: &Path) -> Vec<Value> {
    let Ok(text) = std::fs::read_to_string(path) else { return Vec::new() };
    // Every line is flushed whole; a line still being written has no newline yet.
    text.split_inclusive('\n')
        .filter(|l| l.ends_with('\n'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad event line {l:?}: {e}")))
        .collect()
}

impl Joiner {
    fn events(&self) -> Vec<Value> {
        read_events(&self.events)
    }

    fn names(&self) -> Vec<String> {
        self.events().iter().map(|e| e["event"].as_str().expect("a name").to_owned()).collect()
    }

    /// Waits until an event matching `pred` was written; returns it.
    #[track_caller]
    fn wait_for(&mut self, pred: impl Fn(&Value) -> bool, what: &str) -> Value {
        let start = Instant::now();
        loop {
            if let Some(found) = self.events().into_iter().find(|e| pred(e)) {
                return found;
            }
            if let Some(child) = self.proc.child.as_mut()
                && let Some(status) = child.try_wait().expect("waits")
            {
                self.proc.child = None;
                // One more read: the event may have been written just before the exit.
                if let Some(found) = self.events().into_iter().find(|e| pred(e)) {
                    return found;
                }
                panic!("{} exited ({status}) before {what}: {:?}", self.uid, self.names());
            }
            assert!(start.elapsed() < HANG_GUARD, "{} never got {what}: {:?}", self.uid, self.names());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stats(&self) -> Value {
        let text = std::fs::read_to_string(&self.stats).expect("the stats file exists");
        serde_json::from_str(&text).expect("stats are JSON")
    }

    fn wav(&self) -> Vec<i16> {
        let mut reader = hound::WavReader::open(&self.wav).expect("the WAV sink wrote a file");
        reader.samples::<i16>().collect::<Result<_, _>>().expect("readable samples")
    }
}

fn uids(users: &Value) -> Vec<&str> {
    users.as_array().expect("a list").iter().map(|u| u["uid"].as_str().expect("uid")).collect()
}

fn is(event: &Value, name: &str) -> bool {
    event["event"] == name
}

fn user_left(uid: &str) -> impl Fn(&Value) -> bool {
    let uid = uid.to_owned();
    move |e| is(e, "user_left") && e["user"]["uid"] == uid.as_str()
}

/// The position of the first event matching `pred`.
#[track_caller]
fn position(events: &[Value], pred: impl Fn(&Value) -> bool, what: &str) -> usize {
    events.iter().position(pred).unwrap_or_else(|| panic!("no {what} in {events:?}"))
}

fn count(events: &[Value], name: &str) -> usize {
    events.iter().filter(|e| is(e, name)).count()
}

/// 100 ms blocks of `samples`.
fn blocks(samples: &[i16]) -> std::slice::ChunksExact<'_, i16> {
    samples.chunks_exact(AudioFormat::SAMPLE_RATE as usize / 10)
}

/// Audio that went through a paced sink on a loaded machine has the odd glitch; 0.5 of the
/// power at the tone still tells it apart from silence (0) and from another tone (~0).
const TONE: f32 = 0.5;
/// Opus comfort noise or dither would sit well above this; a muted sender sends nothing.
const SILENCE_RMS: f32 = 0.001;

#[test]
fn two_party_call_each_hears_the_other_until_muted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Serve::start();
    // Bob is in first, so Alice's script runs against a call that has both of them.
    let mut bob =
        join(&server, dir.path(), Spec { flags: &["--duration", "20"], ..Spec::new("bob", "s", 660) });
    let script = "[[step]]\nat_ms = 2500\naction = \"mute_audio\"\nmuted = true\n";
    let mut alice = join(
        &server,
        dir.path(),
        Spec { script: Some(script), flags: &["--duration", "5"], ..Spec::new("alice", "s", 440) },
    );
    assert!(alice.proc.wait().success());
    // Alice's end is the end of a two-party call: Bob leaves by himself.
    assert!(bob.proc.wait().success());

    // Bob heard Alice's 440 Hz and never his own 660 Hz, then silence once she muted.
    let heard = bob.wav();
    let toned: Vec<usize> =
        blocks(&heard).enumerate().filter(|(_, b)| tone_ratio(b, 440.0) > TONE).map(|(i, _)| i).collect();
    assert!(toned.len() >= 15, "bob heard 440 Hz in only {} blocks of 100 ms", toned.len());
    for b in blocks(&heard) {
        assert!(tone_ratio(b, 660.0) < 0.05, "bob hears his own tone: {}", tone_ratio(b, 660.0));
    }
    let n = heard.len() / (AudioFormat::SAMPLE_RATE as usize / 10);
    let last_tone = *toned.last().expect("some tone");
    // Alice was muted for her last 2.5 s; allow 1 s for the mute to travel and the jitter
    // buffer to drain.
    assert!(last_tone + 15 <= n, "bob heard 440 Hz until block {last_tone} of {n}");
    let tail = &heard[heard.len() - AudioFormat::SAMPLE_RATE as usize..];
    assert!(rms(tail) < SILENCE_RMS, "bob's last second after alice muted: rms {}", rms(tail));

    // Alice heard Bob's 660 Hz (he never muted), and not her own tone.
    let heard = alice.wav();
    let middle = &heard[heard.len() / 4..heard.len() * 3 / 4];
    assert!(tone_ratio(middle, 660.0) > TONE, "alice: 660 Hz ratio {}", tone_ratio(middle, 660.0));
    assert!(tone_ratio(middle, 440.0) < 0.05, "alice hears herself: {}", tone_ratio(middle, 440.0));

    // The mute reached Bob as the seed's user_muted, muted and muted_by Alice.
    let bob_events = bob.events();
    let muted = &bob_events[position(&bob_events, |e| is(e, "user_muted"), "user_muted")];
    assert_eq!((&muted["muted"]["uid"], &muted["muted_by"]["uid"]), (&json!("alice"), &json!("alice")));
    // And the call ended for both, the press only on Alice's side.
    assert_eq!(count(&bob_events, "call_ended"), 1, "{bob_events:?}");
    assert_eq!(count(&bob_events, "call_end_button_pressed"), 0, "{bob_events:?}");
    let alice_events = alice.events();
    assert_eq!(count(&alice_events, "call_ended"), 1, "{alice_events:?}");
    assert_eq!(count(&alice_events, "call_end_button_pressed"), 1, "{alice_events:?}");
    assert_eq!(count(&alice_events, "error"), 0, "{alice_events:?}");

    // The stats files agree that media flowed both ways.
    assert!(alice.stats()["local"]["audio_packets_sent"].as_u64() > Some(50), "{}", alice.stats());
    assert!(bob.stats()["remote"]["alice"]["audio_frames_decoded"].as_u64() > Some(50), "{}", bob.stats());
    assert!(alice.stats()["remote"]["bob"]["audio_frames_decoded"].as_u64() > Some(50), "{}", alice.stats());
}

/// `call_ended` on both sides whoever ends a two-party call, and `call_end_button_pressed`
/// only on the side that ended: once with the first joiner ending, once with the second.
#[test]
fn either_side_ending_a_two_party_call_ends_it_for_both() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Serve::start();
    let end = "[[step]]\nat_ms = 1000\naction = \"end_session\"\n";
    let mut pairs = Vec::new();
    for (session, a, b, first_ends) in [("first-ends", "fa", "fb", true), ("second-ends", "sa", "sb", false)]
    {
        let first =
            join(&server, dir.path(), Spec { flags: &["--duration", "20"], ..Spec::new(a, session, 440) });
        let mut second = Spec { flags: &["--duration", "20"], ..Spec::new(b, session, 660) };
        if !first_ends {
            second.script = Some(end);
        }
        let mut second = join(&server, dir.path(), second);
        let mut first = first;
        second.wait_for(|e| is(e, "user_list_changed") && uids(&e["users"]).len() == 2, "both in the call");
        first.wait_for(|e| is(e, "user_joined"), "the second joining");
        if first_ends {
            first.proc.signal("-TERM");
        }
        pairs.push((first, second, first_ends));
    }
    for (mut first, mut second, first_ends) in pairs {
        assert!(first.proc.wait().success());
        assert!(second.proc.wait().success());
        let (ender, other) = if first_ends { (&first, &second) } else { (&second, &first) };
        let ender_events = ender.events();
        let other_events = other.events();
        assert_eq!(count(&ender_events, "call_end_button_pressed"), 1, "{ender_events:?}");
        assert_eq!(count(&ender_events, "call_ended"), 1, "{ender_events:?}");
        assert_eq!(count(&other_events, "call_end_button_pressed"), 0, "{other_events:?}");
        assert_eq!(count(&other_events, "call_ended"), 1, "{other_events:?}");
        // The other side learns it as a leave first, with the list that is left, then the
        // end (the spotlight, when it leaves with the ender, moves before it); after the
        // end comes only the session's.
        let left = position(&other_events, user_left(&ender.uid), "user_left");
        assert_eq!(uids(&other_events[left + 1]["users"]), [other.uid.as_str()]);
        let rest: Vec<&str> = other_events[left + 2..].iter().filter_map(|e| e["event"].as_str()).collect();
        assert!(
            rest == ["call_ended", "session_ended"]
                || rest == ["active_speaker_changed", "call_ended", "session_ended"],
            "{other_events:?}"
        );
        for events in [&ender_events, &other_events] {
            assert!(is(events.last().expect("events"), "session_ended"), "{events:?}");
            assert_eq!(count(events, "error"), 0, "{events:?}");
        }
    }
}

/// Three in a call, one leaves: the others get `user_left` and the new list and no
/// `call_ended`; the leaver gets only the press. Then the second leaves (now a two-party
/// end: `call_ended` for both), and the user left alone ends the session.
#[test]
fn three_party_call_one_leaves_without_call_ended_and_the_last_can_end_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Serve::start();
    let stay = ["--duration", "25", "--stay-after-call-ended"];
    let mut alice = join(&server, dir.path(), Spec { flags: &stay, ..Spec::new("alice", "g", 440) });
    let mut bob =
        join(&server, dir.path(), Spec { flags: &["--duration", "25"], ..Spec::new("bob", "g", 660) });
    let end = "[[step]]\nat_ms = 800\naction = \"end_session\"\n";
    let mut carol = join(
        &server,
        dir.path(),
        Spec { script: Some(end), flags: &["--duration", "25"], ..Spec::new("carol", "g", 880) },
    );
    assert!(carol.proc.wait().success());
    for who in [&mut alice, &mut bob] {
        who.wait_for(user_left("carol"), "carol leaving");
        let events = who.events();
        let joined =
            position(&events, |e| is(e, "user_joined") && e["user"]["uid"] == "carol", "carol joining");
        assert_eq!(uids(&events[joined + 1]["users"]), ["alice", "bob", "carol"]);
        let left = position(&events, user_left("carol"), "carol leaving");
        assert!(is(&events[left + 1], "user_list_changed"), "{events:?}");
        assert_eq!(uids(&events[left + 1]["users"]), ["alice", "bob"]);
        assert_eq!(count(&events, "call_ended"), 0, "{}: {events:?}", who.uid);
    }
    let carol_events = carol.events();
    assert_eq!(count(&carol_events, "call_end_button_pressed"), 1, "{carol_events:?}");
    assert_eq!(count(&carol_events, "call_ended"), 0, "{carol_events:?}");

    // Bob leaves: a call of exactly two ends, for both.
    bob.proc.signal("-TERM");
    assert!(bob.proc.wait().success());
    assert_eq!(count(&bob.events(), "call_ended"), 1, "{:?}", bob.names());
    alice.wait_for(|e| is(e, "call_ended"), "call_ended after bob left");
    let events = alice.events();
    let left = position(&events, user_left("bob"), "bob leaving");
    assert_eq!(uids(&events[left + 1]["users"]), ["alice"]);

    // Alice, alone, ends the session: it really ends (no error, the end_session reason).
    alice.proc.signal("-TERM");
    assert!(alice.proc.wait().success());
    let events = alice.events();
    assert_eq!(count(&events, "error"), 0, "{events:?}");
    assert_eq!(events.last(), Some(&json!({"event": "session_ended", "reason": "end_session"})));
}

/// Joins that cannot happen exit non-zero with the seed's code on stderr and in an `error`
/// event line, and nobody in the session sees them. The signaling tests cover each
/// refusal at the protocol level; this is the `join` command's side.
#[test]
fn refused_joins_exit_non_zero_with_the_code_and_nothing_joins() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Serve::start();
    let mut alice =
        join(&server, dir.path(), Spec { flags: &["--duration", "25"], ..Spec::new("alice", "s1", 440) });

    let now = jsonwebtoken::get_current_timestamp();
    let craft = |key: &[u8], iat: u64, exp: u64| {
        let claims = CallClaims {
            sub: "mallory".into(),
            sid: "s1".into(),
            name: "Mallory".into(),
            avatar: String::new(),
            iat,
            exp,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(key))
            .expect("signs")
    };
    let forged = craft(b"not-the-servers-secret-0123456789", now, now + 600);
    let expired = craft(SECRET.as_bytes(), now - 600, now - 300);
    let other_session = {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(async {
            let client = server.client();
            let user = client.create_user(API_KEY, "mallory", "Mallory", "").await.expect("user");
            client.generate_token("s2", &user.auth_token).await.expect("token").token
        })
    };
    let token_flags = |token: &str| -> Vec<String> { vec!["--token".into(), token.into()] };
    let cases: Vec<(&str, Vec<String>, &str)> = vec![
        ("forged", token_flags(&forged), "TOKEN_INVALID"),
        ("expired", token_flags(&expired), "TOKEN_EXPIRED"),
        ("other-session", token_flags(&other_session), "TOKEN_SESSION_MISMATCH"),
        ("unknown-auth", vec!["--auth-token".into(), "sbat_never_issued".into()], "AUTH_TOKEN_NOT_FOUND"),
    ];
    for (uid, flags, code) in &cases {
        // --token and --auth-token win over --api-key/--user, which join_command always sets.
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        let (stderr, events) =
            refused_join(&server, dir.path(), Spec { flags: &flags, ..Spec::new(uid, "s1", 660) });
        assert!(stderr.contains(code), "{uid}: expected {code} in {stderr}");
        assert_eq!(events.len(), 1, "{uid}: {events:?}");
        assert_eq!(events[0]["event"], "error", "{uid}: {events:?}");
        assert_eq!(events[0]["code"], *code, "{uid}: {events:?}");
    }

    // A missing device fails before the room sees anything.
    let spec = Spec { input: "device:no_such_mic".into(), ..Spec::new("dave", "s1", 0) };
    let (stderr, events) = refused_join(&server, dir.path(), spec);
    assert!(stderr.contains("DEVICE_MISSING") && stderr.contains("no_such_mic"), "{stderr}");
    assert_eq!(events[0]["code"], "DEVICE_MISSING", "{events:?}");
    let spec = Spec { output: Some("device:no_such_speaker".into()), ..Spec::new("erin", "s1", 500) };
    let (stderr, _) = refused_join(&server, dir.path(), spec);
    assert!(stderr.contains("DEVICE_MISSING") && stderr.contains("no_such_speaker"), "{stderr}");

    // Nothing joined: the room holds alice alone, and the next thing she sees is a real join.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let info = rt.block_on(server.client().session_info(API_KEY, "s1")).expect("session info");
    assert_eq!(info.users.iter().map(|u| u.uid.as_str()).collect::<Vec<_>>(), ["alice"]);
    let _frank =
        join(&server, dir.path(), Spec { flags: &["--duration", "25"], ..Spec::new("frank", "s1", 500) });
    let joined = alice.wait_for(|e| is(e, "user_joined"), "frank joining");
    assert_eq!(joined["user"]["uid"], "frank");
    let events = alice.events();
    assert_eq!(count(&events, "user_joined"), 1, "{events:?}");
    assert_eq!(count(&events, "error"), 0, "{events:?}");
}

/// The signaling server dies mid-call: each participant gets `error` SIGNALING_LOST, its
/// session ends, and `join` exits by itself with its stats written.
#[test]
fn killing_the_server_mid_call_is_signaling_lost_and_a_clean_exit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = Serve::start();
    let mut alice =
        join(&server, dir.path(), Spec { flags: &["--duration", "25"], ..Spec::new("alice", "k", 440) });
    let mut bob =
        join(&server, dir.path(), Spec { flags: &["--duration", "25"], ..Spec::new("bob", "k", 660) });
    alice.wait_for(|e| is(e, "user_joined"), "bob joining");
    server.proc.signal("-KILL");
    server.proc.wait();
    for who in [&mut alice, &mut bob] {
        let error = who.wait_for(|e| is(e, "error"), "an error");
        assert_eq!(error["code"], "SIGNALING_LOST", "{error}");
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()), "{error}");
        assert!(who.proc.wait().success(), "{} exits cleanly", who.uid);
        let events = who.events();
        assert_eq!(count(&events, "error"), 1, "one error for one failure: {events:?}");
        assert_eq!(events.last(), Some(&json!({"event": "session_ended", "reason": "error"})));
        assert!(who.stats().get("remote").is_some(), "stats written at exit");
    }
}

/// A peer whose offer cannot be negotiated is reported as PEER_CONNECTION_FAILED naming
/// it, and the call goes on for the participant that got it.
#[test]
fn a_broken_peer_offer_is_peer_connection_failed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Serve::start();
    let mut alice =
        join(&server, dir.path(), Spec { flags: &["--duration", "25"], ..Spec::new("alice", "p", 440) });
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let client = server.client();
        let user = client.create_user(API_KEY, "mallory", "Mallory", "").await.expect("user");
        let token = client.generate_token("p", &user.auth_token).await.expect("token").token;
        let (joined, sender, _events) = client.join(&token, Some("p")).await.expect("joins");
        let alice_resource =
            joined.users.iter().find(|u| u.uid == "alice").expect("alice is there").resource.clone();
        sender
            .signal(&alice_resource, json!({"type": "offer", "sdp": "v=0\r\nthis is not SDP\r\n"}))
            .expect("sends");
        // Blocking here is fine: the client's connection runs on the runtime's workers.
        let error = alice.wait_for(|e| is(e, "error"), "an error");
        assert_eq!(error["code"], "PEER_CONNECTION_FAILED", "{error}");
        assert_eq!(error["details"], "mallory", "{error}");
        sender.leave().expect("leaves");
    });
    alice.wait_for(user_left("mallory"), "mallory leaving");
    alice.proc.signal("-TERM");
    assert!(alice.proc.wait().success());
    let events = alice.events();
    assert_eq!(events.last(), Some(&json!({"event": "session_ended", "reason": "end_session"})));
}

/// `[network] ice = "all"` (candidates on every interface, as between machines) still
/// makes a call on one machine: each side decodes the other.
#[test]
fn a_call_with_candidates_on_every_interface_connects() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Serve::start();
    let spec =
        |uid, hz| Spec { network: "ice = \"all\"", flags: &["--duration", "3"], ..Spec::new(uid, "all", hz) };
    let mut alice = join(&server, dir.path(), spec("alice", 440));
    let mut bob = join(&server, dir.path(), spec("bob", 660));
    assert!(alice.proc.wait().success() && bob.proc.wait().success());
    assert!(bob.stats()["remote"]["alice"]["audio_frames_decoded"].as_u64() > Some(25), "{}", bob.stats());
    assert!(alice.stats()["remote"]["bob"]["audio_frames_decoded"].as_u64() > Some(25), "{}", alice.stats());
    assert_eq!(count(&alice.events(), "error"), 0, "{:?}", alice.events());
}

/// A peer whose network goes away mid-call (its process stops answering; its signaling
/// stays up, so no `user_left` explains it): once `[network] ice_failed_timeout_ms` has
/// passed without a word from it, the link has failed, reported as PEER_CONNECTION_FAILED
/// naming the peer, and the participant stays in the call.
#[test]
fn a_peer_whose_network_dies_is_peer_connection_failed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Serve::start();
    let network = "ice_disconnected_timeout_ms = 300\nice_failed_timeout_ms = 1000";
    let mut alice = join(
        &server,
        dir.path(),
        Spec { network, flags: &["--duration", "25"], ..Spec::new("alice", "n", 440) },
    );
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    // Mallory's peer connection runs on a runtime of its own (the library spawns its tasks
    // on the caller's), which is then dropped: its sockets close without a word, as when a
    // machine loses its network.
    let media = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("mallory's media runtime");
    let on_media = media.handle().clone();
    rt.block_on(async {
        let client = server.client();
        let user = client.create_user(API_KEY, "mallory", "Mallory", "").await.expect("user");
        let token = client.generate_token("n", &user.auth_token).await.expect("token").token;
        let (joined, sender, mut events) = client.join(&token, Some("n")).await.expect("joins");
        let alice_at =
            joined.users.iter().find(|u| u.uid == "alice").expect("alice is there").resource.clone();
        let (link, mut link_events, offer) = on_media
            .spawn(async {
                let (link, events) = PeerLink::new(LinkOptions::default()).await.expect("link");
                link.add_audio_track().await.expect("audio track");
                let offer = link.create_offer().await.expect("offer");
                (Arc::new(link), events, offer)
            })
            .await
            .expect("mallory's link");
        sender.signal(&alice_at, offer).expect("sends the offer");
        // Relay until connected: Alice's answer and candidates in, ours out.
        let connected = {
            let link = Arc::clone(&link);
            on_media.spawn(async move { link.wait_connected(Duration::from_secs(10)).await })
        };
        tokio::pin!(connected);
        loop {
            tokio::select! {
                done = &mut connected => {
                    done.expect("joined").expect("mallory connects to alice");
                    break;
                }
                Some(msg) = events.recv() => if let ServerMessage::Signal { payload, .. } = msg {
                    let link = Arc::clone(&link);
                    on_media
                        .spawn(async move {
                            if payload["type"] == "answer" {
                                link.accept_answer(payload).await
                            } else {
                                link.add_remote_candidate(payload).await
                            }
                        })
                        .await
                        .expect("joined")
                        .expect("alice's answer and candidates apply");
                },
                Some(event) = link_events.recv() => if let LinkEvent::LocalCandidate { candidate } = event {
                    sender.signal(&alice_at, candidate).expect("sends a candidate");
                },
            }
        }
        drop(link);
        media.shutdown_background();
        let error = alice.wait_for(|e| is(e, "error"), "an error");
        assert_eq!(error["code"], "PEER_CONNECTION_FAILED", "{error}");
        assert_eq!(error["details"], "mallory", "{error}");
        assert!(error["message"].as_str().is_some_and(|m| m.contains("mallory")), "{error}");
        // Mallory is still in the room as far as signaling knows: no user_left yet.
        assert_eq!(count(&alice.events(), "user_left"), 0);
        sender.leave().expect("leaves");
    });
    alice.wait_for(user_left("mallory"), "mallory leaving");
    alice.proc.signal("-TERM");
    assert!(alice.proc.wait().success());
}

/// Alone for `idle_timeout_period` seconds: the warning (at once, since the period is
/// shorter than the 60 s lead), then `session_timeout`, and the call ends itself.
#[test]
fn a_lone_participant_times_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Serve::start();
    let mut alice = join(
        &server,
        dir.path(),
        Spec {
            call: "idle_timeout_period = 2",
            flags: &["--duration", "25"],
            ..Spec::new("alice", "t", 440)
        },
    );
    assert!(alice.proc.wait().success());
    // Her own tone makes her the active speaker at some point; that is not what this is about.
    let events: Vec<Value> =
        alice.events().into_iter().filter(|e| !is(e, "active_speaker_changed")).collect();
    let names: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    let warning = position(&events, |e| is(e, "idle_timeout_warning"), "the warning");
    assert_eq!(events[warning]["seconds_left"], 2);
    assert_eq!(names[warning..], ["idle_timeout_warning", "session_timeout", "session_ended"], "{names:?}");
    assert_eq!(alice.events().last(), Some(&json!({"event": "session_ended", "reason": "session_timeout"})));
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let gone = rt.block_on(server.client().session_info(API_KEY, "t"));
    assert!(gone.map(|info| info.users.is_empty()).unwrap_or(true), "alice left the room");
}

// ---- A real output device on PipeWire ----------------------------------------------------

/// The null sink this module plays into (scripts/test.sh creates spk_a, spk_b and spk_c;
/// the media tests use the first two).
const SINK: &str = "spk_c";
static PIPEWIRE: Mutex<()> = Mutex::new(());

/// Fails (never skips) when the PipeWire null sink is not there.
fn require_pipewire() -> MutexGuard<'static, ()> {
    let guard = PIPEWIRE.lock().unwrap_or_else(|p| p.into_inner());
    let hint = "PipeWire with the null sinks is not up: run `eval \"$(scripts/pipewire-up.sh spk_a spk_b spk_c)\"` \
                in this shell first (scripts/test.sh does)";
    assert!(std::env::var_os("XDG_RUNTIME_DIR").is_some(), "XDG_RUNTIME_DIR is unset. {hint}");
    let outputs = media::output_device_names().expect("listing output devices");
    let inputs = media::input_device_names().expect("listing input devices");
    assert!(outputs.iter().any(|d| d == SINK), "ALSA device `{SINK}` missing from {outputs:?}. {hint}");
    let monitor = format!("{SINK}_monitor");
    assert!(inputs.contains(&monitor), "ALSA device `{monitor}` missing. {hint}");
    guard
}

#[test]
fn a_call_plays_on_a_real_output_device() {
    let _pw = require_pipewire();
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Serve::start();
    let mut bob = join(
        &server,
        dir.path(),
        Spec {
            output: Some(format!("device:{SINK}")),
            flags: &["--duration", "25"],
            ..Spec::new("bob", "d", 660)
        },
    );
    let mut alice =
        join(&server, dir.path(), Spec { flags: &["--duration", "25"], ..Spec::new("alice", "d", 440) });
    bob.wait_for(|e| is(e, "user_joined"), "alice joining");

    let mut monitor =
        media::start_source(&AudioInput::Device(format!("{SINK}_monitor"))).expect("the sink's monitor");
    let mut collect = |ms: u64| {
        let mut out = Vec::new();
        for _ in 0..ms / 20 {
            let frame = monitor.frames().blocking_recv().expect("the monitor keeps producing frames");
            out.extend_from_slice(&frame.samples);
        }
        out
    };
    collect(500); // call setup and device start-up
    let heard = collect(1500);
    // Through a real device on a loaded machine: the media tests' threshold for live paths.
    assert!(tone_ratio(&heard, 440.0) > 0.3, "440 Hz ratio on {SINK}: {}", tone_ratio(&heard, 440.0));
    assert!(tone_ratio(&heard, 660.0) < 0.05, "bob's own tone on {SINK}: {}", tone_ratio(&heard, 660.0));

    alice.proc.signal("-TERM");
    assert!(alice.proc.wait().success());
    assert!(bob.proc.wait().success(), "bob leaves after call_ended");
    let events = bob.events();
    assert_eq!(count(&events, "error"), 0, "a device closed cleanly: {events:?}");
}

#[test]
fn the_participant_who_talks_becomes_the_active_speaker_for_everyone() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Bob's microphone is a WAV file of silence: only Alice talks.
    let silence = dir.path().join("silence.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: AudioFormat::SAMPLE_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(&silence, spec).expect("creates the WAV");
    for _ in 0..AudioFormat::SAMPLE_RATE {
        writer.write_sample(0i16).expect("writes a sample");
    }
    writer.finalize().expect("finishes the WAV");

    let server = Serve::start();
    let mut bob = join(
        &server,
        dir.path(),
        Spec {
            input: format!("wav:{}", silence.display()),
            flags: &["--duration", "20"],
            ..Spec::new("bob", "s", 0)
        },
    );
    let mut alice =
        join(&server, dir.path(), Spec { flags: &["--duration", "3"], ..Spec::new("alice", "s", 440) });
    assert!(alice.proc.wait().success());
    assert!(bob.proc.wait().success());

    for (who, events) in [("bob", bob.events()), ("alice", alice.events())] {
        let speakers: Vec<&Value> =
            events.iter().filter(|e| is(e, "active_speaker_changed")).map(|e| &e["uid"]).collect();
        assert_eq!(speakers.first(), Some(&&json!("alice")), "{who}: {events:?}");
        assert!(!speakers.contains(&&json!("bob")), "{who}: silent bob was made the speaker: {speakers:?}");
    }
    // Alice, the speaker, ends the two-party call: on Bob's side the spotlight leaves with
    // her before `call_ended`, and only the session's end comes after that.
    let events = bob.events();
    let ended = position(&events, |e| is(e, "call_ended"), "call_ended");
    assert_eq!(events[ended - 1], json!({"event": "active_speaker_changed", "uid": null}), "{events:?}");
    let rest: Vec<&str> = events[ended + 1..].iter().filter_map(|e| e["event"].as_str()).collect();
    assert_eq!(rest, ["session_ended"], "{events:?}");
}
