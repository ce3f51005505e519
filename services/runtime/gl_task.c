/* gl_task: partition groups. A task owns partition P of every input topic,
 * the store of partition P, and the deterministic merge of its inputs
 * (SPEC §6): the buffered heads are ordered by (record timestamp, topic
 * rank, offset), and a head is taken only when every other input has a
 * buffered record or is caught up, or when the lagging input has been
 * waited for max.idle.ms. */
#include <stdlib.h>
#include <string.h>

#include "gl_engine_int.h"

int gl_task_find_rank(gl_engine_t *e, const char *topic) {
  for (int i = 0; i < e->ninputs; i++)
    if (strcmp(e->inputs[i], topic) == 0) return i;
  return -1;
}

gl_task_t *gl_task_new(gl_engine_t *e, int32_t partition) {
  gl_task_t *t = calloc(1, sizeof(*t));
  if (!t) abort();
  t->partition = partition;
  t->state = GL_TASK_RESTORING;
  t->ninputs = e->ninputs;
  t->inputs = calloc((size_t)e->ninputs, sizeof(*t->inputs));
  if (!t->inputs) abort();
  for (int i = 0; i < e->ninputs; i++) {
    t->inputs[i].rank = i;
    t->inputs[i].rewind_offset = -1;
    t->inputs[i].next_offset = -1;
    t->inputs[i].position = -1;
    t->inputs[i].committed = -1;
  }
  if (e->proc->store) t->store = gl_store_new(e->proc->store, e->proc->opaque);
  if (e->proc->task_open) t->data = e->proc->task_open(e->proc->opaque, partition);
  return t;
}

static void gl_input_clear(gl_input_t *in) {
  for (size_t i = 0; i < in->len; i++)
    rd_kafka_message_destroy(in->ring[(in->head + i) % in->cap]);
  in->head = in->len = 0;
}

void gl_task_destroy(gl_engine_t *e, gl_task_t *t) {
  if (!t) return;
  for (int i = 0; i < t->ninputs; i++) {
    gl_input_clear(&t->inputs[i]);
    free(t->inputs[i].ring);
    free(t->inputs[i].arrived);
  }
  free(t->inputs);
  if (t->restore_assigned && e->restorer) {
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, e->changelog, t->partition);
    rd_kafka_error_t *err = rd_kafka_incremental_unassign(e->restorer, l);
    if (err) rd_kafka_error_destroy(err);
    rd_kafka_topic_partition_list_destroy(l);
    gl_series_add(e->m_tasks_restoring, -1);
  }
  free(t->poison);
  if (e->proc->task_close) e->proc->task_close(e->proc->opaque, t->data);
  gl_store_destroy(t->store);
  free(t);
}

static void gl_pause(gl_engine_t *e, gl_task_t *t, gl_input_t *in, bool pause) {
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(l, e->inputs[in->rank], t->partition);
  if (pause)
    rd_kafka_pause_partitions(e->consumer, l);
  else
    rd_kafka_resume_partitions(e->consumer, l);
  rd_kafka_topic_partition_list_destroy(l);
  in->paused = pause;
}

void gl_task_push(gl_engine_t *e, gl_task_t *t, int rank, rd_kafka_message_t *m) {
  gl_input_t *in = &t->inputs[rank];
  if (in->len == in->cap) {
    size_t ncap = in->cap ? in->cap * 2 : 64;
    rd_kafka_message_t **r = malloc(ncap * sizeof(*r));
    uint64_t *a = malloc(ncap * sizeof(*a));
    if (!r || !a) abort();
    for (size_t i = 0; i < in->len; i++) {
      r[i] = in->ring[(in->head + i) % in->cap];
      a[i] = in->arrived[(in->head + i) % in->cap];
    }
    free(in->ring);
    free(in->arrived);
    in->ring = r;
    in->arrived = a;
    in->cap = ncap;
    in->head = 0;
  }
  in->ring[(in->head + in->len) % in->cap] = m;
  in->arrived[(in->head + in->len) % in->cap] = gl_now_ms();
  in->len++;
  in->eof = false;
  in->fetched = true;
  if (in->rewind_offset < 0) in->rewind_offset = m->offset;
  if (in->committed < 0) in->committed = m->offset; /* Fetching starts at the commit. */
  if (!in->paused && (int64_t)in->len >= e->conf.buffer_max_records) gl_pause(e, t, in, true);
}

/* The high watermark of the last fetch response for an input partition;
 * -1 if none came yet. */
static int64_t gl_task_hwm(gl_engine_t *e, const gl_task_t *t, int rank) {
  int64_t lo = -1, hi = -1;
  if (rd_kafka_get_watermark_offsets(e->consumer, e->inputs[rank], t->partition, &lo, &hi) != 0)
    return -1;
  return hi;
}

void gl_task_eof(gl_task_t *t, int rank, int64_t end_offset) {
  t->inputs[rank].eof = t->inputs[rank].fetched = true;
  if (t->inputs[rank].committed < 0) t->inputs[rank].committed = end_offset;
  t->inputs[rank].eof_offset = end_offset;
}

/* Caught up (SPEC §6): the input reached its end, and the last fetch
 * response reports nothing beyond it. The end-of-partition event alone is
 * stale as soon as a record is appended, and with read_committed it marks
 * the last stable offset, short of an open transaction's records: a fetch
 * can then bring another input's later-stamped records first (a commit
 * marker wakes the broker's waiting fetch for the first partition it lands
 * in), and taking those would make the live order differ from a replay's. */
static bool gl_task_caught_up(gl_engine_t *e, const gl_task_t *t, const gl_input_t *in) {
  return in->eof && gl_task_hwm(e, t, in->rank) <= in->eof_offset;
}

static void gl_task_resume_if_drained(gl_engine_t *e, gl_task_t *t, gl_input_t *in) {
  if (in->paused && (int64_t)in->len <= e->conf.buffer_max_records / 2) gl_pause(e, t, in, false);
}

/* True if a comes before b in merge order. */
static bool gl_merge_before(const rd_kafka_message_t *a, int ra, const rd_kafka_message_t *b,
                            int rb) {
  int64_t ta = rd_kafka_message_timestamp(a, NULL), tb = rd_kafka_message_timestamp(b, NULL);
  if (ta != tb) return ta < tb;
  if (ra != rb) return ra < rb;
  return a->offset < b->offset;
}

rd_kafka_message_t *gl_task_next(gl_engine_t *e, gl_task_t *t, uint64_t now_ms, int *rank) {
  if (t->state != GL_TASK_ACTIVE) return NULL;
  gl_input_t *best = NULL;
  for (int i = 0; i < t->ninputs; i++) {
    gl_input_t *in = &t->inputs[i];
    if (!in->assigned || in->len == 0) continue;
    rd_kafka_message_t *h = in->ring[in->head];
    if (!best || gl_merge_before(h, i, best->ring[best->head], best->rank)) best = in;
  }
  if (!best) {
    t->idle_since_ms = 0;
    return NULL;
  }
  /* Only with a candidate in hand: the watermark lookups cost a lock each. */
  bool lagging = false, relies_on_end = false;
  for (int i = 0; i < t->ninputs; i++) {
    const gl_input_t *in = &t->inputs[i];
    if (!in->assigned || in->len > 0) continue;
    /* Not fetched yet (after an assignment, a restart or a rewind): it may
     * hold the earliest record, and a replay would take that first. */
    if (!in->fetched) {
      t->idle_since_ms = 0;
      return NULL;
    }
    if (lagging) continue;
    if (gl_task_caught_up(e, t, in)) relies_on_end = true;
    else lagging = true;
  }
  /* librdkafka hands out a fetch response's records partition by partition
   * while its broker thread is still reading the rest: an input reported
   * caught up may have records in that same response (an upstream
   * transaction's other record, the candidate's "cause"). Before it counts
   * as caught up against this candidate, give the response time to be
   * read whole: merge.settle.ms after the candidate arrived. */
  if (!lagging && relies_on_end &&
      now_ms - best->arrived[best->head] < (uint64_t)e->conf.merge_settle_ms)
    return NULL;
  if (lagging) {
    /* An input with nothing buffered may still hold an earlier record:
     * wait for it, but not longer than max.idle.ms. Once waited, keep
     * going (enforced processing) until no input lags any more; starting
     * the clock again per record would take one record per max.idle.ms. */
    if (t->idle_since_ms == 0) t->idle_since_ms = now_ms ? now_ms : 1;
    if (now_ms < t->idle_since_ms || now_ms - t->idle_since_ms < (uint64_t)e->conf.max_idle_ms)
      return NULL;
    gl_series_add(e->m_idle_waits, 1);
  } else {
    t->idle_since_ms = 0;
  }
  rd_kafka_message_t *m = best->ring[best->head];
  best->head = (best->head + 1) % best->cap;
  best->len--;
  best->next_offset = best->position = m->offset + 1;
  *rank = best->rank;
  gl_task_resume_if_drained(e, t, best);
  return m;
}

void gl_task_restore_start(gl_engine_t *e, gl_task_t *t) {
  t->state = GL_TASK_RESTORING;
  t->stream_time = t->stream_time_logged = 0;
  t->restore_records = 0;
  t->restore_started_ms = gl_now_ms();
  if (t->store) gl_store_clear(t->store);
  if (!e->changelog) {
    t->state = GL_TASK_ACTIVE;
    return;
  }
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(l, e->changelog, t->partition)->offset =
      RD_KAFKA_OFFSET_BEGINNING;
  rd_kafka_error_t *err = NULL;
  if (t->restore_assigned) {
    rd_kafka_error_t *serr = rd_kafka_seek_partitions(e->restorer, l, 10000);
    if (serr) rd_kafka_error_destroy(serr);
  } else {
    err = rd_kafka_incremental_assign(e->restorer, l);
    gl_series_add(e->m_tasks_restoring, 1);
  }
  rd_kafka_topic_partition_list_destroy(l);
  if (err) {
    gl_engine_fatal(e, "restore of %s [%d] could not start: %s", e->changelog, t->partition,
                    rd_kafka_error_string(err));
    rd_kafka_error_destroy(err);
    return;
  }
  t->restore_assigned = true;
  gl_info(&e->log, "restore_start", "restoring partition %d from %s", t->partition, e->changelog);
}

static void gl_task_restore_done(gl_engine_t *e, gl_task_t *t) {
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(l, e->changelog, t->partition);
  rd_kafka_error_t *err = rd_kafka_incremental_unassign(e->restorer, l);
  if (err) rd_kafka_error_destroy(err);
  rd_kafka_topic_partition_list_destroy(l);
  t->restore_assigned = false;
  t->state = GL_TASK_ACTIVE;
  t->stream_time_logged = t->stream_time;
  gl_series_add(e->m_tasks_restoring, -1);
  if (e->proc->restored) {
    gl_ctx_t ctx = {.e = e, .task = t};
    e->proc->restored(&ctx, e->proc->opaque);
  }
  gl_info(&e->log, "restore_done",
          "partition %d restored: %lld changelog records, %zu keys, stream time %lld, %llu ms",
          t->partition, (long long)t->restore_records, t->store ? gl_store_count(t->store) : 0,
          (long long)t->stream_time, (unsigned long long)(gl_now_ms() - t->restore_started_ms));
}

static int64_t gl_be64(const void *p) {
  const unsigned char *b = p;
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = (v << 8) | b[i];
  return (int64_t)v;
}

void gl_task_restore_msg(gl_engine_t *e, rd_kafka_message_t *m) {
  int32_t p = m->partition;
  gl_task_t *t = p >= 0 && p < e->ntasks ? e->tasks[p] : NULL;
  if (!t || t->state != GL_TASK_RESTORING || !t->restore_assigned) return;
  if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
    gl_task_restore_done(e, t);
    return;
  }
  if (m->err) {
    gl_warn(&e->log, "restore_error", "partition %d: %s", p, rd_kafka_message_errstr(m));
    return;
  }
  t->restore_records++;
  gl_series_add(e->m_restore_records, 1);
  if (m->key_len == GL_META_STREAM_TIME_LEN &&
      memcmp(m->key, GL_META_STREAM_TIME, GL_META_STREAM_TIME_LEN) == 0) {
    if (m->len == 8) t->stream_time = gl_be64(m->payload);
    return;
  }
  if (!m->key) return;
  void *obj = NULL;
  if (m->payload) {
    char err[256];
    obj = t->store ? e->proc->store->decode(e->proc->opaque, m->payload, m->len, err, sizeof(err))
                   : NULL;
    if (!obj) {
      gl_engine_fatal(e, "changelog %s [%d] offset %lld does not decode: %s", e->changelog, p,
                      (long long)m->offset, err);
      return;
    }
  }
  if (t->store) gl_store_restore(t->store, m->key, m->key_len, obj);
}

void gl_task_rewind(gl_engine_t *e, gl_task_t *t) {
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(t->ninputs);
  for (int i = 0; i < t->ninputs; i++) {
    gl_input_t *in = &t->inputs[i];
    if (!in->assigned) continue;
    if (in->rewind_offset >= 0) {
      rd_kafka_topic_partition_list_add(l, e->inputs[i], t->partition)->offset = in->rewind_offset;
      in->position = in->rewind_offset;
      /* Its records come again; an input not sought keeps what it knew
       * (the end is reported once per offset, not again). */
      in->eof = in->fetched = false;
    }
    gl_input_clear(in);
    in->rewind_offset = in->next_offset = -1;
    if (in->paused) gl_pause(e, t, in, false);
  }
  if (l->cnt > 0) {
    /* Asynchronous: the seek bumps the partition's op version at once, so
     * records fetched from the old position are dropped when polled. A
     * waiting seek can fail at once with "Operation in progress" while an
     * earlier fetch-state change of the partition is still under way. */
    rd_kafka_error_t *err = rd_kafka_seek_partitions(e->consumer, l, 0);
    if (err) {
      gl_engine_fatal(e, "rewind of partition %d failed: %s", t->partition,
                      rd_kafka_error_string(err));
      rd_kafka_error_destroy(err);
    }
    for (int i = 0; i < l->cnt; i++)
      if (l->elems[i].err && l->elems[i].err != RD_KAFKA_RESP_ERR__IN_PROGRESS)
        gl_engine_fatal(e, "rewind of %s [%d] failed: %s", l->elems[i].topic,
                        l->elems[i].partition, rd_kafka_err2str(l->elems[i].err));
  }
  rd_kafka_topic_partition_list_destroy(l);
  gl_task_restore_start(e, t);
}
