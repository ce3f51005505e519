/* The batch daemon's state stays small whatever the size of a batch.
 *
 * 500,000 orders go through one batch and 500,000 more wait ("~waiting"),
 * through the daemon's own store logic (batch_store_apply() on a real
 * gl_store with the daemon's codec): first all 1,000,000 are accepted (a
 * waiting view of 1,000,000 members), then the first 500,000 are queued in
 * the batch (written under the batch and under "~waiting", which they
 * leave), then they get their export licence, a stale replay, and their
 * final state. Every 1,000 statuses the store is flushed as a commit does,
 * and every value written to the changelog is encoded and its size
 * checked: a batch entry under 1 KiB, a member entry under 256 bytes (the
 * earlier layout wrote one record per batch listing every member, which
 * passed the broker's 1 MB limit at ~54,000 members). At the end both
 * views are compared with counts computed here, and the store holds
 * exactly one entry per batch and per member. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "batch_store.h"

#define ST(x) GREENLIGHT__V1__ORDER_STATE__ORDER_STATE_##x
#define B1 "CN-2026-B1"
#define WAIT GL_BATCH_KEY_WAITING
#define N_BATCH 500000
#define N_WAIT 500000
#define COMMIT_EVERY 1000
#define MAX_BATCH_VALUE 1024
#define MAX_MEMBER_VALUE 256

/* One run: the store, what its commits wrote, what the views published. */
typedef struct run {
  gl_store_t *s;
  long since_commit;
  long statuses, ignored;
  long published_batch, published_wait;
  long writes, tombstones;
  size_t max_batch, max_member;
  int64_t cap; /* The batch's unit cap, in every status queued in it. */
  Greenlight__V1__OrderStatus st;
  Greenlight__V1__Cause cause;
  char order_id[32];
} run_t;

/* Checks one changelog write of a commit: its size by kind; a batch entry
 * also decodes and encodes again to the same bytes. */
static void run_flush_one(void *arg, const void *key, size_t klen, const void *buf, size_t n) {
  run_t *r = arg;
  if (!buf) {
    r->tombstones++;
    return;
  }
  r->writes++;
  char err[256] = "";
  void *d = batch_entry_decode(buf, n, err, sizeof err);
  if (!d) fail_msg("entry does not decode: %s", err);
  if (batch_entry_kind(d) == BATCH_KIND_MEMBER) {
    assert_non_null(memchr(key, 0, klen));
    if (n >= MAX_MEMBER_VALUE) fail_msg("member entry of %zu bytes", n);
    if (n > r->max_member) r->max_member = n;
  } else {
    assert_null(memchr(key, 0, klen));
    if (n >= MAX_BATCH_VALUE) fail_msg("batch entry of %zu bytes", n);
    if (n > r->max_batch) r->max_batch = n;
    uint8_t *again = NULL;
    assert_int_equal(batch_entry_encode(d, &again), n);
    assert_memory_equal(buf, again, n);
    free(again);
  }
  batch_entry_free(d);
}

static void run_commit(run_t *r) {
  gl_store_flush(r->s, run_flush_one, r);
  gl_store_commit(r->s);
  r->since_commit = 0;
}

/* Applies the status in r->st under key, committing every COMMIT_EVERY. */
static void run_apply(run_t *r, const char *key) {
  const batch_t *b = NULL;
  bool was_over = false;
  r->cause.occurred_at_ms++;
  batch_result_t res = batch_store_apply(r->s, key, &r->st, &b, &was_over);
  r->statuses++;
  r->ignored += res == BATCH_IGNORED;
  if (res == BATCH_PUBLISH) *(strcmp(key, WAIT) == 0 ? &r->published_wait : &r->published_batch) += 1;
  if (++r->since_commit == COMMIT_EVERY) run_commit(r);
}

/* Sets r->st to a status of order prefix-i. */
static void run_status(run_t *r, char prefix, long i, int state, const char *batch_id,
                       int64_t version, int64_t requested, int64_t effective, int64_t cleared) {
  snprintf(r->order_id, sizeof r->order_id, "%c-%07ld", prefix, i);
  r->st.state = state;
  r->st.batch_id = (char *)batch_id;
  r->st.batch_seq = batch_id[0] ? 1 : 0;
  r->st.batch_unit_cap = batch_id[0] ? r->cap : 0;
  r->st.version = version;
  r->st.units_requested = requested;
  r->st.units_effective = effective;
  r->st.units_cleared = cleared;
}

/* The numbers of batch order i (final state by i % 5: QUEUED, APPROVED,
 * PARTIALLY_CLEARED, CLEARED, DENIED) and of waiting order i. */
static int64_t req_of(long i) { return 1000 + i % 997; }
static int64_t eff_of(long i) { return req_of(i) - i % 7; }
static int64_t wait_req_of(long i) { return 500 + i % 13; }

/* The batch view expected from the counting rules (decision 2). */
static batch_view_t expected_batch(int64_t cap) {
  batch_view_t v = {.batch_seq = 1, .unit_cap = cap};
  for (long i = 0; i < N_BATCH; i++) {
    int k = (int)(i % 5);
    v.units_requested += req_of(i);
    v.orders_queued += k == 0;
    v.orders_approved += k == 1 || k == 2;
    v.orders_cleared += k == 3;
    v.orders_denied += k == 4;
    if (k >= 1 && k <= 3) v.units_approved += eff_of(i);
    v.units_cleared += k == 2 ? eff_of(i) / 2 : k == 3 ? eff_of(i) : 0;
  }
  v.over_cap = v.units_approved > cap;
  return v;
}

/* The final statuses of batch order i (after QUEUED v2 and v3). */
static void run_finish_order(run_t *r, long i) {
  int k = (int)(i % 5);
  int64_t q = req_of(i), e = eff_of(i);
  if (k == 4) run_status(r, 'B', i, ST(DENIED), B1, 4, q, 0, 0);
  if (k >= 1 && k <= 3) run_status(r, 'B', i, ST(APPROVED), B1, 4, q, e, 0);
  if (k != 0) run_apply(r, B1);
  if (k == 2) run_status(r, 'B', i, ST(PARTIALLY_CLEARED), B1, 5, q, e, e / 2);
  if (k == 3) run_status(r, 'B', i, ST(CLEARED), B1, 5, q, e, e);
  if (k == 2 || k == 3) run_apply(r, B1);
}

static void check_view(const batch_view_t *got, const batch_view_t *want) {
  assert_int_equal(got->batch_seq, want->batch_seq);
  assert_int_equal(got->unit_cap, want->unit_cap);
  assert_int_equal(got->orders_queued, want->orders_queued);
  assert_int_equal(got->orders_approved, want->orders_approved);
  assert_int_equal(got->orders_denied, want->orders_denied);
  assert_int_equal(got->orders_cleared, want->orders_cleared);
  assert_int_equal(got->orders_waiting, want->orders_waiting);
  assert_int_equal(got->units_requested, want->units_requested);
  assert_int_equal(got->units_approved, want->units_approved);
  assert_int_equal(got->units_cleared, want->units_cleared);
  assert_int_equal(got->over_cap, want->over_cap);
}

/* The three phases of the run (see the top of this file). */
static void run_phases(run_t *r) {
  /* 1. Everyone is accepted and waits. */
  for (long i = 0; i < N_BATCH || i < N_WAIT; i++) {
    if (i < N_BATCH) run_status(r, 'B', i, ST(ACCEPTED), "", 1, req_of(i), 0, 0);
    if (i < N_BATCH) run_apply(r, WAIT);
    if (i < N_WAIT) run_status(r, 'W', i, ST(ACCEPTED), "", 1, wait_req_of(i), 0, 0);
    if (i < N_WAIT) run_apply(r, WAIT);
  }
  assert_int_equal(batch_member_count(batch_store_batch(r->s, WAIT)), N_BATCH + N_WAIT);
  /* 2. The batch orders are queued: under the batch, and under "~waiting" (left). */
  for (long i = 0; i < N_BATCH; i++) {
    run_status(r, 'B', i, ST(QUEUED), B1, 2, req_of(i), 0, 0);
    run_apply(r, B1);
    run_apply(r, WAIT);
  }
  /* 3. Export licence (no view change), a stale replay, the final state. */
  for (long i = 0; i < N_BATCH; i++) {
    run_status(r, 'B', i, ST(QUEUED), B1, 3, req_of(i), 0, 0);
    run_apply(r, B1);
    if (i % 10 == 0) {
      run_status(r, 'B', i, ST(QUEUED), B1, 2, req_of(i), 0, 0);
      run_apply(r, B1);
    }
    run_finish_order(r, i);
  }
}

static void test_large_batch_state_stays_small(void **state) {
  (void)state;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  run_t *r = calloc(1, sizeof *r);
  assert_non_null(r);
  r->s = gl_store_new(&batch_store_ops, NULL);
  greenlight__v1__order_status__init(&r->st);
  greenlight__v1__cause__init(&r->cause);
  r->cause.occurred_at_ms = 1767225600000LL;
  r->st.cause = &r->cause;
  r->st.order_id = r->order_id;
  batch_view_t want = expected_batch(0);
  r->cap = want.units_approved - 1; /* Ends one unit over its cap. */
  want = expected_batch(r->cap);
  run_phases(r);
  run_commit(r);
  check_view(batch_view(batch_store_batch(r->s, B1)), &want);
  batch_view_t want_wait = {.orders_waiting = N_WAIT};
  for (long i = 0; i < N_WAIT; i++) want_wait.units_requested += wait_req_of(i);
  check_view(batch_view(batch_store_batch(r->s, WAIT)), &want_wait);
  assert_int_equal(batch_view(batch_store_batch(r->s, B1))->version, r->published_batch);
  assert_int_equal(batch_view(batch_store_batch(r->s, WAIT))->version, r->published_wait);
  assert_int_equal(batch_member_count(batch_store_batch(r->s, B1)), N_BATCH);
  assert_int_equal(gl_store_count(r->s), 2 + N_BATCH + N_WAIT);
  assert_int_equal(r->tombstones, N_BATCH); /* Each left "~waiting" once. */
  assert_int_equal(r->ignored, N_BATCH / 10);
  assert_non_null(batch_store_member(r->s, B1, "B-0000002"));
  assert_int_equal(batch_store_member(r->s, B1, "B-0000002")->state, ST(PARTIALLY_CLEARED));
  assert_null(batch_store_member(r->s, WAIT, "B-0000002"));
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  printf("%ld statuses, %ld changelog writes + %ld tombstones in %.1f s; largest batch entry "
         "%zu B, largest member entry %zu B\n",
         r->statuses, r->writes, r->tombstones, secs, r->max_batch, r->max_member);
  gl_store_destroy(r->s);
  free(r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_large_batch_state_stays_small),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
