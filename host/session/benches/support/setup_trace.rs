//! Collects the call-setup steps traced with target `switchboard::setup` (see
//! `switchboard_signaling::SETUP_TRACE`) with the time each was emitted, and turns one
//! run's steps into labelled times from the start of the run, for the itemised setup
//! table of `call_setup`. Included with `#[path]`.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;
use std::sync::Mutex;
use std::time::Instant;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

/// One traced step.
#[derive(Debug, Default, Clone)]
pub struct Mark {
    pub at: Option<Instant>,
    pub fields: BTreeMap<&'static str, String>,
}

static MARKS: Mutex<Vec<Mark>> = Mutex::new(Vec::new());

struct Collect;

impl Visit for Mark {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.fields.insert(field.name(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.fields.insert(field.name(), value.to_owned());
    }
}

impl<S: Subscriber> Layer<S> for Collect {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        // Stamped first: the step happened when its event was emitted.
        let mut mark = Mark { at: Some(Instant::now()), ..Default::default() };
        event.record(&mut mark);
        MARKS.lock().expect("marks").push(mark);
    }
}

/// Installs the collector as the global subscriber (setup steps only).
pub fn install() {
    let only_setup = tracing_subscriber::filter::filter_fn(|m| m.target() == "switchboard::setup");
    tracing_subscriber::registry().with(Collect.with_filter(only_setup)).init();
}

/// Forgets every step collected so far.
pub fn clear() {
    MARKS.lock().expect("marks").clear();
}

/// The steps since `start`, each labelled `who: stage [detail]` (first occurrence of each
/// label), in ms from `start`. Who: the `who` or `uid` field, else the role of the link
/// (the link that made the offer is `offerer`'s, the one that applied it `answerer`'s),
/// else `server` for relays and `offerer` otherwise (only the offerer starts in a run).
pub fn steps_since(start: Instant, offerer: &str, answerer: &str) -> HashMap<String, f64> {
    let marks: Vec<Mark> = MARKS.lock().expect("marks").clone();
    let mut roles: HashMap<String, &str> = HashMap::new();
    for mark in &marks {
        match (mark.fields.get("stage").map(String::as_str), mark.fields.get("link")) {
            (Some("offer ready"), Some(link)) => {
                roles.insert(link.clone(), offerer);
            }
            (Some("offer applied"), Some(link)) => {
                roles.insert(link.clone(), answerer);
            }
            _ => {}
        }
    }
    let mut steps = HashMap::new();
    for mark in marks {
        let Some(at) = mark.at.filter(|at| *at >= start) else { continue };
        let f = &mark.fields;
        let stage = f.get("stage").cloned().unwrap_or_default();
        let who = f
            .get("who")
            .or(f.get("uid"))
            .map(String::as_str)
            .or_else(|| f.get("link").and_then(|l| roles.get(l).copied()))
            .unwrap_or(if stage == "server relays" { "server" } else { offerer });
        let detail = f.get("kind").or(f.get("state")).map(|d| format!(" ({d})")).unwrap_or_default();
        let label = format!("{who}: {stage}{detail}");
        let ms = (at - start).as_secs_f64() * 1000.0;
        steps.entry(label).or_insert(ms);
    }
    steps
}
