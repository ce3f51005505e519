#!/usr/bin/env bash
# Installs what greenlight needs (Debian packages) when it is missing, then
# configures and builds the project. Sourced by seed.sh and test.sh; can be
# run alone: deploy/local/setup.sh [BUILD_DIR] [SANITIZE=ON|OFF]
set -euo pipefail

GL_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# dpkg-dev (dpkg-source), libssl-dev, zlib1g-dev and libzstd-dev build the newer librdkafka of
# gl_librdkafka_848. iproute2 gives ss, with which the Kafka test fixture tells the version of a broker that
# already listens on its port. libsystemd-dev gives sd_notify: the daemons tell systemd
# READY, STATUS and WATCHDOG (Type=notify units). prometheus gives promtool, with which the
# tests check every daemon's /metrics and the alert rules (deploy/prometheus).
GL_PACKAGES=(build-essential cmake ninja-build pkg-config python3 python3-yaml python3-pip
  librdkafka-dev libprotobuf-c-dev protobuf-c-compiler libuv1-dev libjansson-dev libcmocka-dev
  libjemalloc-dev libsystemd-dev
  protobuf-compiler kcat curl openjdk-17-jre-headless maven
  iproute2 man-db groff-base prometheus
  dpkg-dev libssl-dev zlib1g-dev libzstd-dev)

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

# librdkafka with KIP-848's consumer group protocol (group.protocol=consumer, generally
# available from 2.12), which bookworm's 2.0.2 lacks: Debian's own source package (sid's),
# unpacked without Debian's patches (one needs opentelemetry headers bookworm lacks), built
# once (~80 s on 2 cores) and installed into the cache beside the Kafka jars. The .dsc is
# pinned by its hash; dpkg-source checks the tarballs against it.
GL_RDKAFKA_848_VERSION=2.14.2
GL_RDKAFKA_848_DSC=librdkafka_2.14.2-1.dsc
GL_RDKAFKA_848_DSC_SHA256=fafd510fdb29c4cf7732e115a416d93a5a3af4a1b3bd2b0c7731042d653d85ee
GL_RDKAFKA_848_POOL=${GREENLIGHT_RDKAFKA_POOL:-http://deb.debian.org/debian/pool/main/libr/librdkafka}

# gl_librdkafka_848: builds and installs it into the cache unless it is there; prints the
# install prefix (its lib/pkgconfig is what gl_build_848 configures with).
gl_librdkafka_848() {
  local cache prefix
  cache=$(realpath -m "${GREENLIGHT_CACHE:-${HOME:-/tmp}/.cache/greenlight}")
  prefix=$cache/librdkafka-$GL_RDKAFKA_848_VERSION
  mkdir -p "$cache"
  # One build at a time; a second caller waits and finds it done.
  (
    flock -w 900 9 || { echo "setup: another build of librdkafka holds $cache" >&2; exit 1; }
    [ -f "$prefix/.complete" ] && exit 0
    local work=$prefix.build f
    rm -rf "$work" "$prefix"
    mkdir -p "$work"
    echo "setup: building librdkafka $GL_RDKAFKA_848_VERSION from Debian's source package into $prefix" >&2
    if ! (
      set -e
      cd "$work"
      curl -fsS --retry 3 -O "$GL_RDKAFKA_848_POOL/$GL_RDKAFKA_848_DSC"
      echo "$GL_RDKAFKA_848_DSC_SHA256  $GL_RDKAFKA_848_DSC" | sha256sum -c --quiet
      for f in $(awk '/^Files:/{on=1; next} on && /^ /{print $3} on && !/^ /{on=0}' "$GL_RDKAFKA_848_DSC"); do
        curl -fsS --retry 3 -O "$GL_RDKAFKA_848_POOL/$f"
      done
      dpkg-source -x --skip-patches "$GL_RDKAFKA_848_DSC" src
      cd src
      # TLS and SASL/PLAIN and SCRAM (built in), zstd; no libcurl (OIDC) nor Cyrus SASL (GSSAPI).
      ./configure --prefix="$prefix" --enable-ssl --enable-zstd --disable-lz4-ext \
        --disable-curl --disable-gssapi
      make -C src -j"$(nproc)"
      make -C src install
    ) >"$work.log" 2>&1; then
      echo "setup: building librdkafka $GL_RDKAFKA_848_VERSION failed (log: $work.log):" >&2
      tail -n 5 "$work.log" >&2
      exit 1
    fi
    mv "$work.log" "$prefix/build.log"
    rm -rf "$work"
    touch "$prefix/.complete"
  ) 9>"$cache/.librdkafka.lock" || return 1
  echo "$prefix"
}

# gl_build_848 DIR SANITIZE: gl_build against gl_librdkafka_848's librdkafka (the build's
# RPATH names it, so its programs run with it); the stack's default stays Debian's.
gl_build_848() {
  local dir=$1 sanitize=${2:-OFF} prefix
  prefix=$(gl_librdkafka_848) || return 1
  PKG_CONFIG_PATH="$prefix/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}" gl_build "$dir" "$sanitize"
  "$dir/services/orderd/greenlight-orderd" --version | grep -q "librdkafka $GL_RDKAFKA_848_VERSION" || {
    echo "setup: $dir does not run with librdkafka $GL_RDKAFKA_848_VERSION:" \
      "$("$dir/services/orderd/greenlight-orderd" --version | head -n 1)" >&2
    return 1
  }
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  gl_install_missing
  gl_build "${1:-$GL_SRC/build}" "${2:-OFF}"
fi
