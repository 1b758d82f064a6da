//! A running session: the signaling room, one WebRTC link per other participant (a mesh),
//! the audio engine, and the call-event bus, driven by one task.
//!
//! [`Session::start`] is the seed's `startSession(callToken, CallSettings)`: it opens the
//! configured audio devices first (so a missing device fails the start with nothing
//! half-joined), joins the room, offers a link to everyone already there, and from then on
//! turns everything that happens into events on the bus through [`CallSemantics`]. Host
//! commands (`mute_audio`, `end_session`, ...) reach the session from the bus through
//! [`HostCommands`]; [`Session::command`] is the app's way in and goes through the bus too,
//! so capability commands reach their plugins whoever sends them.
//!
//! One task owns all the state, so there is no lock around the call: links, signaling,
//! timers and commands are arms of one `select!`. Media work per remote track (decoding)
//! runs in its own task and meets the owner only through the mixer and counters.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use switchboard_config::{Config, MediaConfig};
use switchboard_core::model::{CallsException, ErrorCode};
use switchboard_core::{Command, Event, RtcUser};
use tokio::sync::{mpsc, watch};

use crate::output::StatsReport;
use crate::semantics::CallSemantics;
use crate::speaker::{SpeakerDetector, level_dbfs};
use crate::stats::{RemoteCounters, SharedStats};
use crate::tap::{self, MediaTap};
use crate::video::{
    CameraPlan, LINK_VIDEO_CODEC, SessionVideo, VideoFrames, VideoOutcome, offers_renegotiation,
};
use switchboard_media::audio::{
    self as media, AudioFormat, AudioSink, AudioSource, Mixer, MuteGate, OpusDecoder, OpusEncoder,
};
use switchboard_rtc::{self as rtc, LinkCertificate, LinkEvent, LinkOptions, LinkState, MediaKind, PeerLink};
use switchboard_runtime::bus::{Bus, HostCommands, HostRequest};
use switchboard_signaling::client::{ClientError, JoinedRoom, RoomEvents, RoomSender, SignalingClient};
use switchboard_signaling::protocol::{ServerMessage, StateChange};

/// Level reports queued from the decoding tasks (about 50 per second per remote); more
/// means the session task is stalled, and dropping them only delays the spotlight.
const LEVEL_QUEUE: usize = 256;

/// How long after the session starts, a link connects or a member leaves the spare link
/// is made: past the tail of a setup that just finished (remote tracks, first frames), so
/// making it (a few tenths of a ms) does not delay that setup's first audio.
const SPARE_DELAY: Duration = Duration::from_millis(50);

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
            join_room(&options, camera.is_some()).await?;
        let Devices { source, sink, mixer, encoder } = devices;

        // Commands from the app and plugins are the local user's (`from` of capability commands).
        bus.set_local_user(joined.you.clone());
        let host_commands = bus.host_commands();

        let (finished_tx, finished) = watch::channel(false);
        let stats = Arc::new(SharedStats::default());
        let (link_tx, link_events) = mpsc::unbounded_channel();
        let (levels_tx, levels) = mpsc::channel(LEVEL_QUEUE);
        let mut semantics = CallSemantics::new(joined.session_id.clone(), joined.you.clone(), &settings);
        let gate = MuteGate::new(settings.start_with_audio_muted);
        let now = Instant::now();
        let first_events = semantics.joined(joined.you.clone(), joined.users.clone(), now);
        let tap = MediaTap::new(bus.clone(), started_at);
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
            link_options: link,
            links: HashMap::new(),
            spare: None,
            spare_due: None,
            link_tx,
            link_events,
            levels_tx,
            levels,
            speaker: SpeakerDetector::default(),
            host_commands,
            source: Some(source),
            sink: Some(sink),
            mixer,
            encoder,
            gate,
            stats: Arc::clone(&stats),
            finished: finished_tx,
            started_at,
            video,
            tap,
            last_audio: None,
            video_offer_due: HashSet::new(),
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
                    task.prime_link(&link);
                    // Its offer went out before we knew the call had video.
                    if task.video.is_on() && !first.video {
                        task.video_offer_due.insert(user.resource.clone());
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
    /// entries whose `seq` moved. See [`super::video::ParticipantFrame`].
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

/// One remote participant's link.
struct Peer {
    user: RtcUser,
    link: Arc<PeerLink>,
}

/// The task that owns the session's state.
struct SessionTask {
    bus: Bus,
    semantics: CallSemantics,
    room: RoomSender,
    room_events: RoomEvents,
    link_options: LinkOptions,
    /// By the remote's resource (one per connection: a user may join twice).
    links: HashMap<String, Peer>,
    /// A link made ahead, with our audio track, for the next member to join: the
    /// newcomer offers, and our side of its link is then ready when the offer arrives.
    /// Made only while no link is being set up, so making it never delays a setup.
    spare: Option<(PeerLink, mpsc::UnboundedReceiver<LinkEvent>)>,
    /// When to make the spare link.
    spare_due: Option<Instant>,
    link_tx: mpsc::UnboundedSender<(String, LinkEvent)>,
    link_events: mpsc::UnboundedReceiver<(String, LinkEvent)>,
    /// The audio level of each remote frame, from the decoding tasks.
    levels_tx: mpsc::Sender<(String, f32)>,
    levels: mpsc::Receiver<(String, f32)>,
    speaker: SpeakerDetector,
    /// Host commands from the bus: the app's, scripts' and plugins'.
    host_commands: HostCommands,
    source: Option<AudioSource>,
    sink: Option<AudioSink>,
    mixer: Mixer,
    encoder: OpusEncoder,
    gate: MuteGate,
    stats: Arc<SharedStats>,
    finished: watch::Sender<bool>,
    started_at: Instant,
    video: SessionVideo,
    /// The media tap for plugins that want encoded frames (recording).
    tap: MediaTap,
    /// The newest microphone frame and when it came (none while muted), for new links.
    last_audio: Option<(LastAudio, Instant)>,
    /// Links (by the remote's resource) on which we offer video once the answer to our
    /// offer in flight is in: an offer now would cross it.
    video_offer_due: HashSet<String>,
}

/// The newest microphone frame: raw while alone and not recording (nothing is encoded
/// then), else as sent.
#[derive(Clone)]
enum LastAudio {
    Raw(Vec<i16>),
    Encoded(Bytes),
}

impl SessionTask {
    async fn run(mut self) {
        self.want_spare();
        loop {
            let timer = sleep_until(self.semantics.next_deadline());
            let spare_timer = sleep_until(self.spare_due);
            let frames = async {
                match self.source.as_mut() {
                    Some(source) => source.frames().recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                frame = frames => match frame {
                    Some(frame) => self.send_audio(frame.samples).await,
                    None => self.source_ended(),
                },
                message = self.room_events.recv() => match message {
                    Some(message) => self.on_server(message).await,
                    None => self.signaling_lost("the connection to the signaling server was lost".to_owned()).await,
                },
                Some((resource, event)) = self.link_events.recv() => self.on_link(resource, event).await,
                Some((uid, dbfs)) = self.levels.recv() => self.on_level(&uid, dbfs),
                Some(request) = self.host_commands.recv() => self.on_host_command(request).await,
                () = spare_timer => {
                    self.spare_due = None;
                    self.make_spare().await;
                }
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
        let peers: Vec<(RtcUser, Arc<PeerLink>)> =
            self.links.values().map(|p| (p.user.clone(), Arc::clone(&p.link))).collect();
        for (user, link) in peers {
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
            Ok(None) if offers => {
                self.video_offer_due.insert(user.resource.clone());
            }
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

    /// A link with our audio track: the spare if there is one, else a new one.
    async fn audio_link(&mut self) -> Result<(PeerLink, mpsc::UnboundedReceiver<LinkEvent>), rtc::RtcError> {
        if let Some(spare) = self.spare.take() {
            return Ok(spare);
        }
        let (link, events) = PeerLink::new(self.link_options.clone()).await?;
        link.add_audio_track().await?;
        Ok((link, events))
    }

    /// Asks for the spare link (see `spare`) in [`SPARE_DELAY`].
    fn want_spare(&mut self) {
        if self.spare.is_none() {
            self.spare_due = Some(Instant::now() + SPARE_DELAY);
        }
    }

    /// Makes the spare link (see `spare`) unless there is one or a link is being set up.
    async fn make_spare(&mut self) {
        let in_setup =
            self.links.values().any(|p| matches!(p.link.state(), LinkState::New | LinkState::Connecting));
        if self.spare.is_some() || in_setup || self.semantics.is_ended() {
            return;
        }
        match self.audio_link().await {
            Ok(spare) => self.spare = Some(spare),
            // The link made when a member joins reports the failure, if it fails again.
            Err(e) => tracing::debug!("making a spare link: {e}"),
        }
    }

    async fn new_link(&mut self, user: &RtcUser) -> Option<Arc<PeerLink>> {
        match self.audio_link().await {
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
        mut events: mpsc::UnboundedReceiver<LinkEvent>,
    ) -> Arc<PeerLink> {
        if let Err(e) = self.video.add_track(&user.resource, &link).await {
            self.error(
                ErrorCode::PeerConnectionFailed,
                format!("adding video to the link to {}: {e}", user.uid),
                user.uid.clone(),
            );
        }
        // Every link's events meet in one channel, tagged with the peer, so the session's
        // select! has one arm for all links. Events from before (a first offer's
        // candidates) waited in `events`.
        let tx = self.link_tx.clone();
        let resource = user.resource.clone();
        switchboard_runtime::exec::spawn(async move {
            while let Some(event) = events.recv().await {
                if tx.send((resource.clone(), event)).is_err() {
                    break;
                }
            }
        });
        self.links.insert(user.resource.clone(), Peer { user: user.clone(), link: Arc::clone(&link) });
        link
    }

    /// Gives a new link the newest microphone frame, to send the moment it connects
    /// rather than at the next frame, up to 20 ms later (see `PeerLink::hold_audio`).
    /// Called once the offer or answer is on its way: the link connects a few ms later.
    fn prime_link(&self, link: &Arc<PeerLink>) {
        let Some((audio, at)) = self.last_audio.clone() else { return };
        let link = Arc::clone(link);
        switchboard_runtime::exec::spawn(async move {
            let packet = match audio {
                LastAudio::Encoded(packet) => packet,
                // Alone until now, nothing was encoded. Encoding takes a few tenths of a
                // ms: on a thread of its own, with an encoder of its own, it overlaps the
                // trip of the offer or answer just queued instead of delaying it.
                LastAudio::Raw(samples) => {
                    let encoded = tokio::task::spawn_blocking(move || {
                        OpusEncoder::new().and_then(|mut encoder| encoder.encode(&samples))
                    });
                    match encoded.await {
                        Ok(Ok(packet)) => Bytes::from(packet),
                        failed => {
                            tracing::debug!("encoding the newest frame for a new link: {failed:?}");
                            return;
                        }
                    }
                }
            };
            let frame = rtc::AudioFrame { data: packet, duration: AudioFormat::FRAME_DURATION };
            if let Err(e) = link.hold_audio(&frame, at).await {
                tracing::debug!("holding audio for a new link: {e}");
            }
        });
    }

    async fn offer_to(&mut self, user: RtcUser) {
        let Some(link) = self.new_link(&user).await else { return };
        match link.create_offer().await {
            Ok(offer) => {
                self.signal(&user, offer);
                self.prime_link(&link);
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
                        self.prime_link(&link);
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            }
            Some("answer") => {
                let Some(link) = self.links.get(&from.resource).map(|peer| Arc::clone(&peer.link)) else {
                    return;
                };
                let accepted = link.accept_answer(payload).await;
                if accepted.is_ok() && self.video_offer_due.remove(&from.resource) {
                    self.add_video_to_link(&from, &link).await;
                }
                accepted
            }
            _ if payload.get("candidate").is_some() => match self.links.get(&from.resource) {
                Some(peer) => peer.link.add_remote_candidate(payload).await,
                None => return,
            },
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
                    && !self.links.contains_key(&user.resource))
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
                self.video_offer_due.remove(&user.resource);
                if let Some(peer) = self.links.remove(&user.resource) {
                    close_link(peer).await;
                }
                let still_here = self.links.values().any(|p| p.user.uid == user.uid);
                if !still_here {
                    self.mixer.remove(&user.uid);
                }
                self.video.link_closed(&user, still_here);
                let uid = user.uid.clone();
                let mut events = self.semantics.user_left(user, users, now);
                // The spotlight leaves with the speaker, before `call_ended` when the leave
                // ended a two-person call: nothing about the call comes after its end.
                if !still_here
                    && let Some(uid) = self.speaker.remove(&uid)
                    && !self.semantics.is_ended()
                {
                    let at =
                        events.iter().position(|e| matches!(e, Event::CallEnded)).unwrap_or(events.len());
                    events.insert(at, Event::ActiveSpeakerChanged { uid });
                }
                self.publish_all(events);
                self.want_spare();
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
                    self.want_spare();
                }
                tracing::debug!(peer = user.uid, %state, "link state");
            }
            LinkEvent::RemoteTrack { track } => {
                let counters = self.stats.remote(&user.uid);
                match track.kind {
                    MediaKind::Audio => {
                        let decoder = match OpusDecoder::new() {
                            Ok(decoder) => decoder,
                            Err(e) => {
                                self.error(
                                    ErrorCode::Error,
                                    format!("creating an Opus decoder: {e}"),
                                    user.uid,
                                );
                                return;
                            }
                        };
                        let outlets = AudioOutlets {
                            mixer: self.mixer.clone(),
                            counters,
                            stats: Arc::clone(&self.stats),
                            tap: self.tap.clone(),
                            levels: self.levels_tx.clone(),
                        };
                        switchboard_runtime::exec::spawn(decode_audio(track, decoder, user.uid, outlets));
                    }
                    MediaKind::Video => {
                        let outcome = self.video.receive(&user, track, counters, Arc::clone(&peer.link));
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
        if let Some(uid) = self.speaker.observe(uid, dbfs, Instant::now()) {
            self.bus.publish(Event::ActiveSpeakerChanged { uid });
        }
    }

    async fn send_audio(&mut self, samples: Vec<i16>) {
        // A muted microphone is silence to the active speaker too.
        let local = self.semantics.local().uid.clone();
        let dbfs = if self.gate.is_muted() { f32::NEG_INFINITY } else { level_dbfs(&samples) };
        self.on_level(&local, dbfs);
        let now = Instant::now();
        if self.gate.is_muted() {
            self.last_audio = None;
            return;
        }
        // Alone, nothing is encoded (nobody to send it to), unless a recorder wants it.
        if self.links.is_empty() && !self.tap.recording() {
            self.last_audio = Some((LastAudio::Raw(samples), now));
            return;
        }
        let packet = match self.encoder.encode(&samples) {
            Ok(packet) => Bytes::from(packet),
            Err(e) => {
                self.error(ErrorCode::Error, format!("encoding audio: {e}"), String::new());
                return;
            }
        };
        self.last_audio = Some((LastAudio::Encoded(packet.clone()), now));
        self.tap.opus(&self.semantics.local().uid, &packet);
        let frame = rtc::AudioFrame { data: packet, duration: AudioFormat::FRAME_DURATION };
        for peer in self.links.values() {
            if peer.link.state() != LinkState::Connected {
                // Sent the moment the link connects, instead of at the next frame.
                if let Err(e) = peer.link.hold_audio(&frame, now).await {
                    tracing::debug!(peer = peer.user.uid, "holding audio: {e}");
                }
                continue;
            }
            match peer.link.send_audio(&frame).await {
                Ok(()) => self.stats.audio_packets_sent.add(1),
                Err(e) => tracing::debug!(peer = peer.user.uid, "sending audio: {e}"),
            }
        }
    }

    fn source_ended(&mut self) {
        let error = self.source.as_ref().and_then(AudioSource::take_error);
        self.source = None;
        let message = match error {
            Some(e) => format!("the audio input stopped: {e}"),
            None => "the audio input stopped".to_owned(),
        };
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
                self.gate.set_muted(muted);
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
                tap::route_audio_output(self.sink.as_mut(), &self.bus, device, announce)
            }
            other => Err(CallsException::new(
                ErrorCode::InvalidArgument,
                format!("`{}` is not an action the host carries out", other.name()),
            )),
        }
    }

    /// Releases everything: links, devices, the room socket. Idempotent.
    async fn shutdown(&mut self) {
        for (_, peer) in self.links.drain() {
            close_link(peer).await;
        }
        if let Some((spare, _)) = self.spare.take() {
            close_unused(&spare).await;
        }
        self.video.stop();
        if let Some(source) = self.source.take() {
            source.stop();
        }
        if let Some(sink) = self.sink.take()
            && let Err(e) = sink.stop()
        {
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
async fn join_room(options: &SessionOptions, video: bool) -> Result<Joining, CallsException> {
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

/// The audio devices and the encoder a session opens before it joins.
struct Devices {
    source: AudioSource,
    sink: AudioSink,
    mixer: Mixer,
    encoder: OpusEncoder,
}

impl Devices {
    /// Opens the configured microphone and speaker (blocking).
    fn open(media: &MediaConfig) -> Result<Self, CallsException> {
        let options = media::DeviceOptions::from(media);
        let source = media::start_source_with(&media.audio_input, options)
            .map_err(|e| CallsException::new(e.code(), format!("opening audio input: {e}")))?;
        let mixer = Mixer::new();
        let sink = media::start_sink_with(&media.audio_output, mixer.clone(), options)
            .map_err(|e| CallsException::new(e.code(), format!("opening audio output: {e}")))?;
        let encoder = OpusEncoder::new().map_err(|e| {
            CallsException::new(ErrorCode::SdkInitError, format!("creating the Opus encoder: {e}"))
        })?;
        tracing::debug!(target: switchboard_signaling::SETUP_TRACE, stage = "devices ready");
        Ok(Self { source, sink, mixer, encoder })
    }
}

/// A link made and offered while the WebSocket opens, before anyone in the room is known:
/// its offer rides in the join (see `ClientMessage::Join`), for the member in the room the
/// longest.
struct FirstOffer {
    link: Arc<PeerLink>,
    /// Held, not read, until the link has its peer: its first candidates wait here.
    events: mpsc::UnboundedReceiver<LinkEvent>,
    offer: serde_json::Value,
    /// Whether the offer has our video track.
    video: bool,
}

impl FirstOffer {
    /// A link with our audio track, and our video track on a video call, and its offer.
    async fn make(options: LinkOptions, video: bool) -> Result<Self, rtc::RtcError> {
        let (link, events) = PeerLink::new(options).await?;
        let offered = async {
            link.add_audio_track().await?;
            if video {
                link.add_video_track(LINK_VIDEO_CODEC).await?;
            }
            link.create_offer().await
        };
        match offered.await {
            Ok(offer) => Ok(Self { link: Arc::new(link), events, offer, video }),
            Err(e) => {
                close_unused(&link).await;
                Err(e)
            }
        }
    }
}

/// Closes a link made ahead that no member took.
async fn close_unused(link: &PeerLink) {
    if let Err(e) = link.close().await {
        tracing::debug!("closing an unused link: {e}");
    }
}

/// Sleeps until `at`; forever when there is nothing to wait for.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

async fn close_link(peer: Peer) {
    if let Err(e) = peer.link.close().await {
        tracing::debug!(peer = peer.user.uid, "closing link: {e}");
    }
}

/// Where a remote participant's decoded audio goes, besides the speaker.
struct AudioOutlets {
    mixer: Mixer,
    counters: Arc<RemoteCounters>,
    stats: Arc<SharedStats>,
    tap: MediaTap,
    levels: mpsc::Sender<(String, f32)>,
}

async fn decode_audio(mut track: rtc::RemoteTrack, mut decoder: OpusDecoder, uid: String, out: AudioOutlets) {
    let AudioOutlets { mixer, counters, stats, tap, levels } = out;
    while let Some(frame) = track.frames.recv().await {
        counters.audio_packets.add(1);
        tap.opus(&uid, &frame.data);
        match decoder.decode(&frame.data) {
            Ok(pcm) => {
                counters.audio_frames_decoded.add(1);
                stats.remote_audio_decoded();
                // A level report lost to a full queue only delays the spotlight.
                let _ = levels.try_send((uid.clone(), level_dbfs(&pcm)));
                mixer.push(&uid, pcm);
            }
            Err(e) => tracing::debug!(uid, "undecodable audio packet: {e}"),
        }
    }
}
