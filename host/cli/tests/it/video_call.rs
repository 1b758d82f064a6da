//! Video inside real sessions (and the room protocol's compatibility path): participants
//! in one process, each with its own bus and session, joined through a real signaling
//! server on 127.0.0.1:0 and real WebRTC links on loopback. Cameras are the synthetic `pattern:` sources; received frames are read
//! back with `read_pattern` from `Session::video_frames()`, the renderers' feed.
//!
//! Rates are checked with loose lower bounds (this 2-core machine is shared), never as
//! timing assertions; timeouts only stop a hung test.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use switchboard_config::{AudioInput, AudioOutput, Config, VideoInput};
use switchboard_core::model::ErrorCode;
use switchboard_core::{Command, Event};
use switchboard_media::audio::analysis::{rms, tone_ratio};
use switchboard_media::video::{PatternKind, read_pattern};
use switchboard_runtime::bus::Bus;
use switchboard_runtime::listeners::FnListener;
use switchboard_session::participant::{self, Credentials};
use switchboard_session::{Session, VideoFrames};
use switchboard_signaling::{Secret, ServerConfig, ServerHandle, start};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

const API_KEY: &str = "video-call-key";
/// Only stops a hung test.
const PATIENCE: Duration = Duration::from_secs(20);
const FPS: u32 = 15;
const TONE_HZ: f32 = 440.0;

async fn server() -> ServerHandle {
    let secret = Secret::from_bytes(b"0123456789abcdef0123456789abcdef".to_vec(), "test").expect("secret");
    start("127.0.0.1:0".parse().expect("addr"), ServerConfig::new(API_KEY, secret))
        .await
        .expect("server starts")
}

fn config(audio_only: bool, output: AudioOutput) -> Config {
    let mut config = Config::default();
    config.call.audio_only_call = audio_only;
    config.media.audio_input = AudioInput::Tone(TONE_HZ);
    config.media.audio_output = output;
    config.media.video_input = VideoInput::Pattern("front".into());
    config.media.video_width = 320;
    config.media.video_height = 240;
    config.media.video_fps = FPS;
    config
}

struct Member {
    uid: String,
    session: Session,
    bus: Bus,
    events: Arc<Mutex<Vec<Event>>>,
}

impl Member {
    async fn join(server: &ServerHandle, uid: &str, session_id: &str, config: Config) -> Self {
        Self::join_through(server, &server.ws_url(), uid, session_id, config).await
    }

    /// Joins with a call token from `server`, through the room socket at `room_url`.
    async fn join_through(
        server: &ServerHandle,
        room_url: &str,
        uid: &str,
        session_id: &str,
        config: Config,
    ) -> Self {
        let bus = participant::start_bus(&config).expect("bus");
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&events);
        bus.add_listener(
            "test",
            Arc::new(FnListener(move |e: &Event| {
                sink.lock().unwrap_or_else(PoisonError::into_inner).push(e.clone())
            })),
        )
        .expect("listener");
        let credentials = Credentials::ApiKey {
            key: API_KEY.into(),
            uid: uid.into(),
            name: uid.to_uppercase(),
            avatar: String::new(),
        };
        let url = server.ws_url();
        let token = participant::call_token(&url, &credentials, session_id).await.expect("token");
        let session = participant::start_session(room_url, token, session_id, config, bus.clone())
            .await
            .expect("joins");
        Self { uid: uid.into(), session, bus, events }
    }

    fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn decoded_from(&self, uid: &str) -> u64 {
        self.session.stats().remote.get(uid).map_or(0, |r| r.video_frames_decoded)
    }

    async fn command(&self, command: Command) {
        let name = command.name();
        self.session.command(command).await.unwrap_or_else(|e| panic!("{} {name}: {e}", self.uid));
    }

    async fn end(self) {
        let _ = self.session.end_session().await;
        self.session.finished().await;
        self.bus.flush().await;
        self.bus.shutdown().await;
    }
}

/// What the newest frame of `uid` in the feed shows: the pattern and its counter.
fn reading(frames: &VideoFrames, uid: &str) -> Option<(Option<PatternKind>, Option<u16>, u64)> {
    let f = frames.get(uid)?;
    let r = read_pattern(&f.frame);
    Some((r.kind, r.counter, f.seq))
}

/// Waits until the feed's frame of `uid` shows `kind`, and returns its counter.
async fn wait_for_pattern(feed: &mut watch::Receiver<VideoFrames>, uid: &str, kind: PatternKind) -> u16 {
    let found = tokio::time::timeout(PATIENCE, async {
        loop {
            if let Some((Some(k), Some(counter), _)) = reading(&feed.borrow_and_update(), uid)
                && k == kind
            {
                return counter;
            }
            feed.changed().await.expect("feed open");
        }
    })
    .await;
    found.unwrap_or_else(|_| {
        panic!("no {kind} frame from {uid} within {PATIENCE:?}: {:?}", reading(&feed.borrow(), uid))
    })
}

/// Counts `uid`'s decoded frames over `window`, checking each newest frame shows `kind`.
async fn watch_frames(
    feed: &mut watch::Receiver<VideoFrames>,
    uid: &str,
    kind: PatternKind,
    window: Duration,
) -> Vec<u16> {
    let mut counters = Vec::new();
    let _ = tokio::time::timeout(window, async {
        loop {
            feed.changed().await.expect("feed open");
            if let Some((k, counter, _)) = reading(&feed.borrow_and_update(), uid) {
                assert_eq!(k, Some(kind), "{uid}'s frames show the {kind} pattern");
                if let Some(c) = counter
                    && counters.last() != Some(&c)
                {
                    counters.push(c);
                }
            }
        }
    })
    .await;
    counters
}

fn session_id(name: &str) -> String {
    format!("{name}-{}", std::process::id())
}

#[actix::test]
async fn two_party_video_call_each_decodes_the_others_pattern_at_close_to_the_rate() {
    let server = server().await;
    let sid = session_id("video");
    let alice = Member::join(&server, "alice", &sid, config(false, AudioOutput::Null)).await;
    let bob = Member::join(&server, "bob", &sid, config(false, AudioOutput::Null)).await;
    let mut bob_feed = bob.session.video_frames();
    let mut alice_feed = alice.session.video_frames();

    wait_for_pattern(&mut bob_feed, "alice", PatternKind::Front).await;
    wait_for_pattern(&mut alice_feed, "bob", PatternKind::Front).await;
    // The self view is in the feed too, marked local.
    assert!(bob_feed.borrow().get("bob").is_some_and(|f| f.is_local));

    let before = bob.decoded_from("alice");
    let window = Duration::from_secs(2);
    let counters = watch_frames(&mut bob_feed, "alice", PatternKind::Front, window).await;
    let decoded = bob.decoded_from("alice") - before;
    // The counter moves forward (it is alice's frame number, 16 bits).
    assert!(counters.len() >= 5, "alice's counter moved only through {counters:?}");
    assert!(
        counters.windows(2).all(|w| w[1].wrapping_sub(w[0]) < 1000),
        "counter goes forward: {counters:?}"
    );
    // 15 fps for 2 s is 30 frames; ask for half, the machine is shared.
    let expected = u64::from(FPS) * 2;
    assert!(decoded >= expected / 2, "bob decoded {decoded} of alice's frames in 2 s, expected ~{expected}");

    let stats = alice.session.stats();
    assert!(stats.local.video_frames_sent > 0);
    let from_bob = &stats.remote["bob"];
    assert!(from_bob.video_packets >= from_bob.video_frames_decoded, "{from_bob:?}");
    alice.end().await;
    bob.end().await;
}

#[actix::test]
async fn pause_stops_frames_resume_restarts_them_and_switch_camera_shows_the_back_pattern() {
    let server = server().await;
    let sid = session_id("pause");
    let alice = Member::join(&server, "alice", &sid, config(false, AudioOutput::Null)).await;
    let bob = Member::join(&server, "bob", &sid, config(false, AudioOutput::Null)).await;
    let mut feed = bob.session.video_frames();
    wait_for_pattern(&mut feed, "alice", PatternKind::Front).await;

    alice.command(Command::PauseVideo { paused: true }).await;
    // Frames in flight may still land; after that, nothing.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let paused_at = bob.decoded_from("alice");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let during_pause = bob.decoded_from("alice") - paused_at;
    assert_eq!(during_pause, 0, "frames kept arriving while alice was paused");
    assert!(!feed.borrow().contains_key("alice"), "a paused participant has no picture in the feed");
    assert!(
        bob.events()
            .iter()
            .any(|e| matches!(e, Event::UserVideoPaused { user, paused: true } if user.uid == "alice")),
        "bob was told alice's video is off"
    );

    alice.command(Command::PauseVideo { paused: false }).await;
    wait_for_pattern(&mut feed, "alice", PatternKind::Front).await;
    let resumed = bob.decoded_from("alice");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(bob.decoded_from("alice") > resumed + 3, "frames flow again after resuming");
    assert!(
        bob.events()
            .iter()
            .any(|e| matches!(e, Event::UserVideoPaused { user, paused: false } if user.uid == "alice"))
    );

    alice.command(Command::SwitchCamera).await;
    wait_for_pattern(&mut feed, "alice", PatternKind::Back).await;
    let counters = watch_frames(&mut feed, "alice", PatternKind::Back, Duration::from_secs(1)).await;
    assert!(counters.len() >= 3, "the back camera's counter moves: {counters:?}");
    assert!(
        alice
            .events()
            .iter()
            .any(|e| matches!(e, Event::CameraSwitched { source } if source == "pattern:back")),
        "alice got camera_switched"
    );
    alice.command(Command::SwitchCamera).await;
    wait_for_pattern(&mut feed, "alice", PatternKind::Front).await;
    alice.end().await;
    bob.end().await;
}

#[actix::test]
async fn start_with_video_muted_sends_nothing_until_resumed() {
    let server = server().await;
    let sid = session_id("muted");
    let mut muted = config(false, AudioOutput::Null);
    muted.call.start_with_video_muted = true;
    let alice = Member::join(&server, "alice", &sid, muted).await;
    let bob = Member::join(&server, "bob", &sid, config(false, AudioOutput::Null)).await;
    let mut alice_feed = alice.session.video_frames();
    // Bob's video reaches alice, so the links are up; alice's does not reach bob.
    wait_for_pattern(&mut alice_feed, "bob", PatternKind::Front).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(bob.decoded_from("alice"), 0);
    assert_eq!(alice.session.stats().local.video_frames_sent, 0);
    assert!(
        bob.events()
            .iter()
            .any(|e| matches!(e, Event::UserVideoPaused { user, paused: true } if user.uid == "alice")),
        "bob learned alice starts with video off: {:?}",
        bob.events()
    );
    alice.command(Command::PauseVideo { paused: false }).await;
    let mut bob_feed = bob.session.video_frames();
    wait_for_pattern(&mut bob_feed, "alice", PatternKind::Front).await;
    alice.end().await;
    bob.end().await;
}

/// Tone windows of 20 ms in a mono or stereo 48 kHz WAV: true where the tone is heard.
fn tone_windows(path: &Path) -> Vec<bool> {
    let mut reader = hound::WavReader::open(path).expect("wav readable");
    let spec = reader.spec();
    let samples: Vec<i16> = reader.samples::<i16>().map(|s| s.expect("sample")).collect();
    let mono: Vec<i16> = samples.chunks(usize::from(spec.channels)).map(|c| c[0]).collect();
    let window = spec.sample_rate as usize / 50;
    mono.chunks(window).map(|w| rms(w) > 0.02 && tone_ratio(w, TONE_HZ) > 0.5).collect()
}

#[actix::test]
async fn an_audio_call_switched_to_video_keeps_its_audio_and_both_sides_decode_video() {
    let server = server().await;
    let sid = session_id("switch");
    let dir = tempfile::tempdir().expect("tempdir");
    let wav = dir.path().join("bob.wav");
    let alice = Member::join(&server, "alice", &sid, config(true, AudioOutput::Null)).await;
    let bob = Member::join(&server, "bob", &sid, config(true, AudioOutput::Wav(wav.clone()))).await;

    // An audio-only call: audio flows, no video at all, and video actions are refused.
    tokio::time::timeout(PATIENCE, async {
        while bob.session.stats().remote.get("alice").is_none_or(|r| r.audio_frames_decoded < 25) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("audio flows before the switch");
    tokio::time::sleep(Duration::from_millis(500)).await;
    for m in [&alice, &bob] {
        let stats = m.session.stats();
        assert_eq!(stats.local.video_frames_sent, 0, "{} sent video on an audio-only call", m.uid);
        assert!(stats.remote.values().all(|r| r.video_packets == 0 && r.video_frames_decoded == 0));
        assert!(m.session.video_frames().borrow().is_empty(), "no camera open on an audio-only call");
    }
    let refused = alice.session.command(Command::SwitchCamera).await.expect_err("no camera to switch");
    assert_eq!(refused.code, ErrorCode::InvalidState);

    alice.command(Command::SwitchToVideoCall).await;
    let mut alice_feed = alice.session.video_frames();
    let mut bob_feed = bob.session.video_frames();
    wait_for_pattern(&mut bob_feed, "alice", PatternKind::Front).await;
    wait_for_pattern(&mut alice_feed, "bob", PatternKind::Front).await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    for m in [&alice, &bob] {
        let switched: Vec<Event> =
            m.events().into_iter().filter(|e| matches!(e, Event::CallSwitchedToVideo { .. })).collect();
        assert_eq!(switched.len(), 1, "{} got one call_switched_to_video: {switched:?}", m.uid);
        let Event::CallSwitchedToVideo { session_id, request_initiated_by, request_accepted_by } =
            &switched[0]
        else {
            unreachable!()
        };
        assert_eq!(session_id, &sid);
        assert_eq!(request_initiated_by.uid, "alice");
        assert_eq!(request_accepted_by.uid, "bob");
    }
    let again = alice.session.command(Command::SwitchToVideoCall).await.expect_err("already video");
    assert_eq!(again.code, ErrorCode::InvalidState);
    alice.end().await;
    bob.end().await;

    // Audio across the switch: from the first tone heard to the last, no silence over
    // 100 ms (five 20 ms windows) in what bob played.
    let windows = tone_windows(&wav);
    let map: String = windows.iter().map(|&t| if t { '#' } else { '.' }).collect();
    let first = windows.iter().position(|&t| t).expect("bob heard the tone");
    let last = windows.iter().rposition(|&t| t).expect("bob heard the tone");
    let longest_gap = windows[first..=last].split(|&t| t).map(<[bool]>::len).max().unwrap_or(0);
    assert!(
        (last - first) * 20 > 2000,
        "the tone was heard over {} ms only, not across the switch",
        (last - first) * 20
    );
    assert!(longest_gap * 20 <= 100, "a gap of {} ms in the tone bob received: {map}", longest_gap * 20);
}

/// Regression (noted on issue 3): a newcomer to a call already switched to video joined it
/// audio-only, since nothing told it of the switch. The room now records the switch; a
/// newcomer with audio-only settings joins as a video call and raises
/// `call_switched_to_video`. Alice switches while alone (nobody to accept), so the record
/// does not rest on an acceptance; Bob's first offer, made before he knew, is audio-only
/// and gets its video in a renegotiation once answered.
#[actix::test]
async fn r3_a_newcomer_to_a_call_switched_to_video_joins_it_with_video() {
    let server = server().await;
    let sid = session_id("late-video");
    let alice = Member::join(&server, "alice", &sid, config(true, AudioOutput::Null)).await;
    alice.command(Command::SwitchToVideoCall).await;
    let bob = Member::join(&server, "bob", &sid, config(true, AudioOutput::Null)).await;

    let mut alice_feed = alice.session.video_frames();
    let mut bob_feed = bob.session.video_frames();
    wait_for_pattern(&mut bob_feed, "alice", PatternKind::Front).await;
    wait_for_pattern(&mut alice_feed, "bob", PatternKind::Front).await;
    tokio::time::timeout(PATIENCE, async {
        while bob.session.stats().remote.get("alice").is_none_or(|r| r.audio_frames_decoded < 10) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("audio flows alongside the video");

    let switched = |m: &Member| -> Vec<(String, String)> {
        m.events()
            .into_iter()
            .filter_map(|e| match e {
                Event::CallSwitchedToVideo { request_initiated_by, request_accepted_by, .. } => {
                    Some((request_initiated_by.uid, request_accepted_by.uid))
                }
                _ => None,
            })
            .collect()
    };
    assert_eq!(switched(&alice), [("alice".to_owned(), "alice".to_owned())], "alone, alice's switch is hers");
    assert_eq!(switched(&bob), [("alice".to_owned(), "bob".to_owned())], "bob joins alice's video call");
    alice.end().await;
    bob.end().await;
}

/// A room server of an older build, as far as joins go: a WebSocket proxy to `upstream`
/// that takes out the `offer` a join carries (a newer field such a server ignores), so the
/// newcomer gets no `offered_to` in `joined`. Counts the offers it took out.
async fn server_ignoring_join_offers(upstream: String) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let url = format!("ws://{}", listener.local_addr().expect("address"));
    let taken = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&taken);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (upstream, count) = (upstream.clone(), Arc::clone(&count));
            tokio::spawn(async move {
                let Ok(client) = tokio_tungstenite::accept_async(tcp).await else { return };
                let Ok((server, _)) = tokio_tungstenite::connect_async(upstream.as_str()).await else {
                    return;
                };
                let (mut to_client, mut from_client) = client.split();
                let (mut to_server, mut from_server) = server.split();
                let up = async {
                    while let Some(Ok(msg)) = from_client.next().await {
                        let msg = match msg {
                            Message::Text(text) => {
                                let mut json: serde_json::Value = serde_json::from_str(&text).expect("json");
                                if json["type"] == "join"
                                    && let Some(fields) = json.as_object_mut()
                                    && fields.remove("offer").is_some()
                                {
                                    count.fetch_add(1, Ordering::SeqCst);
                                }
                                Message::text(json.to_string())
                            }
                            other => other,
                        };
                        if to_server.send(msg).await.is_err() {
                            break;
                        }
                    }
                };
                let down = async {
                    while let Some(Ok(msg)) = from_server.next().await {
                        if to_client.send(msg).await.is_err() {
                            break;
                        }
                    }
                };
                tokio::select! {
                    () = up => {}
                    () = down => {}
                }
            });
        }
    });
    (url, taken)
}

/// A newcomer whose server ignores the offer in its join (a server older than that field)
/// closes the link it made for it and offers after `joined` instead: the call still comes
/// up, and each side hears the other.
#[actix::test]
async fn a_server_that_ignores_the_join_offer_still_gets_a_call() {
    let server = server().await;
    let (old_server, offers_taken) = server_ignoring_join_offers(server.ws_url()).await;
    let sid = session_id("old-server");
    let alice = Member::join(&server, "alice", &sid, config(true, AudioOutput::Null)).await;
    let bob = Member::join_through(&server, &old_server, "bob", &sid, config(true, AudioOutput::Null)).await;
    assert_eq!(
        offers_taken.load(Ordering::SeqCst),
        1,
        "bob's join carried an offer, and the server never saw it"
    );
    tokio::time::timeout(PATIENCE, async {
        while [(&alice, "bob"), (&bob, "alice")]
            .iter()
            .any(|(m, from)| m.session.stats().remote.get(*from).is_none_or(|r| r.audio_frames_decoded < 10))
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("each side decodes the other's audio");
    for m in [&alice, &bob] {
        let errors: Vec<Event> =
            m.events().into_iter().filter(|e| matches!(e, Event::Error { .. })).collect();
        assert!(errors.is_empty(), "{}: {errors:?}", m.uid);
    }
    alice.end().await;
    bob.end().await;
}
