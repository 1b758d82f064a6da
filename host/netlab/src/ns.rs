//! Network namespaces: creating them with `ip`, entering them from a thread or a child
//! process, finding the processes inside, and deleting them.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::Error;

/// Every namespace a lab makes is named `sb-<pid>-<lab>-<role>`.
pub(crate) const PREFIX: &str = "sb-";

/// Where `ip netns` keeps its namespaces.
pub(crate) const NETNS_DIR: &str = "/run/netns";

pub(crate) fn path(netns: &str) -> PathBuf {
    Path::new(NETNS_DIR).join(netns)
}

/// Opens a namespace's file (to setns() into it, or to compare it with a process's).
pub(crate) fn open(netns: &str) -> Result<File, Error> {
    File::open(path(netns)).map_err(|source| Error::Netns {
        netns: netns.to_owned(),
        what: "opening",
        source,
    })
}

/// Moves the calling thread into the namespace `fd` refers to.
pub(crate) fn enter(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: setns takes a file descriptor that `fd` keeps open for the call, and only
    // changes the calling thread's network namespace; it touches no memory of ours.
    let rc = unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

/// Runs `f` on a new thread inside `netns` and returns what it returns. Sockets made in
/// `f` belong to the namespace for their whole life, whichever thread uses them later.
pub(crate) fn run_in<T: Send>(netns: &str, f: impl FnOnce() -> T + Send) -> Result<T, Error> {
    let file = open(netns)?;
    let failed = |what, source| Error::Netns { netns: netns.to_owned(), what, source };
    std::thread::scope(|scope| {
        let handle = std::thread::Builder::new()
            .name(format!("netns {netns}"))
            .spawn_scoped(scope, || -> io::Result<T> {
                enter(file.as_fd())?;
                Ok(f())
            })
            .map_err(|e| failed("starting a thread", e))?;
        match handle.join() {
            Ok(result) => result.map_err(|e| failed("entering (setns)", e)),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// Runs `ip ARGS`, feeding `batch` to it on stdin when given (`ip -b -`).
pub(crate) fn ip(args: &[&str], batch: Option<&str>) -> Result<(), Error> {
    let command = match batch {
        Some(lines) => format!("ip {} <<EOF\n{lines}EOF", args.join(" ")),
        None => format!("ip {}", args.join(" ")),
    };
    let mut child = Command::new("ip")
        .args(args)
        .stdin(if batch.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| Error::Spawn { command: command.clone(), source })?;
    if let (Some(lines), Some(mut stdin)) = (batch, child.stdin.take()) {
        stdin
            .write_all(lines.as_bytes())
            .map_err(|source| Error::Spawn { command: command.clone(), source })?;
    }
    let output =
        child.wait_with_output().map_err(|source| Error::Spawn { command: command.clone(), source })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(Error::Command {
            command,
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
    }
}

/// In the calling thread's namespace: turns IPv6 off on `interfaces` and on any made later,
/// so hosts send no router solicitations, DAD or MLD frames that would cross the bridge
/// and use up its random draws. A kernel without IPv6 has nothing to turn off.
pub(crate) fn disable_ipv6(interfaces: &[&str]) -> io::Result<()> {
    if !Path::new("/proc/sys/net/ipv6").exists() {
        return Ok(());
    }
    for conf in ["all", "default"].iter().chain(interfaces) {
        let file = format!("/proc/sys/net/ipv6/conf/{conf}/disable_ipv6");
        std::fs::write(&file, "1").map_err(|e| io::Error::new(e.kind(), format!("writing {file}: {e}")))?;
    }
    Ok(())
}

/// In the calling thread's namespace: turns off transmit checksum offload and TSO on
/// `ifname` (the `ethtool -K IF tx off tso off` that the machine may not have), so the
/// frames the bridge sees are complete and at most one MTU long, as on a wire: a lost
/// frame is one TCP segment, not forty.
pub(crate) fn disable_offloads(ifname: &str) -> io::Result<()> {
    const SIOCETHTOOL: libc::c_ulong = 0x8946;
    const ETHTOOL_STXCSUM: u32 = 0x17;
    const ETHTOOL_STSO: u32 = 0x1f;
    #[repr(C)]
    struct EthtoolValue {
        cmd: u32,
        data: u32,
    }
    // SAFETY: socket() takes no pointers; the descriptor is owned below.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a descriptor we just opened and nothing else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };
    for cmd in [ETHTOOL_STXCSUM, ETHTOOL_STSO] {
        let mut value = EthtoolValue { cmd, data: 0 };
        // SAFETY: ifreq is plain old data, for which all zeroes is a valid value.
        let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
        let name = ifname.as_bytes();
        if name.len() >= ifr.ifr_name.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("interface name {ifname} too long"),
            ));
        }
        for (dst, &src) in ifr.ifr_name.iter_mut().zip(name) {
            *dst = src as libc::c_char;
        }
        ifr.ifr_ifru.ifru_data = (&raw mut value).cast();
        // SAFETY: SIOCETHTOOL reads the NUL-terminated name and the ethtool_value that
        // ifru_data points to; both live on this stack frame until the call returns.
        let rc = unsafe { libc::ioctl(sock.as_raw_fd(), SIOCETHTOOL, &raw mut ifr) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(e.kind(), format!("ethtool command {cmd:#x} on {ifname}: {e}")));
        }
    }
    Ok(())
}

/// The pids of the processes whose network namespace is `netns`, except this process.
/// (A thread of ours inside it is not a process inside it.)
pub(crate) fn processes_in(netns: &str) -> Vec<i32> {
    let Ok(target) = std::fs::metadata(path(netns)) else { return Vec::new() };
    let own = std::process::id() as i32;
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid != own)
        .filter(|pid| {
            std::fs::metadata(format!("/proc/{pid}/ns/net"))
                .is_ok_and(|m| m.ino() == target.ino() && m.dev() == target.dev())
        })
        .collect()
}

/// Kills (SIGKILL, by pid) every process left inside `netns`: only processes started in a
/// lab's namespace can be there. Waits up to a second for them to go.
pub(crate) fn kill_processes_in(netns: &str) {
    let deadline = Instant::now() + Duration::from_secs(1);
    for _ in 0..100 {
        let pids = processes_in(netns);
        if pids.is_empty() || Instant::now() > deadline {
            return;
        }
        for pid in pids {
            // SAFETY: kill() takes no pointers; the pid was found inside the lab's namespace.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Deletes a namespace: kills what runs inside, then `ip netns delete`.
pub(crate) fn delete(netns: &str) -> Result<(), Error> {
    kill_processes_in(netns);
    if !path(netns).exists() {
        return Ok(());
    }
    ip(&["netns", "delete", netns], None)
}

/// The pid in a lab namespace's name `sb-<pid>-<lab>-<role>`.
pub(crate) fn owner_pid(netns: &str) -> Option<i32> {
    let rest = netns.strip_prefix(PREFIX)?;
    let (pid, rest) = rest.split_once('-')?;
    let (lab, role) = rest.split_once('-')?;
    if lab.is_empty() || !lab.bytes().all(|b| b.is_ascii_digit()) || role.is_empty() {
        return None;
    }
    pid.parse().ok().filter(|&p| p > 0)
}

fn alive(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Deletes the namespaces that labs of processes no longer alive left behind (a run that
/// was killed, so no Drop ran), and returns their names. Namespaces of live processes,
/// including this one, are left alone.
pub fn cleanup_stale() -> Result<Vec<String>, Error> {
    let entries = match std::fs::read_dir(NETNS_DIR) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(Error::Netns { netns: NETNS_DIR.to_owned(), what: "listing", source }),
    };
    let mut removed = Vec::new();
    for entry in entries.take(10_000) {
        let Ok(entry) = entry else { continue };
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else { continue };
        let Some(pid) = owner_pid(&name) else { continue };
        if alive(pid) {
            continue;
        }
        delete(&name)?;
        removed.push(name);
    }
    removed.sort();
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::owner_pid;

    #[test]
    fn only_lab_names_have_an_owner() {
        assert_eq!(owner_pid("sb-1234-0-alice"), Some(1234));
        assert_eq!(owner_pid("sb-1234-17-hub"), Some(1234));
        assert_eq!(owner_pid("sb-1234-x-alice"), None);
        assert_eq!(owner_pid("sb-1234-0-"), None);
        assert_eq!(owner_pid("sb-abc-0-alice"), None);
        assert_eq!(owner_pid("sb-0-0-alice"), None);
        assert_eq!(owner_pid("other-1234-0-alice"), None);
        assert_eq!(owner_pid("sbx"), None);
    }
}
