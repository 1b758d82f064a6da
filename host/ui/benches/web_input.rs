//! Click latency of the web UI: from a mouse click in headless Chromium to the UiInput on
//! the host's stream.
//!
//! Two figures per click, over `SWITCHBOARD_BENCH_CLICKS` clicks (default 200, 10 when run as a
//! test by `cargo test --all-targets`):
//! - "page click -> host": from the page's `click` event (its `event.timeStamp` on the
//!   wall clock, `performance.timeOrigin + timeStamp`) to the UiInput arriving on the mpsc
//!   stream (host wall clock). Same machine, same clock; the browser coarsens it to 0.1 ms.
//! - "CDP release -> host": from the host sending the CDP mouse-release command to the
//!   UiInput arriving. This adds the automation hop (host -> Chromium browser process ->
//!   renderer) on top of the first figure, so it is an upper bound.
//!
//! Run with `cargo bench -p switchboard-ui --bench web_input`.

#[path = "../../cli/tests/it/web/browser.rs"]
mod browser;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chromiumoxide::cdp::browser_protocol::input::{
    DispatchMouseEventParams, DispatchMouseEventType, MouseButton,
};
use switchboard_core::view::{Button, Rect, UiInput, View};
use switchboard_ui::web::{WebUi, WebUiConfig};

use browser::{Chromium, WAIT, eval_json, wait_until};

fn mouse(kind: DispatchMouseEventType, x: f64, y: f64) -> DispatchMouseEventParams {
    DispatchMouseEventParams::builder()
        .r#type(kind)
        .x(x)
        .y(y)
        .button(MouseButton::Left)
        .buttons(1)
        .click_count(1)
        .build()
        .expect("a complete mouse event")
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn report(name: &str, mut ms: Vec<f64>) {
    ms.sort_by(f64::total_cmp);
    println!(
        "{name:<22} n={:<4} p50={:.3} ms  p90={:.3} ms  p99={:.3} ms  max={:.3} ms",
        ms.len(),
        percentile(&ms, 50.0),
        percentile(&ms, 90.0),
        percentile(&ms, 99.0),
        ms[ms.len() - 1]
    );
}

fn epoch_ms() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("the clock is after 1970").as_secs_f64() * 1000.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this binary without
    // it, and then a short smoke run is enough. A filter argument is not supported.
    let benchmarking = std::env::args().any(|arg| arg == "--bench");
    let clicks: usize = std::env::var("SWITCHBOARD_BENCH_CLICKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if benchmarking { 200 } else { 10 });
    let (ui, mut inputs) = WebUi::start(WebUiConfig::on_port(0)).await.expect("starting the web UI");
    ui.set_view(View {
        width: 800.0,
        height: 600.0,
        tiles: Vec::new(),
        buttons: vec![Button {
            id: "mute_audio".into(),
            label: "Mute".into(),
            icon: String::new(),
            enabled: true,
            toggled: false,
        }],
        button_bar: Some(Rect::new(0.0, 520.0, 800.0, 80.0)),
        overlays: Vec::new(),
    });
    let chromium = Chromium::launch(800, 600).await;
    let page = chromium.open(&ui.url()).await;
    wait_until(&page, "document.body.dataset.views >= 1", "the page drew the view").await;
    let resized = tokio::time::timeout(WAIT, inputs.recv()).await.expect("window size").expect("stream open");
    assert!(matches!(resized, UiInput::WindowResized { .. }), "{resized:?}");

    let point: (f64, f64) = eval_json(
        &page,
        "(() => { const r = document.querySelector('[data-testid=\"button-mute_audio\"]').getBoundingClientRect(); \
           return [r.x + r.width / 2, r.y + r.height / 2]; })()",
    )
    .await;
    page.execute(mouse(DispatchMouseEventType::MouseMoved, point.0, point.1))
        .await
        .expect("moving the mouse");

    let mut page_to_host = Vec::with_capacity(clicks);
    let mut cdp_to_host = Vec::with_capacity(clicks);
    // A few unmeasured clicks first: the first ones pay for lazy set-up in the browser.
    for i in 0..clicks + 10 {
        page.execute(mouse(DispatchMouseEventType::MousePressed, point.0, point.1))
            .await
            .expect("mouse press");
        let sent = Instant::now();
        let arrived = async {
            let input = inputs.recv().await.expect("stream open");
            (input, Instant::now(), epoch_ms())
        };
        let (released, (input, at, at_epoch)) = tokio::join!(
            page.execute(mouse(DispatchMouseEventType::MouseReleased, point.0, point.1)),
            arrived
        );
        released.expect("mouse release");
        assert_eq!(input, UiInput::ButtonPressed { id: "mute_audio".into() });
        let clicked_at: f64 = eval_json(&page, "window.__switchboard.lastEventAt").await;
        if i >= 10 {
            cdp_to_host.push((at - sent).as_secs_f64() * 1000.0);
            page_to_host.push(at_epoch - clicked_at);
        }
        // Clicks further apart than a double click, so that each is a fresh click.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    report("page click -> host", page_to_host);
    report("CDP release -> host", cdp_to_host);
    chromium.close().await;
    ui.shutdown().await.expect("stopping the web UI");
}
