/* Unit tests for gl_metrics: values, series identity, histogram buckets and
 * the exact Prometheus text rendering. */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "greenlight/gl_metrics.h"

static void test_counter_add_and_value(void **state) {
  (void)state;
  gl_metrics_t *m = gl_metrics_new();
  assert_non_null(m);
  gl_series_t *c = gl_metrics_counter(m, "events_total", "Events.", NULL);
  assert_non_null(c);
  assert_true(gl_series_value(c) == 0.0);
  gl_series_add(c, 1);
  gl_series_add(c, 2.5);
  assert_true(gl_series_value(c) == 3.5);
  /* A counter only goes up: negative and NaN adds and sets are ignored. */
  gl_series_add(c, -1);
  gl_series_add(c, NAN);
  gl_series_set(c, 100);
  gl_series_observe(c, 100);
  assert_true(gl_series_value(c) == 3.5);
  gl_metrics_destroy(m);
}

static void test_gauge_set_and_add(void **state) {
  (void)state;
  gl_metrics_t *m = gl_metrics_new();
  gl_series_t *g = gl_metrics_gauge(m, "queue_depth", "Depth.", "queue=\"a\"");
  assert_non_null(g);
  gl_series_set(g, 42);
  assert_true(gl_series_value(g) == 42.0);
  gl_series_add(g, -2.5);
  assert_true(gl_series_value(g) == 39.5);
  gl_series_set(g, -7.25);
  assert_true(gl_series_value(g) == -7.25);
  gl_metrics_destroy(m);
}

static void test_same_series_returned_twice(void **state) {
  (void)state;
  gl_metrics_t *m = gl_metrics_new();
  gl_series_t *a = gl_metrics_counter(m, "orders_total", "Orders.", "state=\"APPROVED\"");
  gl_series_t *b = gl_metrics_counter(m, "orders_total", "Orders.", "state=\"REJECTED\"");
  gl_series_t *a2 = gl_metrics_counter(m, "orders_total", "Orders.", "state=\"APPROVED\"");
  gl_series_t *n1 = gl_metrics_counter(m, "plain_total", "Plain.", NULL);
  gl_series_t *n2 = gl_metrics_counter(m, "plain_total", "Plain.", "");
  assert_non_null(a);
  assert_non_null(b);
  assert_ptr_not_equal(a, b);
  assert_ptr_equal(a, a2);
  assert_ptr_equal(n1, n2); /* NULL and "" both mean no labels. */
  gl_series_add(a, 1);
  gl_series_add(a2, 1);
  assert_true(gl_series_value(a) == 2.0);
  assert_true(gl_series_value(b) == 0.0);
  gl_metrics_destroy(m);
}

static void test_many_series_survive_table_growth(void **state) {
  (void)state;
  gl_metrics_t *m = gl_metrics_new();
  gl_series_t *first[300];
  char labels[64];
  for (int i = 0; i < 300; i++) {
    char num[16];
    snprintf(num, sizeof num, "%d", i);
    gl_metrics_labels(labels, sizeof labels, "i", num, NULL);
    first[i] = gl_metrics_gauge(m, i % 2 ? "odd" : "even", "Gauges.", labels);
    assert_non_null(first[i]);
    gl_series_set(first[i], i);
  }
  for (int i = 0; i < 300; i++) {
    char num[16];
    snprintf(num, sizeof num, "%d", i);
    gl_metrics_labels(labels, sizeof labels, "i", num, NULL);
    gl_series_t *s = gl_metrics_gauge(m, i % 2 ? "odd" : "even", "Gauges.", labels);
    assert_ptr_equal(s, first[i]);
    assert_true(gl_series_value(s) == (double)i);
  }
  gl_metrics_destroy(m);
}

static void test_type_and_name_mismatch(void **state) {
  (void)state;
  gl_metrics_t *m = gl_metrics_new();
  const double b1[] = {1, 2};
  const double b2[] = {1, 3};
  const double bad[] = {2, 1};
  assert_non_null(gl_metrics_counter(m, "x_total", "X.", NULL));
  assert_null(gl_metrics_gauge(m, "x_total", "X.", NULL));
  assert_null(gl_metrics_gauge(m, "x_total", "X.", "other=\"1\""));
  assert_null(gl_metrics_counter(m, "0bad", "Bad.", NULL));
  assert_null(gl_metrics_counter(m, "bad-name", "Bad.", NULL));
  assert_null(gl_metrics_counter(m, "", "Bad.", NULL));
  assert_non_null(gl_metrics_histogram(m, "h", "H.", NULL, b1, 2));
  assert_null(gl_metrics_histogram(m, "h", "H.", NULL, b2, 2));
  assert_null(gl_metrics_histogram(m, "h", "H.", "a=\"1\"", b2, 2));
  assert_null(gl_metrics_histogram(m, "h2", "H.", NULL, bad, 2));
  /* The NULL series is a harmless no-op. */
  gl_series_add(NULL, 1);
  gl_series_set(NULL, 1);
  gl_series_observe(NULL, 1);
  assert_true(gl_series_value(NULL) == 0.0);
  gl_metrics_destroy(m);
}

static void test_histogram_buckets(void **state) {
  (void)state;
  gl_metrics_t *m = gl_metrics_new();
  const double bounds[] = {0.5, 1, 2.5};
  gl_series_t *h = gl_metrics_histogram(m, "latency_seconds", "Latency.", NULL, bounds, 3);
  assert_non_null(h);
  gl_series_observe(h, 0.25);
  gl_series_observe(h, 0.5); /* le is inclusive. */
  gl_series_observe(h, 1.5);
  gl_series_observe(h, 100);
  assert_true(gl_series_value(h) == 4.0);
  gl_series_add(h, 5); /* Ignored for a histogram. */
  assert_true(gl_series_value(h) == 4.0);

  char *text = NULL;
  size_t n = gl_metrics_render(m, &text);
  const char *want =
      "# HELP latency_seconds Latency.\n"
      "# TYPE latency_seconds histogram\n"
      "latency_seconds_bucket{le=\"0.5\"} 2\n"
      "latency_seconds_bucket{le=\"1\"} 2\n"
      "latency_seconds_bucket{le=\"2.5\"} 3\n"
      "latency_seconds_bucket{le=\"+Inf\"} 4\n"
      "latency_seconds_sum 102.25\n"
      "latency_seconds_count 4\n";
  assert_string_equal(text, want);
  assert_int_equal(n, strlen(want));
  free(text);
  gl_metrics_destroy(m);
}

static void test_render_small_registry(void **state) {
  (void)state;
  gl_metrics_t *m = gl_metrics_new();
  const double bounds[] = {0.1, 1, INFINITY}; /* An explicit +Inf is dropped. */
  gl_series_t *ok = gl_metrics_counter(m, "http_requests_total", "HTTP requests.", "code=\"200\"");
  gl_series_t *nf = gl_metrics_counter(m, "http_requests_total", "HTTP requests.", "code=\"404\"");
  gl_series_t *up = gl_metrics_gauge(m, "up", "Whether the service is up.", NULL);
  gl_series_t *temp = gl_metrics_gauge(m, "temperature", "Temperature.", NULL);
  gl_series_t *h = gl_metrics_histogram(m, "batch_seconds", "Batch time.", "stage=\"commit\"",
                                        bounds, 3);
  gl_series_t *none = gl_metrics_gauge(m, "no_help", NULL, NULL);
  gl_series_add(ok, 3);
  gl_series_add(nf, 1);
  gl_series_set(up, 1);
  gl_series_set(temp, 0.1);
  gl_series_observe(h, 0.05);
  gl_series_observe(h, 3);
  gl_series_set(none, -INFINITY);

  char *text = NULL;
  size_t n = gl_metrics_render(m, &text);
  const char *want =
      "# HELP http_requests_total HTTP requests.\n"
      "# TYPE http_requests_total counter\n"
      "http_requests_total{code=\"200\"} 3\n"
      "http_requests_total{code=\"404\"} 1\n"
      "# HELP up Whether the service is up.\n"
      "# TYPE up gauge\n"
      "up 1\n"
      "# HELP temperature Temperature.\n"
      "# TYPE temperature gauge\n"
      "temperature 0.1\n"
      "# HELP batch_seconds Batch time.\n"
      "# TYPE batch_seconds histogram\n"
      "batch_seconds_bucket{stage=\"commit\",le=\"0.1\"} 1\n"
      "batch_seconds_bucket{stage=\"commit\",le=\"1\"} 1\n"
      "batch_seconds_bucket{stage=\"commit\",le=\"+Inf\"} 2\n"
      "batch_seconds_sum{stage=\"commit\"} 3.05\n"
      "batch_seconds_count{stage=\"commit\"} 2\n"
      "# TYPE no_help gauge\n"
      "no_help -Inf\n";
  assert_string_equal(text, want);
  assert_int_equal(n, strlen(want));
  free(text);
  gl_metrics_destroy(m);
}

static void test_render_empty_registry(void **state) {
  (void)state;
  gl_metrics_t *m = gl_metrics_new();
  char *text = NULL;
  assert_int_equal(gl_metrics_render(m, &text), 0);
  assert_non_null(text);
  assert_string_equal(text, "");
  free(text);
  gl_metrics_destroy(m);
}

static void test_escaping(void **state) {
  (void)state;
  char labels[128];
  size_t n = gl_metrics_labels(labels, sizeof labels, "path", "C:\\dir \"x\"\nnext", "k", "v",
                               NULL);
  const char *want_labels = "path=\"C:\\\\dir \\\"x\\\"\\nnext\",k=\"v\"";
  assert_string_equal(labels, want_labels);
  assert_int_equal(n, strlen(want_labels));

  /* Truncation reports the full length and still terminates. */
  char small[8];
  assert_int_equal(gl_metrics_labels(small, sizeof small, "path", "C:\\dir \"x\"\nnext", "k", "v",
                                     NULL),
                   strlen(want_labels));
  assert_string_equal(small, "path=\"C");

  gl_metrics_t *m = gl_metrics_new();
  gl_series_t *s = gl_metrics_counter(m, "files_total", "Files seen.\nBackslash \\ and \"quotes\".",
                                      labels);
  gl_series_add(s, 2);
  /* A raw newline in label text can never be valid, so it is escaped too. */
  gl_series_t *raw = gl_metrics_counter(m, "raw_total", "Raw.", "v=\"a\nb\"");
  gl_series_add(raw, 1);

  char *text = NULL;
  gl_metrics_render(m, &text);
  const char *want =
      "# HELP files_total Files seen.\\nBackslash \\\\ and \"quotes\".\n"
      "# TYPE files_total counter\n"
      "files_total{path=\"C:\\\\dir \\\"x\\\"\\nnext\",k=\"v\"} 2\n"
      "# HELP raw_total Raw.\n"
      "# TYPE raw_total counter\n"
      "raw_total{v=\"a\\nb\"} 1\n";
  assert_string_equal(text, want);
  free(text);
  gl_metrics_destroy(m);
}

static void test_value_formatting(void **state) {
  (void)state;
  gl_metrics_t *m = gl_metrics_new();
  gl_series_t *a = gl_metrics_gauge(m, "g", "G.", "v=\"a\"");
  gl_series_t *b = gl_metrics_gauge(m, "g", "G.", "v=\"b\"");
  gl_series_t *c = gl_metrics_gauge(m, "g", "G.", "v=\"c\"");
  gl_series_t *d = gl_metrics_gauge(m, "g", "G.", "v=\"d\"");
  gl_series_t *e = gl_metrics_gauge(m, "g", "G.", "v=\"e\"");
  gl_series_set(a, 1e21);
  gl_series_set(b, 1.0 / 3.0);
  gl_series_set(c, NAN);
  gl_series_set(d, 1234567);
  gl_series_set(e, 0.1 + 0.2);
  char *text = NULL;
  gl_metrics_render(m, &text);
  const char *want =
      "# HELP g G.\n"
      "# TYPE g gauge\n"
      "g{v=\"a\"} 1e+21\n"
      "g{v=\"b\"} 0.3333333333333333\n"
      "g{v=\"c\"} NaN\n"
      "g{v=\"d\"} 1234567\n"
      "g{v=\"e\"} 0.30000000000000004\n";
  assert_string_equal(text, want);
  free(text);
  gl_metrics_destroy(m);
}

/* Concurrent updates from several threads lose nothing. */

typedef struct adder {
  gl_series_t *counter;
  gl_series_t *gauge;
  gl_series_t *hist;
} adder_t;

enum { ADDER_THREADS = 4, ADDER_ITERS = 20000 };

static void *adder_main(void *arg) {
  adder_t *a = arg;
  for (int i = 0; i < ADDER_ITERS; i++) {
    gl_series_add(a->counter, 1);
    gl_series_add(a->gauge, 0.5);
    gl_series_observe(a->hist, (double)(i % 4));
  }
  return NULL;
}

static void test_concurrent_updates(void **state) {
  (void)state;
  gl_metrics_t *m = gl_metrics_new();
  const double bounds[] = {1, 2};
  adder_t a = {
      .counter = gl_metrics_counter(m, "c_total", "C.", NULL),
      .gauge = gl_metrics_gauge(m, "g", "G.", NULL),
      .hist = gl_metrics_histogram(m, "h", "H.", NULL, bounds, 2),
  };
  pthread_t threads[ADDER_THREADS];
  for (int i = 0; i < ADDER_THREADS; i++)
    assert_int_equal(pthread_create(&threads[i], NULL, adder_main, &a), 0);
  for (int i = 0; i < ADDER_THREADS; i++) pthread_join(threads[i], NULL);
  assert_true(gl_series_value(a.counter) == ADDER_THREADS * ADDER_ITERS);
  assert_true(gl_series_value(a.gauge) == ADDER_THREADS * ADDER_ITERS * 0.5);
  assert_true(gl_series_value(a.hist) == ADDER_THREADS * ADDER_ITERS);

  char *text = NULL;
  gl_metrics_render(m, &text);
  /* Values 0,1,2,3 each a quarter of the time; sum = 1.5 per observation. */
  assert_non_null(strstr(text, "h_bucket{le=\"1\"} 40000\n"));
  assert_non_null(strstr(text, "h_bucket{le=\"2\"} 60000\n"));
  assert_non_null(strstr(text, "h_bucket{le=\"+Inf\"} 80000\n"));
  assert_non_null(strstr(text, "h_sum 120000\n"));
  assert_non_null(strstr(text, "h_count 80000\n"));
  free(text);
  gl_metrics_destroy(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_counter_add_and_value),
      cmocka_unit_test(test_gauge_set_and_add),
      cmocka_unit_test(test_same_series_returned_twice),
      cmocka_unit_test(test_many_series_survive_table_growth),
      cmocka_unit_test(test_type_and_name_mismatch),
      cmocka_unit_test(test_histogram_buckets),
      cmocka_unit_test(test_render_small_registry),
      cmocka_unit_test(test_render_empty_registry),
      cmocka_unit_test(test_escaping),
      cmocka_unit_test(test_value_formatting),
      cmocka_unit_test(test_concurrent_updates),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
