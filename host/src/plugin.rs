//! A safe wrapper around one loaded plugin's C entry points.
