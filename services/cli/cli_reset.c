/* greenlight reset: moves a daemon's consumer group to the earliest
 * offsets, a time or given offsets and clears its state, as Kafka
 * Streams' application reset tool does (SPEC: "Reset: move a daemon's
 * group to a time or offset and clear its state, refusing while the group
 * has live members").
 *
 * The group, the input topics and the changelog are the daemon's own:
 * cli_daemon_open() reads them from its executable (--check-config), as
 * rebuild does. The state is the changelog: it is deleted and created
 * again with the same partitions, replication and topic configs
 * (DeleteRecords is refused on a compact-only topic). The daemon restores
 * an empty state and processes its inputs from the new offsets.
 *
 * Repartition data: orderd writes greenlight-batchd.repartition and
 * batchd reads it. Resetting orderd leaves that topic alone: batchd drops
 * an order status whose version it already has (batch_view.c, rule 5), so
 * the statuses orderd publishes again leave the batch views as they were.
 * Resetting batchd moves its offsets on that topic, its input, like any
 * input's.
 *
 * Work, in order: (1) the group must have no members (DescribeConsumerGroups;
 * --wait polls it once a second until a deadline); (2) the new offsets are
 * committed with AlterConsumerGroupOffsets, an offset commit of generation
 * -1 that the broker refuses while the group has members, so a daemon
 * started meanwhile stops the reset there; (3) the changelog is emptied;
 * (4) the group is checked again. A step that fails says what was done,
 * and the same reset again completes it: every step is idempotent. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

#define RESET_TIMEOUT_S 30 /* Each step's deadline, by default. */

enum {
  OPT_CONFIG = CLI_OPT_FIRST_OWN,
  OPT_DAEMON_BIN,
  OPT_TO_EARLIEST,
  OPT_TO_TIME,
  OPT_TO_OFFSET,
  OPT_DRY_RUN,
  OPT_YES,
  OPT_WAIT,
  OPT_JSON,
  OPT_TIMEOUT,
};

/* One --to-offset TOPIC:PARTITION:OFFSET. */
typedef struct reset_given {
  const char *spec;
  char topic[256]; /* As given: with or without the prefix. */
  int32_t partition;
  int64_t offset;
  const char *input; /* The daemon's input it names (without the prefix). */
} reset_given_t;

/* One input partition of the plan. */
typedef struct reset_part {
  char *topic; /* With the prefix. */
  int32_t partition;
  int64_t committed; /* -1: none. */
  int64_t low, end;  /* Earliest offset; end (last stable offset). */
  int64_t target;
  const char *how;   /* "earliest", "time" or "given". */
} reset_part_t;

typedef struct reset_ctx {
  cli_common_t common;
  cli_daemon_t d;
  bool to_earliest, to_time, dry_run, yes, json;
  int64_t time_ms;
  reset_given_t *given;
  size_t n_given;
  long long wait_s, timeout_s;
  rd_kafka_t *admin, *consumer;
  reset_part_t *parts;
  size_t n_parts;
  cli_new_topic_t changelog; /* Its settings, or those it is created with. */
  bool cl_exists;
  char **cl_configs;
  size_t n_cl_configs;
  int64_t cl_records;
  cli_group_t group;
} reset_ctx_t;


/* ---- Options -------------------------------------------------------------- */

/* TOPIC:PARTITION:OFFSET (a topic name has no ':'). */
static int reset_parse_given(reset_ctx_t *ctx, const char *spec) {
  reset_given_t g = {.spec = spec};
  char buf[sizeof g.topic + 64];
  snprintf(buf, sizeof buf, "%s", spec);
  char *c2 = strrchr(buf, ':');
  if (c2) *c2 = '\0';
  char *c1 = c2 ? strrchr(buf, ':') : NULL;
  if (c1) *c1 = '\0';
  long long part = 0, off = 0;
  if (strlen(spec) >= sizeof buf || !c1 || c1 == buf || strlen(buf) >= sizeof g.topic ||
      cli_parse_int(c1 + 1, 0, INT32_MAX, &part) < 0 ||
      cli_parse_int(c2 + 1, 0, INT64_MAX, &off) < 0) {
    cli_err("--to-offset '%s': expected TOPIC:PARTITION:OFFSET, e.g. greenlight.orders:0:1200",
            spec);
    return -1;
  }
  snprintf(g.topic, sizeof g.topic, "%s", buf);
  g.partition = (int32_t)part;
  g.offset = off;
  ctx->given = realloc(ctx->given, (ctx->n_given + 1) * sizeof *ctx->given);
  if (!ctx->given) abort();
  ctx->given[ctx->n_given++] = g;
  return 0;
}

static int reset_opt(void *arg, int opt, const char *val) {
  reset_ctx_t *ctx = arg;
  switch (opt) {
    case OPT_CONFIG: ctx->d.config = val; return 0;
    case OPT_DAEMON_BIN: snprintf(ctx->d.bin, sizeof ctx->d.bin, "%s", val); return 0;
    case OPT_TO_EARLIEST: ctx->to_earliest = true; return 0;
    case OPT_TO_TIME:
      ctx->to_time = true;
      return cli_parse_time_opt("--to-time", val, &ctx->time_ms);
    case OPT_TO_OFFSET: return reset_parse_given(ctx, val);
    case OPT_DRY_RUN: ctx->dry_run = true; return 0;
    case OPT_YES: ctx->yes = true; return 0;
    case OPT_JSON: ctx->json = true; return 0;
    case OPT_TIMEOUT:
      if (cli_parse_int(val, 1, 3600, &ctx->timeout_s) == 0) return 0;
      cli_err("--timeout '%s': expected seconds 1..3600", val);
      return -1;
    case OPT_WAIT:
      if (cli_parse_int(val, 0, 86400, &ctx->wait_s) == 0) return 0;
      cli_err("--wait '%s': expected seconds 0..86400", val);
      return -1;
    default: return -1;
  }
}

static const struct option reset_options[] = {
    CLI_COMMON_LONGOPTS,
    {"config", required_argument, NULL, OPT_CONFIG},
    {"daemon-bin", required_argument, NULL, OPT_DAEMON_BIN},
    {"to-earliest", no_argument, NULL, OPT_TO_EARLIEST},
    {"to-time", required_argument, NULL, OPT_TO_TIME},
    {"to-offset", required_argument, NULL, OPT_TO_OFFSET},
    {"dry-run", no_argument, NULL, OPT_DRY_RUN},
    {"yes", no_argument, NULL, OPT_YES},
    {"wait", required_argument, NULL, OPT_WAIT},
    {"json", no_argument, NULL, OPT_JSON},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {NULL, 0, NULL, 0},
};

/* Returns 0 to go on, 1 after --help, -1 on a usage error; *name is the
 * daemon, *rest the settings after it. */
static int reset_parse(reset_ctx_t *ctx, int argc, char **argv, const char **name, char ***rest,
                       size_t *n_rest) {
  if (cli_parse_opts(&ctx->common, argc, argv, "", reset_options, reset_opt, ctx) < 0) return -1;
  if (ctx->common.help) return 1;
  if (ctx->to_earliest && ctx->to_time) {
    cli_err("--to-earliest and --to-time: give one of them");
    return -1;
  }
  if (ctx->dry_run && ctx->yes) {
    cli_err("--dry-run and --yes: give one of them");
    return -1;
  }
  if (optind >= argc) {
    cli_err("which daemon? expected orderd or batchd (see --help)");
    return -1;
  }
  *name = argv[optind];
  if (!cli_daemon_kind(*name)) {
    cli_err("unknown daemon '%s': expected orderd or batchd", *name);
    return -1;
  }
  *rest = argv + optind + 1;
  *n_rest = (size_t)(argc - optind - 1);
  return 0;
}

/* Each --to-offset names an input (with or without the prefix), once per
 * partition. Returns 0 or -1 (reported: a usage error). */
static int reset_match_given(reset_ctx_t *ctx) {
  const cli_daemon_t *d = &ctx->d;
  size_t plen = strlen(d->prefix);
  for (size_t i = 0; i < ctx->n_given; i++) {
    reset_given_t *g = &ctx->given[i];
    const char *t = g->topic;
    for (size_t k = 0; k < d->n_inputs && !g->input; k++)
      if (strcmp(t, d->inputs[k]) == 0 ||
          (plen && strncmp(t, d->prefix, plen) == 0 && strcmp(t + plen, d->inputs[k]) == 0))
        g->input = d->inputs[k];
    if (!g->input) {
      char list[1024] = "";
      for (size_t k = 0; k < d->n_inputs; k++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", k ? ", " : "",
                 d->inputs[k]);
      cli_err("--to-offset '%s': %s is not an input of %s (its inputs: %s)", g->spec, t,
              d->kind->name, list);
      return -1;
    }
    for (size_t k = 0; k < i; k++)
      if (ctx->given[k].input == g->input && ctx->given[k].partition == g->partition) {
        cli_err("--to-offset '%s': %s [%d] is already given ('%s')", g->spec, g->input,
                (int)g->partition, ctx->given[k].spec);
        return -1;
      }
  }
  return 0;
}

/* ---- The plan --------------------------------------------------------------- */

/* The deadline of one step (a request, or a few of them). */
static int64_t reset_deadline(const reset_ctx_t *ctx) {
  return cli_now_ms() + ctx->timeout_s * 1000;
}

static int reset_left_ms(int64_t deadline) {
  int64_t left = deadline - cli_now_ms();
  return left > 0 ? (int)left : 1;
}

static const reset_given_t *reset_find_given(const reset_ctx_t *ctx, const char *input,
                                             int32_t partition) {
  for (size_t i = 0; i < ctx->n_given; i++)
    if (strcmp(ctx->given[i].input, input) == 0 && ctx->given[i].partition == partition)
      return &ctx->given[i];
  return NULL;
}

/* Errors of a partition whose leader is moving or not known yet (a topic
 * just created): asked again until the deadline. */
static bool reset_retriable(rd_kafka_resp_err_t e) {
  return e == RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION ||
         e == RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE ||
         e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
         e == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION ||
         e == RD_KAFKA_RESP_ERR__TRANSPORT ||
         e == RD_KAFKA_RESP_ERR_FENCED_LEADER_EPOCH || e == RD_KAFKA_RESP_ERR_UNKNOWN_LEADER_EPOCH;
}

static void reset_pause(void) {
  nanosleep(&(struct timespec){.tv_nsec = 200 * 1000 * 1000}, NULL);
}

/* The earliest offset and the end (last stable offset) of a partition. */
static int reset_watermarks(reset_ctx_t *ctx, const char *topic, int32_t p, int64_t deadline,
                            int64_t *lo, int64_t *hi) {
  for (;;) {
    rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(ctx->consumer, topic, p, lo, hi,
                                                             reset_left_ms(deadline));
    if (!e) return 0;
    if (!reset_retriable(e) || cli_now_ms() + 200 >= deadline) {
      cli_err("cannot read the offsets of %s [%d]: %s", topic, (int)p, rd_kafka_err2str(e));
      return -1;
    }
    reset_pause();
  }
}

/* Each partition's first offset stamped at or after ms, -1 for none. A
 * partition's error is never taken for "none": asked again, or failed. */
static int reset_offsets_for_time(reset_ctx_t *ctx, rd_kafka_topic_partition_list_t *l, int64_t ms,
                                  int64_t deadline) {
  for (;;) {
    rd_kafka_topic_partition_list_t *q = rd_kafka_topic_partition_list_copy(l);
    for (int i = 0; i < q->cnt; i++) q->elems[i].offset = ms;
    rd_kafka_resp_err_t e = rd_kafka_offsets_for_times(ctx->consumer, q, reset_left_ms(deadline));
    const rd_kafka_topic_partition_t *bad = NULL;
    for (int i = 0; !e && i < q->cnt && !bad; i++)
      if (q->elems[i].err) bad = &q->elems[i], e = bad->err;
    for (int i = 0; !e && i < q->cnt; i++) l->elems[i].offset = q->elems[i].offset;
    if (e && (!reset_retriable(e) || cli_now_ms() + 200 >= deadline))
      cli_err("--to-time: cannot look up the offsets of %s [%d]: %s",
              bad ? bad->topic : l->elems[0].topic, bad ? (int)bad->partition : 0,
              rd_kafka_err2str(e));
    rd_kafka_topic_partition_list_destroy(q);
    if (!e) return 0;
    if (!reset_retriable(e) || cli_now_ms() + 200 >= deadline) return -1;
    reset_pause();
  }
}

/* Every input partition: its committed offset, watermarks and target.
 * Returns 0, -1 (reported) or -2 (a --to-offset out of range: usage). */
static int reset_read_inputs(reset_ctx_t *ctx) {
  cli_daemon_t *d = &ctx->d;
  int64_t deadline = reset_deadline(ctx);
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(16);
  const char **input_of = NULL; /* By list index: the input's name without the prefix. */
  int rc = 0;
  for (size_t i = 0; i < d->n_inputs && rc == 0; i++) {
    char topic[512];
    snprintf(topic, sizeof topic, "%s%s", d->prefix, d->inputs[i]);
    int32_t n = 0;
    if (cli_admin_partitions(ctx->admin, topic, deadline, &n) < 0) {
      rc = -1;
    } else if (n == 0) {
      cli_err("input topic %s does not exist", topic);
      rc = -1;
    }
    for (int32_t p = 0; p < n && rc == 0; p++) {
      rd_kafka_topic_partition_list_add(l, topic, p);
      input_of = realloc(input_of, (size_t)l->cnt * sizeof *input_of);
      if (!input_of) abort();
      input_of[l->cnt - 1] = d->inputs[i];
    }
    for (size_t k = 0; k < ctx->n_given && rc == 0; k++)
      if (ctx->given[k].input == d->inputs[i] && ctx->given[k].partition >= n) {
        cli_err("--to-offset '%s': %s has %d partitions (0..%d)", ctx->given[k].spec, topic,
                (int)n, (int)n - 1);
        rc = -2;
      }
  }
  if (rc == 0) rc = cli_admin_group_committed(ctx->admin, d->group, l, deadline);
  ctx->parts = calloc((size_t)l->cnt + 1, sizeof *ctx->parts);
  if (!ctx->parts) abort();
  for (int i = 0; i < l->cnt && rc == 0; i++) {
    reset_part_t *p = &ctx->parts[ctx->n_parts++];
    p->topic = strdup(l->elems[i].topic);
    if (!p->topic) abort();
    p->partition = l->elems[i].partition;
    p->committed = l->elems[i].offset;
    rc = reset_watermarks(ctx, p->topic, p->partition, deadline, &p->low, &p->end);
    p->target = p->low;
    p->how = "earliest";
  }
  if (rc == 0 && ctx->to_time) {
    rc = reset_offsets_for_time(ctx, l, ctx->time_ms, deadline);
    for (int i = 0; i < l->cnt && rc == 0; i++) {
      reset_part_t *p = &ctx->parts[i];
      p->target = l->elems[i].offset >= 0 ? l->elems[i].offset : p->end;
      p->how = "time";
    }
  }
  for (size_t i = 0; i < ctx->n_parts && rc == 0; i++) {
    reset_part_t *p = &ctx->parts[i];
    const reset_given_t *g = reset_find_given(ctx, input_of[i], p->partition);
    if (!g) continue;
    if (g->offset < p->low || g->offset > p->end) {
      cli_err("--to-offset '%s': offset %" PRId64 " is outside %s [%d]'s offsets %" PRId64
              "..%" PRId64, g->spec, g->offset, p->topic, (int)p->partition, p->low, p->end);
      rc = -2;
    }
    p->target = g->offset;
    p->how = "given";
  }
  free(input_of);
  rd_kafka_topic_partition_list_destroy(l);
  return rc;
}

/* The changelog's settings and size. One that does not exist is to be
 * created as the daemon's topics are: compacted, with the inputs'
 * partition count (the first input's), the broker's replication. */
static int reset_read_changelog(reset_ctx_t *ctx) {
  int64_t deadline = reset_deadline(ctx);
  if (cli_admin_topic_settings(ctx->admin, ctx->d.changelog, deadline, &ctx->changelog,
                               &ctx->cl_configs, &ctx->n_cl_configs) < 0)
    return -1;
  ctx->cl_exists = ctx->changelog.partitions > 0;
  if (!ctx->cl_exists) {
    ctx->changelog.compact = true;
    for (size_t i = 0; i < ctx->n_parts && strcmp(ctx->parts[i].topic, ctx->parts[0].topic) == 0;
         i++)
      ctx->changelog.partitions = ctx->parts[i].partition + 1;
  }
  for (int32_t p = 0; ctx->cl_exists && p < ctx->changelog.partitions; p++) {
    int64_t lo = 0, hi = 0;
    if (reset_watermarks(ctx, ctx->d.changelog, p, deadline, &lo, &hi) < 0) return -1;
    ctx->cl_records += hi - lo;
  }
  return 0;
}

/* ---- Printing ------------------------------------------------------------- */

static json_t *reset_group_json(const reset_ctx_t *ctx) {
  json_t *members = json_array();
  for (size_t i = 0; i < ctx->group.n_members; i++) {
    const cli_group_member_t *m = &ctx->group.members[i];
    json_array_append_new(members, json_pack("{s:s?,s:s?,s:s?,s:s?}", "member_id", m->member_id,
                                             "instance_id", m->instance_id, "client_id",
                                             m->client_id, "host", m->host));
  }
  return json_pack("{s:{s:s,s:s,s:o}}", "group", "id", ctx->d.group, "state", ctx->group.state,
                   "members", members);
}

/* The members, one line each, to stderr. */
static void reset_print_members(const reset_ctx_t *ctx) {
  for (size_t i = 0; i < ctx->group.n_members; i++) {
    const cli_group_member_t *m = &ctx->group.members[i];
    fprintf(stderr, "  member %s  instance %s  client %s  host %s\n",
            m->member_id ? m->member_id : "-", m->instance_id ? m->instance_id : "- (dynamic)",
            m->client_id ? m->client_id : "-", m->host ? m->host : "-");
  }
}

static void reset_time_text(int64_t ms, char *buf, size_t len) {
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  char s[32];
  strftime(s, sizeof s, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf, len, "%s.%03dZ", s, (int)(ms % 1000));
}

static int reset_print_json(const reset_ctx_t *ctx) {
  int rc = cli_print_json_line(reset_group_json(ctx));
  for (size_t i = 0; i < ctx->n_parts && rc == 0; i++) {
    const reset_part_t *p = &ctx->parts[i];
    rc = cli_print_json_line(json_pack(
        "{s:s,s:i,s:o,s:I,s:s,s:I,s:I}", "topic", p->topic, "partition", (int)p->partition,
        "committed", p->committed >= 0 ? json_integer(p->committed) : json_null(), "new",
        (json_int_t)p->target, "how", p->how, "low", (json_int_t)p->low, "end",
        (json_int_t)p->end));
  }
  json_t *configs = json_object();
  for (size_t i = 0; i < ctx->n_cl_configs; i++) {
    const char *eq = strchr(ctx->cl_configs[i], '=');
    char *name = strndup(ctx->cl_configs[i], (size_t)(eq - ctx->cl_configs[i]));
    if (!name) abort();
    json_object_set_new(configs, name, json_string(eq + 1));
    free(name);
  }
  if (rc == 0)
    rc = cli_print_json_line(json_pack(
        "{s:{s:s,s:b,s:i,s:i,s:b,s:o,s:I}}", "changelog", "topic", ctx->d.changelog, "exists",
        ctx->cl_exists, "partitions", (int)ctx->changelog.partitions,
        "replication", ctx->changelog.replication, "compact", ctx->changelog.compact, "configs",
        configs, "records", (json_int_t)ctx->cl_records));
  else
    json_decref(configs);
  return rc;
}

static int reset_print_plan(const reset_ctx_t *ctx) {
  if (ctx->json) return reset_print_json(ctx);
  const cli_daemon_t *d = &ctx->d;
  char when[64] = "the earliest offsets";
  if (ctx->to_time) {
    char t[40];
    reset_time_text(ctx->time_ms, t, sizeof t);
    snprintf(when, sizeof when, "%s (%" PRId64 ")", t, ctx->time_ms);
  }
  printf("reset %s: group %s (state %s, %zu member%s) to %s%s\n", d->kind->name, d->group,
         ctx->group.state, ctx->group.n_members, ctx->group.n_members == 1 ? "" : "s", when,
         ctx->n_given ? ", with the offsets given" : "");
  for (size_t i = 0; i < ctx->n_parts; i++) {
    const reset_part_t *p = &ctx->parts[i];
    char committed[32] = "none";
    if (p->committed >= 0) snprintf(committed, sizeof committed, "%" PRId64, p->committed);
    printf("  %s [%d]: committed %s -> %" PRId64 " (%s; %" PRId64 " records to process)\n",
           p->topic, (int)p->partition, committed, p->target, p->how, p->end - p->target);
  }
  const cli_new_topic_t *c = &ctx->changelog;
  if (ctx->cl_exists) {
    printf("  changelog %s (%d partitions, replication %d, holding up to %" PRId64
           " records): deleted and created again, empty",
           d->changelog, (int)c->partitions, c->replication, ctx->cl_records);
    for (size_t i = 0; i < ctx->n_cl_configs; i++)
      printf("%s%s", i ? ", " : ", configs ", ctx->cl_configs[i]);
    printf("\n");
  } else {
    printf("  changelog %s does not exist: created, empty (%d partitions, "
           "cleanup.policy=compact)\n",
           d->changelog, (int)c->partitions);
  }
  printf("  left alone: the outputs and the DLQ%s\n",
         strcmp(d->kind->name, "orderd") == 0
             ? ", and the repartition topic (batchd drops the statuses it already has)"
             : "");
  return fflush(stdout) == 0 ? 0 : -1;
}

/* With --json, the last line: {"result":"done"} (or dry_run, refused, ...). */
static void reset_result(const reset_ctx_t *ctx, const char *result) {
  if (ctx->json) cli_print_json_line(json_pack("{s:s}", "result", result));
}

/* ---- Doing it --------------------------------------------------------------- */

static int reset_describe(reset_ctx_t *ctx) {
  cli_group_free(&ctx->group);
  return cli_admin_describe_group(ctx->admin, ctx->d.group, reset_deadline(ctx), &ctx->group);
}

/* Step 1: no members, waiting up to --wait. Returns 0, 1 (refused:
 * reported) or -1 (reported). */
static int reset_check_members(reset_ctx_t *ctx) {
  if (reset_describe(ctx) < 0) return -1;
  int64_t until = cli_now_ms() + ctx->wait_s * 1000;
  if (ctx->group.n_members && ctx->wait_s)
    fprintf(stderr, "greenlight: reset: group %s has %zu members: waiting up to %lld s for them "
            "to leave\n", ctx->d.group, ctx->group.n_members, ctx->wait_s);
  while (ctx->group.n_members && cli_now_ms() < until && !cli_stop_requested()) {
    nanosleep(&(struct timespec){.tv_sec = 1}, NULL);
    if (reset_describe(ctx) < 0) return -1;
  }
  if (!ctx->group.n_members) return 0;
  const char *session = cli_daemon_setting(&ctx->d, "kafka.session.timeout.ms");
  cli_err("group %s has %zu live member%s (state %s): refused, nothing was changed",
          ctx->d.group, ctx->group.n_members, ctx->group.n_members == 1 ? "" : "s",
          ctx->group.state);
  reset_print_members(ctx);
  cli_err("stop the daemon first. A stopped daemon is a static member and stays in the group "
          "until its session times out (session.timeout.ms: %s ms%s): add --wait SECONDS to "
          "wait for it",
          session ? session : "45000", session ? " in these settings" : ", the daemon's default");
  return 1;
}

/* Steps 2 to 4. Returns 0 or -1 (reported, with what was done). */
static int reset_apply(reset_ctx_t *ctx) {
  cli_daemon_t *d = &ctx->d;
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)ctx->n_parts);
  for (size_t i = 0; i < ctx->n_parts; i++)
    rd_kafka_topic_partition_list_add(l, ctx->parts[i].topic, ctx->parts[i].partition)->offset =
        ctx->parts[i].target;
  int refused = cli_admin_group_commit(ctx->admin, d->group, l, reset_deadline(ctx));
  rd_kafka_topic_partition_list_destroy(l);
  if (refused != 0) {
    if (refused > 0)
      cli_err("the broker refused the new offsets of %d of %zu partitions (why: above; a "
              "daemon that joined the group meanwhile makes it refuse them); the others may "
              "have been committed, the changelog was not touched. Stop the daemon and run the "
              "same reset again", refused, ctx->n_parts);
    else
      cli_err("the new offsets may not have been committed, the changelog was not touched: run "
              "the same reset again");
    return -1;
  }
  /* Before the changelog goes: librdkafka 2.0.2 may never finish
   * destroying a client that knows a deleted topic's partitions (see
   * rebuild); this one looked its offsets up. */
  rd_kafka_consumer_close(ctx->consumer);
  rd_kafka_destroy(ctx->consumer);
  ctx->consumer = NULL;
  bool deleted = false;
  if (cli_admin_recreate_topic(ctx->admin, &ctx->changelog, (const char *const *)ctx->cl_configs,
                               ctx->n_cl_configs, reset_deadline(ctx), &deleted) < 0) {
    if (!deleted)
      cli_err("the new offsets were committed, but the changelog %s was not deleted: the state "
              "is still there. Run the same reset again before starting the daemon",
              d->changelog);
    else
      cli_err("the new offsets were committed and the changelog %s deleted, but not created "
              "again (%d partitions, replication %d): the daemon cannot start without it. Run "
              "the same reset again",
              d->changelog, (int)ctx->changelog.partitions, ctx->changelog.replication);
    return -1;
  }
  if (reset_describe(ctx) < 0) {
    cli_err("done, but the group could not be checked again: make sure no daemon of group %s "
            "started while the reset ran", d->group);
    return 0;
  }
  if (ctx->group.n_members) {
    cli_err("a member joined group %s while the reset ran: it may have read the old state or "
            "offsets. Stop it and run the same reset again", d->group);
    reset_print_members(ctx);
    return -1;
  }
  return 0;
}

/* ---- main --------------------------------------------------------------------- */

static void reset_free(reset_ctx_t *ctx) {
  if (ctx->consumer) {
    rd_kafka_consumer_close(ctx->consumer);
    rd_kafka_destroy(ctx->consumer);
  }
  if (ctx->admin) rd_kafka_destroy(ctx->admin);
  for (size_t i = 0; i < ctx->n_parts; i++) free(ctx->parts[i].topic);
  for (size_t i = 0; i < ctx->n_cl_configs; i++) free(ctx->cl_configs[i]);
  free(ctx->cl_configs);
  free(ctx->parts);
  free(ctx->given);
  cli_group_free(&ctx->group);
  cli_common_free(&ctx->common);
  cli_daemon_close(&ctx->d);
}

/* Everything after the daemon's settings are known: an exit code. */
static int reset_run(reset_ctx_t *ctx) {
  if (!(ctx->admin = cli_admin_new(&ctx->common)) ||
      !(ctx->consumer = cli_consumer_new(&ctx->common, "reset")))
    return CLI_EXIT_USAGE;
  int rc = ctx->yes ? reset_check_members(ctx) : reset_describe(ctx);
  if (rc != 0) {
    if (rc > 0) reset_result(ctx, "refused");
    return CLI_EXIT_FAIL;
  }
  rc = reset_read_inputs(ctx);
  if (rc == 0) rc = reset_read_changelog(ctx);
  if (rc < 0) return rc == -2 ? CLI_EXIT_USAGE : CLI_EXIT_FAIL;
  if (reset_print_plan(ctx) < 0) {
    cli_err("cannot write to standard output");
    return CLI_EXIT_FAIL;
  }
  if (!ctx->yes && ctx->group.n_members) {
    cli_err("note: group %s has %zu live members now: --yes would be refused", ctx->d.group,
            ctx->group.n_members);
    reset_print_members(ctx);
  }
  if (ctx->dry_run) {
    reset_result(ctx, "dry_run");
    return CLI_EXIT_OK;
  }
  if (!ctx->yes) {
    cli_err("reset moves the group's offsets and deletes the daemon's state: add --yes to do "
            "it, or --dry-run to see the plan only");
    reset_result(ctx, "not_confirmed");
    return CLI_EXIT_USAGE;
  }
  if (reset_apply(ctx) < 0) {
    reset_result(ctx, "failed");
    return CLI_EXIT_FAIL;
  }
  fprintf(stderr, "greenlight: reset: group %s moved on %zu input partitions, changelog %s "
          "emptied: the daemon processes from there when it starts\n", ctx->d.group,
          ctx->n_parts, ctx->d.changelog);
  reset_result(ctx, "done");
  return CLI_EXIT_OK;
}

int cli_reset_main(int argc, char **argv) {
  reset_ctx_t ctx;
  memset(&ctx, 0, sizeof ctx);
  cli_common_init(&ctx.common);
  ctx.timeout_s = RESET_TIMEOUT_S;
  const char *name = NULL;
  char **rest = NULL;
  size_t n_rest = 0;
  int rc = reset_parse(&ctx, argc, argv, &name, &rest, &n_rest);
  if (rc != 0) {
    if (rc > 0) cli_help(&cli_cmd_reset, stdout);
    reset_free(&ctx);
    return rc > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
  }
  if (cli_daemon_open(&ctx.d, &ctx.common, name, rest, n_rest) < 0 || reset_match_given(&ctx) < 0) {
    reset_free(&ctx);
    return CLI_EXIT_USAGE;
  }
  rc = reset_run(&ctx);
  reset_free(&ctx);
  return rc;
}

static const char reset_synopsis[] =
    "greenlight reset orderd|batchd [--to-earliest | --to-time TIME]\n"
    "         [--to-offset TOPIC:PARTITION:OFFSET ...] [--dry-run | --yes]\n"
    "         [--wait SECONDS] [--json] [--timeout SECONDS] [--config FILE]\n"
    "         [--daemon-bin PATH] [-b BOOTSTRAP] [--prefix P] [-X prop=value]\n"
    "         [-- DAEMON-SETTING ...]\n";
static const char reset_help[] =
    "Moves the daemon's consumer group (<prefix><app.id>) on every input\n"
    "partition to its earliest offset (the default), to its first record\n"
    "stamped at or after --to-time, or to the offset given, and clears the\n"
    "daemon's state: its changelog topic is deleted and created again, empty,\n"
    "with the same partitions, replication and topic configs (created if it is\n"
    "missing). Started again, the daemon restores nothing and processes its\n"
    "inputs from there, as a fresh run over the same records would, and\n"
    "publishes again what it processes. As Kafka Streams' application reset\n"
    "tool does. The daemon's settings are its own, read with --check-config\n"
    "as rebuild does: --config is its config file, settings after -- are\n"
    "passed to it (e.g. --app.id=orderd-blue).\n"
    "\n"
    "It refuses (exit 1, nothing changed) while the group has members. The\n"
    "daemons are static members (group.instance.id): a stopped daemon stays a\n"
    "member until its session times out (session.timeout.ms, 45 s by\n"
    "default); --wait waits for that.\n"
    "\n"
    "  --to-earliest      each input partition's earliest offset (the default)\n"
    "  --to-time TIME     each partition's first record stamped at or after TIME\n"
    "                     (epoch ms or RFC 3339); a partition without one: its end\n"
    "  --to-offset TOPIC:PARTITION:OFFSET\n"
    "                     that partition to OFFSET (repeatable; TOPIC an input,\n"
    "                     with or without the prefix). The partitions not named go\n"
    "                     where --to-earliest or --to-time puts them: the whole\n"
    "                     state is cleared, so no partition may keep its offset\n"
    "  --dry-run          print the plan, change nothing (also while the daemon runs)\n"
    "  --yes              do it; without --yes or --dry-run: the plan, then exit 2\n"
    "  --wait SECONDS     with --yes: wait up to SECONDS for the members to leave\n"
    "  --json             the plan as JSON lines (the group, each partition, the\n"
    "                     changelog), then {\"result\":...}\n"
    "  --timeout SECONDS  give up on a step (a request to the broker) after this\n"
    "                     long (default 30)\n"
    "  --config FILE      the daemon's config file\n"
    "  --daemon-bin PATH  the executable (default: beside greenlight, or on PATH)\n"
    "\n"
    "Left alone: the outputs and the DLQ (what is processed again is published\n"
    "again), and greenlight-batchd.repartition when orderd is reset: batchd\n"
    "drops an order status whose version it already has, so the statuses\n"
    "orderd publishes again leave the batch views as they were. Resetting\n"
    "batchd rebuilds its views from the repartition topic, its input, whose\n"
    "offsets it moves like any input's.\n"
    "\n"
    "Order of the work: the members check, the new offsets committed (the\n"
    "broker refuses them if a member joined meanwhile), the changelog emptied,\n"
    "the members checked again. A step that fails says what was done; the\n"
    "same reset again completes it.\n";
static const char reset_examples[] =
    "greenlight reset orderd --dry-run\n"
    "greenlight reset orderd --to-time 2026-01-05T08:00:00Z --yes --wait 60\n"
    "greenlight reset batchd --to-offset greenlight-batchd.repartition:2:1500 --yes\n"
    "greenlight reset orderd --config /etc/greenlight/orderd.conf --yes\n";
static const char *const reset_words[] = {"orderd", "batchd", NULL};

const cli_command_t cli_cmd_reset = {
    .name = "reset",
    .summary = "move a daemon's group back, to a time or offsets; clear its state",
    .synopsis = reset_synopsis,
    .help = reset_help,
    .examples = reset_examples,
    .options = reset_options,
    .shortopts = NULL,
    .words = reset_words,
    .main = cli_reset_main,
};
