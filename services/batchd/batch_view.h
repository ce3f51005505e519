/* batch_view: the per-batch view of the batch daemon (SPEC §7) as a pure
 * function of (batch, member, order status) -> (batch', member', changed view).
 *
 * No Kafka, no I/O, no clocks, like order_table: batch_store.c lays the
 * batches and their members out in the store, the daemon glue (batchd.c)
 * owns the Kafka side; this file owns every rule.
 * The counting rules and every decision the specification leaves open are
 * written at the top of batch_view.c. */
#ifndef GREENLIGHT_BATCH_VIEW_H
#define GREENLIGHT_BATCH_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "batch_repartition.h"
#include "greenlight/gl_codec.h"
#include "greenlight/v1/state.pb-c.h" /* The changelog value, greenlight.v1.BatchStoreValue. */

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

/* The kinds of value of the "batches" store (see batch_store.h): a batch's
 * counters under its batch key, one order's membership under its member
 * key. Each value begins with its kind. */
typedef enum batch_kind { BATCH_KIND_BATCH = 1, BATCH_KIND_MEMBER = 2 } batch_kind_t;

/* One order's contribution to a batch: greenlight.v1.BatchMember. The
 * order_id is in the store key. */
typedef struct batch_member {
  batch_kind_t kind; /* BATCH_KIND_MEMBER. */
  int state;         /* greenlight.v1.OrderState value. */
  int64_t units_requested;
  int64_t units_effective;
  int64_t units_cleared;
  int64_t version;   /* OrderStatus.version last applied to this member. */
} batch_member_t;

/* One batch's counters and last view (greenlight.v1.BatchRecord); opaque
 * outside batch_view.c. Its size does not depend on the number of members. */
typedef struct batch batch_t;

/* What batch_apply() did with one status. */
typedef enum batch_result {
  BATCH_IGNORED = 0,     /* Nothing changed (stale version, or removal of a non-member). */
  BATCH_MEMBERS = 1,     /* Members changed but not the view: store them, publish nothing. */
  BATCH_PUBLISH = 2      /* The view changed: store it and publish batch_view() (version + 1). */
} batch_result_t;

/* One step of batch_apply(): its result and the order's member entry after it. */
typedef struct batch_step {
  batch_result_t result;
  bool member;          /* Unless BATCH_IGNORED: true, store next under the member key;
                           false, the order left (delete its member key). */
  batch_member_t next;  /* The member entry when member is true. */
} batch_step_t;

/* A new, empty batch under its store key (a batch_id or GL_BATCH_KEY_WAITING). */
batch_t *batch_new(const char *key);
void batch_free(batch_t *b);

/* True for the key of the waiting view ("~waiting"). */
bool batch_key_is_waiting(const char *key);

/* Checks that an OrderStatus read from the repartition topic can be applied
 * (order_id of 1..GL_ID_MAX bytes, a known state, version >= 1, units >= 0).
 * Returns 0, or -1 with a description in err. */
int batch_status_check(const Greenlight__V1__OrderStatus *st, char *err, size_t errlen);

/* Applies one order status, read under the batch's own key, to the batch b
 * and to m, the order's member entry under that key (NULL when it is not a
 * member): upserts the member when the status's batch key
 * (gl_order_batch_key) equals the batch's key, removes it otherwise,
 * ignores the status when its version is not newer than the member's; the
 * batch's counters and view follow. m is only read: the caller stores the
 * step's member entry (batch_store_apply() does). st must have passed
 * batch_status_check(). */
batch_step_t batch_apply(batch_t *b, const batch_member_t *m, const Greenlight__V1__OrderStatus *st);

/* Read-only views for the glue, queries and tests. */
const char *batch_key(const batch_t *b);
const batch_view_t *batch_view(const batch_t *b);
int64_t batch_member_count(const batch_t *b);

/* Store values (a batch_t or a batch_member_t, told apart by their kind)
 * <-> changelog values (greenlight.v1.BatchStoreValue). Encoding is a pure
 * function of the value, so encode(decode(encode(v))) == encode(v). */
batch_kind_t batch_entry_kind(const void *entry);
void *batch_entry_decode(const void *buf, size_t len, char *errstr, size_t errlen);
size_t batch_entry_encode(const void *entry, uint8_t **out); /* malloc'd; returns length. */
void batch_entry_free(void *entry);

/* The current view as a malloc'd serialized greenlight.v1.BatchStatus. */
size_t batch_status_pack(const batch_t *b, uint8_t **out);

#endif
