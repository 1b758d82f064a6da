//! A network fault lab for tests: each participant in its own network namespace, all of
//! them behind a userspace bridge that impairs each host's link on demand.
//!
//! ```no_run
//! use switchboard_netlab::{Impairment, Lab, ms};
//!
//! # fn main() -> Result<(), switchboard_netlab::Error> {
//! let lab = Lab::builder().host("alice").host("bob").host("server").build()?;
//! lab.link("bob").set(Impairment::loss(0.15))?;
//! lab.link("alice").set(Impairment { delay: ms(100), jitter: ms(30), rate_kbit: Some(300), ..Impairment::NONE })?;
//! let server = lab.command("server", "switchboard").arg("serve").arg("--listen").arg(format!("{}:7700", lab.addr("server"))).spawn();
//! lab.link("bob").down();
//! lab.link("bob").up();
//! println!("{:?}", lab.link("bob").stats());
//! # let _ = server;
//! # Ok(())
//! # }
//! ```
//!
//! How it works, and why there is no netem: `docs/netlab.md`. In short, every host gets a
//! namespace with `lo` and one veth (`eth0`) holding `198.18.<lab>.<n>/24` and no default
//! route, so its traffic cannot leave the lab; the veths' other ends sit in a hub namespace,
//! where one thread forwards Ethernet frames between them through AF_PACKET sockets and
//! applies loss, delay, jitter, reordering, rate caps and outages per host and direction.
//!
//! Everything needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN); [`unavailable`] says why a lab
//! cannot be built here, for tests that skip instead of failing.

mod bridge;
mod impair;
mod lab;
mod ns;
mod rng;
mod stats;

pub use impair::{Direction, Impairment, JitterDistribution, REORDER_HOLD, ms};
pub use lab::{DEFAULT_SEED, Lab, LabBuilder, Link, MAX_HOSTS};
pub use ns::cleanup_stale;
pub use stats::{DirStats, LinkStats};

/// What went wrong building, using or tearing down a lab, and where.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A command (`ip ...`) ran and failed.
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        /// The command line, with its batch input if it had one.
        command: String,
        /// Its exit status.
        status: String,
        /// What it printed on stderr.
        stderr: String,
    },
    /// A command could not be started or fed.
    #[error("could not run `{command}`: {source}")]
    Spawn {
        /// The command line.
        command: String,
        /// Why.
        source: std::io::Error,
    },
    /// A system call about a namespace failed.
    #[error("{what} (network namespace {netns}): {source}")]
    Netns {
        /// The namespace.
        netns: String,
        /// What was being done.
        what: &'static str,
        /// Why it failed.
        source: std::io::Error,
    },
    /// A host name that the lab does not have.
    #[error("no host `{host}` in this lab (its hosts: {hosts})")]
    UnknownHost {
        /// The name asked for.
        host: String,
        /// The lab's hosts, comma-separated.
        hosts: String,
    },
    /// The builder was given something a lab cannot be made of.
    #[error("cannot build this lab: {reason}")]
    InvalidLab {
        /// Why.
        reason: String,
    },
    /// An impairment with values out of range.
    #[error("invalid impairment: {reason}")]
    InvalidImpairment {
        /// Which value, and why.
        reason: String,
    },
    /// The bridge thread stopped or failed; no frames move any more.
    #[error("the lab's bridge failed: {message}")]
    Bridge {
        /// What it reported.
        message: String,
    },
}

/// Why a lab cannot be built on this machine, or None if it can: labs need root's
/// capabilities (CAP_SYS_ADMIN for namespaces, CAP_NET_ADMIN and CAP_NET_RAW for the links
/// and the bridge) and `ip` (iproute2). Tests call this to skip with a message.
///
/// ```
/// if let Some(why) = switchboard_netlab::unavailable() {
///     eprintln!("skipping: {why}");
///     return;
/// }
/// ```
pub fn unavailable() -> Option<String> {
    const NEEDED: [(u32, &str); 3] = [(12, "CAP_NET_ADMIN"), (13, "CAP_NET_RAW"), (21, "CAP_SYS_ADMIN")];
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let effective = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .unwrap_or(0);
    let missing: Vec<&str> =
        NEEDED.iter().filter(|(bit, _)| effective & (1 << bit) == 0).map(|(_, name)| *name).collect();
    if !missing.is_empty() {
        return Some(format!(
            "network labs need root ({} missing): namespaces, veth pairs, AF_PACKET sockets",
            missing.join(", ")
        ));
    }
    match std::process::Command::new("ip").arg("-V").output() {
        Ok(out) if out.status.success() => None,
        Ok(out) => Some(format!("`ip -V` failed ({}); network labs need iproute2", out.status)),
        Err(e) => Some(format!("cannot run `ip` ({e}); network labs need iproute2")),
    }
}
