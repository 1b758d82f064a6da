//! The app-facing listener API, mirroring the seed's `addCallsEventListeners`.
//!
//! An app implements [`CallsEventListener`] (every method has a no-op default, as in the
//! seed's `CometChatCallsEventsListener`) and registers it on the bus under an id with
//! [`Bus::add_listener`](crate::bus::Bus::add_listener); it removes it with
//! [`Bus::remove_listener`](crate::bus::Bus::remove_listener). Listeners see exactly the
//! bus's event stream: the same events plugins get, in publication order, from the moment
//! `add_listener` returns until `remove_listener` returns. Several listeners receive each
//! event in registration order.
//!
//! Listeners run on one dedicated thread, never on the caller's: a listener may block
//! (write a file, say) without stalling the bus or the plugins, and may call back into the
//! bus (publish, add or remove listeners) without deadlock.

use std::collections::BTreeSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, PoisonError};

use actix::{Actor, Handler, Message, SyncContext};
use switchboard_core::model::{CallSwitchRequestInfo, RtcMutedUser, RtcRecordingInfo};
use switchboard_core::{AudioMode, CallsException, Event, RtcUser};

use crate::mailbox::Mailbox;

/// Receives call events. Mirrors the seed's listener: one method per seed event, each with
/// a no-op default, plus [`on_event`](CallsEventListener::on_event) for everything.
///
/// For each event the bus calls `on_event` first (for every event, the project's additions
/// included), then the seed method matching the event, if any. An app that wants the raw
/// stream implements `on_event` only; one that mirrors the seed implements the rest.
///
/// A panic in a listener is caught and logged; the listener stays registered.
#[allow(unused_variables)]
pub trait CallsEventListener: Send + Sync + 'static {
    /// Every event, before the seed-specific method.
    fn on_event(&self, event: &Event) {}
    /// A call between exactly two users ended.
    fn on_call_ended(&self) {}
    /// The local user pressed end or left.
    fn on_call_end_button_pressed(&self) {}
    /// Another user joined.
    fn on_user_joined(&self, user: &RtcUser) {}
    /// A user left.
    fn on_user_left(&self, user: &RtcUser) {}
    /// Everyone now in the call, after every join or leave.
    fn on_user_list_changed(&self, users: &[RtcUser]) {}
    /// An audio output became available or unavailable.
    fn on_audio_mode_changed(&self, modes: &[AudioMode]) {}
    /// An audio call was switched to video.
    fn on_call_switched_to_video(&self, info: &CallSwitchRequestInfo) {}
    /// A user was muted.
    fn on_user_muted(&self, info: &RtcMutedUser) {}
    /// Recording started or stopped.
    fn on_recording_toggled(&self, info: &RtcRecordingInfo) {}
    /// Something failed.
    fn on_error(&self, error: &CallsException) {}
    /// The idle timeout ended the call.
    fn on_session_timeout(&self) {}
}

/// Calls the methods of `listener` that match `event`: `on_event`, then the seed method.
pub fn dispatch(listener: &dyn CallsEventListener, event: &Event) {
    listener.on_event(event);
    match event {
        Event::CallEnded => listener.on_call_ended(),
        Event::CallEndButtonPressed => listener.on_call_end_button_pressed(),
        Event::UserJoined { user } => listener.on_user_joined(user),
        Event::UserLeft { user } => listener.on_user_left(user),
        Event::UserListChanged { users } => listener.on_user_list_changed(users),
        Event::AudioModeChanged { modes } => listener.on_audio_mode_changed(modes),
        Event::CallSwitchedToVideo { session_id, request_initiated_by, request_accepted_by } => listener
            .on_call_switched_to_video(&CallSwitchRequestInfo {
                session_id: session_id.clone(),
                request_initiated_by: request_initiated_by.clone(),
                request_accepted_by: request_accepted_by.clone(),
            }),
        Event::UserMuted { muted, muted_by } => {
            listener.on_user_muted(&RtcMutedUser { muted: muted.clone(), muted_by: muted_by.clone() })
        }
        Event::RecordingToggled { recording_started, user } => {
            listener.on_recording_toggled(&RtcRecordingInfo {
                recording_started: *recording_started,
                user: user.clone(),
            })
        }
        Event::Error { code, message, details } => listener.on_error(&CallsException {
            code: *code,
            message: message.clone(),
            details: details.clone(),
        }),
        Event::SessionTimeout => listener.on_session_timeout(),
        _ => {}
    }
}

/// A listener made of a closure that sees every event.
pub struct FnListener<F>(pub F);

impl<F> std::fmt::Debug for FnListener<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FnListener")
    }
}

impl<F: Fn(&Event) + Send + Sync + 'static> CallsEventListener for FnListener<F> {
    fn on_event(&self, event: &Event) {
        (self.0)(event)
    }
}

/// Why a listener could not be added or removed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListenerError {
    /// A listener is already registered under this id.
    #[error("a listener is already registered under id `{id}`")]
    DuplicateId {
        /// The id.
        id: String,
    },
    /// No listener is registered under this id.
    #[error("no listener is registered under id `{id}`")]
    UnknownId {
        /// The id.
        id: String,
    },
}

/// What flows to the listener thread, in bus order.
pub(crate) enum ListenerItem {
    Event(Arc<Event>),
    Add(String, Arc<dyn CallsEventListener>),
    Remove(String),
}

/// The bus side of the listeners: the set of ids (checked synchronously, so a duplicate is
/// an error at once) and the ordered queue to the listener thread.
pub(crate) struct ListenerHub {
    ids: Mutex<BTreeSet<String>>,
    pub(crate) mailbox: Arc<Mailbox<ListenerItem>>,
}

impl std::fmt::Debug for ListenerHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenerHub").field("ids", &self.ids).finish()
    }
}

impl ListenerHub {
    pub(crate) fn new() -> Self {
        Self { ids: Mutex::new(BTreeSet::new()), mailbox: Arc::new(Mailbox::new()) }
    }

    /// Registers `id`, or fails on a duplicate. The caller then queues [`ListenerItem::Add`]
    /// in bus order.
    pub(crate) fn claim(&self, id: &str) -> Result<(), ListenerError> {
        let mut ids = self.ids.lock().unwrap_or_else(PoisonError::into_inner);
        if !ids.insert(id.to_owned()) {
            return Err(ListenerError::DuplicateId { id: id.to_owned() });
        }
        Ok(())
    }

    /// Unregisters `id`, or fails when unknown. The caller then queues
    /// [`ListenerItem::Remove`] in bus order.
    pub(crate) fn release(&self, id: &str) -> Result<(), ListenerError> {
        let mut ids = self.ids.lock().unwrap_or_else(PoisonError::into_inner);
        if !ids.remove(id) {
            return Err(ListenerError::UnknownId { id: id.to_owned() });
        }
        Ok(())
    }

    /// True when no listener is registered (publishing can skip the listener queue).
    pub(crate) fn is_empty(&self) -> bool {
        self.ids.lock().unwrap_or_else(PoisonError::into_inner).is_empty()
    }
}

/// The listener thread's mailbox.
#[derive(Debug)]
pub(crate) enum ListenerRequest {
    /// Process the queued items (the doorbell).
    Drain,
    /// Process the queued items, then answer: a barrier for `Bus::flush`.
    Sync,
}

impl Message for ListenerRequest {
    type Result = ();
}

/// Calls the registered listeners, in registration order, on its own thread.
pub(crate) struct ListenerActor {
    mailbox: Arc<Mailbox<ListenerItem>>,
    listeners: Vec<(String, Arc<dyn CallsEventListener>)>,
    batch: Vec<ListenerItem>,
}

impl std::fmt::Debug for ListenerActor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenerActor").field("listeners", &self.listeners.len()).finish()
    }
}

impl ListenerActor {
    pub(crate) fn new(mailbox: Arc<Mailbox<ListenerItem>>) -> Self {
        Self { mailbox, listeners: Vec::new(), batch: Vec::new() }
    }

    fn drain(&mut self) {
        let mut batch = std::mem::take(&mut self.batch);
        self.mailbox.drain_into(&mut batch);
        for item in batch.drain(..) {
            match item {
                ListenerItem::Add(id, listener) => self.listeners.push((id, listener)),
                ListenerItem::Remove(id) => self.listeners.retain(|(i, _)| *i != id),
                ListenerItem::Event(event) => {
                    for (id, listener) in &self.listeners {
                        // An app bug must not stop the other listeners or the bus.
                        let outcome = catch_unwind(AssertUnwindSafe(|| dispatch(listener.as_ref(), &event)));
                        if outcome.is_err() {
                            tracing::error!(listener = %id, event = %event.kind(), "listener panicked");
                        }
                    }
                }
            }
        }
        self.batch = batch;
    }
}

impl Actor for ListenerActor {
    type Context = SyncContext<Self>;
}

impl Handler<ListenerRequest> for ListenerActor {
    type Result = ();

    fn handle(&mut self, _request: ListenerRequest, _ctx: &mut SyncContext<Self>) {
        self.drain();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_core::ErrorCode;

    #[derive(Default)]
    struct Seen(Mutex<Vec<String>>);

    impl CallsEventListener for Seen {
        fn on_event(&self, event: &Event) {
            self.0.lock().expect("lock").push(format!("event:{}", event.kind()));
        }
        fn on_user_joined(&self, user: &RtcUser) {
            self.0.lock().expect("lock").push(format!("joined:{}", user.uid));
        }
        fn on_user_muted(&self, info: &RtcMutedUser) {
            self.0.lock().expect("lock").push(format!("muted:{}/{}", info.muted.uid, info.muted_by.uid));
        }
        fn on_error(&self, error: &CallsException) {
            self.0.lock().expect("lock").push(format!("error:{}", error.code));
        }
    }

    #[test]
    fn dispatch_calls_on_event_then_the_seed_method() {
        let seen = Seen::default();
        dispatch(&seen, &Event::UserJoined { user: RtcUser::new("bob", "Bob") });
        dispatch(
            &seen,
            &Event::UserMuted { muted: RtcUser::new("bob", "Bob"), muted_by: RtcUser::new("amy", "Amy") },
        );
        dispatch(
            &seen,
            &Event::Error { code: ErrorCode::PluginFailed, message: "x".into(), details: String::new() },
        );
        dispatch(&seen, &Event::PipModeChanged { active: true });
        assert_eq!(
            *seen.0.lock().expect("lock"),
            vec![
                "event:user_joined",
                "joined:bob",
                "event:user_muted",
                "muted:bob/amy",
                "event:error",
                "error:PLUGIN_FAILED",
                "event:pip_mode_changed",
            ]
        );
    }

    #[test]
    fn ids_are_unique() {
        let hub = ListenerHub::new();
        hub.claim("a").expect("first");
        assert_eq!(hub.claim("a"), Err(ListenerError::DuplicateId { id: "a".into() }));
        hub.release("a").expect("registered");
        assert_eq!(hub.release("a"), Err(ListenerError::UnknownId { id: "a".into() }));
        hub.claim("a").expect("free again");
    }
}
