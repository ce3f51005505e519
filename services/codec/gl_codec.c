/* gl_codec: envelope decoding and validation. See include/greenlight/gl_codec.h. */
#include "greenlight/gl_codec.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Writes the values enum ed knows as "0..6", or "0, 1, 5" when they are not
 * contiguous (values[] is sorted by number, one range per contiguous run). */
static void gl_enum_known(const ProtobufCEnumDescriptor *ed, char *out, size_t out_len) {
  const ProtobufCEnumValue *v = ed->values;
  unsigned n = ed->n_values;
  out[0] = '\0';
  if (n && ed->n_value_ranges == 1) {
    snprintf(out, out_len, "%d..%d", v[0].value, v[n - 1].value);
    return;
  }
  size_t o = 0;
  for (unsigned i = 0; i < n && o < out_len; i++)
    o += (size_t)snprintf(out + o, out_len - o, "%s%d", i ? ", " : "", v[i].value);
}

int gl_message_check_enums(const ProtobufCMessage *msg, char *detail, size_t detail_len) {
  const ProtobufCMessageDescriptor *d = msg->descriptor;
  for (unsigned i = 0; i < d->n_fields; i++) {
    const ProtobufCFieldDescriptor *f = &d->fields[i];
    const char *base = (const char *)msg;
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
      uint32_t qcase = *(const uint32_t *)(base + f->quantifier_offset);
      if (qcase != f->id) continue;
    }
    size_t n = 1;
    const char *vals = base + f->offset;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
      n = *(const size_t *)(base + f->quantifier_offset);
      vals = *(const char *const *)(base + f->offset);
    }
    for (size_t k = 0; k < n; k++) {
      if (f->type == PROTOBUF_C_TYPE_ENUM) {
        int v = ((const int *)vals)[k];
        if (!protobuf_c_enum_descriptor_get_value(f->descriptor, v)) {
          char known[128];
          gl_enum_known(f->descriptor, known, sizeof known);
          snprintf(detail, detail_len, "%s.%s: unknown enum value %d (%s knows %s)", d->short_name,
                   f->name, v, ((const ProtobufCEnumDescriptor *)f->descriptor)->name, known);
          return GL_EINVAL;
        }
      } else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
        const ProtobufCMessage *sub = ((const ProtobufCMessage *const *)vals)[k];
        if (sub && gl_message_check_enums(sub, detail, detail_len) < 0) return GL_EINVAL;
      }
    }
  }
  return GL_OK;
}

size_t gl_message_pack(const ProtobufCMessage *msg, uint8_t **out) {
  size_t n = protobuf_c_message_get_packed_size(msg);
  *out = malloc(n ? n : 1);
  if (!*out) abort();
  return protobuf_c_message_pack(msg, *out);
}

const char *gl_envelope_type(const gl_envelope_t *env) {
  switch (env->payload_case) {
    case GREENLIGHT__V1__ENVELOPE__PAYLOAD_ORDER_PLACED: return "OrderPlaced";
    case GREENLIGHT__V1__ENVELOPE__PAYLOAD_ORDER_CANCELLED: return "OrderCancelled";
    case GREENLIGHT__V1__ENVELOPE__PAYLOAD_APPROVAL_GRANTED: return "ApprovalGranted";
    case GREENLIGHT__V1__ENVELOPE__PAYLOAD_APPROVAL_DENIED: return "ApprovalDenied";
    case GREENLIGHT__V1__ENVELOPE__PAYLOAD_BATCH_QUEUED: return "BatchQueued";
    case GREENLIGHT__V1__ENVELOPE__PAYLOAD_SHIPMENT_CLEARED: return "ShipmentCleared";
    case GREENLIGHT__V1__ENVELOPE__PAYLOAD_TICK: return "Tick";
    default: return "";
  }
}

const char *gl_envelope_order_id(const gl_envelope_t *env) {
  switch (env->payload_case) {
    case GREENLIGHT__V1__ENVELOPE__PAYLOAD_ORDER_PLACED: return env->order_placed->order_id;
    case GREENLIGHT__V1__ENVELOPE__PAYLOAD_ORDER_CANCELLED: return env->order_cancelled->order_id;
    case GREENLIGHT__V1__ENVELOPE__PAYLOAD_APPROVAL_GRANTED: return env->approval_granted->order_id;
    case GREENLIGHT__V1__ENVELOPE__PAYLOAD_APPROVAL_DENIED: return env->approval_denied->order_id;
    case GREENLIGHT__V1__ENVELOPE__PAYLOAD_BATCH_QUEUED: return env->batch_queued->order_id;
    case GREENLIGHT__V1__ENVELOPE__PAYLOAD_SHIPMENT_CLEARED: return env->shipment_cleared->order_id;
    default: return NULL;
  }
}

/* ---- Strings on the wire ------------------------------------------------
 * protobuf-c hands strings over as C strings and checks nothing in them, so
 * the checks below read the wire bytes: that is the only place where a NUL
 * inside a string and the exact length are visible. */

/* Offset of the first byte of s[0..n) that does not start a well-formed
 * UTF-8 sequence (Unicode 15, table 3-7: no overlong forms, no surrogates
 * D800-DFFF, nothing above U+10FFFF, no truncated sequence), or n. */
static size_t gl_utf8_bad_at(const uint8_t *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint8_t c = s[i];
    size_t len;
    uint8_t lo = 0x80, hi = 0xbf; /* Range of the second byte; later ones are 80..BF. */
    if (c < 0x80) len = 1;
    else if (c >= 0xc2 && c <= 0xdf) len = 2;
    else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      if (c == 0xe0) lo = 0xa0;      /* Below: overlong. */
      else if (c == 0xed) hi = 0x9f; /* Above: surrogates. */
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      if (c == 0xf0) lo = 0x90;      /* Below: overlong. */
      else if (c == 0xf4) hi = 0x8f; /* Above: beyond U+10FFFF. */
    } else {
      return i; /* Continuation byte, C0/C1 (overlong) or F5..FF. */
    }
    if (len > n - i) return i;
    for (size_t k = 1; k < len; k++) {
      uint8_t b = s[i + k];
      if (k == 1 ? b < lo || b > hi : b < 0x80 || b > 0xbf) return i;
    }
    i += len;
  }
  return n;
}

/* Length of the prefix of s[0..n) that is ASCII without NUL, which needs
 * none of the checks below; read 8 bytes at a time. */
static size_t gl_plain_ascii(const uint8_t *s, size_t n) {
  const uint64_t high = 0x8080808080808080ULL, ones = 0x0101010101010101ULL;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    memcpy(&w, s + i, 8);
    if ((w & high) || ((w - ones) & ~w & high)) break; /* A byte >= 0x80, or a zero byte. */
  }
  while (i < n && s[i] && s[i] < 0x80) i++;
  return i;
}

/* The documented maximum of a string field: GL_ID_MAX for identifiers (any
 * field named *_id, and source), GL_TEXT_MAX for every other text. */
static size_t gl_string_max(const ProtobufCFieldDescriptor *f) {
  size_t n = strlen(f->name);
  bool id = (n >= 3 && strcmp(f->name + n - 3, "_id") == 0) || strcmp(f->name, "source") == 0;
  return id ? GL_ID_MAX : GL_TEXT_MAX;
}

/* Checks the n bytes of string field f of message d. Returns a reason code
 * and writes detail, or NULL if the value is acceptable. */
static const char *gl_check_string(const ProtobufCMessageDescriptor *d,
                                   const ProtobufCFieldDescriptor *f, const uint8_t *s, size_t n,
                                   char *detail, size_t detail_len) {
  size_t max = gl_string_max(f), bad;
  const uint8_t *nul;
  if (n > max) {
    snprintf(detail, detail_len, "%s.%s is %zu bytes, more than the limit of %zu", d->short_name,
             f->name, n, max);
    return "too_large";
  }
  if (gl_plain_ascii(s, n) == n) return NULL; /* Most strings: no NUL, no UTF-8 to check. */
  if ((nul = memchr(s, '\0', n)) != NULL) {
    snprintf(detail, detail_len, "%s.%s contains a NUL byte at byte %zu", d->short_name, f->name,
             (size_t)(nul - s));
    return "invalid";
  }
  if ((bad = gl_utf8_bad_at(s, n)) < n) {
    snprintf(detail, detail_len, "%s.%s is not valid UTF-8 at byte %zu (0x%02x) of %zu",
             d->short_name, f->name, bad, s[bad], n);
    return "invalid_utf8";
  }
  return NULL;
}

/* Reads a base-128 varint at p[*i..n); false if it is truncated or longer
 * than 10 bytes. */
static bool gl_varint(const uint8_t *p, size_t n, size_t *i, uint64_t *v) {
  *v = 0;
  for (unsigned shift = 0; shift < 70 && *i < n; shift += 7) {
    uint8_t b = p[(*i)++];
    *v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) return true;
  }
  return false;
}

/* Walks the wire bytes of a message of type d field by field: every string
 * field the descriptor knows is checked (gl_check_string), every message
 * field is walked in turn; unknown fields and scalars are skipped. Called
 * only on bytes protobuf-c has unpacked, so a malformed tag or length is
 * not expected; it is still refused (decode_error) rather than trusted.
 * The schema has no recursive message, so the depth is bounded by it. */
static const char *gl_walk_strings(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t n,
                                   char *detail, size_t detail_len) {
  size_t i = 0;
  while (i < n) {
    uint64_t tag, len = 0, value;
    if (!gl_varint(p, n, &i, &tag)) goto malformed;
    switch (tag & 7) { /* The wire type; len = the bytes that follow. */
      case 0: if (!gl_varint(p, n, &i, &value)) goto malformed; break; /* varint */
      case 1: len = 8; break;                                          /* 64-bit */
      case 5: len = 4; break;                                          /* 32-bit */
      case 2: if (!gl_varint(p, n, &i, &len)) goto malformed; break;   /* length-delimited */
      default: goto malformed; /* Groups (3, 4) are not proto3; 6, 7 do not exist. */
    }
    if (len > n - i) goto malformed;
    const ProtobufCFieldDescriptor *f = NULL;
    if ((tag & 7) == 2 && (tag >> 3) <= UINT32_MAX)
      f = protobuf_c_message_descriptor_get_field(d, (unsigned)(tag >> 3));
    const char *reason = NULL;
    if (f && f->type == PROTOBUF_C_TYPE_STRING)
      reason = gl_check_string(d, f, p + i, (size_t)len, detail, detail_len);
    else if (f && f->type == PROTOBUF_C_TYPE_MESSAGE)
      reason = gl_walk_strings(f->descriptor, p + i, (size_t)len, detail, detail_len);
    if (reason) return reason;
    i += (size_t)len;
  }
  return NULL;
malformed:
  snprintf(detail, detail_len, "%s: malformed field at byte %zu", d->short_name, i);
  return "decode_error";
}

/* ---- The record key ---------------------------------------------------- */

/* Writes at most GL_KEY_SHOWN bytes of s as a quoted C-like string into out:
 * printable ASCII as is, every other byte as \xNN, "..." if cut. */
#define GL_KEY_SHOWN 48
static void gl_escape(const void *s, size_t n, char *out, size_t out_len) {
  const uint8_t *b = s;
  size_t o = 0;
  out[o++] = '"';
  for (size_t k = 0; k < n && k < GL_KEY_SHOWN && o + 8 < out_len; k++) {
    if (b[k] >= 0x20 && b[k] < 0x7f && b[k] != '"' && b[k] != '\\') out[o++] = (char)b[k];
    else o += (size_t)snprintf(out + o, out_len - o, "\\x%02x", b[k]);
  }
  if (n > GL_KEY_SHOWN) o += (size_t)snprintf(out + o, out_len - o, "...");
  snprintf(out + o, out_len - o, "\"");
}

/* The record key must be the payload's order_id byte for byte, or one order
 * would have two state machines (or land on a partition that does not own
 * it). Returns -1 and writes detail if not. */
static int gl_check_key(const gl_envelope_t *env, const void *key, size_t key_len, char *detail,
                        size_t detail_len) {
  const char *oid = gl_envelope_order_id(env);
  size_t n = strlen(oid);
  if (key && key_len == n && memcmp(key, oid, n) == 0) return 0;
  char k[GL_KEY_SHOWN * 4 + 8], o[GL_KEY_SHOWN * 4 + 8];
  gl_escape(oid, n, o, sizeof o);
  if (!key) {
    snprintf(detail, detail_len, "record key is null, %s.order_id is %s", gl_envelope_type(env), o);
    return -1;
  }
  gl_escape(key, key_len, k, sizeof k);
  snprintf(detail, detail_len, "record key %s (%zu bytes) differs from %s.order_id %s (%zu bytes)",
           k, key_len, gl_envelope_type(env), o, n);
  return -1;
}

/* ---- The memory of a decoded envelope -----------------------------------
 * protobuf-c's default allocator makes one malloc per message, string and
 * array of an envelope (about 20 for an ApprovalGranted), and
 * free_unpacked() walks the descriptors to free them one by one. An
 * envelope lives for one record, so it is unpacked into an arena of its
 * own instead: one block that holds the envelope itself first (so that
 * gl_envelope_free() finds the arena from it), then everything protobuf-c
 * asks for, bump-allocated; what does not fit goes to malloc'd chunks
 * chained to the arena. Freeing the envelope frees the arena and its
 * chunks at once. Each envelope has its own arena, so envelopes decoded
 * while another is alive (orderd retries parked events while it applies a
 * record) and envelopes freed on another thread are no special case, and
 * what outlives the record (a parked event's bytes) is copied by its
 * keeper from the record, never taken from the arena. Bounded: a record
 * is at most GL_RECORD_MAX bytes, and an unpacked envelope is a small
 * multiple of that. */

/* The block covers a typical envelope (event_id, a payload of a few short
 * strings: 300-600 bytes); a chunk taken when it is full is at least
 * GL_ARENA_CHUNK, or exactly the size asked for if that is larger (a long
 * text, unknown fields). */
#define GL_ARENA_BLOCK 896
#define GL_ARENA_CHUNK 2048

typedef struct gl_arena_chunk {
  struct gl_arena_chunk *next;
  _Alignas(max_align_t) unsigned char data[];
} gl_arena_chunk_t;

typedef struct gl_arena {
  ProtobufCAllocator pa; /* allocator_data is the arena. */
  unsigned char *cur;    /* The free room of the current block or chunk. */
  size_t left;
  gl_arena_chunk_t *chunks;
  _Alignas(max_align_t) unsigned char block[GL_ARENA_BLOCK];
} gl_arena_t;

static void *gl_arena_alloc(void *data, size_t size) {
  gl_arena_t *a = data;
  const size_t align = _Alignof(max_align_t);
  size = (size + align - 1) & ~(align - 1);
  if (size > a->left) {
    size_t room = size > GL_ARENA_CHUNK ? size : GL_ARENA_CHUNK;
    gl_arena_chunk_t *c = malloc(sizeof *c + room);
    if (!c) return NULL;
    c->next = a->chunks;
    a->chunks = c;
    if (room > size) { /* A chunk with room to spare becomes the current one. */
      a->cur = c->data + size;
      a->left = room - size;
    }
    return c->data;
  }
  void *p = a->cur;
  a->cur += size;
  a->left -= size;
  return p;
}

/* Everything goes when the arena does. */
static void gl_arena_nofree(void *data, void *p) {
  (void)data;
  (void)p;
}

static gl_arena_t *gl_arena_new(void) {
  gl_arena_t *a = malloc(sizeof *a);
  if (!a) return NULL;
  a->pa = (ProtobufCAllocator){gl_arena_alloc, gl_arena_nofree, a};
  a->cur = a->block;
  a->left = sizeof a->block;
  a->chunks = NULL;
  return a;
}

static void gl_arena_free(gl_arena_t *a) {
  for (gl_arena_chunk_t *c = a->chunks, *next; c; c = next) {
    next = c->next;
    free(c);
  }
  free(a);
}

/* ---- Decoding ----------------------------------------------------------- */

static int gl_id_ok(const char *id) {
  size_t n = id ? strlen(id) : 0;
  return n > 0 && n <= GL_ID_MAX;
}

/* The checks that need the unpacked envelope; a reason code, or NULL. */
static const char *gl_envelope_check(const gl_envelope_t *env, const void *key, size_t key_len,
                                     char *detail, size_t detail_len) {
  if (env->payload_case == GREENLIGHT__V1__ENVELOPE__PAYLOAD__NOT_SET) {
    snprintf(detail, detail_len, "envelope %s has no payload known to greenlight.v1 (%u unknown fields)",
             env->event_id, (unsigned)env->base.n_unknown_fields);
    return "unknown_payload";
  }
  if (gl_message_check_enums(&env->base, detail, detail_len) < 0) return "unknown_enum";
  if (!gl_id_ok(env->event_id)) {
    snprintf(detail, detail_len, "event_id must be 1..%d bytes", GL_ID_MAX);
    return "invalid";
  }
  if (env->occurred_at_ms <= 0) {
    snprintf(detail, detail_len, "occurred_at_ms must be > 0, got %lld",
             (long long)env->occurred_at_ms);
    return "invalid";
  }
  if (env->payload_case == GREENLIGHT__V1__ENVELOPE__PAYLOAD_TICK) return NULL; /* Any key. */
  if (!gl_id_ok(gl_envelope_order_id(env))) {
    snprintf(detail, detail_len, "%s.order_id must be 1..%d bytes", gl_envelope_type(env), GL_ID_MAX);
    return "invalid";
  }
  if (gl_check_key(env, key, key_len, detail, detail_len) < 0) return "key_mismatch";
  return NULL;
}

const char *const gl_envelope_reasons[] = {"decode_error",    "too_large",    "invalid_utf8",
                                           "invalid",         "unknown_payload", "unknown_enum",
                                           "key_mismatch",    NULL};

gl_envelope_t *gl_envelope_decode(const void *buf, size_t len, const void *key, size_t key_len,
                                  const char **reason, char *detail, size_t detail_len) {
  *reason = "decode_error";
  if (!buf || len == 0) {
    snprintf(detail, detail_len, "empty record value");
    return NULL;
  }
  if (len > GL_RECORD_MAX) {
    *reason = "too_large";
    snprintf(detail, detail_len, "record value is %zu bytes, more than the limit of %d", len,
             GL_RECORD_MAX);
    return NULL;
  }
  gl_arena_t *a = gl_arena_new();
  gl_envelope_t *env = a ? greenlight__v1__envelope__unpack(&a->pa, len, buf) : NULL;
  if (!env) {
    free(a);
    snprintf(detail, detail_len, "not a greenlight.v1.Envelope (%zu bytes)", len);
    return NULL;
  }
  if ((void *)env != (void *)a->block) {
    /* gl_envelope_free() finds the arena from the envelope. */
    fputs("gl_codec: protobuf-c did not allocate the message first\n", stderr);
    abort();
  }
  /* Strings first: the details of the later checks may quote them. */
  *reason = gl_walk_strings(env->base.descriptor, buf, len, detail, detail_len);
  if (!*reason) *reason = gl_envelope_check(env, key, key_len, detail, detail_len);
  if (!*reason) return env;
  gl_arena_free(a);
  return NULL;
}

void gl_envelope_free(gl_envelope_t *env) {
  if (env) gl_arena_free((gl_arena_t *)(void *)((char *)env - offsetof(gl_arena_t, block)));
}

void *gl_envelope_decode_hook(void *opaque, const void *key, size_t klen, const void *value,
                              size_t vlen, int64_t *event_time_ms, const char **reason,
                              char *detail, size_t detail_len) {
  (void)opaque;
  gl_envelope_t *env = gl_envelope_decode(value, vlen, key, klen, reason, detail, detail_len);
  if (env) *event_time_ms = env->occurred_at_ms;
  return env;
}

void gl_envelope_free_hook(void *opaque, void *env) {
  (void)opaque;
  gl_envelope_free(env);
}
