/* gl_connect: the engine's Kafka clients (their settings; the producer's
 * are gl_producer.c's) and the connection at start, which waits for the broker
 * and the topics on the thread pool while the loop answers /healthz and
 * /readyz (a broker not there yet is not a bad setting: exit 1 once
 * startup.timeout.ms has passed, for a supervisor to retry). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gl_engine_int.h"

static void gl_qpoll_cb(void *arg) { gl_engine_pump(arg); }

bool gl_connect_kip848(const gl_engine_conf_t *c) {
  return c->group_protocol && strcmp(c->group_protocol, "consumer") == 0;
}

/* KIP-848's consumer protocol is generally available from librdkafka 2.12
 * on (earlier releases had it as early access; 2.0.2 has no such setting). */
#define GL_KIP848_MIN_RDKAFKA 0x020c0000

int gl_connect_group_protocol_check(const gl_engine_conf_t *c, const char *const *kafka,
                                    char *errstr, size_t errlen) {
  if (!gl_connect_kip848(c)) return 0;
  rd_kafka_conf_t *probe = rd_kafka_conf_new();
  char why[256];
  bool known = rd_kafka_conf_set(probe, "group.protocol", "consumer", why, sizeof why) ==
               RD_KAFKA_CONF_OK;
  rd_kafka_conf_destroy(probe);
  if (!known || rd_kafka_version() < GL_KIP848_MIN_RDKAFKA) {
    snprintf(errstr, errlen,
             "config: group.protocol = '%s': expected classic: this build runs with librdkafka "
             "%s, which lacks KIP-848's consumer protocol (it needs 2.12 or later; "
             "deploy/local/setup.sh's gl_build_848 builds against one)",
             c->group_protocol, rd_kafka_version_str());
    return -1;
  }
  /* The broker decides these for a KIP-848 group; librdkafka refuses them. */
  static const char *const broker_side[] = {"session.timeout.ms", "heartbeat.interval.ms",
                                            "partition.assignment.strategy", "group.protocol.type",
                                            NULL};
  for (; kafka && kafka[0] && kafka[1]; kafka += 2)
    for (int i = 0; broker_side[i]; i++)
      if (strcmp(kafka[0], broker_side[i]) == 0) {
        snprintf(errstr, errlen,
                 "config: kafka.%s = '%s': expected unset with group.protocol = consumer: the "
                 "broker sets it for a KIP-848 group (group.consumer.* broker settings; "
                 "group.remote.assignor picks the assignor)",
                 kafka[0], kafka[1]);
        return -1;
      }
  return 0;
}

int gl_connect_clients(gl_engine_t *e, char *errstr, size_t errlen) {
  gl_engine_conf_t *c = &e->conf;
  /* The prefix separates environments on one cluster: groups and
   * transactional ids too, not just topics. */
  char group[512], member[1024], restore_group[1024];
  snprintf(group, sizeof(group), "%s%s", c->topic_prefix, c->app_id);
  snprintf(member, sizeof(member), "%s-%s", group, c->instance_id);
  e->group = strdup(group);
  snprintf(restore_group, sizeof(restore_group), "%s-restore", group);
  e->member = strdup(member);

  /* An input's end (EOF, "caught up" for the merge) is only known after a
   * fetch that found nothing, which the broker holds up to fetch.wait.max.ms.
   * session.timeout.ms is Kafka's own default (45 s): a static member that
   * restarts takes its partitions back at once anyway, and a broker outage
   * shorter than the session is ridden out; past it, librdkafka 2.0.2 can
   * be fenced while its commit waits for the broker (exit 1, clean). */
  /* KIP-848 (group.protocol=consumer): the broker assigns (its range
   * assignor keeps partition N of every input on one member; its default,
   * uniform, would split them) and owns the session, so the client's
   * session and assignment strategy are left out: librdkafka refuses them. */
  bool kip848 = gl_connect_kip848(&e->conf);
  if (kip848 && gl_connect_group_protocol_check(&e->conf, gl_conf_kafka_pairs(&e->sh->conf),
                                                errstr, errlen) < 0)
    return -1;
  const char *cons_def[] = {"auto.offset.reset", "earliest", "fetch.wait.max.ms", "100",
                            kip848 ? NULL : "session.timeout.ms", "45000", NULL};
  const char *cons_forced[] = {"group.id", group, "group.instance.id", member,
                               "enable.auto.commit", "false", "enable.auto.offset.store", "false",
                               "enable.partition.eof", "true",
                               "isolation.level", e->eos ? "read_committed" : "read_uncommitted",
                               "client.id", member,
                               kip848 ? "group.protocol" : "partition.assignment.strategy",
                               kip848 ? "consumer" : "range",
                               kip848 ? "group.remote.assignor" : NULL, "range", NULL};
  rd_kafka_conf_t *kc = gl_kafka_conf(e, cons_def, cons_forced, errstr, errlen);
  if (!kc) return -1;
  rd_kafka_conf_set_rebalance_cb(kc, gl_engine_rebalance_cb);
  if (gl_settle_install(&e->settle, kc, errstr, errlen) < 0) {
    rd_kafka_conf_destroy(kc);
    return -1;
  }
  if (!(e->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, kc, errstr, errlen))) return -1;
  rd_kafka_poll_set_consumer(e->consumer);

  const char *rest_forced[] = {"group.id", restore_group, "enable.auto.commit", "false",
                               "enable.partition.eof", "true", "isolation.level", "read_committed",
                               "auto.offset.reset", "earliest", NULL};
  /* A restore ends at the changelog's end (its EOF, reported with the fetch
   * that reached it): do not let the broker hold an empty fetch. A restore
   * reads whole partitions: fewer, larger fetches per partition (the
   * queue's bound, queued.max.messages.kbytes, stays librdkafka's). */
  /* A restore reads ahead as far as 256 MB: with librdkafka's queue
   * thresholds (100,000 messages, 64 MB) the fetcher stops and waits
   * between fetches, and 1M orders restored at ~200k records/s, not ~650k. */
  const char *rest_def[] = {"fetch.wait.max.ms", "10", "max.partition.fetch.bytes", "8388608",
                            "queued.min.messages", "10000000",
                            "queued.max.messages.kbytes", "262144", NULL};
  if (!(kc = gl_kafka_conf(e, rest_def, rest_forced, errstr, errlen))) return -1;
  if (!(e->restorer = rd_kafka_new(RD_KAFKA_CONSUMER, kc, errstr, errlen))) return -1;
  rd_kafka_poll_set_consumer(e->restorer);
  e->restore_q = rd_kafka_queue_get_consumer(e->restorer);
  /* Known before the first assignment (gl_connect_work waits for its
   * metadata): an assigned partition whose leader the client does not know
   * yet waits a second for its offset query to be retried. */
  if (e->changelog && !(e->restore_topic = rd_kafka_topic_new(e->restorer, e->changelog, NULL))) {
    snprintf(errstr, errlen, "restorer: %s: %s", e->changelog, rd_kafka_err2str(rd_kafka_last_error()));
    return -1;
  }

  if (gl_producer_new(e, errstr, errlen) < 0) return -1;
  if (gl_bound_prober_new(e, errstr, errlen) < 0) return -1;
  return gl_owners_start(e, errstr, errlen);
}

/* ---- Connecting at start (the pool thread) ----------------------------- */

static void gl_connect_set_why(gl_engine_t *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void gl_connect_set_why(gl_engine_t *e, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  uv_mutex_lock(&e->connect_lock);
  vsnprintf(e->connect_why, sizeof(e->connect_why), fmt, ap);
  uv_mutex_unlock(&e->connect_lock);
  va_end(ap);
}

void gl_connect_status(gl_engine_t *e, char *buf, size_t len) {
  uv_mutex_lock(&e->connect_lock);
  snprintf(buf, len, "%s", e->connect_why);
  uv_mutex_unlock(&e->connect_lock);
}

/* Has the restorer learn the changelog's leaders now, so that the first
 * restore starts fetching at once. Best effort: without it a restore only
 * starts later. */
static void gl_connect_restorer_metadata(gl_engine_t *e) {
  const rd_kafka_metadata_t *md = NULL;
  if (!e->restore_topic) return;
  if (rd_kafka_metadata(e->restorer, 0, e->restore_topic, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR)
    rd_kafka_metadata_destroy(md);
}

/* Waits for the transactional id (fencing any predecessor) and the topics,
 * until startup.timeout.ms. */
static void gl_connect_work(uv_work_t *req) {
  gl_engine_t *e = req->data;
  uint64_t deadline = gl_now_ms() + (uint64_t)e->conf.startup_timeout_ms, logged = 0;
  bool txn_ready = !e->eos;
  e->connect_result = -1;
  while (!atomic_load(&e->connect_stop)) {
    uint64_t now = gl_now_ms();
    if (!txn_ready) {
      uint64_t left = deadline > now ? deadline - now : 1;
      rd_kafka_error_t *err = rd_kafka_init_transactions(e->producer, left < 2000 ? (int)left : 2000);
      txn_ready = err == NULL;
      if (err) {
        gl_connect_set_why(e, "broker unreachable (init_transactions for %s: %s)", e->member,
                           rd_kafka_error_string(err));
        bool fatal = rd_kafka_error_is_fatal(err);
        rd_kafka_error_destroy(err);
        if (fatal) return;
      }
    }
    char why[512];
    int topics = txn_ready ? gl_topics_check(e, why, sizeof why) : 1;
    if (topics < 0) {
      gl_connect_set_why(e, "%s", why);
      e->connect_result = -2;
      return;
    }
    if (txn_ready && topics > 0) gl_connect_set_why(e, "%s", why);
    if (txn_ready && topics == 0) {
      gl_connect_restorer_metadata(e);
      if (gl_bound_capture(e, e->connect_partitions, why, sizeof why) == 0) {
        e->connect_result = 0;
        return;
      }
      gl_connect_set_why(e, "%s", why);
    }
    if (gl_now_ms() >= deadline) return;
    if (gl_now_ms() - logged >= 10000) {
      gl_connect_status(e, why, sizeof why);
      gl_warn(e->log, "waiting", "%s; waiting up to startup.timeout.ms", why);
      logged = gl_now_ms();
    }
    uv_sleep(200); /* Between attempts; a stop is seen within this. */
  }
  e->connect_result = 1;
}

static void gl_connect_after(uv_work_t *req, int status) {
  gl_engine_t *e = req->data;
  (void)status;
  char why[512];
  gl_connect_status(e, why, sizeof why);
  if (e->closed) return;
  if (e->connect_result != 0 || e->stopping) {
    if (e->connect_result < 0) {
      /* -2: a topic is there but wrong, which no wait mends (exit 2). */
      e->result = e->connect_result == -2 ? GL_ECONFIG : GL_EBROKER;
      if (e->result == GL_ECONFIG) e->sh->fatal_exit_code = GL_EXIT_CONFIG;
      gl_engine_fatal(e, "could not start: %s", why);
    }
    else gl_engine_close(e);
    return;
  }
  rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(e->ninputs);
  for (int i = 0; i < e->ninputs; i++)
    rd_kafka_topic_partition_list_add(sub, e->inputs[i], RD_KAFKA_PARTITION_UA);
  rd_kafka_resp_err_t serr = rd_kafka_subscribe(e->consumer, sub);
  rd_kafka_topic_partition_list_destroy(sub);
  if (serr) {
    gl_engine_fatal(e, "subscribe: %s", rd_kafka_err2str(serr));
    return;
  }
  if (gl_kafka_qpoll_start(e->loop, &e->cons_io, rd_kafka_queue_get_consumer(e->consumer),
                           gl_qpoll_cb, e) < 0 ||
      gl_kafka_qpoll_start(e->loop, &e->rest_io, rd_kafka_queue_get_consumer(e->restorer),
                           gl_qpoll_cb, e) < 0 ||
      gl_kafka_qpoll_start(e->loop, &e->prod_io, rd_kafka_queue_get_main(e->producer),
                           gl_qpoll_cb, e) < 0) {
    gl_engine_fatal(e, "cannot wire Kafka queues into the loop");
    return;
  }
  e->connected = true;
  e->partition_count = e->connect_partitions; /* Written by the work; the loop reads its copy. */
  e->bound_ends = e->connect_ends;
  e->connect_ends = NULL; /* The prober's work is done; destroy (after the loop) frees it. */
  gl_engine_settle(e);
  gl_connect_set_why(e, "connected");
  const gl_engine_conf_t *c = &e->conf;
  bool kip848 = gl_connect_kip848(c);
  gl_log_kv(e->log, GL_LOG_INFO, "started",
            GL_LOG_FIELDS(GL_LOG_STR("member", e->member), GL_LOG_STR("guarantee", c->guarantee),
                          GL_LOG_STR("input_topics", c->input_topics),
                          GL_LOG_STR("output_topics", c->output_topics),
                          GL_LOG_STR("changelog", e->changelog),
                          GL_LOG_INT("commit_interval_ms", c->commit_interval_ms),
                          GL_LOG_STR("group_protocol", kip848 ? "consumer" : "classic")),
          "%s: member %s (%s rebalances), %s, inputs %s, outputs %s, changelog %s, "
          "commit every %lld ms or %lld records",
          e->proc->name, e->member, kip848 ? "incremental" : "eager", c->guarantee,
          c->input_topics, c->output_topics,
          e->changelog ? e->changelog : "(none)", (long long)c->commit_interval_ms,
          (long long)c->commit_max_records);
  /* Queue io events fire only on empty -> non-empty: serve what is there now. */
  gl_engine_pump(e);
}

void gl_connect_start(gl_engine_t *e) {
  gl_connect_set_why(e, "connecting to the broker");
  e->connect_work.data = e;
  if (uv_queue_work(e->loop, &e->connect_work, gl_connect_work, gl_connect_after) < 0)
    gl_engine_fatal(e, "cannot start connecting: the thread pool refused the work");
}
