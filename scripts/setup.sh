#!/usr/bin/env bash
# Installs the system packages Switchboard needs, only when missing, on Debian.
# Idempotent: a machine that has everything does nothing (and needs no network).
set -euo pipefail

packages=(
  build-essential pkg-config clang libclang-dev
  libopus-dev libvpx-dev libasound2-dev
  pipewire pipewire-pulse pipewire-alsa wireplumber dbus pulseaudio-utils alsa-utils
  ffmpeg sox chromium python3
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo is missing; install a Rust toolchain (1.85 or newer) with rustup" >&2
  exit 1
fi
