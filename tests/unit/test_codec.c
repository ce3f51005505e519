/* Unit tests for gl_codec: round trips, every rejection reason, the
 * hostile-input checks (UTF-8, NUL bytes, limits, record key) and the
 * payload checks a writer runs before sending (gl_envelope_validate). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "greenlight/gl_codec.h"

/* The codec knows no order state: its header neither defines the
 * repartition key (batchd's header does) nor brings the store messages. */
#ifdef GL_BATCH_KEY_WAITING
#error "gl_codec.h defines GL_BATCH_KEY_WAITING again"
#endif
#ifdef PROTOBUF_C_greenlight_2fv1_2fstate_2eproto__INCLUDED
#error "gl_codec.h includes state.pb-c.h again"
#endif

#include "batch_repartition.h"

#define T0 1767571200000

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
  env.occurred_at_ms = T0;
  env.source = "erp";
  env.payload_case = GREENLIGHT__V1__ENVELOPE__PAYLOAD_ORDER_PLACED;
  env.order_placed = p;
  return env;
}

/* Decodes buf with the given key; returns whether it was accepted, with
 * the reason and detail of a refusal. */
static int decode_ok(const void *buf, size_t n, const void *key, size_t key_len,
                     const char **reason, char *detail, size_t detail_len) {
  *reason = "unset";
  detail[0] = '\0';
  gl_envelope_t *d = gl_envelope_decode(buf, n, key, key_len, reason, detail, detail_len);
  if (!d) return 0;
  assert_null(*reason);
  gl_envelope_free(d);
  return 1;
}

static void expect_reject_key(const void *buf, size_t n, const void *key, size_t key_len,
                              const char *want, const char *detail_part) {
  const char *reason;
  char detail[512];
  if (decode_ok(buf, n, key, key_len, &reason, detail, sizeof detail))
    fail_msg("accepted, expected %s (%s)", want, detail_part);
  if (strcmp(reason, want) != 0 || !strstr(detail, detail_part))
    fail_msg("got %s \"%s\", expected %s \"...%s...\"", reason, detail, want, detail_part);
}

static void expect_accept_key(const void *buf, size_t n, const void *key, size_t key_len) {
  const char *reason;
  char detail[512];
  if (!decode_ok(buf, n, key, key_len, &reason, detail, sizeof detail))
    fail_msg("refused: %s: %s", reason, detail);
}

/* The record as upstream must send it: keyed by "O-1", the order_id of placed_env. */
static void expect_reject(const void *buf, size_t n, const char *want, const char *detail_part) {
  expect_reject_key(buf, n, "O-1", 3, want, detail_part);
}

static void expect_accept(const void *buf, size_t n) { expect_accept_key(buf, n, "O-1", 3); }

/* Packs env, in which the string s holds the byte 0x01, then turns that
 * byte into a NUL where s stands in the packed bytes: protobuf-c packs C
 * strings, so a NUL inside one can only be patched in. */
static size_t pack_with_nul(Greenlight__V1__Envelope *env, const char *s, uint8_t **out) {
  size_t n = pack_env(env, out), len = strlen(s);
  uint8_t *at = memmem(*out, n, s, len);
  assert_non_null(at);
  assert_null(memmem(at + 1, n - (size_t)(at - *out) - 1, s, len)); /* Only one place. */
  at[strchr(s, 0x01) - s] = 0x00;
  return n;
}

/* Appends length-delimited field `field` holding n bytes of v to buf. */
static size_t append_bytes_field(uint8_t **buf, size_t len, unsigned field, const void *v, size_t n) {
  *buf = realloc(*buf, len + 10 + n);
  assert_non_null(*buf);
  uint64_t vals[2] = {(uint64_t)field << 3 | 2, n};
  for (int k = 0; k < 2; k++) {
    uint64_t x = vals[k];
    do {
      (*buf)[len++] = (uint8_t)((x & 0x7f) | (x > 0x7f ? 0x80 : 0));
      x >>= 7;
    } while (x);
  }
  memcpy(*buf + len, v, n);
  return len + n;
}

/* ---- The existing contract ---------------------------------------------- */

static void test_round_trip(void **state) {
  (void)state;
  Greenlight__V1__OrderPlaced p;
  Greenlight__V1__Envelope env = placed_env(&p);
  uint8_t *buf;
  size_t n = pack_env(&env, &buf);
  const char *reason = "unset";
  char detail[256];
  gl_envelope_t *d = gl_envelope_decode(buf, n, "O-1", 3, &reason, detail, sizeof(detail));
  assert_non_null(d);
  assert_null(reason);
  assert_string_equal(gl_envelope_type(d), "OrderPlaced");
  assert_string_equal(gl_envelope_order_id(d), "O-1");
  assert_int_equal(d->order_placed->units, 200000);
  assert_int_equal(d->occurred_at_ms, T0);
  gl_envelope_free(d);
  free(buf);
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
  expect_reject(buf, n, "unknown_enum",
                "end_use: unknown enum value 42 (greenlight.v1.EndUse knows 0..6)");
  free(buf);
  /* The check itself, on the message in memory: GL_EINVAL (data, not a
   * setting), with the field named; GL_OK once the value is known. */
  char detail[256] = "";
  assert_int_equal(gl_message_check_enums(&env.base, detail, sizeof detail), GL_EINVAL);
  assert_non_null(strstr(detail, "OrderPlaced.end_use: unknown enum value 42"));
  p.end_use = GREENLIGHT__V1__END_USE__END_USE_COMMERCIAL_CLOUD;
  assert_int_equal(gl_message_check_enums(&env.base, detail, sizeof detail), GL_OK);
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
  expect_reject_key(buf, n, NULL, 0, "invalid", "OrderPlaced.order_id");
  free(buf);
}

static void test_unknown_fields_are_ignored(void **state) {
  (void)state;
  Greenlight__V1__OrderPlaced p;
  Greenlight__V1__Envelope env = placed_env(&p);
  uint8_t *buf;
  size_t n = pack_env(&env, &buf);
  /* From a newer writer: field 50 varint (10 bytes long), field 51 64-bit,
   * field 52 32-bit, field 53 length-delimited holding bytes that are not
   * UTF-8 (unknown fields are not strings to greenlight). Still decodes. */
  const uint8_t more[] = {0x90, 0x03, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
                          0x99, 0x03, 1, 2, 3, 4, 5, 6, 7, 8,
                          0xa5, 0x03, 1, 2, 3, 4};
  buf = realloc(buf, n + sizeof more);
  memcpy(buf + n, more, sizeof more);
  n = append_bytes_field(&buf, n + sizeof more, 53, "\xff\x00\xc0", 3);
  const char *reason = NULL;
  char detail[256];
  gl_envelope_t *d = gl_envelope_decode(buf, n, "O-1", 3, &reason, detail, sizeof(detail));
  assert_non_null(d);
  assert_string_equal(gl_envelope_order_id(d), "O-1");
  gl_envelope_free(d);
  free(buf);
}

static void test_group_wire_type_is_decode_error(void **state) {
  (void)state;
  Greenlight__V1__OrderPlaced p;
  Greenlight__V1__Envelope env = placed_env(&p);
  uint8_t *buf;
  size_t n = pack_env(&env, &buf);
  /* Field 50 as a proto2 group: start (wire type 3), end (wire type 4). */
  const uint8_t group[] = {0x93, 0x03, 0x94, 0x03};
  buf = realloc(buf, n + sizeof group);
  memcpy(buf + n, group, sizeof group);
  expect_reject(buf, n + sizeof group, "decode_error", "");
  free(buf);
}

/* ---- UTF-8 ---------------------------------------------------------------- */

static void test_utf8_valid_is_accepted(void **state) {
  (void)state;
  static const char *const ok[] = {
      "\xe9\x98\xbf\xe9\x87\x8c\xe5\xb7\xb4\xe5\xb7\xb4", /* 阿里巴巴 */
      "\xe5\xad\x97\xe8\x8a\x82\xe8\xb7\xb3\xe5\x8a\xa8", /* 字节跳动 */
      "Caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",         /* é, €, an emoji */
      "\xc2\x80",                                         /* U+0080, shortest 2-byte */
      "\xe0\xa0\x80",                                     /* U+0800, shortest 3-byte */
      "\xed\x9f\xbf",                                     /* U+D7FF, just below the surrogates */
      "\xee\x80\x80",                                     /* U+E000, just above them */
      "\xf0\x90\x80\x80",                                 /* U+10000, shortest 4-byte */
      "\xf4\x8f\xbf\xbf",                                 /* U+10FFFF, the last code point */
  };
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    Greenlight__V1__OrderPlaced p;
    Greenlight__V1__Envelope env = placed_env(&p);
    p.buyer_name = (char *)ok[i];
    uint8_t *buf;
    size_t n = pack_env(&env, &buf);
    const char *reason;
    char detail[256];
    gl_envelope_t *d = gl_envelope_decode(buf, n, "O-1", 3, &reason, detail, sizeof detail);
    if (!d) fail_msg("case %zu refused: %s: %s", i, reason, detail);
    assert_string_equal(d->order_placed->buyer_name, ok[i]);
    gl_envelope_free(d);
    free(buf);
  }
}

static void test_utf8_invalid_is_refused(void **state) {
  (void)state;
  static const struct {
    const char *s;
    const char *at; /* Expected offset, as the detail words it. */
  } bad[] = {
      {"\xc0\xaf", "at byte 0 (0xc0)"},               /* overlong "/" in 2 bytes */
      {"\xc1\xbf", "at byte 0 (0xc1)"},               /* overlong U+007F */
      {"ab\xe0\x80\xaf", "at byte 2 (0xe0)"},         /* overlong "/" in 3 bytes */
      {"\xe0\x9f\xbf", "at byte 0 (0xe0)"},           /* overlong U+07FF */
      {"\xf0\x80\x80\xaf", "at byte 0 (0xf0)"},       /* overlong "/" in 4 bytes */
      {"\xf0\x8f\xbf\xbf", "at byte 0 (0xf0)"},       /* overlong U+FFFF */
      {"x\x80", "at byte 1 (0x80)"},                  /* lone continuation byte */
      {"\xbf", "at byte 0 (0xbf)"},                   /* lone continuation byte */
      {"\xc3\xa9\x80", "at byte 2 (0x80)"},           /* one continuation too many */
      {"\xed\xa0\x80", "at byte 0 (0xed)"},           /* surrogate U+D800 */
      {"\xed\xbf\xbf", "at byte 0 (0xed)"},           /* surrogate U+DFFF */
      {"\xed\xa0\xbd\xed\xb8\x80", "at byte 0"},      /* CESU-8 surrogate pair */
      {"\xf4\x90\x80\x80", "at byte 0 (0xf4)"},       /* U+110000 */
      {"\xf5\x80\x80\x80", "at byte 0 (0xf5)"},       /* lead byte beyond Unicode */
      {"\xff", "at byte 0 (0xff)"},
      {"abc\xe4\xb8", "at byte 3 (0xe4)"},            /* truncated at the end */
      {"\xe4\xb8x", "at byte 0 (0xe4)"},              /* truncated before ASCII */
      {"\xf0\x9f\x98", "at byte 0 (0xf0)"},           /* truncated 4-byte */
      {"\xc3", "at byte 0 (0xc3)"},                   /* truncated 2-byte */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    Greenlight__V1__OrderPlaced p;
    Greenlight__V1__Envelope env = placed_env(&p);
    p.buyer_name = (char *)bad[i].s;
    uint8_t *buf;
    size_t n = pack_env(&env, &buf);
    char want[96];
    snprintf(want, sizeof want, "OrderPlaced.buyer_name is not valid UTF-8 %s", bad[i].at);
    expect_reject(buf, n, "invalid_utf8", want);
    free(buf);
  }
}

static void test_every_occurrence_is_checked(void **state) {
  (void)state;
  /* protobuf-c keeps the last occurrence of a repeated scalar field; the
   * earlier one, not UTF-8, must not slip through unseen. */
  Greenlight__V1__OrderPlaced p;
  Greenlight__V1__Envelope env = placed_env(&p);
  env.source = "\xff";
  uint8_t *buf;
  size_t n = pack_env(&env, &buf);
  n = append_bytes_field(&buf, n, 3, "erp", 3);
  expect_reject(buf, n, "invalid_utf8", "Envelope.source is not valid UTF-8 at byte 0");
  free(buf);
}

/* ---- NUL bytes ------------------------------------------------------------ */

static void test_nul_in_strings(void **state) {
  (void)state;
  Greenlight__V1__OrderPlaced p;
  Greenlight__V1__Envelope env = placed_env(&p);
  uint8_t *buf;
  p.order_id = "A\x01" "B";
  size_t n = pack_with_nul(&env, p.order_id, &buf);
  /* Keyed with the full three bytes: the key matches the wire, still refused. */
  expect_reject_key(buf, n, "A\0B", 3, "invalid", "OrderPlaced.order_id contains a NUL byte at byte 1");
  /* Keyed as protobuf-c's C string would have it ("A"): refused all the same. */
  expect_reject_key(buf, n, "A", 1, "invalid", "OrderPlaced.order_id contains a NUL byte");
  free(buf);
  p.order_id = "O-1";
  p.buyer_name = "Byte\x01" "Dance";
  n = pack_with_nul(&env, p.buyer_name, &buf);
  expect_reject(buf, n, "invalid", "OrderPlaced.buyer_name contains a NUL byte at byte 4");
  free(buf);
}

/* ---- Every string field, at every depth ---------------------------------- */

/* The documented limit of a string field, written again from gl_codec.h so
 * the test does not trust the codec's rule; a field not listed fails. */
static size_t expected_max(const char *field) {
  static const char *const ids[] = {"event_id",    "source",   "correlation_id",
                                    "order_id",    "buyer_id", "approval_id",
                                    "batch_id",    "shipment_id", "clock_id"};
  static const char *const texts[] = {"buyer_name", "product", "reason", "customs_office"};
  for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
    if (!strcmp(field, ids[i])) return GL_ID_MAX;
  for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
    if (!strcmp(field, texts[i])) return GL_TEXT_MAX;
  fail_msg("string field %s has no documented limit", field);
  return 0;
}

/* An envelope whose payload is the oneof member pf, with order_id "O-1"
 * where the payload has one. The payload is freed by the caller. */
static ProtobufCMessage *env_with_payload(Greenlight__V1__Envelope *env,
                                          const ProtobufCFieldDescriptor *pf) {
  const ProtobufCMessageDescriptor *d = pf->descriptor;
  greenlight__v1__envelope__init(env);
  env->event_id = "E-1";
  env->occurred_at_ms = T0;
  env->source = "erp";
  ProtobufCMessage *sub = malloc(d->sizeof_message);
  assert_non_null(sub);
  protobuf_c_message_init(d, sub);
  const ProtobufCFieldDescriptor *oid = protobuf_c_message_descriptor_get_field_by_name(d, "order_id");
  if (oid) *(const char **)((char *)sub + oid->offset) = "O-1";
  *(uint32_t *)((char *)env + pf->quantifier_offset) = pf->id;
  *(ProtobufCMessage **)((char *)env + pf->offset) = sub;
  return sub;
}

/* Packs env (patching the 0x01 of string nul to NUL, if given) and decodes
 * it keyed by its order_id as a C string; checks the verdict. */
static void field_case(Greenlight__V1__Envelope *env, const char *nul, const char *want,
                       const char *detail) {
  uint8_t *buf;
  size_t n = nul ? pack_with_nul(env, nul, &buf) : pack_env(env, &buf);
  const char *key = gl_envelope_order_id(env);
  if (want) expect_reject_key(buf, n, key, key ? strlen(key) : 0, want, detail);
  else expect_accept_key(buf, n, key, key ? strlen(key) : 0);
  free(buf);
}

/* For string field f of message m inside env: accepted at its limit,
 * too_large one byte above, invalid with a NUL, invalid_utf8 with a bad byte. */
static void check_string_field(Greenlight__V1__Envelope *env, ProtobufCMessage *m,
                               const ProtobufCFieldDescriptor *f) {
  const char **slot = (const char **)((char *)m + f->offset);
  const char *saved = *slot;
  size_t max = expected_max(f->name);
  char *s = malloc(max + 2), want[160];
  memset(s, 'a', max + 1);
  s[max] = '\0';
  *slot = s;
  field_case(env, NULL, NULL, NULL);
  s[max] = 'a';
  s[max + 1] = '\0';
  snprintf(want, sizeof want, "%s.%s is %zu bytes, more than the limit of %zu",
           m->descriptor->short_name, f->name, max + 1, max);
  field_case(env, NULL, "too_large", want);
  *slot = "<\x01>";
  snprintf(want, sizeof want, "%s.%s contains a NUL byte at byte 1", m->descriptor->short_name,
           f->name);
  field_case(env, *slot, "invalid", want);
  *slot = "a\xe9z";
  snprintf(want, sizeof want, "%s.%s is not valid UTF-8 at byte 1", m->descriptor->short_name,
           f->name);
  field_case(env, NULL, "invalid_utf8", want);
  *slot = saved;
  free(s);
}

static void test_every_string_field(void **state) {
  (void)state;
  const ProtobufCMessageDescriptor *ed = &greenlight__v1__envelope__descriptor;
  int checked = 0, payloads = 0;
  for (unsigned i = 0; i < ed->n_fields; i++) {
    const ProtobufCFieldDescriptor *pf = &ed->fields[i];
    if (!(pf->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)) continue;
    Greenlight__V1__Envelope env;
    ProtobufCMessage *sub = env_with_payload(&env, pf);
    ProtobufCMessage *owners[2] = {&env.base, sub};
    for (int o = payloads++ ? 1 : 0; o < 2; o++) { /* Envelope's own fields once. */
      const ProtobufCMessageDescriptor *d = owners[o]->descriptor;
      for (unsigned k = 0; k < d->n_fields; k++) {
        if (d->fields[k].type != PROTOBUF_C_TYPE_STRING) continue;
        check_string_field(&env, owners[o], &d->fields[k]);
        checked++;
      }
    }
    free(sub);
  }
  assert_int_equal(payloads, 7);
  /* Envelope 3, OrderPlaced 4, OrderCancelled 2, ApprovalGranted 3,
   * ApprovalDenied 3, BatchQueued 2, ShipmentCleared 3, Tick 1. */
  assert_int_equal(checked, 21);
}

static void test_multibyte_text_at_limit(void **state) {
  (void)state;
  /* 341 times 里 (3 bytes) and one "a": exactly GL_TEXT_MAX bytes; then one more. */
  char *s = malloc(GL_TEXT_MAX + 2);
  for (int i = 0; i < 341; i++) memcpy(s + 3 * i, "\xe9\x87\x8c", 3);
  strcpy(s + 1023, "a");
  Greenlight__V1__OrderPlaced p;
  Greenlight__V1__Envelope env = placed_env(&p);
  p.buyer_name = s;
  uint8_t *buf;
  size_t n = pack_env(&env, &buf);
  expect_accept(buf, n);
  free(buf);
  strcpy(s + 1023, "ab");
  n = pack_env(&env, &buf);
  expect_reject(buf, n, "too_large", "OrderPlaced.buyer_name is 1025 bytes, more than the limit of 1024");
  free(buf);
  free(s);
}

/* ---- The record's size ---------------------------------------------------- */

/* A valid envelope grown to exactly total bytes with an unknown field. */
static size_t padded_envelope(uint8_t **buf, size_t total) {
  Greenlight__V1__OrderPlaced p;
  Greenlight__V1__Envelope env = placed_env(&p);
  size_t n = pack_env(&env, buf);
  size_t pad = total - n - 4; /* 2 bytes of tag (field 50), 2 of length. */
  assert_true(pad >= 128 && pad < 16384);
  char *fill = calloc(1, pad);
  n = append_bytes_field(buf, n, 50, fill, pad);
  free(fill);
  assert_int_equal(n, total);
  return n;
}

static void test_record_size_limit(void **state) {
  (void)state;
  uint8_t *buf;
  size_t n = padded_envelope(&buf, GL_RECORD_MAX);
  expect_accept(buf, n);
  free(buf);
  n = padded_envelope(&buf, GL_RECORD_MAX + 1);
  expect_reject(buf, n, "too_large", "record value is 16385 bytes, more than the limit of 16384");
  free(buf);
  uint8_t *junk = malloc(GL_RECORD_MAX + 1);
  memset(junk, 0xff, GL_RECORD_MAX + 1);
  expect_reject(junk, GL_RECORD_MAX + 1, "too_large", "record value is 16385 bytes");
  free(junk);
}

/* ---- The record key --------------------------------------------------------- */

static void test_key_must_equal_order_id(void **state) {
  (void)state;
  Greenlight__V1__OrderPlaced p;
  Greenlight__V1__Envelope env = placed_env(&p);
  uint8_t *buf;
  size_t n = pack_env(&env, &buf);
  expect_accept_key(buf, n, "O-1", 3);
  expect_accept_key(buf, n, "O-1 and more", 3); /* Only key_len bytes are the key. */
  expect_reject_key(buf, n, "O-2", 3, "key_mismatch",
                    "record key \"O-2\" (3 bytes) differs from OrderPlaced.order_id \"O-1\" (3 bytes)");
  expect_reject_key(buf, n, "O-10", 4, "key_mismatch", "record key \"O-10\" (4 bytes)");
  expect_reject_key(buf, n, "O-", 2, "key_mismatch", "record key \"O-\" (2 bytes)");
  expect_reject_key(buf, n, "", 0, "key_mismatch", "record key \"\" (0 bytes)");
  expect_reject_key(buf, n, NULL, 0, "key_mismatch",
                    "record key is null, OrderPlaced.order_id is \"O-1\"");
  expect_reject_key(buf, n, "O-1\0", 4, "key_mismatch", "record key \"O-1\\x00\" (4 bytes)");
  expect_reject_key(buf, n, "O\0-1", 4, "key_mismatch", "record key \"O\\x00-1\" (4 bytes)");
  expect_reject_key(buf, n, "\xff\"\\", 3, "key_mismatch", "record key \"\\xff\\x22\\x5c\"");
  char longkey[300];
  memset(longkey, 'k', sizeof longkey);
  expect_reject_key(buf, n, longkey, sizeof longkey, "key_mismatch",
                    "kkkkkkkk...\" (300 bytes) differs");
  free(buf);
}

static void test_key_checked_for_every_order_payload(void **state) {
  (void)state;
  const ProtobufCMessageDescriptor *ed = &greenlight__v1__envelope__descriptor;
  for (unsigned i = 0; i < ed->n_fields; i++) {
    const ProtobufCFieldDescriptor *pf = &ed->fields[i];
    if (!(pf->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) || pf->descriptor == &greenlight__v1__tick__descriptor)
      continue;
    Greenlight__V1__Envelope env;
    ProtobufCMessage *sub = env_with_payload(&env, pf);
    uint8_t *buf;
    size_t n = pack_env(&env, &buf);
    char want[96];
    snprintf(want, sizeof want, "differs from %s.order_id \"O-1\"", sub->descriptor->short_name);
    expect_accept_key(buf, n, "O-1", 3);
    expect_reject_key(buf, n, "O-9", 3, "key_mismatch", want);
    free(buf);
    free(sub);
  }
}

static void test_tick_takes_any_key(void **state) {
  (void)state;
  Greenlight__V1__Envelope env = GREENLIGHT__V1__ENVELOPE__INIT;
  Greenlight__V1__Tick tick = GREENLIGHT__V1__TICK__INIT;
  tick.clock_id = "clockd-1";
  env.event_id = "clockd-1-0-1";
  env.occurred_at_ms = T0;
  env.payload_case = GREENLIGHT__V1__ENVELOPE__PAYLOAD_TICK;
  env.tick = &tick;
  uint8_t *buf;
  size_t n = pack_env(&env, &buf);
  char big[1000];
  memset(big, 0xff, sizeof big);
  expect_accept_key(buf, n, "tick", 4);
  expect_accept_key(buf, n, NULL, 0);
  expect_accept_key(buf, n, "a\0b", 3);
  expect_accept_key(buf, n, big, sizeof big);
  free(buf);
}

/* ---- The payload checks (gl_envelope_check_payload) ------------------------ */

/* An envelope around one payload of case pc, keyed "O-1" when packed. */
static Greenlight__V1__Envelope wrap(int pc, void *payload) {
  Greenlight__V1__Envelope env = GREENLIGHT__V1__ENVELOPE__INIT;
  env.event_id = "E-1";
  env.occurred_at_ms = T0;
  env.payload_case = pc;
  env.order_placed = payload; /* A oneof: every member shares this place. */
  return env;
}

/* Packs env and judges it as a writer does; NULL or the reason. */
static const char *validate(Greenlight__V1__Envelope *env, const char *key, char *detail,
                            size_t detail_len) {
  uint8_t *buf;
  size_t n = pack_env(env, &buf);
  detail[0] = '\0';
  const char *reason = gl_envelope_validate(buf, n, key, key ? strlen(key) : 0, detail, detail_len);
  free(buf);
  return reason;
}

static void expect_valid(Greenlight__V1__Envelope *env) {
  char detail[512];
  const char *reason = validate(env, "O-1", detail, sizeof detail);
  if (reason) fail_msg("refused: %s: %s", reason, detail);
}

static void expect_invalid(Greenlight__V1__Envelope *env, const char *detail_part) {
  char detail[512];
  const char *reason = validate(env, "O-1", detail, sizeof detail);
  if (!reason || strcmp(reason, "invalid") != 0 || !strstr(detail, detail_part))
    fail_msg("got %s \"%s\", expected invalid \"...%s...\"", reason ? reason : "accepted",
             detail, detail_part);
}

static void test_payload_placed(void **state) {
  (void)state;
  Greenlight__V1__OrderPlaced p;
  Greenlight__V1__Envelope env = placed_env(&p);
  expect_valid(&env);
  p.units = 0; /* The policy's to refuse, not the codec's. */
  expect_valid(&env);
  p.units = -5;
  expect_invalid(&env, "OrderPlaced E-1: units -5 and domestic_units_committed 50000 must be >= 0");
  p.units = 5;
  p.domestic_units_committed = -1;
  expect_invalid(&env, "domestic_units_committed -1 must be >= 0");
  p.domestic_units_committed = 0;
  p.buyer_id = "";
  expect_invalid(&env, "OrderPlaced E-1: buyer_id is required");
}

static void test_payload_approvals(void **state) {
  (void)state;
  Greenlight__V1__ApprovalGranted g = GREENLIGHT__V1__APPROVAL_GRANTED__INIT;
  g.order_id = "O-1";
  g.authority = GREENLIGHT__V1__AUTHORITY__AUTHORITY_US_EXPORT_LICENSE;
  g.units_approved = 10;
  Greenlight__V1__Envelope env = wrap(GREENLIGHT__V1__ENVELOPE__PAYLOAD_APPROVAL_GRANTED, &g);
  expect_valid(&env); /* An export grant needs no batch. */
  g.authority = GREENLIGHT__V1__AUTHORITY__AUTHORITY_CN_IMPORT_APPROVAL;
  expect_invalid(&env, "ApprovalGranted E-1: an import approval needs a batch_id");
  g.batch_id = "CN-B1";
  expect_valid(&env);
  g.valid_until_ms = -1;
  expect_invalid(&env, "valid_until_ms -1 must be >= 0");
  g.valid_until_ms = 0;
  g.authority = GREENLIGHT__V1__AUTHORITY__AUTHORITY_UNSPECIFIED;
  expect_invalid(&env, "ApprovalGranted E-1: authority 0 is not an authority");
  Greenlight__V1__ApprovalDenied d = GREENLIGHT__V1__APPROVAL_DENIED__INIT;
  d.order_id = "O-1";
  env = wrap(GREENLIGHT__V1__ENVELOPE__PAYLOAD_APPROVAL_DENIED, &d);
  expect_invalid(&env, "ApprovalDenied E-1: authority 0 is not an authority");
  d.authority = GREENLIGHT__V1__AUTHORITY__AUTHORITY_US_EXPORT_LICENSE;
  expect_valid(&env);
}

static void test_payload_batch_and_shipment(void **state) {
  (void)state;
  Greenlight__V1__BatchQueued b = GREENLIGHT__V1__BATCH_QUEUED__INIT;
  b.order_id = "O-1";
  b.batch_id = "CN-B1";
  b.batch_seq = 1;
  Greenlight__V1__Envelope env = wrap(GREENLIGHT__V1__ENVELOPE__PAYLOAD_BATCH_QUEUED, &b);
  expect_valid(&env);
  b.batch_seq = 0;
  expect_invalid(&env, "BatchQueued E-1: needs batch_id of 1..128 bytes (got 5), batch_seq >= 1 (got 0)");
  b.batch_seq = 1;
  b.position = -1;
  expect_invalid(&env, "position >= 0 (got -1)");
  b.position = 0;
  b.batch_id = "";
  expect_invalid(&env, "(got 0)");
  Greenlight__V1__ShipmentCleared s = GREENLIGHT__V1__SHIPMENT_CLEARED__INIT;
  s.order_id = "O-1";
  env = wrap(GREENLIGHT__V1__ENVELOPE__PAYLOAD_SHIPMENT_CLEARED, &s);
  expect_invalid(&env, "ShipmentCleared E-1: units must be > 0, got 0");
  s.units = 1;
  expect_valid(&env);
  Greenlight__V1__OrderCancelled c = GREENLIGHT__V1__ORDER_CANCELLED__INIT;
  c.order_id = "O-1";
  env = wrap(GREENLIGHT__V1__ENVELOPE__PAYLOAD_ORDER_CANCELLED, &c);
  expect_valid(&env);
}

/* gl_envelope_decode() leaves the payload to its reader (orderd drops a
 * repeated event_id first); gl_envelope_validate() runs the decode's checks
 * first, so a record refused by both names the decode's reason. */
static void test_validate_is_decode_then_payload(void **state) {
  (void)state;
  Greenlight__V1__OrderPlaced p;
  Greenlight__V1__Envelope env = placed_env(&p);
  p.buyer_id = "";
  uint8_t *buf;
  size_t n = pack_env(&env, &buf);
  expect_accept(buf, n);
  char detail[512];
  const char *reason = gl_envelope_validate(buf, n, "O-1", 3, detail, sizeof detail);
  assert_non_null(reason);
  assert_string_equal(reason, "invalid");
  reason = gl_envelope_validate(buf, n, "O-2", 3, detail, sizeof detail);
  assert_non_null(reason);
  assert_string_equal(reason, "key_mismatch");
  reason = gl_envelope_validate(buf, n, NULL, 0, detail, sizeof detail);
  assert_non_null(reason);
  assert_string_equal(reason, "key_mismatch");
  free(buf);
  const uint8_t junk[] = {0xff, 0xff, 0xff};
  reason = gl_envelope_validate(junk, sizeof junk, "O-1", 3, detail, sizeof detail);
  assert_non_null(reason);
  assert_string_equal(reason, "decode_error");
}

/* The repartition key left the codec for batchd's header (checked at the
 * includes above) and answers as before. */
static void test_batch_key_moved(void **state) {
  (void)state;
  assert_string_equal(gl_order_batch_key(GREENLIGHT__V1__ORDER_STATE__ORDER_STATE_QUEUED, "B1"),
                      "B1");
  assert_string_equal(gl_order_batch_key(GREENLIGHT__V1__ORDER_STATE__ORDER_STATE_ACCEPTED, ""),
                      GL_BATCH_KEY_WAITING);
  assert_string_equal(GL_BATCH_KEY_WAITING, "~waiting");
  assert_null(gl_order_batch_key(GREENLIGHT__V1__ORDER_STATE__ORDER_STATE_REJECTED, NULL));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_round_trip),
      cmocka_unit_test(test_garbage_is_decode_error),
      cmocka_unit_test(test_unknown_payload),
      cmocka_unit_test(test_unknown_enum),
      cmocka_unit_test(test_invalid_fields),
      cmocka_unit_test(test_unknown_fields_are_ignored),
      cmocka_unit_test(test_group_wire_type_is_decode_error),
      cmocka_unit_test(test_utf8_valid_is_accepted),
      cmocka_unit_test(test_utf8_invalid_is_refused),
      cmocka_unit_test(test_every_occurrence_is_checked),
      cmocka_unit_test(test_nul_in_strings),
      cmocka_unit_test(test_every_string_field),
      cmocka_unit_test(test_multibyte_text_at_limit),
      cmocka_unit_test(test_record_size_limit),
      cmocka_unit_test(test_key_must_equal_order_id),
      cmocka_unit_test(test_key_checked_for_every_order_payload),
      cmocka_unit_test(test_tick_takes_any_key),
      cmocka_unit_test(test_payload_placed),
      cmocka_unit_test(test_payload_approvals),
      cmocka_unit_test(test_payload_batch_and_shipment),
      cmocka_unit_test(test_validate_is_decode_then_payload),
      cmocka_unit_test(test_batch_key_moved),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
