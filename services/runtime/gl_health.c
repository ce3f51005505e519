/* gl_health: what the daemon says of itself on its HTTP port.
 *
 *   /healthz  liveness: 200 while the process works, with "status" "ok" or
 *             "degraded" and why; 503 once it is exiting, or when it is
 *             wedged (GL_ABORTS_WEDGED transactions aborted in a row), so
 *             that a liveness probe restarts it.
 *   /readyz   readiness: 200 only when connected, every assigned partition
 *             is restored, commits succeed and the broker answers;
 *             otherwise 503 with why (starting, restoring N of M,
 *             rebalancing, aborting repeatedly, broker unreachable).
 *   /metrics  Prometheus text.
 * Consumer lag counts from the last committed offset: records processed
 * but not committed yet are still lag. The per-partition gauges (lag,
 * restore progress, event time, state size) are set by the cron, once a
 * second. All on the loop thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gl_engine_int.h"

/* Aborts in a row after which the instance is not ready / not alive. */
#define GL_ABORTS_NOT_READY 3
#define GL_ABORTS_WEDGED 10

const char *gl_health_not_ready(gl_engine_t *e, char *buf, size_t len) {
  char starting[512];
  if (!e->connected) gl_connect_status(e, starting, sizeof starting);
  const char *why = gl_shell_not_ready(e->sh, e->connected ? NULL : starting, buf, len);
  if (why) return why;
  if (e->result != GL_OK) return "exiting after a fatal error";
  if (e->stopping) return "stopping";
  if (e->consecutive_aborts >= GL_ABORTS_NOT_READY) {
    snprintf(buf, len, "aborting repeatedly: %lld transactions in a row",
             (long long)e->consecutive_aborts);
    return buf;
  }
  int tasks = 0, restoring = 0, incomplete = 0;
  for (int p = 0; p < e->ntasks; p++)
    if (e->tasks[p]) {
      tasks++;
      restoring += e->tasks[p]->state == GL_TASK_RESTORING;
      incomplete += !gl_task_complete(e->tasks[p]);
    }
  if (tasks == 0) return "rebalancing: no partitions assigned";
  if (incomplete) {
    snprintf(buf, len, "rebalancing: %d of %d partition groups wait for the rest of their inputs",
             incomplete, tasks);
    return buf;
  }
  if (restoring) {
    snprintf(buf, len, "restoring %d of %d partitions", restoring, tasks);
    return buf;
  }
  return NULL;
}

/* A per-partition gauge: labels partition="p", and topic="topic" if set. */
static gl_series_t *gl_health_gauge(gl_engine_t *e, const char *name, const char *help,
                                    const char *topic, int p) {
  char num[16], labels[512];
  snprintf(num, sizeof num, "%d", p);
  if (topic)
    gl_metrics_labels(labels, sizeof labels, "topic", topic, "partition", num, NULL);
  else
    gl_metrics_labels(labels, sizeof labels, "partition", num, NULL);
  return gl_metrics_gauge(e->metrics, name, help, labels);
}

/* Consumer lag of each input partition: its high watermark minus the last
 * committed offset, so records processed but not committed are still lag.
 * 0 where the partition is not assigned here (a sum over the instances is
 * the group's lag). */
static void gl_health_lag(gl_engine_t *e, int p, gl_task_t *t) {
  for (int i = 0; i < e->ninputs; i++) {
    gl_input_t *in = t && i < t->ninputs ? &t->inputs[i] : NULL;
    int64_t lo = 0, hi = 0, lag = 0;
    if (in && in->assigned && in->committed >= 0 &&
        rd_kafka_get_watermark_offsets(e->consumer, e->inputs[i], p, &lo, &hi) == 0 &&
        hi > in->committed)
      lag = hi - in->committed;
    gl_series_set(gl_health_gauge(e, "greenlight_consumer_lag_records",
                                  "Input records not yet committed: the high watermark minus the "
                                  "last committed offset (0 where not assigned here).",
                                  e->inputs[i], p),
                  (double)lag);
  }
}

/* Changelog records a restoring partition has still to read: the
 * changelog's high watermark minus the restorer's position, as far as
 * the restorer knows them (local state, no request); 0 once restored. */
static int64_t gl_health_restore_remaining(gl_engine_t *e, gl_task_t *t) {
  if (!t || t->state != GL_TASK_RESTORING || !e->changelog || !e->restorer) return 0;
  int64_t lo = 0, hi = 0, pos = 0;
  if (rd_kafka_get_watermark_offsets(e->restorer, e->changelog, t->partition, &lo, &hi) != 0)
    return 0;
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(l, e->changelog, t->partition);
  if (rd_kafka_position(e->restorer, l) == RD_KAFKA_RESP_ERR_NO_ERROR) pos = l->elems[0].offset;
  rd_kafka_topic_partition_list_destroy(l);
  if (pos < lo) pos = lo; /* No position yet: from the start. */
  return hi > pos ? hi - pos : 0;
}

/* The per-partition gauges, for every partition of the inputs (known once
 * connected): lag, restore progress, event time, state size. */
static void gl_health_partitions(gl_engine_t *e) {
  int n = e->partition_count > e->ntasks ? e->partition_count : e->ntasks;
  for (int p = 0; p < n; p++) {
    gl_task_t *t = p < e->ntasks ? e->tasks[p] : NULL;
    gl_health_lag(e, p, t);
    gl_series_set(gl_health_gauge(e, "greenlight_partition_assigned",
                                  "1 while the partition group is assigned to this instance.",
                                  NULL, p),
                  t ? 1 : 0);
    gl_series_set(gl_health_gauge(e, "greenlight_stream_time_seconds",
                                  "Event time of the partition group (the latest event time it "
                                  "processed, Unix seconds; 0 where not assigned here).",
                                  NULL, p),
                  t ? (double)t->stream_time / 1000.0 : 0);
    if (!e->changelog) continue; /* A stateless processor: no state, no restore. */
    gl_series_set(gl_health_gauge(e, "greenlight_partition_restoring",
                                  "1 while the partition group restores its state.", NULL, p),
                  t && t->state == GL_TASK_RESTORING ? 1 : 0);
    gl_series_set(gl_health_gauge(e, "greenlight_restore_remaining_records",
                                  "Changelog records the partition group has still to restore.",
                                  NULL, p),
                  (double)gl_health_restore_remaining(e, t));
    gl_series_set(gl_health_gauge(e, "greenlight_restore_restored_records",
                                  "Changelog records read by the partition group's last restore.",
                                  NULL, p),
                  t ? (double)t->restore_records : 0);
    gl_series_set(gl_health_gauge(e, "greenlight_state_keys",
                                  "Keys in the partition group's store (0 where not assigned here).",
                                  NULL, p),
                  t && t->store ? (double)gl_store_count(t->store) : 0);
  }
}

void gl_health_update(gl_engine_t *e) {
  char buf[512];
  gl_health_partitions(e);
  gl_series_set(e->m_ready, gl_health_not_ready(e, buf, sizeof buf) ? 0 : 1);
  gl_series_set(e->m_consecutive_aborts, (double)e->consecutive_aborts);
}

void gl_health_http(gl_engine_t *e, const char *path, gl_http_response_t *r) {
  char buf[512];
  const char *why = gl_health_not_ready(e, buf, sizeof buf);
  if (strcmp(path, "/readyz") == 0) {
    gl_shell_reply_readyz(r, why);
    return;
  }
  int tasks = 0, restoring = 0;
  for (int p = 0; p < e->ntasks; p++)
    if (e->tasks[p]) {
      tasks++;
      restoring += e->tasks[p]->state == GL_TASK_RESTORING;
    }
  bool wedged = e->consecutive_aborts >= GL_ABORTS_WEDGED;
  bool failed = e->result != GL_OK || e->sh->exit_code != 0;
  const char *status = failed || wedged ? "failing" : why ? "degraded" : "ok";
  gl_http_reply_json(r, failed || wedged ? 503 : 200,
                 json_pack("{s:s, s:s?, s:s, s:s, s:s, s:i, s:i, s:b, s:I}", "status", status,
                           "why", why, "service", e->proc->name, "state",
                           gl_engine_state_name(e->state), "txn", gl_txn_state_name(e->txn_state),
                           "partitions", tasks, "restoring", restoring, "committing",
                           gl_txn_busy(e), "consecutive_aborts",
                           (json_int_t)e->consecutive_aborts));
}
