//! Sample and random inputs for the checks: one event of every kind, seeded random event
//! sequences, hostile-but-valid values, random layout requests.
//!
//! The generator is a SplitMix64 of our own: it is tiny, and a seed must reproduce the same
//! inputs forever, which a dependency's algorithm choice would not promise.

use switchboard_core::settings::{AspectRatio, AvatarMode, CallSettings, Mode, Position};
use switchboard_core::view::{ParticipantView, ViewRequest};
use switchboard_core::{AudioMode, AudioModeKind, ErrorCode, Event, EventKind, RtcUser};

/// A seeded pseudo-random generator (SplitMix64).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`, salted with `salt` so checks sharing a seed differ.
    pub fn new(seed: u64, salt: &str) -> Self {
        let mut h = seed ^ 0x9e37_79b9_7f4a_7c15;
        for b in salt.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x1000_0000_01b3);
        }
        Self(h)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// A fair coin.
    pub fn coin(&mut self) -> bool {
        self.next_u64() & 1 == 1
    }

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// A float in `lo..hi`.
    pub fn range_f32(&mut self, lo: f32, hi: f32) -> f32 {
        let unit = (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
        lo + unit * (hi - lo)
    }

    /// `n` random bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(n + 8);
        while out.len() < n {
            out.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        out.truncate(n);
        out
    }
}

/// A participant with every field filled.
pub fn user(uid: &str) -> RtcUser {
    RtcUser {
        uid: uid.to_owned(),
        name: format!("User {uid}"),
        avatar: format!("https://example.invalid/{uid}.png"),
        resource: format!("{uid}-res"),
        joined_at: 1_700_000_000_000,
    }
}

/// One plausible event of `kind`.
pub fn sample_event(kind: EventKind) -> Event {
    let alice = user("alice");
    let bob = user("bob");
    match kind {
        EventKind::CallEnded => Event::CallEnded,
        EventKind::CallEndButtonPressed => Event::CallEndButtonPressed,
        EventKind::UserJoined => Event::UserJoined { user: bob },
        EventKind::UserLeft => Event::UserLeft { user: bob },
        EventKind::UserListChanged => Event::UserListChanged { users: vec![alice, bob] },
        EventKind::AudioModeChanged => Event::AudioModeChanged {
            modes: AudioModeKind::ALL
                .iter()
                .map(|&mode| AudioMode { mode, is_selected: mode == AudioModeKind::Speaker })
                .collect(),
        },
        EventKind::CallSwitchedToVideo => Event::CallSwitchedToVideo {
            session_id: "session-1".to_owned(),
            request_initiated_by: alice,
            request_accepted_by: bob,
        },
        EventKind::UserMuted => Event::UserMuted { muted: bob.clone(), muted_by: bob },
        EventKind::RecordingToggled => Event::RecordingToggled { recording_started: true, user: alice },
        EventKind::Error => Event::Error {
            code: ErrorCode::PeerConnectionFailed,
            message: "peer connection to bob failed".to_owned(),
            details: "bob".to_owned(),
        },
        EventKind::SessionTimeout => Event::SessionTimeout,
        EventKind::SessionStarted => {
            Event::SessionStarted { session_id: "session-1".to_owned(), user: alice }
        }
        EventKind::SessionEnded => Event::SessionEnded { reason: "end_session".to_owned() },
        EventKind::UserUnmuted => Event::UserUnmuted { user: bob },
        EventKind::UserVideoPaused => Event::UserVideoPaused { user: bob, paused: true },
        EventKind::IdleTimeoutWarning => Event::IdleTimeoutWarning { seconds_left: 60 },
        EventKind::ActiveSpeakerChanged => Event::ActiveSpeakerChanged { uid: Some("bob".to_owned()) },
        EventKind::ButtonPressed => Event::ButtonPressed { id: "mute_audio".to_owned() },
        EventKind::CameraSwitched => Event::CameraSwitched { source: "pattern:back".to_owned() },
        EventKind::PipModeChanged => Event::PipModeChanged { active: true },
        EventKind::PluginStatusChanged => Event::PluginStatusChanged {
            plugin: "recording".to_owned(),
            status: "running".to_owned(),
            detail: String::new(),
        },
        _ => Event::Unknown,
    }
}

/// A random string: sometimes empty, sometimes long, sometimes unicode.
fn text(rng: &mut Rng) -> String {
    match rng.below(6) {
        0 => String::new(),
        1 => "x".repeat(rng.below(4096)),
        2 => "ünïcødé 👋 \u{202e}".to_owned(),
        3 => "\"quote\\ \n\t\u{0}".to_owned(),
        _ => format!("u{}", rng.below(64)),
    }
}

fn random_user(rng: &mut Rng) -> RtcUser {
    RtcUser {
        uid: text(rng),
        name: text(rng),
        avatar: text(rng),
        resource: text(rng),
        joined_at: if rng.coin() { rng.next_u64() } else { 0 },
    }
}

/// A random event of a random kind, with random (but well-typed) fields.
pub fn random_event(rng: &mut Rng) -> Event {
    let kind = *rng.pick(EventKind::ALL);
    match kind {
        EventKind::UserJoined => Event::UserJoined { user: random_user(rng) },
        EventKind::UserLeft => Event::UserLeft { user: random_user(rng) },
        EventKind::UserListChanged => {
            let n = rng.below(40);
            Event::UserListChanged { users: (0..n).map(|_| random_user(rng)).collect() }
        }
        EventKind::AudioModeChanged => {
            let n = rng.below(6);
            Event::AudioModeChanged {
                modes: (0..n)
                    .map(|_| AudioMode { mode: *rng.pick(&AudioModeKind::ALL), is_selected: rng.coin() })
                    .collect(),
            }
        }
        EventKind::UserMuted => Event::UserMuted { muted: random_user(rng), muted_by: random_user(rng) },
        EventKind::RecordingToggled => {
            Event::RecordingToggled { recording_started: rng.coin(), user: random_user(rng) }
        }
        EventKind::Error => Event::Error {
            code: *rng.pick(&[ErrorCode::Error, ErrorCode::PluginFailed, ErrorCode::Unknown]),
            message: text(rng),
            details: text(rng),
        },
        EventKind::SessionEnded => Event::SessionEnded { reason: text(rng) },
        EventKind::UserUnmuted => Event::UserUnmuted { user: random_user(rng) },
        EventKind::UserVideoPaused => Event::UserVideoPaused { user: random_user(rng), paused: rng.coin() },
        EventKind::IdleTimeoutWarning => Event::IdleTimeoutWarning {
            seconds_left: if rng.coin() { u32::MAX } else { rng.below(200) as u32 },
        },
        EventKind::ActiveSpeakerChanged => {
            Event::ActiveSpeakerChanged { uid: if rng.coin() { None } else { Some(text(rng)) } }
        }
        EventKind::ButtonPressed => Event::ButtonPressed { id: text(rng) },
        EventKind::CameraSwitched => Event::CameraSwitched { source: text(rng) },
        EventKind::PipModeChanged => Event::PipModeChanged { active: rng.coin() },
        EventKind::PluginStatusChanged => {
            Event::PluginStatusChanged { plugin: text(rng), status: text(rng), detail: text(rng) }
        }
        other => sample_event(other),
    }
}

/// Random call settings, as a product team's config could set them.
// Drawn field by field on purpose: a struct literal would have to name every field, and
// new settings should keep their defaults here until someone decides how to vary them.
#[allow(clippy::field_reassign_with_default)]
pub fn random_settings(rng: &mut Rng) -> CallSettings {
    let mut s = CallSettings::default();
    s.enable_default_layout = rng.coin();
    s.audio_only_call = rng.below(4) == 0;
    s.show_end_call_button = rng.coin();
    s.show_switch_camera_button = rng.coin();
    s.show_mute_audio_button = rng.coin();
    s.show_pause_video_button = rng.coin();
    s.show_audio_mode_button = rng.coin();
    s.mode = *rng.pick(&[Mode::Default, Mode::Spotlight, Mode::Single]);
    s.show_switch_to_video_call_button = rng.coin();
    s.show_call_record_button = rng.coin();
    s.avatar_mode = *rng.pick(&[AvatarMode::Circle, AvatarMode::Square, AvatarMode::Fullscreen]);
    s.main_video_container.aspect_ratio =
        *rng.pick(&[AspectRatio::Contain, AspectRatio::Cover, AspectRatio::Default]);
    let corners = [Position::TopLeft, Position::TopRight, Position::BottomLeft, Position::BottomRight];
    s.main_video_container.name_label.position = *rng.pick(&corners);
    s.main_video_container.name_label.visible = rng.coin();
    s.main_video_container.full_screen_button.position = *rng.pick(&corners);
    s.main_video_container.zoom_button.visible = rng.coin();
    s.enable_video_tile_drag = rng.coin();
    s.enable_video_tile_click = rng.coin();
    s
}

/// A layout request for `n` participants (the first one local) with random settings and a
/// random window size, from tiny to large.
pub fn random_view_request(rng: &mut Rng, n: usize) -> ViewRequest {
    let (width, height) = match rng.below(4) {
        0 => (rng.range_f32(1.0, 64.0), rng.range_f32(1.0, 64.0)),
        1 => (1280.0, 720.0),
        2 => (rng.range_f32(200.0, 4000.0), rng.range_f32(200.0, 3000.0)),
        _ => (360.0, 640.0),
    };
    let settings = random_settings(rng);
    let participants: Vec<ParticipantView> = (0..n)
        .map(|i| ParticipantView {
            user: user(&format!("p{i}")),
            is_local: i == 0,
            audio_muted: rng.coin(),
            video_off: settings.audio_only_call || rng.below(3) == 0,
        })
        .collect();
    let active_speaker = if n > 0 && rng.coin() { Some(format!("p{}", rng.below(n))) } else { None };
    ViewRequest {
        width,
        height,
        audio_only: settings.audio_only_call,
        settings,
        button_order: None,
        custom_buttons: Vec::new(),
        participants,
        active_speaker,
        recording: rng.coin(),
        pip: rng.below(5) == 0,
        idle_seconds_left: if n <= 1 && rng.coin() { Some(rng.below(60) as u32) } else { None },
        audio_modes: AudioModeKind::ALL
            .iter()
            .map(|&mode| AudioMode { mode, is_selected: mode == AudioModeKind::Speaker })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_gives_the_same_stream_and_salts_differ() {
        let a: Vec<u64> = (0..4)
            .map({
                let mut r = Rng::new(7, "x");
                move |_| r.next_u64()
            })
            .collect();
        let b: Vec<u64> = (0..4)
            .map({
                let mut r = Rng::new(7, "x");
                move |_| r.next_u64()
            })
            .collect();
        let c = Rng::new(7, "y").next_u64();
        assert_eq!(a, b);
        assert_ne!(a[0], c);
    }

    #[test]
    fn every_kind_has_a_sample_of_that_kind() {
        for &kind in EventKind::ALL {
            assert_eq!(sample_event(kind).kind(), kind);
        }
    }

    #[test]
    fn view_requests_have_the_asked_participants_and_one_local() {
        let mut rng = Rng::new(3, "view");
        for n in 0..=32 {
            let request = random_view_request(&mut rng, n);
            assert_eq!(request.participants.len(), n);
            assert_eq!(request.participants.iter().filter(|p| p.is_local).count(), usize::from(n > 0));
            assert!(request.width > 0.0 && request.height > 0.0);
        }
    }
}
