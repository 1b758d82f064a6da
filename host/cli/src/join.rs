//! `switchboard join`: a headless participant for scripts, bots and tests.
//!
//! Writes every event it receives as one JSON object per line (`--events`, stdout when
//! omitted), runs a `--script` of timed actions, and writes a `--stats` file at exit. It
//! ends on its own after `--duration`, when the session ends (by script, idle timeout,
//! `call_ended` or failure), or on SIGINT/SIGTERM; it exits non-zero when it could not join.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context as _;
use switchboard_config::script::Script;
use switchboard_core::{CallsException, Command, ErrorCode, Event};

use crate::participant::ParticipantArgs;
use switchboard_runtime::bus::Bus;
use switchboard_runtime::listeners::FnListener;
use switchboard_session::output::EventLines;
use switchboard_session::participant;
use switchboard_signaling::ClientError;

/// Arguments of `switchboard join`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Who joins which session, with which config.
    #[command(flatten)]
    pub participant: ParticipantArgs,
    /// A TOML script of timed actions.
    #[arg(long)]
    pub script: Option<PathBuf>,
    /// Where event lines go (stdout when omitted).
    #[arg(long)]
    pub events: Option<PathBuf>,
}

/// Runs `switchboard join`.
pub fn run(args: Args) -> anyhow::Result<()> {
    // The bus's threads live in the executor; they stop with it.
    switchboard_runtime::exec::block_on(join(args))
}

async fn join(args: Args) -> anyhow::Result<()> {
    // Everything that can be wrong with the input is checked before anything starts.
    let credentials = args.participant.credentials()?;
    let (config, config_path) = participant::load_config(args.participant.config.as_deref())?;
    let script = match &args.script {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading script {}", path.display()))?;
            Script::from_toml_str(&text, &path.display().to_string())?
        }
        None => Script::default(),
    };
    let out: Box<dyn Write + Send> = match &args.events {
        Some(path) => {
            Box::new(File::create(path).with_context(|| format!("creating events file {}", path.display()))?)
        }
        None => Box::new(std::io::stdout()),
    };
    let lines = Arc::new(Mutex::new(EventLines::new(out)));

    let bus = participant::start_bus(&config)?;
    if let Some(path) = config_path {
        // SIGHUP re-reads the config: a new layout or a rebuilt plugin is swapped in live.
        switchboard_session::reload::reload_on_sighup(bus.clone(), path, &config);
    }
    let call_ended = Arc::new(tokio::sync::Notify::new());
    {
        let lines = Arc::clone(&lines);
        let call_ended = Arc::clone(&call_ended);
        bus.add_listener(
            "join-events",
            Arc::new(FnListener(move |event: &Event| {
                let mut lines = lines.lock().unwrap_or_else(PoisonError::into_inner);
                if let Err(e) = lines.write(event) {
                    tracing::error!("writing an event line: {e}");
                }
                if matches!(event, Event::CallEnded) {
                    call_ended.notify_one();
                }
            })),
        )
        .context("registering the event writer")?;
    }

    let token = match participant::call_token(
        &args.participant.server,
        &credentials,
        &args.participant.session,
    )
    .await
    {
        Ok(token) => token,
        Err(e) => return Err(could_not_join(&bus, e.into()).await),
    };
    let session = match participant::start_session(
        &args.participant.server,
        token,
        &args.participant.session,
        config,
        bus.clone(),
    )
    .await
    {
        Ok(session) => session,
        Err(e) => return Err(could_not_join(&bus, e.into()).await),
    };

    let script_runner = {
        let bus = bus.clone();
        async move {
            let start = tokio::time::Instant::now();
            for step in script.steps {
                tokio::time::sleep_until(start + Duration::from_millis(step.at_ms)).await;
                let name = step.command.name();
                // A failed step is reported on the bus (the events file shows it) and the
                // script goes on, as an app's button press would.
                if let Err(e) = bus.command(step.command).await {
                    tracing::warn!("script step {name} at {} ms failed: {e}", step.at_ms);
                    bus.publish(Event::error(&e));
                }
            }
            std::future::pending::<()>().await;
        }
    };
    let duration = async {
        match args.participant.duration {
            Some(secs) => tokio::time::sleep(Duration::from_secs_f64(secs.max(0.0))).await,
            None => std::future::pending().await,
        }
    };
    let stay = args.participant.stay_after_call_ended;
    let after_call_ended = async {
        if stay {
            std::future::pending::<()>().await;
        }
        call_ended.notified().await;
    };

    tokio::select! {
        () = session.finished() => {}
        () = script_runner => {}
        () = duration => {}
        () = after_call_ended => {}
        () = shutdown_signal() => {}
    }
    if !session.is_finished() {
        // Ending an already-ended session is the only failure here, and harmless.
        let _ = session.command(Command::EndSession).await;
        session.finished().await;
    }
    bus.flush().await;
    if let Some(path) = &args.participant.stats {
        let report = session.stats();
        let json = serde_json::to_vec_pretty(&report).context("encoding stats")?;
        std::fs::write(path, json).with_context(|| format!("writing stats {}", path.display()))?;
    }
    bus.shutdown().await;
    Ok(())
}

/// A join that failed still ends with an `error` event line carrying the seed's code (so a
/// script reading only the events file sees why), then releases the bus.
async fn could_not_join(bus: &Bus, err: anyhow::Error) -> anyhow::Error {
    bus.publish(Event::error(&exception_of(&err)));
    bus.flush().await;
    bus.shutdown().await;
    err
}

/// The seed exception behind a failed join: the refusal or failure the session or the
/// signaling client reported, or a plain `ERROR` for anything else.
fn exception_of(err: &anyhow::Error) -> CallsException {
    let message = crate::report::error_line(err);
    for cause in err.chain() {
        if let Some(exception) = cause.downcast_ref::<CallsException>() {
            return exception.clone();
        }
        if let Some(client) = cause.downcast_ref::<ClientError>() {
            // A refusal carries the server's code; anything else means the server could
            // not be reached or answered garbage.
            let code = client.code().unwrap_or(ErrorCode::SignalingLost);
            return CallsException::new(code, message);
        }
    }
    CallsException::new(ErrorCode::Error, message)
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
    else {
        // Without signal handlers the process still ends by --duration or the session.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
