/* gl_producer: the engine's producer, and its replacement after the
 * transaction coordinator fenced it.
 *
 * Under exactly once, a transaction that stays open longer than
 * transaction.timeout.ms (10 s, as Kafka Streams sets it) is aborted by
 * its coordinator, which bumps the producer epoch: the instance's next
 * transactional call is refused (fenced, or INVALID_TXN_STATE on Kafka
 * 3.9), and librdkafka makes that a fatal error, from which no producer
 * instance recovers. It happens when the coordinator's broker dies and its
 * successor takes over the transaction log (about 8-11 s after kill -9 on a
 * three-broker cluster), or when the process stalls (a pause, a long GC in
 * a neighbour, SIGSTOP). Kafka Streams (EOS v2) treats it as a task
 * migration: it closes its tasks dirty and StreamsProducer.resetProducer()
 * makes a new producer that calls initTransactions with the same
 * transactional.id. So does this file: the transaction cycle (gl_txn.c)
 * drops what the transaction held as an abort does (the groups that
 * processed records in it rewind), and gl_producer_recreate() purges and
 * destroys the old producer, makes a new one with the same configuration,
 * and initialises its transactions on the thread pool, as the start does.
 *
 * A producer fenced by a newer instance with the same instance.id (a real
 * zombie) must still end the process (exit 1): it is replaced only if
 *  - the fatal error is a fence (fenced, invalid epoch, invalid transaction
 *    state),
 *  - the transaction had been open at least transaction.timeout.ms (the
 *    only way its coordinator aborts it; a successor's init_transactions
 *    fences at any age),
 *  - the consumer is still a member of the group: it has no fatal error (a
 *    static member replaced by a newer one is fenced, FENCED_INSTANCE_ID),
 *    and, before the new producer takes the transactional id, the group
 *    coordinator accepts from it a commit of the offsets already committed
 *    (it answers only the current member: the heartbeat that would tell a
 *    replaced member may come after the fence),
 *  - and it was not replaced GL_PRODUCER_RECREATE_MAX times in the last
 *    GL_PRODUCER_RECREATE_WINDOW_MS.
 *
 * Thread locality: everything on the loop thread, except the error
 * callback (any thread: logs, or hands a fatal error to the shell) and the
 * recreation's work (the pool: it alone touches the old and the new
 * producer until its after callback runs; the loop neither polls nor
 * produces meanwhile, the transaction being "recreating"). */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gl_engine_int.h"

#define GL_PRODUCER_RECREATE_WINDOW_MS 60000

/* Any thread that serves the producer's queue: the loop (rd_kafka_poll),
 * or the commit's pool thread (the flush inside a commit). Only atomics
 * and the log. */
static void gl_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  gl_engine_t *e = gl_shell_client_opaque(opaque);
  (void)rk;
  if (m->err) gl_poison_dr(e, m);
  if (m->err && atomic_fetch_add(&e->delivery_failures, 1) < 10)
    gl_log_kv(e->log, GL_LOG_WARN, "delivery_failed",
              GL_LOG_FIELDS(GL_LOG_STR("topic", rd_kafka_topic_name(m->rkt)),
                            GL_LOG_INT("partition", m->partition),
                            GL_LOG_STR("error", rd_kafka_err2name(m->err))),
              "%s [%d]: %s", rd_kafka_topic_name(m->rkt), m->partition, rd_kafka_err2str(m->err));
}

/* A fatal error that a new producer with the same transactional.id may
 * overcome: its epoch was bumped under it. */
static bool gl_producer_fence_code(rd_kafka_resp_err_t err) {
  return err == RD_KAFKA_RESP_ERR__FENCED || err == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ||
         err == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH ||
         err == RD_KAFKA_RESP_ERR_INVALID_TXN_STATE;
}

/* Any thread. As the shell's error callback, except that a transactional
 * producer's fence is left to the transaction cycle, which sees it at its
 * next call and decides (gl_producer_replaceable). */
static void gl_producer_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
  gl_engine_t *e = gl_shell_client_opaque(opaque);
  char fatal[512];
  if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) atomic_store(&e->sh->brokers_down, true);
  if (!gl_kafka_error(e->log, rk, err, reason, fatal, sizeof fatal)) return;
  char code[8];
  if (e->eos && gl_producer_fence_code(rd_kafka_fatal_error(rk, code, sizeof code))) {
    gl_warn(e->log, "producer_fatal", "%s: %s; the transaction cycle decides whether to replace it",
            rd_kafka_name(rk), fatal);
    return;
  }
  gl_shell_fatal_later(e->sh, "%s: %s", rd_kafka_name(rk), fatal);
}

/* The producer learns every topic it writes (outputs, changelog, DLQ)
 * now, not at the first record: a produce to a topic the client does not
 * know waits for its metadata, and the first records after a start or a
 * failover would pay for it. */
static int gl_producer_known_outputs(gl_engine_t *e, char *errstr, size_t errlen) {
  const char **topics = calloc((size_t)e->noutputs + 2, sizeof(*topics));
  e->out_topics = calloc((size_t)e->noutputs + 2, sizeof(*e->out_topics));
  if (!topics || !e->out_topics) abort();
  int n = 0;
  for (int i = 0; i < e->noutputs; i++) topics[n++] = e->outputs[i].topic;
  if (e->changelog) topics[n++] = e->changelog;
  if (e->dlq) topics[n++] = e->dlq;
  for (int i = 0; i < n; i++) {
    if (!(e->out_topics[i] = rd_kafka_topic_new(e->producer, topics[i], NULL))) {
      snprintf(errstr, errlen, "producer: %s: %s", topics[i],
               rd_kafka_err2str(rd_kafka_last_error()));
      free(topics);
      return -1;
    }
    e->nout_topics = i + 1;
  }
  free(topics);
  return 0;
}

static void gl_producer_forget_outputs(gl_engine_t *e) {
  for (int i = 0; i < e->nout_topics; i++) rd_kafka_topic_destroy(e->out_topics[i]);
  free(e->out_topics);
  e->out_topics = NULL;
  e->nout_topics = 0;
}

int gl_producer_new(gl_engine_t *e, char *errstr, size_t errlen) {
  if (!e->m_recreations)
    e->m_recreations = gl_metrics_counter(
        e->metrics, "greenlight_producer_recreations_total",
        "Transactional producers replaced after their coordinator aborted the open transaction and "
        "fenced them (the transaction's records are processed again).",
        NULL);
  /* Only failed deliveries are reported: a failure aborts the transaction
   * anyway, and a report per record costs the loop thread dearly. */
  /* transaction.timeout.ms 10 s, as Kafka Streams sets it under exactly
   * once: an instance killed with a transaction open holds back every
   * read_committed reader of the partitions it wrote (the last stable
   * offset) until the broker aborts that transaction, and nothing else ends
   * it when the instance does not come back (librdkafka's default: 60 s). */
  const char *def_eos[] = {"linger.ms", "5", "queue.buffering.max.messages", "1000000",
                           "delivery.report.only.error", "true",
                           "transaction.timeout.ms", "10000", NULL};
  const char *def_alo[] = {"linger.ms", "5", "queue.buffering.max.messages", "1000000",
                           "delivery.report.only.error", "true", NULL};
  const char *forced_eos[] = {"transactional.id", e->member, "enable.idempotence", "true",
                              "acks", "all", "partitioner", "murmur2_random", NULL};
  const char *forced_alo[] = {"enable.idempotence", "true", "acks", "all", "partitioner",
                              "murmur2_random", NULL};
  rd_kafka_conf_t *kc = gl_kafka_conf(e, e->eos ? def_eos : def_alo,
                                      e->eos ? forced_eos : forced_alo, errstr, errlen);
  if (!kc) return -1;
  rd_kafka_conf_set_dr_msg_cb(kc, gl_dr_cb);
  rd_kafka_conf_set_error_cb(kc, gl_producer_error_cb);
  if (!(e->producer = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, errlen))) return -1;
  char v[32];
  size_t vlen = sizeof v;
  const rd_kafka_conf_t *c = rd_kafka_conf(e->producer);
  e->txn_timeout_ms = rd_kafka_conf_get(c, "transaction.timeout.ms", v, &vlen) == RD_KAFKA_CONF_OK
                          ? strtoull(v, NULL, 10)
                          : 60000;
  return gl_producer_known_outputs(e, errstr, errlen);
}

/* ---- After a fence ------------------------------------------------------ */

bool gl_producer_replaceable(gl_engine_t *e, char *why, size_t len) {
  char fatal[256] = "";
  rd_kafka_resp_err_t code = rd_kafka_fatal_error(e->producer, fatal, sizeof fatal);
  uint64_t now = gl_now_ms(), age = now - e->txn_started_ms;
  int recent = 0;
  for (int i = 0; i < GL_PRODUCER_RECREATE_MAX; i++)
    if (e->recreated_ms[i] && now - e->recreated_ms[i] < GL_PRODUCER_RECREATE_WINDOW_MS) recent++;
  if (!e->eos || !gl_producer_fence_code(code)) {
    snprintf(why, len, "not a fence (%s)", code ? rd_kafka_err2name(code) : "no fatal error");
    return false;
  }
  if (age < e->txn_timeout_ms) {
    snprintf(why, len,
             "fenced after %.1f s, under transaction.timeout.ms (%.1f s): a newer instance with "
             "the same instance.id took the transactional id",
             (double)age / 1000, (double)e->txn_timeout_ms / 1000);
    return false;
  }
  char cerr[256];
  if (rd_kafka_fatal_error(e->consumer, cerr, sizeof cerr)) {
    snprintf(why, len, "the consumer was fenced too (%s)", cerr);
    return false;
  }
  if (recent >= GL_PRODUCER_RECREATE_MAX) {
    snprintf(why, len, "fenced again: %d producers replaced in the last %d s", recent,
             GL_PRODUCER_RECREATE_WINDOW_MS / 1000);
    return false;
  }
  snprintf(why, len,
           "%s (%s) after the transaction was open %.1f s (transaction.timeout.ms %.1f s): its "
           "coordinator aborted it",
           rd_kafka_err2name(code), fatal, (double)age / 1000, (double)e->txn_timeout_ms / 1000);
  return true;
}

/* Pool thread: is the consumer still the group's member? A newer instance
 * with the same instance.id may have fenced the producer (its
 * init_transactions) and joined before this one's heartbeat learnt it:
 * taking the transactional id back would fence the successor. The group
 * coordinator answers an offset commit only from the current member, so
 * the offsets already committed are committed again (no change). Waits
 * for the coordinator up to the deadline. Returns 0 (a member, or nothing
 * to ask with), 1 (a stop came) or -1 with recreate_err set. */
static int gl_producer_member_check(gl_engine_t *e, uint64_t deadline) {
  rd_kafka_topic_partition_list_t *offs = e->recreate_probe;
  while (offs && offs->cnt > 0 && !atomic_load(&e->connect_stop)) {
    rd_kafka_resp_err_t err = rd_kafka_commit(e->consumer, offs, 0);
    if (!err) return 0;
    snprintf(e->recreate_err, sizeof e->recreate_err,
             "the consumer is not the group's member any more: commit of its offsets: %s",
             rd_kafka_err2str(err));
    if (err == RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID || err == RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID ||
        err == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION ||
        err == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS || err == RD_KAFKA_RESP_ERR__FATAL ||
        gl_now_ms() >= deadline)
      return -1;
    uv_sleep(200); /* The coordinator moves: ask again. */
  }
  return atomic_load(&e->connect_stop) ? 1 : 0;
}

/* Pool thread: the old producer goes (nothing of it is kept: its
 * transaction was aborted by the coordinator), and once the consumer is
 * known to be the member still, the new one takes the transactional id,
 * waiting for the coordinators up to startup.timeout.ms. */
static void gl_producer_recreate_work(uv_work_t *req) {
  gl_engine_t *e = req->data;
  rd_kafka_purge(e->producer_old, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
  rd_kafka_destroy(e->producer_old);
  e->producer_old = NULL;
  uint64_t deadline = gl_now_ms() + (uint64_t)e->conf.startup_timeout_ms;
  if ((e->recreate_result = gl_producer_member_check(e, deadline)) != 0) return;
  e->recreate_result = 1;
  while (!atomic_load(&e->connect_stop)) {
    uint64_t now = gl_now_ms(), left = deadline > now ? deadline - now : 1;
    rd_kafka_error_t *err = rd_kafka_init_transactions(e->producer, left < 2000 ? (int)left : 2000);
    if (!err) {
      e->recreate_result = 0;
      return;
    }
    snprintf(e->recreate_err, sizeof e->recreate_err, "init_transactions for %s: %s", e->member,
             rd_kafka_error_string(err));
    bool fatal = rd_kafka_error_is_fatal(err);
    rd_kafka_error_destroy(err);
    if (fatal || gl_now_ms() >= deadline) {
      e->recreate_result = -1;
      return;
    }
  }
}

static void gl_producer_recreate_after(uv_work_t *req, int status) {
  gl_engine_t *e = req->data;
  (void)status;
  if (e->recreate_probe) rd_kafka_topic_partition_list_destroy(e->recreate_probe);
  e->recreate_probe = NULL;
  if (e->closed) return; /* gl_engine_destroy destroys the new producer. */
  void (*done)(gl_engine_t *) = e->recreate_done;
  e->recreate_done = NULL;
  if (e->recreate_result < 0) {
    gl_txn_set_state(e, GL_TXN_FATAL);
    gl_engine_fatal(e, "fatal transaction error: the producer was fenced (%s) and could not be "
                    "replaced: %s", e->recreate_why, e->recreate_err);
    return;
  }
  gl_txn_set_state(e, GL_TXN_IDLE);
  if (e->recreate_result == 0) {
    if (gl_kafka_qpoll_start(e->loop, &e->prod_io, rd_kafka_queue_get_main(e->producer),
                             e->prod_io.cb, e->prod_io.arg) < 0) {
      gl_engine_fatal(e, "cannot wire the new producer's queue into the loop");
      return;
    }
    e->producer_stale = false;
    memmove(e->recreated_ms + 1, e->recreated_ms,
            sizeof(e->recreated_ms) - sizeof(e->recreated_ms[0]));
    e->recreated_ms[0] = gl_now_ms();
    gl_series_add(e->m_recreations, 1);
    gl_warn(e->log, "producer_recreated",
            "replaced the producer of %s in %.1f s: %s; the transaction's records are processed "
            "again", e->member, (double)(gl_now_ms() - e->recreate_started_ms) / 1000,
            e->recreate_why);
  } /* Else a stop came: the drain closes with nothing open. */
  if (done) done(e);
}

/* Loop thread, once the old producer's queue is off the loop. */
static void gl_producer_io_closed(uv_handle_t *h) {
  gl_engine_t *e = (gl_engine_t *)((char *)h->data - offsetof(gl_engine_t, prod_io));
  gl_kafka_qpoll_destroy(&e->prod_io); /* Its queue, before its client goes. */
  memset(&e->prod_io.poll, 0, sizeof e->prod_io.poll); /* Closed: started again below. */
  if (e->closed) return;
  char errstr[512];
  gl_producer_forget_outputs(e);
  e->producer_old = e->producer;
  e->producer = NULL;
  if (gl_producer_new(e, errstr, sizeof errstr) < 0) {
    /* The same settings made the first one: only memory or threads fail. */
    snprintf(e->recreate_err, sizeof e->recreate_err, "%s", errstr);
    rd_kafka_destroy(e->producer_old);
    e->producer_old = NULL;
    e->recreate_result = -1;
    gl_producer_recreate_after(&e->recreate_work, 0);
    return;
  }
  /* The offsets committed last (where the groups rewound to), for the
   * membership check. */
  e->recreate_probe = rd_kafka_topic_partition_list_new(16);
  for (int p = 0; p < e->ntasks; p++)
    for (int i = 0; e->tasks[p] && i < e->tasks[p]->ninputs; i++)
      if (e->tasks[p]->inputs[i].committed >= 0)
        rd_kafka_topic_partition_list_add(e->recreate_probe, e->inputs[i], p)->offset =
            e->tasks[p]->inputs[i].committed;
  e->recreate_work.data = e;
  if (uv_queue_work(e->loop, &e->recreate_work, gl_producer_recreate_work,
                    gl_producer_recreate_after) < 0) {
    gl_producer_recreate_work(&e->recreate_work);
    gl_producer_recreate_after(&e->recreate_work, 0);
  }
}

void gl_producer_recreate(gl_engine_t *e, void (*done)(gl_engine_t *e)) {
  gl_txn_set_state(e, GL_TXN_RECREATING);
  e->recreate_done = done;
  e->recreate_started_ms = gl_now_ms();
  e->recreate_err[0] = '\0';
  gl_warn(e->log, "producer_fenced", "replacing the producer of %s: %s", e->member,
          e->recreate_why);
  uv_close((uv_handle_t *)&e->prod_io.poll, gl_producer_io_closed);
}
