//! Hot swap: [`Bus::replace_plugin`] puts a new instance (another layout, a rebuilt library)
//! into a running plugin's actor, without stopping the bus or losing an event.
//!
//! The swap is ordered against publication: under the publish lock, the events still queued
//! for the old instance are taken out of the actor's mailbox and sent along with the new
//! instance, so the old instance gets everything published before the swap and the new one
//! everything after. Routing (subscriptions, capabilities, media tap) is fixed when the bus
//! starts, so the replacement must route the same way; anything else is refused with an
//! error naming the difference rather than silently dropping events.

use std::collections::BTreeSet;
use std::sync::PoisonError;
use std::sync::atomic::Ordering;

use switchboard_core::wire::PluginDescriptor;

use super::actor::PluginRequest;
use super::{Bus, STATE_RUNNING};
use crate::instance;
use crate::loader::PluginSpec;
use crate::plugin::PluginError;

/// Why a plugin could not be replaced. The running plugin is left as it was.
#[derive(Debug, thiserror::Error)]
pub enum SwapError {
    /// No loaded plugin has this id.
    #[error("no plugin `{id}` is loaded, so there is nothing to replace")]
    NotLoaded {
        /// The id asked for.
        id: String,
    },
    /// The replacement has the id of another loaded plugin.
    #[error("replacing `{id}`: plugin `{new}` is already loaded")]
    Duplicate {
        /// The plugin being replaced.
        id: String,
        /// The replacement's id.
        new: String,
    },
    /// The replacement does not route like the plugin it replaces.
    #[error("replacing `{id}` with `{new}`: {what} differ, and routing is fixed while the bus runs")]
    Incompatible {
        /// The plugin being replaced.
        id: String,
        /// The replacement's id.
        new: String,
        /// What differs.
        what: &'static str,
    },
    /// The new instance could not be created.
    #[error("replacing `{id}`: {source}")]
    Create {
        /// The plugin being replaced.
        id: String,
        /// Why.
        source: PluginError,
    },
    /// The actor did not take the new instance (the bus is shutting down).
    #[error("replacing `{id}`: the plugin's actor is gone")]
    ActorGone {
        /// The plugin being replaced.
        id: String,
    },
}

fn incompatibility(old: &PluginDescriptor, new: &PluginDescriptor) -> Option<&'static str> {
    fn set<T: Ord + Copy>(items: &[T]) -> BTreeSet<T> {
        items.iter().copied().collect()
    }
    if set(&old.subscriptions) != set(&new.subscriptions) {
        Some("their event subscriptions")
    } else if set(&old.capabilities) != set(&new.capabilities) {
        Some("their capabilities")
    } else if old.wants_media != new.wants_media {
        Some("their media tap wishes")
    } else {
        None
    }
}

impl Bus {
    /// Replaces the running plugin `id` with a new instance of `spec` (another plugin, or
    /// the same one from a new library file), while the bus runs: events published before
    /// this call reach the old instance, events published after reach the new one, and the
    /// old instance is destroyed. A failed plugin can be replaced too (it runs again).
    pub async fn replace_plugin(&self, id: &str, spec: PluginSpec) -> Result<(), SwapError> {
        let shared = &self.shared;
        let Some(index) = shared.plugins.iter().position(|slot| slot.id() == id) else {
            return Err(SwapError::NotLoaded { id: id.to_owned() });
        };
        let slot = &shared.plugins[index];
        let old = slot.descriptor();
        let new = spec.library.descriptor().clone();
        if new.id != old.id && shared.plugins.iter().any(|other| other.id() == new.id) {
            return Err(SwapError::Duplicate { id: id.to_owned(), new: new.id });
        }
        if let Some(what) = incompatibility(&old, &new) {
            return Err(SwapError::Incompatible { id: id.to_owned(), new: new.id, what });
        }
        // Creating may start a process and wait for it: off the async threads.
        let create_spec = spec.clone();
        let instance = tokio::task::spawn_blocking(move || {
            instance::create(create_spec.library.clone(), &create_spec.settings, &create_spec.isolation)
        })
        .await
        .map_err(|_| SwapError::ActorGone { id: id.to_owned() })?
        .map_err(|source| SwapError::Create { id: id.to_owned(), source })?;

        let reply = {
            let _order = shared.publish_lock.lock().unwrap_or_else(PoisonError::into_inner);
            let mut pending = Vec::new();
            slot.events.drain_into(&mut pending);
            slot.events.reopen();
            *slot.descriptor.write().unwrap_or_else(PoisonError::into_inner) = new;
            slot.state.store(STATE_RUNNING, Ordering::SeqCst);
            // `send` queues the request now, under the lock, so it is ordered before any
            // doorbell for events published after the swap.
            slot.addr.send(PluginRequest::Replace { instance, spec: Box::new(spec), pending })
        };
        reply.await.map_err(|_| SwapError::ActorGone { id: id.to_owned() })?.map_err(|_| {
            // The actor answers a swap with Ok; an error means it could not take it.
            SwapError::ActorGone { id: id.to_owned() }
        })?;
        Ok(())
    }
}
