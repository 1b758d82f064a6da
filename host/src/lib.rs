//! switchboard-host: the runtime behind the `switchboard` binary.

pub mod bus;
pub mod cli;
pub mod config_file;
pub mod conformance;
pub mod isolation;
pub mod listeners;
pub mod loader;
pub mod media;
pub mod plugin;
pub mod render;
pub mod rtc;
pub mod session;
pub mod signaling;
pub mod ui_live;
pub mod video;
pub mod web;
