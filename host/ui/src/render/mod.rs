//! Renderers of the view model. A renderer draws a [`switchboard_core::view::View`]; it
//! never lays anything out itself, so every renderer shows the same layout.
//!
//! - [`snapshot`]: builds a render request without a call and writes the view as PNG.
//! - `draw`: the tiny-skia drawing of tiles, labels, indicators, buttons and overlays.
//! - `text`: text from pre-rasterized glyphs compiled into the binary.

mod draw;
pub mod snapshot;
mod text;
