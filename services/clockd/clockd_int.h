/* The clock daemon's internals, shared by its files:
 *   clockd.c          configuration, the producer, ticks, shutdown, main
 *   clockd_connect.c  waiting for the broker and the clock topic at start
 *                     (on the thread pool), and the periodic partition count
 *   clockd_health.c   /healthz, /readyz and /metrics
 *
 * The process shell (gl_shell.h) gives it the loop, the log, the shared
 * settings, the metrics registry, the admin port with /metrics, the
 * signals, the fatal-error path and the producer's log and error callbacks.
 *
 * Thread locality: everything runs on the loop thread except the metadata
 * reads (thread pool: they write connect_why under connect_lock and their
 * result fields, which the loop reads in the work's after callback) and
 * librdkafka's callbacks. The delivery report is served by
 * rd_kafka_poll()/rd_kafka_flush(), which only the loop calls; the shell's
 * error callback hands a fatal error to the loop, and its log callback only
 * logs. */
#ifndef GREENLIGHT_CLOCKD_INT_H
#define GREENLIGHT_CLOCKD_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "greenlight/gl_kafka.h"
#include "greenlight/gl_shell.h"

#define CLOCKD_HEALTH_INTERVALS 3 /* A partition without a delivery for longer is stale. */

/* The clock's own settings; http.*, log.level are the shell's. */
typedef struct clockd_conf {
  char *topic_prefix, *clock_topic, *clock_id;
  int64_t tick_interval_ms, tick_count, startup_timeout_ms;
} clockd_conf_t;

/* The daemon; it lives on main's stack. */
typedef struct clockd {
  gl_shell_t sh; /* The loop, the log, the metrics, the admin port, signals, exit_code. */
  clockd_conf_t conf;
  uv_timer_t tick_timer, meta_timer, cron;
  gl_kafka_qpoll_t qpoll;
  rd_kafka_t *rk;
  rd_kafka_topic_t *rkt;
  char *topic;

  /* Start: the clock topic's partition count, read on the thread pool. */
  uv_work_t connect_work;
  void (*on_connected)(struct clockd *d, int32_t partitions); /* clockd_connect_start's. */
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

  int32_t partitions;
  int64_t *part_ok_ms;    /* Monotonic ms of each partition's last delivered tick (0 = none). */
  int32_t part_cap;
  int64_t last_tick_ms;   /* occurred_at_ms of the last round. */
  bool clock_behind;      /* The wall clock is behind last_tick_ms. */
  int64_t rounds, produced, delivered, failed;
  int64_t fail_streak;    /* Failures since the last success, for quiet logging and readiness. */
  char last_failure[256]; /* Why the last tick failed. */
  gl_series_t *m_ticks, *m_failures, *m_partitions, *m_last_tick, *m_ready; /* In sh.metrics. */
  bool stopping; /* Ticking has ended: a stop from the shell, or tick.count. */
} clockd_t;

/* Monotonic milliseconds. */
static inline int64_t clockd_mono_ms(void) { return (int64_t)(uv_hrtime() / 1000000); }
/* Grows the per-partition delivery times to n entries (never shrinks). */
void clockd_set_partitions(clockd_t *d, int32_t n);
/* Stops ticking, delivers what is queued (unless sh.exit_code is 1),
 * closes every handle, the shell's too. why (may be NULL) is logged. */
void clockd_stop(clockd_t *d, const char *why);
/* Starts the ticks once the partition count is known (loop thread). */
void clockd_begin_ticking(clockd_t *d, int32_t partitions);

/* clockd_connect.c */
/* Waits for the broker and the clock topic on the thread pool; then calls
 * on_connected(d, partitions) on the loop (clockd.c starts ticking). */
void clockd_connect_start(clockd_t *d, void (*on_connected)(clockd_t *d, int32_t partitions));
void clockd_connect_status(clockd_t *d, char *buf, size_t len);
/* Re-reads the partition count every CLOCKD_METADATA_MS from now on. */
void clockd_meta_start(clockd_t *d);

/* clockd_health.c */
/* NULL when ready (ticking, the last tick delivered, every partition fresh,
 * brokers up), else why not, in buf or static. */
const char *clockd_not_ready(clockd_t *d, char *buf, size_t len);
int32_t clockd_stale_partitions(const clockd_t *d);
/* The /healthz and /readyz routes (the shell serves /metrics). */
void clockd_http_cb(void *opaque, const char *path, gl_http_response_t *r);

#endif
