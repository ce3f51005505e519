/* Unit tests for gl_config: precedence, validation and error messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "greenlight/gl_config.h"
#include "greenlight/gl_engine.h"

typedef struct fx {
  gl_conf_t c;
  gl_engine_conf_t ec;
  char err[1024];
} fx_t;

static int setup(void **state) {
  fx_t *f = calloc(1, sizeof(*f));
  gl_conf_init(&f->c, "test");
  assert_int_equal(gl_conf_add_table(&f->c, gl_engine_conf_props, &f->ec, f->err, sizeof(f->err)), 0);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx_t *f = *state;
  gl_conf_destroy(&f->c);
  free(f);
  return 0;
}

static void test_defaults(void **state) {
  fx_t *f = *state;
  assert_int_equal(f->ec.commit_interval_ms, 100);
  assert_int_equal(f->ec.commit_max_records, 1000);
  assert_string_equal(f->ec.guarantee, "exactly_once");
  assert_string_equal(f->ec.dlq_topic, "greenlight.dlq");
}

static void test_bad_int_names_key_value_and_range(void **state) {
  fx_t *f = *state;
  assert_int_equal(gl_conf_set(&f->c, "commit.interval.ms", "abc", f->err, sizeof(f->err)), -1);
  assert_non_null(strstr(f->err, "commit.interval.ms"));
  assert_non_null(strstr(f->err, "'abc'"));
  assert_non_null(strstr(f->err, "expected an integer in 1..600000"));
  assert_int_equal(gl_conf_set(&f->c, "commit.interval.ms", "0", f->err, sizeof(f->err)), -1);
  assert_int_equal(f->ec.commit_interval_ms, 100);
}

static void test_bad_enum(void **state) {
  fx_t *f = *state;
  assert_int_equal(gl_conf_set(&f->c, "processing.guarantee", "maybe", f->err, sizeof(f->err)), -1);
  assert_non_null(strstr(f->err, "expected one of exactly_once|at_least_once"));
  assert_int_equal(gl_conf_set(&f->c, "processing.guarantee", "at_least_once", f->err, sizeof(f->err)), 0);
  assert_string_equal(f->ec.guarantee, "at_least_once");
}

static void test_unknown_key(void **state) {
  fx_t *f = *state;
  assert_int_equal(gl_conf_set(&f->c, "commit.intervall.ms", "5", f->err, sizeof(f->err)), -1);
  assert_non_null(strstr(f->err, "unknown key 'commit.intervall.ms'"));
}

static void test_kafka_passthrough_validated(void **state) {
  fx_t *f = *state;
  assert_int_equal(gl_conf_set(&f->c, "kafka.linger.ms", "7", f->err, sizeof(f->err)), 0);
  assert_string_equal(gl_conf_kafka_get(&f->c, "linger.ms"), "7");
  assert_int_equal(gl_conf_set(&f->c, "kafka.no.such.property", "1", f->err, sizeof(f->err)), -1);
  assert_non_null(strstr(f->err, "kafka.no.such.property"));
  assert_int_equal(gl_conf_set(&f->c, "kafka.linger.ms", "soon", f->err, sizeof(f->err)), -1);
  assert_non_null(strstr(f->err, "'soon'"));
}

static void test_precedence_file_env_flags(void **state) {
  fx_t *f = *state;
  char path[] = "/tmp/gl-test-config-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  FILE *fp = fdopen(fd, "w");
  fprintf(fp, "# a comment\ncommit.interval.ms = 250\nmax.idle.ms = 7\napp.id = from-file\n"
              "kafka.client.rack = r1\n");
  fclose(fp);
  char cfg[128];
  snprintf(cfg, sizeof(cfg), "--config=%s", path);
  char *argv[] = {"test", cfg, "--max.idle.ms=9", "-X", "kafka.linger.ms=3", "-b", "h:1", NULL};
  char *envp[] = {"GREENLIGHT_MAX_IDLE_MS=8", "GREENLIGHT_APP_ID=from-env",
                  "GREENLIGHT_KAFKA_CLIENT_RACK=r2", "OTHER=1", NULL};
  assert_int_equal(gl_conf_load(&f->c, 7, argv, envp, f->err, sizeof(f->err)), 0);
  assert_int_equal(f->ec.commit_interval_ms, 250); /* file */
  assert_string_equal(f->ec.app_id, "from-env");   /* env over file */
  assert_int_equal(f->ec.max_idle_ms, 9);          /* flag over env */
  assert_string_equal(gl_conf_kafka_get(&f->c, "client.rack"), "r2");
  assert_string_equal(gl_conf_kafka_get(&f->c, "linger.ms"), "3");
  assert_string_equal(gl_conf_kafka_get(&f->c, "bootstrap.servers"), "h:1");
  unlink(path);
}

static void test_file_error_names_line(void **state) {
  fx_t *f = *state;
  char path[] = "/tmp/gl-test-config-XXXXXX";
  int fd = mkstemp(path);
  FILE *fp = fdopen(fd, "w");
  fprintf(fp, "app.id = x\n\nhttp.port = 70000\n");
  fclose(fp);
  assert_int_equal(gl_conf_load_file(&f->c, path, f->err, sizeof(f->err)), -1);
  assert_non_null(strstr(f->err, ":3: "));
  assert_non_null(strstr(f->err, "http.port = '70000'"));
  assert_non_null(strstr(f->err, "-1..65535"));
  unlink(path);
}

static void test_env_error_names_variable(void **state) {
  fx_t *f = *state;
  char *envp[] = {"GREENLIGHT_COMMIT_MAX_RECORDS=-4", NULL};
  assert_int_equal(gl_conf_load_env(&f->c, envp, f->err, sizeof(f->err)), -1);
  assert_non_null(strstr(f->err, "commit.max.records = '-4'"));
  assert_non_null(strstr(f->err, "GREENLIGHT_COMMIT_MAX_RECORDS"));
}

static void test_flag_without_value(void **state) {
  fx_t *f = *state;
  char *argv[] = {"test", "--app.id", NULL};
  assert_int_equal(gl_conf_load(&f->c, 2, argv, NULL, f->err, sizeof(f->err)), -1);
  assert_non_null(strstr(f->err, "missing value"));
  char *argv2[] = {"test", "stray", NULL};
  assert_int_equal(gl_conf_load(&f->c, 2, argv2, NULL, f->err, sizeof(f->err)), -1);
  assert_non_null(strstr(f->err, "unexpected argument 'stray'"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_int_names_key_value_and_range, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_enum, setup, teardown),
      cmocka_unit_test_setup_teardown(test_unknown_key, setup, teardown),
      cmocka_unit_test_setup_teardown(test_kafka_passthrough_validated, setup, teardown),
      cmocka_unit_test_setup_teardown(test_precedence_file_env_flags, setup, teardown),
      cmocka_unit_test_setup_teardown(test_file_error_names_line, setup, teardown),
      cmocka_unit_test_setup_teardown(test_env_error_names_variable, setup, teardown),
      cmocka_unit_test_setup_teardown(test_flag_without_value, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
