#!/usr/bin/env bash
# The main job: builds greenlight, starts a local Kafka broker, runs the
# order and batch daemons, plays the seed scenario (tests/data/seed.jsonl: H200 orders
# from ByteDance, Alibaba, Tencent, Baidu, a sensitive agency and a grid
# operator; batch 1 approvals; a domestic-ratio cut; partial clearances;
# an expiry by event time) and prints every order's history and final
# state, and the batch view (first batch approved, later firms waiting).
#
# Each run uses its own topic prefix, so it can be run again and again. The
# broker is left running for exploration (stop it: deploy/local/kafka.sh stop).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/setup.sh"
build=${GREENLIGHT_BUILD:-$GL_SRC/build}
gl_install_missing
gl_build "$build" OFF >/dev/null
cli="$build/services/cli/greenlight"
# kafka.sh creates the topics with the CLI just built.
export GREENLIGHT_CLI=$cli
"$here/kafka.sh" start >/dev/null
bootstrap=$("$here/kafka.sh" bootstrap)
prefix="seed-$(date +%s)."
GREENLIGHT_TOPIC_PREFIX=$prefix "$here/kafka.sh" topics >/dev/null
log="$build/seed-orderd.log"
blog="$build/seed-batchd.log"

"$build/services/orderd/greenlight-orderd" -b "$bootstrap" --topic.prefix "$prefix" \
  --policy.file "$GL_SRC/deploy/config/h200.policy" --http.port 0 >"$log" 2>&1 &
orderd=$!
"$build/services/batchd/greenlight-batchd" -b "$bootstrap" --topic.prefix "$prefix" --http.port 0 \
  >"$blog" 2>&1 &
batchd=$!
trap 'kill -TERM $orderd $batchd 2>/dev/null; wait $orderd $batchd 2>/dev/null || true' EXIT

echo "greenlight: topics under prefix '$prefix' on $bootstrap; logs: $log, $blog"
# One upstream transaction, as the README recommends: the running daemons
# see the whole seed at once and merge it in event-time order.
summary=$("$cli" produce --transactional -b "$bootstrap" --prefix "$prefix" \
  --file "$GL_SRC/tests/data/seed.jsonl" 2>&1 | tail -n 1)
echo "greenlight: $summary from tests/data/seed.jsonl"
inputs=$(echo "$summary" | awk '{print $2}')

# Wait (at most 60 s) until the daemon has processed every input record and
# committed: the status topic, read with read_committed, stops changing.
deadline=$((SECONDS + 60)) last=-1
while :; do
  port=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$log" | grep -o '[0-9]*$' || true)
  processed=$(curl -sf "http://127.0.0.1:$port/metrics" 2>/dev/null |
    awk '/^greenlight_records_processed_total /{print int($2)}' || true)
  n=$("$cli" tail greenlight.order-status -b "$bootstrap" --prefix "$prefix" --from-beginning --exit-at-end | wc -l)
  bport=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$blog" | grep -o '[0-9]*$' || true)
  bmetrics=$(curl -sf "http://127.0.0.1:$bport/metrics" 2>/dev/null || true)
  bprocessed=$(echo "$bmetrics" | awk '/^greenlight_records_processed_total /{print int($2)}')
  bopen=$(echo "$bmetrics" | awk '/^greenlight_uncommitted_records /{print int($2)}')
  repart=$("$cli" tail greenlight-batchd.repartition -b "$bootstrap" --prefix "$prefix" --from-beginning --exit-at-end | wc -l)
  if [ "${processed:-0}" -ge "$inputs" ] && [ "$n" -eq "$last" ] && [ "$repart" -gt 0 ] &&
     [ "${bprocessed:-0}" -ge "$repart" ] && [ "${bopen:-1}" -eq 0 ]; then break; fi
  if [ $SECONDS -ge $deadline ]; then echo "greenlight: the daemon did not finish in 60 s; see $log" >&2; exit 1; fi
  last=$n
  sleep 0.5 # poll interval of the deadline-bounded wait above
done

echo
echo "Every status record, as a downstream consumer sees it (read_committed):"
"$cli" tail greenlight.order-status -b "$bootstrap" --prefix "$prefix" --from-beginning --exit-at-end |
  python3 "$here/status_table.py"

echo
echo "The batch view (greenlight.batch-status, latest per batch; ~waiting = accepted, no batch yet):"
"$cli" tail greenlight.batch-status -b "$bootstrap" --prefix "$prefix" --from-beginning --exit-at-end |
  python3 "$here/status_table.py" --batches
