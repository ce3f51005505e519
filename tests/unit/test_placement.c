/* Unit tests for gl_placement (num.standby.replicas): which instance keeps
 * a warm copy of a partition, from the owners it knows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "gl_placement.h"

/* Every id of a ring of n, once: how many of the others keep a copy of a
 * partition owned by owner. */
static int copies(const char *const *ids, int n, const char *owner, int replicas) {
  int k = 0;
  for (int i = 0; i < n; i++) k += gl_placement_is_standby(ids, n, owner, ids[i], replicas);
  return k;
}

static void test_two_instances_keep_each_others(void **state) {
  (void)state;
  const char *ids[] = {"app-a", "app-b"};
  assert_true(gl_placement_is_standby(ids, 2, "app-a", "app-b", 1));
  assert_true(gl_placement_is_standby(ids, 2, "app-b", "app-a", 1));
  /* The owner never keeps a standby of its own partition. */
  assert_false(gl_placement_is_standby(ids, 2, "app-a", "app-a", 1));
  /* No standbys asked for, or no owner known: none. */
  assert_false(gl_placement_is_standby(ids, 2, "app-a", "app-b", 0));
  assert_false(gl_placement_is_standby(ids, 2, NULL, "app-b", 1));
}

static void test_ring_follows_the_owner(void **state) {
  (void)state;
  /* In any order, with repeats and unknown slots (partitions whose owner
   * is not known): the ring is a, b, c. */
  const char *known[] = {"app-c", NULL, "app-a", "app-c", "app-b"};
  assert_true(gl_placement_is_standby(known, 5, "app-a", "app-b", 1));
  assert_false(gl_placement_is_standby(known, 5, "app-a", "app-c", 1));
  assert_true(gl_placement_is_standby(known, 5, "app-c", "app-a", 1)); /* Wraps around. */
  assert_true(gl_placement_is_standby(known, 5, "app-a", "app-c", 2));
  const char *ids[] = {"app-a", "app-b", "app-c"};
  for (int o = 0; o < 3; o++) {
    assert_int_equal(copies(ids, 3, ids[o], 1), 1);
    assert_int_equal(copies(ids, 3, ids[o], 2), 2);
    /* More replicas than other instances: every other one, no more. */
    assert_int_equal(copies(ids, 3, ids[o], 5), 2);
  }
}

static void test_an_instance_that_owns_nothing_still_counts(void **state) {
  (void)state;
  /* me owns nothing, so no claim names it: it places itself on the ring. */
  const char *known[] = {"app-a", "app-c"};
  assert_true(gl_placement_is_standby(known, 2, "app-a", "app-b", 1));
  assert_false(gl_placement_is_standby(known, 2, "app-c", "app-b", 1));
  /* The owner need not be among the known ids either. */
  assert_true(gl_placement_is_standby(NULL, 0, "app-a", "app-b", 1));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_two_instances_keep_each_others),
      cmocka_unit_test(test_ring_follows_the_owner),
      cmocka_unit_test(test_an_instance_that_owns_nothing_still_counts),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
