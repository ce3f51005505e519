#!/usr/bin/env bash
# Runs every test: installs what is missing, builds with AddressSanitizer and
# UndefinedBehaviorSanitizer, fetches the Kafka releases under test, then runs
# the unit tests once and the Kafka tests once per Kafka version. In each pass
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
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/setup.sh"
build=${GREENLIGHT_TEST_BUILD:-$GL_SRC/build-asan}
read -ra versions <<<"${GREENLIGHT_TEST_BROKER_VERSIONS:-3.9.2 4.4.0}"
((${#versions[@]})) || { echo "test.sh: GREENLIGHT_TEST_BROKER_VERSIONS names no Kafka version" >&2; exit 2; }
gl_install_missing
gl_install_python_modules
gl_build "$build" ON
# Every version's jars now, so that one that cannot be fetched fails before any test runs.
for v in "${versions[@]}"; do
  GREENLIGHT_BROKER_VERSION=$v "$here/kafka.sh" fetch
done
# LeakSanitizer reports are errors; librdkafka's own threads are torn down at destroy.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
cd "$build"

# The CLI's default bootstrap (for any call without -b) is the tests' broker too.
export GREENLIGHT_BOOTSTRAP=${GREENLIGHT_BOOTSTRAP:-127.0.0.1:${GREENLIGHT_BROKER_PORT:-19092}}
rc=0 passed=0 failed=0 lines=()
for i in "${!versions[@]}"; do
  export GREENLIGHT_BROKER_VERSION=${versions[$i]}
  select=()
  if ((i > 0)); then
    select=(-L kafka)
    export GREENLIGHT_BROKER_PORT=19392 GREENLIGHT_BROKER_CONTROLLER_PORT=19393 \
      GREENLIGHT_BROKER_SASL_PORT=19394 GREENLIGHT_BOOTSTRAP=127.0.0.1:19392
    if ctest -N "${select[@]}" "$@" | grep -q '^Total Tests: 0$'; then
      lines+=("Kafka $GREENLIGHT_BROKER_VERSION: no Kafka test selected, skipped")
      continue
    fi
  fi
  echo "test.sh: Kafka $GREENLIGHT_BROKER_VERSION: ctest ${select[*]} $*"
  log="$build/ctest-kafka-$GREENLIGHT_BROKER_VERSION.log"
  ctest --output-on-failure --timeout 900 -j2 "${select[@]}" "$@" 2>&1 | tee "$log" || rc=1
  summary=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1 || true)
  if [[ "$summary" =~ ([0-9]+)\ tests?\ failed\ out\ of\ ([0-9]+) ]]; then
    failed=$((failed + BASH_REMATCH[1]))
    passed=$((passed + BASH_REMATCH[2] - BASH_REMATCH[1]))
  else
    summary="ctest gave no summary (log: $log)"
    rc=1
  fi
  lines+=("Kafka $GREENLIGHT_BROKER_VERSION (${select[*]:-every test}): $summary")
done
echo
printf 'test.sh: %s\n' "${lines[@]}"
echo "tests: $passed passed, $failed failed"
exit "$rc"
