/* order_table: the order state machine of SPEC §4 as a pure function of
 * (policy, order, event) -> (order', status records, refusals).
 *
 * No Kafka, no I/O, no clocks: time is the event time handed in, so a
 * replay of the same input reproduces the same output byte for byte. The
 * daemon glue (orderd.c) owns the store and the Kafka side; this file owns
 * every rule. */
#ifndef GREENLIGHT_ORDER_TABLE_H
#define GREENLIGHT_ORDER_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "greenlight/gl_codec.h"
#include "greenlight/v1/state.pb-c.h" /* The changelog value, greenlight.v1.OrderRecord. */
#include "order_policy.h"

/* One order's state; opaque outside order_table.c. */
typedef struct order order_t;

/* An input event as the table sees it. */
typedef struct order_event {
  const gl_envelope_t *env; /* Decoded and validated (gl_envelope_decode). */
  const void *raw;          /* The original record value, kept if the event is parked. */
  size_t raw_len;
  const char *topic;        /* Source topic, partition and offset: the cause. */
  int32_t partition;
  int64_t offset;
} order_event_t;

/* A status record to publish. */
typedef struct order_status_rec {
  uint8_t *buf; /* malloc'd serialized greenlight.v1.OrderStatus. */
  size_t len;
  int state;    /* Its OrderState, for metrics. */
  /* The event time of its cause: the record's timestamp. A parked event
   * applied later keeps its own time, not that of the record that freed it. */
  int64_t timestamp_ms;
  /* Its repartition key (gl_order_batch_key); "" when it has none. */
  char batch_key[GL_ID_MAX + 1];
} order_status_rec_t;

/* Refusal reasons (stable, for the DLQ header and metrics):
 *   invalid             the payload breaks a field rule (units < 0, ...)
 *   order_closed        rule 8: the order is terminal
 *   over_clearance      rule 5: cleared would exceed effective units
 *   batch_move_refused  rule 3: BatchQueued after the import approval
 *   duplicate_order     a second OrderPlaced (other event_id) for a placed order
 *   duplicate_grant     a second grant from an authority that already granted
 *   dedup_capacity      the order's dedup list is full (policy max_seen_event_ids)
 *   park_full           the order's park is full (policy max_parked_events)
 *   expired_unmatched   rule 9: a parked event outlived the park TTL
 *   decode_error, ...   a gl_codec reason, for parked bytes that no longer decode
 * A parked event that becomes impossible to apply (the order closed, a
 * duplicate grant, ...) leaves the park at once with that reason; like an
 * expired one it carries raw and its own coordinates. */

/* An input that goes to the dead-letter topic: the applied event itself
 * (raw == NULL: the glue sends the current record) or a parked one that
 * expired (raw is a malloc'd copy with its own source coordinates). */
typedef struct order_refusal {
  const char *reason; /* Stable code, e.g. "order_closed", "over_clearance". */
  char detail[256];   /* Human text naming the rule and the numbers. */
  uint8_t *raw;
  size_t raw_len;
  char topic[256];
  int32_t partition;
  int64_t offset;
} order_refusal_t;

#define ORDER_OUT_MAX 64

/* What one call produced. Initialize with order_out_init() (only the
 * counters: the arrays are large and written entry by entry) and release
 * with order_out_release() after each call. */
typedef struct order_out {
  order_status_rec_t status[ORDER_OUT_MAX];
  size_t nstatus;
  order_refusal_t refusal[ORDER_OUT_MAX];
  size_t nrefusal;
  bool changed;  /* The order must be written to the changelog. */
  bool remove;   /* The order must be deleted (tombstone) from store and changelog. */
  unsigned duplicates; /* Events ignored as repeated event_id (rule 10). */
  unsigned parked;     /* Events parked by this call (rule 9). */
} order_out_t;

order_t *order_new(const char *order_id);
void order_free(order_t *o);

/* Changelog value (greenlight.v1.OrderRecord) <-> order. */
order_t *order_decode(const void *buf, size_t len, char *errstr, size_t errlen);
size_t order_encode(const order_t *o, uint8_t **out); /* malloc'd; returns length. */

/* Applies ev to o. o is never NULL: pass order_new(id) for an unseen id;
 * if the call leaves out->changed false and the order was new, the glue
 * discards it. stream_time_ms is the partition group's event time after
 * this event (SPEC §5). */
void order_apply(const order_policy_t *pol, order_t *o, const order_event_t *ev,
                 int64_t stream_time_ms, order_out_t *out);

/* Event time has advanced to now_ms (a Tick or any later event): expires
 * the approval (rule 6), drops parked events past their TTL (rule 9,
 * refusal `expired_unmatched`) and, for a terminal order past its
 * retention, sets out->remove. cause is the event that moved time. */
void order_advance(const order_policy_t *pol, order_t *o, int64_t now_ms,
                   const order_event_t *cause, order_out_t *out);

/* Every reason a refusal of order_apply() or order_advance() may carry
 * (the envelope's reasons, gl_envelope_reasons, come on top for a parked
 * event that no longer decodes), NULL-terminated: the glue declares them
 * as DLQ metric labels at start. The model checker (test_order_model)
 * fails on a refusal whose reason is missing here. */
extern const char *const order_refusal_reasons[];
bool order_refusal_reason_known(const char *reason);

/* The earliest event time at which order_advance() would act on o;
 * INT64_MAX if never. Lets the glue keep a deadline index. */
int64_t order_next_deadline(const order_policy_t *pol, const order_t *o);

void order_out_init(order_out_t *out);
void order_out_release(order_out_t *out);

/* Capacity note: one call of order_apply() or order_advance() emits at most
 * ORDER_PARKED_LIMIT + 3 status records and ORDER_PARKED_LIMIT + 1 refusals
 * (order_policy.h), within ORDER_OUT_MAX, provided out is released between
 * calls. */

/* Read-only views for the glue, queries and tests. */
const char *order_id(const order_t *o);
int order_state(const order_t *o);   /* greenlight.v1.OrderState value. */
int64_t order_version(const order_t *o);
/* The batch the order is queued in; "" if none. */
const char *order_batch_id(const order_t *o);
/* The current status as a malloc'd serialized OrderStatus (for GET /orders/{id}). */
size_t order_status_pack(const order_t *o, uint8_t **out);

/* Additions (order_table work): more read-only views. */
size_t order_parked_count(const order_t *o); /* Events parked (rule 9). */
size_t order_seen_count(const order_t *o);   /* Event ids remembered (rule 10). */
int64_t order_closed_at(const order_t *o);   /* Event time it became terminal; 0 = open. */
bool order_state_terminal(int state);        /* REJECTED, CLEARED, DENIED, EXPIRED, CANCELLED. */
/* Checks the invariants of SPEC §4 rule 11 (and the ones the rules rely on)
 * on o; returns 0, or -1 with a description in err. For tests and debug
 * builds of the glue. */
int order_check_invariants(const order_t *o, char *err, size_t errlen);

#endif
