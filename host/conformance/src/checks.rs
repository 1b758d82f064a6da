//! The conformance checks. Each has a name, one sentence of what it asserts (PLUGINS.md
//! lists them) and a function run in a child process of its own.
//!
//! A check returns `Ok(outcome)` for its verdict or `Err(outcome)` to stop early; both are
//! reported the same way. Plugins are driven through [`super::raw`], so a check can misuse
//! the ABI on purpose.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use switchboard_core::abi::{ABI_VERSION, SbMediaFrame, SbStr, codec, media_kind, status};
use switchboard_core::command::{Capability, Command};
use switchboard_core::view::{Overlay, Rect, UiInput, ViewRequest};
use switchboard_core::wire::{
    HostEnvelope, HostMessage, PluginDescriptor, PluginKind, PluginReply, WIRE_VERSION,
};
use switchboard_core::{AudioModeKind, Event, EventKind, RtcUser};

use super::raw::{Entry, RawLibrary, Reply};
use super::samples::{self, Rng};
use super::{Outcome, probe};

/// A check's verdict; `Err` is an early verdict.
pub type Verdict = Result<Outcome, Outcome>;

/// One check.
#[derive(Debug)]
pub struct Check {
    /// Its name, kebab-case, stable (for `--only` / `--skip`).
    pub name: &'static str,
    /// One sentence: what it asserts.
    pub asserts: &'static str,
    /// The check itself.
    pub run: fn(&mut Ctx) -> Verdict,
}

/// What a check works with, in its child process.
#[derive(Debug)]
pub struct Ctx {
    path: PathBuf,
    seed: u64,
    settings: serde_json::Map<String, serde_json::Value>,
    lib: std::cell::OnceCell<RawLibrary>,
}

/// A describe or create slower than this is a warning.
const SCAN_BUDGET: Duration = Duration::from_millis(100);
/// A p99 handler latency above this is a warning.
const LATENCY_BUDGET: Duration = Duration::from_millis(1);

impl Ctx {
    /// A context for `path`, loading nothing yet.
    pub fn new(path: &Path, seed: u64, settings: serde_json::Map<String, serde_json::Value>) -> Self {
        Self { path: path.to_owned(), seed, settings, lib: std::cell::OnceCell::new() }
    }

    fn open(&self) -> Result<&RawLibrary, Outcome> {
        if self.lib.get().is_none() {
            let lib = RawLibrary::open(&self.path).map_err(|e| Outcome::failed(e.to_string()))?;
            // Cannot be set already: checked just above, and a check runs on one thread.
            let _ = self.lib.set(lib);
        }
        self.lib.get().ok_or_else(|| Outcome::failed("library vanished"))
    }

    /// The trusted entry; checks that need it are skipped when the handshake fails (the
    /// handshake checks report that failure themselves).
    fn entry(&self) -> Result<Entry<'_>, Outcome> {
        let lib = self.open()?;
        lib.entry().map_err(|e| Outcome::skipped(format!("handshake failed ({e}); see the entry-* checks")))
    }

    fn settings_bytes(&self) -> Vec<u8> {
        serde_json::Value::Object(self.settings.clone()).to_string().into_bytes()
    }

    fn rng(&self, salt: &str) -> Rng {
        Rng::new(self.seed, salt)
    }
}

/// The decoded descriptor.
fn descriptor(entry: &Entry<'_>) -> Result<PluginDescriptor, Outcome> {
    let reply = entry.describe(ABI_VERSION);
    if reply.status != status::OK {
        return Err(Outcome::failed(format!(
            "describe returned status {} ({}): {}",
            reply.status,
            status::name(reply.status),
            reply.text()
        )));
    }
    serde_json::from_slice(&reply.bytes)
        .map_err(|e| Outcome::failed(format!("descriptor is not valid JSON: {e}")))
}

/// Creates an instance with the given settings.
fn create(ctx: &Ctx, entry: &Entry<'_>) -> Result<u64, Outcome> {
    let (reply, instance) = entry.create(ABI_VERSION, &ctx.settings_bytes());
    if reply.status != status::OK {
        return Err(Outcome::failed(format!(
            "create with settings {} returned status {} ({}): {} (does it need --settings?)",
            serde_json::Value::Object(ctx.settings.clone()),
            reply.status,
            status::name(reply.status),
            reply.text()
        )));
    }
    Ok(instance)
}

fn encode(msg: HostMessage) -> Vec<u8> {
    serde_json::to_vec(&HostEnvelope::new(msg)).expect("host messages always serialize")
}

fn events_msg(events: Vec<Event>) -> Vec<u8> {
    encode(HostMessage::Events { events })
}

fn status_text(reply: &Reply) -> String {
    format!("status {} ({}): {}", reply.status, status::name(reply.status), reply.text())
}

/// A reply to a valid message: OK, and a decodable reply.
fn expect_ok(reply: &Reply, what: &str) -> Result<PluginReply, Outcome> {
    if reply.status == status::PANIC {
        return Err(Outcome::failed(format!("{what}: the plugin panicked: {}", reply.text())));
    }
    if reply.status != status::OK {
        return Err(Outcome::failed(format!("{what}: {}", status_text(reply))));
    }
    if reply.bytes.is_empty() {
        return Ok(PluginReply::default());
    }
    serde_json::from_slice(&reply.bytes)
        .map_err(|e| Outcome::failed(format!("{what}: undecodable reply: {e}")))
}

/// A reply to a hostile message: any status but PANIC.
fn expect_survived(reply: &Reply, what: &str) -> Result<(), Outcome> {
    if reply.status == status::PANIC {
        return Err(Outcome::failed(format!("{what}: the plugin panicked: {}", reply.text())));
    }
    Ok(())
}

/// Every kind's sample event, each in its own message, then all in one message.
fn every_kind_messages() -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = EventKind::ALL
        .iter()
        .map(|&k| (format!("event {k}"), events_msg(vec![samples::sample_event(k)])))
        .collect();
    out.push((
        "all events in one message".to_owned(),
        events_msg(EventKind::ALL.iter().map(|&k| samples::sample_event(k)).collect()),
    ));
    out
}

/// UI input a layout (or any plugin) may receive.
fn ui_inputs() -> Vec<UiInput> {
    vec![
        UiInput::ButtonPressed { id: "mute_audio".to_owned() },
        UiInput::ButtonPressed { id: "zzz-unknown-button".to_owned() },
        UiInput::TileClicked { uid: "bob".to_owned() },
        UiInput::TileDragged { uid: "bob".to_owned(), x: 10.0, y: 20.0 },
        UiInput::WindowResized { width: 800.0, height: 600.0 },
    ]
}

/// Drives one instance with every event kind, UI input and a render request: the common
/// workload of the checks that compare process state before and after.
fn exercise(entry: &Entry<'_>, instance: u64) -> Result<(), Outcome> {
    for (what, msg) in every_kind_messages() {
        expect_ok(&entry.handle(instance, &msg), &what)?;
    }
    for input in ui_inputs() {
        expect_survived(&entry.handle(instance, &encode(HostMessage::Input { input })), "ui input")?;
    }
    let mut rng = Rng::new(1, "exercise");
    let request = samples::random_view_request(&mut rng, 3);
    expect_survived(&entry.handle(instance, &encode(HostMessage::Render { request })), "render")?;
    Ok(())
}

/// Loads, creates, exercises and destroys: the whole life of a plugin in a host.
fn full_life(ctx: &mut Ctx) -> Result<(), Outcome> {
    let settings = ctx.settings_bytes();
    let entry = ctx.entry()?;
    descriptor(&entry)?;
    let (reply, instance) = entry.create(ABI_VERSION, &settings);
    if reply.status != status::OK {
        return Err(Outcome::failed(format!("create: {}", status_text(&reply))));
    }
    exercise(&entry, instance)?;
    let code = entry.destroy(instance);
    if code != status::OK {
        return Err(Outcome::failed(format!("destroy returned status {code} ({})", status::name(code))));
    }
    Ok(())
}

/// Compares one piece of process state before loading the plugin and after its whole life.
fn unchanged<T: PartialEq + std::fmt::Debug>(ctx: &mut Ctx, what: &str, probe: fn() -> T) -> Verdict {
    let before = probe();
    full_life(ctx)?;
    let after = probe();
    if before == after {
        Ok(Outcome::passed(format!("{what} unchanged")))
    } else {
        Err(Outcome::failed(format!("{what} changed: before {before:?}, after {after:?}")))
    }
}

// ---------------------------------------------------------------------------------------
// Loading and the handshake

fn load_rtld_now(ctx: &mut Ctx) -> Verdict {
    let started = Instant::now();
    ctx.open()?;
    Ok(Outcome::passed(format!("loaded in {:.1} ms", started.elapsed().as_secs_f64() * 1000.0)))
}

fn exports_only_entry(ctx: &mut Ctx) -> Verdict {
    let exports = super::elf::exports(&ctx.path).map_err(|e| Outcome::failed(e.to_string()))?;
    let entry = exports.iter().find(|e| e.name == switchboard_core::abi::ENTRY_SYMBOL);
    let others: Vec<&str> = exports
        .iter()
        .filter(|e| e.name != switchboard_core::abi::ENTRY_SYMBOL)
        .map(|e| e.name.as_str())
        .collect();
    match entry {
        None => Err(Outcome::failed(format!("`{}` is not exported", switchboard_core::abi::ENTRY_SYMBOL))),
        Some(e) if !e.is_data => {
            Err(Outcome::failed(format!("`{}` is exported but is not a data object", e.name)))
        }
        Some(_) if !others.is_empty() => Err(Outcome::failed(format!(
            "exports {} other symbol(s) (hide them, e.g. -fvisibility=hidden): {}",
            others.len(),
            others.iter().take(8).copied().collect::<Vec<_>>().join(", ")
        ))),
        Some(_) => Ok(Outcome::passed("exports exactly the entry symbol")),
    }
}

fn entry_abi_version(ctx: &mut Ctx) -> Verdict {
    let header = ctx.open()?.header();
    if header.abi_version == ABI_VERSION {
        Ok(Outcome::passed(format!("ABI version {ABI_VERSION}")))
    } else {
        Err(Outcome::failed(format!(
            "plugin speaks ABI version {}, this host speaks version {ABI_VERSION}",
            header.abi_version
        )))
    }
}

fn entry_struct_size(ctx: &mut Ctx) -> Verdict {
    let header = ctx.open()?.header();
    let ours = std::mem::size_of::<switchboard_core::abi::SbPluginEntry>();
    match (header.struct_size as usize).cmp(&ours) {
        std::cmp::Ordering::Equal => Ok(Outcome::passed(format!("{ours} bytes"))),
        std::cmp::Ordering::Greater => Ok(Outcome::warning(format!(
            "struct_size {} is larger than this host's {ours}: fields this host does not know are ignored",
            header.struct_size
        ))),
        std::cmp::Ordering::Less => Err(Outcome::failed(format!(
            "struct_size {} is smaller than the v1 entry ({ours} bytes)",
            header.struct_size
        ))),
    }
}

fn entry_functions_set(ctx: &mut Ctx) -> Verdict {
    let lib = ctx.open()?;
    let entry = lib.entry().map_err(|e| Outcome::failed(e.to_string()))?;
    let d = descriptor(&entry)?;
    match (d.wants_media, entry.has_media()) {
        (true, false) => Err(Outcome::failed("descriptor wants media but the entry's `media` is null")),
        (false, true) => {
            Ok(Outcome::warning("entry has a `media` function but the descriptor does not want media"))
        }
        _ => Ok(Outcome::passed("every required function is set")),
    }
}

fn refuses_other_abi(ctx: &mut Ctx, create: bool) -> Verdict {
    let settings = ctx.settings_bytes();
    let entry = ctx.entry()?;
    for version in [0, ABI_VERSION + 1, u32::MAX] {
        let reply = if create {
            let (reply, instance) = entry.create(version, &settings);
            if reply.status == status::OK {
                entry.destroy(instance);
            }
            reply
        } else {
            entry.describe(version)
        };
        match reply.status {
            status::ABI_MISMATCH if !reply.bytes.is_empty() => {}
            status::ABI_MISMATCH => {
                return Err(Outcome::failed(format!(
                    "ABI version {version}: ABI_MISMATCH without a message"
                )));
            }
            status::ERROR => {
                return Ok(Outcome::warning(format!(
                    "ABI version {version}: refused with ERROR; ABI_MISMATCH ({}) says why better",
                    status::ABI_MISMATCH
                )));
            }
            _ => return Err(Outcome::failed(format!("ABI version {version}: {}", status_text(&reply)))),
        }
    }
    Ok(Outcome::passed("versions 0, 2 and u32::MAX refused with ABI_MISMATCH and a message"))
}

fn describe_refuses_other_abi(ctx: &mut Ctx) -> Verdict {
    refuses_other_abi(ctx, false)
}

fn create_refuses_other_abi(ctx: &mut Ctx) -> Verdict {
    refuses_other_abi(ctx, true)
}

// ---------------------------------------------------------------------------------------
// The descriptor

fn descriptor_decodes(ctx: &mut Ctx) -> Verdict {
    let entry = ctx.entry()?;
    let d = descriptor(&entry)?;
    if d.abi_version != ABI_VERSION {
        return Err(Outcome::failed(format!(
            "descriptor says ABI {} but the entry says {ABI_VERSION}",
            d.abi_version
        )));
    }
    if d.v == 0 || d.v > WIRE_VERSION {
        return Ok(Outcome::warning(format!(
            "descriptor wire version {} (this host writes {WIRE_VERSION})",
            d.v
        )));
    }
    Ok(Outcome::passed(format!("{} {} ({})", d.id, d.version, d.kind)))
}

/// True for a valid plugin id: `[a-z0-9-]+`, not starting or ending with `-`.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !id.starts_with('-')
        && !id.ends_with('-')
}

fn descriptor_id(ctx: &mut Ctx) -> Verdict {
    let d = descriptor(&ctx.entry()?)?;
    if !valid_id(&d.id) {
        return Err(Outcome::failed(format!(
            "id {:?} is not [a-z0-9-]+ (no leading or trailing dash)",
            d.id
        )));
    }
    if d.name.trim().is_empty() {
        return Err(Outcome::failed("name is empty"));
    }
    Ok(Outcome::passed(format!("id {:?}, name {:?}", d.id, d.name)))
}

fn descriptor_version(ctx: &mut Ctx) -> Verdict {
    let d = descriptor(&ctx.entry()?)?;
    semver::Version::parse(&d.version)
        .map(|v| Outcome::passed(format!("version {v}")))
        .map_err(|e| Outcome::failed(format!("version {:?} is not semver: {e}", d.version)))
}

fn descriptor_kind(ctx: &mut Ctx) -> Verdict {
    let d = descriptor(&ctx.entry()?)?;
    if d.kind == PluginKind::Unknown {
        return Err(Outcome::failed("kind is not one of layout, feature, tool, fixture"));
    }
    if d.description.trim().is_empty() {
        return Ok(Outcome::warning(format!("kind {}, but the description is empty", d.kind)));
    }
    Ok(Outcome::passed(format!("kind {}", d.kind)))
}

fn descriptor_capabilities(ctx: &mut Ctx) -> Verdict {
    let d = descriptor(&ctx.entry()?)?;
    if d.capabilities.contains(&Capability::Unknown) {
        return Err(Outcome::failed("declares a capability this host does not know"));
    }
    let unique: BTreeSet<_> = d.capabilities.iter().collect();
    if unique.len() != d.capabilities.len() {
        return Err(Outcome::failed(format!("capabilities repeat: {:?}", d.capabilities)));
    }
    let has_layout = d.capabilities.contains(&Capability::Layout);
    if (d.kind == PluginKind::Layout) != has_layout {
        return Err(Outcome::failed(format!(
            "kind {} with capabilities {:?}: a layout plugin, and only a layout plugin, provides `layout`",
            d.kind, d.capabilities
        )));
    }
    Ok(Outcome::passed(format!("capabilities {:?}", d.capabilities)))
}

fn descriptor_subscriptions(ctx: &mut Ctx) -> Verdict {
    let d = descriptor(&ctx.entry()?)?;
    if d.subscriptions.contains(&EventKind::Unknown) {
        return Err(Outcome::failed("subscribes to an event kind this host does not know"));
    }
    let unique: BTreeSet<_> = d.subscriptions.iter().collect();
    if unique.len() != d.subscriptions.len() {
        return Err(Outcome::failed("subscriptions repeat"));
    }
    if d.subscriptions.is_empty() && d.kind != PluginKind::Layout {
        return Ok(Outcome::warning("subscribes to no event: it will only see commands and render requests"));
    }
    Ok(Outcome::passed(format!("{} event kind(s)", d.subscriptions.len())))
}

fn descriptor_stable(ctx: &mut Ctx) -> Verdict {
    let entry = ctx.entry()?;
    let first = entry.describe(ABI_VERSION);
    for i in 1..20 {
        let again = entry.describe(ABI_VERSION);
        if again != first {
            return Err(Outcome::failed(format!("describe call {i} returned something else than the first")));
        }
    }
    Ok(Outcome::passed("20 describe calls returned the same bytes"))
}

fn scan_time(ctx: &mut Ctx) -> Verdict {
    let started = Instant::now();
    ctx.open()?;
    let load = started.elapsed();
    let entry = ctx.entry()?;
    let started = Instant::now();
    descriptor(&entry)?;
    let first = started.elapsed();
    let mut worst = first;
    for _ in 0..20 {
        let started = Instant::now();
        entry.describe(ABI_VERSION);
        worst = worst.max(started.elapsed());
    }
    let message = format!(
        "load {:.2} ms, first describe {:.3} ms, slowest of 21 {:.3} ms",
        ms(load),
        ms(first),
        ms(worst)
    );
    if worst > SCAN_BUDGET || load > SCAN_BUDGET {
        Ok(Outcome::warning(format!("{message}: over the {} ms budget", SCAN_BUDGET.as_millis())))
    } else {
        Ok(Outcome::passed(message))
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

// ---------------------------------------------------------------------------------------
// Lifecycle

fn create_destroy_repeated(ctx: &mut Ctx) -> Verdict {
    let settings = ctx.settings_bytes();
    let entry = ctx.entry()?;
    for i in 0..100 {
        let (reply, instance) = entry.create(ABI_VERSION, &settings);
        if reply.status != status::OK {
            return Err(Outcome::failed(format!("create #{i}: {}", status_text(&reply))));
        }
        let code = entry.destroy(instance);
        if code != status::OK {
            return Err(Outcome::failed(format!("destroy #{i}: status {code} ({})", status::name(code))));
        }
    }
    Ok(Outcome::passed("100 create/destroy cycles"))
}

fn instances_independent(ctx: &mut Ctx) -> Verdict {
    let entry = ctx.entry()?;
    let mut live = Vec::new();
    for _ in 0..8 {
        live.push(create(ctx, &entry)?);
    }
    let unique: BTreeSet<_> = live.iter().collect();
    if unique.len() != live.len() {
        return Err(Outcome::failed(format!("live instances share handles: {live:?}")));
    }
    // Talk to every other one, then destroy half and check the rest still answer.
    for &i in live.iter().step_by(2) {
        expect_ok(
            &entry.handle(i, &events_msg(vec![samples::sample_event(EventKind::UserJoined)])),
            "event",
        )?;
    }
    for &i in live.iter().take(4) {
        let code = entry.destroy(i);
        if code != status::OK {
            return Err(Outcome::failed(format!("destroy {i}: status {code}")));
        }
    }
    for &i in live.iter().skip(4) {
        expect_ok(&entry.handle(i, &events_msg(vec![samples::sample_event(EventKind::UserLeft)])), "event")?;
        let code = entry.destroy(i);
        if code != status::OK {
            return Err(Outcome::failed(format!("destroy {i}: status {code}")));
        }
    }
    Ok(Outcome::passed("8 live instances with distinct handles, destroyed in any order"))
}

fn is_refusal(code: i32) -> bool {
    code != status::OK && code != status::PANIC
}

fn misuse_handle_after_destroy(ctx: &mut Ctx) -> Verdict {
    let entry = ctx.entry()?;
    let instance = create(ctx, &entry)?;
    entry.destroy(instance);
    let reply = entry.handle(instance, &events_msg(vec![samples::sample_event(EventKind::UserJoined)]));
    if is_refusal(reply.status) {
        Ok(Outcome::passed(format!("refused with {}", status::name(reply.status))))
    } else {
        Err(Outcome::failed(format!("handle on a destroyed instance: {}", status_text(&reply))))
    }
}

fn misuse_destroy_twice(ctx: &mut Ctx) -> Verdict {
    let entry = ctx.entry()?;
    let instance = create(ctx, &entry)?;
    let first = entry.destroy(instance);
    if first != status::OK {
        return Err(Outcome::failed(format!("first destroy: status {first}")));
    }
    let second = entry.destroy(instance);
    if is_refusal(second) {
        Ok(Outcome::passed(format!("second destroy refused with {}", status::name(second))))
    } else {
        Err(Outcome::failed(format!("second destroy returned {second} ({})", status::name(second))))
    }
}

fn misuse_unknown_handle(ctx: &mut Ctx) -> Verdict {
    let entry = ctx.entry()?;
    let live = create(ctx, &entry)?;
    let msg = events_msg(vec![samples::sample_event(EventKind::UserJoined)]);
    let mut rng = ctx.rng("unknown-handle");
    let mut bogus = vec![0, u64::MAX, live.wrapping_add(1000), rng.next_u64()];
    bogus.retain(|&h| h != live);
    for h in bogus {
        let reply = entry.handle(h, &msg);
        if !is_refusal(reply.status) {
            return Err(Outcome::failed(format!(
                "handle({h}) on a handle never issued: {}",
                status_text(&reply)
            )));
        }
        let code = entry.destroy(h);
        if !is_refusal(code) {
            return Err(Outcome::failed(format!("destroy({h}) on a handle never issued returned {code}")));
        }
    }
    expect_ok(&entry.handle(live, &msg), "the live instance afterwards")?;
    entry.destroy(live);
    Ok(Outcome::passed("handles never issued are refused; the live instance is unharmed"))
}

fn misuse_null_pointers(ctx: &mut Ctx) -> Verdict {
    let settings = ctx.settings_bytes();
    let entry = ctx.entry()?;
    let code = entry.describe_null_out();
    if code == status::PANIC {
        return Err(Outcome::failed("describe with a null out pointer panicked"));
    }
    let reply = entry.create_null_instance(&settings);
    if !is_refusal(reply.status) {
        return Err(Outcome::failed(format!("create with a null out_instance: {}", status_text(&reply))));
    }
    let (reply, instance) = entry.create_null_settings();
    if reply.status == status::OK {
        entry.destroy(instance);
        return Err(Outcome::failed("create with null settings and a non-zero length returned OK"));
    }
    let live = create(ctx, &entry)?;
    let reply = entry.handle_null_message(live, 64);
    if !is_refusal(reply.status) {
        return Err(Outcome::failed(format!(
            "handle with a null message and length 64: {}",
            status_text(&reply)
        )));
    }
    let msg = events_msg(vec![samples::sample_event(EventKind::UserJoined)]);
    if entry.handle_null_out(live, &msg) == status::PANIC {
        return Err(Outcome::failed("handle with a null out pointer panicked"));
    }
    entry.destroy(live);
    Ok(Outcome::passed("null pointers refused without a crash"))
}

fn threads_after_destroy(ctx: &mut Ctx) -> Verdict {
    ctx.entry()?;
    let before = probe::threads();
    full_life(ctx)?;
    let after_count = probe::settle_threads(before.len(), Duration::from_millis(500));
    if after_count <= before.len() {
        return Ok(Outcome::passed(format!("{} thread(s) before and after", before.len())));
    }
    let after = probe::threads();
    let extra: Vec<String> = after
        .iter()
        .filter(|(tid, _)| !before.contains_key(tid))
        .map(|(tid, name)| format!("{name} ({tid})"))
        .collect();
    Err(Outcome::failed(format!(
        "{} thread(s) still running 500 ms after destroy: {}",
        extra.len(),
        extra.join(", ")
    )))
}

// ---------------------------------------------------------------------------------------
// Messages

fn every_event_kind(ctx: &mut Ctx) -> Verdict {
    let entry = ctx.entry()?;
    let instance = create(ctx, &entry)?;
    for (what, msg) in every_kind_messages() {
        expect_ok(&entry.handle(instance, &msg), &what)?;
    }
    entry.destroy(instance);
    Ok(Outcome::passed(format!("{} event kinds handled", EventKind::ALL.len())))
}

fn unknown_message_type(ctx: &mut Ctx) -> Verdict {
    let entry = ctx.entry()?;
    let instance = create(ctx, &entry)?;
    let messages: [(&str, &[u8]); 4] = [
        ("unknown message type", br#"{"v":1,"msg":{"type":"zzz_future_message","payload":[1,2,3]}}"#),
        ("unknown event kind", br#"{"v":1,"msg":{"type":"events","events":[{"event":"zzz_future_event","x":1}]}}"#),
        (
            "unknown fields",
            br#"{"v":1,"zzz":true,"msg":{"type":"events","zzz":{},"events":[{"event":"call_ended","zzz":[]}]}}"#,
        ),
        ("unknown ui input", br#"{"v":1,"msg":{"type":"input","input":{"input":"zzz_gesture","x":1}}}"#),
    ];
    for (what, msg) in messages {
        expect_ok(&entry.handle(instance, msg), what)?;
    }
    entry.destroy(instance);
    Ok(Outcome::passed("unknown message types, events, inputs and fields are tolerated"))
}

fn future_wire_version(ctx: &mut Ctx) -> Verdict {
    let entry = ctx.entry()?;
    let instance = create(ctx, &entry)?;
    let messages: [&[u8]; 3] = [
        br#"{"v":999,"msg":{"type":"events","events":[{"event":"call_ended"}]},"extensions":{"a":1}}"#,
        br#"{"v":999,"msg":{"type":"zzz","data":"x"}}"#,
        br#"{"v":2,"msg":{"type":"events","events":[{"event":"user_joined","user":{"uid":"bob","name":"Bob","pronouns":"they"}}]}}"#,
    ];
    let mut statuses = Vec::new();
    for msg in messages {
        let reply = entry.handle(instance, msg);
        expect_survived(&reply, "future wire version")?;
        statuses.push(status::name(reply.status));
    }
    entry.destroy(instance);
    Ok(Outcome::passed(format!("survived newer wire versions (statuses: {})", statuses.join(", "))))
}

fn empty_message(ctx: &mut Ctx) -> Verdict {
    let entry = ctx.entry()?;
    let instance = create(ctx, &entry)?;
    let empty: [u8; 0] = [];
    let cases: [(&str, Reply); 4] = [
        ("null pointer, length 0", entry.handle_null_message(instance, 0)),
        ("empty slice", entry.handle(instance, &empty)),
        ("empty object", entry.handle(instance, b"{}")),
        ("whitespace", entry.handle(instance, b" \n\t ")),
    ];
    for (what, reply) in &cases {
        expect_survived(reply, what)?;
    }
    expect_ok(&entry.handle(instance, &events_msg(vec![Event::CallEnded])), "a valid message afterwards")?;
    entry.destroy(instance);
    Ok(Outcome::passed("empty messages survived"))
}

fn garbage_1mb(ctx: &mut Ctx) -> Verdict {
    let entry = ctx.entry()?;
    let instance = create(ctx, &entry)?;
    let mut rng = ctx.rng("garbage");
    const MB: usize = 1 << 20;
    let mut deep = vec![b'['; MB / 2];
    deep.extend(std::iter::repeat_n(b']', MB / 2));
    let mut long_string =
        br#"{"v":1,"msg":{"type":"events","events":[{"event":"button_pressed","id":""#.to_vec();
    long_string.extend(std::iter::repeat_n(b'a', MB));
    long_string.extend_from_slice(br#""}]}}"#);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("1 MB of random bytes", rng.bytes(MB)),
        ("1 MB of nested brackets", deep),
        ("1 MB of zero bytes", vec![0; MB]),
        ("1 MB of invalid UTF-8", vec![0xff; MB]),
        ("a 1 MB string in a valid event", long_string),
    ];
    for (what, msg) in &cases {
        expect_survived(&entry.handle(instance, msg), what)?;
    }
    expect_ok(&entry.handle(instance, &events_msg(vec![Event::CallEnded])), "a valid message afterwards")?;
    entry.destroy(instance);
    Ok(Outcome::passed("1 MB of garbage survived, and the instance still answers"))
}

fn fuzz_events(ctx: &mut Ctx) -> Verdict {
    let seed = ctx.seed;
    let mut rng = ctx.rng("fuzz-events");
    let entry = ctx.entry()?;
    let instance = create(ctx, &entry)?;
    let mut total = 0;
    for round in 0..300 {
        let n = 1 + rng.below(16);
        let events: Vec<Event> = (0..n).map(|_| samples::random_event(&mut rng)).collect();
        total += n;
        let reply = entry.handle(instance, &events_msg(events));
        expect_ok(&reply, &format!("message {round}")).map_err(|o| {
            Outcome::failed(format!("{} (reproduce with --seed {seed} --only '^fuzz-events$')", o.message))
        })?;
    }
    entry.destroy(instance);
    Ok(Outcome::passed(format!("{total} random events in 300 messages (seed {seed})")))
}

fn mutate(rng: &mut Rng, mut msg: Vec<u8>) -> Vec<u8> {
    for _ in 0..1 + rng.below(8) {
        if msg.is_empty() {
            break;
        }
        let at = rng.below(msg.len());
        match rng.below(5) {
            0 => msg[at] ^= 1 << rng.below(8),
            1 => msg.truncate(at),
            2 => msg.insert(at, *rng.pick(b"{}[]\",:0-e\\\x00\xff")),
            3 => {
                let end = (at + rng.below(32)).min(msg.len());
                let span = msg[at..end].to_vec();
                msg.splice(at..at, span);
            }
            _ => {
                msg.remove(at);
            }
        }
    }
    msg
}

fn fuzz_bytes(ctx: &mut Ctx) -> Verdict {
    let seed = ctx.seed;
    let mut rng = ctx.rng("fuzz-bytes");
    let entry = ctx.entry()?;
    let instance = create(ctx, &entry)?;
    for round in 0..1000 {
        let base = events_msg((0..1 + rng.below(3)).map(|_| samples::random_event(&mut rng)).collect());
        let msg = mutate(&mut rng, base);
        expect_survived(&entry.handle(instance, &msg), &format!("mutated message {round}")).map_err(|o| {
            Outcome::failed(format!("{} (reproduce with --seed {seed} --only '^fuzz-bytes$')", o.message))
        })?;
    }
    entry.destroy(instance);
    Ok(Outcome::passed(format!("1000 mutated messages survived (seed {seed})")))
}

fn panic_contained(ctx: &mut Ctx) -> Verdict {
    let entry = ctx.entry()?;
    let instance = create(ctx, &entry)?;
    let huge = "w".repeat(256 * 1024);
    let crowd: Vec<RtcUser> = (0..5000).map(|i| samples::user(&format!("u{i}"))).collect();
    let hostile = vec![
        Event::UserJoined { user: RtcUser::new(huge.clone(), huge.clone()) },
        Event::UserListChanged { users: crowd },
        Event::UserListChanged { users: Vec::new() },
        Event::UserLeft { user: RtcUser::new("never-joined", "") },
        Event::IdleTimeoutWarning { seconds_left: u32::MAX },
        Event::ActiveSpeakerChanged { uid: Some(String::new()) },
        Event::AudioModeChanged { modes: Vec::new() },
        Event::SessionEnded { reason: huge },
        Event::CallEnded,
        Event::CallEnded,
    ];
    for event in hostile {
        let kind = event.kind();
        let reply = entry.handle(instance, &events_msg(vec![event]));
        if reply.status == status::PANIC {
            // Contained: we are still running. The instance must now refuse calls, and
            // destroy must still work.
            let after = entry.handle(instance, &events_msg(vec![Event::CallEnded]));
            let destroyed = entry.destroy(instance);
            if after.status == status::OK {
                return Err(Outcome::failed(format!(
                    "panicked on {kind} ({}) and then kept answering OK as if nothing happened",
                    reply.text()
                )));
            }
            if destroyed == status::PANIC {
                return Err(Outcome::failed("destroy after a panic panicked again"));
            }
            return Ok(Outcome::warning(format!(
                "panicked on a valid {kind} event (contained: status PANIC, instance failed): {}",
                reply.text()
            )));
        }
        if reply.status != status::OK {
            return Err(Outcome::failed(format!("valid {kind} event: {}", status_text(&reply))));
        }
    }
    entry.destroy(instance);
    Ok(Outcome::passed("hostile but valid events provoked no panic; the process never unwound"))
}

/// Percentile `q` of sorted durations.
fn percentile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
}

fn handler_latency(ctx: &mut Ctx) -> Verdict {
    const ROUNDS: usize = 3;
    const PER_ROUND: usize = 1000;
    let entry = ctx.entry()?;
    let instance = create(ctx, &entry)?;
    let messages: Vec<Vec<u8>> = (0..PER_ROUND)
        .map(|i| events_msg(vec![samples::sample_event(EventKind::ALL[i % EventKind::ALL.len()])]))
        .collect();
    // The best of three rounds: a machine busy with other work preempts the plugin now and
    // then, which says nothing about the plugin; a plugin that is slow is slow every round.
    let mut best: Option<Vec<Duration>> = None;
    for _ in 0..ROUNDS {
        let mut times = Vec::with_capacity(PER_ROUND);
        for msg in &messages {
            let started = Instant::now();
            let reply = entry.handle(instance, msg);
            times.push(started.elapsed());
            expect_ok(&reply, "event")?;
        }
        times.sort();
        if best.as_ref().is_none_or(|b| percentile(&times, 0.99) < percentile(b, 0.99)) {
            best = Some(times);
        }
    }
    entry.destroy(instance);
    let times = best.unwrap_or_default();
    if times.is_empty() {
        return Err(Outcome::failed("no timing was taken"));
    }
    let p99 = percentile(&times, 0.99);
    let message = format!(
        "best of {ROUNDS} rounds of {PER_ROUND} events: p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs",
        percentile(&times, 0.5).as_secs_f64() * 1e6,
        p99.as_secs_f64() * 1e6,
        times[times.len() - 1].as_secs_f64() * 1e6
    );
    if p99 > LATENCY_BUDGET {
        Ok(Outcome::warning(format!("{message}: p99 over the {} ms budget", LATENCY_BUDGET.as_millis())))
    } else {
        Ok(Outcome::passed(message))
    }
}

// ---------------------------------------------------------------------------------------
// Commands and capabilities

/// The capability a command asks its sender to hold, in the sense of this check: the
/// capability commands of [`Command::capability`], plus `announce_audio_modes`, which only an
/// audio router reports.
fn needs(command: &Command) -> Option<Capability> {
    match command {
        Command::AnnounceAudioModes { .. } => Some(Capability::AudioRouting),
        other => other.capability(),
    }
}

fn commands_valid(ctx: &mut Ctx) -> Verdict {
    let mut rng = ctx.rng("commands-valid");
    let entry = ctx.entry()?;
    let d = descriptor(&entry)?;
    let instance = create(ctx, &entry)?;
    let mut messages = every_kind_messages();
    for i in 0..200 {
        messages.push((format!("random event {i}"), events_msg(vec![samples::random_event(&mut rng)])));
    }
    for input in ui_inputs() {
        messages.push(("ui input".to_owned(), encode(HostMessage::Input { input })));
    }
    let mut seen = BTreeSet::new();
    let mut undeclared = BTreeSet::new();
    let mut unknown = BTreeSet::new();
    for (what, msg) in &messages {
        let reply = entry.handle(instance, msg);
        if reply.status != status::OK {
            // Other checks judge statuses; this one judges commands.
            continue;
        }
        let reply = expect_ok(&reply, what)?;
        for command in &reply.commands {
            if *command == Command::Unknown {
                unknown.insert(what.clone());
                continue;
            }
            seen.insert(command.name());
            if let Some(cap) = needs(command)
                && !d.capabilities.contains(&cap)
            {
                undeclared.insert(format!("{} (needs {cap})", command.name()));
            }
        }
    }
    entry.destroy(instance);
    let undeclared_text = undeclared.iter().cloned().collect::<Vec<_>>().join(", ");
    if !unknown.is_empty() {
        return Err(Outcome::failed(format!(
            "emitted commands this host does not know, in answer to: {}{}",
            unknown.into_iter().take(5).collect::<Vec<_>>().join(", "),
            if undeclared.is_empty() {
                String::new()
            } else {
                format!("; also undeclared: {undeclared_text}")
            }
        )));
    }
    if !undeclared.is_empty() {
        return Ok(Outcome::warning(format!(
            "emits capability commands for capabilities it does not declare: {}; the host routes them to \
             whichever plugin provides them and fails them when none does",
            undeclared_text
        )));
    }
    Ok(Outcome::passed(if seen.is_empty() {
        "emitted no commands".to_owned()
    } else {
        format!("valid commands: {}", seen.into_iter().collect::<Vec<_>>().join(", "))
    }))
}

fn commands_for(cap: Capability) -> Vec<Command> {
    match cap {
        Capability::Recording => vec![Command::StartRecording, Command::StopRecording],
        Capability::Pip => vec![Command::EnterPipMode, Command::ExitPipMode],
        Capability::AudioRouting => {
            AudioModeKind::ALL.iter().map(|&mode| Command::SetAudioMode { mode }).collect()
        }
        _ => Vec::new(),
    }
}

fn capability_commands(ctx: &mut Ctx) -> Verdict {
    let entry = ctx.entry()?;
    let d = descriptor(&entry)?;
    let instance = create(ctx, &entry)?;
    let from = samples::user("alice");
    let mut handled = BTreeSet::new();
    let mut lenient = BTreeSet::new();
    for cap in [Capability::Recording, Capability::Pip, Capability::AudioRouting] {
        let declared = d.capabilities.contains(&cap);
        for command in commands_for(cap) {
            let name = command.name();
            let reply = entry.handle(instance, &encode(HostMessage::Command { command, from: from.clone() }));
            let reply = expect_ok(&reply, &format!("command {name}"))?;
            match (declared, reply.error) {
                (true, Some(e)) if e.code == switchboard_core::ErrorCode::NotImplemented => {
                    entry.destroy(instance);
                    return Err(Outcome::failed(format!(
                        "declares {cap} but does not implement {name}: {e}"
                    )));
                }
                (true, _) => {
                    handled.insert(name);
                }
                (false, None) => {
                    lenient.insert(name);
                }
                (false, Some(_)) => {}
            }
        }
    }
    entry.destroy(instance);
    if !lenient.is_empty() {
        return Ok(Outcome::warning(format!(
            "claims to have carried out commands of capabilities it does not declare: {}",
            lenient.into_iter().collect::<Vec<_>>().join(", ")
        )));
    }
    if handled.is_empty() {
        Ok(Outcome::passed("declares no command capability and refuses their commands"))
    } else {
        Ok(Outcome::passed(format!("implements {}", handled.into_iter().collect::<Vec<_>>().join(", "))))
    }
}

fn media_tap(ctx: &mut Ctx) -> Verdict {
    let entry = ctx.entry()?;
    let d = descriptor(&entry)?;
    if !d.wants_media {
        return Ok(Outcome::skipped("does not want media"));
    }
    let instance = create(ctx, &entry)?;
    let mut rng = ctx.rng("media");
    let (participant, track) = ("bob", "audio0");
    for i in 0..200u64 {
        let len = rng.below(1500);
        let data = rng.bytes(len);
        let video = i % 2 == 1;
        let frame = SbMediaFrame {
            struct_size: std::mem::size_of::<SbMediaFrame>() as u32,
            kind: if video { media_kind::VIDEO } else { media_kind::AUDIO },
            codec: if video { codec::VP8 } else { codec::OPUS },
            keyframe: u32::from(i % 30 == 1),
            timestamp_us: i * 20_000,
            participant: SbStr { ptr: participant.as_ptr(), len: participant.len() },
            track: SbStr { ptr: track.as_ptr(), len: track.len() },
            data: data.as_ptr(),
            data_len: data.len(),
        };
        match entry.media(instance, &frame) {
            None => return Err(Outcome::failed("wants media but has no media function")),
            Some(status::OK) => {}
            Some(code) => {
                return Err(Outcome::failed(format!("frame {i}: status {code} ({})", status::name(code))));
            }
        }
    }
    entry.destroy(instance);
    Ok(Outcome::passed("200 audio and video frames accepted"))
}

// ---------------------------------------------------------------------------------------
// Settings

fn settings_unknown_key(ctx: &mut Ctx) -> Verdict {
    let entry = ctx.entry()?;
    let mut settings = ctx.settings.clone();
    settings.insert("zzz_unknown".to_owned(), serde_json::json!(1));
    let bytes = serde_json::Value::Object(settings).to_string();
    let (reply, instance) = entry.create(ABI_VERSION, bytes.as_bytes());
    match reply.status {
        status::ERROR | status::INVALID_ARGUMENT if !reply.bytes.is_empty() => {
            Ok(Outcome::passed(format!("refused: {}", reply.text())))
        }
        status::ERROR | status::INVALID_ARGUMENT => Err(Outcome::failed("refused, but without a message")),
        status::OK => {
            entry.destroy(instance);
            Ok(Outcome::warning(
                "accepted the unknown setting `zzz_unknown`: a typo in config would go unnoticed",
            ))
        }
        _ => Err(Outcome::failed(format!("unknown setting: {}", status_text(&reply)))),
    }
}

fn wrong_type(v: &serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::String(_) => serde_json::json!([12345]),
        serde_json::Value::Number(_) => serde_json::json!("not a number"),
        serde_json::Value::Bool(_) => serde_json::json!({"not": "a bool"}),
        _ => serde_json::json!(true),
    }
}

fn settings_wrong_types(ctx: &mut Ctx) -> Verdict {
    let entry = ctx.entry()?;
    let mut cases: Vec<(String, Vec<u8>)> = ["[1,2]", "42", "\"text\"", "null", "not json", "{", "{\"a\":"]
        .iter()
        .map(|s| (format!("settings {s}"), s.as_bytes().to_vec()))
        .collect();
    cases.push(("invalid UTF-8".to_owned(), vec![b'{', 0xff, 0xfe, b'}']));
    for (key, value) in &ctx.settings {
        let mut settings = ctx.settings.clone();
        settings.insert(key.clone(), wrong_type(value));
        cases.push((
            format!("`{key}` of the wrong type"),
            serde_json::Value::Object(settings).to_string().into_bytes(),
        ));
    }
    let mut lenient = Vec::new();
    for (what, bytes) in &cases {
        let (reply, instance) = entry.create(ABI_VERSION, bytes);
        match reply.status {
            status::ERROR | status::INVALID_ARGUMENT => {}
            status::OK => {
                entry.destroy(instance);
                lenient.push(what.clone());
            }
            _ => return Err(Outcome::failed(format!("{what}: {}", status_text(&reply)))),
        }
    }
    if lenient.is_empty() {
        Ok(Outcome::passed(format!("{} malformed settings refused", cases.len())))
    } else {
        Ok(Outcome::warning(format!("accepted malformed settings: {}", lenient.join("; "))))
    }
}

// ---------------------------------------------------------------------------------------
// Process-wide state

fn global_locale(ctx: &mut Ctx) -> Verdict {
    unchanged(ctx, "the C locale", probe::locale)
}

fn global_env(ctx: &mut Ctx) -> Verdict {
    unchanged(ctx, "the environment", probe::env)
}

fn global_cwd(ctx: &mut Ctx) -> Verdict {
    unchanged(ctx, "the current directory", probe::cwd)
}

fn global_signal_handlers(ctx: &mut Ctx) -> Verdict {
    let before = probe::signal_handlers();
    full_life(ctx)?;
    let after = probe::signal_handlers();
    let changed: Vec<String> = before
        .iter()
        .filter(|(sig, action)| after.get(sig) != Some(action))
        .map(|(sig, _)| probe::signal_name(*sig))
        .collect();
    if changed.is_empty() {
        Ok(Outcome::passed(format!("{} signal dispositions unchanged", before.len())))
    } else {
        Err(Outcome::failed(format!("changed signal handlers: {}", changed.join(", "))))
    }
}

fn global_panic_hook(ctx: &mut Ctx) -> Verdict {
    let marker = probe::PanicHookMarker::install();
    let life = full_life(ctx);
    let ours = marker.still_ours();
    life?;
    if ours {
        Ok(Outcome::passed("the host's panic hook is still the one that runs"))
    } else {
        Err(Outcome::failed("the host's panic hook was replaced"))
    }
}

fn global_tracing(ctx: &mut Ctx) -> Verdict {
    unchanged(ctx, "the global tracing dispatcher", probe::tracing_dispatcher)
}

fn quiet_stdio(ctx: &mut Ctx) -> Verdict {
    ctx.entry()?;
    let capture =
        probe::StdioCapture::start().map_err(|e| Outcome::failed(format!("capturing stdio: {e}")))?;
    let life = full_life(ctx);
    let (out, err) = capture.finish().map_err(|e| Outcome::failed(format!("capturing stdio: {e}")))?;
    life?;
    let show = |b: &[u8]| String::from_utf8_lossy(&b[..b.len().min(200)]).replace('\n', " | ");
    if !out.is_empty() {
        return Err(Outcome::failed(format!(
            "wrote {} bytes to stdout, which carries the host's event lines: {}",
            out.len(),
            show(&out)
        )));
    }
    if !err.is_empty() {
        return Ok(Outcome::warning(format!("wrote {} bytes to stderr: {}", err.len(), show(&err))));
    }
    Ok(Outcome::passed("wrote nothing to stdout or stderr"))
}

fn no_async_runtime(ctx: &mut Ctx) -> Verdict {
    let settings = ctx.settings_bytes();
    let entry = ctx.entry()?;
    let before = probe::threads();
    let mut seen = BTreeSet::new();
    let sample = |seen: &mut BTreeSet<String>| {
        for (tid, name) in probe::threads() {
            if !before.contains_key(&tid) {
                seen.insert(name);
            }
        }
    };
    let (reply, instance) = entry.create(ABI_VERSION, &settings);
    if reply.status != status::OK {
        return Err(Outcome::failed(format!("create: {}", status_text(&reply))));
    }
    sample(&mut seen);
    for (what, msg) in every_kind_messages() {
        expect_ok(&entry.handle(instance, &msg), &what)?;
        sample(&mut seen);
    }
    entry.destroy(instance);
    let runtimes: Vec<&String> = seen.iter().filter(|n| probe::runtime_thread_name(n)).collect();
    if !runtimes.is_empty() {
        return Err(Outcome::failed(format!(
            "runs an async runtime of its own (threads: {})",
            runtimes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
        )));
    }
    if seen.is_empty() {
        Ok(Outcome::passed("started no thread while handling"))
    } else {
        Ok(Outcome::passed(format!(
            "no runtime threads; other threads: {}",
            seen.into_iter().collect::<Vec<_>>().join(", ")
        )))
    }
}

fn bounded_resources(ctx: &mut Ctx) -> Verdict {
    const MIB: u64 = 1 << 20;
    let fds_before_create = probe::fd_count();
    let entry = ctx.entry()?;
    let instance = create(ctx, &entry)?;
    let batch = |round: usize| {
        events_msg(
            (0..10)
                .map(|j| samples::sample_event(EventKind::ALL[(round * 10 + j) % EventKind::ALL.len()]))
                .collect(),
        )
    };
    for round in 0..100 {
        expect_ok(&entry.handle(instance, &batch(round)), "warm-up")?;
    }
    let (rss0, fd0) = (probe::rss_bytes(), probe::fd_count());
    for round in 0..1000 {
        expect_ok(&entry.handle(instance, &batch(round)), "event batch")?;
    }
    let (rss1, fd1) = (probe::rss_bytes(), probe::fd_count());
    entry.destroy(instance);
    let fds_after_destroy = probe::fd_count();
    let growth = rss1.saturating_sub(rss0);
    let message = format!(
        "over 10,000 events: RSS {:+.1} MiB, fds {:+}; fds after destroy {:+}",
        growth as f64 / MIB as f64,
        fd1 as i64 - fd0 as i64,
        fds_after_destroy as i64 - fds_before_create as i64
    );
    if fd1 > fd0 || fds_after_destroy > fds_before_create || growth > 16 * MIB {
        Err(Outcome::failed(message))
    } else if growth > 4 * MIB {
        Ok(Outcome::warning(message))
    } else {
        Ok(Outcome::passed(message))
    }
}

// ---------------------------------------------------------------------------------------
// Layout

fn check_view(request: &ViewRequest, view: &switchboard_core::view::View) -> Result<(), String> {
    let window = Rect::new(0.0, 0.0, request.width, request.height);
    if !view.width.is_finite() || !view.height.is_finite() {
        return Err(format!("view size {}x{} is not finite", view.width, view.height));
    }
    let uids: BTreeSet<&str> = request.participants.iter().map(|p| p.user.uid.as_str()).collect();
    for tile in &view.tiles {
        if !tile.rect.is_finite() || !tile.rect.is_inside(&window) {
            return Err(format!("tile {} at {:?} is not finite and inside {window:?}", tile.uid, tile.rect));
        }
        if !uids.contains(tile.uid.as_str()) {
            return Err(format!("tile for {:?}, who is not in the call", tile.uid));
        }
    }
    if let Some(bar) = view.button_bar
        && (!bar.is_finite() || !bar.is_inside(&window))
    {
        return Err(format!("button bar at {bar:?} is not finite and inside {window:?}"));
    }
    for overlay in &view.overlays {
        let rect = match overlay {
            Overlay::RecordingIndicator { rect } | Overlay::PipWindow { rect } => *rect,
            Overlay::IdleTimeoutPrompt { rect, .. } => *rect,
            _ => continue,
        };
        if !rect.is_finite() || !rect.is_inside(&window) {
            return Err(format!("overlay at {rect:?} is not finite and inside {window:?}"));
        }
    }
    Ok(())
}

fn layout_views(ctx: &mut Ctx) -> Verdict {
    let seed = ctx.seed;
    let mut rng = ctx.rng("layout-views");
    let entry = ctx.entry()?;
    let d = descriptor(&entry)?;
    if d.kind != PluginKind::Layout && !d.capabilities.contains(&Capability::Layout) {
        return Ok(Outcome::skipped("not a layout plugin"));
    }
    let instance = create(ctx, &entry)?;
    let mut views = 0;
    for n in 0..=32 {
        for round in 0..4 {
            let request = samples::random_view_request(&mut rng, n);
            let reply = entry.handle(instance, &encode(HostMessage::Render { request: request.clone() }));
            let what = format!("{n} participants, round {round} (reproduce with --seed {seed})");
            let reply = expect_ok(&reply, &what)?;
            let Some(view) = reply.view else {
                return Err(Outcome::failed(format!("{what}: a layout plugin returned no view")));
            };
            check_view(&request, &view).map_err(|e| Outcome::failed(format!("{what}: {e}")))?;
            views += 1;
        }
        for input in ui_inputs() {
            expect_survived(&entry.handle(instance, &encode(HostMessage::Input { input })), "ui input")?;
        }
    }
    entry.destroy(instance);
    Ok(Outcome::passed(format!(
        "{views} views for 0..=32 participants, every rectangle finite and inside (seed {seed})"
    )))
}

// ---------------------------------------------------------------------------------------

macro_rules! checks {
    ($($name:literal => $f:ident: $asserts:literal,)*) => {
        /// Every check, in the order they run.
        pub const ALL: &[Check] = &[$(Check { name: $name, asserts: $asserts, run: $f },)*];
    };
}

checks! {
    "load-rtld-now" => load_rtld_now: "The library loads with dlopen(RTLD_NOW | RTLD_LOCAL): every symbol it needs resolves at load time.",
    "exports-only-entry" => exports_only_entry: "The ELF dynamic symbol table exports exactly one symbol of the plugin's own, `switchboard_plugin_entry`, as a data object.",
    "entry-abi-version" => entry_abi_version: "The entry's first field, abi_version, is the ABI version this host speaks.",
    "entry-struct-size" => entry_struct_size: "The entry's second field, struct_size, is at least the size of the v1 entry struct (larger is a warning).",
    "entry-functions-set" => entry_functions_set: "describe, create, handle, destroy and free_buffer are non-null, and media is set exactly when the descriptor wants media.",
    "describe-refuses-other-abi" => describe_refuses_other_abi: "describe with host ABI versions 0, 2 and u32::MAX returns ABI_MISMATCH with a message instead of aborting.",
    "create-refuses-other-abi" => create_refuses_other_abi: "create with host ABI versions 0, 2 and u32::MAX returns ABI_MISMATCH with a message and creates nothing.",
    "descriptor-decodes" => descriptor_decodes: "describe returns OK and a JSON descriptor whose abi_version matches the entry.",
    "descriptor-id" => descriptor_id: "The id is [a-z0-9-]+ without a leading or trailing dash, and the name is not empty.",
    "descriptor-version" => descriptor_version: "The version is a semver version.",
    "descriptor-kind" => descriptor_kind: "The kind is one this host knows (layout, feature, tool, fixture); an empty description is a warning.",
    "descriptor-capabilities" => descriptor_capabilities: "Capabilities are known, not repeated, and `layout` is declared exactly by layout-kind plugins.",
    "descriptor-subscriptions" => descriptor_subscriptions: "Subscriptions are known event kinds, not repeated (none at all is a warning for non-layouts).",
    "descriptor-stable" => descriptor_stable: "describe returns the same bytes on every call.",
    "scan-time" => scan_time: "Loading and describe each take under 100 ms (a warning otherwise).",
    "create-destroy-repeated" => create_destroy_repeated: "100 create/destroy cycles all return OK.",
    "instances-independent" => instances_independent: "8 live instances get distinct handles, and destroying some leaves the others working.",
    "misuse-handle-after-destroy" => misuse_handle_after_destroy: "handle on a destroyed instance returns an error status, not OK and not a crash.",
    "misuse-destroy-twice" => misuse_destroy_twice: "A second destroy of the same instance returns an error status.",
    "misuse-unknown-handle" => misuse_unknown_handle: "handle and destroy with handles never issued (0, u64::MAX, random) return error statuses and leave live instances unharmed.",
    "misuse-null-pointers" => misuse_null_pointers: "Null out pointers and null input pointers with a length are refused with an error status, not dereferenced.",
    "threads-after-destroy" => threads_after_destroy: "After destroy, the process has no more threads than before create (500 ms grace).",
    "every-event-kind" => every_event_kind: "A sample event of every kind, alone and all in one message, is handled with status OK and a decodable reply.",
    "unknown-message-type" => unknown_message_type: "Unknown message types, event kinds, UI inputs and fields are tolerated with status OK.",
    "future-wire-version" => future_wire_version: "Messages with a newer wire version and extra fields do not crash or panic (an error status is allowed).",
    "empty-message" => empty_message: "Empty messages (null, zero-length, {}, whitespace) do not crash or panic, and the instance keeps working.",
    "garbage-1mb" => garbage_1mb: "1 MB of random bytes, nested brackets, zeros, invalid UTF-8 and a 1 MB string do not crash or panic.",
    "fuzz-events" => fuzz_events: "300 messages of seeded random, well-typed events are handled with status OK (reproduce with --seed).",
    "fuzz-bytes" => fuzz_bytes: "1000 seeded mutations of valid messages never panic or crash (reproduce with --seed).",
    "panic-contained" => panic_contained: "Hostile but valid events (huge strings, 5000 users, u32::MAX) never unwind into the host; a panic returns PANIC and fails the instance.",
    "handler-latency" => handler_latency: "The p99 time of handle over 1000 single-event messages (best of 3 rounds) is under 1 ms (a warning otherwise).",
    "commands-valid" => commands_valid: "Every command it emits is a known, well-formed command; capability commands for capabilities it does not declare are a warning.",
    "capability-commands" => capability_commands: "It implements the commands of every capability it declares, and does not claim to carry out the others.",
    "media-tap" => media_tap: "A plugin that wants media accepts 200 audio and video frames with status OK.",
    "settings-unknown-key" => settings_unknown_key: "create with an unknown setting key is refused with ERROR and a message (accepting it is a warning).",
    "settings-wrong-types" => settings_wrong_types: "create with non-object, malformed or wrongly typed settings is refused with an error status (accepting is a warning).",
    "global-locale" => global_locale: "Loading, using and destroying the plugin leaves the C locale unchanged.",
    "global-env" => global_env: "Loading, using and destroying the plugin leaves the environment unchanged.",
    "global-cwd" => global_cwd: "Loading, using and destroying the plugin leaves the current directory unchanged.",
    "global-signal-handlers" => global_signal_handlers: "Loading, using and destroying the plugin leaves every signal disposition unchanged.",
    "global-panic-hook" => global_panic_hook: "The host's panic hook is still the one that runs after the plugin's whole life.",
    "global-tracing" => global_tracing: "The host's global tracing dispatcher is unchanged after the plugin's whole life.",
    "quiet-stdio" => quiet_stdio: "The plugin writes nothing to stdout (the host's event lines); writing to stderr is a warning.",
    "no-async-runtime" => no_async_runtime: "No async-runtime thread (tokio-runtime-worker, async-std, smol, actix...) appears while it is created and handles events.",
    "bounded-resources" => bounded_resources: "Over 10,000 events RSS grows under 16 MiB (4 MiB warns), no file descriptor is leaked, and destroy gives back every fd.",
    "layout-views" => layout_views: "A layout plugin returns, for 0..=32 participants and random settings and window sizes, views whose every rectangle is finite and inside the window.",
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        for ok in ["event-log", "a", "layout-2x2", "c-hello"] {
            assert!(valid_id(ok), "{ok}");
        }
        for bad in ["", "Event-log", "event_log", "-x", "x-", "ünï", "a b"] {
            assert!(!valid_id(bad), "{bad}");
        }
    }

    #[test]
    fn names_are_unique_kebab_case_and_there_are_at_least_25() {
        let names: BTreeSet<&str> = ALL.iter().map(|c| c.name).collect();
        assert_eq!(names.len(), ALL.len());
        assert!(ALL.len() >= 25);
        for c in ALL {
            assert!(valid_id(c.name), "{}", c.name);
            assert!(c.asserts.ends_with('.'), "{}: one sentence", c.name);
        }
    }

    #[test]
    fn views_outside_the_window_are_caught() {
        use switchboard_core::view::{Tile, TileContent, View};
        let mut rng = Rng::new(1, "t");
        let request = samples::random_view_request(&mut rng, 1);
        let tile = |rect| Tile {
            uid: "p0".to_owned(),
            rect,
            z: 0,
            content: TileContent::Video { aspect_ratio: switchboard_core::settings::AspectRatio::Default },
            name_label: None,
            muted: false,
            video_off: false,
            active_speaker: false,
            main: true,
            controls: Vec::new(),
            clickable: false,
            draggable: false,
        };
        let view = |rect| View {
            width: request.width,
            height: request.height,
            tiles: vec![tile(rect)],
            ..View::default()
        };
        assert!(check_view(&request, &view(Rect::new(0.0, 0.0, request.width, request.height))).is_ok());
        assert!(check_view(&request, &view(Rect::new(0.0, 0.0, request.width + 5.0, 1.0))).is_err());
        assert!(check_view(&request, &view(Rect::new(f32::NAN, 0.0, 1.0, 1.0))).is_err());
    }

    #[test]
    fn mutations_are_reproducible() {
        let base = events_msg(vec![Event::CallEnded]);
        let a = mutate(&mut Rng::new(5, "m"), base.clone());
        let b = mutate(&mut Rng::new(5, "m"), base);
        assert_eq!(a, b);
    }
}
