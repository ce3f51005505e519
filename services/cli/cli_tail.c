/* greenlight tail: prints the records of one topic as JSON lines, the way a
 * downstream consumer sees them.
 *
 * The tail reads every partition by manual assignment, without a consumer
 * group (it commits nothing and never disturbs the daemons' groups), and
 * with isolation.level=read_committed, so it shows exactly what committed
 * transactions published. Values are decoded by their message-type header
 * through the descriptor-driven JSON converter. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "greenlight/gl_codec.h"
#include "greenlight/gl_json.h"

/* The package of the wire contract, for --type given without it. */
#define TAIL_TYPE_PACKAGE "greenlight.v1."

enum {
  OPT_FROM_BEGINNING = CLI_OPT_FIRST_OWN,
  OPT_EXIT_AT_END,
  OPT_COUNT,
  OPT_TIMEOUT,
  OPT_TYPE,
  OPT_DEFAULTS,
  OPT_RAW,
  OPT_KEY,
  OPT_LAST,
  OPT_OFFSET,
  OPT_FROM,
  OPT_PARTITION,
};

/* Where a tail starts in each partition (kcat's -o, and --from). */
typedef enum tail_start {
  TAIL_END,       /* Only new records (the default). */
  TAIL_BEGINNING, /* --offset beginning, --from-beginning. */
  TAIL_OFFSET,    /* --offset N: at offset N. */
  TAIL_LAST_N,    /* --offset -N: the last N records. */
  TAIL_TIME,      /* --from TIME: the first record stamped at or after it. */
} tail_start_t;

/* Everything one `greenlight tail` run needs. */
typedef struct tail_ctx {
  cli_common_t common;
  const char *topic_arg;   /* TOPIC as given, before the prefix. */
  char topic[256];         /* The topic read, with the prefix. */
  tail_start_t start;
  int64_t start_at;        /* N for TAIL_OFFSET and TAIL_LAST_N, ms for TAIL_TIME. */
  bool start_given;        /* --offset, --from or --from-beginning was given. */
  int32_t partition;       /* --partition: only this one; -1 = all. */
  bool exit_at_end;
  long long count;         /* Stop after this many records; 0 = no limit. */
  long long timeout_ms;    /* Give up after this long; 0 = never. */
  char type_name[256];     /* --type, fully qualified; "" = by header. */
  int json_flags;          /* GL_JSON_EMIT_DEFAULTS with --defaults. */
  bool raw;                /* --raw: values as hex bytes, never decoded. */
  const char *key;         /* --key: only this key's records, from its partition. */
  bool last;               /* --last: only the last record, printed at the end. */
  char *held;              /* With --last: the last record's line so far. */
  rd_kafka_t *rk;
  int32_t n_partitions;
  int32_t n_assigned;      /* Partitions read: all, or the key's one. */
  bool *at_end;            /* Per partition: its end was reached and nothing came since. */
  int32_t n_at_end;
  long long printed;
  int64_t deadline;        /* Monotonic ms; 0 = none. */
} tail_ctx_t;

/* Prints one record as a JSON line (with --last: holds it for the end).
 * Returns -1 if standard output failed. */
static int tail_print(tail_ctx_t *ctx, const rd_kafka_message_t *m) {
  json_t *out = cli_record_json(m, ctx->type_name[0] ? ctx->type_name : NULL, ctx->json_flags,
                                ctx->raw);
  if (ctx->last) {
    free(ctx->held);
    ctx->held = json_dumps(out, JSON_COMPACT);
    json_decref(out);
    return ctx->held ? 0 : -1;
  }
  return cli_print_json_line(out);
}

/* The one argument after the options, TOPIC, with the prefix. Returns 0, or
 * -1 on a usage error (reported). */
static int tail_topic_arg(tail_ctx_t *ctx, int argc, char **argv) {
  if (argc < 1) {
    cli_err("which topic? usage: greenlight tail TOPIC [options]");
    return -1;
  }
  if (argc > 1) {
    cli_err("unexpected argument '%s' (one topic at a time)", argv[1]);
    return -1;
  }
  ctx->topic_arg = argv[0];
  if (!ctx->topic_arg[0]) {
    cli_err("the topic name is empty");
    return -1;
  }
  return cli_topic_name(&ctx->common, ctx->topic_arg, ctx->topic, sizeof ctx->topic);
}

/* --from-beginning, --offset or --from: one of them, once. */
static int tail_parse_start(tail_ctx_t *ctx, int opt, const char *arg) {
  if (ctx->start_given) {
    cli_err("give one start: --offset, --from or --from-beginning");
    return -1;
  }
  ctx->start_given = true;
  long long n;
  if (opt == OPT_FROM_BEGINNING || (opt == OPT_OFFSET && strcmp(arg, "beginning") == 0)) {
    ctx->start = TAIL_BEGINNING;
  } else if (opt == OPT_OFFSET && strcmp(arg, "end") == 0) {
    ctx->start = TAIL_END;
  } else if (opt == OPT_OFFSET && cli_parse_int(arg, INT64_MIN + 1, INT64_MAX, &n) == 0 &&
             strcmp(arg, "-0") != 0) {
    ctx->start = n < 0 ? TAIL_LAST_N : TAIL_OFFSET;
    ctx->start_at = n < 0 ? -n : n;
  } else if (opt == OPT_OFFSET) {
    cli_err("--offset: expected N (an offset), -N (the last N records), beginning or end, got '%s'",
            arg);
    return -1;
  } else if (cli_parse_time_opt("--from", arg, &ctx->start_at) == 0) {
    ctx->start = TAIL_TIME;
  } else {
    return -1;
  }
  return 0;
}

/* One option of tail's own. Returns 0 or -1 (reported). */
static int tail_opt(void *arg_ctx, int opt, const char *arg) {
  tail_ctx_t *ctx = arg_ctx;
  switch (opt) {
    case OPT_FROM_BEGINNING:
    case OPT_OFFSET:
    case OPT_FROM:
      if (tail_parse_start(ctx, opt, arg) < 0) return -1;
      break;
    case OPT_PARTITION: {
      long long p;
      if (cli_parse_int(arg, 0, INT32_MAX, &p) < 0) {
        cli_err("--partition: expected a partition number (0 or more), got '%s'", arg);
        return -1;
      }
      ctx->partition = (int32_t)p;
      break;
    }
    case OPT_EXIT_AT_END: ctx->exit_at_end = true; break;
    case OPT_COUNT:
      if (cli_parse_int(arg, 1, INT64_MAX, &ctx->count) < 0) {
        cli_err("--count: expected a positive number, got '%s'", arg);
        return -1;
      }
      break;
    case OPT_TIMEOUT:
      if (cli_parse_int(arg, 1, INT32_MAX, &ctx->timeout_ms) < 0) {
        cli_err("--timeout-ms: expected a positive number of ms, got '%s'", arg);
        return -1;
      }
      break;
    case OPT_TYPE: {
      /* "OrderStatus" is taken as "greenlight.v1.OrderStatus". */
      const char *pkg = strchr(arg, '.') ? "" : TAIL_TYPE_PACKAGE;
      snprintf(ctx->type_name, sizeof ctx->type_name, "%s%s", pkg, arg);
      if (!gl_json_descriptor(ctx->type_name)) {
        cli_err("--type: unknown message type '%s' (e.g. greenlight.v1.OrderStatus)", arg);
        return -1;
      }
      break;
    }
    case OPT_DEFAULTS: ctx->json_flags |= GL_JSON_EMIT_DEFAULTS; break;
    case OPT_RAW: ctx->raw = true; break;
    case OPT_KEY: ctx->key = arg; break;
    case OPT_LAST: ctx->last = ctx->exit_at_end = true; break;
  }
  return 0;
}

static const struct option tail_options[] = {
    CLI_COMMON_LONGOPTS,
    {"from-beginning", no_argument, NULL, OPT_FROM_BEGINNING},
    {"exit-at-end", no_argument, NULL, OPT_EXIT_AT_END},
    {"count", required_argument, NULL, OPT_COUNT},
    {"timeout-ms", required_argument, NULL, OPT_TIMEOUT},
    {"type", required_argument, NULL, OPT_TYPE},
    {"defaults", no_argument, NULL, OPT_DEFAULTS},
    {"raw", no_argument, NULL, OPT_RAW},
    {"key", required_argument, NULL, OPT_KEY},
    {"last", no_argument, NULL, OPT_LAST},
    {"offset", required_argument, NULL, OPT_OFFSET},
    {"from", required_argument, NULL, OPT_FROM},
    {"partition", required_argument, NULL, OPT_PARTITION},
    {NULL, 0, NULL, 0},
};

/* Parses the options of `greenlight tail`. Returns -1 on a usage error, 1
 * if help was asked for, else 0. */
static int tail_parse_args(tail_ctx_t *ctx, int argc, char **argv) {
  if (cli_parse_opts(&ctx->common, argc, argv, "", tail_options, tail_opt, ctx) < 0) return -1;
  if (ctx->common.help) return 1;
  if (ctx->key && ctx->partition >= 0) {
    cli_err("--key and --partition: give one (a key is read from its own partition)");
    return -1;
  }
  return tail_topic_arg(ctx, argc - optind, argv + optind);
}

/* Milliseconds left before the deadline, capped at cap; cap if none. */
static int tail_wait_ms(const tail_ctx_t *ctx, int cap) {
  if (!ctx->deadline) return cap;
  int64_t left = ctx->deadline - cli_now_ms();
  if (left <= 0) return 0;
  return left < cap ? (int)left : cap;
}

static bool tail_timed_out(const tail_ctx_t *ctx) {
  return ctx->deadline && cli_now_ms() >= ctx->deadline;
}

/* Looks up the partitions of the topic. While a --timeout-ms runs, a topic
 * that does not exist yet or a cluster that cannot be reached is waited
 * for; without one either is an error. Returns 0, or -1 with the problem
 * (or the time-out) reported. */
static int tail_partitions(tail_ctx_t *ctx) {
  rd_kafka_topic_t *rkt = rd_kafka_topic_new(ctx->rk, ctx->topic, NULL);
  if (!rkt) {
    cli_err("topic %s: %s", ctx->topic, rd_kafka_err2str(rd_kafka_last_error()));
    return -1;
  }
  char problem[512] = "";
  int rc = -1;
  while (!cli_stop_requested()) {
    int wait = tail_wait_ms(ctx, 10000);
    if (ctx->deadline && wait == 0) {
      if (problem[0]) cli_err("%s", problem);
      cli_err("timed out after %lld ms looking up topic %s", ctx->timeout_ms, ctx->topic);
      break;
    }
    int32_t n = 0;
    if (cli_topic_partitions(ctx->rk, rkt, wait, &n, problem, sizeof problem) == 0) {
      ctx->n_partitions = n;
      rc = 0;
      break;
    }
    if (!ctx->deadline) {
      cli_err("%s", problem);
      break;
    }
    rd_kafka_poll(ctx->rk, tail_wait_ms(ctx, 500));
  }
  rd_kafka_topic_destroy(rkt);
  return rc;
}

/* Creates the consumer: no group, no commits, read_committed, EOF events.
 * Connects nothing yet, so a failure is a bad setting: -1, reported. */
static int tail_open(tail_ctx_t *ctx) {
  ctx->rk = cli_consumer_new(&ctx->common, "tail");
  return ctx->rk ? 0 : -1;
}

/* Assigns every partition, or --partition's, or with --key the one Java's
 * partitioner puts the key in, at the start asked for. Returns 0, -1, or
 * -2 for a --partition the topic does not have. */
static int tail_assign(tail_ctx_t *ctx) {
  rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(ctx->n_partitions);
  int32_t only = ctx->partition;
  if (only >= ctx->n_partitions) {
    cli_err("--partition %d: %s has %d partitions (0..%d)", (int)only, ctx->topic,
            (int)ctx->n_partitions, (int)ctx->n_partitions - 1);
    rd_kafka_topic_partition_list_destroy(parts);
    return -2;
  }
  if (ctx->key) only = cli_key_partition(ctx->key, strlen(ctx->key), ctx->n_partitions);
  for (int32_t p = 0; p < ctx->n_partitions; p++) {
    if (only >= 0 && p != only) continue;
    int64_t o = ctx->start == TAIL_BEGINNING ? RD_KAFKA_OFFSET_BEGINNING
                : ctx->start == TAIL_OFFSET  ? ctx->start_at
                : ctx->start == TAIL_LAST_N  ? RD_KAFKA_OFFSET_TAIL(ctx->start_at)
                                             : RD_KAFKA_OFFSET_END;
    rd_kafka_topic_partition_list_add(parts, ctx->topic, p)->offset = o;
  }
  if (ctx->start == TAIL_TIME &&
      cli_offsets_for_time(ctx->rk, parts, ctx->start_at, tail_wait_ms(ctx, 10000), "--from") < 0) {
    rd_kafka_topic_partition_list_destroy(parts);
    return -1;
  }
  ctx->n_assigned = parts->cnt;
  rd_kafka_resp_err_t e = rd_kafka_assign(ctx->rk, parts);
  rd_kafka_topic_partition_list_destroy(parts);
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    cli_err("cannot assign %s: %s", ctx->topic, rd_kafka_err2str(e));
    return -1;
  }
  ctx->at_end = calloc((size_t)ctx->n_partitions, sizeof *ctx->at_end);
  if (!ctx->at_end) abort();
  return 0;
}

/* Handles one event of the consumer. Returns 1 when the tail is done, 0 to
 * go on, -1 on an error that ends it. */
static int tail_handle(tail_ctx_t *ctx, const rd_kafka_message_t *m) {
  bool known = m->partition >= 0 && m->partition < ctx->n_partitions;
  if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
    /* With read_committed the end is the last stable offset. */
    if (known && !ctx->at_end[m->partition]) {
      ctx->at_end[m->partition] = true;
      ctx->n_at_end++;
    }
    return ctx->exit_at_end && ctx->n_at_end == ctx->n_assigned;
  }
  if (m->err) return cli_consume_error_ends(ctx->topic, m) ? -1 : 0;
  if (known && ctx->at_end[m->partition]) {
    ctx->at_end[m->partition] = false;
    ctx->n_at_end--;
  }
  if (ctx->key && (m->key_len != strlen(ctx->key) || memcmp(m->key, ctx->key, m->key_len) != 0))
    return 0;
  if (tail_print(ctx, m) < 0) {
    /* A reader that has seen enough (`| head`) ends the tail quietly. */
    if (errno == EPIPE) return 1;
    cli_err("cannot write to standard output: %s", strerror(errno));
    return -1;
  }
  ctx->printed++;
  return ctx->count && ctx->printed >= ctx->count;
}

/* At the end: with --last, prints the record held, or says there is none. */
static int tail_finish(tail_ctx_t *ctx) {
  if (!ctx->last) return CLI_EXIT_OK;
  if (!ctx->held) {
    cli_err("no record%s%s in %s", ctx->key ? " with key " : "", ctx->key ? ctx->key : "",
            ctx->topic);
    return CLI_EXIT_NOT_FOUND;
  }
  if (puts(ctx->held) == EOF || fflush(stdout) == EOF) return CLI_EXIT_FAIL;
  return CLI_EXIT_OK;
}

/* The consume loop. Returns the exit code. */
static int tail_run(tail_ctx_t *ctx) {
  while (!cli_stop_requested()) {
    if (tail_timed_out(ctx)) {
      cli_err("timed out after %lld ms (%lld records, %d of %d partitions at their end)",
              ctx->timeout_ms, ctx->printed, (int)ctx->n_at_end, (int)ctx->n_assigned);
      return CLI_EXIT_FAIL;
    }
    rd_kafka_message_t *m = rd_kafka_consumer_poll(ctx->rk, tail_wait_ms(ctx, 200));
    if (!m) continue;
    int rc = tail_handle(ctx, m);
    rd_kafka_message_destroy(m);
    if (rc > 0) return tail_finish(ctx);
    if (rc < 0) return CLI_EXIT_FAIL;
  }
  return CLI_EXIT_OK;
}

int cli_tail_main(int argc, char **argv) {
  tail_ctx_t ctx;
  memset(&ctx, 0, sizeof ctx);
  ctx.partition = -1;
  cli_common_init(&ctx.common);
  int rc = tail_parse_args(&ctx, argc, argv);
  if (rc != 0) {
    if (rc > 0) cli_help_current(stdout); /* tail's, or show's. */
    cli_common_free(&ctx.common);
    return rc > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
  }
  if (ctx.timeout_ms) ctx.deadline = cli_now_ms() + ctx.timeout_ms;
  int exit_code = CLI_EXIT_USAGE;
  if (tail_open(&ctx) < 0) goto out;
  exit_code = CLI_EXIT_FAIL;
  if (tail_partitions(&ctx) < 0) goto out;
  int assigned = tail_assign(&ctx);
  if (assigned < 0) {
    if (assigned == -2) exit_code = CLI_EXIT_USAGE; /* A partition the topic does not have. */
    goto out;
  }
  exit_code = tail_run(&ctx);
out:
  if (ctx.rk) {
    rd_kafka_consumer_close(ctx.rk);
    rd_kafka_destroy(ctx.rk);
  }
  free(ctx.at_end);
  free(ctx.held);
  cli_common_free(&ctx.common);
  return exit_code;
}

static const char tail_synopsis[] =
    "greenlight tail TOPIC [-b BOOTSTRAP] [-X prop=value ...] [--prefix P]\n"
    "                [--offset N|-N|beginning|end | --from TIME | --from-beginning]\n"
    "                [--partition P | --key K] [--exit-at-end] [--count N] [--last]\n"
    "                [--timeout-ms T] [--type NAME] [--defaults] [--raw]\n";
static const char tail_help[] =
    "Reads every partition of TOPIC (read_committed, no consumer group) and\n"
    "prints one line per record:\n"
    "  {\"topic\":..,\"partition\":..,\"offset\":..,\"timestamp_ms\":..,\"key\":..,\n"
    "   \"headers\":{..},\"type\":\"greenlight.v1.OrderStatus\",\"value\":{..}}\n"
    "The value is decoded by its message-type header (or --type); a value\n"
    "that cannot be decoded is printed as \"value_hex\".\n"
    "\n"
    "  --offset N|-N|beginning|end\n"
    "                    where each partition starts: at offset N, N records\n"
    "                    before its end, its earliest offset, or its end (only\n"
    "                    new records: the default)\n"
    "  --from TIME       start at each partition's first record stamped at or\n"
    "                    after TIME: epoch ms or RFC 3339 (2026-01-05T08:00:00Z)\n"
    "  --from-beginning  the same as --offset beginning\n"
    "  --partition P     read partition P only\n"
    "  --key K           only records with key K, read from the partition Java's\n"
    "                    partitioner (murmur2) puts K in\n"
    "  --exit-at-end     stop once every partition is at its end\n"
    "  --count N         stop after N records\n"
    "  --last            print only the last record, at the end (exit 3 if none)\n"
    "  --timeout-ms T    give up (exit 1) if not done after T ms\n"
    "  --type NAME       decode every value as NAME, e.g. greenlight.v1.OrderStatus\n"
    "  --defaults        also print fields that hold their zero value\n"
    "  --raw             print every value as \"value_hex\" (exact bytes, for diffs\n"
    "                    and for greenlight produce)\n";
static const char tail_examples[] =
    "greenlight tail greenlight.order-status --from-beginning --exit-at-end\n"
    "greenlight tail greenlight.orders --from 2026-01-05T08:00:00Z --count 100\n"
    "greenlight tail greenlight.order-status --key O-1 --offset beginning --exit-at-end --last\n";

const cli_command_t cli_cmd_tail = {
    .name = "tail",
    .summary = "print the records of a topic as JSON lines",
    .synopsis = tail_synopsis,
    .help = tail_help,
    .examples = tail_examples,
    .options = tail_options,
    .shortopts = NULL,
    .words = NULL,
    .main = cli_tail_main,
};
