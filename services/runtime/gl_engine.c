/* gl_engine: the engine's life: its settings, its states, new, start,
 * stop and destroy on a process shell (gl_shell.h), the cron that drives
 * the clients, and gl_engine_main, the whole life of a daemon. The record
 * context is in gl_ctx.c, the processing of records in gl_process.c,
 * rebalances in gl_rebalance.c, the merge in gl_task.c, the transaction
 * cycle in gl_txn.c, the start in gl_connect.c. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gl_engine_int.h"

#define GL_OFF(f) offsetof(gl_engine_conf_t, f)
const gl_conf_prop_t gl_engine_conf_props[] = {
    {"app.id", GL_CONF_STR, "greenlight", 1, 0, NULL, GL_OFF(app_id),
     "Application id: consumer group, transactional id prefix and changelog topic prefix."},
    {"instance.id", GL_CONF_STR, "0", 1, 0, NULL, GL_OFF(instance_id),
     "This instance's stable id: static group member <app.id>-<instance.id> and transactional.id."},
    {"topic.prefix", GL_CONF_STR, "", 0, 0, NULL, GL_OFF(topic_prefix),
     "Prepended to every topic name, so several environments can share a cluster."},
    {"input.topics", GL_CONF_STR, "", 0, 0, NULL, GL_OFF(input_topics),
     "Comma-separated co-partitioned input topics; their order is the merge tie-break rank."},
    {"output.topics", GL_CONF_STR, "", 0, 0, NULL, GL_OFF(output_topics),
     "The topics of the daemon's named outputs: \"topic,...\" in the order of its outputs (orderd: status, repartition; batchd: status; pipe: out), or \"name=topic,...\" in any order."},
    {"dlq.topic", GL_CONF_STR, "greenlight.dlq", 1, 0, NULL, GL_OFF(dlq_topic),
     "Dead-letter topic for records that cannot be decoded, validated or applied."},
    {"processing.guarantee", GL_CONF_ENUM, "exactly_once", 0, 0, "exactly_once|at_least_once",
     GL_OFF(guarantee), "exactly_once: one Kafka transaction per commit; at_least_once: for comparison."},
    {"commit.interval.ms", GL_CONF_INT, "100", 1, 600000, NULL, GL_OFF(commit_interval_ms),
     "Commit the open transaction at least this often."},
    {"commit.max.records", GL_CONF_INT, "0", 0, 10000000, NULL, GL_OFF(commit_max_records),
     "Also commit once this many input records were processed in the transaction (0 = no cap: commit on time only, as Kafka Streams does; a commit costs the producer a round of transaction requests, so a small cap costs throughput)."},
    {"commit.overlap.max.records", GL_CONF_INT, "100000", 0, 10000000, NULL,
     GL_OFF(commit_overlap_max_records),
     "While a commit runs, process up to this many of the records already buffered, holding their outputs in memory for the next transaction (a failed commit drops them with the rest of its cycle); 0 = processing waits for every commit."},
    {"max.idle.ms", GL_CONF_INT, "1000", 0, 600000, NULL, GL_OFF(max_idle_ms),
     "How long the merge waits for an input with nothing buffered that is not caught up (records appended but not fetched yet, or an upstream transaction still open)."},
    {"buffer.max.records", GL_CONF_INT, "2000", 2, 10000000, NULL, GL_OFF(buffer_max_records),
     "Records buffered per input partition before it is paused (back-pressure)."},
    {"http.advertised.url", GL_CONF_STR, "", 0, 0, NULL, GL_OFF(http_advertised_url),
     "This instance's HTTP address as other instances name it to callers they cannot serve; empty = http://<http.host, or the host name for a wildcard>:<port>."},
    {"fault.abort.every", GL_CONF_INT, "0", 0, 1000000, NULL, GL_OFF(fault_abort_every),
     "Testing only: abort every Nth transaction on the broker, as an abortable error would (0 = never)."},
    {"record.max.bytes", GL_CONF_INT, "1000000", 1024, 100000000, NULL, GL_OFF(record_max_bytes),
     "Largest output record (key + value + headers) produced; keep it at or below the producer's message.max.bytes and the topics' max.message.bytes. A record whose output would be larger goes to the DLQ (output_too_large); a DLQ copy is cut to fit."},
    {"time.max.forward.ms", GL_CONF_INT, "86400000", 1, INT64_MAX, NULL, GL_OFF(time_max_forward_ms),
     "How far ahead of both the partition group's event time and its own record timestamp one record's occurred_at_ms may be; beyond, it goes to the DLQ (time_out_of_bounds) and moves no time."},
    {"merge.settle.ms", GL_CONF_INT, "50", 0, 10000, NULL, GL_OFF(merge_settle_ms),
     "The longest a buffered record waits before an input with nothing buffered counts as caught up against it: librdkafka reads one fetch response partition by partition, and another input's records of the same response may still be on their way. A record normally settles sooner, as soon as every broker the consumer fetches from sent its next Fetch (it has read the previous response in full); this bound applies when a broker sends none (all its partitions paused, or it stopped answering)."},
    {"merge.settle.min.ms", GL_CONF_INT, "0", 0, 10000, NULL, GL_OFF(merge_settle_min_ms),
     "The least a buffered record waits before an input with nothing buffered counts as caught up against it, even once settled: tolerance for upstream systems that publish related events to several topics without a transaction (their batches can be appended milliseconds apart, and a replay would order them by timestamp). 0 = none: such upstreams should use transactions."},
    {"stop.at", GL_CONF_ENUM, "never", 0, 0, "never|end", GL_OFF(stop_at),
     "never: run until signalled. end: a bounded run: capture each input partition's end offset (high watermark) when connected, process up to it, commit and exit 0."},
    {"stop.at.time.ms", GL_CONF_INT, "0", 0, INT64_MAX, NULL, GL_OFF(stop_at_time_ms),
     "A bounded run by time (epoch ms, 0 = none): records stamped at or after it are not processed; once every input partition has one waiting (or reached stop.at=end's offset), commit and exit 0."},
    {"num.standby.replicas", GL_CONF_INT, "0", 0, 16, NULL, GL_OFF(num_standby_replicas),
     "Warm copies of each partition's state kept by other instances of the group, which follow its changelog, so that the instance taking a partition over restores only the changelog's tail (as Kafka Streams). Placed through the owners topic, so it needs the admin port (http.port)."},
    {"state.cleanup.delay.ms", GL_CONF_INT, "60000", 0, 86400000, NULL, GL_OFF(state_cleanup_delay_ms),
     "How long the state of a partition group this instance lost in a rebalance (or a standby no longer wanted) is kept in memory as a warm copy, following its changelog, in case the partition comes back: a rebalance under the classic group protocol revokes every partition, and most return to the same instance at once. The copies cost memory like owned state. 0 = dropped at once (a standby is still kept while wanted)."},
    {"group.protocol", GL_CONF_ENUM, "classic", 0, 0, "classic|consumer", GL_OFF(group_protocol),
     "classic: the consumer group protocol of every Kafka release, range assignment by the client; a rebalance revokes every partition of every instance. consumer: KIP-848's protocol (Kafka 4.0 or later, and a librdkafka that has it: 2.12 or later; refused at start otherwise), range assignment by the broker (group.remote.assignor=range keeps partition N of every input together); a rebalance moves only the partitions that change owner, and the others keep processing. The session is then the broker's (group.consumer.session.timeout.ms, 45 s by default): kafka.session.timeout.ms and kafka.partition.assignment.strategy are refused."},
    {"startup.timeout.ms", GL_CONF_INT, "120000", 1000, 86400000, NULL, GL_OFF(startup_timeout_ms),
     "How long a start waits for the broker and the topics (answering /healthz meanwhile) before it exits 1 for a supervisor to retry."},
    {NULL, 0, NULL, 0, 0, NULL, 0, NULL}};

static char **gl_split_topics(const char *prefix, const char *list, int *n) {
  char **out = NULL;
  *n = 0;
  char *dup = strdup(list), *save = NULL;
  for (char *tok = strtok_r(dup, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
    out = realloc(out, sizeof(char *) * (size_t)(*n + 1));
    if (!out || asprintf(&out[*n], "%s%s", prefix, tok) < 0) abort();
    (*n)++;
  }
  free(dup);
  return out;
}

/* The output named name in outs[0..n), or NULL. */
static gl_output_t *gl_outputs_find(gl_output_t *outs, int n, const char *name) {
  for (int i = 0; i < n; i++)
    if (strcmp(outs[i].name, name) == 0) return &outs[i];
  return NULL;
}

/* The processor's outputs, named in its description, mapped to the topics
 * of output.topics: "topic" entries in the order of the names, or
 * "name=topic" entries in any order. Returns GL_OK with *outs (n entries,
 * topics prefixed and malloc'd), or GL_ECONFIG with errstr. Pure: also
 * what --check-config judges. */
static int gl_outputs_parse(const gl_processor_t *proc, const gl_engine_conf_t *c,
                            gl_output_t **outs, int *n, char *errstr, size_t errlen) {
  int want = 0, given = 0;
  while (proc->outputs && proc->outputs[want]) want++;
  char **topics = gl_split_topics("", c->output_topics, &given);
  gl_output_t *o = calloc((size_t)want + 1, sizeof(*o));
  if (!o) abort();
  for (int i = 0; i < want; i++) {
    o[i].name = proc->outputs[i];
    for (int k = 0; proc->internal_outputs && proc->internal_outputs[k]; k++)
      o[i].internal |= strcmp(proc->internal_outputs[k], o[i].name) == 0;
  }
  int rc = GL_OK;
  for (int i = 0; i < given && rc == GL_OK; i++) {
    char *eq = strchr(topics[i], '=');
    gl_output_t *slot = i < want ? &o[i] : NULL;
    if (eq) {
      *eq = 0;
      slot = gl_outputs_find(o, want, topics[i]);
    }
    const char *topic = eq ? eq + 1 : topics[i];
    if (!slot || slot->topic || !*topic) rc = GL_ECONFIG;
    else if (asprintf(&slot->topic, "%s%s", c->topic_prefix, topic) < 0) abort();
  }
  for (int i = 0; i < want && rc == GL_OK; i++)
    if (!o[i].topic) rc = GL_ECONFIG;
  for (int i = 0; i < given; i++) free(topics[i]);
  free(topics);
  *outs = o;
  *n = want;
  if (rc == GL_OK) return GL_OK;
  char names[256] = "";
  for (int i = 0; i < want; i++)
    snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "",
             o[i].name);
  snprintf(errstr, errlen,
           "config: output.topics = '%s': expected %d topic%s, one per output (%s), "
           "as \"topic,...\" in that order or \"name=topic,...\"",
           c->output_topics, want, want == 1 ? "" : "s", names);
  return GL_ECONFIG;
}

static void gl_outputs_free(gl_output_t *outs, int n) {
  for (int i = 0; outs && i < n; i++) free(outs[i].topic);
  free(outs);
}

/* Topic names from the settings, then the clients (no connection yet). */
static int gl_engine_setup(gl_engine_t *e, char *errstr, size_t errlen) {
  gl_engine_conf_t *c = &e->conf;
  e->eos = strcmp(c->guarantee, "exactly_once") == 0;
  e->inputs = gl_split_topics(c->topic_prefix, c->input_topics, &e->ninputs);
  if (e->ninputs == 0) {
    snprintf(errstr, errlen, "config: input.topics = '': expected at least one topic");
    return GL_ECONFIG;
  }
  if (gl_outputs_parse(e->proc, c, &e->outputs, &e->noutputs, errstr, errlen) < 0)
    return GL_ECONFIG;
  gl_bound_init(e);
  if (c->num_standby_replicas > 0 && !gl_owners_advertised(e)) {
    snprintf(errstr, errlen,
             "config: num.standby.replicas = %" PRId64 ": expected 0 without the admin port "
             "(http.port): standbys are placed through the owners topic, which instances "
             "publish with their port",
             c->num_standby_replicas);
    return GL_ECONFIG;
  }
  if (e->proc->open && e->proc->open(e->proc->opaque, e, errstr, errlen) < 0) return GL_ECONFIG;
  if (asprintf(&e->dlq, "%s%s", c->topic_prefix, c->dlq_topic) < 0) abort();
  if (e->proc->store &&
      asprintf(&e->changelog, "%s%s.%s.changelog", c->topic_prefix, c->app_id, e->proc->store->name) < 0)
    abort();
  return gl_connect_clients(e, errstr, errlen);
}

/* ---- Cron, routes, shutdown -------------------------------------------- */

/* Redis-style: one periodic timer, with slower work in run-with-period blocks. */
#define GL_CRON_MS 10
#define gl_run_with_period(e, ms) if (((e)->cron_runs % ((ms) / GL_CRON_MS)) == 0)

/* The fallback poll: an idle consumer must still be served, and the
 * merge's max.idle.ms and the commit interval need a clock. */
/* Buffered records settled (gl_settle.h): take them now, not at the
 * next cron. */
static void gl_settle_wake_cb(uv_async_t *h) {
  gl_engine_t *e = h->data;
  if (!e->closed) gl_engine_pump(e);
}

static void gl_cron_cb(uv_timer_t *h) {
  gl_engine_t *e = h->data;
  e->cron_runs++;
  gl_engine_pump(e);
  gl_engine_settle(e);
  /* A bounded run's end: first commit what is open (an abort rewinds and
   * un-reaches the bounds, and processing goes on), then drain. */
  if (gl_bound_reached_all(e)) {
    if (e->txn_state == GL_TXN_OPEN) {
      gl_engine_commit_now(e);
    } else if (e->txn_state == GL_TXN_IDLE) {
      char why[160];
      snprintf(why, sizeof why,
               "bounded run: every input partition reached its bound; %lld records processed",
               (long long)e->records_processed);
      gl_engine_drain(e, why);
    }
  }
  gl_run_with_period(e, 1000) gl_health_update(e);
  gl_run_with_period(e, 100) gl_owners_poll(e);
  gl_run_with_period(e, 500) gl_standby_poll(e);
}

void gl_engine_drain(gl_engine_t *e, const char *why) {
  if (e->stopping || e->closed) return;
  if (why) gl_info(e->log, "stopping", "%s: draining, committing and exiting", why);
  e->stopping = true;
  gl_engine_set_state(e, GL_ENGINE_DRAINING);
  atomic_store(&e->connect_stop, true);
  /* While connecting, the connection's end (gl_connect.c) closes. */
  if (!gl_txn_busy(e) && (e->connected || !e->started)) gl_engine_finish_stop(e);
}

static void gl_route_health(void *opaque, const char *path, gl_http_response_t *r) {
  gl_health_http(opaque, path, r);
}

/* For systemd (gl_shell.h): started once connected, ready as /readyz says. */
static const char *gl_engine_status(void *opaque, bool *started, char *buf, size_t len) {
  gl_engine_t *e = opaque;
  *started = e->connected;
  return gl_health_not_ready(e, buf, len);
}

static void gl_route_processor(void *opaque, const char *path, gl_http_response_t *r) {
  gl_engine_t *e = opaque;
  e->proc->http(e, path, r, e->proc->opaque);
}

static void gl_engine_metrics_init(gl_engine_t *e) {
  static const double lat[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};
  static const double recs[] = {1, 10, 100, 1000, 10000};
  gl_metrics_t *m = e->metrics;
  e->m_records = gl_metrics_counter(m, "greenlight_records_processed_total", "Input records processed.", NULL);
  e->m_overlap_records = gl_metrics_counter(
      m, "greenlight_records_processed_during_commit_total",
      "Input records processed while a commit ran, their outputs held for the next transaction.",
      NULL);
  e->m_commits = gl_metrics_counter(m, "greenlight_commits_total", "Transactions committed.", NULL);
  e->m_aborts = gl_metrics_counter(m, "greenlight_aborts_total", "Transactions aborted and rewound.", NULL);
  e->m_commit_latency = gl_metrics_histogram(m, "greenlight_commit_latency_seconds",
                                             "Time to commit a transaction.", NULL, lat, 11);
  e->m_txn_records = gl_metrics_histogram(m, "greenlight_transaction_records",
                                          "Input records per committed transaction.", NULL, recs, 5);
  e->m_restore_records = gl_metrics_counter(m, "greenlight_restore_records_total",
                                            "Changelog records read while restoring state.", NULL);
  e->m_tasks_restoring = gl_metrics_gauge(m, "greenlight_partitions_restoring",
                                          "Partition groups still restoring their state.", NULL);
  e->m_idle_waits = gl_metrics_counter(m, "greenlight_merge_idle_expired_total",
                                       "Records taken after waiting max.idle.ms for a lagging input.", NULL);
  e->m_open_records = gl_metrics_gauge(m, "greenlight_uncommitted_records",
                                       "Input records processed in the transaction not yet committed.",
                                       NULL);
  e->m_consecutive_aborts = gl_metrics_gauge(m, "greenlight_consecutive_aborts",
                                             "Transactions aborted in a row since the last commit.", NULL);
  e->m_ready = gl_metrics_gauge(m, "greenlight_ready", "1 when /readyz answers 200.", NULL);
  char labels[64];
  for (int i = 0; i < GL_ENGINE_STATE_COUNT; i++) {
    snprintf(labels, sizeof labels, "state=\"%s\"", gl_engine_state_name((gl_engine_state_t)i));
    e->m_state[i] = gl_metrics_gauge(m, "greenlight_engine_state",
                                     "1 for the engine's current state (starting, restoring, running, rebalancing, draining, closed, failed).",
                                     labels);
  }
  for (int i = 0; i < GL_TXN_STATE_COUNT; i++) {
    snprintf(labels, sizeof labels, "state=\"%s\"", gl_txn_state_name((gl_txn_state_t)i));
    e->m_txn_state[i] = gl_metrics_gauge(m, "greenlight_txn_state",
                                         "1 for the transaction cycle's current state (idle, open, committing, aborting, fatal).",
                                         labels);
  }
  gl_engine_dlq_reasons(e, gl_runtime_dlq_reasons);
  gl_series_set(e->m_state[GL_ENGINE_STARTING], 1);
  gl_series_set(e->m_txn_state[GL_TXN_IDLE], 1);
}

void gl_engine_destroy(gl_engine_t *e) {
  if (!e) return;
  if (e->consumer) {
    /* Closing the consumer runs the final revocation (nothing left to commit). */
    rd_kafka_consumer_close(e->consumer);
    gl_rebalance_drop_tasks(e);
  }
  if (e->restorer) rd_kafka_consumer_close(e->restorer);
  gl_standby_destroy(e);
  gl_kafka_qpoll_destroy(&e->cons_io);
  gl_kafka_qpoll_destroy(&e->prod_io);
  gl_kafka_qpoll_destroy(&e->rest_io);
  if (e->restore_q) rd_kafka_queue_destroy(e->restore_q);
  if (e->restore_topic) rd_kafka_topic_destroy(e->restore_topic);
  for (int i = 0; i < e->nout_topics; i++) rd_kafka_topic_destroy(e->out_topics[i]);
  free(e->out_topics);
  gl_owners_destroy(e); /* After the consumer's close, which published "nothing". */
  gl_poison_destroy(e);
  gl_overlap_destroy(e);
  if (e->consumer) rd_kafka_destroy(e->consumer);
  if (e->settle_started) gl_settle_destroy(&e->settle); /* After its consumer. */
  if (e->restorer) rd_kafka_destroy(e->restorer);
  if (e->prober) rd_kafka_destroy(e->prober);
  if (e->producer) {
    if (!e->eos) rd_kafka_flush(e->producer, 10000);
    rd_kafka_destroy(e->producer);
  }
  for (int i = 0; i < e->ninputs; i++) free(e->inputs[i]);
  free(e->inputs);
  gl_outputs_free(e->outputs, e->noutputs);
  free(e->dlq);
  free(e->changelog);
  free(e->bound_given);
  free(e->connect_ends);
  free(e->bound_ends);
  free(e->group);
  free(e->member);
  uv_mutex_destroy(&e->connect_lock);
  free(e->tasks);
  free(e);
}


int gl_engine_new(gl_engine_t **out, gl_shell_t *sh, const gl_engine_conf_t *conf,
                  const gl_processor_t *proc, char *errstr, size_t errlen) {
  *out = NULL;
  gl_engine_t *e = calloc(1, sizeof(*e));
  if (!e) {
    snprintf(errstr, errlen, "out of memory");
    return GL_ENOMEM;
  }
  e->sh = sh;
  e->loop = &sh->loop;
  e->log = &sh->log;
  e->metrics = sh->metrics;
  e->conf = *conf;
  e->proc = proc;
  uv_mutex_init(&e->connect_lock);
  gl_engine_metrics_init(e);
  gl_standby_init(e);
  if (gl_owners_advertise(e, gl_shell_http_port(sh) > 0 ? gl_shell_http_port(sh) : 0, errstr,
                          errlen) < 0 ||
      gl_engine_setup(e, errstr, errlen) < 0) {
    gl_engine_destroy(e);
    return GL_ECONFIG;
  }
  gl_shell_route(sh, "/healthz", gl_route_health, e);
  gl_shell_route(sh, "/readyz", gl_route_health, e);
  gl_shell_on_status(sh, gl_engine_status, e);
  if (proc->http) gl_shell_route(sh, "/", gl_route_processor, e);
  *out = e;
  return GL_OK;
}

int gl_engine_start(gl_engine_t *e) {
  if (e->started || e->stopping || e->closed) return GL_ESTATE;
  e->started = true;
  uv_timer_init(e->loop, &e->cron);
  e->cron.data = e;
  uv_timer_start(&e->cron, gl_cron_cb, GL_CRON_MS, GL_CRON_MS);
  uv_async_init(e->loop, &e->settle_wake, gl_settle_wake_cb);
  e->settle_wake.data = e;
  gl_settle_init(&e->settle, &e->settle_wake);
  e->settle_started = true;
  /* The broker may not be there yet: wait for it off the loop. */
  gl_connect_start(e);
  return GL_OK;
}

void gl_engine_on_closed(gl_engine_t *e, gl_engine_closed_fn cb, void *arg) {
  e->on_closed = cb;
  e->on_closed_arg = arg;
}

void gl_engine_stop(gl_engine_t *e, gl_engine_closed_fn cb, void *arg) {
  if (cb) gl_engine_on_closed(e, cb, arg);
  if (e->closed) {
    /* Closed already (a bounded run's end, a fatal error): say so now. */
    gl_engine_closed_fn f = e->on_closed;
    e->on_closed = NULL;
    if (f) f(e, e->on_closed_arg);
    return;
  }
  /* The process is failing (a fatal error reached the shell): nothing
   * would commit any more. */
  if (e->sh->exit_code != 0) {
    gl_engine_fail(e);
    return;
  }
  /* After a signal the shell has said so already. */
  gl_engine_drain(e, e->sh->stopping ? NULL : "asked to stop");
}

int gl_engine_result(const gl_engine_t *e) { return e->result; }
gl_engine_state_t gl_engine_state(const gl_engine_t *e) { return e->state; }

/* ---- The whole life of a daemon ----------------------------------------- */

typedef struct gl_daemon {
  gl_shell_t sh;
  gl_engine_conf_t conf;
  gl_engine_t *e;
  gl_processor_t *proc;
  void *extra_conf;
  int (*on_config)(void *, gl_processor_t *, char *, size_t);
} gl_daemon_t;

/* The daemon's own judgement of its settings and the engine's of the
 * outputs, so that --check-config refuses what a start would. */
static int gl_daemon_check(gl_shell_t *sh, void *opaque, char *errstr, size_t errlen) {
  gl_daemon_t *d = opaque;
  gl_output_t *outs = NULL;
  int n = 0, rc = gl_outputs_parse(d->proc, &d->conf, &outs, &n, errstr, errlen);
  gl_outputs_free(outs, n);
  if (rc == GL_OK &&
      gl_connect_group_protocol_check(&d->conf, gl_conf_kafka_pairs(&sh->conf), errstr, errlen) < 0)
    rc = GL_ECONFIG;
  if (rc == GL_OK && d->on_config && d->on_config(d->extra_conf, d->proc, errstr, errlen) < 0)
    rc = GL_ECONFIG;
  return rc;
}

static void gl_daemon_closed(gl_engine_t *e, void *arg) {
  (void)e;
  gl_shell_close(&((gl_daemon_t *)arg)->sh);
}

static void gl_daemon_stop(gl_shell_t *sh, void *opaque) {
  (void)sh;
  gl_daemon_t *d = opaque;
  gl_engine_stop(d->e, gl_daemon_closed, d);
}

int gl_engine_main(int argc, char **argv, gl_processor_t *proc, const char *const *defaults,
                   const gl_conf_prop_t *extra_props, void *extra_conf,
                   int (*on_config)(void *, gl_processor_t *, char *, size_t)) {
  char errstr[1024] = "";
  gl_daemon_t *d = calloc(1, sizeof(*d));
  if (!d) abort();
  d->proc = proc;
  d->extra_conf = extra_conf;
  d->on_config = on_config;
  int rc = gl_shell_init(&d->sh, proc->name, argv[0]);
  d->sh.conf.summary = proc->summary;
  if (rc == GL_OK)
    rc = gl_conf_add_table(&d->sh.conf, gl_engine_conf_props, &d->conf, errstr, sizeof errstr);
  if (rc == GL_OK && extra_props)
    rc = gl_conf_add_table(&d->sh.conf, extra_props, extra_conf, errstr, sizeof errstr);
  gl_shell_on_check(&d->sh, gl_daemon_check, d);
  if (rc == GL_OK) rc = gl_shell_configure(&d->sh, argc, argv, defaults, errstr, sizeof errstr);
  /* The admin port first: it answers from the first second, and its port
   * goes into this instance's owners claim. */
  if (rc == GL_OK) rc = gl_shell_listen(&d->sh, errstr, sizeof errstr);
  if (rc == GL_OK) rc = gl_engine_new(&d->e, &d->sh, &d->conf, proc, errstr, sizeof errstr);
  int code;
  bool ran = false;
  if (rc != GL_OK) {
    if (rc < 0) gl_error(&d->sh.log, "config", "%s", errstr); /* One JSON line, nothing else. */
    code = rc > 0 ? GL_EXIT_OK : gl_exit_code(rc);
  } else {
    gl_shell_on_stop(&d->sh, gl_daemon_stop, d);
    gl_engine_on_closed(d->e, gl_daemon_closed, d);
    gl_engine_start(d->e);
    code = gl_shell_run(&d->sh);
    if (code == GL_EXIT_OK) code = gl_exit_code(gl_engine_result(d->e));
    ran = true;
  }
  gl_log_t log = d->sh.log;
  gl_engine_destroy(d->e);
  /* Closing the clients can still report a fatal error, which the shell
   * acts on as it goes: it counts. */
  gl_shell_destroy(&d->sh);
  if (code == GL_EXIT_OK && d->sh.exit_code != 0) code = d->sh.exit_code;
  if (ran)
    gl_log_kv(&log, GL_LOG_INFO, "exit", GL_LOG_FIELDS(GL_LOG_INT("exit_code", code)),
              "exiting with status %d", code);
  free(d);
  return code;
}
