//! Making a plugin instance where its policy says: [`create`] returns the in-process
//! [`crate::plugin::PluginInstance`] or the out-of-process
//! [`crate::isolation::ProcessInstance`] behind one [`PluginHandle`].
//!
//! This module sits above both kinds of instance and is the only one that names both; the
//! bus uses it and the trait, and nothing below it uses it.

use std::sync::Arc;

use switchboard_config::Isolation;

use crate::handle::PluginError;
pub use crate::handle::PluginHandle;
use crate::isolation::ProcessInstance;
use crate::library::PluginLibrary;
use crate::plugin::PluginInstance;
use crate::policy::IsolationPolicy;

/// Creates an instance of `library` with `settings` (a JSON object: the plugin's
/// `[plugin.settings]`), in the host or in a child process as `policy.mode` says.
pub fn create(
    library: Arc<PluginLibrary>,
    settings: &serde_json::Value,
    policy: &IsolationPolicy,
) -> Result<Box<dyn PluginHandle>, PluginError> {
    Ok(match policy.mode {
        Isolation::InProcess => Box::new(PluginInstance::create(library, settings)?),
        Isolation::Process => Box::new(ProcessInstance::spawn(library, settings, policy)?),
    })
}
