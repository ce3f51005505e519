/* gl_standby: warm copies of the state of partitions this instance does
 * not own, so that taking one over restores only the tail of its changelog
 * (Kafka Streams' standby replicas, num.standby.replicas), and the reading
 * of changelog records that restores and copies share.
 *
 * A warm copy is a store, its stream time and its position: the next
 * changelog offset it has not applied. Copies come from two places:
 * - standbys: the placement (gl_placement.h) over the owners topic's claims
 *   names this instance for a partition owned by another; the copy starts
 *   empty at the changelog's beginning;
 * - revocations: a partition group revoked after a clean commit (or while
 *   it still restored) leaves its store behind instead of dropping it.
 *   Range assignment is eager under the classic group protocol: every
 *   join revokes every partition, and most come back to the instance that
 *   had them. Under KIP-848's (group.protocol=consumer) only the groups
 *   that move are revoked, and only theirs are kept.
 * The restorer consumer, which restores owned groups, keeps each copy's
 * changelog partition assigned, and the copy follows it: every committed
 * changelog record is applied as a restore applies it (the restorer reads
 * read_committed). When the partition is assigned to this instance,
 * gl_task_restore_start takes the copy and seeks to its position: the
 * restore reads only what the copy had not applied yet.
 *
 * Why replaying from the position is right: the changelog holds puts and
 * deletes of whole values, so a store that reflects its records [0, P),
 * given the records [X, end) again for any X <= P, ends with each key's
 * last write in [0, end). A revoked group's position is the changelog's
 * end asked of the broker right after the revocation's commit, inside the
 * revocation callback: the instance has not rejoined the group yet, so no
 * new owner can have written since (and a zombie's writes are aborted). If
 * the broker does not answer, it is the offset the group's restore ended
 * at: also <= P, only longer to replay.
 *
 * A copy no placement names, of a partition not owned here, is dropped
 * after state.cleanup.delay.ms (Kafka Streams' name for how long it keeps
 * the state of a task it lost). Nothing is kept after a lost assignment
 * or a commit that failed: the stores then hold values never committed.
 * Left out: a copy lives in memory only (a restart starts empty); a copy
 * far behind could miss a tombstone compaction removed meanwhile
 * (delete.retention.ms, a day by default), as Kafka Streams' can.
 *
 * Thread locality: the loop thread, like the stores. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "gl_engine_int.h"
#include "gl_placement.h"

/* How long the revocation waits for the broker to name the changelogs' ends. */
#define GL_STANDBY_END_TIMEOUT_MS 2000

struct gl_warm {
  gl_store_t *store;
  int64_t stream_time;
  int64_t position;           /* Next offset to apply; RD_KAFKA_OFFSET_BEGINNING at first. */
  bool named;                 /* The placement names this instance its standby. */
  uint64_t unnamed_since_ms;  /* When it stopped being named (or was kept unnamed); 0 = named. */
  int64_t records;            /* Changelog records applied since it was kept. */
};

/* ---- Placement (pure) -------------------------------------------------- */

static int gl_placement_cmp(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

bool gl_placement_is_standby(const char *const *known, int n, const char *owner, const char *me,
                             int replicas) {
  if (!owner || !me || replicas <= 0 || strcmp(owner, me) == 0) return false;
  const char **ring = malloc(sizeof(*ring) * (size_t)(n + 2));
  if (!ring) abort();
  int m = 0;
  for (int i = 0; i < n; i++)
    if (known[i]) ring[m++] = known[i];
  ring[m++] = owner;
  ring[m++] = me;
  qsort(ring, (size_t)m, sizeof(*ring), gl_placement_cmp);
  int u = 0, at_owner = -1, at_me = -1;
  for (int i = 0; i < m; i++) {
    if (u > 0 && strcmp(ring[u - 1], ring[i]) == 0) continue;
    ring[u++] = ring[i];
  }
  for (int i = 0; i < u; i++) {
    if (strcmp(ring[i], owner) == 0) at_owner = i;
    if (strcmp(ring[i], me) == 0) at_me = i;
  }
  free(ring);
  int distance = (at_me - at_owner + u) % u;
  return distance >= 1 && distance <= replicas;
}

/* ---- Changelog records ---------------------------------------------------- */

static int64_t gl_be64(const void *p) {
  const unsigned char *b = p;
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = (v << 8) | b[i];
  return (int64_t)v;
}

int gl_changelog_apply(gl_store_t *s, int64_t *stream_time, const rd_kafka_message_t *m) {
  if (m->key_len == GL_META_STREAM_TIME_LEN &&
      memcmp(m->key, GL_META_STREAM_TIME, GL_META_STREAM_TIME_LEN) == 0) {
    if (m->len == 8) *stream_time = gl_be64(m->payload);
    return 1;
  }
  /* Kept as the changelog's bytes: decoded when the key is first read. A
   * store with index numbers keeps the record's too (from its header). */
  if (!m->key || !s) return 1;
  const void *index = NULL;
  size_t index_len = 0;
  rd_kafka_headers_t *hdrs;
  if (m->payload && gl_store_has_index(s) &&
      rd_kafka_message_headers((rd_kafka_message_t *)m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR &&
      rd_kafka_header_get_last(hdrs, GL_STORE_INDEX_HEADER, &index, &index_len) !=
          RD_KAFKA_RESP_ERR_NO_ERROR)
    index = NULL;
  gl_store_restore(s, m->key, m->key_len, m->payload, m->len, index, index_len);
  return 1;
}

static void gl_changelog_fail(gl_engine_t *e, int32_t p, const char *what, rd_kafka_error_t *err) {
  gl_engine_fatal(e, "%s of %s [%d] failed: %s", what, e->changelog, p, rd_kafka_error_string(err));
  rd_kafka_error_destroy(err);
}

void gl_changelog_assign(gl_engine_t *e, int32_t p, int64_t offset) {
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(l, e->changelog, p)->offset = offset;
  rd_kafka_error_t *err = rd_kafka_incremental_assign(e->restorer, l);
  rd_kafka_topic_partition_list_destroy(l);
  if (err) gl_changelog_fail(e, p, "the restorer's assignment", err);
}

void gl_changelog_seek(gl_engine_t *e, int32_t p, int64_t offset) {
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(l, e->changelog, p)->offset = offset;
  /* A seek bumps the partition's version: records fetched before it are
   * dropped when polled, and its end is reported again once reached. */
  rd_kafka_error_t *err = rd_kafka_seek_partitions(e->restorer, l, 10000);
  rd_kafka_topic_partition_list_destroy(l);
  if (err) gl_changelog_fail(e, p, "the restorer's seek", err);
}

void gl_changelog_unassign(gl_engine_t *e, int32_t p) {
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(l, e->changelog, p);
  rd_kafka_error_t *err = rd_kafka_incremental_unassign(e->restorer, l);
  if (err) rd_kafka_error_destroy(err); /* Not assigned (any more): nothing to stop. */
  rd_kafka_topic_partition_list_destroy(l);
}

/* ---- Copies ------------------------------------------------------------- */

void gl_standby_init(gl_engine_t *e) {
  e->m_warm = gl_metrics_gauge(e->metrics, "greenlight_standby_partitions",
                               "Warm copies of the state of partitions this instance does not own (standbys and recently revoked groups).",
                               NULL);
  e->m_warm_records = gl_metrics_counter(e->metrics, "greenlight_standby_records_total",
                                         "Changelog records applied to warm copies.", NULL);
  e->m_warm_lag = gl_metrics_gauge(e->metrics, "greenlight_standby_lag_records",
                                   "Changelog records the warm copies have not applied yet (by the restorer's last fetch).",
                                   NULL);
}

static gl_warm_t **gl_standby_slot(gl_engine_t *e, int32_t p) {
  if (p < 0) return NULL;
  if (p >= e->nwarm) {
    int n = p + 1;
    gl_warm_t **w = realloc(e->warm, sizeof(*w) * (size_t)n);
    if (!w) abort();
    for (int i = e->nwarm; i < n; i++) w[i] = NULL;
    e->warm = w;
    e->nwarm = n;
  }
  return &e->warm[p];
}

static void gl_standby_free(gl_engine_t *e, int32_t p, bool unassign) {
  gl_warm_t *w = p >= 0 && p < e->nwarm ? e->warm[p] : NULL;
  if (!w) return;
  if (unassign && e->restorer) gl_changelog_unassign(e, p);
  gl_store_destroy(w->store);
  free(w);
  e->warm[p] = NULL;
  gl_series_add(e->m_warm, -1);
}

/* Takes store (which reflects the changelog before `position`) as the
 * copy of partition p; assigned: the restorer already reads p there. */
static void gl_standby_keep(gl_engine_t *e, int32_t p, gl_store_t *store, int64_t stream_time,
                            int64_t position, bool assigned, bool named) {
  gl_warm_t **slot = gl_standby_slot(e, p);
  if (*slot) gl_standby_free(e, p, false);
  gl_warm_t *w = calloc(1, sizeof(*w));
  if (!w) abort();
  *w = (gl_warm_t){.store = store, .stream_time = stream_time, .position = position,
                   .named = named, .unnamed_since_ms = named ? 0 : gl_now_ms()};
  *slot = w;
  gl_series_add(e->m_warm, 1);
  if (!assigned) gl_changelog_assign(e, p, position);
}

bool gl_standby_take(gl_engine_t *e, int32_t p, gl_store_t **store, int64_t *stream_time,
                     int64_t *position) {
  gl_warm_t *w = p >= 0 && p < e->nwarm ? e->warm[p] : NULL;
  if (!w) return false;
  *store = w->store;
  *stream_time = w->stream_time;
  *position = w->position;
  gl_log_kv(e->log, GL_LOG_INFO, "standby_taken",
            GL_LOG_FIELDS(GL_LOG_STR("topic", e->changelog), GL_LOG_INT("partition", p),
                          GL_LOG_INT("offset", w->position), GL_LOG_INT("keys", gl_store_count(w->store)),
                          GL_LOG_INT("records", w->records), GL_LOG_INT("standby", w->named)),
            "partition %d: taking over the warm copy at changelog offset %" PRId64
            " (%zu keys, %" PRId64 " records applied since it was kept; %s)",
            p, w->position, gl_store_count(w->store), w->records,
            w->named ? "a standby" : "kept from a revocation");
  w->store = NULL; /* The task's now; the restorer keeps the partition. */
  gl_standby_free(e, p, false);
  return true;
}

int gl_standby_msg(gl_engine_t *e, const rd_kafka_message_t *m) {
  int32_t p = m->partition;
  gl_warm_t *w = p >= 0 && p < e->nwarm ? e->warm[p] : NULL;
  if (!w) return 0;
  /* Its end: past the last transaction's marker, which is no record. */
  if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) w->position = m->offset;
  if (m->err) return 0;
  w->position = m->offset + 1;
  w->records++;
  return gl_changelog_apply(w->store, &w->stream_time, m);
}

/* The end of the changelog partition of each active group revoked (only[p],
 * or every group when only is NULL; its last stable offset: the restorer
 * reads read_committed), or -1 where the broker did not say: one
 * ListOffsets request per leader (offset -1 asks for the latest), within
 * one time budget for all. */
static void gl_standby_ends(gl_engine_t *e, int64_t *ends, int n, const bool *only) {
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n > 0 ? n : 1);
  for (int p = 0; p < n; p++) {
    ends[p] = -1;
    gl_task_t *t = e->tasks[p];
    if (t && t->store && t->state == GL_TASK_ACTIVE && (!only || only[p]))
      rd_kafka_topic_partition_list_add(l, e->changelog, p)->offset = RD_KAFKA_OFFSET_END;
  }
  rd_kafka_resp_err_t err =
      l->cnt ? rd_kafka_offsets_for_times(e->restorer, l, GL_STANDBY_END_TIMEOUT_MS) : 0;
  for (int i = 0; i < l->cnt; i++) {
    const rd_kafka_topic_partition_t *tp = &l->elems[i];
    rd_kafka_resp_err_t perr = err ? err : tp->err;
    if (!perr && tp->offset >= 0) {
      ends[tp->partition] = tp->offset;
      continue;
    }
    gl_log_kv(e->log, GL_LOG_WARN, "standby_end_unknown",
              GL_LOG_FIELDS(GL_LOG_STR("topic", e->changelog), GL_LOG_INT("partition", tp->partition)),
              "%s [%d]: its end is not known (%s): the copy will replay from its restore's end",
              e->changelog, tp->partition, rd_kafka_err2str(perr));
  }
  rd_kafka_topic_partition_list_destroy(l);
}

void gl_standby_revoked(gl_engine_t *e, bool clean, const bool *only) {
  /* Not kept: stores that may hold values never committed, groups revoked
   * by the consumer's close, or no copy wanted at all. The copies of other
   * partitions stay as they are: they hold only committed records. */
  if (!e->changelog || !e->restorer || !clean || e->stopping || e->closed ||
      (e->conf.num_standby_replicas <= 0 && e->conf.state_cleanup_delay_ms <= 0))
    return;
  int64_t *ends = calloc((size_t)e->ntasks + 1, sizeof(*ends));
  if (!ends) abort();
  gl_standby_ends(e, ends, e->ntasks, only);
  int kept = 0;
  for (int p = 0; p < e->ntasks; p++) {
    gl_task_t *t = e->tasks[p];
    if (!t || !t->store || (only && !only[p])) continue;
    /* A group still restoring keeps reading where it is; an active one
     * starts again at the changelog's end (or its restore's end). */
    bool assigned = t->restore_assigned;
    int64_t position = t->state == GL_TASK_ACTIVE && ends[p] >= 0 ? ends[p] : t->restore_pos;
    if (assigned) gl_series_add(e->m_tasks_restoring, -1);
    gl_standby_keep(e, p, t->store, t->stream_time, position, assigned, false);
    t->store = NULL;
    t->restore_assigned = false;
    kept++;
  }
  free(ends);
  if (kept)
    gl_log_kv(e->log, GL_LOG_INFO, "standby_kept", GL_LOG_FIELDS(GL_LOG_INT("partitions", kept)),
              "kept the state of %d revoked partition groups as warm copies",
            kept);
}

/* Names and drops copies: the placement over the current claims, and the
 * expiry of copies nobody names. */
void gl_standby_poll(gl_engine_t *e) {
  if (!e->changelog || !e->restorer || !e->connected || e->stopping || e->closed) return;
  /* Copies kept from revocations may outnumber the partitions known at
   * start (partitions added since): they expire too. */
  int n = e->partition_count > e->nwarm ? e->partition_count : e->nwarm;
  if (n <= 0) return;
  const char **owner = calloc((size_t)n, sizeof(*owner));
  if (!owner) abort();
  for (int p = 0; p < n; p++) owner[p] = gl_owners_claimant(e, p);
  uint64_t now = gl_now_ms();
  int replicas = (int)e->conf.num_standby_replicas;
  int64_t lag = 0;
  for (int p = 0; p < n; p++) {
    if (p < e->ntasks && e->tasks[p]) continue; /* Owned here: its group has the state. */
    bool named = gl_placement_is_standby(owner, n, owner[p], e->member, replicas);
    gl_warm_t *w = p < e->nwarm ? e->warm[p] : NULL;
    if (!w) {
      if (!named) continue;
      gl_log_kv(e->log, GL_LOG_INFO, "standby_start",
                GL_LOG_FIELDS(GL_LOG_STR("topic", e->changelog), GL_LOG_INT("partition", p),
                              GL_LOG_STR("owner", owner[p])),
                "partition %d: a standby of %s's state, from %s's beginning",
              p, owner[p], e->changelog);
      gl_standby_keep(e, p, gl_store_new(e->proc->store, e->proc->opaque), 0,
                      RD_KAFKA_OFFSET_BEGINNING, false, true);
      continue;
    }
    /* The copy's lag, from the restorer's last fetch response (no request). */
    int64_t lo = -1, hi = -1;
    if (rd_kafka_get_watermark_offsets(e->restorer, e->changelog, p, &lo, &hi) == 0) {
      int64_t from = w->position >= 0 ? w->position : lo > 0 ? lo : 0;
      if (hi > from) lag += hi - from;
    }
    /* No owner known (between a revocation's empty claim and the next
     * owner's): nothing changes, or every handoff would drop its standbys. */
    if (!owner[p] && w->named) continue;
    if (named) {
      w->named = true;
      w->unnamed_since_ms = 0;
      continue;
    }
    if (w->named || !w->unnamed_since_ms) {
      w->named = false;
      w->unnamed_since_ms = now;
    }
    if (now - w->unnamed_since_ms >= (uint64_t)e->conf.state_cleanup_delay_ms) {
      gl_log_kv(e->log, GL_LOG_INFO, "standby_drop",
                GL_LOG_FIELDS(GL_LOG_STR("topic", e->changelog), GL_LOG_INT("partition", p),
                              GL_LOG_INT("keys", gl_store_count(w->store))),
              "partition %d: dropped the warm copy (%zu keys): neither owned nor a standby here for %" PRId64
              " ms (state.cleanup.delay.ms)",
              p, gl_store_count(w->store), e->conf.state_cleanup_delay_ms);
      gl_standby_free(e, p, true);
    }
  }
  gl_series_set(e->m_warm_lag, (double)lag);
  free(owner);
}

void gl_standby_destroy(gl_engine_t *e) {
  for (int p = 0; p < e->nwarm; p++)
    if (e->warm[p]) gl_standby_free(e, p, false);
  free(e->warm);
  e->warm = NULL;
  e->nwarm = 0;
}
