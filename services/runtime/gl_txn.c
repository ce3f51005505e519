/* gl_txn: the transaction cycle (SPEC §6). Outputs, changelog records and
 * input offsets of one cycle go to Kafka in one transaction (KIP-447: the
 * offsets carry the consumer group metadata, so a zombie from an older
 * generation is fenced). The commit itself blocks, so it runs on libuv's
 * thread pool while the loop keeps serving signals and HTTP and processes
 * the records already buffered into the next transaction (gl_overlap.c). In at_least_once mode the same cycle flushes the producer
 * and then commits the offsets, without transactions. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "gl_engine_int.h"

void gl_txn_begin(gl_engine_t *e) {
  if (gl_overlap_active(e)) { /* The next transaction, begun once the commit returns. */
    if (!e->held_open) e->held_started_ms = gl_now_ms();
    e->held_open = true;
    return;
  }
  if (e->txn_state != GL_TXN_IDLE) return;
  if (e->eos) {
    rd_kafka_error_t *err = rd_kafka_begin_transaction(e->producer);
    if (err) {
      gl_engine_fatal(e, "begin_transaction: %s", rd_kafka_error_string(err));
      rd_kafka_error_destroy(err);
      return;
    }
  }
  gl_txn_set_state(e, GL_TXN_OPEN);
  e->txn_started_ms = gl_now_ms();
  e->txn_records = 0;
}

/* What the record costs against record.max.bytes: key, value, headers and
 * the per-record overhead of the batch format (generously). */
size_t gl_txn_record_size(size_t klen, size_t vlen, rd_kafka_headers_t *hdrs) {
  size_t n = klen + vlen + 64;
  const char *name;
  const void *val;
  size_t sz;
  for (size_t i = 0; hdrs && rd_kafka_header_get_all(hdrs, i, &name, &val, &sz) == 0; i++)
    n += strlen(name) + sz + 16;
  return n;
}

int gl_txn_produce(gl_engine_t *e, const char *topic, int32_t partition, int64_t timestamp_ms,
                   const void *key, size_t klen, const void *value, size_t vlen,
                   rd_kafka_headers_t *hdrs) {
  gl_txn_begin(e);
  size_t size = gl_txn_record_size(klen, vlen, hdrs);
  if (size > (size_t)e->conf.record_max_bytes) {
    if (hdrs) rd_kafka_headers_destroy(hdrs);
    char detail[256];
    snprintf(detail, sizeof detail, "a record of %zu bytes for %s is over record.max.bytes (%lld)",
             size, topic, (long long)e->conf.record_max_bytes);
    if (gl_overlap_active(e))
      gl_overlap_refuse(e, detail);
    else
      gl_poison_local(e, "%s", detail);
    gl_log_kv(e->log, GL_LOG_WARN, "produce_refused",
              GL_LOG_FIELDS(GL_LOG_STR("topic", topic), GL_LOG_INT("bytes", size)),
              "%s: a record of %zu bytes is over record.max.bytes (%lld)", topic, size,
              (long long)e->conf.record_max_bytes);
    return GL_EINVAL;
  }
  if (gl_overlap_active(e)) {
    gl_overlap_hold(e, topic, partition, timestamp_ms, key, klen, value, vlen, hdrs);
    return GL_OK;
  }
  return gl_txn_send(e, topic, partition, timestamp_ms, key, klen, value, vlen, hdrs);
}

int gl_txn_send(gl_engine_t *e, const char *topic, int32_t partition, int64_t timestamp_ms,
                const void *key, size_t klen, const void *value, size_t vlen,
                rd_kafka_headers_t *hdrs) {
  for (;;) {
    rd_kafka_resp_err_t err = rd_kafka_producev(
        e->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(key, klen),
        RD_KAFKA_V_VALUE((void *)value, vlen), RD_KAFKA_V_TIMESTAMP(timestamp_ms),
        RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE((void *)e->cur_cause), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return GL_OK;
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      /* Serve delivery reports to make room; the queue drains as the broker acks. */
      rd_kafka_poll(e->producer, 10);
      continue;
    }
    size_t size = gl_txn_record_size(klen, vlen, hdrs); /* Before the headers go. */
    if (hdrs) rd_kafka_headers_destroy(hdrs);
    gl_log_kv(e->log, GL_LOG_WARN, "produce_failed",
              GL_LOG_FIELDS(GL_LOG_STR("topic", topic), GL_LOG_STR("error", rd_kafka_err2name(err))),
              "produce to %s: %s; the transaction will abort", topic, rd_kafka_err2str(err));
    if (err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE)
      gl_poison_local(e, "%s refused a record of %zu bytes: %s", topic, size, rd_kafka_err2str(err));
    else
      e->txn_poisoned = true;
    return GL_EINVAL;
  }
}

static void gl_be64_put(unsigned char *b, int64_t v) {
  for (int i = 7; i >= 0; i--) {
    b[i] = (unsigned char)(v & 0xff);
    v = (int64_t)((uint64_t)v >> 8);
  }
}

typedef struct gl_flush_arg {
  gl_engine_t *e;
  gl_task_t *t;
} gl_flush_arg_t;

/* The store encoded the value (buf NULL: a tombstone) and keeps those
 * bytes as the committed value once the transaction commits; a store with
 * index numbers hands the value's, written as a header so that a restore
 * need not decode the value to learn it. */
static void gl_txn_changelog_write(void *arg, const void *key, size_t klen, const void *buf,
                                   size_t len, const void *index, size_t index_len) {
  gl_flush_arg_t *fa = arg;
  gl_engine_t *e = fa->e;
  rd_kafka_headers_t *hdrs = NULL;
  if (index) {
    hdrs = rd_kafka_headers_new(1);
    rd_kafka_header_add(hdrs, GL_STORE_INDEX_HEADER, -1, index, (ssize_t)index_len);
  }
  /* A processor keeps each value within the broker's message size (orderd
   * and batchd bound theirs by construction); past it the state cannot be
   * saved, and aborting would only repeat, so the daemon stops. */
  if (gl_txn_record_size(klen, len, hdrs) > (size_t)e->conf.record_max_bytes) {
    if (hdrs) rd_kafka_headers_destroy(hdrs);
    gl_engine_fatal(e, "%s [%d]: the state of a key (%zu bytes of key, %zu of value) is over "
                    "record.max.bytes (%lld): the processor must bound its state",
                    e->changelog, fa->t->partition, klen, len, (long long)e->conf.record_max_bytes);
    e->txn_poisoned = true; /* Never commit outputs without their state. */
    return;
  }
  gl_txn_produce(e, e->changelog, fa->t->partition, 0, key, klen, buf, len, hdrs);
}

/* Writes every dirty key and the stream time of each task to its changelog
 * partition, and collects the offsets to commit. */
static rd_kafka_topic_partition_list_t *gl_txn_prepare(gl_engine_t *e) {
  rd_kafka_topic_partition_list_t *offs = rd_kafka_topic_partition_list_new(16);
  for (int p = 0; p < e->ntasks; p++) {
    gl_task_t *t = e->tasks[p];
    if (!t) continue;
    /* A poisoned transaction aborts, and its tasks restore: their state
     * need not (and, too large, could not) be written. */
    if (e->changelog && t->state == GL_TASK_ACTIVE && !e->txn_poisoned) {
      gl_flush_arg_t fa = {e, t};
      if (t->store) gl_store_flush_index(t->store, gl_txn_changelog_write, &fa);
      if (t->stream_time != t->stream_time_logged) {
        unsigned char v[8];
        gl_be64_put(v, t->stream_time);
        gl_txn_produce(e, e->changelog, p, 0, GL_META_STREAM_TIME, GL_META_STREAM_TIME_LEN, v, 8,
                       NULL);
        t->stream_time_logged = t->stream_time;
      }
    }
    for (int i = 0; i < t->ninputs; i++) {
      t->inputs[i].prep_offset = t->inputs[i].next_offset;
      if (t->inputs[i].next_offset >= 0)
        rd_kafka_topic_partition_list_add(offs, e->inputs[i], p)->offset = t->inputs[i].next_offset;
    }
  }
  return offs;
}

/* Classifies a transactional error: abort (and rewind) or give up. */
static gl_commit_result_t gl_txn_classify(gl_engine_t *e, const char *what, rd_kafka_error_t *err) {
  snprintf(e->commit_err, sizeof(e->commit_err), "%s: %s (%s)", what, rd_kafka_error_string(err),
           rd_kafka_error_name(err));
  gl_commit_result_t r = rd_kafka_error_is_fatal(err) ? GL_COMMIT_FATAL : GL_COMMIT_ABORTED;
  rd_kafka_error_destroy(err);
  return r;
}

/* The blocking part of a commit. Runs on a pool thread or the loop thread. */
static gl_commit_result_t gl_txn_commit_blocking(gl_engine_t *e,
                                              rd_kafka_topic_partition_list_t *offs) {
  rd_kafka_error_t *err = NULL;
  if (e->txn_poisoned) {
    /* Let what is in flight land first: aborting while partitions are
     * still being added to the transaction can fail with INVALID_TXN_STATE
     * in librdkafka 2.0.2 (confluentinc/librdkafka#4849), as it did when a
     * refusal held during a commit was replayed right after a burst. */
    if (e->eos) rd_kafka_flush(e->producer, 30000);
    snprintf(e->commit_err, sizeof(e->commit_err), "a produce failed in this transaction");
    return GL_COMMIT_ABORTED;
  }
  if (!e->eos) {
    rd_kafka_resp_err_t ferr = rd_kafka_flush(e->producer, 60000);
    if (ferr) {
      snprintf(e->commit_err, sizeof(e->commit_err), "flush: %s", rd_kafka_err2str(ferr));
      return GL_COMMIT_ABORTED;
    }
    if (offs->cnt > 0) {
      rd_kafka_resp_err_t cerr = rd_kafka_commit(e->consumer, offs, 0);
      if (cerr) {
        snprintf(e->commit_err, sizeof(e->commit_err), "commit: %s", rd_kafka_err2str(cerr));
        return GL_COMMIT_ABORTED;
      }
    }
    return GL_COMMIT_OK;
  }
  /* Fault injection for tests: the abort that follows is real. It fails as
   * a commit would, after the flush: aborting while partitions are still
   * being added to the transaction can fail with INVALID_TXN_STATE in
   * librdkafka 2.0.2 (confluentinc/librdkafka#4849). */
  if (e->conf.fault_abort_every > 0 && ++e->commit_seq % (uint64_t)e->conf.fault_abort_every == 0) {
    rd_kafka_flush(e->producer, 30000);
    snprintf(e->commit_err, sizeof(e->commit_err), "fault.abort.every: aborting transaction %llu",
             (unsigned long long)e->commit_seq);
    return GL_COMMIT_ABORTED;
  }
  if (offs->cnt > 0) {
    rd_kafka_consumer_group_metadata_t *cgmd = rd_kafka_consumer_group_metadata(e->consumer);
    err = rd_kafka_send_offsets_to_transaction(e->producer, offs, cgmd, -1);
    rd_kafka_consumer_group_metadata_destroy(cgmd);
    if (err) return gl_txn_classify(e, "send_offsets_to_transaction", err);
  }
  for (int attempt = 0;; attempt++) {
    err = rd_kafka_commit_transaction(e->producer, -1);
    if (!err) return GL_COMMIT_OK;
    if (rd_kafka_error_is_retriable(err) && attempt < 10) {
      rd_kafka_error_destroy(err);
      continue;
    }
    return gl_txn_classify(e, "commit_transaction", err);
  }
}

/* After an aborted or failed commit: abort the transaction if one is
 * open. A retriable error (a timeout, the coordinator moving) is retried,
 * as librdkafka asks: the abort is still under way inside the client. An
 * abort that cannot finish leaves no transaction to begin: fatal. */
static gl_commit_result_t gl_txn_abort_blocking(gl_engine_t *e) {
  if (!e->eos) return GL_COMMIT_ABORTED;
  rd_kafka_error_t *err = NULL;
  for (int attempt = 0; attempt < 10; attempt++) {
    err = rd_kafka_abort_transaction(e->producer, -1);
    if (!err) return GL_COMMIT_ABORTED;
    if (!rd_kafka_error_is_retriable(err) || rd_kafka_error_is_fatal(err)) break;
    if (attempt < 9) rd_kafka_error_destroy(err);
  }
  char prev[512];
  snprintf(prev, sizeof(prev), "%s", e->commit_err);
  gl_txn_classify(e, "abort_transaction", err);
  snprintf(e->commit_err + strlen(e->commit_err), sizeof(e->commit_err) - strlen(e->commit_err),
           " after %s", prev);
  return GL_COMMIT_FATAL;
}

/* Thread pool: the blocking commit, then (a second piece of work, queued
 * by the loop once it saw the commit fail) the blocking abort. Each writes
 * only commit_result and commit_err, which the loop reads in the after
 * callback; everything else waits for the loop. */
static void gl_txn_commit_work(uv_work_t *req) {
  gl_engine_t *e = req->data;
  e->commit_result = gl_txn_commit_blocking(e, e->commit_offsets);
}

static void gl_txn_abort_work(uv_work_t *req) {
  gl_engine_t *e = req->data;
  e->commit_result = gl_txn_abort_blocking(e);
}

/* The cause index of a held output in the open transaction (0: none),
 * pushing its cause unless it is the last one pushed. */
static uintptr_t gl_txn_held_cause(gl_engine_t *e, const gl_cause_t *c) {
  if (!c) return 0;
  if (e->ncauses > 0) {
    const gl_cause_t *last = &e->causes[e->ncauses - 1];
    if (last->partition == c->partition && last->rank == c->rank && last->offset == c->offset)
      return e->ncauses;
  }
  gl_poison_cause_add(e, c->partition, c->rank, c->offset);
  return e->ncauses;
}

static void gl_txn_replay_one(void *arg, const gl_held_view_t *v) {
  gl_engine_t *e = arg;
  e->cur_cause = gl_txn_held_cause(e, v->cause);
  if (v->refused)
    gl_poison_local(e, "%s", v->refused);
  else
    gl_txn_send(e, v->topic, v->partition, v->timestamp_ms, v->key, v->klen, v->value, v->vlen,
                v->hdrs);
}

/* The commit succeeded: the next transaction begins with what was held
 * while it ran (gl_overlap.c), in order. */
static void gl_txn_replay(gl_engine_t *e) {
  if (!e->held_open) return;
  if (!e->closed) gl_txn_begin(e);
  if (e->closed) {
    gl_overlap_drop(e);
    return;
  }
  e->txn_started_ms = e->held_started_ms;
  e->txn_records = e->held_records;
  gl_overlap_each(e, gl_txn_replay_one, e);
  e->cur_cause = 0;
  gl_series_set(e->m_open_records, (double)e->txn_records);
}

/* An input after its commit: committed up to what the commit was prepared
 * with; records processed since (while it ran) remain to commit, from
 * there. */
static void gl_txn_input_committed(gl_input_t *in) {
  int64_t prep = in->prep_offset;
  in->prep_offset = -1;
  if (prep >= 0) in->committed = prep;
  if (in->next_offset == prep) { /* Nothing processed since. */
    in->next_offset = -1;
    in->rewind_offset = in->len ? in->ring[in->head]->offset : -1;
  } else if (prep >= 0) {
    in->rewind_offset = prep;
  } /* Else the records since are its first uncommitted ones: rewind_offset holds. */
}

/* Bookkeeping after a commit attempt, on the loop thread. */
static void gl_txn_finish(gl_engine_t *e, bool rewind) {
  rd_kafka_topic_partition_list_destroy(e->commit_offsets);
  e->commit_offsets = NULL;
  e->txn_poisoned = false;
  if (e->commit_result != GL_COMMIT_FATAL) gl_txn_set_state(e, GL_TXN_IDLE);
  int64_t records = e->txn_records;
  e->txn_records = 0;
  gl_series_set(e->m_open_records, 0);
  double secs = (double)(uv_hrtime() - e->commit_begin_ns) / 1e9;
  /* No input was polled while the commit ran: that time is no wait for a
   * lagging input (max.idle.ms), or every slow commit (the first after a
   * restart, one during a broker hiccup) would let the merge take a head
   * before the record it waited for could even be seen. */
  uint64_t paused_ms = (uint64_t)(secs * 1000);
  for (int p = 0; p < e->ntasks; p++)
    if (e->tasks[p] && e->tasks[p]->idle_since_ms) e->tasks[p]->idle_since_ms += paused_ms;
  gl_poison_after_txn(e, e->commit_result == GL_COMMIT_OK);
  gl_series_set(e->m_consecutive_aborts, (double)e->consecutive_aborts);
  switch (e->commit_result) {
    case GL_COMMIT_OK:
      e->consecutive_aborts = 0;
      gl_shell_brokers_up(e->sh);
      gl_series_add(e->m_commits, 1);
      gl_series_observe(e->m_commit_latency, secs);
      gl_series_observe(e->m_txn_records, (double)records);
      for (int p = 0; p < e->ntasks; p++) {
        gl_task_t *t = e->tasks[p];
        if (!t) continue;
        /* Records processed while the commit ran are in the next one. */
        t->in_txn = t->in_next;
        t->in_next = false;
        if (t->store) gl_store_commit(t->store); /* What the flush wrote; later writes stay. */
        for (int i = 0; i < t->ninputs; i++) gl_txn_input_committed(&t->inputs[i]);
      }
      gl_log_kv(e->log, GL_LOG_DEBUG, "commit",
                GL_LOG_FIELDS(GL_LOG_INT("records", records),
                              GL_LOG_INT("duration_ms", (int64_t)(secs * 1000))),
                "committed %lld records in %.1f ms", (long long)records, secs * 1000);
      gl_txn_replay(e);
      break;
    case GL_COMMIT_ABORTED:
      e->consecutive_aborts++;
      gl_series_add(e->m_aborts, 1);
      gl_log_kv(e->log, GL_LOG_WARN, "abort",
                GL_LOG_FIELDS(GL_LOG_INT("records", records),
                              GL_LOG_INT("consecutive_aborts", e->consecutive_aborts)),
              "transaction aborted (%s); rewinding inputs to the last commit and restoring state",
              e->commit_err);
      /* Only groups that processed records in the aborted transaction hold
       * uncommitted state; the others keep their state and buffers. */
      gl_overlap_drop(e);
      for (int p = 0; rewind && p < e->ntasks; p++) {
        gl_task_t *t = e->tasks[p];
        if (t && (t->in_txn || t->in_next)) gl_task_rewind(e, t);
        if (t) t->in_txn = t->in_next = false;
      }
      break;
    case GL_COMMIT_FATAL:
      gl_overlap_drop(e);
      gl_engine_fatal(e, "fatal transaction error: %s", e->commit_err);
      break;
  }
}

/* A fatal result ends the engine, unless it was the coordinator fencing
 * the producer after aborting the transaction itself (gl_producer.c): then
 * the transaction is dropped as an abort drops it, and the producer is
 * replaced before the next one (at once after an asynchronous commit; after
 * a revocation's or a lost assignment's, at the next pump, gl_txn_due). */
static void gl_txn_fatal_or_fenced(gl_engine_t *e) {
  if (e->commit_result != GL_COMMIT_FATAL) return;
  char why[512];
  if (gl_producer_replaceable(e, why, sizeof why)) {
    snprintf(e->recreate_why, sizeof e->recreate_why, "%s", why);
    e->producer_stale = true;
    e->commit_result = GL_COMMIT_ABORTED;
    return;
  }
  size_t n = strlen(e->commit_err);
  snprintf(e->commit_err + n, sizeof(e->commit_err) - n, "; not replaced: %s", why);
  gl_txn_set_state(e, GL_TXN_FATAL);
}

static void gl_txn_after_work(uv_work_t *req, int status);

/* Runs work on the thread pool, or here if the pool refuses it. */
static void gl_txn_queue(gl_engine_t *e, uv_work_cb work) {
  e->commit_work.data = e;
  if (uv_queue_work(e->loop, &e->commit_work, work, gl_txn_after_work) < 0) {
    work(&e->commit_work);
    gl_txn_after_work(&e->commit_work, 0);
  }
}

/* Loop thread, after each piece of commit work: a failed commit goes on to
 * its abort (the pool again); anything else ends the cycle. */
static void gl_txn_after_work(uv_work_t *req, int status) {
  gl_engine_t *e = req->data;
  (void)status;
  if (e->txn_state == GL_TXN_COMMITTING && e->commit_result == GL_COMMIT_ABORTED) {
    gl_txn_set_state(e, GL_TXN_ABORTING);
    gl_txn_queue(e, gl_txn_abort_work);
    return;
  }
  gl_txn_fatal_or_fenced(e);
  gl_txn_finish(e, true);
  void (*done)(gl_engine_t *) = e->commit_done;
  e->commit_done = NULL;
  if (e->producer_stale && !e->closed && !e->stopping) {
    gl_producer_recreate(e, done); /* done once the new producer is ready. */
    return;
  }
  if (done && !e->closed) done(e);
}

bool gl_txn_due(gl_engine_t *e, uint64_t now_ms) {
  if (e->producer_stale && e->txn_state == GL_TXN_IDLE) return !e->stopping; /* Replace it first. */
  if (e->txn_state != GL_TXN_OPEN) return false;
  return e->txn_poisoned ||
         (e->conf.commit_max_records > 0 && e->txn_records >= e->conf.commit_max_records) ||
         now_ms - e->txn_started_ms >= (uint64_t)e->conf.commit_interval_ms;
}

void gl_txn_commit_async(gl_engine_t *e, void (*done)(gl_engine_t *e)) {
  if (e->producer_stale && e->txn_state == GL_TXN_IDLE && !e->stopping) {
    gl_producer_recreate(e, done);
    return;
  }
  if (e->txn_state != GL_TXN_OPEN) return;
  e->commit_begin_ns = uv_hrtime();
  e->commit_offsets = gl_txn_prepare(e);
  if (e->closed) { /* A changelog write was fatal: nothing more to do. */
    rd_kafka_topic_partition_list_destroy(e->commit_offsets);
    e->commit_offsets = NULL;
    return;
  }
  gl_txn_set_state(e, GL_TXN_COMMITTING);
  e->commit_done = done;
  gl_txn_queue(e, gl_txn_commit_work);
}

/* On the loop thread: commit, and abort if that fails. */
gl_commit_result_t gl_txn_commit_sync(gl_engine_t *e) {
  if (e->txn_state != GL_TXN_OPEN) return GL_COMMIT_OK;
  e->commit_begin_ns = uv_hrtime();
  e->commit_offsets = gl_txn_prepare(e);
  gl_txn_set_state(e, GL_TXN_COMMITTING);
  e->commit_result = gl_txn_commit_blocking(e, e->commit_offsets);
  if (e->commit_result == GL_COMMIT_ABORTED) {
    gl_txn_set_state(e, GL_TXN_ABORTING);
    e->commit_result = gl_txn_abort_blocking(e);
  }
  gl_txn_fatal_or_fenced(e);
  gl_commit_result_t r = e->commit_result;
  /* The callers (revocation, shutdown) drop their tasks next: no rewind. */
  gl_txn_finish(e, false);
  return r;
}

void gl_txn_abort_sync(gl_engine_t *e) {
  if (e->txn_state != GL_TXN_OPEN) return;
  snprintf(e->commit_err, sizeof(e->commit_err), "partitions lost");
  gl_txn_set_state(e, GL_TXN_ABORTING);
  e->commit_result = gl_txn_abort_blocking(e);
  gl_txn_fatal_or_fenced(e);
  e->commit_begin_ns = uv_hrtime();
  e->commit_offsets = rd_kafka_topic_partition_list_new(1);
  gl_txn_finish(e, false);
}
