#!/usr/bin/env bash
# Stops what scripts/pipewire-up.sh started (only the processes whose pids it recorded)
# and removes its block from ~/.asoundrc.
set -euo pipefail

XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/run/user/$(id -u)}"
STATE="${SWITCHBOARD_AUDIO_STATE:-$XDG_RUNTIME_DIR/switchboard-audio}"
ASOUNDRC="${ASOUNDRC:-$HOME/.asoundrc}"

for name in pipewire-pulse wireplumber pipewire dbus; do
    pidfile="$STATE/$name.pid"
    [ -f "$pidfile" ] || continue
    pid="$(cat "$pidfile")"
    comm="$name"
    [ "$name" = dbus ] && comm=dbus-daemon
    if [ -n "$pid" ] && grep -q "$comm" "/proc/$pid/comm" 2>/dev/null; then
        echo "pipewire-down: stopping $name ($pid)" >&2
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 40); do
            [ -d "/proc/$pid" ] || break
            sleep 0.05
        done
    fi
    rm -f "$pidfile"
done
rm -f "$XDG_RUNTIME_DIR/bus"

if [ -f "$ASOUNDRC" ]; then
    tmp="$(mktemp)"
    sed '/^# >>> switchboard/,/^# <<< switchboard/d' "$ASOUNDRC" >"$tmp"
    if [ -s "$tmp" ]; then mv "$tmp" "$ASOUNDRC"; else rm -f "$tmp" "$ASOUNDRC"; fi
fi
