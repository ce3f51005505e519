/* Unit tests of order_policy: defaults, the shipped policy file and the
 * error messages of bad files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "greenlight/v1/greenlight.pb-c.h"
#include "order_policy.h"

#define EU(x) GREENLIGHT__V1__END_USE__END_USE_##x

/* Writes n bytes of text to a fresh temporary file named in path. */
static void write_policy(char *path, size_t len, const char *text, size_t n) {
  snprintf(path, len, "/tmp/test_order_policy_XXXXXX");
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, text, n), (ssize_t)n);
  close(fd);
}

/* Loads n bytes of text as a policy file; returns the result and leaves the
 * message in err. */
static int load_bytes(order_policy_t *pol, const char *text, size_t n, char *err, size_t errlen,
                      char *path, size_t pathlen) {
  write_policy(path, pathlen, text, n);
  int rc = order_policy_load(pol, path, err, errlen);
  unlink(path);
  return rc;
}

static int load_text(order_policy_t *pol, const char *text, char *err, size_t errlen,
                     char *path, size_t pathlen) {
  return load_bytes(pol, text, strlen(text), err, errlen, path, pathlen);
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
  assert_string_equal(err, "expected a regular file (No such file or directory)");
}

/* A policy that is not a regular file is refused before anything is read:
 * a FIFO with no writer does not block (the alarm would end a hang). */
static void test_not_a_regular_file(void **state) {
  (void)state;
  char dir[] = "/tmp/test_order_policy_dir_XXXXXX", fifo[64], err[256];
  assert_non_null(mkdtemp(dir));
  snprintf(fifo, sizeof fifo, "%s/h200.policy", dir);
  assert_int_equal(mkfifo(fifo, 0600), 0);
  order_policy_t p;
  order_policy_default(&p);
  p.min_units = 77;
  alarm(10);
  assert_int_equal(order_policy_load(&p, fifo, err, sizeof err), -1);
  assert_string_equal(err, "expected a regular file (it is a FIFO)");
  assert_int_equal(order_policy_load(&p, dir, err, sizeof err), -1);
  assert_string_equal(err, "expected a regular file (it is a directory)");
  assert_int_equal(order_policy_load(&p, "/dev/null", err, sizeof err), -1);
  assert_string_equal(err, "expected a regular file (it is a character device)");
  alarm(0);
  assert_int_equal(p.min_units, 77);
  unlink(fifo);
  rmdir(dir);
}

static void test_nul_byte(void **state) {
  (void)state;
  static const char text[] = "min_units = 1\n# x\nmax_units = 5\0 0\n";
  order_policy_t p;
  char err[256], path[64], want[128];
  order_policy_default(&p);
  assert_int_equal(load_bytes(&p, text, sizeof text - 1, err, sizeof err, path, sizeof path), -1);
  snprintf(want, sizeof want, "%s:3: contains a NUL byte", path);
  assert_string_equal(err, want);
  assert_int_equal(p.max_units, 1000000);
}

/* A long line is read whole (no line buffer to split it), CRLF line ends
 * are taken, and a file over the cap is refused. */
static void test_long_lines_and_crlf(void **state) {
  (void)state;
  size_t n = 3000;
  char *text = malloc(n * 2 + 64), err[512], path[64];
  size_t len = (size_t)sprintf(text, "max_units = 10\r\nbarred_end_uses = ");
  for (size_t i = 0; i < n; i++) len += (size_t)sprintf(text + len, ",");
  len += (size_t)sprintf(text + len, "AI_RESEARCH\r\n");
  order_policy_t p;
  assert_int_equal(load_bytes(&p, text, len, err, sizeof err, path, sizeof path), 0);
  assert_int_equal(p.max_units, 10);
  assert_true(p.barred_end_use[EU(AI_RESEARCH)]);
  assert_false(p.barred_end_use[EU(SENSITIVE_AGENCY)]);
  free(text);
  size_t big = ORDER_POLICY_FILE_MAX + 1;
  text = malloc(big);
  memset(text, '\n', big);
  assert_int_equal(load_bytes(&p, text, big, err, sizeof err, path, sizeof path), -1);
  assert_string_equal(err, "expected a file of at most 1048576 bytes");
  free(text);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_defaults),         cmocka_unit_test(test_shipped_file),
      cmocka_unit_test(test_override_and_names), cmocka_unit_test(test_empty_barred_list),
      cmocka_unit_test(test_unknown_key),      cmocka_unit_test(test_bad_numbers),
      cmocka_unit_test(test_unknown_end_use),  cmocka_unit_test(test_other_errors),
      cmocka_unit_test(test_not_a_regular_file), cmocka_unit_test(test_nul_byte),
      cmocka_unit_test(test_long_lines_and_crlf),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
