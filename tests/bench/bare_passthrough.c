/* bare_passthrough: the limit greenlight's throughput is measured against.
 * A bare librdkafka transactional consume -> produce pass-through without
 * the engine: one read_committed consumer in a group, one transactional
 * producer, the KIP-447 cycle of librdkafka's examples/transactions.c
 * (begin, produce, send_offsets_to_transaction with the group metadata,
 * commit; on an abortable error abort and rewind to the committed offsets).
 * Every record's key, value and headers go unchanged to one output topic.
 * It commits every --interval-ms or --max-records, as the engine does by
 * default, with the client settings the engine uses where they matter for
 * speed. Once --expect records are processed and committed it prints one
 * JSON line (records, seconds from the first record to the last and to its
 * commit, commits, aborts, mean commit time, CPU seconds of all threads,
 * peak RSS) and exits 0; 1 on a fatal error.
 *
 *   bench_bare_passthrough -b BOOTSTRAP -g GROUP -t TXN_ID -o OUTPUT
 *       --expect N [--interval-ms 100] [--max-records 1000] INPUT... */
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

typedef struct bare {
  rd_kafka_t *consumer, *producer;
  const char *output;
  rd_kafka_topic_partition_list_t *offsets; /* Next offset of each partition read in the transaction. */
  long interval_ms, max_records, expect;
  bool in_txn;
  long txn_records, processed, committed, commits, aborts;
  double txn_started, first, last, done, commit_s; /* commit_s: time spent in commit(). */
} bare_t;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *why) {
  fprintf(stderr, "bench_bare_passthrough: %s: %s\n", what, why);
  exit(1);
}

/* Exits on a fatal or an unexpected error; returns true if the error says
 * the transaction must be aborted. Destroys err. */
static bool needs_abort(const char *what, rd_kafka_error_t *err) {
  if (!err) return false;
  bool abortable = rd_kafka_error_txn_requires_abort(err);
  if (!abortable) die(what, rd_kafka_error_string(err));
  fprintf(stderr, "bench_bare_passthrough: %s: %s: aborting\n", what, rd_kafka_error_string(err));
  rd_kafka_error_destroy(err);
  return true;
}

static void conf_set(rd_kafka_conf_t *c, const char *const *kv) {
  char why[512];
  for (; kv[0]; kv += 2)
    if (rd_kafka_conf_set(c, kv[0], kv[1], why, sizeof why) != RD_KAFKA_CONF_OK) die(kv[0], why);
}

/* Seeks the assignment back to its committed offsets (the start of the
 * aborted transaction), as examples/transactions.c does. */
static void rewind_consumer(bare_t *b) {
  rd_kafka_topic_partition_list_t *parts = NULL;
  if (rd_kafka_assignment(b->consumer, &parts) || !parts) return;
  rd_kafka_resp_err_t e = parts->cnt ? rd_kafka_committed(b->consumer, parts, 10000) : 0;
  if (e) die("committed", rd_kafka_err2str(e));
  for (int i = 0; i < parts->cnt; i++)
    if (parts->elems[i].offset < 0) parts->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
  rd_kafka_error_t *err = parts->cnt ? rd_kafka_seek_partitions(b->consumer, parts, -1) : NULL;
  if (err) die("seek", rd_kafka_error_string(err));
  rd_kafka_topic_partition_list_destroy(parts);
  b->processed = b->committed;
}

/* Aborts the open transaction and, if rewind, seeks back to the committed
 * offsets (partitions that were lost start from there anyway). */
static void abort_txn(bare_t *b, bool rewind) {
  rd_kafka_error_t *err = rd_kafka_abort_transaction(b->producer, -1);
  if (err) die("abort_transaction", rd_kafka_error_string(err));
  rd_kafka_topic_partition_list_destroy(b->offsets);
  b->offsets = rd_kafka_topic_partition_list_new(32);
  b->in_txn = false;
  b->txn_records = 0;
  b->aborts++;
  if (rewind) rewind_consumer(b);
  else b->processed = b->committed;
}

/* Commits the open transaction with the offsets it read; after an
 * abortable error aborts it and rewinds. */
static void commit(bare_t *b) {
  if (!b->in_txn) return;
  double t = now_s();
  rd_kafka_consumer_group_metadata_t *gm = rd_kafka_consumer_group_metadata(b->consumer);
  bool abort_it = needs_abort("send_offsets_to_transaction",
                              rd_kafka_send_offsets_to_transaction(b->producer, b->offsets, gm, -1));
  rd_kafka_consumer_group_metadata_destroy(gm);
  rd_kafka_topic_partition_list_destroy(b->offsets);
  b->offsets = rd_kafka_topic_partition_list_new(32);
  if (!abort_it)
    abort_it = needs_abort("commit_transaction", rd_kafka_commit_transaction(b->producer, -1));
  if (abort_it) {
    abort_txn(b, true);
    return;
  }
  b->in_txn = false;
  b->txn_records = 0;
  b->commits++;
  b->commit_s += now_s() - t;
  b->committed = b->processed;
  if (b->committed >= b->expect && b->done == 0) b->done = now_s();
}

/* Eager (range) rebalances: a revocation commits what was processed first,
 * as the engine does, unless the partitions were lost (then it aborts).
 * Runs inside rd_kafka_consumer_poll(). */
static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque) {
  bare_t *b = opaque;
  if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS && b->in_txn) {
    if (rd_kafka_assignment_lost(rk)) abort_txn(b, false);
    else commit(b);
  }
  rd_kafka_resp_err_t e = rd_kafka_assign(rk, err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS ? parts : NULL);
  if (e) die("assign", rd_kafka_err2str(e));
}

static void pass(bare_t *b, rd_kafka_message_t *m) {
  if (!b->in_txn) {
    rd_kafka_error_t *err = rd_kafka_begin_transaction(b->producer);
    if (err) die("begin_transaction", rd_kafka_error_string(err));
    b->in_txn = true;
    b->txn_started = now_s();
  }
  rd_kafka_headers_t *h = NULL, *copy = NULL;
  if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR) copy = rd_kafka_headers_copy(h);
  for (;;) {
    rd_kafka_resp_err_t e = rd_kafka_producev(
        b->producer, RD_KAFKA_V_TOPIC(b->output), RD_KAFKA_V_KEY(m->key, m->key_len),
        RD_KAFKA_V_VALUE(m->payload, m->len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_HEADERS(copy), RD_KAFKA_V_END);
    if (!e) break;
    if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) die("produce", rd_kafka_err2str(e));
    rd_kafka_poll(b->producer, 10); /* The queue is full: let deliveries drain it. */
  }
  const char *topic = rd_kafka_topic_name(m->rkt);
  rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_find(b->offsets, topic, m->partition);
  if (!tp) tp = rd_kafka_topic_partition_list_add(b->offsets, topic, m->partition);
  tp->offset = m->offset + 1;
  b->processed++;
  b->txn_records++;
  if (b->first == 0) b->first = now_s();
  b->last = now_s();
}

static rd_kafka_t *client(rd_kafka_type_t type, const char *const *kv, bare_t *b) {
  char why[512];
  rd_kafka_conf_t *c = rd_kafka_conf_new();
  conf_set(c, kv);
  rd_kafka_conf_set_opaque(c, b);
  if (type == RD_KAFKA_CONSUMER) rd_kafka_conf_set_rebalance_cb(c, rebalance_cb);
  rd_kafka_t *rk = rd_kafka_new(type, c, why, sizeof why);
  if (!rk) die("rd_kafka_new", why);
  return rk;
}

static void usage(void) {
  fprintf(stderr, "usage: bench_bare_passthrough -b BOOTSTRAP -g GROUP -t TXN_ID -o OUTPUT "
                  "--expect N [--interval-ms MS] [--max-records N] INPUT...\n");
  exit(2);
}

int main(int argc, char **argv) {
  bare_t b = {.interval_ms = 100, .max_records = 1000};
  const char *bootstrap = "127.0.0.1:19092", *group = NULL, *txn_id = NULL;
  static const struct option opts[] = {{"expect", required_argument, NULL, 'n'},
                                       {"interval-ms", required_argument, NULL, 'i'},
                                       {"max-records", required_argument, NULL, 'm'},
                                       {NULL, 0, NULL, 0}};
  for (int c; (c = getopt_long(argc, argv, "b:g:t:o:", opts, NULL)) != -1;) {
    switch (c) {
      case 'b': bootstrap = optarg; break;
      case 'g': group = optarg; break;
      case 't': txn_id = optarg; break;
      case 'o': b.output = optarg; break;
      case 'n': b.expect = atol(optarg); break;
      case 'i': b.interval_ms = atol(optarg); break;
      case 'm': b.max_records = atol(optarg); break;
      default: usage();
    }
  }
  if (!group || !txn_id || !b.output || b.expect <= 0 || b.interval_ms <= 0 ||
      b.max_records <= 0 || optind >= argc)
    usage();
  const char *cons[] = {"bootstrap.servers", bootstrap, "group.id", group,
                        "isolation.level", "read_committed", "enable.auto.commit", "false",
                        "enable.auto.offset.store", "false", "auto.offset.reset", "earliest",
                        "partition.assignment.strategy", "range", "fetch.wait.max.ms", "100",
                        NULL};
  const char *prod[] = {"bootstrap.servers", bootstrap, "transactional.id", txn_id,
                        "enable.idempotence", "true", "acks", "all", "linger.ms", "5",
                        "partitioner", "murmur2_random", "queue.buffering.max.messages", "1000000",
                        "delivery.report.only.error", "true", NULL};
  b.offsets = rd_kafka_topic_partition_list_new(32);
  b.producer = client(RD_KAFKA_PRODUCER, prod, &b);
  rd_kafka_error_t *err = rd_kafka_init_transactions(b.producer, 60000);
  if (err) die("init_transactions", rd_kafka_error_string(err));
  b.consumer = client(RD_KAFKA_CONSUMER, cons, &b);
  rd_kafka_poll_set_consumer(b.consumer);
  rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(argc - optind);
  for (int i = optind; i < argc; i++)
    rd_kafka_topic_partition_list_add(sub, argv[i], RD_KAFKA_PARTITION_UA);
  rd_kafka_resp_err_t e = rd_kafka_subscribe(b.consumer, sub);
  if (e) die("subscribe", rd_kafka_err2str(e));
  rd_kafka_topic_partition_list_destroy(sub);

  while (b.done == 0) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(b.consumer, 10);
    if (m && m->err && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
      fprintf(stderr, "bench_bare_passthrough: consume: %s\n", rd_kafka_message_errstr(m));
    else if (m && !m->err) pass(&b, m);
    if (m) rd_kafka_message_destroy(m);
    rd_kafka_poll(b.producer, 0); /* Serves failed deliveries' reports. */
    if (b.in_txn && (b.txn_records >= b.max_records || b.processed >= b.expect ||
                     (now_s() - b.txn_started) * 1000 >= (double)b.interval_ms))
      commit(&b);
  }
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru); /* All threads: librdkafka's too. */
  double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
               (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
  printf("{\"records\": %ld, \"seconds\": %.3f, \"seconds_to_commit\": %.3f, \"commits\": %ld, "
         "\"aborts\": %ld, \"commit_ms_mean\": %.2f, \"cpu_seconds\": %.3f, \"max_rss_kb\": %ld}\n",
         b.committed, b.last - b.first, b.done - b.first, b.commits, b.aborts,
         b.commits ? b.commit_s / (double)b.commits * 1000 : 0, cpu, ru.ru_maxrss);
  fflush(stdout);
  rd_kafka_consumer_close(b.consumer);
  rd_kafka_destroy(b.consumer);
  rd_kafka_destroy(b.producer);
  return 0;
}
