//! A running session: the [`Session`] handle, and the one task that owns the call's state
//! and ties its parts together: the signaling room, the call semantics, the WebRTC mesh
//! (`links.rs`), audio (`audio.rs`), video ([`crate::video`]), the media tap
//! ([`crate::tap`]) and the counters (`stats.rs`).
//!
//! [`Session::start`] is the seed's `startSession(callToken, CallSettings)`: it opens the
//! configured audio devices first (so a missing device fails the start with nothing
//! half-joined), joins the room, offers a link to everyone already there, and from then on
//! turns everything that happens into events on the bus through [`CallSemantics`]. Host
//! commands (`mute_audio`, `end_session`, ...) reach the session from the bus through
//! [`HostCommands`]; [`Session::command`] is the app's way in and goes through the bus too,
//! so capability commands reach their plugins whoever sends them.
//!
//! One task owns all the state, so there is no lock around the call: links, audio,
//! signaling, timers and commands are arms of one `select!`, and each concern is a plain
//! struct the task holds and calls. What stays here is the glue between them: what a room
//! message, a link event or a command does to each concern, what is told to the room, and
//! what is published on the bus. A rule about which events a call raises belongs in
//! [`crate::semantics`]; how one concern does its work belongs in that concern's module.
//! Media work per remote track (decoding) runs in its own task and meets the owner only
//! through the mixer and counters.

use std::sync::Arc;
use std::time::{Duration, Instant};

use switchboard_config::Config;
use switchboard_core::model::{CallsException, ErrorCode};
use switchboard_core::{Command, Event, RtcUser};
use tokio::sync::{mpsc, watch};

use crate::audio::{AudioInput, Devices, SessionAudio};
use crate::links::{FirstOffer, SessionLinks, close_unused};
use crate::output::StatsReport;
use crate::semantics::CallSemantics;
use crate::stats::SharedStats;
use crate::tap::{self, MediaTap};
use crate::video::{
    CameraPlan, LINK_VIDEO_CODEC, SessionVideo, VideoFrames, VideoOutcome, offers_renegotiation,
};
use switchboard_rtc::{self as rtc, LinkCertificate, LinkEvent, LinkOptions, LinkState, MediaKind, PeerLink};
use switchboard_runtime::bus::{Bus, HostCommands, HostRequest};
use switchboard_signaling::client::{ClientError, JoinedRoom, RoomEvents, RoomSender, SignalingClient};
use switchboard_signaling::protocol::{ServerMessage, StateChange};

/// How to start a session.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// The signaling server, e.g. `http://127.0.0.1:7700` or `ws://127.0.0.1:7700`.
    pub server: String,
    /// The call token from `generateToken`.
    pub token: String,
    /// The session to join; must match the token's when given.
    pub session_id: Option<String>,
    /// The participant's config: call settings and media.
    pub config: Config,
    /// How peer links are built (ICE scope and servers).
    pub link: LinkOptions,
}

fn ended() -> CallsException {
    CallsException::new(ErrorCode::CallSessionNotFound, "the session has ended")
}

/// A running session. Dropping the handle does not end the call: call
/// [`Session::end_session`] (or wait for [`Session::finished`]).
#[derive(Debug)]
pub struct Session {
    bus: Bus,
    stats: Arc<SharedStats>,
    finished: watch::Receiver<bool>,
    started_at: Instant,
    video_frames: watch::Receiver<VideoFrames>,
}

impl Session {
    /// Joins the call: the seed's `startSession`. Must run inside the executor
    /// ([`switchboard_runtime::exec`]) that runs `bus`. Events go to the bus from `session_started` on.
    pub async fn start(options: SessionOptions, bus: Bus) -> Result<Session, CallsException> {
        let started_at = Instant::now();
        let settings = options.config.call.clone();
        let camera = CameraPlan::check(&options.config)?;
        let Joining { joined, room, room_events, devices, link, mut first_offer } =
            join_room(&options, camera.is_some().then_some(LINK_VIDEO_CODEC)).await?;

        // Commands from the app and plugins are the local user's (`from` of capability commands).
        bus.set_local_user(joined.you.clone());
        let host_commands = bus.host_commands();

        let (finished_tx, finished) = watch::channel(false);
        let stats = Arc::new(SharedStats::default());
        let mut semantics = CallSemantics::new(joined.session_id.clone(), joined.you.clone(), &settings);
        let now = Instant::now();
        let first_events = semantics.joined(joined.you.clone(), joined.users.clone(), now);
        let tap = MediaTap::new(bus.clone(), started_at);
        let audio =
            SessionAudio::new(devices, settings.start_with_audio_muted, tap.clone(), Arc::clone(&stats));
        let video = SessionVideo::new(
            &options.config,
            camera,
            &joined.session_id,
            &joined.you,
            Arc::clone(&stats),
            tap.clone(),
        );
        let video_frames = video.frames();

        let mut task = SessionTask {
            bus: bus.clone(),
            semantics,
            room,
            room_events,
            host_commands,
            links: SessionLinks::new(link),
            audio,
            video,
            tap,
            stats: Arc::clone(&stats),
            finished: finished_tx,
            started_at,
        };
        task.publish_all(first_events);
        tap::call_start_commands(&bus, &settings);
        // Remote members' current mute state, so a late joiner's UI is right at once.
        for (user, state) in joined.users.iter().zip(&joined.states) {
            if user.resource != joined.you.resource && state.audio_muted {
                let events = task.semantics.remote_muted(user.clone(), user.clone(), true);
                task.publish_all(events);
            }
            if user.resource != joined.you.resource && state.video_paused {
                task.publish_all(vec![Event::UserVideoPaused { user: user.clone(), paused: true }]);
            }
            // A recording already running: the newcomer's UI shows the indicator at once.
            if user.resource != joined.you.resource && state.recording {
                let events = task.semantics.recording_changed(true, user.clone());
                task.publish_all(events);
            }
        }
        if task.semantics.audio_muted() {
            task.broadcast(StateChange::MuteChanged { muted: true });
        }
        // A call switched to video before we came is a video call for us too.
        if let Some(by) = &joined.switched_to_video_by {
            let joined_video = task.video.join_switched_call(by);
            task.apply_video(joined_video).await;
        }
        let started = task.video.start(&joined.you);
        task.apply_video(started).await;
        // The newcomer offers to everyone already in the room; one of them may have the
        // offer that came with the join.
        for user in joined.others().cloned().collect::<Vec<_>>() {
            match first_offer.take_if(|(to, _)| *to == user.resource) {
                Some((_, first)) => {
                    let link = task.adopt_link(&user, first.link, first.events).await;
                    task.audio.prime(&link);
                    // Its offer went out before we knew the call had video.
                    if task.video.is_on() && !first.video {
                        task.links.defer_video_offer(&user.resource);
                    }
                }
                None => task.offer_to(user).await,
            }
        }
        if let Some((_, unused)) = first_offer {
            close_unused(&unused.link).await;
        }
        switchboard_runtime::exec::spawn(task.run());
        Ok(Session { bus, stats, finished, started_at, video_frames })
    }

    /// Carries out an action for the local user, through the bus: host actions come back
    /// to this session, capability actions go to the plugin that provides them.
    pub async fn command(&self, command: Command) -> Result<(), CallsException> {
        self.bus.command(command).await
    }

    /// The seed's `endSession()`.
    pub async fn end_session(&self) -> Result<(), CallsException> {
        self.command(Command::EndSession).await
    }

    /// Resolves when the session is over (ended, timed out or failed).
    pub async fn finished(&self) {
        let mut finished = self.finished.clone();
        // An error means the task is gone, which also means the session is over.
        let _ = finished.wait_for(|done| *done).await;
    }

    /// True once the session is over.
    pub fn is_finished(&self) -> bool {
        *self.finished.borrow()
    }

    /// The media counters so far.
    pub fn stats(&self) -> StatsReport {
        self.stats.report()
    }

    /// The newest video frame of every participant whose video is on (the local camera
    /// included, marked `is_local`), for renderers: wait on `changed()`, then draw the
    /// entries whose `seq` moved. See [`crate::video::ParticipantFrame`].
    pub fn video_frames(&self) -> watch::Receiver<VideoFrames> {
        self.video_frames.clone()
    }

    /// How long after [`Session::start`] was called the first remote audio was decoded.
    pub fn first_remote_audio_after(&self) -> Option<Duration> {
        self.stats.first_remote_audio_after(self.started_at)
    }
}

fn client_exception(err: ClientError) -> CallsException {
    match err {
        ClientError::Refused(exception) => exception,
        other => CallsException::new(ErrorCode::SignalingLost, format!("signaling: {other}")),
    }
}

/// The task that owns the session's state: the room and the semantics, and one struct
/// per concern.
struct SessionTask {
    bus: Bus,
    semantics: CallSemantics,
    room: RoomSender,
    room_events: RoomEvents,
    /// Host commands from the bus: the app's, scripts' and plugins'.
    host_commands: HostCommands,
    /// The mesh: one link per remote connection, and the spare.
    links: SessionLinks,
    /// Microphone, speaker, encoding, decoding and the active speaker.
    audio: SessionAudio,
    video: SessionVideo,
    /// The media tap for plugins that want encoded frames (recording).
    tap: MediaTap,
    stats: Arc<SharedStats>,
    finished: watch::Sender<bool>,
    started_at: Instant,
}

impl SessionTask {
    async fn run(mut self) {
        self.links.want_spare();
        loop {
            let timer = sleep_until(self.semantics.next_deadline());
            let spare_timer = sleep_until(self.links.spare_due());
            tokio::select! {
                input = self.audio.next() => match input {
                    AudioInput::Frame(samples) => self.send_audio(samples).await,
                    AudioInput::SourceEnded => self.source_ended(),
                    AudioInput::Level(uid, dbfs) => self.on_level(&uid, dbfs),
                },
                message = self.room_events.recv() => match message {
                    Some(message) => self.on_server(message).await,
                    None => self.signaling_lost("the connection to the signaling server was lost".to_owned()).await,
                },
                Some((resource, event)) = self.links.next_event() => self.on_link(resource, event).await,
                Some(request) = self.host_commands.recv() => self.on_host_command(request).await,
                () = spare_timer => self.links.make_spare(self.semantics.is_ended()).await,
                () = timer => {
                    let events = self.semantics.on_timer(Instant::now());
                    self.publish_all(events);
                    if self.semantics.is_ended() {
                        // `session_timeout`: leave the room like any other end.
                        self.room.leave().ok();
                        self.shutdown().await;
                    }
                }
            }
            if self.semantics.is_ended() {
                break;
            }
        }
        // Nobody may wait on a session that is gone.
        self.finished.send_replace(true);
    }

    fn publish_all(&self, events: Vec<Event>) {
        for event in events {
            self.bus.publish(event);
        }
    }

    /// Carries out what a video step asks of the session (see [`VideoOutcome`]).
    async fn apply_video(&mut self, outcome: VideoOutcome) {
        for change in outcome.broadcast {
            self.broadcast(change);
        }
        self.publish_all(outcome.events);
        if outcome.renegotiate {
            self.renegotiate_video().await;
        }
    }

    /// Video was turned on mid-call: every link gets our video track, and on each link
    /// the side that made its first offer offers again (the other side answers with its
    /// own track added), so audio never stops and there is no glare.
    async fn renegotiate_video(&mut self) {
        for (user, link) in self.links.peers() {
            self.add_video_to_link(&user, &link).await;
        }
    }

    /// Gives one link our video track and, on the side that offers, offers it; an offer
    /// of ours still waiting for its answer puts that off until the answer is in.
    async fn add_video_to_link(&mut self, user: &RtcUser, link: &Arc<PeerLink>) {
        let offers = offers_renegotiation(self.semantics.local(), user);
        let offered = async {
            self.video.add_track(&user.resource, link).await?;
            if offers && !link.awaiting_answer() { link.create_offer().await.map(Some) } else { Ok(None) }
        };
        match offered.await {
            Ok(Some(offer)) => self.signal(user, offer),
            Ok(None) if offers => self.links.defer_video_offer(&user.resource),
            Ok(None) => {}
            Err(e) => self.error(
                ErrorCode::PeerConnectionFailed,
                format!("adding video to the link to {}: {e}", user.uid),
                user.uid.clone(),
            ),
        }
    }

    fn error(&self, code: ErrorCode, message: String, details: String) {
        tracing::warn!(%code, details, "{message}");
        self.bus.publish(Event::error(&CallsException::new(code, message).with_details(details)));
    }

    fn broadcast(&self, change: StateChange) {
        if let Err(e) = self.room.change_state(change) {
            self.error(
                ErrorCode::SignalingLost,
                format!("telling the room a state change: {e}"),
                String::new(),
            );
        }
    }

    async fn new_link(&mut self, user: &RtcUser) -> Option<Arc<PeerLink>> {
        match self.links.audio_link().await {
            Ok((link, events)) => Some(self.adopt_link(user, Arc::new(link), events).await),
            Err(e) => {
                self.error(
                    ErrorCode::PeerConnectionFailed,
                    format!("creating a link to {}: {e}", user.uid),
                    user.uid.clone(),
                );
                None
            }
        }
    }

    /// Makes `link` the link to `user`: our video track when video is on, its events into
    /// the session's loop.
    async fn adopt_link(
        &mut self,
        user: &RtcUser,
        link: Arc<PeerLink>,
        events: mpsc::UnboundedReceiver<LinkEvent>,
    ) -> Arc<PeerLink> {
        if let Err(e) = self.video.add_track(&user.resource, &link).await {
            self.error(
                ErrorCode::PeerConnectionFailed,
                format!("adding video to the link to {}: {e}", user.uid),
                user.uid.clone(),
            );
        }
        self.links.adopt(user, link, events)
    }

    async fn offer_to(&mut self, user: RtcUser) {
        let Some(link) = self.new_link(&user).await else { return };
        match link.create_offer().await {
            Ok(offer) => {
                self.signal(&user, offer);
                self.audio.prime(&link);
            }
            Err(e) => self.error(
                ErrorCode::PeerConnectionFailed,
                format!("offering to {}: {e}", user.uid),
                user.uid,
            ),
        }
    }

    fn signal(&self, to: &RtcUser, payload: serde_json::Value) {
        let (kind, uid) = (switchboard_signaling::signal_kind(&payload), &self.semantics.local().uid);
        tracing::debug!(target: switchboard_signaling::SETUP_TRACE, stage = "signal sent", kind, uid);
        if let Err(e) = self.room.signal(&to.resource, payload) {
            self.error(ErrorCode::SignalingLost, format!("signaling {}: {e}", to.uid), to.uid.clone());
        }
    }

    async fn on_signal(&mut self, from: RtcUser, payload: serde_json::Value) {
        let (kind, uid) = (switchboard_signaling::signal_kind(&payload), &self.semantics.local().uid);
        tracing::debug!(target: switchboard_signaling::SETUP_TRACE, stage = "signal received", kind, uid);
        let kind = payload.get("type").and_then(serde_json::Value::as_str).map(str::to_owned);
        let result = match kind.as_deref() {
            Some("offer") => {
                let link = match self.links.get(&from.resource) {
                    Some(peer) => Arc::clone(&peer.link),
                    None => match self.new_link(&from).await {
                        Some(link) => link,
                        None => return,
                    },
                };
                // An offer that adds video after a switch finds our track already there.
                if let Err(e) = self.video.add_track(&from.resource, &link).await {
                    tracing::debug!(from = from.uid, "adding video before answering: {e}");
                }
                match link.accept_offer(payload).await {
                    Ok(answer) => {
                        self.signal(&from, answer);
                        self.audio.prime(&link);
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            }
            Some("answer") => match self.links.accept_answer(&from.resource, payload).await {
                Ok(Some(video_due)) => {
                    self.add_video_to_link(&from, &video_due).await;
                    Ok(())
                }
                accepted => accepted.map(drop),
            },
            _ if payload.get("candidate").is_some() => {
                self.links.add_remote_candidate(&from.resource, payload).await
            }
            _ => {
                tracing::debug!(from = from.uid, "ignoring an unknown signal payload");
                return;
            }
        };
        if let Err(e) = result {
            self.error(
                ErrorCode::PeerConnectionFailed,
                format!("negotiating with {}: {e}", from.uid),
                from.uid,
            );
        }
    }

    async fn on_server(&mut self, message: ServerMessage) {
        let now = Instant::now();
        match message {
            ServerMessage::UserJoined { user, users } => {
                let newcomer = (user.resource != self.semantics.local().resource
                    && !self.links.contains(&user.resource))
                .then(|| user.clone());
                let events = self.semantics.user_joined(user, users, now);
                self.publish_all(events);
                // The newcomer sends the offer. Our side of the link is made now, while
                // the offer is on its way, instead of when it arrives: its creation and
                // the first frame's encoding (the microphone is encoded once a link
                // exists) leave the setup's critical path.
                if let Some(newcomer) = newcomer {
                    let _ = self.new_link(&newcomer).await;
                }
            }
            ServerMessage::UserLeft { user, users } => {
                let still_here = self.links.user_left(&user).await;
                let spotlight_left = if still_here { None } else { self.audio.participant_left(&user.uid) };
                self.video.link_closed(&user, still_here);
                let mut events = self.semantics.user_left(user, users, now);
                // The spotlight leaves with the speaker, before `call_ended` when the leave
                // ended a two-person call: nothing about the call comes after its end.
                if let Some(uid) = spotlight_left
                    && !self.semantics.is_ended()
                {
                    let at =
                        events.iter().position(|e| matches!(e, Event::CallEnded)).unwrap_or(events.len());
                    events.insert(at, Event::ActiveSpeakerChanged { uid });
                }
                self.publish_all(events);
                self.links.want_spare();
            }
            ServerMessage::Signal { from, payload } => self.on_signal(from, payload).await,
            ServerMessage::StateChanged { user, change } => {
                let events = match change {
                    StateChange::MuteChanged { muted } => {
                        self.semantics.remote_muted(user.clone(), user, muted)
                    }
                    StateChange::VideoPaused { paused } => {
                        self.video.remote_paused(&user, paused);
                        vec![Event::UserVideoPaused { user, paused }]
                    }
                    StateChange::SwitchToVideoRequested => {
                        let outcome = self.video.on_switch_requested(&user);
                        self.apply_video(outcome).await;
                        Vec::new()
                    }
                    StateChange::SwitchToVideoAccepted { request_initiated_by } => {
                        let asker = self
                            .semantics
                            .users()
                            .iter()
                            .find(|u| u.resource == request_initiated_by)
                            .cloned();
                        let outcome = self.video.on_switch_accepted(asker.as_ref(), &user);
                        self.apply_video(outcome).await;
                        Vec::new()
                    }
                    StateChange::RecordingChanged { started } => {
                        self.semantics.recording_changed(started, user)
                    }
                    _ => Vec::new(),
                };
                self.publish_all(events);
            }
            // `call_ended` follows from the `user_left` that comes with it (see semantics).
            ServerMessage::CallEnded { .. } => {}
            // The client's last word before its channel closes: the loss itself, with its
            // cause. One `error` for it, not a second generic one when the channel closes.
            ServerMessage::Error { code: ErrorCode::SignalingLost, message } => {
                self.signaling_lost(message).await
            }
            ServerMessage::Error { code, message } => self.error(code, message, String::new()),
            _ => {}
        }
    }

    async fn on_link(&mut self, resource: String, event: LinkEvent) {
        let Some(peer) = self.links.get(&resource) else { return };
        let user = peer.user.clone();
        match event {
            // One the offer or answer carried already is not sent twice.
            LinkEvent::LocalCandidate { candidate } => {
                if peer.link.needs_trickle(&candidate) {
                    self.signal(&user, candidate);
                }
            }
            LinkEvent::State { state: LinkState::Failed } => self.error(
                ErrorCode::PeerConnectionFailed,
                format!("the connection to {} failed", user.uid),
                user.uid.clone(),
            ),
            LinkEvent::State { state } => {
                // A new receiver needs a keyframe to start from.
                if state == LinkState::Connected {
                    self.video.keyframe_requested();
                    self.links.want_spare();
                }
                tracing::debug!(peer = user.uid, %state, "link state");
            }
            LinkEvent::RemoteTrack { track } => {
                let counters = self.stats.remote(&user.uid);
                match track.kind {
                    MediaKind::Audio => {
                        if let Err(e) = self.audio.receive(track, user.uid.clone(), counters) {
                            self.error(ErrorCode::Error, format!("creating an Opus decoder: {e}"), user.uid);
                        }
                    }
                    MediaKind::Video => {
                        let link = Arc::clone(&peer.link);
                        let outcome = self.video.receive(&user, track, counters, link);
                        self.apply_video(outcome).await;
                    }
                }
            }
            LinkEvent::KeyframeRequested => self.video.keyframe_requested(),
            LinkEvent::HeldAudioSent => self.stats.audio_packets_sent.add(1),
        }
    }

    /// One frame's audio level of a participant, for the active speaker.
    fn on_level(&mut self, uid: &str, dbfs: f32) {
        if let Some(uid) = self.audio.level(uid, dbfs) {
            self.bus.publish(Event::ActiveSpeakerChanged { uid });
        }
    }

    /// One microphone frame: its level for the active speaker, then, encoded, to every link.
    async fn send_audio(&mut self, samples: Vec<i16>) {
        let local = self.semantics.local().uid.clone();
        if let Some(uid) = self.audio.local_level(&local, &samples) {
            self.bus.publish(Event::ActiveSpeakerChanged { uid });
        }
        let now = Instant::now();
        match self.audio.encode(&local, samples, now, !self.links.is_empty()) {
            Ok(Some(frame)) => {
                let sent = self.links.send_audio(&frame, now).await;
                self.stats.audio_packets_sent.add(sent);
            }
            Ok(None) => {}
            Err(e) => self.error(ErrorCode::Error, format!("encoding audio: {e}"), String::new()),
        }
    }

    fn source_ended(&mut self) {
        let message = self.audio.source_ended();
        self.error(ErrorCode::DeviceMissing, message, String::new());
    }

    async fn signaling_lost(&mut self, message: String) {
        self.error(ErrorCode::SignalingLost, message, String::new());
        let events = self.semantics.fail();
        self.publish_all(events);
        self.shutdown().await;
    }

    async fn on_host_command(&mut self, request: HostRequest) {
        let command = request.command.command.clone();
        let result = self.carry_out(command).await;
        // The caller may have given up waiting; the command was carried out all the same.
        request.answer(result);
    }

    async fn carry_out(&mut self, command: Command) -> Result<(), CallsException> {
        match command {
            Command::MuteAudio { muted } => {
                self.audio.set_muted(muted);
                let events = self.semantics.set_local_muted(muted);
                if !events.is_empty() {
                    self.broadcast(StateChange::MuteChanged { muted });
                }
                self.publish_all(events);
                Ok(())
            }
            Command::EndSession => {
                let two = self.semantics.users().len() == 2;
                let events = self.semantics.end_session();
                if events.is_empty() {
                    return Err(ended());
                }
                // In a two-party call the end is the call's end for both; otherwise leaving.
                let told = if two { self.room.end_call() } else { self.room.leave() };
                if let Err(e) = told {
                    tracing::debug!("telling the room we left: {e}");
                }
                self.publish_all(events);
                self.shutdown().await;
                Ok(())
            }
            Command::AnnounceAudioModes { modes } => {
                self.bus.publish(Event::AudioModeChanged { modes });
                Ok(())
            }
            Command::PauseVideo { paused } => {
                self.video.set_paused(paused)?;
                let events = self.semantics.set_local_video_paused(paused);
                if !events.is_empty() {
                    self.broadcast(StateChange::VideoPaused { paused });
                }
                self.publish_all(events);
                Ok(())
            }
            Command::AnnounceRecording { started } => {
                let events = self.semantics.recording_changed(started, self.semantics.local().clone());
                if !events.is_empty() {
                    self.broadcast(StateChange::RecordingChanged { started });
                }
                self.tap.set_recording(started);
                if started {
                    self.video.refresh_keyframes();
                }
                self.publish_all(events);
                Ok(())
            }
            Command::SwitchCamera => {
                let outcome = self.video.switch_camera()?;
                self.apply_video(outcome).await;
                Ok(())
            }
            Command::SwitchToVideoCall => {
                let alone = self.semantics.users().len() <= 1;
                let outcome = self.video.request_switch(alone)?;
                self.apply_video(outcome).await;
                Ok(())
            }
            Command::AnnouncePipMode { active } => {
                self.bus.publish(Event::PipModeChanged { active });
                Ok(())
            }
            Command::RouteAudioOutput { device, announce } => {
                self.audio.route_output(&self.bus, device, announce)
            }
            other => Err(CallsException::new(
                ErrorCode::InvalidArgument,
                format!("`{}` is not an action the host carries out", other.name()),
            )),
        }
    }

    /// Releases everything: links, devices, the room socket. Idempotent.
    async fn shutdown(&mut self) {
        self.links.close_all().await;
        self.video.stop();
        if let Err(e) = self.audio.stop() {
            self.error(ErrorCode::DeviceMissing, format!("closing the audio output: {e}"), String::new());
        }
        self.room.close().await;
        tracing::info!(after = ?self.started_at.elapsed(), "session over");
    }
}

/// What joining gives a session: the room, the devices, and the first offer's link with the
/// member that took it.
struct Joining {
    joined: JoinedRoom,
    room: RoomSender,
    room_events: RoomEvents,
    devices: Devices,
    /// How the session's links are made, with the session's DTLS certificate.
    link: LinkOptions,
    first_offer: Option<(String, FirstOffer)>,
}

/// Opens the devices, the WebSocket and a first offer at once, then joins the room with
/// the offer. Nothing is left open on failure.
async fn join_room(
    options: &SessionOptions,
    video: Option<rtc::VideoCodec>,
) -> Result<Joining, CallsException> {
    let client = SignalingClient::new(&options.server).map_err(client_exception)?;
    // Three things at once, none of them visible to the room: the audio devices open (on
    // a blocking thread: a real device takes milliseconds), the WebSocket handshake, and
    // the session's DTLS certificate and first link's offer, which then rides in the join
    // and reaches the member already in the room without a round trip of its own.
    let media = options.config.media.clone();
    let devices = async move {
        tokio::task::spawn_blocking(move || Devices::open(&media)).await.map_err(|e| {
            CallsException::new(ErrorCode::SdkInitError, format!("opening the audio devices: {e}"))
        })?
    };
    let link = async {
        let mut link = options.link.clone();
        // One DTLS certificate for all the session's links (~60 µs of CPU, once instead of
        // once per link). Made from a blocking thread instead, it made no difference to
        // the setup time (measured, BENCHMARKS.md).
        if link.certificate.is_none() {
            match LinkCertificate::generate() {
                Ok(certificate) => link.certificate = Some(certificate),
                // Each link then makes its own, and reports it if that fails too.
                Err(e) => tracing::debug!("making the session's DTLS certificate: {e}"),
            }
        }
        let first_offer = FirstOffer::make(link.clone(), video).await;
        (link, first_offer)
    };
    let (devices, connection, (link, first_offer)) = tokio::join!(devices, client.connect(), link);
    let first_offer = first_offer
        .map_err(|e| tracing::debug!("preparing the first offer: {e}; offering after the join instead"))
        .ok();
    // A missing microphone or speaker fails the start before anyone sees us.
    let joined = match (devices, connection) {
        (Ok(devices), Ok(connection)) => {
            // The offer as it is now: with the candidates gathered while the WebSocket
            // opened, so the member can check the pair the moment it answers.
            let offer = match &first_offer {
                Some(first) => {
                    Some(first.link.offer_with_candidates().await.unwrap_or_else(|| first.offer.clone()))
                }
                None => None,
            };
            let joined = connection.join(&options.token, options.session_id.as_deref(), offer).await;
            joined.map(|joined| (joined, devices)).map_err(client_exception)
        }
        (Err(e), _) => Err(e),
        (Ok(_), Err(e)) => Err(client_exception(e)),
    };
    let ((joined, room, room_events), devices) = match joined {
        Ok(joined) => joined,
        Err(e) => {
            if let Some(unused) = first_offer {
                close_unused(&unused.link).await;
            }
            return Err(e);
        }
    };
    // Only the member that got the offer can answer it.
    let first_offer = match (first_offer, joined.offered_to.clone()) {
        (Some(first), Some(to)) => Some((to, first)),
        (Some(unused), None) => {
            close_unused(&unused.link).await;
            None
        }
        (None, _) => None,
    };
    Ok(Joining { joined, room, room_events, devices, link, first_offer })
}

/// Sleeps until `at`; forever when there is nothing to wait for.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}
