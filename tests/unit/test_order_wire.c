/* Unit tests of order_wire.c and order_vformat(): the records orderd writes
 * by hand are byte for byte what protobuf-c packs, and its texts what
 * vsnprintf writes, on the edges the rule tests do not reach (negative
 * numbers, lengths that need two or three length bytes, empty
 * sub-messages, empty repeated entries, truncation). Sanitizer builds also
 * compare every record and text the other tests make (order_record.c). */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "order_internal.h"

#define ST(x) GREENLIGHT__V1__ORDER_STATE__ORDER_STATE_##x

static char *repeat(char c, size_t n) {
  char *s = malloc(n + 1);
  assert_non_null(s);
  memset(s, c, n);
  s[n] = '\0';
  return s;
}

/* Packs rec with protobuf-c, decodes it as an order and checks that the
 * order encodes to the same bytes, and its status to rec->status's. */
static void check_round_trip(Greenlight__V1__OrderRecord *rec) {
  uint8_t *want = NULL, *got = NULL, *st_want = NULL, *st_got = NULL;
  size_t n = gl_message_pack(&rec->base, &want);
  char err[256];
  order_t *o = order_decode(want, n, err, sizeof err);
  if (!o) fail_msg("order_decode: %s", err);
  size_t m = order_encode(o, &got);
  assert_int_equal(m, n);
  assert_memory_equal(got, want, n);
  size_t sn = gl_message_pack(&rec->status->base, &st_want);
  size_t sm = order_status_pack(o, &st_got);
  assert_int_equal(sm, sn);
  assert_memory_equal(st_got, st_want, sn);
  free(want), free(got), free(st_want), free(st_got);
  order_free(o);
}

static void test_minimal(void **state) {
  (void)state;
  Greenlight__V1__OrderRecord rec = GREENLIGHT__V1__ORDER_RECORD__INIT;
  Greenlight__V1__OrderStatus st = GREENLIGHT__V1__ORDER_STATUS__INIT;
  st.order_id = "O-1";
  st.state = ST(ACCEPTED);
  st.version = 1;
  rec.status = &st;
  check_round_trip(&rec);
}

/* Negative int32 and enum-free int64 fields, an empty grant, a cause with
 * only its time, an empty seen id and a parked event without bytes. */
static void test_negative_and_empty(void **state) {
  (void)state;
  Greenlight__V1__OrderRecord rec = GREENLIGHT__V1__ORDER_RECORD__INIT;
  Greenlight__V1__OrderStatus st = GREENLIGHT__V1__ORDER_STATUS__INIT;
  Greenlight__V1__Cause c = GREENLIGHT__V1__CAUSE__INIT;
  Greenlight__V1__Grant eg = GREENLIGHT__V1__GRANT__INIT, ig = GREENLIGHT__V1__GRANT__INIT;
  Greenlight__V1__ParkedEvent p1 = GREENLIGHT__V1__PARKED_EVENT__INIT;
  Greenlight__V1__ParkedEvent p2 = GREENLIGHT__V1__PARKED_EVENT__INIT;
  Greenlight__V1__ParkedEvent *parked[] = {&p1, &p2};
  char *seen[] = {"E-1", "", "E-3"};
  uint8_t env[] = {0x0a, 0x03, 'E', '-', '9', 0x10, 0x01};
  st.order_id = "O-2";
  st.state = ST(QUEUED);
  st.previous_state = ST(ACCEPTED);
  st.version = 2;
  st.batch_seq = -1;
  st.queue_position = INT32_MIN;
  st.required_domestic_ratio_bp = -5;
  st.valid_until_ms = -1;
  st.batch_unit_cap = INT64_MIN;
  st.domestic_units_committed = INT64_MAX;
  c.occurred_at_ms = 1;
  st.cause = &c;
  ig.required_domestic_ratio_bp = -7;
  ig.units = 3;
  rec.status = &st;
  rec.export_grant = &eg; /* Present, every field 0: an empty sub-message. */
  rec.import_grant = &ig;
  rec.n_seen_event_ids = 3;
  rec.seen_event_ids = seen;
  p1.topic = "greenlight.orders";
  p1.partition = -2;
  p1.offset = -3;
  p2.envelope.data = env;
  p2.envelope.len = sizeof env;
  p2.occurred_at_ms = 7;
  rec.n_parked = 2;
  rec.parked = parked;
  rec.closed_at_ms = -9;
  check_round_trip(&rec);
}

/* Strings whose lengths need two and three length bytes, a cause over 127
 * bytes and a status over 16383 bytes (its length takes three bytes in the
 * OrderRecord). */
static void test_long_fields(void **state) {
  (void)state;
  char *reason = repeat('r', 20000), *name = repeat('n', 300), *topic = repeat('t', 249);
  char *eid = repeat('e', 128);
  Greenlight__V1__OrderRecord rec = GREENLIGHT__V1__ORDER_RECORD__INIT;
  Greenlight__V1__OrderStatus st = GREENLIGHT__V1__ORDER_STATUS__INIT;
  Greenlight__V1__Cause c = GREENLIGHT__V1__CAUSE__INIT;
  st.order_id = eid;
  st.buyer_name = name;
  st.product = "NVIDIA H200";
  st.reason = reason;
  st.reason_code = "accepted";
  st.state = ST(ACCEPTED);
  st.version = 300;
  c.event_id = eid;
  c.event_type = "OrderPlaced";
  c.topic = topic;
  c.partition = 3;
  c.offset = 1LL << 40;
  st.cause = &c;
  rec.status = &st;
  check_round_trip(&rec);
  free(reason), free(name), free(topic), free(eid);
}

static void vformat(char *buf, size_t size, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  order_vformat(buf, size, fmt, ap);
  va_end(ap);
}

/* vsnprintf through a function the compiler does not check, so that the
 * truncating calls below build under -Werror. */
static void reference(char *buf, size_t size, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, size, fmt, ap);
  va_end(ap);
}

/* Writes with order_vformat() and vsnprintf() into buffers of size, and
 * checks they agree. */
#define SAME_TEXT(size, ...)                  \
  do {                                        \
    char a[size], b[size];                    \
    memset(a, 'x', size);                     \
    vformat(a, size, __VA_ARGS__);            \
    reference(b, size, __VA_ARGS__);          \
    assert_string_equal(a, b);                \
  } while (0)

static void test_vformat(void **state) {
  (void)state;
  SAME_TEXT(256, "rule 1: %lld units for %s (%d bp); %zu parked, 100%%", LLONG_MIN, "x", INT_MIN,
            (size_t)SIZE_MAX);
  SAME_TEXT(256, "%lld %d %zu", LLONG_MAX, INT_MAX, (size_t)0);
  SAME_TEXT(256, "%s and %s", "", "end");
  SAME_TEXT(256, "no conversion at all");
  SAME_TEXT(256, "%5d and %.2s go to vsnprintf", 42, "abc");
  SAME_TEXT(8, "%s", "longer than eight");
  SAME_TEXT(8, "1234567%lld", 89LL);
  SAME_TEXT(1, "%d", 5);
  SAME_TEXT(3, "%lld", -12345LL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_minimal),     cmocka_unit_test(test_negative_and_empty),
      cmocka_unit_test(test_long_fields), cmocka_unit_test(test_vformat),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
