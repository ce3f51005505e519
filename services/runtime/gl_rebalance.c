/* gl_rebalance: partitions assigned and revoked. librdkafka calls the
 * rebalance callback from rd_kafka_consumer_poll(), which only the loop
 * calls. Two group protocols (the setting group.protocol):
 * - classic: range assignment is eager: an assignment hands over the whole
 *   assignment and a revocation takes all of it back, so every group stops
 *   on every join;
 * - consumer (KIP-848; rd_kafka_rebalance_protocol() says COOPERATIVE): an
 *   assignment adds partitions and a revocation takes only some away
 *   (incremental assign and unassign); the other groups go on processing.
 * An assignment creates a partition group per partition number; a group
 * restores and processes only once partition N of every input is here
 * (gl_task_complete), which the broker's range assignor gives together.
 * A revocation commits (or, when the partitions were lost, aborts) the
 * open transaction, keeps the revoked groups' committed stores as warm
 * copies (gl_standby.c), and drops those groups; their state lives on in
 * the changelog for the next owner. */
#include <stdlib.h>
#include <string.h>

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

/* An incremental (un)assignment that fails leaves the consumer's view and
 * the groups apart: the engine stops. */
static void gl_rebalance_check(gl_engine_t *e, const char *what, rd_kafka_error_t *err) {
  if (!err) return;
  gl_engine_fatal(e, "%s: %s", what, rd_kafka_error_string(err));
  rd_kafka_error_destroy(err);
}

static void gl_rebalance_assign(gl_engine_t *e, rd_kafka_t *rk,
                                rd_kafka_topic_partition_list_t *parts, bool incremental) {
  if (incremental)
    gl_rebalance_check(e, "incremental assign", rd_kafka_incremental_assign(rk, parts));
  else
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
  int n = 0, waiting = 0;
  for (int p = 0; p < e->ntasks; p++) {
    gl_task_t *t = e->tasks[p];
    if (!t || t->state != GL_TASK_RESTORING || t->restore_assigned) continue;
    if (!gl_task_complete(t)) {
      waiting++;
      continue;
    }
    gl_task_restore_start(e, t);
    n++;
  }
  gl_log_kv(e->log, GL_LOG_INFO, "assigned",
            GL_LOG_FIELDS(GL_LOG_INT("partitions", parts->cnt), GL_LOG_INT("restoring", n),
                          GL_LOG_INT("incomplete", waiting)),
            "assigned %d input partitions; %d partition groups to restore, %d waiting for the "
            "rest of their inputs",
            parts->cnt, n, waiting);
  gl_owners_publish(e);
}

/* After a revocation's commit failed (or the open transaction was aborted
 * because partitions were lost), the groups that stay hold state and
 * positions never committed: back to the last commit, as after any abort. */
static void gl_rebalance_rewind_kept(gl_engine_t *e, const bool *gone) {
  for (int p = 0; p < e->ntasks && e->result == GL_OK && !e->closed; p++) {
    gl_task_t *t = e->tasks[p];
    if (!t || gone[p] || !(t->in_txn || t->in_next)) continue;
    t->in_txn = t->in_next = false;
    gl_task_rewind(e, t);
  }
}

/* Revoked or lost: finish or abandon the open transaction, then drop the
 * revoked groups (eager: every group). */
static void gl_rebalance_revoke(gl_engine_t *e, rd_kafka_t *rk,
                                rd_kafka_topic_partition_list_t *parts, bool incremental) {
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
  bool *gone = calloc((size_t)e->ntasks + 1, sizeof(*gone));
  if (!gone) abort();
  for (int p = 0; p < e->ntasks; p++) gone[p] = !incremental;
  for (int i = 0; incremental && i < parts->cnt; i++) {
    int rank = gl_task_find_rank(e, parts->elems[i].topic);
    int32_t p = parts->elems[i].partition;
    gl_task_t *t = rank >= 0 && p >= 0 && p < e->ntasks ? e->tasks[p] : NULL;
    if (!t) continue;
    gl_task_input_revoke(e, t, rank);
    /* A group that keeps an input here keeps its state, waiting (not
     * processing) until the rest comes back. */
    gone[t->partition] = !gl_task_any_assigned(t);
  }
  if (incremental && !clean) gl_rebalance_rewind_kept(e, gone);
  /* Committed state stays as warm copies, in case it comes back here;
   * not when lost meanwhile (the commit can take long): the state may be
   * another's now. */
  gl_standby_revoked(e, clean && e->result == GL_OK && !rd_kafka_assignment_lost(rk), gone);
  int dropped = 0;
  bool assigned = false;
  for (int p = 0; p < e->ntasks; p++) {
    if (e->tasks[p] && gone[p]) {
      gl_task_destroy(e, e->tasks[p]);
      e->tasks[p] = NULL;
      dropped++;
    }
    assigned = assigned || (e->tasks[p] && gl_task_any_assigned(e->tasks[p]));
  }
  free(gone);
  e->assigned_now = assigned;
  gl_owners_publish(e);
  if (incremental)
    gl_rebalance_check(e, "incremental unassign", rd_kafka_incremental_unassign(rk, parts));
  else
    rd_kafka_assign(rk, NULL);
  gl_log_kv(e->log, GL_LOG_INFO, "revoked",
            GL_LOG_FIELDS(GL_LOG_INT("partitions", parts->cnt), GL_LOG_INT("groups", dropped),
                          GL_LOG_INT("lost", lost)),
            "revoked %d input partitions%s; dropped %d partition groups", parts->cnt,
            lost ? " (lost)" : "", dropped);
}

static void gl_engine_rebalance(gl_engine_t *e, rd_kafka_t *rk, rd_kafka_resp_err_t err,
                                rd_kafka_topic_partition_list_t *parts) {
  const char *protocol = rd_kafka_rebalance_protocol(rk);
  bool incremental = protocol && strcmp(protocol, "COOPERATIVE") == 0;
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS)
    gl_rebalance_assign(e, rk, parts, incremental);
  else
    gl_rebalance_revoke(e, rk, parts, incremental);
}
