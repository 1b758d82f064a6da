//! Benchmark of the call-event bus: events fanned out to 4 real C-ABI plugin actors, against
//! a plain `tokio::sync::broadcast` fan-out to 4 receivers, in the same run.
//!
//! Run with `cargo build --release --workspace && cargo bench -p switchboard-runtime --bench bus`.
//! The plugins are the workspace's release cdylibs; the bench binary finds them in
//! `target/release`. Without `--bench` (e.g. `cargo test --benches`) it runs a short smoke
//! version.
//!
//! The 4 plugins are four distinct fixtures for which the bench event (`user_joined`) is a
//! no-op: `fixture-noop`, `fixture-panic` (told to panic on `session_timeout` only),
//! `fixture-slow` (with `delay_ms = 0`) and `fixture-capability` (without a log file). Four
//! copies of one plugin are not possible: the bus refuses two plugins with one id.
//!
//! What is measured:
//! - throughput: one thread publishes N events as fast as it can; the clock stops when every
//!   plugin has handled every event (`Bus::flush`). deliveries/s = 4 N / elapsed.
//! - latency: one thread publishes events paced ~100 µs apart; for each event and plugin,
//!   the time from just before `publish` to the end of the plugin's `handle` call that
//!   delivered it (via `BusOptions::on_delivered`).
//! - the same two for broadcast: receivers on 4 threads (`blocking_recv`), like the bus's 4
//!   actor threads; latency is send -> receive.
//! - a reference: broadcast whose publisher serializes each event once and whose receivers
//!   decode the JSON, i.e. the same serde work the bus path does, without ABI or actors.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use switchboard_core::{Event, RtcUser};
use switchboard_runtime::bus::{Bus, BusOptions};
use switchboard_runtime::loader::{self, PluginSearch, PluginSpec};

/// A plugin to load and its settings.
type PluginSetup = (&'static str, fn() -> serde_json::Value);

const PLUGINS: [PluginSetup; 4] = [
    ("fixture-noop", || json!({})),
    ("fixture-panic", || json!({ "on": "session_timeout" })),
    ("fixture-slow", || json!({ "delay_ms": 0 })),
    ("fixture-capability", || json!({})),
];
const RECEIVERS: usize = 4;

fn event(i: u64) -> Event {
    Event::UserJoined {
        user: RtcUser {
            uid: format!("user-{i}"),
            name: "Participant Name".to_owned(),
            avatar: String::new(),
            resource: "web-1".to_owned(),
            joined_at: 1_767_225_600_000 + i,
        },
    }
}

struct Stats {
    deliveries_per_s: f64,
    ns_per_delivery: f64,
    cpu_ns_per_delivery: f64,
}

/// CPU time (user + system) used by this process so far, all threads together, from
/// `/proc/self/stat` (in clock ticks of 10 ms). On a machine shared with other work, CPU
/// time per delivery is steadier than wall time.
fn cpu_time() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return Duration::ZERO };
    // Fields after the command name, which is in parentheses and may contain spaces.
    let Some((_, rest)) = stat.rsplit_once(')') else { return Duration::ZERO };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line; `rest` starts at field 3.
    let ticks: u64 = [11, 12].iter().filter_map(|&i| fields.get(i)?.parse::<u64>().ok()).sum();
    Duration::from_millis(ticks * 10)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

fn report_latency(label: &str, mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    let (p50, p99) = (percentile(&samples, 0.50), percentile(&samples, 0.99));
    println!(
        "{label:<34} latency p50 {:>9.1} µs   p99 {:>9.1} µs   ({} samples)",
        p50.as_secs_f64() * 1e6,
        p99.as_secs_f64() * 1e6,
        samples.len()
    );
    (p50, p99)
}

fn report_throughput(label: &str, deliveries: u64, elapsed: Duration, cpu: Duration) -> Stats {
    let per_s = deliveries as f64 / elapsed.as_secs_f64();
    let ns = elapsed.as_secs_f64() * 1e9 / deliveries as f64;
    let cpu_ns = cpu.as_secs_f64() * 1e9 / deliveries as f64;
    println!(
        "{label:<34} {:>12.0} deliveries/s   {ns:>8.1} ns/delivery   {cpu_ns:>8.1} CPU ns/delivery   ({deliveries} in {:.3} s)",
        per_s,
        elapsed.as_secs_f64()
    );
    Stats { deliveries_per_s: per_s, ns_per_delivery: ns, cpu_ns_per_delivery: cpu_ns }
}

fn load_specs() -> Vec<PluginSpec> {
    let search = PluginSearch::new(&[]);
    PLUGINS
        .iter()
        .map(|(name, settings)| {
            let path = search.find(name).unwrap_or_else(|e| {
                eprintln!("{e}\nbuild the plugins first: cargo build --release --workspace");
                std::process::exit(2);
            });
            let library = loader::load(&path).unwrap_or_else(|e| {
                eprintln!("{e}");
                std::process::exit(2);
            });
            PluginSpec::new(library, settings())
        })
        .collect()
}

/// Per plugin: (when a batch was handled, how many events it had).
type Batches = Arc<Vec<Mutex<Vec<(Instant, usize)>>>>;

async fn wait_for(thread: &std::thread::JoinHandle<Vec<Instant>>) {
    // The publisher runs on its own thread so that this one (the actix system arbiter,
    // which forwards the doorbells) stays free.
    while !thread.is_finished() {
        actix::clock::sleep(Duration::from_millis(1)).await;
    }
}

async fn bench_bus(n: u64, paced: u64, rounds: usize) -> (Stats, (Duration, Duration)) {
    let batches: Batches = Arc::new((0..PLUGINS.len()).map(|_| Mutex::new(Vec::new())).collect());
    let recording = Arc::new(AtomicBool::new(false));
    let probe = {
        let batches = batches.clone();
        let recording = recording.clone();
        Arc::new(move |plugin: usize, count: usize| {
            if recording.load(Ordering::Relaxed) {
                batches[plugin].lock().expect("lock").push((Instant::now(), count));
            }
        })
    };
    let bus = Bus::start(load_specs(), BusOptions { on_delivered: Some(probe), ..BusOptions::default() })
        .expect("starting the bus");
    bus.flush().await;
    recording.store(true, Ordering::SeqCst);

    let mut best: Option<Stats> = None;
    for round in 0..rounds {
        for b in batches.iter() {
            b.lock().expect("lock").clear();
        }
        let events: Vec<Event> = (0..n).map(event).collect();
        let publisher = bus.clone();
        let start = Instant::now();
        let cpu_start = cpu_time();
        let thread = std::thread::spawn(move || {
            for e in events {
                publisher.publish(e);
            }
            Vec::new()
        });
        wait_for(&thread).await;
        bus.flush().await;
        let elapsed = start.elapsed();
        let cpu = cpu_time().saturating_sub(cpu_start);
        for (i, b) in batches.iter().enumerate() {
            let delivered: usize = b.lock().expect("lock").iter().map(|(_, c)| c).sum();
            assert_eq!(delivered as u64, n, "plugin {} got every event", PLUGINS[i].0);
        }
        let batches_per_plugin = batches[0].lock().expect("lock").len();
        let stats = report_throughput(
            &format!("bus, 4 plugin actors (round {})", round + 1),
            n * PLUGINS.len() as u64,
            elapsed,
            cpu,
        );
        println!("{:<34} {:.1} events per handle call on average", "", n as f64 / batches_per_plugin as f64);
        if best.as_ref().is_none_or(|b| stats.deliveries_per_s > b.deliveries_per_s) {
            best = Some(stats);
        }
    }

    for b in batches.iter() {
        b.lock().expect("lock").clear();
    }
    let publisher = bus.clone();
    let thread = std::thread::spawn(move || {
        let mut stamps = Vec::with_capacity(paced as usize);
        for i in 0..paced {
            let e = event(i);
            stamps.push(Instant::now());
            publisher.publish(e);
            std::thread::sleep(Duration::from_micros(100));
        }
        stamps
    });
    wait_for(&thread).await;
    let stamps = thread.join().expect("publisher");
    bus.flush().await;
    let mut samples = Vec::with_capacity(stamps.len() * PLUGINS.len());
    for b in batches.iter() {
        let mut next = 0usize;
        for &(at, count) in b.lock().expect("lock").iter() {
            for stamp in &stamps[next..next + count] {
                samples.push(at.duration_since(*stamp));
            }
            next += count;
        }
        assert_eq!(next, stamps.len());
    }
    let latency = report_latency("bus, paced", samples);
    bus.shutdown().await;
    (best.expect("at least one round"), latency)
}

#[derive(Clone, Copy, PartialEq)]
enum Work {
    /// Receivers take the `Arc<Event>` and do nothing: the plain fan-out.
    Plain,
    /// The publisher serializes once, receivers decode: the bus's serde work.
    Decode,
}

#[derive(Clone)]
enum Payload {
    Event(Arc<Event>),
    Bytes(Arc<[u8]>),
}

fn bench_broadcast(n: u64, paced: u64, rounds: usize, work: Work) -> (Stats, (Duration, Duration)) {
    let label = match work {
        Work::Plain => "tokio broadcast, 4 receivers",
        Work::Decode => "broadcast + JSON encode/decode",
    };
    let run = |count: u64, pace: Option<Duration>| -> (Duration, Duration, Vec<Duration>) {
        let cpu_start = cpu_time();
        // Capacity for every message: a lagging receiver would lose messages, not wait.
        let (tx, _) = tokio::sync::broadcast::channel::<(Instant, Payload)>(count as usize + 1);
        let receivers: Vec<_> = (0..RECEIVERS)
            .map(|_| {
                let mut rx = tx.subscribe();
                let keep = pace.is_some();
                std::thread::spawn(move || {
                    let mut latencies = Vec::new();
                    let mut got = 0u64;
                    while let Ok((stamp, payload)) = rx.blocking_recv() {
                        match &payload {
                            Payload::Event(event) => {
                                std::hint::black_box(event);
                            }
                            Payload::Bytes(bytes) => {
                                let decoded: Event = serde_json::from_slice(bytes).expect("valid event");
                                std::hint::black_box(decoded);
                            }
                        }
                        if keep {
                            latencies.push(stamp.elapsed());
                        }
                        got += 1;
                    }
                    (got, latencies)
                })
            })
            .collect();
        let start = Instant::now();
        for i in 0..count {
            let e = event(i);
            let stamp = Instant::now();
            let payload = match work {
                Work::Plain => Payload::Event(Arc::new(e)),
                Work::Decode => Payload::Bytes(serde_json::to_vec(&e).expect("serializable").into()),
            };
            tx.send((stamp, payload)).map_err(|_| "no receivers").expect("receivers are alive");
            if let Some(pace) = pace {
                std::thread::sleep(pace);
            }
        }
        drop(tx);
        let mut samples = Vec::new();
        for r in receivers {
            let (got, latencies) = r.join().expect("receiver");
            assert_eq!(got, count, "every receiver got every message");
            samples.extend(latencies);
        }
        (start.elapsed(), cpu_time().saturating_sub(cpu_start), samples)
    };
    let mut best: Option<Stats> = None;
    for round in 0..rounds {
        let (elapsed, cpu, _) = run(n, None);
        let stats =
            report_throughput(&format!("{label} (round {})", round + 1), n * RECEIVERS as u64, elapsed, cpu);
        if best.as_ref().is_none_or(|b| stats.deliveries_per_s > b.deliveries_per_s) {
            best = Some(stats);
        }
    }
    let (_, _, samples) = run(paced, Some(Duration::from_micros(100)));
    let latency = report_latency(&format!("{label}, paced"), samples);
    (best.expect("at least one round"), latency)
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (n, paced, rounds) = if full { (200_000, 20_000, 3) } else { (2_000, 200, 1) };
    println!("bus benchmark: {n} events per throughput round, {paced} paced events for latency\n");

    let (bus, bus_latency) = actix::System::new().block_on(async move { bench_bus(n, paced, rounds).await });
    let (plain, plain_latency) = bench_broadcast(n, paced, rounds, Work::Plain);
    let (decode, _) = bench_broadcast(n, paced, rounds, Work::Decode);

    println!("\nsummary (best round)");
    println!("| path | deliveries/s | ns/delivery (wall) | CPU ns/delivery | p50 | p99 |");
    println!("|---|---:|---:|---:|---:|---:|");
    let row = |name: &str, s: &Stats, l: Option<(Duration, Duration)>| {
        let (p50, p99) = l.map_or(("-".to_owned(), "-".to_owned()), |(a, b)| {
            (format!("{:.1} µs", a.as_secs_f64() * 1e6), format!("{:.1} µs", b.as_secs_f64() * 1e6))
        });
        println!(
            "| {name} | {:.0} | {:.1} | {:.1} | {p50} | {p99} |",
            s.deliveries_per_s, s.ns_per_delivery, s.cpu_ns_per_delivery
        );
    };
    row("bus -> 4 C-ABI plugin actors", &bus, Some(bus_latency));
    row("tokio broadcast -> 4 receivers", &plain, Some(plain_latency));
    row("broadcast + JSON encode/decode (reference)", &decode, None);
    println!(
        "\ncost ratio bus / broadcast per delivery: {:.1}x wall, {:.1}x CPU (target <= 5x)",
        bus.ns_per_delivery / plain.ns_per_delivery,
        bus.cpu_ns_per_delivery / plain.cpu_ns_per_delivery,
    );
    println!(
        "cost ratio bus / same-serde reference: {:.1}x wall, {:.1}x CPU",
        bus.ns_per_delivery / decode.ns_per_delivery,
        bus.cpu_ns_per_delivery / decode.cpu_ns_per_delivery,
    );
    println!(
        "target >= 1,000,000 deliveries/s: {}",
        if bus.deliveries_per_s >= 1_000_000.0 { "met" } else { "missed" }
    );
}
