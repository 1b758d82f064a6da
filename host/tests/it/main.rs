//! Integration tests of the host.
mod web;
