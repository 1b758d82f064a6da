//! A bare pair of the WebRTC library's own peer connections, the baseline the setup
//! benches (rtc_setup, call_setup) compare against: default codecs and interceptors, Opus,
//! trickle ICE through in-memory channels. Included by each bench with `#[path]`.

use std::sync::Arc;

use tokio::sync::{Notify, mpsc};
use webrtc::api::APIBuilder;
use webrtc::api::interceptor_registry::register_default_interceptors;
use webrtc::api::media_engine::{MIME_TYPE_OPUS, MediaEngine};
use webrtc::ice_transport::ice_candidate::RTCIceCandidateInit;
use webrtc::interceptor::registry::Registry;
use webrtc::peer_connection::RTCPeerConnection;
use webrtc::peer_connection::configuration::RTCConfiguration;
use webrtc::peer_connection::peer_connection_state::RTCPeerConnectionState;
use webrtc::rtp_transceiver::rtp_codec::RTCRtpCodecCapability;

/// The library's peer connections with its own defaults (default codecs, default
/// interceptors, default ICE gathering), wired the way its examples do.
pub async fn bare_pc() -> Arc<RTCPeerConnection> {
    let mut media = MediaEngine::default();
    media.register_default_codecs().expect("codecs");
    let registry = register_default_interceptors(Registry::new(), &mut media).expect("interceptors");
    let api = APIBuilder::new().with_media_engine(media).with_interceptor_registry(registry).build();
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
