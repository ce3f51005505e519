/* Unit tests for gl_config: precedence, validation and error messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "greenlight/gl_config.h"
#include "greenlight/gl_engine.h"

typedef struct fx {
  gl_conf_t c;
  gl_engine_conf_t ec;
  gl_shell_conf_t sc;
  char err[1024];
} fx_t;

static int setup(void **state) {
  fx_t *f = calloc(1, sizeof(*f));
  gl_conf_init(&f->c, "test");
  /* A daemon's settings: the shell's table and the engine's. */
  assert_int_equal(gl_conf_add_table(&f->c, gl_shell_conf_props, &f->sc, f->err, sizeof(f->err)), 0);
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
  assert_int_equal(f->ec.commit_max_records, 0); /* No cap: commit on time only. */
  assert_string_equal(f->ec.guarantee, "exactly_once");
  assert_string_equal(f->ec.dlq_topic, "greenlight.dlq");
}

static void test_bad_int_names_key_value_and_range(void **state) {
  fx_t *f = *state;
  assert_int_equal(gl_conf_set(&f->c, "commit.interval.ms", "abc", f->err, sizeof(f->err)),
                   GL_ECONFIG);
  assert_non_null(strstr(f->err, "commit.interval.ms"));
  assert_non_null(strstr(f->err, "'abc'"));
  assert_non_null(strstr(f->err, "expected an integer in 1..600000"));
  assert_int_equal(gl_conf_set(&f->c, "commit.interval.ms", "0", f->err, sizeof(f->err)),
                   GL_ECONFIG);
  assert_int_equal(f->ec.commit_interval_ms, 100);
}

static void test_bad_enum(void **state) {
  fx_t *f = *state;
  assert_int_equal(gl_conf_set(&f->c, "processing.guarantee", "maybe", f->err, sizeof(f->err)),
                   GL_ECONFIG);
  assert_non_null(strstr(f->err, "expected one of exactly_once|at_least_once"));
  assert_int_equal(gl_conf_set(&f->c, "processing.guarantee", "at_least_once", f->err, sizeof(f->err)), 0);
  assert_string_equal(f->ec.guarantee, "at_least_once");
}

static void test_unknown_key(void **state) {
  fx_t *f = *state;
  assert_int_equal(gl_conf_set(&f->c, "commit.intervall.ms", "5", f->err, sizeof(f->err)),
                   GL_ECONFIG);
  assert_non_null(strstr(f->err, "unknown key 'commit.intervall.ms'"));
}

static void test_kafka_passthrough_validated(void **state) {
  fx_t *f = *state;
  assert_int_equal(gl_conf_set(&f->c, "kafka.linger.ms", "7", f->err, sizeof(f->err)), 0);
  assert_string_equal(gl_conf_kafka_get(&f->c, "linger.ms"), "7");
  assert_int_equal(gl_conf_set(&f->c, "kafka.no.such.property", "1", f->err, sizeof(f->err)),
                   GL_ECONFIG);
  assert_non_null(strstr(f->err, "kafka.no.such.property"));
  assert_int_equal(gl_conf_set(&f->c, "kafka.linger.ms", "soon", f->err, sizeof(f->err)),
                   GL_ECONFIG);
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
  assert_int_equal(gl_conf_load_file(&f->c, path, f->err, sizeof(f->err)), GL_ECONFIG);
  assert_non_null(strstr(f->err, " line 3: http.port = '70000'"));
  assert_non_null(strstr(f->err, "-1..65535"));
  unlink(path);
}

static void test_env_error_names_variable(void **state) {
  fx_t *f = *state;
  char *envp[] = {"GREENLIGHT_COMMIT_MAX_RECORDS=-4", NULL};
  assert_int_equal(gl_conf_load_env(&f->c, envp, f->err, sizeof(f->err)), GL_ECONFIG);
  assert_non_null(strstr(f->err, "commit.max.records = '-4'"));
  assert_non_null(strstr(f->err, "GREENLIGHT_COMMIT_MAX_RECORDS"));
}

static void test_flag_without_value(void **state) {
  fx_t *f = *state;
  char *argv[] = {"test", "--app.id", NULL};
  assert_int_equal(gl_conf_load(&f->c, 2, argv, NULL, f->err, sizeof(f->err)), GL_ECONFIG);
  assert_non_null(strstr(f->err, "missing value"));
  char *argv2[] = {"test", "stray", NULL};
  assert_int_equal(gl_conf_load(&f->c, 2, argv2, NULL, f->err, sizeof(f->err)), GL_ECONFIG);
  assert_non_null(strstr(f->err, "unexpected argument 'stray'"));
}

/* Expects err to hold every needle (NULL needles are skipped). */
static void expect_in(const char *err, const char *n1, const char *n2, const char *n3) {
  const char *needles[] = {n1, n2, n3};
  for (size_t i = 0; i < 3; i++)
    if (needles[i] && !strstr(err, needles[i])) fail_msg("error '%s' lacks '%s'", err, needles[i]);
}

/* Writes len bytes of text to a fresh file; path receives its name. */
static void write_file(char *path, size_t pathlen, const char *text, size_t len) {
  snprintf(path, pathlen, "/tmp/gl-test-config-XXXXXX");
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, text, len), (ssize_t)len);
  close(fd);
}

/* Loads text as a config file; returns the result, the message in f->err. */
static int load_text(fx_t *f, const char *text, size_t len, char *path, size_t pathlen) {
  write_file(path, pathlen, text, len);
  int rc = gl_conf_load_file(&f->c, path, f->err, sizeof(f->err));
  unlink(path);
  return rc;
}

/* Runs gl_conf_load with --config=path; returns its result. */
static int load_config_flag(fx_t *f, const char *path) {
  char flag[512];
  snprintf(flag, sizeof(flag), "--config=%s", path);
  char *argv[] = {"test", flag, NULL};
  return gl_conf_load(&f->c, 2, argv, NULL, f->err, sizeof(f->err));
}

/* A config file that is not a regular file is a bad setting named by the
 * key that gave it. A FIFO with no writer would block a plain open() for
 * ever: the alarm turns such a hang into a failure, with no sleep. */
static void test_config_not_a_regular_file(void **state) {
  fx_t *f = *state;
  char dir[] = "/tmp/gl-test-config-dir-XXXXXX", fifo[64], sock[64], missing[64];
  assert_non_null(mkdtemp(dir));
  snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
  snprintf(sock, sizeof(sock), "%s/sock", dir);
  snprintf(missing, sizeof(missing), "%s/missing.conf", dir);
  assert_int_equal(mkfifo(fifo, 0600), 0);
  int sfd = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
  assert_int_equal(bind(sfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  alarm(10);
  char want[256];
  snprintf(want, sizeof(want), "config: --config = '%s': expected a regular file", dir);
  assert_int_equal(load_config_flag(f, dir), GL_ECONFIG);
  expect_in(f->err, want, "(it is a directory)", NULL);
  /* The reader itself: GL_ECONFIG, nothing handed back, the why unprefixed. */
  char *buf = dir, why[128];
  size_t len = 1;
  assert_int_equal(gl_conf_read_file(dir, 64, &buf, &len, why, sizeof(why)), GL_ECONFIG);
  assert_null(buf);
  assert_int_equal(len, 0);
  assert_string_equal(why, "expected a regular file (it is a directory)");
  assert_int_equal(load_config_flag(f, fifo), GL_ECONFIG);
  expect_in(f->err, fifo, "expected a regular file (it is a FIFO)", NULL);
  assert_int_equal(load_config_flag(f, sock), GL_ECONFIG);
  expect_in(f->err, "expected a regular file (it is a socket)", NULL, NULL);
  assert_int_equal(load_config_flag(f, "/dev/null"), GL_ECONFIG);
  expect_in(f->err, "(it is a character device)", NULL, NULL);
  assert_int_equal(load_config_flag(f, missing), GL_ECONFIG);
  expect_in(f->err, missing, "expected a regular file (No such file or directory)", NULL);
  /* The environment's name for the file is named when it gave the file. */
  char env[256];
  snprintf(env, sizeof(env), "GREENLIGHT_CONFIG=%s", fifo);
  char *envp[] = {env, NULL};
  char *argv[] = {"test", NULL};
  assert_int_equal(gl_conf_load(&f->c, 1, argv, envp, f->err, sizeof(f->err)), GL_ECONFIG);
  expect_in(f->err, "config: GREENLIGHT_CONFIG = '", "(it is a FIFO)", NULL);
  alarm(0);
  close(sfd);
  unlink(sock);
  unlink(fifo);
  rmdir(dir);
}

static void test_config_unreadable(void **state) {
  fx_t *f = *state;
  if (geteuid() == 0) skip(); /* root reads a mode 000 file. */
  char path[64];
  write_file(path, sizeof(path), "app.id = x\n", 11);
  assert_int_equal(chmod(path, 0), 0);
  assert_int_equal(load_config_flag(f, path), GL_ECONFIG);
  expect_in(f->err, "expected a regular file (Permission denied)", path, NULL);
  unlink(path);
}

static void test_config_missing_value(void **state) {
  fx_t *f = *state;
  char *argv[] = {"test", "--app.id=x", "--config", NULL};
  assert_int_equal(gl_conf_load(&f->c, 3, argv, NULL, f->err, sizeof(f->err)), GL_ECONFIG);
  expect_in(f->err, "--config: missing value", NULL, NULL);
}

static void test_config_nul_byte(void **state) {
  fx_t *f = *state;
  static const char text[] = "app.id = x\n# comment\ndlq.topic = dlq\0junk\n";
  char path[64];
  assert_int_equal(load_text(f, text, sizeof(text) - 1, path, sizeof(path)), GL_ECONFIG);
  char want[128];
  snprintf(want, sizeof(want), "config: %s line 3: contains a NUL byte", path);
  expect_in(f->err, want, NULL, NULL);
  assert_string_equal(f->ec.dlq_topic, "greenlight.dlq"); /* Nothing applied. */
}

/* A line longer than any buffer is taken whole, never split into two lines
 * (whose second could set a key on its own), and a file over the cap is
 * refused. */
static void test_config_long_lines(void **state) {
  fx_t *f = *state;
  size_t n = 20000;
  char *text = malloc(n + 64), path[64];
  size_t len = (size_t)sprintf(text, "app.id = ");
  memset(text + len, 'a', n);
  len += n;
  len += (size_t)sprintf(text + len, "commit.interval.ms = 5\n");
  assert_int_equal(load_text(f, text, len, path, sizeof(path)), 0);
  assert_int_equal(strlen(f->ec.app_id), n + strlen("commit.interval.ms = 5"));
  assert_int_equal(f->ec.commit_interval_ms, 100);
  free(text);
  size_t big = GL_CONF_FILE_MAX + 1;
  text = malloc(big);
  memset(text, '#', big);
  assert_int_equal(load_text(f, text, big, path, sizeof(path)), GL_ECONFIG);
  expect_in(f->err, "expected a file of at most 1048576 bytes", path, NULL);
  free(text);
}

static void test_config_duplicate_key_and_crlf(void **state) {
  fx_t *f = *state;
  static const char text[] = "commit.interval.ms = 250\r\nmax.idle.ms = 7 \r\n";
  char path[64];
  assert_int_equal(load_text(f, text, sizeof(text) - 1, path, sizeof(path)), 0);
  assert_int_equal(f->ec.commit_interval_ms, 250);
  assert_int_equal(f->ec.max_idle_ms, 7);
  static const char dup[] = "app.id = a\nkafka.linger.ms = 1\n\napp.id = b\n";
  assert_int_equal(load_text(f, dup, sizeof(dup) - 1, path, sizeof(path)), GL_ECONFIG);
  expect_in(f->err, " line 4: app.id = 'b': set again (first on line 1)", "expected each key once",
            NULL);
  static const char kdup[] = "kafka.linger.ms = 1\nkafka.linger.ms = 2\n";
  assert_int_equal(load_text(f, kdup, sizeof(kdup) - 1, path, sizeof(path)), GL_ECONFIG);
  expect_in(f->err, " line 2: kafka.linger.ms = '2': set again (first on line 1)", NULL, NULL);
}

/* GREENLIGHT_BOOTSTRAP is short for GREENLIGHT_KAFKA_BOOTSTRAP_SERVERS, which
 * wins wherever it stands; variables that name no setting are kept for the
 * program to report, the tools' own are not. */
static void test_env_alias_and_unknown(void **state) {
  fx_t *f = *state;
  char *envp[] = {"GREENLIGHT_KAFKA_BOOTSTRAP_SERVERS=long:1", "GREENLIGHT_TOPIC_PREFX=typo.",
                  "GREENLIGHT_BOOTSTRAP=short:1", "GREENLIGHT_BROKER_PORT=19092",
                  "GREENLIGHT_CONFIG=", "GREENLIGHT_CLI=/bin/true", "GREENLIGHT_PARTITIONS=4",
                  "GREENLIGHT_APP_ID=a", "GREENLIGHT_NOPE=1", "NOT_OURS=1", NULL};
  assert_int_equal(gl_conf_load_env(&f->c, envp, f->err, sizeof(f->err)), GL_OK);
  assert_string_equal(gl_conf_kafka_get(&f->c, "bootstrap.servers"), "long:1");
  const char *const *u = gl_conf_unknown_env(&f->c);
  assert_non_null(u);
  assert_string_equal(u[0], "GREENLIGHT_TOPIC_PREFX");
  assert_string_equal(u[1], "GREENLIGHT_NOPE");
  assert_null(u[2]);
  /* Alone, the short name sets the servers; a second load starts afresh. */
  char *alone[] = {"GREENLIGHT_BOOTSTRAP=short:2", NULL};
  assert_int_equal(gl_conf_load_env(&f->c, alone, f->err, sizeof(f->err)), GL_OK);
  assert_string_equal(gl_conf_kafka_get(&f->c, "bootstrap.servers"), "short:2");
  assert_null(gl_conf_unknown_env(&f->c));
  assert_true(gl_conf_tool_env("GREENLIGHT_BROKER_SASL_PORT"));
  assert_false(gl_conf_tool_env("GREENLIGHT_BROKER"));
}

/* Captures what fn writes to a FILE. */
static char *capture(void (*fn)(const gl_conf_t *, FILE *), const gl_conf_t *c) {
  char *buf = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&buf, &len);
  fn(c, out);
  fclose(out);
  return buf;
}

static void check_to(const gl_conf_t *c, FILE *out) {
  char err[256];
  assert_int_equal(gl_conf_check(c, out, err, sizeof err), 1);
}

/* --check-config shows the bootstrap servers: the default when unset. */
static void test_check_shows_bootstrap(void **state) {
  fx_t *f = *state;
  char *text = capture(check_to, &f->c);
  assert_non_null(strstr(text, "\nkafka.bootstrap.servers = " GL_CONF_DEFAULT_BOOTSTRAP "\n"));
  free(text);
  assert_int_equal(gl_conf_set(&f->c, "kafka.bootstrap.servers", "b:9", f->err, sizeof f->err), 0);
  text = capture(check_to, &f->c);
  assert_non_null(strstr(text, "\nkafka.bootstrap.servers = b:9\n"));
  assert_null(strstr(text, GL_CONF_DEFAULT_BOOTSTRAP));
  free(text);
}

/* --help and --help-man list every key, the environment and the exit codes. */
static void test_usage_and_man(void **state) {
  fx_t *f = *state;
  f->c.summary = "a test program";
  char *usage = capture(gl_conf_usage, &f->c), *man = capture(gl_conf_man, &f->c);
  expect_in(usage, "a test program", "\n  commit.interval.ms ", "GREENLIGHT_CONFIG");
  expect_in(usage, "Exit codes:\n  0  ", "\n  2  a bad setting", "--help-man");
  expect_in(man, ".TH \"TEST\" 1", "test \\- a test program", ".SH \"EXIT STATUS\"");
  expect_in(man, ".TP\ncommit.interval.ms\n", "GREENLIGHT_CONFIG", "\\-\\-check\\-config");
  free(usage);
  free(man);
}

static void test_int_strict(void **state) {
  fx_t *f = *state;
  static const char *const bad[] = {" 5", "5 ", "12abc", "", "99999999999999999999", "0x10", "+",
                                    "- 5", NULL};
  for (const char *const *b = bad; *b; b++) {
    if (gl_conf_set(&f->c, "commit.max.records", *b, f->err, sizeof(f->err)) != GL_ECONFIG)
      fail_msg("'%s' was taken as an integer", *b);
    expect_in(f->err, "commit.max.records = '", "expected", NULL);
  }
  assert_int_equal(f->ec.commit_max_records, 0);
  assert_int_equal(gl_conf_set(&f->c, "commit.max.records", "+7", f->err, sizeof(f->err)), 0);
  assert_int_equal(f->ec.commit_max_records, 7);
  assert_int_equal(gl_conf_set(&f->c, "http.port", "-1", f->err, sizeof(f->err)), 0);
}

/* A CR from a Windows-edited environment file, or spaces around a value,
 * would silently change a name; both are refused, control characters shown
 * escaped and secrets not shown. */
static void test_value_control_chars_and_spaces(void **state) {
  fx_t *f = *state;
  char *envp[] = {"GREENLIGHT_APP_ID=orders\r", NULL};
  assert_int_equal(gl_conf_load_env(&f->c, envp, f->err, sizeof(f->err)), GL_ECONFIG);
  expect_in(f->err, "app.id = 'orders\\x0d': expected no control characters",
            "GREENLIGHT_APP_ID", NULL);
  assert_int_equal(gl_conf_set(&f->c, "dlq.topic", "dlq ", f->err, sizeof(f->err)), GL_ECONFIG);
  expect_in(f->err, "dlq.topic = 'dlq ': expected no leading or trailing spaces", NULL, NULL);
  assert_int_equal(gl_conf_set(&f->c, "kafka.client.id", "a\nb", f->err, sizeof(f->err)),
                   GL_ECONFIG);
  expect_in(f->err, "kafka.client.id = 'a\\x0ab': expected no control characters", NULL, NULL);
  char *kenv[] = {"GREENLIGHT_KAFKA_SASL_PASSWORD=hunter2\r", NULL};
  assert_int_equal(gl_conf_load_env(&f->c, kenv, f->err, sizeof(f->err)), GL_ECONFIG);
  expect_in(f->err, "kafka.sasl.password = '(secret)': expected no control characters", NULL, NULL);
  assert_null(strstr(f->err, "hunter2"));
  assert_string_equal(f->ec.app_id, "greenlight");
}

typedef struct req_conf {
  char *name;
} req_conf_t;

static const gl_conf_prop_t req_props[] = {
    {"req.name", GL_CONF_STR, "x", 1, 0, NULL, offsetof(req_conf_t, name), "A required name."},
    {NULL, 0, NULL, 0, 0, NULL, 0, NULL}};

static void test_required_string(void **state) {
  (void)state;
  gl_conf_t c;
  req_conf_t rc = {0};
  char err[256];
  gl_conf_init(&c, "test");
  assert_int_equal(gl_conf_add_table(&c, req_props, &rc, err, sizeof(err)), 0);
  assert_int_equal(gl_conf_set(&c, "req.name", "", err, sizeof(err)), GL_ECONFIG);
  expect_in(err, "config: req.name = '': expected a value of at least 1 byte", NULL, NULL);
  assert_string_equal(rc.name, "x");
  gl_conf_destroy(&c);
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
      cmocka_unit_test_setup_teardown(test_config_not_a_regular_file, setup, teardown),
      cmocka_unit_test_setup_teardown(test_config_unreadable, setup, teardown),
      cmocka_unit_test_setup_teardown(test_config_missing_value, setup, teardown),
      cmocka_unit_test_setup_teardown(test_config_nul_byte, setup, teardown),
      cmocka_unit_test_setup_teardown(test_config_long_lines, setup, teardown),
      cmocka_unit_test_setup_teardown(test_config_duplicate_key_and_crlf, setup, teardown),
      cmocka_unit_test_setup_teardown(test_int_strict, setup, teardown),
      cmocka_unit_test_setup_teardown(test_value_control_chars_and_spaces, setup, teardown),
      cmocka_unit_test_setup_teardown(test_required_string, setup, teardown),
      cmocka_unit_test_setup_teardown(test_env_alias_and_unknown, setup, teardown),
      cmocka_unit_test_setup_teardown(test_check_shows_bootstrap, setup, teardown),
      cmocka_unit_test_setup_teardown(test_usage_and_man, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
