//! switchboard-runtime: the plugin runtime.
//!
//! Public modules:
//! - [`loader`]: finds plugin libraries in the configured folders, dlopens them and checks
//!   the ABI handshake ([`loader::PluginLibrary`], [`loader::load`]), and turns a config
//!   into [`loader::PluginSpec`]s.
//! - [`plugin`]: [`plugin::PluginInstance`], one in-process instance behind a safe API, and
//!   [`plugin::PluginError`].
//! - [`isolation`]: [`isolation::ProcessInstance`], an instance in a child process
//!   (`isolation = "process"`), the frames on its pipe, the child's server, and the
//!   [`isolation::IsolationPolicy`].
//! - [`instance`]: [`instance::PluginHandle`], the one trait both kinds of instance
//!   implement, and [`instance::create`], which makes either kind as the policy says.
//! - [`bus`]: the call-event bus, one actor per plugin (holding a `Box<dyn PluginHandle>`),
//!   routing plugin commands to the host or to the plugin providing a capability.
//! - [`listeners`]: the app-facing listener API.
//! - [`exec`]: the executor everything that uses the bus runs on.
//!
//! Module dependencies run one way: each module uses only the modules listed after it
//! (private modules are marked; a module's own submodules are not listed).
//!
//! ```text
//! bus        -> instance, loader, listeners, plugin, policy, mailbox
//! instance   -> isolation, plugin, handle, library, policy
//! isolation  -> plugin, handle, library, policy
//! plugin     -> handle, library
//! loader     -> library, policy
//! listeners  -> mailbox
//! handle     -> library            (private: the trait and the error)
//! library, policy, mailbox         (private: use no other module)
//! exec                             (uses no other module)
//! ```
//!
//! `library` is the ABI boundary: dlopen, the checked entry points and the rule that a
//! buffer goes back to the plugin that allocated it. `policy` is plain data. `handle`
//! defines [`instance::PluginHandle`] and [`plugin::PluginError`]. Only `instance` names
//! both kinds of instance.
//!
//! The actor system is an implementation detail: nothing in this crate's public API names
//! an actix type, so its users need not depend on actix.

pub mod bus;
pub mod exec;
mod handle;
pub mod instance;
pub mod isolation;
mod library;
pub mod listeners;
pub mod loader;
mod mailbox;
pub mod plugin;
mod policy;
