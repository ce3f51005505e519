/* gl_json_parse: JSON -> protobuf message, driven by protobuf-c
 * descriptors (see include/greenlight/gl_json.h for the mapping and
 * gl_json.c for the other direction). Messages are built field by field in
 * the shape protobuf_c_message_unpack() produces, so that
 * protobuf_c_message_free_unpacked(msg, NULL) releases them; an error names
 * the field's dotted path. */
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

#include "greenlight/gl_json.h"
#include "gl_json_int.h"

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

/* Writes the names enum ed accepts, without their type prefix and in
 * number order ("UNSPECIFIED, COMMERCIAL_CLOUD, ..."), for an error that
 * tells the operator what to write instead. */
static void gl_enum_names(const ProtobufCEnumDescriptor *ed, char *out, size_t out_len) {
  char prefix[256];
  gl_enum_prefix(ed->short_name, prefix, sizeof prefix);
  size_t plen = strlen(prefix), o = 0;
  out[0] = '\0';
  for (unsigned i = 0; i < ed->n_values && o < out_len; i++) {
    const char *name = ed->values[i].name;
    if (strncmp(name, prefix, plen) == 0 && name[plen]) name += plen;
    o += (size_t)snprintf(out + o, out_len - o, "%s%s", i ? ", " : "", name);
  }
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
          char names[512];
          gl_enum_names(ed, names, sizeof names);
          gl_json_fail(c, "field '%s': unknown value \"%.60s\" for enum %s; allowed: %s (or the "
                       "full name, or a number)", c->path, json_string_value(v), ed->name, names);
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
      if (gl_json_b64_decode(json_string_value(v), json_string_length(v), &b->data, &b->len) < 0) {
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
    size_t es = gl_json_elem_size(f->type);
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
    memset(base + f->offset, 0, gl_json_elem_size(f->type));
    if (gl_json_to_value(c, f, v, base + f->offset) < 0) {
      memset(base + f->offset, 0, gl_json_elem_size(f->type));
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
