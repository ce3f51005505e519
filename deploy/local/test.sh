#!/usr/bin/env bash
# Runs every test: installs what is missing, builds with AddressSanitizer and
# UndefinedBehaviorSanitizer, fetches the Kafka releases under test, then runs
# the unit tests once, the Kafka tests once per Kafka version, and a few of them
# again on KIP-848's consumer group protocol (GREENLIGHT_TEST_KIP848). In each pass
# a ctest fixture starts a broker of that version (stopped afterwards, even
# when a test fails). Extra arguments go to every pass's ctest (e.g.
# -R kafka.crash runs that test against each version; a pass that selects no
# test is skipped). Ends with one line per pass and a total.
#
# Environment (defaults in brackets):
#   GREENLIGHT_TEST_BUILD            build dir [<source>/build-asan]
#   GREENLIGHT_TEST_BROKER_VERSIONS  Kafka releases to test against, one pass each
#                                    ["3.9.2 4.4.0"]. The first pass runs every test, on
#                                    the broker ports of the environment (kafka.sh's:
#                                    19092, controller 19093, SASL 19094; a developer's
#                                    broker of that version listening there is used). Each
#                                    later pass runs the Kafka tests (ctest -L kafka) on
#                                    19392, 19393, 19394. "3.9.2" alone is the quick run.
#   GREENLIGHT_TEST_LATER_PORT       the later passes' broker port (controller +1, SASL +2),
#                                    e.g. for a run beside another one [19392]
#   GREENLIGHT_TEST_KIP848           1: a last pass runs the tests labelled kip848 (ctest -L
#                                    kip848) again with the daemons on KIP-848's consumer
#                                    group protocol (group.protocol=consumer): Kafka 4.4.0,
#                                    on the later passes' ports, from a build against
#                                    librdkafka 2.14.2 (<build>-848, deploy/local/setup.sh's
#                                    gl_build_848). 0 skips it. [1]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/setup.sh"
build=${GREENLIGHT_TEST_BUILD:-$GL_SRC/build-asan}
read -ra versions <<<"${GREENLIGHT_TEST_BROKER_VERSIONS:-3.9.2 4.4.0}"
((${#versions[@]})) || { echo "test.sh: GREENLIGHT_TEST_BROKER_VERSIONS names no Kafka version" >&2; exit 2; }
kip848=${GREENLIGHT_TEST_KIP848:-1} kip848_version=4.4.0
[[ "$kip848" == [01] ]] || { echo "test.sh: GREENLIGHT_TEST_KIP848 = '$kip848': expected 0 or 1" >&2; exit 2; }
gl_install_missing
gl_install_python_modules
gl_build "$build" ON
fetch=("${versions[@]}")
if [[ "$kip848" == 1 ]]; then
  gl_build_848 "$build-848" ON
  fetch+=("$kip848_version")
fi
# Every version's jars now, so that one that cannot be fetched fails before any test runs.
for v in "${fetch[@]}"; do
  GREENLIGHT_BROKER_VERSION=$v "$here/kafka.sh" fetch
done
# LeakSanitizer reports are errors; librdkafka's own threads are torn down at destroy.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
cd "$build"

# The CLI's default bootstrap (for any call without -b) is the tests' broker too.
export GREENLIGHT_BOOTSTRAP=${GREENLIGHT_BOOTSTRAP:-127.0.0.1:${GREENLIGHT_BROKER_PORT:-19092}}
rc=0 passed=0 failed=0 lines=()
# run_pass NAME CTEST_ARGS...: one pass of ctest in the current dir, its log beside the build.
run_pass() {
  local name=$1 log summary
  shift
  echo "test.sh: $name: ctest $*"
  log="$PWD/ctest-kafka-$GREENLIGHT_BROKER_VERSION${GREENLIGHT_TEST_GROUP_PROTOCOL:+-$GREENLIGHT_TEST_GROUP_PROTOCOL}.log"
  ctest --output-on-failure --timeout 900 -j2 "$@" 2>&1 | tee "$log" || rc=1
  summary=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1 || true)
  if [[ "$summary" =~ ([0-9]+)\ tests?\ failed\ out\ of\ ([0-9]+) ]]; then
    failed=$((failed + BASH_REMATCH[1]))
    passed=$((passed + BASH_REMATCH[2] - BASH_REMATCH[1]))
  else
    summary="ctest gave no summary (log: $log)"
    rc=1
  fi
  lines+=("$name: $summary")
}

# later_pass NAME CTEST_ARGS...: a pass on the later passes' ports, skipped when it selects
# no test.
later_pass() {
  local name=$1
  shift
  local port=${GREENLIGHT_TEST_LATER_PORT:-19392}
  export GREENLIGHT_BROKER_PORT=$port GREENLIGHT_BROKER_CONTROLLER_PORT=$((port + 1)) \
    GREENLIGHT_BROKER_SASL_PORT=$((port + 2)) GREENLIGHT_BOOTSTRAP=127.0.0.1:$port
  if ctest -N "$@" | grep -q '^Total Tests: 0$'; then
    lines+=("$name: no Kafka test selected, skipped")
    return 0
  fi
  run_pass "$name" "$@"
}

for i in "${!versions[@]}"; do
  export GREENLIGHT_BROKER_VERSION=${versions[$i]}
  if ((i > 0)); then
    later_pass "Kafka $GREENLIGHT_BROKER_VERSION (-L kafka)" -L kafka "$@"
  else
    run_pass "Kafka $GREENLIGHT_BROKER_VERSION (every test)" "$@"
  fi
done
if [[ "$kip848" == 1 ]]; then
  cd "$build-848"
  export GREENLIGHT_BROKER_VERSION=$kip848_version GREENLIGHT_TEST_GROUP_PROTOCOL=consumer
  later_pass "Kafka $kip848_version, group.protocol=consumer, librdkafka $GL_RDKAFKA_848_VERSION (-L kip848)" \
    -L kip848 "$@"
fi
echo
printf 'test.sh: %s\n' "${lines[@]}"
echo "tests: $passed passed, $failed failed"
exit "$rc"
