//! The one integration test binary of switchboard-host.

mod bus;
mod cli_foundation;
mod fixtures;
mod listeners;
mod plugin_loading;
