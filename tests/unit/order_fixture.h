/* The fixture of the order_table unit tests (test_order_table.c,
 * test_order_lifecycle.c).
 *
 * Every event goes through the same path as in the daemon: a protobuf-c
 * Envelope is packed, decoded with gl_envelope_decode() and applied. After
 * every call the fixture checks the rule-11 invariants on each status record
 * (version strictly +1, previous_state = the state before, terminal states
 * absorb, cleared <= effective <= requested, no clearance before both
 * approvals, each record stamped with its cause's event time) and on the
 * order, and swaps the order for order_decode(order_encode(order)) after
 * checking that a second encoding is byte-identical, so every test also
 * proves the changelog keeps everything. */
#ifndef GL_TEST_ORDER_FIXTURE_H
#define GL_TEST_ORDER_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "order_table.h"

#define ST(x) GREENLIGHT__V1__ORDER_STATE__ORDER_STATE_##x
#define EU(x) GREENLIGHT__V1__END_USE__END_USE_##x
#define PAY(x) GREENLIGHT__V1__ENVELOPE__PAYLOAD_##x
#define EXPORT GREENLIGHT__V1__AUTHORITY__AUTHORITY_US_EXPORT_LICENSE
#define IMPORT GREENLIGHT__V1__AUTHORITY__AUTHORITY_CN_IMPORT_APPROVAL
#define OID "ord-bytedance-1"
#define T0 1767225600000LL /* 2026-01-01T00:00:00Z */
#define DAY (24LL * 3600 * 1000)

typedef struct fx {
  order_policy_t pol;
  order_t *o;
  order_out_t out;
  Greenlight__V1__OrderStatus *st[ORDER_OUT_MAX]; /* out.status, unpacked. */
  int64_t offset;  /* Next input offset. */
  int64_t version; /* Last version seen. */
  int state;       /* Last state seen (RECEIVED before the first record). */
  int64_t now;     /* Stream time. */
  uint8_t *raw;    /* Bytes of the last event sent. */
  size_t raw_len;
  int64_t raw_offset;
} fx_t;

/* cmocka setup/teardown (a fresh fx_t in *state), and the same by hand. */
fx_t *fx_new(void);
int fx_setup(void **state);
int fx_teardown(void **state);
/* Frees the last call's output. */
void fx_clear_out(fx_t *f);
/* The checks run after every call (see above). */
void fx_check(fx_t *f);
/* Packs, decodes and applies one event read from topic, then checks. */
void fx_send(fx_t *f, const char *topic, const char *eid, int64_t t, Greenlight__V1__Envelope *e);

/* One event of each type for order OID, sent at event time t. */
void placed_full(fx_t *f, const char *eid, int64_t t, int64_t units, int end_use,
                 int64_t domestic, const char *buyer);
void placed(fx_t *f, const char *eid, int64_t t, int64_t units, int end_use, int64_t domestic);
void grant(fx_t *f, const char *eid, int64_t t, int authority, const char *approval,
           int64_t units, int32_t ratio, int64_t valid_until, const char *batch);
void deny(fx_t *f, const char *eid, int64_t t, int authority, const char *reason);
void batch(fx_t *f, const char *eid, int64_t t, const char *batch_id, int32_t seq, int32_t pos);
void ship(fx_t *f, const char *eid, int64_t t, int64_t units);
void cancel(fx_t *f, const char *eid, int64_t t, const char *reason);
void tick_apply(fx_t *f, const char *eid, int64_t t);
/* Event time moves to t through a Tick (order_advance, as the glue does). */
void advance(fx_t *f, int64_t t);

/* The last call produced exactly one status record with this state and code. */
Greenlight__V1__OrderStatus *expect_one(fx_t *f, int state, const char *code);
/* The last call refused the current event and changed nothing. */
order_refusal_t *expect_refused(fx_t *f, const char *reason);
/* The last call parked the event; total events are parked now. */
void expect_parked(fx_t *f, size_t total);
void expect_contains(const char *text, const char *needle);
/* Places an accepted order, queues it in B1 and grants both approvals. */
void to_approved(fx_t *f, int64_t units, int64_t valid_until);

/* A cmocka test with a fresh fx_t in *state. */
#define T(name) cmocka_unit_test_setup_teardown(name, fx_setup, fx_teardown)

#endif
