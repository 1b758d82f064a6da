//! Benchmark of one event's round trip to a plugin, in process against out of process.
//!
//! Run with `cargo build --release --workspace && cargo bench -p switchboard --bench
//! isolation`. The plugin is the release `fixture-noop` cdylib (found in `target/release`);
//! the out-of-process child is the release `switchboard` binary (`plugin-host`). Without
//! `--bench` (e.g. `cargo test --benches`) it runs a short smoke version.
//!
//! What is measured: the time of one `handle` call carrying a one-event `events` envelope
//! (`user_joined`, ~100 bytes of JSON) and returning the decoded (empty) reply, on one thread,
//! back to back. In process that is the C call; out of process it adds the request frame
//! written to the pipe, the child's wake-up, its C call, the reply frame and the host's
//! `poll` + read. This is the cost per event an isolated plugin pays (the bus sends an
//! isolated plugin one event per message).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::json;
use switchboard_core::wire::{HostEnvelope, HostMessage};
use switchboard_core::{Event, RtcUser};
use switchboard_runtime::instance::{self, PluginHandle};
use switchboard_runtime::isolation::IsolationPolicy;
use switchboard_runtime::loader::{self, PluginSearch};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn measure(instance: &mut dyn PluginHandle, message: &[u8], warmup: usize, samples: usize) -> Vec<Duration> {
    for _ in 0..warmup {
        instance.handle_bytes(message).expect("handles");
    }
    let mut times = Vec::with_capacity(samples);
    for _ in 0..samples {
        let start = Instant::now();
        instance.handle_bytes(message).expect("handles");
        times.push(start.elapsed());
    }
    times.sort();
    times
}

fn us(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e6)
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (warmup, samples) = if full { (2_000, 50_000) } else { (50, 500) };
    let path = PluginSearch::new(&[]).find("fixture-noop").expect("build the workspace first: fixture-noop");
    let library = loader::load(&path).expect("loads");
    let event = Event::UserJoined { user: RtcUser::new("bob", "Bob") };
    let message = serde_json::to_vec(&HostEnvelope::new(HostMessage::Events { events: vec![event] }))
        .expect("serializable");

    println!(
        "event round trip, {samples} samples after {warmup} warm-up ({} bytes per message)",
        message.len()
    );
    println!("| mode | mean µs | p50 µs | p99 µs | p99.9 µs | max µs |");
    println!("|---|---|---|---|---|---|");
    let modes = [
        ("in-process", IsolationPolicy::default()),
        ("out-of-process", IsolationPolicy::process(Some(PathBuf::from(env!("CARGO_BIN_EXE_switchboard"))))),
    ];
    for (name, policy) in modes {
        let mut instance = instance::create(library.clone(), &json!({}), &policy).expect("creates");
        let times = measure(instance.as_mut(), &message, warmup, samples);
        let mean = times.iter().sum::<Duration>() / times.len() as u32;
        println!(
            "| {name} | {} | {} | {} | {} | {} |",
            us(mean),
            us(percentile(&times, 0.50)),
            us(percentile(&times, 0.99)),
            us(percentile(&times, 0.999)),
            us(*times.last().expect("samples"))
        );
        instance.destroy().expect("destroys");
    }
}
