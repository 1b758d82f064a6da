//! The one integration test binary.

mod configs;
