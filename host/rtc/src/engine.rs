//! Builds the WebRTC library's API object: the codecs a link offers, the RTCP
//! interceptors, and the ICE policy from [`LinkOptions`].

use std::net::IpAddr;
use std::time::Duration;

use webrtc::api::interceptor_registry::register_default_interceptors;
use webrtc::api::media_engine::{MIME_TYPE_H264, MIME_TYPE_OPUS, MIME_TYPE_VP8, MediaEngine};
use webrtc::api::setting_engine::SettingEngine;
use webrtc::api::{API, APIBuilder};
use webrtc::dtls_transport::dtls_role::DTLSRole;
use webrtc::ice::mdns::MulticastDnsMode;
use webrtc::ice::network_type::NetworkType;
use webrtc::interceptor::registry::Registry;
use webrtc::rtp_transceiver::RTCPFeedback;
use webrtc::rtp_transceiver::rtp_codec::{RTCRtpCodecCapability, RTCRtpCodecParameters, RTPCodecType};

use super::error::{RtcError, lib};
use super::{IceScope, LinkOptions, VideoCodec};

/// Payload type of Opus, the value browsers use.
pub(crate) const PT_OPUS: u8 = 111;
/// Payload type of VP8.
pub(crate) const PT_VP8: u8 = 96;
/// Payload type of H.264 constrained baseline, packetization mode 1.
pub(crate) const PT_H264: u8 = 102;

/// The SDP fmtp line of our H.264 payload type; constrained baseline level 3.1 is what
/// every browser decodes.
const H264_FMTP: &str = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f";

/// The codec capability of our audio track: Opus, 48 kHz, 2 channels in SDP (RFC 7587
/// requires "opus/48000/2" whatever the encoder's channel count).
pub(crate) fn opus_capability() -> RTCRtpCodecCapability {
    RTCRtpCodecCapability {
        mime_type: MIME_TYPE_OPUS.to_owned(),
        clock_rate: 48_000,
        channels: 2,
        sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
        rtcp_feedback: vec![],
    }
}

/// The codec capability of a video track of the given codec.
pub(crate) fn video_capability(codec: VideoCodec) -> RTCRtpCodecCapability {
    let feedback =
        |typ: &str, parameter: &str| RTCPFeedback { typ: typ.to_owned(), parameter: parameter.to_owned() };
    // PLI and FIR must be negotiated, or a browser never asks us for keyframes.
    let rtcp_feedback = vec![
        feedback("goog-remb", ""),
        feedback("ccm", "fir"),
        feedback("nack", ""),
        feedback("nack", "pli"),
    ];
    match codec {
        VideoCodec::Vp8 => RTCRtpCodecCapability {
            mime_type: MIME_TYPE_VP8.to_owned(),
            clock_rate: 90_000,
            channels: 0,
            sdp_fmtp_line: String::new(),
            rtcp_feedback,
        },
        VideoCodec::H264 => RTCRtpCodecCapability {
            mime_type: MIME_TYPE_H264.to_owned(),
            clock_rate: 90_000,
            channels: 0,
            sdp_fmtp_line: H264_FMTP.to_owned(),
            rtcp_feedback,
        },
    }
}

/// The media engine with exactly our codecs: Opus for audio, VP8 and H.264 for video.
fn media_engine() -> Result<MediaEngine, RtcError> {
    let setup = |source| RtcError::Setup { step: "registering codecs", source: lib(source) };
    let mut engine = MediaEngine::default();
    engine
        .register_codec(
            RTCRtpCodecParameters {
                capability: opus_capability(),
                payload_type: PT_OPUS,
                ..Default::default()
            },
            RTPCodecType::Audio,
        )
        .map_err(setup)?;
    for (codec, payload_type) in [(VideoCodec::Vp8, PT_VP8), (VideoCodec::H264, PT_H264)] {
        engine
            .register_codec(
                RTCRtpCodecParameters {
                    capability: video_capability(codec),
                    payload_type,
                    ..Default::default()
                },
                RTPCodecType::Video,
            )
            .map_err(setup)?;
    }
    Ok(engine)
}

/// The ICE policy. Loopback scope gathers only 127.0.0.1 host candidates over UDP and
/// turns mDNS off, so a local call opens exactly one socket per link and never waits on
/// an interface that cannot reach the other process.
fn setting_engine(options: &LinkOptions) -> Result<SettingEngine, RtcError> {
    let mut settings = SettingEngine::default();
    // The answerer waits for the offerer's ClientHello instead of sending its own.
    // The answerer is the ICE-controlled side and reports connected first; as DTLS client
    // it would often send its ClientHello before the offerer's ICE accepted the pair, the
    // packet was lost, and the handshake waited for the 1 s DTLS retransmission (16 of 100
    // loopback setups, see BENCHMARKS.md). `a=setup:passive` answers are valid (RFC 5763).
    settings
        .set_answering_dtls_role(DTLSRole::Server)
        .map_err(|source| RtcError::Setup { step: "choosing the DTLS role", source: lib(source) })?;
    // Keepalives stay at the library's default (2 s): a peer that hears them is alive.
    settings.set_ice_timeouts(Some(options.ice_disconnected_timeout), Some(options.ice_failed_timeout), None);
    match options.ice_scope {
        IceScope::Loopback => {
            settings.set_include_loopback_candidate(true);
            settings.set_ip_filter(Box::new(|ip: IpAddr| ip.is_loopback() && ip.is_ipv4()));
            settings.set_network_types(vec![NetworkType::Udp4]);
            settings.set_ice_multicast_dns_mode(MulticastDnsMode::Disabled);
            // With trickle ICE through a signaling server, the answerer's first binding
            // request reaches the offerer before the answerer's candidate does, so the
            // offerer's only valid pair is to a peer-reflexive candidate, and the library
            // waits 1 s before nominating a prflx pair (to give a better pair a chance).
            // On loopback that candidate is the answerer's host address itself: nominate
            // at once. This was the ~1.1 s of every call setup through `serve`.
            settings.set_prflx_acceptance_min_wait(Some(Duration::ZERO));
        }
        IceScope::AllInterfaces => {
            settings.set_network_types(vec![NetworkType::Udp4, NetworkType::Udp6]);
        }
    }
    Ok(settings)
}

/// Builds the library's API object for one link. Each link gets its own, so links share
/// no mutable codec state (the media engine records what each negotiation chose).
pub(crate) fn build_api(options: &LinkOptions) -> Result<API, RtcError> {
    let mut engine = media_engine()?;
    // NACK responder/generator, sender/receiver reports and transport-wide congestion
    // control feedback: what a browser expects from a peer.
    let registry = register_default_interceptors(Registry::new(), &mut engine)
        .map_err(|source| RtcError::Setup { step: "registering interceptors", source: lib(source) })?;
    Ok(APIBuilder::new()
        .with_media_engine(engine)
        .with_interceptor_registry(registry)
        .with_setting_engine(setting_engine(options)?)
        .build())
}
