//! Call setup on loopback through the WebRTC seam, against a bare pair of the library's
//! own peer connections in the same run.
//!
//! One run: create two peers, add an audio track on each, offer/answer through in-memory
//! channels with trickle ICE, and time (a) until both report connected and (b) until the
//! first audio packet sent by the offerer is read by the answerer. The offerer writes a
//! packet every 2 ms from the moment it has the answer, so (b) measures setup, not the
//! 20 ms packet cadence. Runs alternate between the two variants so both see the same
//! machine load. Prints p50/p95/min/max in milliseconds.
//!
//! `cargo bench -p switchboard-rtc --features bare-pair --bench rtc_setup [-- RUNS]` (default 50 runs).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use switchboard_rtc::{AudioFrame, LinkEvent, LinkOptions, LinkState, MediaKind, PeerLink};
use tokio::sync::{Notify, mpsc};

const LIMIT: Duration = Duration::from_secs(10);

/// Times of one run, from the start of the run.
#[derive(Debug, Clone, Copy)]
struct Run {
    connected: Duration,
    first_audio: Duration,
}

fn packet() -> AudioFrame {
    AudioFrame { data: Bytes::from_static(&[0xfc; 60]), duration: Duration::from_millis(20) }
}

/// Routes a link's events: candidates to the other link, connected to `connected`,
/// remote tracks' first frame to `first_frame`.
fn pump(
    mut events: mpsc::UnboundedReceiver<LinkEvent>,
    other: Arc<PeerLink>,
    connected: Arc<Notify>,
    first_frame: Option<mpsc::UnboundedSender<Instant>>,
) {
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            match event {
                LinkEvent::LocalCandidate { candidate } => {
                    if let Err(e) = other.add_remote_candidate(candidate).await {
                        eprintln!("candidate: {e}");
                    }
                }
                LinkEvent::State { state: LinkState::Connected } => connected.notify_one(),
                LinkEvent::RemoteTrack { mut track } if track.kind == MediaKind::Audio => {
                    if let Some(tx) = first_frame.clone() {
                        tokio::spawn(async move {
                            if track.frames.recv().await.is_some() {
                                let _ = tx.send(Instant::now());
                            }
                        });
                    }
                }
                _ => {}
            }
        }
    });
}

async fn run_link() -> Run {
    let start = Instant::now();
    let (a, a_events) = PeerLink::new(LinkOptions::default()).await.expect("link a");
    let (b, b_events) = PeerLink::new(LinkOptions::default()).await.expect("link b");
    let (a, b) = (Arc::new(a), Arc::new(b));
    let (a_up, b_up) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let (first_tx, mut first_rx) = mpsc::unbounded_channel();
    pump(a_events, Arc::clone(&b), Arc::clone(&a_up), None);
    pump(b_events, Arc::clone(&a), Arc::clone(&b_up), Some(first_tx));
    a.add_audio_track().await.expect("a audio");
    b.add_audio_track().await.expect("b audio");
    let offer = a.create_offer().await.expect("offer");
    let answer = b.accept_offer(offer).await.expect("answer");
    a.accept_answer(answer).await.expect("accept");

    let sender = Arc::clone(&a);
    let sending = tokio::spawn(async move {
        loop {
            let _ = sender.send_audio(&packet()).await;
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    });
    let connected = tokio::time::timeout(LIMIT, async {
        tokio::join!(a_up.notified(), b_up.notified());
        start.elapsed()
    })
    .await
    .expect("link pair connects");
    let first = tokio::time::timeout(LIMIT, first_rx.recv())
        .await
        .expect("first audio arrives")
        .expect("first audio sender alive");
    sending.abort();
    let run = Run { connected, first_audio: first - start };
    a.close().await.expect("close a");
    b.close().await.expect("close b");
    run
}

use switchboard_rtc::bare_pair::run_bare_rtp;

async fn run_bare() -> Run {
    let bare = run_bare_rtp(LIMIT).await;
    Run { connected: bare.connected, first_audio: bare.first_rtp }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn report(name: &str, what: &str, mut v: Vec<Duration>) {
    v.sort();
    let slow = v.iter().filter(|d| **d > Duration::from_millis(100)).count();
    println!(
        "{name:<10} {what:<12} p50 {:>7.1} ms  p95 {:>7.1} ms  min {:>7.1} ms  max {:>7.1} ms  >100ms {slow:>3}  (n={})",
        percentile(&v, 0.5),
        percentile(&v, 0.95),
        percentile(&v, 0.0),
        percentile(&v, 1.0),
        v.len()
    );
}

fn main() {
    // `cargo bench` passes `--bench`; a number among the arguments sets the run count.
    let runs: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(50);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        // One untimed run each, so first-use costs (certificate generation code paths,
        // lazy statics) do not land in the first sample.
        run_link().await;
        run_bare().await;
        let (mut link, mut bare) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            link.push(run_link().await);
            bare.push(run_bare().await);
        }
        println!("webrtc 0.17.2, loopback, {runs} runs each, alternating");
        report("PeerLink", "connected", link.iter().map(|r| r.connected).collect());
        report("PeerLink", "first audio", link.iter().map(|r| r.first_audio).collect());
        report("bare pair", "connected", bare.iter().map(|r| r.connected).collect());
        report("bare pair", "first audio", bare.iter().map(|r| r.first_audio).collect());
    });
}
