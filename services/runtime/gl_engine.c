/* gl_engine: the daemon's life — configuration, the Kafka clients, the libuv
 * loop that drives them through queue io events, rebalances, the record
 * context, /healthz and /metrics, and shutdown. The merge lives in
 * gl_task.c, the transaction cycle in gl_txn.c. */
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "gl_engine_int.h"

extern char **environ;

#define GL_OFF(f) offsetof(gl_engine_conf_t, f)
const gl_conf_prop_t gl_engine_conf_props[] = {
    {"app.id", GL_CONF_STR, "greenlight", 1, 0, NULL, GL_OFF(app_id),
     "Application id: consumer group, transactional id prefix and changelog topic prefix."},
    {"instance.id", GL_CONF_STR, "0", 1, 0, NULL, GL_OFF(instance_id),
     "This instance's stable id: static group member <app.id>-<instance.id> and transactional.id."},
    {"topic.prefix", GL_CONF_STR, "", 0, 0, NULL, GL_OFF(topic_prefix),
     "Prepended to every topic name, so several environments can share a cluster."},
    {"input.topics", GL_CONF_STR, "", 0, 0, NULL, GL_OFF(input_topics),
     "Comma-separated co-partitioned input topics; their order is the merge tie-break rank."},
    {"output.topics", GL_CONF_STR, "", 0, 0, NULL, GL_OFF(output_topics),
     "Comma-separated output topics."},
    {"dlq.topic", GL_CONF_STR, "greenlight.dlq", 1, 0, NULL, GL_OFF(dlq_topic),
     "Dead-letter topic for records that cannot be decoded, validated or applied."},
    {"processing.guarantee", GL_CONF_ENUM, "exactly_once", 0, 0, "exactly_once|at_least_once",
     GL_OFF(guarantee), "exactly_once: one Kafka transaction per commit; at_least_once: for comparison."},
    {"commit.interval.ms", GL_CONF_INT, "100", 1, 600000, NULL, GL_OFF(commit_interval_ms),
     "Commit the open transaction at least this often."},
    {"commit.max.records", GL_CONF_INT, "1000", 1, 10000000, NULL, GL_OFF(commit_max_records),
     "Commit once this many input records were processed in the transaction."},
    {"max.idle.ms", GL_CONF_INT, "1000", 0, 600000, NULL, GL_OFF(max_idle_ms),
     "How long the merge waits for an input with nothing buffered that is not caught up (records appended but not fetched yet, or an upstream transaction still open)."},
    {"buffer.max.records", GL_CONF_INT, "2000", 2, 10000000, NULL, GL_OFF(buffer_max_records),
     "Records buffered per input partition before it is paused (back-pressure)."},
    {"http.host", GL_CONF_STR, "127.0.0.1", 0, 0, NULL, GL_OFF(http_host),
     "Address of the HTTP port (/healthz, /metrics, state queries)."},
    {"http.port", GL_CONF_INT, "0", -1, 65535, NULL, GL_OFF(http_port),
     "HTTP port; 0 picks a free one (logged), -1 disables HTTP."},
    {"http.advertised.url", GL_CONF_STR, "", 0, 0, NULL, GL_OFF(http_advertised_url),
     "This instance's HTTP address as other instances name it to callers they cannot serve; empty = http://<http.host, or the host name for a wildcard>:<port>."},
    {"log.level", GL_CONF_ENUM, "info", 0, 0, "debug|info|warn|error", GL_OFF(log_level),
     "Least severe level logged."},
    {"fault.abort.every", GL_CONF_INT, "0", 0, 1000000, NULL, GL_OFF(fault_abort_every),
     "Testing only: abort every Nth transaction on the broker, as an abortable error would (0 = never)."},
    {"record.max.bytes", GL_CONF_INT, "1000000", 1024, 100000000, NULL, GL_OFF(record_max_bytes),
     "Largest output record (key + value + headers) produced; keep it at or below the producer's message.max.bytes and the topics' max.message.bytes. A record whose output would be larger goes to the DLQ (output_too_large); a DLQ copy is cut to fit."},
    {"time.max.forward.ms", GL_CONF_INT, "86400000", 1, INT64_MAX, NULL, GL_OFF(time_max_forward_ms),
     "How far ahead of both the partition group's event time and its own record timestamp one record's occurred_at_ms may be; beyond, it goes to the DLQ (time_out_of_bounds) and moves no time."},
    {"merge.settle.ms", GL_CONF_INT, "50", 0, 10000, NULL, GL_OFF(merge_settle_ms),
     "How long a buffered record waits before an input with nothing buffered counts as caught up against it: librdkafka reads one fetch response partition by partition, and another input's records of the same response may still be on their way."},
    {"startup.timeout.ms", GL_CONF_INT, "120000", 1000, 86400000, NULL, GL_OFF(startup_timeout_ms),
     "How long a start waits for the broker and the topics (answering /healthz meanwhile) before it exits 1 for a supervisor to retry."},
    {NULL, 0, NULL, 0, 0, NULL, 0, NULL}};

uint64_t gl_now_ms(void) { return uv_hrtime() / 1000000; }

int gl_engine_set_state(gl_engine_t *e, gl_engine_state_t to) {
  gl_engine_state_t from = e->state;
  if (gl_engine_state_move(&e->state, to) < 0) {
    gl_error(&e->log, "bug", "engine state %s -> %s refused: not a transition of the machine",
             gl_engine_state_name(from), gl_engine_state_name(to));
    return GL_ESTATE;
  }
  if (from == to) return GL_OK;
  gl_series_set(e->m_state[from], 0);
  gl_series_set(e->m_state[to], 1);
  gl_debug(&e->log, "state", "engine %s -> %s", gl_engine_state_name(from), gl_engine_state_name(to));
  return GL_OK;
}

int gl_txn_set_state(gl_engine_t *e, gl_txn_state_t to) {
  gl_txn_state_t from = e->txn_state;
  if (gl_txn_state_move(&e->txn_state, to) < 0) {
    gl_error(&e->log, "bug", "transaction state %s -> %s refused: not a transition of the machine",
             gl_txn_state_name(from), gl_txn_state_name(to));
    return GL_ESTATE;
  }
  if (from == to) return GL_OK;
  gl_series_set(e->m_txn_state[from], 0);
  gl_series_set(e->m_txn_state[to], 1);
  return GL_OK;
}

void gl_engine_settle(gl_engine_t *e) {
  if (!e->connected) return; /* Starting until the clients are connected and subscribed. */
  if (e->state != GL_ENGINE_STARTING && e->state != GL_ENGINE_RESTORING &&
      e->state != GL_ENGINE_RUNNING && e->state != GL_ENGINE_REBALANCING)
    return;
  bool restoring = false;
  for (int p = 0; p < e->ntasks && !restoring; p++)
    restoring = e->tasks[p] && e->tasks[p]->state == GL_TASK_RESTORING;
  gl_engine_set_state(e, restoring ? GL_ENGINE_RESTORING : GL_ENGINE_RUNNING);
}

void gl_engine_fatal(gl_engine_t *e, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  gl_error(&e->log, "fatal", "%s; exiting so that a supervisor restarts the daemon", msg);
  e->exit_code = 1;
  if (e->state != GL_ENGINE_CLOSED) gl_engine_set_state(e, GL_ENGINE_FAILED);
  gl_engine_close(e);
}

/* ---- Record context ---------------------------------------------------- */

int32_t gl_ctx_partition(const gl_ctx_t *ctx) { return ctx->task->partition; }
void *gl_ctx_task_data(const gl_ctx_t *ctx) { return ctx->task->data; }
int64_t gl_ctx_stream_time(const gl_ctx_t *ctx) { return ctx->task->stream_time; }
gl_store_t *gl_ctx_store(const gl_ctx_t *ctx) { return ctx->task->store; }
gl_metrics_t *gl_ctx_metrics(const gl_ctx_t *ctx) { return ctx->e->metrics; }
const gl_log_t *gl_ctx_log(const gl_ctx_t *ctx) { return &ctx->e->log; }

gl_output_t *gl_engine_output(gl_engine_t *e, const char *name) {
  for (int i = 0; i < e->noutputs; i++)
    if (strcmp(e->outputs[i].name, name) == 0) return &e->outputs[i];
  return NULL;
}

const char *gl_output_topic(const gl_output_t *out) { return out->topic; }

void gl_ctx_emit(gl_ctx_t *ctx, gl_output_t *out, int64_t timestamp_ms, const void *key,
                 size_t klen, const void *value, size_t vlen, const char *const *headers) {
  gl_engine_t *e = ctx->e;
  rd_kafka_headers_t *h = NULL;
  if (headers && headers[0]) {
    h = rd_kafka_headers_new(4);
    for (; headers[0] && headers[1]; headers += 2) rd_kafka_header_add(h, headers[0], -1, headers[1], -1);
  }
  /* Either way the timestamp comes from the log, so a replay writes the
   * same bytes and timestamps. */
  if (timestamp_ms <= 0 && ctx->msg) timestamp_ms = rd_kafka_message_timestamp(ctx->msg, NULL);
  gl_txn_produce(e, out->topic, RD_KAFKA_PARTITION_UA, timestamp_ms > 0 ? timestamp_ms : 0, key,
                 klen, value, vlen, h);
}

/* Headers of the original record travel with its DLQ copy, unless they
 * alone would crowd out the value. */
#define GL_DLQ_HEADERS_MAX 16384
/* A DLQ copy keeps at most this much of an over-long key. */
#define GL_DLQ_KEY_MAX 1024

static rd_kafka_headers_t *gl_dlq_headers(const rd_kafka_message_t *m) {
  rd_kafka_headers_t *orig = NULL;
  if (!m || rd_kafka_message_headers(m, &orig) != RD_KAFKA_RESP_ERR_NO_ERROR) return NULL;
  size_t n = 0, sz;
  const char *name;
  const void *val;
  for (size_t i = 0; rd_kafka_header_get_all(orig, i, &name, &val, &sz) == 0; i++)
    n += strlen(name) + sz;
  return n <= GL_DLQ_HEADERS_MAX ? rd_kafka_headers_copy(orig) : NULL;
}

void gl_ctx_dlq_raw(gl_ctx_t *ctx, const char *reason, const char *detail, const void *key,
                    size_t klen, const void *value, size_t vlen, const char *topic,
                    int32_t partition, int64_t offset) {
  gl_engine_t *e = ctx->e;
  rd_kafka_headers_t *h = NULL;
  if (ctx->msg && value == ctx->msg->payload) h = gl_dlq_headers(ctx->msg);
  if (!h) h = rd_kafka_headers_new(8);
  char num[32];
  rd_kafka_header_add(h, "dlq.reason", -1, reason, -1);
  rd_kafka_header_add(h, "dlq.error", -1, detail ? detail : "", -1);
  rd_kafka_header_add(h, "dlq.topic", -1, topic, -1);
  snprintf(num, sizeof(num), "%" PRId32, partition);
  rd_kafka_header_add(h, "dlq.partition", -1, num, -1);
  snprintf(num, sizeof(num), "%" PRId64, offset);
  rd_kafka_header_add(h, "dlq.offset", -1, num, -1);
  rd_kafka_header_add(h, "dlq.service", -1, e->proc->name, -1);
  /* The copy must fit record.max.bytes whatever the input was (SPEC §3.1):
   * cut the key and the value, and say how long they were. */
  if (klen > GL_DLQ_KEY_MAX) {
    snprintf(num, sizeof(num), "%zu", klen);
    rd_kafka_header_add(h, "dlq.key.truncated", -1, num, -1);
    klen = GL_DLQ_KEY_MAX;
  }
  size_t used = gl_txn_record_size(klen, 0, h) + 64; /* + the header added below */
  size_t max = (size_t)e->conf.record_max_bytes;
  size_t room = max > used ? max - used : 0;
  if (vlen > room) {
    snprintf(num, sizeof(num), "%zu", vlen);
    rd_kafka_header_add(h, "dlq.value.truncated", -1, num, -1);
    vlen = room;
  }
  char labels[128];
  snprintf(labels, sizeof(labels), "reason=\"%s\"", reason);
  gl_series_add(gl_metrics_counter(e->metrics, "greenlight_dlq_records_total",
                                   "Records sent to the dead-letter topic, by reason.", labels),
                1);
  gl_warn(&e->log, "dlq", "%s [%d] @%" PRId64 " -> %s: %s: %s", topic, partition, offset, e->dlq,
          reason, detail ? detail : "");
  gl_txn_produce(e, e->dlq, RD_KAFKA_PARTITION_UA,
                 ctx->msg ? rd_kafka_message_timestamp(ctx->msg, NULL) : 0, key, klen, value, vlen,
                 h);
}

void gl_ctx_dlq(gl_ctx_t *ctx, const char *reason, const char *detail) {
  const rd_kafka_message_t *m = ctx->msg;
  gl_ctx_dlq_raw(ctx, reason, detail, m->key, m->key_len, m->payload, m->len, ctx->topic,
                 m->partition, m->offset);
}

gl_ownership_t gl_engine_ownership(gl_engine_t *e, int32_t p) {
  if (p < 0 || p >= e->ntasks || !e->tasks[p]) return GL_NOT_OWNED;
  return e->tasks[p]->state == GL_TASK_ACTIVE ? GL_OWNED : GL_RESTORING;
}

gl_store_t *gl_engine_store(gl_engine_t *e, int32_t p) {
  return gl_engine_ownership(e, p) == GL_OWNED ? e->tasks[p]->store : NULL;
}

int32_t gl_engine_key_partition(gl_engine_t *e, const void *key, size_t klen) {
  if (e->partition_count <= 0) return -1;
  return (int32_t)(((uint32_t)gl_murmur2(key, klen) & 0x7fffffff) % (uint32_t)e->partition_count);
}

/* ---- Processing -------------------------------------------------------- */

/* SPEC §3.1: one record may move event time only a bounded amount: its
 * occurred_at_ms may be at most time.max.forward.ms ahead of the group's
 * event time or of its own record timestamp (whichever is later; both come
 * from the log, so a replay decides the same). Returns false and writes
 * detail for a record beyond. */
static bool gl_time_in_bounds(const gl_engine_t *e, const gl_task_t *t, int64_t occurred,
                              int64_t rec_ts, char *detail, size_t len) {
  if (occurred <= t->stream_time) return true;
  int64_t anchor = t->stream_time > rec_ts ? t->stream_time : rec_ts;
  int64_t fwd = e->conf.time_max_forward_ms;
  if (anchor > INT64_MAX - fwd || occurred <= anchor + fwd) return true;
  snprintf(detail, len,
           "occurred_at_ms %" PRId64 " is %" PRId64 " ms ahead of the partition's event time (%" PRId64
           ") and of the record timestamp (%" PRId64 "); time.max.forward.ms is %" PRId64,
           occurred, occurred - anchor, t->stream_time, rec_ts, fwd);
  return false;
}

static void gl_process_one(gl_engine_t *e, gl_task_t *t, int rank, rd_kafka_message_t *m) {
  gl_txn_begin(e);
  t->in_txn = true;
  gl_ctx_t ctx = {.e = e, .task = t, .msg = m, .topic = e->inputs[rank]};
  gl_record_t rec = {.topic = e->inputs[rank],
                     .topic_rank = rank,
                     .partition = m->partition,
                     .offset = m->offset,
                     .timestamp_ms = rd_kafka_message_timestamp(m, NULL),
                     .key = m->key,
                     .key_len = m->key_len,
                     .value = m->payload,
                     .value_len = m->len};
  char detail[512];
  gl_poison_cause_push(e, t, rank, m->offset);
  const gl_poison_t *poison = gl_poison_take(t, rank, m->offset);
  if (poison) {
    if (poison->attempts < 2) gl_ctx_dlq(&ctx, poison->reason, poison->detail);
    else
      gl_error(&e->log, "dropped", "%s [%d] @%" PRId64 ": dropped, its DLQ copy was refused: %s",
               ctx.topic, m->partition, m->offset, poison->detail);
    goto done;
  }
  int64_t event_time = rec.timestamp_ms;
  if (e->proc->decode) {
    const char *reason = "invalid";
    detail[0] = 0;
    rec.decoded = e->proc->decode(e->proc->opaque, m->key, m->key_len, m->payload, m->len,
                                  &event_time, &reason, detail, sizeof detail);
    if (!rec.decoded) {
      gl_ctx_dlq(&ctx, reason, detail);
      goto done;
    }
    if (!gl_time_in_bounds(e, t, event_time, rec.timestamp_ms, detail, sizeof detail)) {
      gl_ctx_dlq(&ctx, "time_out_of_bounds", detail);
      goto done;
    }
  }
  if (event_time > t->stream_time) t->stream_time = event_time;
  e->proc->process(&ctx, &rec, e->proc->opaque);
done:
  e->cur_cause = 0;
  if (rec.decoded && e->proc->decoded_free) e->proc->decoded_free(e->proc->opaque, rec.decoded);
  rd_kafka_message_destroy(m);
  e->txn_records++;
  gl_series_add(e->m_records, 1);
  gl_series_set(e->m_open_records, (double)e->txn_records);
}

static void gl_dispatch(gl_engine_t *e, rd_kafka_message_t *m) {
  if (!m->err || m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) atomic_store(&e->brokers_down, false);
  int rank = m->rkt ? gl_task_find_rank(e, rd_kafka_topic_name(m->rkt)) : -1;
  gl_task_t *t = m->partition >= 0 && m->partition < e->ntasks ? e->tasks[m->partition] : NULL;
  if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
    if (t && rank >= 0) gl_task_eof(t, rank, m->offset);
  } else if (m->err) {
    if (m->err == RD_KAFKA_RESP_ERR__FATAL)
      gl_engine_fatal(e, "consumer: %s", rd_kafka_message_errstr(m));
    else
      gl_warn(&e->log, "consumer_error", "%s", rd_kafka_message_errstr(m));
  } else if (t && rank >= 0 && t->inputs[rank].assigned) {
    gl_task_push(e, t, rank, m);
    return;
  }
  rd_kafka_message_destroy(m);
}

/* Takes what the Kafka queues hold, processes what the merge allows, and
 * starts a commit when one is due. Called on io events and by the cron. */
void gl_engine_pump(gl_engine_t *e) {
  if (e->closed || gl_txn_busy(e) || !e->connected) return;
  rd_kafka_message_t *m;
  for (int n = 0; n < 20000 && !e->closed && (m = rd_kafka_consumer_poll(e->restorer, 0)); n++) {
    gl_task_restore_msg(e, m);
    rd_kafka_message_destroy(m);
  }
  for (int n = 0; n < 20000 && !e->closed && (m = rd_kafka_consumer_poll(e->consumer, 0)); n++)
    gl_dispatch(e, m);
  if (!e->closed) rd_kafka_poll(e->producer, 0);
  uint64_t now = gl_now_ms();
  bool progress = true;
  while (progress && !e->closed && !e->stopping && !gl_txn_due(e, now)) {
    progress = false;
    for (int p = 0; p < e->ntasks && !e->closed; p++) {
      gl_task_t *t = e->tasks[p];
      int rank;
      for (int k = 0; t && k < 64 && e->txn_records < e->conf.commit_max_records; k++) {
        rd_kafka_message_t *r = gl_task_next(e, t, now, &rank);
        if (!r) break;
        gl_process_one(e, t, rank, r);
        progress = true;
      }
    }
  }
  if (!e->closed && gl_txn_due(e, gl_now_ms())) gl_txn_commit_async(e);
}

static void gl_finish_stop(gl_engine_t *e);

void gl_engine_after_commit(gl_engine_t *e) {
  if (e->closed) return;
  if (e->stopping)
    gl_finish_stop(e);
  else
    gl_engine_pump(e);
}

/* ---- Rebalance --------------------------------------------------------- */

static void gl_tasks_grow(gl_engine_t *e, int32_t p) {
  if (p < e->ntasks) return;
  int n = p + 1;
  gl_task_t **nt = realloc(e->tasks, sizeof(*nt) * (size_t)n);
  if (!nt) abort();
  for (int i = e->ntasks; i < n; i++) nt[i] = NULL;
  e->tasks = nt;
  e->ntasks = n;
}

static void gl_drop_tasks(gl_engine_t *e) {
  for (int p = 0; p < e->ntasks; p++) {
    gl_task_destroy(e, e->tasks[p]);
    e->tasks[p] = NULL;
  }
}

static void gl_engine_rebalance(gl_engine_t *e, rd_kafka_t *rk, rd_kafka_resp_err_t err,
                                rd_kafka_topic_partition_list_t *parts);

/* Loop thread: librdkafka serves it from rd_kafka_consumer_poll(). */
void gl_engine_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                            rd_kafka_topic_partition_list_t *parts, void *opaque) {
  gl_engine_t *e = opaque;
  /* A draining or stopped engine (the consumer's close revokes too) keeps
   * its state. */
  if (e->state <= GL_ENGINE_REBALANCING) gl_engine_set_state(e, GL_ENGINE_REBALANCING);
  gl_engine_rebalance(e, rk, err, parts);
  gl_engine_settle(e);
}

static void gl_engine_rebalance(gl_engine_t *e, rd_kafka_t *rk, rd_kafka_resp_err_t err,
                                rd_kafka_topic_partition_list_t *parts) {
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    rd_kafka_assign(rk, parts);
    for (int i = 0; i < parts->cnt; i++) {
      int rank = gl_task_find_rank(e, parts->elems[i].topic);
      int32_t p = parts->elems[i].partition;
      if (rank < 0) continue;
      gl_tasks_grow(e, p);
      if (!e->tasks[p]) e->tasks[p] = gl_task_new(e, p);
      e->tasks[p]->inputs[rank].assigned = true;
    }
    int n = 0;
    for (int p = 0; p < e->ntasks; p++)
      if (e->tasks[p] && e->tasks[p]->state == GL_TASK_RESTORING && !e->tasks[p]->restore_assigned) {
        gl_task_restore_start(e, e->tasks[p]);
        n++;
      }
    gl_info(&e->log, "assigned", "assigned %d input partitions; %d partition groups to restore",
            parts->cnt, n);
    gl_owners_publish(e);
    return;
  }
  /* Revoked or lost: finish or abandon the open transaction, then drop the
   * tasks; their state lives on in the changelog for the next owner. */
  if (e->txn_state == GL_TXN_OPEN && e->exit_code == 0) {
    if (rd_kafka_assignment_lost(rk)) {
      gl_warn(&e->log, "lost", "partitions lost; aborting the open transaction");
      gl_txn_abort_sync(e);
    } else if (gl_txn_commit_sync(e) == GL_COMMIT_FATAL) {
      gl_error(&e->log, "fatal", "commit on revocation failed: %s", e->commit_err);
      e->exit_code = 1;
    }
  }
  gl_drop_tasks(e);
  gl_owners_publish(e);
  rd_kafka_assign(rk, NULL);
  gl_info(&e->log, "revoked", "revoked %d input partitions", parts->cnt);
}

static char **gl_split_topics(const char *prefix, const char *list, int *n) {
  char **out = NULL;
  *n = 0;
  char *dup = strdup(list), *save = NULL;
  for (char *tok = strtok_r(dup, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
    out = realloc(out, sizeof(char *) * (size_t)(*n + 1));
    if (!out || asprintf(&out[*n], "%s%s", prefix, tok) < 0) abort();
    (*n)++;
  }
  free(dup);
  return out;
}

/* The processor's outputs, named in its description, mapped to the topics
 * of output.topics: "topic" entries in the order of the names, or
 * "name=topic" entries in any order. */
static int gl_outputs_resolve(gl_engine_t *e, char *errstr, size_t errlen) {
  int want = 0, given = 0;
  while (e->proc->outputs && e->proc->outputs[want]) want++;
  char **topics = gl_split_topics("", e->conf.output_topics, &given);
  e->outputs = calloc((size_t)want + 1, sizeof(*e->outputs));
  if (!e->outputs) abort();
  e->noutputs = want;
  for (int i = 0; i < want; i++) e->outputs[i].name = e->proc->outputs[i];
  int rc = GL_OK;
  for (int i = 0; i < given && rc == GL_OK; i++) {
    char *eq = strchr(topics[i], '=');
    gl_output_t *o = i < want ? &e->outputs[i] : NULL;
    if (eq) {
      *eq = 0;
      o = gl_engine_output(e, topics[i]);
    }
    const char *topic = eq ? eq + 1 : topics[i];
    if (!o || o->topic || !*topic) {
      rc = GL_ECONFIG;
    } else if (asprintf(&o->topic, "%s%s", e->conf.topic_prefix, topic) < 0) {
      abort();
    }
  }
  for (int i = 0; i < want && rc == GL_OK; i++)
    if (!e->outputs[i].topic) rc = GL_ECONFIG;
  for (int i = 0; i < given; i++) free(topics[i]);
  free(topics);
  if (rc == GL_OK) return GL_OK;
  char names[256] = "";
  for (int i = 0; i < want; i++)
    snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "",
             e->outputs[i].name);
  snprintf(errstr, errlen,
           "config: output.topics = '%s': expected %d topic%s, one per output (%s), "
           "as \"topic,...\" in that order or \"name=topic,...\"",
           e->conf.output_topics, want, want == 1 ? "" : "s", names);
  return GL_ECONFIG;
}

/* Topic names from the settings, then the clients (no connection yet). */
static int gl_engine_setup(gl_engine_t *e, char *errstr, size_t errlen) {
  gl_engine_conf_t *c = &e->conf;
  e->eos = strcmp(c->guarantee, "exactly_once") == 0;
  e->inputs = gl_split_topics(c->topic_prefix, c->input_topics, &e->ninputs);
  if (e->ninputs == 0) {
    snprintf(errstr, errlen, "config: input.topics = '': expected at least one topic");
    return GL_ECONFIG;
  }
  if (gl_outputs_resolve(e, errstr, errlen) < 0) return GL_ECONFIG;
  if (e->proc->open && e->proc->open(e->proc->opaque, e, errstr, errlen) < 0) return GL_ECONFIG;
  if (asprintf(&e->dlq, "%s%s", c->topic_prefix, c->dlq_topic) < 0) abort();
  if (e->proc->store &&
      asprintf(&e->changelog, "%s%s.%s.changelog", c->topic_prefix, c->app_id, e->proc->store->name) < 0)
    abort();
  return gl_connect_clients(e, errstr, errlen);
}

/* ---- Cron, signals, HTTP, shutdown ------------------------------------ */

/* Redis-style: one periodic timer, with slower work in run-with-period blocks. */
#define GL_CRON_MS 10
#define gl_run_with_period(e, ms) if (((e)->cron_runs % ((ms) / GL_CRON_MS)) == 0)

static void gl_cron_cb(uv_timer_t *h) {
  gl_engine_t *e = h->data;
  e->cron_runs++;
  /* The fallback poll: an idle consumer must still be served, and the
   * merge's max.idle.ms and the commit interval need a clock. */
  /* A fatal error reported on another thread ends the daemon here. */
  if (atomic_load(&e->fatal_pending) && !e->closed) {
    gl_engine_fatal(e, "%s", e->fatal_msg);
    return;
  }
  gl_engine_pump(e);
  gl_engine_settle(e);
  gl_run_with_period(e, 1000) gl_health_update(e);
  gl_run_with_period(e, 100) gl_owners_poll(e);
}

static void gl_signal_cb(uv_signal_t *h, int signum) {
  gl_engine_t *e = h->data;
  if (e->stopping) return;
  gl_info(&e->log, "stopping", "signal %d: draining, committing and exiting", signum);
  e->stopping = true;
  gl_engine_set_state(e, GL_ENGINE_DRAINING);
  atomic_store(&e->connect_stop, true);
  /* While connecting, the connection's end (gl_connect.c) closes. */
  if (!gl_txn_busy(e) && (e->connected || !e->consumer)) gl_finish_stop(e);
}

static void gl_http_cb(void *opaque, const char *method, const char *path, gl_http_response_t *r) {
  gl_engine_t *e = opaque;
  (void)method;
  if (strcmp(path, "/metrics") == 0) {
    r->status = 200;
    r->content_type = "text/plain; version=0.0.4; charset=utf-8";
    r->body_len = gl_metrics_render(e->metrics, &r->body);
    return;
  }
  if (strcmp(path, "/healthz") == 0 || strcmp(path, "/readyz") == 0) {
    gl_health_http(e, path, r);
    return;
  }
  if (e->proc->http) e->proc->http(e, path, r, e->proc->opaque);
}

static void gl_close_handle(uv_handle_t *h) {
  if (h->loop && !uv_is_closing(h)) uv_close(h, NULL);
}

/* Stops everything: Kafka clients are closed after the loop ends. */
void gl_engine_close(gl_engine_t *e) {
  if (e->closed) return;
  e->closed = true;
  if (e->state != GL_ENGINE_FAILED) gl_engine_set_state(e, GL_ENGINE_CLOSED);
  gl_close_handle((uv_handle_t *)&e->cron);
  gl_close_handle((uv_handle_t *)&e->sigterm);
  gl_close_handle((uv_handle_t *)&e->sigint);
  gl_kafka_qpoll_stop(&e->cons_io);
  gl_kafka_qpoll_stop(&e->prod_io);
  gl_kafka_qpoll_stop(&e->rest_io);
  if (e->http) {
    gl_http_close(e->http, NULL, NULL);
    e->http = NULL;
  }
}

static void gl_finish_stop(gl_engine_t *e) {
  if (e->closed) return;
  if (e->txn_state == GL_TXN_OPEN && gl_txn_commit_sync(e) != GL_COMMIT_OK) {
    gl_error(&e->log, "stop", "final commit failed: %s", e->commit_err);
    e->exit_code = 1;
  }
  gl_engine_close(e);
}

static void gl_engine_destroy(gl_engine_t *e) {
  if (e->consumer) {
    /* Closing the consumer runs the final revocation (nothing left to commit). */
    rd_kafka_consumer_close(e->consumer);
    gl_drop_tasks(e);
  }
  if (e->restorer) rd_kafka_consumer_close(e->restorer);
  gl_kafka_qpoll_destroy(&e->cons_io);
  gl_kafka_qpoll_destroy(&e->prod_io);
  gl_kafka_qpoll_destroy(&e->rest_io);
  gl_owners_destroy(e); /* After the consumer's close, which published "nothing". */
  gl_poison_destroy(e);
  if (e->consumer) rd_kafka_destroy(e->consumer);
  if (e->restorer) rd_kafka_destroy(e->restorer);
  if (e->producer) {
    if (!e->eos) rd_kafka_flush(e->producer, 10000);
    rd_kafka_destroy(e->producer);
  }
  for (int i = 0; i < e->ninputs; i++) free(e->inputs[i]);
  for (int i = 0; i < e->noutputs; i++) free(e->outputs[i].topic);
  free(e->inputs);
  free(e->outputs);
  free(e->dlq);
  free(e->changelog);
  free(e->group);
  free(e->member);
  uv_mutex_destroy(&e->connect_lock);
  free(e->tasks);
  gl_metrics_destroy(e->metrics);
  gl_conf_destroy(&e->gconf);
  uv_loop_close(&e->loop);
  free(e);
}

static void gl_engine_metrics_init(gl_engine_t *e) {
  static const double lat[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};
  static const double recs[] = {1, 10, 100, 1000, 10000};
  gl_metrics_t *m = e->metrics = gl_metrics_new();
  e->m_records = gl_metrics_counter(m, "greenlight_records_processed_total", "Input records processed.", NULL);
  e->m_commits = gl_metrics_counter(m, "greenlight_commits_total", "Transactions committed.", NULL);
  e->m_aborts = gl_metrics_counter(m, "greenlight_aborts_total", "Transactions aborted and rewound.", NULL);
  e->m_commit_latency = gl_metrics_histogram(m, "greenlight_commit_latency_seconds",
                                             "Time to commit a transaction.", NULL, lat, 11);
  e->m_txn_records = gl_metrics_histogram(m, "greenlight_transaction_records",
                                          "Input records per committed transaction.", NULL, recs, 5);
  e->m_restore_records = gl_metrics_counter(m, "greenlight_restore_records_total",
                                            "Changelog records read while restoring state.", NULL);
  e->m_tasks_restoring = gl_metrics_gauge(m, "greenlight_partitions_restoring",
                                          "Partition groups still restoring their state.", NULL);
  e->m_idle_waits = gl_metrics_counter(m, "greenlight_merge_idle_expired_total",
                                       "Records taken after waiting max.idle.ms for a lagging input.", NULL);
  e->m_open_records = gl_metrics_gauge(m, "greenlight_uncommitted_records",
                                       "Input records processed in the transaction not yet committed.",
                                       NULL);
  e->m_lag = gl_metrics_gauge(m, "greenlight_consumer_lag_records",
                              "Input records not yet committed (high watermark minus the last committed offset).", NULL);
  e->m_consecutive_aborts = gl_metrics_gauge(m, "greenlight_consecutive_aborts",
                                             "Transactions aborted in a row since the last commit.", NULL);
  e->m_ready = gl_metrics_gauge(m, "greenlight_ready", "1 when /readyz answers 200.", NULL);
  char labels[64];
  for (int i = 0; i < GL_ENGINE_STATE_COUNT; i++) {
    snprintf(labels, sizeof labels, "state=\"%s\"", gl_engine_state_name((gl_engine_state_t)i));
    e->m_state[i] = gl_metrics_gauge(m, "greenlight_engine_state",
                                     "1 for the engine's current state (starting, restoring, running, rebalancing, draining, closed, failed).",
                                     labels);
  }
  for (int i = 0; i < GL_TXN_STATE_COUNT; i++) {
    snprintf(labels, sizeof labels, "state=\"%s\"", gl_txn_state_name((gl_txn_state_t)i));
    e->m_txn_state[i] = gl_metrics_gauge(m, "greenlight_txn_state",
                                         "1 for the transaction cycle's current state (idle, open, committing, aborting, fatal).",
                                         labels);
  }
  gl_series_set(e->m_state[GL_ENGINE_STARTING], 1);
  gl_series_set(e->m_txn_state[GL_TXN_IDLE], 1);
}

int gl_engine_main(int argc, char **argv, gl_processor_t *proc, const char *const *defaults,
                   const gl_conf_prop_t *extra_props, void *extra_conf,
                   int (*on_config)(void *, gl_processor_t *, char *, size_t)) {
  char errstr[1024] = "";
  gl_engine_t *e = calloc(1, sizeof(*e));
  if (!e) abort();
  e->proc = proc;
  const char *prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
  gl_conf_init(&e->gconf, prog);
  gl_log_init(&e->log, proc->name, GL_LOG_INFO);
  signal(SIGPIPE, SIG_IGN); /* A peer closing a socket must not kill the daemon. */
  uv_loop_init(&e->loop);
  uv_mutex_init(&e->connect_lock);
  gl_engine_metrics_init(e);
  int rc = gl_conf_add_table(&e->gconf, gl_engine_conf_props, &e->conf, errstr, sizeof(errstr));
  if (rc == 0 && extra_props)
    rc = gl_conf_add_table(&e->gconf, extra_props, extra_conf, errstr, sizeof(errstr));
  for (const char *const *d = defaults; rc == 0 && d && *d; d += 2)
    rc = gl_conf_set(&e->gconf, d[0], d[1], errstr, sizeof(errstr));
  if (rc == 0) rc = gl_conf_load(&e->gconf, argc, argv, environ, errstr, sizeof(errstr));
  if (rc == 0) gl_log_level_parse(e->conf.log_level, &e->log.level);
  if (rc == 0 && on_config) rc = on_config(extra_conf, proc, errstr, sizeof(errstr));
  /* --check-config and a start judge http.host alike. */
  if (rc == 0 && e->conf.http_port >= 0 &&
      gl_http_check_host(e->conf.http_host, errstr, sizeof(errstr)) < 0)
    rc = -1;
  if (rc == 0 && e->gconf.check) rc = gl_conf_check(&e->gconf, stdout, errstr, sizeof(errstr));
  /* HTTP first: its port goes into this instance's owners claim. A port in
   * use is not a bad setting (exit 1, a supervisor retries); a host that
   * is not this machine's is (exit 2). */
  int exit_on_error = 2;
  if (rc == 0 && e->conf.http_port >= 0) {
    int herr = gl_http_listen(&e->http, &e->loop, e->conf.http_host, (int)e->conf.http_port,
                              gl_http_cb, e, errstr, sizeof(errstr));
    if (herr < 0) {
      rc = -1;
      if (!gl_http_bad_setting(herr)) exit_on_error = 1;
    } else {
      gl_info(&e->log, "http", "listening on http://%s:%d (/healthz, /readyz, /metrics)",
              e->conf.http_host, gl_http_port(e->http));
    }
  }
  if (rc == 0 && gl_owners_advertise(e, e->http ? gl_http_port(e->http) : 0, errstr,
                                     sizeof(errstr)) < 0)
    rc = -1;
  if (rc == 0 && gl_engine_setup(e, errstr, sizeof(errstr)) < 0) rc = -1;
  if (rc != 0) {
    if (rc < 0) {
      gl_error(&e->log, "config", "%s", errstr);
      fprintf(stderr, "%s: %s\n", prog, errstr);
    }
    gl_engine_close(e);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    gl_engine_destroy(e);
    return rc < 0 ? exit_on_error : 0;
  }
  uv_timer_init(&e->loop, &e->cron);
  e->cron.data = e;
  uv_timer_start(&e->cron, gl_cron_cb, GL_CRON_MS, GL_CRON_MS);
  uv_signal_init(&e->loop, &e->sigterm);
  uv_signal_init(&e->loop, &e->sigint);
  e->sigterm.data = e->sigint.data = e;
  uv_signal_start(&e->sigterm, gl_signal_cb, SIGTERM);
  uv_signal_start(&e->sigint, gl_signal_cb, SIGINT);
  /* The broker may not be there yet: wait for it off the loop. */
  gl_connect_start(e);
  uv_run(&e->loop, UV_RUN_DEFAULT);
  int code = e->exit_code;
  gl_info(&e->log, "exit", "exiting with status %d", code);
  gl_engine_destroy(e);
  return code;
}
