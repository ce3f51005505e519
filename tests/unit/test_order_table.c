/* Unit tests of order_table: SPEC §4 rules 1-11, expiry, tombstones and the
 * changelog encoding.
 *
 * Every event goes through the same path as in the daemon: a protobuf-c
 * Envelope is packed, decoded with gl_envelope_decode() and applied. After
 * every call the fixture checks the rule-11 invariants on each status record
 * (version strictly +1, previous_state = the state before, terminal states
 * absorb, cleared <= effective <= requested, no clearance before both
 * approvals) and on the order, and swaps the order for
 * order_decode(order_encode(order)) after checking that a second encoding is
 * byte-identical, so every test also proves the changelog keeps everything. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

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

static void fx_clear_out(fx_t *f) {
  for (size_t i = 0; i < f->out.nstatus; i++) greenlight__v1__order_status__free_unpacked(f->st[i], NULL);
  memset(f->st, 0, sizeof f->st);
  order_out_release(&f->out);
}

static fx_t *fx_new(void) {
  fx_t *f = calloc(1, sizeof *f);
  assert_non_null(f);
  order_policy_default(&f->pol);
  f->o = order_new(OID);
  f->state = ST(RECEIVED);
  f->offset = 100;
  return f;
}

static int fx_setup(void **state) {
  *state = fx_new();
  return 0;
}

static int fx_teardown(void **state) {
  fx_t *f = *state;
  fx_clear_out(f);
  order_free(f->o);
  free(f->raw);
  free(f);
  return 0;
}

/* Checks what every call must satisfy, then round-trips the order. */
static void fx_check(fx_t *f) {
  for (size_t i = 0; i < f->out.nstatus; i++) {
    Greenlight__V1__OrderStatus *s = greenlight__v1__order_status__unpack(
        NULL, f->out.status[i].len, f->out.status[i].buf);
    assert_non_null(s);
    f->st[i] = s;
    assert_string_equal(s->order_id, OID);
    assert_int_equal(s->version, f->version + 1);
    assert_int_equal(s->previous_state, f->state);
    assert_false(order_state_terminal(s->previous_state));
    assert_int_equal(f->out.status[i].state, s->state);
    /* The record is stamped with its cause's event time. */
    assert_non_null(s->cause);
    assert_int_equal(f->out.status[i].timestamp_ms, s->cause->occurred_at_ms);
    assert_true(s->state != ST(UNSPECIFIED) && s->state != ST(RECEIVED));
    assert_true(s->units_cleared <= s->units_effective);
    assert_true(s->units_effective <= s->units_requested);
    if (s->units_cleared > 0 || s->units_effective > 0) {
      assert_true(*s->export_approval_id && *s->import_approval_id);
      assert_true(s->units_export_approved > 0 && s->units_import_approved > 0);
    }
    assert_non_null(s->cause);
    assert_true(*s->reason_code && *s->reason);
    f->version = s->version;
    f->state = s->state;
  }
  if (f->out.nstatus) assert_true(f->out.changed);
  assert_int_equal(order_version(f->o), f->version);
  char err[256] = "";
  if (order_check_invariants(f->o, err, sizeof err) != 0) fail_msg("invariant: %s", err);

  uint8_t *a = NULL, *b = NULL;
  size_t na = order_encode(f->o, &a);
  order_t *copy = order_decode(a, na, err, sizeof err);
  if (!copy) fail_msg("decode: %s", err);
  size_t nb = order_encode(copy, &b);
  assert_int_equal(na, nb);
  assert_memory_equal(a, b, na);
  free(a);
  free(b);
  order_free(f->o);
  f->o = copy;
}

/* Packs, decodes and applies one event read from topic. */
static void fx_send(fx_t *f, const char *topic, const char *eid, int64_t t,
                    Greenlight__V1__Envelope *e) {
  fx_clear_out(f);
  e->event_id = (char *)eid;
  e->occurred_at_ms = t;
  e->source = "test";
  free(f->raw);
  f->raw_len = gl_message_pack(&e->base, &f->raw);
  const char *why = NULL;
  char detail[256];
  gl_envelope_t *env = gl_envelope_decode(f->raw, f->raw_len, &why, detail, sizeof detail);
  if (!env) fail_msg("test event does not decode: %s %s", why, detail);
  if (t > f->now) f->now = t;
  f->raw_offset = f->offset;
  order_event_t ev = {env, f->raw, f->raw_len, topic, 3, f->offset++};
  order_apply(&f->pol, f->o, &ev, f->now, &f->out);
  gl_envelope_free(env);
  fx_check(f);
}

static void placed_full(fx_t *f, const char *eid, int64_t t, int64_t units, int end_use,
                        int64_t domestic, const char *buyer) {
  Greenlight__V1__OrderPlaced p = GREENLIGHT__V1__ORDER_PLACED__INIT;
  p.order_id = OID;
  p.buyer_id = (char *)buyer;
  p.buyer_name = "ByteDance";
  p.product = "NVIDIA H200";
  p.units = units;
  p.end_use = end_use;
  p.domestic_units_committed = domestic;
  Greenlight__V1__Envelope e = GREENLIGHT__V1__ENVELOPE__INIT;
  e.payload_case = PAY(ORDER_PLACED);
  e.order_placed = &p;
  fx_send(f, "greenlight.orders", eid, t, &e);
}

static void placed(fx_t *f, const char *eid, int64_t t, int64_t units, int end_use,
                   int64_t domestic) {
  placed_full(f, eid, t, units, end_use, domestic, "bytedance");
}

static void grant(fx_t *f, const char *eid, int64_t t, int authority, const char *approval,
                  int64_t units, int32_t ratio, int64_t valid_until, const char *batch) {
  Greenlight__V1__ApprovalGranted g = GREENLIGHT__V1__APPROVAL_GRANTED__INIT;
  g.order_id = OID;
  g.approval_id = (char *)approval;
  g.authority = authority;
  g.units_approved = units;
  g.required_domestic_ratio_bp = ratio;
  g.valid_until_ms = valid_until;
  g.batch_id = (char *)batch;
  Greenlight__V1__Envelope e = GREENLIGHT__V1__ENVELOPE__INIT;
  e.payload_case = PAY(APPROVAL_GRANTED);
  e.approval_granted = &g;
  fx_send(f, "greenlight.approvals", eid, t, &e);
}

static void deny(fx_t *f, const char *eid, int64_t t, int authority, const char *reason) {
  Greenlight__V1__ApprovalDenied d = GREENLIGHT__V1__APPROVAL_DENIED__INIT;
  d.order_id = OID;
  d.approval_id = "DEN-1";
  d.authority = authority;
  d.reason = (char *)reason;
  Greenlight__V1__Envelope e = GREENLIGHT__V1__ENVELOPE__INIT;
  e.payload_case = PAY(APPROVAL_DENIED);
  e.approval_denied = &d;
  fx_send(f, "greenlight.approvals", eid, t, &e);
}

static void batch(fx_t *f, const char *eid, int64_t t, const char *batch_id, int32_t seq,
                  int32_t pos) {
  Greenlight__V1__BatchQueued b = GREENLIGHT__V1__BATCH_QUEUED__INIT;
  b.order_id = OID;
  b.batch_id = (char *)batch_id;
  b.batch_seq = seq;
  b.position = pos;
  b.batch_unit_cap = 400000;
  Greenlight__V1__Envelope e = GREENLIGHT__V1__ENVELOPE__INIT;
  e.payload_case = PAY(BATCH_QUEUED);
  e.batch_queued = &b;
  fx_send(f, "greenlight.batches", eid, t, &e);
}

static void ship(fx_t *f, const char *eid, int64_t t, int64_t units) {
  Greenlight__V1__ShipmentCleared s = GREENLIGHT__V1__SHIPMENT_CLEARED__INIT;
  s.order_id = OID;
  s.shipment_id = (char *)eid;
  s.units = units;
  s.customs_office = "Shanghai Pudong";
  Greenlight__V1__Envelope e = GREENLIGHT__V1__ENVELOPE__INIT;
  e.payload_case = PAY(SHIPMENT_CLEARED);
  e.shipment_cleared = &s;
  fx_send(f, "greenlight.shipments", eid, t, &e);
}

static void cancel(fx_t *f, const char *eid, int64_t t, const char *reason) {
  Greenlight__V1__OrderCancelled c = GREENLIGHT__V1__ORDER_CANCELLED__INIT;
  c.order_id = OID;
  c.reason = (char *)reason;
  Greenlight__V1__Envelope e = GREENLIGHT__V1__ENVELOPE__INIT;
  e.payload_case = PAY(ORDER_CANCELLED);
  e.order_cancelled = &c;
  fx_send(f, "greenlight.orders", eid, t, &e);
}

static void tick_apply(fx_t *f, const char *eid, int64_t t) {
  Greenlight__V1__Tick k = GREENLIGHT__V1__TICK__INIT;
  k.clock_id = "clockd-1";
  Greenlight__V1__Envelope e = GREENLIGHT__V1__ENVELOPE__INIT;
  e.payload_case = PAY(TICK);
  e.tick = &k;
  fx_send(f, "greenlight.clock", eid, t, &e);
}

/* Event time moves to t through a Tick (order_advance, as the glue does). */
static void advance(fx_t *f, int64_t t) {
  fx_clear_out(f);
  Greenlight__V1__Tick k = GREENLIGHT__V1__TICK__INIT;
  Greenlight__V1__Envelope e = GREENLIGHT__V1__ENVELOPE__INIT;
  e.event_id = "tick";
  e.occurred_at_ms = t;
  e.payload_case = PAY(TICK);
  e.tick = &k;
  if (t > f->now) f->now = t;
  order_event_t ev = {&e, NULL, 0, "greenlight.clock", 3, 9000};
  order_advance(&f->pol, f->o, t, &ev, &f->out);
  fx_check(f);
}

/* The last call produced exactly one status record with this state and code. */
static Greenlight__V1__OrderStatus *expect_one(fx_t *f, int state, const char *code) {
  assert_int_equal(f->out.nrefusal, 0);
  assert_int_equal(f->out.nstatus, 1);
  assert_int_equal(f->st[0]->state, state);
  assert_string_equal(f->st[0]->reason_code, code);
  return f->st[0];
}

/* The last call refused the current event and changed nothing. */
static order_refusal_t *expect_refused(fx_t *f, const char *reason) {
  assert_int_equal(f->out.nstatus, 0);
  assert_int_equal(f->out.nrefusal, 1);
  assert_string_equal(f->out.refusal[0].reason, reason);
  assert_null(f->out.refusal[0].raw);
  assert_int_equal(f->out.refusal[0].offset, f->raw_offset);
  assert_false(f->out.changed);
  assert_true(f->out.refusal[0].detail[0] != '\0');
  return &f->out.refusal[0];
}

static void expect_parked(fx_t *f, size_t total) {
  assert_int_equal(f->out.nstatus, 0);
  assert_int_equal(f->out.nrefusal, 0);
  assert_int_equal(f->out.parked, 1);
  assert_true(f->out.changed);
  assert_int_equal(order_parked_count(f->o), total);
}

static void expect_contains(const char *text, const char *needle) {
  if (!strstr(text, needle)) fail_msg("'%s' lacks '%s'", text, needle);
}

/* Places an accepted order, queues it in B1 and grants both approvals. */
static void to_approved(fx_t *f, int64_t units, int64_t valid_until) {
  placed(f, "p1", T0, units, EU(COMMERCIAL_CLOUD), 0);
  batch(f, "b1", T0 + 10, "B1", 1, 1);
  grant(f, "ge", T0 + 20, EXPORT, "EXP-1", units, 0, valid_until, "");
  grant(f, "gi", T0 + 30, IMPORT, "IMP-1", units, 0, 0, "B1");
  expect_one(f, ST(APPROVED), "approved");
}

/* ---- Rule 1 ---------------------------------------------------------- */

static void test_placed_accepted(void **state) {
  fx_t *f = *state;
  placed(f, "p1", T0, 200000, EU(COMMERCIAL_CLOUD), 50000);
  Greenlight__V1__OrderStatus *s = expect_one(f, ST(ACCEPTED), "accepted");
  assert_int_equal(s->version, 1);
  assert_int_equal(s->previous_state, ST(RECEIVED));
  assert_string_equal(s->buyer_id, "bytedance");
  assert_string_equal(s->buyer_name, "ByteDance");
  assert_string_equal(s->product, "NVIDIA H200");
  assert_int_equal(s->end_use, EU(COMMERCIAL_CLOUD));
  assert_int_equal(s->units_requested, 200000);
  assert_int_equal(s->domestic_units_committed, 50000);
  assert_int_equal(s->units_effective, 0);
  assert_string_equal(s->batch_id, "");
  assert_string_equal(s->cause->event_id, "p1");
  assert_string_equal(s->cause->event_type, "OrderPlaced");
  assert_string_equal(s->cause->topic, "greenlight.orders");
  assert_int_equal(s->cause->partition, 3);
  assert_int_equal(s->cause->offset, f->raw_offset);
  assert_int_equal(s->cause->occurred_at_ms, T0);
  expect_contains(s->reason, "200000");
  assert_int_equal(order_state(f->o), ST(ACCEPTED));
  assert_int_equal(order_closed_at(f->o), 0);
  assert_string_equal(order_id(f->o), OID);
  assert_int_equal(order_next_deadline(&f->pol, f->o), INT64_MAX);
}

static void test_rejected_end_use(void **state) {
  (void)state;
  const int uses[] = {EU(SENSITIVE_AGENCY), EU(CRITICAL_INFRASTRUCTURE), EU(UNSPECIFIED)};
  const char *names[] = {"SENSITIVE_AGENCY", "CRITICAL_INFRASTRUCTURE", "UNSPECIFIED"};
  for (size_t i = 0; i < 3; i++) {
    void *fs = fx_new();
    fx_t *f = fs;
    placed(f, "p1", T0, 1000, uses[i], 0);
    Greenlight__V1__OrderStatus *s = expect_one(f, ST(REJECTED), "end_use_barred");
    expect_contains(s->reason, names[i]);
    assert_int_equal(s->previous_state, ST(RECEIVED));
    assert_int_equal(order_closed_at(f->o), T0);
    fx_teardown(&fs);
  }
}

static void test_rejected_units(void **state) {
  (void)state;
  const int64_t units[] = {0, 1000001, 9};
  const char *needles[] = {"0 units", "1000001 units", "9 units"};
  for (size_t i = 0; i < 3; i++) {
    void *fs = fx_new();
    fx_t *f = fs;
    if (i == 2) f->pol.min_units = 10;
    placed(f, "p1", T0, units[i], EU(AI_RESEARCH), 0);
    Greenlight__V1__OrderStatus *s = expect_one(f, ST(REJECTED), "units_out_of_range");
    expect_contains(s->reason, needles[i]);
    expect_contains(s->reason, i == 2 ? "10 to 1000000" : "1 to 1000000");
    fx_teardown(&fs);
  }
  void *fs = fx_new();
  placed(fs, "p1", T0, 1000000, EU(AI_RESEARCH), 0); /* The maximum itself is allowed. */
  expect_one(fs, ST(ACCEPTED), "accepted");
  fx_teardown(&fs);
}

static void test_rejected_domestic_floor(void **state) {
  fx_t *f = *state;
  f->pol.domestic_floor_bp = 2500;
  placed(f, "p1", T0, 200, EU(ENTERPRISE), 49);
  Greenlight__V1__OrderStatus *s = expect_one(f, ST(REJECTED), "domestic_ratio_below_floor");
  expect_contains(s->reason, "2450 bp");
  expect_contains(s->reason, "2500 bp");
  void *fs = fx_new();
  fx_t *g = fs;
  g->pol.domestic_floor_bp = 2500;
  placed(g, "p1", T0, 200, EU(ENTERPRISE), 50); /* Exactly the floor. */
  expect_one(g, ST(ACCEPTED), "accepted");
  fx_teardown(&fs);
}

static void test_placed_invalid(void **state) {
  fx_t *f = *state;
  placed(f, "p1", T0, -5, EU(AI_RESEARCH), 0);
  expect_contains(expect_refused(f, "invalid")->detail, "-5");
  placed(f, "p2", T0, 5, EU(AI_RESEARCH), -1);
  expect_refused(f, "invalid");
  placed_full(f, "p3", T0, 5, EU(AI_RESEARCH), 0, "");
  expect_contains(expect_refused(f, "invalid")->detail, "buyer_id");
  assert_int_equal(order_state(f->o), ST(UNSPECIFIED));
  assert_int_equal(order_seen_count(f->o), 0);
  /* An event for another order is refused, not applied. */
  order_t *other = order_new("someone-else");
  order_t *mine = f->o;
  f->o = other;
  placed(f, "p4", T0, 5, EU(AI_RESEARCH), 0);
  expect_contains(expect_refused(f, "invalid")->detail, "someone-else");
  order_free(f->o);
  f->o = order_new(OID);
  order_free(mine);
  /* The same ids are not remembered: the valid event applies. */
  placed(f, "p1", T0, 5, EU(AI_RESEARCH), 0);
  expect_one(f, ST(ACCEPTED), "accepted");
}

static void test_placed_twice(void **state) {
  fx_t *f = *state;
  placed(f, "p1", T0, 100, EU(AI_RESEARCH), 0);
  placed(f, "p2", T0 + 1, 200, EU(AI_RESEARCH), 0);
  expect_refused(f, "duplicate_order");
  assert_int_equal(order_version(f->o), 1);
}

/* ---- Rule 2 and batch moves (rule 3) ---------------------------------- */

static void test_queue_and_move(void **state) {
  fx_t *f = *state;
  placed(f, "p1", T0, 100, EU(AI_RESEARCH), 0);
  batch(f, "b1", T0 + 1, "CN-2026-B1", 1, 4);
  Greenlight__V1__OrderStatus *s = expect_one(f, ST(QUEUED), "queued");
  assert_string_equal(s->batch_id, "CN-2026-B1");
  assert_int_equal(s->batch_seq, 1);
  assert_int_equal(s->queue_position, 4);
  assert_int_equal(s->previous_state, ST(ACCEPTED));
  batch(f, "b2", T0 + 2, "CN-2026-B1", 1, 2);
  s = expect_one(f, ST(QUEUED), "queue_updated");
  assert_int_equal(s->queue_position, 2);
  grant(f, "ge", T0 + 3, EXPORT, "EXP-1", 100, 0, 0, ""); /* Export alone allows a move. */
  batch(f, "b3", T0 + 4, "CN-2026-B2", 2, 7);
  s = expect_one(f, ST(QUEUED), "moved_to_batch");
  assert_string_equal(s->batch_id, "CN-2026-B2");
  assert_int_equal(s->batch_seq, 2);
  assert_int_equal(s->queue_position, 7);
  expect_contains(s->reason, "CN-2026-B1");
  assert_int_equal(s->units_export_approved, 100);
}

static void test_batch_move_refused(void **state) {
  fx_t *f = *state;
  placed(f, "p1", T0, 100, EU(AI_RESEARCH), 0);
  batch(f, "b1", T0 + 1, "B1", 1, 1);
  grant(f, "gi", T0 + 2, IMPORT, "IMP-1", 100, 0, 0, "B1");
  expect_one(f, ST(QUEUED), "import_approved");
  batch(f, "b2", T0 + 3, "B2", 2, 1);
  expect_contains(expect_refused(f, "batch_move_refused")->detail, "IMP-1");
  batch(f, "b3", T0 + 4, "B1", 1, 9);
  expect_refused(f, "batch_move_refused");
  grant(f, "ge", T0 + 5, EXPORT, "EXP-1", 100, 0, 0, "");
  expect_one(f, ST(APPROVED), "approved");
  batch(f, "b4", T0 + 6, "B2", 2, 1);
  expect_refused(f, "batch_move_refused");
  assert_int_equal(order_version(f->o), 4);
}

static void test_batch_invalid(void **state) {
  fx_t *f = *state;
  placed(f, "p1", T0, 100, EU(AI_RESEARCH), 0);
  batch(f, "b1", T0 + 1, "B1", 0, 1);
  expect_refused(f, "invalid");
  batch(f, "b2", T0 + 1, "", 1, 1);
  expect_refused(f, "invalid");
  batch(f, "b3", T0 + 1, "B1", 1, -1);
  expect_refused(f, "invalid");
  assert_int_equal(order_state(f->o), ST(ACCEPTED));
}

/* ---- Rule 3: approvals -------------------------------------------------- */

static void test_export_then_import(void **state) {
  fx_t *f = *state;
  placed(f, "p1", T0, 200000, EU(COMMERCIAL_CLOUD), 0);
  batch(f, "b1", T0 + 1, "B1", 1, 1);
  grant(f, "ge", T0 + 2, EXPORT, "EXP-1", 180000, 0, T0 + 90 * DAY, "");
  Greenlight__V1__OrderStatus *s = expect_one(f, ST(QUEUED), "export_approved");
  assert_int_equal(s->previous_state, ST(QUEUED));
  assert_int_equal(s->units_export_approved, 180000);
  assert_string_equal(s->export_approval_id, "EXP-1");
  assert_int_equal(s->units_effective, 0);
  assert_int_equal(s->valid_until_ms, T0 + 90 * DAY);
  grant(f, "gi", T0 + 3, IMPORT, "IMP-1", 190000, 0, T0 + 60 * DAY, "B1");
  s = expect_one(f, ST(APPROVED), "approved");
  assert_int_equal(s->units_import_approved, 190000);
  assert_string_equal(s->import_approval_id, "IMP-1");
  assert_int_equal(s->units_effective, 180000);
  assert_int_equal(s->valid_until_ms, T0 + 60 * DAY); /* The earlier of the two. */
  assert_string_equal(s->cause->event_type, "ApprovalGranted");
  assert_string_equal(s->cause->topic, "greenlight.approvals");
  expect_contains(s->reason, "180000");
  assert_int_equal(order_next_deadline(&f->pol, f->o), T0 + 60 * DAY + 1);
}

static void test_import_then_export(void **state) {
  fx_t *f = *state;
  placed(f, "p1", T0, 200000, EU(COMMERCIAL_CLOUD), 0);
  batch(f, "b1", T0 + 1, "B1", 1, 1);
  grant(f, "gi", T0 + 2, IMPORT, "IMP-1", 150000, 0, 0, "B1");
  Greenlight__V1__OrderStatus *s = expect_one(f, ST(QUEUED), "import_approved");
  assert_int_equal(s->units_import_approved, 150000);
  grant(f, "ge", T0 + 3, EXPORT, "EXP-1", 200000, 0, T0 + 5 * DAY, "");
  s = expect_one(f, ST(APPROVED), "approved");
  assert_int_equal(s->units_effective, 150000);
  assert_int_equal(s->valid_until_ms, T0 + 5 * DAY);
}

static void test_export_while_accepted(void **state) {
  fx_t *f = *state;
  placed(f, "p1", T0, 1000, EU(COMMERCIAL_CLOUD), 0);
  grant(f, "ge", T0 + 1, EXPORT, "EXP-1", 1000, 0, 0, "");
  expect_one(f, ST(ACCEPTED), "export_approved");
  batch(f, "b1", T0 + 2, "B1", 1, 1);
  expect_one(f, ST(QUEUED), "queued");
  grant(f, "gi", T0 + 3, IMPORT, "IMP-1", 1000, 0, 0, "B1");
  Greenlight__V1__OrderStatus *s = expect_one(f, ST(APPROVED), "approved");
  assert_int_equal(s->units_effective, 1000);
  assert_int_equal(s->valid_until_ms, 0);
  assert_int_equal(order_next_deadline(&f->pol, f->o), INT64_MAX);
}

static void test_import_other_batch_parks(void **state) {
  fx_t *f = *state;
  placed(f, "p1", T0, 1000, EU(COMMERCIAL_CLOUD), 0);
  batch(f, "b1", T0 + 1, "B1", 1, 5);
  grant(f, "gi", T0 + 2, IMPORT, "IMP-2", 800, 0, 0, "B2");
  expect_parked(f, 1);
  int64_t parked_offset = f->raw_offset;
  grant(f, "ge", T0 + 3, EXPORT, "EXP-1", 1000, 0, 0, "");
  expect_one(f, ST(QUEUED), "export_approved");
  assert_int_equal(order_parked_count(f->o), 1);
  batch(f, "b2", T0 + 4, "B2", 2, 1);
  assert_int_equal(f->out.nstatus, 2);
  assert_string_equal(f->st[0]->reason_code, "moved_to_batch");
  assert_string_equal(f->st[0]->cause->event_id, "b2");
  assert_string_equal(f->st[1]->reason_code, "approved");
  assert_int_equal(f->st[1]->state, ST(APPROVED));
  assert_int_equal(f->st[1]->units_effective, 800);
  /* The cause of the second record is the parked event, with its coordinates. */
  assert_string_equal(f->st[1]->cause->event_id, "gi");
  assert_string_equal(f->st[1]->cause->topic, "greenlight.approvals");
  assert_int_equal(f->st[1]->cause->offset, parked_offset);
  assert_int_equal(f->st[1]->cause->occurred_at_ms, T0 + 2);
  /* Stamped with the parked event's time, not that of the record that freed it. */
  assert_int_equal(f->out.status[1].timestamp_ms, T0 + 2);
  assert_int_equal(order_parked_count(f->o), 0);
}

static void test_import_before_queue_parks(void **state) {
  fx_t *f = *state;
  placed(f, "p1", T0, 1000, EU(COMMERCIAL_CLOUD), 0);
  grant(f, "gi", T0 + 1, IMPORT, "IMP-1", 1000, 0, 0, "B1");
  expect_parked(f, 1);
  batch(f, "b1", T0 + 2, "B1", 1, 1);
  assert_int_equal(f->out.nstatus, 2);
  assert_string_equal(f->st[0]->reason_code, "queued");
  assert_string_equal(f->st[1]->reason_code, "import_approved");
  assert_int_equal(f->st[1]->state, ST(QUEUED));
}

/* One row of the effective-units table. */
typedef struct eff_case {
  const char *name;
  int64_t requested, domestic;
  int64_t exp_units;
  int32_t exp_ratio;
  int64_t imp_units;
  int32_t imp_ratio;
  int state;
  int64_t effective;
  const char *code;
} eff_case_t;

static void test_effective_formula(void **state) {
  (void)state;
  const eff_case_t cases[] = {
      {"ratio 0 drops the term", 1000, 0, 900, 0, 800, 0, ST(APPROVED), 800, "approved"},
      {"commitment 0 with a ratio", 1000, 0, 1000, 2500, 1000, 0, ST(DENIED), 0,
       "ratio_shortfall"},
      {"all equal", 1000, 250, 1000, 2500, 1000, 2500, ST(APPROVED), 1000, "approved"},
      {"highest ratio wins", 10000, 1000, 10000, 1000, 10000, 5000, ST(APPROVED), 2000,
       "approved"},
      {"cut by ratio", 200000, 30000, 200000, 2000, 200000, 0, ST(APPROVED), 150000, "approved"},
      {"floor of the division", 100000, 1, 100000, 3, 100000, 0, ST(APPROVED), 3333, "approved"},
      {"ratio term below one unit", 1000, 1, 1000, 20000, 1000, 0, ST(DENIED), 0,
       "ratio_shortfall"},
      {"requested is smallest", 500, 0, 900, 0, 800, 0, ST(APPROVED), 500, "approved"},
      {"zero units granted", 1000, 1000, 0, 0, 1000, 0, ST(DENIED), 0, "no_effective_units"},
      {"no overflow", 1000, INT64_MAX / 2, 1000, 1, 1000, 0, ST(APPROVED), 1000, "approved"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const eff_case_t *c = &cases[i];
    void *fs = fx_new();
    fx_t *f = fs;
    print_message("effective: %s\n", c->name);
    placed(f, "p1", T0, c->requested, EU(AI_RESEARCH), c->domestic);
    batch(f, "b1", T0 + 1, "B1", 1, 1);
    grant(f, "ge", T0 + 2, EXPORT, "EXP", c->exp_units, c->exp_ratio, 0, "");
    grant(f, "gi", T0 + 3, IMPORT, "IMP", c->imp_units, c->imp_ratio, 0, "B1");
    Greenlight__V1__OrderStatus *s = expect_one(f, c->state, c->code);
    assert_int_equal(s->units_effective, c->effective);
    int32_t r = c->exp_ratio > c->imp_ratio ? c->exp_ratio : c->imp_ratio;
    assert_int_equal(s->required_domestic_ratio_bp, r);
    if (c->state == ST(DENIED)) assert_int_equal(order_closed_at(f->o), T0 + 3);
    fx_teardown(&fs);
  }
}

static void test_duplicate_grant(void **state) {
  fx_t *f = *state;
  placed(f, "p1", T0, 1000, EU(AI_RESEARCH), 0);
  batch(f, "b1", T0 + 1, "B1", 1, 1);
  grant(f, "ge", T0 + 2, EXPORT, "EXP-1", 1000, 0, 0, "");
  grant(f, "ge2", T0 + 3, EXPORT, "EXP-2", 500, 0, 0, "");
  expect_contains(expect_refused(f, "duplicate_grant")->detail, "EXP-1");
  grant(f, "gi", T0 + 4, IMPORT, "IMP-1", 1000, 0, 0, "B1");
  expect_one(f, ST(APPROVED), "approved");
  grant(f, "gi2", T0 + 5, IMPORT, "IMP-2", 1000, 0, 0, "B7"); /* Not parked: refused. */
  expect_refused(f, "duplicate_grant");
  assert_int_equal(order_parked_count(f->o), 0);
}

static void test_grant_invalid(void **state) {
  fx_t *f = *state;
  placed(f, "p1", T0, 1000, EU(AI_RESEARCH), 0);
  batch(f, "b1", T0 + 1, "B1", 1, 1);
  grant(f, "g1", T0 + 2, GREENLIGHT__V1__AUTHORITY__AUTHORITY_UNSPECIFIED, "X", 10, 0, 0, "");
  expect_refused(f, "invalid");
  grant(f, "g2", T0 + 2, EXPORT, "X", -10, 0, 0, "");
  expect_refused(f, "invalid");
  grant(f, "g3", T0 + 2, EXPORT, "X", 10, -1, 0, "");
  expect_refused(f, "invalid");
  grant(f, "g4", T0 + 2, IMPORT, "X", 10, 0, 0, "");
  expect_contains(expect_refused(f, "invalid")->detail, "batch_id");
  deny(f, "d1", T0 + 2, GREENLIGHT__V1__AUTHORITY__AUTHORITY_UNSPECIFIED, "no");
  expect_refused(f, "invalid");
  assert_int_equal(order_state(f->o), ST(QUEUED));
}

/* ---- Rule 4 ------------------------------------------------------------ */

static void test_denied(void **state) {
  fx_t *f = *state;
  placed(f, "p1", T0, 1000, EU(AI_RESEARCH), 0);
  batch(f, "b1", T0 + 1, "B1", 1, 1);
  deny(f, "d1", T0 + 2, IMPORT, "batch quota exhausted");
  Greenlight__V1__OrderStatus *s = expect_one(f, ST(DENIED), "denied_by_authority");
  expect_contains(s->reason, "batch quota exhausted");
  expect_contains(s->reason, "CN_IMPORT_APPROVAL");
  assert_int_equal(order_closed_at(f->o), T0 + 2);

  void *fs = fx_new();
  fx_t *g = fs;
  to_approved(g, 1000, 0);
  ship(g, "s1", T0 + 40, 100);
  deny(g, "d1", T0 + 50, EXPORT, "licence revoked");
  s = expect_one(g, ST(DENIED), "denied_by_authority");
  assert_int_equal(s->previous_state, ST(PARTIALLY_CLEARED));
  assert_int_equal(s->units_cleared, 100);
  fx_teardown(&fs);
}

/* ---- Rule 7 ------------------------------------------------------------ */

static void test_cancel_from_each_state(void **state) {
  (void)state;
  const int from[] = {ST(ACCEPTED), ST(QUEUED), ST(APPROVED), ST(PARTIALLY_CLEARED)};
  for (size_t i = 0; i < 4; i++) {
    void *fs = fx_new();
    fx_t *f = fs;
    placed(f, "p1", T0, 1000, EU(AI_RESEARCH), 0);
    if (i >= 1) batch(f, "b1", T0 + 1, "B1", 1, 1);
    if (i >= 2) {
      grant(f, "ge", T0 + 2, EXPORT, "E", 1000, 0, 0, "");
      grant(f, "gi", T0 + 3, IMPORT, "I", 1000, 0, 0, "B1");
    }
    if (i >= 3) ship(f, "s1", T0 + 4, 10);
    assert_int_equal(order_state(f->o), from[i]);
    cancel(f, "c1", T0 + 5, "demand moved elsewhere");
    Greenlight__V1__OrderStatus *s = expect_one(f, ST(CANCELLED), "cancelled");
    assert_int_equal(s->previous_state, from[i]);
    expect_contains(s->reason, "demand moved elsewhere");
    assert_int_equal(order_closed_at(f->o), T0 + 5);
    fx_teardown(&fs);
  }
}

/* ---- Rule 8 ------------------------------------------------------------ */

static void test_closed_refuses(void **state) {
  fx_t *f = *state;
  placed(f, "p1", T0, 1000, EU(AI_RESEARCH), 0);
  cancel(f, "c1", T0 + 1, "no");
  batch(f, "b1", T0 + 2, "B1", 1, 1);
  expect_contains(expect_refused(f, "order_closed")->detail, "CANCELLED");
  grant(f, "ge", T0 + 3, EXPORT, "E", 1000, 0, 0, "");
  expect_refused(f, "order_closed");
  ship(f, "s1", T0 + 4, 1);
  expect_refused(f, "order_closed");
  cancel(f, "c2", T0 + 5, "again");
  expect_refused(f, "order_closed");
  placed(f, "p2", T0 + 6, 1000, EU(AI_RESEARCH), 0);
  expect_refused(f, "order_closed");
  assert_int_equal(order_version(f->o), 2);
  assert_int_equal(order_state(f->o), ST(CANCELLED));
}

/* ---- Rule 5 ------------------------------------------------------------ */

static void test_shipments(void **state) {
  fx_t *f = *state;
  to_approved(f, 1000, 0);
  ship(f, "s1", T0 + 40, 400);
  Greenlight__V1__OrderStatus *s = expect_one(f, ST(PARTIALLY_CLEARED), "partially_cleared");
  assert_int_equal(s->units_cleared, 400);
  expect_contains(s->reason, "Shanghai Pudong");
  ship(f, "s2", T0 + 41, 601);
  order_refusal_t *r = expect_refused(f, "over_clearance");
  expect_contains(r->detail, "601");
  expect_contains(r->detail, "400");
  expect_contains(r->detail, "1000");
  ship(f, "s3", T0 + 42, 0);
  expect_refused(f, "invalid");
  ship(f, "s4", T0 + 43, 250);
  expect_one(f, ST(PARTIALLY_CLEARED), "partially_cleared");
  ship(f, "s5", T0 + 44, 350);
  s = expect_one(f, ST(CLEARED), "cleared");
  assert_int_equal(s->units_cleared, 1000);
  assert_int_equal(order_closed_at(f->o), T0 + 44);
  ship(f, "s6", T0 + 45, 1);
  expect_refused(f, "order_closed");
}

static void test_shipment_before_approval_parks(void **state) {
  fx_t *f = *state;
  placed(f, "p1", T0, 1000, EU(AI_RESEARCH), 0);
  batch(f, "b1", T0 + 1, "B1", 1, 1);
  ship(f, "s1", T0 + 2, 1000);
  expect_parked(f, 1);
  grant(f, "ge", T0 + 3, EXPORT, "E", 1000, 0, 0, "");
  expect_one(f, ST(QUEUED), "export_approved");
  grant(f, "gi", T0 + 4, IMPORT, "I", 1000, 0, 0, "B1");
  assert_int_equal(f->out.nstatus, 2);
  assert_string_equal(f->st[0]->reason_code, "approved");
  assert_int_equal(f->st[1]->state, ST(CLEARED));
  assert_string_equal(f->st[1]->cause->event_id, "s1");
}

/* ---- Rule 9 ------------------------------------------------------------ */

static void test_parked_before_placed(void **state) {
  fx_t *f = *state;
  grant(f, "gi", T0, IMPORT, "IMP-1", 900, 0, 0, "B1");
  expect_parked(f, 1);
  assert_int_equal(order_state(f->o), ST(UNSPECIFIED));
  assert_int_equal(order_version(f->o), 0);
  ship(f, "s1", T0 + 1, 300);
  expect_parked(f, 2);
  batch(f, "b1", T0 + 2, "B1", 1, 3);
  expect_parked(f, 3);
  grant(f, "ge", T0 + 3, EXPORT, "EXP-1", 1000, 0, 0, "");
  expect_parked(f, 4);
  /* Only parked events: still encodable (checked by the fixture), no status. */
  assert_int_equal(order_next_deadline(&f->pol, f->o), T0 + f->pol.park_ttl_ms + 1);
  placed(f, "p1", T0 + 4, 1000, EU(AI_RESEARCH), 0);
  const char *codes[] = {"accepted", "queued", "import_approved", "approved",
                         "partially_cleared"};
  const char *causes[] = {"p1", "b1", "gi", "ge", "s1"};
  assert_int_equal(f->out.nstatus, 5);
  assert_int_equal(f->out.nrefusal, 0);
  for (size_t i = 0; i < 5; i++) {
    assert_string_equal(f->st[i]->reason_code, codes[i]);
    assert_string_equal(f->st[i]->cause->event_id, causes[i]);
  }
  assert_int_equal(f->st[4]->units_effective, 900);
  assert_int_equal(f->st[4]->units_cleared, 300);
  assert_int_equal(order_parked_count(f->o), 0);
}

static void test_cancel_parked_before_placed(void **state) {
  fx_t *f = *state;
  cancel(f, "c1", T0, "changed mind");
  expect_parked(f, 1);
  ship(f, "s1", T0 + 1, 5);
  expect_parked(f, 2);
  int64_t ship_offset = f->raw_offset;
  uint8_t ship_raw[256];
  size_t ship_len = f->raw_len;
  memcpy(ship_raw, f->raw, ship_len);
  placed(f, "p1", T0 + 2, 1000, EU(AI_RESEARCH), 0);
  assert_int_equal(f->out.nstatus, 2);
  assert_string_equal(f->st[0]->reason_code, "accepted");
  assert_string_equal(f->st[1]->reason_code, "cancelled");
  /* The shipment can never apply now: it leaves with a copy of its bytes. */
  assert_int_equal(f->out.nrefusal, 1);
  order_refusal_t *r = &f->out.refusal[0];
  assert_string_equal(r->reason, "order_closed");
  assert_non_null(r->raw);
  assert_int_equal(r->raw_len, ship_len);
  assert_memory_equal(r->raw, ship_raw, ship_len);
  assert_string_equal(r->topic, "greenlight.shipments");
  assert_int_equal(r->partition, 3);
  assert_int_equal(r->offset, ship_offset);
  assert_int_equal(order_parked_count(f->o), 0);
}

static void test_parked_ttl(void **state) {
  fx_t *f = *state;
  int64_t ttl = f->pol.park_ttl_ms;
  ship(f, "s1", T0, 5);
  expect_parked(f, 1);
  uint8_t raw[256];
  size_t raw_len = f->raw_len;
  memcpy(raw, f->raw, raw_len);
  int64_t off = f->raw_offset;
  assert_int_equal(order_next_deadline(&f->pol, f->o), T0 + ttl + 1);
  advance(f, T0 + ttl);
  assert_int_equal(f->out.nrefusal, 0);
  assert_false(f->out.remove);
  assert_int_equal(order_parked_count(f->o), 1);
  advance(f, T0 + ttl + 1);
  assert_int_equal(f->out.nstatus, 0);
  assert_int_equal(f->out.nrefusal, 1);
  order_refusal_t *r = &f->out.refusal[0];
  assert_string_equal(r->reason, "expired_unmatched");
  assert_int_equal(r->raw_len, raw_len);
  assert_memory_equal(r->raw, raw, raw_len);
  assert_string_equal(r->topic, "greenlight.shipments");
  assert_int_equal(r->offset, off);
  expect_contains(r->detail, "604800000");
  assert_true(f->out.changed);
  assert_true(f->out.remove); /* Nothing left of an order never placed. */
  assert_int_equal(order_parked_count(f->o), 0);
}

static void test_parked_ttl_on_apply(void **state) {
  fx_t *f = *state;
  int64_t ttl = f->pol.park_ttl_ms;
  cancel(f, "c1", T0, "x");
  expect_parked(f, 1);
  /* The order arrives after the TTL: the stale cancel must not apply. */
  placed(f, "p1", T0 + ttl + 1, 1000, EU(AI_RESEARCH), 0);
  assert_int_equal(f->out.nstatus, 1);
  assert_int_equal(f->st[0]->state, ST(ACCEPTED));
  assert_int_equal(f->out.nrefusal, 1);
  assert_string_equal(f->out.refusal[0].reason, "expired_unmatched");
  assert_non_null(f->out.refusal[0].raw);
  assert_int_equal(order_parked_count(f->o), 0);
}

static void test_parked_then_ttl_leaves_placed_order(void **state) {
  fx_t *f = *state;
  placed(f, "p1", T0, 1000, EU(AI_RESEARCH), 0);
  ship(f, "s1", T0 + 1, 5);
  expect_parked(f, 1);
  advance(f, T0 + 1 + f->pol.park_ttl_ms + 1);
  assert_int_equal(f->out.nrefusal, 1);
  assert_string_equal(f->out.refusal[0].reason, "expired_unmatched");
  assert_false(f->out.remove);
  assert_int_equal(order_state(f->o), ST(ACCEPTED));
}

static void test_park_full(void **state) {
  fx_t *f = *state;
  f->pol.max_parked_events = 2;
  ship(f, "s1", T0, 1);
  ship(f, "s2", T0, 1);
  expect_parked(f, 2);
  ship(f, "s3", T0, 1);
  expect_refused(f, "park_full");
  assert_int_equal(order_parked_count(f->o), 2);
}

/* ---- Rule 10 ----------------------------------------------------------- */

static void test_dedup(void **state) {
  fx_t *f = *state;
  placed(f, "p1", T0, 1000, EU(AI_RESEARCH), 0);
  placed(f, "p1", T0, 1000, EU(AI_RESEARCH), 0);
  assert_int_equal(f->out.duplicates, 1);
  assert_int_equal(f->out.nstatus + f->out.nrefusal, 0);
  assert_false(f->out.changed);
  /* A parked event's id counts too. */
  ship(f, "s1", T0 + 1, 5);
  expect_parked(f, 1);
  ship(f, "s1", T0 + 1, 5);
  assert_int_equal(f->out.duplicates, 1);
  assert_int_equal(f->out.parked, 0);
  assert_int_equal(order_parked_count(f->o), 1);
  /* A repeat with other content is still the same event. */
  batch(f, "b1", T0 + 2, "B1", 1, 1);
  batch(f, "b1", T0 + 3, "B9", 9, 9);
  assert_int_equal(f->out.duplicates, 1);
  assert_int_equal(order_version(f->o), 2);
  /* Refused events are not remembered: a resend is refused again. */
  ship(f, "s0", T0 + 4, 0);
  expect_refused(f, "invalid");
  ship(f, "s0", T0 + 4, 0);
  expect_refused(f, "invalid");
  assert_int_equal(order_seen_count(f->o), 3);
}

static void test_dedup_after_terminal(void **state) {
  fx_t *f = *state;
  placed(f, "p1", T0, 1000, EU(AI_RESEARCH), 0);
  cancel(f, "c1", T0 + 1, "x");
  cancel(f, "c1", T0 + 1, "x"); /* Forever: a repeat is a no-op, not order_closed. */
  assert_int_equal(f->out.duplicates, 1);
  assert_int_equal(f->out.nrefusal, 0);
}

static void test_dedup_capacity(void **state) {
  fx_t *f = *state;
  f->pol.max_seen_event_ids = 3;
  placed(f, "p1", T0, 1000, EU(AI_RESEARCH), 0);
  batch(f, "b1", T0 + 1, "B1", 1, 1);
  grant(f, "ge", T0 + 2, EXPORT, "E", 1000, 0, 0, "");
  grant(f, "gi", T0 + 3, IMPORT, "I", 1000, 0, 0, "B1");
  expect_contains(expect_refused(f, "dedup_capacity")->detail, "max_seen_event_ids");
  grant(f, "ge", T0 + 2, EXPORT, "E", 1000, 0, 0, ""); /* Still deduplicated. */
  assert_int_equal(f->out.duplicates, 1);
}

/* ---- Rule 6 ------------------------------------------------------------ */

static void test_expiry_by_tick(void **state) {
  fx_t *f = *state;
  int64_t until = T0 + 10 * DAY;
  to_approved(f, 1000, until);
  ship(f, "s1", T0 + DAY, 300);
  assert_int_equal(order_next_deadline(&f->pol, f->o), until + 1);
  advance(f, until);
  assert_int_equal(f->out.nstatus, 0);
  assert_int_equal(order_state(f->o), ST(PARTIALLY_CLEARED));
  advance(f, until + 1);
  Greenlight__V1__OrderStatus *s = expect_one(f, ST(EXPIRED), "expired");
  assert_int_equal(s->previous_state, ST(PARTIALLY_CLEARED));
  assert_int_equal(s->units_cleared, 300); /* Cleared units kept. */
  assert_int_equal(s->units_effective, 1000);
  assert_string_equal(s->cause->event_type, "Tick");
  assert_string_equal(s->cause->topic, "greenlight.clock");
  assert_int_equal(s->cause->occurred_at_ms, until + 1);
  expect_contains(s->reason, "300 of 1000");
  assert_int_equal(order_closed_at(f->o), until + 1);
  assert_false(f->out.remove);
}

static void test_expiry_on_apply(void **state) {
  fx_t *f = *state;
  int64_t until = T0 + DAY;
  to_approved(f, 1000, until);
  ship(f, "s1", until + 5, 10);
  assert_int_equal(f->out.nstatus, 1);
  assert_int_equal(f->st[0]->state, ST(EXPIRED));
  assert_string_equal(f->st[0]->cause->event_id, "s1");
  assert_int_equal(f->out.nrefusal, 1);
  assert_string_equal(f->out.refusal[0].reason, "order_closed");
  assert_null(f->out.refusal[0].raw);
  assert_int_equal(order_state(f->o), ST(EXPIRED));
}

static void test_expiry_by_stream_time(void **state) {
  fx_t *f = *state;
  int64_t until = T0 + DAY;
  to_approved(f, 1000, until);
  f->now = until + 100; /* Another key moved the partition's event time on. */
  ship(f, "s1", until - 5, 10); /* Occurred in time, but arrives late. */
  assert_int_equal(f->st[0]->state, ST(EXPIRED));
  assert_string_equal(f->out.refusal[0].reason, "order_closed");
}

static void test_expiry_at_approval(void **state) {
  fx_t *f = *state;
  placed(f, "p1", T0, 1000, EU(AI_RESEARCH), 0);
  batch(f, "b1", T0 + 1, "B1", 1, 1);
  grant(f, "ge", T0 + 2, EXPORT, "E", 1000, 0, T0 + 5, "");
  grant(f, "gi", T0 + 10, IMPORT, "I", 1000, 0, 0, "B1");
  assert_int_equal(f->out.nstatus, 2);
  assert_int_equal(f->st[0]->state, ST(APPROVED));
  assert_int_equal(f->st[1]->state, ST(EXPIRED));
  assert_int_equal(f->out.nrefusal, 0);
}

static void test_tick_through_apply(void **state) {
  fx_t *f = *state;
  to_approved(f, 1000, T0 + 100);
  tick_apply(f, "t1", T0 + 101);
  expect_one(f, ST(EXPIRED), "expired");
  tick_apply(f, "t1", T0 + 102); /* Ticks are not deduplicated or remembered. */
  assert_int_equal(f->out.duplicates, 0);
  assert_int_equal(f->out.nstatus + f->out.nrefusal, 0);
}

/* ---- Tombstones --------------------------------------------------------- */

static void test_tombstone(void **state) {
  fx_t *f = *state;
  int64_t ret = f->pol.closed_retention_ms;
  placed(f, "p1", T0, 1000, EU(SENSITIVE_AGENCY), 0);
  assert_int_equal(order_closed_at(f->o), T0);
  assert_int_equal(order_next_deadline(&f->pol, f->o), T0 + ret);
  advance(f, T0 + ret - 1);
  assert_false(f->out.remove);
  assert_false(f->out.changed);
  advance(f, T0 + ret);
  assert_true(f->out.remove);
  assert_int_equal(f->out.nstatus + f->out.nrefusal, 0);
}

static void test_next_deadline_min(void **state) {
  fx_t *f = *state;
  f->pol.park_ttl_ms = DAY;
  placed(f, "p1", T0, 1000, EU(AI_RESEARCH), 0);
  assert_int_equal(order_next_deadline(&f->pol, f->o), INT64_MAX);
  ship(f, "s1", T0 + 1, 10);
  expect_parked(f, 1);
  assert_int_equal(order_next_deadline(&f->pol, f->o), T0 + 1 + DAY + 1);
  batch(f, "b1", T0 + 2, "B1", 1, 1);
  /* A grant's validity is no deadline before APPROVED. */
  grant(f, "ge", T0 + 3, EXPORT, "E", 1000, 0, T0 + 3 * DAY, "");
  assert_int_equal(order_next_deadline(&f->pol, f->o), T0 + 1 + DAY + 1);
  grant(f, "gi", T0 + 4, IMPORT, "I", 1000, 0, T0 + 2 * DAY, "B1");
  assert_int_equal(f->out.nstatus, 2); /* Approved, then the parked shipment. */
  assert_int_equal(order_next_deadline(&f->pol, f->o), T0 + 2 * DAY + 1);
  deny(f, "d1", T0 + 50, EXPORT, "x");
  assert_int_equal(order_next_deadline(&f->pol, f->o), T0 + 50 + f->pol.closed_retention_ms);
}

/* ---- Encoding ------------------------------------------------------------ */

static void test_roundtrip_keeps_everything(void **state) {
  fx_t *f = *state;
  placed(f, "p1", T0, 1000, EU(AI_RESEARCH), 40);
  batch(f, "b1", T0 + 1, "B1", 1, 2);
  grant(f, "ge", T0 + 2, EXPORT, "EXP-9", 900, 2500, T0 + DAY, "");
  grant(f, "gi", T0 + 3, IMPORT, "IMP-9", 1000, 0, 0, "B2");
  ship(f, "s1", T0 + 4, 7);
  /* The fixture has round-tripped after every step; now compare views. */
  uint8_t *a = NULL, *b = NULL;
  size_t na = order_encode(f->o, &a);
  Greenlight__V1__OrderRecord *rec = greenlight__v1__order_record__unpack(NULL, na, a);
  assert_non_null(rec);
  assert_non_null(rec->export_grant);
  assert_null(rec->import_grant);
  assert_string_equal(rec->export_grant->approval_id, "EXP-9");
  assert_int_equal(rec->export_grant->required_domestic_ratio_bp, 2500);
  assert_int_equal(rec->export_grant->valid_until_ms, T0 + DAY);
  assert_int_equal(rec->n_seen_event_ids, 5);
  assert_string_equal(rec->seen_event_ids[3], "gi");
  assert_int_equal(rec->n_parked, 2);
  assert_string_equal(rec->parked[1]->topic, "greenlight.shipments");
  assert_int_equal(rec->parked[1]->occurred_at_ms, T0 + 4);
  assert_int_equal(rec->parked[1]->envelope.len, f->raw_len);
  assert_memory_equal(rec->parked[1]->envelope.data, f->raw, f->raw_len);
  assert_int_equal(rec->status->version, 3);
  assert_string_equal(rec->status->cause->event_id, "ge");
  greenlight__v1__order_record__free_unpacked(rec, NULL);
  /* The status view equals the last published record. */
  size_t nb = order_status_pack(f->o, &b);
  Greenlight__V1__OrderStatus *s = greenlight__v1__order_status__unpack(NULL, nb, b);
  assert_int_equal(s->version, 3);
  assert_string_equal(s->reason_code, "export_approved");
  greenlight__v1__order_status__free_unpacked(s, NULL);
  free(a);
  free(b);
  /* A restored order goes on exactly like the original. */
  batch(f, "b2", T0 + 5, "B2", 2, 1);
  assert_int_equal(f->out.nstatus, 3);
  assert_string_equal(f->st[0]->reason_code, "moved_to_batch");
  assert_string_equal(f->st[1]->reason_code, "approved");
  assert_int_equal(f->st[1]->units_effective, 160); /* 40 * 10000 / 2500 */
  assert_string_equal(f->st[2]->reason_code, "partially_cleared");
  assert_int_equal(f->st[2]->units_cleared, 7);
}

static void test_decode_rejects_garbage(void **state) {
  (void)state;
  char err[256] = "";
  const uint8_t junk[] = {0xff, 0xff, 0xff, 0x01};
  assert_null(order_decode(junk, sizeof junk, err, sizeof err));
  assert_non_null(strstr(err, "OrderRecord"));
  /* A record without a status has no order id. */
  Greenlight__V1__OrderRecord rec = GREENLIGHT__V1__ORDER_RECORD__INIT;
  rec.closed_at_ms = 5;
  uint8_t *buf = NULL;
  size_t n = gl_message_pack(&rec.base, &buf);
  assert_null(order_decode(buf, n, err, sizeof err));
  assert_non_null(strstr(err, "order_id"));
  free(buf);
  /* A state the version contradicts. */
  Greenlight__V1__OrderStatus st = GREENLIGHT__V1__ORDER_STATUS__INIT;
  st.order_id = OID;
  st.state = ST(APPROVED);
  rec.status = &st;
  n = gl_message_pack(&rec.base, &buf);
  assert_null(order_decode(buf, n, err, sizeof err));
  free(buf);
  /* An unknown enum value. */
  st.version = 1;
  st.state = 99;
  n = gl_message_pack(&rec.base, &buf);
  assert_null(order_decode(buf, n, err, sizeof err));
  assert_non_null(strstr(err, "enum"));
  free(buf);
}

static void test_corrupt_parked_event(void **state) {
  fx_t *f = *state;
  /* A changelog record whose parked bytes do not decode: refused, no crash. */
  Greenlight__V1__OrderRecord rec = GREENLIGHT__V1__ORDER_RECORD__INIT;
  Greenlight__V1__OrderStatus st = GREENLIGHT__V1__ORDER_STATUS__INIT;
  Greenlight__V1__ParkedEvent pe = GREENLIGHT__V1__PARKED_EVENT__INIT;
  Greenlight__V1__ParkedEvent *pp = &pe;
  uint8_t junk[] = {0xff, 0x00};
  st.order_id = OID;
  pe.envelope.data = junk;
  pe.envelope.len = sizeof junk;
  pe.topic = "greenlight.approvals";
  pe.occurred_at_ms = T0;
  rec.status = &st;
  rec.n_parked = 1;
  rec.parked = &pp;
  uint8_t *buf = NULL;
  size_t n = gl_message_pack(&rec.base, &buf);
  char err[256];
  order_free(f->o);
  f->o = order_decode(buf, n, err, sizeof err);
  free(buf);
  assert_non_null(f->o);
  placed(f, "p1", T0 + 1, 1000, EU(AI_RESEARCH), 0);
  assert_int_equal(f->out.nstatus, 1);
  assert_int_equal(f->out.nrefusal, 1);
  assert_string_equal(f->out.refusal[0].reason, "decode_error");
  assert_memory_equal(f->out.refusal[0].raw, junk, sizeof junk);
}

static void test_deterministic_output(void **state) {
  (void)state;
  uint8_t *first[8] = {0};
  size_t lens[8] = {0};
  for (int run = 0; run < 2; run++) {
    void *fs = fx_new();
    fx_t *f = fs;
    ship(f, "s1", T0, 100);
    placed(f, "p1", T0 + 1, 1000, EU(AI_RESEARCH), 500);
    batch(f, "b1", T0 + 2, "B1", 1, 1);
    grant(f, "ge", T0 + 3, EXPORT, "E", 1000, 2500, 0, "");
    grant(f, "gi", T0 + 4, IMPORT, "I", 1000, 0, 0, "B1");
    assert_int_equal(f->out.nstatus, 2);
    for (size_t i = 0; i < 2; i++) {
      if (run == 0) {
        lens[i] = f->out.status[i].len;
        first[i] = malloc(lens[i]);
        memcpy(first[i], f->out.status[i].buf, lens[i]);
      } else {
        assert_int_equal(lens[i], f->out.status[i].len);
        assert_memory_equal(first[i], f->out.status[i].buf, lens[i]);
        free(first[i]);
      }
    }
    fx_teardown(&fs);
  }
}

#define T(name) cmocka_unit_test_setup_teardown(name, fx_setup, fx_teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      T(test_placed_accepted),
      T(test_rejected_end_use),
      T(test_rejected_units),
      T(test_rejected_domestic_floor),
      T(test_placed_invalid),
      T(test_placed_twice),
      T(test_queue_and_move),
      T(test_batch_move_refused),
      T(test_batch_invalid),
      T(test_export_then_import),
      T(test_import_then_export),
      T(test_export_while_accepted),
      T(test_import_other_batch_parks),
      T(test_import_before_queue_parks),
      T(test_effective_formula),
      T(test_duplicate_grant),
      T(test_grant_invalid),
      T(test_denied),
      T(test_cancel_from_each_state),
      T(test_closed_refuses),
      T(test_shipments),
      T(test_shipment_before_approval_parks),
      T(test_parked_before_placed),
      T(test_cancel_parked_before_placed),
      T(test_parked_ttl),
      T(test_parked_ttl_on_apply),
      T(test_parked_then_ttl_leaves_placed_order),
      T(test_park_full),
      T(test_dedup),
      T(test_dedup_after_terminal),
      T(test_dedup_capacity),
      T(test_expiry_by_tick),
      T(test_expiry_on_apply),
      T(test_expiry_by_stream_time),
      T(test_expiry_at_approval),
      T(test_tick_through_apply),
      T(test_tombstone),
      T(test_next_deadline_min),
      T(test_roundtrip_keeps_everything),
      T(test_decode_rejects_garbage),
      T(test_corrupt_parked_event),
      T(test_deterministic_output),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
