//! The session's WebRTC mesh: one [`PeerLink`] per other participant's connection, the
//! spare link made ahead for the next member to join, the first offer that rides in the
//! join, and the link side of negotiation (answers, candidates, the video offer put off
//! while an offer is in flight).
//!
//! The session task ([`crate::runtime`]) owns one [`SessionLinks`]. Every link's events
//! come out of [`SessionLinks::next_event`], tagged with the remote's resource, so the
//! task's `select!` has one arm for all links. The mesh knows links only: what a link
//! carries is decided by the task, which adds the video track ([`crate::video`]), primes
//! new links with the newest microphone frame ([`crate::audio`]) and sends the offers,
//! answers and candidates through the room. A change to how links are made, kept, found,
//! fed or closed belongs here.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchboard_core::RtcUser;
use switchboard_rtc::{self as rtc, LinkEvent, LinkOptions, LinkState, PeerLink};
use tokio::sync::mpsc;

/// How long after the session starts, a link connects or a member leaves the spare link
/// is made: past the tail of a setup that just finished (remote tracks, first frames), so
/// making it (a few tenths of a ms) does not delay that setup's first audio.
const SPARE_DELAY: Duration = Duration::from_millis(50);

/// A link and the events it reports until it is adopted.
type Unadopted = (PeerLink, mpsc::UnboundedReceiver<LinkEvent>);

/// One remote participant's link.
pub(crate) struct Peer {
    pub(crate) user: RtcUser,
    pub(crate) link: Arc<PeerLink>,
}

/// The mesh: the links by the remote's resource, the spare link, and their events.
pub(crate) struct SessionLinks {
    /// How links are made (ICE, the session's DTLS certificate).
    options: LinkOptions,
    /// By the remote's resource (one per connection: a user may join twice).
    links: HashMap<String, Peer>,
    /// A link made ahead, with our audio track, for the next member to join: the
    /// newcomer offers, and our side of its link is then ready when the offer arrives.
    /// Made only while no link is being set up, so making it never delays a setup.
    spare: Option<Unadopted>,
    /// When to make the spare link.
    spare_due: Option<Instant>,
    events_tx: mpsc::UnboundedSender<(String, LinkEvent)>,
    events: mpsc::UnboundedReceiver<(String, LinkEvent)>,
    /// Links (by the remote's resource) on which we offer video once the answer to our
    /// offer in flight is in: an offer now would cross it.
    video_offer_due: HashSet<String>,
}

impl SessionLinks {
    /// No links yet; they will be made with `options`.
    pub(crate) fn new(options: LinkOptions) -> Self {
        let (events_tx, events) = mpsc::unbounded_channel();
        Self {
            options,
            links: HashMap::new(),
            spare: None,
            spare_due: None,
            events_tx,
            events,
            video_offer_due: HashSet::new(),
        }
    }

    /// The next event of any adopted link, with the remote's resource; cancel-safe.
    pub(crate) async fn next_event(&mut self) -> Option<(String, LinkEvent)> {
        self.events.recv().await
    }

    /// The link to the remote connection `resource`.
    pub(crate) fn get(&self, resource: &str) -> Option<&Peer> {
        self.links.get(resource)
    }

    /// Whether there is a link to the remote connection `resource`.
    pub(crate) fn contains(&self, resource: &str) -> bool {
        self.links.contains_key(resource)
    }

    /// True while there is no link at all (alone in the call).
    pub(crate) fn is_empty(&self) -> bool {
        self.links.is_empty()
    }

    /// Every link with its remote user.
    pub(crate) fn peers(&self) -> Vec<(RtcUser, Arc<PeerLink>)> {
        self.links.values().map(|p| (p.user.clone(), Arc::clone(&p.link))).collect()
    }

    /// A link with our audio track, not yet anyone's: the spare if there is one, else a
    /// new one. [`SessionLinks::adopt`] makes it a remote's.
    pub(crate) async fn audio_link(&mut self) -> Result<Unadopted, rtc::RtcError> {
        if let Some(spare) = self.spare.take() {
            return Ok(spare);
        }
        let (link, events) = PeerLink::new(self.options.clone()).await?;
        link.add_audio_track().await?;
        Ok((link, events))
    }

    /// Makes `link` the link to `user`, its events (those from before included, such as a
    /// first offer's candidates, which waited in `events`) into [`SessionLinks::next_event`].
    pub(crate) fn adopt(
        &mut self,
        user: &RtcUser,
        link: Arc<PeerLink>,
        mut events: mpsc::UnboundedReceiver<LinkEvent>,
    ) -> Arc<PeerLink> {
        let tx = self.events_tx.clone();
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

    /// When the spare link is due, for the task's timer.
    pub(crate) fn spare_due(&self) -> Option<Instant> {
        self.spare_due
    }

    /// Asks for the spare link (see `spare`) in [`SPARE_DELAY`].
    pub(crate) fn want_spare(&mut self) {
        if self.spare.is_none() {
            self.spare_due = Some(Instant::now() + SPARE_DELAY);
        }
    }

    /// The spare link is due: makes it unless there is one, a link is being set up, or
    /// the session has `ended`.
    pub(crate) async fn make_spare(&mut self, ended: bool) {
        self.spare_due = None;
        let in_setup =
            self.links.values().any(|p| matches!(p.link.state(), LinkState::New | LinkState::Connecting));
        if self.spare.is_some() || in_setup || ended {
            return;
        }
        match self.audio_link().await {
            Ok(spare) => self.spare = Some(spare),
            // The link made when a member joins reports the failure, if it fails again.
            Err(e) => tracing::debug!("making a spare link: {e}"),
        }
    }

    /// Our offer to `resource` is in flight: offer video once its answer is in.
    pub(crate) fn defer_video_offer(&mut self, resource: &str) {
        self.video_offer_due.insert(resource.to_owned());
    }

    /// Accepts the answer of the remote connection `resource`. The link when a video offer
    /// was put off until now (see [`SessionLinks::defer_video_offer`]); none for a
    /// connection without a link.
    pub(crate) async fn accept_answer(
        &mut self,
        resource: &str,
        answer: serde_json::Value,
    ) -> Result<Option<Arc<PeerLink>>, rtc::RtcError> {
        let Some(link) = self.links.get(resource).map(|peer| Arc::clone(&peer.link)) else {
            return Ok(None);
        };
        link.accept_answer(answer).await?;
        Ok(self.video_offer_due.remove(resource).then_some(link))
    }

    /// A remote ICE candidate from `resource`; dropped for a connection without a link.
    pub(crate) async fn add_remote_candidate(
        &self,
        resource: &str,
        candidate: serde_json::Value,
    ) -> Result<(), rtc::RtcError> {
        match self.links.get(resource) {
            Some(peer) => peer.link.add_remote_candidate(candidate).await,
            None => Ok(()),
        }
    }

    /// Sends one encoded microphone frame, which came at `now`, on every link: connected
    /// links send it, the others hold it to send the moment they connect (instead of at
    /// the next frame). How many links sent it.
    pub(crate) async fn send_audio(&self, frame: &rtc::AudioFrame, now: Instant) -> u64 {
        let mut sent = 0;
        for peer in self.links.values() {
            if peer.link.state() != LinkState::Connected {
                if let Err(e) = peer.link.hold_audio(frame, now).await {
                    tracing::debug!(peer = peer.user.uid, "holding audio: {e}");
                }
                continue;
            }
            match peer.link.send_audio(frame).await {
                Ok(()) => sent += 1,
                Err(e) => tracing::debug!(peer = peer.user.uid, "sending audio: {e}"),
            }
        }
        sent
    }

    /// `user`'s connection left: closes its link. Whether the user still has another
    /// connection's link (a user may join twice).
    pub(crate) async fn user_left(&mut self, user: &RtcUser) -> bool {
        self.video_offer_due.remove(&user.resource);
        if let Some(peer) = self.links.remove(&user.resource) {
            close_link(peer).await;
        }
        self.links.values().any(|p| p.user.uid == user.uid)
    }

    /// Closes every link and the spare. Idempotent.
    pub(crate) async fn close_all(&mut self) {
        for (_, peer) in self.links.drain() {
            close_link(peer).await;
        }
        if let Some((spare, _)) = self.spare.take() {
            close_unused(&spare).await;
        }
    }
}

/// A link made and offered while the WebSocket opens, before anyone in the room is known:
/// its offer rides in the join (see `ClientMessage::Join`), for the member in the room the
/// longest.
pub(crate) struct FirstOffer {
    pub(crate) link: Arc<PeerLink>,
    /// Held, not read, until the link has its peer: its first candidates wait here.
    pub(crate) events: mpsc::UnboundedReceiver<LinkEvent>,
    pub(crate) offer: serde_json::Value,
    /// Whether the offer has our video track.
    pub(crate) video: bool,
}

impl FirstOffer {
    /// A link with our audio track, and a video track of `video`'s codec on a video call,
    /// and its offer.
    pub(crate) async fn make(
        options: LinkOptions,
        video: Option<rtc::VideoCodec>,
    ) -> Result<Self, rtc::RtcError> {
        let (link, events) = PeerLink::new(options).await?;
        let offered = async {
            link.add_audio_track().await?;
            if let Some(codec) = video {
                link.add_video_track(codec).await?;
            }
            link.create_offer().await
        };
        match offered.await {
            Ok(offer) => Ok(Self { link: Arc::new(link), events, offer, video: video.is_some() }),
            Err(e) => {
                close_unused(&link).await;
                Err(e)
            }
        }
    }
}

/// Closes a link made ahead that no member took.
pub(crate) async fn close_unused(link: &PeerLink) {
    if let Err(e) = link.close().await {
        tracing::debug!("closing an unused link: {e}");
    }
}

async fn close_link(peer: Peer) {
    if let Err(e) = peer.link.close().await {
        tracing::debug!(peer = peer.user.uid, "closing link: {e}");
    }
}
