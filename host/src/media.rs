//! The media engine: capture, codecs, mixing and playback.
