/* order_internal: the in-memory order, shared by order_table.c (the rules),
 * order_record.c (memory, changelog decoding, status records) and
 * order_wire.c (the records' bytes). Not part of the public API: only these
 * files include it. */
#ifndef GREENLIGHT_ORDER_INTERNAL_H
#define GREENLIGHT_ORDER_INTERNAL_H

#include <stdarg.h>

#include "order_table.h"

/* One grant (ApprovalGranted) recorded on the order. */
typedef struct order_grant {
  bool present;
  char *approval_id;
  int64_t units;
  int32_t ratio_bp;
  int64_t valid_until_ms;
  char *batch_id;
} order_grant_t;

/* An early event held until it applies (rule 9). */
typedef struct order_parked {
  uint8_t *raw; /* The original record value (a serialized Envelope). */
  size_t raw_len;
  char *topic;
  int32_t partition;
  int64_t offset;
  int64_t occurred_at_ms;
} order_parked_t;

/* Where a status record came from (OrderStatus.cause). */
typedef struct order_cause {
  const char *event_id;
  const char *type;
  const char *topic;
  int32_t partition;
  int64_t offset;
  int64_t occurred_at_ms;
} order_cause_t;

/* The whole order: the fields of the last published OrderStatus, the grants,
 * the dedup list, the parked events and the close time, i.e. exactly the
 * content of a greenlight.v1.OrderRecord. Strings are malloc'd and never
 * NULL once the order exists. */
struct order {
  /* OrderStatus as last published. */
  char *id;
  char *buyer_id;
  char *buyer_name;
  char *product;
  int end_use;
  int state;
  int previous_state;
  int64_t version;
  char *reason_code;
  char *reason;
  int64_t units_requested;
  int64_t units_export;
  int64_t units_import;
  int64_t units_effective;
  int64_t units_cleared;
  char *batch_id;
  int32_t batch_seq;
  int32_t queue_position;
  int64_t batch_unit_cap; /* BatchQueued.batch_unit_cap of its batch. */
  int64_t valid_until_ms;
  int32_t ratio_bp;
  int64_t domestic;
  char *export_approval_id;
  char *import_approval_id;
  char *cause_event_id;
  char *cause_type;
  char *cause_topic;
  int32_t cause_partition;
  int64_t cause_offset;
  int64_t cause_occurred_at_ms;
  /* The rest of the OrderRecord. */
  order_grant_t export_grant;
  order_grant_t import_grant;
  char **seen;
  size_t nseen;
  size_t capseen;
  order_parked_t *parked;
  size_t nparked;
  size_t capparked;
  int64_t closed_at_ms;
};

/* Replaces *dst with a copy of src (NULL copies as ""), written over the
 * old string when it is long enough: a pointer to the old string does not
 * keep its value across the call. Aborts on OOM. */
void order_str_set(char **dst, const char *src);
void order_grant_clear(order_grant_t *g);
void order_parked_clear(order_parked_t *p);

/* True if id is in the dedup list. */
bool order_seen_has(const order_t *o, const char *id);
/* Appends id to the dedup list (the caller checks the policy cap). */
void order_seen_add(order_t *o, const char *id);
/* Appends a parked event (copies raw and topic). */
void order_parked_add(order_t *o, const void *raw, size_t raw_len, const char *topic,
                      int32_t partition, int64_t offset, int64_t occurred_at_ms);
/* Removes parked event i, keeping the order of the others. */
void order_parked_remove(order_t *o, size_t i);
/* Bytes of the parked events' records (D4's budget). */
size_t order_parked_bytes(const order_t *o);

/* vsnprintf(buf, size, fmt, ap), cheaper for the formats the rules use
 * (order_record.c); the same text. */
void order_vformat(char *buf, size_t size, const char *fmt, va_list ap);

/* True if the order's cause says something (an OrderStatus carries a
 * Cause only then, so that a record decoded and encoded again is
 * byte-identical). */
static inline bool order_has_cause(const order_t *o) {
  return (o->cause_event_id && *o->cause_event_id) || (o->cause_type && *o->cause_type) ||
         (o->cause_topic && *o->cause_topic) || o->cause_partition || o->cause_offset ||
         o->cause_occurred_at_ms;
}

/* The order's current view as a serialized OrderStatus, and the order as a
 * serialized OrderRecord, each a malloc'd buffer *out of the returned
 * length, byte for byte what protobuf-c packs from the same fields
 * (order_wire.c). order_status_pack() and order_encode() use them. */
size_t order_wire_status(const order_t *o, uint8_t **out);
size_t order_wire_record(const order_t *o, uint8_t **out);

/* Records the order's current view as the next status (version + 1, the
 * given previous state, reason and cause) and appends it to out. */
void order_publish(order_t *o, int previous_state, const char *reason_code, const char *reason,
                   const order_cause_t *cause, order_out_t *out);

#endif
