/* gl_settle: records settle one Fetch after they arrive. See gl_settle.h. */
#include "gl_settle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#define GL_SETTLE_FETCH 1 /* Kafka's ApiKey of Fetch. */

void gl_settle_init(gl_settle_t *s, uv_async_t *wake) {
  memset(s, 0, sizeof(*s));
  for (int i = 0; i < GL_SETTLE_BROKERS; i++) atomic_init(&s->id[i], INT32_MIN);
  s->wake = wake;
  if (uv_mutex_init(&s->wake_lock) != 0) abort();
}

void gl_settle_close(gl_settle_t *s) {
  uv_mutex_lock(&s->wake_lock);
  s->wake = NULL;
  uv_mutex_unlock(&s->wake_lock);
}

void gl_settle_destroy(gl_settle_t *s) { uv_mutex_destroy(&s->wake_lock); }

/* The slot of brokerid, taken if it has none yet; -1 when all are taken. */
static int gl_settle_slot(gl_settle_t *s, int32_t brokerid) {
  for (int i = 0; i < GL_SETTLE_BROKERS; i++) {
    int32_t id = atomic_load_explicit(&s->id[i], memory_order_acquire);
    if (id == INT32_MIN) {
      int32_t expect = INT32_MIN;
      if (atomic_compare_exchange_strong(&s->id[i], &expect, brokerid) || expect == brokerid)
        return i;
      continue; /* Another broker thread took the slot. */
    }
    if (id == brokerid) return i;
  }
  atomic_store(&s->overflow, true);
  return -1;
}

void gl_settle_sent(gl_settle_t *s, int32_t brokerid) {
  int i = gl_settle_slot(s, brokerid);
  if (i < 0) return;
  atomic_store_explicit(&s->handled_at_send[i],
                        atomic_load_explicit(&s->handled[i], memory_order_relaxed),
                        memory_order_relaxed); /* Published by the release below. */
  /* Release: what this thread enqueued before is seen by a loop that
   * reads the new count (gl_settle_pump_start, acquire). */
  atomic_fetch_add_explicit(&s->sent[i], 1, memory_order_release);
  if (atomic_load_explicit(&s->waiting, memory_order_relaxed) &&
      atomic_exchange(&s->waiting, false)) {
    uv_mutex_lock(&s->wake_lock);
    if (s->wake) uv_async_send(s->wake);
    uv_mutex_unlock(&s->wake_lock);
  }
}

void gl_settle_handled(gl_settle_t *s, int32_t brokerid) {
  int i = gl_settle_slot(s, brokerid);
  /* Before the response is parsed: a loop that sees records of it sees
   * this count too (the queue's lock orders them). */
  if (i >= 0) atomic_fetch_add_explicit(&s->handled[i], 1, memory_order_release);
}

static rd_kafka_resp_err_t gl_settle_on_sent(rd_kafka_t *rk, int sockfd, const char *brokername,
                                             int32_t brokerid, int16_t api_key,
                                             int16_t api_version, int32_t corr_id, size_t size,
                                             void *opaque) {
  (void)rk, (void)sockfd, (void)brokername, (void)api_version, (void)corr_id, (void)size;
  if (api_key == GL_SETTLE_FETCH) gl_settle_sent(opaque, brokerid);
  return RD_KAFKA_RESP_ERR_NO_ERROR;
}

/* Called by rd_kafka_buf_callback just before the request's own callback
 * (the Fetch handler), for a response as for a failed request; a late
 * response to a timed-out request comes with ApiKey -1. */
static rd_kafka_resp_err_t gl_settle_on_received(rd_kafka_t *rk, int sockfd,
                                                 const char *brokername, int32_t brokerid,
                                                 int16_t api_key, int16_t api_version,
                                                 int32_t corr_id, size_t size, int64_t rtt,
                                                 rd_kafka_resp_err_t err, void *opaque) {
  (void)rk, (void)sockfd, (void)brokername, (void)api_version, (void)corr_id, (void)size;
  (void)rtt, (void)err;
  if (api_key == GL_SETTLE_FETCH) gl_settle_handled(opaque, brokerid);
  return RD_KAFKA_RESP_ERR_NO_ERROR;
}

static rd_kafka_resp_err_t gl_settle_on_new(rd_kafka_t *rk, const rd_kafka_conf_t *conf,
                                            void *opaque, char *errstr, size_t errlen) {
  (void)conf, (void)errstr, (void)errlen;
  rd_kafka_resp_err_t err = rd_kafka_interceptor_add_on_request_sent(
      rk, "greenlight.settle", gl_settle_on_sent, opaque);
  if (!err)
    err = rd_kafka_interceptor_add_on_response_received(rk, "greenlight.settle",
                                                        gl_settle_on_received, opaque);
  return err;
}

int gl_settle_install(gl_settle_t *s, rd_kafka_conf_t *conf, char *errstr, size_t errlen) {
  rd_kafka_resp_err_t err =
      rd_kafka_conf_interceptor_add_on_new(conf, "greenlight.settle", gl_settle_on_new, s);
  if (err) {
    snprintf(errstr, errlen, "fetch interceptor: %s", rd_kafka_err2str(err));
    return -1;
  }
  return 0;
}

/* How far broker i lets records settle, read now (sent, then handled):
 * every earlier pump if it is between responses (no answer begun since its
 * last Fetch, sent unchanged across the reads), the pending snapshot's
 * pumps if it wrote a Fetch since, else what had settled. */
static uint64_t gl_settle_broker(gl_settle_t *s, int i, uint64_t sent, uint64_t handled) {
  uint64_t at_send = atomic_load_explicit(&s->handled_at_send[i], memory_order_acquire);
  uint64_t again = atomic_load_explicit(&s->sent[i], memory_order_acquire);
  if (again == sent && sent > 0 && handled == at_send) return s->pump - 1;
  if (s->pending && sent > s->base[i]) return s->pending_tag;
  return s->settled;
}

void gl_settle_pump_start(gl_settle_t *s) {
  s->pump++;
  uint64_t upto = s->pump - 1; /* No broker fetching: nothing holds records back. */
  for (int i = 0; i < GL_SETTLE_BROKERS; i++) {
    if (atomic_load_explicit(&s->id[i], memory_order_acquire) == INT32_MIN) break;
    /* A broker between responses holds nothing back, so one that fetches
     * nothing any more (it left, or leads nothing of ours) is no wait; one
     * reading an answer is waited for however long it takes, up to
     * merge.settle.ms from the records' arrival. */
    uint64_t n = atomic_load_explicit(&s->sent[i], memory_order_acquire);
    uint64_t h = atomic_load_explicit(&s->handled[i], memory_order_acquire);
    uint64_t b = gl_settle_broker(s, i, n, h);
    if (b < upto) upto = b;
  }
  if (atomic_load(&s->overflow)) return;
  if (upto > s->settled) s->settled = upto;
  if (s->pending && s->settled >= s->pending_tag) s->pending = false;
}

uint64_t gl_settle_tag(gl_settle_t *s) {
  s->took = true;
  s->tagged = s->pump;
  return s->pump;
}

bool gl_settle_drained(gl_settle_t *s) {
  bool took_now = s->tagged == s->pump;
  if (!s->took || s->pending) return took_now;
  for (int i = 0; i < GL_SETTLE_BROKERS; i++) {
    if (atomic_load_explicit(&s->id[i], memory_order_acquire) == INT32_MIN) break;
    s->base[i] = atomic_load_explicit(&s->sent[i], memory_order_acquire);
  }
  s->pending = true;
  s->pending_tag = s->pump;
  s->took = false;
  return took_now;
}

void gl_settle_want_wake(gl_settle_t *s) { atomic_store(&s->waiting, true); }
