/* gl_task: partition groups. A task owns partition P of every input topic,
 * the store of partition P, and the buffers of its inputs. The order in
 * which it takes their records is the deterministic merge of SPEC §6,
 * decided by gl_merge.c; gl_task_next describes the buffers and the
 * watermarks to it and carries out its verdict. */
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
  t->merge_view = calloc((size_t)e->ninputs, sizeof(*t->merge_view));
  if (!t->inputs || !t->merge_view) abort();
  for (int i = 0; i < e->ninputs; i++) {
    t->inputs[i].rank = i;
    t->inputs[i].rewind_offset = -1;
    t->inputs[i].next_offset = -1;
    t->inputs[i].prep_offset = -1;
    t->inputs[i].position = -1;
    t->inputs[i].committed = -1;
    t->inputs[i].bound_end = -1;
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
  free(t->merge_view);
  if (t->restore_assigned && e->restorer) {
    gl_changelog_unassign(e, t->partition);
    gl_series_add(e->m_tasks_restoring, -1);
  }
  free(t->poison);
  if (e->proc->task_close) e->proc->task_close(e->proc->opaque, t->data);
  gl_store_destroy(t->store);
  free(t);
}

void gl_task_input_revoke(gl_engine_t *e, gl_task_t *t, int rank) {
  gl_input_t *in = &t->inputs[rank];
  gl_input_clear(in);
  /* Not paused when it comes back (a pause outlives an unassignment). */
  if (in->paused) gl_task_pause(e, t, in, false);
  /* As gl_task_new leaves it: an assignment starts at the committed offset. */
  in->assigned = in->paused = in->fetched = in->eof = in->bound_reached = false;
  in->rewind_offset = in->next_offset = in->prep_offset = in->position = in->committed = -1;
}

void gl_task_pause(gl_engine_t *e, gl_task_t *t, gl_input_t *in, bool pause) {
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
    gl_arrival_t *a = malloc(ncap * sizeof(*a));
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
  /* One clock read per pump. */
  in->arrived[(in->head + in->len) % in->cap] =
      (gl_arrival_t){.ms = e->pump_now_ms, .tag = gl_settle_tag(&e->settle)};
  in->len++;
  in->eof = false;
  in->fetched = true;
  if (in->rewind_offset < 0) in->rewind_offset = m->offset;
  if (in->committed < 0) in->committed = m->offset; /* Fetching starts at the commit. */
  if (!in->paused && (int64_t)in->len >= e->conf.buffer_max_records) gl_task_pause(e, t, in, true);
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

static void gl_task_resume_if_drained(gl_engine_t *e, gl_task_t *t, gl_input_t *in) {
  if (in->paused && !in->bound_reached && (int64_t)in->len <= e->conf.buffer_max_records / 2)
    gl_task_pause(e, t, in, false);
}

/* Describes the task's inputs to the merge, by rank. The watermark lookups
 * cost a lock each: they are made only with a head to decide on, and only
 * for the inputs whose caught-up state the merge reads (fetched, at their
 * end, nothing buffered). */
static void gl_task_merge_view(gl_engine_t *e, const gl_task_t *t, gl_merge_input_t *v) {
  bool heads = false;
  for (int i = 0; i < t->ninputs; i++) {
    const gl_input_t *in = &t->inputs[i];
    /* An input at the bound of a bounded run is caught up: nothing more
     * of it will be processed. */
    v[i] = (gl_merge_input_t){.assigned = in->assigned,
                              .fetched = in->fetched || in->bound_reached,
                              .eof = in->eof || in->bound_reached,
                              .eof_offset = in->eof_offset, .hwm = -1, .has_head = in->len > 0};
    if (!v[i].has_head) continue;
    const rd_kafka_message_t *m = in->ring[in->head];
    const gl_arrival_t *a = &in->arrived[in->head];
    v[i].head = (gl_merge_head_t){.timestamp = rd_kafka_message_timestamp(m, NULL),
                                  .offset = m->offset, .arrived_ms = a->ms,
                                  .settled = gl_settle_done(&e->settle, a->tag)};
    heads = heads || in->assigned;
  }
  for (int i = 0; heads && i < t->ninputs; i++)
    if (v[i].assigned && !v[i].has_head && v[i].fetched && v[i].eof && !t->inputs[i].bound_reached)
      v[i].hwm = gl_task_hwm(e, t, i);
}

/* Takes the head of input `rank` out of its ring. */
static rd_kafka_message_t *gl_task_pop(gl_engine_t *e, gl_task_t *t, int rank) {
  gl_input_t *in = &t->inputs[rank];
  rd_kafka_message_t *m = in->ring[in->head];
  in->head = (in->head + 1) % in->cap;
  in->len--;
  in->next_offset = in->position = m->offset + 1;
  gl_task_resume_if_drained(e, t, in);
  return m;
}

rd_kafka_message_t *gl_task_next(gl_engine_t *e, gl_task_t *t, uint64_t now_ms, int *rank) {
  /* Partition N of every input together, or nothing (an incremental
   * rebalance may hand the inputs over one by one). */
  if (t->state != GL_TASK_ACTIVE || !gl_task_complete(t)) return NULL;
  gl_merge_input_t *view = t->merge_view;
  gl_task_merge_view(e, t, view);
  /* While a commit runs the consumer is not polled: a lagging input's
   * records may be waiting in its queue, so no wait for one may run out
   * then (gl_txn_finish moves the wait's start past the commit). */
  gl_merge_clock_t clock = {.now_ms = now_ms,
                            .max_idle_ms = gl_overlap_active(e) ? INT64_MAX : e->conf.max_idle_ms,
                            .settle_ms = e->conf.merge_settle_ms,
                            .settle_min_ms = e->conf.merge_settle_min_ms};
  gl_merge_pick_t pick = gl_merge_pick(view, t->ninputs, clock, &t->idle_since_ms);
  if (pick.verdict == GL_MERGE_WAIT_SETTLING) {
    gl_settle_want_wake(&e->settle);
    e->settle_wanted = true;
  }
  if (pick.verdict != GL_MERGE_TAKE) return NULL;
  if (pick.idle_expired) gl_series_add(e->m_idle_waits, 1);
  *rank = pick.rank;
  return gl_task_pop(e, t, pick.rank);
}

/* Cold bytes that do not decode (the restore keeps them undecoded): the
 * state cannot be trusted, so the engine stops and the open transaction,
 * which may hold outputs computed without that value, never commits. */
static void gl_task_store_corrupt(void *arg, const void *key, size_t klen, const char *why) {
  gl_engine_t *e = arg;
  /* While a commit runs its thread reads the flag: the outputs at stake
   * are held (gl_overlap.c) and the engine stops before they are sent. */
  if (!gl_txn_busy(e)) e->txn_poisoned = true;
  gl_engine_fatal(e, "%s: the value of key '%.*s' does not decode: %s", e->changelog,
                  (int)(klen < 128 ? klen : 128), (const char *)key, why);
}

void gl_task_restore_start(gl_engine_t *e, gl_task_t *t) {
  t->state = GL_TASK_RESTORING;
  t->stream_time = t->stream_time_logged = 0;
  t->restore_records = 0;
  t->restore_started_ms = gl_now_ms();
  t->restore_pos = RD_KAFKA_OFFSET_BEGINNING;
  if (!e->changelog) {
    t->state = GL_TASK_ACTIVE;
    return;
  }
  /* A warm copy of the partition (a standby, or this instance's own state
   * from before a rebalance) restores only what it had not applied yet. */
  gl_store_t *warm = NULL;
  bool taken = t->store && gl_standby_take(e, t->partition, &warm, &t->stream_time, &t->restore_pos);
  if (taken) {
    gl_store_destroy(t->store);
    t->store = warm;
  } else if (t->store) {
    gl_store_clear(t->store);
  }
  if (t->store) gl_store_on_corrupt(t->store, gl_task_store_corrupt, e);
  if (taken || t->restore_assigned) {
    gl_changelog_seek(e, t->partition, t->restore_pos);
  } else {
    gl_changelog_assign(e, t->partition, t->restore_pos);
  }
  if (e->closed) return; /* The restorer refused: the engine failed. */
  if (!t->restore_assigned) gl_series_add(e->m_tasks_restoring, 1);
  t->restore_assigned = true;
  char from[64] = "";
  if (taken) snprintf(from, sizeof from, ", from offset %lld (a warm copy)", (long long)t->restore_pos);
  gl_log_kv(e->log, GL_LOG_INFO, "restore_start",
            GL_LOG_FIELDS(GL_LOG_STR("topic", e->changelog), GL_LOG_INT("partition", t->partition),
                          GL_LOG_INT("from_offset", t->restore_pos)),
            "restoring partition %d from %s%s", t->partition, e->changelog, from);
}

static void gl_task_restore_done(gl_engine_t *e, gl_task_t *t) {
  gl_changelog_unassign(e, t->partition);
  t->restore_assigned = false;
  t->state = GL_TASK_ACTIVE;
  t->stream_time_logged = t->stream_time;
  gl_series_add(e->m_tasks_restoring, -1);
  if (e->proc->restored) {
    gl_ctx_t ctx = {.e = e, .task = t};
    e->proc->restored(&ctx, e->proc->opaque);
  }
  size_t keys = t->store ? gl_store_count(t->store) : 0;
  int64_t ms = gl_now_ms() - t->restore_started_ms;
  gl_log_kv(e->log, GL_LOG_INFO, "restore_done",
            GL_LOG_FIELDS(GL_LOG_STR("topic", e->changelog), GL_LOG_INT("partition", t->partition),
                          GL_LOG_INT("records", t->restore_records), GL_LOG_INT("keys", keys),
                          GL_LOG_INT("stream_time_ms", t->stream_time),
                          GL_LOG_INT("duration_ms", ms)),
            "partition %d restored: %lld changelog records, %zu keys, stream time %lld, %lld ms",
            t->partition, (long long)t->restore_records, keys, (long long)t->stream_time,
            (long long)ms);
  /* The engine's state follows at once (running once no group restores):
   * /readyz, which counts restoring groups, and /healthz agree. */
  gl_engine_settle(e);
}

/* One record of the restorer's queue; returns 1 if it was a changelog
 * record of a restoring task (counted by the caller, once per batch). A
 * record of a partition no group restores is a warm copy's. */
static int gl_task_restore_msg(gl_engine_t *e, rd_kafka_message_t *m) {
  int32_t p = m->partition;
  gl_task_t *t = p >= 0 && p < e->ntasks ? e->tasks[p] : NULL;
  if (!t || t->state != GL_TASK_RESTORING || !t->restore_assigned) {
    gl_series_add(e->m_warm_records, gl_standby_msg(e, m));
    return 0;
  }
  if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
    t->restore_pos = m->offset;
    gl_task_restore_done(e, t);
    return 0;
  }
  if (m->err) {
    gl_log_kv(e->log, GL_LOG_WARN, "restore_error",
              GL_LOG_FIELDS(GL_LOG_STR("topic", e->changelog), GL_LOG_INT("partition", p)),
              "partition %d: %s", p, rd_kafka_message_errstr(m));
    return 0;
  }
  t->restore_records++;
  t->restore_pos = m->offset + 1;
  return gl_changelog_apply(t->store, &t->stream_time, m);
}

void gl_task_restore_poll(gl_engine_t *e) {
  rd_kafka_message_t *batch[GL_RESTORE_BATCH];
  for (int total = 0; total < 20000 && !e->closed;) {
    ssize_t n = rd_kafka_consume_batch_queue(e->restore_q, 0, batch, GL_RESTORE_BATCH);
    if (n <= 0) return;
    int64_t records = 0;
    for (ssize_t i = 0; i < n; i++) {
      if (!e->closed) records += gl_task_restore_msg(e, batch[i]);
      rd_kafka_message_destroy(batch[i]);
    }
    gl_series_add(e->m_restore_records, (double)records);
    total += (int)n;
  }
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
      in->bound_reached = false;
    }
    gl_input_clear(in);
    in->rewind_offset = in->next_offset = in->prep_offset = -1;
    if (in->paused && !in->bound_reached) gl_task_pause(e, t, in, false);
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
