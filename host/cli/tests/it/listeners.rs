//! The app-facing listener API on a running bus.

use std::sync::{Arc, Mutex};

use serde_json::json;
use switchboard_core::{Event, RtcUser};
use switchboard_runtime::bus::{Bus, BusOptions};
use switchboard_runtime::listeners::{CallsEventListener, ListenerError};

use crate::fixtures::{logged_events, recorder, spec};

/// Writes `"<label>:<what>"` into a shared trace, through the seed-style methods.
struct Tagged {
    label: &'static str,
    trace: Arc<Mutex<Vec<String>>>,
}

impl CallsEventListener for Tagged {
    fn on_user_joined(&self, user: &RtcUser) {
        self.trace.lock().expect("lock").push(format!("{}:joined:{}", self.label, user.uid));
    }
    fn on_call_ended(&self) {
        self.trace.lock().expect("lock").push(format!("{}:ended", self.label));
    }
    fn on_session_timeout(&self) {
        self.trace.lock().expect("lock").push(format!("{}:timeout", self.label));
    }
}

#[actix::test]
async fn several_listeners_get_each_event_in_registration_order() {
    let bus = Bus::start(vec![], BusOptions::default()).expect("start");
    let trace = Arc::new(Mutex::new(Vec::new()));
    bus.add_listener("a", Arc::new(Tagged { label: "a", trace: trace.clone() })).expect("add a");
    bus.add_listener("b", Arc::new(Tagged { label: "b", trace: trace.clone() })).expect("add b");

    bus.publish(Event::UserJoined { user: RtcUser::new("bob", "Bob") });
    bus.publish(Event::CallEnded);
    bus.flush().await;
    assert_eq!(*trace.lock().expect("lock"), vec!["a:joined:bob", "b:joined:bob", "a:ended", "b:ended"]);

    let duplicate = bus.add_listener("a", Arc::new(Tagged { label: "a2", trace: trace.clone() }));
    assert_eq!(duplicate, Err(ListenerError::DuplicateId { id: "a".into() }));

    bus.remove_listener("a").expect("remove a");
    assert_eq!(bus.remove_listener("a"), Err(ListenerError::UnknownId { id: "a".into() }));
    trace.lock().expect("lock").clear();
    bus.publish(Event::SessionTimeout);
    bus.flush().await;
    assert_eq!(*trace.lock().expect("lock"), vec!["b:timeout"]);

    // The id is free again, and the new listener sees only what comes after it.
    bus.add_listener("a", Arc::new(Tagged { label: "a3", trace: trace.clone() })).expect("re-add a");
    bus.publish(Event::CallEnded);
    bus.flush().await;
    assert_eq!(*trace.lock().expect("lock"), vec!["b:timeout", "b:ended", "a3:ended"]);
}

#[actix::test]
async fn listeners_see_exactly_the_bus_stream() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("events.jsonl");
    let bus = Bus::start(
        vec![spec("fixture-panic", json!({ "on": "user_left" })), spec("event-log", json!({ "path": log }))],
        BusOptions::default(),
    )
    .expect("start");
    // Flush the start-up statuses first: the listener is added after them.
    bus.flush().await;
    let (listener, seen) = recorder();
    bus.add_listener("all", listener).expect("add");

    bus.publish(Event::UserJoined { user: RtcUser::new("bob", "Bob") });
    bus.publish(Event::UserLeft { user: RtcUser::new("bob", "Bob") });
    bus.publish(Event::PipModeChanged { active: true });
    bus.flush().await;

    // event-log subscribes to every kind, so it sees the bus stream; the listener must see
    // the same, including what the bus itself raised (the panic's error and status events).
    let listener_saw: Vec<Event> = seen
        .lock()
        .expect("lock")
        .iter()
        .filter(|e| !matches!(e, Event::PluginStatusChanged { .. }))
        .cloned()
        .collect();
    assert_eq!(listener_saw, logged_events(&log));
    assert!(listener_saw.len() >= 4, "{listener_saw:?}");
}

#[actix::test]
async fn a_panicking_listener_does_not_stop_the_others() {
    struct Bad;
    impl CallsEventListener for Bad {
        fn on_call_ended(&self) {
            panic!("listener bug");
        }
    }
    let bus = Bus::start(vec![], BusOptions::default()).expect("start");
    bus.add_listener("bad", Arc::new(Bad)).expect("add");
    let (listener, seen) = recorder();
    bus.add_listener("good", listener).expect("add");
    bus.publish(Event::CallEnded);
    bus.publish(Event::SessionTimeout);
    bus.flush().await;
    assert_eq!(*seen.lock().expect("lock"), vec![Event::CallEnded, Event::SessionTimeout]);
}
