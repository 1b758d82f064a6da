//! `pip`: the picture-in-picture capability. `enter_pip_mode` / `exit_pip_mode` switch the
//! call view to the compact PIP view (the active speaker's tile only, no buttons) and back.
//!
//! The plugin owns the state and the rules; the view itself is the layout's: the plugin
//! returns `announce_pip_mode`, the host raises `pip_mode_changed`, renderers set
//! `ViewRequest::pip` from it (see `CallUiState`), and the layout draws the PIP view. So any
//! renderer (web page, snapshot, a native app) shows PIP the same way.
//!
//! Entering PIP while in PIP, or leaving it when not in PIP, is an `INVALID_STATE` error
//! saying so (not a silent no-op): a UI that gets it out of step learns at once.

use switchboard_core::model::{CallsException, ErrorCode};
use switchboard_core::sdk::{Context, Plugin};
use switchboard_core::{Capability, Command, Event, EventKind, PluginKind, RtcUser};

/// The plugin.
#[derive(Debug, Default)]
pub struct Pip {
    active: bool,
}

impl Plugin for Pip {
    const ID: &'static str = "pip";
    const NAME: &'static str = "Picture-in-picture";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const KIND: PluginKind = PluginKind::Feature;
    const DESCRIPTION: &'static str =
        "enter_pip_mode / exit_pip_mode switch the call view to the active speaker's tile alone and back.";
    const CAPABILITIES: &'static [Capability] = &[Capability::Pip];
    const SUBSCRIPTIONS: &'static [EventKind] = &[EventKind::SessionEnded];

    fn on_event(&mut self, event: &Event, _ctx: &mut Context) {
        // A new session starts out of PIP.
        if let Event::SessionEnded { .. } = event {
            self.active = false;
        }
    }

    fn on_command(
        &mut self,
        command: &Command,
        _from: &RtcUser,
        ctx: &mut Context,
    ) -> Result<(), CallsException> {
        let enter = match command {
            Command::EnterPipMode => true,
            Command::ExitPipMode => false,
            other => {
                return Err(CallsException::new(
                    ErrorCode::NotImplemented,
                    format!("plugin `pip` does not carry out `{}`", other.name()),
                ));
            }
        };
        if self.active == enter {
            let message = if enter {
                "already in picture-in-picture mode: exit_pip_mode first"
            } else {
                "not in picture-in-picture mode: enter_pip_mode first"
            };
            return Err(CallsException::new(ErrorCode::InvalidState, message));
        }
        self.active = enter;
        ctx.send(Command::AnnouncePipMode { active: enter });
        Ok(())
    }
}

switchboard_core::export_plugin!(Pip);

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use switchboard_core::sdk::testing::Harness;
    use switchboard_core::settings::CallSettings;
    use switchboard_core::view::{CallUiState, Overlay, ParticipantView, ViewRequest};

    use super::*;

    fn request(ui: &CallUiState) -> ViewRequest {
        let participants = ["alice", "bob", "carol"]
            .iter()
            .map(|uid| ParticipantView {
                user: RtcUser::new(*uid, *uid),
                is_local: *uid == "alice",
                audio_muted: false,
                video_off: false,
            })
            .collect();
        ViewRequest {
            width: 320.0,
            height: 180.0,
            settings: CallSettings::default(),
            button_order: None,
            custom_buttons: Vec::new(),
            participants,
            active_speaker: ui.active_speaker.clone(),
            recording: ui.recording,
            pip: ui.pip,
            idle_seconds_left: None,
            audio_modes: Vec::new(),
            audio_only: false,
        }
    }

    /// What the host does with a command the plugin returns: `announce_pip_mode` becomes
    /// `pip_mode_changed`, which the renderer's UI state follows.
    fn host_applies(commands: Vec<Command>, ui: &mut CallUiState) {
        for command in commands {
            match command {
                Command::AnnouncePipMode { active } => ui.apply_event(&Event::PipModeChanged { active }),
                other => panic!("unexpected command {other:?}"),
            }
        }
    }

    fn render(ui: &CallUiState) -> switchboard_core::view::View {
        layout_default::layout(&request(ui), None, &BTreeMap::new(), ui.active_speaker.as_deref())
    }

    #[test]
    fn entering_and_leaving_pip_switches_the_view_model() {
        let me = RtcUser::new("alice", "Alice");
        let mut pip = Harness::<Pip>::new().expect("created");
        let mut ui = CallUiState::default();
        ui.apply_event(&Event::ActiveSpeakerChanged { uid: Some("bob".into()) });

        let normal = render(&ui);
        assert_eq!(normal.tiles.len(), 3);
        assert!(!normal.buttons.is_empty());

        let commands = pip.command(Command::EnterPipMode, &me).expect("abi").expect("entered");
        assert_eq!(commands, vec![Command::AnnouncePipMode { active: true }]);
        host_applies(commands, &mut ui);
        let small = render(&ui);
        assert_eq!(small.tiles.len(), 1, "only the active speaker");
        assert_eq!(small.tiles[0].uid, "bob");
        assert!(small.buttons.is_empty() && small.button_bar.is_none(), "no buttons in PIP");
        assert!(small.overlays.iter().any(|o| matches!(o, Overlay::PipWindow { .. })));

        let commands = pip.command(Command::ExitPipMode, &me).expect("abi").expect("left");
        host_applies(commands, &mut ui);
        assert_eq!(render(&ui), normal, "back to the same view");
    }

    #[test]
    fn entering_twice_or_leaving_when_not_in_pip_is_a_clear_error() {
        let me = RtcUser::new("alice", "Alice");
        let mut pip = Harness::<Pip>::new().expect("created");
        let e = pip.command(Command::ExitPipMode, &me).expect("abi").expect_err("not in PIP");
        assert_eq!(e.code, ErrorCode::InvalidState);
        assert!(e.message.contains("not in picture-in-picture"), "{}", e.message);
        pip.command(Command::EnterPipMode, &me).expect("abi").expect("entered");
        let e = pip.command(Command::EnterPipMode, &me).expect("abi").expect_err("twice");
        assert_eq!(e.code, ErrorCode::InvalidState);
        assert!(e.message.contains("already"), "{}", e.message);
    }

    #[test]
    fn a_session_end_leaves_pip() {
        let me = RtcUser::new("alice", "Alice");
        let mut pip = Harness::<Pip>::new().expect("created");
        pip.command(Command::EnterPipMode, &me).expect("abi").expect("entered");
        pip.events(&[Event::SessionEnded { reason: "end_session".into() }]).expect("events");
        pip.command(Command::EnterPipMode, &me).expect("abi").expect("entered again");
    }
}
