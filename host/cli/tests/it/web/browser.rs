//! Headless Chromium for the web UI tests and the click-latency benchmark, driven over CDP.

use std::path::PathBuf;
use std::time::Duration;

use chromiumoxide::browser::{Browser, BrowserConfig};
use chromiumoxide::handler::viewport::Viewport;
use chromiumoxide::page::Page;
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use tokio::task::JoinHandle;

/// Where the `chromium` Debian package puts the browser; `SWITCHBOARD_CHROMIUM` overrides it.
const DEFAULT_CHROMIUM: &str = "/usr/bin/chromium";

/// How long any wait on the page may take before the test fails. Generous: the machine is
/// shared and Chromium starts slowly under load.
pub const WAIT: Duration = Duration::from_secs(30);

/// The browser binary, or a failure that says how to install it. Never a silent skip: a
/// renderer that is not tested in a real browser is not tested.
pub fn chromium_path() -> PathBuf {
    let path = std::env::var_os("SWITCHBOARD_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CHROMIUM));
    assert!(
        path.exists(),
        "headless Chromium is needed for the web UI tests but {} does not exist: run scripts/setup.sh \
         (it installs the `chromium` package), or set SWITCHBOARD_CHROMIUM",
        path.display()
    );
    path
}

/// One headless Chromium with its own throwaway profile.
pub struct Chromium {
    pub browser: Browser,
    handler: JoinHandle<()>,
    _profile: tempfile::TempDir,
}

impl Chromium {
    /// Starts Chromium with a `width` x `height` viewport.
    pub async fn launch(width: u32, height: u32) -> Self {
        Self::launch_with(width, height, &[]).await
    }

    /// Starts Chromium with a `width` x `height` viewport and `extra` switches (without
    /// their `--`), e.g. `host-resolver-rules=MAP evil.example 127.0.0.1`.
    pub async fn launch_with(width: u32, height: u32, extra: &[&str]) -> Self {
        let profile = tempfile::tempdir().expect("creating a Chromium profile folder");
        let config = BrowserConfig::builder()
            .chrome_executable(chromium_path())
            .new_headless_mode()
            .no_sandbox()
            .user_data_dir(profile.path())
            .window_size(width, height)
            .viewport(Viewport { width, height, ..Viewport::default() })
            .launch_timeout(WAIT)
            .request_timeout(WAIT)
            // chromiumoxide already passes --disable-background-networking, --disable-sync
            // and --no-first-run; these keep an offline machine quiet as well.
            .args(["disable-gpu", "disable-component-update", "disable-extensions"])
            .args(extra.iter().copied())
            .build()
            .expect("configuring Chromium");
        let (browser, mut handler) = Browser::launch(config).await.expect("launching headless Chromium");
        // The handler drives the CDP connection; it must be polled for anything to happen.
        let handler = tokio::spawn(async move { while handler.next().await.is_some() {} });
        Self { browser, handler, _profile: profile }
    }

    /// Opens `url` in a new tab.
    pub async fn open(&self, url: &str) -> Page {
        // A blank tab first, so that the viewport emulation is in place before the page
        // loads and measures the window.
        let page = self.browser.new_page("about:blank").await.expect("opening a tab");
        page.goto(url).await.expect("opening the call page");
        page
    }

    /// Closes the browser and waits for its process.
    pub async fn close(mut self) {
        let _ = self.browser.close().await;
        let _ = self.browser.wait().await;
        self.handler.abort();
    }
}

/// Evaluates `js`, which must produce a string of JSON, and parses it.
pub async fn eval_json<T: DeserializeOwned>(page: &Page, js: &str) -> T {
    let text: String = page
        .evaluate(format!("JSON.stringify({js})"))
        .await
        .unwrap_or_else(|e| panic!("evaluating {js}: {e}"))
        .into_value()
        .unwrap_or_else(|e| panic!("reading the result of {js}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing the result of {js} ({text}): {e}"))
}

/// Polls `condition` (a JS expression) until it is true, failing with `what` after [`WAIT`].
pub async fn wait_until(page: &Page, condition: &str, what: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let ok: bool = eval_json(page, &format!("!!({condition})")).await;
        if ok {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting until {what} ({condition})");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
