//! The integration tests of switchboard-host, one module per area.

mod signaling;
