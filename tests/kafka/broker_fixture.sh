#!/usr/bin/env bash
# ctest fixture around deploy/local/kafka.sh: starts a broker for the Kafka
# tests and stops it afterwards, but only if this fixture started it (a
# developer's broker already listening on the port is used and left alone).
#
# A broker the fixture starts gets a data dir of its own, wiped first: every
# test creates its own topics under a fresh prefix, and a data dir that
# keeps them all from run to run would grow without bound (thousands of
# partition directories end in "Too many open files" on the broker).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
kafka="$here/../../deploy/local/kafka.sh"
port=${GREENLIGHT_BROKER_PORT:-19092}
# ctest runs this in the build tree, so each build dir has its own marker
# and its own data dir.
marker="$PWD/greenlight-test-broker.started"
export GREENLIGHT_BROKER_DIR="$PWD/test-broker"
# kafka.sh creates the topics with this build's CLI, not another build dir's
# (ctest runs this in <build>/tests/kafka and names the build dir).
export GREENLIGHT_CLI="${GL_BUILD_DIR:-$PWD}/services/cli/greenlight"
case "${1:-}" in
  start)
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "a broker is already listening on 127.0.0.1:$port; the tests use it and leave it running"
      rm -f "$marker"
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
