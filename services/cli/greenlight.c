/* greenlight: the operator CLI.
 *
 *   greenlight produce   JSON lines -> input topics (upstream side)
 *   greenlight tail      a topic -> JSON lines (downstream side)
 *   greenlight show      an order's (or a batch's) last published status
 *   greenlight dlq       the dead-letter topic: summary, list, redrive
 *   greenlight replay    a slice of a topic -> another topic (or itself)
 *   greenlight topics    create or check a deployment's topics
 *   greenlight rebuild   a daemon over its inputs into a shadow, diffed with live
 *   greenlight reset     a daemon's group to a time or offsets, its state cleared
 *   greenlight help      usage
 *
 * This file holds main(), the usage text and the signal handling; each
 * subcommand lives in its own cli_<name>.c file. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "greenlight/gl_version.h"

bool cli_stop_requested(void) { return gl_signals_stop_requested(); }

static const char cli_usage_text[] =
    "usage: greenlight <command> [options]\n"
    "\n"
    "Commands:\n"
    "  produce   read events as JSON lines and produce them to the input topics\n"
    "  tail      print the records of a topic as JSON lines\n"
    "  show      print an order's (or a batch's) last published status\n"
    "  replay    copy a slice of a topic into another topic (or the same one)\n"
    "  dlq       summarize, list or re-drive the dead-letter topic\n"
    "  topics    create the topics of a deployment, or check them\n"
    "  rebuild   run a daemon over its inputs into a shadow and diff it with live\n"
    "  reset     move a daemon's group to the earliest offsets, a time or given\n"
    "            offsets and clear its state\n"
    "  version   the versions of greenlight and its libraries (also --version)\n"
    "  help      show this text\n"
    "\n"
    "greenlight produce [-b BOOTSTRAP] [-X prop=value ...] [--prefix P]\n"
    "                   [--file F|-] [--strict] [--no-validate] [--timeout-ms T]\n"
    "  Each input line is one greenlight.v1.Envelope in JSON, e.g.\n"
    "    {\"event_id\":\"E-1\",\"occurred_at_ms\":1767571200000,\"source\":\"erp.bytedance\",\n"
    "     \"order_placed\":{\"order_id\":\"O-1\",\"buyer_id\":\"bytedance\",\"units\":200000,\n"
    "                     \"end_use\":\"COMMERCIAL_CLOUD\"}}\n"
    "  optionally with \"topic\" and \"key\" to override the routing. The topic\n"
    "  follows the payload (order_placed/order_cancelled -> greenlight.orders,\n"
    "  approval_granted/approval_denied -> greenlight.approvals, batch_queued ->\n"
    "  greenlight.batches, shipment_cleared -> greenlight.shipments, tick ->\n"
    "  greenlight.clock, written to every partition); the key is the order_id;\n"
    "  the record timestamp is occurred_at_ms. A line\n"
    "    {\"topic\":\"T\",\"key\":\"K\",\"value_hex\":\"0a03...\"}\n"
    "  (optional \"headers\":{\"name\":\"value\"}, \"partition\":N, \"timestamp_ms\":T;\n"
    "  \"key_hex\":\"..\" instead of \"key\" for a key JSON text cannot hold)\n"
    "  sends raw bytes as they are; so does a line of `greenlight tail --raw`\n"
    "  (its \"offset\" is ignored; its topic, prefix included, is not prefixed\n"
    "  again). Blank lines are skipped. Before it is sent,\n"
    "  every envelope is judged by the daemons' own code: the checks they make\n"
    "  on a record alone (size and string limits, UTF-8, enums, required fields\n"
    "  and ranges, the key = the order_id); the policy and the order's state are\n"
    "  theirs. A bad line is reported as\n"
    "    greenlight: produce: FILE:LINE: REASON: DETAIL\n"
    "  (FILE is \"stdin\" for standard input; REASON is the daemons' dlq.reason,\n"
    "  e.g. invalid, unknown_enum, key_mismatch) and skipped; the exit code is\n"
    "  then 2.\n"
    "  --file F       read F instead of standard input (\"-\" = standard input)\n"
    "  --strict       stop at the first bad line (nothing after it is sent)\n"
    "  --transactional  produce everything in one transaction: read_committed\n"
    "                 readers see all of it at once, or none of it\n"
    "  --no-validate  send envelopes that fail that validation (tests)\n"
    "  --timeout-ms T give up on undelivered records after T ms (default 30000)\n"
    "  Ends with 'produced N records (M failed)' on standard error.\n"
    "\n"
    "greenlight tail TOPIC [-b BOOTSTRAP] [-X prop=value ...] [--prefix P]\n"
    "                [--offset N|-N|beginning|end | --from TIME | --from-beginning]\n"
    "                [--partition P] [--exit-at-end] [--count N]\n"
    "                [--timeout-ms T] [--type NAME] [--defaults] [--raw]\n"
    "  Reads every partition of TOPIC (read_committed, no consumer group) and\n"
    "  prints one line per record:\n"
    "    {\"topic\":..,\"partition\":..,\"offset\":..,\"timestamp_ms\":..,\"key\":..,\n"
    "     \"headers\":{..},\"type\":\"greenlight.v1.OrderStatus\",\"value\":{..}}\n"
    "  The value is decoded by its message-type header (or --type); a value\n"
    "  that cannot be decoded is printed as \"value_hex\".\n"
    "  --offset N|-N|beginning|end\n"
    "                    where each partition starts: at offset N, N records\n"
    "                    before its end, its earliest offset, or its end (only\n"
    "                    new records: the default)\n"
    "  --from TIME       start at each partition's first record stamped at or\n"
    "                    after TIME: epoch ms or RFC 3339 (2026-01-05T08:00:00Z)\n"
    "  --from-beginning  the same as --offset beginning\n"
    "  --partition P     read partition P only\n"
    "  --exit-at-end     stop once every partition is at its end\n"
    "  --count N         stop after N records\n"
    "  --timeout-ms T    give up (exit 1) if not done after T ms\n"
    "  --type NAME       decode every value as NAME, e.g. greenlight.v1.OrderStatus\n"
    "  --defaults        also print fields that hold their zero value\n"
    "  --raw             print every value as \"value_hex\" (exact bytes, for diffs)\n"
    "  --key K           only records with key K, read from the partition Java's\n"
    "                    partitioner (murmur2) puts K in\n"
    "  --last            print only the last record, at the end (exit 3 if none)\n"
    "\n"
    "greenlight show ID [--batch] [--history] [-b BOOTSTRAP] [-X prop=value ...]\n"
    "                [--prefix P] [--timeout-ms T] [--defaults] [--offset ..|--from TIME]\n"
    "  Prints the last committed status of order ID from greenlight.order-status\n"
    "  (with --batch: of batch ID, or ~waiting, from greenlight.batch-status) as\n"
    "  one JSON line, like tail; reads only ID's partition and needs no daemon.\n"
    "  Exits 3 if there is none.\n"
    "  --history         every version, oldest first\n"
    "  --offset N|-N|beginning|end, --from TIME\n"
    "                    read ID's partition from there on, as tail does: the\n"
    "                    last status (or --history's versions) since TIME\n"
    "  --timeout-ms T    give up (exit 1) after T ms (default 30000)\n"
    "\n"
    "greenlight dlq summary|list|redrive [filters] [--dry-run] [--yes]\n"
    "  The dead-letter topic: counts by reason, source topic and hour; its\n"
    "  records as JSON lines; or their re-drive to their source topics in one\n"
    "  transaction. See 'greenlight dlq --help'.\n"
    "greenlight replay SOURCE --to-topic DEST [-b BOOTSTRAP] [-X prop=value ...]\n"
    "                [--prefix P] [--from TIME] [--until TIME] [--offset N|beginning]\n"
    "                [--partition P | --key K] [--type NAME] [--rate N] [--dry-run]\n"
    "                [--end-offset N] [--transactional]\n"
    "  Copies a fixed slice of SOURCE (read_committed) into DEST, which may be\n"
    "  SOURCE itself: each partition from its start up to its end as it was\n"
    "  when the replay began (records appended later are not copied). Every\n"
    "  record keeps its key, value bytes, headers and timestamp; a keyed one is\n"
    "  placed by Java's partitioner (murmur2), a keyless one in the partition\n"
    "  number it had (DEST must have as many partitions as are read: else exit 2).\n"
    "  --to-topic DEST   the destination (prefixed like SOURCE)\n"
    "  --from TIME       start at each partition's first record stamped at or\n"
    "                    after TIME: epoch ms or RFC 3339 (2026-01-05T08:00:00Z)\n"
    "  --until TIME      end of the time range: records stamped at or after TIME\n"
    "                    are not copied\n"
    "  --offset N|beginning  start at offset N (default: the earliest)\n"
    "  --end-offset N    (with --partition or --key) stop before offset N\n"
    "  --partition P     copy partition P only\n"
    "  --key K           copy only K's records, read from K's partition\n"
    "  --type NAME       copy only envelopes whose payload is NAME (order_placed,\n"
    "                    approval_granted, tick, ...); records that do not decode\n"
    "                    as valid envelopes are skipped and counted\n"
    "  --rate N          at most N records per second\n"
    "  --dry-run         send nothing: print each record that would be sent, as\n"
    "                    tail --raw does\n"
    "  --transactional   the whole copy in one transaction: all or nothing\n"
    "  Progress goes to standard error (a bar on a terminal, else a JSON line\n"
    "  every 5 s), then 'copied N records, skipped M, S seconds'. On SIGINT or\n"
    "  SIGTERM it flushes what was sent (or aborts the transaction), prints each\n"
    "  partition's next offset not copied with the command that copies the rest\n"
    "  of its slice (--offset, --end-offset), and exits 0. Examples:\n"
    "    greenlight replay greenlight.orders --to-topic greenlight.orders \\\n"
    "      --from 2026-01-05T08:00:00Z --until 2026-01-05T09:00:00Z --rate 500\n"
    "    greenlight replay greenlight.orders --to-topic orders.copy --key O-1 --dry-run\n"
    "\n"
    "greenlight topics create [--partitions N] [--replication-factor R] [--dry-run]\n"
    "                         [EXTRA ...]\n"
    "greenlight topics check\n"
    "  create: every topic of a deployment, as deploy/local/kafka.sh makes them,\n"
    "  plus EXTRA topics given as NAME[:compact][:PARTITIONS]; existing topics\n"
    "  are left alone but checked. check: every topic exists, each daemon's\n"
    "  inputs are co-partitioned, changelogs and owners topics are compacted\n"
    "  (exit 1 on a problem). See 'greenlight topics --help'.\n"
    "\n"
    "greenlight rebuild orderd|batchd [--config FILE] [--policy FILE] [--keep]\n"
    "                   [--json] [-- DAEMON-SETTING ...]\n"
    "  runs the daemon's own executable over its inputs into a shadow app id\n"
    "  and shadow topics, compares the shadow's status topic with the live one\n"
    "  record by record per key, and prints each key's first difference\n"
    "  (exit 0 equal, 1 different, 4 could not run). See 'greenlight rebuild --help'.\n"
    "\n"
    "greenlight reset orderd|batchd [--to-earliest | --to-time TIME]\n"
    "                 [--to-offset TOPIC:PARTITION:OFFSET ...] [--dry-run | --yes]\n"
    "                 [--wait SECONDS] [--config FILE] [-- DAEMON-SETTING ...]\n"
    "  moves the daemon's consumer group on every input partition to its earliest\n"
    "  offset, a time or the offset given and empties its changelog, as Kafka\n"
    "  Streams' reset tool does; refuses while the group has members (--wait\n"
    "  for a stopped daemon's session to time out). See 'greenlight reset --help'.\n"
    "\n"
    "Common options:\n"
    "  -b, --bootstrap BOOTSTRAP  brokers (default: $GREENLIGHT_BOOTSTRAP or " CLI_DEFAULT_BOOTSTRAP
    ")\n"
    "  -X prop=value              librdkafka property (TLS, SASL, ...); repeatable\n"
    "  --prefix P                 prepended to every topic name (default:\n"
    "                             $GREENLIGHT_TOPIC_PREFIX or none)\n"
    "  -h, --help                 show this text\n"
    "\n"
    "Exit codes (every command):\n"
    "  0  done; also after SIGINT or SIGTERM once what was sent is flushed\n"
    "  1  anything else: the broker unreachable, --timeout-ms ran out, a record\n"
    "     not delivered, a transaction aborted, a write to standard output failed\n"
    "  2  bad usage, known before any connection: an unknown command or option,\n"
    "     a bad value or -X property, an input file that cannot be opened, or\n"
    "     (produce) an input line refused before it is sent\n"
    "  3  show, tail --last: no record for the ID or key\n"
    "  rebuild: 0 equal, 1 different, 2 bad usage, 4 could not run\n"
    "  reset: 0 done, 1 refused (live members) or failed, 2 bad usage or no --yes\n";

void cli_usage(FILE *out) { fputs(cli_usage_text, out); }

int main(int argc, char **argv) {
  /* The shell's signal policy: SIGINT/SIGTERM finish what is in flight;
   * a closed stdout (`greenlight tail ... | head`) ends the program through
   * the write error, not through SIGPIPE. */
  gl_signals_catch();

  if (argc < 2) {
    cli_usage(stderr);
    return CLI_EXIT_USAGE;
  }
  const char *cmd = argv[1];
  if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
    gl_version_print(stdout, "greenlight");
    return CLI_EXIT_OK;
  }
  if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
    cli_usage(stdout);
    return CLI_EXIT_OK;
  }
  static const struct {
    const char *name;
    int (*main)(int, char **);
  } commands[] = {
      {"produce", cli_produce_main},
      {"tail", cli_tail_main},
      {"show", cli_show_main},
      {"dlq", cli_dlq_main},
      {"replay", cli_replay_main},
      {"topics", cli_topics_main},
      {"rebuild", cli_rebuild_main},
      {"reset", cli_reset_main},
  };
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
    if (strcmp(cmd, commands[i].name) != 0) continue;
    cli_set_command(commands[i].name);
    return commands[i].main(argc - 1, argv + 1);
  }
  cli_err("unknown command '%s' (try 'greenlight help')", cmd);
  return CLI_EXIT_USAGE;
}
