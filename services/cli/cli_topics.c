/* greenlight topics: creates the topics of a deployment, or checks them.
 *
 * `create` makes the topics of topics_defaults below (and extra topics in
 * the same NAME[:compact][:N] syntax) through the Admin API, and leaves
 * existing topics alone but verifies them; deploy/local/kafka.sh's start and
 * topics run it. `check` verifies a deployment: every topic there,
 * the topics a daemon joins by key co-partitioned, changelogs and owners
 * topics compacted.
 *
 * Only requests that go to the controller or to any broker are sent
 * (metadata, CreateTopics, DescribeConfigs of topics): none is
 * coordinator-targeted, so none meets librdkafka's disconnect assertion
 * (see /work/shared/FACTS.md). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli.h"

#define TOPICS_TIMEOUT_MS 30000
#define TOPICS_DEFAULT_PARTITIONS 4
#define TOPICS_MAX_PARTITIONS 100000
#define TOPICS_LEGAL_CHARS \
  "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"

enum {
  OPT_PARTITIONS = CLI_OPT_FIRST_OWN,
  OPT_REPLICATION,
  OPT_DRY_RUN,
  OPT_TIMEOUT,
};

/* The topics that the greenlight daemons read and write, the one list of
 * them. A ":compact" suffix asks for cleanup.policy=compact, a ":N" suffix
 * for N partitions. All but the owners topics get the same partition count,
 * so that the topics that are joined by key stay co-partitioned; an app's
 * owners topic (<app.id>.owners: which instance owns which partition, for
 * the HTTP queries) has one partition, so that its offsets order every
 * instance's claims. */
static const char *const topics_defaults[] = {
    "greenlight.orders",
    "greenlight.approvals",
    "greenlight.batches",
    "greenlight.shipments",
    "greenlight.clock",
    "greenlight.order-status",
    "greenlight.batch-status",
    "greenlight.dlq",
    "greenlight-orderd.orders.changelog:compact",
    "greenlight-batchd.batches.changelog:compact",
    "greenlight-batchd.repartition",
    "greenlight-orderd.owners:compact:1",
    "greenlight-batchd.owners:compact:1",
};
#define TOPICS_N_DEFAULTS (sizeof topics_defaults / sizeof topics_defaults[0])

/* Topics that must have one partition count: a daemon's inputs, which it
 * joins by key, and the changelog of the store they fill. Range assignment
 * then keeps partition N of each on one instance. */
typedef struct topics_group {
  const char *what;
  const char *names[8]; /* NULL-terminated, without the prefix. */
} topics_group_t;

static const topics_group_t topics_groups[] = {
    {"orderd's inputs and changelog",
     {"greenlight.orders", "greenlight.approvals", "greenlight.batches", "greenlight.shipments",
      "greenlight.clock", "greenlight-orderd.orders.changelog", NULL}},
    {"batchd's repartition topic and changelog",
     {"greenlight-batchd.repartition", "greenlight-batchd.batches.changelog", NULL}},
};

/* One topic wanted, and what the cluster says of it. */
typedef struct topic_spec {
  char name[256];     /* With the prefix. */
  int32_t partitions; /* Wanted. */
  bool compact;       /* cleanup.policy=compact wanted. */
  int32_t found;      /* Partitions in the metadata; 0 = missing. */
  char policy[64];    /* cleanup.policy read back; "" = not read. */
  bool created;       /* Created by this run. */
} topic_spec_t;

typedef enum topics_cmd { TOPICS_CREATE, TOPICS_CHECK } topics_cmd_t;

typedef struct topics_ctx {
  cli_common_t common;
  topics_cmd_t cmd;
  long long partitions;  /* --partitions, else $GREENLIGHT_PARTITIONS, else 4. */
  long long replication; /* --replication-factor, default 1 as kafka.sh. */
  bool dry_run;
  bool create_opts;      /* An option of create was given. */
  long long timeout_ms;
  topic_spec_t *specs;
  size_t n_specs;
  rd_kafka_t *rk;
  int64_t deadline;
  json_t *problems;      /* Array of strings. */
} topics_ctx_t;


/* Parses one NAME[:compact][:PARTITIONS]: a trailing ":digits" is the
 * partition count, then a trailing ":compact". */
static int topics_parse_spec(const topics_ctx_t *ctx, const char *spec, topic_spec_t *out) {
  char base[256];
  size_t len = strlen(spec);
  if (len >= sizeof base) {
    cli_err("topic spec '%.40s...' is too long", spec);
    return -1;
  }
  memcpy(base, spec, len + 1);
  memset(out, 0, sizeof *out);
  out->partitions = (int32_t)ctx->partitions;
  char *colon = strrchr(base, ':');
  if (colon && colon[1] && strspn(colon + 1, "0123456789") == strlen(colon + 1)) {
    long long n;
    if (cli_parse_int(colon + 1, 1, TOPICS_MAX_PARTITIONS, &n) < 0) {
      cli_err("topic spec '%s': PARTITIONS must be 1 to %d", spec, TOPICS_MAX_PARTITIONS);
      return -1;
    }
    out->partitions = (int32_t)n;
    *colon = '\0';
  }
  len = strlen(base);
  if (len > 8 && strcmp(base + len - 8, ":compact") == 0) {
    out->compact = true;
    base[len - 8] = '\0';
  }
  if (!base[0] || strspn(base, TOPICS_LEGAL_CHARS) != strlen(base)) {
    cli_err("bad topic spec '%s': expected NAME[:compact][:PARTITIONS], NAME of letters, "
            "digits, '.', '_' and '-'",
            spec);
    return -1;
  }
  return cli_topic_name(&ctx->common, base, out->name, sizeof out->name);
}

/* The default topics, then the extra ones. */
static int topics_build_specs(topics_ctx_t *ctx, int n_extra, char **extra) {
  ctx->n_specs = TOPICS_N_DEFAULTS + (size_t)n_extra;
  ctx->specs = calloc(ctx->n_specs, sizeof *ctx->specs);
  if (!ctx->specs) abort();
  for (size_t i = 0; i < ctx->n_specs; i++) {
    const char *s = i < TOPICS_N_DEFAULTS ? topics_defaults[i] : extra[i - TOPICS_N_DEFAULTS];
    if (topics_parse_spec(ctx, s, &ctx->specs[i]) < 0) return -1;
    for (size_t j = 0; j < i; j++) {
      if (strcmp(ctx->specs[j].name, ctx->specs[i].name) != 0) continue;
      cli_err("topic spec '%s': %s is %s already", s, ctx->specs[i].name,
              j < TOPICS_N_DEFAULTS ? "a topic of the deployment" : "given");
      return -1;
    }
  }
  return 0;
}

static int topics_own_opt(void *arg_ctx, int opt, const char *arg) {
  topics_ctx_t *ctx = arg_ctx;
  switch (opt) {
    case OPT_PARTITIONS:
      ctx->create_opts = true;
      if (cli_parse_int(arg, 1, TOPICS_MAX_PARTITIONS, &ctx->partitions) == 0) return 0;
      cli_err("--partitions: expected 1 to %d, got '%s'", TOPICS_MAX_PARTITIONS, arg);
      return -1;
    case OPT_REPLICATION:
      ctx->create_opts = true;
      if (cli_parse_int(arg, 1, 32767, &ctx->replication) == 0) return 0;
      cli_err("--replication-factor: expected 1 to 32767, got '%s'", arg);
      return -1;
    case OPT_DRY_RUN: ctx->create_opts = ctx->dry_run = true; return 0;
    case OPT_TIMEOUT:
      if (cli_parse_int(arg, 1, INT32_MAX, &ctx->timeout_ms) == 0) return 0;
      cli_err("--timeout-ms: expected a positive number of milliseconds, got '%s'", arg);
      return -1;
    default: return -1;
  }
}

/* The subcommand and its arguments, once the options are parsed. */
static int topics_parse_rest(topics_ctx_t *ctx, int argc, char **argv) {
  if (optind >= argc) {
    cli_err("which subcommand? usage: greenlight topics create|check [options]");
    return -1;
  }
  const char *cmd = argv[optind];
  if (strcmp(cmd, "create") == 0) {
    ctx->cmd = TOPICS_CREATE;
  } else if (strcmp(cmd, "check") == 0) {
    ctx->cmd = TOPICS_CHECK;
  } else {
    cli_err("unknown subcommand '%s' (create or check; see greenlight topics --help)", cmd);
    return -1;
  }
  if (ctx->cmd == TOPICS_CHECK && optind + 1 < argc) {
    cli_err("unexpected argument '%s' (check takes no topics)", argv[optind + 1]);
    return -1;
  }
  if (ctx->cmd == TOPICS_CHECK && ctx->create_opts) {
    cli_err("--partitions, --replication-factor and --dry-run belong to create");
    return -1;
  }
  return topics_build_specs(ctx, argc - optind - 1, argv + optind + 1);
}

static const struct option topics_options[] = {
    CLI_COMMON_LONGOPTS,
    {"partitions", required_argument, NULL, OPT_PARTITIONS},
    {"replication-factor", required_argument, NULL, OPT_REPLICATION},
    {"dry-run", no_argument, NULL, OPT_DRY_RUN},
    {"timeout-ms", required_argument, NULL, OPT_TIMEOUT},
    {NULL, 0, NULL, 0},
};

/* Parses `greenlight topics SUBCOMMAND [options] [EXTRA ...]`. Returns -1
 * on a usage error (reported), 1 if help was asked for, else 0. */
static int topics_parse_args(topics_ctx_t *ctx, int argc, char **argv) {
  if (cli_parse_opts(&ctx->common, argc, argv, "", topics_options, topics_own_opt, ctx) < 0)
    return -1;
  if (ctx->common.help) return 1;
  return topics_parse_rest(ctx, argc, argv);
}

/* The default partition count: $GREENLIGHT_PARTITIONS, as kafka.sh. */
static int topics_env_partitions(topics_ctx_t *ctx) {
  const char *env = getenv("GREENLIGHT_PARTITIONS");
  ctx->partitions = TOPICS_DEFAULT_PARTITIONS;
  if (!env || !*env) return 0;
  if (cli_parse_int(env, 1, TOPICS_MAX_PARTITIONS, &ctx->partitions) == 0) return 0;
  cli_err("GREENLIGHT_PARTITIONS: expected 1 to %d, got '%s'", TOPICS_MAX_PARTITIONS, env);
  return -1;
}

static void topics_problem(topics_ctx_t *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prints "problem: ..." on stdout and keeps it for the summary. */
static void topics_problem(topics_ctx_t *ctx, const char *fmt, ...) {
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  printf("problem: %s\n", line);
  json_array_append_new(ctx->problems, json_string(line));
}

static int64_t topics_left_ms(const topics_ctx_t *ctx) {
  int64_t left = ctx->deadline - cli_now_ms();
  return left > 0 ? left : 0;
}

/* Reads every topic's partition count into the specs. Returns 0, or -1
 * (reported) if the metadata cannot be read. */
static int topics_read_metadata(topics_ctx_t *ctx) {
  const struct rd_kafka_metadata *md = NULL;
  int64_t left = topics_left_ms(ctx);
  rd_kafka_resp_err_t e = rd_kafka_metadata(ctx->rk, 1, NULL, &md, left > 0 ? (int)left : 1);
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    cli_err("cannot read the metadata from %s: %s", ctx->common.bootstrap, rd_kafka_err2str(e));
    return -1;
  }
  for (size_t i = 0; i < ctx->n_specs; i++) {
    topic_spec_t *s = &ctx->specs[i];
    s->found = 0;
    for (int t = 0; t < md->topic_cnt; t++) {
      const rd_kafka_metadata_topic_t *mt = &md->topics[t];
      if (strcmp(mt->topic, s->name) == 0 && mt->err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
        s->found = mt->partition_cnt;
    }
  }
  rd_kafka_metadata_destroy(md);
  return 0;
}

/* Waits for the result event of one Admin request; NULL (reported) after
 * the deadline or on a request error. */
static rd_kafka_event_t *topics_admin_wait(topics_ctx_t *ctx, rd_kafka_queue_t *q,
                                           const char *what) {
  while (topics_left_ms(ctx) > 0) {
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, (int)topics_left_ms(ctx));
    if (!ev) continue;
    if (rd_kafka_event_error(ev)) {
      cli_err("cannot %s: %s", what, rd_kafka_event_error_string(ev));
      rd_kafka_event_destroy(ev);
      return NULL;
    }
    return ev;
  }
  cli_err("cannot %s: timed out after %lld ms", what, ctx->timeout_ms);
  return NULL;
}

static rd_kafka_AdminOptions_t *topics_admin_options(topics_ctx_t *ctx, rd_kafka_admin_op_t op) {
  char errstr[256];
  rd_kafka_AdminOptions_t *o = rd_kafka_AdminOptions_new(ctx->rk, op);
  int left = (int)topics_left_ms(ctx);
  rd_kafka_AdminOptions_set_request_timeout(o, left > 0 ? left : 1, errstr, sizeof errstr);
  if (op == RD_KAFKA_ADMIN_OP_CREATETOPICS)
    rd_kafka_AdminOptions_set_operation_timeout(o, left > 0 ? left : 1, errstr, sizeof errstr);
  return o;
}

static topic_spec_t *topics_find(topics_ctx_t *ctx, const char *name) {
  for (size_t i = 0; i < ctx->n_specs; i++)
    if (strcmp(ctx->specs[i].name, name) == 0) return &ctx->specs[i];
  return NULL;
}

/* Copies each config resource's cleanup.policy into its spec. */
static void topics_read_policies(topics_ctx_t *ctx, rd_kafka_event_t *ev) {
  size_t n;
  const rd_kafka_ConfigResource_t **res =
      rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev), &n);
  for (size_t i = 0; i < n; i++) {
    topic_spec_t *s = topics_find(ctx, rd_kafka_ConfigResource_name(res[i]));
    if (!s) continue;
    if (rd_kafka_ConfigResource_error(res[i])) {
      cli_err("cannot describe the configuration of %s: %s", s->name,
              rd_kafka_ConfigResource_error_string(res[i]));
      continue;
    }
    size_t nc;
    const rd_kafka_ConfigEntry_t **cfg = rd_kafka_ConfigResource_configs(res[i], &nc);
    for (size_t c = 0; c < nc; c++) {
      const char *v = rd_kafka_ConfigEntry_value(cfg[c]);
      if (strcmp(rd_kafka_ConfigEntry_name(cfg[c]), "cleanup.policy") == 0)
        snprintf(s->policy, sizeof s->policy, "%s", v ? v : "");
    }
  }
}

/* Reads cleanup.policy of every topic that exists (DescribeConfigs on
 * topic resources: any broker answers). Returns 0 or -1 (reported). */
static int topics_describe(topics_ctx_t *ctx) {
  rd_kafka_ConfigResource_t **res = calloc(ctx->n_specs + 1, sizeof *res);
  if (!res) abort();
  size_t n = 0;
  for (size_t i = 0; i < ctx->n_specs; i++)
    if (ctx->specs[i].found > 0)
      res[n++] = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, ctx->specs[i].name);
  int rc = 0;
  if (n > 0) {
    rd_kafka_queue_t *q = rd_kafka_queue_new(ctx->rk);
    rd_kafka_AdminOptions_t *o = topics_admin_options(ctx, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
    rd_kafka_DescribeConfigs(ctx->rk, res, n, o, q);
    rd_kafka_event_t *ev = topics_admin_wait(ctx, q, "describe the topics' configuration");
    if (ev) topics_read_policies(ctx, ev);
    rc = ev ? 0 : -1;
    if (ev) rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
  }
  rd_kafka_ConfigResource_destroy_array(res, n);
  free(res);
  return rc;
}

static rd_kafka_NewTopic_t *topics_new_topic(const topics_ctx_t *ctx, const topic_spec_t *s) {
  char errstr[256];
  rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(s->name, s->partitions, (int)ctx->replication,
                                                  errstr, sizeof errstr);
  if (!nt) abort(); /* The values were range-checked when parsed. */
  rd_kafka_NewTopic_set_config(nt, "cleanup.policy", s->compact ? "compact" : "delete");
  return nt;
}

/* Marks the created topics from a CreateTopics result; an existing one
 * (created meanwhile by someone else) is left to the checks. Returns the
 * number of topics that could not be created (reported). */
static int topics_read_created(topics_ctx_t *ctx, rd_kafka_event_t *ev) {
  size_t n;
  const rd_kafka_topic_result_t **tr =
      rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
  int failed = 0;
  for (size_t i = 0; i < n; i++) {
    topic_spec_t *s = topics_find(ctx, rd_kafka_topic_result_name(tr[i]));
    rd_kafka_resp_err_t e = rd_kafka_topic_result_error(tr[i]);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR && s) {
      s->created = true;
    } else if (e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
      const char *why = rd_kafka_topic_result_error_string(tr[i]);
      cli_err("cannot create %s: %s", rd_kafka_topic_result_name(tr[i]),
              why ? why : rd_kafka_err2str(e));
      failed++;
    }
  }
  return failed;
}

/* Creates the topics the metadata lacks. Returns the number not created,
 * or -1 if the request failed as a whole. */
static int topics_create_missing(topics_ctx_t *ctx) {
  rd_kafka_NewTopic_t **nts = calloc(ctx->n_specs + 1, sizeof *nts);
  if (!nts) abort();
  size_t n = 0;
  for (size_t i = 0; i < ctx->n_specs; i++)
    if (ctx->specs[i].found == 0)
      nts[n++] = topics_new_topic(ctx, &ctx->specs[i]);
  int rc = 0;
  if (n > 0) {
    rd_kafka_queue_t *q = rd_kafka_queue_new(ctx->rk);
    rd_kafka_AdminOptions_t *o = topics_admin_options(ctx, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_CreateTopics(ctx->rk, nts, n, o, q);
    rd_kafka_event_t *ev = topics_admin_wait(ctx, q, "create the topics");
    rc = ev ? topics_read_created(ctx, ev) : -1;
    if (ev) rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
  }
  rd_kafka_NewTopic_destroy_array(nts, n);
  free(nts);
  return rc;
}

/* Reads the metadata until every wanted topic shows up, so that the next
 * command finds what this one created. Returns 0 or -1 (reported). */
static int topics_await_created(topics_ctx_t *ctx) {
  for (;;) {
    if (topics_read_metadata(ctx) < 0) return -1;
    size_t missing = 0;
    for (size_t i = 0; i < ctx->n_specs; i++) missing += ctx->specs[i].found == 0;
    if (missing == 0) return 0;
    if (topics_left_ms(ctx) <= 0) {
      cli_err("%zu topics still missing from the metadata after %lld ms", missing,
              ctx->timeout_ms);
      return -1;
    }
    nanosleep(&(struct timespec){.tv_nsec = 100 * 1000 * 1000}, NULL);
  }
}

/* One line per wanted topic, and a problem for an existing topic that is
 * not as wanted. */
static void topics_report_specs(topics_ctx_t *ctx) {
  for (size_t i = 0; i < ctx->n_specs; i++) {
    const topic_spec_t *s = &ctx->specs[i];
    const char *state = s->created ? "created" : s->found ? "exists" : "would be created";
    printf("    %s partitions=%d cleanup.policy=%s %s\n", s->name, (int)s->partitions,
           s->compact ? "compact" : "delete", state);
    if (s->created || s->found == 0) continue;
    if (s->found != s->partitions)
      topics_problem(ctx, "%s has %d partitions, %d wanted", s->name, (int)s->found,
                     (int)s->partitions);
    if (s->compact && !strstr(s->policy, "compact"))
      topics_problem(ctx, "%s is not compacted (cleanup.policy=%s)", s->name,
                     s->policy[0] ? s->policy : "unknown");
  }
}

static int topics_create(topics_ctx_t *ctx) {
  if (topics_read_metadata(ctx) < 0) return CLI_EXIT_FAIL;
  int failed = 0;
  if (!ctx->dry_run) {
    failed = topics_create_missing(ctx);
    if (failed < 0) return CLI_EXIT_FAIL;
    /* After a refusal, what exists is reported as it is. */
    if ((failed ? topics_read_metadata(ctx) : topics_await_created(ctx)) < 0) return CLI_EXIT_FAIL;
  }
  if (topics_describe(ctx) < 0) return CLI_EXIT_FAIL;
  topics_report_specs(ctx);
  size_t created = 0, existing = 0, planned = 0;
  for (size_t i = 0; i < ctx->n_specs; i++) {
    created += ctx->specs[i].created;
    existing += ctx->specs[i].found > 0 && !ctx->specs[i].created;
    planned += ctx->specs[i].found == 0;
  }
  size_t n_problems = json_array_size(ctx->problems);
  if (ctx->dry_run)
    printf("dry run: would create %zu topics, %zu exist, %zu problems\n", planned, existing,
           n_problems);
  else
    printf("created %zu topics, %zu existed, %zu problems\n", created, existing, n_problems);
  json_t *sum = json_pack("{s:s, s:b, s:i, s:i, s:i, s:O}", "command", "create", "dry_run",
                          ctx->dry_run, "created", (json_int_t)created, "existing",
                          (json_int_t)existing, "would_create", (json_int_t)(ctx->dry_run ? planned : 0),
                          "problems", ctx->problems);
  if (cli_print_json_line(sum) < 0) return CLI_EXIT_FAIL;
  return failed || n_problems ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

/* A problem for each group whose existing members differ in partitions. */
static void topics_check_groups(topics_ctx_t *ctx) {
  for (size_t g = 0; g < sizeof topics_groups / sizeof topics_groups[0]; g++) {
    char list[1024] = "";
    size_t used = 0;
    int32_t first = 0;
    bool differ = false;
    for (const char *const *n = topics_groups[g].names; *n; n++) {
      char name[256];
      if (cli_topic_name(&ctx->common, *n, name, sizeof name) < 0) continue;
      const topic_spec_t *s = topics_find(ctx, name);
      if (!s || s->found == 0) continue;
      differ |= first && s->found != first;
      if (!first) first = s->found;
      int w = snprintf(list + used, sizeof list - used, "%s%s=%d", used ? ", " : "", s->name,
                       (int)s->found);
      if (w > 0 && (size_t)w < sizeof list - used) used += (size_t)w;
    }
    if (differ)
      topics_problem(ctx, "not co-partitioned (%s): %s", topics_groups[g].what, list);
  }
}

static int topics_check(topics_ctx_t *ctx) {
  if (topics_read_metadata(ctx) < 0 || topics_describe(ctx) < 0) return CLI_EXIT_FAIL;
  json_t *topics = json_object();
  for (size_t i = 0; i < ctx->n_specs; i++) {
    const topic_spec_t *s = &ctx->specs[i];
    if (s->found == 0) {
      topics_problem(ctx, "%s is missing", s->name);
      continue;
    }
    json_object_set_new(topics, s->name, json_pack("{s:i, s:s}", "partitions", (json_int_t)s->found,
                                                   "cleanup.policy", s->policy));
  }
  topics_check_groups(ctx);
  for (size_t i = 0; i < ctx->n_specs; i++) {
    const topic_spec_t *s = &ctx->specs[i];
    if (s->found && s->compact && !strstr(s->policy, "compact"))
      topics_problem(ctx, "%s is not compacted (cleanup.policy=%s)", s->name,
                     s->policy[0] ? s->policy : "unknown");
  }
  size_t n_problems = json_array_size(ctx->problems);
  printf("checked %zu topics: %s\n", ctx->n_specs,
         n_problems ? "problems found" : "all as wanted");
  json_t *sum = json_pack("{s:s, s:b, s:o, s:O}", "command", "check", "ok", n_problems == 0,
                          "topics", topics, "problems", ctx->problems);
  if (cli_print_json_line(sum) < 0) return CLI_EXIT_FAIL;
  return n_problems ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

/* An Admin client: a producer handle that produces nothing. */
static int topics_open(topics_ctx_t *ctx) {
  static const char *const defaults[] = {NULL};
  rd_kafka_conf_t *conf = cli_kafka_conf(&ctx->common, defaults);
  if (!conf) return CLI_EXIT_USAGE;
  char errstr[512];
  ctx->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (!ctx->rk) {
    rd_kafka_conf_destroy(conf);
    cli_err("cannot create the Kafka client: %s", errstr);
    return CLI_EXIT_USAGE;
  }
  return CLI_EXIT_OK;
}

int cli_topics_main(int argc, char **argv) {
  topics_ctx_t ctx;
  memset(&ctx, 0, sizeof ctx);
  cli_common_init(&ctx.common);
  ctx.replication = 1;
  ctx.timeout_ms = TOPICS_TIMEOUT_MS;
  int rc = topics_env_partitions(&ctx) < 0 ? -1 : topics_parse_args(&ctx, argc, argv);
  if (rc > 0) cli_help(&cli_cmd_topics, stdout);
  if (rc == 0) {
    ctx.problems = json_array();
    ctx.deadline = cli_now_ms() + ctx.timeout_ms;
    rc = topics_open(&ctx);
    if (rc == CLI_EXIT_OK) rc = ctx.cmd == TOPICS_CREATE ? topics_create(&ctx) : topics_check(&ctx);
  } else {
    rc = rc > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
  }
  if (ctx.rk) rd_kafka_destroy(ctx.rk);
  json_decref(ctx.problems);
  free(ctx.specs);
  cli_common_free(&ctx.common);
  return rc;
}

static const char topics_synopsis[] =
    "greenlight topics create [--partitions N] [--replication-factor R]\n"
    "                         [--dry-run] [EXTRA ...] [common options]\n"
    "greenlight topics check [common options]\n";
static const char topics_help[] =
    "create  creates every topic of a deployment, as deploy/local/kafka.sh does:\n"
    "        the input topics, the status topics, greenlight.dlq and batchd's\n"
    "        repartition topic with N partitions; the changelogs compacted with N\n"
    "        partitions; the owners topics compacted with one partition. EXTRA\n"
    "        topics are NAME[:compact][:PARTITIONS]. Every name gets the prefix.\n"
    "        A topic that exists is left alone but checked: another partition\n"
    "        count, or a compacted topic that is not, is reported (exit 1).\n"
    "  --partitions N          default $GREENLIGHT_PARTITIONS, else 4\n"
    "  --replication-factor R  default 1\n"
    "  --dry-run               create nothing: print what would be created\n"
    "check   verifies a deployment: every topic exists; the topics each daemon\n"
    "        joins by key have one partition count (orderd: greenlight.orders,\n"
    "        approvals, batches, shipments, clock and its changelog; batchd: its\n"
    "        repartition topic and its changelog); the changelogs and owners\n"
    "        topics are compacted. One line per problem, then a summary.\n"
    "  --timeout-ms T          give up (exit 1) after T ms (default 30000)\n"
    "Both print human lines, then one JSON summary line, on standard output.\n";
static const char topics_examples[] =
    "greenlight topics create --partitions 8\n"
    "greenlight topics create --dry-run --prefix staging.\n"
    "greenlight topics create audit.events:compact:3\n"
    "greenlight topics check -b kafka-1:9092\n";
static const char *const topics_words[] = {"create", "check", NULL};

const cli_command_t cli_cmd_topics = {
    .name = "topics",
    .summary = "create the topics of a deployment, or check them",
    .synopsis = topics_synopsis,
    .help = topics_help,
    .examples = topics_examples,
    .options = topics_options,
    .shortopts = NULL,
    .words = topics_words,
    .main = cli_topics_main,
};
