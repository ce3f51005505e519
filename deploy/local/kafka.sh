#!/usr/bin/env bash
# Fetches, caches, starts and stops a real Apache Kafka broker on the loopback interface, for
# local runs and CI: one KRaft node (combined broker and controller), or with
# GREENLIGHT_BROKERS=3 a cluster of three such nodes (a three-voter controller quorum).
#
# Usage: kafka.sh fetch|start|stop|restart|status|clean|bootstrap|version
#        kafka.sh topics [NAME[:compact][:PARTITIONS] ...]
#
# The jars come from Maven Central (see pom.xml beside this file) and are cached outside the
# repository, one directory per Kafka version. Every error is one line on stderr that starts
# with "kafka.sh:".
#
# Kafka versions: 3.9.2 (the default) and 4.4.0 are the tested ones (deploy/local/test.sh runs
# the real-broker tests against both); any 3.x.y or 4.x.y release may be named. 3.x logs
# through reload4j (a log4j 1 configuration), 4.x through Log4j 2 (a log4j2 configuration);
# kafka.sh writes whichever the version needs. A data dir remembers the version that
# formatted it (kafka.version), and a start with another version is refused: a broker's
# metadata log may not be read by an older release, and an upgrade in place is not what a
# test or a local run wants by accident.
#
# A three-node cluster replicates everything three times and acknowledges a write once two
# replicas have it: the topics created here, the ones the daemons create (the broker's
# default.replication.factor), __consumer_offsets and __transaction_state, all with
# min.insync.replicas 2, so that it rides through the loss of any one node. Node k (1, 2, 3)
# has node 1's ports (GREENLIGHT_BROKER_*PORT) plus 3(k-1), e.g. 19092-19094, 19095-19097 and
# 19098-19100, and the data dir GREENLIGHT_BROKER_DIR/node<k>; "start" starts the nodes that
# are not running (one killed in a test comes back), "stop" stops all three, "bootstrap"
# prints all three addresses. A data dir remembers its layout: a single node's dir refuses a
# cluster start and the other way round.
#
# "start" and "topics" create the deployment's topics with the project's CLI, `greenlight
# topics create` (services/cli/cli_topics.c holds the one list of them): "topics" creates
# them under the prefix, plus any extra NAME[:compact][:PARTITIONS] given. A topic that
# exists with another partition count or cleanup policy makes them fail. The CLI is
# $GREENLIGHT_CLI, else the newest one built in this source tree (build, build-asan or
# build-rel), else `greenlight` on PATH.
#
# Environment (defaults in brackets):
#   GREENLIGHT_BROKER_VERSION         Apache Kafka release to fetch and run [3.9.2]
#   GREENLIGHT_BROKERS                1 (one node) or 3 (a three-node cluster, see above) [1]
#   GREENLIGHT_CACHE                  jar cache root [$HOME/.cache/greenlight]
#   GREENLIGHT_BROKER_DIR              data dir with config, logs, pid [${TMPDIR:-/tmp}/greenlight-kafka]
#   GREENLIGHT_BROKER_PORT             broker port on 127.0.0.1 (node 1's) [19092]
#   GREENLIGHT_BROKER_CONTROLLER_PORT  controller port on 127.0.0.1 (node 1's) [19093]
#   GREENLIGHT_BROKER_SASL_PORT        SASL_PLAINTEXT (PLAIN) port on 127.0.0.1, for testing the
#                                     clients' authentication settings (node 1's) [19094]
#   GREENLIGHT_BROKER_SASL_PASSWORD    password of the SASL user "greenlight" [greenlight-local]
#   GREENLIGHT_BROKER_TIMEOUT          seconds to wait for the broker to become ready [60]
#   GREENLIGHT_BROKER_HEAP_OPTS        heap options of each node [-Xms256m -Xmx1g]
#   GREENLIGHT_PARTITIONS             partitions of every topic created here without ":N" [4]
#   GREENLIGHT_TOPIC_PREFIX           prefix prepended to every topic name, extra ones too []
#   GREENLIGHT_CLI                    the greenlight CLI that creates the topics [see above]
set -euo pipefail

die() {
  echo "kafka.sh: $*" >&2
  exit 1
}

# Not GREENLIGHT_KAFKA_VERSION: the daemons read every GREENLIGHT_KAFKA_* variable as a
# librdkafka property.
readonly DEFAULT_KAFKA_VERSION=3.9.2
readonly KAFKA_VERSION=${GREENLIGHT_BROKER_VERSION:-$DEFAULT_KAFKA_VERSION}
[[ "$KAFKA_VERSION" =~ ^([34])\.[0-9]+\.[0-9]+$ ]] \
  || die "GREENLIGHT_BROKER_VERSION=$KAFKA_VERSION: want an Apache Kafka release 3.x.y or 4.x.y (tested: 3.9.2, 4.4.0)"
# 3 or 4: picks the pom.xml profile and the logging configuration (log4j 1 or Log4j 2).
readonly KAFKA_MAJOR=${BASH_REMATCH[1]}
# The plugin is named in full so that Maven needs no plugin-prefix lookup to run it.
readonly DEPENDENCY_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:3.6.1
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
CACHE_DIR=$(realpath -m "${GREENLIGHT_CACHE:-${HOME:-/tmp}/.cache/greenlight}/kafka-$KAFKA_VERSION")
readonly LIBS="$CACHE_DIR/libs"
DATA_DIR=$(realpath -m "${GREENLIGHT_BROKER_DIR:-${TMPDIR:-/tmp}/greenlight-kafka}")
readonly BROKERS="${GREENLIGHT_BROKERS:-1}"
[[ "$BROKERS" == 1 || "$BROKERS" == 3 ]] \
  || die "GREENLIGHT_BROKERS=$BROKERS: want 1 (one node) or 3 (a three-node cluster)"
readonly SASL_PASSWORD="${GREENLIGHT_BROKER_SASL_PASSWORD:-greenlight-local}"
for var in GREENLIGHT_BROKER_PORT GREENLIGHT_BROKER_CONTROLLER_PORT GREENLIGHT_BROKER_SASL_PORT; do
  [[ "${!var:-1}" =~ ^[0-9]{1,5}$ ]] || die "$var=${!var}: want a TCP port number"
done
readonly PORT1="${GREENLIGHT_BROKER_PORT:-19092}"
readonly CONTROLLER_PORT1="${GREENLIGHT_BROKER_CONTROLLER_PORT:-19093}"
readonly SASL_PORT1="${GREENLIGHT_BROKER_SASL_PORT:-19094}"
# Node k's ports (k = 1..BROKERS, the arrays' index k): node 1's plus 3(k-1), all distinct.
PORTS=() CONTROLLER_PORTS=() SASL_PORTS=() BOOTSTRAP=
for ((k = 1; k <= BROKERS; k++)); do
  PORTS[k]=$((PORT1 + 3 * (k - 1)))
  CONTROLLER_PORTS[k]=$((CONTROLLER_PORT1 + 3 * (k - 1)))
  SASL_PORTS[k]=$((SASL_PORT1 + 3 * (k - 1)))
  BOOTSTRAP+="${BOOTSTRAP:+,}127.0.0.1:${PORTS[k]}"
done
readonly PORTS CONTROLLER_PORTS SASL_PORTS BOOTSTRAP
(($(printf '%s\n' "${PORTS[@]}" "${CONTROLLER_PORTS[@]}" "${SASL_PORTS[@]}" | sort -u | wc -l) == 3 * BROKERS)) \
  || die "the nodes' ports overlap: broker ${PORTS[*]}, controller ${CONTROLLER_PORTS[*]}," \
    "SASL ${SASL_PORTS[*]} (node k has GREENLIGHT_BROKER_PORT, _CONTROLLER_PORT and _SASL_PORT plus 3(k-1))"
# Replicas of every topic, and how many must have a write before it is acknowledged.
if ((BROKERS == 1)); then readonly REPLICATION=1 MIN_ISR=1; else readonly REPLICATION=3 MIN_ISR=2; fi
readonly TIMEOUT="${GREENLIGHT_BROKER_TIMEOUT:-60}"
readonly PARTITIONS="${GREENLIGHT_PARTITIONS:-4}"
readonly PREFIX="${GREENLIGHT_TOPIC_PREFIX:-}"
# The Kafka version that formatted the data dir, written after a successful format.
readonly VERSION_FILE="$DATA_DIR/kafka.version"

# Takes the machine-wide lock of this script, so that two concurrent invocations do not
# fetch into or start from the same directories at once. The broker must not inherit fd 9.
lock() {
  mkdir -p "$CACHE_DIR"
  exec 9>"$CACHE_DIR/.lock"
  flock -w 600 9 || die "another kafka.sh still holds $CACHE_DIR/.lock"
}

# Installs Debian packages quietly, logging to the cache dir.
apt_install() {
  mkdir -p "$CACHE_DIR"
  echo "kafka.sh: installing $* with apt-get" >&2
  { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y "$@"; } \
    >"$CACHE_DIR/apt.log" 2>&1
}

ensure_java() {
  command -v java >/dev/null || apt_install openjdk-17-jre-headless \
    || die "java not found and apt-get could not install openjdk-17-jre-headless (log: $CACHE_DIR/apt.log)"
}

# The logging configuration file of this Kafka version, PREFIX followed by log4j.properties
# (reload4j, for 3.x) or log4j2.properties (Log4j 2, for 4.x).
log_config() {
  if ((KAFKA_MAJOR == 3)); then echo "${1}log4j.properties"; else echo "${1}log4j2.properties"; fi
}

# The JVM option that points this Kafka version's logging at FILE.
log_option() {
  if ((KAFKA_MAJOR == 3)); then echo "-Dlog4j.configuration=file:$1"; else echo "-Dlog4j2.configurationFile=$1"; fi
}

# Writes FILE (see log_config): log LEVEL and above to TARGET (out or err), with the pattern
# Kafka's own configurations use; each further argument LOGGER=LEVEL sets one logger's level.
write_log_config() {
  local file=$1 level=$2 target=$3 spec n=0
  shift 3
  if ((KAFKA_MAJOR == 3)); then
    {
      printf '%s\n' "log4j.rootLogger=$level, console" 'log4j.appender.console=org.apache.log4j.ConsoleAppender' \
        "log4j.appender.console.Target=System.$target" 'log4j.appender.console.layout=org.apache.log4j.PatternLayout' \
        'log4j.appender.console.layout.ConversionPattern=[%d] %p %m (%c)%n'
      for spec in "$@"; do echo "log4j.logger.${spec%%=*}=${spec#*=}"; done
    } >"$file"
  else
    {
      # "status": Log4j's own messages about its configuration, errors only.
      printf '%s\n' 'status = error' 'appender.console.type = Console' 'appender.console.name = console' \
        "appender.console.target = SYSTEM_${target^^}" 'appender.console.layout.type = PatternLayout' \
        'appender.console.layout.pattern = [%d] %p %m (%c)%n' "rootLogger.level = $level" \
        'rootLogger.appenderRef.console.ref = console'
      for spec in "$@"; do
        n=$((n + 1))
        printf '%s\n' "logger.l$n.name = ${spec%%=*}" "logger.l$n.level = ${spec#*=}"
      done
    } >"$file"
  fi
}

# Runs a Kafka command-line class in a small, quick-starting JVM that logs only errors, to
# stderr.
tool() {
  java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
    "$(log_option "$(log_config "$CACHE_DIR/tools-")")" \
    -cp "$LIBS/*" "$@"
}

# Downloads the jars of this Kafka version unless its libs dir holds a marker for the current
# pom.xml.
cmd_fetch() {
  mkdir -p "$CACHE_DIR"
  local stamp
  stamp=$({ cat "$HERE/pom.xml"; echo "$KAFKA_VERSION"; } | sha256sum | cut -c1-16)
  if [[ "$(cat "$LIBS/.complete" 2>/dev/null)" != "$stamp" ]]; then
    command -v mvn >/dev/null || apt_install maven \
      || die "mvn not found and apt-get could not install maven (log: $CACHE_DIR/apt.log)"
    echo "kafka.sh: fetching Kafka $KAFKA_VERSION jars from Maven Central into $LIBS" >&2
    rm -rf "$LIBS.tmp"
    if ! mvn -q -B -f "$HERE/pom.xml" -Dmaven.repo.local="$CACHE_DIR/m2" \
        -Dkafka.version="$KAFKA_VERSION" -P "kafka$KAFKA_MAJOR" \
        "$DEPENDENCY_PLUGIN:copy-dependencies" -DincludeScope=runtime -DoutputDirectory="$LIBS.tmp" \
        >"$CACHE_DIR/fetch.log" 2>&1; then
      # Name the first artifact that Maven reports it could not get, if it names one.
      local artifact
      artifact=$(grep -oE '(Could not (transfer|find) artifact|Failure to find) [^ ]+' \
        "$CACHE_DIR/fetch.log" | head -n 1 | awk '{print $NF}' || true)
      die "cannot fetch ${artifact:-org.apache.kafka:kafka_2.13:$KAFKA_VERSION} from Maven Central (log: $CACHE_DIR/fetch.log)"
    fi
    if [[ -d "$LIBS" ]] && diff -q <(ls "$LIBS.tmp") <(ls "$LIBS") >/dev/null; then
      # The same jars (a pom.xml change that does not touch this version): keep the dir that
      # running brokers read their classes from, and mark it current.
      rm -rf "$LIBS.tmp"
      echo "$stamp" >"$LIBS/.complete"
    else
      echo "$stamp" >"$LIBS.tmp/.complete"
      rm -rf "$LIBS"
      mv "$LIBS.tmp" "$LIBS"
    fi
  fi
  write_log_config "$(log_config "$CACHE_DIR/tools-")" ERROR err
}

# The directory of node k: the data dir itself for one node, DATA_DIR/node<k> in a cluster.
node_dir() {
  if ((BROKERS == 1)); then echo "$DATA_DIR"; else echo "$DATA_DIR/node$1"; fi
}

# " k" in a cluster, nothing for one node: "the broker$(node_name k)" in messages.
node_name() {
  ((BROKERS == 1)) || echo " $1"
}

# Succeeds when node k's pid file names a live broker that runs on its dir. Reading the
# command line also rules out zombies and pids that were reused by other programs.
is_running() {
  local dir pid
  dir=$(node_dir "$1")
  pid=$(cat "$dir/kafka.pid" 2>/dev/null) && [[ "$pid" =~ ^[0-9]+$ ]] \
    && { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -qF "kafka.Kafka $dir/server.properties"
}

# Succeeds when something accepts TCP connections on 127.0.0.1 at the given port.
port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Writes node k's configuration; it is rewritten on every start, so that a changed port
# takes effect on an existing data dir. The same keys serve 3.x and 4.x: 4.4.0 runs this static
# quorum (controller.quorum.voters, every node a voter) and warns about no key; a dynamic
# quorum (controller.quorum.bootstrap.servers, format --standalone) would give one node nothing.
write_config() {
  local k=$1 dir i voters=
  dir=$(node_dir "$k")
  for ((i = 1; i <= BROKERS; i++)); do voters+="${voters:+,}$i@127.0.0.1:${CONTROLLER_PORTS[i]}"; done
  local plain="127.0.0.1:${PORTS[k]}" sasl="127.0.0.1:${SASL_PORTS[k]}"
  cat >"$dir/server.properties" <<EOF
# Written by deploy/local/kafka.sh on every start: edits here are lost.
process.roles=broker,controller
node.id=$k
controller.quorum.voters=$voters
listeners=PLAINTEXT://$plain,CONTROLLER://127.0.0.1:${CONTROLLER_PORTS[k]},SASL_PLAINTEXT://$sasl
advertised.listeners=PLAINTEXT://$plain,SASL_PLAINTEXT://$sasl
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT
# A second listener that requires SASL/PLAIN as user "greenlight", so that the tests prove
# the clients' security settings pass through (no authorizer: any authenticated user may act).
sasl.enabled.mechanisms=PLAIN
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_greenlight="$SASL_PASSWORD";
log.dirs=$dir/kraft-logs
num.partitions=4
# Also the replication of the topics the daemons create (changelogs, owners, repartition).
default.replication.factor=$REPLICATION
min.insync.replicas=$MIN_ISR
auto.create.topics.enable=false
offsets.topic.replication.factor=$REPLICATION
transaction.state.log.replication.factor=$REPLICATION
transaction.state.log.min.isr=$MIN_ISR
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=1000
transaction.abort.timed.out.transaction.cleanup.interval.ms=1000
num.io.threads=4
# Records carry their event time as timestamp, and replays and the seed scenario use event
# times far in the past: time-based retention would delete them as soon as they land.
log.retention.ms=-1
EOF
  # Groups of KIP-848's consumer protocol (group.protocol=consumer, generally available from
  # Kafka 4.0) take their session and heartbeat from the broker, not the client: as short as
  # the tests give classic members (a 6 s session, librdkafka's classic heartbeat of 3 s),
  # where Kafka's defaults are 45 s and 5 s with minimums that high.
  if ((KAFKA_MAJOR >= 4)); then
    printf '%s\n' group.consumer.min.session.timeout.ms=1000 group.consumer.session.timeout.ms=6000 \
      group.consumer.min.heartbeat.interval.ms=1000 group.consumer.heartbeat.interval.ms=3000 \
      >>"$dir/server.properties"
  fi
  # The broker logs warnings only, plus the line that says it has started, to kafka.out.
  write_log_config "$(log_config "$dir/")" WARN out kafka.server.KafkaRaftServer=INFO
}

# The Kafka version that formatted the data dir, if it was formatted. A dir formatted before
# kafka.sh recorded versions was formatted by 3.9.2, the only version it ran then.
data_version() {
  if [[ -s "$VERSION_FILE" ]]; then
    cat "$VERSION_FILE"
  elif [[ -f "$DATA_DIR/kraft-logs/meta.properties" ]]; then
    echo 3.9.2
  fi
}

# Refuses a data dir that another Kafka version formatted (or runs on), saying what to do.
check_data_version() {
  local have
  have=$(data_version)
  [[ -z "$have" || "$have" == "$KAFKA_VERSION" ]] && return 0
  die "$DATA_DIR was formatted by Kafka $have, not $KAFKA_VERSION: run $have there" \
    "(GREENLIGHT_BROKER_VERSION=$have), pick another data dir (GREENLIGHT_BROKER_DIR)," \
    "or delete it and its topics with 'kafka.sh clean'"
}

# Refuses a data dir laid out for the other GREENLIGHT_BROKERS (a node's kraft-logs at its
# top, or a cluster's node dirs), saying what to do; stop and clean too, since they would
# miss the brokers that run there.
check_layout() {
  local have=
  if ((BROKERS == 1)) && [[ -d "$DATA_DIR/node1" ]]; then
    have=3
  elif ((BROKERS > 1)) && [[ -d "$DATA_DIR/kraft-logs" ]]; then
    have=1
  fi
  [[ -z "$have" ]] || die "$DATA_DIR holds $( ((have == 1)) && echo "one node" || echo "a $have-node cluster"):" \
    "set GREENLIGHT_BROKERS=$have, or pick another data dir (GREENLIGHT_BROKER_DIR)"
}

# Formats node k's KRaft log dir once, with the data dir's cluster id (generated once).
format_once() {
  local dir
  dir=$(node_dir "$1")
  [[ -f "$dir/kraft-logs/meta.properties" ]] && return 0
  if [[ ! -s "$DATA_DIR/cluster.id" ]]; then
    tool kafka.tools.StorageTool random-uuid | tail -n 1 >"$DATA_DIR/cluster.id" \
      || die "cannot generate a cluster id with kafka.tools.StorageTool"
  fi
  local out
  out=$(tool kafka.tools.StorageTool format -t "$(cat "$DATA_DIR/cluster.id")" \
    -c "$dir/server.properties" 2>&1) \
    || die "formatting $dir/kraft-logs failed: $(tail -n 1 <<<"$out")"
  echo "$KAFKA_VERSION" >"$VERSION_FILE"
}

# Starts node k in its own session, so that a Ctrl-C aimed at the caller spares it.
launch() {
  local dir heap
  dir=$(node_dir "$1")
  read -ra heap <<<"${GREENLIGHT_BROKER_HEAP_OPTS:--Xms256m -Xmx1g}"
  # Every partition keeps several files open; take all the descriptors we may.
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  (exec setsid java "${heap[@]}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
    "$(log_option "$(log_config "$dir/")")" -Dkafka.logs.dir="$dir" \
    -cp "$LIBS/*" kafka.Kafka "$dir/server.properties" \
    </dev/null >"$dir/kafka.out" 2>&1 9>&-) &
  local pid=$! deadline=$((SECONDS + 10))
  echo "$pid" >"$dir/kafka.pid"
  # Until the subshell has become java (exec), its command line is this script's and
  # is_running would take a broker that is starting for one that exited: wait for the exec.
  while kill -0 "$pid" 2>/dev/null && ! is_running "$1" && ((SECONDS < deadline)); do sleep 0.05; done
}

# Waits until node k's port accepts connections, failing early if the broker exits.
wait_port() {
  local k=$1 dir deadline=$((SECONDS + TIMEOUT))
  dir=$(node_dir "$k")
  until port_open "${PORTS[k]}"; do
    if ! is_running "$k"; then
      tail -n 30 "$dir/kafka.out" >&2 || true
      rm -f "$dir/kafka.pid"
      die "the broker$(node_name "$k") exited during startup (log: $dir/kafka.out)"
    fi
    ((SECONDS < deadline)) \
      || die "the broker$(node_name "$k") did not open 127.0.0.1:${PORTS[k]} within ${TIMEOUT}s (log: $dir/kafka.out)"
    sleep 0.2
  done
}

# Sets CLI to the greenlight CLI that creates the topics: $GREENLIGHT_CLI, else the newest
# one built in this source tree, else the one on PATH. Dies, saying how to build one, if
# there is none.
find_cli() {
  if [[ -n "${GREENLIGHT_CLI:-}" ]]; then
    [[ -x "$GREENLIGHT_CLI" ]] || die "GREENLIGHT_CLI=$GREENLIGHT_CLI is not an executable"
    CLI=$GREENLIGHT_CLI
    return
  fi
  local dir path
  CLI=
  for dir in build build-asan build-rel; do
    path="$SRC/$dir/services/cli/greenlight"
    [[ -x "$path" && (-z "$CLI" || "$path" -nt "$CLI") ]] && CLI=$path
  done
  [[ -n "$CLI" ]] || CLI=$(command -v greenlight) \
    || die "no greenlight CLI to create the topics with: build one (deploy/local/setup.sh builds $SRC/build) or set GREENLIGHT_CLI"
}

# Creates the deployment's topics, plus the extra ones given, under the prefix if they are
# missing, and prints one line per topic. The CLI waits up to $TIMEOUT for a broker that is
# still starting. An existing topic with another partition count or cleanup policy than
# wanted fails, as the CLI's own errors do: they make the one "kafka.sh:" line.
ensure_topics() {
  local out rc=0 errors
  out=$("$CLI" topics create -b "$BOOTSTRAP" --prefix "$PREFIX" --partitions "$PARTITIONS" \
    --replication-factor "$REPLICATION" \
    --timeout-ms "$((TIMEOUT * 1000))" "$@" 2>&1) || rc=$?
  # The listing, without the error lines and the JSON summary line (that one is for programs).
  grep -v -e '^greenlight: ' -e '^{' <<<"$out" || true
  ((rc == 0)) && return
  # The CLI's own errors say more than librdkafka's lines ("greenlight: topics: kafka ...").
  errors=$(sed -n -e '/^greenlight: topics: kafka /d' -e 's/^greenlight: topics: //p' <<<"$out")
  [[ -n "$errors" ]] || errors=$(sed -n 's/^problem: //p' <<<"$out")
  [[ -n "$errors" ]] || errors=$(sed -n 's/^greenlight: //p' <<<"$out")
  [[ -n "$errors" ]] || errors=$(tail -n 1 <<<"$out")
  die "greenlight topics create on $BOOTSTRAP failed (exit $rc): ${errors//$'\n'/; }"
}

cmd_start() {
  check_layout
  check_data_version
  find_cli
  ensure_java
  cmd_fetch
  local k port
  for ((k = 1; k <= BROKERS; k++)); do
    mkdir -p "$(node_dir "$k")"
    if is_running "$k"; then
      echo "kafka.sh: broker$(node_name "$k") already running (pid $(node_pid "$k"))"
      continue
    fi
    for port in "${PORTS[k]}" "${CONTROLLER_PORTS[k]}" "${SASL_PORTS[k]}"; do
      ! port_open "$port" || die "port $port is taken by another process"
    done
    write_config "$k"
    format_once "$k"
    launch "$k"
  done
  for ((k = 1; k <= BROKERS; k++)); do wait_port "$k"; done
  echo "kafka.sh: Kafka $KAFKA_VERSION is ready$( ((BROKERS == 1)) || echo ", $BROKERS nodes")"
  echo "  bootstrap: $BOOTSTRAP"
  for ((k = 1; k <= BROKERS; k++)); do echo "  data dir:  $(node_dir "$k") (pid $(node_pid "$k"))"; done
  echo "  topics:"
  ensure_topics
}

# The pid in node k's pid file.
node_pid() {
  cat "$(node_dir "$1")/kafka.pid" 2>/dev/null
}

# Stops every node: SIGTERM to all at once, up to 30 s for a clean shutdown, then SIGKILL.
# Succeeds when no broker is running, so that it is safe to call from a trap.
cmd_stop() {
  local k pids=() deadline=$((SECONDS + 30))
  for ((k = 1; k <= BROKERS; k++)); do
    if is_running "$k"; then
      pids[k]=$(node_pid "$k")
      kill -TERM "${pids[k]}" 2>/dev/null || true
    fi
  done
  while any_running && ((SECONDS < deadline)); do sleep 0.2; done
  if any_running; then
    for k in "${!pids[@]}"; do
      is_running "$k" || continue
      echo "kafka.sh: the broker$(node_name "$k") did not stop within 30s, killing it" >&2
      kill -KILL "${pids[k]}" 2>/dev/null || true
    done
    sleep 0.5
  fi
  for k in "${!pids[@]}"; do echo "kafka.sh: stopped the broker$(node_name "$k") (pid ${pids[k]})"; done
  for ((k = 1; k <= BROKERS; k++)); do rm -f "$(node_dir "$k")/kafka.pid"; done
}

# Succeeds when a node runs.
any_running() {
  local k
  for ((k = 1; k <= BROKERS; k++)); do is_running "$k" && return 0; done
  return 1
}

cmd_topics() {
  find_cli
  local k
  for ((k = 1; k <= BROKERS; k++)); do port_open "${PORTS[k]}" && break; done
  ((k <= BROKERS)) || die "no broker is listening on $BOOTSTRAP (run kafka.sh start)"
  ensure_topics "$@"
}

# Succeeds when every node runs and listens; one line either way, naming the pids or the
# nodes that do not run.
cmd_status() {
  local k up=() down=()
  for ((k = 1; k <= BROKERS; k++)); do
    if is_running "$k" && port_open "${PORTS[k]}"; then up+=("$(node_pid "$k")"); else down+=("$k"); fi
  done
  if ((${#down[@]} == 0)); then
    echo "kafka.sh: Kafka $(data_version) running (pid ${up[*]}) at $BOOTSTRAP, data dir $DATA_DIR"
  else
    echo "kafka.sh: not running at $BOOTSTRAP (data dir $DATA_DIR$( ((BROKERS == 1)) || echo "; nodes down: ${down[*]}"))"
    return 1
  fi
}

cmd_clean() {
  cmd_stop
  case "$DATA_DIR" in
    / | "${HOME:-/}" | "$HERE"*) die "refusing to delete $DATA_DIR" ;;
  esac
  rm -rf "$DATA_DIR"
  echo "kafka.sh: deleted $DATA_DIR"
}

main() {
  local cmd=${1:-}
  (($#)) && shift
  case "$cmd" in
    fetch) lock; ensure_java; cmd_fetch ;;
    start) lock; cmd_start ;;
    stop) lock; check_layout; cmd_stop ;;
    restart) lock; check_layout; check_data_version; cmd_stop; cmd_start ;;
    clean) lock; check_layout; cmd_clean ;;
    topics) cmd_topics "$@" ;;
    status) cmd_status ;;
    bootstrap) echo "$BOOTSTRAP" ;;
    version) echo "$KAFKA_VERSION" ;;
    *) die "usage: kafka.sh fetch|start|stop|restart|status|clean|bootstrap|version|topics [NAME[:compact][:PARTITIONS] ...]" ;;
  esac
}

main "$@"
