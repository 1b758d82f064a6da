//! The WebRTC seam end to end: two `PeerLink`s in one process on loopback, with
//! signaling through in-memory channels, exchanging real DTLS-SRTP media.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use switchboard_rtc::{
    AudioFrame, Codec, LinkCertificate, LinkEvent, LinkOptions, LinkState, MediaKind, PeerLink,
    ReceivedFrame, RemoteTrack, RtcError, VideoCodec, VideoFrame,
};
use tokio::sync::mpsc;

/// Generous bound for anything that should happen in milliseconds on loopback; only
/// reached when the behaviour is broken.
const PATIENCE: Duration = Duration::from_secs(10);

/// One side of a call: the link plus what its events were sorted into.
struct Side {
    link: Arc<PeerLink>,
    tracks: mpsc::UnboundedReceiver<RemoteTrack>,
    states: mpsc::UnboundedReceiver<LinkState>,
    keyframe_requests: mpsc::UnboundedReceiver<()>,
    /// One `()` per `LinkEvent::HeldAudioSent`.
    held_sent: mpsc::UnboundedReceiver<()>,
}

/// Routes one link's events: candidates to the other link (the in-memory signaling
/// channel), the rest to the test.
fn pump(mut events: mpsc::UnboundedReceiver<LinkEvent>, link: Arc<PeerLink>, other: Arc<PeerLink>) -> Side {
    let (tracks_tx, tracks) = mpsc::unbounded_channel();
    let (states_tx, states) = mpsc::unbounded_channel();
    let (kf_tx, keyframe_requests) = mpsc::unbounded_channel();
    let (held_tx, held_sent) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            match event {
                LinkEvent::LocalCandidate { candidate } => {
                    // Browser-shaped, and on loopback only (the default ICE scope).
                    let line = candidate["candidate"].as_str().expect("candidate line");
                    assert!(line.starts_with("candidate:"), "{line}");
                    assert!(line.contains(" 127.0.0.1 ") && line.contains(" typ host"), "{line}");
                    assert!(candidate.get("sdpMid").is_some(), "{candidate}");
                    // Relayed as opaque JSON, exactly like the signaling server does.
                    let wire = serde_json::to_string(&candidate).expect("candidate serializes");
                    let back = serde_json::from_str(&wire).expect("candidate parses");
                    other.add_remote_candidate(back).await.expect("remote accepts candidate");
                }
                LinkEvent::State { state } => {
                    let _ = states_tx.send(state);
                }
                LinkEvent::RemoteTrack { track } => {
                    let _ = tracks_tx.send(track);
                }
                LinkEvent::KeyframeRequested => {
                    let _ = kf_tx.send(());
                }
                LinkEvent::HeldAudioSent => {
                    let _ = held_tx.send(());
                }
            }
        }
    });
    Side { link, tracks, states, keyframe_requests, held_sent }
}

async fn pair() -> (Side, Side) {
    pair_with(LinkOptions::default()).await
}

/// A pair whose first link is made with `a_options`.
async fn pair_with(a_options: LinkOptions) -> (Side, Side) {
    let (a, a_events) = PeerLink::new(a_options).await.expect("link a");
    let (b, b_events) = PeerLink::new(LinkOptions::default()).await.expect("link b");
    let (a, b) = (Arc::new(a), Arc::new(b));
    (pump(a_events, Arc::clone(&a), Arc::clone(&b)), pump(b_events, b, a))
}

/// Offer from `offerer`, answer from `answerer`, through JSON text like the wire.
/// Returns the offer.
async fn negotiate(offerer: &PeerLink, answerer: &PeerLink) -> serde_json::Value {
    let offer = offerer.create_offer().await.expect("offer");
    let offer: serde_json::Value = serde_json::from_str(&offer.to_string()).expect("offer json");
    let answer = answerer.accept_offer(offer.clone()).await.expect("answer");
    let answer = serde_json::from_str(&answer.to_string()).expect("answer json");
    offerer.accept_answer(answer).await.expect("accept answer");
    offer
}

/// An audio-only call, connected.
async fn audio_call() -> (Side, Side) {
    audio_call_with(LinkOptions::default()).await.1
}

/// An audio-only call whose offerer is made with `a_options`, connected; and the offer.
async fn audio_call_with(a_options: LinkOptions) -> (serde_json::Value, (Side, Side)) {
    let (a, b) = pair_with(a_options).await;
    a.link.add_audio_track().await.expect("a audio");
    b.link.add_audio_track().await.expect("b audio");
    let offer = negotiate(&a.link, &b.link).await;
    a.link.wait_connected(PATIENCE).await.expect("a connects");
    b.link.wait_connected(PATIENCE).await.expect("b connects");
    (offer, (a, b))
}

async fn next_track(side: &mut Side, kind: MediaKind) -> RemoteTrack {
    loop {
        let track = tokio::time::timeout(PATIENCE, side.tracks.recv())
            .await
            .expect("a remote track within the patience bound")
            .expect("event stream open");
        if track.kind == kind {
            return track;
        }
    }
}

async fn next_frame(track: &mut RemoteTrack) -> ReceivedFrame {
    tokio::time::timeout(PATIENCE, track.frames.recv())
        .await
        .expect("a frame within the patience bound")
        .expect("track stream open")
}

/// A distinct Opus-sized payload per packet, so order and content can be checked.
fn audio_payload(from: u8, i: u16) -> Bytes {
    let mut data = vec![from; 40 + usize::from(i % 80)];
    data[1..3].copy_from_slice(&i.to_be_bytes());
    Bytes::from(data)
}

fn index_of(frame: &ReceivedFrame) -> u16 {
    u16::from_be_bytes([frame.data[1], frame.data[2]])
}

/// Sends `count` 20 ms audio packets, paced a little so the test resembles a call.
async fn send_audio(link: &PeerLink, from: u8, range: std::ops::Range<u16>) {
    for i in range {
        let frame = AudioFrame { data: audio_payload(from, i), duration: Duration::from_millis(20) };
        link.send_audio(&frame).await.expect("send audio");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// A fake VP8 frame: byte 0 is a VP8 frame tag (bit 0 clear means keyframe), then the
/// frame number and a body large enough to need several RTP packets.
fn video_payload(i: u32, keyframe: bool) -> Bytes {
    let mut data = vec![(i % 251) as u8; 3000 + (i as usize % 7) * 100];
    data[0] = if keyframe { 0x10 } else { 0x11 };
    data[1..5].copy_from_slice(&i.to_be_bytes());
    Bytes::from(data)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audio_flows_both_ways_in_order_with_payloads_intact() {
    let (mut a, mut b) = audio_call().await;
    let sent = 50u16;
    tokio::join!(send_audio(&a.link, 0xA, 0..sent), send_audio(&b.link, 0xB, 0..sent));

    for (receiver, from) in [(&mut b, 0xAu8), (&mut a, 0xB)] {
        let mut track = next_track(receiver, MediaKind::Audio).await;
        assert_eq!(track.codec, Codec::Opus);
        let mut last_seq = None;
        for i in 0..sent {
            let frame = next_frame(&mut track).await;
            assert_eq!(frame.kind, MediaKind::Audio);
            assert_eq!(index_of(&frame), i, "packets arrive in order, none lost");
            assert_eq!(frame.data, audio_payload(from, i), "payload intact");
            if let Some(last) = last_seq {
                assert_eq!(frame.sequence, u16::wrapping_add(last, 1));
            }
            last_seq = Some(frame.sequence);
        }
    }
    let (sa, sb) = (a.link.stats(), b.link.stats());
    assert_eq!(sa.audio_packets_sent, u64::from(sent));
    assert_eq!(sb.audio_packets_received, u64::from(sent));
    assert_eq!(sa.audio_packets_received, u64::from(sent));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_given_one_certificate_all_present_it_and_connect() {
    let certificate = LinkCertificate::generate().expect("a certificate");
    let options = LinkOptions { certificate: Some(certificate.clone()), ..LinkOptions::default() };
    let fingerprint = format!("a=fingerprint:{}", certificate.fingerprint());
    // Two links of one session, each to a peer of its own, as in a three-party mesh.
    for _ in 0..2 {
        let (offer, (a, mut b)) = audio_call_with(options.clone()).await;
        let sdp = offer["sdp"].as_str().expect("sdp");
        assert!(sdp.contains(&fingerprint), "the offer names the given certificate ({fingerprint}): {sdp}");
        send_audio(&a.link, 0xA, 0..3).await;
        let mut track = next_track(&mut b, MediaKind::Audio).await;
        assert_eq!(next_frame(&mut track).await.data, audio_payload(0xA, 0), "DTLS-SRTP works with it");
    }
}

/// The next local candidate a link reports, skipping its other events.
async fn next_candidate(events: &mut mpsc::UnboundedReceiver<LinkEvent>) -> serde_json::Value {
    loop {
        let event = tokio::time::timeout(PATIENCE, events.recv()).await.expect("a candidate in time");
        if let LinkEvent::LocalCandidate { candidate } = event.expect("the link is alive") {
            return candidate;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn candidates_a_description_carried_are_not_trickled_and_the_descriptions_alone_connect() {
    let (a, mut a_events) = PeerLink::new(LinkOptions::default()).await.expect("link a");
    let (b, mut b_events) = PeerLink::new(LinkOptions::default()).await.expect("link b");
    a.add_audio_track().await.expect("a audio");
    b.add_audio_track().await.expect("b audio");
    let first = a.create_offer().await.expect("offer");
    let candidate = next_candidate(&mut a_events).await;
    assert!(a.needs_trickle(&candidate), "gathered after the offer was made: the peer lacks it");

    // The offer taken again carries it, and from then on it is not trickled.
    let offer = a.offer_with_candidates().await.expect("our description is an offer");
    let line = candidate["candidate"].as_str().expect("candidate line");
    let sdp = offer["sdp"].as_str().expect("sdp");
    assert!(sdp.contains(&format!("a={line}")), "{line} in the offer: {sdp}");
    assert!(!first["sdp"].as_str().expect("sdp").contains("a=candidate:"), "the first offer had none");
    assert!(!a.needs_trickle(&candidate));
    let other = serde_json::json!({ "candidate": line.replace(" 127.0.0.1 ", " 127.0.0.2 ") });
    assert!(a.needs_trickle(&other), "a candidate no description carried still goes");

    // The answer waits for its own candidate (loopback) and carries it.
    let answer = b.accept_offer(offer).await.expect("answer");
    let b_candidate = next_candidate(&mut b_events).await;
    let b_line = b_candidate["candidate"].as_str().expect("candidate line");
    assert!(answer["sdp"].as_str().expect("sdp").contains(&format!("a={b_line}")));
    assert!(!b.needs_trickle(&b_candidate));
    assert!(b.offer_with_candidates().await.is_none(), "b's description is an answer");

    // Nothing trickled at all: the two descriptions are enough to connect.
    a.accept_answer(answer).await.expect("accept answer");
    a.wait_connected(PATIENCE).await.expect("a connects");
    b.wait_connected(PATIENCE).await.expect("b connects");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audio_held_while_connecting_is_sent_on_connection_and_stale_or_older_audio_is_not() {
    let (mut a, mut b) = pair().await;
    a.link.add_audio_track().await.expect("a audio");
    b.link.add_audio_track().await.expect("b audio");
    // Held before anything is negotiated: a's frame is current for far longer than the
    // setup takes; b's was captured long before its (20 ms) duration, so it is stale.
    let fresh = AudioFrame { data: audio_payload(0xA, 7), duration: Duration::from_secs(60) };
    let held_at = std::time::Instant::now();
    a.link.hold_audio(&fresh, held_at).await.expect("a holds");
    // A frame captured before the one held (its encoding finished late) never replaces it.
    let older = AudioFrame { data: audio_payload(0xA, 6), duration: Duration::from_secs(60) };
    let before = held_at.checked_sub(Duration::from_millis(1)).expect("an earlier instant");
    a.link.hold_audio(&older, before).await.expect("a holds an older frame");
    let stale = AudioFrame { data: audio_payload(0xB, 9), duration: Duration::from_millis(20) };
    let long_ago = std::time::Instant::now().checked_sub(Duration::from_secs(1)).expect("an earlier instant");
    b.link.hold_audio(&stale, long_ago).await.expect("b holds");
    negotiate(&a.link, &b.link).await;
    a.link.wait_connected(PATIENCE).await.expect("a connects");
    b.link.wait_connected(PATIENCE).await.expect("b connects");

    // Nothing else was sent by a: the held frame arrives on its own, then live frames
    // follow it in order.
    let mut a_to_b = next_track(&mut b, MediaKind::Audio).await;
    assert_eq!(next_frame(&mut a_to_b).await.data, fresh.data, "the held frame comes first");
    send_audio(&a.link, 0xA, 8..10).await;
    assert_eq!(index_of(&next_frame(&mut a_to_b).await), 8);
    assert_eq!(index_of(&next_frame(&mut a_to_b).await), 9);
    assert_eq!(a.link.stats().audio_packets_sent, 3);
    // The held frame's send was announced (the session counts it as sent); b's stale one
    // was never sent, so never announced (checked below, once b has sent live audio).
    tokio::time::timeout(PATIENCE, a.held_sent.recv())
        .await
        .expect("in time")
        .expect("a's held frame is announced");

    // b's stale frame was dropped: the first frame a receives is b's first live one.
    send_audio(&b.link, 0xB, 10..11).await;
    let mut b_to_a = next_track(&mut a, MediaKind::Audio).await;
    assert_eq!(index_of(&next_frame(&mut b_to_a).await), 10, "stale held audio is never sent");
    assert_eq!(b.link.stats().audio_packets_sent, 1);
    assert!(b.held_sent.try_recv().is_err(), "b's stale frame was not announced as sent");

    // Once connected, holding sends at once.
    let now = std::time::Instant::now();
    let frame = AudioFrame { data: audio_payload(0xA, 11), duration: Duration::from_millis(20) };
    a.link.hold_audio(&frame, now).await.expect("a holds while connected");
    assert_eq!(index_of(&next_frame(&mut a_to_b).await), 11);
    tokio::time::timeout(PATIENCE, a.held_sent.recv())
        .await
        .expect("in time")
        .expect("sent at once, announced too");
    // ... unless the frame is stale by then: a newer one may have gone already.
    let stale = AudioFrame { data: audio_payload(0xA, 12), duration: Duration::from_millis(20) };
    a.link.hold_audio(&stale, long_ago).await.expect("a holds a stale frame while connected");
    send_audio(&a.link, 0xA, 13..14).await;
    assert_eq!(index_of(&next_frame(&mut a_to_b).await), 13, "stale audio is never sent");
    assert!(a.held_sent.try_recv().is_err(), "the stale frame was not announced as sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renegotiation_adds_video_both_ways_while_audio_keeps_flowing() {
    let (mut a, mut b) = audio_call().await;
    let mut b_audio = {
        a.link
            .send_audio(&AudioFrame { data: audio_payload(0xA, 0), duration: Duration::from_millis(20) })
            .await
            .expect("first audio");
        next_track(&mut b, MediaKind::Audio).await
    };
    assert_eq!(index_of(&next_frame(&mut b_audio).await), 0);

    // Audio keeps going for the whole renegotiation.
    let audio_link = Arc::clone(&a.link);
    let audio = tokio::spawn(async move { send_audio(&audio_link, 0xA, 1..101).await });

    // Before the switch, nothing of video exists.
    assert_eq!(a.link.stats().video_packets_received + b.link.stats().video_packets_received, 0);

    a.link.add_video_track(VideoCodec::Vp8).await.expect("a video");
    let offer = a.link.create_offer().await.expect("renegotiation offer");
    let sdp = offer["sdp"].as_str().expect("sdp text");
    assert_eq!(offer["type"], "offer");
    for line in [
        "a=rtpmap:111 opus/48000/2",
        "a=rtpmap:96 VP8/90000",
        "a=rtpmap:102 H264/90000",
        "a=rtcp-fb:96 nack pli",
        "a=fingerprint:sha-256 ",
        "a=setup:",
    ] {
        assert!(sdp.contains(line), "offer lacks {line:?}:\n{sdp}");
    }
    // The answerer adds its own video before answering, so one round gives video both ways.
    b.link.add_video_track(VideoCodec::Vp8).await.expect("b video");
    let answer = b.link.accept_offer(offer).await.expect("renegotiation answer");
    a.link.accept_answer(answer).await.expect("accept renegotiation answer");

    let frames = 20u32;
    for i in 0..frames {
        let ts = Duration::from_millis(33 * u64::from(i));
        for link in [&a.link, &b.link] {
            let frame = VideoFrame { data: video_payload(i, i == 0), timestamp: ts, keyframe: i == 0 };
            link.send_video(&frame).await.expect("send video");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for receiver in [&mut b, &mut a] {
        let mut track = next_track(receiver, MediaKind::Video).await;
        assert_eq!(track.codec, Codec::Vp8);
        let first = next_frame(&mut track).await;
        // Frames sent before the receiver was bound may be lost; from the first one that
        // arrives, every frame arrives whole and in order.
        let start = u32::from_be_bytes([first.data[1], first.data[2], first.data[3], first.data[4]]);
        assert_eq!(first.data, video_payload(start, start == 0));
        assert_eq!(first.keyframe, start == 0);
        let mut last_ts = first.rtp_timestamp;
        for i in start + 1..frames {
            let frame = next_frame(&mut track).await;
            assert_eq!(frame.data, video_payload(i, false), "frame {i} reassembled intact");
            assert!(!frame.keyframe);
            assert!(frame.rtp_timestamp > last_ts, "RTP timestamps advance");
            last_ts = frame.rtp_timestamp;
        }
    }

    audio.await.expect("audio sender task");
    for i in 1..101u16 {
        let frame = next_frame(&mut b_audio).await;
        assert_eq!(index_of(&frame), i, "no audio packet lost or reordered across the switch");
    }
    assert_eq!(a.link.stats().video_frames_sent, u64::from(frames));
    assert_eq!(a.link.stats().video_keyframes_sent, 1);
    assert!(b.link.stats().video_frames_received >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pli_from_b_reaches_a_as_keyframe_request() {
    let (a, mut b) = pair().await;
    let mut a = a;
    a.link.add_audio_track().await.expect("a audio");
    a.link.add_video_track(VideoCodec::H264).await.expect("a video");
    negotiate(&a.link, &b.link).await;
    a.link.wait_connected(PATIENCE).await.expect("connects");

    // B learns of A's video track once its packets arrive.
    for i in 0..3u32 {
        let frame = VideoFrame {
            data: Bytes::from_static(&[0, 0, 0, 1, 0x65, 0x88, 0x84, 0x00]),
            timestamp: Duration::from_millis(33 * u64::from(i)),
            keyframe: true,
        };
        a.link.send_video(&frame).await.expect("send video");
    }
    let mut track = next_track(&mut b, MediaKind::Video).await;
    assert_eq!(track.codec, Codec::H264);
    let frame = next_frame(&mut track).await;
    assert!(frame.keyframe, "an IDR slice is a keyframe");

    b.link.request_keyframe().await.expect("send PLI");
    tokio::time::timeout(PATIENCE, a.keyframe_requests.recv())
        .await
        .expect("keyframe request within the patience bound")
        .expect("event stream open");
    assert!(a.link.stats().keyframe_requests_received >= 1);
    assert_eq!(b.link.stats().keyframe_requests_sent, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_reports_closed_on_both_sides_and_ends_track_streams() {
    let (mut a, mut b) = audio_call().await;
    a.link
        .send_audio(&AudioFrame { data: audio_payload(0xA, 0), duration: Duration::from_millis(20) })
        .await
        .expect("audio");
    let mut b_audio = next_track(&mut b, MediaKind::Audio).await;
    next_frame(&mut b_audio).await;

    a.link.close().await.expect("a closes");
    b.link.close().await.expect("b closes");
    for side in [&mut a, &mut b] {
        assert_eq!(side.link.state(), LinkState::Closed);
        let mut seen = Vec::new();
        while let Ok(Some(state)) = tokio::time::timeout(PATIENCE, side.states.recv()).await {
            seen.push(state);
            if state == LinkState::Closed {
                break;
            }
        }
        assert_eq!(seen.first(), Some(&LinkState::Connecting));
        assert!(seen.contains(&LinkState::Connected));
        assert_eq!(seen.last(), Some(&LinkState::Closed));
    }
    // The reader task ends with the connection, which ends the frame stream.
    let end = tokio::time::timeout(PATIENCE, async { while b_audio.frames.recv().await.is_some() {} }).await;
    assert!(end.is_ok(), "frame stream ends after close");
    // Sending after close is a typed error, not a silent drop.
    let err = a
        .link
        .send_audio(&AudioFrame { data: audio_payload(0xA, 1), duration: Duration::from_millis(20) })
        .await
        .expect_err("no track after close");
    assert!(matches!(err, RtcError::NoTrack { kind: MediaKind::Audio }), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_that_never_answers_times_out_with_a_typed_error() {
    let (a, _a_events) = PeerLink::new(LinkOptions::default()).await.expect("link");
    a.add_audio_track().await.expect("audio");
    let _offer = a.create_offer().await.expect("offer");
    let err = a.wait_connected(Duration::from_millis(300)).await.expect_err("no answer");
    match err {
        RtcError::ConnectTimeout { after, state } => {
            assert_eq!(after, Duration::from_millis(300));
            assert_eq!(state, LinkState::New);
        }
        other => panic!("expected ConnectTimeout, got {other:?}"),
    }
    a.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_signals_are_typed_errors() {
    let (a, _a_events) = PeerLink::new(LinkOptions::default()).await.expect("link");
    let (b, _b_events) = PeerLink::new(LinkOptions::default()).await.expect("link");
    a.add_audio_track().await.expect("audio");

    let err = b.accept_offer(serde_json::json!({"hello": 1})).await.expect_err("not an offer");
    assert!(matches!(err, RtcError::BadSignal { what: "offer", .. }), "{err}");

    let err = b
        .accept_offer(serde_json::json!({"type": "offer", "sdp": "this is not sdp"}))
        .await
        .expect_err("bad sdp");
    assert!(matches!(err, RtcError::Negotiation { .. }), "{err}");

    let offer = a.create_offer().await.expect("offer");
    let err = a.accept_answer(offer.clone()).await.expect_err("an offer is not an answer");
    assert!(matches!(err, RtcError::BadSignal { what: "answer", .. }), "{err}");

    let err = b
        .add_remote_candidate(serde_json::json!("candidate:nonsense"))
        .await
        .expect_err("a string is not a candidate object");
    assert!(matches!(err, RtcError::BadSignal { what: "candidate", .. }), "{err}");

    let err = a.request_keyframe().await.expect_err("no remote video");
    assert!(matches!(err, RtcError::NoRemoteVideo), "{err}");
    let err = a
        .send_video(&VideoFrame { data: Bytes::new(), timestamp: Duration::ZERO, keyframe: true })
        .await
        .expect_err("no video track");
    assert!(matches!(err, RtcError::NoTrack { kind: MediaKind::Video }), "{err}");
    let err = a.add_audio_track().await.expect_err("second audio track");
    assert!(matches!(err, RtcError::TrackExists { kind: MediaKind::Audio }), "{err}");
}
