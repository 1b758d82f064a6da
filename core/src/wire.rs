//! The messages that cross the plugin boundary, as versioned JSON.
//!
//! Every message carries `"v"`, the wire version. Decoders ignore unknown fields, and unknown
//! message types, events and commands decode as `Unknown` variants, so a plugin built
//! against an older `switchboard-core` keeps working with a newer host.

use serde::{Deserialize, Serialize};

use crate::command::{Capability, Command};
use crate::event::{Event, EventKind};
use crate::model::{CallsException, RtcUser};
use crate::view::{UiInput, View, ViewRequest};

/// The version of the JSON messages this build writes.
pub const WIRE_VERSION: u32 = 1;

/// What kind of plugin this is, for listings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PluginKind {
    /// Draws the call view.
    Layout,
    /// A call feature (recording, PIP, audio routing...).
    Feature,
    /// A tool (logging, bots, diagnostics).
    Tool,
    /// Built only for the test suite.
    Fixture,
    /// A kind this build does not know.
    #[serde(other)]
    Unknown,
}

impl std::fmt::Display for PluginKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Layout => "layout",
            Self::Feature => "feature",
            Self::Tool => "tool",
            Self::Fixture => "fixture",
            Self::Unknown => "unknown",
        })
    }
}

/// What `describe` returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginDescriptor {
    /// The wire version.
    pub v: u32,
    /// The ABI version the plugin was built for.
    pub abi_version: u32,
    /// A stable id, `[a-z0-9-]+`; config names plugins by it.
    pub id: String,
    /// A name for people.
    pub name: String,
    /// A semver version.
    pub version: String,
    /// What kind of plugin.
    pub kind: PluginKind,
    /// One sentence on what it does.
    #[serde(default)]
    pub description: String,
    /// Capabilities it provides.
    #[serde(default)]
    pub capabilities: Vec<Capability>,
    /// Event kinds it wants.
    #[serde(default)]
    pub subscriptions: Vec<EventKind>,
    /// True when it wants encoded media through the media tap.
    #[serde(default)]
    pub wants_media: bool,
    /// How often, in milliseconds, the plugin wants a [`HostMessage::Tick`] (for polling
    /// something outside the call, e.g. audio devices appearing). 0, the default, means
    /// never.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub tick_ms: u32,
}

fn is_zero(value: &u32) -> bool {
    *value == 0
}

/// One message from the host to a plugin instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum HostMessage {
    /// Events the plugin subscribed to, in order.
    Events {
        /// The events.
        events: Vec<Event>,
    },
    /// A command for a capability this plugin provides. The reply's `error` says whether it
    /// was carried out.
    Command {
        /// The command.
        command: Command,
        /// Who asked.
        from: RtcUser,
    },
    /// UI input, for the layout plugin.
    Input {
        /// The input.
        input: UiInput,
    },
    /// Lay out the call view; the reply carries `view`.
    Render {
        /// What to lay out.
        request: ViewRequest,
    },
    /// The periodic call a plugin asked for with a non-zero `tick_ms` in its descriptor.
    /// Like events, it is answered with commands.
    Tick,
    /// A message type this build does not know; plugins answer with an empty reply.
    #[serde(other)]
    Unknown,
}

/// The envelope around a [`HostMessage`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostEnvelope {
    /// The wire version.
    pub v: u32,
    /// The message.
    pub msg: HostMessage,
}

impl HostEnvelope {
    /// Wraps a message in the current wire version.
    pub fn new(msg: HostMessage) -> Self {
        Self { v: WIRE_VERSION, msg }
    }
}

/// A plugin's answer to one message. An empty reply buffer means the default value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct PluginReply {
    /// The wire version.
    pub v: u32,
    /// Commands for the host to carry out, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<Command>,
    /// For a `command` message: why it could not be carried out. Absent means it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<CallsException>,
    /// For a `render` message: the view.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub view: Option<View>,
}

impl PluginReply {
    /// True when the reply says nothing (and so can be sent as an empty buffer).
    pub fn is_empty(&self) -> bool {
        self.commands.is_empty() && self.error.is_none() && self.view.is_none()
    }
}
