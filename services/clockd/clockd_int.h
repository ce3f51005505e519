/* The clock daemon's internals, shared by its files:
 *   clockd.c          configuration, the producer, ticks, shutdown, main
 *   clockd_connect.c  waiting for the broker and the clock topic at start
 *                     (on the thread pool), and the periodic partition count
 *   clockd_health.c   /healthz, /readyz and /metrics
 *
 * Thread locality: everything runs on the loop thread except the metadata
 * reads (thread pool: they write connect_why under connect_lock and their
 * result fields, which the loop reads in the work's after callback) and
 * librdkafka's callbacks. The delivery report and error callbacks are
 * served by rd_kafka_poll()/rd_kafka_flush(), which only the loop calls;
 * even so the error callback only sets atomics (brokers_down, fatal_*),
 * which the loop reads. The log callback runs on librdkafka's threads and
 * only logs. */
#ifndef GREENLIGHT_CLOCKD_INT_H
#define GREENLIGHT_CLOCKD_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "greenlight/gl_config.h"
#include "greenlight/gl_http.h"
#include "greenlight/gl_kafka.h"
#include "greenlight/gl_log.h"
#include "greenlight/gl_metrics.h"

#define CLOCKD_HEALTH_INTERVALS 3 /* A partition without a delivery for longer is stale. */

typedef struct clockd_conf {
  char *topic_prefix, *clock_topic, *clock_id, *http_host, *log_level;
  int64_t tick_interval_ms, tick_count, http_port, startup_timeout_ms;
} clockd_conf_t;

/* The daemon; it lives on main's stack. */
typedef struct clockd {
  clockd_conf_t conf;
  gl_conf_t gconf;
  gl_log_t log;
  uv_loop_t loop;
  uv_timer_t tick_timer, meta_timer, cron;
  uv_signal_t sigterm, sigint;
  gl_kafka_qpoll_t qpoll;
  gl_http_t *http;
  rd_kafka_t *rk;
  rd_kafka_topic_t *rkt;
  char *topic;

  /* Start: the clock topic's partition count, read on the thread pool. */
  uv_work_t connect_work;
  bool connect_busy, connected;
  int connect_result;          /* Work -> after callback: 0 connected, -1 gave up, 1 stopped. */
  int32_t connect_partitions;  /* Work -> after callback. */
  atomic_bool connect_stop;    /* Loop -> work: stop waiting. */
  uv_mutex_t connect_lock;     /* Guards connect_why. */
  char connect_why[512];

  /* The periodic re-read of the partition count. */
  uv_work_t meta_work;
  bool meta_busy;
  int32_t meta_partitions; /* Result of the work: the count, or -1. */
  char meta_err[256];

  /* Set by the error callback, read by the loop. */
  atomic_bool brokers_down;
  atomic_bool fatal_claimed, fatal_pending; /* fatal_msg is written between the two. */
  char fatal_msg[512];

  int32_t partitions;
  int64_t *part_ok_ms;    /* Monotonic ms of each partition's last delivered tick (0 = none). */
  int32_t part_cap;
  int64_t last_tick_ms;   /* occurred_at_ms of the last round. */
  bool clock_behind;      /* The wall clock is behind last_tick_ms. */
  int64_t rounds, produced, delivered, failed;
  int64_t fail_streak;    /* Failures since the last success, for quiet logging and readiness. */
  char last_failure[256]; /* Why the last tick failed. */
  gl_metrics_t *metrics;
  gl_series_t *m_ticks, *m_failures, *m_partitions, *m_last_tick, *m_ready;
  bool stopping;
  int exit_code;
} clockd_t;

int64_t clockd_mono_ms(void);
/* Grows the per-partition delivery times to n entries (never shrinks). */
void clockd_set_partitions(clockd_t *d, int32_t n);
/* Stops ticking, delivers what is queued, closes the loop (exit_code as set). */
void clockd_stop(clockd_t *d, const char *why);
/* Logs why, sets exit code 1 (a supervisor retries) and stops. */
void clockd_fatal(clockd_t *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Starts the ticks once the partition count is known (loop thread). */
void clockd_begin_ticking(clockd_t *d, int32_t partitions);

/* clockd_connect.c */
void clockd_connect_start(clockd_t *d);
void clockd_connect_status(clockd_t *d, char *buf, size_t len);
/* Re-reads the partition count every CLOCKD_METADATA_MS from now on. */
void clockd_meta_start(clockd_t *d);

/* clockd_health.c */
/* NULL when ready (ticking, the last tick delivered, every partition fresh,
 * brokers up), else why not, in buf or static. */
const char *clockd_not_ready(clockd_t *d, char *buf, size_t len);
int32_t clockd_stale_partitions(const clockd_t *d);
void clockd_http_cb(void *opaque, const char *method, const char *path, gl_http_response_t *r);

#endif
