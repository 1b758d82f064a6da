//! The one integration test binary of switchboard-host: one module per area.

mod bus;
mod cli_foundation;
mod fixtures;
mod listeners;
mod plugin_loading;
mod signaling;

mod rtc;

mod media;

mod conformance;
