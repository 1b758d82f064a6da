//! switchboard-ui: the renderers of the view model a layout plugin returns.
//!
//! - [`web`]: the live page on 127.0.0.1, fed views and video frames over a WebSocket,
//!   with UI input sent back.
//! - [`render`]: the PNG snapshot renderer (tiny-skia).
//!
//! This crate knows the view model (switchboard-core) and nothing of calls, plugins or
//! media: a caller hands it views and encoded frames.

pub mod render;
pub mod web;
