#!/usr/bin/env bash
# ctest fixture around deploy/local/kafka.sh: starts the broker for the
# Kafka tests and stops it afterwards, but only if this fixture started it
# (a developer's running broker is left alone).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
kafka="$here/../../deploy/local/kafka.sh"
# ctest runs this in the build tree, so each build dir has its own marker.
marker="$PWD/greenlight-test-broker.started"
case "${1:-}" in
  start)
    if "$kafka" status >/dev/null 2>&1; then
      echo "broker already running; the tests will leave it running"
      rm -f "$marker"
    else
      touch "$marker"
      "$kafka" start
    fi ;;
  stop)
    if [ -f "$marker" ]; then
      rm -f "$marker"
      "$kafka" stop
    else
      echo "broker was not started by the tests; leaving it running"
    fi ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
