/* gl_process: the life of one record on the loop thread: taken from the
 * consumer queue (gl_dispatch), buffered per partition group, taken in
 * merge order (gl_task_next), checked (poison, the processor's decode
 * hook, time bounds), processed, and counted towards the next commit
 * (gl_engine_pump). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "gl_engine_int.h"

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
  if (e->closed) { /* begin_transaction failed: fatal. */
    rd_kafka_message_destroy(m);
    return;
  }
  bool next = gl_overlap_active(e); /* A commit runs: this record is in the next transaction. */
  if (next)
    t->in_next = true;
  else
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
  if (next) /* Its outputs are held for the next transaction. */
    gl_overlap_cause(e, t->partition, rank, m->offset);
  else
    gl_poison_cause_add(e, t->partition, rank, m->offset);
  const gl_poison_t *poison = gl_poison_take(t, rank, m->offset, next);
  if (poison) {
    if (poison->attempts < 2) gl_ctx_dlq(&ctx, poison->reason, poison->detail);
    else
      gl_log_kv(e->log, GL_LOG_ERROR, "dropped",
                GL_LOG_FIELDS(GL_LOG_STR("topic", ctx.topic), GL_LOG_INT("partition", m->partition),
                              GL_LOG_INT("offset", m->offset)),
                "%s [%d] @%" PRId64 ": dropped, its DLQ copy was refused: %s", ctx.topic,
                m->partition, m->offset, poison->detail);
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
  e->held_has_cause = false;
  if (rec.decoded && e->proc->decoded_free) e->proc->decoded_free(e->proc->opaque, rec.decoded);
  rd_kafka_message_destroy(m);
  if (next) {
    e->held_records++;
    gl_series_add(e->m_overlap_records, 1);
  } else
    e->txn_records++;
  e->records_processed++;
  gl_series_add(e->m_records, 1);
  gl_series_set(e->m_open_records, (double)(e->txn_records + e->held_records));
}

static void gl_dispatch(gl_engine_t *e, rd_kafka_message_t *m) {
  if (!m->err || m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) gl_shell_brokers_up(e->sh);
  int rank = m->rkt ? gl_task_find_rank(e, rd_kafka_topic_name(m->rkt)) : -1;
  gl_task_t *t = m->partition >= 0 && m->partition < e->ntasks ? e->tasks[m->partition] : NULL;
  if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
    if (t && rank >= 0) {
      gl_task_eof(t, rank, m->offset);
      gl_bound_check(e, t, &t->inputs[rank]);
    }
  } else if (m->err) {
    if (m->err == RD_KAFKA_RESP_ERR__FATAL)
      gl_engine_fatal(e, "consumer: %s", rd_kafka_message_errstr(m));
    else
      gl_warn(e->log, "consumer_error", "%s", rd_kafka_message_errstr(m));
  } else if (t && rank >= 0 && t->inputs[rank].assigned && !gl_bound_beyond(e, t, rank, m)) {
    gl_task_push(e, t, rank, m);
    return;
  }
  rd_kafka_message_destroy(m);
}

/* Takes what the Kafka queues hold, processes what the merge allows, and
 * starts a commit when one is due. Called on io events and by the cron. */
static void gl_process_after_commit(gl_engine_t *e);

/* How long the loop's callbacks of one iteration may spend processing
 * records before the loop serves the admin port and its other handles: a
 * backlog of thousands of buffered records would otherwise hold it for
 * seconds, and the admin port must answer within 100 ms at any time. The
 * budget is shared by every pump of the iteration (the cron's, the queue
 * events', a commit's end), counted from when the loop's poll returned
 * (uv_now); the rest is processed by the next pump, asked for at once
 * (gl_pump_yield). */
#define GL_PUMP_SLICE_MS 10

static bool gl_pump_slice_spent(gl_engine_t *e) {
  return gl_now_ms() >= uv_now(e->loop) + GL_PUMP_SLICE_MS;
}

/* Processes what the merge allows of the buffered records, until a commit
 * is due (or, while one runs, the overlap is full), or the loop's slice is
 * spent: then returns true (records may be left). */
static bool gl_pump_process(gl_engine_t *e) {
  uint64_t now = gl_now_ms();
  bool progress = true;
  while (progress && !e->closed && !e->stopping && !gl_txn_due(e, now)) {
    progress = false;
    for (int p = 0; p < e->ntasks && !e->closed; p++) {
      gl_task_t *t = e->tasks[p];
      int rank;
      for (int k = 0; t && k < 64 && !gl_txn_capped(e); k++) {
        if (gl_pump_slice_spent(e)) return true;
        rd_kafka_message_t *r = gl_task_next(e, t, now, &rank);
        if (!r) break;
        gl_bound_check(e, t, &t->inputs[rank]); /* Was it the last before the bound? */
        gl_process_one(e, t, rank, r);
        progress = true;
      }
    }
  }
  return false;
}

/* The slice ran out: another pump runs as soon as the loop has served
 * what is pending (the async is handled in the loop's next poll phase,
 * with the sockets). */
static void gl_pump_yield(gl_engine_t *e) {
  if (!e->closed) uv_async_send(&e->settle_wake);
}

void gl_engine_pump(gl_engine_t *e) {
  GL_SHELL_ASSERT_LOOP(e->sh, "gl_engine_pump");
  if (e->closed || !e->connected) return;
  if (gl_txn_busy(e)) {
    /* The consumer is not polled while a commit runs (a rebalance cannot
     * come in the middle); what is buffered is processed meanwhile. */
    if (gl_overlap_active(e) && gl_pump_process(e)) gl_pump_yield(e);
    return;
  }
  rd_kafka_message_t *m;
  e->pump_now_ms = gl_now_ms();
  gl_settle_pump_start(&e->settle); /* Before the drain: see gl_settle.h. */
  gl_task_restore_poll(e);
  for (int n = 0; n < 20000 && !e->closed && (m = rd_kafka_consumer_poll(e->consumer, 0)); n++)
    gl_dispatch(e, m);
  bool took = gl_settle_drained(&e->settle);
  e->settle_wanted = false;
  if (!e->closed) rd_kafka_poll(e->producer, 0);
  bool more = gl_pump_process(e);
  if (!e->closed && gl_txn_due(e, gl_now_ms())) {
    /* The commit's preparation (the changelog writes) costs in proportion
     * to the transaction, as the end of the last commit did (its held
     * outputs produced again): when the slice is spent, it starts in the
     * next iteration, after the loop served what is pending. */
    if (gl_pump_slice_spent(e)) {
      more = true;
    } else {
      gl_txn_commit_async(e, gl_process_after_commit);
      /* Go on with what is buffered. */
      more = gl_overlap_active(e) && gl_pump_process(e);
    }
  }
  if (more) gl_pump_yield(e);
  /* Records of this drain wait to settle: the next pump most often finds
   * their brokers between responses, so run it at once rather than at the
   * next fetch or cron (once per drain that took records: no spinning). */
  if (took && e->settle_wanted && !e->closed)
    uv_async_send(&e->settle_wake);
}

void gl_engine_commit_now(gl_engine_t *e) {
  if (!e->closed && e->txn_state == GL_TXN_OPEN) gl_txn_commit_async(e, gl_process_after_commit);
}

/* The transaction cycle's callback once a commit (or its abort) ended. */
static void gl_process_after_commit(gl_engine_t *e) {
  if (e->closed) return;
  if (e->stopping)
    gl_engine_finish_stop(e);
  else
    gl_engine_pump(e);
}

/* The end of a drain: commit what is open (on the loop) and close. */
void gl_engine_finish_stop(gl_engine_t *e) {
  if (e->closed) return;
  if (e->txn_state == GL_TXN_OPEN) {
    /* A transaction an output was refused in must abort: that is the poison
     * rule at work (SPEC §3.1), not a failure; its records, the refused one
     * first, are processed again at the next start. Any other failed final
     * commit ends the process with 1 for a supervisor. */
    bool poisoned = e->txn_poisoned;
    int64_t records = e->txn_records;
    gl_commit_result_t r = gl_txn_commit_sync(e);
    if (r == GL_COMMIT_ABORTED && poisoned) {
      gl_log_kv(e->log, GL_LOG_WARN, "stop", GL_LOG_FIELDS(GL_LOG_INT("records", records)),
              "final transaction aborted (%s): its %lld records are processed again at the next "
              "start", e->commit_err, (long long)records);
    } else if (r != GL_COMMIT_OK) {
      gl_error(e->log, "stop", "final commit failed: %s", e->commit_err);
      gl_engine_fail(e);
      return;
    }
  }
  gl_engine_close(e);
}
