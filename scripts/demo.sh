#!/usr/bin/env bash
# The main job: a real two-party call on this machine with the default plugins.
#
#   scripts/demo.sh
#
# Installs what is missing (scripts/setup.sh), brings up PipeWire with two null sinks as
# speakers (machines without a sound card), builds the host and the plugins, starts the
# signaling server on 127.0.0.1, and has Alice (a 440 Hz tone, front test pattern) and Bob
# (660 Hz, back pattern) call each other through real WebRTC. Each one's speaker is a null
# sink whose monitor is recorded, so what each heard can be checked: Alice must hear 660 Hz,
# Bob 440 Hz. Alice mutes from 3 s to 5 s; Bob ends the call at 8 s. Everything lands in
# target/demo/: event lines, stats, what each heard, and a PNG of the default layout.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
eval "$(scripts/pipewire-up.sh spk_a spk_b)"
cargo build --workspace --quiet

out=target/demo
rm -rf "$out"
mkdir -p "$out"
bin=target/debug/switchboard
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# The server picks a free port and prints "listening on ws://ADDR/v1/ws".
key="demo-$(date +%s)-$RANDOM"
"$bin" serve --listen 127.0.0.1:0 --api-key "$key" >"$out/server.log" 2>&1 &
pids+=($!)
server=""
for _ in $(seq 100); do
  server=$(sed -n 's|.*listening on \(ws://[^/]*\)/.*|\1|p' "$out/server.log")
  [ -n "$server" ] && break
  sleep 0.1
done
[ -n "$server" ] || { cat "$out/server.log" >&2; echo "demo: the server did not start" >&2; exit 1; }
echo "demo: signaling server on $server"

# Record what each speaker plays (the null sinks' monitors).
for spk in spk_a spk_b; do
  parec -d "${spk}_monitor" --file-format=wav "$out/heard-$spk.wav" &
  pids+=($!)
done

join() { # USER NAME
  "$bin" join --server "$server" --api-key "$key" --user "$1" --name "$2" --session demo \
    --config "config/demo/$1.toml" --script "config/demo/script-$1.toml" --duration 15 \
    --events "$out/$1-events.jsonl" --stats "$out/$1-stats.json" 2>"$out/$1.log"
}
join alice Alice & alice=$!
sleep 0.3
join bob Bob & bob=$!
status=0
wait "$bob" || status=$?
wait "$alice" || status=$?
sleep 0.3
cleanup
pids=()

"$bin" snapshot --config config/demo/alice.toml --participants 2 --size 1280x720 \
  --out "$out/layout-default.png" >/dev/null

echo
for who in alice bob; do
  echo "== $who: events"
  sed 's/^/   /' "$out/$who-events.jsonl"
done
echo
echo "== what each heard (the speaker's monitor, in half-second windows)"
python3 - "$out" <<'PY'
import math, struct, sys, wave

def windows(path):
    with wave.open(path) as w:
        rate, channels = w.getframerate(), w.getnchannels()
        raw = w.readframes(w.getnframes())
    left = struct.unpack("<%dh" % (len(raw) // 2), raw)[::channels]
    size = rate // 2
    for start in range(0, len(left) - size + 1, size):
        yield rate, left[start:start + size]

def level(rate, x, hz):  # Goertzel: the amplitude of one frequency
    k, s1, s2 = 2 * math.cos(2 * math.pi * hz / rate), 0.0, 0.0
    for v in x:
        s1, s2 = v + k * s1 - s2, s1
    return math.sqrt(max(s1 * s1 + s2 * s2 - k * s1 * s2, 0.0)) / len(x)

for who, spk, theirs, own in (("alice", "spk_a", 660, 440), ("bob", "spk_b", 440, 660)):
    heard = silent = wrong = 0
    for rate, x in windows(f"{sys.argv[1]}/heard-{spk}.wav"):
        a, b = level(rate, x, theirs), level(rate, x, own)
        if a < 100 and b < 100:
            silent += 1
        elif a > 10 * b:
            heard += 1
        else:
            wrong += 1
    print(f"   {who:<5} ({spk}): the other's {theirs} Hz tone in {heard / 2:.1f} s, "
          f"silence {silent / 2:.1f} s, anything else {wrong / 2:.1f} s")

import json
print("== what each received (the --stats files)")
for who, other in (("alice", "bob"), ("bob", "alice")):
    with open(f"{sys.argv[1]}/{who}-stats.json") as f:
        remote = json.load(f)["remote"].get(other, {})
    print(f"   {who:<5}: {remote.get('audio_frames_decoded', 0)} audio frames and "
          f"{remote.get('video_frames_decoded', 0)} video frames of {other}'s decoded")
PY
echo
echo "demo: files in $out/ (events, stats, heard-*.wav, layout-default.png)"
if [ "$status" -ne 0 ]; then
  echo "demo: a participant exited with status $status; see $out/*.log" >&2
  exit "$status"
fi
