/* greenlight dlq: the dead-letter topic for an operator: a summary of what
 * is in it, the records that match filters, and their re-drive to the
 * topics they came from.
 *
 * Every subcommand reads the whole DLQ topic once, read_committed, from the
 * beginning of every partition to its last stable offset (no consumer
 * group, nothing committed), and applies the filters to each record on the
 * client. A re-drive sends the records it accepts in one transaction, so
 * read_committed readers (the daemons) see all of them or none. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define DLQ_TOPIC "greenlight.dlq"
#define DLQ_TIMEOUT_MS 30000
#define DLQ_HDR_PREFIX "dlq."
#define DLQ_REDRIVEN_FROM "redriven-from"

enum {
  OPT_TOPIC = CLI_OPT_FIRST_OWN,
  OPT_REASON,
  OPT_SOURCE_TOPIC,
  OPT_KEY,
  OPT_FROM,
  OPT_TO,
  OPT_COUNT,
  OPT_DRY_RUN,
  OPT_YES,
  OPT_TIMEOUT,
};

typedef enum dlq_cmd { DLQ_SUMMARY, DLQ_LIST, DLQ_REDRIVE } dlq_cmd_t;

/* The DLQ reasons that say the original bytes themselves were refused:
 * sending the same bytes again would be refused again. */
static const char *const dlq_bad_bytes_reasons[] = {
    "decode_error", "unknown_payload", "key_mismatch", "invalid", "unknown_enum", "too_large",
    NULL,
};

/* Everything one `greenlight dlq` run needs. */
typedef struct dlq_ctx {
  cli_common_t common;
  dlq_cmd_t cmd;
  const char *topic_arg;    /* --topic, before the prefix. */
  char topic[256];          /* The DLQ topic read, with the prefix. */
  const char *reason;       /* Filters; NULL = any. */
  const char *source_topic;
  const char *key;
  int64_t from_ms, to_ms;   /* Record timestamps kept: [from, to]. */
  long long count;          /* At most this many matching records; 0 = all. */
  bool dry_run, yes;
  long long timeout_ms;
  int64_t deadline;
  rd_kafka_t *rk;           /* The consumer. */
  int32_t n_partitions;
  int32_t n_at_end;
  bool *at_end;
  long long matched;
  rd_kafka_message_t **held; /* redrive: the matching records, kept until sent. */
  size_t n_held, cap_held;
  json_t *summary;           /* summary: the counts so far. */
} dlq_ctx_t;

/* ---- Options ------------------------------------------------------------ */

static int dlq_parse_cmd(dlq_ctx_t *ctx, const char *s) {
  if (strcmp(s, "summary") == 0) ctx->cmd = DLQ_SUMMARY;
  else if (strcmp(s, "list") == 0) ctx->cmd = DLQ_LIST;
  else if (strcmp(s, "redrive") == 0) ctx->cmd = DLQ_REDRIVE;
  else {
    cli_err("unknown subcommand '%s' (summary, list or redrive; see greenlight dlq --help)", s);
    return -1;
  }
  return 0;
}

static int dlq_parse_time(const char *opt, const char *arg, int64_t *ms) {
  if (cli_parse_time(arg, ms) == 0) return 0;
  cli_err("%s: expected epoch milliseconds or an RFC 3339 time such as "
          "2026-01-05T08:00:00Z, got '%s'", opt, arg);
  return -1;
}

/* One option of dlq's own. Returns 0 or -1 (reported). */
static int dlq_own_opt(void *arg_ctx, int opt, const char *arg) {
  dlq_ctx_t *ctx = arg_ctx;
  switch (opt) {
    case OPT_TOPIC: ctx->topic_arg = arg; return 0;
    case OPT_REASON: ctx->reason = arg; return 0;
    case OPT_SOURCE_TOPIC: ctx->source_topic = arg; return 0;
    case OPT_KEY: ctx->key = arg; return 0;
    case OPT_FROM: return dlq_parse_time("--from", arg, &ctx->from_ms);
    case OPT_TO: return dlq_parse_time("--to", arg, &ctx->to_ms);
    case OPT_DRY_RUN: ctx->dry_run = true; return 0;
    case OPT_YES: ctx->yes = true; return 0;
    case OPT_COUNT:
      if (cli_parse_int(arg, 1, INT64_MAX, &ctx->count) == 0) return 0;
      cli_err("--count: expected a positive number, got '%s'", arg);
      return -1;
    case OPT_TIMEOUT:
      if (cli_parse_int(arg, 1, 3600000, &ctx->timeout_ms) == 0) return 0;
      cli_err("--timeout-ms: expected milliseconds from 1 to 3600000, got '%s'", arg);
      return -1;
    default: return -1;
  }
}

static const struct option dlq_options[] = {
    CLI_COMMON_LONGOPTS,
    {"topic", required_argument, NULL, OPT_TOPIC},
    {"reason", required_argument, NULL, OPT_REASON},
    {"source-topic", required_argument, NULL, OPT_SOURCE_TOPIC},
    {"key", required_argument, NULL, OPT_KEY},
    {"from", required_argument, NULL, OPT_FROM},
    {"to", required_argument, NULL, OPT_TO},
    {"count", required_argument, NULL, OPT_COUNT},
    {"dry-run", no_argument, NULL, OPT_DRY_RUN},
    {"yes", no_argument, NULL, OPT_YES},
    {"timeout-ms", required_argument, NULL, OPT_TIMEOUT},
    {NULL, 0, NULL, 0},
};

/* Parses `greenlight dlq SUBCOMMAND [options]`. Returns -1 on a usage
 * error (reported), 1 if help was asked for, else 0. */
static int dlq_parse_args(dlq_ctx_t *ctx, int argc, char **argv) {
  if (cli_parse_opts(&ctx->common, argc, argv, "", dlq_options, dlq_own_opt, ctx) < 0) return -1;
  if (ctx->common.help) return 1;
  if (optind >= argc) {
    cli_err("which subcommand? usage: greenlight dlq summary|list|redrive [options]");
    return -1;
  }
  if (dlq_parse_cmd(ctx, argv[optind]) < 0) return -1;
  if (optind + 1 < argc) {
    cli_err("unexpected argument '%s'", argv[optind + 1]);
    return -1;
  }
  if (ctx->from_ms > ctx->to_ms) {
    cli_err("--from is later than --to");
    return -1;
  }
  if (ctx->cmd != DLQ_REDRIVE && (ctx->dry_run || ctx->yes)) {
    cli_err("--dry-run and --yes belong to redrive");
    return -1;
  }
  if (ctx->cmd == DLQ_REDRIVE && !ctx->dry_run && !ctx->yes) {
    cli_err("redrive sends records to their source topics: add --yes to do it, or --dry-run "
            "to see what would be sent");
    return -1;
  }
  return cli_topic_name(&ctx->common, ctx->topic_arg ? ctx->topic_arg : DLQ_TOPIC, ctx->topic,
                        sizeof ctx->topic);
}

/* ---- Reading the DLQ ---------------------------------------------------- */

/* The last header called name as a NUL-terminated string in buf, or NULL
 * if the record has none (or it does not fit). */
static const char *dlq_header(const rd_kafka_message_t *m, const char *name, char *buf,
                              size_t len) {
  rd_kafka_headers_t *hdrs = NULL;
  const void *val;
  size_t size;
  if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR ||
      rd_kafka_header_get_last(hdrs, name, &val, &size) != RD_KAFKA_RESP_ERR_NO_ERROR ||
      size >= len)
    return NULL;
  if (size) memcpy(buf, val, size);
  buf[size] = '\0';
  return buf;
}

static int64_t dlq_timestamp(const rd_kafka_message_t *m) {
  rd_kafka_timestamp_type_t tstype;
  return rd_kafka_message_timestamp(m, &tstype);
}

/* True if the record passes every filter given. */
static bool dlq_matches(const dlq_ctx_t *ctx, const rd_kafka_message_t *m) {
  char buf[512];
  if (ctx->reason) {
    const char *r = dlq_header(m, "dlq.reason", buf, sizeof buf);
    if (!r || strcmp(r, ctx->reason) != 0) return false;
  }
  if (ctx->source_topic) {
    const char *t = dlq_header(m, "dlq.topic", buf, sizeof buf);
    if (!t || strcmp(t, ctx->source_topic) != 0) return false;
  }
  if (ctx->key &&
      (!m->key || m->key_len != strlen(ctx->key) || memcmp(m->key, ctx->key, m->key_len) != 0))
    return false;
  int64_t ts = dlq_timestamp(m);
  return ts >= ctx->from_ms && ts <= ctx->to_ms;
}

/* Creates the consumer and looks the topic's partitions up. Returns
 * CLI_EXIT_OK, CLI_EXIT_USAGE (a refused setting) or CLI_EXIT_FAIL. */
static int dlq_open(dlq_ctx_t *ctx) {
  /* A group.id is needed to assign; this one is never joined. */
  char group[64];
  snprintf(group, sizeof group, "greenlight-cli-dlq-%ld", (long)getpid());
  const char *const defaults[] = {
      "client.id", "greenlight-cli", "group.id", group, "enable.auto.commit", "false",
      "enable.auto.offset.store", "false", "isolation.level", "read_committed",
      "enable.partition.eof", "true", "allow.auto.create.topics", "false", NULL,
  };
  rd_kafka_conf_t *conf = cli_kafka_conf(&ctx->common, defaults);
  if (!conf) return CLI_EXIT_USAGE;
  char errstr[512];
  ctx->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
  if (!ctx->rk) {
    cli_err("cannot create the consumer: %s", errstr);
    rd_kafka_conf_destroy(conf);
    return CLI_EXIT_USAGE;
  }
  rd_kafka_poll_set_consumer(ctx->rk);
  rd_kafka_topic_t *rkt = rd_kafka_topic_new(ctx->rk, ctx->topic, NULL);
  const struct rd_kafka_metadata *md = NULL;
  rd_kafka_resp_err_t e = rd_kafka_metadata(ctx->rk, 0, rkt, &md, (int)ctx->timeout_ms);
  rd_kafka_topic_destroy(rkt);
  if (e) {
    cli_err("cannot read the partitions of %s from %s: %s", ctx->topic, ctx->common.bootstrap,
            rd_kafka_err2str(e));
    return CLI_EXIT_FAIL;
  }
  e = md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
  ctx->n_partitions = md->topic_cnt == 1 ? md->topics[0].partition_cnt : 0;
  rd_kafka_metadata_destroy(md);
  if (e || ctx->n_partitions <= 0) {
    cli_err("topic %s: %s", ctx->topic,
            e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ? "does not exist" : rd_kafka_err2str(e));
    return CLI_EXIT_FAIL;
  }
  rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(ctx->n_partitions);
  for (int32_t p = 0; p < ctx->n_partitions; p++)
    rd_kafka_topic_partition_list_add(parts, ctx->topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  e = rd_kafka_assign(ctx->rk, parts);
  rd_kafka_topic_partition_list_destroy(parts);
  if (e) {
    cli_err("cannot assign %s: %s", ctx->topic, rd_kafka_err2str(e));
    return CLI_EXIT_FAIL;
  }
  ctx->at_end = calloc((size_t)ctx->n_partitions, sizeof *ctx->at_end);
  if (!ctx->at_end) abort();
  return CLI_EXIT_OK;
}

/* "2026-01-05T08:00:00Z": the hour a timestamp falls in. */
static void dlq_hour(int64_t ms, char *buf, size_t len) {
  time_t t = (time_t)((ms >= 0 ? ms : ms - 3599999) / 3600000 * 3600);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(buf, len, "%Y-%m-%dT%H:00:00Z", &tm);
}

static void dlq_count_in(json_t *obj, const char *name) {
  json_t *n = json_object_get(obj, name);
  json_object_set_new(obj, name, json_integer(n ? json_integer_value(n) + 1 : 1));
}

/* Adds one record to the summary's counts. */
static void dlq_summarize(dlq_ctx_t *ctx, const rd_kafka_message_t *m) {
  char buf[512];
  const char *reason = dlq_header(m, "dlq.reason", buf, sizeof buf);
  dlq_count_in(json_object_get(ctx->summary, "by_reason"), reason ? reason : "(none)");
  const char *topic = dlq_header(m, "dlq.topic", buf, sizeof buf);
  dlq_count_in(json_object_get(ctx->summary, "by_source_topic"), topic ? topic : "(none)");
  int64_t ts = dlq_timestamp(m);
  if (ts < 0) return;
  json_t *first = json_object_get(ctx->summary, "first_timestamp_ms");
  json_t *last = json_object_get(ctx->summary, "last_timestamp_ms");
  if (json_is_null(first) || ts < json_integer_value(first))
    json_object_set_new(ctx->summary, "first_timestamp_ms", json_integer(ts));
  if (json_is_null(last) || ts > json_integer_value(last))
    json_object_set_new(ctx->summary, "last_timestamp_ms", json_integer(ts));
  char hour[32];
  dlq_hour(ts, hour, sizeof hour);
  dlq_count_in(json_object_get(ctx->summary, "per_hour"), hour);
}

/* Takes one matching record: counts it, prints it, or keeps it. Returns
 * 1 if the record is kept (the caller must not destroy it), 0, or -1 if
 * standard output failed. */
static int dlq_take(dlq_ctx_t *ctx, rd_kafka_message_t *m) {
  ctx->matched++;
  if (ctx->cmd == DLQ_SUMMARY) {
    dlq_summarize(ctx, m);
    return 0;
  }
  if (ctx->cmd == DLQ_LIST) return cli_print_json_line(cli_record_json(m, NULL, 0, true));
  if (ctx->n_held == ctx->cap_held) {
    ctx->cap_held = ctx->cap_held ? ctx->cap_held * 2 : 64;
    ctx->held = realloc(ctx->held, ctx->cap_held * sizeof *ctx->held);
    if (!ctx->held) abort();
  }
  ctx->held[ctx->n_held++] = m;
  return 1;
}

/* Handles one consumer event. Returns 1 when the read is done, 0 to go
 * on, -1 on an error that ends it; *kept when m now belongs to ctx. */
static int dlq_handle(dlq_ctx_t *ctx, rd_kafka_message_t *m, bool *kept) {
  bool known = m->partition >= 0 && m->partition < ctx->n_partitions;
  if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
    if (known && !ctx->at_end[m->partition]) {
      ctx->at_end[m->partition] = true;
      ctx->n_at_end++;
    }
    return ctx->n_at_end == ctx->n_partitions;
  }
  if (m->err) {
    cli_err("%s [%d]: %s", ctx->topic, (int)m->partition, rd_kafka_message_errstr(m));
    return m->err == RD_KAFKA_RESP_ERR__FATAL ||
                   m->err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED
               ? -1
               : 0;
  }
  if (known && ctx->at_end[m->partition]) {
    ctx->at_end[m->partition] = false;
    ctx->n_at_end--;
  }
  if (!dlq_matches(ctx, m)) return 0;
  int rc = dlq_take(ctx, m);
  if (rc < 0) {
    if (errno == EPIPE) return 1;
    cli_err("cannot write to standard output: %s", strerror(errno));
    return -1;
  }
  *kept = rc == 1;
  return ctx->count && ctx->matched >= ctx->count;
}

/* Reads the DLQ to its end (or --count matches). Returns an exit code. */
static int dlq_read(dlq_ctx_t *ctx) {
  while (!cli_stop_requested()) {
    int64_t left = ctx->deadline - cli_now_ms();
    if (left <= 0) {
      cli_err("timed out after %lld ms reading %s (%d of %d partitions at their end)",
              ctx->timeout_ms, ctx->topic, (int)ctx->n_at_end, (int)ctx->n_partitions);
      return CLI_EXIT_FAIL;
    }
    rd_kafka_message_t *m = rd_kafka_consumer_poll(ctx->rk, left < 200 ? (int)left : 200);
    if (!m) continue;
    bool kept = false;
    int rc = dlq_handle(ctx, m, &kept);
    if (!kept) rd_kafka_message_destroy(m);
    if (rc > 0) return CLI_EXIT_OK;
    if (rc < 0) return CLI_EXIT_FAIL;
  }
  cli_err("interrupted");
  return CLI_EXIT_FAIL;
}

/* ---- Re-drive ----------------------------------------------------------- */

/* Why m cannot be re-driven, or NULL if it can; its source topic in topic. */
static const char *dlq_refusal(const rd_kafka_message_t *m, char *topic, size_t len) {
  char buf[256];
  if (!dlq_header(m, "dlq.topic", topic, len) || !topic[0]) return "no dlq.topic header";
  if (dlq_header(m, "dlq.value.truncated", buf, sizeof buf))
    return "value cut to fit the DLQ (dlq.value.truncated)";
  if (dlq_header(m, "dlq.key.truncated", buf, sizeof buf))
    return "key cut to fit the DLQ (dlq.key.truncated)";
  if (!m->payload) return "no value";
  const char *reason = dlq_header(m, "dlq.reason", buf, sizeof buf);
  for (const char *const *r = dlq_bad_bytes_reasons; reason && *r; r++)
    if (strcmp(reason, *r) == 0) return "its bytes were refused (a reason about the bytes)";
  return NULL;
}

/* The headers to send: the original ones minus dlq.*, plus redriven-from. */
static rd_kafka_headers_t *dlq_redrive_headers(const dlq_ctx_t *ctx, const rd_kafka_message_t *m) {
  rd_kafka_headers_t *out = rd_kafka_headers_new(8), *hdrs = NULL;
  if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    const char *name;
    const void *val;
    size_t size;
    for (size_t i = 0; rd_kafka_header_get_all(hdrs, i, &name, &val, &size) == 0; i++)
      if (strncmp(name, DLQ_HDR_PREFIX, strlen(DLQ_HDR_PREFIX)) != 0 &&
          strcmp(name, DLQ_REDRIVEN_FROM) != 0)
        rd_kafka_header_add(out, name, -1, val, val ? (ssize_t)size : 0);
  }
  char from[320];
  snprintf(from, sizeof from, "%s:%d:%lld", ctx->topic, (int)m->partition, (long long)m->offset);
  rd_kafka_header_add(out, DLQ_REDRIVEN_FROM, -1, from, -1);
  return out;
}

/* What a dry run prints for a record it would send. */
static json_t *dlq_redrive_json(const dlq_ctx_t *ctx, const rd_kafka_message_t *m,
                                const char *topic) {
  rd_kafka_headers_t *h = dlq_redrive_headers(ctx, m);
  json_t *out = json_object(), *hj = json_object();
  const char *name;
  const void *val;
  size_t size;
  for (size_t i = 0; rd_kafka_header_get_all(h, i, &name, &val, &size) == 0; i++)
    json_object_set_new(hj, name, val ? cli_bytes_json(val, size) : json_string(""));
  rd_kafka_headers_destroy(h);
  json_object_set_new(out, "topic", json_string(topic));
  json_object_set_new(out, "key", m->key ? cli_bytes_json(m->key, m->key_len) : json_null());
  json_object_set_new(out, "timestamp_ms", json_integer(dlq_timestamp(m)));
  json_object_set_new(out, "headers", hj);
  char *hex = cli_hex_encode(m->payload, m->len);
  json_object_set_new(out, "value_hex", json_string(hex));
  free(hex);
  return out;
}

static void dlq_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  long *failed = opaque;
  (void)rk;
  if (m->err) {
    if ((*failed)++ < 10)
      cli_err("delivery to %s failed: %s", rd_kafka_topic_name(m->rkt), rd_kafka_err2str(m->err));
  }
}

/* The transactional producer, its transaction begun; NULL (reported) if
 * it cannot be made or started. */
static rd_kafka_t *dlq_producer(dlq_ctx_t *ctx, long *failed) {
  rd_kafka_conf_t *conf =
      cli_producer_conf(&ctx->common, "dlq", ctx->timeout_ms, true, dlq_dr_cb, failed);
  rd_kafka_t *rk = conf ? cli_producer_open(conf) : NULL;
  if (!rk || cli_txn_start(rk, (int)ctx->timeout_ms) == 0) return rk;
  rd_kafka_destroy(rk);
  return NULL;
}

/* Hands one record to the producer. Returns 0 or -1 (reported). */
static int dlq_send(dlq_ctx_t *ctx, rd_kafka_t *rk, const rd_kafka_message_t *m,
                    const char *topic) {
  rd_kafka_headers_t *h = dlq_redrive_headers(ctx, m);
  for (;;) {
    rd_kafka_resp_err_t e = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(RD_KAFKA_PARTITION_UA),
        RD_KAFKA_V_KEY(m->key, m->key_len), RD_KAFKA_V_VALUE(m->payload, m->len),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_TIMESTAMP(dlq_timestamp(m)),
        RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
    if (!e) return 0;
    if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL && !cli_stop_requested()) {
      rd_kafka_poll(rk, 100);
      continue;
    }
    rd_kafka_headers_destroy(h);
    cli_err("cannot produce to %s: %s", topic, rd_kafka_err2str(e));
    return -1;
  }
}

/* Sends the accepted records (sendable[i] is the source topic, or NULL
 * for a refused one) in one transaction. Returns true if it committed. */
static bool dlq_send_all(dlq_ctx_t *ctx, char (*topics)[256], const bool *ok, size_t n_ok) {
  long failed = 0;
  rd_kafka_t *rk = dlq_producer(ctx, &failed);
  if (!rk) return false;
  bool good = true;
  for (size_t i = 0; i < ctx->n_held && good; i++)
    if (ok[i]) good = dlq_send(ctx, rk, ctx->held[i], topics[i]) == 0;
  if (good && rd_kafka_flush(rk, (int)ctx->timeout_ms + 5000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    cli_err("%d records still undelivered", rd_kafka_outq_len(rk));
    good = false;
  }
  good = good && failed == 0 && !cli_stop_requested();
  rd_kafka_error_t *e = good ? rd_kafka_commit_transaction(rk, -1)
                             : rd_kafka_abort_transaction(rk, -1);
  if (e || !good) {
    cli_err("transaction %s%s; none of the %zu records was sent",
            good ? "commit failed: " : "aborted", e && good ? rd_kafka_error_string(e) : "", n_ok);
    good = false;
  }
  if (e) rd_kafka_error_destroy(e);
  rd_kafka_destroy(rk);
  return good;
}

/* Judges every held record, prints (dry run) or sends the accepted ones.
 * Returns the exit code. */
static int dlq_redrive(dlq_ctx_t *ctx) {
  char (*topics)[256] = calloc(ctx->n_held ? ctx->n_held : 1, sizeof *topics);
  bool *ok = calloc(ctx->n_held ? ctx->n_held : 1, sizeof *ok);
  if (!topics || !ok) abort();
  size_t n_ok = 0;
  int rc = CLI_EXIT_OK;
  for (size_t i = 0; i < ctx->n_held; i++) {
    const rd_kafka_message_t *m = ctx->held[i];
    const char *why = dlq_refusal(m, topics[i], sizeof topics[i]);
    if (why) {
      char reason[128];
      cli_err("refused %s:%d:%lld (reason %s): %s", ctx->topic, (int)m->partition,
              (long long)m->offset,
              dlq_header(m, "dlq.reason", reason, sizeof reason) ? reason : "none", why);
      continue;
    }
    ok[i] = true;
    n_ok++;
    if (ctx->dry_run && cli_print_json_line(dlq_redrive_json(ctx, m, topics[i])) < 0) {
      cli_err("cannot write to standard output: %s", strerror(errno));
      rc = CLI_EXIT_FAIL;
      break;
    }
  }
  size_t refused = ctx->n_held - n_ok;
  if (rc == CLI_EXIT_OK && ctx->dry_run) {
    fprintf(stderr, "dry run: would send %zu records, %zu refused; nothing sent\n", n_ok, refused);
  } else if (rc == CLI_EXIT_OK) {
    bool sent = n_ok == 0 || dlq_send_all(ctx, topics, ok, n_ok);
    fprintf(stderr, "redrove %zu records in one transaction, %zu refused%s\n", sent ? n_ok : 0,
            refused, sent ? "" : " (the transaction failed: nothing was sent)");
    if (!sent) rc = CLI_EXIT_FAIL;
  }
  if (rc == CLI_EXIT_OK && refused > 0 && !ctx->dry_run) rc = CLI_EXIT_FAIL;
  free(topics);
  free(ok);
  return rc;
}

/* ---- main --------------------------------------------------------------- */


static void dlq_free(dlq_ctx_t *ctx) {
  for (size_t i = 0; i < ctx->n_held; i++) rd_kafka_message_destroy(ctx->held[i]);
  free(ctx->held);
  if (ctx->rk) {
    rd_kafka_consumer_close(ctx->rk);
    rd_kafka_destroy(ctx->rk);
  }
  free(ctx->at_end);
  json_decref(ctx->summary);
  cli_common_free(&ctx->common);
}

static json_t *dlq_summary_new(const dlq_ctx_t *ctx) {
  return json_pack("{s:s, s:i, s:{}, s:{}, s:n, s:n, s:{}}", "topic", ctx->topic, "total", 0,
                   "by_reason", "by_source_topic", "first_timestamp_ms", "last_timestamp_ms",
                   "per_hour");
}

int cli_dlq_main(int argc, char **argv) {
  dlq_ctx_t ctx;
  memset(&ctx, 0, sizeof ctx);
  cli_common_init(&ctx.common);
  ctx.from_ms = INT64_MIN;
  ctx.to_ms = INT64_MAX;
  ctx.timeout_ms = DLQ_TIMEOUT_MS;
  int rc = dlq_parse_args(&ctx, argc, argv);
  if (rc != 0) {
    if (rc > 0) cli_help(&cli_cmd_dlq, stdout);
    cli_common_free(&ctx.common);
    return rc > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
  }
  ctx.deadline = cli_now_ms() + ctx.timeout_ms;
  if (ctx.cmd == DLQ_SUMMARY) ctx.summary = dlq_summary_new(&ctx);
  rc = dlq_open(&ctx);
  if (rc == CLI_EXIT_OK) rc = dlq_read(&ctx);
  if (rc == CLI_EXIT_OK && ctx.cmd == DLQ_SUMMARY) {
    json_object_set_new(ctx.summary, "total", json_integer(ctx.matched));
    rc = cli_print_json_line(json_incref(ctx.summary)) < 0 ? CLI_EXIT_FAIL : CLI_EXIT_OK;
  } else if (rc == CLI_EXIT_OK && ctx.cmd == DLQ_REDRIVE) {
    rc = dlq_redrive(&ctx);
  }
  dlq_free(&ctx);
  return rc;
}

static const char dlq_synopsis[] =
    "greenlight dlq summary|list|redrive [-b BOOTSTRAP] [-X prop=value ...] [--prefix P]\n"
    "               [--topic T] [--reason R] [--source-topic T] [--key K]\n"
    "               [--from TIME] [--to TIME] [--count N] [--timeout-ms T]\n"
    "               [--dry-run] [--yes]\n";
static const char dlq_help[] =
    "Reads the dead-letter topic (greenlight.dlq, or --topic; with the prefix)\n"
    "read_committed from its beginning to its end, keeps the records that\n"
    "match every filter given, and\n"
    "summary   prints one JSON object: total, by_reason (dlq.reason),\n"
    "          by_source_topic (dlq.topic), first_timestamp_ms,\n"
    "          last_timestamp_ms and per_hour (UTC hour of the record timestamp)\n"
    "list      prints them as JSON lines, as `greenlight tail --raw` does\n"
    "redrive   sends each one again to its source topic (dlq.topic, prefix\n"
    "          included), partitioned by its key (murmur2, as upstream), with\n"
    "          its original key, value bytes, timestamp and headers except\n"
    "          dlq.*, plus redriven-from: \"<dlq topic>:<partition>:<offset>\";\n"
    "          all in one transaction: all are sent or none. Refused, and not\n"
    "          sent: a record without dlq.topic, one whose value or key was cut\n"
    "          to fit the DLQ (dlq.value.truncated, dlq.key.truncated), and one\n"
    "          whose bytes themselves were refused (dlq.reason decode_error,\n"
    "          unknown_payload, key_mismatch, invalid, unknown_enum or\n"
    "          too_large): the same bytes would be refused again. The daemons\n"
    "          drop an event id they already applied, so a second re-drive of\n"
    "          an applied record changes nothing.\n"
    "--reason R        dlq.reason is R (e.g. expired_unmatched)\n"
    "--source-topic T  dlq.topic is T (the full name, prefix included)\n"
    "--key K           the record key is K\n"
    "--from/--to TIME  record timestamp at or after / at or before TIME: epoch\n"
    "                  ms or RFC 3339 (2026-01-05T08:00:00Z)\n"
    "--count N         only the first N matching records\n"
    "--timeout-ms T    give up (exit 1) after T ms (default 30000)\n"
    "--dry-run         (redrive) print what would be sent as JSON lines, send nothing\n"
    "--yes             (redrive) required to send\n";
static const char dlq_examples[] =
    "greenlight dlq summary --from 2026-01-05T00:00:00Z\n"
    "greenlight dlq list --reason expired_unmatched --count 10\n"
    "greenlight dlq redrive --reason expired_unmatched --dry-run\n"
    "greenlight dlq redrive --reason expired_unmatched --yes\n";
static const char *const dlq_words[] = {"summary", "list", "redrive", NULL};

const cli_command_t cli_cmd_dlq = {
    .name = "dlq",
    .summary = "summarize, list or re-drive the dead-letter topic",
    .synopsis = dlq_synopsis,
    .help = dlq_help,
    .examples = dlq_examples,
    .options = dlq_options,
    .shortopts = NULL,
    .words = dlq_words,
    .main = cli_dlq_main,
};
