/* gl_json: protobuf <-> JSON conversion driven by protobuf-c descriptors.
 * See include/greenlight/gl_json.h for the mapping.
 *
 * The converter never looks at generated structs by name: it walks the
 * field descriptors and reads or writes each field at its offset, so it
 * serves every message of the wire contract (and any future one). Messages
 * it builds are allocated with the default allocator, field by field, in
 * the same shape protobuf_c_message_unpack() produces, so that
 * protobuf_c_message_free_unpacked(msg, NULL) releases them. */
#include "greenlight/gl_json.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "greenlight/v1/greenlight.pb-c.h"
#include "greenlight/v1/state.pb-c.h"

/* Every message of package greenlight.v1, public contract and internal state. */
static const ProtobufCMessageDescriptor *const gl_json_known[] = {
    &greenlight__v1__envelope__descriptor,
    &greenlight__v1__order_placed__descriptor,
    &greenlight__v1__order_cancelled__descriptor,
    &greenlight__v1__approval_granted__descriptor,
    &greenlight__v1__approval_denied__descriptor,
    &greenlight__v1__batch_queued__descriptor,
    &greenlight__v1__shipment_cleared__descriptor,
    &greenlight__v1__tick__descriptor,
    &greenlight__v1__cause__descriptor,
    &greenlight__v1__order_status__descriptor,
    &greenlight__v1__batch_status__descriptor,
    &greenlight__v1__parked_event__descriptor,
    &greenlight__v1__grant__descriptor,
    &greenlight__v1__order_record__descriptor,
};

const ProtobufCMessageDescriptor *gl_json_descriptor(const char *full_name) {
  if (!full_name) return NULL;
  for (size_t i = 0; i < sizeof gl_json_known / sizeof gl_json_known[0]; i++) {
    if (strcmp(gl_json_known[i]->name, full_name) == 0) return gl_json_known[i];
  }
  return NULL;
}

/* ------------------------------------------------------------------------
 * Small helpers: base64, UTF-8, element sizes.
 * ---------------------------------------------------------------------- */

static const char gl_b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Encodes len bytes as padded standard base64 into a malloc'd string. */
static char *gl_b64_encode(const uint8_t *data, size_t len) {
  size_t out_len = 4 * ((len + 2) / 3);
  char *out = malloc(out_len + 1);
  if (!out) return NULL;
  size_t o = 0;
  for (size_t i = 0; i < len; i += 3) {
    uint32_t v = (uint32_t)data[i] << 16;
    if (i + 1 < len) v |= (uint32_t)data[i + 1] << 8;
    if (i + 2 < len) v |= data[i + 2];
    out[o++] = gl_b64_alphabet[(v >> 18) & 63];
    out[o++] = gl_b64_alphabet[(v >> 12) & 63];
    out[o++] = i + 1 < len ? gl_b64_alphabet[(v >> 6) & 63] : '=';
    out[o++] = i + 2 < len ? gl_b64_alphabet[v & 63] : '=';
  }
  out[o] = '\0';
  return out;
}

/* Returns the 6-bit value of a base64 character (standard or URL-safe
 * alphabet), or -1. */
static int gl_b64_value(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

/* Decodes base64 (padding optional) into a malloc'd buffer. Returns 0, or
 * -1 if s is not base64. An empty input gives *out = NULL, *out_len = 0. */
static int gl_b64_decode(const char *s, size_t n, uint8_t **out, size_t *out_len) {
  *out = NULL;
  *out_len = 0;
  while (n > 0 && s[n - 1] == '=') n--;
  if (n % 4 == 1) return -1;
  if (n == 0) return 0;
  uint8_t *buf = malloc(n * 3 / 4 + 3);
  if (!buf) return -1;
  size_t o = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n; i++) {
    int v = gl_b64_value((unsigned char)s[i]);
    if (v < 0) {
      free(buf);
      return -1;
    }
    acc = (acc << 6) | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      buf[o++] = (uint8_t)(acc >> bits);
      acc &= (1u << bits) - 1;
    }
  }
  *out = buf;
  *out_len = o;
  return 0;
}

/* Length of the valid UTF-8 sequence starting at s (at most n bytes), or 0
 * if the bytes there are not valid UTF-8. */
static size_t gl_utf8_seq(const unsigned char *s, size_t n) {
  unsigned char c = s[0];
  size_t len;
  uint32_t cp;
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
    cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    cp = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (len > n) return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (s[i] & 0x3F);
  }
  if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
      (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return len;
}

/* A JSON string for n bytes of s. Protobuf strings should be UTF-8, but a
 * decoder does not enforce it; invalid bytes become U+FFFD so that the
 * output is always valid JSON. */
static json_t *gl_json_string_lossy(const char *s, size_t n) {
  json_t *j = json_stringn(s, n);
  if (j) return j;
  char *buf = malloc(n * 3 + 1);
  if (!buf) return NULL;
  size_t o = 0;
  for (size_t i = 0; i < n;) {
    size_t k = gl_utf8_seq((const unsigned char *)s + i, n - i);
    if (k == 0) {
      memcpy(buf + o, "\xEF\xBF\xBD", 3);
      o += 3;
      i++;
    } else {
      memcpy(buf + o, s + i, k);
      o += k;
      i += k;
    }
  }
  j = json_stringn(buf, o);
  free(buf);
  return j;
}

/* Size of one element of a field's type, as laid out in a repeated array. */
static size_t gl_elem_size(ProtobufCType t) {
  switch (t) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_ENUM: return sizeof(int32_t);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: return sizeof(int64_t);
    case PROTOBUF_C_TYPE_FLOAT: return sizeof(float);
    case PROTOBUF_C_TYPE_DOUBLE: return sizeof(double);
    case PROTOBUF_C_TYPE_BOOL: return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING: return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES: return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE: return sizeof(ProtobufCMessage *);
  }
  return 0;
}

/* ------------------------------------------------------------------------
 * Message -> JSON.
 * ---------------------------------------------------------------------- */

/* True when one value of field f at p is its type's zero value. */
static bool gl_value_is_zero(const ProtobufCFieldDescriptor *f, const void *p) {
  switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_ENUM: return *(const int32_t *)p == 0;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: return *(const int64_t *)p == 0;
    case PROTOBUF_C_TYPE_FLOAT: return *(const float *)p == 0.0f && !signbit(*(const float *)p);
    case PROTOBUF_C_TYPE_DOUBLE:
      return *(const double *)p == 0.0 && !signbit(*(const double *)p);
    case PROTOBUF_C_TYPE_BOOL: return *(const protobuf_c_boolean *)p == 0;
    case PROTOBUF_C_TYPE_STRING: {
      const char *s = *(const char *const *)p;
      return s == NULL || s[0] == '\0';
    }
    case PROTOBUF_C_TYPE_BYTES: return ((const ProtobufCBinaryData *)p)->len == 0;
    case PROTOBUF_C_TYPE_MESSAGE: return *(const ProtobufCMessage *const *)p == NULL;
  }
  return true;
}

/* JSON for a floating-point value; proto3 JSON spells the non-finite ones
 * as strings. */
static json_t *gl_json_from_double(double d) {
  if (isnan(d)) return json_string("NaN");
  if (isinf(d)) return json_string(d > 0 ? "Infinity" : "-Infinity");
  return json_real(d);
}

/* A new JSON value for one value of field f stored at p. */
static json_t *gl_value_to_json(const ProtobufCFieldDescriptor *f, const void *p, int flags) {
  switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32: return json_integer(*(const int32_t *)p);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32: return json_integer(*(const uint32_t *)p);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64: return json_integer(*(const int64_t *)p);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: {
      uint64_t u = *(const uint64_t *)p;
      if (u <= (uint64_t)INT64_MAX) return json_integer((json_int_t)u);
      char buf[24];
      snprintf(buf, sizeof buf, "%" PRIu64, u);
      return json_string(buf);
    }
    case PROTOBUF_C_TYPE_FLOAT: return gl_json_from_double(*(const float *)p);
    case PROTOBUF_C_TYPE_DOUBLE: return gl_json_from_double(*(const double *)p);
    case PROTOBUF_C_TYPE_BOOL: return json_boolean(*(const protobuf_c_boolean *)p);
    case PROTOBUF_C_TYPE_ENUM: {
      int v = *(const int32_t *)p;
      const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(f->descriptor, v);
      /* A value this build does not know is kept as its number (open enum). */
      return ev ? json_string(ev->name) : json_integer(v);
    }
    case PROTOBUF_C_TYPE_STRING: {
      const char *s = *(const char *const *)p;
      if (!s) s = "";
      return gl_json_string_lossy(s, strlen(s));
    }
    case PROTOBUF_C_TYPE_BYTES: {
      const ProtobufCBinaryData *b = p;
      char *enc = gl_b64_encode(b->data, b->len);
      json_t *j = enc ? json_string(enc) : NULL;
      free(enc);
      return j;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
      const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)p;
      return sub ? gl_json_from_message(sub, flags) : json_object();
    }
  }
  return json_null();
}

json_t *gl_json_from_message(const ProtobufCMessage *msg, int flags) {
  if (!msg) return NULL;
  const ProtobufCMessageDescriptor *d = msg->descriptor;
  const char *base = (const char *)msg;
  json_t *obj = json_object();
  if (!obj) return NULL;
  /* Fields are written in declaration order, which protoc-c keeps. */
  for (unsigned i = 0; i < d->n_fields; i++) {
    const ProtobufCFieldDescriptor *f = &d->fields[i];
    const void *p = base + f->offset;
    json_t *val = NULL;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
      size_t n = *(const size_t *)(base + f->quantifier_offset);
      if (n == 0 && !(flags & GL_JSON_EMIT_DEFAULTS)) continue;
      const char *arr = *(const char *const *)p;
      size_t es = gl_elem_size(f->type);
      val = json_array();
      for (size_t k = 0; val && k < n; k++) {
        if (json_array_append_new(val, gl_value_to_json(f, arr + k * es, flags)) < 0) {
          json_decref(val);
          val = NULL;
        }
      }
    } else if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
      /* The member that is set is written even when it holds a zero value:
       * which member is set is information in itself. */
      if (*(const uint32_t *)(base + f->quantifier_offset) != f->id) continue;
      val = gl_value_to_json(f, p, flags);
    } else {
      if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset != 0 &&
          f->type != PROTOBUF_C_TYPE_MESSAGE && f->type != PROTOBUF_C_TYPE_STRING &&
          !*(const protobuf_c_boolean *)(base + f->quantifier_offset))
        continue; /* proto2 optional without presence. */
      if (gl_value_is_zero(f, p)) {
        /* An unset sub-message has no JSON form; zero scalars only on request. */
        if (f->type == PROTOBUF_C_TYPE_MESSAGE || !(flags & GL_JSON_EMIT_DEFAULTS)) continue;
      }
      val = gl_value_to_json(f, p, flags);
    }
    if (!val || json_object_set_new(obj, f->name, val) < 0) {
      json_decref(obj);
      return NULL;
    }
  }
  return obj;
}

/* ------------------------------------------------------------------------
 * JSON -> message.
 * ---------------------------------------------------------------------- */

/* State of one conversion: where errors go and the dotted path of the field
 * being converted, so that nested errors name e.g. 'order_placed.units'. */
typedef struct gl_json_ctx {
  char *err;
  size_t errlen;
  char path[512];
} gl_json_ctx_t;

static void gl_json_fail(gl_json_ctx_t *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void gl_json_fail(gl_json_ctx_t *c, const char *fmt, ...) {
  if (!c->err || c->errlen == 0) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->err, c->errlen, fmt, ap);
  va_end(ap);
}

/* The JSON type of v as an operator would name it in an error. */
static const char *gl_json_kind(const json_t *v) {
  switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a fractional number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
  }
  return "something else";
}

static void gl_json_fail_type(gl_json_ctx_t *c, const char *expected, const json_t *got) {
  gl_json_fail(c, "field '%s': expected %s, got %s", c->path, expected, gl_json_kind(got));
}

/* Reads a signed integer in [min, max] from a JSON integer, an integral
 * number or a decimal string. Writes the error itself; returns 0 or -1. */
static int gl_json_get_int(gl_json_ctx_t *c, const json_t *v, int64_t min, int64_t max,
                           const char *tname, int64_t *out) {
  int64_t x;
  if (json_is_integer(v)) {
    x = json_integer_value(v);
  } else if (json_is_real(v)) {
    double d = json_real_value(v);
    if (!isfinite(d) || d != floor(d) || d < -9223372036854775808.0 ||
        d >= 9223372036854775808.0) {
      gl_json_fail(c, "field '%s': expected an integer, got %g", c->path, d);
      return -1;
    }
    x = (int64_t)d;
  } else if (json_is_string(v)) {
    const char *s = json_string_value(v);
    char *end = NULL;
    if (!(isdigit((unsigned char)s[0]) || ((s[0] == '-' || s[0] == '+') &&
                                           isdigit((unsigned char)s[1])))) {
      gl_json_fail(c, "field '%s': expected an integer, got string \"%.40s\"", c->path, s);
      return -1;
    }
    errno = 0;
    long long ll = strtoll(s, &end, 10);
    if (*end != '\0') {
      gl_json_fail(c, "field '%s': expected an integer, got string \"%.40s\"", c->path, s);
      return -1;
    }
    if (errno == ERANGE) {
      gl_json_fail(c, "field '%s': %.40s is out of range for %s", c->path, s, tname);
      return -1;
    }
    x = ll;
  } else {
    gl_json_fail_type(c, "an integer", v);
    return -1;
  }
  if (x < min || x > max) {
    gl_json_fail(c, "field '%s': %" PRId64 " is out of range for %s", c->path, x, tname);
    return -1;
  }
  *out = x;
  return 0;
}

/* Like gl_json_get_int for unsigned types, up to max. */
static int gl_json_get_uint(gl_json_ctx_t *c, const json_t *v, uint64_t max, const char *tname,
                            uint64_t *out) {
  uint64_t x;
  if (json_is_string(v)) {
    const char *s = json_string_value(v);
    char *end = NULL;
    if (!isdigit((unsigned char)s[0])) {
      gl_json_fail(c, "field '%s': expected a non-negative integer, got string \"%.40s\"",
                   c->path, s);
      return -1;
    }
    errno = 0;
    unsigned long long ull = strtoull(s, &end, 10);
    if (*end != '\0') {
      gl_json_fail(c, "field '%s': expected a non-negative integer, got string \"%.40s\"",
                   c->path, s);
      return -1;
    }
    if (errno == ERANGE || ull > max) {
      gl_json_fail(c, "field '%s': %.40s is out of range for %s", c->path, s, tname);
      return -1;
    }
    x = ull;
  } else {
    int64_t sx;
    if (gl_json_get_int(c, v, 0, INT64_MAX, tname, &sx) < 0) return -1;
    x = (uint64_t)sx;
    if (x > max) {
      gl_json_fail(c, "field '%s': %" PRIu64 " is out of range for %s", c->path, x, tname);
      return -1;
    }
  }
  *out = x;
  return 0;
}

/* Reads a floating-point number: a JSON number, "NaN", "Infinity",
 * "-Infinity" or a decimal string. */
static int gl_json_get_double(gl_json_ctx_t *c, const json_t *v, double *out) {
  if (json_is_number(v)) {
    *out = json_number_value(v);
    return 0;
  }
  if (json_is_string(v)) {
    const char *s = json_string_value(v);
    if (strcmp(s, "NaN") == 0) {
      *out = NAN;
      return 0;
    }
    if (strcmp(s, "Infinity") == 0) {
      *out = INFINITY;
      return 0;
    }
    if (strcmp(s, "-Infinity") == 0) {
      *out = -INFINITY;
      return 0;
    }
    char *end = NULL;
    errno = 0;
    double d = strtod(s, &end);
    if (s[0] != '\0' && !isspace((unsigned char)s[0]) && *end == '\0' && errno == 0 &&
        isfinite(d)) {
      *out = d;
      return 0;
    }
    gl_json_fail(c, "field '%s': expected a number, got string \"%.40s\"", c->path, s);
    return -1;
  }
  gl_json_fail_type(c, "a number", v);
  return -1;
}

/* Converts an enum type name like "OrderState" to its value prefix
 * "ORDER_STATE_" (the protobuf style guide's convention). */
static void gl_enum_prefix(const char *short_name, char *out, size_t outlen) {
  size_t o = 0;
  for (size_t i = 0; short_name[i] && o + 2 < outlen; i++) {
    unsigned char ch = (unsigned char)short_name[i];
    if (i > 0 && isupper(ch) && o + 3 < outlen &&
        (islower((unsigned char)short_name[i - 1]) ||
         (short_name[i + 1] && islower((unsigned char)short_name[i + 1]))))
      out[o++] = '_';
    out[o++] = (char)toupper(ch);
  }
  out[o++] = '_';
  out[o] = '\0';
}

/* Looks an enum value up by its full name, its name without the type
 * prefix, or either of those in any letter case. */
static const ProtobufCEnumValue *gl_enum_by_name(const ProtobufCEnumDescriptor *ed,
                                                 const char *s) {
  const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value_by_name(ed, s);
  if (ev) return ev;
  char upper[256];
  size_t n = strlen(s);
  if (n == 0 || n >= sizeof upper) return NULL;
  for (size_t i = 0; i <= n; i++) upper[i] = (char)toupper((unsigned char)s[i]);
  ev = protobuf_c_enum_descriptor_get_value_by_name(ed, upper);
  if (ev) return ev;
  char full[512];
  gl_enum_prefix(ed->short_name, full, sizeof full);
  size_t plen = strlen(full);
  if (plen + n >= sizeof full) return NULL;
  memcpy(full + plen, upper, n + 1);
  return protobuf_c_enum_descriptor_get_value_by_name(ed, full);
}

static ProtobufCMessage *gl_json_build(gl_json_ctx_t *c, const ProtobufCMessageDescriptor *desc,
                                       const json_t *obj);

/* Converts JSON value v into one value of field f at dst. Returns 0 or -1
 * with the error written. */
static int gl_json_to_value(gl_json_ctx_t *c, const ProtobufCFieldDescriptor *f, const json_t *v,
                            void *dst) {
  int64_t i64;
  uint64_t u64;
  double d;
  switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
      if (gl_json_get_int(c, v, INT32_MIN, INT32_MAX, "int32", &i64) < 0) return -1;
      *(int32_t *)dst = (int32_t)i64;
      return 0;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
      if (gl_json_get_int(c, v, INT64_MIN, INT64_MAX, "int64", &i64) < 0) return -1;
      *(int64_t *)dst = i64;
      return 0;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
      if (gl_json_get_uint(c, v, UINT32_MAX, "uint32", &u64) < 0) return -1;
      *(uint32_t *)dst = (uint32_t)u64;
      return 0;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
      if (gl_json_get_uint(c, v, UINT64_MAX, "uint64", &u64) < 0) return -1;
      *(uint64_t *)dst = u64;
      return 0;
    case PROTOBUF_C_TYPE_FLOAT:
      if (gl_json_get_double(c, v, &d) < 0) return -1;
      if (isfinite(d) && fabs(d) > FLT_MAX) {
        gl_json_fail(c, "field '%s': %g is out of range for float", c->path, d);
        return -1;
      }
      *(float *)dst = (float)d;
      return 0;
    case PROTOBUF_C_TYPE_DOUBLE:
      if (gl_json_get_double(c, v, &d) < 0) return -1;
      *(double *)dst = d;
      return 0;
    case PROTOBUF_C_TYPE_BOOL:
      if (!json_is_boolean(v)) {
        gl_json_fail_type(c, "a boolean", v);
        return -1;
      }
      *(protobuf_c_boolean *)dst = json_is_true(v);
      return 0;
    case PROTOBUF_C_TYPE_ENUM: {
      const ProtobufCEnumDescriptor *ed = f->descriptor;
      if (json_is_string(v)) {
        const ProtobufCEnumValue *ev = gl_enum_by_name(ed, json_string_value(v));
        if (!ev) {
          gl_json_fail(c, "field '%s': unknown value \"%.60s\" for enum %s", c->path,
                       json_string_value(v), ed->name);
          return -1;
        }
        *(int32_t *)dst = ev->value;
        return 0;
      }
      if (json_is_number(v)) {
        /* Numbers are taken as they are, known or not (proto3 enums are
         * open), so a test can produce an unknown value on purpose. */
        if (gl_json_get_int(c, v, INT32_MIN, INT32_MAX, "an enum", &i64) < 0) return -1;
        *(int32_t *)dst = (int32_t)i64;
        return 0;
      }
      char expected[300];
      snprintf(expected, sizeof expected, "a %s name or number", ed->name);
      gl_json_fail_type(c, expected, v);
      return -1;
    }
    case PROTOBUF_C_TYPE_STRING: {
      if (!json_is_string(v)) {
        gl_json_fail_type(c, "a string", v);
        return -1;
      }
      size_t n = json_string_length(v);
      const char *s = json_string_value(v);
      if (memchr(s, '\0', n)) {
        gl_json_fail(c, "field '%s': string contains a NUL character", c->path);
        return -1;
      }
      char *copy = malloc(n + 1);
      if (!copy) abort();
      memcpy(copy, s, n + 1);
      *(char **)dst = copy;
      return 0;
    }
    case PROTOBUF_C_TYPE_BYTES: {
      ProtobufCBinaryData *b = dst;
      if (!json_is_string(v)) {
        gl_json_fail_type(c, "base64 bytes (a string)", v);
        return -1;
      }
      if (gl_b64_decode(json_string_value(v), json_string_length(v), &b->data, &b->len) < 0) {
        gl_json_fail(c, "field '%s': expected base64 bytes, got a string that is not base64",
                     c->path);
        return -1;
      }
      return 0;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
      if (!json_is_object(v)) {
        char expected[300];
        snprintf(expected, sizeof expected, "an object (%s)",
                 ((const ProtobufCMessageDescriptor *)f->descriptor)->name);
        gl_json_fail_type(c, expected, v);
        return -1;
      }
      ProtobufCMessage *sub = gl_json_build(c, f->descriptor, v);
      if (!sub) return -1;
      *(ProtobufCMessage **)dst = sub;
      return 0;
    }
  }
  gl_json_fail(c, "field '%s': unsupported field type", c->path);
  return -1;
}

/* Finds a field by its .proto name, or by its lowerCamelCase JSON name
 * ("orderId" for order_id), as proto3 JSON readers accept both. */
static const ProtobufCFieldDescriptor *gl_field_by_key(const ProtobufCMessageDescriptor *desc,
                                                      const char *key) {
  const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(desc, key);
  if (f) return f;
  char snake[256];
  size_t o = 0;
  for (size_t i = 0; key[i]; i++) {
    unsigned char ch = (unsigned char)key[i];
    if (isupper(ch)) {
      if (o + 2 >= sizeof snake) return NULL;
      snake[o++] = '_';
      snake[o++] = (char)tolower(ch);
    } else {
      if (ch == '_' || o + 1 >= sizeof snake) return NULL; /* Not camelCase. */
      snake[o++] = (char)ch;
    }
  }
  snake[o] = '\0';
  if (strcmp(snake, key) == 0) return NULL;
  return protobuf_c_message_descriptor_get_field_by_name(desc, snake);
}

/* Sets one field of msg from JSON value v (null means "absent"). */
static int gl_json_set_field(gl_json_ctx_t *c, ProtobufCMessage *msg,
                             const ProtobufCFieldDescriptor *f, const json_t *v) {
  char *base = (char *)msg;
  const ProtobufCMessageDescriptor *desc = msg->descriptor;
  if (json_is_null(v)) return 0;
  if (f->label == PROTOBUF_C_LABEL_REPEATED) {
    if (!json_is_array(v)) {
      gl_json_fail_type(c, "an array", v);
      return -1;
    }
    size_t n = json_array_size(v);
    if (n == 0) return 0;
    size_t es = gl_elem_size(f->type);
    char *arr = calloc(n, es);
    if (!arr) abort();
    /* The array is attached before its elements are converted: zeroed
     * elements are safe to free, so a failure midway leaks nothing. */
    *(size_t *)(base + f->quantifier_offset) = n;
    *(char **)(base + f->offset) = arr;
    size_t plen = strlen(c->path);
    for (size_t k = 0; k < n; k++) {
      snprintf(c->path + plen, sizeof c->path - plen, "[%zu]", k);
      const json_t *ev = json_array_get(v, k);
      if (json_is_null(ev)) {
        gl_json_fail(c, "field '%s': null is not allowed in a repeated field", c->path);
        return -1;
      }
      if (gl_json_to_value(c, f, ev, arr + k * es) < 0) return -1;
    }
    c->path[plen] = '\0';
    return 0;
  }
  if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
    uint32_t *qcase = (uint32_t *)(base + f->quantifier_offset);
    if (*qcase != 0) {
      const ProtobufCFieldDescriptor *other = protobuf_c_message_descriptor_get_field(desc, *qcase);
      gl_json_fail(c, "field '%s': only one of a oneof may be set, '%s' is set already", c->path,
                   other ? other->name : "?");
      return -1;
    }
    /* The union member is still empty; the case is set only once it holds
     * a value that free_unpacked may release. */
    memset(base + f->offset, 0, gl_elem_size(f->type));
    if (gl_json_to_value(c, f, v, base + f->offset) < 0) {
      memset(base + f->offset, 0, gl_elem_size(f->type));
      return -1;
    }
    *qcase = f->id;
    return 0;
  }
  if (f->type == PROTOBUF_C_TYPE_STRING) {
    /* Replace the shared default "" (never freed) without leaking. */
    char **sp = (char **)(base + f->offset);
    char *old = *sp;
    *sp = NULL;
    if (gl_json_to_value(c, f, v, sp) < 0) {
      *sp = old;
      return -1;
    }
    if (old && old != f->default_value) free(old);
    return 0;
  }
  if (gl_json_to_value(c, f, v, base + f->offset) < 0) return -1;
  if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset != 0 &&
      f->type != PROTOBUF_C_TYPE_MESSAGE)
    *(protobuf_c_boolean *)(base + f->quantifier_offset) = 1;
  return 0;
}

static ProtobufCMessage *gl_json_build(gl_json_ctx_t *c, const ProtobufCMessageDescriptor *desc,
                                       const json_t *obj) {
  ProtobufCMessage *msg = calloc(1, desc->sizeof_message);
  if (!msg) abort();
  protobuf_c_message_init(desc, msg);
  /* A field may be named twice (snake_case and camelCase); refuse that. */
  unsigned char *seen = calloc(desc->n_fields ? desc->n_fields : 1, 1);
  if (!seen) abort();
  size_t plen = strlen(c->path);
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)obj, key, v) {
    snprintf(c->path + plen, sizeof c->path - plen, "%s%s", plen ? "." : "", key);
    const ProtobufCFieldDescriptor *f = gl_field_by_key(desc, key);
    if (!f) {
      gl_json_fail(c, "unknown field '%s' in %s", c->path, desc->name);
      goto fail;
    }
    size_t idx = (size_t)(f - desc->fields);
    if (seen[idx]) {
      gl_json_fail(c, "field '%s' is given twice", c->path);
      goto fail;
    }
    seen[idx] = 1;
    /* Use the canonical name in errors, whichever spelling was given. */
    snprintf(c->path + plen, sizeof c->path - plen, "%s%s", plen ? "." : "", f->name);
    if (gl_json_set_field(c, msg, f, v) < 0) goto fail;
  }
  c->path[plen] = '\0';
  free(seen);
  return msg;
fail:
  free(seen);
  protobuf_c_message_free_unpacked(msg, NULL);
  return NULL;
}

ProtobufCMessage *gl_json_to_message(const ProtobufCMessageDescriptor *desc, const json_t *obj,
                                     char *errstr, size_t errlen) {
  gl_json_ctx_t c = {.err = errstr, .errlen = errlen};
  if (errstr && errlen) errstr[0] = '\0';
  if (!desc) {
    gl_json_fail(&c, "no message type given");
    return NULL;
  }
  if (!obj || !json_is_object(obj)) {
    gl_json_fail(&c, "expected a JSON object for %s, got %s", desc->name,
                 obj ? gl_json_kind(obj) : "nothing");
    return NULL;
  }
  return gl_json_build(&c, desc, obj);
}
