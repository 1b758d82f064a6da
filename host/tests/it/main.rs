//! The host's integration tests, one module per area (one test binary per crate).

mod video;
