//! Reads config files from disk.
