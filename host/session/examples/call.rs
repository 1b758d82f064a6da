//! The calls API as a library, end to end: a signaling server, two users, tokens, two
//! sessions with settings, listeners, actions, and the end of the call.
//!
//! `cargo run -p switchboard-session --example call`
//!
//! Both participants live in this process with synthetic microphones (tones) and a `null`
//! speaker, so it runs anywhere; an app would use `AudioInput::Default` and
//! `AudioOutput::Default` (or named devices) instead. The steps follow the seed's flow:
//! create a user's auth token (admin call, API key), `generateToken(sessionId, authToken)`,
//! `startSession(callToken, settings)`, actions, listeners, `endSession()`.

use std::sync::Arc;
use std::time::Duration;

use switchboard_config::Config;
use switchboard_config::{AudioInput, AudioOutput};
use switchboard_core::{CallSettings, CallsException, Command, RtcUser};
use switchboard_rtc::LinkOptions;
use switchboard_runtime::bus::{Bus, BusOptions};
use switchboard_runtime::listeners::CallsEventListener;
use switchboard_session::{Session, SessionOptions};
use switchboard_signaling::{self as signaling, Secret, ServerConfig, SignalingClient};
use tokio::sync::Notify;

/// An app's listener: the seed's callbacks it cares about; the rest keep their no-op
/// defaults.
struct Printer {
    who: &'static str,
    /// Woken by `call_ended`: the seed tells the other side to call `endSession()` then.
    call_ended: Arc<Notify>,
}

impl CallsEventListener for Printer {
    fn on_user_joined(&self, user: &RtcUser) {
        println!("[{}] user joined: {}", self.who, user.name);
    }
    fn on_user_left(&self, user: &RtcUser) {
        println!("[{}] user left: {}", self.who, user.name);
    }
    fn on_user_muted(&self, info: &switchboard_core::model::RtcMutedUser) {
        println!("[{}] {} was muted", self.who, info.muted.name);
    }
    fn on_call_ended(&self) {
        println!("[{}] call ended", self.who);
        self.call_ended.notify_one();
    }
    fn on_call_end_button_pressed(&self) {
        println!("[{}] I ended the call", self.who);
    }
    fn on_error(&self, error: &CallsException) {
        println!("[{}] error {}: {}", self.who, error.code, error.message);
    }
}

/// `startSession(callToken, settings)` for one participant, with its listener registered.
async fn start_session(
    server: &str,
    token: String,
    who: &'static str,
    hz: f32,
) -> anyhow::Result<(Session, Arc<Notify>)> {
    // The bus carries the call's events to plugins and listeners; this one loads none.
    let bus = Bus::start(Vec::new(), BusOptions::default())?;
    let call_ended = Arc::new(Notify::new());
    bus.add_listener(
        format!("printer-{who}"),
        Arc::new(Printer { who, call_ended: Arc::clone(&call_ended) }),
    )?;
    let mut config = Config {
        call: CallSettings::builder().audio_only_call(true).idle_timeout_period(120).build(),
        ..Config::default()
    };
    config.media.audio_input = AudioInput::Tone(hz);
    config.media.audio_output = AudioOutput::Null;
    let options = SessionOptions {
        server: server.to_owned(),
        token,
        session_id: None, // the token names the session
        config,
        link: LinkOptions::default(),
    };
    Ok((Session::start(options, bus).await?, call_ended))
}

fn main() -> anyhow::Result<()> {
    // Sessions run inside the bus's executor (its actors live there).
    switchboard_runtime::exec::block_on(async {
        // A signaling server for the example; an app would talk to a running `switchboard
        // serve` instead.
        let secret = Secret::generate()?;
        let server = signaling::start("127.0.0.1:0".parse()?, ServerConfig::new("api-key", secret)).await?;
        let client = SignalingClient::new(&server.ws_url())?;

        // Admin call (API key): each user's auth token. Then generateToken per session.
        let mut tokens = Vec::new();
        for (uid, name) in [("alice", "Alice"), ("bob", "Bob")] {
            let user = client.create_user("api-key", uid, name, "").await?;
            tokens.push(client.generate_token("demo", &user.auth_token).await?.token);
        }
        let (bob, bob_call_ended) =
            start_session(&server.ws_url(), tokens.pop().expect("two tokens"), "bob", 660.0).await?;
        let (alice, _) =
            start_session(&server.ws_url(), tokens.pop().expect("two tokens"), "alice", 440.0).await?;

        // Wait until Alice hears Bob (the links connect in the background).
        for _ in 0..100 {
            if alice.first_remote_audio_after().is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        println!("alice heard bob {:?} after starting", alice.first_remote_audio_after());
        // Actions report success or a CallsException.
        alice.command(Command::MuteAudio { muted: true }).await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        println!(
            "bob decoded {:?} from alice",
            bob.stats().remote.get("alice").map(|s| s.audio_frames_decoded)
        );

        // endSession(): a two-party call ends for both (`call_ended` on each side).
        alice.end_session().await?;
        bob_call_ended.notified().await;
        bob.end_session().await?;
        server.shutdown().await?;
        Ok(())
    })
}
