#!/usr/bin/env bash
# Installs what greenlight needs (Debian packages) when it is missing, then
# configures and builds the project. Sourced by seed.sh and test.sh; can be
# run alone: deploy/local/setup.sh [BUILD_DIR] [SANITIZE=ON|OFF]
set -euo pipefail

GL_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# iproute2 gives ss, with which the Kafka test fixture tells the version of a broker that
# already listens on its port. libsystemd-dev gives sd_notify: the daemons tell systemd
# READY, STATUS and WATCHDOG (Type=notify units). prometheus gives promtool, with which the
# tests check every daemon's /metrics and the alert rules (deploy/prometheus).
GL_PACKAGES=(build-essential cmake ninja-build pkg-config python3 python3-yaml python3-pip
  librdkafka-dev libprotobuf-c-dev protobuf-c-compiler libuv1-dev libjansson-dev libcmocka-dev
  libjemalloc-dev libsystemd-dev
  protobuf-compiler kcat curl openjdk-17-jre-headless maven
  iproute2 man-db groff-base prometheus)

gl_install_missing() {
  local missing=()
  for p in "${GL_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "setup: installing ${missing[*]}" >&2
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Python modules the tests use, for the python3 on PATH (CMake's too):
# PyYAML reads the Kubernetes manifests (tests/deploy).
gl_install_python_modules() {
  python3 -c 'import yaml' 2>/dev/null && return 0
  echo "setup: installing PyYAML for $(command -v python3)" >&2
  python3 -m pip install --quiet pyyaml
}

# gl_build DIR SANITIZE: configures (once) and builds into DIR.
gl_build() {
  local dir=$1 sanitize=${2:-OFF}
  cmake -S "$GL_SRC" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DGREENLIGHT_SANITIZE="$sanitize" >/dev/null
  cmake --build "$dir"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  gl_install_missing
  gl_build "${1:-$GL_SRC/build}" "${2:-OFF}"
fi
