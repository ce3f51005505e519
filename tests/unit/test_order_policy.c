/* Unit tests of order_policy: defaults, the shipped policy file and the
 * error messages of bad files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "greenlight/v1/greenlight.pb-c.h"
#include "order_policy.h"

#define EU(x) GREENLIGHT__V1__END_USE__END_USE_##x

/* Writes text to a fresh temporary file; returns its path (static buffer per slot). */
static const char *write_policy(char *path, size_t len, const char *text) {
  snprintf(path, len, "/tmp/test_order_policy_XXXXXX");
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  size_t n = strlen(text);
  assert_int_equal(write(fd, text, n), (ssize_t)n);
  close(fd);
  return path;
}

/* Loads text as a policy file; returns the result and leaves the message in err. */
static int load_text(order_policy_t *pol, const char *text, char *err, size_t errlen,
                     char *path, size_t pathlen) {
  write_policy(path, pathlen, text);
  int rc = order_policy_load(pol, path, err, errlen);
  unlink(path);
  return rc;
}

static void test_defaults(void **state) {
  (void)state;
  order_policy_t p;
  order_policy_default(&p);
  assert_true(p.barred_end_use[EU(SENSITIVE_AGENCY)]);
  assert_true(p.barred_end_use[EU(CRITICAL_INFRASTRUCTURE)]);
  assert_false(p.barred_end_use[EU(COMMERCIAL_CLOUD)]);
  assert_false(p.barred_end_use[EU(AI_RESEARCH)]);
  assert_int_equal(p.min_units, 1);
  assert_int_equal(p.max_units, 1000000);
  assert_int_equal(p.domestic_floor_bp, 0);
  assert_int_equal(p.park_ttl_ms, 7LL * 24 * 3600 * 1000);
  assert_int_equal(p.closed_retention_ms, 30LL * 24 * 3600 * 1000);
  assert_int_equal(p.max_seen_event_ids, 1024);
  assert_int_equal(p.max_parked_events, 32);
  /* UNSPECIFIED and unknown end uses are always barred. */
  assert_true(order_policy_end_use_barred(&p, EU(UNSPECIFIED)));
  assert_true(order_policy_end_use_barred(&p, 99));
  assert_true(order_policy_end_use_barred(&p, -1));
  assert_false(order_policy_end_use_barred(&p, EU(ENTERPRISE)));
}

static void test_shipped_file(void **state) {
  (void)state;
  order_policy_t p, d;
  char err[512] = "";
  memset(&p, 0x5a, sizeof p);
  int rc = order_policy_load(&p, GL_SOURCE_DIR "/deploy/config/h200.policy", err, sizeof err);
  assert_int_equal(rc, 0);
  order_policy_default(&d);
  /* The shipped file spells out the defaults. */
  assert_memory_equal(&p, &d, sizeof p);
}

static void test_override_and_names(void **state) {
  (void)state;
  order_policy_t p;
  char err[512] = "", path[64];
  int rc = load_text(&p,
                     "# comment line\n"
                     "\n"
                     "  barred_end_uses = end_use_ai_research ,ENTERPRISE,, # trailing comment\n"
                     "min_units=10\n"
                     "max_units = 500000\n"
                     "domestic_floor_bp = 2500\n"
                     "park_ttl_ms = 1000\n"
                     "closed_retention_ms = 0\n"
                     "max_seen_event_ids = 4\n"
                     "max_parked_events = 2",
                     err, sizeof err, path, sizeof path);
  assert_int_equal(rc, 0);
  assert_true(p.barred_end_use[EU(AI_RESEARCH)]);
  assert_true(p.barred_end_use[EU(ENTERPRISE)]);
  assert_false(p.barred_end_use[EU(SENSITIVE_AGENCY)]); /* The list replaces the default. */
  assert_int_equal(p.min_units, 10);
  assert_int_equal(p.max_units, 500000);
  assert_int_equal(p.domestic_floor_bp, 2500);
  assert_int_equal(p.park_ttl_ms, 1000);
  assert_int_equal(p.closed_retention_ms, 0);
  assert_int_equal(p.max_seen_event_ids, 4);
  assert_int_equal(p.max_parked_events, 2);
}

static void test_empty_barred_list(void **state) {
  (void)state;
  order_policy_t p;
  char err[512] = "", path[64];
  assert_int_equal(load_text(&p, "barred_end_uses =\n", err, sizeof err, path, sizeof path), 0);
  assert_false(p.barred_end_use[EU(SENSITIVE_AGENCY)]);
  assert_true(order_policy_end_use_barred(&p, EU(UNSPECIFIED)));
}

/* Expects load_text to fail with a message containing every needle. */
static void expect_error(const char *text, const char *n1, const char *n2, const char *n3) {
  order_policy_t p, before;
  char err[1024] = "", path[64];
  order_policy_default(&p);
  p.min_units = 77; /* A marker: a failed load leaves *pol untouched. */
  before = p;
  int rc = load_text(&p, text, err, sizeof err, path, sizeof path);
  if (rc != -1) fail_msg("expected an error for:\n%s", text);
  assert_memory_equal(&p, &before, sizeof p);
  const char *needles[] = {path, n1, n2, n3};
  for (size_t i = 0; i < 4; i++)
    if (needles[i] && !strstr(err, needles[i]))
      fail_msg("error '%s' lacks '%s'", err, needles[i]);
}

static void test_unknown_key(void **state) {
  (void)state;
  expect_error("min_units = 1\n\nmax_unit = 5\n", ":3:", "max_unit", "expected one of");
}

static void test_bad_numbers(void **state) {
  (void)state;
  expect_error("max_units = 12abc\n", ":1:", "'12abc'", "expected an integer");
  expect_error("min_units = 0\n", ":1:", "min_units", "[1, ");
  expect_error("domestic_floor_bp = -5\n", "domestic_floor_bp", "'-5'", NULL);
  expect_error("park_ttl_ms =\n", "park_ttl_ms", "expected an integer", NULL);
  expect_error("max_seen_event_ids = 99999999999999999999999\n", "max_seen_event_ids", NULL, NULL);
  expect_error("max_parked_events = 49\n", "max_parked_events", "[1, 48]", NULL);
}

static void test_unknown_end_use(void **state) {
  (void)state;
  expect_error("# x\nbarred_end_uses = SENSITIVE_AGENCY, MILITARY\n", ":2:", "'MILITARY'",
               "END_USE_CRITICAL_INFRASTRUCTURE");
}

static void test_other_errors(void **state) {
  (void)state;
  expect_error("min_units 5\n", ":1:", "key = value", NULL);
  expect_error("min_units = 5\nmin_units = 6\n", ":2:", "twice", NULL);
  expect_error("min_units = 50\nmax_units = 10\n", "max_units 10", "min_units 50", NULL);
  order_policy_t p;
  char err[256] = "";
  assert_int_equal(order_policy_load(&p, "/nonexistent/greenlight.policy", err, sizeof err), -1);
  /* The caller names the setting and the path (config: policy.file = '...'). */
  assert_non_null(strstr(err, "cannot open"));
  assert_non_null(strstr(err, "No such file"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_defaults),         cmocka_unit_test(test_shipped_file),
      cmocka_unit_test(test_override_and_names), cmocka_unit_test(test_empty_barred_list),
      cmocka_unit_test(test_unknown_key),      cmocka_unit_test(test_bad_numbers),
      cmocka_unit_test(test_unknown_end_use),  cmocka_unit_test(test_other_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
