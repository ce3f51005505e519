/* gl_engine: the exactly-once consume -> process -> produce cycle on a
 * process shell's libuv loop (gl_shell.h), shared by every greenlight
 * daemon. It knows no record format: a processor decodes its own inputs.
 *
 * A daemon is a gl_processor_t: a function called once per input record, in
 * a deterministic order, with a context through which it reads and writes
 * its partition group's store and emits output records. The engine does the
 * rest (SPEC §6):
 *   - one consumer (group app.id, static member app.id-instance.id, range
 *     assignment so that partition N of every input topic lands on the same
 *     instance) and one transactional producer (transactional.id
 *     app.id-instance.id), both wired into the loop by queue io events;
 *   - a partition group ("task") per partition number; within a task the
 *     buffered input heads are merged by (record timestamp, topic rank,
 *     offset), waiting up to max.idle.ms for an input that lags;
 *   - outputs, changelog writes and input offsets in one transaction,
 *     committed every commit.interval.ms (and commit.max.records, if set); an abortable
 *     error aborts, rewinds the inputs to the last commit and restores the
 *     state from the changelog; a fatal error (e.g. fenced) exits non-zero;
 *   - on assignment, state is restored from the changelog before any input
 *     of that partition is processed;
 *   - undecodable or invalid input goes to the dead-letter topic with
 *     headers naming the reason, source topic, partition and offset;
 *   - gl_engine_stop() (a program calls it on SIGTERM/SIGINT) drains:
 *     finish the record in hand, commit, close;
 *   - a bounded run stops by itself at given end offsets or a time;
 *   - /healthz and /readyz routes on the shell's admin port.
 *
 * Life (libuv style): gl_engine_new() -> gl_engine_start() -> ... ->
 * gl_engine_stop(cb) -> (the loop ends) -> gl_engine_destroy().
 * gl_engine_main() does all of it for a daemon.
 *
 * Threads: every function here is for the loop thread of the shell the
 * engine was made on, and so are every processor hook and every HTTP
 * route. The engine's own work off the loop (connecting, committing) and
 * librdkafka's callbacks hand their results to the loop; nothing a
 * processor sees is touched by another thread.
 *
 * Errors: 0 or a negative GL_E* code (gl_error.h), with an errstr where a
 * human needs the detail. */
#ifndef GREENLIGHT_GL_ENGINE_H
#define GREENLIGHT_GL_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "greenlight/gl_config.h"
#include "greenlight/gl_error.h"
#include "greenlight/gl_http.h"
#include "greenlight/gl_log.h"
#include "greenlight/gl_metrics.h"
#include "greenlight/gl_shell.h"
#include "greenlight/gl_store.h"

/* The engine's own settings, filled from gl_engine_conf_props. */
typedef struct gl_engine_conf {
  char *app_id;
  char *instance_id;
  char *topic_prefix;
  char *input_topics;  /* Comma-separated; the order is the topic rank. */
  char *output_topics; /* Comma-separated: "topic" in the order of the processor's outputs, or "name=topic". */
  char *dlq_topic;
  char *guarantee;     /* exactly_once | at_least_once */
  int64_t commit_interval_ms;
  int64_t commit_max_records;
  int64_t commit_overlap_max_records; /* Records processed while a commit runs (0 = none). */
  int64_t max_idle_ms;
  int64_t buffer_max_records;
  char *http_advertised_url; /* Where other instances send callers; "" = derived. */
  int64_t fault_abort_every; /* Testing: abort every Nth transaction on purpose. */
  int64_t record_max_bytes;  /* Largest output record produced (key, value, headers). */
  int64_t time_max_forward_ms; /* How far one record may move event time (SPEC §3.1). */
  int64_t num_standby_replicas;   /* Warm copies kept of each partition's state elsewhere. */
  int64_t state_cleanup_delay_ms; /* How long a copy nobody names is kept. */
  int64_t startup_timeout_ms;  /* How long a start waits for the broker and the topics. */
  int64_t merge_settle_ms;     /* The longest a record waits before an input counts as caught up against it. */
  int64_t merge_settle_min_ms; /* The least it waits (0 = none). */
  char *stop_at;               /* never | end: a bounded run up to the end offsets at connection. */
  int64_t stop_at_time_ms;     /* A bounded run up to this record time (0 = none). */
  char *group_protocol;        /* classic | consumer (KIP-848: incremental rebalances). */
} gl_engine_conf_t;

extern const gl_conf_prop_t gl_engine_conf_props[];

typedef struct gl_engine gl_engine_t;
typedef struct gl_ctx gl_ctx_t;

/* The engine's life (librdkafka's rd_kafka_txn_set_state shape: an enum
 * with validated transitions). Shown on /healthz and as the gauge
 * greenlight_engine_state{state="..."} (1 for the current one).
 *   starting     connecting: waiting for the broker and the topics
 *   restoring    some owned partition group still restores its state
 *   running      every owned group processes
 *   rebalancing  inside a rebalance (partitions being revoked or assigned)
 *   draining     asked to stop: finishing the record in hand and committing
 *   closed       stopped cleanly (terminal)
 *   failed       stopped on a fatal error (terminal; exit 1) */
typedef enum gl_engine_state {
  GL_ENGINE_STARTING = 0,
  GL_ENGINE_RESTORING,
  GL_ENGINE_RUNNING,
  GL_ENGINE_REBALANCING,
  GL_ENGINE_DRAINING,
  GL_ENGINE_CLOSED,
  GL_ENGINE_FAILED,
  GL_ENGINE_STATE_COUNT
} gl_engine_state_t;

/* The transaction cycle, likewise (greenlight_txn_state{state="..."}).
 *   idle        no transaction open
 *   open        records processed since the last commit
 *   committing  the commit runs on the thread pool (or, at a revocation or
 *               a stop, on the loop)
 *   aborting    the commit failed and the transaction is being aborted
 *   recreating  the coordinator aborted the transaction and fenced the
 *               producer: a new one takes the transactional id
 *   fatal       the producer cannot go on (fenced, fatal error; terminal) */
typedef enum gl_txn_state {
  GL_TXN_IDLE = 0,
  GL_TXN_OPEN,
  GL_TXN_COMMITTING,
  GL_TXN_ABORTING,
  GL_TXN_RECREATING,
  GL_TXN_FATAL,
  GL_TXN_STATE_COUNT
} gl_txn_state_t;

/* Names as shown on /healthz and in metrics ("running"); "unknown" out of
 * range. Any thread. */
const char *gl_engine_state_name(gl_engine_state_t s);
const char *gl_txn_state_name(gl_txn_state_t s);
/* Moves *state to `to` and returns GL_OK if the machine has that
 * transition (staying put is a no-op, always allowed); otherwise leaves
 * *state as it was and returns GL_ESTATE. Pure; any thread. */
int gl_engine_state_move(gl_engine_state_t *state, gl_engine_state_t to);
int gl_txn_state_move(gl_txn_state_t *state, gl_txn_state_t to);

typedef struct gl_output gl_output_t;

/* One input record as handed to the processor. Everything it points at is
 * the engine's and lives until process() returns. */
typedef struct gl_record {
  const char *topic; /* Full name, prefix included. */
  int topic_rank;    /* Index in input.topics. */
  int32_t partition;
  int64_t offset;
  int64_t timestamp_ms;
  const void *key;
  size_t key_len;
  const void *value;
  size_t value_len;
  void *decoded; /* What the processor's decode hook returned; NULL without one. */
} gl_record_t;

/* A processor's decode hook: decodes and validates one input record
 * (key[0..klen), value[0..vlen)) before process() sees it. Returns the
 * processor's own object, which the engine hands to process() as
 * rec->decoded and then frees with decoded_free, and writes the record's
 * event time to *event_time_ms. Or returns NULL with *reason pointing at a
 * stable, static DLQ reason code and detail written: the record goes to the
 * dead-letter topic. Loop thread. */
typedef void *(*gl_decode_fn)(void *opaque, const void *key, size_t klen, const void *value,
                              size_t vlen, int64_t *event_time_ms, const char **reason,
                              char *detail, size_t detail_len);

/* A processor: the static description of a daemon's logic (fluent-bit's
 * plugin shape). The engine never knows what a record means: it calls
 * decode, then process, in a deterministic order. Every hook runs on the
 * loop thread; NULL hooks are skipped. */
typedef struct gl_processor {
  const char *name;            /* Service name in logs, metrics and DLQ headers. */
  const char *summary;         /* What the daemon does, one line: --help and its man page. */
  const char *const *outputs;  /* Output names, NULL-terminated; output.topics maps them to topics. */
  /* Those of the outputs that only this pipeline uses (a repartition topic
   * another greenlight daemon reads), NULL-terminated or NULL: created at
   * start when missing, with the inputs' partition count, as the
   * changelog is (but not compacted). */
  const char *const *internal_outputs;
  const gl_store_ops_t *store; /* NULL for a stateless processor. */
  void *opaque;
  /* Without a decode hook records pass raw and their event time is the
   * record timestamp. With one, event time also may move only
   * time.max.forward.ms ahead (SPEC §3.1). */
  gl_decode_fn decode;
  void (*decoded_free)(void *opaque, void *obj);
  /* Once, after gl_engine_new() resolved the outputs and before start:
   * the processor takes its output handles (gl_engine_output). Returns
   * GL_OK, or GL_ECONFIG with errstr. */
  int (*open)(void *opaque, gl_engine_t *e, char *errstr, size_t errlen);
  /* Called once per input record, in merge order. */
  void (*process)(gl_ctx_t *ctx, const gl_record_t *rec, void *opaque);
  /* Called after a task's store was restored (rebuild indexes). */
  void (*restored)(gl_ctx_t *ctx, void *opaque);
  /* Per-task private data. */
  void *(*task_open)(void *opaque, int32_t partition);
  void (*task_close)(void *opaque, void *task_data);
  /* GET requests not served by the engine (/healthz, /readyz, /metrics). */
  void (*http)(gl_engine_t *e, const char *path, gl_http_response_t *resp, void *opaque);
} gl_processor_t;

/* Called once when the engine has closed: after gl_engine_stop(), at the
 * end of a bounded run, after a fatal error, or when the start gave up.
 * Loop thread; possibly from inside a librdkafka callback (a rebalance
 * that failed fatally), so it must not call into librdkafka, and it must
 * not destroy the engine (destroy after the loop has ended): closing the
 * shell (gl_shell_close) is what it is for. */
typedef void (*gl_engine_closed_fn)(gl_engine_t *e, void *arg);

/* Creates an engine on sh (configured; its admin port open or not):
 * resolves the topics and the processor's outputs, calls its open hook,
 * creates the Kafka clients (no connection yet) and adds /healthz and
 * /readyz (and "/" for the processor's http hook) to the shell's routes.
 * conf is copied; its strings must live as long as the engine (the
 * shell's settings registry holds them). proc must outlive the engine.
 * Returns GL_OK with *out set, or with *out NULL and errstr: GL_ECONFIG (a
 * bad setting: exit 2) or GL_ENOMEM. */
int gl_engine_new(gl_engine_t **out, gl_shell_t *sh, const gl_engine_conf_t *conf,
                  const gl_processor_t *proc, char *errstr, size_t errlen);
/* Starts: connects on the thread pool (the admin port answers meanwhile),
 * restores, then processes. GL_OK, or GL_ESTATE if started, stopped or
 * closed before (an engine runs once). */
int gl_engine_start(gl_engine_t *e);
/* Sets the callback for the engine's close (replacing one set before). */
void gl_engine_on_closed(gl_engine_t *e, gl_engine_closed_fn cb, void *arg);
/* Stops: finishes the record in hand, commits what is open and closes,
 * then calls cb (may be NULL: keeps the one set with on_closed). While the
 * process is failing (the shell's exit code is set) it closes without a
 * commit. On a closed engine it calls cb at once. */
void gl_engine_stop(gl_engine_t *e, gl_engine_closed_fn cb, void *arg);
/* GL_OK while running and after a clean close; otherwise why it ended:
 * GL_EBROKER (the start gave up on the broker or the topics after
 * startup.timeout.ms), GL_EFATAL (a fatal client error, fenced, or a
 * commit that failed while stopping). */
int gl_engine_result(const gl_engine_t *e);
/* The engine's state (loop thread, as everything here). */
gl_engine_state_t gl_engine_state(const gl_engine_t *e);
/* Frees the engine and closes its Kafka clients (the consumer's close
 * revokes its partitions). After the loop has ended and before the shell
 * is destroyed. NULL is a no-op. */
void gl_engine_destroy(gl_engine_t *e);

/* The whole life of a daemon: a shell (gl_shell_init), the engine's and
 * the daemon's settings (defaults, then the config file, environment and
 * flags), the admin port, an engine started and stopped on SIGTERM/SIGINT,
 * then clean up. extra_props/extra_conf: the daemon's own table (may be
 * NULL). on_config, if set, judges the settings (also for --check-config)
 * and may fail with errstr. Returns the process exit code (gl_error.h: 0
 * done, 2 bad settings, 1 anything else). */
int gl_engine_main(int argc, char **argv, gl_processor_t *proc, const char *const *defaults,
                   const gl_conf_prop_t *extra_props, void *extra_conf,
                   int (*on_config)(void *extra_conf, gl_processor_t *proc, char *errstr,
                                    size_t errlen));

/* Context of the record being processed. */
int32_t gl_ctx_partition(const gl_ctx_t *ctx);
void *gl_ctx_task_data(const gl_ctx_t *ctx);
/* Event time of the task: the max of the event times it has seen (SPEC §5). */
int64_t gl_ctx_stream_time(const gl_ctx_t *ctx);
gl_store_t *gl_ctx_store(const gl_ctx_t *ctx);
gl_metrics_t *gl_ctx_metrics(const gl_ctx_t *ctx);
const gl_log_t *gl_ctx_log(const gl_ctx_t *ctx);
/* The metrics registry the engine counts in (its shell's): a processor's
 * open hook registers its own series there, so that they exist from the
 * start. Loop thread. */
gl_metrics_t *gl_engine_metrics(gl_engine_t *e);
/* Declares DLQ reason codes (NULL-terminated) the processor's records may
 * get, its decode hook's included: each gets its series of
 * greenlight_dlq_records_total{reason} at 0 now, so a rate over it works
 * before the first record of that kind (a reason not declared is counted
 * too, from its first record). The runtime declares its own (invalid,
 * time_out_of_bounds, output_too_large, output_rejected). Loop thread; the
 * strings are copied. */
void gl_engine_dlq_reasons(gl_engine_t *e, const char *const *reasons);
/* The output named name (one of the processor's outputs), resolved to its
 * topic when the engine was created; NULL if the processor declared no
 * such output. Loop thread; the handle lives as long as the engine. */
gl_output_t *gl_engine_output(gl_engine_t *e, const char *name);
/* The output's topic, prefix included. */
const char *gl_output_topic(const gl_output_t *out);

/* Produces an output record inside the current transaction. timestamp_ms is
 * the record's timestamp; 0 or less gives it the input record's timestamp,
 * as Kafka Streams does. A processor whose output derives from an earlier
 * event (a parked event applied now) passes that event's time, so that a
 * record's timestamp is the event time of its cause. headers: name, value
 * pairs, NULL-terminated (NULL: none). Key, value and headers are copied
 * before it returns. Loop thread, inside process() or restored(). Returns
 * GL_OK, or GL_EINVAL: out is NULL, or the record was refused (over
 * record.max.bytes, or by the client): the transaction then aborts and the
 * input record goes to the DLQ instead (SPEC §3.1); the processor need not
 * act. */
int gl_ctx_emit(gl_ctx_t *ctx, gl_output_t *out, int64_t timestamp_ms, const void *key,
                size_t klen, const void *value, size_t vlen, const char *const *headers);
/* Sends the current record to the dead-letter topic (reason: a stable code;
 * detail: for humans). GL_OK or GL_EINVAL as gl_ctx_emit(). */
int gl_ctx_dlq(gl_ctx_t *ctx, const char *reason, const char *detail);
/* Sends other bytes (e.g. a parked event) with their own source coordinates. */
int gl_ctx_dlq_raw(gl_ctx_t *ctx, const char *reason, const char *detail, const void *key,
                    size_t klen, const void *value, size_t vlen, const char *topic,
                    int32_t partition, int64_t offset);

/* A bounded run (see also the settings stop.at and stop.at.time.ms): do
 * not process records of partition `partition` of input topic `topic`
 * (without the prefix) at or after offset `end`; once every assigned input
 * partition reached its bound, commit and stop (exit 0). A bounded engine
 * processes no input partition it was given no end offset for. Before the
 * start only: GL_OK, GL_ESTATE once started, GL_EINVAL for a negative
 * partition or offset, GL_ENOMEM. Loop thread. */
int gl_engine_bound_offset(gl_engine_t *e, const char *topic, int32_t partition, int64_t end);

/* For HTTP handlers: the store of partition p if this instance owns it and
 * has restored it, else NULL. Borrowed: valid until the loop runs again (a
 * revocation frees it). */
gl_store_t *gl_engine_store(gl_engine_t *e, int32_t partition);

typedef enum gl_ownership {
  GL_NOT_OWNED = 0,  /* Another instance (or none yet) owns the partition. */
  GL_RESTORING = 1,  /* Owned here; its state is still being restored. */
  GL_OWNED = 2       /* Owned here and serving. */
} gl_ownership_t;

/* The partition a key lands in with Kafka's Java partitioner (murmur2), as
 * every greenlight producer is configured to do; -1 if unknown. */
int32_t gl_engine_key_partition(gl_engine_t *e, const void *key, size_t klen);
gl_ownership_t gl_engine_ownership(gl_engine_t *e, int32_t partition);
/* The instance that owns partition according to the latest claims on the
 * app's owners topic, and its advertised HTTP URL (may be NULL). False if
 * not known (yet), or if the latest claim is this instance's own. Loop
 * thread; the strings stay valid until the loop runs again. */
bool gl_engine_owner(gl_engine_t *e, int32_t partition, const char **instance, const char **url);
struct json_t;
/* For a "not owned here" answer to GET path: adds "owner" ({"instance",
 * "url"}) and "location" (url + path) to the JSON object body when the
 * owner of partition is known; nothing otherwise. */
void gl_engine_owner_to_json(gl_engine_t *e, int32_t partition, const char *path,
                             struct json_t *body);

#endif
