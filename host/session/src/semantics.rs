//! The seed's call semantics as a pure state machine: which events each participant gets
//! when users join, leave, end, mute or sit alone. No IO and no clock of its own (time is
//! passed in), so every rule is tested without a network.
//!
//! The rules, from the seed:
//! - `user_joined` / `user_left` are about *other* users; `user_list_changed` follows every
//!   join or leave (the local user's own join included) with everyone now in the call.
//! - `call_ended` goes to both users when a call between exactly two users ends, whoever
//!   ended it (an explicit end or a dropped connection), and never otherwise.
//! - `call_end_button_pressed` goes only to the user who ended or left, and only while the
//!   call is live: the other user's `endSession()` after `call_ended` is cleanup, not a press.
//! - A participant alone for `idle_timeout_period` seconds is warned 60 s before the end
//!   (`idle_timeout_warning`) and then gets `session_timeout`; someone joining cancels it.

use std::time::{Duration, Instant};

use switchboard_core::settings::CallSettings;
use switchboard_core::{Event, RtcUser};

/// Why a session ended, as carried by `session_ended`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// The local user called `endSession()`.
    EndSession,
    /// The idle timeout fired.
    SessionTimeout,
    /// The session failed (signaling lost, ...).
    Error,
}

impl EndReason {
    fn as_str(self) -> &'static str {
        match self {
            Self::EndSession => "end_session",
            Self::SessionTimeout => "session_timeout",
            Self::Error => "error",
        }
    }
}

/// One participant's view of the call.
#[derive(Debug, Clone)]
pub struct CallSemantics {
    session_id: String,
    local: RtcUser,
    users: Vec<RtcUser>,
    idle_timeout: Duration,
    /// When the local user became alone, while alone.
    alone_since: Option<Instant>,
    warned: bool,
    /// True once `call_ended` was raised here: a later `endSession()` is cleanup.
    call_over: bool,
    ended: bool,
    audio_muted: bool,
    video_paused: bool,
    recording: bool,
}

impl CallSemantics {
    /// A participant that has not joined yet.
    pub fn new(session_id: impl Into<String>, local: RtcUser, settings: &CallSettings) -> Self {
        Self {
            session_id: session_id.into(),
            local,
            users: Vec::new(),
            idle_timeout: Duration::from_secs(u64::from(settings.idle_timeout_period)),
            alone_since: None,
            warned: false,
            call_over: false,
            ended: false,
            audio_muted: settings.start_with_audio_muted,
            video_paused: settings.start_with_video_muted,
            recording: false,
        }
    }

    /// The session id.
    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    /// The local user (with the fields the server filled in once joined).
    pub fn local(&self) -> &RtcUser {
        &self.local
    }

    /// Everyone in the call, the local user included, in join order.
    pub fn users(&self) -> &[RtcUser] {
        &self.users
    }

    /// True once the session ended.
    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// True while the local microphone is muted.
    pub fn audio_muted(&self) -> bool {
        self.audio_muted
    }

    /// True while the local video is paused.
    pub fn video_paused(&self) -> bool {
        self.video_paused
    }

    /// True while the call is being recorded.
    pub fn recording(&self) -> bool {
        self.recording
    }

    fn track_alone(&mut self, now: Instant) {
        let alone = self.users.len() <= 1;
        match (alone, self.alone_since) {
            (true, None) => {
                self.alone_since = Some(now);
                self.warned = false;
            }
            (false, Some(_)) => {
                self.alone_since = None;
                self.warned = false;
            }
            _ => {}
        }
    }

    /// The server accepted the local user into a room with `users` (the local user included).
    pub fn joined(&mut self, you: RtcUser, users: Vec<RtcUser>, now: Instant) -> Vec<Event> {
        self.local = you;
        self.users = users;
        self.track_alone(now);
        let mut events = vec![
            Event::SessionStarted { session_id: self.session_id.clone(), user: self.local.clone() },
            Event::UserListChanged { users: self.users.clone() },
        ];
        if self.audio_muted {
            events.push(Event::UserMuted { muted: self.local.clone(), muted_by: self.local.clone() });
        }
        events
    }

    /// Another user joined; `users` is everyone now in the call.
    pub fn user_joined(&mut self, user: RtcUser, users: Vec<RtcUser>, now: Instant) -> Vec<Event> {
        if self.ended || (user.resource == self.local.resource && user.uid == self.local.uid) {
            return Vec::new();
        }
        self.users = users;
        // A new participant makes the call live again, e.g. after the other user hung up.
        self.call_over = false;
        self.track_alone(now);
        vec![Event::UserJoined { user }, Event::UserListChanged { users: self.users.clone() }]
    }

    /// Another user left (ended, left or dropped); `users` is everyone still in the call.
    pub fn user_left(&mut self, user: RtcUser, users: Vec<RtcUser>, now: Instant) -> Vec<Event> {
        if self.ended {
            return Vec::new();
        }
        let was_two = self.users.len() == 2;
        self.users = users;
        self.track_alone(now);
        let mut events = vec![Event::UserLeft { user }, Event::UserListChanged { users: self.users.clone() }];
        if was_two && self.users.len() == 1 && !self.call_over {
            self.call_over = true;
            events.push(Event::CallEnded);
        }
        events
    }

    /// The local user ends the session. Call this once; later calls return nothing.
    pub fn end_session(&mut self) -> Vec<Event> {
        if self.ended {
            return Vec::new();
        }
        let mut events = Vec::new();
        if !self.call_over {
            events.push(Event::CallEndButtonPressed);
            if self.users.len() == 2 {
                events.push(Event::CallEnded);
            }
        }
        events.extend(self.finish(EndReason::EndSession));
        events
    }

    /// The session failed for good (its error event is raised by the caller).
    pub fn fail(&mut self) -> Vec<Event> {
        self.finish(EndReason::Error)
    }

    fn finish(&mut self, reason: EndReason) -> Vec<Event> {
        if self.ended {
            return Vec::new();
        }
        self.ended = true;
        self.call_over = true;
        self.alone_since = None;
        vec![Event::SessionEnded { reason: reason.as_str().to_owned() }]
    }

    /// When [`CallSemantics::on_timer`] next has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        let since = self.alone_since?;
        if self.ended {
            return None;
        }
        let warn_at = since
            + self
                .idle_timeout
                .saturating_sub(Duration::from_secs(u64::from(CallSettings::IDLE_WARNING_LEAD_SECS)));
        Some(if self.warned { since + self.idle_timeout } else { warn_at })
    }

    /// Runs the idle timer: the warning, then `session_timeout` and the end of the session.
    pub fn on_timer(&mut self, now: Instant) -> Vec<Event> {
        let Some(since) = self.alone_since else { return Vec::new() };
        if self.ended {
            return Vec::new();
        }
        let deadline = since + self.idle_timeout;
        let mut events = Vec::new();
        let lead = Duration::from_secs(u64::from(CallSettings::IDLE_WARNING_LEAD_SECS));
        if !self.warned && now + lead >= deadline {
            self.warned = true;
            let left = deadline.saturating_duration_since(now);
            // Round up: "60 seconds left" rather than 59 for a timer that fired a hair late.
            let seconds_left = u32::try_from(left.as_millis().div_ceil(1000)).unwrap_or(u32::MAX);
            events.push(Event::IdleTimeoutWarning { seconds_left });
        }
        if now >= deadline {
            events.push(Event::SessionTimeout);
            events.extend(self.finish(EndReason::SessionTimeout));
        }
        events
    }

    /// The local user muted or unmuted. Returns the local event; the caller tells the others.
    pub fn set_local_muted(&mut self, muted: bool) -> Vec<Event> {
        if self.audio_muted == muted {
            return Vec::new();
        }
        self.audio_muted = muted;
        let me = self.local.clone();
        vec![if muted {
            Event::UserMuted { muted: me.clone(), muted_by: me }
        } else {
            Event::UserUnmuted { user: me }
        }]
    }

    /// The local user paused or resumed video.
    pub fn set_local_video_paused(&mut self, paused: bool) -> Vec<Event> {
        if self.video_paused == paused {
            return Vec::new();
        }
        self.video_paused = paused;
        vec![Event::UserVideoPaused { user: self.local.clone(), paused }]
    }

    /// A remote user muted or unmuted (`by` is who did it, usually the same user).
    pub fn remote_muted(&mut self, user: RtcUser, by: RtcUser, muted: bool) -> Vec<Event> {
        vec![if muted { Event::UserMuted { muted: user, muted_by: by } } else { Event::UserUnmuted { user } }]
    }

    /// Recording started or stopped (by anyone); every participant gets `recording_toggled`.
    pub fn recording_changed(&mut self, started: bool, by: RtcUser) -> Vec<Event> {
        if self.recording == started {
            return Vec::new();
        }
        self.recording = started;
        vec![Event::RecordingToggled { recording_started: started, user: by }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(uid: &str) -> RtcUser {
        RtcUser {
            uid: uid.into(),
            name: uid.to_uppercase(),
            resource: format!("{uid}-1"),
            ..RtcUser::default()
        }
    }

    fn names(events: &[Event]) -> Vec<&'static str> {
        events.iter().map(|e| e.kind().as_str()).collect()
    }

    fn joined_pair() -> (CallSemantics, Instant) {
        let now = Instant::now();
        let mut a = CallSemantics::new("s1", user("alice"), &CallSettings::default());
        a.joined(user("alice"), vec![user("alice")], now);
        a.user_joined(user("bob"), vec![user("alice"), user("bob")], now);
        (a, now)
    }

    #[test]
    fn own_join_raises_user_list_changed_not_user_joined() {
        let mut a = CallSemantics::new("s1", user("alice"), &CallSettings::default());
        let events = a.joined(user("alice"), vec![user("bob"), user("alice")], Instant::now());
        assert_eq!(names(&events), ["session_started", "user_list_changed"]);
    }

    #[test]
    fn ending_a_two_party_call_gives_both_call_ended_and_only_the_ender_the_press() {
        let (mut a, now) = joined_pair();
        let mut b = CallSemantics::new("s1", user("bob"), &CallSettings::default());
        b.joined(user("bob"), vec![user("alice"), user("bob")], now);
        assert_eq!(names(&a.end_session()), ["call_end_button_pressed", "call_ended", "session_ended"]);
        assert_eq!(
            names(&b.user_left(user("alice"), vec![user("bob")], now)),
            ["user_left", "user_list_changed", "call_ended"]
        );
        // Bob's cleanup after call_ended is not a press.
        assert_eq!(names(&b.end_session()), ["session_ended"]);
    }

    #[test]
    fn leaving_a_three_party_call_raises_no_call_ended() {
        let now = Instant::now();
        let mut a = CallSemantics::new("s1", user("alice"), &CallSettings::default());
        a.joined(user("alice"), vec![user("alice"), user("bob"), user("carol")], now);
        let events = a.user_left(user("carol"), vec![user("alice"), user("bob")], now);
        assert_eq!(names(&events), ["user_left", "user_list_changed"]);
        assert_eq!(names(&a.end_session()), ["call_end_button_pressed", "call_ended", "session_ended"]);
    }

    #[test]
    fn the_leaver_of_a_group_call_gets_only_the_press() {
        let now = Instant::now();
        let mut a = CallSemantics::new("s1", user("alice"), &CallSettings::default());
        a.joined(user("alice"), vec![user("alice"), user("bob"), user("carol")], now);
        assert_eq!(names(&a.end_session()), ["call_end_button_pressed", "session_ended"]);
    }

    #[test]
    fn a_lone_user_can_end_without_call_ended() {
        let now = Instant::now();
        let mut a = CallSemantics::new("s1", user("alice"), &CallSettings::default());
        a.joined(user("alice"), vec![user("alice")], now);
        assert_eq!(names(&a.end_session()), ["call_end_button_pressed", "session_ended"]);
        assert!(a.end_session().is_empty(), "ending twice raises nothing");
    }

    #[test]
    fn idle_timeout_warns_sixty_seconds_before_and_then_times_out() {
        let now = Instant::now();
        let mut a = CallSemantics::new("s1", user("alice"), &CallSettings::default());
        a.joined(user("alice"), vec![user("alice")], now);
        assert_eq!(a.next_deadline(), Some(now + Duration::from_secs(120)));
        assert!(a.on_timer(now + Duration::from_secs(119)).is_empty());
        assert_eq!(
            a.on_timer(now + Duration::from_secs(120)),
            vec![Event::IdleTimeoutWarning { seconds_left: 60 }]
        );
        assert_eq!(a.next_deadline(), Some(now + Duration::from_secs(180)));
        assert_eq!(names(&a.on_timer(now + Duration::from_secs(180))), ["session_timeout", "session_ended"]);
        assert!(a.is_ended());
        assert_eq!(a.next_deadline(), None);
    }

    #[test]
    fn someone_joining_cancels_the_idle_timeout() {
        let now = Instant::now();
        let mut a = CallSemantics::new("s1", user("alice"), &CallSettings::default());
        a.joined(user("alice"), vec![user("alice")], now);
        a.user_joined(user("bob"), vec![user("alice"), user("bob")], now + Duration::from_secs(100));
        assert_eq!(a.next_deadline(), None);
        assert!(a.on_timer(now + Duration::from_secs(500)).is_empty());
        // Alone again: the clock restarts from the leave.
        let left = now + Duration::from_secs(200);
        a.user_left(user("bob"), vec![user("alice")], left);
        assert_eq!(a.next_deadline(), Some(left + Duration::from_secs(120)));
    }

    #[test]
    fn a_short_idle_timeout_warns_at_once() {
        let now = Instant::now();
        let settings = CallSettings::builder().idle_timeout_period(5).build();
        let mut a = CallSemantics::new("s1", user("alice"), &settings);
        a.joined(user("alice"), vec![user("alice")], now);
        assert_eq!(a.on_timer(now), vec![Event::IdleTimeoutWarning { seconds_left: 5 }]);
        assert_eq!(names(&a.on_timer(now + Duration::from_secs(5))), ["session_timeout", "session_ended"]);
    }

    #[test]
    fn start_with_audio_muted_is_announced_on_join_and_mute_toggles_once() {
        let settings = CallSettings::builder().start_with_audio_muted(true).build();
        let mut a = CallSemantics::new("s1", user("alice"), &settings);
        let events = a.joined(user("alice"), vec![user("alice")], Instant::now());
        assert_eq!(names(&events), ["session_started", "user_list_changed", "user_muted"]);
        assert!(a.set_local_muted(true).is_empty());
        assert_eq!(names(&a.set_local_muted(false)), ["user_unmuted"]);
    }

    #[test]
    fn recording_toggles_only_on_change() {
        let (mut a, _) = joined_pair();
        assert_eq!(names(&a.recording_changed(true, user("bob"))), ["recording_toggled"]);
        assert!(a.recording_changed(true, user("bob")).is_empty());
        assert_eq!(
            a.recording_changed(false, user("alice")),
            vec![Event::RecordingToggled { recording_started: false, user: user("alice") }]
        );
    }
}
