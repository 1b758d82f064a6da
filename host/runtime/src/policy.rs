//! [`IsolationPolicy`]: how a plugin runs (in the host or in a child process) and what
//! happens when it crashes, as a `[[plugin]]` table says.
//!
//! Plain data with no dependency on the rest of the crate, so that the loader can put it in
//! a [`crate::loader::PluginSpec`] without knowing how a child process is driven. It is
//! public as [`crate::isolation::IsolationPolicy`].

use std::path::PathBuf;
use std::time::Duration;

use switchboard_config::{Isolation, OnCrash, PluginEntry};

/// How a plugin runs and what happens when it crashes: a `[[plugin]]` table's `isolation`,
/// `on_crash`, `max_restarts`, `deadline_ms` and `memory_limit_mb`.
#[derive(Debug, Clone, PartialEq)]
pub struct IsolationPolicy {
    /// In the host, or in a child process.
    pub mode: Isolation,
    /// Restart or disable a crashed isolated plugin.
    pub on_crash: OnCrash,
    /// Restarts allowed over the bus's life before the plugin is disabled.
    pub max_restarts: u32,
    /// How long one message may take before the plugin counts as hung.
    pub deadline: Duration,
    /// `RLIMIT_AS` of the child, in bytes.
    pub memory_limit: Option<u64>,
    /// The `switchboard` binary to run as the plugin host; `None` is the running executable
    /// (which is `switchboard` except in tests and benchmarks that embed the bus).
    pub host_exe: Option<PathBuf>,
}

impl Default for IsolationPolicy {
    fn default() -> Self {
        Self {
            mode: Isolation::InProcess,
            on_crash: OnCrash::Restart,
            max_restarts: PluginEntry::DEFAULT_MAX_RESTARTS,
            deadline: Duration::from_millis(PluginEntry::DEFAULT_DEADLINE_MS),
            memory_limit: None,
            host_exe: None,
        }
    }
}

impl IsolationPolicy {
    /// The policy a `[[plugin]]` table asks for.
    pub fn from_entry(entry: &PluginEntry) -> Self {
        Self {
            mode: entry.isolation,
            on_crash: entry.on_crash,
            max_restarts: entry.max_restarts,
            deadline: Duration::from_millis(entry.deadline_ms),
            memory_limit: entry.memory_limit_mb.map(|mb| mb.saturating_mul(1 << 20)),
            host_exe: None,
        }
    }

    /// Out of process, with the given plugin host binary and otherwise the defaults.
    pub fn process(host_exe: Option<PathBuf>) -> Self {
        Self { mode: Isolation::Process, host_exe, ..Self::default() }
    }

    /// How long to wait before restart number `attempt` (1-based): 100 ms doubling, at most
    /// 2 s, so a plugin that crashes at once on every start cannot spin a core.
    pub fn backoff(attempt: u32) -> Duration {
        let ms = 100u64.saturating_mul(1 << attempt.saturating_sub(1).min(5));
        Duration::from_millis(ms.min(2000))
    }
}
