/* order_record: the memory of an order, its changelog value
 * (greenlight.v1.OrderRecord) and its status records (greenlight.v1.OrderStatus).
 *
 * The rules live in order_table.c; this file only stores, copies and
 * serializes. Encoding is a pure function of the order, and decoding restores
 * every field, so encode(decode(encode(o))) is byte-identical to encode(o). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../batchd/batch_repartition.h"
#include "order_internal.h"

/* Debug and sanitizer builds (the unit and Kafka tests run in those) check,
 * for every record, that order_wire.c wrote what protobuf-c packs from the
 * same order and that order_vformat() wrote what vsnprintf writes; release
 * builds trust both. */
#if !defined(NDEBUG) || defined(__SANITIZE_ADDRESS__)
#define ORDER_WIRE_CHECK 1
#endif

/* Aborts with a message: the process cannot continue without memory. */
static void order_oom(void) {
  fputs("orderd: out of memory\n", stderr);
  abort();
}

static void *order_xrealloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (!q) order_oom();
  return q;
}

static char *order_xstrdup(const char *s) {
  char *d = strdup(s ? s : "");
  if (!d) order_oom();
  return d;
}

void order_str_set(char **dst, const char *src) {
  /* In place when it fits: a status sets five strings, mostly no longer
   * than what they replace (the cause's ids, the reason code). */
  size_t n = strlen(src ? src : "");
  if (*dst && strlen(*dst) >= n) {
    memmove(*dst, src ? src : "", n + 1);
    return;
  }
  char *copy = order_xstrdup(src);
  free(*dst);
  *dst = copy;
}

void order_grant_clear(order_grant_t *g) {
  free(g->approval_id);
  free(g->batch_id);
  memset(g, 0, sizeof *g);
}

void order_parked_clear(order_parked_t *p) {
  free(p->raw);
  free(p->topic);
  memset(p, 0, sizeof *p);
}

/* Every string field of struct order, for allocation and release. */
#define ORDER_STRINGS(o)                                                                     \
  &(o)->id, &(o)->buyer_id, &(o)->buyer_name, &(o)->product, &(o)->reason_code, &(o)->reason, \
      &(o)->batch_id, &(o)->export_approval_id, &(o)->import_approval_id,                    \
      &(o)->cause_event_id, &(o)->cause_type, &(o)->cause_topic

order_t *order_new(const char *id) {
  order_t *o = calloc(1, sizeof *o);
  if (!o) order_oom();
  char **strs[] = {ORDER_STRINGS(o)};
  for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) *strs[i] = order_xstrdup("");
  order_str_set(&o->id, id);
  return o;
}

void order_free(order_t *o) {
  if (!o) return;
  char **strs[] = {ORDER_STRINGS(o)};
  for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) free(*strs[i]);
  order_grant_clear(&o->export_grant);
  order_grant_clear(&o->import_grant);
  for (size_t i = 0; i < o->nseen; i++) free(o->seen[i]);
  free(o->seen);
  for (size_t i = 0; i < o->nparked; i++) order_parked_clear(&o->parked[i]);
  free(o->parked);
  free(o);
}

bool order_seen_has(const order_t *o, const char *id) {
  for (size_t i = 0; i < o->nseen; i++)
    if (strcmp(o->seen[i], id) == 0) return true;
  return false;
}

void order_seen_add(order_t *o, const char *id) {
  if (o->nseen == o->capseen) {
    o->capseen = o->capseen ? o->capseen * 2 : 8;
    o->seen = order_xrealloc(o->seen, o->capseen * sizeof *o->seen);
  }
  o->seen[o->nseen++] = order_xstrdup(id);
}

size_t order_parked_bytes(const order_t *o) {
  size_t n = 0;
  for (size_t i = 0; i < o->nparked; i++) n += o->parked[i].raw_len;
  return n;
}

void order_parked_add(order_t *o, const void *raw, size_t raw_len, const char *topic,
                      int32_t partition, int64_t offset, int64_t occurred_at_ms) {
  if (o->nparked == o->capparked) {
    o->capparked = o->capparked ? o->capparked * 2 : 4;
    o->parked = order_xrealloc(o->parked, o->capparked * sizeof *o->parked);
  }
  order_parked_t *p = &o->parked[o->nparked++];
  memset(p, 0, sizeof *p);
  p->raw = order_xrealloc(NULL, raw_len);
  if (raw_len) memcpy(p->raw, raw, raw_len);
  p->raw_len = raw_len;
  p->topic = order_xstrdup(topic);
  p->partition = partition;
  p->offset = offset;
  p->occurred_at_ms = occurred_at_ms;
}

void order_parked_remove(order_t *o, size_t i) {
  order_parked_clear(&o->parked[i]);
  memmove(&o->parked[i], &o->parked[i + 1], (o->nparked - i - 1) * sizeof *o->parked);
  o->nparked--;
}

/* ---- Text ------------------------------------------------------------
 * Every status record carries a reason written with a printf format, and
 * glibc's vsnprintf costs more than packing the record. The rules' formats
 * use only %s, %d, %lld, %zu and %%, without flags, width or precision:
 * those are written here; a format with anything else goes to vsnprintf.
 * The text is the same either way (debug and sanitizer builds compare
 * every one with vsnprintf's), truncation to size - 1 bytes included. */

/* True if every conversion of fmt is one order_vformat() writes itself. */
static bool order_format_simple(const char *fmt) {
  for (const char *f = fmt; (f = strchr(f, '%')) != NULL; f++) {
    f++;
    if (*f == 's' || *f == 'd' || *f == '%') continue;
    if (f[0] == 'l' && f[1] == 'l' && f[2] == 'd') f += 2;
    else if (f[0] == 'z' && f[1] == 'u') f++;
    else return false;
  }
  return true;
}

typedef struct order_text {
  char *p, *end; /* end: where the terminating NUL goes at the latest. */
} order_text_t;

static void order_text_put(order_text_t *t, const char *s, size_t n) {
  size_t room = (size_t)(t->end - t->p);
  if (n > room) n = room;
  memcpy(t->p, s, n);
  t->p += n;
}

static void order_text_num(order_text_t *t, bool negative, unsigned long long v) {
  char digits[24], *d = digits + sizeof digits;
  do *--d = (char)('0' + v % 10); while ((v /= 10) != 0);
  if (negative) *--d = '-';
  order_text_put(t, d, (size_t)(digits + sizeof digits - d));
}

static void order_text_signed(order_text_t *t, long long v) {
  order_text_num(t, v < 0, v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v);
}

static void order_vformat_simple(char *buf, size_t size, const char *fmt, va_list ap) {
  order_text_t t = {buf, buf + size - 1};
  for (const char *f = fmt; *f; f++) {
    const char *pct = strchr(f, '%');
    if (!pct) {
      order_text_put(&t, f, strlen(f));
      break;
    }
    order_text_put(&t, f, (size_t)(pct - f));
    f = pct + 1;
    if (*f == 's') {
      const char *s = va_arg(ap, const char *);
      if (!s) s = "(null)"; /* As glibc prints it. */
      order_text_put(&t, s, strlen(s));
    } else if (*f == 'd') {
      order_text_signed(&t, va_arg(ap, int));
    } else if (*f == 'l') {
      order_text_signed(&t, va_arg(ap, long long));
      f += 2;
    } else if (*f == 'z') {
      order_text_num(&t, false, va_arg(ap, size_t));
      f++;
    } else {
      order_text_put(&t, "%", 1);
    }
  }
  *t.p = '\0';
}

void order_vformat(char *buf, size_t size, const char *fmt, va_list ap) {
  if (size == 0) return;
  if (!order_format_simple(fmt)) {
    vsnprintf(buf, size, fmt, ap);
    return;
  }
#ifdef ORDER_WIRE_CHECK
  va_list ap2;
  va_copy(ap2, ap);
#endif
  order_vformat_simple(buf, size, fmt, ap);
#ifdef ORDER_WIRE_CHECK
  char *want = order_xrealloc(NULL, size);
  vsnprintf(want, size, fmt, ap2);
  va_end(ap2);
  if (strcmp(want, buf) != 0) {
    fprintf(stderr, "orderd: order_vformat wrote '%s' where vsnprintf writes '%s'\n", buf, want);
    abort();
  }
  free(want);
#endif
}

void order_publish(order_t *o, int previous_state, const char *reason_code, const char *reason,
                   const order_cause_t *cause, order_out_t *out) {
  if (out->nstatus >= ORDER_OUT_MAX) {
    /* Unreachable when the glue releases out after each call: a call emits
     * at most ORDER_PARKED_LIMIT + 3 records (see order_policy.h). */
    fputs("orderd: order_out_t status overflow (order_out_release not called?)\n", stderr);
    abort();
  }
  o->version++;
  o->previous_state = previous_state;
  order_str_set(&o->reason_code, reason_code);
  order_str_set(&o->reason, reason);
  order_str_set(&o->cause_event_id, cause->event_id);
  order_str_set(&o->cause_type, cause->type);
  order_str_set(&o->cause_topic, cause->topic);
  o->cause_partition = cause->partition;
  o->cause_offset = cause->offset;
  o->cause_occurred_at_ms = cause->occurred_at_ms;
  order_status_rec_t *rec = &out->status[out->nstatus++];
  rec->len = order_status_pack(o, &rec->buf);
  rec->state = o->state;
  rec->timestamp_ms = cause->occurred_at_ms;
  const char *key = gl_order_batch_key(o->state, o->batch_id);
  size_t klen = key ? strnlen(key, sizeof rec->batch_key - 1) : 0; /* Cut as snprintf would. */
  memcpy(rec->batch_key, key ? key : "", klen);
  rec->batch_key[klen] = '\0';
  out->changed = true;
}

/* protobuf-c's packing of the same order, for ORDER_WIRE_CHECK. */
#ifdef ORDER_WIRE_CHECK
/* Returns s, or "" for NULL: protobuf-c packs strings through these pointers. */
static char *order_s(char *s) {
  return s ? s : (char *)"";
}

/* Fills st (and c, linked from st when the cause is set) with o's view. The
 * message borrows o's strings; it must not outlive o or be freed. */
static void order_status_fill(const order_t *o, Greenlight__V1__OrderStatus *st,
                              Greenlight__V1__Cause *c) {
  greenlight__v1__order_status__init(st);
  greenlight__v1__cause__init(c);
  st->order_id = order_s(o->id);
  st->buyer_id = order_s(o->buyer_id);
  st->state = (Greenlight__V1__OrderState)o->state;
  st->previous_state = (Greenlight__V1__OrderState)o->previous_state;
  st->version = o->version;
  st->reason_code = order_s(o->reason_code);
  st->reason = order_s(o->reason);
  st->units_requested = o->units_requested;
  st->units_export_approved = o->units_export;
  st->units_import_approved = o->units_import;
  st->units_effective = o->units_effective;
  st->units_cleared = o->units_cleared;
  st->batch_id = order_s(o->batch_id);
  st->batch_seq = o->batch_seq;
  st->queue_position = o->queue_position;
  st->batch_unit_cap = o->batch_unit_cap;
  st->valid_until_ms = o->valid_until_ms;
  st->required_domestic_ratio_bp = o->ratio_bp;
  st->domestic_units_committed = o->domestic;
  st->buyer_name = order_s(o->buyer_name);
  st->product = order_s(o->product);
  st->end_use = (Greenlight__V1__EndUse)o->end_use;
  st->export_approval_id = order_s(o->export_approval_id);
  st->import_approval_id = order_s(o->import_approval_id);
  c->event_id = order_s(o->cause_event_id);
  c->event_type = order_s(o->cause_type);
  c->topic = order_s(o->cause_topic);
  c->partition = o->cause_partition;
  c->offset = o->cause_offset;
  c->occurred_at_ms = o->cause_occurred_at_ms;
  if (order_has_cause(o)) st->cause = c;
}

static void order_wire_check(const char *what, const ProtobufCMessage *msg, const uint8_t *buf,
                             size_t len) {
  uint8_t *pb = NULL;
  size_t n = gl_message_pack(msg, &pb);
  if (n != len || memcmp(pb, buf, n) != 0) {
    fprintf(stderr, "orderd: order_wire wrote a %s of %zu bytes unlike protobuf-c's %zu\n", what,
            len, n);
    abort();
  }
  free(pb);
}

static void order_grant_to_pb(const order_grant_t *g, Greenlight__V1__Grant *pb) {
  greenlight__v1__grant__init(pb);
  pb->approval_id = order_s(g->approval_id);
  pb->units = g->units;
  pb->required_domestic_ratio_bp = g->ratio_bp;
  pb->valid_until_ms = g->valid_until_ms;
  pb->batch_id = order_s(g->batch_id);
}

/* The OrderRecord of o as protobuf-c packs it, compared with buf. */
static void order_encode_check(const order_t *o, const uint8_t *buf, size_t len) {
  Greenlight__V1__OrderRecord rec;
  Greenlight__V1__OrderStatus st;
  Greenlight__V1__Cause c;
  Greenlight__V1__Grant eg, ig;
  greenlight__v1__order_record__init(&rec);
  order_status_fill(o, &st, &c);
  rec.status = &st;
  if (o->export_grant.present) {
    order_grant_to_pb(&o->export_grant, &eg);
    rec.export_grant = &eg;
  }
  if (o->import_grant.present) {
    order_grant_to_pb(&o->import_grant, &ig);
    rec.import_grant = &ig;
  }
  rec.n_seen_event_ids = o->nseen;
  rec.seen_event_ids = o->seen;
  Greenlight__V1__ParkedEvent *pe = order_xrealloc(NULL, o->nparked * sizeof *pe);
  Greenlight__V1__ParkedEvent **pp = order_xrealloc(NULL, o->nparked * sizeof *pp);
  for (size_t i = 0; i < o->nparked; i++) {
    greenlight__v1__parked_event__init(&pe[i]);
    pe[i].envelope.data = o->parked[i].raw;
    pe[i].envelope.len = o->parked[i].raw_len;
    pe[i].topic = order_s(o->parked[i].topic);
    pe[i].partition = o->parked[i].partition;
    pe[i].offset = o->parked[i].offset;
    pe[i].occurred_at_ms = o->parked[i].occurred_at_ms;
    pp[i] = &pe[i];
  }
  rec.n_parked = o->nparked;
  rec.parked = pp;
  rec.closed_at_ms = o->closed_at_ms;
  order_wire_check("OrderRecord", &rec.base, buf, len);
  free(pp);
  free(pe);
}
#endif

size_t order_status_pack(const order_t *o, uint8_t **out) {
  size_t n = order_wire_status(o, out);
#ifdef ORDER_WIRE_CHECK
  Greenlight__V1__OrderStatus st;
  Greenlight__V1__Cause c;
  order_status_fill(o, &st, &c);
  order_wire_check("OrderStatus", &st.base, *out, n);
#endif
  return n;
}

size_t order_encode(const order_t *o, uint8_t **out) {
  size_t n = order_wire_record(o, out);
#ifdef ORDER_WIRE_CHECK
  order_encode_check(o, *out, n);
#endif
  return n;
}

static void order_grant_from_pb(order_grant_t *g, const Greenlight__V1__Grant *pb) {
  order_grant_clear(g);
  if (!pb) return;
  g->present = true;
  g->approval_id = order_xstrdup(pb->approval_id);
  g->units = pb->units;
  g->ratio_bp = pb->required_domestic_ratio_bp;
  g->valid_until_ms = pb->valid_until_ms;
  g->batch_id = order_xstrdup(pb->batch_id);
}

/* Checks what the rules rely on; a record failing this was not written by a
 * compatible order_encode(). Returns NULL or a description. */
static const char *order_record_check(const Greenlight__V1__OrderRecord *rec) {
  const Greenlight__V1__OrderStatus *st = rec->status;
  if (!st || !st->order_id || !*st->order_id) return "no status.order_id";
  if (strlen(st->order_id) > GL_ID_MAX) return "status.order_id too long";
  if (st->version < 0) return "negative status.version";
  if ((st->state == GREENLIGHT__V1__ORDER_STATE__ORDER_STATE_UNSPECIFIED) != (st->version == 0))
    return "status.version and status.state disagree";
  if (st->state == GREENLIGHT__V1__ORDER_STATE__ORDER_STATE_RECEIVED)
    return "status.state RECEIVED is never stored";
  if (st->units_requested < 0 || st->units_export_approved < 0 || st->units_import_approved < 0 ||
      st->units_effective < 0 || st->units_cleared < 0 || st->domestic_units_committed < 0)
    return "negative unit count";
  if (rec->n_parked > ORDER_PARKED_LIMIT) return "more parked events than ORDER_PARKED_LIMIT";
  for (size_t i = 0; i < rec->n_seen_event_ids; i++)
    if (!rec->seen_event_ids[i]) return "null seen_event_id";
  return NULL;
}

order_t *order_decode(const void *buf, size_t len, char *errstr, size_t errlen) {
  Greenlight__V1__OrderRecord *rec = greenlight__v1__order_record__unpack(NULL, len, buf);
  if (!rec) {
    snprintf(errstr, errlen, "not a greenlight.v1.OrderRecord (%zu bytes)", len);
    return NULL;
  }
  char detail[256];
  if (gl_message_check_enums(&rec->base, detail, sizeof detail) < 0) {
    snprintf(errstr, errlen, "OrderRecord: %s", detail);
    greenlight__v1__order_record__free_unpacked(rec, NULL);
    return NULL;
  }
  const char *bad = order_record_check(rec);
  if (bad) {
    snprintf(errstr, errlen, "OrderRecord: %s", bad);
    greenlight__v1__order_record__free_unpacked(rec, NULL);
    return NULL;
  }
  const Greenlight__V1__OrderStatus *st = rec->status;
  order_t *o = order_new(st->order_id);
  order_str_set(&o->buyer_id, st->buyer_id);
  order_str_set(&o->buyer_name, st->buyer_name);
  order_str_set(&o->product, st->product);
  o->end_use = st->end_use;
  o->state = st->state;
  o->previous_state = st->previous_state;
  o->version = st->version;
  order_str_set(&o->reason_code, st->reason_code);
  order_str_set(&o->reason, st->reason);
  o->units_requested = st->units_requested;
  o->units_export = st->units_export_approved;
  o->units_import = st->units_import_approved;
  o->units_effective = st->units_effective;
  o->units_cleared = st->units_cleared;
  order_str_set(&o->batch_id, st->batch_id);
  o->batch_seq = st->batch_seq;
  o->queue_position = st->queue_position;
  o->batch_unit_cap = st->batch_unit_cap;
  o->valid_until_ms = st->valid_until_ms;
  o->ratio_bp = st->required_domestic_ratio_bp;
  o->domestic = st->domestic_units_committed;
  order_str_set(&o->export_approval_id, st->export_approval_id);
  order_str_set(&o->import_approval_id, st->import_approval_id);
  if (st->cause) {
    order_str_set(&o->cause_event_id, st->cause->event_id);
    order_str_set(&o->cause_type, st->cause->event_type);
    order_str_set(&o->cause_topic, st->cause->topic);
    o->cause_partition = st->cause->partition;
    o->cause_offset = st->cause->offset;
    o->cause_occurred_at_ms = st->cause->occurred_at_ms;
  }
  order_grant_from_pb(&o->export_grant, rec->export_grant);
  order_grant_from_pb(&o->import_grant, rec->import_grant);
  for (size_t i = 0; i < rec->n_seen_event_ids; i++) order_seen_add(o, rec->seen_event_ids[i]);
  for (size_t i = 0; i < rec->n_parked; i++) {
    const Greenlight__V1__ParkedEvent *p = rec->parked[i];
    order_parked_add(o, p->envelope.data, p->envelope.len, p->topic, p->partition, p->offset,
                     p->occurred_at_ms);
  }
  o->closed_at_ms = rec->closed_at_ms;
  greenlight__v1__order_record__free_unpacked(rec, NULL);
  return o;
}

void order_out_init(order_out_t *out) {
  out->nstatus = out->nrefusal = 0;
  out->changed = out->remove = false;
  out->duplicates = out->parked = 0;
}

void order_out_release(order_out_t *out) {
  for (size_t i = 0; i < out->nstatus; i++) free(out->status[i].buf);
  for (size_t i = 0; i < out->nrefusal; i++) free(out->refusal[i].raw);
  order_out_init(out);
}

const char *order_id(const order_t *o) {
  return o->id;
}

int order_state(const order_t *o) {
  return o->state;
}

const char *order_batch_id(const order_t *o) { return o->batch_id ? o->batch_id : ""; }

int64_t order_version(const order_t *o) {
  return o->version;
}

size_t order_parked_count(const order_t *o) {
  return o->nparked;
}

size_t order_seen_count(const order_t *o) {
  return o->nseen;
}

int64_t order_closed_at(const order_t *o) {
  return o->closed_at_ms;
}
