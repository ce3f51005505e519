/* order_policy: the operator's policy for the order state machine (SPEC §4).
 *
 * The policy is a plain struct, filled with defaults by order_policy_default()
 * and overridden from a file by order_policy_load(). The file holds one
 * `key = value` per line; `#` starts a comment that runs to the end of the
 * line; blank lines are ignored. Keys (defaults in brackets):
 *
 *   barred_end_uses      Comma list of EndUse names, with or without the
 *                        END_USE_ prefix, in any letter case; an empty value
 *                        bars nothing. END_USE_UNSPECIFIED is always barred,
 *                        listed or not: an order must declare its end use.
 *                        [SENSITIVE_AGENCY, CRITICAL_INFRASTRUCTURE]
 *   min_units            Fewest units an order may request, >= 1.      [1]
 *   max_units            Most units an order may request, >= min_units. [1000000]
 *   domestic_floor_bp    Lowest domestic_units_committed * 10000 / units an
 *                        order may declare, in basis points.           [0]
 *   park_ttl_ms          How long (event time) an early event stays parked
 *                        before it goes to the DLQ as expired_unmatched. [7 days]
 *   closed_retention_ms  How long (event time) a terminal order is kept
 *                        before it is tombstoned.                     [30 days]
 *   max_seen_event_ids   Most event ids remembered per order for dedup.
 *                        Dedup is never silently weakened: an order whose
 *                        list is full refuses further events with reason
 *                        `dedup_capacity` (DLQ) instead of forgetting ids.
 *                        1..ORDER_SEEN_LIMIT. [1024]
 *   max_parked_events    Most early events parked per order; more are
 *                        refused with reason `park_full`. 1..ORDER_PARKED_LIMIT.
 *                        [32]
 *
 * A key may appear once. An unknown key, a malformed or out-of-range number or
 * an unknown end-use name is an error that names file:line, the key, the value
 * and what was expected.
 *
 * The file must be a regular file of at most ORDER_POLICY_FILE_MAX bytes
 * without NUL bytes. It is opened non-blocking and checked before it is read
 * (gl_conf_read_file()), so a FIFO, socket, device or directory named as the
 * policy is refused at once instead of blocking or being read as empty. */
#ifndef GREENLIGHT_ORDER_POLICY_H
#define GREENLIGHT_ORDER_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Size of the barred_end_use table: every EndUse value must be below it. */
#define ORDER_END_USE_SLOTS 32

/* The order's changelog record must fit the broker's message size (about
 * 1 MB) whatever the input (SPEC §3.1). Its unbounded parts are bounded
 * here: at most ORDER_SEEN_LIMIT remembered event ids of GL_ID_MAX bytes
 * (~270 KB) and at most ORDER_PARKED_BYTES_MAX bytes of parked events;
 * the fixed fields are a few KB (GL_TEXT_MAX per text field). */
#define ORDER_SEEN_LIMIT 2048
#define ORDER_PARKED_BYTES_MAX (512 * 1024)

/* Hard upper bound of max_parked_events. One call of order_apply() or
 * order_advance() produces at most a few records plus one per parked event,
 * so this bound keeps every call within ORDER_OUT_MAX (order_table.h). */
#define ORDER_PARKED_LIMIT 48

#define ORDER_DAY_MS (24LL * 60 * 60 * 1000)

/* Largest policy file read. */
#define ORDER_POLICY_FILE_MAX (1024 * 1024)

typedef struct order_policy {
  bool barred_end_use[ORDER_END_USE_SLOTS]; /* Indexed by greenlight.v1.EndUse value. */
  int64_t min_units;
  int64_t max_units;
  int64_t domestic_floor_bp;
  int64_t park_ttl_ms;
  int64_t closed_retention_ms;
  uint32_t max_seen_event_ids;
  uint32_t max_parked_events;
} order_policy_t;

/* Fills *pol with the defaults listed above. */
void order_policy_default(order_policy_t *pol);

/* Sets *pol to the defaults, then applies the keys of the file at path.
 * Returns 0, or -1 with a message in errstr; *pol is left unchanged on error.
 * A file that cannot be read gives what was expected and what was found
 * ("expected a regular file (it is a FIFO)"); the caller names the setting
 * and the path. Errors inside the file name path:line. */
int order_policy_load(order_policy_t *pol, const char *path, char *errstr, size_t errlen);

/* True if the policy bars end_use (unknown values and UNSPECIFIED included). */
bool order_policy_end_use_barred(const order_policy_t *pol, int end_use);

#endif
