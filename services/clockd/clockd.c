/* greenlight-clockd: the clock daemon (SPEC §5). Every tick.interval.ms it
 * appends one Tick record to every partition of the clock topic, so that the
 * order daemon's deadlines (approval expiry, park TTL) fire on event time
 * even when no business event arrives, and a replay of the log sees the same
 * ticks. This is the only place where wall-clock time enters greenlight, and
 * it does so by being recorded in the log.
 *
 * One round stamps every partition with the same occurred_at_ms, which never
 * goes backwards: if the wall clock steps back, the last value is repeated
 * until the clock catches up. The partition count is read from the metadata
 * on the libuv thread pool (clockd_connect.c): at start, until the broker
 * answers and the clock topic exists or startup.timeout.ms has passed (then
 * exit 1, for a supervisor to retry), and every 30 s afterwards, so that
 * partitions added later get ticks too.
 *
 * Everything else runs on the process shell's libuv loop (gl_shell.h): the
 * tick timer, SIGTERM/SIGINT (flush with a deadline, exit 0), the
 * producer's queue (io events on a pipe, and a fallback timer), and
 * /healthz, /readyz (clockd_health.c) and /metrics on the loopback HTTP
 * port, which answer from the start.
 *
 * Exit codes: 0 after SIGTERM or tick.count rounds; 2 for a bad setting
 * (a supervisor should not retry); 1 for everything else (no broker, no
 * clock topic, the HTTP port in use, a fatal producer error). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "greenlight/gl_codec.h"

#include "clockd_int.h"

#define CLOCKD_SOURCE "greenlight.clockd"
#define CLOCKD_KEY "tick"
#define CLOCKD_FLUSH_MS 10000 /* Deadline for delivering what is queued at shutdown. */
#define CLOCKD_CRON_MS 250    /* The fallback poll and the readiness gauge. */
/* The event id "<clock.id>-<partition>-<ms>" must fit GL_ID_MAX: leave room for the numbers. */
#define CLOCKD_ID_MAX (GL_ID_MAX - 32)

#define CLOCKD_OFF(f) offsetof(clockd_conf_t, f)
static const gl_conf_prop_t clockd_props[] = {
    {"topic.prefix", GL_CONF_STR, "", 0, 0, NULL, CLOCKD_OFF(topic_prefix),
     "Prepended to the clock topic's name, so several environments can share a cluster."},
    {"clock.topic", GL_CONF_STR, "greenlight.clock", 0, 0, NULL, CLOCKD_OFF(clock_topic),
     "The clock topic; every one of its partitions gets a Tick per round."},
    {"clock.id", GL_CONF_STR, "", 0, 0, NULL, CLOCKD_OFF(clock_id),
     "This clock's id, in Tick.clock_id and the event ids (default: the host name)."},
    {"tick.interval.ms", GL_CONF_INT, "1000", 1, 3600000, NULL, CLOCKD_OFF(tick_interval_ms),
     "Time between two rounds of ticks."},
    {"tick.count", GL_CONF_INT, "0", 0, INT64_MAX, NULL, CLOCKD_OFF(tick_count),
     "Stop after this many rounds (for tests and one-off use); 0 = run until SIGTERM."},
    /* An alias: both entries fill the same field. */
    {"ticks", GL_CONF_INT, "0", 0, INT64_MAX, NULL, CLOCKD_OFF(tick_count),
     "Short for tick.count: --ticks N stops after N rounds."},
    {"startup.timeout.ms", GL_CONF_INT, "120000", 1000, 86400000, NULL,
     CLOCKD_OFF(startup_timeout_ms),
     "How long a start waits for the broker and the clock topic (answering /healthz meanwhile) before it exits 1 for a supervisor to retry."},
    {NULL, 0, NULL, 0, 0, NULL, 0, NULL}};

static int64_t clockd_wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- Shutdown ---------------------------------------------------------- */

/* Closes every handle, the shell's too, so that the loop ends once the
 * pool's work has returned; the Kafka client is destroyed after it. */
static void clockd_close_all(clockd_t *d) {
  d->stopping = true;
  atomic_store(&d->connect_stop, true);
  uv_handle_t *hs[] = {(uv_handle_t *)&d->tick_timer, (uv_handle_t *)&d->meta_timer,
                       (uv_handle_t *)&d->cron};
  for (size_t i = 0; i < sizeof(hs) / sizeof(hs[0]); i++)
    if (hs[i]->loop && !uv_is_closing(hs[i])) uv_close(hs[i], NULL);
  gl_kafka_qpoll_stop(&d->qpoll);
  /* Work already running cannot be cancelled: connect_stop ends it soon. */
  if (d->meta_busy) uv_cancel((uv_req_t *)&d->meta_work);
  if (d->connect_busy) uv_cancel((uv_req_t *)&d->connect_work);
  gl_shell_close(&d->sh);
}

/* Stops ticking, delivers what is queued (within CLOCKD_FLUSH_MS, unless a
 * fatal error makes that pointless), drops the rest and closes the loop. */
void clockd_stop(clockd_t *d, const char *why) {
  if (d->stopping) return;
  bool deliver = d->produced > 0 && d->sh.exit_code == 0;
  if (why || deliver)
    gl_info(&d->sh.log, "stopping", "%s%s%sexiting", why ? why : "", why ? ": " : "",
            deliver ? "delivering queued ticks and " : "");
  d->stopping = true;
  atomic_store(&d->connect_stop, true);
  if (d->rk && d->produced > 0) {
    if (deliver && rd_kafka_flush(d->rk, CLOCKD_FLUSH_MS) != RD_KAFKA_RESP_ERR_NO_ERROR)
      gl_warn(&d->sh.log, "flush_timeout", "%d ticks not delivered within %d ms; dropping them",
              rd_kafka_outq_len(d->rk), CLOCKD_FLUSH_MS);
    rd_kafka_purge(d->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    while (rd_kafka_poll(d->rk, 0) > 0) {
    }
  }
  clockd_close_all(d);
}

/* The shell's stop callback: a signal (the shell logged it), or a fatal
 * error (logged, sh.exit_code 1). */
static void clockd_on_stop(gl_shell_t *sh, void *opaque) {
  clockd_stop(opaque, sh->exit_code ? "fatal error" : NULL);
}

/* ---- Kafka ------------------------------------------------------------- */

static void clockd_failure(clockd_t *d, int32_t partition, const char *what) {
  d->failed++;
  gl_series_add(d->m_failures, 1);
  snprintf(d->last_failure, sizeof(d->last_failure), "partition %" PRId32 ": %s", partition, what);
  /* The first failure of a streak is logged; the streak's end says how long it was. */
  if (d->fail_streak++ == 0)
    gl_log_kv(&d->sh.log, GL_LOG_WARN, "tick_failed",
              GL_LOG_FIELDS(GL_LOG_STR("topic", d->topic), GL_LOG_INT("partition", partition)),
              "tick for %s [%" PRId32 "]: %s", d->topic, partition, what);
}

/* Served by rd_kafka_poll() and rd_kafka_flush(): the loop thread. */
static void clockd_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  clockd_t *d = gl_shell_client_opaque(opaque);
  (void)rk;
  if (m->err) {
    clockd_failure(d, m->partition, rd_kafka_err2str(m->err));
    return;
  }
  gl_shell_brokers_up(&d->sh);
  d->delivered++;
  gl_series_add(d->m_ticks, 1);
  if (m->partition >= 0 && m->partition < d->part_cap) d->part_ok_ms[m->partition] = clockd_mono_ms();
  if (d->fail_streak > 0)
    gl_info(&d->sh.log, "tick_recovered", "ticks delivered again after %" PRId64 " failures",
            d->fail_streak);
  d->fail_streak = 0;
}

/* Serves everything the producer's queue holds (a fatal error among it
 * reaches the loop through the shell). */
static void clockd_serve(clockd_t *d) {
  while (!d->stopping && rd_kafka_poll(d->rk, 0) > 0) {
  }
}

static void clockd_queue_cb(void *arg) { clockd_serve(arg); }

/* The fallback poll (queue io events can be missed), and the readiness gauge. */
static void clockd_cron_cb(uv_timer_t *h) {
  clockd_t *d = h->data;
  clockd_serve(d);
  char buf[512];
  gl_series_set(d->m_ready, clockd_not_ready(d, buf, sizeof buf) ? 0 : 1);
}

/* Our defaults, then the kafka.* pass-through, then what correctness needs:
 * an idempotent producer (no duplicate or reordered tick on retry) and never
 * creating the clock topic (its partition count must match the inputs'). */
static int clockd_kafka_new(clockd_t *d, char *errstr, size_t errlen) {
  static const char *const defaults[] = {"client.id", "greenlight-clockd", NULL};
  static const char *const forced[] = {"enable.idempotence", "true", "acks", "all",
                                       "partitioner", "murmur2_random",
                                       "allow.auto.create.topics", "false", NULL};
  rd_kafka_conf_t *kc = gl_shell_kafka_conf(&d->sh, defaults, forced, d, errstr, errlen);
  if (!kc) return -1;
  rd_kafka_conf_set_dr_msg_cb(kc, clockd_dr_cb);
  if (!(d->rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, errlen))) return -1;
  d->rkt = rd_kafka_topic_new(d->rk, d->topic, NULL);
  return d->rkt ? 0 : -1;
}

/* ---- Ticks ------------------------------------------------------------- */

static void clockd_produce(clockd_t *d, int32_t partition, int64_t tick_ms) {
  char event_id[GL_ID_MAX + 1];
  snprintf(event_id, sizeof(event_id), "%s-%" PRId32 "-%" PRId64, d->conf.clock_id, partition,
           tick_ms);
  Greenlight__V1__Tick tick = GREENLIGHT__V1__TICK__INIT;
  tick.clock_id = d->conf.clock_id;
  tick.partition = partition;
  Greenlight__V1__Envelope env = GREENLIGHT__V1__ENVELOPE__INIT;
  env.event_id = event_id;
  env.occurred_at_ms = tick_ms;
  env.source = (char *)CLOCKD_SOURCE;
  env.payload_case = GREENLIGHT__V1__ENVELOPE__PAYLOAD_TICK;
  env.tick = &tick;
  uint8_t *buf = NULL;
  size_t len = gl_message_pack(&env.base, &buf);
  rd_kafka_headers_t *h = rd_kafka_headers_new(2);
  rd_kafka_header_add(h, GL_HDR_CONTENT_TYPE, -1, GL_CONTENT_TYPE, -1);
  rd_kafka_header_add(h, GL_HDR_MESSAGE_TYPE, -1, "greenlight.v1.Envelope", -1);
  d->produced++;
  /* The record timestamp is the event time, as SPEC §3 asks of every producer. */
  rd_kafka_resp_err_t err = rd_kafka_producev(
      d->rk, RD_KAFKA_V_RKT(d->rkt), RD_KAFKA_V_PARTITION(partition),
      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE), RD_KAFKA_V_VALUE(buf, len),
      RD_KAFKA_V_KEY(CLOCKD_KEY, strlen(CLOCKD_KEY)), RD_KAFKA_V_TIMESTAMP(tick_ms),
      RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
  if (err) { /* On failure the value and the headers are still ours. */
    free(buf);
    rd_kafka_headers_destroy(h);
    clockd_failure(d, partition, rd_kafka_err2str(err));
  }
}

/* One round: the same occurred_at_ms to every partition, never less than
 * the previous round's. */
static void clockd_tick_cb(uv_timer_t *h) {
  clockd_t *d = h->data;
  int64_t now = clockd_wall_ms();
  if (now < d->last_tick_ms && !d->clock_behind)
    gl_warn(&d->sh.log, "clock_step_back", "wall clock stepped back by %" PRId64
            " ms; repeating tick time %" PRId64 " until it catches up", d->last_tick_ms - now,
            d->last_tick_ms);
  d->clock_behind = now < d->last_tick_ms;
  if (d->clock_behind) now = d->last_tick_ms;
  d->last_tick_ms = now;
  for (int32_t p = 0; p < d->partitions; p++) clockd_produce(d, p, now);
  d->rounds++;
  gl_series_set(d->m_last_tick, (double)now / 1000.0);
  gl_debug(&d->sh.log, "tick", "round %" PRId64 " at %" PRId64 " to %" PRId32 " partitions",
           d->rounds, now, d->partitions);
  clockd_serve(d);
  if (!d->stopping && d->conf.tick_count > 0 && d->rounds >= d->conf.tick_count)
    clockd_stop(d, "tick.count reached");
}

/* ---- Start ------------------------------------------------------------- */

/* The shell's check of clockd's own settings, before --check-config answers. */
static int clockd_check(gl_shell_t *sh, void *opaque, char *errstr, size_t errlen) {
  clockd_t *d = opaque;
  (void)sh;
  size_t idlen = strlen(d->conf.clock_id);
  if (idlen == 0 || idlen > CLOCKD_ID_MAX) {
    snprintf(errstr, errlen, "config: clock.id = '%s': expected 1..%d bytes", d->conf.clock_id,
             CLOCKD_ID_MAX);
    return GL_ECONFIG;
  }
  if (!d->conf.clock_topic[0]) {
    snprintf(errstr, errlen, "config: clock.topic = '': expected a topic name");
    return GL_ECONFIG;
  }
  free(d->topic);
  if (asprintf(&d->topic, "%s%s", d->conf.topic_prefix, d->conf.clock_topic) < 0) abort();
  return GL_OK;
}

/* Loads the configuration: the shell's settings (http.port defaults to
 * 8083 here) and clockd's. Returns GL_OK, 1 for --help or --check-config,
 * or a GL_E* code with errstr set. */
static int clockd_configure(clockd_t *d, int argc, char **argv, char *errstr, size_t errlen) {
  char host[256] = "clockd";
  if (gethostname(host, sizeof(host) - 1) != 0 || !host[0]) snprintf(host, sizeof(host), "clockd");
  host[sizeof(host) - 1] = '\0';
  const char *const defaults[] = {"clock.id", host, "http.port", "8083", NULL};
  if (gl_conf_add_table(&d->sh.conf, clockd_props, &d->conf, errstr, errlen) < 0) return GL_ECONFIG;
  gl_shell_on_check(&d->sh, clockd_check, d);
  return gl_shell_configure(&d->sh, argc, argv, defaults, errstr, errlen);
}

/* Creates the producer and opens the HTTP port. Returns 0, or the exit code
 * with errstr set: 2 for a bad setting (a kafka.* property the client
 * refuses, an http.host that is not this machine's), 1 for the rest (the
 * port in use: a later start may find it free). */
static int clockd_open(clockd_t *d, char *errstr, size_t errlen) {
  if (clockd_kafka_new(d, errstr, errlen) < 0) return GL_EXIT_CONFIG;
  return gl_exit_code(gl_shell_listen(&d->sh, errstr, errlen));
}

/* Wires the producer's queue into the loop, starts the cron and the wait
 * for the broker and the clock topic (no connection is needed before).
 * Returns 0, or -1 with errstr set. */
static int clockd_start(clockd_t *d, char *errstr, size_t errlen) {
  int rc = gl_kafka_qpoll_start(&d->sh.loop, &d->qpoll, rd_kafka_queue_get_main(d->rk),
                                clockd_queue_cb, d);
  if (rc < 0) {
    snprintf(errstr, errlen, "cannot wire the producer queue into the loop: %s", gl_strerror(rc));
    return -1;
  }
  uv_timer_start(&d->cron, clockd_cron_cb, CLOCKD_CRON_MS, CLOCKD_CRON_MS);
  clockd_connect_start(d, clockd_begin_ticking);
  /* Queue io events fire only on empty -> non-empty: serve what is there now. */
  clockd_serve(d);
  return 0;
}

void clockd_begin_ticking(clockd_t *d, int32_t partitions) {
  gl_shell_brokers_up(&d->sh); /* A broker just answered. */
  d->connected = true;
  clockd_set_partitions(d, partitions);
  uv_timer_start(&d->tick_timer, clockd_tick_cb, 0, (uint64_t)d->conf.tick_interval_ms);
  clockd_meta_start(d);
  gl_info(&d->sh.log, "started",
          "clock %s: ticks to %" PRId32 " partitions of %s every %" PRId64 " ms%s", d->conf.clock_id,
          d->partitions, d->topic, d->conf.tick_interval_ms,
          d->conf.tick_count > 0 ? " (bounded by tick.count)" : "");
}

/* For systemd (gl_shell.h): started once connected, ready as /readyz says. */
static const char *clockd_status(void *opaque, bool *started, char *buf, size_t len) {
  clockd_t *d = opaque;
  *started = d->connected;
  return clockd_not_ready(d, buf, len);
}

/* The daemon's handles on the shell's loop, its series in the shell's
 * registry, its routes and its stop callback. */
static void clockd_init(clockd_t *d) {
  uv_loop_t *loop = &d->sh.loop;
  uv_timer_init(loop, &d->tick_timer);
  uv_timer_init(loop, &d->meta_timer);
  uv_timer_init(loop, &d->cron);
  d->tick_timer.data = d->meta_timer.data = d->cron.data = d;
  uv_mutex_init(&d->connect_lock);
  gl_metrics_t *m = d->sh.metrics;
  d->m_ticks = gl_metrics_counter(m, "greenlight_ticks_total", "Tick records delivered.", NULL);
  d->m_failures = gl_metrics_counter(m, "greenlight_tick_delivery_failures_total",
                                     "Tick records that could not be produced or delivered.", NULL);
  d->m_partitions = gl_metrics_gauge(m, "greenlight_clock_partitions",
                                     "Partitions of the clock topic being ticked.", NULL);
  /* Seconds, as Prometheus names time (promtool refuses "_ms"). */
  d->m_last_tick = gl_metrics_gauge(m, "greenlight_clock_last_tick_timestamp_seconds",
                                    "Event time of the last round of ticks (Unix seconds).", NULL);
  d->m_ready = gl_metrics_gauge(m, "greenlight_ready", "1 when /readyz answers 200.", NULL);
  gl_shell_route(&d->sh, "/healthz", clockd_http_cb, d);
  gl_shell_route(&d->sh, "/readyz", clockd_http_cb, d);
  gl_shell_on_stop(&d->sh, clockd_on_stop, d);
  gl_shell_on_status(&d->sh, clockd_status, d);
}

/* After the loop: the producer goes before the shell that holds its
 * callbacks' context. */
static void clockd_destroy(clockd_t *d) {
  gl_kafka_qpoll_destroy(&d->qpoll);
  if (d->rkt) rd_kafka_topic_destroy(d->rkt);
  if (d->rk) rd_kafka_destroy(d->rk);
  free(d->part_ok_ms);
  free(d->topic);
  uv_mutex_destroy(&d->connect_lock);
  gl_shell_destroy(&d->sh);
}

/* The exit code of a run that started (the shell's: 1 after a fatal
 * error), logged. */
static int clockd_result(clockd_t *d, int code) {
  /* A bounded run (tick.count) must say whether every tick arrived. */
  if (code == 0 && d->conf.tick_count > 0 && d->delivered != d->produced) {
    gl_error(&d->sh.log, "incomplete", "%" PRId64 " of %" PRId64 " ticks delivered", d->delivered,
             d->produced);
    code = 1;
  }
  gl_log_kv(&d->sh.log, GL_LOG_INFO, "exit",
            GL_LOG_FIELDS(GL_LOG_INT("rounds", d->rounds), GL_LOG_INT("delivered", d->delivered),
                          GL_LOG_INT("failed", d->failed), GL_LOG_INT("exit_code", code)),
            "%" PRId64 " rounds, %" PRId64 " ticks delivered, %" PRId64
            " failed; exiting with status %d", d->rounds, d->delivered, d->failed, code);
  return code;
}

int main(int argc, char **argv) {
  clockd_t d;
  memset(&d, 0, sizeof(d));
  char errstr[1024] = "";
  int rc = gl_shell_init(&d.sh, "clockd", argv[0]);
  d.sh.conf.summary = "the clock daemon: appends a Tick to every partition of the clock topic";
  if (rc < 0) {
    gl_error(&d.sh.log, "start", "%s", gl_strerror(rc));
    gl_shell_destroy(&d.sh);
    return gl_exit_code(rc);
  }
  clockd_init(&d);
  rc = clockd_configure(&d, argc, argv, errstr, sizeof(errstr));
  int code = rc < 0 ? gl_exit_code(rc) : 0;
  if (rc == 0 && (code = clockd_open(&d, errstr, sizeof(errstr))) != 0) rc = -1;
  if (rc == 0 && clockd_start(&d, errstr, sizeof(errstr)) < 0) rc = -1, code = 1;
  /* One JSON line, nothing else; "config" for a bad setting, as the engine's daemons say. */
  if (rc < 0) gl_error(&d.sh.log, code == GL_EXIT_CONFIG ? "config" : "start", "%s", errstr);
  if (rc != 0) clockd_close_all(&d); /* Nothing was produced: nothing to flush. */
  int run_code = gl_shell_run(&d.sh);
  if (rc == 0) code = clockd_result(&d, run_code);
  clockd_destroy(&d);
  return code;
}
