/* Unit tests for gl_log (no broker): every line is one JSON object in
 * valid UTF-8, whatever bytes the message, the service, the event or a
 * field holds; fields come out typed; a long line is cut and stays JSON.
 * jansson's decoder refuses invalid UTF-8 and raw control characters, so
 * json_loads() on a line is the check of both. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "greenlight/gl_log.h"

typedef struct capture {
  gl_log_t log;
  char *buf;
  size_t len;
} capture_t;

static void cap_open(capture_t *c, const char *service) {
  memset(c, 0, sizeof *c);
  gl_log_init(&c->log, service, GL_LOG_DEBUG);
  c->log.out = open_memstream(&c->buf, &c->len);
  assert_non_null(c->log.out);
}

/* The lines written so far; each must end with a newline. */
static char *cap_text(capture_t *c) {
  fflush(c->log.out);
  return c->buf ? c->buf : "";
}

static void cap_close(capture_t *c) {
  fclose(c->log.out);
  free(c->buf);
}

/* Decodes the only line written; fails unless it is one JSON object. */
static json_t *one_line(capture_t *c) {
  const char *text = cap_text(c);
  size_t n = strlen(text);
  assert_true(n > 0 && text[n - 1] == '\n');
  assert_ptr_equal(strchr(text, '\n'), text + n - 1);
  assert_true(n <= GL_LOG_LINE_MAX);
  json_error_t err;
  json_t *j = json_loadb(text, n, 0, &err);
  if (!j) fail_msg("not JSON (%s): %s", err.text, text);
  assert_true(json_is_object(j));
  return j;
}

static const char *str_of(json_t *j, const char *key) {
  json_t *v = json_object_get(j, key);
  if (!json_is_string(v)) fail_msg("%s is not a string", key);
  return json_string_value(v);
}

static void test_line_shape(void **state) {
  (void)state;
  capture_t c;
  cap_open(&c, "orderd");
  gl_info(&c.log, "commit", "committed %d records", 812);
  json_t *j = one_line(&c);
  assert_string_equal(str_of(j, "level"), "info");
  assert_string_equal(str_of(j, "service"), "orderd");
  assert_string_equal(str_of(j, "event"), "commit");
  assert_string_equal(str_of(j, "msg"), "committed 812 records");
  const char *ts = str_of(j, "ts");
  assert_int_equal(strlen(ts), 24); /* 2026-11-23T19:22:00.123Z */
  assert_int_equal(ts[23], 'Z');
  assert_int_equal(json_object_size(j), 5);
  json_decref(j);
  cap_close(&c);
}

static void test_level_filter(void **state) {
  (void)state;
  capture_t c;
  cap_open(&c, "x");
  c.log.level = GL_LOG_WARN;
  gl_info(&c.log, "e", "dropped");
  gl_log_kv(&c.log, GL_LOG_DEBUG, "e", GL_LOG_FIELDS(GL_LOG_INT("n", 1)), "dropped");
  assert_string_equal(cap_text(&c), "");
  gl_warn(&c.log, "e", "kept");
  json_t *j = one_line(&c);
  assert_string_equal(str_of(j, "level"), "warn");
  json_decref(j);
  cap_close(&c);
  gl_info(NULL, "e", "a NULL logger writes nothing");
}

/* Valid text, control characters included, comes back exactly. */
static void test_control_and_valid_utf8(void **state) {
  (void)state;
  const char *in = "a\"b\\c\n\r\t\x01\x1f\x7f é € \xf0\x9f\x98\x80 \xef\xbf\xbf \xf4\x8f\xbf\xbf end";
  capture_t c;
  cap_open(&c, "x");
  gl_info(&c.log, "e", "%s", in);
  const char *text = cap_text(&c);
  assert_non_null(strstr(text, "\\u0001\\u001f"));
  assert_non_null(strstr(text, "a\\\"b\\\\c\\n\\r\\t"));
  json_t *j = one_line(&c);
  assert_string_equal(str_of(j, "msg"), in);
  json_decref(j);
  cap_close(&c);
}

/* Each byte that starts no well-formed sequence becomes the text \xHH;
 * what follows it is judged afresh. */
static void test_invalid_utf8(void **state) {
  (void)state;
  static const struct {
    const char *in, *want;
  } cases[] = {
      {"\xff", "\\xff"},
      {"a\x80z", "a\\x80z"},                                 /* A lone continuation byte. */
      {"\xc0\xaf", "\\xc0\\xaf"},                            /* Overlong '/'. */
      {"\xc1\xbf", "\\xc1\\xbf"},                            /* Overlong, C1. */
      {"\xe0\x80\xaf", "\\xe0\\x80\\xaf"},                   /* Overlong, 3 bytes. */
      {"\xf0\x80\x80\xaf", "\\xf0\\x80\\x80\\xaf"},          /* Overlong, 4 bytes. */
      {"\xed\xa0\x80", "\\xed\\xa0\\x80"},                   /* A surrogate, U+D800. */
      {"\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80"},          /* Above U+10FFFF. */
      {"\xf5\x80\x80\x80", "\\xf5\\x80\\x80\\x80"},
      {"\xe2\x82z", "\\xe2\\x82z"},                          /* Truncated by 'z'. */
      {"\xe2\x82", "\\xe2\\x82"},                            /* Truncated by the end. */
      {"\xe2\x82\xe2\x82\xac", "\\xe2\\x82\xe2\x82\xac"},    /* Then a whole euro sign. */
      {"\xc3", "\\xc3"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    capture_t c;
    cap_open(&c, "x");
    gl_info(&c.log, "e", "%s", cases[i].in);
    json_t *j = one_line(&c);
    if (strcmp(str_of(j, "msg"), cases[i].want) != 0)
      fail_msg("case %zu: msg '%s', want '%s'", i, str_of(j, "msg"), cases[i].want);
    json_decref(j);
    cap_close(&c);
  }
}

/* Not only the message: the service, the event and string fields too. */
static void test_every_string_escaped(void **state) {
  (void)state;
  capture_t c;
  cap_open(&c, "svc\xff");
  gl_log_kv(&c.log, GL_LOG_ERROR, "ev\n\xfe",
            GL_LOG_FIELDS(GL_LOG_STR("topic", "t\"\x80"), GL_LOG_STR("order_id", NULL),
                          GL_LOG_INT("partition", 3), GL_LOG_INT("offset", INT64_MIN),
                          GL_LOG_INT("records", INT64_MAX)),
            "m");
  json_t *j = one_line(&c);
  assert_string_equal(str_of(j, "service"), "svc\\xff");
  assert_string_equal(str_of(j, "event"), "ev\n\\xfe");
  assert_string_equal(str_of(j, "topic"), "t\"\\x80");
  assert_true(json_is_null(json_object_get(j, "order_id")));
  assert_int_equal(json_integer_value(json_object_get(j, "partition")), 3);
  assert_true(json_integer_value(json_object_get(j, "offset")) == INT64_MIN);
  assert_true(json_integer_value(json_object_get(j, "records")) == INT64_MAX);
  assert_string_equal(str_of(j, "msg"), "m");
  json_decref(j);
  /* Fields come between event and msg, in the order given. */
  const char *t = cap_text(&c);
  const char *ev = strstr(t, "\"event\""), *topic = strstr(t, "\"topic\""),
             *rec = strstr(t, "\"records\""), *msg = strstr(t, "\"msg\"");
  assert_true(ev && topic && rec && msg && ev < topic && topic < rec && rec < msg);
  cap_close(&c);
}

/* A line too long is cut at a whole piece, says so, and stays JSON. */
static void check_cut(const char *unit, size_t units) {
  size_t ulen = strlen(unit);
  char *in = malloc(ulen * units + 1);
  assert_non_null(in);
  for (size_t i = 0; i < units; i++) memcpy(in + i * ulen, unit, ulen);
  in[ulen * units] = '\0';
  capture_t c;
  cap_open(&c, "x");
  gl_log_kv(&c.log, GL_LOG_INFO, "e", GL_LOG_FIELDS(GL_LOG_STR("big", in), GL_LOG_INT("n", 7)),
            "%s", in);
  json_t *j = one_line(&c);
  assert_true(json_is_true(json_object_get(j, "truncated")));
  const char *big = str_of(j, "big");
  assert_true(strlen(big) > 0 && strlen(big) < strlen(in));
  json_decref(j);
  cap_close(&c);
  free(in);
}

static void test_long_lines(void **state) {
  (void)state;
  check_cut("\xc3\xa9", 10000);   /* é: never cut inside the character. */
  check_cut("\x01", 10000);       /* \u0001: never cut inside the escape. */
  check_cut("\xff", 10000);       /* \\xff */
  check_cut("a\xe2\x82\xac", 5000);
  /* A message longer than the line on its own: msg is cut, fields stay. */
  capture_t c;
  cap_open(&c, "x");
  char *in = malloc(3 * GL_LOG_LINE_MAX + 1);
  assert_non_null(in);
  for (size_t i = 0; i < GL_LOG_LINE_MAX; i++) memcpy(in + 3 * i, "\xe2\x82\xac", 3);
  in[3 * GL_LOG_LINE_MAX] = '\0';
  gl_log_kv(&c.log, GL_LOG_INFO, "e", GL_LOG_FIELDS(GL_LOG_INT("partition", 2)), "%s", in);
  json_t *j = one_line(&c);
  assert_int_equal(json_integer_value(json_object_get(j, "partition")), 2);
  assert_true(json_is_true(json_object_get(j, "truncated")));
  assert_int_equal(strncmp(str_of(j, "msg"), in, strlen(str_of(j, "msg"))), 0);
  json_decref(j);
  cap_close(&c);
  free(in);
}

/* Random bytes, random lengths: every line decodes. */
static void test_random_bytes(void **state) {
  (void)state;
  uint64_t x = 0x9E3779B97F4A7C15ull;
  char s[64];
  for (int round = 0; round < 5000; round++) {
    size_t n = 0, len = (size_t)(x % (sizeof s - 1));
    for (; n < len; n++) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      s[n] = (char)(x % 255 + 1); /* No NUL: it ends a C string. */
    }
    s[n] = '\0';
    capture_t c;
    cap_open(&c, "x");
    gl_log_kv(&c.log, GL_LOG_WARN, s, GL_LOG_FIELDS(GL_LOG_STR("v", s)), "%s", s);
    json_decref(one_line(&c));
    cap_close(&c);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_line_shape),
      cmocka_unit_test(test_level_filter),
      cmocka_unit_test(test_control_and_valid_utf8),
      cmocka_unit_test(test_invalid_utf8),
      cmocka_unit_test(test_every_string_escaped),
      cmocka_unit_test(test_long_lines),
      cmocka_unit_test(test_random_bytes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
