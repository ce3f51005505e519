/* clockd_connect: the clock topic's partition count. At start it is read on
 * the libuv thread pool, again and again until startup.timeout.ms, while
 * the loop answers /healthz and /readyz: an unreachable broker or a clock
 * topic not created yet is not a bad setting, so the daemon waits, and then
 * exits 1 for a supervisor to retry. Afterwards it is re-read every
 * CLOCKD_METADATA_MS, so that partitions added later get ticks too. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clockd_int.h"

#define CLOCKD_METADATA_MS 30000         /* How often the partition count is re-read. */
#define CLOCKD_METADATA_TIMEOUT_MS 10000 /* One re-read. */
/* One attempt at start, and the pause between two: together they bound how
 * long a SIGTERM waits for the pool thread. */
#define CLOCKD_CONNECT_ATTEMPT_MS 1000
#define CLOCKD_CONNECT_PAUSE_MS 200
#define CLOCKD_CONNECT_LOG_MS 10000 /* How often "waiting" is logged. */

/* Reads the clock topic's partition count within timeout_ms. Returns it, or
 * -1 with why set. Blocking: thread pool only. */
static int32_t clockd_read_partitions(clockd_t *d, int timeout_ms, char *why, size_t len) {
  const struct rd_kafka_metadata *md = NULL;
  rd_kafka_resp_err_t err = rd_kafka_metadata(d->rk, 0, d->rkt, &md, timeout_ms);
  if (err) {
    snprintf(why, len, "broker unreachable (metadata of %s: %s)", d->topic, rd_kafka_err2str(err));
    return -1;
  }
  int32_t n = -1;
  if (md->topic_cnt != 1 || md->topics[0].err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
    snprintf(why, len,
             "clock topic %s does not exist; create it with as many partitions as the input topics",
             d->topic);
  else if (md->topics[0].err || md->topics[0].partition_cnt <= 0)
    snprintf(why, len, "clock topic %s: %s", d->topic,
             md->topics[0].err ? rd_kafka_err2str(md->topics[0].err) : "no partitions");
  else
    n = md->topics[0].partition_cnt;
  rd_kafka_metadata_destroy(md);
  return n;
}

/* ---- Start ------------------------------------------------------------- */

static void clockd_set_why(clockd_t *d, const char *why) {
  uv_mutex_lock(&d->connect_lock);
  snprintf(d->connect_why, sizeof(d->connect_why), "%s", why);
  uv_mutex_unlock(&d->connect_lock);
}

void clockd_connect_status(clockd_t *d, char *buf, size_t len) {
  uv_mutex_lock(&d->connect_lock);
  snprintf(buf, len, "%s", d->connect_why);
  uv_mutex_unlock(&d->connect_lock);
}

/* Thread pool: reads the partition count until it succeeds, the loop asks
 * to stop, or startup.timeout.ms has passed. */
static void clockd_connect_work(uv_work_t *w) {
  clockd_t *d = w->data;
  int64_t deadline = clockd_mono_ms() + d->conf.startup_timeout_ms, logged = -1;
  d->connect_result = -1;
  while (!atomic_load(&d->connect_stop)) {
    char why[512];
    /* Always a whole attempt, even past the deadline: one cut short would
     * time out and hide the real reason (a missing topic) behind "timed out". */
    int32_t n = clockd_read_partitions(d, CLOCKD_CONNECT_ATTEMPT_MS, why, sizeof why);
    if (n > 0) {
      d->connect_partitions = n;
      d->connect_result = 0;
      return;
    }
    clockd_set_why(d, why);
    int64_t now = clockd_mono_ms();
    if (now >= deadline) return;
    if (logged < 0 || now - logged >= CLOCKD_CONNECT_LOG_MS) {
      gl_warn(&d->sh.log, "waiting", "%s; waiting up to startup.timeout.ms (%" PRId64 " ms left)", why,
              deadline - now);
      logged = now;
    }
    uv_sleep(CLOCKD_CONNECT_PAUSE_MS);
  }
  d->connect_result = 1;
}

void clockd_set_partitions(clockd_t *d, int32_t n) {
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

static void clockd_connect_after(uv_work_t *w, int status) {
  clockd_t *d = w->data;
  d->connect_busy = false;
  if (d->stopping) return; /* A signal or a fatal error: already closing. */
  if (status != 0 || d->connect_result != 0) {
    char why[512];
    clockd_connect_status(d, why, sizeof why);
    gl_shell_fatal(&d->sh, "could not start: %s", status != 0 ? uv_strerror(status) : why);
    return;
  }
  clockd_set_why(d, "connected");
  d->on_connected(d, d->connect_partitions);
}

void clockd_connect_start(clockd_t *d, void (*on_connected)(clockd_t *d, int32_t partitions)) {
  d->on_connected = on_connected;
  clockd_set_why(d, "connecting to the broker");
  d->connect_work.data = d;
  d->connect_busy = true;
  if (uv_queue_work(&d->sh.loop, &d->connect_work, clockd_connect_work, clockd_connect_after) != 0) {
    d->connect_busy = false;
    gl_shell_fatal(&d->sh, "could not start: the thread pool refused the work");
  }
}

/* ---- The periodic re-read ---------------------------------------------- */

static void clockd_meta_work_cb(uv_work_t *w) {
  clockd_t *d = w->data;
  d->meta_partitions =
      clockd_read_partitions(d, CLOCKD_METADATA_TIMEOUT_MS, d->meta_err, sizeof(d->meta_err));
}

static void clockd_meta_after_cb(uv_work_t *w, int status) {
  clockd_t *d = w->data;
  d->meta_busy = false;
  if (status != 0 || d->stopping) return;
  if (d->meta_partitions < 0) {
    gl_warn(&d->sh.log, "metadata", "%s; ticking %" PRId32 " partitions as before", d->meta_err,
            d->partitions);
  } else if (d->meta_partitions != d->partitions) {
    gl_info(&d->sh.log, "partitions", "clock topic %s now has %" PRId32 " partitions (was %" PRId32 ")",
            d->topic, d->meta_partitions, d->partitions);
    clockd_set_partitions(d, d->meta_partitions);
  }
}

static void clockd_meta_timer_cb(uv_timer_t *h) {
  clockd_t *d = h->data;
  if (d->meta_busy || d->stopping) return;
  d->meta_busy = true;
  d->meta_work.data = d;
  if (uv_queue_work(&d->sh.loop, &d->meta_work, clockd_meta_work_cb, clockd_meta_after_cb) != 0)
    d->meta_busy = false;
}

void clockd_meta_start(clockd_t *d) {
  uv_timer_start(&d->meta_timer, clockd_meta_timer_cb, CLOCKD_METADATA_MS, CLOCKD_METADATA_MS);
}
