//! The host's one integration test binary; each module tests one area.

mod snapshot;
