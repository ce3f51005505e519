/* Unit tests of gl_json: descriptor-driven protobuf <-> JSON conversion. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "greenlight/gl_codec.h"
#include "greenlight/gl_json.h"

/* Parses a JSON text that the test itself wrote; a typo there is a test bug. */
static json_t *parse(const char *text) {
  json_error_t jerr;
  json_t *j = json_loads(text, 0, &jerr);
  if (!j) fail_msg("bad JSON in test: %s: %s", jerr.text, text);
  return j;
}

/* Converts text to a message of type name; fails the test on error. */
static ProtobufCMessage *to_msg(const char *name, const char *text) {
  const ProtobufCMessageDescriptor *d = gl_json_descriptor(name);
  assert_non_null(d);
  json_t *j = parse(text);
  char err[256];
  ProtobufCMessage *m = gl_json_to_message(d, j, err, sizeof err);
  if (!m) fail_msg("%s: %s", name, err);
  json_decref(j);
  return m;
}

/* Converts text expecting failure; returns the error text (static buffer). */
static const char *to_msg_err(const char *name, const char *text) {
  static char err[256];
  json_t *j = parse(text);
  ProtobufCMessage *m = gl_json_to_message(gl_json_descriptor(name), j, err, sizeof err);
  json_decref(j);
  if (m) {
    protobuf_c_message_free_unpacked(m, NULL);
    fail_msg("%s: conversion of %s should have failed", name, text);
  }
  assert_true(err[0] != '\0');
  return err;
}

/* JSON -> message -> pack -> unpack -> JSON, and the result must equal the
 * input. The inputs use canonical forms, so equality is exact. */
static void round_trip(const char *name, const char *text) {
  ProtobufCMessage *m = to_msg(name, text);
  uint8_t *buf = NULL;
  size_t len = gl_message_pack(m, &buf);
  ProtobufCMessage *back = protobuf_c_message_unpack(m->descriptor, NULL, len, buf);
  assert_non_null(back);
  json_t *out = gl_json_from_message(back, 0);
  json_t *in = parse(text);
  if (!json_equal(in, out)) {
    char *s = json_dumps(out, JSON_COMPACT);
    fail_msg("%s round trip differs:\n in: %s\nout: %s", name, text, s);
  }
  json_decref(in);
  json_decref(out);
  free(buf);
  protobuf_c_message_free_unpacked(back, NULL);
  protobuf_c_message_free_unpacked(m, NULL);
}

static void test_round_trip_inputs(void **state) {
  (void)state;
  round_trip("greenlight.v1.OrderPlaced",
             "{\"order_id\":\"O-BD-1\",\"buyer_id\":\"bytedance\",\"buyer_name\":\"ByteDance\","
             "\"product\":\"NVIDIA H200\",\"units\":220000,\"end_use\":\"END_USE_COMMERCIAL_CLOUD\","
             "\"domestic_units_committed\":60000}");
  round_trip("greenlight.v1.OrderCancelled", "{\"order_id\":\"O-1\",\"reason\":\"budget cut\"}");
  round_trip("greenlight.v1.ApprovalGranted",
             "{\"order_id\":\"O-1\",\"approval_id\":\"BIS-1\","
             "\"authority\":\"AUTHORITY_US_EXPORT_LICENSE\",\"units_approved\":200000,"
             "\"required_domestic_ratio_bp\":2500,\"valid_until_ms\":1767571200000,"
             "\"batch_id\":\"CN-2026-B1\"}");
  round_trip("greenlight.v1.ApprovalDenied",
             "{\"order_id\":\"O-1\",\"approval_id\":\"MOFCOM-9\","
             "\"authority\":\"AUTHORITY_CN_IMPORT_APPROVAL\",\"reason\":\"quota\"}");
  round_trip("greenlight.v1.BatchQueued",
             "{\"order_id\":\"O-1\",\"batch_id\":\"CN-2026-B1\",\"batch_seq\":1,\"position\":3,"
             "\"batch_unit_cap\":450000}");
  round_trip("greenlight.v1.ShipmentCleared",
             "{\"order_id\":\"O-1\",\"shipment_id\":\"SH-1\",\"units\":100000,"
             "\"customs_office\":\"Shanghai Pudong\"}");
  round_trip("greenlight.v1.Tick", "{\"clock_id\":\"clockd-1\",\"partition\":2}");
}

static void test_round_trip_envelopes(void **state) {
  (void)state;
  const char *payloads[] = {
      "\"order_placed\":{\"order_id\":\"O-1\",\"units\":5,\"end_use\":\"END_USE_AI_RESEARCH\"}",
      "\"order_cancelled\":{\"order_id\":\"O-1\"}",
      "\"approval_granted\":{\"order_id\":\"O-1\",\"authority\":\"AUTHORITY_CN_IMPORT_APPROVAL\"}",
      "\"approval_denied\":{\"order_id\":\"O-1\",\"reason\":\"no\"}",
      "\"batch_queued\":{\"order_id\":\"O-1\",\"batch_seq\":2}",
      "\"shipment_cleared\":{\"order_id\":\"O-1\",\"units\":7}",
      "\"tick\":{\"partition\":1}",
      /* A oneof member that is set but empty is still written. */
      "\"tick\":{}",
  };
  for (size_t i = 0; i < sizeof payloads / sizeof payloads[0]; i++) {
    char text[512];
    snprintf(text, sizeof text,
             "{\"event_id\":\"E-%zu\",\"occurred_at_ms\":1767571200000,\"source\":\"test\","
             "\"correlation_id\":\"C-1\",%s}",
             i, payloads[i]);
    round_trip("greenlight.v1.Envelope", text);
  }
}

static void test_round_trip_outputs(void **state) {
  (void)state;
  round_trip("greenlight.v1.Cause",
             "{\"event_id\":\"E-1\",\"event_type\":\"OrderPlaced\",\"topic\":\"greenlight.orders\","
             "\"partition\":3,\"offset\":42,\"occurred_at_ms\":1767571200000}");
  round_trip(
      "greenlight.v1.OrderStatus",
      "{\"order_id\":\"O-TC-1\",\"buyer_id\":\"tencent\",\"state\":\"ORDER_STATE_APPROVED\","
      "\"previous_state\":\"ORDER_STATE_QUEUED\",\"version\":5,\"reason_code\":\"approved\","
      "\"reason\":\"both authorities granted\",\"units_requested\":150000,"
      "\"units_export_approved\":150000,\"units_import_approved\":140000,"
      "\"units_effective\":120000,\"units_cleared\":1,\"batch_id\":\"CN-2026-B1\","
      "\"batch_seq\":1,\"queue_position\":3,\"valid_until_ms\":1768000000000,"
      "\"required_domestic_ratio_bp\":2500,\"domestic_units_committed\":30000,"
      "\"cause\":{\"event_id\":\"E-9\",\"event_type\":\"ApprovalGranted\",\"offset\":7},"
      "\"buyer_name\":\"Tencent\",\"product\":\"NVIDIA H200\","
      "\"end_use\":\"END_USE_CONSUMER_SERVICES\",\"export_approval_id\":\"BIS-3\","
      "\"import_approval_id\":\"MOFCOM-3\"}");
  round_trip("greenlight.v1.BatchStatus",
             "{\"batch_id\":\"CN-2026-B1\",\"batch_seq\":1,\"unit_cap\":450000,"
             "\"orders_queued\":1,\"orders_approved\":2,\"orders_denied\":3,\"orders_cleared\":4,"
             "\"units_requested\":5,\"units_approved\":6,\"units_cleared\":7,\"over_cap\":true,"
             "\"orders_waiting\":8,\"version\":9,\"updated_at_ms\":1767571200000}");
}

static void test_round_trip_state(void **state) {
  (void)state;
  round_trip("greenlight.v1.Grant",
             "{\"approval_id\":\"A\",\"units\":3,\"required_domestic_ratio_bp\":10,"
             "\"valid_until_ms\":4,\"batch_id\":\"B\"}");
  /* Bytes (base64, including padding), repeated strings and repeated messages. */
  round_trip("greenlight.v1.OrderRecord",
             "{\"status\":{\"order_id\":\"O-1\",\"version\":2},"
             "\"export_grant\":{\"approval_id\":\"X\"},\"import_grant\":{\"units\":9},"
             "\"seen_event_ids\":[\"E-1\",\"E-2\",\"E-3\"],"
             "\"parked\":[{\"envelope\":\"CgNFLTEQAQ==\",\"topic\":\"greenlight.shipments\","
             "\"partition\":1,\"offset\":5,\"occurred_at_ms\":6},{\"envelope\":\"AAEC\"}],"
             "\"closed_at_ms\":77}");
}

static void test_enum_name_variants(void **state) {
  (void)state;
  const char *forms[] = {"\"ORDER_STATE_APPROVED\"", "\"APPROVED\"", "\"approved\"",
                         "\"order_state_approved\"", "5", "\"5\""};
  for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
    char text[128];
    snprintf(text, sizeof text, "{\"state\":%s}", forms[i]);
    if (i == 5) {
      /* A number inside a string is not an enum name. */
      const char *err = to_msg_err("greenlight.v1.OrderStatus", text);
      assert_non_null(strstr(err, "'state'"));
      continue;
    }
    Greenlight__V1__OrderStatus *st =
        (Greenlight__V1__OrderStatus *)to_msg("greenlight.v1.OrderStatus", text);
    assert_int_equal(st->state, GREENLIGHT__V1__ORDER_STATE__ORDER_STATE_APPROVED);
    json_t *out = gl_json_from_message(&st->base, 0);
    assert_string_equal(json_string_value(json_object_get(out, "state")),
                        "ORDER_STATE_APPROVED");
    json_decref(out);
    protobuf_c_message_free_unpacked(&st->base, NULL);
  }
  /* Short names for the other enums of the contract. */
  Greenlight__V1__OrderPlaced *op = (Greenlight__V1__OrderPlaced *)to_msg(
      "greenlight.v1.OrderPlaced", "{\"end_use\":\"CRITICAL_INFRASTRUCTURE\"}");
  assert_int_equal(op->end_use, GREENLIGHT__V1__END_USE__END_USE_CRITICAL_INFRASTRUCTURE);
  protobuf_c_message_free_unpacked(&op->base, NULL);
  Greenlight__V1__ApprovalGranted *ag = (Greenlight__V1__ApprovalGranted *)to_msg(
      "greenlight.v1.ApprovalGranted", "{\"authority\":\"US_EXPORT_LICENSE\"}");
  assert_int_equal(ag->authority, GREENLIGHT__V1__AUTHORITY__AUTHORITY_US_EXPORT_LICENSE);
  protobuf_c_message_free_unpacked(&ag->base, NULL);

  /* An unknown name is an error naming the field and the enum. */
  const char *err = to_msg_err("greenlight.v1.OrderStatus", "{\"state\":\"APPROVE\"}");
  assert_non_null(strstr(err, "'state'"));
  assert_non_null(strstr(err, "greenlight.v1.OrderState"));
  /* An unknown number is kept (open enum) and written back as a number. */
  round_trip("greenlight.v1.OrderStatus", "{\"state\":99}");
}

static void test_unknown_key(void **state) {
  (void)state;
  const char *err = to_msg_err("greenlight.v1.OrderPlaced", "{\"order_id\":\"O\",\"untis\":5}");
  assert_non_null(strstr(err, "'untis'"));
  assert_non_null(strstr(err, "greenlight.v1.OrderPlaced"));
  err = to_msg_err("greenlight.v1.Envelope",
                   "{\"event_id\":\"E\",\"order_placed\":{\"order_id\":\"O\",\"colour\":1}}");
  assert_non_null(strstr(err, "'order_placed.colour'"));
  err = to_msg_err("greenlight.v1.OrderRecord", "{\"parked\":[{},{\"topicc\":\"t\"}]}");
  assert_non_null(strstr(err, "'parked[1].topicc'"));
}

static void test_wrong_type(void **state) {
  (void)state;
  const char *err = to_msg_err("greenlight.v1.OrderPlaced", "{\"units\":\"many\"}");
  assert_non_null(strstr(err, "'units'"));
  assert_non_null(strstr(err, "expected an integer"));
  err = to_msg_err("greenlight.v1.OrderPlaced", "{\"units\":1.5}");
  assert_non_null(strstr(err, "'units'"));
  err = to_msg_err("greenlight.v1.OrderPlaced", "{\"order_id\":7}");
  assert_non_null(strstr(err, "'order_id'"));
  assert_non_null(strstr(err, "expected a string"));
  err = to_msg_err("greenlight.v1.BatchStatus", "{\"over_cap\":1}");
  assert_non_null(strstr(err, "'over_cap'"));
  assert_non_null(strstr(err, "boolean"));
  err = to_msg_err("greenlight.v1.Envelope", "{\"tick\":[]}");
  assert_non_null(strstr(err, "'tick'"));
  assert_non_null(strstr(err, "object"));
  err = to_msg_err("greenlight.v1.OrderRecord", "{\"seen_event_ids\":\"E-1\"}");
  assert_non_null(strstr(err, "'seen_event_ids'"));
  assert_non_null(strstr(err, "array"));
  err = to_msg_err("greenlight.v1.ParkedEvent", "{\"envelope\":\"not base64!\"}");
  assert_non_null(strstr(err, "'envelope'"));
  assert_non_null(strstr(err, "base64"));
  err = to_msg_err("greenlight.v1.BatchQueued", "{\"batch_seq\":3000000000}");
  assert_non_null(strstr(err, "'batch_seq'"));
  assert_non_null(strstr(err, "out of range"));
  /* Two members of one oneof. */
  err = to_msg_err("greenlight.v1.Envelope", "{\"tick\":{},\"order_cancelled\":{}}");
  assert_non_null(strstr(err, "oneof"));
  /* The top level must be an object. */
  char buf[128];
  json_t *arr = parse("[1]");
  assert_null(gl_json_to_message(&greenlight__v1__tick__descriptor, arr, buf, sizeof buf));
  assert_non_null(strstr(buf, "object"));
  json_decref(arr);
}

static void test_int64_from_string(void **state) {
  (void)state;
  Greenlight__V1__OrderPlaced *op = (Greenlight__V1__OrderPlaced *)to_msg(
      "greenlight.v1.OrderPlaced",
      "{\"units\":\"250000\",\"domestic_units_committed\":\"9007199254740993\"}");
  assert_int_equal(op->units, 250000);
  assert_true(op->domestic_units_committed == INT64_C(9007199254740993));
  protobuf_c_message_free_unpacked(&op->base, NULL);
  /* Integral numbers in float notation are integers too. */
  op = (Greenlight__V1__OrderPlaced *)to_msg("greenlight.v1.OrderPlaced", "{\"units\":2e5}");
  assert_int_equal(op->units, 200000);
  protobuf_c_message_free_unpacked(&op->base, NULL);
  Greenlight__V1__Envelope *env = (Greenlight__V1__Envelope *)to_msg(
      "greenlight.v1.Envelope", "{\"occurred_at_ms\":\"-1767571200000\"}");
  assert_true(env->occurred_at_ms == INT64_C(-1767571200000));
  protobuf_c_message_free_unpacked(&env->base, NULL);
  const char *err = to_msg_err("greenlight.v1.OrderPlaced", "{\"units\":\"12x\"}");
  assert_non_null(strstr(err, "'units'"));
  err = to_msg_err("greenlight.v1.OrderPlaced", "{\"units\":\" 12\"}");
  assert_non_null(strstr(err, "'units'"));
  err = to_msg_err("greenlight.v1.OrderPlaced", "{\"units\":\"99999999999999999999\"}");
  assert_non_null(strstr(err, "out of range"));
}

static void test_defaults(void **state) {
  (void)state;
  ProtobufCMessage *m = to_msg("greenlight.v1.OrderStatus", "{\"order_id\":\"O-1\",\"version\":0}");
  json_t *out = gl_json_from_message(m, 0);
  json_t *want = parse("{\"order_id\":\"O-1\"}");
  assert_true(json_equal(out, want));
  json_decref(out);
  json_decref(want);
  out = gl_json_from_message(m, GL_JSON_EMIT_DEFAULTS);
  assert_int_equal(json_integer_value(json_object_get(out, "version")), 0);
  assert_string_equal(json_string_value(json_object_get(out, "state")),
                      "ORDER_STATE_UNSPECIFIED");
  assert_string_equal(json_string_value(json_object_get(out, "reason")), "");
  /* An unset sub-message stays absent even then. */
  assert_null(json_object_get(out, "cause"));
  json_decref(out);
  protobuf_c_message_free_unpacked(m, NULL);

  /* null means absent; camelCase keys are accepted. */
  Greenlight__V1__OrderPlaced *op = (Greenlight__V1__OrderPlaced *)to_msg(
      "greenlight.v1.OrderPlaced", "{\"orderId\":\"O-2\",\"buyer_id\":null,\"units\":1}");
  assert_string_equal(op->order_id, "O-2");
  assert_string_equal(op->buyer_id, "");
  protobuf_c_message_free_unpacked(&op->base, NULL);
  const char *err =
      to_msg_err("greenlight.v1.OrderPlaced", "{\"orderId\":\"O-2\",\"order_id\":\"O-3\"}");
  assert_non_null(strstr(err, "twice"));
}

static void test_descriptors(void **state) {
  (void)state;
  const char *names[] = {
      "greenlight.v1.Envelope",        "greenlight.v1.OrderPlaced",
      "greenlight.v1.OrderCancelled",  "greenlight.v1.ApprovalGranted",
      "greenlight.v1.ApprovalDenied",  "greenlight.v1.BatchQueued",
      "greenlight.v1.ShipmentCleared", "greenlight.v1.Tick",
      "greenlight.v1.Cause",           "greenlight.v1.OrderStatus",
      "greenlight.v1.BatchStatus",     "greenlight.v1.ParkedEvent",
      "greenlight.v1.Grant",           "greenlight.v1.OrderRecord"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    const ProtobufCMessageDescriptor *d = gl_json_descriptor(names[i]);
    assert_non_null(d);
    assert_string_equal(d->name, names[i]);
  }
  assert_null(gl_json_descriptor("OrderStatus"));
  assert_null(gl_json_descriptor("greenlight.v2.OrderStatus"));
  assert_null(gl_json_descriptor(NULL));
}

static void test_invalid_utf8_output(void **state) {
  (void)state;
  Greenlight__V1__OrderCancelled oc = GREENLIGHT__V1__ORDER_CANCELLED__INIT;
  char bad[] = {'o', 'k', (char)0xFF, 'x', 0};
  oc.reason = bad;
  json_t *out = gl_json_from_message(&oc.base, 0);
  assert_non_null(out);
  assert_string_equal(json_string_value(json_object_get(out, "reason")), "ok\xEF\xBF\xBDx");
  json_decref(out);
}

/* Every line of the seed scenario converts to an Envelope that passes the
 * codec's validation once the CLI's routing keys are stripped. */
static void test_seed_lines_convert(void **state) {
  (void)state;
  FILE *f = fopen(GL_TEST_DATA "/seed.jsonl", "r");
  assert_non_null(f);
  char *line = NULL;
  size_t cap = 0;
  int n = 0;
  while (getline(&line, &cap, f) > 0) {
    n++;
    json_t *j = parse(line);
    json_object_del(j, "topic");
    json_object_del(j, "key");
    char err[256];
    ProtobufCMessage *m = gl_json_to_message(&greenlight__v1__envelope__descriptor, j, err,
                                             sizeof err);
    if (!m) fail_msg("seed.jsonl line %d: %s", n, err);
    uint8_t *buf = NULL;
    size_t len = gl_message_pack(m, &buf);
    const char *reason = NULL;
    char detail[256];
    const char *key = gl_envelope_order_id((const gl_envelope_t *)m);
    gl_envelope_t *env =
        gl_envelope_decode(buf, len, key, key ? strlen(key) : 0, &reason, detail, sizeof detail);
    if (!env) fail_msg("seed.jsonl line %d: %s: %s", n, reason, detail);
    gl_envelope_free(env);
    free(buf);
    protobuf_c_message_free_unpacked(m, NULL);
    json_decref(j);
  }
  free(line);
  fclose(f);
  assert_true(n >= 15);
}

/* seed.expected names every order of the seed scenario exactly once, and
 * only orders the scenario places, each with a valid state name. */
static void test_seed_expected_matches(void **state) {
  (void)state;
  char placed[32][64];
  int n_placed = 0;
  FILE *f = fopen(GL_TEST_DATA "/seed.jsonl", "r");
  assert_non_null(f);
  char *line = NULL;
  size_t cap = 0;
  while (getline(&line, &cap, f) > 0) {
    json_t *j = parse(line);
    json_t *op = json_object_get(j, "order_placed");
    if (op) {
      assert_true(n_placed < 32);
      snprintf(placed[n_placed++], 64, "%s", json_string_value(json_object_get(op, "order_id")));
    }
    json_decref(j);
  }
  fclose(f);
  f = fopen(GL_TEST_DATA "/seed.expected", "r");
  assert_non_null(f);
  int n_expected = 0;
  while (getline(&line, &cap, f) > 0) {
    char order_id[64], state_name[64];
    assert_int_equal(sscanf(line, "%63s %63s", order_id, state_name), 2);
    assert_non_null(protobuf_c_enum_descriptor_get_value_by_name(
        &greenlight__v1__order_state__descriptor, state_name));
    int found = 0;
    for (int i = 0; i < n_placed; i++) found += strcmp(placed[i], order_id) == 0;
    if (found != 1) fail_msg("seed.expected: %s is not placed exactly once in seed.jsonl", order_id);
    n_expected++;
  }
  free(line);
  fclose(f);
  assert_int_equal(n_expected, n_placed);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_round_trip_inputs),
      cmocka_unit_test(test_round_trip_envelopes),
      cmocka_unit_test(test_round_trip_outputs),
      cmocka_unit_test(test_round_trip_state),
      cmocka_unit_test(test_enum_name_variants),
      cmocka_unit_test(test_unknown_key),
      cmocka_unit_test(test_wrong_type),
      cmocka_unit_test(test_int64_from_string),
      cmocka_unit_test(test_defaults),
      cmocka_unit_test(test_descriptors),
      cmocka_unit_test(test_invalid_utf8_output),
      cmocka_unit_test(test_seed_lines_convert),
      cmocka_unit_test(test_seed_expected_matches),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
