/* batch_view: the rules of the batch daemon's per-batch views.
 *
 * Input. The order daemon writes every OrderStatus also to the repartition
 * topic, keyed by the order's batch key (gl_order_batch_key): its batch_id
 * when it is queued in a batch, "~waiting" while it is ACCEPTED and waits
 * for a later batch, no record otherwise. When the key of an order changes
 * from K_old to K_new, the same status is written under both keys; under
 * K_old its own batch key differs from the record key, which means "this
 * order has left K_old". So one batch's records all land in one partition
 * of the repartition topic, and one batch view has a single writer.
 *
 * Decisions (where SPEC §7 is silent):
 *
 *  1. Membership. A status whose batch key equals the record key upserts
 *     the order (state, units requested/effective/cleared, version); any
 *     other status under that key removes it. An order leaves a batch only
 *     by moving: to another batch (carried over, rule 3) or, for the
 *     waiting view, out of ACCEPTED (queued, cancelled, ...). Terminal
 *     orders keep their batch_id, so they stay members.
 *
 *  2. Counting. units_requested and units_cleared sum over every member.
 *     QUEUED counts in orders_queued; APPROVED and PARTIALLY_CLEARED in
 *     orders_approved; CLEARED in orders_cleared; DENIED in orders_denied.
 *     units_approved sums units_effective over APPROVED, PARTIALLY_CLEARED
 *     and CLEARED members.
 *     EXPIRED and CANCELLED members stay members but are in none of the
 *     order counts and not in units_approved: their approval no longer
 *     holds, so the units they did not clear no longer claim the cap. They
 *     are kept rather than dropped because what they did clear crossed the
 *     border under this batch (rule 6 keeps cleared units) and what they
 *     requested was put to the regulator in this batch: dropping them would
 *     make units_cleared go down, which a reader of an allocation ledger
 *     would take for an error. So the order counts may sum to fewer than the
 *     members; the difference is the closed-without-approval orders.
 *     REJECTED orders never have a batch key (they are rejected before any
 *     batch), and an ACCEPTED order in a batch cannot occur; either would be
 *     a member counted in no order count.
 *
 *  3. The waiting view. Key "~waiting" collects the ACCEPTED orders of all
 *     partitions of the order daemon (they share one key, hence one
 *     partition here). Its batch_id is "" (it is not a batch; the key says
 *     what it is), batch_seq and unit_cap are 0, orders_waiting is the
 *     number of members and units_requested their requested units; every
 *     other count is 0 because every member is ACCEPTED. For a real batch
 *     orders_waiting is 0.
 *
 *  4. batch_seq and unit_cap come from the latest status that upserts a
 *     member (OrderStatus.batch_seq, batch_unit_cap). A removal does not
 *     touch them: it carries the sequence and cap of the batch the order
 *     moved to. over_cap = unit_cap > 0 && units_approved > unit_cap; a
 *     batch exactly at its cap is not over it.
 *
 *  5. Idempotence. A status whose version is not above the stored member's
 *     version is ignored, so a status replayed after a crash (at-least-once
 *     mode) or seen twice changes nothing. A removal of an order that is not
 *     a member changes nothing either, and does not create the batch. Known
 *     limit: once an order has left, its version is forgotten, so an older
 *     upsert replayed after the removal and never followed by the removal
 *     again would bring it back; in exactly-once mode (the default) the
 *     repartition topic is read in order and with read_committed, so this
 *     cannot happen, and in at-least-once mode a replay re-reads the removal
 *     too. Keeping a tombstone per departed order would grow the waiting
 *     view by every order ever placed.
 *
 *  6. Versions. The view (every BatchStatus field except version and
 *     updated_at_ms) is recomputed after each applied status. If it differs
 *     from the last published one, version = previous + 1, updated_at_ms =
 *     the status's cause.occurred_at_ms (event time; the previous value if
 *     the status names no cause) and the daemon publishes one record. So
 *     the published versions of a batch are 1, 2, 3, ... with no gap. A
 *     status that changes members but no view field (for example the export
 *     licence of a QUEUED order) is stored but publishes nothing.
 *
 *  7. A batch whose members all left stays, with a zero view: deleting it
 *     would restart its versions at 1 if an order came back.
 *
 *  8. Order of changes. The statuses of one order arrive in order (one
 *     writer per order, read_committed), but orders owned by different
 *     partitions of the order daemon interleave in the order those
 *     partitions wrote, not in event time. Views are not reordered here:
 *     an intermediate view may mix orders at different event times and
 *     updated_at_ms may go back, but the view after the last status of
 *     every member is exact, and this daemon's output is a pure function
 *     of its input log (a replay of the repartition topic reproduces it).
 *
 * Sums saturate at INT64_MAX instead of overflowing on absurd input. */
#include "batch_view.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ST(x) GREENLIGHT__V1__ORDER_STATE__ORDER_STATE_##x

struct batch {
  char key[GL_ID_MAX + 1];
  batch_view_t view;        /* The last published view (version 0 = none yet). */
  batch_member_t *members;  /* Sorted by order_id, unique. */
  size_t nmembers;
  size_t capmembers;
};

/* Aborts with a message: the process cannot continue without memory. */
static void batch_oom(void) {
  fputs("batchd: out of memory\n", stderr);
  abort();
}

/* Adds b to *a, saturating at INT64_MAX (both are >= 0). */
static void batch_add(int64_t *a, int64_t b) {
  if (__builtin_add_overflow(*a, b, a)) *a = INT64_MAX;
}

bool batch_key_is_waiting(const char *key) {
  return key && strcmp(key, GL_BATCH_KEY_WAITING) == 0;
}

batch_t *batch_new(const char *key) {
  batch_t *b = calloc(1, sizeof *b);
  if (!b) batch_oom();
  snprintf(b->key, sizeof b->key, "%s", key ? key : "");
  if (!batch_key_is_waiting(b->key)) snprintf(b->view.batch_id, sizeof b->view.batch_id, "%s", b->key);
  return b;
}

void batch_free(batch_t *b) {
  if (!b) return;
  free(b->members);
  free(b);
}

const char *batch_key(const batch_t *b) { return b->key; }
const batch_view_t *batch_view(const batch_t *b) { return &b->view; }
size_t batch_member_count(const batch_t *b) { return b->nmembers; }
const batch_member_t *batch_member_at(const batch_t *b, size_t i) {
  return i < b->nmembers ? &b->members[i] : NULL;
}

/* Binary search by order_id: returns true and its index, or false and the
 * index where it would be inserted. */
static bool batch_find(const batch_t *b, const char *order_id, size_t *pos) {
  size_t lo = 0, hi = b->nmembers;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(b->members[mid].order_id, order_id);
    if (c == 0) {
      *pos = mid;
      return true;
    }
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  *pos = lo;
  return false;
}

const batch_member_t *batch_member_find(const batch_t *b, const char *order_id) {
  size_t pos;
  return batch_find(b, order_id, &pos) ? &b->members[pos] : NULL;
}

/* Inserts an empty member named order_id at pos (from batch_find). */
static batch_member_t *batch_insert(batch_t *b, size_t pos, const char *order_id) {
  if (b->nmembers == b->capmembers) {
    b->capmembers = b->capmembers ? b->capmembers * 2 : 4;
    b->members = realloc(b->members, b->capmembers * sizeof *b->members);
    if (!b->members) batch_oom();
  }
  memmove(&b->members[pos + 1], &b->members[pos], (b->nmembers - pos) * sizeof *b->members);
  b->nmembers++;
  batch_member_t *m = &b->members[pos];
  memset(m, 0, sizeof *m);
  snprintf(m->order_id, sizeof m->order_id, "%s", order_id);
  return m;
}

static void batch_remove(batch_t *b, size_t pos) {
  memmove(&b->members[pos], &b->members[pos + 1], (b->nmembers - pos - 1) * sizeof *b->members);
  b->nmembers--;
}

int batch_status_check(const Greenlight__V1__OrderStatus *st, char *err, size_t errlen) {
  size_t n = st->order_id ? strlen(st->order_id) : 0;
  size_t nb = st->batch_id ? strlen(st->batch_id) : 0;
  const ProtobufCEnumValue *ev =
      protobuf_c_enum_descriptor_get_value(&greenlight__v1__order_state__descriptor, st->state);
  if (n == 0 || n > GL_ID_MAX) {
    snprintf(err, errlen, "OrderStatus: order_id must have 1..%d bytes (got %zu)", GL_ID_MAX, n);
  } else if (nb > GL_ID_MAX) {
    snprintf(err, errlen, "OrderStatus %s: batch_id longer than %d bytes (%zu)", st->order_id,
             GL_ID_MAX, nb);
  } else if (!ev || st->state == ST(UNSPECIFIED) || st->state == ST(RECEIVED)) {
    snprintf(err, errlen, "OrderStatus %s: state %d is not a published order state",
             st->order_id, (int)st->state);
  } else if (st->version < 1) {
    snprintf(err, errlen, "OrderStatus %s: version must be >= 1 (got %lld)", st->order_id,
             (long long)st->version);
  } else if (st->units_requested < 0 || st->units_effective < 0 || st->units_cleared < 0 ||
             st->batch_unit_cap < 0 || st->batch_seq < 0) {
    snprintf(err, errlen,
             "OrderStatus %s: units and cap must be >= 0 (requested %lld, effective %lld, "
             "cleared %lld, cap %lld, batch_seq %d)",
             st->order_id, (long long)st->units_requested, (long long)st->units_effective,
             (long long)st->units_cleared, (long long)st->batch_unit_cap, (int)st->batch_seq);
  } else {
    return 0;
  }
  return -1;
}

/* Recomputes the counts of v from the members (decision 2 and 3). */
static void batch_count(const batch_t *b, batch_view_t *v) {
  v->orders_queued = v->orders_approved = v->orders_denied = v->orders_cleared = 0;
  v->units_requested = v->units_approved = v->units_cleared = 0;
  for (size_t i = 0; i < b->nmembers; i++) {
    const batch_member_t *m = &b->members[i];
    batch_add(&v->units_requested, m->units_requested);
    batch_add(&v->units_cleared, m->units_cleared);
    switch (m->state) {
      case ST(QUEUED): v->orders_queued++; break;
      case ST(APPROVED):
      case ST(PARTIALLY_CLEARED):
        v->orders_approved++;
        batch_add(&v->units_approved, m->units_effective);
        break;
      case ST(CLEARED):
        v->orders_cleared++;
        batch_add(&v->units_approved, m->units_effective);
        break;
      case ST(DENIED): v->orders_denied++; break;
      default: break; /* EXPIRED, CANCELLED (decision 2). */
    }
  }
  v->orders_waiting = batch_key_is_waiting(b->key) ? (int64_t)b->nmembers : 0;
  v->over_cap = v->unit_cap > 0 && v->units_approved > v->unit_cap;
}

/* True when the two views publish the same facts (version and time aside). */
static bool batch_view_same(const batch_view_t *a, const batch_view_t *b) {
  return strcmp(a->batch_id, b->batch_id) == 0 && a->batch_seq == b->batch_seq &&
         a->unit_cap == b->unit_cap && a->orders_queued == b->orders_queued &&
         a->orders_approved == b->orders_approved && a->orders_denied == b->orders_denied &&
         a->orders_cleared == b->orders_cleared && a->units_requested == b->units_requested &&
         a->units_approved == b->units_approved && a->units_cleared == b->units_cleared &&
         a->over_cap == b->over_cap && a->orders_waiting == b->orders_waiting;
}

batch_result_t batch_apply(batch_t *b, const Greenlight__V1__OrderStatus *st) {
  const char *skey = gl_order_batch_key(st->state, st->batch_id);
  bool here = skey && strcmp(skey, b->key) == 0;
  size_t pos;
  bool found = batch_find(b, st->order_id, &pos);
  if (found && st->version <= b->members[pos].version) return BATCH_IGNORED;
  batch_view_t next = b->view;
  if (here) {
    batch_member_t *m = found ? &b->members[pos] : batch_insert(b, pos, st->order_id);
    m->state = st->state;
    m->units_requested = st->units_requested;
    m->units_effective = st->units_effective;
    m->units_cleared = st->units_cleared;
    m->version = st->version;
    next.batch_seq = st->batch_seq;
    next.unit_cap = st->batch_unit_cap;
  } else if (found) {
    batch_remove(b, pos);
  } else {
    return BATCH_IGNORED;
  }
  batch_count(b, &next);
  if (batch_view_same(&next, &b->view)) return BATCH_MEMBERS;
  next.version = b->view.version + 1;
  if (st->cause && st->cause->occurred_at_ms > 0) next.updated_at_ms = st->cause->occurred_at_ms;
  b->view = next;
  return BATCH_PUBLISH;
}

/* ---- Encoding ------------------------------------------------------------ */

/* Fills s with v's fields; s borrows v's strings. */
static void batch_view_to_msg(const batch_view_t *v, Greenlight__V1__BatchStatus *s) {
  greenlight__v1__batch_status__init(s);
  s->batch_id = (char *)v->batch_id;
  s->batch_seq = v->batch_seq;
  s->unit_cap = v->unit_cap;
  s->orders_queued = v->orders_queued;
  s->orders_approved = v->orders_approved;
  s->orders_denied = v->orders_denied;
  s->orders_cleared = v->orders_cleared;
  s->units_requested = v->units_requested;
  s->units_approved = v->units_approved;
  s->units_cleared = v->units_cleared;
  s->over_cap = v->over_cap;
  s->orders_waiting = v->orders_waiting;
  s->version = v->version;
  s->updated_at_ms = v->updated_at_ms;
}

size_t batch_status_pack(const batch_t *b, uint8_t **out) {
  Greenlight__V1__BatchStatus s;
  batch_view_to_msg(&b->view, &s);
  return gl_message_pack(&s.base, out);
}

size_t batch_encode(const batch_t *b, uint8_t **out) {
  Greenlight__V1__BatchStatus s;
  batch_view_to_msg(&b->view, &s);
  Greenlight__V1__BatchRecord r = GREENLIGHT__V1__BATCH_RECORD__INIT;
  r.status = &s;
  r.key = (char *)b->key;
  Greenlight__V1__BatchMember *ms = NULL, **ptrs = NULL;
  if (b->nmembers) {
    ms = calloc(b->nmembers, sizeof *ms);
    ptrs = calloc(b->nmembers, sizeof *ptrs);
    if (!ms || !ptrs) batch_oom();
  }
  for (size_t i = 0; i < b->nmembers; i++) {
    const batch_member_t *m = &b->members[i];
    greenlight__v1__batch_member__init(&ms[i]);
    ms[i].order_id = (char *)m->order_id;
    ms[i].state = (Greenlight__V1__OrderState)m->state;
    ms[i].units_requested = m->units_requested;
    ms[i].units_effective = m->units_effective;
    ms[i].units_cleared = m->units_cleared;
    ms[i].version = m->version;
    ptrs[i] = &ms[i];
  }
  r.n_members = b->nmembers;
  r.members = ptrs;
  size_t n = gl_message_pack(&r.base, out);
  free(ms);
  free(ptrs);
  return n;
}

/* Copies a decoded record into b; returns -1 with err on a field no writer
 * of this version produces. */
static int batch_from_msg(batch_t *b, const Greenlight__V1__BatchRecord *r, char *err,
                          size_t errlen) {
  const Greenlight__V1__BatchStatus *s = r->status;
  size_t nk = r->key ? strlen(r->key) : 0;
  if (nk == 0 || nk > GL_ID_MAX) {
    snprintf(err, errlen, "BatchRecord: key must have 1..%d bytes (got %zu)", GL_ID_MAX, nk);
    return -1;
  }
  if (s && s->batch_id && strlen(s->batch_id) > GL_ID_MAX) {
    snprintf(err, errlen, "BatchRecord %s: batch_id longer than %d bytes", r->key, GL_ID_MAX);
    return -1;
  }
  if (s) {
    batch_view_t *v = &b->view;
    snprintf(v->batch_id, sizeof v->batch_id, "%s", s->batch_id ? s->batch_id : "");
    v->batch_seq = s->batch_seq;
    v->unit_cap = s->unit_cap;
    v->orders_queued = s->orders_queued;
    v->orders_approved = s->orders_approved;
    v->orders_denied = s->orders_denied;
    v->orders_cleared = s->orders_cleared;
    v->units_requested = s->units_requested;
    v->units_approved = s->units_approved;
    v->units_cleared = s->units_cleared;
    v->over_cap = s->over_cap;
    v->orders_waiting = s->orders_waiting;
    v->version = s->version;
    v->updated_at_ms = s->updated_at_ms;
  }
  for (size_t i = 0; i < r->n_members; i++) {
    const Greenlight__V1__BatchMember *in = r->members[i];
    size_t n = in->order_id ? strlen(in->order_id) : 0;
    if (n == 0 || n > GL_ID_MAX) {
      snprintf(err, errlen, "BatchRecord %s: member %zu: order_id must have 1..%d bytes", r->key,
               i, GL_ID_MAX);
      return -1;
    }
    /* Members are written sorted; a record that is not is sorted here. */
    size_t pos;
    batch_member_t *m = batch_find(b, in->order_id, &pos) ? &b->members[pos]
                                                          : batch_insert(b, pos, in->order_id);
    m->state = in->state;
    m->units_requested = in->units_requested;
    m->units_effective = in->units_effective;
    m->units_cleared = in->units_cleared;
    m->version = in->version;
  }
  return 0;
}

batch_t *batch_decode(const void *buf, size_t len, char *errstr, size_t errlen) {
  Greenlight__V1__BatchRecord *r = greenlight__v1__batch_record__unpack(NULL, len, buf);
  if (!r) {
    snprintf(errstr, errlen, "not a valid greenlight.v1.BatchRecord (%zu bytes)", len);
    return NULL;
  }
  batch_t *b = batch_new(r->key);
  if (batch_from_msg(b, r, errstr, errlen) != 0) {
    batch_free(b);
    b = NULL;
  }
  greenlight__v1__batch_record__free_unpacked(r, NULL);
  return b;
}
