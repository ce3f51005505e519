/* Unit tests for order_deadlines: the (deadline, order_id) order, what is
 * due, stale entries, clear. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "order_deadlines.h"

/* Pops everything due at now into "at:id;" pairs. */
static void pop_all(order_deadlines_t *d, int64_t now, char *log, size_t len) {
  order_deadline_t due;
  log[0] = '\0';
  while (order_deadlines_pop_due(d, now, &due)) {
    size_t n = strlen(log);
    snprintf(log + n, len - n, "%lld:%s;", (long long)due.at, due.id);
    free(due.id);
  }
}

static void test_order_by_deadline_then_id(void **state) {
  (void)state;
  order_deadlines_t d;
  order_deadlines_init(&d);
  order_deadlines_push(&d, 30, "O-b");
  order_deadlines_push(&d, 10, "O-z");
  order_deadlines_push(&d, 30, "O-a");
  order_deadlines_push(&d, INT64_MAX, "O-never");
  order_deadlines_push(&d, 20, "O-m");
  order_deadlines_push(&d, 40, "O-later");
  assert_int_equal(d.len, 5);
  char log[256];
  pop_all(&d, 9, log, sizeof log);
  assert_string_equal(log, "");
  pop_all(&d, 30, log, sizeof log);
  assert_string_equal(log, "10:O-z;20:O-m;30:O-a;30:O-b;");
  assert_int_equal(d.len, 1);
  order_deadlines_free(&d); /* Frees the id still in it (ASan checks). */
  assert_int_equal(d.len, 0);
}

/* A changed deadline is pushed again: the old entry stays and pops too
 * (the caller checks it against the order); ids are copies. */
static void test_stale_entries_and_copies(void **state) {
  (void)state;
  order_deadlines_t d;
  order_deadlines_init(&d);
  char id[16] = "O-1";
  order_deadlines_push(&d, 50, id);
  order_deadlines_push(&d, 20, id);
  strcpy(id, "O-2");
  char log[256];
  pop_all(&d, 100, log, sizeof log);
  assert_string_equal(log, "20:O-1;50:O-1;");
  order_deadlines_free(&d);
}

/* Many entries (the heap grows), a long id, then a clear keeps the room. */
static void test_growth_and_clear(void **state) {
  (void)state;
  order_deadlines_t d;
  order_deadlines_init(&d);
  char id[140];
  memset(id, 'x', 128);
  id[128] = '\0';
  order_deadlines_push(&d, 5, id);
  for (int i = 999; i >= 0; i--) {
    char k[16];
    snprintf(k, sizeof k, "O-%04d", i);
    order_deadlines_push(&d, 7, k);
  }
  size_t cap = d.cap;
  order_deadline_t due;
  assert_true(order_deadlines_pop_due(&d, 7, &due));
  assert_int_equal(strlen(due.id), 128);
  free(due.id);
  assert_true(order_deadlines_pop_due(&d, 7, &due));
  assert_string_equal(due.id, "O-0000");
  free(due.id);
  order_deadlines_clear(&d);
  assert_int_equal(d.len, 0);
  assert_int_equal(d.cap, cap);
  assert_false(order_deadlines_pop_due(&d, INT64_MAX - 1, &due));
  order_deadlines_free(&d);
}

/* push_n: an id given by length (a store key, not NUL-terminated) is copied
 * as those bytes; INT64_MAX is ignored as with push. */
static void test_push_n(void **state) {
  (void)state;
  order_deadlines_t d;
  order_deadlines_init(&d);
  const char keys[] = "O-bO-aO-c";
  order_deadlines_push_n(&d, 30, keys, 3);
  order_deadlines_push_n(&d, 30, keys + 3, 3);
  order_deadlines_push_n(&d, INT64_MAX, keys + 6, 3);
  order_deadlines_push_n(&d, 10, keys + 6, 3);
  assert_int_equal(d.len, 3);
  char log[256];
  pop_all(&d, 100, log, sizeof log);
  assert_string_equal(log, "10:O-c;30:O-a;30:O-b;");
  order_deadlines_free(&d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_order_by_deadline_then_id),
      cmocka_unit_test(test_stale_entries_and_copies),
      cmocka_unit_test(test_growth_and_clear),
      cmocka_unit_test(test_push_n),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
