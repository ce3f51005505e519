/* batch_view: the per-batch view of the batch daemon (SPEC §7) as a pure
 * function of (batch, order status) -> (batch', changed view).
 *
 * No Kafka, no I/O, no clocks, like order_table: the daemon glue
 * (batchd.c) owns the store and the Kafka side; this file owns every rule.
 * The counting rules and every decision the specification leaves open are
 * written at the top of batch_view.c. */
#ifndef GREENLIGHT_BATCH_VIEW_H
#define GREENLIGHT_BATCH_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "greenlight/gl_codec.h"

/* The view of one batch: the fields of greenlight.v1.BatchStatus. */
typedef struct batch_view {
  char batch_id[GL_ID_MAX + 1]; /* The key, or "" for the waiting view. */
  int32_t batch_seq;
  int64_t unit_cap;
  int64_t orders_queued;
  int64_t orders_approved;
  int64_t orders_denied;
  int64_t orders_cleared;
  int64_t units_requested;
  int64_t units_approved;
  int64_t units_cleared;
  bool over_cap;
  int64_t orders_waiting;
  int64_t version;       /* 0 until the first view is published. */
  int64_t updated_at_ms;
} batch_view_t;

/* One order's contribution to a batch: greenlight.v1.BatchMember. */
typedef struct batch_member {
  char order_id[GL_ID_MAX + 1];
  int state; /* greenlight.v1.OrderState value. */
  int64_t units_requested;
  int64_t units_effective;
  int64_t units_cleared;
  int64_t version; /* OrderStatus.version last applied to this member. */
} batch_member_t;

/* One batch's state (the "batches" store value); opaque outside batch_view.c. */
typedef struct batch batch_t;

/* What batch_apply() did with one status. */
typedef enum batch_result {
  BATCH_IGNORED = 0,     /* Nothing changed (stale version, or removal of a non-member). */
  BATCH_MEMBERS = 1,     /* Members changed but not the view: store it, publish nothing. */
  BATCH_PUBLISH = 2      /* The view changed: store it and publish batch_view() (version + 1). */
} batch_result_t;

/* A new, empty batch under its store key (a batch_id or GL_BATCH_KEY_WAITING). */
batch_t *batch_new(const char *key);
void batch_free(batch_t *b);

/* True for the key of the waiting view ("~waiting"). */
bool batch_key_is_waiting(const char *key);

/* Checks that an OrderStatus read from the repartition topic can be applied
 * (order_id of 1..GL_ID_MAX bytes, a known state, version >= 1, units >= 0).
 * Returns 0, or -1 with a description in err. */
int batch_status_check(const Greenlight__V1__OrderStatus *st, char *err, size_t errlen);

/* Applies one order status, read under the batch's own key, to the batch:
 * upserts the order when the status's batch key (gl_order_batch_key) equals
 * the batch's key, removes it otherwise, ignores it when its version is not
 * newer than the member's; then recomputes the view. st must have passed
 * batch_status_check(). */
batch_result_t batch_apply(batch_t *b, const Greenlight__V1__OrderStatus *st);

/* Read-only views for the glue, queries and tests. */
const char *batch_key(const batch_t *b);
const batch_view_t *batch_view(const batch_t *b);
size_t batch_member_count(const batch_t *b);
/* The i-th member in order_id order (i < batch_member_count()). */
const batch_member_t *batch_member_at(const batch_t *b, size_t i);
/* The member with this order_id, or NULL. */
const batch_member_t *batch_member_find(const batch_t *b, const char *order_id);

/* Changelog value (greenlight.v1.BatchRecord) <-> batch. Encoding is a pure
 * function of the batch, so encode(decode(encode(b))) == encode(b). */
batch_t *batch_decode(const void *buf, size_t len, char *errstr, size_t errlen);
size_t batch_encode(const batch_t *b, uint8_t **out); /* malloc'd; returns length. */

/* The current view as a malloc'd serialized greenlight.v1.BatchStatus. */
size_t batch_status_pack(const batch_t *b, uint8_t **out);

#endif
