#!/usr/bin/env bash
# The test command (README and .ci/run call this same script): installs what is missing,
# brings up PipeWire with null sinks for the audio tests, builds every crate (the
# integration tests load the plugin cdylibs from target/debug), and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
# Audio devices without a sound card: PipeWire with named null sinks. The script prints the
# environment the tests need (XDG_RUNTIME_DIR, DBUS_SESSION_BUS_ADDRESS, ...).
eval "$(scripts/pipewire-up.sh spk_a spk_b spk_c)"

cargo build --workspace --all-targets
cargo test --workspace --no-fail-fast -- --test-threads=2
