//! The child's side of process isolation: `switchboard plugin-host PATH` opens one plugin
//! library and serves create / handle / media / destroy frames from stdin, replying on
//! stdout, until the host closes the pipe or asks it to destroy the instance.
//!
//! The child runs the plugin exactly as the host would in process (same loader checks, same
//! [`PluginInstance`] wrapper), so a plugin behaves the same in both modes; only a crash or a
//! hang now ends this process instead of the host.

use std::fs::File;
use std::io::{self, BufReader, Write};
use std::os::fd::AsFd;
use std::path::Path;

use switchboard_core::abi::status;

use super::frame::{self, Op};
use crate::handle::PluginHandle;
use crate::library::{LoadError, load};
use crate::plugin::{PluginError, PluginInstance};

/// Why the plugin host child stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The library could not be loaded.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The address-space limit could not be set.
    #[error("setting the address-space limit to {bytes} bytes: {source}")]
    Limit {
        /// The limit asked for.
        bytes: u64,
        /// Why.
        source: nix::Error,
    },
    /// Reading a request or writing a reply failed.
    #[error("talking to the host over the pipe: {0}")]
    Pipe(#[from] io::Error),
    /// The host sent a frame that is not a request.
    #[error("the host sent an unknown request (first byte {0:?})")]
    BadRequest(Option<u8>),
}

/// Serves the plugin at `path` over stdin/stdout until the host closes stdin or destroys
/// the instance. `memory_limit` caps the process's address space (`RLIMIT_AS`), so a
/// plugin that eats memory fails its allocation (and aborts) instead of starving the
/// machine.
pub fn serve(path: &Path, memory_limit: Option<u64>) -> Result<(), ServeError> {
    // Frames go to a private copy of stdout; fd 1 itself is pointed at stderr, so a plugin
    // that prints cannot corrupt the frame stream (its output lands in the host's log).
    let mut out = File::from(io::stdout().as_fd().try_clone_to_owned()?);
    nix::unistd::dup2(2, 1).map_err(io::Error::from)?;
    if let Some(bytes) = memory_limit {
        use nix::sys::resource::{Resource, setrlimit};
        setrlimit(Resource::RLIMIT_AS, bytes, bytes).map_err(|source| ServeError::Limit { bytes, source })?;
    }
    let library = load(path)?;
    let mut input = BufReader::new(io::stdin().lock());
    let mut instance: Option<PluginInstance> = None;
    let mut body = Vec::new();
    let mut scratch = Vec::new();
    while frame::read_frame(&mut input, &mut body)? {
        let op = body.first().copied();
        let payload = body.get(1..).unwrap_or_default();
        let (code, reply): (i32, Vec<u8>) = match op.and_then(Op::from_byte) {
            Some(Op::Create) => {
                let settings = serde_json::from_slice(payload).unwrap_or_else(|_| {
                    serde_json::Value::String(String::from_utf8_lossy(payload).into_owned())
                });
                match PluginInstance::create(library.clone(), &settings) {
                    Ok(created) => {
                        instance = Some(created);
                        (status::OK, Vec::new())
                    }
                    Err(e) => error_reply(&e),
                }
            }
            Some(Op::Handle) => match instance.as_mut() {
                Some(live) => match live.handle_raw(payload) {
                    Ok(bytes) => (status::OK, bytes),
                    Err(e) => error_reply(&e),
                },
                None => no_instance(),
            },
            Some(Op::Media) => match (instance.as_mut(), frame::decode_media(payload)) {
                (Some(live), Some(media)) => match live.media(&media) {
                    Ok(()) => (status::OK, Vec::new()),
                    Err(e) => error_reply(&e),
                },
                (Some(_), None) => (status::INVALID_ARGUMENT, b"undecodable media frame".to_vec()),
                (None, _) => no_instance(),
            },
            Some(Op::Destroy) => {
                let result = match instance.take() {
                    Some(live) => match live.destroy() {
                        Ok(()) => (status::OK, Vec::new()),
                        Err(e) => error_reply(&e),
                    },
                    None => no_instance(),
                };
                frame::write_reply(&mut out, result.0, &result.1, &mut scratch)?;
                return Ok(());
            }
            None => return Err(ServeError::BadRequest(op)),
        };
        frame::write_reply(&mut out, code, &reply, &mut scratch)?;
    }
    out.flush()?;
    Ok(())
}

fn error_reply(error: &PluginError) -> (i32, Vec<u8>) {
    let (code, message) = error.status_and_message();
    (code, message.into_bytes())
}

fn no_instance() -> (i32, Vec<u8>) {
    (status::UNKNOWN_INSTANCE, b"no instance has been created in this plugin host".to_vec())
}
