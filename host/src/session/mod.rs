//! Call sessions: `startSession(token, settings)` to `endSession()`.
//!
//! - [`semantics`]: the seed's event rules as a pure state machine.

pub mod semantics;
