/* clockd_health: what the clock daemon says of itself on its HTTP port.
 *
 *   /healthz  liveness: 200 while the process works, "status" "ok" when
 *             ready, else "degraded" with why (waiting for the broker or the
 *             clock topic at start, ticks not delivered, ...); 503 once it
 *             is stopping or exiting. A broker outage is not a reason to
 *             restart the clock.
 *   /readyz   readiness: 200 only while ticking, with the last tick
 *             delivered, every partition fresh (a delivery within
 *             CLOCKD_HEALTH_INTERVALS intervals) and the producer not
 *             reporting all brokers down; otherwise 503 with why
 *             ("starting: ...", "broker unreachable", ...).
 * The shell serves /metrics. All on the loop thread. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "clockd_int.h"

int32_t clockd_stale_partitions(const clockd_t *d) {
  int64_t now = clockd_mono_ms(), window = CLOCKD_HEALTH_INTERVALS * d->conf.tick_interval_ms;
  int32_t stale = 0;
  for (int32_t p = 0; p < d->partitions; p++)
    if (d->part_ok_ms[p] == 0 || now - d->part_ok_ms[p] > window) stale++;
  return stale;
}

/* A clockd stop that the shell did not ask for (tick.count) closes the
 * admin port at once: nobody asks then, so the shell's stopping suffices. */
const char *clockd_not_ready(clockd_t *d, char *buf, size_t len) {
  char why[512];
  if (!d->connected) clockd_connect_status(d, why, sizeof why);
  const char *common = gl_shell_not_ready(&d->sh, d->connected ? NULL : why, buf, len);
  if (common) return common;
  if (d->fail_streak > 0) {
    snprintf(buf, len, "ticks failing: %" PRId64 " in a row, the last: %s", d->fail_streak,
             d->last_failure);
    return buf;
  }
  if (d->delivered == 0) return "starting: no tick delivered yet";
  int32_t stale = clockd_stale_partitions(d);
  if (stale) {
    snprintf(buf, len, "%" PRId32 " of %" PRId32 " partitions without a tick delivered in %" PRId64
             " ms", stale, d->partitions, CLOCKD_HEALTH_INTERVALS * d->conf.tick_interval_ms);
    return buf;
  }
  return NULL;
}

void clockd_http_cb(void *opaque, const char *path, gl_http_response_t *r) {
  clockd_t *d = opaque;
  char buf[512];
  const char *why = clockd_not_ready(d, buf, sizeof buf);
  if (strcmp(path, "/readyz") == 0) {
    gl_shell_reply_readyz(r, why);
    return;
  }
  if (strcmp(path, "/healthz") != 0) return;
  bool ending = d->stopping || d->sh.exit_code;
  const char *status = d->sh.exit_code ? "failing" : d->stopping ? "stopping" : why ? "degraded" : "ok";
  gl_http_reply_json(r, ending ? 503 : 200,
              json_pack("{s:s, s:s?, s:s, s:i, s:i, s:I, s:I, s:I}", "status", status, "why", why,
                        "service", "clockd", "partitions", (int)d->partitions,
                        "stale_partitions", (int)clockd_stale_partitions(d), "rounds",
                        (json_int_t)d->rounds, "last_tick_ms", (json_int_t)d->last_tick_ms,
                        "delivery_failures", (json_int_t)d->failed));
}
