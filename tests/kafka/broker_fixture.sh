#!/usr/bin/env bash
# ctest fixture around deploy/local/kafka.sh: starts a broker for the Kafka
# tests and stops it afterwards, but only if this fixture started it (a
# developer's broker already listening on the port is used and left alone).
#
# The broker runs the Kafka release GREENLIGHT_BROKER_VERSION (kafka.sh's
# default when unset; deploy/local/test.sh runs the Kafka tests once per
# tested version) on GREENLIGHT_BROKER_PORT (and the controller and SASL
# ports kafka.sh reads). A broker already listening there is refused when
# it is a kafka.sh broker of another version, so that a pass never tests
# another version than it says.
#
# A broker the fixture starts gets a data dir of its own per version, wiped
# first: every test creates its own topics under a fresh prefix, and a data
# dir that keeps them all from run to run would grow without bound
# (thousands of partition directories end in "Too many open files" on the
# broker).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
kafka="$here/../../deploy/local/kafka.sh"
port=${GREENLIGHT_BROKER_PORT:-19092}
version=$("$kafka" version)
# ctest runs this in the build tree, so each build dir has its own marker
# and its own data dir.
marker="$PWD/greenlight-test-broker-$version.started"
export GREENLIGHT_BROKER_DIR="$PWD/test-broker-$version"
# kafka.sh creates the topics with this build's CLI, not another build dir's
# (ctest runs this in <build>/tests/kafka and names the build dir).
export GREENLIGHT_CLI="${GL_BUILD_DIR:-$PWD}/services/cli/greenlight"

# The Kafka version of the broker listening on the port, if kafka.sh started
# it (its classpath names the version's jar cache) and ss can tell its pid.
listener_version() {
  local pid
  pid=$(ss -Hltnp "sport = :$port" 2>/dev/null | grep -o 'pid=[0-9]*' | head -n 1 | cut -d= -f2) || true
  [ -n "$pid" ] || return 0
  { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -o 'kafka-[0-9][0-9.]*/libs' | head -n 1 |
    sed -e 's/^kafka-//' -e 's,/libs$,,' || true
}

case "${1:-}" in
  start)
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      rm -f "$marker"
      have=$(listener_version)
      if [ -n "$have" ] && [ "$have" != "$version" ]; then
        echo "broker_fixture.sh: the broker on 127.0.0.1:$port runs Kafka $have, these tests want $version:" \
          "stop it, or give the tests other ports (GREENLIGHT_BROKER_PORT, GREENLIGHT_BROKER_CONTROLLER_PORT," \
          "GREENLIGHT_BROKER_SASL_PORT, GREENLIGHT_BOOTSTRAP)" >&2
        exit 1
      fi
      echo "a broker (Kafka ${have:-of a version not known here}) is already listening on 127.0.0.1:$port;" \
        "the tests use it and leave it running"
    else
      "$kafka" clean >/dev/null
      touch "$marker"
      "$kafka" start
    fi ;;
  stop)
    if [ -f "$marker" ]; then
      rm -f "$marker"
      "$kafka" stop
      "$kafka" clean >/dev/null
    else
      echo "broker was not started by the tests; leaving it running"
    fi ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
