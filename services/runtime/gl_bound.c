/* gl_bound: bounded runs. A bounded engine stops by itself once every input
 * partition assigned to it has reached its bound: it commits what it
 * processed and closes, and the program exits 0. Replays, the operators'
 * rebuild and the benchmarks run this way.
 *
 * A bound is an end offset per input partition (records at or after it
 * are not processed) and/or a time (records stamped at or after it are not
 * processed). End offsets are given by the program (gl_engine_bound_offset)
 * or, with stop.at=end, captured when the engine connects: each input
 * partition's high watermark at that moment, so that records appended
 * later are left for the next run. The high watermark, not the last
 * stable offset: an upstream transaction that has just committed has its
 * markers written to its partitions one by one, after the commit returned,
 * so last stable offsets read at one moment can cut one transaction in two
 * (its records counted in one partition and not in the next). With high
 * watermarks a transaction is in or out as a whole; one still open at the
 * capture is waited for (its records are processed if it commits).
 *
 * An input partition reaches its bound when its next record is beyond it,
 * when the consumer reports its end at or after the bound, or when the
 * record just before the bound was processed. It is then paused and counts
 * as caught up for the merge, so the other inputs are not waited for. An
 * abort that rewinds it un-reaches it; the records come again.
 *
 * Threads: gl_bound_capture runs on the thread pool inside the connect
 * work and writes only e->connect_ends; everything else runs on the loop. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "gl_engine_int.h"

int gl_engine_bound_offset(gl_engine_t *e, const char *topic, int32_t partition, int64_t end) {
  if (e->started) return GL_ESTATE;
  if (!topic || partition < 0 || end < 0) return GL_EINVAL;
  char full[256];
  snprintf(full, sizeof full, "%s%s", e->conf.topic_prefix, topic);
  if (gl_task_find_rank(e, full) < 0) return GL_EINVAL; /* Not an input: a typo would bound nothing. */
  gl_bound_offset_t *n = realloc(e->bound_given, sizeof(*n) * (size_t)(e->nbound_given + 1));
  if (!n) return GL_ENOMEM;
  e->bound_given = n;
  n[e->nbound_given] = (gl_bound_offset_t){.partition = partition, .end = end};
  snprintf(n[e->nbound_given].topic, sizeof n[e->nbound_given].topic, "%s", full);
  e->nbound_given++;
  e->bounded = true;
  return GL_OK;
}

void gl_bound_init(gl_engine_t *e) {
  e->bound_time_ms = e->conf.stop_at_time_ms;
  e->bound_at_end = strcmp(e->conf.stop_at, "end") == 0;
  if (e->bound_time_ms > 0 || e->bound_at_end) e->bounded = true;
}

/* Thread pool (the connect work), once the topics exist: the end offset of
 * every input partition, by rank * partitions + partition. */
int gl_bound_capture(gl_engine_t *e, int partitions, char *why, size_t len) {
  if (!e->bound_at_end || !e->prober) return 0;
  size_t n = (size_t)e->ninputs * (size_t)partitions;
  int64_t *ends = calloc(n ? n : 1, sizeof(*ends));
  if (!ends) abort();
  for (int i = 0; i < e->ninputs; i++)
    for (int p = 0; p < partitions; p++) {
      int64_t lo = -1, hi = -1;
      rd_kafka_resp_err_t err =
          rd_kafka_query_watermark_offsets(e->prober, e->inputs[i], p, &lo, &hi, 5000);
      if (err) {
        snprintf(why, len, "stop.at=end: end offset of %s [%d]: %s", e->inputs[i], p,
                 rd_kafka_err2str(err));
        free(ends);
        return -1;
      }
      ends[(size_t)i * (size_t)partitions + (size_t)p] = hi;
    }
  free(e->connect_ends);
  e->connect_ends = ends;
  return 0;
}

int gl_bound_prober_new(gl_engine_t *e, char *errstr, size_t errlen) {
  if (!e->bound_at_end) return 0;
  /* A client of its own: the engine's consumers read committed, and their
   * watermark queries answer with last stable offsets. */
  const char *forced[] = {"isolation.level", "read_uncommitted", "client.id", e->member, NULL};
  rd_kafka_conf_t *kc = gl_kafka_conf(e, NULL, forced, errstr, errlen);
  if (!kc) return -1;
  if (!(e->prober = rd_kafka_new(RD_KAFKA_CONSUMER, kc, errstr, errlen))) return -1;
  return 0;
}

/* Loop thread: the end offset of partition p of input rank, -1 for none. A
 * given offset wins over a captured one. */
static int64_t gl_bound_end(const gl_engine_t *e, int rank, int32_t p) {
  for (int i = 0; i < e->nbound_given; i++)
    if (e->bound_given[i].partition == p && strcmp(e->bound_given[i].topic, e->inputs[rank]) == 0)
      return e->bound_given[i].end;
  if (e->bound_ends && p < e->partition_count)
    return e->bound_ends[(size_t)rank * (size_t)e->partition_count + (size_t)p];
  /* A bounded run that was given offsets processes no partition it was not
   * given one for; a time-bounded one has no end offsets. */
  return e->nbound_given > 0 ? 0 : -1;
}

void gl_bound_arm(gl_engine_t *e, gl_task_t *t) {
  for (int i = 0; e->bounded && i < t->ninputs; i++) t->inputs[i].bound_end = gl_bound_end(e, i, t->partition);
}

static void gl_bound_reach(gl_engine_t *e, gl_task_t *t, gl_input_t *in, const char *how) {
  if (in->bound_reached) return;
  in->bound_reached = true;
  gl_task_pause(e, t, in, true);
  gl_debug(e->log, "bound", "%s [%d] reached its bound (%s)", e->inputs[in->rank], t->partition,
           how);
}

bool gl_bound_beyond(gl_engine_t *e, gl_task_t *t, int rank, const rd_kafka_message_t *m) {
  if (!e->bounded) return false;
  gl_input_t *in = &t->inputs[rank];
  bool beyond = (in->bound_end >= 0 && m->offset >= in->bound_end) ||
                (e->bound_time_ms > 0 && rd_kafka_message_timestamp(m, NULL) >= e->bound_time_ms);
  if (beyond) gl_bound_reach(e, t, in, "a record beyond it arrived");
  return beyond || in->bound_reached;
}

void gl_bound_check(gl_engine_t *e, gl_task_t *t, gl_input_t *in) {
  if (!e->bounded || in->bound_end < 0) return;
  if (in->position >= in->bound_end) gl_bound_reach(e, t, in, "processed up to it");
  else if (in->eof && in->eof_offset >= in->bound_end && in->len == 0)
    gl_bound_reach(e, t, in, "its end is at or after it");
}

bool gl_bound_reached_all(gl_engine_t *e) {
  /* Between a revocation and the next assignment nothing is owned: that is
   * no end. */
  if (!e->bounded || !e->connected || e->stopping || !e->assigned_now) return false;
  int tasks = 0;
  for (int p = 0; p < e->ntasks; p++) {
    gl_task_t *t = e->tasks[p];
    if (!t) continue;
    tasks++;
    if (t->state != GL_TASK_ACTIVE) return false;
    for (int i = 0; i < t->ninputs; i++)
      if (t->inputs[i].assigned && (!t->inputs[i].bound_reached || t->inputs[i].len > 0))
        return false;
  }
  return tasks > 0;
}
