/* The fixture of the order_table unit tests: see order_fixture.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "order_fixture.h"

void fx_clear_out(fx_t *f) {
  for (size_t i = 0; i < f->out.nstatus; i++) greenlight__v1__order_status__free_unpacked(f->st[i], NULL);
  memset(f->st, 0, sizeof f->st);
  order_out_release(&f->out);
}

fx_t *fx_new(void) {
  fx_t *f = calloc(1, sizeof *f);
  assert_non_null(f);
  order_policy_default(&f->pol);
  f->o = order_new(OID);
  f->state = ST(RECEIVED);
  f->offset = 100;
  return f;
}

int fx_setup(void **state) {
  *state = fx_new();
  return 0;
}

int fx_teardown(void **state) {
  fx_t *f = *state;
  fx_clear_out(f);
  order_free(f->o);
  free(f->raw);
  free(f);
  return 0;
}

/* Checks what every call must satisfy, then round-trips the order. */
void fx_check(fx_t *f) {
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
void fx_send(fx_t *f, const char *topic, const char *eid, int64_t t,
             Greenlight__V1__Envelope *e) {
  fx_clear_out(f);
  e->event_id = (char *)eid;
  e->occurred_at_ms = t;
  e->source = "test";
  free(f->raw);
  f->raw_len = gl_message_pack(&e->base, &f->raw);
  const char *why = NULL;
  char detail[256];
  const char *key = gl_envelope_order_id(e); /* Keyed as upstream must key it. */
  gl_envelope_t *env = gl_envelope_decode(f->raw, f->raw_len, key, key ? strlen(key) : 0, &why,
                                          detail, sizeof detail);
  if (!env) fail_msg("test event does not decode: %s %s", why, detail);
  if (t > f->now) f->now = t;
  f->raw_offset = f->offset;
  order_event_t ev = {env, f->raw, f->raw_len, topic, 3, f->offset++};
  order_apply(&f->pol, f->o, &ev, f->now, &f->out);
  gl_envelope_free(env);
  fx_check(f);
}

void placed_full(fx_t *f, const char *eid, int64_t t, int64_t units, int end_use,
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

void placed(fx_t *f, const char *eid, int64_t t, int64_t units, int end_use,
            int64_t domestic) {
  placed_full(f, eid, t, units, end_use, domestic, "bytedance");
}

void grant(fx_t *f, const char *eid, int64_t t, int authority, const char *approval,
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

void deny(fx_t *f, const char *eid, int64_t t, int authority, const char *reason) {
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

void batch(fx_t *f, const char *eid, int64_t t, const char *batch_id, int32_t seq,
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

void ship(fx_t *f, const char *eid, int64_t t, int64_t units) {
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

void cancel(fx_t *f, const char *eid, int64_t t, const char *reason) {
  Greenlight__V1__OrderCancelled c = GREENLIGHT__V1__ORDER_CANCELLED__INIT;
  c.order_id = OID;
  c.reason = (char *)reason;
  Greenlight__V1__Envelope e = GREENLIGHT__V1__ENVELOPE__INIT;
  e.payload_case = PAY(ORDER_CANCELLED);
  e.order_cancelled = &c;
  fx_send(f, "greenlight.orders", eid, t, &e);
}

void tick_apply(fx_t *f, const char *eid, int64_t t) {
  Greenlight__V1__Tick k = GREENLIGHT__V1__TICK__INIT;
  k.clock_id = "clockd-1";
  Greenlight__V1__Envelope e = GREENLIGHT__V1__ENVELOPE__INIT;
  e.payload_case = PAY(TICK);
  e.tick = &k;
  fx_send(f, "greenlight.clock", eid, t, &e);
}

/* Event time moves to t through a Tick (order_advance, as the glue does). */
void advance(fx_t *f, int64_t t) {
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
Greenlight__V1__OrderStatus *expect_one(fx_t *f, int state, const char *code) {
  assert_int_equal(f->out.nrefusal, 0);
  assert_int_equal(f->out.nstatus, 1);
  assert_int_equal(f->st[0]->state, state);
  assert_string_equal(f->st[0]->reason_code, code);
  return f->st[0];
}

/* The last call refused the current event and changed nothing. */
order_refusal_t *expect_refused(fx_t *f, const char *reason) {
  assert_int_equal(f->out.nstatus, 0);
  assert_int_equal(f->out.nrefusal, 1);
  assert_string_equal(f->out.refusal[0].reason, reason);
  assert_null(f->out.refusal[0].raw);
  assert_int_equal(f->out.refusal[0].offset, f->raw_offset);
  assert_false(f->out.changed);
  assert_true(f->out.refusal[0].detail[0] != '\0');
  return &f->out.refusal[0];
}

void expect_parked(fx_t *f, size_t total) {
  assert_int_equal(f->out.nstatus, 0);
  assert_int_equal(f->out.nrefusal, 0);
  assert_int_equal(f->out.parked, 1);
  assert_true(f->out.changed);
  assert_int_equal(order_parked_count(f->o), total);
}

void expect_contains(const char *text, const char *needle) {
  if (!strstr(text, needle)) fail_msg("'%s' lacks '%s'", text, needle);
}

/* Places an accepted order, queues it in B1 and grants both approvals. */
void to_approved(fx_t *f, int64_t units, int64_t valid_until) {
  placed(f, "p1", T0, units, EU(COMMERCIAL_CLOUD), 0);
  batch(f, "b1", T0 + 10, "B1", 1, 1);
  grant(f, "ge", T0 + 20, EXPORT, "EXP-1", units, 0, valid_until, "");
  grant(f, "gi", T0 + 30, IMPORT, "IMP-1", units, 0, 0, "B1");
  expect_one(f, ST(APPROVED), "approved");
}
