/* The runtime's internals: the engine's struct, its partition groups,
 * and the functions its files offer one another, listed lowest file first
 * (services/ARCHITECTURE.md draws the layers). Not a public header. */
#ifndef GREENLIGHT_GL_ENGINE_INT_H
#define GREENLIGHT_GL_ENGINE_INT_H

#include <stdatomic.h>
#include <uv.h>

#include "greenlight/gl_engine.h"
#include "greenlight/gl_kafka.h"
#include "greenlight/gl_shell.h"
#include "gl_merge.h"
#include "gl_settle.h"

/* The changelog key under which a task stores its event time. Keys that
 * start with a NUL byte are the runtime's: gl_store_put() refuses them. */
#define GL_META_STREAM_TIME "\0gl.stream_time"
#define GL_META_STREAM_TIME_LEN 15

/* A fenced producer is replaced at most this many times in
 * GL_PRODUCER_RECREATE_WINDOW_MS (gl_producer.c); the next fence is fatal. */
#define GL_PRODUCER_RECREATE_MAX 3

/* Partition owners, learnt from the owners topic (gl_owners.c). */
typedef struct gl_owners gl_owners_t;

typedef enum gl_task_state { GL_TASK_RESTORING, GL_TASK_ACTIVE } gl_task_state_t;

/* An input record whose output the client or the broker refused for a
 * reason tied to the record (too large, invalid): after the abort it goes
 * to the dead-letter topic instead of being processed again (gl_poison.c). */
typedef struct gl_poison {
  int rank;
  int64_t offset;
  int attempts; /* Times its outputs (the DLQ copy included) were refused. */
  bool used;    /* Sent to the DLQ in the open transaction. */
  bool used_next; /* Sent while a commit ran: in the transaction after it (gl_overlap.c). */
  char reason[32];
  char detail[256];
} gl_poison_t;

/* The input record behind each produce of the open transaction. */
typedef struct gl_cause {
  int32_t partition;
  int rank;
  int64_t offset;
} gl_cause_t;

typedef struct gl_task {
  int32_t partition;
  gl_task_state_t state;
  bool restore_assigned; /* The changelog partition is assigned to the restorer. */
  gl_input_t *inputs;    /* One per input topic, by rank. */
  gl_merge_input_t *merge_view; /* What the merge is shown of the inputs, by rank. */
  int ninputs;
  gl_store_t *store;
  void *data;
  int64_t stream_time;
  int64_t stream_time_logged; /* Last value written to the changelog. */
  uint64_t idle_since_ms;     /* When the wait for a lagging input began; 0 = none. */
  bool in_txn;                /* Processed records in the open transaction. */
  bool in_next;               /* Processed records held for the next one (gl_overlap.c). */
  uint64_t restore_started_ms;
  int64_t restore_records;
  int64_t restore_pos; /* The next changelog offset its store has not applied. */
  gl_poison_t *poison; /* Records to send to the DLQ when they come again. */
  int npoison;
} gl_task_t;

/* Every input of the group is assigned here: only then does it restore
 * and process (an incremental rebalance may hand them over one by one).
 * Inline: every file that looks at groups asks, from the owners up. */
static inline bool gl_task_complete(const gl_task_t *t) {
  for (int i = 0; i < t->ninputs; i++)
    if (!t->inputs[i].assigned) return false;
  return true;
}
static inline bool gl_task_any_assigned(const gl_task_t *t) {
  for (int i = 0; i < t->ninputs; i++)
    if (t->inputs[i].assigned) return true;
  return false;
}

/* A warm copy of a partition's state (gl_standby.c). */
typedef struct gl_warm gl_warm_t;

/* An end offset given for a bounded run (gl_engine_bound_offset). */
typedef struct gl_bound_offset {
  char topic[256]; /* Prefix included. */
  int32_t partition;
  int64_t end;
} gl_bound_offset_t;

/* An output (or a refusal) held for the next transaction (gl_overlap.c). */
typedef struct gl_held gl_held_t;

/* The result class of a commit attempt. */
typedef enum gl_commit_result { GL_COMMIT_OK, GL_COMMIT_ABORTED, GL_COMMIT_FATAL } gl_commit_result_t;

struct gl_output {
  const char *name; /* The processor's. */
  char *topic;      /* Prefix included; owned. */
  bool internal;    /* One of the processor's internal_outputs. */
};

struct gl_ctx {
  gl_engine_t *e;
  gl_task_t *task;
  const rd_kafka_message_t *msg; /* The record in hand. */
  const char *topic;
};

/* The engine. Everything in it belongs to the loop thread, except where a
 * comment names another thread (the connect and commit work on the thread
 * pool, librdkafka's callbacks); those fields are atomics, or are handed
 * over through the work's after callback. */
struct gl_engine {
  gl_engine_conf_t conf; /* A copy; its strings belong to the shell's settings. */
  gl_shell_t *sh;        /* Not owned: loop, log, metrics, settings, admin port. */
  const gl_processor_t *proc;
  const gl_log_t *log;   /* &sh->log */
  gl_metrics_t *metrics; /* sh->metrics */
  uv_loop_t *loop;       /* &sh->loop */
  uv_timer_t cron;
  gl_settle_t settle;      /* When buffered records settled (gl_settle.h). */
  uv_async_t settle_wake;  /* A broker thread wakes the loop for records that settle. */
  bool settle_started;     /* settle and settle_wake were initialised. */
  bool settle_wanted;      /* A merge of this pump waits for records to settle. */
  gl_kafka_qpoll_t cons_io, prod_io, rest_io;

  rd_kafka_t *consumer, *producer, *restorer;
  rd_kafka_queue_t *restore_q;      /* The restorer's consumer queue, read in batches. */
  rd_kafka_topic_t **out_topics; /* Outputs, changelog, DLQ: kept known to the producer. */
  int nout_topics;
  rd_kafka_topic_t *restore_topic;  /* The changelog, kept known to the restorer. */
  char **inputs; /* Full topic names, prefix included. */
  int ninputs;
  gl_output_t *outputs; /* One per name in proc->outputs. */
  int noutputs;
  char *dlq;
  char *changelog; /* NULL for a stateless processor. */

  gl_task_t **tasks; /* Indexed by partition. */
  int ntasks;
  gl_warm_t **warm;  /* Warm copies by partition (gl_standby.c). */
  int nwarm;
  int partition_count; /* Of the first input topic, from metadata at start (loop thread). */

  bool eos;
  gl_engine_state_t state;  /* Through gl_engine_set_state() only. */
  gl_txn_state_t txn_state; /* Through gl_txn_set_state() only. */
  bool txn_poisoned; /* A produce failed: the next commit must abort. */
  /* Causes of the open transaction's produces; a produce carries its
   * index + 1 as its opaque (0: no input record, e.g. a changelog write). */
  gl_cause_t *causes;
  size_t ncauses, causes_cap;
  uintptr_t cur_cause;           /* Of the record being processed, or 0. */
  uintptr_t local_poison;        /* A produce refused here, on the loop thread. */
  atomic_uintptr_t dr_poison;    /* One the broker refused (delivery report thread). */
  char poison_detail[256];       /* Written by whoever set local_poison or dr_poison. */
  uint64_t txn_started_ms;
  int64_t txn_records;
  /* The next transaction's outputs, held while a commit runs (gl_overlap.c). */
  gl_held_t *held;
  size_t nheld, held_cap;
  uint8_t *held_buf;
  size_t held_len, held_buf_cap;
  bool held_open;           /* Records were processed for the next transaction. */
  bool held_refused;        /* A refusal is held: the next transaction will abort. */
  uint64_t held_started_ms; /* When the first of them was. */
  int64_t held_records;
  bool held_has_cause;      /* held_cause is the record being processed. */
  gl_cause_t held_cause;
  int64_t records_processed; /* Since the start. */
  uint64_t pump_now_ms;      /* gl_now_ms() at the start of the current pump. */
  uv_work_t commit_work; /* The commit or the abort on the thread pool. */
  void (*commit_done)(gl_engine_t *e); /* gl_txn_commit_async's callback. */
  rd_kafka_topic_partition_list_t *commit_offsets;
  gl_commit_result_t commit_result;
  char commit_err[512];
  uint64_t commit_begin_ns;
  uint64_t commit_seq; /* Commit attempts, for fault.abort.every. */

  /* Start (gl_connect.c): the clients connect on the thread pool while the
   * loop serves HTTP; connect_why (under connect_lock) says how it goes. */
  char *member; /* <group>-<instance.id>: static member and transactional.id. */
  uv_work_t connect_work;
  uv_mutex_t connect_lock;
  char connect_why[512];
  int connect_result;       /* 0 connected, -1 failed, -2 a topic refused, 1 stopped (set by the work). */
  int connect_partitions;   /* The inputs' partition count (set by the work). */
  atomic_bool connect_stop; /* A signal came while connecting. */
  bool connected;

  int64_t consecutive_aborts;

  /* The producer's replacement after its coordinator fenced it (gl_producer.c). */
  uint64_t txn_timeout_ms;   /* The producer's transaction.timeout.ms. */
  bool producer_stale;       /* Fenced: replaced before the next transaction. */
  rd_kafka_t *producer_old;  /* Destroyed by the recreation's work (pool). */
  rd_kafka_topic_partition_list_t *recreate_probe; /* Committed offsets: the membership check. */
  uv_work_t recreate_work;
  void (*recreate_done)(gl_engine_t *e);
  int recreate_result;       /* 0 replaced, 1 a stop came, -1 failed (set by the work). */
  char recreate_why[512];
  char recreate_err[512];    /* Set by the work. */
  uint64_t recreate_started_ms;
  uint64_t recreated_ms[GL_PRODUCER_RECREATE_MAX]; /* The latest replacements, newest first. */

  /* Bounded runs (gl_bound.c). */
  bool bounded;         /* Some bound is set: the engine stops once all are reached. */
  bool bound_at_end;    /* stop.at=end: capture the end offsets when connecting. */
  int64_t bound_time_ms; /* stop.at.time.ms; 0 = none. */
  gl_bound_offset_t *bound_given;
  int nbound_given;
  rd_kafka_t *prober;    /* Reads the end offsets (stop.at=end); NULL otherwise. */
  int64_t *connect_ends; /* Captured by the connect work; the loop takes them. */
  int64_t *bound_ends;   /* By rank * partition_count + partition (loop thread). */
  bool assigned_now;     /* An assignment holds (set on assign, cleared on revoke). */

  bool started;
  bool stopping;
  bool closed;
  int result; /* GL_OK, or why the engine ended (GL_EFATAL, GL_EBROKER). */
  gl_engine_closed_fn on_closed;
  void *on_closed_arg;
  char *group;    /* The consumer group. */
  gl_owners_t *owners; /* Who owns which partition (gl_owners.c). */
  uint64_t cron_runs;

  /* Metrics the engine updates on the hot path. */
  gl_series_t *m_records, *m_overlap_records, *m_commits, *m_aborts, *m_commit_latency, *m_restore_records,
      *m_tasks_restoring, *m_idle_waits, *m_txn_records, *m_open_records,
      *m_consecutive_aborts, *m_ready, *m_warm, *m_warm_records, *m_warm_lag, *m_recreations;
  gl_series_t *m_state[GL_ENGINE_STATE_COUNT], *m_txn_state[GL_TXN_STATE_COUNT];
  atomic_uint_fast64_t delivery_failures;
};

/* The runtime's files, lowest first: each calls only the ones listed before
 * it (a higher one is reached through a callback, e.g. the commit's done).
 * Everything is for the loop thread unless a comment says otherwise. */

/* gl_core.c: what every file uses. */
uint64_t gl_now_ms(void); /* Monotonic; any thread. */
/* Moves the engine (or its transaction) to `to` and updates the gauges; a
 * transition the machine lacks is a bug: logged, refused, GL_ESTATE. */
int gl_engine_set_state(gl_engine_t *e, gl_engine_state_t to);
int gl_txn_set_state(gl_engine_t *e, gl_txn_state_t to);
/* After a rebalance, a restore or an abort: restoring while some owned
 * group restores, else running. Only from starting, restoring, running or
 * rebalancing; a draining or stopped engine stays as it is. */
void gl_engine_settle(gl_engine_t *e);
/* A fatal error: the shell logs it and the exit code becomes 1; the engine
 * fails (closed, no commit). */
void gl_engine_fatal(gl_engine_t *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Ends the engine without a commit: failed, handles closed. */
void gl_engine_fail(gl_engine_t *e);
/* Closes the loop's handles and calls the closed callback; the clients are
 * closed by gl_engine_destroy() after the loop ends. */
void gl_engine_close(gl_engine_t *e);
/* A client configuration (gl_shell_kafka_conf with the engine as opaque):
 * defaults, the kafka.* pass-through, then forced. */
rd_kafka_conf_t *gl_kafka_conf(gl_engine_t *e, const char *const *defaults,
                               const char *const *forced, char *errstr, size_t errlen);
/* A commit, an abort or the producer's replacement is in flight (the
 * thread pool, or the loop itself): nothing is produced or polled. */
static inline bool gl_txn_busy(const gl_engine_t *e) {
  return e->txn_state == GL_TXN_COMMITTING || e->txn_state == GL_TXN_ABORTING ||
         e->txn_state == GL_TXN_RECREATING;
}
/* Records were processed since the last commit, and the producer lives. */
static inline bool gl_txn_is_open(const gl_engine_t *e) {
  return e->txn_state == GL_TXN_OPEN || gl_txn_busy(e);
}

/* gl_ctx.c: the DLQ reasons the runtime gives (gl_engine_dlq_reasons). */
extern const char *const gl_runtime_dlq_reasons[];

/* gl_owners.c */
/* Sets this instance's URL from http.advertised.url, or from http.host and
 * the bound port. Returns 0, or -1 with errstr set. */
int gl_owners_advertise(gl_engine_t *e, int port, char *errstr, size_t errlen);
/* This instance has a URL to advertise: it will publish and follow claims. */
bool gl_owners_advertised(gl_engine_t *e);
/* With the clients, before any connection: creates the owners producer
 * and starts following the owners topic (gl_connect.c waits for it to
 * exist). Returns 0, or -1 with errstr set (a bad setting). */
int gl_owners_start(gl_engine_t *e, char *errstr, size_t errlen);
/* The owners topic, or NULL when this instance has no HTTP port. */
const char *gl_owners_topic(gl_engine_t *e);
/* After an assignment or a revocation: publishes the partitions of the
 * tasks this instance has now. */
void gl_owners_publish(gl_engine_t *e);
/* From the cron: takes in claims, serves the owners producer. */
void gl_owners_poll(gl_engine_t *e);
void gl_owners_destroy(gl_engine_t *e);
/* The instance whose latest claim names partition p (this one's included),
 * or NULL; valid until the next gl_owners_poll. */
const char *gl_owners_claimant(gl_engine_t *e, int32_t p);

/* gl_standby.c: warm copies of partitions not owned here, and the reading
 * of changelog records that restores share with them. */
/* Registers the metrics (at the engine's creation). */
void gl_standby_init(gl_engine_t *e);
/* Applies one changelog record to a store (NULL: a stateless group) and
 * its stream time. Returns 1 (a record to count). */
int gl_changelog_apply(gl_store_t *s, int64_t *stream_time, const rd_kafka_message_t *m);
/* The restorer reads changelog partition p from offset (assign), again
 * from offset (seek, which also reports its end again), or no more. */
void gl_changelog_assign(gl_engine_t *e, int32_t p, int64_t offset);
void gl_changelog_seek(gl_engine_t *e, int32_t p, int64_t offset);
void gl_changelog_unassign(gl_engine_t *e, int32_t p);
/* Takes the warm copy of p, if there is one: its store (the caller's
 * from then on), stream time and position; the restorer still reads p. */
bool gl_standby_take(gl_engine_t *e, int32_t p, gl_store_t **store, int64_t *stream_time,
                     int64_t *position);
/* A restorer record of a partition no group restores: applied to its
 * copy, if any. Returns 1 if it was a record applied. */
int gl_standby_msg(gl_engine_t *e, const rd_kafka_message_t *m);
/* In the revocation, before the groups are dropped: clean (the commit
 * succeeded, nothing lost) keeps their stores as warm copies, unless the
 * engine is stopping or keeps no copies. only: the groups revoked, by
 * partition (e->ntasks entries), or NULL for every group. */
void gl_standby_revoked(gl_engine_t *e, bool clean, const bool *only);
/* From the cron: starts the standbys the placement names, drops expired copies. */
void gl_standby_poll(gl_engine_t *e);
void gl_standby_destroy(gl_engine_t *e);

/* gl_poison.c: record-tied output failures (SPEC §3.1). */
/* Adds a cause to the open transaction's list and makes it the current one. */
void gl_poison_cause_add(gl_engine_t *e, int32_t partition, int rank, int64_t offset);
/* A produce of the record in hand was refused before it left: poison it. */
void gl_poison_local(gl_engine_t *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* From the delivery report callback, on any thread (atomics only). */
void gl_poison_dr(gl_engine_t *e, const rd_kafka_message_t *m);
/* After the transaction ended: an abort files the refused record with its
 * task; a commit forgets the records already sent to the DLQ. */
void gl_poison_after_txn(gl_engine_t *e, bool committed);
/* True if the record at (rank, offset) is poison: reason and detail say why. */
/* next: the record is processed while a commit runs, for the transaction after it. */
const gl_poison_t *gl_poison_take(gl_task_t *t, int rank, int64_t offset, bool next);
void gl_poison_destroy(gl_engine_t *e);

/* gl_task.c: partition groups (gl_merge.c decides their order). */
gl_task_t *gl_task_new(gl_engine_t *e, int32_t partition);
void gl_task_destroy(gl_engine_t *e, gl_task_t *t);
int gl_task_find_rank(gl_engine_t *e, const char *topic);
/* Buffers m (ownership taken) for input rank. */
void gl_task_push(gl_engine_t *e, gl_task_t *t, int rank, rd_kafka_message_t *m);
void gl_task_eof(gl_task_t *t, int rank, int64_t end_offset);
/* Pauses or resumes an input partition. */
/* An incremental revocation took input rank: its buffer is dropped, and it
 * starts again at the committed offset when assigned again. */
void gl_task_input_revoke(gl_engine_t *e, gl_task_t *t, int rank);
void gl_task_pause(gl_engine_t *e, gl_task_t *t, gl_input_t *in, bool pause);
/* The next record to process in merge order (ownership passes to the
 * caller), or NULL if none may be taken now. */
rd_kafka_message_t *gl_task_next(gl_engine_t *e, gl_task_t *t, uint64_t now_ms, int *rank);
void gl_task_restore_start(gl_engine_t *e, gl_task_t *t);
/* Takes what the restorer's queue holds (in batches, up to 20000 records)
 * into the restoring tasks' stores; ends each task's restore at its
 * changelog's end. Loop thread. */
#define GL_RESTORE_BATCH 1024
void gl_task_restore_poll(gl_engine_t *e);
/* Drops buffers and state and rewinds the inputs to the last commit. */
void gl_task_rewind(gl_engine_t *e, gl_task_t *t);

/* gl_producer.c: the producer, and its replacement after a fence. */
/* Creates e->producer (with the same configuration every time: the
 * transactional.id is the member's) and its topic handles. Returns 0, or
 * -1 with errstr (a bad setting). */
int gl_producer_new(gl_engine_t *e, char *errstr, size_t errlen);
/* After a fatal transactional error: true if the producer may be replaced
 * (its coordinator fenced it after aborting a transaction that outlived
 * transaction.timeout.ms, the consumer is still a member, and the bound of
 * replacements holds); why says why, or why not. */
bool gl_producer_replaceable(gl_engine_t *e, char *why, size_t len);
/* From idle, with e->recreate_why set: replaces the producer (the
 * transaction "recreating" meanwhile: nothing is polled or produced) and
 * calls done(e) once the new one took the transactional id, unless the
 * engine closed; fatal if it could not. */
void gl_producer_recreate(gl_engine_t *e, void (*done)(gl_engine_t *e));

/* gl_txn.c: the transaction cycle. */
void gl_txn_begin(gl_engine_t *e);
/* Produces inside the open transaction (opening one if needed). timestamp_ms
 * 0 lets the client stamp the record. Takes ownership of hdrs; copies key
 * and value. Returns GL_OK, or GL_EINVAL when the record was refused before
 * it left (too large, invalid): the transaction will abort, and the record
 * in hand is poison. */
int gl_txn_produce(gl_engine_t *e, const char *topic, int32_t partition, int64_t timestamp_ms,
                   const void *key, size_t klen, const void *value, size_t vlen,
                   rd_kafka_headers_t *hdrs);
/* What a record costs against record.max.bytes: key, value, headers and a
 * generous per-record overhead of the batch format. */
size_t gl_txn_record_size(size_t klen, size_t vlen, rd_kafka_headers_t *hdrs);
/* Starts a commit on the thread pool; done(e) runs on the loop once it (and
 * its abort, if it failed) ended, unless the engine closed meanwhile. */
void gl_txn_commit_async(gl_engine_t *e, void (*done)(gl_engine_t *e));
/* Commits on the loop thread (revocation, stop), aborting if that fails.
 * Returns the result. */
gl_commit_result_t gl_txn_commit_sync(gl_engine_t *e);
void gl_txn_abort_sync(gl_engine_t *e);
bool gl_txn_due(gl_engine_t *e, uint64_t now_ms);
/* Produces one record into the open transaction (its cause: e->cur_cause);
 * takes hdrs. Returns GL_OK or GL_EINVAL (the transaction will abort). */
int gl_txn_send(gl_engine_t *e, const char *topic, int32_t partition, int64_t timestamp_ms,
                const void *key, size_t klen, const void *value, size_t vlen,
                rd_kafka_headers_t *hdrs);

/* gl_overlap.c: processing while a commit runs. */
/* A commit runs and records may be processed meanwhile: commit.overlap.max.records
 * is set, and the commit has not failed. */
static inline bool gl_overlap_active(const gl_engine_t *e) {
  return e->txn_state == GL_TXN_COMMITTING && e->conf.commit_overlap_max_records > 0;
}
/* The input record behind the outputs held next. */
void gl_overlap_cause(gl_engine_t *e, int32_t partition, int rank, int64_t offset);
/* Holds an output (copies key and value, takes hdrs). */
void gl_overlap_hold(gl_engine_t *e, const char *topic, int32_t partition, int64_t timestamp_ms,
                     const void *key, size_t klen, const void *value, size_t vlen,
                     rd_kafka_headers_t *hdrs);
/* Holds a refusal of an output over record.max.bytes, as gl_poison_local. */
void gl_overlap_refuse(gl_engine_t *e, const char *detail);
/* One held output as gl_overlap_each shows it: refused is the refusal's
 * detail (no output), else key and value (NULL: none); hdrs become the
 * callback's; cause is the input record behind it, or NULL. */
typedef struct gl_held_view {
  const char *topic;
  int32_t partition;
  int64_t timestamp_ms;
  const void *key, *value;
  size_t klen, vlen;
  rd_kafka_headers_t *hdrs;
  const gl_cause_t *cause;
  const char *refused;
} gl_held_view_t;
typedef void (*gl_overlap_fn)(void *arg, const gl_held_view_t *v);
/* Calls fn for each held output in order (until the engine closes), then
 * empties the buffer. */
void gl_overlap_each(gl_engine_t *e, gl_overlap_fn fn, void *arg);
/* The commit failed: what is held goes (its groups rewind). */
void gl_overlap_drop(gl_engine_t *e);
void gl_overlap_destroy(gl_engine_t *e);

/* The open transaction holds commit.max.records input records (never with
 * no cap); while a commit runs, the records held for the next one reach
 * commit.overlap.max.records (or that cap). */
static inline bool gl_txn_capped(const gl_engine_t *e) {
  if (gl_overlap_active(e))
    return e->held_refused || e->txn_poisoned ||
           e->held_records >= e->conf.commit_overlap_max_records ||
           (e->conf.commit_max_records > 0 && e->held_records >= e->conf.commit_max_records);
  return e->conf.commit_max_records > 0 && e->txn_records >= e->conf.commit_max_records;
}

/* gl_bound.c: bounded runs. */
void gl_bound_init(gl_engine_t *e);
/* With the clients: for stop.at=end, the client that reads the end
 * offsets. Returns 0, or -1 with errstr (a bad setting). */
int gl_bound_prober_new(gl_engine_t *e, char *errstr, size_t errlen);
/* Thread pool: stop.at=end's end offsets, into e->connect_ends. Returns 0,
 * or -1 with why (the broker did not answer; the connect work retries). */
int gl_bound_capture(gl_engine_t *e, int partitions, char *why, size_t len);
/* Sets the bounds of a task's inputs (after an assignment). */
void gl_bound_arm(gl_engine_t *e, gl_task_t *t);
/* True if the record must not be processed: at or beyond its input's bound
 * (the input then counts as having reached it). */
bool gl_bound_beyond(gl_engine_t *e, gl_task_t *t, int rank, const rd_kafka_message_t *m);
/* After a record was taken or the end reported: has the input reached its bound? */
void gl_bound_check(gl_engine_t *e, gl_task_t *t, gl_input_t *in);
/* An assignment holds, and every assigned input reached its bound with
 * nothing buffered or restoring (what is open must still be committed). */
bool gl_bound_reached_all(gl_engine_t *e);

/* gl_process.c: the life of one record. */
/* Takes what the Kafka queues hold, processes what the merge allows, and
 * starts a commit when one is due. Called on io events and by the cron. */
void gl_engine_pump(gl_engine_t *e);
/* Commits what is open (on the loop) and closes: the end of a drain. */
void gl_engine_finish_stop(gl_engine_t *e);
/* Starts an asynchronous commit of what is open now (a bounded run's end). */
void gl_engine_commit_now(gl_engine_t *e);

/* gl_rebalance.c: librdkafka calls it from rd_kafka_consumer_poll(). */
void gl_engine_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                            rd_kafka_topic_partition_list_t *parts, void *opaque);
/* Destroys every partition group (at the end). */
void gl_rebalance_drop_tasks(gl_engine_t *e);

/* gl_topics.c: the start-up check of the daemon's topics (pool thread).
 * Returns 0 (e->connect_partitions set), 1 with why set (not yet: a topic
 * missing, an internal topic just created, the broker not answering), or
 * -1 with why set (a topic is there but wrong: refused for good). */
int gl_topics_check(gl_engine_t *e, char *why, size_t len);

/* gl_connect.c */
/* group.protocol = consumer (KIP-848)? Pure. */
bool gl_connect_kip848(const gl_engine_conf_t *c);
/* Refuses group.protocol = consumer when the librdkafka this process runs
 * with lacks it, or with a client setting the broker decides then (kafka:
 * the kafka.* pass-through pairs): -1 with errstr (exit 2), else 0. Pure;
 * any thread. */
int gl_connect_group_protocol_check(const gl_engine_conf_t *c, const char *const *kafka,
                                    char *errstr, size_t errlen);
/* Creates the consumer, the restorer and the producer; no connection yet.
 * Returns 0, or -1 with errstr (a bad setting: exit 2). */
int gl_connect_clients(gl_engine_t *e, char *errstr, size_t errlen);
/* Waits for the broker and the topics on the thread pool, then subscribes
 * and starts processing; fails the engine after startup.timeout.ms. */
void gl_connect_start(gl_engine_t *e);
/* How the connection goes, for /healthz and /readyz (any thread). */
void gl_connect_status(gl_engine_t *e, char *buf, size_t len);

/* gl_health.c: /healthz, /readyz and the gauges. */
void gl_health_http(gl_engine_t *e, const char *path, gl_http_response_t *r);
/* From the cron, once a second: lag, readiness gauge. */
void gl_health_update(gl_engine_t *e);
/* Why the instance is not ready, or NULL when it is. */
const char *gl_health_not_ready(gl_engine_t *e, char *buf, size_t len);

/* gl_engine.c: the engine's life. */
/* Starts a drain: finish the record in hand, commit, close (a stop, a
 * bounded run's end). why is logged unless NULL. */
void gl_engine_drain(gl_engine_t *e, const char *why);

#endif
