/* gl_json: protobuf <-> JSON conversion driven by protobuf-c descriptors.
 * See include/greenlight/gl_json.h for the mapping.
 *
 * The converter never looks at generated structs by name: it walks the
 * field descriptors and reads or writes each field at its offset, so it
 * serves every message of the wire contract (and any future one). Messages
 * it builds are allocated with the default allocator, field by field, in
 * the same shape protobuf_c_message_unpack() produces, so that
 * protobuf_c_message_free_unpacked(msg, NULL) releases them. This file
 * holds the message -> JSON direction and the helpers both use; JSON ->
 * message is in gl_json_parse.c. */
#include "greenlight/gl_json.h"
#include "gl_json_int.h"

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
int gl_json_b64_decode(const char *s, size_t n, uint8_t **out, size_t *out_len) {
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
size_t gl_json_elem_size(ProtobufCType t) {
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
      size_t es = gl_json_elem_size(f->type);
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
