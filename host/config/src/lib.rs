//! switchboard-config: the host's configuration.
//!
//! The TOML config file of a participant: `[call]`, `[media]`, `[network]`, `[ui]`,
//! `[host]` and `[[plugin]]` tables ([`Config`]); reading it from disk with relative paths
//! resolved ([`mod@file`]); and `--script` files of timed commands ([`script`]). Plugins never
//! see this crate: what crosses the plugin ABI is in switchboard-core.
//!
//! Parsing is pure: the host reads the file and hands the text here with its name, so that
//! every error can say `file:line:col`. Unknown keys are not errors: they come back as
//! warnings that name the key and where it is (as cargo's "unused manifest key" does).

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use switchboard_core::settings::CallSettings;
pub use switchboard_core::view::CustomButton;

pub mod file;
pub mod script;

/// A whole config file.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// The call's settings; the seed's defaults for anything absent.
    pub call: CallSettings,
    /// Where audio and video come from and go to.
    pub media: MediaConfig,
    /// How peer connections find each other.
    pub network: NetworkConfig,
    /// Which layout draws the call view, and its buttons.
    pub ui: UiConfig,
    /// Where plugins are found.
    pub host: HostConfig,
    /// Every plugin to load, in order.
    #[serde(rename = "plugin", skip_serializing_if = "Vec::is_empty")]
    pub plugins: Vec<PluginEntry>,
}

/// The `[media]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MediaConfig {
    /// The microphone: `default`, `device:NAME`, `tone:HZ` or `wav:PATH`.
    pub audio_input: AudioInput,
    /// The speaker: `default`, `device:NAME`, `wav:PATH` or `null`.
    pub audio_output: AudioOutput,
    /// The camera: `default`, `device:NAME`, `pattern:front` or `pattern:back`.
    pub video_input: VideoInput,
    /// Captured video width in pixels.
    pub video_width: u32,
    /// Captured video height in pixels.
    pub video_height: u32,
    /// Captured frames per second.
    pub video_fps: u32,
    /// The buffer period asked of audio devices, in frames at 48 kHz (16 to 8192). The
    /// default, 256 (5.3 ms), keeps mouth-to-ear latency low; a machine so busy that
    /// playback crackles (xruns) does better with 960, at about 20 ms more latency.
    pub audio_period_frames: u32,
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            audio_input: AudioInput::Default,
            audio_output: AudioOutput::Default,
            video_input: VideoInput::Default,
            video_width: 640,
            video_height: 480,
            video_fps: 30,
            audio_period_frames: 256,
        }
    }
}

/// Where the local audio comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(try_from = "String", into = "String")]
pub enum AudioInput {
    /// The system's default input device.
    #[default]
    Default,
    /// An input device by name.
    Device(String),
    /// A synthetic sine tone at this frequency in hertz.
    Tone(f32),
    /// A WAV file, looped.
    Wav(PathBuf),
}

/// Where the received audio goes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(try_from = "String", into = "String")]
pub enum AudioOutput {
    /// The system's default output device.
    #[default]
    Default,
    /// An output device by name.
    Device(String),
    /// A WAV file (for headless runs).
    Wav(PathBuf),
    /// Decoded and mixed, then dropped.
    Null,
}

/// Where the local video comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(try_from = "String", into = "String")]
pub enum VideoInput {
    /// The system's default camera.
    #[default]
    Default,
    /// A camera by name (e.g. `/dev/video0`).
    Device(String),
    /// A synthetic test pattern: `front` or `back`.
    Pattern(String),
}

fn split_source(s: &str) -> (&str, Option<&str>) {
    match s.split_once(':') {
        Some((kind, arg)) => (kind, Some(arg)),
        None => (s, None),
    }
}

impl TryFrom<String> for AudioInput {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        match split_source(&s) {
            ("default", None) => Ok(Self::Default),
            ("device", Some(name)) if !name.is_empty() => Ok(Self::Device(name.to_owned())),
            ("tone", Some(hz)) => match hz.parse::<f32>() {
                Ok(hz) if hz.is_finite() && hz > 0.0 && hz < 24_000.0 => Ok(Self::Tone(hz)),
                _ => Err(format!(
                    "`{s}`: a tone needs a frequency in hertz between 0 and 24000, e.g. `tone:440`"
                )),
            },
            ("wav", Some(path)) if !path.is_empty() => Ok(Self::Wav(PathBuf::from(path))),
            _ => Err(format!(
                "invalid audio input `{s}`, expected `default`, `device:NAME`, `tone:HZ` or `wav:PATH`"
            )),
        }
    }
}

impl From<AudioInput> for String {
    fn from(v: AudioInput) -> String {
        v.to_string()
    }
}

impl fmt::Display for AudioInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Default => f.write_str("default"),
            Self::Device(name) => write!(f, "device:{name}"),
            Self::Tone(hz) => write!(f, "tone:{hz}"),
            Self::Wav(path) => write!(f, "wav:{}", path.display()),
        }
    }
}

impl TryFrom<String> for AudioOutput {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        match split_source(&s) {
            ("default", None) => Ok(Self::Default),
            ("null", None) => Ok(Self::Null),
            ("device", Some(name)) if !name.is_empty() => Ok(Self::Device(name.to_owned())),
            ("wav", Some(path)) if !path.is_empty() => Ok(Self::Wav(PathBuf::from(path))),
            _ => Err(format!(
                "invalid audio output `{s}`, expected `default`, `device:NAME`, `wav:PATH` or `null`"
            )),
        }
    }
}

impl From<AudioOutput> for String {
    fn from(v: AudioOutput) -> String {
        v.to_string()
    }
}

impl fmt::Display for AudioOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Default => f.write_str("default"),
            Self::Null => f.write_str("null"),
            Self::Device(name) => write!(f, "device:{name}"),
            Self::Wav(path) => write!(f, "wav:{}", path.display()),
        }
    }
}

impl TryFrom<String> for VideoInput {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        match split_source(&s) {
            ("default", None) => Ok(Self::Default),
            ("device", Some(name)) if !name.is_empty() => Ok(Self::Device(name.to_owned())),
            ("pattern", Some(p @ ("front" | "back"))) => Ok(Self::Pattern(p.to_owned())),
            _ => Err(format!(
                "invalid video input `{s}`, expected `default`, `device:NAME`, `pattern:front` or `pattern:back`"
            )),
        }
    }
}

impl From<VideoInput> for String {
    fn from(v: VideoInput) -> String {
        v.to_string()
    }
}

impl fmt::Display for VideoInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Default => f.write_str("default"),
            Self::Device(name) => write!(f, "device:{name}"),
            Self::Pattern(p) => write!(f, "pattern:{p}"),
        }
    }
}

/// The `[network]` table: how a participant's peer connections find the others.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkConfig {
    /// Where ICE gathers candidates: `loopback` (127.0.0.1 only: calls between processes
    /// of one machine, the default) or `all` (every interface, plus what `ice_servers`
    /// give: calls between machines).
    pub ice: IceCandidates,
    /// STUN and TURN servers (`[[network.ice_server]]`), used with `ice = "all"`.
    #[serde(rename = "ice_server", skip_serializing_if = "Vec::is_empty")]
    pub ice_servers: Vec<IceServerConfig>,
    /// How long a connected link may go without hearing from its peer before it counts
    /// as disconnected (it may still recover), in milliseconds.
    pub ice_disconnected_timeout_ms: u64,
    /// How long before a link without connectivity has failed, in milliseconds: the call
    /// raises `error` with `PEER_CONNECTION_FAILED`, naming the peer.
    pub ice_failed_timeout_ms: u64,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        // The WebRTC library's own defaults, as browsers use.
        Self {
            ice: IceCandidates::Loopback,
            ice_servers: Vec::new(),
            ice_disconnected_timeout_ms: 5_000,
            ice_failed_timeout_ms: 25_000,
        }
    }
}

/// Where ICE gathers candidates (`[network] ice`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IceCandidates {
    /// Only 127.0.0.1 over UDP.
    #[default]
    Loopback,
    /// Every interface, plus the configured STUN/TURN servers.
    All,
}

/// One STUN or TURN server (`[[network.ice_server]]`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct IceServerConfig {
    /// `stun:HOST:PORT` or `turn:HOST:PORT?transport=udp` URLs.
    pub urls: Vec<String>,
    /// The TURN user name; empty for STUN.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub username: String,
    /// The TURN credential; empty for STUN.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub credential: String,
}

/// The `[ui]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UiConfig {
    /// The id of the plugin that draws the call view.
    pub layout: String,
    /// Which built-in buttons to show and in which order, by id (`mute_audio`,
    /// `pause_video`, `switch_camera`, `audio_mode`, `switch_to_video`, `record`, `end_call`,
    /// and `pip` when a pip plugin is loaded). Absent: the default layout's own order (with
    /// `pip` before `end_call` when a pip plugin is loaded). The `show_*_button` settings
    /// still apply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub buttons: Option<Vec<String>>,
    /// Buttons the app adds; pressing one raises `button_pressed` with its id.
    #[serde(rename = "button", skip_serializing_if = "Vec::is_empty")]
    pub custom_buttons: Vec<CustomButton>,
    /// Where `switchboard run` serves the web UI, `ADDRESS:PORT`. A loopback address
    /// unless `allow_remote` is true.
    pub listen: String,
    /// Lets `listen` be an address other machines reach. The page still needs its access
    /// key, but whoever gets the URL on the network sees the call's video and drives its
    /// controls; `run` warns when it serves such an address.
    pub allow_remote: bool,
}

impl Default for UiConfig {
    fn default() -> Self {
        Self {
            layout: "layout-default".to_owned(),
            buttons: None,
            custom_buttons: Vec::new(),
            listen: "127.0.0.1:7800".to_owned(),
            allow_remote: false,
        }
    }
}

impl UiConfig {
    /// `listen` as a socket address, or why it is not one.
    pub fn listen_addr(&self) -> Result<SocketAddr, String> {
        self.listen.trim().parse().map_err(|_| {
            format!(
                "`listen` = `{}` is not ADDRESS:PORT (an IP address and a port, such as 127.0.0.1:7800)",
                self.listen
            )
        })
    }
}

/// Why a web UI on `addr`, which is not a loopback address, is refused, and how to opt in
/// (`opt_in` says it for the place the address came from).
pub fn not_loopback_message(addr: SocketAddr, opt_in: &str) -> String {
    format!(
        "the web UI would listen on {addr}, which is not a loopback address: anyone on the network \
         who gets its URL would see the call's video and could mute, record or end it. Use 127.0.0.1 \
         (or [::1]) to keep it on this machine, or {opt_in} to serve it there anyway"
    )
}

/// The `[host]` table.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct HostConfig {
    /// Folders searched for plugins by name, before the folder of the `switchboard` binary.
    /// Relative paths are relative to the config file.
    pub plugin_dirs: Vec<PathBuf>,
}

/// How a plugin runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Isolation {
    /// Loaded into the host process (fast; a crash is contained only if it is a panic).
    #[default]
    InProcess,
    /// Run in a child process, talking over a pipe (a crash or hang is survivable).
    Process,
}

/// What the host does when an out-of-process plugin crashes or hangs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OnCrash {
    /// Start it again, up to `max_restarts` times.
    #[default]
    Restart,
    /// Leave it disabled for the rest of the call.
    Disable,
}

/// One `[[plugin]]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PluginEntry {
    /// Found by name in the plugin folders (`recording` finds `librecording.so`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Or loaded from this path (relative to the config file).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// In-process or in a child process.
    pub isolation: Isolation,
    /// What to do when an isolated plugin crashes.
    pub on_crash: OnCrash,
    /// How many restarts before the plugin is disabled.
    pub max_restarts: u32,
    /// How long one message to an isolated plugin may take before it counts as hung and its
    /// process is killed, in milliseconds.
    pub deadline_ms: u64,
    /// The address-space limit (`RLIMIT_AS`) of an isolated plugin's process, in MiB;
    /// absent means no limit beyond the host's own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_limit_mb: Option<u64>,
    /// Handed to the plugin on create, as JSON.
    pub settings: toml::Table,
}

impl PluginEntry {
    /// The default of `max_restarts`.
    pub const DEFAULT_MAX_RESTARTS: u32 = 3;
    /// The default of `deadline_ms`.
    pub const DEFAULT_DEADLINE_MS: u64 = 2000;
    /// The keys that only mean something with `isolation = "process"`.
    pub const PROCESS_KEYS: [&'static str; 4] =
        ["on_crash", "max_restarts", "deadline_ms", "memory_limit_mb"];
}

impl Default for PluginEntry {
    fn default() -> Self {
        Self {
            name: None,
            path: None,
            isolation: Isolation::default(),
            on_crash: OnCrash::default(),
            max_restarts: Self::DEFAULT_MAX_RESTARTS,
            deadline_ms: Self::DEFAULT_DEADLINE_MS,
            memory_limit_mb: None,
            settings: toml::Table::new(),
        }
    }
}

/// Where in a config file something is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file's name, as given to [`Config::from_toml_str`].
    pub origin: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.origin, self.line, self.column)
    }
}

impl Location {
    pub(crate) fn of(origin: &str, text: &str, span: Option<Range<usize>>) -> Self {
        let offset = span.map_or(0, |s| s.start).min(text.len());
        let before = &text[..floor_char_boundary(text, offset)];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        Self { origin: origin.to_owned(), line, column }
    }
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// A config file that could not be used. Nothing starts on one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {message}")]
pub struct ConfigError {
    /// Where the problem is.
    pub location: Location,
    /// What is wrong and what was expected.
    pub message: String,
}

/// A key the config has that this build does not use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    /// Where the key is.
    pub location: Location,
    /// The dotted path of the key, e.g. `call.show_end_button`.
    pub key: String,
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: unknown key `{}` is ignored", self.location, self.key)
    }
}

/// A parsed config and the warnings found on the way.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The config.
    pub config: Config,
    /// Unknown keys, in file order.
    pub warnings: Vec<ConfigWarning>,
}

#[derive(Debug, Clone)]
enum Segment {
    Key(String),
    Index(usize),
}

fn segments(path: &serde_ignored::Path<'_>, out: &mut Vec<Segment>) {
    use serde_ignored::Path;
    match path {
        Path::Root => {}
        Path::Seq { parent, index } => {
            segments(parent, out);
            out.push(Segment::Index(*index));
        }
        Path::Map { parent, key } => {
            segments(parent, out);
            out.push(Segment::Key(key.clone()));
        }
        Path::Some { parent } | Path::NewtypeStruct { parent } | Path::NewtypeVariant { parent } => {
            segments(parent, out)
        }
    }
}

fn dotted(path: &[Segment]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Segment::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Segment::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// The span of the key (for the last segment) at `path` in the document.
fn locate(text: &str, path: &[Segment]) -> Option<Range<usize>> {
    use toml::de::{DeTable, DeValue};
    let root = DeTable::parse(text).ok()?;
    let mut table = root.get_ref();
    let mut value: Option<&DeValue<'_>> = None;
    let mut span = None;
    for seg in path {
        match (seg, value) {
            (Segment::Key(k), None) => {
                let (key, v) = table.get_key_value(k.as_str())?;
                span = Some(key.span());
                value = Some(v.get_ref());
            }
            (Segment::Key(k), Some(DeValue::Table(t))) => {
                table = t;
                let (key, v) = table.get_key_value(k.as_str())?;
                span = Some(key.span());
                value = Some(v.get_ref());
            }
            (Segment::Index(i), Some(DeValue::Array(items))) => {
                let item = items.get(*i)?;
                span = Some(item.span());
                value = Some(item.get_ref());
            }
            _ => return span,
        }
    }
    span
}

impl NetworkConfig {
    /// Checks the timeouts and servers; `err` builds the error for a key of the table.
    fn validate(&self, err: impl Fn(&str, String) -> ConfigError) -> Result<(), ConfigError> {
        if self.ice_disconnected_timeout_ms == 0 {
            return Err(err("ice_disconnected_timeout_ms", "must be at least 1 ms".to_owned()));
        }
        if self.ice_failed_timeout_ms < self.ice_disconnected_timeout_ms {
            return Err(err(
                "ice_failed_timeout_ms",
                format!(
                    "must be at least `ice_disconnected_timeout_ms` ({} ms): a link fails only after it \
                     has been disconnected",
                    self.ice_disconnected_timeout_ms
                ),
            ));
        }
        if !self.ice_servers.is_empty() && self.ice == IceCandidates::Loopback {
            return Err(err(
                "ice_server",
                "STUN/TURN servers are used only with `ice = \"all\"`; loopback gathers 127.0.0.1 alone"
                    .to_owned(),
            ));
        }
        for server in &self.ice_servers {
            if server.urls.is_empty() {
                return Err(err("ice_server", "an ice_server needs at least one URL in `urls`".to_owned()));
            }
            if let Some(url) = server
                .urls
                .iter()
                .find(|u| !["stun:", "stuns:", "turn:", "turns:"].iter().any(|p| u.starts_with(p)))
            {
                return Err(err(
                    "ice_server",
                    format!("`{url}` is not a STUN or TURN URL (stun:, stuns:, turn:, turns:)"),
                ));
            }
        }
        Ok(())
    }
}

impl Config {
    /// Parses a config from TOML text. `origin` names the file in errors and warnings.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Loaded, ConfigError> {
        let at = |span| Location::of(origin, text, span);
        let de = toml::de::Deserializer::parse(text)
            .map_err(|e| ConfigError { location: at(e.span()), message: e.message().to_owned() })?;
        let mut unknown: Vec<Vec<Segment>> = Vec::new();
        let config: Config = serde_ignored::deserialize(de, |path| {
            let mut segs = Vec::new();
            segments(&path, &mut segs);
            unknown.push(segs);
        })
        .map_err(|e| ConfigError { location: at(e.span()), message: e.message().to_owned() })?;

        let warnings = unknown
            .iter()
            .map(|segs| ConfigWarning { location: at(locate(text, segs)), key: dotted(segs) })
            .collect();
        config.validate(text, origin)?;
        Ok(Loaded { config, warnings })
    }

    /// Checks what the types alone cannot.
    fn validate(&self, text: &str, origin: &str) -> Result<(), ConfigError> {
        let err = |path: Vec<Segment>, message: String| ConfigError {
            location: Location::of(origin, text, locate(text, &path)),
            message,
        };
        for (i, plugin) in self.plugins.iter().enumerate() {
            let here = vec![Segment::Key("plugin".into()), Segment::Index(i)];
            match (&plugin.name, &plugin.path) {
                (None, None) => {
                    return Err(err(here, "a [[plugin]] needs `name` or `path`".to_owned()));
                }
                (Some(_), Some(_)) => {
                    return Err(err(here, "a [[plugin]] takes `name` or `path`, not both".to_owned()));
                }
                _ => {}
            }
            // The crash policy of an in-process plugin cannot be honoured (its crash is the
            // host's), so saying one is a mistake worth stopping for, not a silent no-op.
            if plugin.isolation != Isolation::Process {
                for key in PluginEntry::PROCESS_KEYS {
                    let mut path = here.clone();
                    path.push(Segment::Key(key.into()));
                    if locate(text, &path).is_some() {
                        return Err(err(
                            path,
                            format!("`{key}` applies only to a plugin with isolation = \"process\""),
                        ));
                    }
                }
            }
            if plugin.deadline_ms == 0 {
                let mut path = here.clone();
                path.push(Segment::Key("deadline_ms".into()));
                return Err(err(path, "`deadline_ms` must be at least 1".to_owned()));
            }
            if plugin.memory_limit_mb == Some(0) {
                let mut path = here.clone();
                path.push(Segment::Key("memory_limit_mb".into()));
                return Err(err(path, "`memory_limit_mb` must be at least 1".to_owned()));
            }
        }
        if self.call.idle_timeout_period == 0 {
            let path = vec![Segment::Key("call".into()), Segment::Key("idle_timeout_period".into())];
            return Err(err(path, "`idle_timeout_period` must be at least 1 second".to_owned()));
        }
        if !(16..=8192).contains(&self.media.audio_period_frames) {
            let path = vec![Segment::Key("media".into()), Segment::Key("audio_period_frames".into())];
            let message =
                format!("`audio_period_frames` must be 16 to 8192, not {}", self.media.audio_period_frames);
            return Err(err(path, message));
        }
        self.network.validate(|key, message| {
            let path = vec![Segment::Key("network".into()), Segment::Key(key.into())];
            err(path, message)
        })?;
        if self.ui.layout.trim().is_empty() {
            let path = vec![Segment::Key("ui".into()), Segment::Key("layout".into())];
            return Err(err(path, "`ui.layout` names the layout plugin and cannot be empty".to_owned()));
        }
        let ui_key = |key: &str| vec![Segment::Key("ui".into()), Segment::Key(key.into())];
        let listen = self.ui.listen_addr().map_err(|message| err(ui_key("listen"), message))?;
        if !self.ui.allow_remote && !listen.ip().to_canonical().is_loopback() {
            return Err(err(
                ui_key("listen"),
                not_loopback_message(listen, "set `allow_remote = true` in [ui]"),
            ));
        }
        let mut seen = BTreeMap::new();
        for (i, button) in self.ui.custom_buttons.iter().enumerate() {
            if let Some(first) = seen.insert(button.id.as_str(), i) {
                let path = vec![Segment::Key("ui".into()), Segment::Key("button".into()), Segment::Index(i)];
                return Err(err(
                    path,
                    format!("button id `{}` is already used by button {first}", button.id),
                ));
            }
        }
        Ok(())
    }

    /// The config as TOML text (round-trips through [`Config::from_toml_str`]).
    pub fn to_toml_string(&self) -> Result<String, toml::ser::Error> {
        toml::to_string(self)
    }
}
