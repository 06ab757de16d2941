#!/usr/bin/env bash
# Prepares a Debian 12 machine (a classroom mini-PC or a developer's/CI box) for lectern:
# system packages, then the project's npm dependencies and build. Idempotent: a second run
# installs nothing and only rebuilds. Installing packages needs root (it uses sudo when run as
# another user and sudo is there).
#
#   provisioning/bootstrap.sh            # packages + npm ci + build
#   provisioning/bootstrap.sh --packages # system packages only
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Every system package the project uses, and why.
packages=(
  # GStreamer 1.22 runtime, plugins and the tools used by tests and technicians
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav
  gstreamer1.0-x gstreamer1.0-alsa gstreamer1.0-plugins-base-apps gstreamer1.0-vaapi
  # headers for building the GStreamer binding (gstreamer-superficial)
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev pkg-config
  # the MQTT broker used by tests and by the simulated kit, and its clients
  mosquitto mosquitto-clients
  # pty pairs for serial tests; SRT tools and an RTMP server (nginx) for the media tests
  socat srt-tools nginx-light libnginx-mod-rtmp
  # native addons (better-sqlite3, serialport, usb) and libusb for hot-plug
  build-essential python3 libudev-dev libusb-1.0-0
  # clock and certificate checks used by `lectern doctor`
  openssl ca-certificates
  # cec-ctl: drives an interactive display over HDMI-CEC (power, input) where no RS-232 is wired
  v4l-utils
  # a real terminal for the test of `lectern provision`'s interactive prompts
  tmux
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

as_root=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null; then
    as_root=(sudo DEBIAN_FRONTEND=noninteractive)
  elif ((${#missing[@]})); then
    echo "bootstrap: these system packages are missing and installing them needs root: ${missing[*]}" >&2
    exit 1
  fi
fi

if ((${#missing[@]})); then
  echo "bootstrap: installing ${#missing[@]} system packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${as_root[@]}" apt-get update -qq
  "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Tests start their own Mosquitto and nginx on free loopback ports. Where systemd runs (a
  # kit), Debian enables both as services: a kit needs neither listening, so turn them off.
  if [[ -d /run/systemd/system ]]; then
    "${as_root[@]}" systemctl disable --now nginx mosquitto >/dev/null 2>&1 || true
  fi
else
  echo "bootstrap: system packages present"
fi

[[ ${1:-} == --packages ]] && exit 0

# Node.js 20 or later (Debian 12's own nodejs is 18, too old for lectern's dependencies).
if ! command -v node >/dev/null || (( $(node -p 'process.versions.node.split(".")[0]') < 20 )); then
  echo "bootstrap: lectern needs Node.js 20 or later; found $(node --version 2>/dev/null || echo none)" >&2
  exit 1
fi

cd "$here"
if [[ ! -d node_modules ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "bootstrap: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
echo "bootstrap: build"
npm run --silent build
echo "bootstrap: done"
