//! UI press to host command: the part of "click to command" after the web page, in the
//! live UI of `switchboard run`.
//!
//! A `UiInput::ButtonPressed{mute_audio}` goes into [`LiveUi`]'s input stream (where the
//! web server puts what a page sends); the clock stops when the host handler (the session's
//! place on the bus) receives the `mute_audio` command. On the way: the UI loop publishes
//! `button_pressed`, the bus hands it to the real `layout-default` plugin through the ABI,
//! the plugin answers with the command, and the bus routes it to the host. The page's own
//! share (click to `UiInput`) is `web_input`'s figure; the two add up to click to command.
//!
//! `SWITCHBOARD_BENCH_PRESSES` presses (default 2000, 20 when run as a test by `cargo test
//! --all-targets`), after 50 unmeasured ones. Run with
//! `cargo bench -p switchboard-session --bench ui_command` (needs the workspace plugins built
//! in the same profile).

use std::time::{Duration, Instant};

use switchboard_config::Config;
use switchboard_core::Command;
use switchboard_core::view::UiInput;
use switchboard_runtime::bus::{Bus, BusOptions};
use switchboard_runtime::loader::{self, PluginSearch, PluginSpec};
use switchboard_session::live::LiveUi;
use switchboard_ui::web::{WebUi, WebUiConfig};
use tokio::sync::mpsc;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn main() {
    let benchmarking = std::env::args().any(|arg| arg == "--bench");
    let presses: usize = std::env::var("SWITCHBOARD_BENCH_PRESSES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if benchmarking { 2000 } else { 20 });

    switchboard_runtime::exec::block_on(async move {
        let path = PluginSearch::new(&[])
            .find("layout-default")
            .expect("the layout-default plugin is built by `cargo build --workspace` in the bench's profile");
        let library = loader::load(&path).expect("loading layout-default");
        let spec = PluginSpec::new(library, serde_json::json!({}));
        let config = Config::default();
        let bus = Bus::start(vec![spec], BusOptions::from_config(&config)).expect("starting the bus");
        let (arrived_tx, mut arrived) = mpsc::unbounded_channel();
        // Stands in for the session: reports when each command arrives, and accepts it.
        let mut commands = bus.host_commands();
        switchboard_runtime::exec::spawn(async move {
            while let Some(request) = commands.recv().await {
                let _ = arrived_tx.send((request.command.command.clone(), Instant::now()));
                request.answer(Ok(()));
            }
        });

        let (web, _unused_inputs) = WebUi::start(WebUiConfig::on_port(0)).await.expect("starting the web UI");
        let (inputs, ui_inputs) = mpsc::channel(256);
        let ui = LiveUi::new(config, bus.clone(), web.handle(), ui_inputs);
        switchboard_runtime::exec::spawn(ui.run());

        let mut ms = Vec::with_capacity(presses);
        for i in 0..(presses + 50) {
            let sent = Instant::now();
            inputs
                .send(UiInput::ButtonPressed { id: "mute_audio".into() })
                .await
                .expect("the UI loop is running");
            let (command, at) = tokio::time::timeout(Duration::from_secs(10), arrived.recv())
                .await
                .expect("the command reaches the host within 10 s")
                .expect("the host handler is alive");
            assert!(matches!(command, Command::MuteAudio { .. }), "{command:?}");
            if i >= 50 {
                ms.push(at.duration_since(sent).as_secs_f64() * 1000.0);
            }
        }
        ms.sort_by(f64::total_cmp);
        println!(
            "ui press -> host command  n={} p50={:.3} ms  p90={:.3} ms  p99={:.3} ms  max={:.3} ms",
            ms.len(),
            percentile(&ms, 50.0),
            percentile(&ms, 90.0),
            percentile(&ms, 99.0),
            ms[ms.len() - 1]
        );
        bus.shutdown().await;
        web.shutdown().await.expect("stopping the web UI");
    });
}
