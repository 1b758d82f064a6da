#!/usr/bin/env bash
# Starts a PipeWire sound server with named null sinks, for machines without a sound card.
#
# Usage:  eval "$(scripts/pipewire-up.sh [SINK ...])"      (default sinks: spk_a spk_b spk_c)
#
# Idempotent: packages, daemons and sinks that already exist are left alone, so running it
# twice (or from several test runs) is harmless. Everything it prints on stdout is a shell
# `export` line to eval; progress goes to stderr.
#
# What it sets up, per sink NAME:
#   - a PipeWire null sink `NAME` (through pipewire-pulse's module-null-sink), whose
#     monitor `NAME.monitor` carries whatever is played into it;
#   - ALSA PCMs in ~/.asoundrc so cpal (ALSA backend) lists them:
#       `NAME`          playback into the sink,
#       `NAME_monitor`  capture from the sink's monitor (a source node of that name,
#                       remapped from NAME.monitor, so `parec -d NAME_monitor` works too).
#     Our lines sit between `# >>> switchboard` and `# <<< switchboard` markers; anything
#     else in the file is kept.
#
# Daemons run in the background with their logs in $SWITCHBOARD_AUDIO_STATE (default
# $XDG_RUNTIME_DIR/switchboard-audio). scripts/pipewire-down.sh stops them. A sound server
# that already answers in $XDG_RUNTIME_DIR (a desktop session) is used instead of starting
# one. $ASOUNDRC overrides the file written (only useful to test this script: ALSA itself
# reads ~/.asoundrc).
set -euo pipefail

SINKS=("$@")
if [ ${#SINKS[@]} -eq 0 ]; then
    SINKS=(spk_a spk_b spk_c)
fi
for s in "${SINKS[@]}"; do
    if ! [[ "$s" =~ ^[A-Za-z0-9_]+$ ]]; then
        echo "pipewire-up: sink name '$s' must be letters, digits and underscores" >&2
        exit 2
    fi
done

log() { echo "pipewire-up: $*" >&2; }

# 1. Packages. apt-get update runs at most once, and only when something is missing.
PACKAGES=(pipewire pipewire-pulse pipewire-alsa wireplumber dbus pulseaudio-utils alsa-utils)
missing=()
for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    log "installing ${missing[*]}"
    $SUDO apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# 2. The runtime directory: the sockets of dbus, pipewire and pipewire-pulse live in it.
# A fixed default (/run/user/UID) means a second shell finds the same daemons without
# having sourced anything.
if [ -z "${XDG_RUNTIME_DIR:-}" ]; then
    XDG_RUNTIME_DIR="/run/user/$(id -u)"
fi
if ! mkdir -p "$XDG_RUNTIME_DIR" 2>/dev/null; then
    XDG_RUNTIME_DIR="$(mktemp -d /tmp/switchboard-xdg.XXXXXX)"
fi
chmod 700 "$XDG_RUNTIME_DIR"
export XDG_RUNTIME_DIR
STATE="${SWITCHBOARD_AUDIO_STATE:-$XDG_RUNTIME_DIR/switchboard-audio}"
mkdir -p "$STATE"

# Is the process whose pid is in file $1 alive and named $2?
alive() {
    [ -f "$1" ] || return 1
    local pid
    pid="$(cat "$1")"
    [ -n "$pid" ] && [ -d "/proc/$pid" ] && grep -q "$2" "/proc/$pid/comm" 2>/dev/null
}

start_daemons() {
    # A session bus at a fixed address in the runtime dir (wireplumber needs one).
    BUS="$XDG_RUNTIME_DIR/bus"
    export DBUS_SESSION_BUS_ADDRESS="unix:path=$BUS"
    if ! alive "$STATE/dbus.pid" dbus-daemon; then
        rm -f "$BUS"
        log "starting dbus-daemon"
        dbus-daemon --session --fork --address="$DBUS_SESSION_BUS_ADDRESS" \
            --print-pid >"$STATE/dbus.pid"
    fi

    # start NAME: run daemon NAME in the background (its own session, so it outlives this
    # script and a Ctrl-C in the calling shell), unless our earlier copy still runs.
    start() {
        local name="$1"
        if alive "$STATE/$name.pid" "$name"; then
            return
        fi
        log "starting $name"
        setsid "$name" >"$STATE/$name.log" 2>&1 </dev/null &
        echo $! >"$STATE/$name.pid"
    }

    start pipewire
    # wireplumber and pipewire-pulse connect to pipewire's socket; wait for it first.
    for _ in $(seq 100); do
        [ -S "$XDG_RUNTIME_DIR/pipewire-0" ] && break
        sleep 0.05
    done
    start wireplumber
    start pipewire-pulse

    for i in $(seq 200); do
        if pactl info >/dev/null 2>&1; then break; fi
        if [ "$i" -eq 200 ]; then
            log "pactl info still fails after 10 s; logs are in $STATE"
            exit 1
        fi
        sleep 0.05
    done
}

# 3. The daemons. A sound server that already answers (a desktop session, or our own from
# an earlier run) is used as it is.
if pactl info >/dev/null 2>&1 && ! alive "$STATE/pipewire.pid" pipewire; then
    log "a sound server already answers in $XDG_RUNTIME_DIR; using it"
else
    start_daemons
fi

# 4. Null sinks, each created once.
existing="$(pactl list short sinks | cut -f2)"
for s in "${SINKS[@]}"; do
    if ! grep -qx "$s" <<<"$existing"; then
        log "creating null sink $s"
        pactl load-module module-null-sink sink_name="$s" \
            sink_properties=device.description="$s" >/dev/null
    fi
done
# Each sink's monitor also gets a real source node `NAME_monitor` (a remap of
# NAME.monitor): PipeWire's ALSA plugin can target a source node by name, but a capture
# stream aimed at the sink itself is linked to the *default* monitor by wireplumber 0.4,
# so without this every NAME_monitor device would hear the same sink.
sources="$(pactl list short sources | cut -f2)"
for s in "${SINKS[@]}"; do
    if ! grep -qx "${s}_monitor" <<<"$sources"; then
        pactl load-module module-remap-source master="$s.monitor" source_name="${s}_monitor" \
            source_properties=device.description="${s}_monitor" >/dev/null
    fi
done
# Wait until PipeWire has published every node, so that ALSA clients that open one right
# after this script returns find it.
for s in "${SINKS[@]}"; do
    for _ in $(seq 100); do
        if pactl list short sources | cut -f2 | grep -qx "${s}_monitor"; then break; fi
        sleep 0.05
    done
done

# 5. ~/.asoundrc: drop our previous block, keep everything else, append a fresh block
# naming every sink that exists now (earlier runs may have created other ones).
ASOUNDRC="${ASOUNDRC:-$HOME/.asoundrc}"
# Only sinks that have our monitor source (i.e. that this script made) get entries.
all_sinks="$(pactl list short sources | cut -f2 | sed -n 's/^\([A-Za-z0-9_]*\)_monitor$/\1/p')"
tmp="$(mktemp)"
if [ -f "$ASOUNDRC" ]; then
    sed '/^# >>> switchboard/,/^# <<< switchboard/d' "$ASOUNDRC" >"$tmp"
fi
{
    echo "# >>> switchboard (written by scripts/pipewire-up.sh; edits here are replaced)"
    for s in $all_sinks; do
        echo "pcm.$s { type pipewire; playback_node \"$s\"; hint { show on; description \"switchboard null sink $s\" } }"
        echo "pcm.${s}_monitor { type pipewire; capture_node \"${s}_monitor\"; hint { show on; description \"monitor of $s\" } }"
    done
    echo "# <<< switchboard"
} >>"$tmp"
mv "$tmp" "$ASOUNDRC"

log "ready: sinks $(echo $all_sinks | tr '\n' ' ')(ALSA devices in $ASOUNDRC)"
echo "export XDG_RUNTIME_DIR=$XDG_RUNTIME_DIR"
if [ -n "${DBUS_SESSION_BUS_ADDRESS:-}" ]; then
    echo "export DBUS_SESSION_BUS_ADDRESS=$DBUS_SESSION_BUS_ADDRESS"
fi
echo "export PULSE_SERVER=unix:$XDG_RUNTIME_DIR/pulse/native"
