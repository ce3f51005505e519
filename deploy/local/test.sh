#!/usr/bin/env bash
# Runs every test: installs what is missing, builds with AddressSanitizer and
# UndefinedBehaviorSanitizer, starts the local Kafka broker (a ctest
# fixture, stopped afterwards even when a test fails), runs the unit and
# Kafka tests. Extra arguments go to ctest (e.g. -R kafka.crash).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/setup.sh"
build=${GREENLIGHT_TEST_BUILD:-$GL_SRC/build-asan}
gl_install_missing
gl_install_python_modules
gl_build "$build" ON
# LeakSanitizer reports are errors; librdkafka's own threads are torn down at destroy.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
cd "$build"
ctest --output-on-failure --timeout 900 -j2 "$@"
