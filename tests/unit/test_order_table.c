/* Unit tests of order_table, SPEC §4 rules 1-4, 7 and 8: acceptance and
 * rejection by policy, batches, dual approval and the effective-units
 * formula, denial, cancellation and closed orders. Rules 5, 6, 9-11, expiry,
 * tombstones and the changelog encoding are in test_order_lifecycle.c; the
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
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
