//! The one integration test binary of the host: one module per area. It lives in the
//! `switchboard` package because many tests run the binary itself.

mod bus;
mod calls;
mod cli_foundation;
mod conformance;
mod fixtures;
mod listeners;
mod media;
mod plugin_loading;
mod rtc;
mod run;
mod signaling;
mod web;

mod snapshot;

mod features;
mod isolation;
mod video;
mod video_call;
