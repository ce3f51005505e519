/* Unit tests for gl_settle: the broker threads' Fetch counts go in through
 * gl_settle_sent and gl_settle_handled (what the interceptors call), pumps
 * are driven by hand, and the tests check which record tags have settled
 * when. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>
#include <uv.h>

#include "gl_settle.h"

/* One pump that takes n records; returns their tag (0 if none). */
static uint64_t pump(gl_settle_t *s, int n) {
  gl_settle_pump_start(s);
  uint64_t tag = 0;
  for (int i = 0; i < n; i++) tag = gl_settle_tag(s);
  gl_settle_drained(s);
  return tag;
}

/* Broker b answers: the handling of its Fetch response begins, ends, and
 * its next Fetch is written. */
static void answer(gl_settle_t *s, int32_t b) {
  gl_settle_handled(s, b);
  gl_settle_sent(s, b);
}

static void test_between_responses(void **state) {
  (void)state;
  gl_settle_t s;
  gl_settle_init(&s, NULL);
  gl_settle_sent(&s, 1);
  gl_settle_handled(&s, 1); /* The response that brings the records: being read. */
  uint64_t a = pump(&s, 3);
  assert_true(a > 0);
  assert_false(gl_settle_done(&s, a));
  /* Still reading it: the same response may hold more. */
  pump(&s, 0);
  assert_false(gl_settle_done(&s, a));
  /* Its next Fetch is written: that response was read in full. */
  gl_settle_sent(&s, 1);
  /* Records of the pump that sees it are not settled by it: they may come
   * from a response whose reading began after that read. */
  uint64_t b = pump(&s, 2);
  assert_true(gl_settle_done(&s, a));
  assert_false(gl_settle_done(&s, b));
  pump(&s, 0); /* Between responses still: b's response was read too. */
  assert_true(gl_settle_done(&s, b));
  gl_settle_destroy(&s);
}

static void test_fetch_since_snapshot(void **state) {
  (void)state;
  gl_settle_t s;
  gl_settle_init(&s, NULL);
  gl_settle_sent(&s, 1);
  gl_settle_handled(&s, 1);
  uint64_t a = pump(&s, 1);
  /* The broker reads one response after the other, and the loop always
   * looks while it reads one: a Fetch written since the snapshot taken
   * after the drain settles the records anyway. */
  answer(&s, 1);
  gl_settle_handled(&s, 1);
  pump(&s, 0);
  assert_true(gl_settle_done(&s, a));
  gl_settle_destroy(&s);
}

static void test_reading_during_drain(void **state) {
  (void)state;
  gl_settle_t s;
  gl_settle_init(&s, NULL);
  gl_settle_sent(&s, 7);
  gl_settle_handled(&s, 7);
  gl_settle_pump_start(&s);
  uint64_t a = gl_settle_tag(&s);
  /* During the drain the broker finishes that response, writes its next
   * Fetch and begins to read the answer, which a may have come in. */
  answer(&s, 7);
  gl_settle_handled(&s, 7);
  gl_settle_drained(&s);
  pump(&s, 0);
  assert_false(gl_settle_done(&s, a));
  gl_settle_sent(&s, 7);
  pump(&s, 0);
  assert_true(gl_settle_done(&s, a));
  gl_settle_destroy(&s);
}

static void test_every_fetching_broker(void **state) {
  (void)state;
  gl_settle_t s;
  gl_settle_init(&s, NULL);
  gl_settle_sent(&s, 1);
  gl_settle_sent(&s, 2);
  gl_settle_handled(&s, 1);
  gl_settle_handled(&s, 2);
  uint64_t a = pump(&s, 1);
  /* Not known which broker's response it came in: both must be done. */
  gl_settle_sent(&s, 1);
  pump(&s, 0);
  assert_false(gl_settle_done(&s, a));
  gl_settle_sent(&s, 2);
  pump(&s, 0);
  assert_true(gl_settle_done(&s, a));
  /* A broker reading an answer holds records back however long it takes
   * (merge.settle.ms bounds the wait); one that fetches nothing any more is
   * between responses and holds nothing back. */
  gl_settle_handled(&s, 2);
  uint64_t b = pump(&s, 1);
  pump(&s, 0);
  assert_false(gl_settle_done(&s, b));
  gl_settle_sent(&s, 2);
  pump(&s, 0);
  assert_true(gl_settle_done(&s, b));
  /* A request purged unsent when its connection dropped is answered (an
   * error) without a Fetch written: the next Fetch puts the counts right. */
  gl_settle_handled(&s, 1);
  gl_settle_handled(&s, 1);
  uint64_t c = pump(&s, 1);
  gl_settle_sent(&s, 1);
  pump(&s, 0);
  assert_true(gl_settle_done(&s, c));
  gl_settle_destroy(&s);
}

static uv_async_t *woken;
static void on_wake(uv_async_t *h) { woken = h; }

static void test_wake_when_waiting(void **state) {
  (void)state;
  uv_loop_t loop;
  uv_async_t wake;
  assert_int_equal(uv_loop_init(&loop), 0);
  assert_int_equal(uv_async_init(&loop, &wake, on_wake), 0);
  gl_settle_t s;
  gl_settle_init(&s, &wake);
  /* Nobody waits: a Fetch wakes nothing. */
  gl_settle_sent(&s, 1);
  woken = NULL;
  uv_run(&loop, UV_RUN_NOWAIT);
  assert_null(woken);
  /* A merge waits: the next Fetch wakes the loop, once. */
  gl_settle_want_wake(&s);
  gl_settle_sent(&s, 1);
  uv_run(&loop, UV_RUN_ONCE);
  assert_ptr_equal(woken, &wake);
  assert_false(atomic_load(&s.waiting));
  /* Closed: no wake-up any more. */
  gl_settle_close(&s);
  gl_settle_want_wake(&s);
  woken = NULL;
  gl_settle_sent(&s, 1);
  uv_run(&loop, UV_RUN_NOWAIT);
  assert_null(woken);
  uv_close((uv_handle_t *)&wake, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&loop), 0);
  gl_settle_destroy(&s);
}

static void test_too_many_brokers(void **state) {
  (void)state;
  gl_settle_t s;
  gl_settle_init(&s, NULL);
  for (int b = 0; b <= GL_SETTLE_BROKERS; b++) gl_settle_sent(&s, b);
  uint64_t a = pump(&s, 1);
  for (int b = 0; b <= GL_SETTLE_BROKERS; b++) answer(&s, b);
  pump(&s, 0);
  /* One broker untracked: nothing settles early (merge.settle.ms rules). */
  assert_false(gl_settle_done(&s, a));
  gl_settle_destroy(&s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_between_responses),
      cmocka_unit_test(test_fetch_since_snapshot),
      cmocka_unit_test(test_reading_during_drain),
      cmocka_unit_test(test_every_fetching_broker),
      cmocka_unit_test(test_wake_when_waiting),
      cmocka_unit_test(test_too_many_brokers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
