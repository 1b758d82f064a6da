//! Call sessions: `startSession(token, settings)` to `endSession()`.
//!
//! - [`semantics`]: the seed's event rules as a pure state machine.
//! - [`output`]: event lines and the stats file of headless participants.

pub mod output;
pub mod semantics;
