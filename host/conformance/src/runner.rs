//! Runs checks: the parent side (one child process per check, with a timeout) and the
//! child side (one check, in this process).

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::checks::{self, Ctx};
use super::{CheckReport, Options, Outcome, RESULT_MARKER, Report, Status, Summary, probe};

/// How much of a crashed child's stderr goes into the message.
const STDERR_TAIL: usize = 600;

/// Runs every selected check, each in its own child process, calling `on_check` as each
/// one ends (so a long run shows progress).
pub fn run(options: &Options, mut on_check: impl FnMut(&CheckReport)) -> std::io::Result<Report> {
    let scratch = std::env::temp_dir().join(format!(
        "switchboard-conformance-{}-{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
    ));
    std::fs::create_dir_all(&scratch)?;
    let mut reports = Vec::new();
    for check in checks::ALL {
        if options.only.as_ref().is_some_and(|re| !re.is_match(check.name))
            || options.skip.as_ref().is_some_and(|re| re.is_match(check.name))
        {
            continue;
        }
        let dir = scratch.join(check.name);
        std::fs::create_dir_all(&dir)?;
        let settings = with_tmp(&options.settings, &dir);
        let report = run_child(options, check.name, &settings)?;
        on_check(&report);
        reports.push(report);
    }
    // The scratch space holds what plugins wrote (logs, recordings); nobody needs it now.
    let _ = std::fs::remove_dir_all(&scratch);
    let summary = Summary::of(&reports);
    Ok(Report { plugin: options.plugin.display().to_string(), seed: options.seed, checks: reports, summary })
}

/// Replaces `{tmp}` in every string value with `dir`.
fn with_tmp(
    settings: &serde_json::Map<String, serde_json::Value>,
    dir: &Path,
) -> serde_json::Map<String, serde_json::Value> {
    fn walk(v: &serde_json::Value, dir: &str) -> serde_json::Value {
        match v {
            serde_json::Value::String(s) => serde_json::Value::String(s.replace("{tmp}", dir)),
            serde_json::Value::Array(a) => serde_json::Value::Array(a.iter().map(|v| walk(v, dir)).collect()),
            serde_json::Value::Object(o) => {
                serde_json::Value::Object(o.iter().map(|(k, v)| (k.clone(), walk(v, dir))).collect())
            }
            other => other.clone(),
        }
    }
    let dir = dir.display().to_string();
    settings.iter().map(|(k, v)| (k.clone(), walk(v, &dir))).collect()
}

fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut out = Vec::new();
        // A read error just ends the capture; what was read so far is kept.
        let _ = pipe.read_to_end(&mut out);
        out
    })
}

fn tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim();
    let start = text.len().saturating_sub(STDERR_TAIL);
    let start = (start..=text.len()).find(|&i| text.is_char_boundary(i)).unwrap_or(text.len());
    text[start..].replace('\n', " | ")
}

/// Runs one check in a child process and classifies how it ended.
fn run_child(
    options: &Options,
    name: &'static str,
    settings: &serde_json::Map<String, serde_json::Value>,
) -> std::io::Result<CheckReport> {
    let started = Instant::now();
    let mut child = Command::new(&options.exe)
        .arg("conformance")
        .arg(&options.plugin)
        .arg("--run-check")
        .arg(name)
        .arg("--seed")
        .arg(options.seed.to_string())
        .arg("--settings")
        .arg(serde_json::Value::Object(settings.clone()).to_string())
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let stdout = drain(child.stdout.take().expect("stdout was piped"));
    let stderr = drain(child.stderr.take().expect("stderr was piped"));
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() >= options.timeout {
            timed_out = true;
            // The child may have exited between try_wait and kill; either way wait reaps it.
            let _ = child.kill();
            break child.wait()?;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let duration_ms = started.elapsed().as_millis() as u64;
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    let outcome = String::from_utf8_lossy(&stdout).lines().rev().find_map(|line| {
        line.strip_prefix(RESULT_MARKER).and_then(|json| serde_json::from_str::<Outcome>(json).ok())
    });
    let (status_out, message) = if timed_out {
        (Status::TimedOut, format!("still running after {} ms; killed", options.timeout.as_millis()))
    } else if let Some(outcome) = outcome {
        (outcome.status, outcome.message)
    } else {
        use std::os::unix::process::ExitStatusExt;
        let how = match (status.signal(), status.code()) {
            (Some(sig), _) => probe::signal_name(sig),
            (None, Some(code)) => format!("exited with code {code} without a result"),
            (None, None) => "ended without a result".to_owned(),
        };
        let err = tail(&stderr);
        (Status::Crashed, if err.is_empty() { how } else { format!("{how}; stderr: {err}") })
    };
    Ok(CheckReport { name: name.to_owned(), status: status_out, message, duration_ms })
}

/// Why the child side could not run a check.
#[derive(Debug, thiserror::Error)]
pub enum RunCheckError {
    /// No check has this name.
    #[error("no conformance check named `{name}` (see `switchboard conformance --list`)")]
    UnknownCheck {
        /// The name asked for.
        name: String,
    },
    /// The outcome could not be encoded.
    #[error("encoding the outcome of check {name}: {source}")]
    Encode {
        /// The check.
        name: String,
        /// The encoder's error.
        source: serde_json::Error,
    },
}

/// The child side: runs check `name` in this process and prints its one result line.
pub fn run_check_here(
    name: &str,
    plugin: &Path,
    seed: u64,
    settings: serde_json::Map<String, serde_json::Value>,
) -> Result<(), RunCheckError> {
    let check = checks::ALL
        .iter()
        .find(|c| c.name == name)
        .ok_or_else(|| RunCheckError::UnknownCheck { name: name.to_owned() })?;
    let mut ctx = Ctx::new(plugin, seed, settings);
    let outcome = match (check.run)(&mut ctx) {
        Ok(outcome) | Err(outcome) => outcome,
    };
    let line = serde_json::to_string(&outcome)
        .map_err(|source| RunCheckError::Encode { name: name.to_owned(), source })?;
    // The plugin may have written to stdout too; the marker makes our line findable.
    println!("\n{RESULT_MARKER}{line}");
    // Never unload the plugin: a thread it leaked would crash on unmapped code, and the
    // process is about to exit anyway.
    std::mem::forget(ctx);
    Ok(())
}
