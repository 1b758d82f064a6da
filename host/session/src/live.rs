//! The live call UI: folds call events into what a layout needs, asks the layout plugin for
//! the view, pushes it to the web page, and turns what the user does there into bus traffic.
//!
//! [`LiveCallState`] is a pure fold of call events (who is in the call, who is muted, whose
//! video is paused or flowing, the active speaker, recording, PIP, the idle countdown) into
//! a [`ViewRequest`]. [`LiveUi::run`] is the loop of `switchboard run`: events arrive from a
//! bus listener through a [`LiveFeed`], each burst is folded and laid out once through
//! [`Bus::render`] (the layout plugin the bus loaded, the same instance that gets button
//! presses and tile clicks, so its pin and drag state stay consistent), and the view goes
//! to every page through [`WebUiHandle::set_view`].
//!
//! Input from the page goes back so that each press is delivered once (see
//! docs/architecture-ui.md): a button press is published as the `button_pressed` event
//! (the layout turns built-in ids into commands; every other plugin and listener sees
//! custom ones), while tile clicks, drags and resizes go to the layout as [`UiInput`].
//!
//! Picture-in-picture: when a plugin provides PIP, the button bar gets the built-in `pip`
//! button (before `end_call`, or wherever `[ui] buttons` lists it); its press goes out as
//! `button_pressed` like any other, the layout turns it into `enter_pip_mode`, the pip
//! plugin announces it, and from `pip_mode_changed` on the layout is asked for a compact
//! [`PIP_SIZE`] view (the active speaker's tile, no buttons), which the page draws as a
//! small floating window. The page sends the same press to come back.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchboard_config::Config;
use switchboard_core::view::{CallUiState, ParticipantView, UiInput, View, ViewRequest, button_id};
use switchboard_core::{Capability, Event, RtcUser};
use tokio::sync::{mpsc, watch};

use crate::video::VideoFrames;
use switchboard_media::video::I420Frame;
use switchboard_runtime::bus::Bus;
use switchboard_ui::web::{CallInfo, VideoFrame, WebError, WebUiHandle};

/// The window size laid out until a page reports its own.
pub const DEFAULT_SIZE: (f32, f32) = (1280.0, 720.0);

/// The size of the compact picture-in-picture view (16:9), or the page's own when smaller.
pub const PIP_SIZE: (f32, f32) = (320.0, 180.0);

/// The live state of a call as the UI sees it, from the local participant's side.
#[derive(Debug, Clone)]
pub struct LiveCallState {
    config: Config,
    /// What the shared button logic tracks: local uid, recording, audio outputs,
    /// audio-only, active speaker.
    ui: CallUiState,
    session_id: String,
    /// Everyone in the call, the local user included, in the order the server gives.
    users: Vec<RtcUser>,
    muted: BTreeSet<String>,
    video_paused: BTreeSet<String>,
    /// Participants whose decoded video reaches the UI (see [`LiveVideo`]); everyone else is
    /// drawn as an avatar, since there is nothing to show in a video tile.
    video_flowing: BTreeSet<String>,
    pip: bool,
    /// A loaded plugin provides PIP, so the button bar offers it.
    pip_available: bool,
    idle_until: Option<Instant>,
    ended: Option<String>,
    width: f32,
    height: f32,
}

impl LiveCallState {
    /// The state before the session starts: the config's call settings, nobody in the call.
    pub fn new(config: Config) -> Self {
        let ui = CallUiState { audio_only: config.call.audio_only_call, ..CallUiState::default() };
        Self {
            config,
            ui,
            session_id: String::new(),
            users: Vec::new(),
            muted: BTreeSet::new(),
            video_paused: BTreeSet::new(),
            video_flowing: BTreeSet::new(),
            pip: false,
            pip_available: false,
            idle_until: None,
            ended: None,
            width: DEFAULT_SIZE.0,
            height: DEFAULT_SIZE.1,
        }
    }

    /// Follows one call event. Returns true when the view may have changed.
    pub fn apply(&mut self, event: &Event, now: Instant) -> bool {
        self.ui.apply_event(event);
        match event {
            Event::SessionStarted { session_id, user } => {
                self.session_id = session_id.clone();
                if !self.users.iter().any(|u| u.uid == user.uid) {
                    self.users.push(user.clone());
                }
            }
            Event::UserListChanged { users } => {
                self.users = users.clone();
                let present: BTreeSet<&str> = users.iter().map(|u| u.uid.as_str()).collect();
                self.muted.retain(|uid| present.contains(uid.as_str()));
                self.video_paused.retain(|uid| present.contains(uid.as_str()));
                if users.len() > 1 {
                    self.idle_until = None;
                }
            }
            Event::UserJoined { .. } => self.idle_until = None,
            Event::UserLeft { user } => {
                // A user may be in the call twice (two resources); the list that follows
                // says who is still there.
                self.users.retain(|u| u.resource != user.resource || u.uid != user.uid);
            }
            Event::UserMuted { muted, .. } => {
                self.muted.insert(muted.uid.clone());
            }
            Event::UserUnmuted { user } => {
                self.muted.remove(&user.uid);
            }
            Event::UserVideoPaused { user, paused: true } => {
                self.video_paused.insert(user.uid.clone());
            }
            Event::UserVideoPaused { user, paused: false } => {
                self.video_paused.remove(&user.uid);
            }
            Event::PipModeChanged { active } => self.pip = *active,
            Event::IdleTimeoutWarning { seconds_left } => {
                self.idle_until = Some(now + Duration::from_secs(u64::from(*seconds_left)));
            }
            Event::SessionEnded { reason } => {
                self.ended = Some(reason.clone());
                self.idle_until = None;
            }
            Event::RecordingToggled { .. }
            | Event::AudioModeChanged { .. }
            | Event::CallSwitchedToVideo { .. }
            | Event::ActiveSpeakerChanged { .. } => {}
            _ => return false,
        }
        true
    }

    /// Marks `uid`'s decoded video as reaching the UI (or no longer). Returns true when
    /// that changed.
    pub fn set_video_flowing(&mut self, uid: &str, flowing: bool) -> bool {
        if flowing { self.video_flowing.insert(uid.to_owned()) } else { self.video_flowing.remove(uid) }
    }

    /// The page's window size. Returns true when it changed; sizes that are not finite and
    /// positive are ignored.
    pub fn set_size(&mut self, width: f32, height: f32) -> bool {
        if !(width.is_finite() && height.is_finite() && width >= 1.0 && height >= 1.0) {
            return false;
        }
        let changed = (self.width, self.height) != (width, height);
        (self.width, self.height) = (width, height);
        changed
    }

    /// Whether a loaded plugin provides PIP: only then does the button bar get the `pip`
    /// button (a button that could only fail would be a trap).
    pub fn set_pip_available(&mut self, available: bool) {
        self.pip_available = available;
    }

    /// The button order for the layout: `[ui] buttons` as configured, or the layout's own
    /// order; with `pip` added before `end_call` to the layout's own order when PIP is
    /// available, and taken out of either when it is not.
    fn button_order(&self) -> Option<Vec<String>> {
        match (&self.config.ui.buttons, self.pip_available) {
            (Some(order), true) => Some(order.clone()),
            (Some(order), false) => Some(order.iter().filter(|id| *id != button_id::PIP).cloned().collect()),
            (None, true) => Some(button_id::with_pip(button_id::DEFAULT_ORDER)),
            (None, false) => None,
        }
    }

    /// True while the idle countdown runs (the view then changes every second).
    pub fn counting_down(&self) -> bool {
        self.idle_until.is_some()
    }

    /// Why the session ended, once it has.
    pub fn ended(&self) -> Option<&str> {
        self.ended.as_deref()
    }

    /// The render request for the layout plugin.
    pub fn request(&self, now: Instant) -> ViewRequest {
        let audio_only = self.ui.audio_only;
        let local = self.ui.local_uid.as_deref();
        let participants = self
            .users
            .iter()
            .map(|user| ParticipantView {
                user: user.clone(),
                is_local: Some(user.uid.as_str()) == local,
                audio_muted: self.muted.contains(&user.uid),
                video_off: audio_only
                    || self.video_paused.contains(&user.uid)
                    || !self.video_flowing.contains(&user.uid),
            })
            .collect();
        let idle_seconds_left = self.idle_until.map(|until| {
            // Rounded up: the prompt reads 60 until a whole second has gone.
            let left = until.saturating_duration_since(now);
            u32::try_from(left.as_millis().div_ceil(1000)).unwrap_or(u32::MAX)
        });
        // In PIP the layout fills a compact window, which the page floats over its own.
        let (width, height) = if self.pip {
            (PIP_SIZE.0.min(self.width), PIP_SIZE.1.min(self.height))
        } else {
            (self.width, self.height)
        };
        ViewRequest {
            width,
            height,
            settings: self.config.call.clone(),
            button_order: self.button_order(),
            custom_buttons: self.config.ui.custom_buttons.clone(),
            participants,
            active_speaker: self.ui.active_speaker.clone(),
            recording: self.ui.recording,
            pip: self.pip,
            idle_seconds_left,
            audio_modes: self.ui.audio_modes.clone(),
            audio_only,
        }
    }

    /// The title and status line of the page.
    pub fn call_info(&self) -> CallInfo {
        let title =
            if self.session_id.is_empty() { "joining…".to_owned() } else { self.session_id.clone() };
        let status = match (&self.ended, self.users.len()) {
            (Some(reason), _) => format!("call over ({reason})"),
            (None, 0) => "connecting".to_owned(),
            (None, 1) => "waiting for others".to_owned(),
            (None, n) => format!("{n} in the call"),
        };
        CallInfo { title, status }
    }
}

/// What reaches the UI loop besides page input.
#[derive(Debug)]
enum Update {
    /// A call event from the bus.
    Event(Box<Event>),
    /// A participant's decoded video started or stopped reaching the UI.
    Video { uid: String, flowing: bool },
}

/// The sending side of the UI loop's updates: the bus listener feeds events through it.
/// Cheap to clone, callable from any thread.
#[derive(Debug, Clone)]
pub struct LiveFeed {
    tx: mpsc::UnboundedSender<Update>,
}

impl LiveFeed {
    /// Hands one call event to the UI. Events after the UI stopped are dropped.
    pub fn event(&self, event: &Event) {
        let _ = self.tx.send(Update::Event(Box::new(event.clone())));
    }
}

/// Where decoded video goes to be shown. [`LiveVideo::follow`] takes the session's frames
/// ([`crate::Session::video_frames`]); [`LiveVideo::frame`] and
/// [`LiveVideo::stopped`] are the same path for any other source. Until a participant's
/// first frame arrives, its tile is an avatar.
#[derive(Debug, Clone)]
pub struct LiveVideo {
    web: WebUiHandle,
    tx: mpsc::UnboundedSender<Update>,
    flowing: Arc<std::sync::Mutex<BTreeSet<String>>>,
}

impl LiveVideo {
    /// Shows `frame` as `uid`'s newest video. Returns at once (see
    /// [`WebUiHandle::push_frame`]).
    pub fn frame(&self, uid: &str, frame: VideoFrame) -> Result<(), WebError> {
        self.web.push_frame(uid, frame)?;
        let first =
            self.flowing.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(uid.to_owned());
        if first {
            let _ = self.tx.send(Update::Video { uid: uid.to_owned(), flowing: true });
        }
        Ok(())
    }

    /// `uid`'s video stopped: its tile goes back to an avatar.
    pub fn stopped(&self, uid: &str) {
        let was = self.flowing.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(uid);
        if was {
            self.web.clear_frame(uid);
            let _ = self.tx.send(Update::Video { uid: uid.to_owned(), flowing: false });
        }
    }

    /// Shows the session's video until it ends: every participant's newest frame (the local
    /// camera's self view included), converted to RGBA off the async thread, at most
    /// `max_fps` times a second (frames in between are skipped, never queued, like the web
    /// UI's own encoder). A participant who leaves the map (paused, left) goes back to an
    /// avatar.
    pub async fn follow(self, mut frames: watch::Receiver<VideoFrames>, max_fps: u32) {
        let interval = Duration::from_secs(1) / max_fps.max(1);
        // The `seq` of the frame last shown, per participant.
        let mut shown: BTreeMap<String, u64> = BTreeMap::new();
        while frames.changed().await.is_ok() {
            let current = Arc::clone(&frames.borrow_and_update());
            let gone: Vec<String> = shown.keys().filter(|uid| !current.contains_key(*uid)).cloned().collect();
            for uid in gone {
                shown.remove(&uid);
                self.stopped(&uid);
            }
            let fresh: Vec<(String, Arc<I420Frame>)> = current
                .values()
                .filter(|f| shown.get(&f.uid) != Some(&f.seq))
                .map(|f| (f.uid.clone(), Arc::clone(&f.frame)))
                .collect();
            for f in current.values() {
                shown.insert(f.uid.clone(), f.seq);
            }
            if !fresh.is_empty() {
                let converted = tokio::task::spawn_blocking(move || {
                    fresh
                        .into_iter()
                        .map(|(uid, f)| (uid, VideoFrame::rgba(f.width(), f.height(), f.to_rgba())))
                        .collect::<Vec<_>>()
                })
                .await;
                match converted {
                    Ok(frames) => {
                        for (uid, frame) in frames {
                            if let Err(e) = self.frame(&uid, frame) {
                                tracing::debug!("showing a video frame: {e}");
                            }
                        }
                    }
                    Err(e) => tracing::warn!("converting video frames for the web UI: {e}"),
                }
            }
            tokio::time::sleep(interval).await;
        }
        // The session is over: no tile keeps a frozen picture.
        for uid in shown.keys() {
            self.stopped(uid);
        }
    }
}

/// The UI loop of a live call.
#[derive(Debug)]
pub struct LiveUi {
    state: LiveCallState,
    bus: Bus,
    web: WebUiHandle,
    inputs: mpsc::Receiver<UiInput>,
    updates: mpsc::UnboundedReceiver<Update>,
    feed: LiveFeed,
    video: LiveVideo,
    /// The last view drawn, so an unchanged layout is not sent again.
    last: Option<View>,
}

impl LiveUi {
    /// A UI for `config`'s call, laid out by `bus`'s layout plugin, drawn on `web`'s pages,
    /// reading their input from `inputs`.
    pub fn new(config: Config, bus: Bus, web: WebUiHandle, inputs: mpsc::Receiver<UiInput>) -> Self {
        let (tx, updates) = mpsc::unbounded_channel();
        let video = LiveVideo { web: web.clone(), tx: tx.clone(), flowing: Default::default() };
        let pip_available = bus.provider(Capability::Pip).is_some();
        let listed = config.ui.buttons.as_ref().is_some_and(|ids| ids.iter().any(|id| id == button_id::PIP));
        if listed && !pip_available {
            tracing::warn!(
                "`[ui] buttons` lists `pip`, but no loaded plugin provides PIP: the button is not shown"
            );
        }
        let mut state = LiveCallState::new(config);
        state.set_pip_available(pip_available);
        Self { state, bus, web, inputs, updates, feed: LiveFeed { tx }, video, last: None }
    }

    /// Where call events go (register it as a bus listener before the session starts, so
    /// the UI sees `session_started` and the first user list).
    pub fn feed(&self) -> LiveFeed {
        self.feed.clone()
    }

    /// Where decoded video goes.
    pub fn video(&self) -> LiveVideo {
        self.video.clone()
    }

    /// Runs until the page input stream ends (the web server stopped). Draws the first
    /// view at once, then after every burst of events, every input, and every second of
    /// the idle countdown.
    pub async fn run(mut self) {
        self.redraw().await;
        loop {
            let countdown = self.state.counting_down();
            let tick = async move {
                if countdown {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                } else {
                    std::future::pending::<()>().await;
                }
            };
            let mut dirty = tokio::select! {
                Some(update) = self.updates.recv() => self.apply(update),
                input = self.inputs.recv() => match input {
                    Some(input) => self.on_input(input).await,
                    None => return,
                },
                () = tick => true,
            };
            // A burst of events (a join brings three or four) is laid out once.
            while let Ok(update) = self.updates.try_recv() {
                dirty |= self.apply(update);
            }
            if dirty {
                self.redraw().await;
            }
        }
    }

    fn apply(&mut self, update: Update) -> bool {
        match update {
            Update::Event(event) => self.state.apply(&event, Instant::now()),
            Update::Video { uid, flowing } => self.state.set_video_flowing(&uid, flowing),
        }
    }

    /// Sends page input on. Returns true when the view should be laid out again.
    async fn on_input(&mut self, input: UiInput) -> bool {
        if self.state.ended().is_some() {
            tracing::debug!(?input, "input after the session ended is ignored");
            return false;
        }
        match input {
            // One press, delivered once: as the event. The layout turns built-in ids into
            // commands; custom buttons are for whichever plugin or listener wants them.
            UiInput::ButtonPressed { id } => {
                self.bus.publish(Event::ButtonPressed { id });
                false
            }
            UiInput::WindowResized { width, height } => {
                let changed = self.state.set_size(width, height);
                self.to_layout(UiInput::WindowResized { width, height }).await;
                changed
            }
            other => {
                self.to_layout(other).await;
                true
            }
        }
    }

    async fn to_layout(&self, input: UiInput) {
        // The bus publishes layout failures as `error` events; the page keeps its last view.
        if let Err(e) = self.bus.input(input).await {
            tracing::warn!("the layout did not take UI input: {e}");
        }
    }

    async fn redraw(&mut self) {
        let now = Instant::now();
        self.web.set_call_info(self.state.call_info());
        match self.bus.render(self.state.request(now)).await {
            Ok(view) => {
                if self.last.as_ref() != Some(&view) {
                    self.web.set_view(view.clone());
                    self.last = Some(view);
                }
            }
            Err(e) => tracing::warn!("laying out the call view: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(uid: &str) -> RtcUser {
        let mut u = RtcUser::new(uid, uid.to_uppercase());
        u.resource = format!("{uid}-r");
        u
    }

    fn joined(state: &mut LiveCallState, now: Instant) {
        state.apply(&Event::SessionStarted { session_id: "s".into(), user: user("alice") }, now);
        state.apply(&Event::UserListChanged { users: vec![user("alice"), user("bob"), user("carol")] }, now);
    }

    #[test]
    fn the_request_follows_the_call() {
        let now = Instant::now();
        let mut state = LiveCallState::new(Config::default());
        joined(&mut state, now);
        assert!(state.apply(&Event::UserMuted { muted: user("bob"), muted_by: user("bob") }, now));
        assert!(state.apply(&Event::ActiveSpeakerChanged { uid: Some("carol".into()) }, now));
        assert!(state.apply(&Event::RecordingToggled { recording_started: true, user: user("bob") }, now));
        assert!(state.set_video_flowing("carol", true));
        assert!(!state.apply(&Event::ButtonPressed { id: "x".into() }, now), "not a state change");

        let request = state.request(now);
        let rows: Vec<(&str, bool, bool, bool)> = request
            .participants
            .iter()
            .map(|p| (p.user.uid.as_str(), p.is_local, p.audio_muted, p.video_off))
            .collect();
        assert_eq!(
            rows,
            [("alice", true, false, true), ("bob", false, true, true), ("carol", false, false, false)]
        );
        assert_eq!(request.active_speaker.as_deref(), Some("carol"));
        assert!(request.recording);
        assert_eq!((request.width, request.height), DEFAULT_SIZE);
        assert_eq!(state.call_info().status, "3 in the call");

        state.apply(&Event::UserUnmuted { user: user("bob") }, now);
        state.apply(&Event::UserLeft { user: user("carol") }, now);
        state.apply(&Event::UserListChanged { users: vec![user("alice"), user("bob")] }, now);
        let request = state.request(now);
        assert_eq!(request.participants.len(), 2);
        assert!(request.participants.iter().all(|p| !p.audio_muted));
    }

    #[test]
    fn pip_idle_countdown_and_the_end_are_shown() {
        let now = Instant::now();
        let mut state = LiveCallState::new(Config::default());
        joined(&mut state, now);
        let ids = |state: &LiveCallState| state.request(now).button_order;
        assert_eq!(ids(&state), None, "no pip plugin: the layout's own order");
        state.set_pip_available(true);
        let order = ids(&state).expect("an order with pip");
        assert_eq!(&order[order.len() - 2..], ["pip", "end_call"]);
        state.apply(&Event::PipModeChanged { active: true }, now);
        let request = state.request(now);
        assert!(request.pip);
        assert_eq!((request.width, request.height), PIP_SIZE, "a compact view");
        state.set_size(200.0, 100.0);
        assert_eq!(
            (state.request(now).width, state.request(now).height),
            (200.0, 100.0),
            "never larger than the page"
        );
        state.apply(&Event::PipModeChanged { active: false }, now);
        assert_eq!((state.request(now).width, state.request(now).height), (200.0, 100.0));
        state.set_size(DEFAULT_SIZE.0, DEFAULT_SIZE.1);
        state.apply(&Event::IdleTimeoutWarning { seconds_left: 60 }, now);
        assert!(state.counting_down());
        assert_eq!(state.request(now).idle_seconds_left, Some(60));
        assert_eq!(state.request(now + Duration::from_millis(1500)).idle_seconds_left, Some(59));
        state.apply(&Event::UserJoined { user: user("dave") }, now);
        assert_eq!(state.request(now).idle_seconds_left, None, "someone joined: no prompt");
        state.apply(&Event::SessionEnded { reason: "end_session".into() }, now);
        assert_eq!(state.call_info().status, "call over (end_session)");
    }

    #[test]
    fn a_configured_order_keeps_pip_only_when_a_plugin_provides_it() {
        let mut config = Config::default();
        config.ui.buttons = Some(vec!["pip".into(), "end_call".into()]);
        let now = Instant::now();
        let mut state = LiveCallState::new(config);
        assert_eq!(state.request(now).button_order, Some(vec!["end_call".to_owned()]));
        state.set_pip_available(true);
        assert_eq!(state.request(now).button_order, Some(vec!["pip".to_owned(), "end_call".to_owned()]));
    }

    #[test]
    fn audio_only_calls_show_avatars_and_bad_sizes_are_ignored() {
        let mut config = Config::default();
        config.call.audio_only_call = true;
        let now = Instant::now();
        let mut state = LiveCallState::new(config);
        joined(&mut state, now);
        state.set_video_flowing("bob", true);
        assert!(state.request(now).participants.iter().all(|p| p.video_off));
        assert!(state.request(now).audio_only);
        assert!(!state.set_size(f32::NAN, 10.0));
        assert!(!state.set_size(0.0, 10.0));
        assert!(state.set_size(800.0, 600.0));
        assert!(!state.set_size(800.0, 600.0));
        assert_eq!((state.request(now).width, state.request(now).height), (800.0, 600.0));
    }
}
