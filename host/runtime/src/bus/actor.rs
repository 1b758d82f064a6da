//! The actor that owns one plugin instance, on its own `SyncArbiter` thread.
//!
//! Plugin calls are blocking C calls; giving each plugin its own thread means a slow plugin
//! delays only itself. Events arrive through a batching [`Mailbox`] (rung by
//! [`PluginRequest::Drain`]); everything else arrives as a [`PluginRequest`], and every
//! request first delivers the events queued before it, so a plugin sees events and
//! requests in the order they were made.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Weak};

use actix::{Actor, Handler, Message, SyncContext};
use switchboard_core::model::{CallsException, ErrorCode};
use switchboard_core::sdk::MediaFrame;
use switchboard_core::view::{UiInput, ViewRequest};
use switchboard_core::wire::{HostMessage, PluginReply, WIRE_VERSION};
use switchboard_core::{Command, Event, RtcUser};

use super::{Bus, DeliveryProbe, MediaTapFrame, STATE_FAILED, STATE_RUNNING, STATE_STOPPED, Shared};
use crate::instance::{self, PluginHandle};
use crate::loader::PluginSpec;
use crate::mailbox::Mailbox;
use crate::plugin::PluginError;
use crate::policy::IsolationPolicy;
use switchboard_config::{Isolation, OnCrash};

/// The most events handed to a plugin in one `handle` call; bounds the size of one
/// message and how long a plugin holds its thread for one call.
const MAX_BATCH: usize = 1024;

/// One event, serialized once by the publisher and shared by every subscriber.
pub(crate) type EventBytes = Arc<[u8]>;

/// The mailbox of a plugin actor: one closed enum, one variant per kind of request.
#[derive(Debug)]
pub(crate) enum PluginRequest {
    /// Deliver the events queued in the plugin's event mailbox (the doorbell).
    Drain,
    /// Deliver the queued events, then answer: a barrier for [`Bus::flush`].
    Sync,
    /// Carry out a command for a capability the plugin provides.
    Command {
        /// The command.
        command: Command,
        /// Who asked.
        from: RtcUser,
    },
    /// UI input for the layout plugin.
    Input {
        /// The input.
        input: UiInput,
    },
    /// Lay out the call view.
    Render {
        /// What to lay out.
        request: Box<ViewRequest>,
    },
    /// One frame from the media tap.
    Media {
        /// The frame.
        frame: Arc<MediaTapFrame>,
    },
    /// The periodic tick of a plugin with a non-zero `tick_ms`; the commands it returns are
    /// routed like those returned from events.
    Tick,
    /// Destroy the instance (the plugin's `shutdown` runs); no more deliveries.
    Shutdown,
    /// Hot swap: deliver `pending` (the events queued before the swap) to the old instance,
    /// destroy it, and carry on with `instance`, created from `spec`.
    Replace {
        /// The new instance, already created.
        instance: Box<dyn PluginHandle>,
        /// How it was made, for restarts.
        spec: Box<PluginSpec>,
        /// Events published before the swap and not yet delivered.
        pending: Vec<EventBytes>,
    },
}

impl Message for PluginRequest {
    type Result = Result<PluginReply, CallsException>;
}

/// See the module documentation.
pub(crate) struct PluginActor {
    id: String,
    instance: Option<Box<dyn PluginHandle>>,
    /// How the instance was made: an isolated plugin that crashes is made again from it.
    spec: Option<PluginSpec>,
    /// Restarts so far (see [`IsolationPolicy::max_restarts`]).
    restarts: u32,
    events: Arc<Mailbox<EventBytes>>,
    state: Arc<AtomicU8>,
    shared: Weak<Shared>,
    probe: Option<(usize, DeliveryProbe)>,
    /// Reused between drains, to keep allocation off the hot path.
    batch: Vec<EventBytes>,
    message: Vec<u8>,
}

impl std::fmt::Debug for PluginActor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginActor").field("id", &self.id).field("live", &self.instance.is_some()).finish()
    }
}

impl Actor for PluginActor {
    type Context = SyncContext<Self>;
}

const EVENTS_PREFIX: &[u8] = b"{\"v\":1,\"msg\":{\"type\":\"events\",\"events\":[";
const EVENTS_SUFFIX: &[u8] = b"]}}";
const _: () = assert!(WIRE_VERSION == 1, "EVENTS_PREFIX spells the wire version");

/// Writes a `HostEnvelope { msg: Events { events } }` around already serialized events,
/// byte for byte what serde would write, without decoding and re-encoding each event.
pub(crate) fn encode_events(events: &[EventBytes], out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(EVENTS_PREFIX);
    for (i, event) in events.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(event);
    }
    out.extend_from_slice(EVENTS_SUFFIX);
}

impl PluginActor {
    pub(crate) fn new(
        instance: Box<dyn PluginHandle>,
        spec: Option<PluginSpec>,
        events: Arc<Mailbox<EventBytes>>,
        state: Arc<AtomicU8>,
        shared: Weak<Shared>,
        probe: Option<(usize, DeliveryProbe)>,
    ) -> Self {
        Self {
            id: instance.id().to_owned(),
            instance: Some(instance),
            spec,
            restarts: 0,
            events,
            state,
            shared,
            probe,
            batch: Vec::new(),
            message: Vec::new(),
        }
    }

    /// An actor without an instance: what the `SyncArbiter` factory returns if it is ever
    /// asked for a second actor (it restarts actors that stop; ours never stop).
    pub(crate) fn dead(id: String, shared: Weak<Shared>) -> Self {
        Self {
            id,
            instance: None,
            spec: None,
            restarts: 0,
            events: Arc::new(Mailbox::new()),
            state: Arc::new(AtomicU8::new(STATE_FAILED)),
            shared,
            probe: None,
            batch: Vec::new(),
            message: Vec::new(),
        }
    }

    fn bus(&self) -> Option<Bus> {
        self.shared.upgrade().map(|shared| Bus { shared })
    }

    fn failed_exception(&self) -> CallsException {
        CallsException::new(ErrorCode::PluginFailed, format!("plugin `{}` has failed", self.id))
            .with_details(self.id.clone())
    }

    /// Delivers every queued event, in batches of at most [`MAX_BATCH`].
    fn drain(&mut self) {
        let mut batch = std::mem::take(&mut self.batch);
        self.events.drain_into(&mut batch);
        self.deliver(&batch);
        batch.clear();
        self.batch = batch;
    }

    /// Delivers `batch` to the current instance, in chunks of at most [`MAX_BATCH`].
    /// An isolated plugin gets one event per message instead: if it crashes, only the
    /// event that made it crash is lost, and the restarted instance gets the rest.
    fn deliver(&mut self, batch: &[EventBytes]) {
        let isolated = self.instance.as_ref().is_some_and(|i| i.is_isolated());
        for chunk in batch.chunks(if isolated { 1 } else { MAX_BATCH }) {
            if self.instance.is_none() {
                break;
            }
            encode_events(chunk, &mut self.message);
            let message = std::mem::take(&mut self.message);
            let result = self.instance.as_mut().map(|i| i.handle_bytes(&message));
            self.message = message;
            match result {
                Some(Ok(reply)) => {
                    if let Some((index, probe)) = &self.probe {
                        probe(*index, chunk.len());
                    }
                    self.forward_commands(reply.commands);
                }
                Some(Err(e)) => self.fail(&e),
                None => {}
            }
        }
    }

    /// Routes the commands a plugin returned, without blocking this thread on the answers.
    fn forward_commands(&self, commands: Vec<Command>) {
        if commands.is_empty() {
            return;
        }
        if let Some(bus) = self.bus() {
            bus.route_from_plugin(self.id.clone(), commands);
        }
    }

    /// Marks the plugin failed: no more deliveries, the instance is destroyed, and the bus
    /// reports it with an `error` event and `plugin_status_changed`.
    fn fail(&mut self, error: &PluginError) {
        let Some(error) = self.restart(error) else { return };
        let error = &error;
        tracing::error!(plugin = %self.id, "plugin failed: {error}");
        self.state.store(STATE_FAILED, Ordering::SeqCst);
        self.events.close();
        // Dropping destroys the instance; the SDK skips `shutdown` for a panicked instance.
        self.instance = None;
        if let Some(bus) = self.bus() {
            let message = error.to_string();
            bus.publish(Event::Error {
                code: ErrorCode::PluginFailed,
                message: message.clone(),
                details: self.id.clone(),
            });
            bus.publish(Event::PluginStatusChanged {
                plugin: self.id.clone(),
                status: "failed".to_owned(),
                detail: message,
            });
        }
    }

    /// For an isolated plugin whose policy is `on_crash = "restart"`: reports the crash with
    /// an `error` event and starts a new instance (after a backoff), while its events queue
    /// up. Returns `None` when the plugin runs again, or the error that disables it (the
    /// crash itself, or why the restarts ran out).
    fn restart(&mut self, error: &PluginError) -> Option<PluginError> {
        let Some(spec) = self.spec.clone() else { return Some(error.clone()) };
        let policy: &IsolationPolicy = &spec.isolation;
        if policy.mode != Isolation::Process {
            return Some(error.clone());
        }
        // The dead instance (its process is gone or killed) is dropped first.
        self.instance = None;
        let mut error = error.clone();
        loop {
            if policy.on_crash == OnCrash::Disable {
                return Some(PluginError::Disabled {
                    plugin: self.id.clone(),
                    cause: Box::new(error),
                    why: "on_crash = \"disable\"".to_owned(),
                });
            }
            if self.restarts >= policy.max_restarts {
                return Some(PluginError::Disabled {
                    plugin: self.id.clone(),
                    cause: Box::new(error),
                    why: format!("after {} restarts, max_restarts = {}", self.restarts, policy.max_restarts),
                });
            }
            self.restarts += 1;
            let attempt = self.restarts;
            let message = format!("{error}; restarting it ({attempt} of {})", policy.max_restarts);
            tracing::error!(plugin = %self.id, "{message}");
            if let Some(bus) = self.bus() {
                bus.publish(Event::Error {
                    code: ErrorCode::PluginFailed,
                    message: message.clone(),
                    details: self.id.clone(),
                });
                bus.publish(Event::PluginStatusChanged {
                    plugin: self.id.clone(),
                    status: "restarting".to_owned(),
                    detail: message,
                });
            }
            // Blocking is fine here: this is the plugin's own thread, and only its own
            // events wait (they stay queued in its mailbox for the new instance).
            std::thread::sleep(IsolationPolicy::backoff(attempt));
            match instance::create(spec.library.clone(), &spec.settings, policy) {
                Ok(instance) => {
                    self.instance = Some(instance);
                    if let Some(bus) = self.bus() {
                        bus.publish(Event::PluginStatusChanged {
                            plugin: self.id.clone(),
                            status: "running".to_owned(),
                            detail: format!("restarted ({attempt} of {})", policy.max_restarts),
                        });
                    }
                    return None;
                }
                Err(e) => error = e,
            }
        }
    }

    /// Hot swap: the events queued before the swap go to the old instance, then the new
    /// one takes over; the old one is destroyed (its `shutdown` runs).
    fn replace(&mut self, instance: Box<dyn PluginHandle>, spec: PluginSpec, pending: Vec<EventBytes>) {
        self.deliver(&pending);
        let old_id = std::mem::replace(&mut self.id, instance.id().to_owned());
        if let Some(old) = self.instance.replace(instance)
            && let Err(e) = old.destroy()
        {
            tracing::warn!(plugin = %old_id, "destroying the replaced plugin: {e}");
        }
        self.spec = Some(spec);
        self.restarts = 0;
        self.state.store(STATE_RUNNING, Ordering::SeqCst);
        if let Some(bus) = self.bus() {
            if old_id != self.id {
                bus.publish(Event::PluginStatusChanged {
                    plugin: old_id.clone(),
                    status: "stopped".to_owned(),
                    detail: format!("replaced by `{}`", self.id),
                });
            }
            bus.publish(Event::PluginStatusChanged {
                plugin: self.id.clone(),
                status: "running".to_owned(),
                detail: format!("replaced `{old_id}` while running"),
            });
        }
    }

    /// Sends one request-reply message; a fatal error fails the plugin.
    fn call(&mut self, msg: HostMessage) -> Result<PluginReply, CallsException> {
        let Some(instance) = self.instance.as_mut() else {
            return Err(self.failed_exception());
        };
        match instance.handle(msg) {
            Ok(reply) => Ok(reply),
            Err(e) => {
                let exception =
                    CallsException::new(ErrorCode::PluginFailed, e.to_string()).with_details(self.id.clone());
                if e.is_fatal() {
                    self.fail(&e);
                }
                Err(exception)
            }
        }
    }
}

impl Handler<PluginRequest> for PluginActor {
    type Result = Result<PluginReply, CallsException>;

    fn handle(&mut self, request: PluginRequest, _ctx: &mut SyncContext<Self>) -> Self::Result {
        if let PluginRequest::Replace { instance, spec, pending } = request {
            // Not `drain` first: what is queued now was published after the swap and is
            // for the new instance; `pending` holds what came before.
            self.replace(instance, *spec, pending);
            self.drain();
            return Ok(PluginReply::default());
        }
        // Events published before this request reach the plugin before it.
        self.drain();
        match request {
            PluginRequest::Drain | PluginRequest::Sync => Ok(PluginReply::default()),
            PluginRequest::Command { command, from } => self.call(HostMessage::Command { command, from }),
            PluginRequest::Input { input } => self.call(HostMessage::Input { input }),
            PluginRequest::Render { request } => self.call(HostMessage::Render { request: *request }),
            PluginRequest::Tick => {
                let reply = self.call(HostMessage::Tick)?;
                self.forward_commands(reply.commands);
                Ok(PluginReply::default())
            }
            PluginRequest::Media { frame } => {
                let Some(instance) = self.instance.as_mut() else {
                    return Err(self.failed_exception());
                };
                let frame = MediaFrame {
                    kind: frame.kind,
                    codec: frame.codec,
                    keyframe: frame.keyframe,
                    timestamp_us: frame.timestamp_us,
                    participant: &frame.participant,
                    track: &frame.track,
                    data: &frame.data,
                };
                match instance.media(&frame) {
                    Ok(()) => Ok(PluginReply::default()),
                    Err(e) => {
                        let exception = CallsException::new(ErrorCode::PluginFailed, e.to_string())
                            .with_details(self.id.clone());
                        if e.is_fatal() {
                            self.fail(&e);
                        }
                        Err(exception)
                    }
                }
            }
            PluginRequest::Shutdown => {
                self.state.store(STATE_STOPPED, Ordering::SeqCst);
                self.events.close();
                if let Some(instance) = self.instance.take()
                    && let Err(e) = instance.destroy()
                {
                    tracing::warn!(plugin = %self.id, "destroying plugin: {e}");
                }
                Ok(PluginReply::default())
            }
            PluginRequest::Replace { .. } => Ok(PluginReply::default()),
        }
    }
}
