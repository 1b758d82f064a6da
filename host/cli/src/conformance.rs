//! `switchboard conformance PLUGIN_FILE`: runs the plugin conformance suite, each check in a
//! child process of this same binary (the hidden `--run-check` flag).

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};

use switchboard_conformance::{self as conformance, Options, checks};

/// Arguments of `switchboard conformance`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The plugin library (.so) to check.
    #[arg(required_unless_present = "list")]
    pub plugin: Option<PathBuf>,
    /// Print the report as JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Seed for generated inputs (default: random); the report names the seed, and the same
    /// seed reproduces a fuzz failure.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Run only the checks whose name matches this regex.
    #[arg(long, value_name = "REGEX")]
    pub only: Option<String>,
    /// Skip the checks whose name matches this regex.
    #[arg(long, value_name = "REGEX")]
    pub skip: Option<String>,
    /// How long one check may run before it is killed and reported `timed out`.
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    pub timeout_ms: u64,
    /// Settings handed to create, as a JSON object, for plugins that need settings; `{tmp}`
    /// in a string becomes a fresh directory per check.
    #[arg(long, value_name = "JSON")]
    pub settings: Option<String>,
    /// List the checks and what each asserts, then exit.
    #[arg(long)]
    pub list: bool,
    /// Internal: run one check in this process (how the suite isolates checks).
    #[arg(long, hide = true, value_name = "NAME")]
    pub run_check: Option<String>,
}

fn parse_settings(raw: Option<&str>) -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
    let Some(raw) = raw else { return Ok(serde_json::Map::new()) };
    match serde_json::from_str(raw).context("parsing --settings as JSON")? {
        serde_json::Value::Object(map) => Ok(map),
        other => bail!("--settings must be a JSON object, got {other}"),
    }
}

fn regex(raw: Option<&str>, flag: &str) -> anyhow::Result<Option<regex::Regex>> {
    raw.map(|r| regex::Regex::new(r).with_context(|| format!("parsing {flag} {r:?} as a regex"))).transpose()
}

/// A seed from the clock, for runs that did not ask for one.
fn fresh_seed() -> u64 {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    (nanos as u64) ^ (u64::from(std::process::id()) << 32)
}

/// Runs `switchboard conformance`.
pub fn run(args: Args) -> anyhow::Result<()> {
    if args.list {
        for check in checks::ALL {
            println!("{:<28} {}", check.name, check.asserts);
        }
        return Ok(());
    }
    let plugin = args.plugin.clone().context("a PLUGIN_FILE is required")?;
    let settings = parse_settings(args.settings.as_deref())?;
    let seed = args.seed.unwrap_or_else(fresh_seed);
    if let Some(name) = &args.run_check {
        return conformance::run_check_here(name, &plugin, seed, settings)
            .with_context(|| format!("running check {name} on {}", plugin.display()));
    }
    if !plugin.exists() {
        bail!("plugin file {} does not exist", plugin.display());
    }
    let options = Options {
        plugin: plugin.clone(),
        seed,
        settings,
        only: regex(args.only.as_deref(), "--only")?,
        skip: regex(args.skip.as_deref(), "--skip")?,
        timeout: Duration::from_millis(args.timeout_ms),
        exe: std::env::current_exe().context("finding the switchboard executable to re-run checks in")?,
    };
    if !args.json {
        println!("switchboard conformance {} (seed {seed})", plugin.display());
    }
    let json = args.json;
    let report = conformance::run(&options, |check| {
        if !json {
            println!(
                "  {:<10} {:<28} {} ({} ms)",
                check.status.as_str(),
                check.name,
                check.message,
                check.duration_ms
            );
            // Progress is the point of printing per check; a closed stdout is not an error
            // worth stopping the run for.
            let _ = std::io::stdout().flush();
        }
    })
    .with_context(|| format!("running conformance checks on {}", plugin.display()))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report).context("encoding the report")?);
    } else {
        println!("{}", report.summary);
    }
    if report.ok() {
        return Ok(());
    }
    let bad = report.summary.failed + report.summary.crashed + report.summary.timed_out;
    bail!("{bad} conformance check(s) did not pass; reproduce with --seed {seed}")
}
