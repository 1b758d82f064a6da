//! The host's side of process isolation: one plugin instance living in a child process
//! (`switchboard plugin-host PATH`), driven with the same messages as an in-process one.
//!
//! Every call writes one request frame and waits for one reply frame, at most the plugin's
//! deadline: `poll(2)` on the pipe bounds the wait, so a hung plugin costs its deadline and
//! then its process (killed), never the caller's thread. A child that dies (segfault, abort,
//! out of memory) shows up as the pipe closing; the exit status names the signal.
//!
//! [`ProcessInstance`] implements the same [`PluginHandle`] as the in-process
//! [`crate::plugin::PluginInstance`], so the bus cannot tell them apart.

use std::io::{BufReader, ErrorKind};
use std::os::fd::AsRawFd;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchboard_core::abi::status;
use switchboard_core::sdk::MediaFrame;
use switchboard_core::wire::PluginReply;

use super::frame::{self, Op};
use crate::handle::{PluginError, PluginHandle, decode_reply, status_error};
use crate::library::PluginLibrary;
use crate::policy::IsolationPolicy;

/// The hidden subcommand the child runs.
pub const PLUGIN_HOST_SUBCOMMAND: &str = "plugin-host";

/// How long a child that closed its pipe gets to finish exiting before it is killed, so
/// reading its exit status never hangs the host.
const REAP_GRACE: Duration = Duration::from_millis(500);

/// One plugin instance in a child process. Calls (through [`PluginHandle`]) need
/// `&mut self`, like [`crate::plugin::PluginInstance`]. Dropping it destroys the instance and
/// ends the child.
#[derive(Debug)]
pub struct ProcessInstance {
    library: Arc<PluginLibrary>,
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    deadline: Duration,
    /// The child is gone (crashed, killed or destroyed): every call fails.
    gone: Option<PluginError>,
    body: Vec<u8>,
    scratch: Vec<u8>,
    payload: Vec<u8>,
}

impl ProcessInstance {
    /// Starts the plugin host child for `library` and creates the instance in it with
    /// `settings`.
    pub fn spawn(
        library: Arc<PluginLibrary>,
        settings: &serde_json::Value,
        policy: &IsolationPolicy,
    ) -> Result<Self, PluginError> {
        let exe = match &policy.host_exe {
            Some(exe) => exe.clone(),
            None => std::env::current_exe().unwrap_or_else(|_| PathBuf::from("switchboard")),
        };
        let mut command = Command::new(&exe);
        command.arg(PLUGIN_HOST_SUBCOMMAND).arg(library.path());
        if let Some(bytes) = policy.memory_limit {
            command.arg("--memory-limit-bytes").arg(bytes.to_string());
        }
        let spawn_error = |message: String| PluginError::Spawn {
            plugin: library.id().to_owned(),
            exe: exe.display().to_string(),
            message,
        };
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| spawn_error(e.to_string()))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(spawn_error("the child's pipes were not set up".to_owned()));
        };
        let mut instance = Self {
            library: library.clone(),
            child,
            stdin,
            stdout: BufReader::with_capacity(64 << 10, stdout),
            deadline: policy.deadline,
            gone: None,
            body: Vec::new(),
            scratch: Vec::new(),
            payload: Vec::new(),
        };
        let settings = serde_json::to_vec(settings).map_err(|e| PluginError::CreateFailed {
            plugin: library.id().to_owned(),
            message: format!("settings cannot be encoded: {e}"),
        })?;
        let (code, message) = instance.request(Op::Create, &settings, "create")?;
        let message = String::from_utf8_lossy(message).into_owned();
        match code {
            status::OK => Ok(instance),
            status::ERROR => Err(PluginError::CreateFailed { plugin: library.id().to_owned(), message }),
            other => Err(status_error(library.id().to_owned(), "create", other, message, 0)),
        }
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn handle_raw_ref(&mut self, message: &[u8]) -> Result<&[u8], PluginError> {
        let library = self.library.clone();
        let (code, payload) = self.request(Op::Handle, message, "handle")?;
        if code == status::OK {
            return Ok(payload);
        }
        let text = String::from_utf8_lossy(payload).into_owned();
        Err(status_error(library.id().to_owned(), "handle", code, text, 0))
    }

    fn destroy_inner(&mut self) -> Result<(), PluginError> {
        if self.gone.is_some() {
            return Ok(());
        }
        let result = self.request(Op::Destroy, &[], "destroy").map(|(code, _)| code);
        self.gone = Some(PluginError::Failed {
            plugin: self.id().to_owned(),
            message: "the instance was destroyed".to_owned(),
        });
        // The child exits after answering destroy; reap it (or kill it if it lingers).
        let _ = self.reap();
        match result? {
            status::OK => Ok(()),
            code => Err(status_error(self.id().to_owned(), "destroy", code, String::new(), 0)),
        }
    }

    /// Writes one request and waits (up to the deadline) for its reply: the status and a
    /// borrowed payload.
    fn request(&mut self, op: Op, payload: &[u8], call: &'static str) -> Result<(i32, &[u8]), PluginError> {
        if let Some(gone) = &self.gone {
            return Err(gone.clone());
        }
        let start = Instant::now();
        if let Err(e) = frame::write_request(&mut self.stdin, op, payload, &mut self.scratch) {
            return Err(self.died(call, &format!("writing the request: {e}")));
        }
        self.wait_readable(start, call)?;
        match frame::read_frame(&mut self.stdout, &mut self.body) {
            Ok(true) if self.body.len() >= 4 => {}
            Ok(true) => return Err(self.died(call, "the reply frame is too short")),
            Ok(false) => return Err(self.died(call, "the pipe closed")),
            Err(e) => return Err(self.died(call, &format!("reading the reply: {e}"))),
        }
        let code = i32::from_le_bytes([self.body[0], self.body[1], self.body[2], self.body[3]]);
        Ok((code, &self.body[4..]))
    }

    /// Waits until the reply has started to arrive, or the deadline passes (then the child
    /// is killed: a plugin stuck in a loop cannot be interrupted any other way).
    fn wait_readable(&mut self, start: Instant, call: &'static str) -> Result<(), PluginError> {
        use nix::poll::{PollFd, PollFlags, poll};
        if !self.stdout.buffer().is_empty() {
            return Ok(());
        }
        let fd = self.stdout.get_ref().as_raw_fd();
        loop {
            let left = self.deadline.saturating_sub(start.elapsed());
            if left.is_zero() {
                return Err(self.timed_out(call));
            }
            let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
            // Round up so a sub-millisecond remainder still waits instead of spinning.
            let ms = i32::try_from(left.as_millis() + 1).unwrap_or(i32::MAX);
            match poll(&mut fds, ms) {
                // Readable, or hung up (the child died): the read that follows tells which.
                Ok(n) if n > 0 => return Ok(()),
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(self.died(call, &format!("waiting for the reply: {e}"))),
            }
        }
    }

    fn timed_out(&mut self, call: &'static str) -> PluginError {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let error = PluginError::TimedOut {
            plugin: self.id().to_owned(),
            call,
            deadline_ms: u64::try_from(self.deadline.as_millis()).unwrap_or(u64::MAX),
        };
        self.gone = Some(error.clone());
        error
    }

    /// The child broke the pipe: reap it and say how it ended.
    fn died(&mut self, call: &'static str, what: &str) -> PluginError {
        let detail = match self.reap() {
            Some(status) => describe_exit(status),
            None => what.to_owned(),
        };
        let error = PluginError::Crashed { plugin: self.id().to_owned(), call, detail };
        self.gone = Some(error.clone());
        error
    }

    /// Waits a short while for the child to exit, killing it if it does not.
    fn reap(&mut self) -> Option<ExitStatus> {
        let until = Instant::now() + REAP_GRACE;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) if Instant::now() < until => std::thread::sleep(Duration::from_millis(2)),
                Ok(None) => {
                    let _ = self.child.kill();
                    return self.child.wait().ok();
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return None,
            }
        }
    }
}

impl PluginHandle for ProcessInstance {
    fn library(&self) -> &Arc<PluginLibrary> {
        &self.library
    }

    fn is_isolated(&self) -> bool {
        true
    }

    fn handle_bytes(&mut self, message: &[u8]) -> Result<PluginReply, PluginError> {
        let decoded = decode_reply(self.handle_raw_ref(message)?);
        decoded.map_err(|message| PluginError::BadReply { plugin: self.library.id().to_owned(), message })
    }

    fn handle_raw(&mut self, message: &[u8]) -> Result<Vec<u8>, PluginError> {
        self.handle_raw_ref(message).map(<[u8]>::to_vec)
    }

    fn media(&mut self, media: &MediaFrame<'_>) -> Result<(), PluginError> {
        if !self.takes_media() {
            return Err(PluginError::NoMedia { plugin: self.id().to_owned() });
        }
        let mut payload = std::mem::take(&mut self.payload);
        frame::encode_media(media, &mut payload);
        let result = self.request(Op::Media, &payload, "media").map(|(code, _)| code);
        self.payload = payload;
        match result? {
            status::OK => Ok(()),
            code => Err(status_error(self.id().to_owned(), "media", code, String::new(), 0)),
        }
    }

    /// Destroys the instance (the plugin's `shutdown` runs in the child) and ends the child.
    fn destroy(mut self: Box<Self>) -> Result<(), PluginError> {
        self.destroy_inner()
    }
}

/// "killed by SIGSEGV", "exited with status 3".
pub fn describe_exit(status: ExitStatus) -> String {
    if let Some(signal) = status.signal() {
        let name =
            nix::sys::signal::Signal::try_from(signal).map(|s| s.as_str()).unwrap_or("an unknown signal");
        format!("its process was killed by {name} (signal {signal})")
    } else if let Some(code) = status.code() {
        format!("its process exited with status {code}")
    } else {
        format!("its process ended: {status}")
    }
}

impl Drop for ProcessInstance {
    fn drop(&mut self) {
        if let Err(e) = self.destroy_inner() {
            tracing::warn!(plugin = %self.id(), "destroying isolated plugin instance: {e}");
        }
    }
}
