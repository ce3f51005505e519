/* greenlight replay: copies a fixed slice of one topic into another (or
 * into itself), record for record, as an operator re-drives a downstream.
 *
 * The slice is fixed when the replay starts: every partition is read
 * (read_committed, manual assignment, no consumer group) from the start
 * asked for up to its high watermark at that moment, or up to the first
 * offset stamped at or after --until, whichever comes first. Records
 * appended later are not copied, which is what lets DEST equal SOURCE.
 *
 * Each record keeps its key, value bytes, headers and timestamp; a keyed
 * record is produced by key through the Java-compatible partitioner (as an
 * upstream Java producer would place it), a keyless one to the partition
 * number it had in SOURCE. With --transactional the whole copy is one
 * transaction. A token bucket holds the pace to --rate. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "greenlight/gl_codec.h"

/* How often progress is shown: redrawn on a terminal, a JSON line otherwise. */
#define REPLAY_TTY_PERIOD_MS 200
#define REPLAY_LOG_PERIOD_MS 5000
/* How long the producer may take to deliver what is left at the end. */
#define REPLAY_FLUSH_MS 60000

enum {
  OPT_TO_TOPIC = CLI_OPT_FIRST_OWN,
  OPT_FROM,
  OPT_UNTIL,
  OPT_OFFSET,
  OPT_PARTITION,
  OPT_KEY,
  OPT_TYPE,
  OPT_RATE,
  OPT_END_OFFSET,
  OPT_DRY_RUN,
  OPT_TRANSACTIONAL,
};

/* One source partition of the slice. */
typedef struct replay_part {
  int32_t id;
  int64_t start; /* The first offset of the slice. */
  int64_t end;   /* The offset after the slice: the watermark or --until's offset. */
  int64_t next;  /* The next offset not yet handled (copied or skipped). */
  bool done;
} replay_part_t;

/* Everything one `greenlight replay` run needs. */
typedef struct replay_ctx {
  cli_common_t common;
  const char *source_arg, *dest_arg; /* As given, before the prefix. */
  char source[256], dest[256];
  int64_t from_ms;        /* --from, or -1. */
  int64_t until_ms;       /* --until, or -1. */
  int64_t offset;         /* --offset N, or -1 for the earliest. */
  int64_t end_offset;     /* --end-offset N (one partition), or -1. */
  bool start_given;
  int32_t partition;      /* --partition, or -1. */
  const char *key;        /* --key, or NULL. */
  const char *type;       /* --type (a payload field of the Envelope), or NULL. */
  uint32_t type_case;     /* Its payload case. */
  long long rate;         /* --rate records/s; 0 = as fast as possible. */
  bool dry_run, transactional;
  rd_kafka_t *consumer, *producer;
  int32_t n_source, n_dest;
  replay_part_t *parts;
  int n_parts, n_done;
  long long total, copied, skipped, undecodable, delivered, failed;
  double tokens;          /* The rate's bucket. */
  int64_t t_start, t_refill, t_shown;
  bool tty, bar_drawn;
} replay_ctx_t;

/* Counts delivery reports; served by rd_kafka_poll() on the main thread. */
static void replay_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  replay_ctx_t *ctx = opaque;
  (void)rk;
  if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    ctx->delivered++;
    return;
  }
  if (ctx->failed++ < 20)
    cli_err("delivery to %s [%d] failed: %s", ctx->dest, (int)m->partition,
            rd_kafka_err2str(m->err));
}

/* --from, --offset: one start at most. */
static int replay_parse_start(replay_ctx_t *ctx, int opt, const char *arg) {
  if (ctx->start_given) {
    cli_err("give one start: --offset or --from");
    return -1;
  }
  ctx->start_given = true;
  long long n;
  if (opt == OPT_OFFSET && strcmp(arg, "beginning") == 0) return 0;
  if (opt == OPT_OFFSET && cli_parse_int(arg, 0, INT64_MAX, &n) == 0) {
    ctx->offset = n;
    return 0;
  }
  if (opt == OPT_OFFSET) {
    cli_err("--offset: expected N (an offset, 0 or more) or beginning, got '%s'", arg);
    return -1;
  }
  return cli_parse_time_opt("--from", arg, &ctx->from_ms);
}

/* --type NAME: a payload field of greenlight.v1.Envelope. */
static int replay_parse_type(replay_ctx_t *ctx, const char *arg) {
  const ProtobufCFieldDescriptor *f =
      protobuf_c_message_descriptor_get_field_by_name(&greenlight__v1__envelope__descriptor, arg);
  if (!f || !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)) {
    cli_err("--type: '%s' is not an Envelope payload (e.g. order_placed, approval_granted, "
            "batch_queued, shipment_cleared, tick)", arg);
    return -1;
  }
  ctx->type = arg;
  ctx->type_case = f->id;
  return 0;
}

/* The options that take a value and are replay's own. Returns 0 or -1. */
static int replay_parse_opt(void *arg_ctx, int opt, const char *arg) {
  replay_ctx_t *ctx = arg_ctx;
  long long n;
  switch (opt) {
    case OPT_TO_TOPIC: ctx->dest_arg = arg; return 0;
    case OPT_FROM:
    case OPT_OFFSET: return replay_parse_start(ctx, opt, arg);
    case OPT_UNTIL:
      return cli_parse_time_opt("--until", arg, &ctx->until_ms);
    case OPT_PARTITION:
      if (cli_parse_int(arg, 0, INT32_MAX, &n) == 0) {
        ctx->partition = (int32_t)n;
        return 0;
      }
      cli_err("--partition: expected a partition number (0 or more), got '%s'", arg);
      return -1;
    case OPT_END_OFFSET:
      if (cli_parse_int(arg, 0, INT64_MAX, &n) == 0) {
        ctx->end_offset = n;
        return 0;
      }
      cli_err("--end-offset: expected an offset (0 or more), got '%s'", arg);
      return -1;
    case OPT_KEY: ctx->key = arg; return 0;
    case OPT_TYPE: return replay_parse_type(ctx, arg);
    case OPT_RATE:
      if (cli_parse_int(arg, 1, 10000000, &ctx->rate) == 0) return 0;
      cli_err("--rate: expected records per second from 1 to 10000000, got '%s'", arg);
      return -1;
    case OPT_DRY_RUN: ctx->dry_run = true; return 0;
    case OPT_TRANSACTIONAL: ctx->transactional = true; return 0;
    default: return -1;
  }
}

/* What must hold once every option is read. Returns 0 or -1 (reported). */
static int replay_check_args(replay_ctx_t *ctx, int argc, char **argv) {
  if (argc < 1) {
    cli_err("which topic? usage: greenlight replay SOURCE --to-topic DEST [options]");
    return -1;
  }
  if (argc > 1) {
    cli_err("unexpected argument '%s' (one source topic at a time)", argv[1]);
    return -1;
  }
  ctx->source_arg = argv[0];
  if (!ctx->dest_arg) {
    cli_err("--to-topic: where to? give the destination topic (it may be SOURCE itself)");
    return -1;
  }
  if (!ctx->source_arg[0] || !ctx->dest_arg[0]) {
    cli_err("a topic name is empty");
    return -1;
  }
  if (ctx->key && ctx->partition >= 0) {
    cli_err("--key and --partition: give one (a key is read from its own partition)");
    return -1;
  }
  if (ctx->end_offset >= 0 && !ctx->key && ctx->partition < 0) {
    cli_err("--end-offset needs --partition or --key (an offset names one partition's place)");
    return -1;
  }
  if (ctx->from_ms >= 0 && ctx->until_ms >= 0 && ctx->until_ms <= ctx->from_ms) {
    cli_err("--until must be later than --from (the range is [--from, --until))");
    return -1;
  }
  if (cli_topic_name(&ctx->common, ctx->source_arg, ctx->source, sizeof ctx->source) < 0 ||
      cli_topic_name(&ctx->common, ctx->dest_arg, ctx->dest, sizeof ctx->dest) < 0)
    return -1;
  return 0;
}

static const struct option replay_options[] = {
    CLI_COMMON_LONGOPTS,
    {"to-topic", required_argument, NULL, OPT_TO_TOPIC},
    {"from", required_argument, NULL, OPT_FROM},
    {"until", required_argument, NULL, OPT_UNTIL},
    {"offset", required_argument, NULL, OPT_OFFSET},
    {"partition", required_argument, NULL, OPT_PARTITION},
    {"key", required_argument, NULL, OPT_KEY},
    {"type", required_argument, NULL, OPT_TYPE},
    {"rate", required_argument, NULL, OPT_RATE},
    {"end-offset", required_argument, NULL, OPT_END_OFFSET},
    {"dry-run", no_argument, NULL, OPT_DRY_RUN},
    {"transactional", no_argument, NULL, OPT_TRANSACTIONAL},
    {NULL, 0, NULL, 0},
};

/* Parses the options of `greenlight replay`. Returns -1 on a usage error,
 * 1 if help was asked for, else 0. */
static int replay_parse_args(replay_ctx_t *ctx, int argc, char **argv) {
  if (cli_parse_opts(&ctx->common, argc, argv, "", replay_options, replay_parse_opt, ctx) < 0)
    return -1;
  if (ctx->common.help) return 1;
  return replay_check_args(ctx, argc - optind, argv + optind);
}

/* The consumer (as tail's: no group, no commits, read_committed, EOF
 * events) and, unless --dry-run, the producer (as produce's: Java's
 * partitioner, idempotent, with --transactional one transaction id).
 * Connects nothing yet: a failure is a bad setting, -1 reported. */
static int replay_open(replay_ctx_t *ctx) {
  if (!(ctx->consumer = cli_consumer_new(&ctx->common, "replay"))) return -1;
  if (ctx->dry_run) return 0;
  rd_kafka_conf_t *conf =
      cli_producer_conf(&ctx->common, "replay", 0, ctx->transactional, replay_dr_cb, ctx);
  return conf && (ctx->producer = cli_producer_open(conf)) ? 0 : -1;
}

/* The partition count of topic, or -1 (reported). */
static int32_t replay_count(replay_ctx_t *ctx, const char *topic) {
  rd_kafka_topic_t *rkt = rd_kafka_topic_new(ctx->consumer, topic, NULL);
  if (!rkt) {
    cli_err("topic %s: %s", topic, rd_kafka_err2str(rd_kafka_last_error()));
    return -1;
  }
  char problem[512];
  int32_t n = -1;
  if (cli_topic_partitions(ctx->consumer, rkt, 10000, &n, problem, sizeof problem) < 0) {
    cli_err("%s", problem);
    n = -1;
  }
  rd_kafka_topic_destroy(rkt);
  return n;
}

/* The partitions of the slice, each with its watermarks as the start and
 * end. Returns 0, -1, or -2 for a usage error found on the broker. */
static int replay_list_parts(replay_ctx_t *ctx) {
  if ((ctx->n_source = replay_count(ctx, ctx->source)) < 0 ||
      (ctx->n_dest = replay_count(ctx, ctx->dest)) < 0)
    return -1;
  if (ctx->partition >= ctx->n_source) {
    cli_err("--partition %d: %s has %d partitions (0..%d)", (int)ctx->partition, ctx->source,
            (int)ctx->n_source, (int)ctx->n_source - 1);
    return -2;
  }
  int32_t only = ctx->key ? cli_key_partition(ctx->key, strlen(ctx->key), ctx->n_source)
                          : ctx->partition;
  /* A keyless record keeps its partition number, so DEST must have it. */
  int32_t needed = only >= 0 ? only + 1 : ctx->n_source;
  if (!ctx->key && !ctx->dry_run && ctx->n_dest < needed) {
    cli_err("%s has %d partitions, fewer than the %d of %s that are read: a record without a "
            "key could not keep its partition", ctx->dest, (int)ctx->n_dest, (int)needed,
            ctx->source);
    return -2;
  }
  ctx->parts = calloc((size_t)ctx->n_source, sizeof *ctx->parts);
  if (!ctx->parts) abort();
  for (int32_t p = 0; p < ctx->n_source; p++) {
    if (only >= 0 && p != only) continue;
    replay_part_t *rp = &ctx->parts[ctx->n_parts++];
    rp->id = p;
    rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(ctx->consumer, ctx->source, p,
                                                             &rp->start, &rp->end, 10000);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
      cli_err("cannot read the offsets of %s [%d]: %s", ctx->source, (int)p, rd_kafka_err2str(e));
      return -1;
    }
  }
  return 0;
}

/* Moves each partition's start (--offset, --from) and end (--until) in
 * from its watermarks. Returns 0 or -1 (reported). */
static int replay_bound(replay_ctx_t *ctx) {
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(ctx->n_parts);
  for (int i = 0; i < ctx->n_parts; i++)
    rd_kafka_topic_partition_list_add(l, ctx->source, ctx->parts[i].id);
  int rc = 0;
  for (int pass = 0; pass < 2 && rc == 0; pass++) {
    int64_t ms = pass == 0 ? ctx->from_ms : ctx->until_ms;
    if (ms < 0) continue;
    rc = cli_offsets_for_time(ctx->consumer, l, ms, 10000, pass == 0 ? "--from" : "--until");
    for (int i = 0; i < ctx->n_parts && rc == 0; i++) {
      replay_part_t *rp = &ctx->parts[i];
      int64_t o = l->elems[i].offset == RD_KAFKA_OFFSET_END ? rp->end : l->elems[i].offset;
      if (pass == 0 && o > rp->start) rp->start = o;
      if (pass == 1 && o < rp->end) rp->end = o;
    }
  }
  rd_kafka_topic_partition_list_destroy(l);
  for (int i = 0; i < ctx->n_parts; i++) {
    replay_part_t *rp = &ctx->parts[i];
    if (ctx->offset > rp->start) rp->start = ctx->offset;
    if (ctx->end_offset >= 0 && ctx->end_offset < rp->end) rp->end = ctx->end_offset;
    if (rp->start > rp->end) rp->start = rp->end;
    rp->next = rp->start;
    rp->done = rp->start >= rp->end;
    ctx->n_done += rp->done;
    ctx->total += rp->end - rp->start;
  }
  return rc;
}

/* Assigns the partitions not already done at their starts. */
static int replay_assign(replay_ctx_t *ctx) {
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(ctx->n_parts);
  for (int i = 0; i < ctx->n_parts; i++)
    if (!ctx->parts[i].done)
      rd_kafka_topic_partition_list_add(l, ctx->source, ctx->parts[i].id)->offset =
          ctx->parts[i].start;
  rd_kafka_resp_err_t e = rd_kafka_assign(ctx->consumer, l);
  rd_kafka_topic_partition_list_destroy(l);
  if (e == RD_KAFKA_RESP_ERR_NO_ERROR) return 0;
  cli_err("cannot assign %s: %s", ctx->source, rd_kafka_err2str(e));
  return -1;
}

/* Starts the one transaction of --transactional. Returns 0 or -1. */
static int replay_begin(replay_ctx_t *ctx) {
  if (!ctx->transactional || !ctx->producer) return 0;
  return cli_txn_start(ctx->producer, 30000);
}

static replay_part_t *replay_part(replay_ctx_t *ctx, int32_t id) {
  for (int i = 0; i < ctx->n_parts; i++)
    if (ctx->parts[i].id == id) return &ctx->parts[i];
  return NULL;
}

static void replay_mark_done(replay_ctx_t *ctx, replay_part_t *rp) {
  if (rp->done) return;
  rp->done = true;
  ctx->n_done++;
}

/* Whether m is to be copied: its key (--key), its time (--until) and its
 * payload (--type). Counts what is skipped. */
static bool replay_selected(replay_ctx_t *ctx, const rd_kafka_message_t *m) {
  if (ctx->key && (!m->key || m->key_len != strlen(ctx->key) ||
                   memcmp(m->key, ctx->key, m->key_len) != 0))
    return false;
  if (ctx->until_ms >= 0 && rd_kafka_message_timestamp(m, NULL) >= ctx->until_ms) return false;
  if (!ctx->type) return true;
  const char *reason;
  char detail[256];
  gl_envelope_t *env = m->payload ? gl_envelope_decode(m->payload, m->len, m->key, m->key_len,
                                                       &reason, detail, sizeof detail)
                                  : NULL;
  bool match = env && (uint32_t)env->payload_case == ctx->type_case;
  if (!env) ctx->undecodable++;
  gl_envelope_free(env);
  return match;
}

/* Waits until the token bucket holds a token for one record. */
static void replay_pace(replay_ctx_t *ctx) {
  if (!ctx->rate) return;
  double cap = ctx->rate / 20.0 > 1.0 ? ctx->rate / 20.0 : 1.0;
  while (!cli_stop_requested()) {
    int64_t now = cli_now_ms();
    ctx->tokens += (double)(now - ctx->t_refill) * (double)ctx->rate / 1000.0;
    if (ctx->tokens > cap) ctx->tokens = cap;
    ctx->t_refill = now;
    if (ctx->tokens >= 1.0) {
      ctx->tokens -= 1.0;
      return;
    }
    int wait = (int)((1.0 - ctx->tokens) * 1000.0 / (double)ctx->rate) + 1;
    if (ctx->producer) rd_kafka_poll(ctx->producer, wait);
    else usleep((useconds_t)wait * 1000);
  }
}

/* Produces a copy of m to DEST, waiting while the queue is full. Returns
 * 0 or -1 (reported). */
static int replay_send(replay_ctx_t *ctx, const rd_kafka_message_t *m) {
  rd_kafka_headers_t *src = NULL, *hdrs = NULL;
  if (rd_kafka_message_headers(m, &src) == RD_KAFKA_RESP_ERR_NO_ERROR)
    hdrs = rd_kafka_headers_copy(src);
  int64_t ts = rd_kafka_message_timestamp(m, NULL);
  int32_t partition = m->key ? RD_KAFKA_PARTITION_UA : m->partition;
  for (;;) {
    rd_kafka_resp_err_t e = rd_kafka_producev(
        ctx->producer, RD_KAFKA_V_TOPIC(ctx->dest), RD_KAFKA_V_PARTITION(partition),
        RD_KAFKA_V_KEY(m->key, m->key_len), RD_KAFKA_V_VALUE(m->payload, m->len),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_TIMESTAMP(ts > 0 ? ts : 0),
        RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR) return 0;
    if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL && !cli_stop_requested()) {
      rd_kafka_poll(ctx->producer, 100);
      continue;
    }
    if (hdrs) rd_kafka_headers_destroy(hdrs);
    cli_err("cannot produce to %s: %s", ctx->dest, rd_kafka_err2str(e));
    return -1;
  }
}

/* Copies (or with --dry-run prints) one record of the slice. Returns 0 or
 * -1 when the replay cannot go on. */
static int replay_record(replay_ctx_t *ctx, replay_part_t *rp, const rd_kafka_message_t *m) {
  if (m->offset >= rp->end) {
    replay_mark_done(ctx, rp);
    return 0;
  }
  if (!replay_selected(ctx, m)) {
    ctx->skipped++;
  } else if (ctx->dry_run) {
    if (cli_print_json_line(cli_record_json(m, NULL, 0, true)) < 0) { /* tail --raw's line. */
      cli_err("cannot write to standard output: %s", strerror(errno));
      return -1;
    }
    ctx->copied++;
  } else {
    replay_pace(ctx);
    if (cli_stop_requested()) return 0; /* Not copied: the resume offset stays at it. */
    if (replay_send(ctx, m) < 0) return -1;
    ctx->copied++;
  }
  rp->next = m->offset + 1;
  if (rp->next >= rp->end) replay_mark_done(ctx, rp);
  return 0;
}

/* Handles one consumer event. Returns 0, or -1 when the replay fails. */
static int replay_handle(replay_ctx_t *ctx, const rd_kafka_message_t *m) {
  replay_part_t *rp = replay_part(ctx, m->partition);
  if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
    /* The end may sit after transaction markers, which are never delivered. */
    if (rp && m->offset >= rp->end) {
      rp->next = rp->end;
      replay_mark_done(ctx, rp);
    }
    return 0;
  }
  if (m->err) return cli_consume_error_ends(ctx->source, m) ? -1 : 0;
  if (!rp || rp->done) return 0;
  return replay_record(ctx, rp, m);
}

/* Progress on standard error: a bar redrawn at most 5 times a second on a
 * terminal, else a JSON line every 5 s. */
static void replay_progress(replay_ctx_t *ctx, bool force) {
  int64_t now = cli_now_ms();
  int64_t period = ctx->tty ? REPLAY_TTY_PERIOD_MS : REPLAY_LOG_PERIOD_MS;
  if (!force && now - ctx->t_shown < period) return;
  ctx->t_shown = now;
  long long done = ctx->copied + ctx->skipped;
  double secs = (double)(now - ctx->t_start) / 1000.0;
  double rate = secs > 0 ? (double)done / secs : 0;
  double eta = rate > 0 && ctx->total > done ? (double)(ctx->total - done) / rate : 0;
  if (!ctx->tty) {
    fprintf(stderr,
            "{\"progress\":\"replay\",\"done\":%lld,\"total\":%lld,\"copied\":%lld,"
            "\"skipped\":%lld,\"rate\":%.1f,\"eta_s\":%.1f}\n",
            done, ctx->total, ctx->copied, ctx->skipped, rate, eta);
    return;
  }
  int width = 30, filled = ctx->total ? (int)(width * (done > ctx->total ? ctx->total : done) /
                                              ctx->total)
                                      : width;
  char bar[32];
  for (int i = 0; i < width; i++) bar[i] = i < filled ? '#' : '.';
  bar[width] = '\0';
  fprintf(stderr, "\r[%s] %lld/%lld  %.0f rec/s  ETA %.0fs ", bar, done, ctx->total, rate, eta);
  ctx->bar_drawn = true;
}

/* The consume loop, until every partition is at its end or a signal.
 * Returns 0 or -1. */
static int replay_run(replay_ctx_t *ctx) {
  ctx->t_start = ctx->t_refill = ctx->t_shown = cli_now_ms();
  while (ctx->n_done < ctx->n_parts && !cli_stop_requested()) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(ctx->consumer, 100);
    if (ctx->producer) rd_kafka_poll(ctx->producer, 0);
    if (m) {
      int rc = replay_handle(ctx, m);
      rd_kafka_message_destroy(m);
      if (rc < 0) return -1;
    }
    replay_progress(ctx, false);
  }
  return 0;
}

/* Delivers what is queued and, with --transactional, commits (or on an
 * interrupt or a failure, aborts). Returns true if everything handed to
 * the producer is in DEST (nothing, after an abort). */
static bool replay_finish(replay_ctx_t *ctx, bool ok) {
  if (!ctx->producer) return ok;
  if (rd_kafka_flush(ctx->producer, REPLAY_FLUSH_MS) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    cli_err("%d records still undelivered after %d ms", rd_kafka_outq_len(ctx->producer),
            REPLAY_FLUSH_MS);
    ok = false;
  }
  if (ctx->failed) ok = false;
  if (!ctx->transactional) return ok;
  bool commit = ok && !cli_stop_requested();
  rd_kafka_error_t *e = commit ? rd_kafka_commit_transaction(ctx->producer, -1)
                               : rd_kafka_abort_transaction(ctx->producer, -1);
  if (e || !commit) {
    cli_err("transaction %s%s; none of its records is visible to read_committed readers",
            commit ? "commit failed: " : "aborted", e && commit ? rd_kafka_error_string(e) : "");
    if (commit) ok = false; /* An abort after an interrupt is a clean stop. */
    /* Nothing was copied: a resume starts where this replay started. */
    for (int i = 0; i < ctx->n_parts; i++) ctx->parts[i].next = ctx->parts[i].start;
    ctx->copied = 0;
  }
  if (e) rd_kafka_error_destroy(e);
  return ok;
}

/* Prints a word for a shell: as it is, or single-quoted. */
static void replay_shell_word(const char *w) {
  if (w[0] && strspn(w, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                        "._-:/=+,@") == strlen(w)) {
    fprintf(stderr, " %s", w);
    return;
  }
  fputs(" '", stderr);
  for (const char *c = w; *c; c++) fputs(*c == '\'' ? "'\\''" : (char[]){*c, '\0'}, stderr);
  fputc('\'', stderr);
}

/* After an interrupt: each partition's next offset not copied, and the
 * command that copies the rest. */
static void replay_resume_hint(replay_ctx_t *ctx) {
  for (int i = 0; i < ctx->n_parts; i++) {
    const replay_part_t *rp = &ctx->parts[i];
    if (rp->next >= rp->end) continue;
    fprintf(stderr, "partition %d: next offset not copied %lld (slice ends before %lld); resume:\n"
                    "  greenlight replay",
            (int)rp->id, (long long)rp->next, (long long)rp->end);
    replay_shell_word(ctx->source_arg);
    fputs(" --to-topic", stderr);
    replay_shell_word(ctx->dest_arg);
    fprintf(stderr, " -b");
    replay_shell_word(ctx->common.bootstrap);
    if (ctx->common.prefix[0]) {
      fputs(" --prefix", stderr);
      replay_shell_word(ctx->common.prefix);
    }
    for (size_t j = 0; j < ctx->common.n_props; j++) {
      fputs(" -X", stderr);
      replay_shell_word(ctx->common.props[j]);
    }
    fprintf(stderr, " --offset %lld --end-offset %lld", (long long)rp->next, (long long)rp->end);
    if (ctx->key) {
      fputs(" --key", stderr);
      replay_shell_word(ctx->key);
    } else {
      fprintf(stderr, " --partition %d", (int)rp->id);
    }
    if (ctx->until_ms >= 0) fprintf(stderr, " --until %lld", (long long)ctx->until_ms);
    if (ctx->type) fprintf(stderr, " --type %s", ctx->type);
    if (ctx->rate) fprintf(stderr, " --rate %lld", ctx->rate);
    fprintf(stderr, "%s\n", ctx->transactional ? " --transactional" : "");
  }
}

/* The summary line, and after an interrupt where to resume. */
static void replay_report(replay_ctx_t *ctx) {
  if (ctx->bar_drawn) {
    replay_progress(ctx, true);
    fputc('\n', stderr);
  }
  double secs = (double)(cli_now_ms() - ctx->t_start) / 1000.0;
  if (ctx->undecodable)
    cli_err("%lld records are not valid envelopes (skipped for --type)", ctx->undecodable);
  fprintf(stderr, "%s %lld records, skipped %lld, %.1f seconds\n",
          ctx->dry_run ? "would copy" : "copied", ctx->copied, ctx->skipped, secs);
  if (cli_stop_requested()) {
    cli_err("interrupted; the rest of the slice was not copied");
    replay_resume_hint(ctx);
  }
}

static void replay_free(replay_ctx_t *ctx) {
  if (ctx->consumer) {
    rd_kafka_consumer_close(ctx->consumer);
    rd_kafka_destroy(ctx->consumer);
  }
  if (ctx->producer) rd_kafka_destroy(ctx->producer);
  free(ctx->parts);
  cli_common_free(&ctx->common);
}

/* Connects, fixes the slice and copies it. Returns the exit code. */
static int replay_main_loop(replay_ctx_t *ctx) {
  if (replay_open(ctx) < 0) return CLI_EXIT_USAGE;
  int rc = replay_list_parts(ctx);
  if (rc < 0) return rc == -2 ? CLI_EXIT_USAGE : CLI_EXIT_FAIL;
  if (replay_bound(ctx) < 0 || replay_begin(ctx) < 0 || replay_assign(ctx) < 0)
    return CLI_EXIT_FAIL;
  ctx->tty = isatty(STDERR_FILENO);
  bool ok = replay_run(ctx) == 0;
  if (cli_stop_requested() && ctx->producer) cli_err("interrupted; flushing what was sent");
  ok = replay_finish(ctx, ok);
  replay_report(ctx);
  return ok ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

int cli_replay_main(int argc, char **argv) {
  replay_ctx_t ctx;
  memset(&ctx, 0, sizeof ctx);
  ctx.from_ms = ctx.until_ms = ctx.offset = ctx.end_offset = -1;
  ctx.partition = -1;
  cli_common_init(&ctx.common);
  int rc = replay_parse_args(&ctx, argc, argv);
  if (rc != 0) {
    if (rc > 0) cli_help(&cli_cmd_replay, stdout);
    cli_common_free(&ctx.common);
    return rc > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
  }
  int exit_code = replay_main_loop(&ctx);
  replay_free(&ctx);
  return exit_code;
}

static const char replay_synopsis[] =
    "greenlight replay SOURCE --to-topic DEST [-b BOOTSTRAP] [-X prop=value ...]\n"
    "                  [--prefix P] [--from TIME] [--until TIME] [--offset N|beginning]\n"
    "                  [--partition P | --key K] [--type NAME] [--rate N] [--dry-run]\n"
    "                  [--end-offset N] [--transactional]\n";
static const char replay_help[] =
    "Copies a fixed slice of SOURCE (read_committed) into DEST, which may be\n"
    "SOURCE itself: each partition from its start up to its end as it was\n"
    "when the replay began (records appended later are not copied). Every\n"
    "record keeps its key, value bytes, headers and timestamp; a keyed one is\n"
    "placed by Java's partitioner (murmur2), a keyless one in the partition\n"
    "number it had (DEST must have as many partitions as are read: else exit 2).\n"
    "\n"
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
    "\n"
    "Progress goes to standard error (a bar on a terminal, else a JSON line\n"
    "every 5 s), then 'copied N records, skipped M, S seconds'. On SIGINT or\n"
    "SIGTERM it flushes what was sent (or aborts the transaction), prints each\n"
    "partition's next offset not copied with the command that copies the rest\n"
    "of its slice (--offset, --end-offset), and exits 0.\n";
static const char replay_examples[] =
    "greenlight replay greenlight.orders --to-topic greenlight.orders --from 2026-01-05T08:00:00Z --rate 500\n"
    "greenlight replay greenlight.orders --to-topic orders.copy --key O-1 --dry-run\n";

const cli_command_t cli_cmd_replay = {
    .name = "replay",
    .summary = "copy a slice of a topic into another topic (or the same one)",
    .synopsis = replay_synopsis,
    .help = replay_help,
    .examples = replay_examples,
    .options = replay_options,
    .shortopts = NULL,
    .words = NULL,
    .main = cli_replay_main,
};
