//! Probes of process-wide state (threads, fds, memory, locale, env, cwd, signal handlers,
//! panic hook, tracing dispatcher, stdio) that a plugin must leave as it found them.
//!
//! Every check runs in its own child process, so "before" is the state of a fresh process
//! and nothing else in it races with the plugin.

use std::collections::BTreeMap;
use std::ffi::CStr;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The ids and names (`comm`) of this process's threads.
pub fn threads() -> BTreeMap<u64, String> {
    let mut out = BTreeMap::new();
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else { return out };
    for entry in dir.flatten() {
        let Some(tid) = entry.file_name().to_str().and_then(|s| s.parse::<u64>().ok()) else { continue };
        let name = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        out.insert(tid, name.trim_end().to_owned());
    }
    out
}

/// How many threads this process has.
pub fn thread_count() -> usize {
    threads().len()
}

/// Waits up to `grace` for the thread count to drop to `target` (threads that were told
/// to stop take a moment to exit); returns the last count seen.
pub fn settle_threads(target: usize, grace: std::time::Duration) -> usize {
    let start = std::time::Instant::now();
    loop {
        let now = thread_count();
        if now <= target || start.elapsed() >= grace {
            return now;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// Thread names that betray an async runtime or executor of the plugin's own.
pub fn runtime_thread_name(name: &str) -> bool {
    const PREFIXES: &[&str] =
        &["tokio-runtime", "tokio-", "async-std", "async-io", "smol", "actix", "blocking-", "futures-"];
    PREFIXES.iter().any(|p| name.starts_with(p))
}

/// How many file descriptors this process has open.
pub fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
}

/// Resident set size in bytes, from `/proc/self/statm`.
pub fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * u64::try_from(page).unwrap_or(4096)
}

/// The current C locale of every category (`setlocale(LC_ALL, NULL)` only queries).
pub fn locale() -> String {
    // SAFETY: a null locale argument only queries; the returned string is copied at once,
    // before any other setlocale call could overwrite it.
    unsafe {
        let p = libc::setlocale(libc::LC_ALL, std::ptr::null());
        if p.is_null() { "<null>".to_owned() } else { CStr::from_ptr(p).to_string_lossy().into_owned() }
    }
}

/// The environment.
pub fn env() -> BTreeMap<String, String> {
    std::env::vars_os()
        .map(|(k, v)| (k.to_string_lossy().into_owned(), v.to_string_lossy().into_owned()))
        .collect()
}

/// The current directory.
pub fn cwd() -> String {
    std::env::current_dir().map(|p| p.display().to_string()).unwrap_or_else(|e| format!("<{e}>"))
}

/// The disposition of every catchable signal: handler address and flags, by number.
pub fn signal_handlers() -> BTreeMap<i32, (usize, i32)> {
    let mut out = BTreeMap::new();
    for sig in 1..=libc::SIGRTMAX() {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: sigaction with a null new action only queries into a zeroed local.
        let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: as above; `old` is a live local.
        let rc = unsafe { libc::sigaction(sig, std::ptr::null(), &mut old) };
        if rc == 0 {
            out.insert(sig, (old.sa_sigaction, old.sa_flags));
        }
    }
    out
}

/// The signal name for a number, e.g. `SIGSEGV`.
pub fn signal_name(sig: i32) -> String {
    let name = match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGSYS => "SIGSYS",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        _ => return format!("signal {sig}"),
    };
    name.to_owned()
}

/// A panic hook of ours, to tell whether someone replaced it.
#[derive(Debug)]
pub struct PanicHookMarker {
    hit: Arc<AtomicBool>,
}

impl PanicHookMarker {
    /// Installs a hook that only records that it ran.
    pub fn install() -> Self {
        let hit = Arc::new(AtomicBool::new(false));
        let seen = Arc::clone(&hit);
        std::panic::set_hook(Box::new(move |_| seen.store(true, Ordering::SeqCst)));
        Self { hit }
    }

    /// Panics (and catches it) to see whether our hook is still the one that runs, then
    /// puts the default hook back.
    pub fn still_ours(self) -> bool {
        self.hit.store(false, Ordering::SeqCst);
        let _ = std::panic::catch_unwind(|| panic!("conformance panic-hook probe"));
        let ours = self.hit.load(Ordering::SeqCst);
        let _ = std::panic::take_hook();
        ours
    }
}

/// Identifies the global tracing dispatcher. `Dispatch`'s Debug output names the
/// subscriber's address, which is what changes when someone installs another one.
pub fn tracing_dispatcher() -> String {
    format!(
        "set={} {}",
        tracing::dispatcher::has_been_set(),
        tracing::dispatcher::get_default(|d| format!("{d:?}"))
    )
}

/// Captures what is written to fd 1 and fd 2 while it lives (into temp files), so a
/// check can see whether a plugin prints.
#[derive(Debug)]
pub struct StdioCapture {
    saved_out: OwnedFd,
    saved_err: OwnedFd,
    out_file: File,
    err_file: File,
}

fn temp_file(tag: &str) -> std::io::Result<File> {
    let path = std::env::temp_dir().join(format!(
        "switchboard-conformance-{}-{tag}-{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
    ));
    let file = std::fs::OpenOptions::new().create_new(true).read(true).write(true).open(&path)?;
    // Unlinked at once: only our descriptors keep it.
    std::fs::remove_file(&path)?;
    Ok(file)
}

fn dup(fd: i32) -> std::io::Result<OwnedFd> {
    // SAFETY: dup has no memory-safety preconditions.
    let new = unsafe { libc::dup(fd) };
    if new < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `new` is a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

fn dup2(from: i32, to: i32) -> std::io::Result<()> {
    // SAFETY: dup2 has no memory-safety preconditions; both are open descriptors.
    if unsafe { libc::dup2(from, to) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

impl StdioCapture {
    /// Starts capturing fd 1 and fd 2.
    pub fn start() -> std::io::Result<Self> {
        use std::io::Write;
        let _ = std::io::stdout().flush();
        let out_file = temp_file("stdout")?;
        let err_file = temp_file("stderr")?;
        let saved_out = dup(1)?;
        let saved_err = dup(2)?;
        dup2(out_file.as_raw_fd(), 1)?;
        dup2(err_file.as_raw_fd(), 2)?;
        Ok(Self { saved_out, saved_err, out_file, err_file })
    }

    /// Stops capturing; returns what was written to stdout and to stderr.
    pub fn finish(mut self) -> std::io::Result<(Vec<u8>, Vec<u8>)> {
        use std::io::{Seek, Write};
        let _ = std::io::stdout().flush();
        dup2(self.saved_out.as_raw_fd(), 1)?;
        dup2(self.saved_err.as_raw_fd(), 2)?;
        let mut out = Vec::new();
        let mut err = Vec::new();
        self.out_file.seek(std::io::SeekFrom::Start(0))?;
        self.out_file.read_to_end(&mut out)?;
        self.err_file.seek(std::io::SeekFrom::Start(0))?;
        self.err_file.read_to_end(&mut err)?;
        Ok((out, err))
    }
}
