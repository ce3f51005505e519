/* Shared pieces of the operator CLI (`greenlight`): the options every
 * Kafka subcommand accepts, client configuration with its librdkafka
 * callbacks, topic naming and small encoding helpers. Each subcommand lives
 * in its own cli_<name>.c file.
 *
 * Threads: the CLI runs on its main thread; only the librdkafka log
 * callback (cli_kafka_conf) and cli_err(), which it calls, may run on
 * librdkafka's threads. */
#ifndef GREENLIGHT_CLI_H
#define GREENLIGHT_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "greenlight/gl_config.h"
#include "greenlight/gl_error.h"
#include "greenlight/gl_shell.h"

/* Default broker when neither -b nor the environment names one: the
 * daemons' default too. */
#define CLI_DEFAULT_BOOTSTRAP GL_CONF_DEFAULT_BOOTSTRAP

/* Exit codes of every subcommand: greenlight's rule (gl_error.h) plus the
 * answers of the commands that look something up. What each means for each
 * command is the one table cli_exit_rows (cli_help.c), which every
 * command's --help, `greenlight help` and the man page print. */
enum {
  CLI_EXIT_OK = GL_EXIT_OK,           /* Done. */
  CLI_EXIT_FAIL = GL_EXIT_FAILURE,    /* Kafka unreachable, timed out, delivery failed. */
  CLI_EXIT_USAGE = GL_EXIT_CONFIG,    /* Bad option, value or input, before sending. */
  CLI_EXIT_NOT_FOUND = 3,             /* `show`, `tail --last`: no record for the key. */
  CLI_EXIT_NOT_RUN = 4,               /* `rebuild`: the comparison could not run. */
};
/* `rebuild`: the shadow differs from live (its failures are CLI_EXIT_NOT_RUN). */
#define CLI_EXIT_DIFFERENT CLI_EXIT_FAIL

/* One subcommand: what `greenlight help`, its --help, the man page and the
 * bash completion say of it, and its entry point. Each cli_<name>.c
 * defines its own (cli_cmd_<name>); greenlight.c lists them. */
typedef struct cli_command {
  const char *name;
  const char *summary;           /* One line for the command list. */
  const char *synopsis;          /* "greenlight tail TOPIC [...]" lines. */
  const char *help;              /* What it does and its options, as --help prints them. */
  const char *examples;          /* Command lines, one per line. */
  const struct option *options;  /* Its getopt table, shared options included. */
  const char *shortopts;         /* Its own short options beyond the shared ones ("f:"), or NULL. */
  /* Its first operands (subcommands, daemons), NULL-terminated; or NULL. */
  const char *const *words;
  int (*main)(int argc, char **argv);
} cli_command_t;

extern const cli_command_t cli_cmd_produce, cli_cmd_tail, cli_cmd_show, cli_cmd_dlq,
    cli_cmd_replay, cli_cmd_topics, cli_cmd_rebuild, cli_cmd_reset;
/* Every command, in the order `greenlight help` lists them; NULL-terminated. */
extern const cli_command_t *const cli_commands[];

/* Prints cmd's help: synopsis, text, examples and its exit codes. */
void cli_help(const cli_command_t *cmd, FILE *out);
/* Prints the help of the command being run (cli_set_command), e.g. when a
 * command's own option loop sees -h. */
void cli_help_current(FILE *out);
/* The whole CLI: the commands, the shared options, the environment and the
 * whole exit-code table. */
void cli_usage(FILE *out);
/* `greenlight --help-man`: all of the above as one man page (groff). */
void cli_man(FILE *out);
/* `greenlight completion bash`: a bash completion script generated from the
 * commands' option tables. */
void cli_completion_bash(FILE *out);

/* Long-option codes of the options shared by every Kafka subcommand; the
 * subcommands number their own options from CLI_OPT_FIRST_OWN. */
enum {
  CLI_OPT_PREFIX = 0x100,
  CLI_OPT_HELP_LONG,
  CLI_OPT_FIRST_OWN = 0x120,
};

/* The shared options: "-b BOOTSTRAP" (--kafka.bootstrap.servers, the
 * daemons' key), "-X prop=value" (repeatable; kafka.prop=value as the
 * daemons take it, or a bare librdkafka property as kcat does), "--prefix P"
 * (--topic.prefix, the daemons' key), "-h/--help". To be listed in each
 * subcommand's option table. */
#define CLI_COMMON_SHORTOPTS "b:X:h"
#define CLI_COMMON_LONGOPTS                                             \
  {"bootstrap", required_argument, NULL, 'b'},                          \
      {"kafka.bootstrap.servers", required_argument, NULL, 'b'},        \
      {"prefix", required_argument, NULL, CLI_OPT_PREFIX},              \
      {"topic.prefix", required_argument, NULL, CLI_OPT_PREFIX},        \
      {"help", no_argument, NULL, 'h'}

/* Options common to the Kafka subcommands, read as the daemons read theirs:
 * the same gl_config code takes the environment (GREENLIGHT_TOPIC_PREFIX,
 * GREENLIGHT_KAFKA_*, GREENLIGHT_BOOTSTRAP) and checks every librdkafka
 * property (-X and GREENLIGHT_KAFKA_*) when it is given. Strings point
 * into argv or into conf, which owns its copies. */
typedef struct cli_common {
  const char *bootstrap; /* -b, else the environment's, else the default. */
  const char *prefix;    /* --prefix, else $GREENLIGHT_TOPIC_PREFIX, else "". */
  const char **props;    /* -X prop=value, in the order given, without "kafka.". */
  size_t n_props;
  bool help;             /* -h or --help was given. */
  bool bootstrap_given;  /* -b was given (not the environment's or the default). */
  bool prefix_given;     /* --prefix was given. */
  gl_conf_t conf;        /* The pass-through (environment, then -X) and topic.prefix. */
  struct {
    char *topic_prefix;  /* Owned by conf. */
  } settings;
  int env_rc;            /* A bad GREENLIGHT_* value: reported by cli_parse_opts. */
  char env_err[512];
} cli_common_t;

/* Fills the defaults and reads the environment. */
void cli_common_init(cli_common_t *c);
void cli_common_free(cli_common_t *c);
/* Sets the librdkafka property name (without "kafka.") unless -X gave
 * it: a daemon's connection settings under the operator's. Returns 0, or
 * -1 (reported) if librdkafka refuses it. */
int cli_common_default_prop(cli_common_t *c, const char *name, const char *value);
/* `greenlight config` (also --check-config): parses the shared options
 * and prints the settings the CLI's clients would use, as KEY = VALUE
 * lines (secrets hidden), then the GREENLIGHT_* variables the CLI does not
 * read on standard error. */
int cli_config_main(int argc, char **argv);

/* Handles one getopt result if it is a shared option. Returns 1 if it was
 * handled, 0 if it is not a shared option, -1 on a bad value (reported). */
int cli_common_opt(cli_common_t *c, int opt, const char *arg);

/* A new client configuration: bootstrap.servers, then the given defaults
 * (name/value pairs, NULL-terminated), then the -X properties, so that an
 * operator can override anything, TLS and SASL included. Installs the CLI's
 * one log and error callback: librdkafka's errors and warnings become
 * "greenlight: <command>: kafka ..." lines on standard error; a fatal error is
 * reported there and is to be read back with rd_kafka_fatal_error(). Reports
 * the error and returns NULL if a property is refused (a bad setting:
 * CLI_EXIT_USAGE). */
rd_kafka_conf_t *cli_kafka_conf(const cli_common_t *c, const char *const *defaults);

/* The configuration of every CLI producer: Java-compatible partitioning
 * (murmur2_random), idempotent, acks=all, message.timeout.ms timeout_ms
 * (0: librdkafka's), with transactional a transactional.id of its own
 * (greenlight-cli-<name>-<pid>-<time>), and dr with opaque as the delivery
 * report. NULL (reported) on a bad -X property. */
typedef void cli_dr_fn(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque);
rd_kafka_conf_t *cli_producer_conf(const cli_common_t *c, const char *name, long long timeout_ms,
                                   bool transactional, cli_dr_fn *dr, void *opaque);
/* A producer from conf, which it takes (also on failure). NULL (reported)
 * when librdkafka refuses the settings. */
rd_kafka_t *cli_producer_open(rd_kafka_conf_t *conf);
/* init_transactions, then begin_transaction. Returns 0, or -1 reported. */
int cli_txn_start(rd_kafka_t *rk, int timeout_ms);

/* Writes prefix + name into out. Returns -1 (reported) if it does not fit. */
int cli_topic_name(const cli_common_t *c, const char *name, char *out, size_t outlen);

/* Names the command being run ("produce", "show", ...) in every message
 * from then on. Called once by main() before any thread starts; cmd must
 * outlive the process's work (argv does). */
void cli_set_command(const char *cmd);
/* The command being run, or NULL before main() named one. */
const char *cli_command_name(void);

/* Prints "greenlight: <command>: <message>" and a newline to stderr in one
 * write, so lines from librdkafka's threads do not interleave. Any thread. */
void cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A subcommand's own option: returns 0, or -1 after reporting a bad value. */
typedef int (*cli_opt_fn)(void *ctx, int opt, const char *arg);
/* Runs getopt_long over argv (argv[0] is the subcommand) with the common
 * options (CLI_COMMON_LONGOPTS, CLI_COMMON_SHORTOPTS plus extra_short)
 * handled into c and every other option handed to fn; a missing value or
 * an unknown option is reported. Returns 0 (optind at the first operand)
 * or -1 on a usage error. */
int cli_parse_opts(cli_common_t *c, int argc, char **argv, const char *extra_short,
                   const struct option *longopts, cli_opt_fn fn, void *ctx);

/* Parses a whole decimal integer in [min, max]. Returns 0 or -1. */
int cli_parse_int(const char *s, long long min, long long max, long long *out);

/* Parses a point in time: epoch milliseconds (digits), or RFC 3339
 * (2026-01-05T08:00:00Z, fractions of a second and a +hh:mm or -hh:mm
 * offset allowed). Returns 0 with *ms set, or -1. */
int cli_parse_time(const char *s, int64_t *ms);

/* Milliseconds on a monotonic clock. */
int64_t cli_now_ms(void);

/* Lower-case hex of n bytes into a malloc'd string. */
char *cli_hex_encode(const void *data, size_t n);
/* Decodes hex (upper or lower case, even length) into a malloc'd buffer;
 * returns -1 if s is not hex. An empty string gives NULL and 0 bytes. */
int cli_hex_decode(const char *s, uint8_t **out, size_t *out_len);

/* One record as tail prints it: topic, partition, offset, timestamp_ms,
 * key, headers, type, and "value" decoded as type_name (NULL: by its
 * message-type header) or "value_hex" (raw, or when it does not decode).
 * The caller owns the result. */
json_t *cli_record_json(const rd_kafka_message_t *m, const char *type_name, int json_flags,
                        bool raw);
/* Bytes as a JSON string: the text itself, or "0x" and hex digits for
 * binary values (keys and headers). */
json_t *cli_bytes_json(const void *val, size_t n);
/* Writes j compact plus a newline to stdout and flushes; releases j.
 * Returns -1 (errno set) if standard output failed. */
int cli_print_json_line(json_t *j);

/* True once SIGINT or SIGTERM arrived (set by the handler in greenlight.c). */
bool cli_stop_requested(void);

/* The partition Java's default partitioner (murmur2) puts a key in. */
int32_t cli_key_partition(const void *key, size_t len, int32_t n_partitions);

/* One metadata look-up of rkt's partition count, waiting at most wait_ms.
 * Returns 0 with *n set, or -1 with the problem written (not reported). */
int cli_topic_partitions(rd_kafka_t *rk, rd_kafka_topic_t *rkt, int wait_ms, int32_t *n,
                         char *problem, size_t problem_len);

/* Sets each partition's offset to its first record stamped at or after ms
 * (offsets-for-times), or RD_KAFKA_OFFSET_END when it has none. Returns 0,
 * or -1 reported as "WHAT: cannot look up ..." (also when one partition's
 * look-up failed). */
int cli_offsets_for_time(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts, int64_t ms,
                         int wait_ms, const char *what);

/* A consumer that reads by manual assignment: no consumer group joined,
 * nothing committed, read_committed, partition-EOF events, no topic
 * auto-creation; name goes into its per-process group.id. Connects nothing
 * yet: NULL (reported) is a bad setting. */
rd_kafka_t *cli_consumer_new(const cli_common_t *c, const char *name);

/* Reports a consumer error event of topic; true if it ends the read (the
 * topic or partition is gone, access denied, fatal), false if librdkafka
 * retries it (e.g. a broker restarting). */
bool cli_consume_error_ends(const char *topic, const rd_kafka_message_t *m);

/* cli_parse_time() for option opt ("--from"), reporting a bad value. */
int cli_parse_time_opt(const char *opt, const char *arg, int64_t *ms);

/* Admin requests (cli_admin.c). rk is any client handle; each call waits
 * at most until deadline (cli_now_ms() time) and reports its errors. */
typedef struct cli_new_topic {
  const char *name;    /* With the prefix. */
  int32_t partitions;
  int replication;     /* 0: the broker's default. */
  bool compact;        /* cleanup.policy=compact, else delete. */
} cli_new_topic_t;
/* A producer handle for Admin requests. NULL (reported) on a bad setting. */
rd_kafka_t *cli_admin_new(const cli_common_t *c);
/* The partition count of topic from a metadata request for all topics
 * (never one that could auto-create it); *n = 0 if it does not exist.
 * Returns 0 or -1 (reported). */
int cli_admin_partitions(rd_kafka_t *rk, const char *topic, int64_t deadline, int32_t *n);
/* Creates the topics (an existing one is an error) and waits until the
 * metadata shows each with its partitions. Returns 0 or -1. */
int cli_admin_create_topics(rd_kafka_t *rk, const cli_new_topic_t *t, size_t n, int64_t deadline);
/* Deletes topics (a missing one is no error). Returns 0 or -1. */
int cli_admin_delete_topics(rd_kafka_t *rk, const char *const *names, size_t n, int64_t deadline);
/* Deletes consumer groups (a missing one is no error), waiting until the
 * deadline for one that still has members (a stopped static member leaves
 * when its session times out). Returns 0 or -1. */
int cli_admin_delete_groups(rd_kafka_t *rk, const char *const *groups, size_t n, int64_t deadline);

/* A topic's settings as t (name = topic; partitions 0 if it does not
 * exist; replication of partition 0; compact unless a cleanup.policy of
 * its own lacks it: for a changelog, made again compacted) and the
 * configs set on the topic itself as malloc'd "name=value" strings
 * (sensitive ones left out). Returns 0 or -1 (reported). */
int cli_admin_topic_settings(rd_kafka_t *rk, const char *topic, int64_t deadline,
                             cli_new_topic_t *t, char ***configs, size_t *n_configs);
/* Deletes topic t->name (a missing one is no error) and creates it again
 * as t with configs ("name=value"; its cleanup.policy wins over
 * t->compact), retrying while the broker still reports it as existing.
 * *deleted says whether the deletion went through. Returns 0 or -1. */
int cli_admin_recreate_topic(rd_kafka_t *rk, const cli_new_topic_t *t, const char *const *configs,
                             size_t n_configs, int64_t deadline, bool *deleted);

/* A consumer group as DescribeConsumerGroups reports it (a group that
 * does not exist: "Dead", no members). Strings owned; instance_id NULL
 * for a dynamic member. */
typedef struct cli_group_member {
  char *member_id, *instance_id, *client_id, *host;
} cli_group_member_t;
typedef struct cli_group {
  char state[32];
  cli_group_member_t *members;
  size_t n_members;
} cli_group_t;
/* One DescribeConsumerGroups request (to the group coordinator: once per
 * command or on an operator's bounded wait, never on a timer in steady
 * state; see FACTS.md). Returns 0 or -1 (reported). */
int cli_admin_describe_group(rd_kafka_t *rk, const char *group, int64_t deadline, cli_group_t *g);
void cli_group_free(cli_group_t *g);
/* Sets each partition's offset in l to what group committed (-1: none).
 * Returns 0 or -1 (reported). */
int cli_admin_group_committed(rd_kafka_t *rk, const char *group, rd_kafka_topic_partition_list_t *l,
                              int64_t deadline);
/* Commits l's offsets for group (AlterConsumerGroupOffsets: generation
 * -1, which the broker refuses while the group has members). Returns the
 * number of partitions refused (reported; their err set in l), or -1 if
 * the request failed. */
int cli_admin_group_commit(rd_kafka_t *rk, const char *group, rd_kafka_topic_partition_list_t *l,
                           int64_t deadline);

/* Called for each record of a scan: 0 goes on, 1 stops, -1 fails. */
typedef int (*cli_scan_fn)(void *ctx, const rd_kafka_message_t *m);
/* Reads partitions 0..n_partitions-1 of topic with consumer (by
 * assignment; cli_consumer_new) from start[p] (NULL: the beginning) up to
 * end[p] (NULL or < 0: the end found, the first partition EOF), handing
 * each record to fn. Returns 0, or -1 reported (error, timeout, SIGINT). */
int cli_scan_topic(rd_kafka_t *consumer, const char *topic, int32_t n_partitions,
                   const int64_t *start, const int64_t *end, int64_t deadline, cli_scan_fn fn,
                   void *ctx);

/* The daemons that rebuild and reset act on (cli_daemon.c). */
typedef struct cli_daemon_kind {
  const char *name;            /* "orderd" */
  const char *binary;          /* "greenlight-orderd" */
  const char *store;           /* Changelog <prefix><app.id>.<store>.changelog. */
  const char *const *outputs;  /* Its outputs' names, in output.topics order. */
  const char *compared;        /* The output a rebuild compares. */
  bool has_policy;             /* Takes policy.file. */
} cli_daemon_kind_t;

/* One daemon's executable and effective settings. */
typedef struct cli_daemon {
  const cli_daemon_kind_t *kind;
  char bin[4096];              /* The executable (--daemon-bin, or found). */
  const char *config;          /* --config FILE for every run; NULL = none. */
  char **pass;                 /* Settings given to every run (owned). */
  size_t n_pass;
  char **keys, **values;       /* Its --check-config output. */
  size_t n_settings;
  const char *app_id, *prefix, *dlq; /* Borrowed from values. */
  char **inputs, **outputs;    /* Without the prefix; outputs in kind->outputs order. */
  size_t n_inputs, n_outputs;
  char *group;                 /* <prefix><app.id>: its consumer group. */
  char *changelog;             /* With the prefix. */
} cli_daemon_t;

const cli_daemon_kind_t *cli_daemon_kind(const char *name);
/* Finds daemon `name`'s executable (d->bin preset: that one) and reads its
 * effective settings with d->config, c's explicit -b, --prefix and -X, and
 * args passed through. Then points c at the daemon's cluster: its
 * bootstrap servers and TLS/SASL settings (c's -X still win) and its
 * topic prefix. d must outlive c's use. Returns 0 or -1 (reported). */
int cli_daemon_open(cli_daemon_t *d, cli_common_t *c, const char *name, char **args,
                    size_t n_args);
void cli_daemon_close(cli_daemon_t *d);
/* The effective value of a setting; NULL if the daemon has no such key. */
const char *cli_daemon_setting(const cli_daemon_t *d, const char *key);
/* Runs the daemon with its settings plus extra (NULL-terminated; later
 * settings win), its output into log_path, in a process group of its own.
 * On SIGINT/SIGTERM to the CLI it is sent SIGTERM (it drains) and this
 * returns -1 once it exited; else 0 with *exit_code its exit status (128 +
 * signal if killed). */
int cli_daemon_run(const cli_daemon_t *d, const char *const *extra, const char *log_path,
                   int *exit_code);

/* The subcommands. argv[0] is the subcommand's name. */
int cli_produce_main(int argc, char **argv);
int cli_tail_main(int argc, char **argv);
int cli_show_main(int argc, char **argv);
int cli_dlq_main(int argc, char **argv);
int cli_replay_main(int argc, char **argv);
int cli_topics_main(int argc, char **argv);
int cli_rebuild_main(int argc, char **argv);
int cli_reset_main(int argc, char **argv);

#endif
