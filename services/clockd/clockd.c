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
 * at start (a missing topic stops the daemon) and re-read every 30 s on the
 * libuv thread pool, so partitions added later get ticks too.
 *
 * Everything else runs on one libuv loop: the tick timer, SIGTERM/SIGINT
 * (flush with a deadline, exit 0), the producer's queue (io events on a
 * pipe), and /healthz and /metrics on the loopback HTTP port. */
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "greenlight/gl_codec.h"
#include "greenlight/gl_config.h"
#include "greenlight/gl_http.h"
#include "greenlight/gl_kafka.h"
#include "greenlight/gl_log.h"
#include "greenlight/gl_metrics.h"

extern char **environ;

#define CLOCKD_SOURCE "greenlight.clockd"
#define CLOCKD_KEY "tick"
#define CLOCKD_FLUSH_MS 10000       /* Deadline for delivering what is queued at shutdown. */
#define CLOCKD_METADATA_MS 30000    /* How often the partition count is re-read. */
#define CLOCKD_METADATA_TIMEOUT_MS 10000
#define CLOCKD_HEALTH_INTERVALS 3   /* A partition without a delivery for longer is stale. */
/* The event id "<clock.id>-<partition>-<ms>" must fit GL_ID_MAX: leave room for the numbers. */
#define CLOCKD_ID_MAX (GL_ID_MAX - 32)

typedef struct clockd_conf {
  char *topic_prefix, *clock_topic, *clock_id, *http_host, *log_level;
  int64_t tick_interval_ms, tick_count, http_port;
} clockd_conf_t;

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
    {"http.host", GL_CONF_STR, "127.0.0.1", 0, 0, NULL, CLOCKD_OFF(http_host),
     "Address of the HTTP port (/healthz, /metrics)."},
    {"http.port", GL_CONF_INT, "8083", -1, 65535, NULL, CLOCKD_OFF(http_port),
     "HTTP port; 0 picks a free one (logged), -1 disables HTTP."},
    {"log.level", GL_CONF_ENUM, "info", 0, 0, "debug|info|warn|error", CLOCKD_OFF(log_level),
     "Least severe level logged."},
    {NULL, 0, NULL, 0, 0, NULL, 0, NULL}};

/* The daemon; it lives on main's stack. */
typedef struct clockd {
  clockd_conf_t conf;
  gl_conf_t gconf;
  gl_log_t log;
  uv_loop_t loop;
  uv_timer_t tick_timer, meta_timer;
  uv_signal_t sigterm, sigint;
  gl_kafka_qpoll_t qpoll;
  uv_work_t meta_work;
  bool meta_busy;
  int32_t meta_partitions; /* Result of the work: the count, or -1. */
  char meta_err[256];
  gl_http_t *http;
  rd_kafka_t *rk;
  rd_kafka_topic_t *rkt;
  char *topic;
  int32_t partitions;
  int64_t *part_ok_ms;    /* Monotonic ms of each partition's last delivered tick (0 = none). */
  int32_t part_cap;
  int64_t last_tick_ms;   /* occurred_at_ms of the last round. */
  bool clock_behind;      /* The wall clock is behind last_tick_ms. */
  int64_t rounds, produced, delivered, failed;
  int64_t fail_streak;    /* Failures since the last success, for quiet logging. */
  gl_metrics_t *metrics;
  gl_series_t *m_ticks, *m_failures, *m_partitions, *m_last_tick;
  bool stopping;
  int exit_code;
} clockd_t;

static int64_t clockd_mono_ms(void) { return (int64_t)(uv_hrtime() / 1000000); }

static int64_t clockd_wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Grows the per-partition delivery times to n entries (never shrinks). */
static void clockd_set_partitions(clockd_t *d, int32_t n) {
  if (n > d->part_cap) {
    int64_t *p = realloc(d->part_ok_ms, sizeof(*p) * (size_t)n);
    if (!p) abort();
    for (int32_t i = d->part_cap; i < n; i++) p[i] = 0;
    d->part_ok_ms = p;
    d->part_cap = n;
  }
  d->partitions = n;
  gl_series_set(d->m_partitions, n);
}

/* ---- Shutdown ---------------------------------------------------------- */

/* Closes every handle, so that the loop ends; the Kafka client is
 * destroyed after it. */
static void clockd_close_all(clockd_t *d) {
  d->stopping = true;
  uv_handle_t *hs[] = {(uv_handle_t *)&d->tick_timer, (uv_handle_t *)&d->meta_timer,
                       (uv_handle_t *)&d->sigterm, (uv_handle_t *)&d->sigint};
  for (size_t i = 0; i < sizeof(hs) / sizeof(hs[0]); i++)
    if (hs[i]->loop && !uv_is_closing(hs[i])) uv_close(hs[i], NULL);
  gl_kafka_qpoll_stop(&d->qpoll);
  if (d->meta_busy) uv_cancel((uv_req_t *)&d->meta_work);
  if (d->http) gl_http_close(d->http, NULL, NULL);
  d->http = NULL;
}

/* Stops ticking, delivers what is queued (within CLOCKD_FLUSH_MS, unless a
 * fatal error makes that pointless), drops the rest and closes the loop. */
static void clockd_stop(clockd_t *d, const char *why) {
  if (d->stopping) return;
  gl_info(&d->log, "stopping", "%s: delivering queued ticks and exiting", why);
  d->stopping = true;
  if (d->exit_code == 0 && rd_kafka_flush(d->rk, CLOCKD_FLUSH_MS) != RD_KAFKA_RESP_ERR_NO_ERROR)
    gl_warn(&d->log, "flush_timeout", "%d ticks not delivered within %d ms; dropping them",
            rd_kafka_outq_len(d->rk), CLOCKD_FLUSH_MS);
  rd_kafka_purge(d->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
  /* After a fatal error this runs inside rd_kafka_poll(): do not poll again. */
  while (d->exit_code == 0 && rd_kafka_poll(d->rk, 0) > 0) {
  }
  clockd_close_all(d);
}

static void clockd_signal_cb(uv_signal_t *h, int signum) {
  clockd_t *d = h->data;
  char why[32];
  snprintf(why, sizeof(why), "signal %d", signum);
  clockd_stop(d, why);
}

/* ---- Kafka ------------------------------------------------------------- */

static void clockd_kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
  clockd_t *d = rd_kafka_opaque(rk);
  gl_kafka_log(&d->log, rk, level, fac, buf);
}

/* Served by rd_kafka_poll() on the loop thread, like the delivery reports. */
static void clockd_kafka_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
  clockd_t *d = opaque;
  char fatal[512];
  if (!gl_kafka_error(&d->log, rk, err, reason, fatal, sizeof fatal)) return;
  gl_error(&d->log, "fatal", "producer: %s; exiting so that a supervisor restarts the daemon",
           fatal);
  d->exit_code = 1;
  clockd_stop(d, "fatal producer error");
}

static void clockd_failure(clockd_t *d, int32_t partition, const char *what) {
  d->failed++;
  gl_series_add(d->m_failures, 1);
  /* The first failure of a streak is logged; the streak's end says how long it was. */
  if (d->fail_streak++ == 0)
    gl_warn(&d->log, "tick_failed", "tick for %s [%" PRId32 "]: %s", d->topic, partition, what);
}

static void clockd_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  clockd_t *d = opaque;
  (void)rk;
  if (m->err) {
    clockd_failure(d, m->partition, rd_kafka_err2str(m->err));
    return;
  }
  d->delivered++;
  gl_series_add(d->m_ticks, 1);
  if (m->partition >= 0 && m->partition < d->part_cap) d->part_ok_ms[m->partition] = clockd_mono_ms();
  if (d->fail_streak > 0)
    gl_info(&d->log, "tick_recovered", "ticks delivered again after %" PRId64 " failures",
            d->fail_streak);
  d->fail_streak = 0;
}

/* The producer's queue has events: serve everything queued. */
static void clockd_queue_cb(void *arg) {
  clockd_t *d = arg;
  while (!d->stopping && rd_kafka_poll(d->rk, 0) > 0) {
  }
}

/* Our defaults, then the kafka.* pass-through, then what correctness needs:
 * an idempotent producer (no duplicate or reordered tick on retry) and never
 * creating the clock topic (its partition count must match the inputs'). */
static int clockd_kafka_new(clockd_t *d, char *errstr, size_t errlen) {
  static const char *const defaults[] = {"bootstrap.servers", "127.0.0.1:19092",
                                         "client.id", "greenlight-clockd", NULL};
  static const char *const forced[] = {"enable.idempotence", "true", "acks", "all",
                                       "partitioner", "murmur2_random",
                                       "allow.auto.create.topics", "false", NULL};
  rd_kafka_conf_t *kc = rd_kafka_conf_new();
  rd_kafka_conf_set_opaque(kc, d);
  rd_kafka_conf_set_log_cb(kc, clockd_kafka_log_cb);
  rd_kafka_conf_set_error_cb(kc, clockd_kafka_error_cb);
  rd_kafka_conf_set_dr_msg_cb(kc, clockd_dr_cb);
  if (gl_kafka_conf_set_pairs(kc, defaults, errstr, errlen) < 0 ||
      gl_conf_kafka_apply(&d->gconf, kc, errstr, errlen) < 0 ||
      gl_kafka_conf_set_pairs(kc, forced, errstr, errlen) < 0) {
    rd_kafka_conf_destroy(kc);
    return -1;
  }
  if (!(d->rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, errlen))) return -1;
  d->rkt = rd_kafka_topic_new(d->rk, d->topic, NULL);
  return d->rkt ? 0 : -1;
}

/* Reads the clock topic's partition count. Returns it, or -1 with errstr
 * set. Blocking: called at start, and on the thread pool afterwards. */
static int32_t clockd_read_partitions(clockd_t *d, char *errstr, size_t errlen) {
  const struct rd_kafka_metadata *md = NULL;
  rd_kafka_resp_err_t err = rd_kafka_metadata(d->rk, 0, d->rkt, &md, CLOCKD_METADATA_TIMEOUT_MS);
  if (err) {
    snprintf(errstr, errlen, "cannot read the metadata of topic %s: %s", d->topic,
             rd_kafka_err2str(err));
    return -1;
  }
  int32_t n = -1;
  if (md->topic_cnt != 1 || md->topics[0].err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
    snprintf(errstr, errlen,
             "clock topic %s does not exist; create it with as many partitions as the input topics",
             d->topic);
  else if (md->topics[0].err || md->topics[0].partition_cnt <= 0)
    snprintf(errstr, errlen, "clock topic %s: %s", d->topic,
             md->topics[0].err ? rd_kafka_err2str(md->topics[0].err) : "no partitions");
  else
    n = md->topics[0].partition_cnt;
  rd_kafka_metadata_destroy(md);
  return n;
}

static void clockd_meta_work_cb(uv_work_t *w) {
  clockd_t *d = w->data;
  d->meta_partitions = clockd_read_partitions(d, d->meta_err, sizeof(d->meta_err));
}

static void clockd_meta_after_cb(uv_work_t *w, int status) {
  clockd_t *d = w->data;
  d->meta_busy = false;
  if (status != 0 || d->stopping) return;
  if (d->meta_partitions < 0) {
    gl_warn(&d->log, "metadata", "%s; ticking %" PRId32 " partitions as before", d->meta_err,
            d->partitions);
  } else if (d->meta_partitions != d->partitions) {
    gl_info(&d->log, "partitions", "clock topic %s now has %" PRId32 " partitions (was %" PRId32 ")",
            d->topic, d->meta_partitions, d->partitions);
    clockd_set_partitions(d, d->meta_partitions);
  }
}

static void clockd_meta_timer_cb(uv_timer_t *h) {
  clockd_t *d = h->data;
  if (d->meta_busy || d->stopping) return;
  d->meta_busy = true;
  d->meta_work.data = d;
  if (uv_queue_work(&d->loop, &d->meta_work, clockd_meta_work_cb, clockd_meta_after_cb) != 0)
    d->meta_busy = false;
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
    gl_warn(&d->log, "clock_step_back", "wall clock stepped back by %" PRId64
            " ms; repeating tick time %" PRId64 " until it catches up", d->last_tick_ms - now,
            d->last_tick_ms);
  d->clock_behind = now < d->last_tick_ms;
  if (d->clock_behind) now = d->last_tick_ms;
  d->last_tick_ms = now;
  for (int32_t p = 0; p < d->partitions; p++) clockd_produce(d, p, now);
  d->rounds++;
  gl_series_set(d->m_last_tick, (double)now);
  gl_debug(&d->log, "tick", "round %" PRId64 " at %" PRId64 " to %" PRId32 " partitions",
           d->rounds, now, d->partitions);
  rd_kafka_poll(d->rk, 0);
  if (d->conf.tick_count > 0 && d->rounds >= d->conf.tick_count) clockd_stop(d, "tick.count reached");
}

/* ---- HTTP -------------------------------------------------------------- */

/* /healthz is 200 while every partition got a tick delivered within the
 * last CLOCKD_HEALTH_INTERVALS intervals, else 503; /metrics is Prometheus. */
static void clockd_http_cb(void *opaque, const char *method, const char *path,
                           gl_http_response_t *r) {
  clockd_t *d = opaque;
  (void)method;
  if (strcmp(path, "/metrics") == 0) {
    r->status = 200;
    r->content_type = "text/plain; version=0.0.4; charset=utf-8";
    r->body_len = gl_metrics_render(d->metrics, &r->body);
    return;
  }
  if (strcmp(path, "/healthz") != 0) return;
  int64_t now = clockd_mono_ms(), window = CLOCKD_HEALTH_INTERVALS * d->conf.tick_interval_ms;
  int32_t stale = 0;
  for (int32_t p = 0; p < d->partitions; p++)
    if (d->part_ok_ms[p] == 0 || now - d->part_ok_ms[p] > window) stale++;
  const char *status = d->stopping ? "stopping" : d->delivered == 0 ? "starting" : stale ? "stale" : "ok";
  r->status = stale == 0 && !d->stopping ? 200 : 503;
  r->content_type = "application/json";
  r->body_len = (size_t)asprintf(&r->body,
                                 "{\"status\":\"%s\",\"service\":\"clockd\",\"partitions\":%" PRId32
                                 ",\"stale_partitions\":%" PRId32 ",\"rounds\":%" PRId64
                                 ",\"last_tick_ms\":%" PRId64 ",\"delivery_failures\":%" PRId64 "}\n",
                                 status, d->partitions, stale, d->rounds, d->last_tick_ms, d->failed);
  if (!r->body) abort();
}

/* ---- Start ------------------------------------------------------------- */

/* Loads the configuration. Returns 0, 1 for --help or --check-config, or -1
 * with errstr set. */
static int clockd_configure(clockd_t *d, int argc, char **argv, char *errstr, size_t errlen) {
  char host[256] = "clockd";
  if (gethostname(host, sizeof(host) - 1) != 0 || !host[0]) snprintf(host, sizeof(host), "clockd");
  host[sizeof(host) - 1] = '\0';
  int rc = gl_conf_add_table(&d->gconf, clockd_props, &d->conf, errstr, errlen);
  if (rc == 0) rc = gl_conf_set(&d->gconf, "clock.id", host, errstr, errlen);
  if (rc == 0) rc = gl_conf_load(&d->gconf, argc, argv, environ, errstr, errlen);
  if (rc != 0) return rc;
  gl_log_level_parse(d->conf.log_level, &d->log.level);
  size_t idlen = strlen(d->conf.clock_id);
  if (idlen == 0 || idlen > CLOCKD_ID_MAX) {
    snprintf(errstr, errlen, "config: clock.id = '%s': expected 1..%d bytes", d->conf.clock_id,
             CLOCKD_ID_MAX);
    return -1;
  }
  if (!d->conf.clock_topic[0]) {
    snprintf(errstr, errlen, "config: clock.topic = '': expected a topic name");
    return -1;
  }
  if (asprintf(&d->topic, "%s%s", d->conf.topic_prefix, d->conf.clock_topic) < 0) abort();
  return d->gconf.check ? gl_conf_check(&d->gconf, stdout, errstr, errlen) : 0;
}

/* Connects the producer, reads the partition count and starts every handle.
 * Returns 0, or -1 with errstr set. */
static int clockd_start(clockd_t *d, char *errstr, size_t errlen) {
  if (clockd_kafka_new(d, errstr, errlen) < 0) return -1;
  int32_t n = clockd_read_partitions(d, errstr, errlen);
  if (n < 0) return -1;
  clockd_set_partitions(d, n);
  int rc = gl_kafka_qpoll_start(&d->loop, &d->qpoll, rd_kafka_queue_get_main(d->rk),
                                clockd_queue_cb, d);
  if (rc < 0) {
    snprintf(errstr, errlen, "cannot wire the producer queue into the loop: %s", uv_strerror(rc));
    return -1;
  }
  if (d->conf.http_port >= 0) {
    d->http = gl_http_start(&d->loop, d->conf.http_host, (int)d->conf.http_port, clockd_http_cb, d,
                            errstr, errlen);
    if (!d->http) return -1;
    gl_info(&d->log, "http", "listening on http://%s:%d (/healthz, /metrics)", d->conf.http_host,
            gl_http_port(d->http));
  }
  uv_timer_start(&d->tick_timer, clockd_tick_cb, 0, (uint64_t)d->conf.tick_interval_ms);
  uv_timer_start(&d->meta_timer, clockd_meta_timer_cb, CLOCKD_METADATA_MS, CLOCKD_METADATA_MS);
  uv_signal_start(&d->sigterm, clockd_signal_cb, SIGTERM);
  uv_signal_start(&d->sigint, clockd_signal_cb, SIGINT);
  gl_info(&d->log, "started",
          "clock %s: ticks to %" PRId32 " partitions of %s every %" PRId64 " ms%s", d->conf.clock_id,
          d->partitions, d->topic, d->conf.tick_interval_ms,
          d->conf.tick_count > 0 ? " (bounded by tick.count)" : "");
  /* Queue io events fire only on empty -> non-empty: serve what is there now. */
  rd_kafka_poll(d->rk, 0);
  return 0;
}

static void clockd_metrics_init(clockd_t *d) {
  gl_metrics_t *m = d->metrics = gl_metrics_new();
  if (!m) abort();
  d->m_ticks = gl_metrics_counter(m, "greenlight_ticks_total", "Tick records delivered.", NULL);
  d->m_failures = gl_metrics_counter(m, "greenlight_tick_delivery_failures_total",
                                     "Tick records that could not be produced or delivered.", NULL);
  d->m_partitions = gl_metrics_gauge(m, "greenlight_clock_partitions",
                                     "Partitions of the clock topic being ticked.", NULL);
  d->m_last_tick = gl_metrics_gauge(m, "greenlight_clock_last_tick_ms",
                                    "occurred_at_ms of the last round of ticks.", NULL);
}

static void clockd_destroy(clockd_t *d) {
  gl_kafka_qpoll_destroy(&d->qpoll);
  if (d->rkt) rd_kafka_topic_destroy(d->rkt);
  if (d->rk) rd_kafka_destroy(d->rk);
  free(d->part_ok_ms);
  free(d->topic);
  gl_metrics_destroy(d->metrics);
  gl_conf_destroy(&d->gconf);
  uv_loop_close(&d->loop);
}

int main(int argc, char **argv) {
  clockd_t d;
  memset(&d, 0, sizeof(d));
  char errstr[1024] = "";
  const char *prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
  signal(SIGPIPE, SIG_IGN); /* A peer closing a socket must not kill the daemon. */
  gl_conf_init(&d.gconf, prog);
  gl_log_init(&d.log, "clockd", GL_LOG_INFO);
  uv_loop_init(&d.loop);
  uv_timer_init(&d.loop, &d.tick_timer);
  uv_timer_init(&d.loop, &d.meta_timer);
  uv_signal_init(&d.loop, &d.sigterm);
  uv_signal_init(&d.loop, &d.sigint);
  d.tick_timer.data = d.meta_timer.data = d.sigterm.data = d.sigint.data = &d;
  clockd_metrics_init(&d);

  int rc = clockd_configure(&d, argc, argv, errstr, sizeof(errstr));
  int code = rc < 0 ? 2 : 0;
  if (rc == 0 && clockd_start(&d, errstr, sizeof(errstr)) < 0) rc = -1, code = 1;
  if (rc < 0) {
    gl_error(&d.log, "start", "%s", errstr);
    fprintf(stderr, "%s: %s\n", prog, errstr);
  }
  if (rc != 0) clockd_close_all(&d); /* Nothing was produced: nothing to flush. */
  uv_run(&d.loop, UV_RUN_DEFAULT);
  if (rc == 0) {
    code = d.exit_code;
    /* A bounded run (tick.count) must say whether every tick arrived. */
    if (code == 0 && d.conf.tick_count > 0 && d.delivered != d.produced) {
      gl_error(&d.log, "incomplete", "%" PRId64 " of %" PRId64 " ticks delivered", d.delivered,
               d.produced);
      code = 1;
    }
    gl_info(&d.log, "exit", "%" PRId64 " rounds, %" PRId64 " ticks delivered, %" PRId64
            " failed; exiting with status %d", d.rounds, d.delivered, d.failed, code);
  }
  clockd_destroy(&d);
  return code;
}
