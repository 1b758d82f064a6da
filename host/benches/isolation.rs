//! Event round trip, in process vs out of process (placeholder replaced below).
fn main() {}
