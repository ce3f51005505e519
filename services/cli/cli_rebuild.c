/* greenlight rebuild: runs a daemon's own executable over its recorded
 * inputs into a shadow app id and shadow output topics, then compares the
 * shadow output with the live output record by record per key.
 *
 * The shadow run is the daemon itself (the same code, not a copy), with
 * the operator's settings (the live config file, -- settings) plus: app.id
 * <app.id>.<shadow> (consumer group, changelog, transactional id), every
 * output and the DLQ renamed <topic>.<shadow>, stop.at=end (it stops at
 * the input end offsets it finds on connecting), no HTTP port, and with
 * --policy a policy file of its own. The shadow topics are created first
 * with the live topics' partition counts (so a key lands in the same
 * partition) and deleted afterwards unless --keep.
 *
 * What is compared: the output named by the daemon kind (orderd's status,
 * batchd's status). The shadow read every input from its beginning to the
 * offsets it committed at its end; the live daemon may have gone further.
 * A live record that names its cause (OrderStatus.cause: input topic,
 * partition, offset) is left out when that input record lies past the
 * shadow's end, so a live daemon that keeps running does not show as a
 * difference. Outputs without a cause are compared whole, and the command
 * says when the live group's committed offsets differ from the shadow's. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <protobuf-c/protobuf-c.h>

#include "cli.h"
#include "cli_diff.h"
#include "greenlight/gl_codec.h"
#include "greenlight/gl_json.h"

#define REBUILD_TIMEOUT_S 3600
#define REBUILD_MAX_TOPIC 249

enum {
  OPT_CONFIG = CLI_OPT_FIRST_OWN,
  OPT_POLICY,
  OPT_SHADOW,
  OPT_KEEP,
  OPT_JSON,
  OPT_LIMIT,
  OPT_UNTIL,
  OPT_TIMEOUT,
  OPT_DAEMON_BIN,
};

/* One input partition's end, as the shadow committed it. */
typedef struct rebuild_end {
  char *topic; /* With the prefix. */
  int32_t partition;
  int64_t shadow, live; /* Committed offsets; -1 = none. */
} rebuild_end_t;

typedef struct rebuild_ctx {
  cli_common_t common;
  cli_daemon_t d;
  const char *policy, *shadow_arg, *daemon_bin;
  bool keep, json;
  long long limit, timeout_s;
  int64_t until_ms;
  int64_t deadline;
  char shadow[96];           /* The shadow id. */
  char *shadow_app;          /* <app.id>.<shadow> */
  char *shadow_group;        /* With the prefix. */
  char **shadow_topics;      /* Created here (with the prefix): changelog, outputs, DLQ. */
  size_t n_shadow_topics;
  bool created;
  int32_t n_in;              /* Partitions of every input. */
  int64_t input_records;     /* Between the watermarks when it started. */
  int64_t shadow_ms;         /* The shadow run's wall time. */
  rebuild_end_t *ends;
  size_t n_ends;
  rd_kafka_t *admin, *consumer;
  char log_path[512];
} rebuild_ctx_t;


static int rebuild_opt(void *arg, int opt, const char *val) {
  rebuild_ctx_t *ctx = arg;
  switch (opt) {
    case OPT_CONFIG: ctx->d.config = val; return 0;
    case OPT_POLICY: ctx->policy = val; return 0;
    case OPT_SHADOW:
      if (!*val || strlen(val) > 64 ||
          strspn(val, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") !=
              strlen(val)) {
        cli_err("--shadow '%s': expected 1 to 64 letters, digits, '_' or '-'", val);
        return -1;
      }
      ctx->shadow_arg = val;
      return 0;
    case OPT_KEEP: ctx->keep = true; return 0;
    case OPT_JSON: ctx->json = true; return 0;
    case OPT_LIMIT:
      if (cli_parse_int(val, 0, 1000000000, &ctx->limit) == 0) return 0;
      cli_err("--limit '%s': expected a whole number 0..1000000000", val);
      return -1;
    case OPT_TIMEOUT:
      if (cli_parse_int(val, 1, 864000, &ctx->timeout_s) == 0) return 0;
      cli_err("--timeout '%s': expected seconds 1..864000", val);
      return -1;
    case OPT_UNTIL: return cli_parse_time_opt("--until", val, &ctx->until_ms);
    case OPT_DAEMON_BIN: snprintf(ctx->d.bin, sizeof ctx->d.bin, "%s", val); return 0;
    default: return -1;
  }
}

static const struct option rebuild_options[] = {
    CLI_COMMON_LONGOPTS,
    {"config", required_argument, NULL, OPT_CONFIG},
    {"policy", required_argument, NULL, OPT_POLICY},
    {"shadow", required_argument, NULL, OPT_SHADOW},
    {"keep", no_argument, NULL, OPT_KEEP},
    {"json", no_argument, NULL, OPT_JSON},
    {"limit", required_argument, NULL, OPT_LIMIT},
    {"until", required_argument, NULL, OPT_UNTIL},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"daemon-bin", required_argument, NULL, OPT_DAEMON_BIN},
    {NULL, 0, NULL, 0},
};

/* Returns 0 to go on, 1 after --help, -1 on a usage error. Sets *rest to
 * the operands after the daemon's name. */
static int rebuild_parse(rebuild_ctx_t *ctx, int argc, char **argv, char ***rest, size_t *n_rest,
                         const char **name) {
  if (cli_parse_opts(&ctx->common, argc, argv, "", rebuild_options, rebuild_opt, ctx) < 0)
    return -1;
  if (ctx->common.help) return 1;
  if (optind >= argc) {
    cli_err("which daemon? expected orderd or batchd (see --help)");
    return -1;
  }
  *name = argv[optind];
  const cli_daemon_kind_t *k = cli_daemon_kind(*name);
  if (!k) {
    cli_err("unknown daemon '%s': expected orderd or batchd", *name);
    return -1;
  }
  if (ctx->policy && !k->has_policy) {
    cli_err("--policy: %s has no policy (only orderd has)", *name);
    return -1;
  }
  *rest = argv + optind + 1;
  *n_rest = (size_t)(argc - optind - 1);
  return 0;
}

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *s;
  if (vasprintf(&s, fmt, ap) < 0) abort();
  va_end(ap);
  return s;
}

/* The partition count of a topic that must exist, or -1 (reported). */
static int32_t rebuild_partitions(rebuild_ctx_t *ctx, const char *topic, const char *what) {
  int32_t n = 0;
  if (cli_admin_partitions(ctx->admin, topic, ctx->deadline, &n) < 0) return -1;
  if (n > 0) return n;
  cli_err("%s %s does not exist", what, topic);
  return -1;
}

/* The inputs' partition count (all equal) and the records between their
 * watermarks now. */
static int rebuild_inputs(rebuild_ctx_t *ctx) {
  for (size_t i = 0; i < ctx->d.n_inputs; i++) {
    char *t = xasprintf("%s%s", ctx->d.prefix, ctx->d.inputs[i]);
    int32_t n = rebuild_partitions(ctx, t, "input topic");
    if (n > 0 && ctx->n_in && n != ctx->n_in) {
      cli_err("input %s has %d partitions, %s%s has %d: the inputs are not co-partitioned "
              "(greenlight topics check)", t, (int)n, ctx->d.prefix, ctx->d.inputs[0],
              (int)ctx->n_in);
      n = -1;
    }
    for (int32_t p = 0; n > 0 && p < n; p++) {
      int64_t lo = 0, hi = 0;
      rd_kafka_resp_err_t e =
          rd_kafka_query_watermark_offsets(ctx->consumer, t, p, &lo, &hi, 10000);
      if (e) {
        cli_err("cannot read the offsets of %s [%d]: %s", t, (int)p, rd_kafka_err2str(e));
        n = -1;
      }
      ctx->input_records += hi - lo;
    }
    free(t);
    if (n < 0) return -1;
    ctx->n_in = n;
  }
  return 0;
}

static void rebuild_add_topic(rebuild_ctx_t *ctx, cli_new_topic_t *t, size_t *n, char *name,
                              int32_t partitions, bool compact) {
  ctx->shadow_topics[ctx->n_shadow_topics++] = name;
  t[(*n)++] = (cli_new_topic_t){name, partitions, 0, compact};
}

/* Names the shadow and creates its topics. */
static int rebuild_create(rebuild_ctx_t *ctx) {
  cli_daemon_t *d = &ctx->d;
  if (ctx->shadow_arg) {
    snprintf(ctx->shadow, sizeof ctx->shadow, "%s", ctx->shadow_arg);
  } else {
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y%m%dt%H%M%S", &tm);
    snprintf(ctx->shadow, sizeof ctx->shadow, "rebuild-%s-%ld", stamp, (long)getpid());
  }
  ctx->shadow_app = xasprintf("%s.%s", d->app_id, ctx->shadow);
  ctx->shadow_group = xasprintf("%s%s", d->prefix, ctx->shadow_app);
  ctx->shadow_topics = calloc(d->n_outputs + 2, sizeof *ctx->shadow_topics);
  cli_new_topic_t *t = calloc(d->n_outputs + 2, sizeof *t);
  if (!ctx->shadow_topics || !t) abort();
  size_t n = 0;
  rebuild_add_topic(ctx, t, &n,
                    xasprintf("%s%s.%s.changelog", d->prefix, ctx->shadow_app, d->kind->store),
                    ctx->n_in, true);
  int rc = 0;
  for (size_t i = 0; i <= d->n_outputs && rc == 0; i++) {
    const char *live = i < d->n_outputs ? d->outputs[i] : d->dlq;
    char *live_full = xasprintf("%s%s", d->prefix, live);
    int32_t parts = rebuild_partitions(ctx, live_full, i < d->n_outputs ? "output" : "DLQ");
    free(live_full);
    if (parts < 0) rc = -1;
    else rebuild_add_topic(ctx, t, &n, xasprintf("%s%s.%s", d->prefix, live, ctx->shadow), parts,
                           false);
  }
  for (size_t i = 0; i < n && rc == 0; i++)
    if (strlen(t[i].name) > REBUILD_MAX_TOPIC) {
      cli_err("shadow topic %s: longer than Kafka's %d characters (a shorter --shadow)", t[i].name,
              REBUILD_MAX_TOPIC);
      rc = -2;
    }
  if (rc == 0) {
    ctx->created = true; /* Even a partial failure may have created some. */
    rc = cli_admin_create_topics(ctx->admin, t, n, ctx->deadline);
  }
  free(t);
  return rc;
}

/* Runs the shadow daemon to its end. */
static int rebuild_run(rebuild_ctx_t *ctx) {
  cli_daemon_t *d = &ctx->d;
  size_t plen = strlen(d->prefix);
  /* The daemon adds the prefix itself. */
  char *outputs = xasprintf("%s", "");
  for (size_t i = 0; i < d->n_outputs; i++) {
    char *o = xasprintf("%s%s%s=%s", outputs, i ? "," : "", d->kind->outputs[i],
                        ctx->shadow_topics[1 + i] + plen);
    free(outputs);
    outputs = o;
  }
  char *args[12];
  size_t n = 0;
  args[n++] = xasprintf("--app.id=%s", ctx->shadow_app);
  args[n++] = xasprintf("--instance.id=rebuild");
  args[n++] = xasprintf("--output.topics=%s", outputs);
  args[n++] = xasprintf("--dlq.topic=%s", ctx->shadow_topics[1 + d->n_outputs] + plen);
  args[n++] = xasprintf("--stop.at=end");
  args[n++] = xasprintf("--stop.at.time.ms=%" PRId64, ctx->until_ms > 0 ? ctx->until_ms : 0);
  args[n++] = xasprintf("--http.port=-1");
  /* Its static member leaves the group when its session runs out: then
   * the group can be deleted. Kafka's least (group.min.session.timeout.ms). */
  args[n++] = xasprintf("--kafka.session.timeout.ms=6000");
  args[n] = NULL;
  free(outputs);
  const char *tmp = getenv("TMPDIR");
  snprintf(ctx->log_path, sizeof ctx->log_path, "%s/greenlight-%s.log", tmp && *tmp ? tmp : "/tmp",
           ctx->shadow);
  fprintf(stderr,
          "greenlight: rebuild: running %s over %lld input records (%zu topics x %d partitions) "
          "as %s (log: %s)\n",
          d->kind->binary, (long long)ctx->input_records, d->n_inputs, (int)ctx->n_in,
          ctx->shadow_app, ctx->log_path);
  int64_t t0 = cli_now_ms();
  int code = 0;
  int rc = cli_daemon_run(d, (const char *const *)args, ctx->log_path, &code);
  for (size_t i = 0; i < n; i++) free(args[i]);
  if (rc < 0) {
    cli_err("interrupted: the shadow daemon stopped (exit %d)", code);
    return -1;
  }
  if (code != 0) {
    cli_err("%s exited %d before its end: see %s", d->kind->binary, code, ctx->log_path);
    return -1;
  }
  ctx->shadow_ms = cli_now_ms() - t0;
  fprintf(stderr, "greenlight: rebuild: the shadow run took %.1f s\n",
          (double)ctx->shadow_ms / 1000.0);
  return 0;
}

/* The offsets both groups committed on every input partition. */
static int rebuild_read_ends(rebuild_ctx_t *ctx) {
  cli_daemon_t *d = &ctx->d;
  rd_kafka_topic_partition_list_t *l =
      rd_kafka_topic_partition_list_new((int)(d->n_inputs * (size_t)ctx->n_in));
  for (size_t i = 0; i < d->n_inputs; i++) {
    char *t = xasprintf("%s%s", d->prefix, d->inputs[i]);
    for (int32_t p = 0; p < ctx->n_in; p++) rd_kafka_topic_partition_list_add(l, t, p);
    free(t);
  }
  ctx->n_ends = (size_t)l->cnt;
  ctx->ends = calloc(ctx->n_ends + 1, sizeof *ctx->ends);
  if (!ctx->ends) abort();
  int rc = cli_admin_group_committed(ctx->admin, ctx->shadow_group, l, ctx->deadline);
  for (int i = 0; rc == 0 && i < l->cnt; i++) {
    ctx->ends[i].topic = xasprintf("%s", l->elems[i].topic);
    ctx->ends[i].partition = l->elems[i].partition;
    ctx->ends[i].shadow = l->elems[i].offset;
    l->elems[i].offset = RD_KAFKA_OFFSET_INVALID;
  }
  if (rc == 0) rc = cli_admin_group_committed(ctx->admin, d->group, l, ctx->deadline);
  for (int i = 0; rc == 0 && i < l->cnt; i++) ctx->ends[i].live = l->elems[i].offset;
  rd_kafka_topic_partition_list_destroy(l);
  return rc;
}

static const rebuild_end_t *rebuild_end(const rebuild_ctx_t *ctx, const char *topic,
                                        int32_t partition) {
  for (size_t i = 0; i < ctx->n_ends; i++)
    if (ctx->ends[i].partition == partition && strcmp(ctx->ends[i].topic, topic) == 0)
      return &ctx->ends[i];
  return NULL;
}

/* The field `name` of a message, or NULL. */
static const void *rebuild_field(const ProtobufCMessage *msg, const char *name,
                                 const ProtobufCFieldDescriptor **fd) {
  *fd = protobuf_c_message_descriptor_get_field_by_name(msg->descriptor, name);
  return *fd ? (const char *)msg + (*fd)->offset : NULL;
}

/* keep for the live side: false for a record whose cause (an input record)
 * lies at or past the shadow's end. */
static bool rebuild_keep(void *arg, const rd_kafka_message_t *m) {
  const rebuild_ctx_t *ctx = arg;
  rd_kafka_headers_t *h = NULL;
  const void *val = NULL;
  size_t size = 0;
  char type[256];
  if (rd_kafka_message_headers(m, &h) || rd_kafka_header_get_last(h, GL_HDR_MESSAGE_TYPE, &val,
                                                                   &size) ||
      !val || size >= sizeof type)
    return true;
  memcpy(type, val, size);
  type[size] = '\0';
  const ProtobufCMessageDescriptor *desc = gl_json_descriptor(type);
  ProtobufCMessage *msg = desc ? protobuf_c_message_unpack(desc, NULL, m->len, m->payload) : NULL;
  if (!msg) return true;
  bool keep = true;
  const ProtobufCFieldDescriptor *fd;
  const void *cause = rebuild_field(msg, "cause", &fd);
  if (cause && fd->type == PROTOBUF_C_TYPE_MESSAGE && *(ProtobufCMessage *const *)cause) {
    const ProtobufCMessage *c = *(ProtobufCMessage *const *)cause;
    const ProtobufCFieldDescriptor *ft, *fp, *fo;
    const void *t = rebuild_field(c, "topic", &ft), *p = rebuild_field(c, "partition", &fp),
               *o = rebuild_field(c, "offset", &fo);
    if (t && p && o && ft->type == PROTOBUF_C_TYPE_STRING && fp->type == PROTOBUF_C_TYPE_INT32 &&
        fo->type == PROTOBUF_C_TYPE_INT64) {
      const rebuild_end_t *end = rebuild_end(ctx, *(char *const *)t, *(const int32_t *)p);
      if (end) keep = *(const int64_t *)o < (end->shadow >= 0 ? end->shadow : 0);
    }
  }
  protobuf_c_message_free_unpacked(msg, NULL);
  return keep;
}

/* Says where the live group stands against the shadow's end. */
static void rebuild_note_live(const rebuild_ctx_t *ctx, bool has_cause) {
  size_t behind = 0, ahead = 0;
  const rebuild_end_t *first = NULL;
  for (size_t i = 0; i < ctx->n_ends; i++) {
    const rebuild_end_t *e = &ctx->ends[i];
    int64_t live = e->live >= 0 ? e->live : 0, shadow = e->shadow >= 0 ? e->shadow : 0;
    if (live == shadow) continue;
    if (!first) first = e;
    live < shadow ? behind++ : ahead++;
  }
  if (behind)
    cli_err("note: the live group %s has not processed as far as the shadow on %zu input "
            "partitions (e.g. %s [%d]: live %" PRId64 ", shadow %" PRId64
            "): its output may lack records for that reason",
            ctx->d.group, behind, first->topic, (int)first->partition, first->live,
            first->shadow);
  if (ahead && !has_cause)
    cli_err("note: the live group %s has processed further than the shadow on %zu input "
            "partitions: its output may have more records for that reason",
            ctx->d.group, ahead);
}

/* cli_scan_fn counting records into *(long *)arg. */
static int rebuild_count(void *arg, const rd_kafka_message_t *m) {
  (void)m;
  (*(long *)arg)++;
  return 0;
}

static int rebuild_compare(rebuild_ctx_t *ctx, cli_diff_summary_t *sum) {
  cli_daemon_t *d = &ctx->d;
  size_t idx = 0;
  while (strcmp(d->kind->outputs[idx], d->kind->compared) != 0) idx++;
  char *live = xasprintf("%s%s", d->prefix, d->outputs[idx]);
  const char *shadow = ctx->shadow_topics[1 + idx];
  int32_t n = rebuild_partitions(ctx, live, "output");
  bool has_cause = strcmp(d->kind->name, "orderd") == 0;
  int rc = n < 0 ? -1 : 0;
  if (rc == 0) rebuild_note_live(ctx, has_cause);
  cli_digest_t *dl = cli_digest_new(), *ds = cli_digest_new();
  int64_t t0 = cli_now_ms();
  if (rc == 0) rc = cli_digest_scan(dl, ctx->consumer, live, n, ctx->deadline, rebuild_keep, ctx);
  if (rc == 0) rc = cli_digest_scan(ds, ctx->consumer, shadow, n, ctx->deadline, NULL, NULL);
  if (rc == 0)
    rc = cli_diff_report(dl, ds, ctx->consumer, live, shadow, n, ctx->deadline, ctx->json,
                         (long)ctx->limit, sum);
  const char *dlq = ctx->shadow_topics[1 + d->n_outputs];
  long dead_letters = 0;
  int32_t nd = rc == 0 ? rebuild_partitions(ctx, dlq, "DLQ") : -1;
  if (nd > 0)
    rc = cli_scan_topic(ctx->consumer, dlq, nd, NULL, NULL, ctx->deadline, rebuild_count,
                        &dead_letters);
  if (rc == 0) {
    bool equal = sum->different + sum->only_live + sum->only_shadow == 0;
    if (ctx->json) {
      json_t *s = json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:b,s:I,s:I}",
                            "daemon", d->kind->name, "live_topic", live, "shadow_topic", shadow,
                            "keys", (json_int_t)sum->keys, "equal", (json_int_t)sum->equal,
                            "different", (json_int_t)sum->different, "only_live",
                            (json_int_t)sum->only_live, "only_shadow",
                            (json_int_t)sum->only_shadow, "live_records",
                            (json_int_t)sum->live_records, "live_records_left_out",
                            (json_int_t)sum->live_excluded, "shadow_records",
                            (json_int_t)sum->shadow_records, "shadow_dead_letters",
                            (json_int_t)dead_letters, "input_records",
                            (json_int_t)ctx->input_records, "same", equal, "compare_ms",
                            (json_int_t)(cli_now_ms() - t0), "shadow_run_ms",
                            (json_int_t)ctx->shadow_ms);
      if (cli_print_json_line(json_pack("{s:o}", "summary", s)) < 0) rc = -1;
    } else {
      printf("%s: %ld keys compared: %ld equal, %ld different, %ld only in live, %ld only in "
             "shadow\n",
             d->kind->name, sum->keys, sum->equal, sum->different, sum->only_live,
             sum->only_shadow);
      printf("  live   %s: %ld records", live, sum->live_records);
      if (sum->live_excluded)
        printf(" (%ld more left out: caused by input past the shadow's end)", sum->live_excluded);
      printf("\n  shadow %s: %ld records, %ld dead letters\n", shadow, sum->shadow_records,
             dead_letters);
      printf("  shadow run %.1f s, comparison %.1f s\n", (double)ctx->shadow_ms / 1000.0,
             (double)(cli_now_ms() - t0) / 1000.0);
    }
  }
  cli_digest_free(dl);
  cli_digest_free(ds);
  free(live);
  return rc;
}

static void rebuild_close_consumer(rebuild_ctx_t *ctx);

/* Deletes what the rebuild created, unless --keep. */
static void rebuild_cleanup(rebuild_ctx_t *ctx) {
  fflush(stdout);
  rebuild_close_consumer(ctx);
  if (!ctx->created || !ctx->admin) return;
  if (ctx->keep) {
    fprintf(stderr, "greenlight: rebuild: kept the shadow group %s and topics:", ctx->shadow_group);
    for (size_t i = 0; i < ctx->n_shadow_topics; i++)
      fprintf(stderr, " %s", ctx->shadow_topics[i]);
    fputc('\n', stderr);
    return;
  }
  /* A fresh deadline: cleaning up after a timeout still gets its time. */
  int64_t deadline = cli_now_ms() + 60000;
  char *restore = xasprintf("%s-restore", ctx->shadow_group);
  const char *groups[] = {ctx->shadow_group, restore};
  int rc = cli_admin_delete_topics(ctx->admin, (const char *const *)ctx->shadow_topics,
                                   ctx->n_shadow_topics, deadline);
  if (cli_admin_delete_groups(ctx->admin, groups, 2, deadline) < 0) rc = -1;
  free(restore);
  if (rc < 0)
    cli_err("could not delete every shadow topic or group (named above); delete them by hand");
}

/* Before the shadow topics are deleted: librdkafka 2.0.2 keeps a
 * reference to a partition it fetched from that no longer exists, and its
 * rd_kafka_destroy() then never returns (librdkafka #4486, #4669). */
static void rebuild_close_consumer(rebuild_ctx_t *ctx) {
  if (!ctx->consumer) return;
  rd_kafka_consumer_close(ctx->consumer);
  rd_kafka_destroy(ctx->consumer);
  ctx->consumer = NULL;
}

static void rebuild_free(rebuild_ctx_t *ctx) {
  rebuild_close_consumer(ctx);
  if (ctx->admin) rd_kafka_destroy(ctx->admin);
  for (size_t i = 0; i < ctx->n_shadow_topics; i++) free(ctx->shadow_topics[i]);
  for (size_t i = 0; i < ctx->n_ends; i++) free(ctx->ends[i].topic);
  free(ctx->ends);
  free(ctx->shadow_topics);
  free(ctx->shadow_app);
  free(ctx->shadow_group);
  cli_common_free(&ctx->common);
  cli_daemon_close(&ctx->d);
}

int cli_rebuild_main(int argc, char **argv) {
  rebuild_ctx_t ctx;
  memset(&ctx, 0, sizeof ctx);
  cli_common_init(&ctx.common);
  ctx.limit = 100;
  ctx.timeout_s = REBUILD_TIMEOUT_S;
  char **rest = NULL;
  size_t n_rest = 0;
  const char *name = NULL;
  int rc = rebuild_parse(&ctx, argc, argv, &rest, &n_rest, &name);
  if (rc != 0) {
    if (rc > 0) cli_help(&cli_cmd_rebuild, stdout);
    rebuild_free(&ctx);
    return rc > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
  }
  ctx.deadline = cli_now_ms() + ctx.timeout_s * 1000;
  if (ctx.policy) {
    /* Checked by --check-config like every other setting. */
    char **all = calloc(n_rest + 2, sizeof *all);
    if (!all) abort();
    memcpy(all, rest, n_rest * sizeof *all);
    all[n_rest] = xasprintf("--policy.file=%s", ctx.policy);
    rc = cli_daemon_open(&ctx.d, &ctx.common, name, all, n_rest + 1);
    free(all[n_rest]);
    free(all);
  } else {
    rc = cli_daemon_open(&ctx.d, &ctx.common, name, rest, n_rest);
  }
  if (rc < 0) {
    rebuild_free(&ctx);
    return CLI_EXIT_USAGE;
  }
  int exit_code = CLI_EXIT_NOT_RUN;
  cli_diff_summary_t sum;
  memset(&sum, 0, sizeof sum);
  if ((ctx.admin = cli_admin_new(&ctx.common)) &&
      (ctx.consumer = cli_consumer_new(&ctx.common, "rebuild")) && rebuild_inputs(&ctx) == 0) {
    rc = rebuild_create(&ctx);
    if (rc == -2) exit_code = CLI_EXIT_USAGE;
    if (rc == 0 && rebuild_run(&ctx) == 0 && rebuild_read_ends(&ctx) == 0 &&
        rebuild_compare(&ctx, &sum) == 0)
      exit_code = sum.different + sum.only_live + sum.only_shadow == 0 ? CLI_EXIT_OK
                                                                       : CLI_EXIT_DIFFERENT;
  }
  rebuild_cleanup(&ctx);
  rebuild_free(&ctx);
  return exit_code;
}

static const char rebuild_synopsis[] =
    "greenlight rebuild orderd|batchd [--config FILE] [--policy FILE] [--until TIME]\n"
    "                   [--shadow ID] [--keep] [--json] [--limit N] [--timeout SECONDS]\n"
    "                   [--daemon-bin PATH] [-b BOOTSTRAP] [--prefix P] [-X prop=value]\n"
    "                   [-- DAEMON-SETTING ...]\n";
static const char rebuild_help[] =
    "Runs the daemon's own executable over its inputs, from their beginning to\n"
    "the end offsets it finds when it starts (or --until), into a shadow app id\n"
    "and shadow output topics, then compares the shadow's output with the live\n"
    "one record by record per key (timestamps, values and headers; not offsets)\n"
    "and prints, for each key that differs, its first difference side by side,\n"
    "then a summary. The daemon's settings are its own: --config is the live\n"
    "daemon's config file, settings after -- are passed to it (e.g.\n"
    "--max.idle.ms=500), and its effective app.id, topic.prefix, topics and\n"
    "connection are read back with --check-config.\n"
    "\n"
    "  --config FILE     the live daemon's config file\n"
    "  --policy FILE     orderd: rebuild under this policy (what would have happened)\n"
    "  --until TIME      process only records stamped before TIME (epoch ms or RFC 3339)\n"
    "  --shadow ID       the shadow's name (default rebuild-<UTC time>-<pid>): app id\n"
    "                    <app.id>.ID, topics <topic>.ID\n"
    "  --keep            keep the shadow topics and group (default: delete them)\n"
    "  --json            one JSON line per key that differs, then {\"summary\":...}\n"
    "  --limit N         show at most N keys that differ (default 100; 0 = all)\n"
    "  --timeout SECONDS give up after this long (default 3600)\n"
    "  --daemon-bin PATH the executable (default: beside greenlight, or on PATH)\n"
    "\n"
    "What is compared: orderd's status topic, batchd's status topic. A live\n"
    "OrderStatus caused by an input record past the shadow's end is left out.\n";
static const char rebuild_examples[] =
    "greenlight rebuild orderd --config /etc/greenlight/orderd.conf\n"
    "greenlight rebuild orderd --policy /tmp/bar-research.policy --json\n"
    "greenlight rebuild batchd --keep --shadow check1\n";
static const char *const rebuild_words[] = {"orderd", "batchd", NULL};

const cli_command_t cli_cmd_rebuild = {
    .name = "rebuild",
    .summary = "run a daemon over its inputs into a shadow and diff it with live",
    .synopsis = rebuild_synopsis,
    .help = rebuild_help,
    .examples = rebuild_examples,
    .options = rebuild_options,
    .shortopts = NULL,
    .words = rebuild_words,
    .main = cli_rebuild_main,
};
