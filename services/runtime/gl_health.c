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
 * but not committed yet are still lag. All on the loop thread. */
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
  int tasks = 0, restoring = 0;
  for (int p = 0; p < e->ntasks; p++)
    if (e->tasks[p]) {
      tasks++;
      restoring += e->tasks[p]->state == GL_TASK_RESTORING;
    }
  if (tasks == 0) return "rebalancing: no partitions assigned";
  if (restoring) {
    snprintf(buf, len, "restoring %d of %d partitions", restoring, tasks);
    return buf;
  }
  return NULL;
}

static void gl_health_lag(gl_engine_t *e) {
  int64_t lag = 0;
  for (int p = 0; p < e->ntasks; p++) {
    gl_task_t *t = e->tasks[p];
    for (int i = 0; t && i < t->ninputs; i++) {
      gl_input_t *in = &t->inputs[i];
      int64_t lo = 0, hi = 0;
      if (!in->assigned || in->committed < 0 ||
          rd_kafka_get_watermark_offsets(e->consumer, e->inputs[i], p, &lo, &hi) != 0)
        continue;
      if (hi > in->committed) lag += hi - in->committed;
    }
  }
  gl_series_set(e->m_lag, (double)lag);
}

void gl_health_update(gl_engine_t *e) {
  char buf[512];
  gl_health_lag(e);
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
