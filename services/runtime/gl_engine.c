/* gl_engine: the engine's life: its settings, its states, the loop that
 * drives the clients (cron, signals, admin HTTP), and shutdown. The record
 * context is in gl_ctx.c, the processing of records in gl_process.c,
 * rebalances in gl_rebalance.c, the merge in gl_task.c, the transaction
 * cycle in gl_txn.c, the start in gl_connect.c. */
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "gl_engine_int.h"

extern char **environ;

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
     "Comma-separated output topics."},
    {"dlq.topic", GL_CONF_STR, "greenlight.dlq", 1, 0, NULL, GL_OFF(dlq_topic),
     "Dead-letter topic for records that cannot be decoded, validated or applied."},
    {"processing.guarantee", GL_CONF_ENUM, "exactly_once", 0, 0, "exactly_once|at_least_once",
     GL_OFF(guarantee), "exactly_once: one Kafka transaction per commit; at_least_once: for comparison."},
    {"commit.interval.ms", GL_CONF_INT, "100", 1, 600000, NULL, GL_OFF(commit_interval_ms),
     "Commit the open transaction at least this often."},
    {"commit.max.records", GL_CONF_INT, "1000", 1, 10000000, NULL, GL_OFF(commit_max_records),
     "Commit once this many input records were processed in the transaction."},
    {"max.idle.ms", GL_CONF_INT, "1000", 0, 600000, NULL, GL_OFF(max_idle_ms),
     "How long the merge waits for an input with nothing buffered that is not caught up (records appended but not fetched yet, or an upstream transaction still open)."},
    {"buffer.max.records", GL_CONF_INT, "2000", 2, 10000000, NULL, GL_OFF(buffer_max_records),
     "Records buffered per input partition before it is paused (back-pressure)."},
    {"http.host", GL_CONF_STR, "127.0.0.1", 0, 0, NULL, GL_OFF(http_host),
     "Address of the HTTP port (/healthz, /metrics, state queries)."},
    {"http.port", GL_CONF_INT, "0", -1, 65535, NULL, GL_OFF(http_port),
     "HTTP port; 0 picks a free one (logged), -1 disables HTTP."},
    {"http.advertised.url", GL_CONF_STR, "", 0, 0, NULL, GL_OFF(http_advertised_url),
     "This instance's HTTP address as other instances name it to callers they cannot serve; empty = http://<http.host, or the host name for a wildcard>:<port>."},
    {"log.level", GL_CONF_ENUM, "info", 0, 0, "debug|info|warn|error", GL_OFF(log_level),
     "Least severe level logged."},
    {"fault.abort.every", GL_CONF_INT, "0", 0, 1000000, NULL, GL_OFF(fault_abort_every),
     "Testing only: abort every Nth transaction on the broker, as an abortable error would (0 = never)."},
    {"record.max.bytes", GL_CONF_INT, "1000000", 1024, 100000000, NULL, GL_OFF(record_max_bytes),
     "Largest output record (key + value + headers) produced; keep it at or below the producer's message.max.bytes and the topics' max.message.bytes. A record whose output would be larger goes to the DLQ (output_too_large); a DLQ copy is cut to fit."},
    {"time.max.forward.ms", GL_CONF_INT, "86400000", 1, INT64_MAX, NULL, GL_OFF(time_max_forward_ms),
     "How far ahead of both the partition group's event time and its own record timestamp one record's occurred_at_ms may be; beyond, it goes to the DLQ (time_out_of_bounds) and moves no time."},
    {"merge.settle.ms", GL_CONF_INT, "50", 0, 10000, NULL, GL_OFF(merge_settle_ms),
     "How long a buffered record waits before an input with nothing buffered counts as caught up against it: librdkafka reads one fetch response partition by partition, and another input's records of the same response may still be on their way."},
    {"stop.at", GL_CONF_ENUM, "never", 0, 0, "never|end", GL_OFF(stop_at),
     "never: run until signalled. end: a bounded run: capture each input partition's end offset (high watermark) when connected, process up to it, commit and exit 0."},
    {"stop.at.time.ms", GL_CONF_INT, "0", 0, INT64_MAX, NULL, GL_OFF(stop_at_time_ms),
     "A bounded run by time (epoch ms, 0 = none): records stamped at or after it are not processed; once every input partition has one waiting (or reached stop.at=end's offset), commit and exit 0."},
    {"startup.timeout.ms", GL_CONF_INT, "120000", 1000, 86400000, NULL, GL_OFF(startup_timeout_ms),
     "How long a start waits for the broker and the topics (answering /healthz meanwhile) before it exits 1 for a supervisor to retry."},
    {NULL, 0, NULL, 0, 0, NULL, 0, NULL}};

uint64_t gl_now_ms(void) { return uv_hrtime() / 1000000; }

int gl_engine_set_state(gl_engine_t *e, gl_engine_state_t to) {
  gl_engine_state_t from = e->state;
  if (gl_engine_state_move(&e->state, to) < 0) {
    gl_error(&e->log, "bug", "engine state %s -> %s refused: not a transition of the machine",
             gl_engine_state_name(from), gl_engine_state_name(to));
    return GL_ESTATE;
  }
  if (from == to) return GL_OK;
  gl_series_set(e->m_state[from], 0);
  gl_series_set(e->m_state[to], 1);
  gl_debug(&e->log, "state", "engine %s -> %s", gl_engine_state_name(from), gl_engine_state_name(to));
  return GL_OK;
}

int gl_txn_set_state(gl_engine_t *e, gl_txn_state_t to) {
  gl_txn_state_t from = e->txn_state;
  if (gl_txn_state_move(&e->txn_state, to) < 0) {
    gl_error(&e->log, "bug", "transaction state %s -> %s refused: not a transition of the machine",
             gl_txn_state_name(from), gl_txn_state_name(to));
    return GL_ESTATE;
  }
  if (from == to) return GL_OK;
  gl_series_set(e->m_txn_state[from], 0);
  gl_series_set(e->m_txn_state[to], 1);
  return GL_OK;
}

void gl_engine_settle(gl_engine_t *e) {
  if (!e->connected) return; /* Starting until the clients are connected and subscribed. */
  if (e->state != GL_ENGINE_STARTING && e->state != GL_ENGINE_RESTORING &&
      e->state != GL_ENGINE_RUNNING && e->state != GL_ENGINE_REBALANCING)
    return;
  bool restoring = false;
  for (int p = 0; p < e->ntasks && !restoring; p++)
    restoring = e->tasks[p] && e->tasks[p]->state == GL_TASK_RESTORING;
  gl_engine_set_state(e, restoring ? GL_ENGINE_RESTORING : GL_ENGINE_RUNNING);
}

void gl_engine_fatal(gl_engine_t *e, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  gl_error(&e->log, "fatal", "%s; exiting so that a supervisor restarts the daemon", msg);
  e->exit_code = 1;
  if (e->state != GL_ENGINE_CLOSED) gl_engine_set_state(e, GL_ENGINE_FAILED);
  gl_engine_close(e);
}

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

/* The processor's outputs, named in its description, mapped to the topics
 * of output.topics: "topic" entries in the order of the names, or
 * "name=topic" entries in any order. */
static int gl_outputs_resolve(gl_engine_t *e, char *errstr, size_t errlen) {
  int want = 0, given = 0;
  while (e->proc->outputs && e->proc->outputs[want]) want++;
  char **topics = gl_split_topics("", e->conf.output_topics, &given);
  e->outputs = calloc((size_t)want + 1, sizeof(*e->outputs));
  if (!e->outputs) abort();
  e->noutputs = want;
  for (int i = 0; i < want; i++) e->outputs[i].name = e->proc->outputs[i];
  int rc = GL_OK;
  for (int i = 0; i < given && rc == GL_OK; i++) {
    char *eq = strchr(topics[i], '=');
    gl_output_t *o = i < want ? &e->outputs[i] : NULL;
    if (eq) {
      *eq = 0;
      o = gl_engine_output(e, topics[i]);
    }
    const char *topic = eq ? eq + 1 : topics[i];
    if (!o || o->topic || !*topic) {
      rc = GL_ECONFIG;
    } else if (asprintf(&o->topic, "%s%s", e->conf.topic_prefix, topic) < 0) {
      abort();
    }
  }
  for (int i = 0; i < want && rc == GL_OK; i++)
    if (!e->outputs[i].topic) rc = GL_ECONFIG;
  for (int i = 0; i < given; i++) free(topics[i]);
  free(topics);
  if (rc == GL_OK) return GL_OK;
  char names[256] = "";
  for (int i = 0; i < want; i++)
    snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "",
             e->outputs[i].name);
  snprintf(errstr, errlen,
           "config: output.topics = '%s': expected %d topic%s, one per output (%s), "
           "as \"topic,...\" in that order or \"name=topic,...\"",
           e->conf.output_topics, want, want == 1 ? "" : "s", names);
  return GL_ECONFIG;
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
  if (gl_outputs_resolve(e, errstr, errlen) < 0) return GL_ECONFIG;
  gl_bound_init(e);
  if (e->proc->open && e->proc->open(e->proc->opaque, e, errstr, errlen) < 0) return GL_ECONFIG;
  if (asprintf(&e->dlq, "%s%s", c->topic_prefix, c->dlq_topic) < 0) abort();
  if (e->proc->store &&
      asprintf(&e->changelog, "%s%s.%s.changelog", c->topic_prefix, c->app_id, e->proc->store->name) < 0)
    abort();
  return gl_connect_clients(e, errstr, errlen);
}

/* ---- Cron, signals, HTTP, shutdown ------------------------------------ */

/* Redis-style: one periodic timer, with slower work in run-with-period blocks. */
#define GL_CRON_MS 10
#define gl_run_with_period(e, ms) if (((e)->cron_runs % ((ms) / GL_CRON_MS)) == 0)

static void gl_cron_cb(uv_timer_t *h) {
  gl_engine_t *e = h->data;
  e->cron_runs++;
  /* The fallback poll: an idle consumer must still be served, and the
   * merge's max.idle.ms and the commit interval need a clock. */
  /* A fatal error reported on another thread ends the daemon here. */
  if (atomic_load(&e->fatal_pending) && !e->closed) {
    gl_engine_fatal(e, "%s", e->fatal_msg);
    return;
  }
  gl_engine_pump(e);
  gl_engine_settle(e);
  if (gl_bound_done(e)) {
    char why[160];
    snprintf(why, sizeof why, "bounded run: every input partition reached its bound; %lld records processed",
             (long long)e->records_processed);
    gl_engine_stop(e, why);
  }
  gl_run_with_period(e, 1000) gl_health_update(e);
  gl_run_with_period(e, 100) gl_owners_poll(e);
}

static void gl_signal_cb(uv_signal_t *h, int signum) {
  char why[64];
  snprintf(why, sizeof why, "signal %d", signum);
  gl_engine_stop(h->data, why);
}

void gl_engine_stop(gl_engine_t *e, const char *why) {
  if (e->stopping) return;
  gl_info(&e->log, "stopping", "%s: draining, committing and exiting", why);
  e->stopping = true;
  gl_engine_set_state(e, GL_ENGINE_DRAINING);
  atomic_store(&e->connect_stop, true);
  /* While connecting, the connection's end (gl_connect.c) closes. */
  if (!gl_txn_busy(e) && (e->connected || !e->consumer)) gl_engine_finish_stop(e);
}

static void gl_http_cb(void *opaque, const char *method, const char *path, gl_http_response_t *r) {
  gl_engine_t *e = opaque;
  (void)method;
  if (strcmp(path, "/metrics") == 0) {
    r->status = 200;
    r->content_type = "text/plain; version=0.0.4; charset=utf-8";
    r->body_len = gl_metrics_render(e->metrics, &r->body);
    return;
  }
  if (strcmp(path, "/healthz") == 0 || strcmp(path, "/readyz") == 0) {
    gl_health_http(e, path, r);
    return;
  }
  if (e->proc->http) e->proc->http(e, path, r, e->proc->opaque);
}

static void gl_close_handle(uv_handle_t *h) {
  if (h->loop && !uv_is_closing(h)) uv_close(h, NULL);
}

/* Stops everything: Kafka clients are closed after the loop ends. */
void gl_engine_close(gl_engine_t *e) {
  if (e->closed) return;
  e->closed = true;
  if (e->state != GL_ENGINE_FAILED) gl_engine_set_state(e, GL_ENGINE_CLOSED);
  gl_close_handle((uv_handle_t *)&e->cron);
  gl_close_handle((uv_handle_t *)&e->sigterm);
  gl_close_handle((uv_handle_t *)&e->sigint);
  gl_kafka_qpoll_stop(&e->cons_io);
  gl_kafka_qpoll_stop(&e->prod_io);
  gl_kafka_qpoll_stop(&e->rest_io);
  if (e->http) {
    gl_http_close(e->http, NULL, NULL);
    e->http = NULL;
  }
}

void gl_engine_finish_stop(gl_engine_t *e) {
  if (e->closed) return;
  if (e->txn_state == GL_TXN_OPEN && gl_txn_commit_sync(e) != GL_COMMIT_OK) {
    gl_error(&e->log, "stop", "final commit failed: %s", e->commit_err);
    e->exit_code = 1;
  }
  gl_engine_close(e);
}

static void gl_engine_destroy(gl_engine_t *e) {
  if (e->consumer) {
    /* Closing the consumer runs the final revocation (nothing left to commit). */
    rd_kafka_consumer_close(e->consumer);
    gl_rebalance_drop_tasks(e);
  }
  if (e->restorer) rd_kafka_consumer_close(e->restorer);
  gl_kafka_qpoll_destroy(&e->cons_io);
  gl_kafka_qpoll_destroy(&e->prod_io);
  gl_kafka_qpoll_destroy(&e->rest_io);
  gl_owners_destroy(e); /* After the consumer's close, which published "nothing". */
  gl_poison_destroy(e);
  if (e->consumer) rd_kafka_destroy(e->consumer);
  if (e->restorer) rd_kafka_destroy(e->restorer);
  if (e->prober) rd_kafka_destroy(e->prober);
  if (e->producer) {
    if (!e->eos) rd_kafka_flush(e->producer, 10000);
    rd_kafka_destroy(e->producer);
  }
  for (int i = 0; i < e->ninputs; i++) free(e->inputs[i]);
  for (int i = 0; i < e->noutputs; i++) free(e->outputs[i].topic);
  free(e->inputs);
  free(e->outputs);
  free(e->dlq);
  free(e->changelog);
  free(e->bound_given);
  free(e->connect_ends);
  free(e->bound_ends);
  free(e->group);
  free(e->member);
  uv_mutex_destroy(&e->connect_lock);
  free(e->tasks);
  gl_metrics_destroy(e->metrics);
  gl_conf_destroy(&e->gconf);
  uv_loop_close(&e->loop);
  free(e);
}

static void gl_engine_metrics_init(gl_engine_t *e) {
  static const double lat[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};
  static const double recs[] = {1, 10, 100, 1000, 10000};
  gl_metrics_t *m = e->metrics = gl_metrics_new();
  e->m_records = gl_metrics_counter(m, "greenlight_records_processed_total", "Input records processed.", NULL);
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
  e->m_lag = gl_metrics_gauge(m, "greenlight_consumer_lag_records",
                              "Input records not yet committed (high watermark minus the last committed offset).", NULL);
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
  gl_series_set(e->m_state[GL_ENGINE_STARTING], 1);
  gl_series_set(e->m_txn_state[GL_TXN_IDLE], 1);
}

int gl_engine_main(int argc, char **argv, gl_processor_t *proc, const char *const *defaults,
                   const gl_conf_prop_t *extra_props, void *extra_conf,
                   int (*on_config)(void *, gl_processor_t *, char *, size_t)) {
  char errstr[1024] = "";
  gl_engine_t *e = calloc(1, sizeof(*e));
  if (!e) abort();
  e->proc = proc;
  const char *prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
  gl_conf_init(&e->gconf, prog);
  gl_log_init(&e->log, proc->name, GL_LOG_INFO);
  signal(SIGPIPE, SIG_IGN); /* A peer closing a socket must not kill the daemon. */
  uv_loop_init(&e->loop);
  uv_mutex_init(&e->connect_lock);
  gl_engine_metrics_init(e);
  int rc = gl_conf_add_table(&e->gconf, gl_engine_conf_props, &e->conf, errstr, sizeof(errstr));
  if (rc == 0 && extra_props)
    rc = gl_conf_add_table(&e->gconf, extra_props, extra_conf, errstr, sizeof(errstr));
  for (const char *const *d = defaults; rc == 0 && d && *d; d += 2)
    rc = gl_conf_set(&e->gconf, d[0], d[1], errstr, sizeof(errstr));
  if (rc == 0) rc = gl_conf_load(&e->gconf, argc, argv, environ, errstr, sizeof(errstr));
  if (rc == 0) gl_log_level_parse(e->conf.log_level, &e->log.level);
  if (rc == 0 && on_config) rc = on_config(extra_conf, proc, errstr, sizeof(errstr));
  /* --check-config and a start judge http.host alike. */
  if (rc == 0 && e->conf.http_port >= 0 &&
      gl_http_check_host(e->conf.http_host, errstr, sizeof(errstr)) < 0)
    rc = -1;
  if (rc == 0 && e->gconf.check) rc = gl_conf_check(&e->gconf, stdout, errstr, sizeof(errstr));
  /* HTTP first: its port goes into this instance's owners claim. A port in
   * use is not a bad setting (exit 1, a supervisor retries); a host that
   * is not this machine's is (exit 2). */
  int exit_on_error = 2;
  if (rc == 0 && e->conf.http_port >= 0) {
    int herr = gl_http_listen(&e->http, &e->loop, e->conf.http_host, (int)e->conf.http_port,
                              gl_http_cb, e, errstr, sizeof(errstr));
    if (herr < 0) {
      rc = -1;
      if (!gl_http_bad_setting(herr)) exit_on_error = 1;
    } else {
      gl_info(&e->log, "http", "listening on http://%s:%d (/healthz, /readyz, /metrics)",
              e->conf.http_host, gl_http_port(e->http));
    }
  }
  if (rc == 0 && gl_owners_advertise(e, e->http ? gl_http_port(e->http) : 0, errstr,
                                     sizeof(errstr)) < 0)
    rc = -1;
  if (rc == 0 && gl_engine_setup(e, errstr, sizeof(errstr)) < 0) rc = -1;
  if (rc != 0) {
    if (rc < 0) {
      gl_error(&e->log, "config", "%s", errstr);
      fprintf(stderr, "%s: %s\n", prog, errstr);
    }
    gl_engine_close(e);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    gl_engine_destroy(e);
    return rc < 0 ? exit_on_error : 0;
  }
  uv_timer_init(&e->loop, &e->cron);
  e->cron.data = e;
  uv_timer_start(&e->cron, gl_cron_cb, GL_CRON_MS, GL_CRON_MS);
  uv_signal_init(&e->loop, &e->sigterm);
  uv_signal_init(&e->loop, &e->sigint);
  e->sigterm.data = e->sigint.data = e;
  uv_signal_start(&e->sigterm, gl_signal_cb, SIGTERM);
  uv_signal_start(&e->sigint, gl_signal_cb, SIGINT);
  /* The broker may not be there yet: wait for it off the loop. */
  gl_connect_start(e);
  uv_run(&e->loop, UV_RUN_DEFAULT);
  int code = e->exit_code;
  gl_info(&e->log, "exit", "exiting with status %d", code);
  gl_engine_destroy(e);
  return code;
}
