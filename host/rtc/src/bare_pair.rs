//! A bare pair of the WebRTC library's own peer connections, the baseline the setup
//! benches (rtc_setup, call_setup) compare against: default codecs and interceptors, Opus,
//! trickle ICE through in-memory channels. Built with the `bare-pair` feature, for benches
//! only.
//!
//! Two variants: [`bare_pc`] with the library's defaults everywhere (the original
//! baseline), and [`bare_pc_loopback`] with the same ICE scope and DTLS/ICE settings as a
//! session's loopback links (`rtc/engine.rs`), set on the library's own `SettingEngine`,
//! for the like-for-like audio baseline of `call_setup`.

#![allow(clippy::expect_used, missing_docs)] // bench support: a failed setup is a failed bench

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::{Notify, mpsc};
use webrtc::api::APIBuilder;
use webrtc::api::interceptor_registry::register_default_interceptors;
use webrtc::api::media_engine::{MIME_TYPE_OPUS, MediaEngine};
use webrtc::api::setting_engine::SettingEngine;
use webrtc::dtls_transport::dtls_role::DTLSRole;
use webrtc::ice::mdns::MulticastDnsMode;
use webrtc::ice::network_type::NetworkType;
use webrtc::ice_transport::ice_candidate::RTCIceCandidateInit;
use webrtc::interceptor::registry::Registry;
use webrtc::peer_connection::RTCPeerConnection;
use webrtc::peer_connection::configuration::RTCConfiguration;
use webrtc::peer_connection::peer_connection_state::RTCPeerConnectionState;
use webrtc::rtp_transceiver::rtp_codec::RTCRtpCodecCapability;
use webrtc::track::track_local::TrackLocal;
use webrtc::track::track_local::track_local_static_sample::TrackLocalStaticSample;

/// The library's peer connections with its own defaults (default codecs, default
/// interceptors, default ICE gathering), wired the way its examples do.
pub async fn bare_pc() -> Arc<RTCPeerConnection> {
    let mut media = MediaEngine::default();
    media.register_default_codecs().expect("codecs");
    let registry = register_default_interceptors(Registry::new(), &mut media).expect("interceptors");
    let api = APIBuilder::new().with_media_engine(media).with_interceptor_registry(registry).build();
    Arc::new(api.new_peer_connection(RTCConfiguration::default()).await.expect("pc"))
}

/// The library's peer connection with the loopback settings a session's links use
/// (127.0.0.1 host candidates over UDP only, no mDNS, no wait before nominating a
/// peer-reflexive pair, the answerer as DTLS server), default codecs and interceptors.
pub async fn bare_pc_loopback() -> Arc<RTCPeerConnection> {
    let mut media = MediaEngine::default();
    media.register_default_codecs().expect("codecs");
    let registry = register_default_interceptors(Registry::new(), &mut media).expect("interceptors");
    let mut settings = SettingEngine::default();
    settings.set_answering_dtls_role(DTLSRole::Server).expect("dtls role");
    settings.set_include_loopback_candidate(true);
    settings.set_ip_filter(Box::new(|ip: IpAddr| ip.is_loopback() && ip.is_ipv4()));
    settings.set_network_types(vec![NetworkType::Udp4]);
    settings.set_ice_multicast_dns_mode(MulticastDnsMode::Disabled);
    settings.set_prflx_acceptance_min_wait(Some(Duration::ZERO));
    let api = APIBuilder::new()
        .with_media_engine(media)
        .with_interceptor_registry(registry)
        .with_setting_engine(settings)
        .build();
    Arc::new(api.new_peer_connection(RTCConfiguration::default()).await.expect("pc"))
}

pub fn opus() -> RTCRtpCodecCapability {
    RTCRtpCodecCapability {
        mime_type: MIME_TYPE_OPUS.to_owned(),
        clock_rate: 48_000,
        channels: 2,
        ..Default::default()
    }
}

/// Relays `from`'s candidates to `to`, once `to` has its remote description.
pub fn bare_trickle(from: &RTCPeerConnection, to: Arc<RTCPeerConnection>, ready: Arc<Notify>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<RTCIceCandidateInit>();
    from.on_ice_candidate(Box::new(move |c| {
        if let Some(init) = c.and_then(|c| c.to_json().ok()) {
            let _ = tx.send(init);
        }
        Box::pin(async {})
    }));
    tokio::spawn(async move {
        ready.notified().await;
        while let Some(init) = rx.recv().await {
            if let Err(e) = to.add_ice_candidate(init).await {
                eprintln!("bare candidate: {e}");
            }
        }
    });
}

pub fn bare_on_connected(pc: &RTCPeerConnection) -> Arc<Notify> {
    let up = Arc::new(Notify::new());
    let n = Arc::clone(&up);
    pc.on_peer_connection_state_change(Box::new(move |s| {
        if s == RTCPeerConnectionState::Connected {
            n.notify_one();
        }
        Box::pin(async {})
    }));
    up
}

/// Offer from `a`, answer from `b`, each side's trickled candidates released once it has
/// its remote description (`a_ready` / `b_ready`, as handed to [`bare_trickle`]).
pub async fn exchange(a: &RTCPeerConnection, b: &RTCPeerConnection, a_ready: &Notify, b_ready: &Notify) {
    let offer = a.create_offer(None).await.expect("offer");
    a.set_local_description(offer.clone()).await.expect("a local");
    b.set_remote_description(offer).await.expect("b remote");
    b_ready.notify_one();
    let answer = b.create_answer(None).await.expect("answer");
    b.set_local_description(answer.clone()).await.expect("b local");
    a.set_remote_description(answer).await.expect("a remote");
    a_ready.notify_one();
}

/// One run of the original baseline: [`bare_pc`] peers, the offerer writing a 60-byte
/// packet every 2 ms (so the 20 ms packet cadence is not in the figure), timed from
/// creating the peers.
#[derive(Debug, Clone, Copy)]
pub struct BareRtpRun {
    /// Until both peer connections report connected.
    pub connected: Duration,
    /// Until the answerer read the first RTP packet.
    pub first_rtp: Duration,
}

/// Runs the original baseline once; see [`BareRtpRun`].
pub async fn run_bare_rtp(limit: Duration) -> BareRtpRun {
    use std::time::Instant;
    use webrtc::media::Sample;

    let start = Instant::now();
    let (a, b) = (bare_pc().await, bare_pc().await);
    let (a_ready, b_ready) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    bare_trickle(&a, Arc::clone(&b), Arc::clone(&b_ready));
    bare_trickle(&b, Arc::clone(&a), Arc::clone(&a_ready));
    let (a_up, b_up) = (bare_on_connected(&a), bare_on_connected(&b));
    let (first_tx, mut first_rx) = mpsc::unbounded_channel();
    b.on_track(Box::new(move |track, _, _| {
        let tx = first_tx.clone();
        Box::pin(async move {
            tokio::spawn(async move {
                if track.read_rtp().await.is_ok() {
                    let _ = tx.send(Instant::now());
                }
                // Keep reading so the interceptors run, as a real receiver would.
                while track.read_rtp().await.is_ok() {}
            });
        })
    }));
    let a_track = Arc::new(TrackLocalStaticSample::new(opus(), "a".into(), "s".into()));
    let b_track = Arc::new(TrackLocalStaticSample::new(opus(), "b".into(), "s".into()));
    a.add_track(Arc::clone(&a_track) as Arc<dyn TrackLocal + Send + Sync>).await.expect("a track");
    b.add_track(b_track as Arc<dyn TrackLocal + Send + Sync>).await.expect("b track");
    exchange(&a, &b, &a_ready, &b_ready).await;
    let sending = tokio::spawn(async move {
        loop {
            let sample = Sample {
                data: bytes::Bytes::from_static(&[0xfc; 60]),
                duration: Duration::from_millis(20),
                ..Default::default()
            };
            let _ = a_track.write_sample(&sample).await;
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    });
    let connected = tokio::time::timeout(limit, async {
        tokio::join!(a_up.notified(), b_up.notified());
        start.elapsed()
    })
    .await
    .expect("bare pair connects");
    let first = tokio::time::timeout(limit, first_rx.recv())
        .await
        .expect("bare first RTP arrives")
        .expect("bare sender alive");
    sending.abort();
    a.close().await.expect("close a");
    b.close().await.expect("close b");
    BareRtpRun { connected, first_rtp: first - start }
}

/// Which settings a bare audio call's peer connections get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BareSettings {
    /// [`bare_pc_loopback`]: the sessions' loopback settings (the like-for-like baseline).
    Loopback,
    /// [`bare_pc`]: the library's defaults everywhere (all interfaces, mDNS queries, the
    /// default DTLS roles).
    LibraryDefaults,
}

/// A minimal two-way audio call on the bare library, the baseline of a session's setup
/// (like for like with [`BareSettings::Loopback`]): peers with `settings`, offer/answer
/// and trickle ICE through in-memory channels, each side sending a 440/660 Hz tone as
/// 20 ms Opus frames (48 kHz mono VoIP, 32 kbit/s, in-band FEC, as the sessions encode)
/// and decoding what it receives. Each sender writes its first frame the moment its peer
/// connection reports connected, then one every 20 ms, as the library's own examples
/// start writing samples once connected. Returns when the offerer decoded the answerer's
/// first frame and the answerer the offerer's, each from the creation of the peers.
///
/// The offerer runs on the caller's runtime; the answerer on `answerer_rt` when given
/// (every call into its peer connection, so the library's tasks for it run there too, as
/// in a process of its own), else on the caller's as well.
///
/// Each step is traced with target `switchboard::setup` and `who` = "bare offerer" or
/// "bare answerer", like the session's own setup traces.
pub async fn run_bare_audio(
    settings: BareSettings,
    limit: Duration,
    answerer_rt: Option<&Handle>,
) -> (Duration, Duration) {
    use std::time::Instant;

    let pc = move || async move {
        match settings {
            BareSettings::Loopback => bare_pc_loopback().await,
            BareSettings::LibraryDefaults => bare_pc().await,
        }
    };
    let start = Instant::now();
    let (a, b) = tokio::join!(pc(), on(answerer_rt, pc()));
    let (a_ready, b_ready) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    // Each relay runs where the peer it feeds runs.
    bare_trickle(&b, Arc::clone(&a), Arc::clone(&a_ready));
    let (from, to, ready) = (Arc::clone(&a), Arc::clone(&b), Arc::clone(&b_ready));
    on(answerer_rt, async move { bare_trickle(&from, to, ready) }).await;
    let (a_first, mut a_first_rx) = mpsc::unbounded_channel();
    let (b_first, mut b_first_rx) = mpsc::unbounded_channel();
    let senders = [
        call_side(Arc::clone(&a), "bare offerer", 440.0, a_first).await,
        on(answerer_rt, call_side(Arc::clone(&b), "bare answerer", 660.0, b_first)).await,
    ];
    // Offer from a, answer from b, each side's candidates released once it has the
    // other's description.
    let offer = a.create_offer(None).await.expect("offer");
    a.set_local_description(offer.clone()).await.expect("a local");
    let answerer = Arc::clone(&b);
    let answer = on(answerer_rt, async move {
        answerer.set_remote_description(offer).await.expect("b remote");
        b_ready.notify_one();
        let answer = answerer.create_answer(None).await.expect("answer");
        answerer.set_local_description(answer.clone()).await.expect("b local");
        answer
    })
    .await;
    a.set_remote_description(answer).await.expect("a remote");
    a_ready.notify_one();
    let a_decoded = tokio::time::timeout(limit, a_first_rx.recv()).await.expect("bare audio decoded");
    let b_decoded = tokio::time::timeout(limit, b_first_rx.recv()).await.expect("bare audio decoded");
    let (a_decoded, b_decoded) = (a_decoded.expect("decoder alive"), b_decoded.expect("decoder alive"));
    for sender in senders {
        sender.abort();
    }
    a.close().await.expect("close a");
    on(answerer_rt, async move { b.close().await.expect("close b") }).await;
    (a_decoded - start, b_decoded - start)
}

/// Runs `task` on `rt` when given (and waits for it), else right here.
async fn on<T: Send + 'static>(rt: Option<&Handle>, task: impl Future<Output = T> + Send + 'static) -> T {
    match rt {
        Some(rt) => rt.spawn(task).await.expect("the task on the other runtime"),
        None => task.await,
    }
}

/// One side of a bare audio call, on the runtime it runs on: its traces, its decoder of
/// remote audio (sends when the first frame was decoded), and its tone track, sent from
/// the moment it connects by the task returned.
async fn call_side(
    pc: Arc<RTCPeerConnection>,
    who: &'static str,
    hz: f64,
    first: mpsc::UnboundedSender<std::time::Instant>,
) -> tokio::task::JoinHandle<()> {
    trace_steps(&pc, who);
    let up = bare_on_connected_traced(&pc, who);
    decode_first(&pc, who, first);
    let track = Arc::new(TrackLocalStaticSample::new(opus(), format!("audio-{who}"), "s".into()));
    let sender =
        pc.add_track(Arc::clone(&track) as Arc<dyn TrackLocal + Send + Sync>).await.expect("add track");
    // RTCP must be read for the interceptors to run, as in the library's examples.
    tokio::spawn(async move { while sender.read_rtcp().await.is_ok() {} });
    tokio::spawn(send_tone(track, up, who, hz))
}

/// Sends a tone as 20 ms Opus frames from the moment `up` is notified.
async fn send_tone(track: Arc<TrackLocalStaticSample>, up: Arc<Notify>, who: &'static str, hz: f64) {
    const FRAME: usize = 960;
    let mut encoder =
        opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Voip).expect("opus encoder");
    encoder.set_bitrate(opus::Bitrate::Bits(32_000)).expect("bitrate");
    encoder.set_inband_fec(true).expect("fec");
    up.notified().await;
    // The first frame goes at once, the next ones every 20 ms. (Not `tokio::time::interval`:
    // its "immediate" first tick still waits for the timer wheel's next millisecond.)
    let mut next = tokio::time::Instant::now();
    let (mut phase, step) = (0.0f64, std::f64::consts::TAU * hz / 48_000.0);
    let mut first = true;
    loop {
        let frame: Vec<i16> = (0..FRAME)
            .map(|_| {
                phase = (phase + step) % std::f64::consts::TAU;
                (phase.sin() * 8000.0) as i16
            })
            .collect();
        let packet = encoder.encode_vec(&frame, 1275).expect("encode");
        let sample = webrtc::media::Sample {
            data: bytes::Bytes::from(packet),
            duration: Duration::from_millis(20),
            ..Default::default()
        };
        if track.write_sample(&sample).await.is_ok() && first {
            first = false;
            tracing::debug!(target: "switchboard::setup", stage = "first audio written", who);
        }
        next += Duration::from_millis(20);
        tokio::time::sleep_until(next).await;
    }
}

/// Decodes every remote audio frame; sends when the first one was decoded.
fn decode_first(pc: &RTCPeerConnection, who: &'static str, first: mpsc::UnboundedSender<std::time::Instant>) {
    pc.on_track(Box::new(move |track, _, _| {
        let first = first.clone();
        Box::pin(async move {
            tokio::spawn(async move {
                let mut decoder = opus::Decoder::new(48_000, opus::Channels::Mono).expect("opus decoder");
                let mut pcm = vec![0i16; 960];
                let mut decoded = false;
                while let Ok((packet, _)) = track.read_rtp().await {
                    if !decoded {
                        tracing::debug!(target: "switchboard::setup", stage = "first rtp read", who);
                    }
                    if decoder.decode(&packet.payload, &mut pcm, false).is_ok() && !decoded {
                        decoded = true;
                        let _ = first.send(std::time::Instant::now());
                    }
                }
            });
        })
    }));
}

/// Traces ICE, DTLS and connection state changes with the session's stage names.
fn trace_steps(pc: &RTCPeerConnection, who: &'static str) {
    pc.on_ice_connection_state_change(Box::new(move |state| {
        tracing::debug!(target: "switchboard::setup", stage = "ice state", who, %state);
        Box::pin(async {})
    }));
    pc.dtls_transport().on_state_change(Box::new(move |state| {
        tracing::debug!(target: "switchboard::setup", stage = "dtls state", who, %state);
        Box::pin(async {})
    }));
}

/// [`bare_on_connected`], tracing the connected state like a session's link.
fn bare_on_connected_traced(pc: &RTCPeerConnection, who: &'static str) -> Arc<Notify> {
    let up = Arc::new(Notify::new());
    let n = Arc::clone(&up);
    pc.on_peer_connection_state_change(Box::new(move |s| {
        if s == RTCPeerConnectionState::Connected {
            tracing::debug!(target: "switchboard::setup", stage = "link state", who, state = "connected");
            n.notify_one();
        }
        Box::pin(async {})
    }));
    up
}
