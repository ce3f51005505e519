/* greenlight produce: reads events as JSON lines and produces them to the
 * input topics, the way an upstream system would.
 *
 * Every line is either an Envelope in JSON (routed by its payload, keyed by
 * its order_id, timestamped with its occurred_at_ms) or a raw record
 * {"topic":..,"key":..,"value_hex":..} sent byte for byte, which is how the
 * tests inject records greenlight must refuse. The producer uses the
 * Java-compatible partitioner so that a key lands on the same partition as
 * it would from an upstream Java producer.
 *
 * Every envelope is judged before it is sent with the daemons' own code
 * (gl_envelope_validate), so what they would refuse never reaches the topic
 * unless --no-validate says so. The producer is created at the first record
 * to send, so input that is refused from its first line (with --strict)
 * exits 2 without a connection being made.
 *
 * The functions that handle a line return GL_OK, GL_ECONFIG when the input
 * is refused (exit 2) or GL_EBROKER when Kafka refused or could not be
 * reached (exit 1), with the detail in err. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

#include <jansson.h>

#include "cli.h"
#include "greenlight/gl_codec.h"
#include "greenlight/gl_json.h"

/* Default (unprefixed) input topics. */
#define TOPIC_ORDERS "greenlight.orders"
#define TOPIC_APPROVALS "greenlight.approvals"
#define TOPIC_BATCHES "greenlight.batches"
#define TOPIC_SHIPMENTS "greenlight.shipments"
#define TOPIC_CLOCK "greenlight.clock"

/* How many delivery failures are printed one by one before only counting. */
#define PRODUCE_MAX_REPORTED_FAILURES 20

enum {
  OPT_FILE = CLI_OPT_FIRST_OWN,
  OPT_STRICT,
  OPT_NO_VALIDATE,
  OPT_TIMEOUT,
  OPT_TRANSACTIONAL,
};

/* The partition count of one topic, looked up once per run. */
typedef struct produce_topic_parts {
  char *topic;
  int32_t count;
} produce_topic_parts_t;

/* Everything one `greenlight produce` run needs. */
typedef struct produce_ctx {
  cli_common_t common;
  const char *file;   /* NULL or "-" = standard input. */
  bool strict;        /* Stop at the first bad line. */
  bool validate;      /* Run the codec's validation before sending. */
  bool transactional; /* All records in one transaction: visible together or not at all. */
  long long timeout_ms;
  const char *input;  /* The input's name in messages: the file, or "stdin". */
  rd_kafka_conf_t *conf; /* Checked before the input is read; rd_kafka_new() takes it. */
  rd_kafka_t *rk;     /* Created at the first record to send. */
  int open_rc;        /* GL_OK, or why the producer could not be created or started. */
  long bad_lines;
  long enqueued;      /* Records handed to librdkafka. */
  long delivered;     /* Delivery reports without error. */
  long failed;        /* Delivery reports with an error, and refused produce calls. */
  long unsent;        /* Lines not sent for Kafka's reasons (no producer, no metadata). */
  int reported_failures;
  produce_topic_parts_t *parts;
  size_t n_parts;
} produce_ctx_t;

static void produce_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  produce_ctx_t *ctx = opaque;
  (void)rk;
  if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    ctx->delivered++;
    return;
  }
  ctx->failed++;
  if (ctx->reported_failures++ < PRODUCE_MAX_REPORTED_FAILURES)
    cli_err("%s:%ld: delivery to %s failed: %s", ctx->input, (long)(intptr_t)m->_private,
            rd_kafka_topic_name(m->rkt), rd_kafka_err2str(m->err));
}

/* True once the producer hit a fatal error (e.g. fenced); the error
 * callback (cli_kafka_conf) has reported it. */
static bool produce_fatal(const produce_ctx_t *ctx) {
  char buf[8];
  return ctx->rk && rd_kafka_fatal_error(ctx->rk, buf, sizeof buf) != RD_KAFKA_RESP_ERR_NO_ERROR;
}

/* Creates the producer from the checked configuration, and with
 * --transactional starts the one transaction. A refusal by rd_kafka_new()
 * is a bad combination of settings (GL_ECONFIG); a transaction that cannot
 * start is the broker's (GL_EBROKER). Reports either. */
static int produce_open(produce_ctx_t *ctx) {
  ctx->rk = cli_producer_open(ctx->conf);
  ctx->conf = NULL; /* Taken, also on failure. */
  if (!ctx->rk) return GL_ECONFIG;
  if (!ctx->transactional || cli_txn_start(ctx->rk, (int)ctx->timeout_ms) == 0) return GL_OK;
  return GL_EBROKER;
}

/* The producer, opened at the first record to send and tried once: the
 * result stays in open_rc. Returns it; on failure writes into err why the
 * record at hand is not sent. */
static int produce_client(produce_ctx_t *ctx, char *err, size_t errlen) {
  if (!ctx->rk && ctx->open_rc == GL_OK) ctx->open_rc = produce_open(ctx);
  if (ctx->open_rc < 0)
    snprintf(err, errlen, "not sent: the producer could not %s", ctx->rk ? "start" : "be created");
  return ctx->open_rc;
}

/* The default topic of a payload case, or NULL if the case is not set. */
static const char *produce_default_topic(Greenlight__V1__Envelope__PayloadCase pc) {
  switch (pc) {
    case GREENLIGHT__V1__ENVELOPE__PAYLOAD_ORDER_PLACED:
    case GREENLIGHT__V1__ENVELOPE__PAYLOAD_ORDER_CANCELLED: return TOPIC_ORDERS;
    case GREENLIGHT__V1__ENVELOPE__PAYLOAD_APPROVAL_GRANTED:
    case GREENLIGHT__V1__ENVELOPE__PAYLOAD_APPROVAL_DENIED: return TOPIC_APPROVALS;
    case GREENLIGHT__V1__ENVELOPE__PAYLOAD_BATCH_QUEUED: return TOPIC_BATCHES;
    case GREENLIGHT__V1__ENVELOPE__PAYLOAD_SHIPMENT_CLEARED: return TOPIC_SHIPMENTS;
    case GREENLIGHT__V1__ENVELOPE__PAYLOAD_TICK: return TOPIC_CLOCK;
    default: return NULL;
  }
}

/* Hands one record to librdkafka, waiting while its queue is full. On
 * success the headers belong to librdkafka; on failure they are freed. */
static int produce_send(produce_ctx_t *ctx, const char *topic, int32_t partition, const void *key,
                        size_t key_len, const void *val, size_t val_len, int64_t ts,
                        rd_kafka_headers_t *hdrs, long lineno, char *err, size_t errlen) {
  int rc = produce_client(ctx, err, errlen);
  if (rc < 0) {
    if (hdrs) rd_kafka_headers_destroy(hdrs);
    return rc;
  }
  for (;;) {
    rd_kafka_resp_err_t e = rd_kafka_producev(
        ctx->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
        RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_VALUE((void *)val, val_len),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_TIMESTAMP(ts),
        RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE((void *)(intptr_t)lineno), RD_KAFKA_V_END);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
      ctx->enqueued++;
      return GL_OK;
    }
    if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL && !cli_stop_requested() && !produce_fatal(ctx)) {
      rd_kafka_poll(ctx->rk, 100);
      continue;
    }
    if (hdrs) rd_kafka_headers_destroy(hdrs);
    ctx->failed++;
    snprintf(err, errlen, "cannot produce to %s: %s", topic, rd_kafka_err2str(e));
    return GL_EBROKER;
  }
}

/* The headers of an envelope record: content type and message type, so a
 * generic consumer can decode it. */
static rd_kafka_headers_t *produce_envelope_headers(void) {
  rd_kafka_headers_t *h = rd_kafka_headers_new(2);
  rd_kafka_header_add(h, GL_HDR_CONTENT_TYPE, -1, GL_CONTENT_TYPE, -1);
  rd_kafka_header_add(h, GL_HDR_MESSAGE_TYPE, -1, greenlight__v1__envelope__descriptor.name, -1);
  return h;
}

/* Finds how many partitions topic has, asking the cluster once. */
static int produce_partition_count(produce_ctx_t *ctx, const char *topic, int32_t *count,
                                   char *err, size_t errlen) {
  for (size_t i = 0; i < ctx->n_parts; i++) {
    if (strcmp(ctx->parts[i].topic, topic) == 0) {
      *count = ctx->parts[i].count;
      return GL_OK;
    }
  }
  int rc = produce_client(ctx, err, errlen);
  if (rc < 0) return rc;
  rd_kafka_topic_t *rkt = rd_kafka_topic_new(ctx->rk, topic, NULL);
  if (!rkt) {
    snprintf(err, errlen, "topic %s: %s", topic, rd_kafka_err2str(rd_kafka_last_error()));
    return GL_EBROKER;
  }
  /* A topic that is being created reports no leader for a moment; retry a
   * few times before giving up. */
  rc = GL_EBROKER;
  for (int attempt = 0; attempt < 10 && !cli_stop_requested(); attempt++) {
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(ctx->rk, 0, rkt, &md, 10000);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
      snprintf(err, errlen, "cannot read the partitions of %s: %s", topic, rd_kafka_err2str(e));
      break;
    }
    e = md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
    int32_t n = md->topic_cnt == 1 ? md->topics[0].partition_cnt : 0;
    rd_kafka_metadata_destroy(md);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR && n > 0) {
      *count = n;
      rc = GL_OK;
      break;
    }
    if (e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
      snprintf(err, errlen, "topic %s does not exist", topic);
      break;
    }
    snprintf(err, errlen, "topic %s: %s", topic,
             e ? rd_kafka_err2str(e) : "no partitions reported");
    rd_kafka_poll(ctx->rk, 500);
  }
  rd_kafka_topic_destroy(rkt);
  if (rc == 0) {
    produce_topic_parts_t *grown = realloc(ctx->parts, (ctx->n_parts + 1) * sizeof *grown);
    if (!grown) abort();
    ctx->parts = grown;
    ctx->parts[ctx->n_parts].topic = strdup(topic);
    ctx->parts[ctx->n_parts].count = *count;
    if (!ctx->parts[ctx->n_parts].topic) abort();
    ctx->n_parts++;
  }
  return rc;
}

/* Reads an optional string member; returns -1 if present but not a string. */
static int produce_opt_string(const json_t *obj, const char *name, const char **out, char *err,
                              size_t errlen) {
  const json_t *v = json_object_get(obj, name);
  *out = NULL;
  if (!v) return GL_OK;
  if (!json_is_string(v)) {
    snprintf(err, errlen, "\"%s\" must be a string", name);
    return GL_ECONFIG;
  }
  *out = json_string_value(v);
  return GL_OK;
}

/* Reads an optional integer member in [0, max]; *out is left as it is when
 * the member is absent. */
static int produce_opt_int(const json_t *obj, const char *name, long long max, long long *out,
                           char *err, size_t errlen) {
  const json_t *v = json_object_get(obj, name);
  if (!v) return GL_OK;
  if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > max) {
    snprintf(err, errlen, "\"%s\" must be an integer from 0 to %lld", name, max);
    return GL_ECONFIG;
  }
  *out = json_integer_value(v);
  return GL_OK;
}

/* The "headers" of a raw line (an object of strings, or absent) as Kafka
 * headers in *out (NULL when there are none). */
static int produce_raw_headers(const json_t *hj, rd_kafka_headers_t **out, char *err,
                               size_t errlen) {
  *out = NULL;
  if (hj && !json_is_object(hj)) {
    snprintf(err, errlen, "\"headers\" must be an object of strings");
    return GL_ECONFIG;
  }
  if (!hj || json_object_size(hj) == 0) return GL_OK;
  const char *name;
  const json_t *v;
  json_object_foreach((json_t *)hj, name, v) {
    if (!json_is_string(v)) {
      snprintf(err, errlen, "header '%s' must be a string", name);
      return GL_ECONFIG;
    }
  }
  *out = rd_kafka_headers_new(json_object_size(hj));
  json_object_foreach((json_t *)hj, name, v)
    rd_kafka_header_add(*out, name, -1, json_string_value(v), (ssize_t)json_string_length(v));
  return GL_OK;
}

/* A raw line: {"topic","key"|"key_hex","value_hex","headers","partition","timestamp_ms"};
 * "key_hex" gives a key that JSON text cannot carry (a NUL byte, invalid UTF-8).
 * A line of `greenlight tail --raw` is one too: its "offset" (where it was
 * read) and "type" (its message-type header, which is in "headers" too)
 * are ignored, and its topic, which carries the prefix already, is
 * not prefixed again. */
static int produce_raw(produce_ctx_t *ctx, const json_t *obj, long lineno, char *err,
                       size_t errlen) {
  static const char *const allowed[] = {"topic",     "key",          "key_hex", "value_hex",
                                        "headers",   "partition",    "timestamp_ms",
                                        "offset",    "type"};
  const char *name;
  const json_t *v;
  json_object_foreach((json_t *)obj, name, v) {
    bool ok = false;
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++) ok |= !strcmp(name, allowed[i]);
    if (!ok) {
      snprintf(err, errlen,
               "unknown key '%s' in a raw record (expected topic, key, key_hex, value_hex, "
               "headers, partition, timestamp_ms; offset and type are ignored)",
               name);
      return GL_ECONFIG;
    }
  }
  const char *topic, *key, *key_hex, *hex;
  long long partition = RD_KAFKA_PARTITION_UA, ts = 0;
  if (produce_opt_string(obj, "topic", &topic, err, errlen) < 0 ||
      produce_opt_string(obj, "key", &key, err, errlen) < 0 ||
      produce_opt_string(obj, "key_hex", &key_hex, err, errlen) < 0 ||
      produce_opt_string(obj, "value_hex", &hex, err, errlen) < 0 ||
      produce_opt_int(obj, "partition", INT32_MAX, &partition, err, errlen) < 0 ||
      produce_opt_int(obj, "timestamp_ms", INT64_MAX, &ts, err, errlen) < 0)
    return GL_ECONFIG;
  if (!topic || !topic[0] || (key && key_hex)) {
    snprintf(err, errlen, "a raw record needs \"topic\", and \"key\" or \"key_hex\" (not both)");
    return GL_ECONFIG;
  }
  uint8_t *val = NULL, *kbuf = NULL;
  size_t val_len = 0, key_len = key ? strlen(key) : 0;
  if (cli_hex_decode(hex, &val, &val_len) < 0 ||
      (key_hex && cli_hex_decode(key_hex, &kbuf, &key_len) < 0)) {
    snprintf(err, errlen, "\"value_hex\" or \"key_hex\" is not hex (an even number of digits)");
    free(val);
    return GL_ECONFIG;
  }
  const void *kp = key_hex ? (const void *)kbuf : key;
  char full[256];
  rd_kafka_headers_t *hdrs = NULL;
  int rc = GL_ECONFIG;
  size_t plen = strlen(ctx->common.prefix);
  bool prefixed = plen > 0 && strncmp(topic, ctx->common.prefix, plen) == 0;
  if (prefixed ? snprintf(full, sizeof full, "%s", topic) >= (int)sizeof full
               : cli_topic_name(&ctx->common, topic, full, sizeof full) < 0)
    snprintf(err, errlen, "topic name too long");
  else if ((rc = produce_raw_headers(json_object_get(obj, "headers"), &hdrs, err, errlen)) == GL_OK)
    rc = produce_send(ctx, full, (int32_t)partition, kp, key_len, val, val_len, ts, hdrs, lineno,
                      err, errlen);
  free(val);
  free(kbuf);
  return rc;
}

/* Writes a tick to every partition of topic, each stamped with its own
 * partition number. */
static int produce_ticks(produce_ctx_t *ctx, Greenlight__V1__Envelope *env, const char *topic,
                         const char *key, long lineno, char *err, size_t errlen) {
  int32_t n;
  int rc = produce_partition_count(ctx, topic, &n, err, errlen);
  if (rc < 0) return rc;
  for (int32_t p = 0; p < n; p++) {
    env->tick->partition = p;
    uint8_t *buf = NULL;
    size_t len = gl_message_pack(&env->base, &buf);
    rc = produce_send(ctx, topic, p, key, key ? strlen(key) : 0, buf, len, env->occurred_at_ms,
                      produce_envelope_headers(), lineno, err, errlen);
    free(buf);
    if (rc < 0) return rc;
  }
  return GL_OK;
}

/* Judges the packed envelope and the key it will be sent with as a daemon
 * will, with the daemons' own code: GL_OK, or GL_ECONFIG with
 * "REASON: DETAIL" in err, REASON being the dlq.reason a daemon would give. */
static int produce_validate(const uint8_t *buf, size_t len, const char *key, char *err,
                            size_t errlen) {
  char detail[512];
  const char *reason =
      gl_envelope_validate(buf, len, key, key ? strlen(key) : 0, detail, sizeof detail);
  if (!reason) return GL_OK;
  snprintf(err, errlen, "%s: %s (--no-validate sends it anyway)", reason, detail);
  return GL_ECONFIG;
}

/* An envelope line, with optional "topic" and "key" overrides. */
static int produce_envelope(produce_ctx_t *ctx, const json_t *obj, long lineno, char *err,
                            size_t errlen) {
  const char *topic_override, *key_override;
  if (produce_opt_string(obj, "topic", &topic_override, err, errlen) < 0 ||
      produce_opt_string(obj, "key", &key_override, err, errlen) < 0)
    return GL_ECONFIG;
  json_t *body = json_copy((json_t *)obj);
  if (!body) abort();
  json_object_del(body, "topic");
  json_object_del(body, "key");
  Greenlight__V1__Envelope *env = (Greenlight__V1__Envelope *)gl_json_to_message(
      &greenlight__v1__envelope__descriptor, body, err, errlen);
  json_decref(body);
  if (!env) return GL_ECONFIG;

  int rc = GL_ECONFIG;
  uint8_t *buf = NULL;
  size_t len = gl_message_pack(&env->base, &buf);
  const char *topic = topic_override ? topic_override : produce_default_topic(env->payload_case);
  if (!topic) {
    snprintf(err, errlen,
             "no payload: expected one of order_placed, order_cancelled, approval_granted, "
             "approval_denied, batch_queued, shipment_cleared, tick (or give \"topic\")");
    goto out;
  }
  /* The key: the override, else the order_id; validated with the value, as
   * the daemon will (it refuses a key that is not the order_id). */
  const char *key = key_override ? key_override : gl_envelope_order_id(env);
  if (key && !key[0]) key = NULL;
  size_t key_len = key ? strlen(key) : 0;
  char full[256];
  if (ctx->validate && produce_validate(buf, len, key, err, errlen) < 0) goto out;
  size_t plen = strlen(ctx->common.prefix);
  bool prefixed = plen > 0 && strncmp(topic, ctx->common.prefix, plen) == 0;
  if (prefixed ? snprintf(full, sizeof full, "%s", topic) >= (int)sizeof full
               : cli_topic_name(&ctx->common, topic, full, sizeof full) < 0) {
    snprintf(err, errlen, "topic name too long");
    goto out;
  }
  if (env->payload_case == GREENLIGHT__V1__ENVELOPE__PAYLOAD_TICK) {
    rc = produce_ticks(ctx, env, full, key, lineno, err, errlen);
  } else {
    rc = produce_send(ctx, full, RD_KAFKA_PARTITION_UA, key, key_len, buf, len,
                      env->occurred_at_ms, produce_envelope_headers(), lineno, err, errlen);
  }
out:
  free(buf);
  protobuf_c_message_free_unpacked(&env->base, NULL); /* Built from JSON, not decoded. */
  return rc;
}

/* One input line (without its newline). */
static int produce_line(produce_ctx_t *ctx, const char *line, size_t len, long lineno, char *err,
                        size_t errlen) {
  json_error_t jerr;
  json_t *obj = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
  if (!obj) {
    snprintf(err, errlen, "invalid JSON at column %d: %s", jerr.column, jerr.text);
    return GL_ECONFIG;
  }
  int rc;
  if (!json_is_object(obj)) {
    snprintf(err, errlen, "expected a JSON object");
    rc = GL_ECONFIG;
  } else if (json_object_get(obj, "value_hex")) {
    rc = produce_raw(ctx, obj, lineno, err, errlen);
  } else {
    rc = produce_envelope(ctx, obj, lineno, err, errlen);
  }
  json_decref(obj);
  return rc;
}

static bool produce_blank(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!isspace((unsigned char)s[i])) return false;
  return true;
}

/* Waits for every delivery report; what is still undelivered after the
 * deadline is purged and counted as failed. With --transactional, commits
 * if everything went, else aborts. Nothing to do if no producer was made. */
static void produce_finish(produce_ctx_t *ctx) {
  if (!ctx->rk) return;
  if (rd_kafka_flush(ctx->rk, (int)ctx->timeout_ms + 5000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    cli_err("%d records still undelivered after %lld ms; giving up on them",
            rd_kafka_outq_len(ctx->rk), ctx->timeout_ms + 5000);
    rd_kafka_purge(ctx->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_flush(ctx->rk, 2000);
  }
  long unaccounted = ctx->enqueued - ctx->delivered - ctx->failed;
  if (unaccounted > 0) ctx->failed += unaccounted;
  if (!ctx->transactional || ctx->open_rc < 0 || produce_fatal(ctx)) return;
  /* All or nothing: a bad line, a failed record or an interruption aborts. */
  bool commit = ctx->failed == 0 && ctx->unsent == 0 && ctx->bad_lines == 0 &&
                !cli_stop_requested();
  rd_kafka_error_t *err = commit ? rd_kafka_commit_transaction(ctx->rk, -1)
                                 : rd_kafka_abort_transaction(ctx->rk, -1);
  if (err || !commit) {
    cli_err("transaction %s%s%s; none of its records is visible to read_committed readers",
            commit ? "commit failed: " : "aborted", err ? (commit ? "" : ": ") : "",
            err ? rd_kafka_error_string(err) : "");
    ctx->failed += ctx->delivered;
    ctx->delivered = 0;
  }
  if (err) rd_kafka_error_destroy(err);
}

/* One option of produce's own. Returns 0 or -1 (reported). */
static int produce_opt(void *arg_ctx, int opt, const char *arg) {
  produce_ctx_t *ctx = arg_ctx;
  switch (opt) {
    case 'f':
    case OPT_FILE: ctx->file = arg; break;
    case OPT_STRICT: ctx->strict = true; break;
    case OPT_TRANSACTIONAL: ctx->transactional = true; break;
    case OPT_NO_VALIDATE: ctx->validate = false; break;
    case OPT_TIMEOUT:
      if (cli_parse_int(arg, 1, 3600000, &ctx->timeout_ms) < 0) {
        cli_err("--timeout-ms: expected milliseconds from 1 to 3600000, got '%s'", arg);
        return -1;
      }
      break;
  }
  return 0;
}

static const struct option produce_options[] = {
    CLI_COMMON_LONGOPTS,
    {"file", required_argument, NULL, OPT_FILE},
    {"strict", no_argument, NULL, OPT_STRICT},
    {"transactional", no_argument, NULL, OPT_TRANSACTIONAL},
    {"no-validate", no_argument, NULL, OPT_NO_VALIDATE},
    {"timeout-ms", required_argument, NULL, OPT_TIMEOUT},
    {NULL, 0, NULL, 0},
};

/* Parses the options of `greenlight produce`. Returns -1 on a usage error,
 * 1 if help was asked for, else 0. */
static int produce_parse_args(produce_ctx_t *ctx, int argc, char **argv) {
  if (cli_parse_opts(&ctx->common, argc, argv, cli_cmd_produce.shortopts, produce_options,
                     produce_opt, ctx) < 0)
    return -1;
  if (ctx->common.help) return 1;
  if (optind < argc) {
    cli_err("unexpected argument '%s' (use --file to name the input)", argv[optind]);
    return -1;
  }
  return 0;
}

/* The producer's configuration, with the settings every greenlight producer
 * uses, checked before any input is read: a property librdkafka refuses is
 * a bad setting. The producer itself is made at the first record
 * (produce_client). Returns GL_OK or GL_ECONFIG (reported). */
static int produce_prepare(produce_ctx_t *ctx) {
  ctx->conf = cli_producer_conf(&ctx->common, "produce", ctx->timeout_ms, ctx->transactional,
                                produce_dr_cb, ctx);
  return ctx->conf ? GL_OK : GL_ECONFIG;
}

/* Sends every line of in; stops at the first bad one with --strict, at a
 * signal, or once the producer cannot go on. Returns false on a read error
 * (reported). */
static bool produce_lines(produce_ctx_t *ctx, FILE *in) {
  char *line = NULL;
  size_t cap = 0;
  long lineno = 0;
  bool read_ok = true;
  while (!cli_stop_requested() && !produce_fatal(ctx) && ctx->open_rc == GL_OK) {
    errno = 0;
    ssize_t n = getline(&line, &cap, in);
    if (n < 0) {
      read_ok = !ferror(in) || errno == EINTR;
      if (!read_ok) cli_err("cannot read %s: %s", ctx->input, strerror(errno));
      break;
    }
    lineno++;
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
    if (produce_blank(line, (size_t)n)) continue;
    char err[1024];
    int rc = produce_line(ctx, line, (size_t)n, lineno, err, sizeof err);
    if (rc < 0) {
      cli_err("%s:%ld: %s", ctx->input, lineno, err);
      if (rc == GL_ECONFIG) ctx->bad_lines++;
      else ctx->unsent++;
      if (ctx->strict) break;
    }
    if (ctx->rk) rd_kafka_poll(ctx->rk, 0);
  }
  free(line);
  return read_ok;
}

/* The exit code of a run (the table in greenlight.c): a Kafka failure
 * first, since running again may help; then refused input, which only a
 * human can fix. */
static int produce_exit_code(const produce_ctx_t *ctx, bool read_ok) {
  if (!read_ok || produce_fatal(ctx) || ctx->open_rc == GL_EBROKER || ctx->failed > 0 ||
      ctx->unsent > 0)
    return CLI_EXIT_FAIL;
  if (ctx->bad_lines > 0 || ctx->open_rc == GL_ECONFIG) return CLI_EXIT_USAGE;
  return CLI_EXIT_OK;
}

static void produce_free(produce_ctx_t *ctx) {
  if (ctx->rk) rd_kafka_destroy(ctx->rk);
  if (ctx->conf) rd_kafka_conf_destroy(ctx->conf);
  for (size_t i = 0; i < ctx->n_parts; i++) free(ctx->parts[i].topic);
  free(ctx->parts);
  cli_common_free(&ctx->common);
}

int cli_produce_main(int argc, char **argv) {
  produce_ctx_t ctx;
  memset(&ctx, 0, sizeof ctx);
  cli_common_init(&ctx.common);
  ctx.validate = true;
  ctx.timeout_ms = 30000;
  int rc = produce_parse_args(&ctx, argc, argv);
  if (rc != 0 || produce_prepare(&ctx) < 0) {
    if (rc > 0) cli_help(&cli_cmd_produce, stdout);
    produce_free(&ctx);
    return rc > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
  }
  FILE *in = stdin;
  ctx.input = "stdin";
  if (ctx.file && strcmp(ctx.file, "-") != 0) {
    ctx.input = ctx.file;
    in = fopen(ctx.file, "r");
    if (!in) {
      cli_err("cannot open %s: %s", ctx.file, strerror(errno));
      produce_free(&ctx);
      return CLI_EXIT_USAGE;
    }
  }
  bool read_ok = produce_lines(&ctx, in);
  if (in != stdin) fclose(in);
  if (cli_stop_requested()) cli_err("interrupted; flushing what was produced");
  produce_finish(&ctx);
  fprintf(stderr, "produced %ld records (%ld failed)\n", ctx.delivered, ctx.failed);
  rc = produce_exit_code(&ctx, read_ok);
  produce_free(&ctx);
  return rc;
}

static const char produce_synopsis[] =
    "greenlight produce [-b BOOTSTRAP] [-X prop=value ...] [--prefix P]\n"
    "                   [--file F|-] [--strict] [--transactional] [--no-validate]\n"
    "                   [--timeout-ms T]\n";
static const char produce_help[] =
    "Reads events as JSON lines and produces them to the input topics. Each\n"
    "line is one greenlight.v1.Envelope in JSON, e.g.\n"
    "  {\"event_id\":\"E-1\",\"occurred_at_ms\":1767571200000,\"source\":\"erp.bytedance\",\n"
    "   \"order_placed\":{\"order_id\":\"O-1\",\"buyer_id\":\"bytedance\",\"units\":200000,\n"
    "                   \"end_use\":\"COMMERCIAL_CLOUD\"}}\n"
    "optionally with \"topic\" and \"key\" to override the routing. The topic\n"
    "follows the payload (order_placed/order_cancelled -> greenlight.orders,\n"
    "approval_granted/approval_denied -> greenlight.approvals, batch_queued ->\n"
    "greenlight.batches, shipment_cleared -> greenlight.shipments, tick ->\n"
    "greenlight.clock, written to every partition); the key is the order_id;\n"
    "the record timestamp is occurred_at_ms. A line\n"
    "  {\"topic\":\"T\",\"key\":\"K\",\"value_hex\":\"0a03...\"}\n"
    "(optional \"headers\":{\"name\":\"value\"}, \"partition\":N, \"timestamp_ms\":T;\n"
    "\"key_hex\":\"..\" instead of \"key\" for a key JSON text cannot hold)\n"
    "sends raw bytes as they are; so does a line of `greenlight tail --raw`\n"
    "(its \"offset\" is ignored; its topic, prefix included, is not prefixed\n"
    "again). Blank lines are skipped.\n"
    "\n"
    "Before it is sent, every envelope is judged by the daemons' own code (the\n"
    "codec's gl_envelope_validate, which orderd runs on every record): the\n"
    "checks they make on a record alone (size and string limits, UTF-8, enums,\n"
    "required fields and ranges, the key = the order_id); the policy and the\n"
    "order's state are theirs. A bad line is reported as\n"
    "  greenlight: produce: FILE:LINE: REASON: DETAIL\n"
    "(FILE is \"stdin\" for standard input; REASON is the dlq.reason the daemon\n"
    "would give, e.g. invalid, unknown_enum, key_mismatch; an enum name it does\n"
    "not know lists the allowed ones) and skipped; the exit code is then 2.\n"
    "Ends with 'produced N records (M failed)' on standard error.\n"
    "\n"
    "  --file F, -f F    read F instead of standard input (\"-\" = standard input)\n"
    "  --strict          stop at the first bad line (nothing after it is sent)\n"
    "  --transactional   produce everything in one transaction: read_committed\n"
    "                    readers see all of it at once, or none of it\n"
    "  --no-validate     send envelopes that fail that validation (tests)\n"
    "  --timeout-ms T    give up on undelivered records after T ms (default 30000)\n";
static const char produce_examples[] =
    "greenlight produce --file orders.jsonl --strict\n"
    "greenlight produce --transactional -b kafka-1:9092 < day.jsonl\n"
    "greenlight tail greenlight.orders --offset -10 --exit-at-end --raw > last10.jsonl\n"
    "greenlight produce --file last10.jsonl\n";

const cli_command_t cli_cmd_produce = {
    .name = "produce",
    .summary = "read events as JSON lines and produce them to the input topics",
    .synopsis = produce_synopsis,
    .help = produce_help,
    .examples = produce_examples,
    .options = produce_options,
    .shortopts = "f:",
    .words = NULL,
    .main = cli_produce_main,
};
