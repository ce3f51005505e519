/* Unit tests for gl_settle: the broker threads' Fetch counts go in through
 * gl_settle_count (what the interceptor calls), pumps are driven by hand,
 * and the tests check which record tags have settled when. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>
#include <uv.h>

#include "gl_settle.h"

/* One pump at now_ms that takes n records; returns their tag (0 if none). */
static uint64_t pump(gl_settle_t *s, uint64_t now_ms, int n) {
  gl_settle_pump_start(s, now_ms);
  uint64_t tag = 0;
  for (int i = 0; i < n; i++) tag = gl_settle_tag(s);
  gl_settle_drained(s);
  return tag;
}

static void test_one_broker(void **state) {
  (void)state;
  gl_settle_t s;
  gl_settle_init(&s, NULL);
  gl_settle_count(&s, 1); /* The Fetch that brings the first records. */
  uint64_t a = pump(&s, 100, 3);
  assert_true(a > 0);
  assert_false(gl_settle_done(&s, a));
  /* No Fetch since the drain: the response may still be being read. */
  pump(&s, 101, 0);
  assert_false(gl_settle_done(&s, a));
  /* Records taken while a snapshot is pending wait for a later one. */
  uint64_t b = pump(&s, 102, 2);
  assert_true(b > a);
  /* The broker wrote its next Fetch: it read that response in full before. */
  gl_settle_count(&s, 1);
  pump(&s, 103, 0);
  assert_true(gl_settle_done(&s, a));
  assert_false(gl_settle_done(&s, b)); /* Its snapshot was taken only now. */
  gl_settle_count(&s, 1);
  pump(&s, 104, 0);
  assert_true(gl_settle_done(&s, b));
  gl_settle_destroy(&s);
}

static void test_every_fetching_broker(void **state) {
  (void)state;
  gl_settle_t s;
  gl_settle_init(&s, NULL);
  gl_settle_count(&s, 1);
  gl_settle_count(&s, 2);
  uint64_t a = pump(&s, 1000, 1);
  /* Not known which broker's response it came in: both must fetch again. */
  gl_settle_count(&s, 1);
  pump(&s, 1001, 0);
  assert_false(gl_settle_done(&s, a));
  gl_settle_count(&s, 2);
  pump(&s, 1002, 0);
  assert_true(gl_settle_done(&s, a));
  /* A broker that stopped fetching (a second without a Fetch) is not
   * waited for. */
  uint64_t b = pump(&s, 1003, 1);
  gl_settle_count(&s, 1);
  pump(&s, 1500, 0);
  assert_false(gl_settle_done(&s, b));
  gl_settle_count(&s, 1);
  pump(&s, 1002 + 1001, 0);
  assert_true(gl_settle_done(&s, b));
  gl_settle_destroy(&s);
}

static void test_counted_before_drain_only(void **state) {
  (void)state;
  gl_settle_t s;
  gl_settle_init(&s, NULL);
  gl_settle_count(&s, 7);
  gl_settle_pump_start(&s, 10);
  uint64_t a = gl_settle_tag(&s);
  /* A Fetch written after the records were taken but before the drain
   * ended may follow a response that is only now being read: the
   * snapshot taken at the drain's end includes it, so it does not count. */
  gl_settle_count(&s, 7);
  gl_settle_drained(&s);
  pump(&s, 11, 0);
  assert_false(gl_settle_done(&s, a));
  gl_settle_count(&s, 7);
  pump(&s, 12, 0);
  assert_true(gl_settle_done(&s, a));
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
  gl_settle_count(&s, 1);
  woken = NULL;
  uv_run(&loop, UV_RUN_NOWAIT);
  assert_null(woken);
  /* A merge waits: the next Fetch wakes the loop, once. */
  gl_settle_want_wake(&s);
  gl_settle_count(&s, 1);
  uv_run(&loop, UV_RUN_ONCE);
  assert_ptr_equal(woken, &wake);
  assert_false(atomic_load(&s.waiting));
  /* Closed: no wake-up any more. */
  gl_settle_close(&s);
  gl_settle_want_wake(&s);
  woken = NULL;
  gl_settle_count(&s, 1);
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
  for (int b = 0; b <= GL_SETTLE_BROKERS; b++) gl_settle_count(&s, b);
  uint64_t a = pump(&s, 10, 1);
  for (int b = 0; b <= GL_SETTLE_BROKERS; b++) gl_settle_count(&s, b);
  pump(&s, 11, 0);
  /* One broker untracked: nothing settles early (merge.settle.ms rules). */
  assert_false(gl_settle_done(&s, a));
  gl_settle_destroy(&s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_one_broker),
      cmocka_unit_test(test_every_fetching_broker),
      cmocka_unit_test(test_counted_before_drain_only),
      cmocka_unit_test(test_wake_when_waiting),
      cmocka_unit_test(test_too_many_brokers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
