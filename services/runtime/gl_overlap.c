/* gl_overlap: processing while a commit is in flight. A commit blocks the
 * producer (commit_transaction flushes; in at_least_once mode the flush
 * and the offset commit), so no output can be produced until it returns:
 * the records the partition groups already hold are processed meanwhile,
 * and their outputs are held here, in order, to be produced into the next
 * transaction as soon as the commit returns. If it fails, they are
 * dropped with everything else the failed cycle did: every group that
 * processed records since the last commit rewinds and restores.
 *
 * What is held: each output (topic, partition, timestamp, key, value,
 * headers) and the input record behind it (for poison, gl_poison.c), or a
 * refusal (an output over record.max.bytes) to replay as one. Only buffered
 * records are processed (the consumer is not polled during a commit, so no
 * rebalance can happen in the middle), at most commit.overlap.max.records.
 * This file only keeps them: gl_txn.c decides when to hold and replays.
 *
 * Loop thread only; the engine owns the buffers. */
#include <stdlib.h>
#include <string.h>

#include "gl_engine_int.h"

/* Buffers up to this size are kept from one commit to the next. */
#define GL_OVERLAP_KEEP_BYTES (1u << 20)

struct gl_held {
  const char *topic; /* The engine's own string (an output, changelog or DLQ). */
  int32_t partition;
  int64_t timestamp_ms;
  size_t at, klen, vlen; /* Key then value bytes at buf + at. */
  bool has_key, has_value;
  rd_kafka_headers_t *hdrs; /* Owned until produced. */
  bool has_cause;
  gl_cause_t cause;
  bool refused; /* Not an output: a refusal (detail at buf + at, vlen bytes). */
};

static size_t gl_overlap_bytes(gl_engine_t *e, const void *p, size_t n) {
  if (e->held_len + n > e->held_buf_cap) {
    size_t cap = e->held_buf_cap ? e->held_buf_cap : 1 << 16;
    while (cap < e->held_len + n) cap *= 2;
    uint8_t *b = realloc(e->held_buf, cap);
    if (!b) abort();
    e->held_buf = b;
    e->held_buf_cap = cap;
  }
  size_t at = e->held_len;
  if (n) memcpy(e->held_buf + at, p, n);
  e->held_len += n;
  return at;
}

static gl_held_t *gl_overlap_push(gl_engine_t *e) {
  if (e->nheld == e->held_cap) {
    size_t cap = e->held_cap ? e->held_cap * 2 : 1024;
    gl_held_t *h = realloc(e->held, cap * sizeof(*h));
    if (!h) abort();
    e->held = h;
    e->held_cap = cap;
  }
  gl_held_t *h = &e->held[e->nheld++];
  memset(h, 0, sizeof(*h));
  h->has_cause = e->held_has_cause;
  h->cause = e->held_cause;
  return h;
}

void gl_overlap_cause(gl_engine_t *e, int32_t partition, int rank, int64_t offset) {
  e->held_has_cause = true;
  e->held_cause = (gl_cause_t){partition, rank, offset};
}

void gl_overlap_hold(gl_engine_t *e, const char *topic, int32_t partition, int64_t timestamp_ms,
                     const void *key, size_t klen, const void *value, size_t vlen,
                     rd_kafka_headers_t *hdrs) {
  gl_held_t *h = gl_overlap_push(e);
  h->topic = topic;
  h->partition = partition;
  h->timestamp_ms = timestamp_ms;
  h->has_key = key != NULL;
  h->has_value = value != NULL;
  h->klen = key ? klen : 0;
  h->vlen = value ? vlen : 0;
  h->at = gl_overlap_bytes(e, key, h->klen);
  gl_overlap_bytes(e, value, h->vlen);
  h->hdrs = hdrs;
}

void gl_overlap_refuse(gl_engine_t *e, const char *detail) {
  e->held_refused = true; /* The next transaction will abort: no use going on. */
  gl_held_t *h = gl_overlap_push(e);
  h->refused = true;
  h->vlen = strlen(detail) + 1;
  h->at = gl_overlap_bytes(e, detail, h->vlen);
}

static void gl_overlap_clear(gl_engine_t *e) {
  for (size_t i = 0; i < e->nheld; i++)
    if (e->held[i].hdrs) rd_kafka_headers_destroy(e->held[i].hdrs);
  e->nheld = 0;
  e->held_len = 0;
  e->held_records = 0;
  e->held_open = false;
  e->held_refused = false;
  e->held_started_ms = 0;
  e->held_has_cause = false;
  /* A commit that overlapped a large backlog leaves large buffers: give
   * them back rather than keep the peak for the process's life. */
  if (e->held_buf_cap > GL_OVERLAP_KEEP_BYTES) {
    free(e->held_buf);
    e->held_buf = NULL;
    e->held_buf_cap = 0;
  }
  if (e->held_cap * sizeof(*e->held) > GL_OVERLAP_KEEP_BYTES) {
    free(e->held);
    e->held = NULL;
    e->held_cap = 0;
  }
}

void gl_overlap_each(gl_engine_t *e, gl_overlap_fn fn, void *arg) {
  for (size_t i = 0; i < e->nheld && !e->closed; i++) {
    gl_held_t *h = &e->held[i];
    const uint8_t *b = e->held_buf + h->at;
    gl_held_view_t v = {.topic = h->topic,
                        .partition = h->partition,
                        .timestamp_ms = h->timestamp_ms,
                        .key = h->has_key ? b : NULL,
                        .klen = h->klen,
                        .value = h->has_value ? b + h->klen : NULL,
                        .vlen = h->vlen,
                        .hdrs = h->hdrs,
                        .cause = h->has_cause ? &h->cause : NULL,
                        .refused = h->refused ? (const char *)b : NULL};
    h->hdrs = NULL; /* The callback's now. */
    fn(arg, &v);
  }
  gl_overlap_clear(e);
}

void gl_overlap_drop(gl_engine_t *e) { gl_overlap_clear(e); }

void gl_overlap_destroy(gl_engine_t *e) {
  gl_overlap_clear(e);
  free(e->held);
  free(e->held_buf);
  e->held = NULL;
  e->held_buf = NULL;
  e->held_cap = e->held_buf_cap = 0;
}
