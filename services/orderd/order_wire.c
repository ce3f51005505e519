/* order_wire: an order's status record (greenlight.v1.OrderStatus) and
 * changelog value (greenlight.v1.OrderRecord) written straight from the
 * order, byte for byte what protobuf-c 1.4.1 packs from the same fields.
 *
 * Why by hand: these two records are written for almost every input event,
 * and protobuf-c packs a message in two passes driven by its descriptor
 * (get_packed_size, then pack, each measuring every string), which cost
 * orderd more than its rules. Here one pass writes each field where it
 * goes.
 *
 * protobuf-c's rules, which this file follows (protobuf-c.c, 1.4.1):
 *   - fields in the order of the descriptor, which protoc-c sorts by
 *     number; every field here is proto3 without `optional`, so a scalar or
 *     enum that is 0, a string that is NULL or "", bytes of length 0 and a
 *     NULL sub-message are left out;
 *   - a tag is the varint of (number << 3 | wire type);
 *   - int64 is the varint of its 64 bits; int32 and enums too, so a
 *     negative one takes 10 bytes;
 *   - a string or bytes is its length (varint) and its bytes; a sub-message
 *     its packed length and its fields;
 *   - the elements of a repeated string or message are written one by one
 *     under the field's tag, empty ones included.
 * Debug and sanitizer builds pack every record both ways and abort if the
 * bytes differ (order_record.c), so the unit and Kafka tests check the
 * equivalence on every record they make. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "order_internal.h"

/* A growing output buffer: the caller's scratch (on its stack) until that
 * is full, then malloc'd. */
typedef struct order_w {
  uint8_t *buf;
  size_t len, cap;
  bool heap;
} order_w_t;

static void *order_w_alloc(void *p, size_t n) {
  p = realloc(p, n);
  if (!p) {
    fputs("orderd: out of memory\n", stderr);
    abort();
  }
  return p;
}

static void order_w_grow(order_w_t *w, size_t n) {
  size_t cap = w->cap * 2;
  while (cap - w->len < n) cap *= 2;
  if (w->heap) {
    w->buf = order_w_alloc(w->buf, cap);
  } else {
    uint8_t *b = order_w_alloc(NULL, cap);
    memcpy(b, w->buf, w->len);
    w->buf = b;
    w->heap = true;
  }
  w->cap = cap;
}

/* Makes room for n more bytes. */
static inline void order_w_need(order_w_t *w, size_t n) {
  if (__builtin_expect(w->cap - w->len < n, 0)) order_w_grow(w, n);
}

static size_t order_varint_size(uint64_t v) {
  size_t n = 1;
  for (; v >= 0x80; v >>= 7) n++;
  return n;
}

/* Writes v at p (room for 10 bytes); returns the end. */
static inline uint8_t *order_varint_put(uint8_t *p, uint64_t v) {
  for (; v >= 0x80; v >>= 7) *p++ = (uint8_t)(v | 0x80);
  *p++ = (uint8_t)v;
  return p;
}

/* The longest tag (field number < 2^29) and varint. */
#define ORDER_W_TAG_MAX 5
#define ORDER_W_VARINT_MAX 10

static inline void order_w_varint(order_w_t *w, uint64_t v) {
  order_w_need(w, ORDER_W_VARINT_MAX);
  w->len = (size_t)(order_varint_put(w->buf + w->len, v) - w->buf);
}

static inline void order_w_i64(order_w_t *w, unsigned id, int64_t v) {
  if (!v) return;
  order_w_need(w, ORDER_W_TAG_MAX + ORDER_W_VARINT_MAX);
  uint8_t *p = order_varint_put(w->buf + w->len, (uint64_t)id << 3);
  w->len = (size_t)(order_varint_put(p, (uint64_t)v) - w->buf);
}

/* int32 and enums: sign-extended, as protobuf-c's int32_pack. */
static inline void order_w_i32(order_w_t *w, unsigned id, int32_t v) {
  order_w_i64(w, id, v);
}

static void order_w_bytes_always(order_w_t *w, unsigned id, const void *s, size_t n) {
  order_w_need(w, ORDER_W_TAG_MAX + ORDER_W_VARINT_MAX + n);
  uint8_t *p = order_varint_put(w->buf + w->len, (uint64_t)id << 3 | 2);
  p = order_varint_put(p, n);
  if (n) memcpy(p, s, n);
  w->len = (size_t)(p + n - w->buf);
}

static inline void order_w_str(order_w_t *w, unsigned id, const char *s) {
  if (s && *s) order_w_bytes_always(w, id, s, strlen(s));
}

/* A sub-message: order_w_open() writes its tag and keeps one byte for its
 * length; order_w_close() writes the length, moving the fields written
 * since when it needs more than one byte (as protobuf-c does). */
static size_t order_w_open(order_w_t *w, unsigned id) {
  order_w_varint(w, (uint64_t)id << 3 | 2);
  order_w_need(w, 1);
  return w->len++;
}

static void order_w_close(order_w_t *w, size_t at) {
  size_t n = w->len - at - 1, k = order_varint_size(n);
  if (k > 1) {
    order_w_need(w, k - 1);
    memmove(w->buf + at + k, w->buf + at + 1, n);
  }
  size_t end = at + k + n;
  w->len = at;
  order_w_varint(w, n);
  w->len = end;
}

static void order_w_init(order_w_t *w, uint8_t *scratch, size_t cap) {
  *w = (order_w_t){scratch, 0, cap, false};
}

/* Hands the bytes written over as a malloc'd buffer of exactly their
 * length, as protobuf-c's callers got them: the store keeps a committed
 * value's encoding until the next commit. */
static size_t order_w_finish(order_w_t *w, uint8_t **out) {
  if (w->heap) {
    *out = order_w_alloc(w->buf, w->len ? w->len : 1);
  } else {
    *out = order_w_alloc(NULL, w->len ? w->len : 1);
    memcpy(*out, w->buf, w->len);
  }
  return w->len;
}

/* The fields of OrderStatus (and its Cause), as order_status_fill() sets
 * them. */
static void order_w_status(order_w_t *w, const order_t *o) {
  order_w_str(w, 1, o->id);
  order_w_str(w, 2, o->buyer_id);
  order_w_i32(w, 3, o->state);
  order_w_i32(w, 4, o->previous_state);
  order_w_i64(w, 5, o->version);
  order_w_str(w, 6, o->reason_code);
  order_w_str(w, 7, o->reason);
  order_w_i64(w, 8, o->units_requested);
  order_w_i64(w, 9, o->units_export);
  order_w_i64(w, 10, o->units_import);
  order_w_i64(w, 11, o->units_effective);
  order_w_i64(w, 12, o->units_cleared);
  order_w_str(w, 13, o->batch_id);
  order_w_i32(w, 14, o->batch_seq);
  order_w_i32(w, 15, o->queue_position);
  order_w_i64(w, 16, o->valid_until_ms);
  order_w_i32(w, 17, o->ratio_bp);
  order_w_i64(w, 18, o->domestic);
  if (order_has_cause(o)) {
    size_t at = order_w_open(w, 19);
    order_w_str(w, 1, o->cause_event_id);
    order_w_str(w, 2, o->cause_type);
    order_w_str(w, 3, o->cause_topic);
    order_w_i32(w, 4, o->cause_partition);
    order_w_i64(w, 5, o->cause_offset);
    order_w_i64(w, 6, o->cause_occurred_at_ms);
    order_w_close(w, at);
  }
  order_w_str(w, 20, o->buyer_name);
  order_w_str(w, 21, o->product);
  order_w_i32(w, 22, o->end_use);
  order_w_str(w, 23, o->export_approval_id);
  order_w_str(w, 24, o->import_approval_id);
  order_w_i64(w, 25, o->batch_unit_cap);
}

static void order_w_grant(order_w_t *w, unsigned id, const order_grant_t *g) {
  if (!g->present) return;
  size_t at = order_w_open(w, id);
  order_w_str(w, 1, g->approval_id);
  order_w_i64(w, 2, g->units);
  order_w_i32(w, 3, g->ratio_bp);
  order_w_i64(w, 4, g->valid_until_ms);
  order_w_str(w, 5, g->batch_id);
  order_w_close(w, at);
}

/* Scratch for a record with a few seen ids and no parked event; longer ones
 * go to the heap. */
#define ORDER_W_SCRATCH 2048

size_t order_wire_status(const order_t *o, uint8_t **out) {
  uint8_t scratch[ORDER_W_SCRATCH];
  order_w_t w;
  order_w_init(&w, scratch, sizeof scratch);
  order_w_status(&w, o);
  return order_w_finish(&w, out);
}

size_t order_wire_record(const order_t *o, uint8_t **out) {
  uint8_t scratch[ORDER_W_SCRATCH];
  order_w_t w;
  order_w_init(&w, scratch, sizeof scratch);
  size_t at = order_w_open(&w, 1); /* The status is always there. */
  order_w_status(&w, o);
  order_w_close(&w, at);
  order_w_grant(&w, 2, &o->export_grant);
  order_w_grant(&w, 3, &o->import_grant);
  for (size_t i = 0; i < o->nseen; i++) {
    const char *s = o->seen[i] ? o->seen[i] : "";
    order_w_bytes_always(&w, 4, s, strlen(s));
  }
  for (size_t i = 0; i < o->nparked; i++) {
    const order_parked_t *p = &o->parked[i];
    at = order_w_open(&w, 5);
    if (p->raw && p->raw_len) order_w_bytes_always(&w, 1, p->raw, p->raw_len);
    order_w_str(&w, 2, p->topic);
    order_w_i32(&w, 3, p->partition);
    order_w_i64(&w, 4, p->offset);
    order_w_i64(&w, 5, p->occurred_at_ms);
    order_w_close(&w, at);
  }
  order_w_i64(&w, 6, o->closed_at_ms);
  return order_w_finish(&w, out);
}
