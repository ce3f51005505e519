/* Unit tests of order_table, SPEC §4 rules 5, 6 and 9-11: clearances,
 * parking and its TTL, dedup, expiry on event time, tombstones, and the
 * changelog encoding. Rules 1-4, 7 and 8 are in test_order_table.c; the
 * shared fixture (order_fixture.h) checks the rule-11 invariants and the
 * changelog round trip after every call. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "order_fixture.h"

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

int main(void) {
  const struct CMUnitTest tests[] = {
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
