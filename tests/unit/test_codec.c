/* Unit tests for gl_codec: round trips and every rejection reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "greenlight/gl_codec.h"

static size_t pack_env(Greenlight__V1__Envelope *env, uint8_t **out) {
  return gl_message_pack(&env->base, out);
}

static Greenlight__V1__Envelope placed_env(Greenlight__V1__OrderPlaced *p) {
  Greenlight__V1__Envelope env = GREENLIGHT__V1__ENVELOPE__INIT;
  greenlight__v1__order_placed__init(p);
  p->order_id = "O-1";
  p->buyer_id = "B-1";
  p->units = 200000;
  p->end_use = GREENLIGHT__V1__END_USE__END_USE_COMMERCIAL_CLOUD;
  p->domestic_units_committed = 50000;
  env.event_id = "E-1";
  env.occurred_at_ms = 1767571200000;
  env.source = "erp";
  env.payload_case = GREENLIGHT__V1__ENVELOPE__PAYLOAD_ORDER_PLACED;
  env.order_placed = p;
  return env;
}

static void test_round_trip(void **state) {
  (void)state;
  Greenlight__V1__OrderPlaced p;
  Greenlight__V1__Envelope env = placed_env(&p);
  uint8_t *buf;
  size_t n = pack_env(&env, &buf);
  const char *reason = "unset";
  char detail[256];
  gl_envelope_t *d = gl_envelope_decode(buf, n, &reason, detail, sizeof(detail));
  assert_non_null(d);
  assert_null(reason);
  assert_string_equal(gl_envelope_type(d), "OrderPlaced");
  assert_string_equal(gl_envelope_order_id(d), "O-1");
  assert_int_equal(d->order_placed->units, 200000);
  assert_int_equal(d->occurred_at_ms, 1767571200000);
  gl_envelope_free(d);
  free(buf);
}

static void expect_reject(const void *buf, size_t n, const char *want, const char *detail_part) {
  const char *reason = NULL;
  char detail[256] = "";
  gl_envelope_t *d = gl_envelope_decode(buf, n, &reason, detail, sizeof(detail));
  assert_null(d);
  assert_string_equal(reason, want);
  assert_non_null(strstr(detail, detail_part));
}

static void test_garbage_is_decode_error(void **state) {
  (void)state;
  const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x01};
  expect_reject(junk, sizeof(junk), "decode_error", "not a greenlight.v1.Envelope");
  expect_reject(NULL, 0, "decode_error", "empty");
}

static void test_unknown_payload(void **state) {
  (void)state;
  /* event_id "E" (field 1) then field 99 (a payload from a newer version). */
  const uint8_t rec[] = {0x0a, 0x01, 'E', 0x10, 0x01, 0x9a, 0x06, 0x02, 0x08, 0x01};
  expect_reject(rec, sizeof(rec), "unknown_payload", "no payload known");
}

static void test_unknown_enum(void **state) {
  (void)state;
  Greenlight__V1__OrderPlaced p;
  Greenlight__V1__Envelope env = placed_env(&p);
  p.end_use = 42;
  uint8_t *buf;
  size_t n = pack_env(&env, &buf);
  expect_reject(buf, n, "unknown_enum", "end_use: unknown enum value 42");
  free(buf);
}

static void test_invalid_fields(void **state) {
  (void)state;
  Greenlight__V1__OrderPlaced p;
  Greenlight__V1__Envelope env = placed_env(&p);
  uint8_t *buf;
  size_t n;
  env.event_id = "";
  n = pack_env(&env, &buf);
  expect_reject(buf, n, "invalid", "event_id");
  free(buf);
  env.event_id = "E-1";
  env.occurred_at_ms = 0;
  n = pack_env(&env, &buf);
  expect_reject(buf, n, "invalid", "occurred_at_ms");
  free(buf);
  env.occurred_at_ms = 5;
  p.order_id = "";
  n = pack_env(&env, &buf);
  expect_reject(buf, n, "invalid", "OrderPlaced.order_id");
  free(buf);
}

static void test_unknown_fields_are_ignored(void **state) {
  (void)state;
  Greenlight__V1__OrderPlaced p;
  Greenlight__V1__Envelope env = placed_env(&p);
  uint8_t *buf;
  size_t n = pack_env(&env, &buf);
  /* Append field 50 (varint) from a newer writer: still decodes. */
  uint8_t *ext = malloc(n + 3);
  memcpy(ext, buf, n);
  ext[n] = 0x90; ext[n + 1] = 0x03; ext[n + 2] = 0x07;
  const char *reason = NULL;
  char detail[256];
  gl_envelope_t *d = gl_envelope_decode(ext, n + 3, &reason, detail, sizeof(detail));
  assert_non_null(d);
  assert_string_equal(gl_envelope_order_id(d), "O-1");
  gl_envelope_free(d);
  free(ext);
  free(buf);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_round_trip),
      cmocka_unit_test(test_garbage_is_decode_error),
      cmocka_unit_test(test_unknown_payload),
      cmocka_unit_test(test_unknown_enum),
      cmocka_unit_test(test_invalid_fields),
      cmocka_unit_test(test_unknown_fields_are_ignored),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
