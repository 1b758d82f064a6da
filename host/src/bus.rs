//! The call-event bus: an actix system with one actor per plugin.
