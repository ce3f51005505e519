/* Unit tests of batch_view and its store layout (batch_store): membership
 * under the repartition key, the waiting view, idempotence, the counting
 * rules, the cap edge and the changelog encoding.
 *
 * Every status goes through the same path as in the daemon: a protobuf-c
 * OrderStatus is packed, unpacked, checked with batch_status_check() and
 * applied to a real store with batch_store_apply(). After every call the
 * fixture checks that the view's version moved by exactly 1 when (and only
 * when) the call asked for a publish, then flushes the store as a commit
 * does: each dirty value is encoded, decoded and encoded again
 * byte-identically, and the store takes the decoded value (or drops a
 * tombstoned key) as a restore would, so every test also proves that the
 * changelog keeps everything. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "batch_store.h"

#define ST(x) GREENLIGHT__V1__ORDER_STATE__ORDER_STATE_##x
#define B1 "CN-2026-B1"
#define B2 "CN-2026-B2"
#define WAIT GL_BATCH_KEY_WAITING
#define T0 1767225600000LL /* 2026-01-01T00:00:00Z */

/* What one status says about an order (the fields the view reads). */
typedef struct st_spec {
  const char *order_id;
  int state;
  const char *batch_id;
  int32_t batch_seq;
  int64_t cap;
  int64_t requested;
  int64_t effective;
  int64_t cleared;
  int64_t version;
} st_spec_t;

/* The store of one test, as one partition of the daemon holds it. */
typedef struct fx {
  gl_store_t *s;
  int64_t t; /* Event time of the next status. */
} fx_t;

static int fx_setup(void **state) {
  fx_t *f = calloc(1, sizeof *f);
  assert_non_null(f);
  f->s = gl_store_new(&batch_store_ops, NULL);
  f->t = T0;
  *state = f;
  return 0;
}

static int fx_teardown(void **state) {
  fx_t *f = *state;
  gl_store_destroy(f->s);
  free(f);
  return 0;
}

/* The view under key; a zero view when there is no such batch. */
static const batch_view_t *fx_view(fx_t *f, const char *key) {
  static const batch_view_t none;
  const batch_t *b = batch_store_batch(f->s, key);
  return b ? batch_view(b) : &none;
}

static int64_t fx_members(fx_t *f, const char *key) {
  const batch_t *b = batch_store_batch(f->s, key);
  return b ? batch_member_count(b) : 0;
}

static const batch_member_t *fx_member(fx_t *f, const char *key, const char *order_id) {
  return batch_store_member(f->s, key, order_id);
}

/* Packs spec as an OrderStatus and unpacks it again (the wire path). */
static Greenlight__V1__OrderStatus *fx_status(fx_t *f, const st_spec_t *s) {
  Greenlight__V1__OrderStatus st = GREENLIGHT__V1__ORDER_STATUS__INIT;
  Greenlight__V1__Cause c = GREENLIGHT__V1__CAUSE__INIT;
  st.order_id = (char *)s->order_id;
  st.state = s->state;
  st.batch_id = (char *)(s->batch_id ? s->batch_id : "");
  st.batch_seq = s->batch_seq;
  st.batch_unit_cap = s->cap;
  st.units_requested = s->requested;
  st.units_effective = s->effective;
  st.units_cleared = s->cleared;
  st.version = s->version;
  c.event_id = (char *)"E-test";
  c.occurred_at_ms = f->t;
  st.cause = &c;
  uint8_t *buf = NULL;
  size_t len = gl_message_pack(&st.base, &buf);
  Greenlight__V1__OrderStatus *out = greenlight__v1__order_status__unpack(NULL, len, buf);
  free(buf);
  assert_non_null(out);
  char err[256];
  assert_int_equal(batch_status_check(out, err, sizeof err), 0);
  return out;
}

/* Checks a dirty value's encoding: its kind matches its key (a member key
 * holds a NUL, a batch key none) and its decoding encodes to the same
 * bytes. */
static void fx_flush_one(void *arg, const void *key, size_t klen, const void *buf, size_t n) {
  size_t *writes = arg;
  ++*writes;
  if (!buf) return;
  char err[256] = "";
  void *obj = batch_entry_decode(buf, n, err, sizeof err);
  if (!obj) fail_msg("decode of own encoding failed: %s", err);
  assert_int_equal(memchr(key, 0, klen) ? BATCH_KIND_MEMBER : BATCH_KIND_BATCH,
                   batch_entry_kind(obj));
  uint8_t *again = NULL;
  assert_int_equal(batch_entry_encode(obj, &again), n);
  assert_memory_equal(buf, again, n);
  free(again);
  batch_entry_free(obj);
}

/* Commits the store's changes: from then on every read decodes the
 * committed encoding. */
static void fx_commit(fx_t *f) {
  size_t writes = 0;
  gl_store_flush(f->s, fx_flush_one, &writes);
  assert_true(writes <= 2); /* One status changes a batch and one member. */
  gl_store_commit(f->s);
}

/* Applies spec under key and checks the version rule; returns the result. */
static batch_result_t fx_apply(fx_t *f, const char *key, st_spec_t s) {
  int64_t before = fx_view(f, key)->version;
  int64_t at_before = fx_view(f, key)->updated_at_ms;
  Greenlight__V1__OrderStatus *st = fx_status(f, &s);
  const batch_t *b = NULL;
  bool was_over = true;
  batch_result_t r = batch_store_apply(f->s, key, st, &b, &was_over);
  greenlight__v1__order_status__free_unpacked(st, NULL);
  if (r != BATCH_IGNORED) assert_ptr_equal(b, batch_store_batch(f->s, key));
  const batch_view_t *v = fx_view(f, key);
  if (r == BATCH_PUBLISH) {
    assert_int_equal(v->version, before + 1);
    assert_int_equal(v->updated_at_ms, f->t);
  } else {
    assert_int_equal(v->version, before);
    assert_int_equal(v->updated_at_ms, at_before);
  }
  fx_commit(f);
  f->t += 1000;
  return r;
}

static st_spec_t queued(const char *id, const char *batch, int64_t requested, int64_t version) {
  return (st_spec_t){id, ST(QUEUED), batch, 1, 450000, requested, 0, 0, version};
}

static void test_upsert(void **state) {
  fx_t *f = *state;
  assert_int_equal(fx_apply(f, B1, queued("O-BD-1", B1, 220000, 2)), BATCH_PUBLISH);
  const batch_view_t *v = fx_view(f, B1);
  assert_string_equal(v->batch_id, B1);
  assert_int_equal(v->version, 1);
  assert_int_equal(v->batch_seq, 1);
  assert_int_equal(v->unit_cap, 450000);
  assert_int_equal(v->orders_queued, 1);
  assert_int_equal(v->units_requested, 220000);
  assert_int_equal(v->updated_at_ms, T0);
  assert_int_equal(v->orders_waiting, 0);
  /* An export licence changes the member's version but no view field. */
  assert_int_equal(fx_apply(f, B1, queued("O-BD-1", B1, 220000, 3)), BATCH_MEMBERS);
  const batch_member_t *m = fx_member(f, B1, "O-BD-1");
  assert_non_null(m);
  assert_int_equal(m->version, 3);
  assert_int_equal(m->state, ST(QUEUED));
  /* Approval: the same member is updated in place. */
  st_spec_t s = {"O-BD-1", ST(APPROVED), B1, 1, 450000, 220000, 200000, 0, 4};
  assert_int_equal(fx_apply(f, B1, s), BATCH_PUBLISH);
  v = fx_view(f, B1);
  assert_int_equal(fx_members(f, B1), 1);
  assert_int_equal(v->version, 2);
  assert_int_equal(v->orders_queued, 0);
  assert_int_equal(v->orders_approved, 1);
  assert_int_equal(v->units_approved, 200000);
  /* A second order comes in: a member entry of its own. */
  assert_int_equal(fx_apply(f, B1, queued("O-ALI-1", B1, 210000, 2)), BATCH_PUBLISH);
  assert_int_equal(fx_members(f, B1), 2);
  assert_int_equal(fx_member(f, B1, "O-ALI-1")->units_requested, 210000);
  assert_int_equal(fx_member(f, B1, "O-BD-1")->units_effective, 200000);
  assert_null(fx_member(f, B1, "O-TC-1"));
  assert_int_equal(fx_view(f, B1)->units_requested, 430000);
  /* The store holds the batch and its two members, nothing else. */
  assert_int_equal(gl_store_count(f->s), 3);
}

static void test_move_between_batches(void **state) {
  fx_t *f = *state;
  assert_int_equal(fx_apply(f, B1, queued("O-X", B1, 1000, 2)), BATCH_PUBLISH);
  assert_int_equal(fx_apply(f, B1, queued("O-Y", B1, 500, 2)), BATCH_PUBLISH);
  /* Carried over to batch 2 (seq 2, other cap): written under B2, then B1. */
  st_spec_t moved = {"O-X", ST(QUEUED), B2, 2, 9000, 1000, 0, 0, 3};
  assert_int_equal(fx_apply(f, B2, moved), BATCH_PUBLISH);
  assert_int_equal(fx_apply(f, B1, moved), BATCH_PUBLISH);
  const batch_view_t *v1 = fx_view(f, B1), *v2 = fx_view(f, B2);
  assert_null(fx_member(f, B1, "O-X"));
  assert_non_null(fx_member(f, B2, "O-X"));
  assert_int_equal(v1->orders_queued, 1);
  assert_int_equal(v1->units_requested, 500);
  /* A departure does not carry the new batch's sequence or cap over. */
  assert_int_equal(v1->batch_seq, 1);
  assert_int_equal(v1->unit_cap, 450000);
  assert_int_equal(v1->version, 3);
  assert_string_equal(v2->batch_id, B2);
  assert_int_equal(v2->batch_seq, 2);
  assert_int_equal(v2->unit_cap, 9000);
  assert_int_equal(v2->orders_queued, 1);
  assert_int_equal(v2->version, 1);
  /* The last member leaves too: the batch stays, with a zero view. */
  st_spec_t moved_y = {"O-Y", ST(QUEUED), B2, 2, 9000, 500, 0, 0, 3};
  assert_int_equal(fx_apply(f, B2, moved_y), BATCH_PUBLISH);
  assert_int_equal(fx_apply(f, B1, moved_y), BATCH_PUBLISH);
  assert_int_equal(fx_members(f, B1), 0);
  /* Left: only the two batches and O-X and O-Y under B2 remain. */
  assert_int_equal(gl_store_count(f->s), 4);
  assert_int_equal(fx_view(f, B1)->units_requested, 0);
  assert_int_equal(fx_view(f, B1)->version, 4);
  /* And a departure replayed is ignored. */
  assert_int_equal(fx_apply(f, B1, moved_y), BATCH_IGNORED);
  /* The departure of an order never seen does not create a view. */
  assert_int_equal(fx_apply(f, "CN-2026-B9", moved_y), BATCH_IGNORED);
  assert_int_equal(fx_view(f, "CN-2026-B9")->version, 0);
  assert_null(batch_store_batch(f->s, "CN-2026-B9"));
}

static void test_waiting_view(void **state) {
  fx_t *f = *state;
  st_spec_t a = {"O-BAIDU-1", ST(ACCEPTED), "", 0, 0, 180000, 0, 0, 1};
  st_spec_t b = {"O-BD-1", ST(ACCEPTED), "", 0, 0, 220000, 0, 0, 1};
  st_spec_t c = {"O-KS-1", ST(ACCEPTED), "", 0, 0, 50000, 0, 0, 1};
  assert_int_equal(fx_apply(f, WAIT, a), BATCH_PUBLISH);
  assert_int_equal(fx_apply(f, WAIT, b), BATCH_PUBLISH);
  assert_int_equal(fx_apply(f, WAIT, c), BATCH_PUBLISH);
  const batch_view_t *v = fx_view(f, WAIT);
  assert_string_equal(v->batch_id, "");
  assert_string_equal(batch_key(batch_store_batch(f->s, WAIT)), WAIT);
  assert_int_equal(v->orders_waiting, 3);
  assert_int_equal(v->units_requested, 450000);
  assert_int_equal(v->orders_queued + v->orders_approved + v->orders_denied + v->orders_cleared, 0);
  assert_int_equal(v->batch_seq, 0);
  assert_int_equal(v->unit_cap, 0);
  /* ByteDance is queued in B1: its status leaves the waiting view. */
  assert_int_equal(fx_apply(f, WAIT, queued("O-BD-1", B1, 220000, 2)), BATCH_PUBLISH);
  assert_int_equal(fx_view(f, WAIT)->orders_waiting, 2);
  assert_int_equal(fx_view(f, WAIT)->units_requested, 230000);
  /* A waiting order cancelled has no batch key: it leaves too. */
  st_spec_t cancelled = {"O-KS-1", ST(CANCELLED), "", 0, 0, 50000, 0, 0, 2};
  assert_int_equal(fx_apply(f, WAIT, cancelled), BATCH_PUBLISH);
  v = fx_view(f, WAIT);
  assert_int_equal(v->orders_waiting, 1);
  assert_int_equal(v->units_requested, 180000);
  assert_int_equal(v->version, 5);
  assert_true(batch_key_is_waiting(WAIT));
  assert_false(batch_key_is_waiting(B1));
  /* A real batch never counts waiting orders. */
  assert_int_equal(fx_apply(f, B1, queued("O-BD-1", B1, 220000, 2)), BATCH_PUBLISH);
  assert_int_equal(fx_view(f, B1)->orders_waiting, 0);
}

static void test_stale_version_ignored(void **state) {
  fx_t *f = *state;
  st_spec_t approved = {"O-1", ST(APPROVED), B1, 1, 0, 100, 80, 0, 5};
  assert_int_equal(fx_apply(f, B1, approved), BATCH_PUBLISH);
  /* The same version again (a replay) and an older one change nothing. */
  assert_int_equal(fx_apply(f, B1, approved), BATCH_IGNORED);
  assert_int_equal(fx_apply(f, B1, queued("O-1", B1, 100, 4)), BATCH_IGNORED);
  /* An older departure does not remove the member either. */
  st_spec_t old_move = {"O-1", ST(QUEUED), B2, 2, 0, 100, 0, 0, 3};
  assert_int_equal(fx_apply(f, B1, old_move), BATCH_IGNORED);
  const batch_member_t *m = fx_member(f, B1, "O-1");
  assert_non_null(m);
  assert_int_equal(m->state, ST(APPROVED));
  assert_int_equal(m->version, 5);
  const batch_view_t *v = fx_view(f, B1);
  assert_int_equal(v->orders_approved, 1);
  assert_int_equal(v->units_approved, 80);
  assert_int_equal(v->version, 1);
  /* A newer version applies. */
  st_spec_t part = {"O-1", ST(PARTIALLY_CLEARED), B1, 1, 0, 100, 80, 30, 6};
  assert_int_equal(fx_apply(f, B1, part), BATCH_PUBLISH);
  assert_int_equal(fx_view(f, B1)->units_cleared, 30);
}

/* One member in every state a batch member can be in. */
static void fx_all_states(fx_t *f, int64_t cap) {
  st_spec_t s[] = {
      {"O-Q", ST(QUEUED), B1, 1, cap, 1000, 0, 0, 2},
      {"O-A", ST(APPROVED), B1, 1, cap, 2000, 1500, 0, 4},
      {"O-P", ST(PARTIALLY_CLEARED), B1, 1, cap, 3000, 2500, 1000, 5},
      {"O-C", ST(CLEARED), B1, 1, cap, 4000, 4000, 4000, 6},
      {"O-D", ST(DENIED), B1, 1, cap, 5000, 0, 0, 3},
      {"O-E", ST(EXPIRED), B1, 1, cap, 6000, 700, 200, 6},
      {"O-X", ST(CANCELLED), B1, 1, cap, 7000, 0, 0, 3},
  };
  for (size_t i = 0; i < sizeof s / sizeof s[0]; i++)
    assert_int_equal(fx_apply(f, B1, s[i]), BATCH_PUBLISH);
}

static void test_counts_per_state(void **state) {
  fx_t *f = *state;
  fx_all_states(f, 0);
  const batch_view_t *v = fx_view(f, B1);
  assert_int_equal(fx_members(f, B1), 7);
  assert_int_equal(v->orders_queued, 1);
  assert_int_equal(v->orders_approved, 2); /* APPROVED + PARTIALLY_CLEARED. */
  assert_int_equal(v->orders_cleared, 1);
  assert_int_equal(v->orders_denied, 1);
  /* EXPIRED and CANCELLED members are in no order count. */
  assert_int_equal(v->orders_queued + v->orders_approved + v->orders_cleared + v->orders_denied, 5);
  assert_int_equal(v->orders_waiting, 0);
  assert_int_equal(v->version, 7);
  /* Clearing the rest of a partly cleared order moves it from
   * orders_approved to orders_cleared. */
  st_spec_t cleared = {"O-P", ST(CLEARED), B1, 1, 0, 3000, 2500, 2500, 6};
  assert_int_equal(fx_apply(f, B1, cleared), BATCH_PUBLISH);
  v = fx_view(f, B1);
  assert_int_equal(v->orders_approved, 1);
  assert_int_equal(v->orders_cleared, 2);
}

static void test_units_sums(void **state) {
  fx_t *f = *state;
  fx_all_states(f, 0);
  const batch_view_t *v = fx_view(f, B1);
  /* Requested and cleared: every member. */
  assert_int_equal(v->units_requested, 1000 + 2000 + 3000 + 4000 + 5000 + 6000 + 7000);
  assert_int_equal(v->units_cleared, 1000 + 4000 + 200);
  /* Approved: effective units of APPROVED, PARTIALLY_CLEARED and CLEARED only. */
  assert_int_equal(v->units_approved, 1500 + 2500 + 4000);
  assert_false(v->over_cap); /* No cap. */
}

static void test_over_cap_edge(void **state) {
  fx_t *f = *state;
  st_spec_t a = {"O-A", ST(APPROVED), B1, 1, 1000, 800, 600, 0, 4};
  st_spec_t b = {"O-B", ST(APPROVED), B1, 1, 1000, 800, 400, 0, 4};
  assert_int_equal(fx_apply(f, B1, a), BATCH_PUBLISH);
  assert_int_equal(fx_apply(f, B1, b), BATCH_PUBLISH);
  const batch_view_t *v = fx_view(f, B1);
  assert_int_equal(v->units_approved, 1000);
  assert_false(v->over_cap); /* Equal to the cap is not over it. */
  /* One more approved unit is over. */
  st_spec_t c = {"O-C", ST(APPROVED), B1, 1, 1000, 1, 1, 0, 4};
  assert_int_equal(fx_apply(f, B1, c), BATCH_PUBLISH);
  assert_true(fx_view(f, B1)->over_cap);
  assert_int_equal(fx_view(f, B1)->units_approved, 1001);
  /* It expires: its units no longer claim the cap. */
  st_spec_t c_exp = {"O-C", ST(EXPIRED), B1, 1, 1000, 1, 1, 0, 5};
  assert_int_equal(fx_apply(f, B1, c_exp), BATCH_PUBLISH);
  assert_false(fx_view(f, B1)->over_cap);
  /* A later status raising the cap to 0 (no cap) is never over. */
  st_spec_t d = {"O-D", ST(APPROVED), B1, 1, 0, 5000, 5000, 0, 4};
  assert_int_equal(fx_apply(f, B1, d), BATCH_PUBLISH);
  assert_int_equal(fx_view(f, B1)->unit_cap, 0);
  assert_false(fx_view(f, B1)->over_cap);
  /* The latest status sets the cap: 5999 is below 6000 approved. */
  st_spec_t d2 = {"O-D", ST(PARTIALLY_CLEARED), B1, 1, 5999, 5000, 5000, 10, 5};
  assert_int_equal(fx_apply(f, B1, d2), BATCH_PUBLISH);
  assert_int_equal(fx_view(f, B1)->unit_cap, 5999);
  assert_true(fx_view(f, B1)->over_cap);
}

/* Decodes a store value's encoding as a BatchStoreValue (caller frees). */
static Greenlight__V1__BatchStoreValue *fx_encoded(const void *entry) {
  uint8_t *buf = NULL;
  size_t len = batch_entry_encode(entry, &buf);
  Greenlight__V1__BatchStoreValue *sv = greenlight__v1__batch_store_value__unpack(NULL, len, buf);
  free(buf);
  assert_non_null(sv);
  return sv;
}

/* Packs a BatchStoreValue and expects batch_entry_decode() to refuse it
 * with a message naming what. */
static void fx_refused(const Greenlight__V1__BatchStoreValue *sv, const char *what) {
  uint8_t *buf = NULL;
  size_t len = gl_message_pack(&sv->base, &buf);
  char err[256] = "";
  assert_null(batch_entry_decode(buf, len, err, sizeof err));
  free(buf);
  if (!strstr(err, what)) fail_msg("error '%s' does not name '%s'", err, what);
}

static void test_encode_roundtrip(void **state) {
  fx_t *f = *state;
  fx_all_states(f, 25000);
  st_spec_t w = {"O-W", ST(ACCEPTED), "", 0, 0, 42, 0, 0, 1};
  assert_int_equal(fx_apply(f, WAIT, w), BATCH_PUBLISH);
  /* The batch entry: its record names its key, holds the view and the counters. */
  Greenlight__V1__BatchStoreValue *sv = fx_encoded(batch_store_batch(f->s, B1));
  assert_int_equal(sv->kind_case, GREENLIGHT__V1__BATCH_STORE_VALUE__KIND_BATCH);
  assert_string_equal(sv->batch->key, B1);
  assert_int_equal(sv->batch->members, 7);
  assert_int_equal(sv->batch->status->version, 7);
  assert_int_equal(sv->batch->status->units_approved, 1500 + 2500 + 4000);
  assert_int_equal(sv->batch->units_approved->low, 1500 + 2500 + 4000);
  assert_int_equal(sv->batch->units_approved->carry, 0);
  assert_int_equal(sv->batch->units_requested->low, 28000);
  assert_int_equal(sv->batch->units_cleared->low, 5200);
  greenlight__v1__batch_store_value__free_unpacked(sv, NULL);
  /* A member entry: its last contribution, no more (the key names the order). */
  sv = fx_encoded(fx_member(f, B1, "O-P"));
  assert_int_equal(sv->kind_case, GREENLIGHT__V1__BATCH_STORE_VALUE__KIND_MEMBER);
  const Greenlight__V1__BatchMember *m = sv->member;
  assert_int_equal(m->state, ST(PARTIALLY_CLEARED));
  assert_int_equal(m->units_requested, 3000);
  assert_int_equal(m->units_effective, 2500);
  assert_int_equal(m->units_cleared, 1000);
  assert_int_equal(m->version, 5);
  greenlight__v1__batch_store_value__free_unpacked(sv, NULL);
  /* The waiting view's record: batch_id "" under the key "~waiting". */
  sv = fx_encoded(batch_store_batch(f->s, WAIT));
  assert_string_equal(sv->batch->key, WAIT);
  assert_string_equal(sv->batch->status->batch_id, "");
  assert_int_equal(sv->batch->status->orders_waiting, 1);
  greenlight__v1__batch_store_value__free_unpacked(sv, NULL);
  /* The published view decodes as a BatchStatus. */
  uint8_t *buf = NULL;
  size_t len = batch_status_pack(batch_store_batch(f->s, WAIT), &buf);
  Greenlight__V1__BatchStatus *s = greenlight__v1__batch_status__unpack(NULL, len, buf);
  free(buf);
  assert_non_null(s);
  assert_string_equal(s->batch_id, "");
  assert_int_equal(s->orders_waiting, 1);
  assert_int_equal(s->version, 1);
  greenlight__v1__batch_status__free_unpacked(s, NULL);
}

/* What no writer produces is refused: other bytes, no kind, a record
 * without its key, a negative sum, a member without a version. */
static void test_decode_refuses(void **state) {
  (void)state;
  char err[256] = "";
  assert_null(batch_entry_decode("\xff\xff\xff", 3, err, sizeof err));
  assert_non_null(strstr(err, "BatchStoreValue"));
  Greenlight__V1__BatchStoreValue bad = GREENLIGHT__V1__BATCH_STORE_VALUE__INIT;
  fx_refused(&bad, "neither");
  Greenlight__V1__BatchRecord r = GREENLIGHT__V1__BATCH_RECORD__INIT;
  bad.kind_case = GREENLIGHT__V1__BATCH_STORE_VALUE__KIND_BATCH;
  bad.batch = &r;
  fx_refused(&bad, "key");
  Greenlight__V1__UnitSum neg = GREENLIGHT__V1__UNIT_SUM__INIT;
  neg.low = -1;
  r.key = (char *)B1;
  r.units_cleared = &neg;
  fx_refused(&bad, "negative");
  Greenlight__V1__BatchMember bm = GREENLIGHT__V1__BATCH_MEMBER__INIT;
  bad.kind_case = GREENLIGHT__V1__BATCH_STORE_VALUE__KIND_MEMBER;
  bad.member = &bm;
  fx_refused(&bad, "version");
}

/* Sums saturate in the view but stay exact behind it: once the absurd
 * members leave, the view is exact again. */
static void test_sums_exact_past_saturation(void **state) {
  fx_t *f = *state;
  st_spec_t a = {"O-A", ST(CLEARED), B1, 1, 0, INT64_MAX, INT64_MAX, INT64_MAX, 6};
  st_spec_t b = {"O-B", ST(CLEARED), B1, 1, 0, INT64_MAX, INT64_MAX, INT64_MAX, 6};
  st_spec_t c = {"O-C", ST(APPROVED), B1, 1, 0, 7, 5, 0, 4};
  assert_int_equal(fx_apply(f, B1, a), BATCH_PUBLISH);
  assert_int_equal(fx_apply(f, B1, b), BATCH_PUBLISH);
  assert_int_equal(fx_apply(f, B1, c), BATCH_PUBLISH);
  assert_int_equal(fx_view(f, B1)->units_requested, INT64_MAX);
  assert_int_equal(fx_view(f, B1)->units_approved, INT64_MAX);
  /* Saturated: a member's units change but not the view. */
  st_spec_t b2 = {"O-B", ST(CLEARED), B1, 1, 0, INT64_MAX - 1, INT64_MAX, INT64_MAX, 7};
  assert_int_equal(fx_apply(f, B1, b2), BATCH_MEMBERS);
  st_spec_t a_moved = {"O-A", ST(CLEARED), B2, 2, 0, INT64_MAX, INT64_MAX, INT64_MAX, 7};
  st_spec_t b_moved = {"O-B", ST(CLEARED), B2, 2, 0, INT64_MAX, INT64_MAX, INT64_MAX, 8};
  assert_int_equal(fx_apply(f, B1, a_moved), BATCH_PUBLISH); /* orders_cleared 2 -> 1. */
  assert_int_equal(fx_view(f, B1)->units_requested, INT64_MAX); /* INT64_MAX - 1 + 7. */
  assert_int_equal(fx_apply(f, B1, b_moved), BATCH_PUBLISH);
  const batch_view_t *v = fx_view(f, B1);
  assert_int_equal(v->units_requested, 7);
  assert_int_equal(v->units_approved, 5);
  assert_int_equal(v->units_cleared, 0);
  assert_int_equal(v->orders_cleared, 0);
  assert_int_equal(v->orders_approved, 1);
}

static void test_status_check(void **state) {
  (void)state;
  Greenlight__V1__OrderStatus st = GREENLIGHT__V1__ORDER_STATUS__INIT;
  char err[256];
  st.order_id = (char *)"";
  st.state = ST(QUEUED);
  st.version = 1;
  assert_int_equal(batch_status_check(&st, err, sizeof err), -1);
  assert_non_null(strstr(err, "order_id"));
  st.order_id = (char *)"O-1";
  assert_int_equal(batch_status_check(&st, err, sizeof err), 0);
  st.version = 0;
  assert_int_equal(batch_status_check(&st, err, sizeof err), -1);
  assert_non_null(strstr(err, "version"));
  st.version = 1;
  st.state = ST(RECEIVED);
  assert_int_equal(batch_status_check(&st, err, sizeof err), -1);
  st.state = (Greenlight__V1__OrderState)99;
  assert_int_equal(batch_status_check(&st, err, sizeof err), -1);
  st.state = ST(APPROVED);
  st.units_effective = -1;
  assert_int_equal(batch_status_check(&st, err, sizeof err), -1);
  assert_non_null(strstr(err, "effective -1"));
}

/* The seed scenario's batch, with the counting rules applied by hand: the
 * statuses under CN-2026-B1 as the order daemon writes them. */
static void test_seed_batch(void **state) {
  fx_t *f = *state;
  const int64_t cap = 450000;
  st_spec_t s[] = {
      {"O-BD-1", ST(QUEUED), B1, 1, cap, 220000, 0, 0, 2},
      {"O-ALI-1", ST(QUEUED), B1, 1, cap, 210000, 0, 0, 2},
      {"O-TC-1", ST(QUEUED), B1, 1, cap, 120000, 0, 0, 2},
      {"O-BD-1", ST(QUEUED), B1, 1, cap, 220000, 0, 0, 3},
      {"O-ALI-1", ST(QUEUED), B1, 1, cap, 210000, 0, 0, 3},
      {"O-TC-1", ST(QUEUED), B1, 1, cap, 120000, 0, 0, 3},
      {"O-BD-1", ST(APPROVED), B1, 1, cap, 220000, 200000, 0, 4},
      {"O-ALI-1", ST(APPROVED), B1, 1, cap, 210000, 170000, 0, 4},
      {"O-TC-1", ST(APPROVED), B1, 1, cap, 120000, 70000, 0, 4},
      {"O-BD-1", ST(PARTIALLY_CLEARED), B1, 1, cap, 220000, 200000, 120000, 5},
      {"O-ALI-1", ST(PARTIALLY_CLEARED), B1, 1, cap, 210000, 170000, 100000, 5},
      {"O-BD-1", ST(CLEARED), B1, 1, cap, 220000, 200000, 200000, 6},
      {"O-TC-1", ST(EXPIRED), B1, 1, cap, 120000, 70000, 0, 5},
  };
  int published = 0;
  for (size_t i = 0; i < sizeof s / sizeof s[0]; i++)
    published += fx_apply(f, B1, s[i]) == BATCH_PUBLISH;
  const batch_view_t *v = fx_view(f, B1);
  assert_int_equal(v->version, published);
  assert_int_equal(published, 10); /* The three export licences change no field. */
  assert_int_equal(v->batch_seq, 1);
  assert_int_equal(v->unit_cap, cap);
  assert_int_equal(v->orders_queued, 0);
  assert_int_equal(v->orders_approved, 1);
  assert_int_equal(v->orders_cleared, 1);
  assert_int_equal(v->orders_denied, 0);
  assert_int_equal(v->units_requested, 550000);
  assert_int_equal(v->units_approved, 370000);
  assert_int_equal(v->units_cleared, 300000);
  assert_false(v->over_cap);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_upsert, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_move_between_batches, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_waiting_view, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_stale_version_ignored, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_counts_per_state, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_units_sums, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_over_cap_edge, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_encode_roundtrip, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_decode_refuses, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_sums_exact_past_saturation, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_status_check, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_seed_batch, fx_setup, fx_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
