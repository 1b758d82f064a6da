//! The web renderer of the call UI: serves the live call as a page on 127.0.0.1.
//!
//! [`WebUi::start`] binds an HTTP server (axum) that serves one plain HTML/CSS/JS page and
//! a WebSocket, both behind a random access key made for that server: [`WebUi::url`] is
//! the page's address with the key in it, and a request without the key, from a page of
//! another origin, or naming another host (DNS rebinding) is refused with a 403. It listens
//! on a loopback address unless [`WebUiConfig::allow_remote`] says otherwise. The session
//! drives it through [`WebUiHandle`]:
//! - [`WebUiHandle::set_view`] pushes a [`View`] to every connected page, which draws it
//!   exactly (tiles at their rectangles, scaled to the browser window);
//! - [`WebUiHandle::push_frame`] hands in a participant's newest decoded video frame,
//!   compressed to JPEG at a bounded rate, older frames dropped rather than queued;
//! - [`WebUiHandle::set_call_info`] sets the title and status line.
//!
//! What users do on the page comes back as [`UiInput`] on the `mpsc` receiver that
//! [`WebUi::start`] returns. The wire protocol is in [`protocol`]; docs/architecture-web.md
//! describes the whole design.

mod access;
mod frames;
pub mod protocol;
mod server;

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use switchboard_core::view::{UiInput, View};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

pub use access::is_loopback;
pub use frames::{FrameData, VideoFrame};
pub use protocol::CallInfo;

use access::{AccessKey, Guard};
use frames::{EncoderSettings, FrameSet, PendingFrames};

/// How the web UI server is set up.
#[derive(Debug, Clone)]
pub struct WebUiConfig {
    /// Where to listen. Defaults to 127.0.0.1 with port 0 (any free port). It must be a
    /// loopback address unless `allow_remote` is set.
    pub listen: SocketAddr,
    /// Lets `listen` be an address other machines reach (`0.0.0.0`, a LAN address). The
    /// page and its socket still need the access key, and a DNS name other than
    /// `localhost` in `Host` is still refused, but whoever has the URL on the network
    /// sees the call's video and drives its controls. Off by default: the call UI is for
    /// the local user.
    pub allow_remote: bool,
    /// The most video frames per second sent to pages (all participants together count
    /// as one batch per interval).
    pub max_frame_rate: u32,
    /// JPEG quality of video frames, 1 to 100.
    pub jpeg_quality: u8,
    /// How many UI inputs may wait in the channel before pages are slowed down.
    pub input_buffer: usize,
}

impl Default for WebUiConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)),
            allow_remote: false,
            max_frame_rate: 15,
            jpeg_quality: 75,
            input_buffer: 256,
        }
    }
}

impl WebUiConfig {
    /// The defaults, listening on 127.0.0.1 at `port` (0 for any free port).
    pub fn on_port(port: u16) -> Self {
        Self { listen: SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)), ..Self::default() }
    }
}

/// What can go wrong in the web UI.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// `listen` is not a loopback address and [`WebUiConfig::allow_remote`] is off.
    #[error(
        "refusing to serve the web UI on {addr}: it is not a loopback address, so the call's video \
         and controls would be open to the network (opt in with WebUiConfig::allow_remote)"
    )]
    NotLoopback {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// No random access key could be made.
    #[error("making the web UI's access key: {source}")]
    Key {
        /// Why.
        source: getrandom::Error,
    },
    /// The listening socket could not be opened.
    #[error("binding the web UI to {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The bound address could not be read back.
    #[error("reading the address the web UI is bound to: {source}")]
    LocalAddr {
        /// Why.
        source: std::io::Error,
    },
    /// A frame's byte count does not match its size.
    #[error("video frame of {uid} is {len} bytes, but {width}x{height} RGBA needs {expected}")]
    FrameSize {
        /// Whose frame.
        uid: String,
        /// Its width.
        width: u32,
        /// Its height.
        height: u32,
        /// The bytes given.
        len: usize,
        /// The bytes needed.
        expected: usize,
    },
    /// A frame has no pixels.
    #[error("video frame of {uid} is empty ({width}x{height}, {len} bytes)")]
    EmptyFrame {
        /// Whose frame.
        uid: String,
        /// Its width.
        width: u32,
        /// Its height.
        height: u32,
        /// The bytes given.
        len: usize,
    },
    /// The server task ended with an error.
    #[error("serving the web UI: {source}")]
    Serve {
        /// Why.
        source: std::io::Error,
    },
}

/// State shared by the handle, the server and every page connection.
#[derive(Debug)]
pub(crate) struct Shared {
    /// The current view, already serialized as a [`protocol::ServerMessage::View`], so
    /// that it is serialized once however many pages are connected.
    pub(crate) view: watch::Sender<Option<Arc<str>>>,
    /// The current call info, serialized likewise.
    pub(crate) info: watch::Sender<Option<Arc<str>>>,
    /// The newest compressed frame of each participant.
    pub(crate) frames: watch::Sender<FrameSet>,
    pending: Arc<PendingFrames>,
    /// Where page input goes.
    pub(crate) inputs: mpsc::Sender<UiInput>,
    /// How many pages are connected.
    pub(crate) pages: AtomicUsize,
    /// Turns true when the server shuts down.
    pub(crate) shutdown: watch::Receiver<bool>,
    /// Checks every request, and holds the access key.
    pub(crate) guard: Guard,
}

/// A cheap, clonable handle that drives the pages of a running [`WebUi`].
#[derive(Debug, Clone)]
pub struct WebUiHandle {
    shared: Arc<Shared>,
    addr: SocketAddr,
}

impl WebUiHandle {
    /// Replaces the view every connected page draws, and the one pages get on connecting.
    pub fn set_view(&self, view: View) {
        let message = protocol::ServerMessage::View { view };
        match serde_json::to_string(&message) {
            Ok(json) => {
                self.shared.view.send_replace(Some(Arc::from(json)));
            }
            // A View is plain data; this only fails on a non-string map key, which the
            // type does not have. Logged rather than panicking a live call.
            Err(error) => tracing::error!(%error, "serializing a view for the web UI"),
        }
    }

    /// Replaces the title and status line.
    pub fn set_call_info(&self, info: CallInfo) {
        let message = protocol::ServerMessage::CallInfo { info };
        match serde_json::to_string(&message) {
            Ok(json) => {
                self.shared.info.send_replace(Some(Arc::from(json)));
            }
            Err(error) => tracing::error!(%error, "serializing call info for the web UI"),
        }
    }

    /// Hands in the newest decoded video frame of `uid`. Returns at once: the frame is
    /// compressed on another thread, and a frame that a newer one replaces before it was
    /// compressed is dropped. Callable from any thread, inside or outside the runtime.
    pub fn push_frame(&self, uid: impl Into<String>, frame: VideoFrame) -> Result<(), WebError> {
        let uid = uid.into();
        let len = match &frame.data {
            FrameData::Rgba(bytes) | FrameData::Jpeg(bytes) => bytes.len(),
        };
        if frame.width == 0 || frame.height == 0 || len == 0 {
            return Err(WebError::EmptyFrame { uid, width: frame.width, height: frame.height, len });
        }
        if let FrameData::Rgba(_) = &frame.data {
            let expected = (frame.width as usize) * (frame.height as usize) * 4;
            if len != expected {
                return Err(WebError::FrameSize {
                    uid,
                    width: frame.width,
                    height: frame.height,
                    len,
                    expected,
                });
            }
        }
        self.shared.pending.put(uid, frame);
        Ok(())
    }

    /// Forgets the video of `uid` (it left, or its video stopped): pages clear its canvas.
    pub fn clear_frame(&self, uid: &str) {
        self.shared.pending.remove(uid);
        self.shared.frames.send_if_modified(|set| Arc::make_mut(set).remove(uid).is_some());
    }

    /// How many pages are connected right now.
    pub fn connected_pages(&self) -> usize {
        self.shared.pages.load(Ordering::Relaxed)
    }

    /// The address the server is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The page's URL with its access key, `http://ADDR/?key=KEY` (a server bound to all
    /// interfaces is shown at loopback). Whoever has it can watch and drive the call: it
    /// is for the local user only.
    pub fn url(&self) -> String {
        format!("http://{}/?{}={}", access::url_addr(self.addr), access::KEY_PARAM, self.access_key())
    }

    /// The random key the page and `/ws` need as `?key=KEY`: 48 hex digits (192 bits), new
    /// for every server.
    pub fn access_key(&self) -> &str {
        self.shared.guard.key()
    }
}

/// A running web UI server. Dropping it stops the server and closes every page's socket.
#[derive(Debug)]
pub struct WebUi {
    handle: WebUiHandle,
    shutdown: watch::Sender<bool>,
    server: Option<JoinHandle<std::io::Result<()>>>,
}

impl WebUi {
    /// Binds the server and starts serving. Must be called inside a tokio runtime (an
    /// actix system is one). Returns the server and the stream of page input.
    ///
    /// Fails with [`WebError::NotLoopback`], before binding, when `listen` is not a
    /// loopback address and `allow_remote` is off.
    pub async fn start(config: WebUiConfig) -> Result<(Self, mpsc::Receiver<UiInput>), WebError> {
        let remote = !is_loopback(config.listen.ip());
        if remote && !config.allow_remote {
            return Err(WebError::NotLoopback { addr: config.listen });
        }
        let key = AccessKey::generate().map_err(|source| WebError::Key { source })?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| WebError::Bind { addr: config.listen, source })?;
        let addr = listener.local_addr().map_err(|source| WebError::LocalAddr { source })?;

        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let (inputs_tx, inputs_rx) = mpsc::channel(config.input_buffer.max(1));
        let pending = Arc::new(PendingFrames::default());
        let (frames_tx, _) = watch::channel(FrameSet::default());
        let shared = Arc::new(Shared {
            view: watch::channel(None).0,
            info: watch::channel(None).0,
            frames: frames_tx.clone(),
            pending: Arc::clone(&pending),
            inputs: inputs_tx,
            pages: AtomicUsize::new(0),
            shutdown: shutdown_rx.clone(),
            guard: Guard::new(key, addr.port(), remote),
        });

        let settings = EncoderSettings {
            min_interval: Duration::from_secs(1) / config.max_frame_rate.max(1),
            quality: config.jpeg_quality.clamp(1, 100),
        };
        tokio::spawn(frames::run_encoder(pending, frames_tx, settings, shutdown_rx.clone()));
        let server = tokio::spawn(server::serve(listener, Arc::clone(&shared), shutdown_rx));
        if remote {
            tracing::warn!(%addr, "web UI listening beyond loopback: the network can reach it");
        } else {
            tracing::info!(%addr, "web UI listening");
        }

        let handle = WebUiHandle { shared, addr };
        Ok((Self { handle, shutdown: shutdown_tx, server: Some(server) }, inputs_rx))
    }

    /// A clonable handle to drive the pages.
    pub fn handle(&self) -> WebUiHandle {
        self.handle.clone()
    }

    /// The address the server is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.handle.addr
    }

    /// See [`WebUiHandle::url`].
    pub fn url(&self) -> String {
        self.handle.url()
    }

    /// See [`WebUiHandle::access_key`].
    pub fn access_key(&self) -> &str {
        self.handle.access_key()
    }

    /// See [`WebUiHandle::set_view`].
    pub fn set_view(&self, view: View) {
        self.handle.set_view(view);
    }

    /// See [`WebUiHandle::set_call_info`].
    pub fn set_call_info(&self, info: CallInfo) {
        self.handle.set_call_info(info);
    }

    /// See [`WebUiHandle::push_frame`].
    pub fn push_frame(&self, uid: impl Into<String>, frame: VideoFrame) -> Result<(), WebError> {
        self.handle.push_frame(uid, frame)
    }

    /// Stops the server, closes every page's socket and waits for the server task.
    pub async fn shutdown(mut self) -> Result<(), WebError> {
        self.shutdown.send_replace(true);
        match self.server.take() {
            Some(server) => match server.await {
                Ok(result) => result.map_err(|source| WebError::Serve { source }),
                Err(join) => Err(WebError::Serve { source: std::io::Error::other(join) }),
            },
            None => Ok(()),
        }
    }
}

impl Drop for WebUi {
    fn drop(&mut self) {
        // Page connections, the encoder and the server all watch this flag.
        self.shutdown.send_replace(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_of_the_wrong_size_are_refused_with_their_sizes() {
        let (ui, _inputs) = WebUi::start(WebUiConfig::on_port(0)).await.expect("start");
        let error = ui.push_frame("bob", VideoFrame::rgba(4, 2, vec![0; 31])).expect_err("short frame");
        assert_eq!(error.to_string(), "video frame of bob is 31 bytes, but 4x2 RGBA needs 32");
        let error = ui.push_frame("bob", VideoFrame::jpeg(0, 2, vec![1])).expect_err("empty frame");
        assert!(matches!(error, WebError::EmptyFrame { .. }), "{error}");
        ui.push_frame("bob", VideoFrame::rgba(4, 2, vec![0; 32])).expect("a frame of the right size");
        ui.shutdown().await.expect("shutdown");
    }

    #[tokio::test]
    async fn binds_loopback_on_a_free_port() {
        let (ui, _inputs) = WebUi::start(WebUiConfig::default()).await.expect("start");
        assert!(ui.local_addr().ip().is_loopback());
        assert_ne!(ui.local_addr().port(), 0);
        assert_eq!(ui.url(), format!("http://{}/?key={}", ui.local_addr(), ui.access_key()));
        ui.shutdown().await.expect("shutdown");
    }

    #[tokio::test]
    async fn every_server_has_its_own_key() {
        let (a, _a_inputs) = WebUi::start(WebUiConfig::default()).await.expect("start");
        let (b, _b_inputs) = WebUi::start(WebUiConfig::default()).await.expect("start");
        assert_eq!(a.access_key().len(), 48);
        assert_ne!(a.access_key(), b.access_key());
        assert!(!format!("{:?}", a.handle()).contains(a.access_key()), "Debug shows the key");
        a.shutdown().await.expect("shutdown");
        b.shutdown().await.expect("shutdown");
    }

    #[tokio::test]
    async fn a_non_loopback_address_needs_the_opt_in() {
        for listen in ["0.0.0.0:0", "[::]:0", "192.0.2.10:0"] {
            let listen: SocketAddr = listen.parse().expect("an address");
            let config = WebUiConfig { listen, ..WebUiConfig::default() };
            let error = WebUi::start(config).await.expect_err("a non-loopback address");
            assert!(matches!(error, WebError::NotLoopback { addr } if addr == listen), "{error}");
            assert!(error.to_string().contains("not a loopback address"), "{error}");
        }
        // Opted in, on all interfaces: the URL shows loopback, where the user browses.
        let listen: SocketAddr = "0.0.0.0:0".parse().expect("an address");
        let config = WebUiConfig { listen, allow_remote: true, ..WebUiConfig::default() };
        let (ui, _inputs) = WebUi::start(config).await.expect("start opted in");
        let port = ui.local_addr().port();
        assert_eq!(ui.url(), format!("http://127.0.0.1:{port}/?key={}", ui.access_key()));
        ui.shutdown().await.expect("shutdown");
    }
}
