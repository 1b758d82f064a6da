//! The web renderer in real headless Chromium: views drawn, frames shown, input sent back.

pub mod browser;
mod security;

use std::path::PathBuf;
use std::time::Duration;

use chromiumoxide::cdp::browser_protocol::input::{
    DispatchMouseEventParams, DispatchMouseEventType, MouseButton,
};
use chromiumoxide::cdp::browser_protocol::page::CaptureScreenshotFormat;
use chromiumoxide::page::{Page, ScreenshotParams};
use serde::Deserialize;
use switchboard_core::settings::{AspectRatio, AvatarMode, Position};
use switchboard_core::view::{
    Button, NameLabel, Overlay, Rect, Tile, TileContent, TileControl, UiInput, View,
};
use switchboard_ui::web::{CallInfo, VideoFrame, WebUi, WebUiConfig};
use tokio::sync::{Semaphore, mpsc};

use browser::{Chromium, WAIT, eval_json, wait_until};

const WIDTH: u32 = 1280;
const HEIGHT: u32 = 720;

/// At most two Chromiums at once: the test machines have two cores.
static BROWSERS: Semaphore = Semaphore::const_new(2);

fn tile(uid: &str, rect: Rect, z: i32, content: TileContent) -> Tile {
    Tile {
        uid: uid.into(),
        rect,
        z,
        content,
        name_label: Some(NameLabel {
            text: uid[..1].to_uppercase() + &uid[1..],
            position: Position::BottomLeft,
            background_color: "#333333".into(),
        }),
        muted: false,
        video_off: false,
        active_speaker: false,
        main: false,
        controls: Vec::new(),
        clickable: false,
        draggable: false,
    }
}

fn button(id: &str, label: &str) -> Button {
    Button { id: id.into(), label: label.into(), icon: String::new(), enabled: true, toggled: false }
}

/// A spotlight-like view: Alice large with video, Bob (muted, circle avatar) and Carol
/// (square avatar, clickable and draggable) small on the right, and a button bar.
fn three_tile_view() -> View {
    let mut alice = tile(
        "alice",
        Rect::new(0.0, 0.0, 960.0, 640.0),
        0,
        TileContent::Video { aspect_ratio: AspectRatio::Cover },
    );
    alice.main = true;
    alice.active_speaker = true;
    alice.controls = vec![
        TileControl { id: "full_screen".into(), position: Position::BottomRight },
        TileControl { id: "zoom".into(), position: Position::BottomRight },
        TileControl { id: "user_list".into(), position: Position::TopRight },
    ];
    let mut bob = tile(
        "bob",
        Rect::new(960.0, 0.0, 320.0, 213.0),
        1,
        TileContent::Avatar { mode: AvatarMode::Circle, initials: "B".into(), url: String::new() },
    );
    bob.muted = true;
    bob.video_off = true;
    bob.clickable = true;
    let mut carol = tile(
        "carol",
        Rect::new(960.0, 213.0, 320.0, 213.0),
        1,
        TileContent::Avatar { mode: AvatarMode::Square, initials: "CD".into(), url: String::new() },
    );
    carol.video_off = true;
    carol.clickable = true;
    carol.draggable = true;
    let mut switch_camera = button("switch_camera", "Flip");
    switch_camera.enabled = false;
    let mut pause_video = button("pause_video", "Video");
    pause_video.toggled = true;
    View {
        width: WIDTH as f32,
        height: HEIGHT as f32,
        tiles: vec![alice, bob, carol],
        buttons: vec![
            button("mute_audio", "Mute"),
            pause_video,
            switch_camera,
            button("audio_mode", "Speaker"),
            button("record", "Record"),
            button("end_call", "End"),
        ],
        button_bar: Some(Rect::new(0.0, 640.0, 1280.0, 80.0)),
        overlays: Vec::new(),
    }
}

/// A running web UI, a browser showing it, and the input stream.
struct Harness {
    ui: WebUi,
    inputs: mpsc::Receiver<UiInput>,
    chromium: Chromium,
    page: Page,
    _permit: tokio::sync::SemaphorePermit<'static>,
}

impl Harness {
    async fn start(view: View) -> Self {
        let permit = BROWSERS.acquire().await.expect("the browser semaphore is never closed");
        let (ui, inputs) = WebUi::start(WebUiConfig::on_port(0)).await.expect("starting the web UI");
        assert!(ui.local_addr().ip().is_loopback(), "the web UI listens on {}", ui.local_addr());
        ui.set_view(view);
        let chromium = Chromium::launch(WIDTH, HEIGHT).await;
        let page = chromium.open(&ui.url()).await;
        wait_until(&page, "document.body.dataset.views >= 1", "the page drew the first view").await;
        let mut harness = Self { ui, inputs, chromium, page, _permit: permit };
        // The page reports its window size as soon as it connects, and again if the
        // viewport emulation lands after that; nothing else comes before the first click.
        loop {
            match harness.next_input().await {
                UiInput::WindowResized { width, height }
                    if width == WIDTH as f32 && height == HEIGHT as f32 =>
                {
                    break;
                }
                UiInput::WindowResized { .. } => continue,
                other => panic!("expected the window size first, got {other:?}"),
            }
        }
        harness
    }

    /// Pushes `view` and waits until the page has drawn it.
    async fn show(&self, view: View) {
        let drawn: u32 = eval_json(&self.page, "window.__switchboard.views").await;
        self.ui.set_view(view);
        wait_until(
            &self.page,
            &format!("window.__switchboard.views > {drawn}"),
            "the page drew the new view",
        )
        .await;
    }

    async fn next_input(&mut self) -> UiInput {
        tokio::time::timeout(WAIT, self.inputs.recv())
            .await
            .expect("timed out waiting for UI input from the page")
            .expect("the input stream ended")
    }

    async fn click(&self, testid: &str) {
        self.page
            .find_element(format!("[data-testid=\"{testid}\"]"))
            .await
            .unwrap_or_else(|e| panic!("finding {testid}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("clicking {testid}: {e}"));
    }

    async fn count(&self, selector: &str) -> usize {
        eval_json(&self.page, &format!("document.querySelectorAll('{selector}').length")).await
    }

    async fn finish(self) {
        self.chromium.close().await;
        self.ui.shutdown().await.expect("stopping the web UI");
    }
}

#[derive(Debug, Deserialize)]
struct Box2 {
    uid: String,
    x: f32,
    y: f32,
    w: f32,
    h: f32,
}

async fn tile_boxes(page: &Page) -> Vec<Box2> {
    eval_json(
        page,
        "[...document.querySelectorAll('.tile')].map(e => { const r = e.getBoundingClientRect(); \
         return {uid: e.dataset.uid, x: r.x, y: r.y, w: r.width, h: r.height}; })",
    )
    .await
}

fn assert_near(actual: f32, expected: f32, what: &str) {
    assert!((actual - expected).abs() <= 1.0, "{what}: {actual} is not {expected}");
}

fn artifact(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/test-artifacts/web");
    std::fs::create_dir_all(&dir).expect("creating target/test-artifacts/web");
    dir.join(name)
}

async fn screenshot(page: &Page, name: &str) {
    let path = artifact(name);
    let params = ScreenshotParams::builder().format(CaptureScreenshotFormat::Png).build();
    page.save_screenshot(params, &path).await.unwrap_or_else(|e| panic!("saving {}: {e}", path.display()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_tiles_are_drawn_at_their_rectangles() {
    let view = three_tile_view();
    let h = Harness::start(view.clone()).await;
    h.ui.set_call_info(CallInfo { title: "standup".into(), status: "3 participants".into() });
    wait_until(
        &h.page,
        "document.getElementById('call-status').textContent === '3 participants'",
        "call info",
    )
    .await;

    let boxes = tile_boxes(&h.page).await;
    assert_eq!(boxes.len(), 3, "tiles on the page: {boxes:?}");
    for tile in &view.tiles {
        let b = boxes.iter().find(|b| b.uid == tile.uid).unwrap_or_else(|| panic!("no tile {}", tile.uid));
        // The view is exactly the window's size, so the stage is drawn at scale 1.
        assert_near(b.x, tile.rect.x, "x");
        assert_near(b.y, tile.rect.y, "y");
        assert_near(b.w, tile.rect.w, "width");
        assert_near(b.h, tile.rect.h, "height");
    }

    // What each tile shows.
    assert_eq!(h.count("[data-testid=\"video-alice\"]").await, 1, "alice shows video");
    let bob_avatar: (String, String) = eval_json(
        &h.page,
        "[document.querySelector('[data-testid=\"tile-bob-avatar\"]').dataset.mode, \
          document.querySelector('[data-testid=\"tile-bob-avatar\"]').textContent]",
    )
    .await;
    assert_eq!(bob_avatar, ("circle".to_string(), "B".to_string()));
    let radius: String = eval_json(
        &h.page,
        "getComputedStyle(document.querySelector('[data-testid=\"tile-carol-avatar\"]')).borderRadius",
    )
    .await;
    assert_ne!(radius, "50%", "carol's avatar is square");
    assert_eq!(h.count("[data-testid=\"tile-bob-muted\"]").await, 1, "bob is shown muted");
    assert_eq!(h.count("[data-testid=\"tile-alice-muted\"]").await, 0, "alice is not shown muted");
    assert_eq!(h.count("[data-testid=\"tile-carol-video-off\"]").await, 1, "carol's video is off");
    assert_eq!(h.count(".tile.active-speaker").await, 1, "one active speaker");
    let label: (String, String) = eval_json(
        &h.page,
        "[document.querySelector('[data-testid=\"tile-alice-label\"]').textContent, \
          getComputedStyle(document.querySelector('[data-testid=\"tile-alice-label\"]')).backgroundColor]",
    )
    .await;
    assert_eq!(label, ("Alice".to_string(), "rgb(51, 51, 51)".to_string()));
    assert_eq!(h.count("[data-testid^=\"tile-alice-control-\"]").await, 3, "alice's tile controls");

    // The button bar, in order, with its states.
    let buttons: Vec<(String, bool, bool)> = eval_json(
        &h.page,
        "[...document.querySelectorAll('[data-testid^=\"button-\"]')].filter(e => e.tagName === 'BUTTON')\
           .map(e => [e.dataset.id, e.disabled, e.classList.contains('toggled')])",
    )
    .await;
    let expected = [
        ("mute_audio", false, false),
        ("pause_video", false, true),
        ("switch_camera", true, false),
        ("audio_mode", false, false),
        ("record", false, false),
        ("end_call", false, false),
    ];
    let expected: Vec<(String, bool, bool)> =
        expected.iter().map(|(i, d, t)| (i.to_string(), *d, *t)).collect();
    assert_eq!(buttons, expected);
    screenshot(&h.page, "three-tiles.png").await;
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_view_smaller_than_the_window_is_scaled_to_fit() {
    let mut view = three_tile_view();
    // Half the window: everything is drawn twice as large.
    view.width = 640.0;
    view.height = 360.0;
    for tile in &mut view.tiles {
        tile.rect = Rect::new(tile.rect.x / 2.0, tile.rect.y / 2.0, tile.rect.w / 2.0, tile.rect.h / 2.0);
    }
    view.button_bar = Some(Rect::new(0.0, 320.0, 640.0, 40.0));
    let h = Harness::start(view.clone()).await;
    let boxes = tile_boxes(&h.page).await;
    for tile in &view.tiles {
        let b = boxes.iter().find(|b| b.uid == tile.uid).unwrap_or_else(|| panic!("no tile {}", tile.uid));
        assert_near(b.x, tile.rect.x * 2.0, "x");
        assert_near(b.y, tile.rect.y * 2.0, "y");
        assert_near(b.w, tile.rect.w * 2.0, "width");
    }
    h.finish().await;
}

#[derive(Debug, Deserialize)]
struct Pixel {
    r: u8,
    g: u8,
    b: u8,
}

async fn canvas_pixel(page: &Page, uid: &str, x: u32, y: u32) -> Pixel {
    eval_json(
        page,
        &format!(
            "(() => {{ const c = document.querySelector('[data-testid=\"video-{uid}\"]'); \
               const d = c.getContext('2d').getImageData({x}, {y}, 1, 1).data; \
               return {{r: d[0], g: d[1], b: d[2]}}; }})()"
        ),
    )
    .await
}

fn split_frame(width: u32, height: u32, left: [u8; 3], right: [u8; 3]) -> VideoFrame {
    let mut rgba = Vec::with_capacity((width * height * 4) as usize);
    for _y in 0..height {
        for x in 0..width {
            let [r, g, b] = if x < width / 2 { left } else { right };
            rgba.extend_from_slice(&[r, g, b, 255]);
        }
    }
    VideoFrame::rgba(width, height, rgba)
}

fn close_to(p: &Pixel, rgb: [u8; 3]) -> bool {
    let d = |a: u8, b: u8| (i16::from(a) - i16::from(b)).abs();
    d(p.r, rgb[0]) < 40 && d(p.g, rgb[1]) < 40 && d(p.b, rgb[2]) < 40
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pushed_frame_shows_up_in_its_tile() {
    let mut view = three_tile_view();
    view.overlays.push(Overlay::RecordingIndicator { rect: Rect::new(16.0, 16.0, 90.0, 30.0) });
    let h = Harness::start(view).await;

    h.ui.push_frame("alice", split_frame(320, 180, [220, 30, 30], [30, 30, 220])).expect("pushing a frame");
    wait_until(&h.page, "window.__switchboard.frames.alice >= 1", "alice's first frame was drawn").await;
    let size: (u32, u32) = eval_json(
        &h.page,
        "(() => { const c = document.querySelector('[data-testid=\"video-alice\"]'); return [c.width, c.height]; })()",
    )
    .await;
    assert_eq!(size, (320, 180));
    let left = canvas_pixel(&h.page, "alice", 80, 90).await;
    let right = canvas_pixel(&h.page, "alice", 240, 90).await;
    assert!(close_to(&left, [220, 30, 30]), "left half is red: {left:?}");
    assert!(close_to(&right, [30, 30, 220]), "right half is blue: {right:?}");

    // A newer frame replaces it.
    h.ui.push_frame("alice", split_frame(320, 180, [30, 200, 30], [240, 240, 240])).expect("pushing a frame");
    wait_until(&h.page, "window.__switchboard.frames.alice >= 2", "alice's second frame was drawn").await;
    let left = canvas_pixel(&h.page, "alice", 80, 90).await;
    assert!(close_to(&left, [30, 200, 30]), "left half is green now: {left:?}");

    // The canvas is really on screen where the tile is: sample the screenshot.
    let png = h
        .page
        .screenshot(ScreenshotParams::builder().format(CaptureScreenshotFormat::Png).build())
        .await
        .expect("taking a screenshot");
    let shot = image::load_from_memory(&png).expect("decoding the screenshot").to_rgb8();
    let px = shot.get_pixel(200, 320);
    assert!(
        close_to(&Pixel { r: px[0], g: px[1], b: px[2] }, [30, 200, 30]),
        "screen at alice's left: {px:?}"
    );

    assert_eq!(h.count("[data-testid=\"overlay-recording\"]").await, 1);
    h.ui.set_call_info(CallInfo { title: "standup".into(), status: "recording · 3 participants".into() });
    wait_until(&h.page, "!document.getElementById('call-info').hidden", "call info shown").await;
    screenshot(&h.page, "call.png").await;
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clicking_mute_sends_button_pressed() {
    let mut h = Harness::start(three_tile_view()).await;
    // A disabled button sends nothing: the next input is the mute click.
    h.click("button-switch_camera").await;
    h.click("button-mute_audio").await;
    assert_eq!(h.next_input().await, UiInput::ButtonPressed { id: "mute_audio".into() });
    h.click("button-end_call").await;
    assert_eq!(h.next_input().await, UiInput::ButtonPressed { id: "end_call".into() });
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clicking_a_clickable_tile_sends_tile_clicked() {
    let mut h = Harness::start(three_tile_view()).await;
    // Alice's tile is not clickable and a tile control is handled by the page itself, so
    // neither sends anything: the next input is the click on Bob.
    h.click("tile-alice").await;
    h.click("tile-alice-control-zoom").await;
    h.click("tile-bob").await;
    assert_eq!(h.next_input().await, UiInput::TileClicked { uid: "bob".into() });
    h.finish().await;
}

async fn mouse(page: &Page, kind: DispatchMouseEventType, x: f64, y: f64, pressed: bool) {
    let mut params = DispatchMouseEventParams::builder().r#type(kind).x(x).y(y);
    if pressed {
        params = params.button(MouseButton::Left).buttons(1).click_count(1);
    }
    page.execute(params.build().expect("a complete mouse event")).await.expect("dispatching a mouse event");
}

/// The centre of an element on the page, in CSS pixels.
async fn centre(page: &Page, testid: &str) -> (f64, f64) {
    let (x, y): (f64, f64) = eval_json(
        page,
        &format!(
            "(() => {{ const r = document.querySelector('[data-testid=\"{testid}\"]').getBoundingClientRect(); \
             return [r.x + r.width / 2, r.y + r.height / 2]; }})()"
        ),
    )
    .await;
    (x, y)
}

/// Views arrive whenever the call changes (the active speaker, someone's mute), so one
/// can land between a button's press and release, or while a button has the keyboard
/// focus. The page updates the elements in place: the click still counts, the focus stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_view_arriving_mid_click_neither_swallows_the_click_nor_the_focus() {
    use DispatchMouseEventType::{MouseMoved, MousePressed, MouseReleased};
    let mut h = Harness::start(three_tile_view()).await;
    // The speaker moves from Alice to Bob, and back: each a new view.
    let mut speaker_bob = three_tile_view();
    speaker_bob.tiles[0].active_speaker = false;
    speaker_bob.tiles[1].active_speaker = true;

    let (x, y) = centre(&h.page, "button-mute_audio").await;
    mouse(&h.page, MouseMoved, x, y, false).await;
    mouse(&h.page, MousePressed, x, y, true).await;
    h.show(speaker_bob.clone()).await;
    mouse(&h.page, MouseReleased, x, y, true).await;
    assert_eq!(h.next_input().await, UiInput::ButtonPressed { id: "mute_audio".into() });

    // A tile control, handled by the page: zoom.
    let (x, y) = centre(&h.page, "tile-alice-control-zoom").await;
    mouse(&h.page, MouseMoved, x, y, false).await;
    mouse(&h.page, MousePressed, x, y, true).await;
    h.show(three_tile_view()).await;
    mouse(&h.page, MouseReleased, x, y, true).await;
    wait_until(
        &h.page,
        "document.querySelector('[data-testid=\"tile-alice\"]').classList.contains('zoomed')",
        "alice's tile zoomed",
    )
    .await;

    // A spotlight moves the new speaker's tile to the front of the list and to the big
    // rectangle: Bob's avatar grows with it, and a press on Carol's tile, which keeps her
    // place, still clicks.
    let mut spotlight_bob = three_tile_view();
    spotlight_bob.tiles.swap(0, 1);
    let (big, small) = (spotlight_bob.tiles[1].rect, spotlight_bob.tiles[0].rect);
    spotlight_bob.tiles[0].rect = big;
    spotlight_bob.tiles[1].rect = small;
    let (x, y) = centre(&h.page, "tile-carol").await;
    mouse(&h.page, MouseMoved, x, y, false).await;
    mouse(&h.page, MousePressed, x, y, true).await;
    h.show(spotlight_bob).await;
    mouse(&h.page, MouseReleased, x, y, true).await;
    assert_eq!(h.next_input().await, UiInput::TileClicked { uid: "carol".into() });
    let avatar: f64 = eval_json(
        &h.page,
        "document.querySelector('[data-testid=\"tile-bob-avatar\"]').getBoundingClientRect().width",
    )
    .await;
    // 0.45 of the shorter side of the 960x640 rectangle.
    assert!((avatar - 288.0).abs() < 2.0, "bob's avatar in the big tile is {avatar} px wide");

    let focus = "document.activeElement && document.activeElement.dataset.testid";
    let focused: bool =
        eval_json(&h.page, "(document.querySelector('[data-testid=\"button-end_call\"]').focus(), true)")
            .await;
    assert!(focused);
    h.show(speaker_bob).await;
    let focused: Option<String> = eval_json(&h.page, focus).await;
    assert_eq!(focused.as_deref(), Some("button-end_call"), "the focus after a new view");
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dragging_a_draggable_tile_sends_tile_dragged() {
    let mut h = Harness::start(three_tile_view()).await;
    // Carol's tile is at (960, 213) 320x213; grab its middle and move it by (-300, +100).
    let (x0, y0) = (1120.0, 320.0);
    mouse(&h.page, DispatchMouseEventType::MouseMoved, x0, y0, false).await;
    mouse(&h.page, DispatchMouseEventType::MousePressed, x0, y0, true).await;
    for step in 1..=10 {
        let t = f64::from(step) / 10.0;
        mouse(&h.page, DispatchMouseEventType::MouseMoved, x0 - 300.0 * t, y0 + 100.0 * t, true).await;
    }
    mouse(&h.page, DispatchMouseEventType::MouseReleased, x0 - 300.0, y0 + 100.0, true).await;
    match h.next_input().await {
        UiInput::TileDragged { uid, x, y } => {
            assert_eq!(uid, "carol");
            assert_near(x, 660.0, "dropped x");
            assert_near(y, 313.0, "dropped y");
        }
        other => panic!("expected a drag of carol's tile, got {other:?}"),
    }
    // A drag is not also a click.
    h.click("tile-bob").await;
    assert_eq!(h.next_input().await, UiInput::TileClicked { uid: "bob".into() });
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pip_view_shows_one_tile_and_no_buttons() {
    let h = Harness::start(three_tile_view()).await;
    assert_eq!(h.count(".tile").await, 3);
    assert!(h.count("#button-bar button").await > 0);

    // What a layout produces in PIP: one tile inside the PIP window, no buttons.
    let pip = Rect::new(920.0, 460.0, 320.0, 220.0);
    let mut only = tile(
        "alice",
        Rect::new(928.0, 468.0, 304.0, 204.0),
        1,
        TileContent::Video { aspect_ratio: AspectRatio::Cover },
    );
    only.main = true;
    h.show(View {
        width: WIDTH as f32,
        height: HEIGHT as f32,
        tiles: vec![only],
        buttons: Vec::new(),
        button_bar: None,
        overlays: vec![Overlay::PipWindow { rect: pip }],
    })
    .await;
    h.ui.push_frame("alice", split_frame(320, 180, [220, 30, 30], [30, 30, 220])).expect("pushing a frame");
    wait_until(&h.page, "window.__switchboard.frames.alice >= 1", "alice's frame was drawn").await;

    assert_eq!(h.count(".tile").await, 1, "only the PIP tile is drawn");
    assert_eq!(h.count("[data-testid=\"tile-alice\"]").await, 1);
    assert_eq!(h.count("#button-bar").await, 0, "no button bar in PIP");
    assert_eq!(h.count("button[data-testid^=\"button-\"]").await, 0, "no buttons in PIP");
    let window: Box2 = eval_json(
        &h.page,
        "(() => { const r = document.querySelector('[data-testid=\"overlay-pip\"]').getBoundingClientRect(); \
           return {uid: 'pip', x: r.x, y: r.y, w: r.width, h: r.height}; })()",
    )
    .await;
    assert_near(window.x, pip.x, "pip x");
    assert_near(window.w, pip.w, "pip width");
    screenshot(&h.page, "pip.png").await;
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recording_and_idle_overlays_appear_and_go() {
    let h = Harness::start(three_tile_view()).await;
    assert_eq!(h.count("[data-testid=\"overlay-recording\"]").await, 0);

    let mut view = three_tile_view();
    view.overlays = vec![
        Overlay::RecordingIndicator { rect: Rect::new(16.0, 16.0, 90.0, 30.0) },
        Overlay::IdleTimeoutPrompt { rect: Rect::new(440.0, 250.0, 400.0, 140.0), seconds_left: 42 },
    ];
    h.show(view).await;
    let rec: (String, f32, f32) = eval_json(
        &h.page,
        "(() => { const e = document.querySelector('[data-testid=\"overlay-recording\"]'); \
           const r = e.getBoundingClientRect(); return [e.textContent, r.x, r.y]; })()",
    )
    .await;
    assert_eq!(rec.0, "REC");
    assert_near(rec.1, 16.0, "recording indicator x");
    assert_near(rec.2, 16.0, "recording indicator y");
    let dot: String = eval_json(
        &h.page,
        "getComputedStyle(document.querySelector('[data-testid=\"overlay-recording\"] .dot')).backgroundColor",
    )
    .await;
    assert_eq!(dot, "rgb(255, 23, 68)", "the recording dot is red");
    let seconds: String =
        eval_json(&h.page, "document.querySelector('[data-testid=\"overlay-idle-seconds\"]').textContent")
            .await;
    assert_eq!(seconds, "42 s");
    screenshot(&h.page, "overlays.png").await;

    h.show(three_tile_view()).await;
    assert_eq!(h.count("[data-testid=\"overlay-recording\"]").await, 0, "recording indicator gone");
    assert_eq!(h.count("[data-testid=\"overlay-idle\"]").await, 0, "idle prompt gone");
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_that_connects_late_gets_the_current_view_and_frames() {
    // No browser needed until the state is set: a page opened afterwards draws it all.
    let permit = BROWSERS.acquire().await.expect("the browser semaphore is never closed");
    let (ui, mut inputs) = WebUi::start(WebUiConfig::on_port(0)).await.expect("starting the web UI");
    ui.set_view(three_tile_view());
    ui.push_frame("alice", split_frame(64, 36, [220, 30, 30], [220, 30, 30])).expect("pushing a frame");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let chromium = Chromium::launch(WIDTH, HEIGHT).await;
    let page = chromium.open(&ui.url()).await;
    wait_until(&page, "window.__switchboard.frames.alice >= 1", "the late page drew alice's frame").await;
    assert_eq!(eval_json::<usize>(&page, "document.querySelectorAll('.tile').length").await, 3);
    assert_eq!(ui.handle().connected_pages(), 1);
    let first = tokio::time::timeout(WAIT, inputs.recv()).await.expect("window size").expect("stream open");
    assert!(matches!(first, UiInput::WindowResized { .. }), "{first:?}");
    chromium.close().await;
    ui.shutdown().await.expect("stopping the web UI");
    drop(permit);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_frames_is_dropped_down_to_the_newest() {
    let h = Harness::start(three_tile_view()).await;
    // 60 frames at once, far faster than the 15 frames a second the server sends: the
    // page must end on the last one without having been sent them all.
    let burst = 60u8;
    for i in 0..burst {
        let shade = if i == burst - 1 { [30, 200, 30] } else { [10 + i, 10, 10] };
        h.ui.push_frame("alice", split_frame(64, 36, shade, shade)).expect("pushing a frame");
    }
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let px = canvas_pixel(&h.page, "alice", 32, 18).await;
        if close_to(&px, [30, 200, 30]) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the newest frame never showed: {px:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let drawn: u32 = eval_json(&h.page, "window.__switchboard.frames.alice").await;
    assert!(drawn < u32::from(burst) / 4, "{drawn} of {burst} frames reached the page");
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resizing_the_window_sends_window_resized_and_rescales() {
    use chromiumoxide::cdp::browser_protocol::emulation::SetDeviceMetricsOverrideParams;

    let mut h = Harness::start(three_tile_view()).await;
    h.page
        .execute(SetDeviceMetricsOverrideParams::new(640, 360, 1.0, false))
        .await
        .expect("resizing the viewport");
    assert_eq!(h.next_input().await, UiInput::WindowResized { width: 640.0, height: 360.0 });
    // Until the layout answers with a view of the new size, the old one is drawn scaled
    // down to fit: Alice's 960 px wide tile is now 480 px wide.
    let boxes = tile_boxes(&h.page).await;
    let alice = boxes.iter().find(|b| b.uid == "alice").expect("alice's tile");
    assert_near(alice.w, 480.0, "scaled width");
    assert_near(alice.x, 0.0, "scaled x");
    h.finish().await;
}
