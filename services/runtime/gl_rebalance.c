/* gl_rebalance: partitions assigned and revoked. librdkafka calls the
 * rebalance callback from rd_kafka_consumer_poll(), which only the loop
 * calls: an assignment creates a partition group per partition number and
 * starts its restore; a revocation commits (or, when the partitions were
 * lost, aborts) the open transaction and drops the groups, whose state
 * lives on in the changelog for the next owner. */
#include <stdlib.h>

#include "gl_engine_int.h"

static void gl_tasks_grow(gl_engine_t *e, int32_t p) {
  if (p < e->ntasks) return;
  int n = p + 1;
  gl_task_t **nt = realloc(e->tasks, sizeof(*nt) * (size_t)n);
  if (!nt) abort();
  for (int i = e->ntasks; i < n; i++) nt[i] = NULL;
  e->tasks = nt;
  e->ntasks = n;
}

void gl_rebalance_drop_tasks(gl_engine_t *e) {
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
  gl_engine_t *e = gl_shell_client_opaque(opaque);
  GL_SHELL_ASSERT_LOOP(e->sh, "the rebalance callback");
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
    e->assigned_now = true;
    for (int i = 0; i < parts->cnt; i++) {
      int rank = gl_task_find_rank(e, parts->elems[i].topic);
      int32_t p = parts->elems[i].partition;
      if (rank < 0) continue;
      gl_tasks_grow(e, p);
      if (!e->tasks[p]) e->tasks[p] = gl_task_new(e, p);
      e->tasks[p]->inputs[rank].assigned = true;
      gl_bound_arm(e, e->tasks[p]);
    }
    int n = 0;
    for (int p = 0; p < e->ntasks; p++)
      if (e->tasks[p] && e->tasks[p]->state == GL_TASK_RESTORING && !e->tasks[p]->restore_assigned) {
        gl_task_restore_start(e, e->tasks[p]);
        n++;
      }
    gl_log_kv(e->log, GL_LOG_INFO, "assigned",
              GL_LOG_FIELDS(GL_LOG_INT("partitions", parts->cnt), GL_LOG_INT("restoring", n)),
              "assigned %d input partitions; %d partition groups to restore", parts->cnt, n);
    gl_owners_publish(e);
    return;
  }
  /* Revoked or lost: finish or abandon the open transaction, then drop the
   * tasks; their state lives on in the changelog for the next owner. */
  bool lost = rd_kafka_assignment_lost(rk), clean = !lost && e->result == GL_OK;
  if (e->txn_state == GL_TXN_OPEN && e->result == GL_OK) {
    if (lost) {
      gl_log_kv(e->log, GL_LOG_WARN, "lost", GL_LOG_FIELDS(GL_LOG_INT("partitions", parts->cnt)),
                "partitions lost; aborting the open transaction");
      gl_txn_abort_sync(e);
    } else {
      /* A fatal result ends the engine (gl_txn_finish). */
      clean = gl_txn_commit_sync(e) == GL_COMMIT_OK;
    }
  }
  /* Committed state stays as warm copies, in case it comes back here. */
  /* Lost meanwhile (the commit can take long): the state may be another's now. */
  gl_standby_revoked(e, clean && e->result == GL_OK && !rd_kafka_assignment_lost(rk));
  gl_rebalance_drop_tasks(e);
  e->assigned_now = false;
  gl_owners_publish(e);
  rd_kafka_assign(rk, NULL);
  gl_log_kv(e->log, GL_LOG_INFO, "revoked", GL_LOG_FIELDS(GL_LOG_INT("partitions", parts->cnt)),
            "revoked %d input partitions", parts->cnt);
}
