//! The plugin conformance suite behind `switchboard conformance`.
//!
//! Modelled on clap-validator: a list of named checks ([`checks::ALL`]), each asserting one
//! sentence about the plugin. The parent process ([`run`]) re-executes the `switchboard`
//! binary once per check with a hidden flag; the child ([`run_check_here`]) loads the
//! plugin on its own, runs that one check and prints one result line. A child that dies of
//! a signal is reported `crashed` with the signal's name, one that outlives the timeout is
//! killed and reported `timed out`, and the run goes on with the next check.
//!
//! - [`raw`]: a minimal, deliberately unsafe view of the plugin ABI (misuse on purpose).
//! - [`checks`]: the checks.
//! - [`probe`]: process-wide state a plugin must not change (threads, fds, locale, ...).
//! - [`samples`]: events, fuzz inputs and layout requests, from a seed.
//! - [`elf`]: the library's dynamic symbol table.

pub mod checks;
pub mod elf;
pub mod probe;
pub mod raw;
mod runner;
pub mod samples;

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use runner::{RunCheckError, run, run_check_here};

/// What became of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The plugin does what the check asserts.
    Passed,
    /// It does not.
    Failed,
    /// The child process died (a signal, or an exit nobody asked for).
    Crashed,
    /// The child process was still running at the timeout and was killed.
    TimedOut,
    /// The check does not apply to this plugin.
    Skipped,
    /// Allowed, but worth fixing (slow, lenient, surprising).
    Warning,
}

impl Status {
    /// The word printed for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Passed => "passed",
            Self::Failed => "failed",
            Self::Crashed => "crashed",
            Self::TimedOut => "timed out",
            Self::Skipped => "skipped",
            Self::Warning => "warning",
        }
    }

    /// True for the statuses that make the run fail.
    pub fn is_bad(self) -> bool {
        matches!(self, Self::Failed | Self::Crashed | Self::TimedOut)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a check concluded, inside the child process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// The status (never `Crashed` or `TimedOut`: only the parent can see those).
    pub status: Status,
    /// One line for people.
    pub message: String,
}

impl Outcome {
    /// Passed.
    pub fn passed(message: impl Into<String>) -> Self {
        Self { status: Status::Passed, message: message.into() }
    }
    /// Failed.
    pub fn failed(message: impl Into<String>) -> Self {
        Self { status: Status::Failed, message: message.into() }
    }
    /// Warning.
    pub fn warning(message: impl Into<String>) -> Self {
        Self { status: Status::Warning, message: message.into() }
    }
    /// Skipped.
    pub fn skipped(message: impl Into<String>) -> Self {
        Self { status: Status::Skipped, message: message.into() }
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckReport {
    /// The check's name.
    pub name: String,
    /// What became of it.
    pub status: Status,
    /// Why.
    pub message: String,
    /// Wall time of the child process.
    pub duration_ms: u64,
}

/// Counts per status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Passed checks.
    pub passed: usize,
    /// Failed checks.
    pub failed: usize,
    /// Crashed checks.
    pub crashed: usize,
    /// Timed-out checks.
    pub timed_out: usize,
    /// Skipped checks.
    pub skipped: usize,
    /// Checks with a warning.
    pub warning: usize,
}

impl Summary {
    /// Counts `checks`.
    pub fn of(checks: &[CheckReport]) -> Self {
        let mut s = Self::default();
        for c in checks {
            *match c.status {
                Status::Passed => &mut s.passed,
                Status::Failed => &mut s.failed,
                Status::Crashed => &mut s.crashed,
                Status::TimedOut => &mut s.timed_out,
                Status::Skipped => &mut s.skipped,
                Status::Warning => &mut s.warning,
            } += 1;
        }
        s
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} passed, {} failed, {} crashed, {} timed out, {} skipped, {} warning{}",
            self.passed,
            self.failed,
            self.crashed,
            self.timed_out,
            self.skipped,
            self.warning,
            if self.warning == 1 { "" } else { "s" }
        )
    }
}

/// The whole run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The plugin file.
    pub plugin: String,
    /// The seed every check used; pass it to `--seed` to reproduce.
    pub seed: u64,
    /// One entry per check, in order.
    pub checks: Vec<CheckReport>,
    /// Counts per status.
    pub summary: Summary,
}

impl Report {
    /// True when no check failed, crashed or timed out.
    pub fn ok(&self) -> bool {
        !self.checks.iter().any(|c| c.status.is_bad())
    }
}

/// How to run the suite.
#[derive(Debug, Clone)]
pub struct Options {
    /// The plugin library.
    pub plugin: PathBuf,
    /// The seed for every generated input.
    pub seed: u64,
    /// Settings handed to `create` (a JSON object). String values may contain `{tmp}`,
    /// replaced by a fresh directory per check.
    pub settings: serde_json::Map<String, serde_json::Value>,
    /// Only checks whose name matches.
    pub only: Option<regex::Regex>,
    /// Not the checks whose name matches.
    pub skip: Option<regex::Regex>,
    /// How long one check's child process may run.
    pub timeout: Duration,
    /// The executable that understands `conformance --run-check` (the running binary).
    pub exe: PathBuf,
}

/// The marker before the one JSON line a child prints with its [`Outcome`].
pub const RESULT_MARKER: &str = "@@switchboard-conformance-result@@ ";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_line_and_verdict() {
        let check =
            |status| CheckReport { name: "x".to_owned(), status, message: String::new(), duration_ms: 1 };
        let checks = vec![check(Status::Passed), check(Status::Warning), check(Status::Skipped)];
        let summary = Summary::of(&checks);
        assert_eq!(summary.to_string(), "1 passed, 0 failed, 0 crashed, 0 timed out, 1 skipped, 1 warning");
        let report = Report { plugin: "p".to_owned(), seed: 1, checks, summary };
        assert!(report.ok(), "warnings and skips do not fail a run");
        for bad in [Status::Failed, Status::Crashed, Status::TimedOut] {
            assert!(bad.is_bad());
        }
        assert_eq!(serde_json::to_value(Status::TimedOut).expect("json"), "timed_out");
    }
}
