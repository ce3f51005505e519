/* The engine as an object (no broker): gl_engine_new refuses bad settings,
 * start is once only, a start that cannot reach the broker fails the
 * engine with GL_EBROKER when startup.timeout.ms runs out, and a stop
 * while connecting closes it cleanly. Each test runs a shell's loop on
 * the test thread; a 10 s watchdog fails a test whose engine never
 * closes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "greenlight/gl_engine.h"

#define WATCHDOG_MS 10000

static void nothing(gl_ctx_t *ctx, const gl_record_t *rec, void *opaque) {
  (void)ctx;
  (void)rec;
  (void)opaque;
}

static const char *const outputs[] = {"out", NULL};

typedef struct fixture {
  gl_shell_t sh;
  gl_engine_conf_t conf;
  gl_processor_t proc;
  gl_engine_t *e;
  uv_timer_t watchdog, stop_timer;
  int closed_calls;
  bool timed_out;
  gl_engine_state_t state_at_close;
} fixture_t;

static void close_if_open(uv_handle_t *h) {
  if (h->loop && !uv_is_closing(h)) uv_close(h, NULL);
}

static void on_closed(gl_engine_t *e, void *arg) {
  fixture_t *fx = arg;
  fx->closed_calls++;
  fx->state_at_close = gl_engine_state(e);
  close_if_open((uv_handle_t *)&fx->watchdog);
  close_if_open((uv_handle_t *)&fx->stop_timer);
  gl_shell_close(&fx->sh);
}

static void on_watchdog(uv_timer_t *t) {
  fixture_t *fx = t->data;
  fx->timed_out = true;
  gl_engine_stop(fx->e, on_closed, fx);
}

/* A shell with the engine's settings; extra: name, value pairs after the
 * defaults below. Returns what gl_shell_configure returned. */
static int fx_setup(fixture_t *fx, const char *const *extra) {
  memset(fx, 0, sizeof(*fx));
  assert_int_equal(gl_shell_init(&fx->sh, "test", "test_engine"), GL_OK);
  /* librdkafka's refused connections are expected here; keep them out of the output. */
  fx->sh.log.out = fopen("/dev/null", "w");
  assert_non_null(fx->sh.log.out);
  char err[512];
  assert_int_equal(gl_conf_add_table(&fx->sh.conf, gl_engine_conf_props, &fx->conf, err, sizeof err), 0);
  /* Port 1: nothing listens, every connection is refused at once. */
  static const char *const defaults[] = {"kafka.bootstrap.servers", "127.0.0.1:1", "http.port", "-1",
                                         "input.topics", "in", "output.topics", "out-topic",
                                         "startup.timeout.ms", "1000", "log.level", "error", NULL};
  char *argv[] = {"test_engine", NULL};
  int rc = gl_shell_configure(&fx->sh, 1, argv, defaults, err, sizeof err);
  for (const char *const *kv = extra; rc == GL_OK && kv && kv[0]; kv += 2)
    rc = gl_conf_set(&fx->sh.conf, kv[0], kv[1], err, sizeof err);
  fx->proc = (gl_processor_t){.name = "test", .outputs = outputs, .process = nothing};
  uv_timer_init(&fx->sh.loop, &fx->watchdog);
  uv_timer_init(&fx->sh.loop, &fx->stop_timer);
  fx->watchdog.data = fx->stop_timer.data = fx;
  return rc;
}

/* The engine on the fixture's shell (it must be accepted). */
static void fx_engine(fixture_t *fx) {
  char err[512] = "";
  assert_int_equal(gl_engine_new(&fx->e, &fx->sh, &fx->conf, &fx->proc, err, sizeof err), GL_OK);
}

static void fx_run(fixture_t *fx) {
  uv_timer_start(&fx->watchdog, on_watchdog, WATCHDOG_MS, 0);
  gl_shell_run(&fx->sh);
}

/* The engine closed once, on its own loop's time, as expected. */
static void expect_closed(const fixture_t *fx, gl_engine_state_t state, int result, int exit_code) {
  assert_false(fx->timed_out);
  assert_int_equal(fx->closed_calls, 1);
  assert_int_equal(fx->state_at_close, state);
  assert_int_equal(gl_engine_result(fx->e), result);
  assert_int_equal(fx->sh.exit_code, exit_code);
}

static void fx_teardown(fixture_t *fx) {
  gl_engine_destroy(fx->e);
  close_if_open((uv_handle_t *)&fx->watchdog);
  close_if_open((uv_handle_t *)&fx->stop_timer);
  FILE *out = fx->sh.log.out;
  gl_shell_destroy(&fx->sh);
  fclose(out);
}

/* Outputs are named: a count that does not fit is a bad setting, named. */
static void test_new_refuses_bad_outputs(void **state) {
  (void)state;
  fixture_t fx;
  static const char *const extra[] = {"output.topics", "a,b", NULL};
  assert_int_equal(fx_setup(&fx, extra), GL_OK);
  char err[512] = "";
  assert_int_equal(gl_engine_new(&fx.e, &fx.sh, &fx.conf, &fx.proc, err, sizeof err), GL_ECONFIG);
  assert_null(fx.e);
  assert_non_null(strstr(err, "output.topics = 'a,b': expected 1 topic, one per output (out)"));
  fx_teardown(&fx);
}

/* The handle of a named output, and none for a name not declared. */
static void test_outputs_by_name(void **state) {
  (void)state;
  fixture_t fx;
  static const char *const extra[] = {"output.topics", "out=elsewhere", "topic.prefix", "p.", NULL};
  assert_int_equal(fx_setup(&fx, extra), GL_OK);
  fx_engine(&fx);
  gl_output_t *out = gl_engine_output(fx.e, "out");
  assert_non_null(out);
  assert_string_equal(gl_output_topic(out), "p.elsewhere");
  assert_null(gl_engine_output(fx.e, "status"));
  assert_int_equal(gl_engine_state(fx.e), GL_ENGINE_STARTING);
  fx_teardown(&fx);
}

/* No broker: the start waits startup.timeout.ms, then the engine fails
 * with GL_EBROKER, closes once, and the process would exit 1. */
static void test_start_gives_up_without_broker(void **state) {
  (void)state;
  fixture_t fx;
  assert_int_equal(fx_setup(&fx, NULL), GL_OK);
  fx_engine(&fx);
  gl_engine_on_closed(fx.e, on_closed, &fx);
  assert_int_equal(gl_engine_bound_offset(fx.e, "in", 0, -1), GL_EINVAL);
  assert_int_equal(gl_engine_bound_offset(fx.e, "in", 0, 10), GL_OK);
  assert_int_equal(gl_engine_start(fx.e), GL_OK);
  assert_int_equal(gl_engine_start(fx.e), GL_ESTATE); /* Once only. */
  assert_int_equal(gl_engine_bound_offset(fx.e, "in", 1, 10), GL_ESTATE); /* Bounds before the start. */
  fx_run(&fx);
  expect_closed(&fx, GL_ENGINE_FAILED, GL_EBROKER, 1);
  assert_int_equal(gl_exit_code(gl_engine_result(fx.e)), 1);
  fx_teardown(&fx);
}

static void stop_now(uv_timer_t *t) {
  fixture_t *fx = t->data;
  assert_int_equal(gl_engine_state(fx->e), GL_ENGINE_STARTING);
  gl_engine_stop(fx->e, on_closed, fx);
}

/* A stop while the start still waits for the broker closes cleanly. */
static void test_stop_while_connecting(void **state) {
  (void)state;
  fixture_t fx;
  static const char *const extra[] = {"startup.timeout.ms", "60000", NULL};
  assert_int_equal(fx_setup(&fx, extra), GL_OK);
  fx_engine(&fx);
  assert_int_equal(gl_engine_start(fx.e), GL_OK);
  uv_timer_start(&fx.stop_timer, stop_now, 100, 0);
  fx_run(&fx);
  expect_closed(&fx, GL_ENGINE_CLOSED, GL_OK, 0);
  fx_teardown(&fx);
}

static void shell_stop(gl_shell_t *sh, void *opaque) {
  (void)sh;
  fixture_t *fx = opaque;
  gl_engine_stop(fx->e, on_closed, fx);
}

static void fatal_now(uv_timer_t *t) {
  fixture_t *fx = t->data;
  gl_shell_fatal(&fx->sh, "a fatal error while the start waits for the broker");
}

/* A fatal error while the start waits for the broker ends the process
 * without waiting out startup.timeout.ms (60 s here; the watchdog is 10 s). */
static void test_fatal_while_connecting(void **state) {
  (void)state;
  fixture_t fx;
  static const char *const extra[] = {"startup.timeout.ms", "60000", NULL};
  assert_int_equal(fx_setup(&fx, extra), GL_OK);
  fx_engine(&fx);
  gl_shell_on_stop(&fx.sh, shell_stop, &fx);
  assert_int_equal(gl_engine_start(fx.e), GL_OK);
  uv_timer_start(&fx.stop_timer, fatal_now, 100, 0);
  fx_run(&fx);
  expect_closed(&fx, GL_ENGINE_FAILED, GL_EFATAL, 1);
  fx_teardown(&fx);
}

/* An engine runs once: a start after a stop is refused, and the stop of a
 * never-started engine closes it at once. */
static void test_no_start_after_stop(void **state) {
  (void)state;
  fixture_t fx;
  assert_int_equal(fx_setup(&fx, NULL), GL_OK);
  fx_engine(&fx);
  gl_engine_stop(fx.e, on_closed, &fx);
  assert_int_equal(fx.closed_calls, 1);
  assert_int_equal(fx.state_at_close, GL_ENGINE_CLOSED);
  assert_int_equal(gl_engine_start(fx.e), GL_ESTATE);
  fx_run(&fx);
  assert_false(fx.timed_out);
  assert_int_equal(fx.closed_calls, 1);
  fx_teardown(&fx);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_new_refuses_bad_outputs),
      cmocka_unit_test(test_outputs_by_name),
      cmocka_unit_test(test_start_gives_up_without_broker),
      cmocka_unit_test(test_stop_while_connecting),
      cmocka_unit_test(test_fatal_while_connecting),
      cmocka_unit_test(test_no_start_after_stop),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
