//! Call sessions: `startSession(token, settings)` to `endSession()`.
//!
//! - [`semantics`]: the seed's event rules as a pure state machine.
//! - [`runtime`]: [`Session`], the running call (signaling, WebRTC mesh, audio, bus).
//! - [`participant`]: config, plugins, bus and token for one participant process.
//! - [`output`]: event lines and the stats file of headless participants.
//! - [`video`]: the camera, encoding, decoding and the switch to video inside a session.

pub mod output;
pub mod participant;
pub mod runtime;
pub mod semantics;
pub mod video;

pub use runtime::{Session, SessionOptions};
pub use video::{ParticipantFrame, VideoFrames};
