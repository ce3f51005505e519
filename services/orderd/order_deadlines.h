/* order_deadlines: a partition group's index of order deadlines (approval
 * expiry, parked-event TTL, tombstone due), so that a move of event time
 * acts on exactly the orders whose deadline passed, in a deterministic
 * order: by (deadline, order_id).
 *
 * Entries are never updated in place: a changed deadline is pushed again and
 * a popped entry is checked against the order's current deadline, so stale
 * entries cost one pop each. An entry is 16 bytes in the heap plus its id,
 * malloc'd at its exact length.
 *
 * Thread locality: the loop thread (the processor's hooks). Ownership: ids
 * are copied by push; an id popped is the caller's (free()). */
#ifndef GREENLIGHT_ORDER_DEADLINES_H
#define GREENLIGHT_ORDER_DEADLINES_H

#include <stddef.h>
#include <stdint.h>

typedef struct order_deadline {
  int64_t at;
  char *id; /* NUL-terminated; malloc'd. */
} order_deadline_t;

typedef struct order_deadlines {
  order_deadline_t *heap;
  size_t len, cap;
} order_deadlines_t;

void order_deadlines_init(order_deadlines_t *d);
/* Frees every entry and the heap. */
void order_deadlines_free(order_deadlines_t *d);
/* Drops every entry, keeping the heap's room (an index about to be rebuilt). */
void order_deadlines_clear(order_deadlines_t *d);
/* Adds (at, id); INT64_MAX (never) is ignored. */
void order_deadlines_push(order_deadlines_t *d, int64_t at, const char *id);
/* The same with the idlen bytes at id (not NUL-terminated; no NUL inside). */
void order_deadlines_push_n(order_deadlines_t *d, int64_t at, const char *id, size_t idlen);
/* Pops the earliest entry if it is due (at <= now) into *out, whose id the
 * caller then frees; returns 0 if none is. */
int order_deadlines_pop_due(order_deadlines_t *d, int64_t now, order_deadline_t *out);

#endif
