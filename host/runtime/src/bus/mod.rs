//! The call-event bus: an actix system with one actor per plugin.
//!
//! [`Bus::start`] creates one instance per loaded plugin and runs each in its own actor on
//! its own `SyncArbiter` thread (plugin calls are blocking C calls; a slow plugin must delay
//! only itself). The rest of the host talks to the bus through [`Bus`], a cheap handle:
//!
//! - [`Bus::publish`]: an event for every plugin subscribed to its kind and every listener.
//!   The event is serialized once; every subscriber gets the same bytes, in publication
//!   order. Events are batched per plugin (see the crate's `mailbox` module), so a burst costs one C call per
//!   plugin, not one per event.
//! - [`Bus::command`]: the app (or a script) asks for an action. Host commands (`mute_audio`,
//!   `end_session`, ...) go to the host as [`HostRequest`]s, on the channel
//!   [`Bus::host_commands`] returns; capability commands (`start_recording`, `enter_pip_mode`,
//!   `set_audio_mode`) go to the plugin providing the capability, and its answer comes back.
//!   A capability nobody provides publishes an `error` event (`CAPABILITY_MISSING`) and
//!   returns the same exception: never a silent no-op.
//! - Commands a plugin returns (from events, input or commands) are routed the same way,
//!   without blocking the plugin's thread; their failures become `error` events, since there
//!   is no caller to hand them to.
//! - [`Bus::render`] and [`Bus::input`]: the view model and UI input, through the plugin
//!   named by `[ui] layout`.
//! - [`Bus::media`]: media tap frames for plugins that declared `wants_media`.
//! - Ticks: a plugin whose descriptor has a non-zero `tick_ms` gets a `tick` message about
//!   that often (a task on the system arbiter rings its actor; a tick still queued is not
//!   doubled, so a slow plugin is not flooded). The commands it returns are routed like
//!   those returned from events.
//! - [`Bus::add_listener`] / [`Bus::remove_listener`]: the app-facing listeners
//!   ([`crate::listeners`]).
//! - [`Bus::flush`]: waits until everything published so far (and the commands it caused)
//!   has been delivered. [`Bus::shutdown`] destroys the instances.
//!
//! A plugin that panics, returns garbage or fails a call is marked failed: it gets no more
//! deliveries, its instance is destroyed, and the bus publishes an `error` event
//! (`PLUGIN_FAILED`, `details` = the plugin id) and `plugin_status_changed` (`failed`). The
//! other plugins go on.
//!
//! Every method must be called inside the executor of [`crate::exec`] (the bus's actors
//! live in it).

mod actor;
mod swap;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use actix::{Addr, ArbiterHandle, SyncArbiter, System};
use switchboard_config::Config;
use switchboard_core::model::{CallsException, ErrorCode};
use switchboard_core::view::{UiInput, View, ViewRequest};
use switchboard_core::wire::{PluginDescriptor, PluginReply};
use switchboard_core::{Capability, Command, Event, EventKind, RtcUser};
use tokio::sync::{mpsc, oneshot};

use self::actor::{EventBytes, PluginActor, PluginRequest};
pub use self::swap::SwapError;
use crate::instance::{self, PluginHandle};
use crate::listeners::{
    CallsEventListener, ListenerActor, ListenerError, ListenerHub, ListenerItem, ListenerRequest,
};
use crate::loader::{self, LoadError, PluginSearch, PluginSpec};
use crate::mailbox::Mailbox;
use crate::plugin::PluginError;

const STATE_RUNNING: u8 = 0;
const STATE_FAILED: u8 = 1;
const STATE_STOPPED: u8 = 2;

/// A command the host itself carries out (everything that needs no plugin capability).
#[derive(Debug, Clone, PartialEq)]
pub struct HostCommand {
    /// The command.
    pub command: Command,
    /// Who asked: the local user for app and plugin commands.
    pub from: RtcUser,
}

/// A host command waiting for the host's answer, as [`HostCommands`] yields it.
#[derive(Debug)]
pub struct HostRequest {
    /// The command and who asked.
    pub command: HostCommand,
    reply: oneshot::Sender<Result<(), CallsException>>,
}

impl HostRequest {
    /// Answers whoever asked (the app, a script, or the routing of a plugin's command). An
    /// answer nobody waits for any more (the call timed out) is dropped.
    pub fn answer(self, result: Result<(), CallsException>) {
        let _ = self.reply.send(result);
    }
}

/// The host's side of the bus: every host command arrives here, in order, once
/// [`Bus::host_commands`] has been called.
pub type HostCommands = mpsc::UnboundedReceiver<HostRequest>;

/// One encoded frame for the media tap, owned so it can cross to plugin threads. Plugins
/// get it borrowed for the duration of their call.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaTapFrame {
    /// [`switchboard_core::abi::media_kind`].
    pub kind: u32,
    /// [`switchboard_core::abi::codec`].
    pub codec: u32,
    /// True for a video keyframe.
    pub keyframe: bool,
    /// Microseconds since the start of the call.
    pub timestamp_us: u64,
    /// Whose media.
    pub participant: String,
    /// Which track.
    pub track: String,
    /// The encoded bytes.
    pub data: Vec<u8>,
}

/// Called on a plugin's thread each time a batch of events has been handled by that
/// plugin: `(plugin index in load order, number of events)`. Events reach a plugin in
/// publication order, so counting them maps batches back to events. For metrics and
/// benchmarks; it must be cheap, as it runs on the delivery path.
pub type DeliveryProbe = Arc<dyn Fn(usize, usize) + Send + Sync>;

/// How the bus runs.
#[derive(Clone)]
pub struct BusOptions {
    /// The id of the layout plugin (`[ui] layout`); `None` when nothing renders.
    pub layout: Option<String>,
    /// How long a command, render or input call may take before the caller gets an error.
    /// The plugin is not interrupted (an in-process plugin cannot be): it is left to finish.
    pub call_timeout: Duration,
    /// See [`DeliveryProbe`]; `None` by default.
    pub on_delivered: Option<DeliveryProbe>,
}

impl std::fmt::Debug for BusOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BusOptions")
            .field("layout", &self.layout)
            .field("call_timeout", &self.call_timeout)
            .field("on_delivered", &self.on_delivered.as_ref().map(|_| "probe"))
            .finish()
    }
}

impl Default for BusOptions {
    fn default() -> Self {
        Self { layout: None, call_timeout: Duration::from_secs(5), on_delivered: None }
    }
}

impl BusOptions {
    /// Options from a config: the layout of `[ui] layout`.
    pub fn from_config(config: &Config) -> Self {
        Self { layout: Some(config.ui.layout.clone()), ..Self::default() }
    }
}

/// Why the bus could not start.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The bus was started outside a running actix `System`.
    #[error("the bus must be started inside a running actix system")]
    NoSystem,
    /// Two loaded plugins have the same id.
    #[error("plugin `{id}` is loaded twice ({first} and {second})")]
    DuplicatePlugin {
        /// The id.
        id: String,
        /// The first library.
        first: String,
        /// The second library.
        second: String,
    },
    /// A plugin instance could not be created.
    #[error("starting plugin `{plugin}`: {source}")]
    Create {
        /// The plugin's id.
        plugin: String,
        /// Why.
        source: PluginError,
    },
    /// A configured plugin could not be found or loaded.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// `[ui] layout` names a loaded plugin that is not a layout.
    #[error("`[ui] layout` names plugin `{id}`, which does not provide the `layout` capability")]
    NotALayout {
        /// The plugin's id.
        id: String,
    },
}

/// What a plugin looks like from the bus: for status displays.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginStatus {
    /// The descriptor.
    pub descriptor: PluginDescriptor,
    /// `running`, `failed` or `stopped`.
    pub state: &'static str,
}

struct PluginSlot {
    /// Behind a lock only because a hot swap ([`Bus::replace_plugin`]) changes it.
    descriptor: RwLock<PluginDescriptor>,
    addr: Addr<PluginActor>,
    events: Arc<Mailbox<EventBytes>>,
    state: Arc<AtomicU8>,
}

impl PluginSlot {
    fn id(&self) -> String {
        self.descriptor().id
    }

    fn descriptor(&self) -> PluginDescriptor {
        self.descriptor.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn running(&self) -> bool {
        self.state.load(Ordering::SeqCst) == STATE_RUNNING
    }
}

pub(crate) struct Shared {
    plugins: Vec<PluginSlot>,
    /// Subscribers by event kind, in plugin load order.
    subscribers: BTreeMap<EventKind, Vec<usize>>,
    /// The provider of each capability: the first plugin loaded that declares it.
    providers: BTreeMap<Capability, usize>,
    layout: Option<usize>,
    layout_name: Option<String>,
    media_taps: Vec<usize>,
    /// Held while an event is fanned out, so that every subscriber and the listeners get
    /// events in one global order even when several threads publish.
    publish_lock: Mutex<()>,
    listeners: ListenerHub,
    listener_addr: Addr<ListenerActor>,
    host: RwLock<Option<mpsc::UnboundedSender<HostRequest>>>,
    local_user: RwLock<RtcUser>,
    /// Where routing of plugin-returned commands runs (the system arbiter).
    arbiter: ArbiterHandle,
    call_timeout: Duration,
    /// Routings of plugin-returned commands still running, for [`Bus::flush`].
    in_flight: AtomicUsize,
    idle: tokio::sync::Notify,
}

/// A handle on the call-event bus. Cloning is cheap; every clone is the same bus.
#[derive(Clone)]
pub struct Bus {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<String> = self.shared.plugins.iter().map(PluginSlot::id).collect();
        f.debug_struct("Bus").field("plugins", &ids).field("layout", &self.shared.layout_name).finish()
    }
}

/// Where a command comes from, for routing and error reports.
#[derive(Debug, Clone)]
enum Origin {
    App,
    Plugin(String),
}

impl Bus {
    /// Starts the bus: one instance and one actor thread per plugin, in order, plus the
    /// listener thread. Publishes `plugin_status_changed` (`running`) for each plugin.
    pub fn start(specs: Vec<PluginSpec>, options: BusOptions) -> Result<Bus, BusError> {
        let system = System::try_current().ok_or(BusError::NoSystem)?;
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        for spec in &specs {
            let path = spec.library.path().display().to_string();
            if let Some(first) = seen.insert(spec.library.id().to_owned(), path.clone()) {
                return Err(BusError::DuplicatePlugin {
                    id: spec.library.id().to_owned(),
                    first,
                    second: path,
                });
            }
        }
        // Create every instance before starting any thread: a bad setting stops the start
        // with nothing half-running.
        let mut instances: Vec<Box<dyn PluginHandle>> = Vec::with_capacity(specs.len());
        for spec in &specs {
            let instance = instance::create(spec.library.clone(), &spec.settings, &spec.isolation)
                .map_err(|source| BusError::Create { plugin: spec.library.id().to_owned(), source })?;
            instances.push(instance);
        }

        let mut subscribers: BTreeMap<EventKind, Vec<usize>> = BTreeMap::new();
        let mut providers: BTreeMap<Capability, usize> = BTreeMap::new();
        let mut media_taps = Vec::new();
        let mut layout = None;
        for (index, instance) in instances.iter().enumerate() {
            let d = instance.library().descriptor();
            for kind in &d.subscriptions {
                let list = subscribers.entry(*kind).or_default();
                if !list.contains(&index) {
                    list.push(index);
                }
            }
            for capability in &d.capabilities {
                if let Some(&first) = providers.get(capability) {
                    let first = &instances[first];
                    tracing::warn!(
                        "plugins `{}` and `{}` both provide `{capability}`; `{}` (loaded first) gets its commands",
                        first.id(),
                        d.id,
                        first.id()
                    );
                } else {
                    providers.insert(*capability, index);
                }
            }
            if d.wants_media && instance.takes_media() {
                media_taps.push(index);
            }
            if options.layout.as_deref() == Some(d.id.as_str()) {
                if !d.capabilities.contains(&Capability::Layout) {
                    return Err(BusError::NotALayout { id: d.id.clone() });
                }
                layout = Some(index);
            }
        }

        let listener_hub = ListenerHub::new();
        let listener_mailbox = listener_hub.mailbox.clone();
        let listener_addr = SyncArbiter::start(1, move || ListenerActor::new(listener_mailbox.clone()));

        let shared = Arc::new_cyclic(|weak| {
            let plugins = instances
                .into_iter()
                .zip(specs)
                .enumerate()
                .map(|(index, (instance, spec))| {
                    let descriptor = instance.library().descriptor().clone();
                    let events = Arc::new(Mailbox::new());
                    let state = Arc::new(AtomicU8::new(STATE_RUNNING));
                    let id = descriptor.id.clone();
                    let probe = options.on_delivered.clone().map(|probe| (index, probe));
                    let actor = Mutex::new(Some(PluginActor::new(
                        instance,
                        Some(spec),
                        events.clone(),
                        state.clone(),
                        weak.clone(),
                        probe,
                    )));
                    let weak = weak.clone();
                    // The factory runs once, on the actor's thread. SyncArbiter would call it
                    // again only to restart a stopped actor, which ours never are.
                    let addr = SyncArbiter::start(1, move || {
                        actor
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .take()
                            .unwrap_or_else(|| PluginActor::dead(id.clone(), weak.clone()))
                    });
                    PluginSlot { descriptor: RwLock::new(descriptor), addr, events, state }
                })
                .collect();
            Shared {
                plugins,
                subscribers,
                providers,
                layout,
                layout_name: options.layout.clone(),
                media_taps,
                publish_lock: Mutex::new(()),
                listeners: listener_hub,
                listener_addr,
                host: RwLock::new(None),
                local_user: RwLock::new(RtcUser::default()),
                arbiter: system.arbiter().clone(),
                call_timeout: options.call_timeout,
                in_flight: AtomicUsize::new(0),
                idle: tokio::sync::Notify::new(),
            }
        });
        let bus = Bus { shared };
        for index in 0..bus.shared.plugins.len() {
            bus.start_ticks(index);
        }
        for slot in &bus.shared.plugins {
            tracing::info!(plugin = %slot.id(), "plugin running");
            bus.publish(Event::PluginStatusChanged {
                plugin: slot.id(),
                status: "running".to_owned(),
                detail: String::new(),
            });
        }
        Ok(bus)
    }

    /// Rings plugin `index` with [`PluginRequest::Tick`] every `tick_ms` of its descriptor,
    /// on the system arbiter, until the plugin stops running or the bus is dropped. The
    /// request is sent without waiting; while one is still queued the next is skipped.
    fn start_ticks(&self, index: usize) {
        let slot = &self.shared.plugins[index];
        let period_ms = slot.descriptor().tick_ms;
        if period_ms == 0 {
            return;
        }
        let weak = Arc::downgrade(&self.shared);
        let pending = Arc::new(std::sync::atomic::AtomicBool::new(false));
        self.shared.arbiter.spawn(async move {
            let mut interval = tokio::time::interval(Duration::from_millis(u64::from(period_ms)));
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            // The first tick of a tokio interval is immediate; the plugin's first is one
            // period after the start.
            interval.tick().await;
            loop {
                interval.tick().await;
                let Some(shared) = weak.upgrade() else { return };
                let slot = &shared.plugins[index];
                if !slot.running() {
                    return;
                }
                if pending.swap(true, Ordering::SeqCst) {
                    continue;
                }
                let addr = slot.addr.clone();
                let pending = pending.clone();
                drop(shared);
                actix::spawn(async move {
                    // A failure is handled by the actor itself (it fails the plugin).
                    let _ = addr.send(PluginRequest::Tick).await;
                    pending.store(false, Ordering::SeqCst);
                });
            }
        });
    }

    /// Loads every `[[plugin]]` of `config` (found in `host.plugin_dirs`, then beside the
    /// executable) and starts the bus with `[ui] layout` as the layout plugin: what a
    /// session does with its config file.
    pub fn start_with_config(config: &Config) -> Result<Bus, BusError> {
        let search = PluginSearch::new(&config.host.plugin_dirs);
        let specs = loader::load_configured(config, &search)?;
        Bus::start(specs, BusOptions::from_config(config))
    }

    /// Publishes an event to every running plugin subscribed to its kind and to every
    /// listener, in publication order. Never blocks on a plugin. A `session_started` event
    /// also sets the local user (the `from` of app and plugin commands).
    pub fn publish(&self, event: Event) {
        let shared = &self.shared;
        if let Event::SessionStarted { user, .. } = &event {
            *shared.local_user.write().unwrap_or_else(PoisonError::into_inner) = user.clone();
        }
        let subscribers = shared.subscribers.get(&event.kind()).map(Vec::as_slice).unwrap_or_default();
        let has_listeners = !shared.listeners.is_empty();
        if subscribers.is_empty() && !has_listeners {
            return;
        }
        let bytes: Option<EventBytes> = if subscribers.is_empty() {
            None
        } else {
            match serde_json::to_vec(&event) {
                Ok(bytes) => Some(bytes.into()),
                Err(e) => {
                    // Events are plain data; this cannot happen short of a bug in core.
                    tracing::error!(event = %event.kind(), "event cannot be serialized: {e}");
                    None
                }
            }
        };
        let _order = shared.publish_lock.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(bytes) = bytes {
            for &index in subscribers {
                let slot = &shared.plugins[index];
                if slot.running() && slot.events.push(bytes.clone()) {
                    slot.addr.do_send(PluginRequest::Drain);
                }
            }
        }
        if has_listeners && shared.listeners.mailbox.push(ListenerItem::Event(Arc::new(event))) {
            shared.listener_addr.do_send(ListenerRequest::Drain);
        }
    }

    /// Registers a listener under `id`. It receives every event published after this
    /// returns, in order, until [`Bus::remove_listener`]. A duplicate id is an error.
    pub fn add_listener(
        &self,
        id: impl Into<String>,
        listener: Arc<dyn CallsEventListener>,
    ) -> Result<(), ListenerError> {
        let id = id.into();
        let shared = &self.shared;
        let _order = shared.publish_lock.lock().unwrap_or_else(PoisonError::into_inner);
        shared.listeners.claim(&id)?;
        if shared.listeners.mailbox.push(ListenerItem::Add(id, listener)) {
            shared.listener_addr.do_send(ListenerRequest::Drain);
        }
        Ok(())
    }

    /// Unregisters the listener `id`: it receives nothing published after this returns.
    pub fn remove_listener(&self, id: &str) -> Result<(), ListenerError> {
        let shared = &self.shared;
        let _order = shared.publish_lock.lock().unwrap_or_else(PoisonError::into_inner);
        shared.listeners.release(id)?;
        if shared.listeners.mailbox.push(ListenerItem::Remove(id.to_owned())) {
            shared.listener_addr.do_send(ListenerRequest::Drain);
        }
        Ok(())
    }

    /// Sends host commands to the returned channel from now on (the session's), replacing
    /// any earlier one. Until this is called, and once the returned receiver is dropped,
    /// host commands fail with `CALL_SESSION_NOT_FOUND`.
    pub fn host_commands(&self) -> HostCommands {
        let (sender, receiver) = mpsc::unbounded_channel();
        *self.shared.host.write().unwrap_or_else(PoisonError::into_inner) = Some(sender);
        receiver
    }

    /// The local user: the `from` of app and plugin commands.
    pub fn local_user(&self) -> RtcUser {
        self.shared.local_user.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Sets the local user (also set by publishing `session_started`).
    pub fn set_local_user(&self, user: RtcUser) {
        *self.shared.local_user.write().unwrap_or_else(PoisonError::into_inner) = user;
    }

    /// The loaded plugins and their state, in load order.
    pub fn plugins(&self) -> Vec<PluginStatus> {
        self.shared
            .plugins
            .iter()
            .map(|slot| PluginStatus {
                descriptor: slot.descriptor(),
                state: match slot.state.load(Ordering::SeqCst) {
                    STATE_RUNNING => "running",
                    STATE_FAILED => "failed",
                    _ => "stopped",
                },
            })
            .collect()
    }

    /// The id of the plugin that provides `capability`, if any is loaded and running.
    pub fn provider(&self, capability: Capability) -> Option<String> {
        let index = if capability == Capability::Layout {
            self.shared.layout?
        } else {
            *self.shared.providers.get(&capability)?
        };
        let slot = &self.shared.plugins[index];
        slot.running().then(|| slot.id())
    }

    /// Carries out a command for the local user: see [`Bus::command_from`].
    pub async fn command(&self, command: Command) -> Result<(), CallsException> {
        self.command_from(command, self.local_user()).await
    }

    /// Carries out a command: host commands go to the host handler, capability commands to
    /// the plugin providing the capability. The answer is the handler's or the plugin's.
    /// Commands the plugin returns in its answer are routed on (their failures become
    /// `error` events).
    pub async fn command_from(&self, command: Command, from: RtcUser) -> Result<(), CallsException> {
        self.route(command, from, Origin::App).await
    }

    async fn route(&self, command: Command, from: RtcUser, origin: Origin) -> Result<(), CallsException> {
        let Some(capability) = command.capability() else {
            return self.to_host(command, from).await;
        };
        let Some(&index) = self.shared.providers.get(&capability) else {
            let mut exception = CallsException::new(
                ErrorCode::CapabilityMissing,
                format!(
                    "no loaded plugin provides the `{capability}` capability needed by `{}`",
                    command.name()
                ),
            );
            if let Origin::Plugin(plugin) = &origin {
                exception = exception.with_details(format!("command returned by plugin `{plugin}`"));
            }
            self.publish(Event::error(&exception));
            return Err(exception);
        };
        let reply = self.call(index, PluginRequest::Command { command, from }).await?;
        let id = self.shared.plugins[index].id();
        self.route_from_plugin(id, reply.commands);
        match reply.error {
            None => Ok(()),
            Some(e) => Err(e),
        }
    }

    async fn to_host(&self, command: Command, from: RtcUser) -> Result<(), CallsException> {
        let sender = self.shared.host.read().unwrap_or_else(PoisonError::into_inner).clone();
        let name = command.name();
        let not_found = |why: String| CallsException::new(ErrorCode::CallSessionNotFound, why);
        let Some(sender) = sender else {
            return Err(not_found(format!("no call session is running to carry out `{name}`")));
        };
        let (reply, answer) = oneshot::channel();
        if sender.send(HostRequest { command: HostCommand { command, from }, reply }).is_err() {
            return Err(not_found(format!("the call session has ended; `{name}` was not carried out")));
        }
        match tokio::time::timeout(self.shared.call_timeout, answer).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => Err(not_found(format!("the call session ended before it answered `{name}`"))),
            Err(_) => Err(not_found(format!(
                "the call session did not answer `{name}` within {:?}",
                self.shared.call_timeout
            ))),
        }
    }

    /// Sends a request to plugin `index` and waits for its answer (with the call timeout).
    async fn call(&self, index: usize, request: PluginRequest) -> Result<PluginReply, CallsException> {
        let slot = &self.shared.plugins[index];
        if !slot.running() {
            return Err(CallsException::new(
                ErrorCode::PluginFailed,
                format!("plugin `{}` has failed", slot.id()),
            )
            .with_details(slot.id()));
        }
        match slot.addr.send(request).timeout(self.shared.call_timeout).await {
            Ok(answer) => answer,
            Err(e) => Err(CallsException::new(
                ErrorCode::PluginFailed,
                format!("plugin `{}` did not answer: {e}", slot.id()),
            )
            .with_details(slot.id())),
        }
    }

    /// Routes commands a plugin returned, in order, on the system arbiter, so the plugin's
    /// thread never waits for them. Failures become `error` events.
    pub(crate) fn route_from_plugin(&self, plugin: String, commands: Vec<Command>) {
        if commands.is_empty() {
            return;
        }
        self.shared.in_flight.fetch_add(1, Ordering::SeqCst);
        let bus = self.clone();
        let origin = plugin.clone();
        let spawned = self.shared.arbiter.spawn(async move {
            let plugin = origin;
            let from = bus.local_user();
            for command in commands {
                let name = command.name();
                match bus.route(command, from.clone(), Origin::Plugin(plugin.clone())).await {
                    Ok(()) => {}
                    // Already published by `route`.
                    Err(e) if e.code == ErrorCode::CapabilityMissing => {}
                    Err(e) => {
                        tracing::warn!(plugin = %plugin, command = name, "command returned by plugin failed: {e}");
                        let details = format!("`{name}` returned by plugin `{plugin}`");
                        bus.publish(Event::error(&e.with_details(details)));
                    }
                }
            }
            bus.route_done();
        });
        if !spawned {
            tracing::error!(plugin = %plugin, "the actix system is gone; commands returned by the plugin are dropped");
            self.route_done();
        }
    }

    fn route_done(&self) {
        if self.shared.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.shared.idle.notify_waiters();
        }
    }

    fn layout_index(&self, what: &str) -> Result<usize, CallsException> {
        match self.shared.layout {
            Some(index) => Ok(index),
            None => {
                let exception = CallsException::new(
                    ErrorCode::CapabilityMissing,
                    match &self.shared.layout_name {
                        Some(name) => format!("{what} needs the layout plugin `{name}`, which is not loaded"),
                        None => format!("{what} needs a layout plugin and none is configured"),
                    },
                );
                self.publish(Event::error(&exception));
                Err(exception)
            }
        }
    }

    /// Lays out the call view through the layout plugin.
    pub async fn render(&self, request: ViewRequest) -> Result<View, CallsException> {
        let index = self.layout_index("rendering the call view")?;
        let reply = self.call(index, PluginRequest::Render { request: Box::new(request) }).await?;
        let id = self.shared.plugins[index].id();
        self.route_from_plugin(id.clone(), reply.commands);
        reply.view.ok_or_else(|| {
            CallsException::new(ErrorCode::PluginFailed, format!("layout plugin `{id}` returned no view"))
                .with_details(id)
        })
    }

    /// Hands UI input to the layout plugin; the commands it returns are routed.
    pub async fn input(&self, input: UiInput) -> Result<(), CallsException> {
        let index = self.layout_index("UI input")?;
        let reply = self.call(index, PluginRequest::Input { input }).await?;
        let id = self.shared.plugins[index].id();
        self.route_from_plugin(id, reply.commands);
        Ok(())
    }

    /// True when some running plugin wants media frames (the media engine can skip the tap
    /// otherwise).
    pub fn wants_media(&self) -> bool {
        self.shared.media_taps.iter().any(|&i| self.shared.plugins[i].running())
    }

    /// Hands a media tap frame to every running plugin that wants media. Never blocks.
    pub fn media(&self, frame: Arc<MediaTapFrame>) {
        for &index in &self.shared.media_taps {
            let slot = &self.shared.plugins[index];
            if slot.running() {
                slot.addr.do_send(PluginRequest::Media { frame: frame.clone() });
            }
        }
    }

    /// Waits until every event published before the call has been delivered to every
    /// running plugin and listener, and the commands plugins returned have been routed
    /// (with whatever they published in turn).
    pub async fn flush(&self) {
        loop {
            self.sync_all().await;
            let idle = self.shared.idle.notified();
            if self.shared.in_flight.load(Ordering::SeqCst) == 0 {
                // Routing may have published more; one more round delivers it.
                self.sync_all().await;
                if self.shared.in_flight.load(Ordering::SeqCst) == 0 {
                    return;
                }
                continue;
            }
            idle.await;
        }
    }

    /// Waits until every event published before the call has reached plugin `id`.
    pub async fn flush_plugin(&self, id: &str) -> Result<(), CallsException> {
        let Some(index) = self.shared.plugins.iter().position(|s| s.id() == id) else {
            return Err(CallsException::new(
                ErrorCode::InvalidArgument,
                format!("no plugin `{id}` is loaded"),
            ));
        };
        let slot = &self.shared.plugins[index];
        if slot.running() {
            // A failed plugin answers with an error; nothing is pending for it either way.
            let _ = slot.addr.send(PluginRequest::Sync).await;
        }
        Ok(())
    }

    async fn sync_all(&self) {
        for slot in &self.shared.plugins {
            if slot.running() {
                // A plugin failing meanwhile answers with an error: nothing to wait for.
                let _ = slot.addr.send(PluginRequest::Sync).await;
            }
        }
        // The listener thread last: plugin failures publish events it must see.
        let _ = self.shared.listener_addr.send(ListenerRequest::Sync).await;
    }

    /// Delivers what is pending, then destroys every plugin instance (each plugin's
    /// `shutdown` runs, e.g. the event log flushes). The bus delivers nothing afterwards.
    pub async fn shutdown(&self) {
        self.flush().await;
        for slot in &self.shared.plugins {
            if slot.state.load(Ordering::SeqCst) != STATE_STOPPED {
                let _ = slot.addr.send(PluginRequest::Shutdown).await;
            }
        }
        let _ = self.shared.listener_addr.send(ListenerRequest::Sync).await;
    }
}

#[cfg(test)]
mod tests {
    use super::actor::encode_events;
    use super::*;
    use switchboard_core::wire::{HostEnvelope, HostMessage};

    #[test]
    fn batches_are_byte_for_byte_host_envelopes() {
        let events = vec![
            Event::UserJoined { user: RtcUser::new("bob", "Bob") },
            Event::CallEnded,
            Event::ButtonPressed { id: "x".into() },
        ];
        let bytes: Vec<EventBytes> =
            events.iter().map(|e| serde_json::to_vec(e).expect("serializable").into()).collect();
        let mut out = Vec::new();
        encode_events(&bytes, &mut out);
        let expected =
            serde_json::to_vec(&HostEnvelope::new(HostMessage::Events { events })).expect("serializable");
        assert_eq!(String::from_utf8_lossy(&out), String::from_utf8_lossy(&expected));
    }
}
