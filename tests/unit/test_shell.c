/* Unit tests for gl_shell and gl_error (no broker).
 *
 * Each test makes a shell on the test thread, which becomes its loop
 * thread. Nothing sleeps to synchronise: a test waits for a condition (a
 * log line, a client thread's answer) from a loop callback, and a 10 s
 * watchdog timer closes everything and fails the test if it never comes.
 * The log goes to a memory stream so that tests can read what was said. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "greenlight/gl_error.h"
#include "greenlight/gl_shell.h"
#include "greenlight/gl_version.h"

#define WATCHDOG_MS 10000

typedef struct fixture {
  gl_shell_t sh;
  FILE *logf;
  char *logbuf;
  size_t loglen;
  uv_timer_t watchdog, step;
  bool timed_out;
  int stop_calls;
  bool stop_on_loop;    /* Every stop callback ran on the loop thread. */
  int stop_exit_code;   /* sh.exit_code seen by the last stop callback. */
  bool close_in_stop;   /* The stop callback closes at once (a synchronous stop). */
  int stage;
  rd_kafka_t *rk;        /* test_kafka_callbacks: polled by the step timer. */
  bool in_poll, stopped_in_poll;
} fixture_t;

static void close_if_open(uv_handle_t *h) {
  if (h->loop && !uv_is_closing(h)) uv_close(h, NULL);
}

/* Closes the test's handles and the shell's, so that the run ends. */
static void fx_finish(fixture_t *fx) {
  close_if_open((uv_handle_t *)&fx->watchdog);
  close_if_open((uv_handle_t *)&fx->step);
  gl_shell_close(&fx->sh);
}

static void on_watchdog(uv_timer_t *t) {
  fixture_t *fx = t->data;
  fx->timed_out = true;
  fx_finish(fx);
}

static void on_stop(gl_shell_t *sh, void *opaque) {
  fixture_t *fx = opaque;
  uv_thread_t self = uv_thread_self();
  fx->stop_on_loop = (fx->stop_calls == 0 || fx->stop_on_loop) &&
                     uv_thread_equal(&self, &sh->loop_thread);
  fx->stop_calls++;
  fx->stop_exit_code = sh->exit_code;
  if (fx->close_in_stop) fx_finish(fx);
}

/* Makes the shell with argv (NULL-terminated after argv[0]), the log in
 * memory, the stop callback and the watchdog. Returns configure's result. */
static int fx_setup(fixture_t *fx, char **argv, char *errstr, size_t errlen) {
  memset(fx, 0, sizeof(*fx));
  assert_int_equal(gl_shell_init(&fx->sh, "test", argv[0]), GL_OK);
  fx->logf = open_memstream(&fx->logbuf, &fx->loglen);
  assert_non_null(fx->logf);
  fx->sh.log.out = fx->logf;
  gl_shell_on_stop(&fx->sh, on_stop, fx);
  int argc = 0;
  while (argv[argc]) argc++;
  int rc = gl_shell_configure(&fx->sh, argc, argv, NULL, errstr, errlen);
  uv_timer_init(&fx->sh.loop, &fx->watchdog);
  uv_timer_init(&fx->sh.loop, &fx->step);
  fx->watchdog.data = fx->step.data = fx;
  uv_timer_start(&fx->watchdog, on_watchdog, WATCHDOG_MS, 0);
  return rc;
}

/* A shell without an admin port. */
static void fx_setup_quiet(fixture_t *fx) {
  char errstr[256] = "";
  char *argv[] = {"test_shell", "--http.port=-1", NULL};
  assert_int_equal(fx_setup(fx, argv, errstr, sizeof errstr), GL_OK);
}

/* Runs the loop until the test's condition ends it, or fails at the deadline. */
static int fx_run(fixture_t *fx) {
  int code = gl_shell_run(&fx->sh);
  assert_false(fx->timed_out);
  return code;
}

/* A quiet shell whose step timer drives the test every millisecond. */
static int fx_run_steps(fixture_t *fx, uv_timer_cb steps) {
  fx_setup_quiet(fx);
  uv_timer_start(&fx->step, steps, 1, 1);
  return fx_run(fx);
}

/* The log so far, as a string (loop thread, or after the run). */
static const char *fx_log(fixture_t *fx) {
  fflush(fx->logf);
  return fx->logbuf ? fx->logbuf : "";
}

static void fx_teardown(fixture_t *fx) {
  gl_shell_destroy(&fx->sh);
  fclose(fx->logf);
  free(fx->logbuf);
}

/* ---- Fatal errors ------------------------------------------------------ */

static void fatal_thread(void *arg) {
  gl_shell_t *sh = arg;
  gl_shell_fatal(sh, "boom %d", 7);
  gl_shell_fatal(sh, "second %d", 8);
}

static void test_fatal_from_thread(void **state) {
  (void)state;
  fixture_t fx;
  fx_setup_quiet(&fx);
  fx.close_in_stop = true;
  uv_thread_t t;
  assert_int_equal(uv_thread_create(&t, fatal_thread, &fx.sh), 0);
  int code = gl_shell_run(&fx.sh);
  uv_thread_join(&t);
  assert_false(fx.timed_out);
  assert_int_equal(code, 1);
  assert_int_equal(fx.stop_calls, 1);
  assert_true(fx.stop_on_loop);
  assert_int_equal(fx.stop_exit_code, 1);
  assert_true(fx.sh.stopping);
  const char *log = fx_log(&fx);
  assert_non_null(strstr(log, "\"event\":\"fatal\""));
  assert_non_null(strstr(log, "boom 7; exiting so that a supervisor restarts the daemon"));
  assert_non_null(strstr(log, "\"event\":\"fatal_dropped\""));
  assert_null(strstr(log, "second 8; exiting"));
  fx_teardown(&fx);
}

/* A fatal error while the owner drains after a signal reaches it again. */
static void fatal_while_draining(uv_timer_t *t) {
  fixture_t *fx = t->data;
  if (fx->stage == 0) {
    raise(SIGTERM);
    fx->stage = 1;
  } else if (fx->stage == 1 && fx->stop_calls == 1) {
    gl_shell_fatal(&fx->sh, "fenced");
    fx->stage = 2;
  } else if (fx->stage == 2) {
    fx_finish(fx);
  }
}

static void test_fatal_after_signal(void **state) {
  (void)state;
  fixture_t fx;
  int code = fx_run_steps(&fx, fatal_while_draining);
  assert_int_equal(code, 1);
  assert_int_equal(fx.stop_calls, 2);
  assert_int_equal(fx.stop_exit_code, 1);
  assert_non_null(strstr(fx_log(&fx), "fenced; exiting so that"));
  fx_teardown(&fx);
}

/* A fatal error reported while the stop callback runs (as a flush inside it
 * may serve one) calls it again after it returns, never inside it. */
static int stop_depth, stop_depth_max;

static void on_stop_reporting(gl_shell_t *sh, void *opaque) {
  fixture_t *fx = opaque;
  if (++stop_depth > stop_depth_max) stop_depth_max = stop_depth;
  if (fx->stop_calls == 0) gl_shell_fatal(sh, "during the stop");
  on_stop(sh, opaque);
  if (fx->stop_calls == 2) fx_finish(fx);
  stop_depth--;
}

static void raise_term(uv_timer_t *t) {
  (void)t;
  raise(SIGTERM);
}

static void test_fatal_during_stop(void **state) {
  (void)state;
  fixture_t fx;
  fx_setup_quiet(&fx);
  gl_shell_on_stop(&fx.sh, on_stop_reporting, &fx);
  stop_depth = stop_depth_max = 0;
  uv_timer_start(&fx.step, raise_term, 1, 0);
  int code = fx_run(&fx);
  assert_int_equal(code, 1);
  assert_int_equal(fx.stop_calls, 2);
  assert_int_equal(stop_depth_max, 1);
  assert_int_equal(fx.stop_exit_code, 1);
  fx_teardown(&fx);
}

/* ---- Signals ----------------------------------------------------------- */

/* Stage 0 raises SIGHUP; once the shell has logged it (and not stopped),
 * stage 1 raises SIGTERM twice; once the second is logged as ignored, the
 * owner's "drain" ends. */
static void signal_steps(uv_timer_t *t) {
  fixture_t *fx = t->data;
  const char *log = fx_log(fx);
  if (fx->stage == 0) {
    raise(SIGHUP);
    fx->stage = 1;
  } else if (fx->stage == 1 && strstr(log, "\"event\":\"sighup\"")) {
    assert_false(fx->sh.stopping);
    assert_int_equal(fx->stop_calls, 0);
    raise(SIGTERM);
    raise(SIGTERM);
    fx->stage = 2;
  } else if (fx->stage == 2 && strstr(log, "already stopping")) {
    fx_finish(fx);
  }
}

static void test_signals(void **state) {
  (void)state;
  fixture_t fx;
  int code = fx_run_steps(&fx, signal_steps);
  assert_int_equal(code, 0);
  assert_int_equal(fx.stop_calls, 1);
  assert_true(fx.stop_on_loop);
  assert_int_equal(fx.stop_exit_code, 0);
  const char *log = fx_log(&fx);
  assert_non_null(strstr(log, "settings are read at start; restart to change them"));
  assert_non_null(strstr(log, "signal 15: draining, committing and exiting"));
  fx_teardown(&fx);
}

/* ---- The admin router, over a real loopback connection ------------------ */

typedef struct answer {
  int status;
  char head[1024];
  char body[4096];
} answer_t;

enum { NPATHS = 6 };
static const char *const paths[NPATHS] = {"/a/b/c", "/a/x", "/metrics", "/zzz", "/a/b", "/b/c/x"};

typedef struct client {
  int port;
  uv_async_t done;
  answer_t ans[NPATHS];
  fixture_t *fx;
} client_t;

/* One GET with Connection: close, read to the end (5 s timeouts). */
static void http_get(int port, const char *path, answer_t *a) {
  char buf[sizeof(a->head) + sizeof(a->body)] = "";
  size_t n = 0;
  a->status = -1;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct timeval tv = {.tv_sec = 5};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  char req[256];
  int len = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path);
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 && write(fd, req, (size_t)len) == len) {
    ssize_t r;
    while (n < sizeof(buf) - 1 && (r = read(fd, buf + n, sizeof(buf) - 1 - n)) > 0) n += (size_t)r;
  }
  close(fd);
  buf[n] = '\0';
  char *end = strstr(buf, "\r\n\r\n");
  if (!end || sscanf(buf, "HTTP/1.1 %d", &a->status) != 1) return;
  *end = '\0';
  snprintf(a->head, sizeof a->head, "%s", buf);
  snprintf(a->body, sizeof a->body, "%s", end + 4);
}

static void client_main(void *arg) {
  client_t *c = arg;
  for (int i = 0; i < NPATHS; i++) http_get(c->port, paths[i], &c->ans[i]);
  uv_async_send(&c->done);
}

static void on_client_done(uv_async_t *h) {
  client_t *c = h->data;
  uv_close((uv_handle_t *)h, NULL);
  fx_finish(c->fx);
}

static void route_text(void *opaque, const char *path, gl_http_response_t *r) {
  char *body = NULL;
  if (asprintf(&body, "%s for %s", (const char *)opaque, path) < 0) return;
  r->body = body;
  r->body_len = strlen(body);
}

static void test_router(void **state) {
  (void)state;
  fixture_t fx;
  char errstr[256] = "";
  char *argv[] = {"test_shell", "--http.port", "0", NULL};
  assert_int_equal(fx_setup(&fx, argv, errstr, sizeof errstr), GL_OK);
  /* Longest match wins whatever the order (shorter before and after the
   * longer); a longer prefix that does not match is not taken. */
  gl_shell_route(&fx.sh, "/a", route_text, "short");
  gl_shell_route(&fx.sh, "/a/b", route_text, "long");
  gl_shell_route(&fx.sh, "/a/b/c/d", route_text, "longer");
  gl_shell_route(&fx.sh, "/b/c", route_text, "bc");
  gl_shell_route(&fx.sh, "/b", route_text, "b");
  assert_int_equal(gl_shell_listen(&fx.sh, errstr, sizeof errstr), GL_OK);
  client_t c = {.port = gl_shell_http_port(&fx.sh), .fx = &fx};
  assert_true(c.port > 0);
  uv_async_init(&fx.sh.loop, &c.done, on_client_done);
  c.done.data = &c;
  uv_thread_t t;
  assert_int_equal(uv_thread_create(&t, client_main, &c), 0);
  int code = gl_shell_run(&fx.sh);
  uv_thread_join(&t);
  assert_false(fx.timed_out);
  assert_int_equal(code, 0);
  assert_int_equal(c.ans[0].status, 200);
  assert_string_equal(c.ans[0].body, "long for /a/b/c");
  assert_int_equal(c.ans[1].status, 200);
  assert_string_equal(c.ans[1].body, "short for /a/x");
  assert_int_equal(c.ans[2].status, 200);
  assert_non_null(strstr(c.ans[2].head, "text/plain; version=0.0.4; charset=utf-8"));
  char want[512];
  snprintf(want, sizeof want,
           "greenlight_build_info{service=\"test\",version=\"%s\",git=\"%s\",librdkafka=\"%s\","
           "libuv=\"%s\"} 1\n",
           gl_version_string(), gl_version_git(), rd_kafka_version_str(), uv_version_string());
  assert_non_null(strstr(c.ans[2].body, want));
  /* The process_* series, read when /metrics is asked for: some CPU was
   * spent, memory is resident, fds are open (the listening socket at least). */
  const char *names[] = {"\nprocess_cpu_seconds_total ", "\nprocess_resident_memory_bytes ",
                         "\nprocess_open_fds ", "\nprocess_max_fds ",
                         "\nprocess_start_time_seconds ", "\nprocess_virtual_memory_bytes "};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    const char *at = strstr(c.ans[2].body, names[i]);
    assert_non_null(at);
    if (!(strtod(at + strlen(names[i]), NULL) > 0)) fail_msg("%s is not above 0: %.60s", names[i], at);
  }
  assert_int_equal(c.ans[3].status, 404);
  assert_int_equal(c.ans[4].status, 200);
  assert_string_equal(c.ans[4].body, "long for /a/b");
  assert_int_equal(c.ans[5].status, 200);
  assert_string_equal(c.ans[5].body, "bc for /b/c/x");
  assert_non_null(strstr(fx_log(&fx), "listening on http://127.0.0.1:"));
  fx_teardown(&fx);
}

/* ---- Settings ------------------------------------------------------------ */

static void test_configure_bad_port(void **state) {
  (void)state;
  fixture_t fx;
  char errstr[256] = "";
  char *argv[] = {"test_shell", "--http.port", "70000", NULL};
  assert_int_equal(fx_setup(&fx, argv, errstr, sizeof errstr), GL_ECONFIG);
  assert_non_null(strstr(errstr, "http.port = '70000'"));
  assert_int_equal(gl_exit_code(GL_ECONFIG), 2);
  fx_finish(&fx);
  fx_teardown(&fx);
}

static int refuse_all(gl_shell_t *sh, void *opaque, char *errstr, size_t errlen) {
  (void)sh;
  ++*(int *)opaque;
  snprintf(errstr, errlen, "config: x = 'y': expected z");
  return GL_ECONFIG;
}

/* The owner's check runs before --check-config answers, and its verdict wins. */
static void test_configure_check(void **state) {
  (void)state;
  gl_shell_t sh;
  char errstr[256] = "";
  int calls = 0;
  char *argv[] = {"/usr/bin/test_shell", "--check-config", "--log.level", "warn", NULL};
  assert_int_equal(gl_shell_init(&sh, "test", argv[0]), GL_OK);
  assert_string_equal(sh.prog, "test_shell");
  gl_shell_on_check(&sh, refuse_all, &calls);
  assert_int_equal(gl_shell_configure(&sh, 4, argv, NULL, errstr, sizeof errstr), GL_ECONFIG);
  assert_int_equal(calls, 1);
  assert_string_equal(errstr, "config: x = 'y': expected z");
  assert_int_equal(sh.log.level, GL_LOG_WARN);
  gl_shell_destroy(&sh);

  /* Without the refusal --check-config is answered (1); defaults apply. */
  const char *const defaults[] = {"http.port", "8083", NULL};
  assert_int_equal(gl_shell_init(&sh, "test", argv[0]), GL_OK);
  assert_int_equal(gl_shell_configure(&sh, 2, argv, defaults, errstr, sizeof errstr), 1);
  assert_int_equal(sh.settings.http_port, 8083);
  assert_string_equal(sh.settings.http_host, "127.0.0.1");
  gl_shell_destroy(&sh);
}

static void test_exit_codes(void **state) {
  (void)state;
  assert_int_equal(gl_exit_code(GL_OK), 0);
  assert_int_equal(gl_exit_code(GL_ESTOPPED), 0);
  assert_int_equal(gl_exit_code(GL_ECONFIG), 2);
  /* GL_EINVAL is data or a program's own bug, never a setting: 1, not 2. */
  const int ones[] = {GL_EIO, GL_EBROKER, GL_EFATAL, GL_ESTATE, GL_ENOMEM, GL_EINVAL, -99};
  for (size_t i = 0; i < sizeof ones / sizeof ones[0]; i++)
    assert_int_equal(gl_exit_code(ones[i]), 1);
  assert_string_equal(gl_strerror(GL_ECONFIG), "bad setting");
  assert_string_equal(gl_strerror(GL_EBROKER), "broker unavailable");
  assert_string_equal(gl_strerror(GL_EINVAL), "invalid input");
  assert_string_equal(gl_strerror(-99), "unknown error");
  for (int e = GL_EINVAL; e <= GL_OK; e++) assert_string_not_equal(gl_strerror(e), "unknown error");
}

/* ---- librdkafka configurations ---------------------------------------- */

static void expect_prop(rd_kafka_conf_t *kc, const char *name, const char *want) {
  char val[256];
  size_t len = sizeof val;
  assert_int_equal(rd_kafka_conf_get(kc, name, val, &len), RD_KAFKA_CONF_OK);
  assert_string_equal(val, want);
}

static void test_kafka_conf(void **state) {
  (void)state;
  gl_shell_t sh;
  char errstr[512] = "";
  char *argv[] = {"test_shell", "-X", "kafka.linger.ms=50", "-X", "kafka.client.id=pass",
                  "--http.port=-1", NULL};
  assert_int_equal(gl_shell_init(&sh, "test", argv[0]), GL_OK);
  assert_int_equal(gl_shell_configure(&sh, 6, argv, NULL, errstr, sizeof errstr), GL_OK);
  const char *const defaults[] = {"linger.ms", "5", "client.id", "def", "batch.num.messages",
                                  "77", NULL};
  const char *const forced[] = {"client.id", "forced", NULL};
  int mine = 0;
  rd_kafka_conf_t *kc = gl_shell_kafka_conf(&sh, defaults, forced, &mine, errstr, sizeof errstr);
  assert_non_null(kc);
  expect_prop(kc, "bootstrap.servers", "127.0.0.1:19092"); /* The base. */
  expect_prop(kc, "batch.num.messages", "77");             /* Defaults over the base... */
  expect_prop(kc, "linger.ms", "50");                      /* ...pass-through over defaults... */
  expect_prop(kc, "client.id", "forced");                  /* ...forced over everything. */
  /* The client's opaque is the shell's context, which gives back the caller's. */
  rd_kafka_conf_set(kc, "bootstrap.servers", "127.0.0.1:1", errstr, sizeof errstr);
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, sizeof errstr);
  assert_non_null(rk);
  assert_ptr_equal(gl_shell_client_opaque(rd_kafka_opaque(rk)), &mine);
  rd_kafka_destroy(rk);

  /* A bad default or forced property: NULL, and the error names it. */
  const char *const bad[] = {"no.such.property", "1", NULL};
  assert_null(gl_shell_kafka_conf(&sh, bad, NULL, NULL, errstr, sizeof errstr));
  assert_non_null(strstr(errstr, "no.such.property"));
  assert_null(gl_shell_kafka_conf(&sh, NULL, bad, NULL, errstr, sizeof errstr));
  /* A pass-through librdkafka refuses in this configuration (it was
   * accepted alone): NULL, and the error names the kafka.* key. */
  char *kv[] = {"linger.ms", "50", "bogus.pass.through", "1"};
  char **saved = sh.conf.kafka;
  size_t nsaved = sh.conf.nkafka;
  sh.conf.kafka = kv;
  sh.conf.nkafka = 4;
  errstr[0] = '\0';
  assert_null(gl_shell_kafka_conf(&sh, NULL, NULL, NULL, errstr, sizeof errstr));
  assert_non_null(strstr(errstr, "config: kafka.bogus.pass.through = '1'"));
  sh.conf.kafka = saved;
  sh.conf.nkafka = nsaved;
  gl_shell_destroy(&sh);
}

/* The shell's callbacks on a real client (no broker at 127.0.0.1:1): the
 * log callback logs, all brokers down sets the flag, and a fatal error
 * reaches the stop callback on the loop, after rd_kafka_poll() returned. */
static void on_stop_kafka(gl_shell_t *sh, void *opaque) {
  fixture_t *fx = opaque;
  fx->stopped_in_poll = fx->in_poll;
  on_stop(sh, opaque);
}

static void kafka_steps(uv_timer_t *t) {
  fixture_t *fx = t->data;
  fx->in_poll = true;
  rd_kafka_poll(fx->rk, 0);
  fx->in_poll = false;
  if (fx->stage == 0 && gl_shell_brokers_down(&fx->sh)) {
    gl_shell_brokers_up(&fx->sh);
    assert_false(gl_shell_brokers_down(&fx->sh));
    rd_kafka_test_fatal_error(fx->rk, RD_KAFKA_RESP_ERR_PRODUCER_FENCED, "fenced by the test");
    fx->stage = 1;
  }
}

static void test_kafka_callbacks(void **state) {
  (void)state;
  fixture_t fx;
  char errstr[512] = "";
  fx_setup_quiet(&fx);
  gl_shell_on_stop(&fx.sh, on_stop_kafka, &fx);
  fx.close_in_stop = true;
  const char *const forced[] = {"bootstrap.servers", "127.0.0.1:1", "enable.idempotence", "true",
                                "reconnect.backoff.ms", "10", NULL};
  rd_kafka_conf_t *kc = gl_shell_kafka_conf(&fx.sh, NULL, forced, NULL, errstr, sizeof errstr);
  assert_non_null(kc);
  fx.rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, sizeof errstr);
  assert_non_null(fx.rk);
  uv_timer_start(&fx.step, kafka_steps, 1, 1);
  int code = fx_run(&fx);
  char want[256];
  snprintf(want, sizeof want, "%s: ", rd_kafka_name(fx.rk));
  rd_kafka_destroy(fx.rk);
  assert_int_equal(code, 1);
  assert_int_equal(fx.stage, 1);
  assert_int_equal(fx.stop_calls, 1);
  assert_true(fx.stop_on_loop);
  assert_false(fx.stopped_in_poll);
  const char *log = fx_log(&fx);
  assert_non_null(strstr(log, "\"event\":\"librdkafka\""));
  assert_non_null(strstr(log, "\"event\":\"kafka_error\""));
  const char *fatal = strstr(log, "\"event\":\"fatal\"");
  assert_non_null(fatal);
  assert_non_null(strstr(fatal, want));
  assert_non_null(strstr(fatal, "fenced by the test"));
  fx_teardown(&fx);
}

/* The readiness every daemon shares, and its /readyz answer. */
static void test_not_ready(void **state) {
  (void)state;
  gl_shell_t sh;
  char buf[128];
  assert_int_equal(gl_shell_init(&sh, "test", "test_shell"), GL_OK);
  assert_null(gl_shell_not_ready(&sh, NULL, buf, sizeof buf));
  atomic_store(&sh.brokers_down, true);
  assert_string_equal(gl_shell_not_ready(&sh, NULL, buf, sizeof buf), "broker unreachable");
  assert_string_equal(gl_shell_not_ready(&sh, "connecting", buf, sizeof buf), "starting: connecting");
  sh.stopping = true;
  assert_string_equal(gl_shell_not_ready(&sh, "connecting", buf, sizeof buf), "stopping");
  sh.exit_code = 1;
  assert_string_equal(gl_shell_not_ready(&sh, "connecting", buf, sizeof buf),
                      "exiting after a fatal error");
  gl_http_response_t r = {0};
  gl_shell_reply_readyz(&r, "stopping");
  assert_int_equal(r.status, 503);
  assert_string_equal(r.body, "{\"status\":\"not_ready\",\"why\":\"stopping\"}");
  free(r.body);
  r = (gl_http_response_t){0};
  gl_shell_reply_readyz(&r, NULL);
  assert_int_equal(r.status, 200);
  assert_string_equal(r.body, "{\"status\":\"ready\",\"why\":null}");
  free(r.body);
  gl_shell_destroy(&sh);
}

/* A kafka.* setting librdkafka refuses is a bad setting at configure. */
static void test_kafka_bad_pass_through(void **state) {
  (void)state;
  gl_shell_t sh;
  char errstr[512] = "";
  char *argv[] = {"test_shell", "-X", "kafka.linger.ms=never", NULL};
  assert_int_equal(gl_shell_init(&sh, "test", argv[0]), GL_OK);
  assert_int_equal(gl_shell_configure(&sh, 3, argv, NULL, errstr, sizeof errstr), GL_ECONFIG);
  assert_non_null(strstr(errstr, "kafka.linger.ms = 'never'"));
  gl_shell_destroy(&sh);
}

/* ---- systemd's notify socket ------------------------------------------ */

typedef struct notify_fx {
  fixture_t fx;
  int sock;
  int calls;        /* Of the status callback. */
  int started_call; /* The call that first said started. */
  char got[4096];   /* Every datagram, each followed by "|". */
  int watchdogs_after_ready;
} notify_fx_t;

/* Starting for 3 calls, then started but restoring for 2, then ready. */
static const char *notify_status(void *opaque, bool *started, char *buf, size_t len) {
  notify_fx_t *n = opaque;
  n->calls++;
  *started = n->calls > 3;
  if (*started && !n->started_call) n->started_call = n->calls;
  if (n->calls <= 3) {
    snprintf(buf, len, "starting: step %d\nof 3", n->calls); /* A newline must not split it. */
    return buf;
  }
  return n->calls <= 5 ? "restoring 1 of 2 partitions" : NULL;
}

static void notify_read(notify_fx_t *n) {
  char d[512];
  ssize_t r;
  while ((r = recv(n->sock, d, sizeof d - 1, MSG_DONTWAIT)) > 0) {
    d[r] = '\0';
    if (strstr(n->got, "STATUS=ready") && strstr(d, "WATCHDOG=1")) n->watchdogs_after_ready++;
    strncat(n->got, d, sizeof n->got - strlen(n->got) - 2);
    strcat(n->got, "|");
  }
}

static void notify_step(uv_timer_t *t) {
  notify_fx_t *n = t->data;
  notify_read(n);
  if (n->watchdogs_after_ready >= 3 && !n->fx.sh.stopping) {
    n->fx.close_in_stop = true;
    gl_shell_fatal(&n->fx.sh, "enough"); /* A stop: STOPPING=1. */
  }
}

static void test_notify(void **state) {
  (void)state;
  notify_fx_t n = {.sock = socket(AF_UNIX, SOCK_DGRAM, 0)};
  assert_true(n.sock >= 0);
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  snprintf(a.sun_path, sizeof a.sun_path, "/tmp/gl-test-notify-%d", (int)getpid());
  unlink(a.sun_path);
  assert_int_equal(bind(n.sock, (struct sockaddr *)&a, sizeof a), 0);
  setenv("NOTIFY_SOCKET", a.sun_path, 1);
  setenv("WATCHDOG_USEC", "20000", 1); /* A ping every 10 ms. */
  fx_setup_quiet(&n.fx);
  gl_shell_on_status(&n.fx.sh, notify_status, &n);
  n.fx.step.data = &n;
  uv_timer_start(&n.fx.step, notify_step, 1, 1);
  assert_int_equal(fx_run(&n.fx), 1);
  notify_read(&n);
  unsetenv("NOTIFY_SOCKET");
  unsetenv("WATCHDOG_USEC");
  close(n.sock);
  unlink(a.sun_path);
  /* READY=1 once, in the datagram of the call that first said started. */
  const char *ready = strstr(n.got, "READY=1");
  assert_non_null(ready);
  assert_null(strstr(ready + 1, "READY=1"));
  int datagram = 0;
  for (const char *p = n.got; p < ready; p++) datagram += *p == '|';
  assert_int_equal(datagram + 1, n.started_call);
  /* Each status once, in order, on one line; then a watchdog in every datagram. */
  const char *s1 = strstr(n.got, "STATUS=starting: step 1 of 3\n"),
             *s2 = strstr(n.got, "STATUS=starting: step 2 of 3\n"),
             *s4 = strstr(n.got, "STATUS=restoring 1 of 2 partitions\n"),
             *s6 = strstr(n.got, "STATUS=ready\n");
  assert_true(s1 && s2 && s4 && s6 && s1 < s2 && s2 < ready && ready < s4 && s4 < s6);
  assert_null(strstr(s6 + 1, "STATUS="));
  assert_true(n.watchdogs_after_ready >= 3);
  for (const char *p = n.got; *p; p = strchr(p, '|') + 1) {
    const char *end = strchr(p, '|'), *w = strstr(p, "WATCHDOG=1");
    if (!strncmp(p, "STOPPING=1", 10)) continue;
    assert_true(w && w < end);
  }
  assert_non_null(strstr(n.got, "|STOPPING=1|"));
  assert_non_null(strstr(fx_log(&n.fx), "\"event\":\"notify\",\"watchdog_ms\":10,"));
  fx_teardown(&n.fx);
}

/* Without NOTIFY_SOCKET no timer runs: the loop ends as it always did. */
static void test_notify_off(void **state) {
  (void)state;
  fixture_t fx;
  unsetenv("NOTIFY_SOCKET");
  fx_setup_quiet(&fx);
  fx.close_in_stop = true;
  gl_shell_fatal(&fx.sh, "at once");
  assert_int_equal(fx_run(&fx), 1);
  assert_false(fx.sh.notify_on);
  assert_null(strstr(fx_log(&fx), "\"event\":\"notify\""));
  fx_teardown(&fx);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fatal_from_thread),
      cmocka_unit_test(test_fatal_after_signal),
      cmocka_unit_test(test_fatal_during_stop),
      cmocka_unit_test(test_signals),
      cmocka_unit_test(test_router),
      cmocka_unit_test(test_configure_bad_port),
      cmocka_unit_test(test_configure_check),
      cmocka_unit_test(test_exit_codes),
      cmocka_unit_test(test_kafka_conf),
      cmocka_unit_test(test_kafka_bad_pass_through),
      cmocka_unit_test(test_kafka_callbacks),
      cmocka_unit_test(test_not_ready),
      cmocka_unit_test(test_notify),
      cmocka_unit_test(test_notify_off),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
