//! `switchboard run`: a participant with the web UI.
//!
//! Joins a session like `switchboard join` (same credentials, config, plugins and events
//! file) and serves the live call as a web page on 127.0.0.1, printing its address on
//! stdout as one line: `ui on http://127.0.0.1:PORT/?key=KEY`, where KEY is a random key
//! made for this run, without which the page and its socket are refused (so another site's
//! page in the same browser cannot watch or drive the call). The UI listens on loopback
//! only unless `--allow-remote-ui` or `[ui] allow_remote = true` opts in. The page draws the view the
//! configured layout plugin computes from the live call; what the user does there goes back
//! to the bus (see [`switchboard_session::live`]). It ends when the session ends (the end button, idle
//! timeout, `call_ended`, failure), after `--duration`, or on SIGINT/SIGTERM.

use std::fs::File;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context as _, bail};
use switchboard_config::{Config, PluginEntry, not_loopback_message};
use switchboard_core::{Capability, Command, Event};

use crate::participant::ParticipantArgs;
use switchboard_runtime::listeners::FnListener;
use switchboard_session::live::LiveUi;
use switchboard_session::output::EventLines;
use switchboard_session::participant;
use switchboard_ui::web::{WebUi, WebUiConfig, is_loopback};

/// Arguments of `switchboard run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Who joins which session, with which config.
    #[command(flatten)]
    pub participant: ParticipantArgs,
    /// Where the web page is served, 127.0.0.1:PORT (port 0 picks a free one); a
    /// non-loopback address needs --allow-remote-ui [default: `[ui] listen` of the config].
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Lets --listen be an address other machines reach (0.0.0.0, a LAN address), as
    /// `[ui] allow_remote = true` does for the config's. Whoever on the network gets the
    /// page's URL sees the call's video and can mute, record or end the call.
    #[arg(long)]
    pub allow_remote_ui: bool,
    /// Where event lines go (none when omitted: stdout carries the address line).
    #[arg(long)]
    pub events: Option<PathBuf>,
}

/// Runs `switchboard run`.
pub fn run(args: Args) -> anyhow::Result<()> {
    // The bus's threads live in the executor; they stop with it.
    switchboard_runtime::exec::block_on(run_ui(args))
}

/// The web UI needs a layout: when no `[[plugin]]` loads the one `[ui] layout` names, it is
/// loaded by name with no settings, so `switchboard run` works without a config file.
fn with_layout_loaded(mut config: Config) -> Config {
    let layout = config.ui.layout.clone();
    let named = config.plugins.iter().any(|p| p.name.as_deref() == Some(layout.as_str()));
    // A plugin loaded by path may be the layout; the bus says so once it is loaded.
    let by_path = config.plugins.iter().any(|p| p.name.is_none());
    if !named && !by_path {
        config.plugins.push(PluginEntry { name: Some(layout), ..PluginEntry::default() });
    }
    config
}

async fn run_ui(args: Args) -> anyhow::Result<()> {
    // Everything that can be wrong with the input is checked before anything starts.
    let credentials = args.participant.credentials()?;
    let (config, _) = participant::load_config(args.participant.config.as_deref())?;
    let config = with_layout_loaded(config);
    // The config's own address was checked when it was loaded, with its opt-in.
    let listen = match args.listen {
        Some(addr) => addr,
        None => config.ui.listen_addr().map_err(|message| anyhow::anyhow!("`[ui] listen`: {message}"))?,
    };
    let allow_remote = args.allow_remote_ui || config.ui.allow_remote;
    let remote = !is_loopback(listen.ip());
    if remote && !allow_remote {
        bail!(not_loopback_message(listen, "pass --allow-remote-ui"));
    }
    let lines = match &args.events {
        Some(path) => {
            let file =
                File::create(path).with_context(|| format!("creating events file {}", path.display()))?;
            Some(Arc::new(Mutex::new(EventLines::new(file))))
        }
        None => None,
    };

    let bus = participant::start_bus(&config)?;
    if bus.provider(Capability::Layout).is_none() {
        bus.shutdown().await;
        bail!(
            "`[ui] layout` names `{}`, but no loaded plugin with that id provides the layout",
            config.ui.layout
        );
    }
    let (web, inputs) =
        match WebUi::start(WebUiConfig { listen, allow_remote, ..WebUiConfig::default() }).await {
            Ok(started) => started,
            Err(e) => {
                bus.shutdown().await;
                return Err(e).context("starting the web UI");
            }
        };
    let ui = LiveUi::new(config.clone(), bus.clone(), web.handle(), inputs);
    let call_ended = Arc::new(tokio::sync::Notify::new());
    {
        let feed = ui.feed();
        let call_ended = Arc::clone(&call_ended);
        bus.add_listener(
            "run-ui",
            Arc::new(FnListener(move |event: &Event| {
                if let Some(lines) = &lines {
                    let mut lines = lines.lock().unwrap_or_else(PoisonError::into_inner);
                    if let Err(e) = lines.write(event) {
                        tracing::error!("writing an event line: {e}");
                    }
                }
                feed.event(event);
                if matches!(event, Event::CallEnded) {
                    call_ended.notify_one();
                }
            })),
        )
        .context("registering the UI's event listener")?;
    }
    if remote {
        // On stderr: stdout carries the address line alone.
        eprintln!(
            "warning: the web UI listens on {}, beyond this machine: anyone on the network who \
             gets the page's URL (its key included) sees the call's video and can mute, record or \
             end the call. Keep the URL private.",
            web.local_addr()
        );
    }
    // The address first, so a user (or a test) can open the page while the call connects.
    println!("ui on {}", web.url());
    std::io::stdout().flush().context("writing the address line")?;

    let token =
        participant::call_token(&args.participant.server, &credentials, &args.participant.session).await;
    let session = match token {
        Ok(token) => {
            participant::start_session(
                &args.participant.server,
                token,
                &args.participant.session,
                config,
                bus.clone(),
            )
            .await
        }
        Err(e) => Err(e),
    };
    let session = match session {
        Ok(session) => session,
        Err(e) => {
            bus.shutdown().await;
            let _ = web.shutdown().await;
            return Err(e.into());
        }
    };
    // Video goes to the page at the web UI's own frame rate; the follower ends with the
    // session's frame channel.
    switchboard_runtime::exec::spawn(
        ui.video().follow(session.video_frames(), WebUiConfig::default().max_frame_rate),
    );
    let ui_loop = ui.run();

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
        () = ui_loop => tracing::warn!("the web UI stopped"),
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
    web.shutdown().await.context("stopping the web UI")?;
    Ok(())
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
