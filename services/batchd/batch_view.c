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
 *     The counts are kept incrementally: a status takes its member's last
 *     contribution (the member entry: state, units, version) away and adds
 *     the new one, so a step costs the same whatever the size of the batch,
 *     and neither the batch nor a member is ever a list of members
 *     (batch_store.c: one store entry per batch, one per member).
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
 *     too. A departed order's member entry is deleted (a tombstone in the
 *     changelog): keeping it would grow the waiting view's state by every
 *     order ever placed.
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
 * Sums are kept exact (carry * 2^63 + low, greenlight.v1.UnitSum) and
 * shown saturated at INT64_MAX, so absurd input never overflows, and a view
 * is exact again once an absurd member leaves. */
#include "batch_view.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ST(x) GREENLIGHT__V1__ORDER_STATE__ORDER_STATE_##x

/* An exact sum of terms >= 0: carry * 2^63 + low, 0 <= low <= INT64_MAX. */
typedef struct batch_sum {
  int64_t low;
  int64_t carry;
} batch_sum_t;

struct batch {
  batch_kind_t kind;        /* BATCH_KIND_BATCH; first, as in batch_member_t. */
  char key[GL_ID_MAX + 1];
  batch_view_t view;        /* The last published view (version 0 = none yet). */
  int64_t members;          /* Member entries under key. */
  batch_sum_t requested, approved, cleared; /* Exact sums behind the view's units. */
};

/* Aborts with a message: the process cannot continue without memory. */
static void batch_oom(void) {
  fputs("batchd: out of memory\n", stderr);
  abort();
}

/* Adds v (sign 1) or takes it away (sign -1) from s; v >= 0. */
static void batch_sum_move(batch_sum_t *s, int64_t v, int sign) {
  uint64_t low = (uint64_t)s->low;
  if (sign > 0) {
    low += (uint64_t)v; /* Both < 2^63: no wrap. */
    s->carry += (int64_t)(low >> 63);
  } else if (low >= (uint64_t)v) {
    low -= (uint64_t)v;
  } else {
    low = low + ((uint64_t)1 << 63) - (uint64_t)v;
    s->carry--;
  }
  s->low = (int64_t)(low & (uint64_t)INT64_MAX);
}

/* The sum as the view shows it: saturated at INT64_MAX. */
static int64_t batch_sum_value(const batch_sum_t *s) {
  return s->carry > 0 ? INT64_MAX : s->carry < 0 ? 0 : s->low;
}

bool batch_key_is_waiting(const char *key) {
  return key && strcmp(key, GL_BATCH_KEY_WAITING) == 0;
}

batch_t *batch_new(const char *key) {
  batch_t *b = calloc(1, sizeof *b);
  if (!b) batch_oom();
  b->kind = BATCH_KIND_BATCH;
  snprintf(b->key, sizeof b->key, "%s", key ? key : "");
  if (!batch_key_is_waiting(b->key)) snprintf(b->view.batch_id, sizeof b->view.batch_id, "%s", b->key);
  return b;
}

void batch_free(batch_t *b) { free(b); }

const char *batch_key(const batch_t *b) { return b->key; }
const batch_view_t *batch_view(const batch_t *b) { return &b->view; }
int64_t batch_member_count(const batch_t *b) { return b->members; }

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

/* Adds (sign 1) or takes away (sign -1) one member's contribution to b's
 * sums and member count and to v's order counts (decision 2). */
static void batch_count(batch_t *b, batch_view_t *v, const batch_member_t *m, int sign) {
  b->members += sign;
  batch_sum_move(&b->requested, m->units_requested, sign);
  batch_sum_move(&b->cleared, m->units_cleared, sign);
  int64_t *orders = NULL;
  switch (m->state) {
    case ST(QUEUED): orders = &v->orders_queued; break;
    case ST(APPROVED):
    case ST(PARTIALLY_CLEARED): orders = &v->orders_approved; break;
    case ST(CLEARED): orders = &v->orders_cleared; break;
    case ST(DENIED): orders = &v->orders_denied; break;
    default: break; /* EXPIRED, CANCELLED (decision 2). */
  }
  if (orders) *orders += sign;
  if (orders == &v->orders_approved || orders == &v->orders_cleared)
    batch_sum_move(&b->approved, m->units_effective, sign);
}

/* Fills the fields of v that follow from b's sums and counts (decisions 2-4). */
static void batch_finish(const batch_t *b, batch_view_t *v) {
  v->units_requested = batch_sum_value(&b->requested);
  v->units_approved = batch_sum_value(&b->approved);
  v->units_cleared = batch_sum_value(&b->cleared);
  v->orders_waiting = batch_key_is_waiting(b->key) ? b->members : 0;
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

batch_step_t batch_apply(batch_t *b, const batch_member_t *m,
                         const Greenlight__V1__OrderStatus *st) {
  const char *skey = gl_order_batch_key(st->state, st->batch_id);
  bool here = skey && strcmp(skey, b->key) == 0;
  batch_step_t step = {.result = BATCH_IGNORED, .member = false};
  if ((m && st->version <= m->version) || (!m && !here)) return step;
  batch_view_t next = b->view;
  if (m) batch_count(b, &next, m, -1);
  if (here) {
    step.member = true;
    step.next = (batch_member_t){.kind = BATCH_KIND_MEMBER,
                                 .state = st->state,
                                 .units_requested = st->units_requested,
                                 .units_effective = st->units_effective,
                                 .units_cleared = st->units_cleared,
                                 .version = st->version};
    batch_count(b, &next, &step.next, 1);
    next.batch_seq = st->batch_seq;
    next.unit_cap = st->batch_unit_cap;
  }
  batch_finish(b, &next);
  step.result = BATCH_MEMBERS;
  if (batch_view_same(&next, &b->view)) return step;
  next.version = b->view.version + 1;
  if (st->cause && st->cause->occurred_at_ms > 0) next.updated_at_ms = st->cause->occurred_at_ms;
  b->view = next;
  step.result = BATCH_PUBLISH;
  return step;
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

batch_kind_t batch_entry_kind(const void *entry) { return *(const batch_kind_t *)entry; }

void batch_entry_free(void *entry) { free(entry); }

size_t batch_entry_encode(const void *entry, uint8_t **out) {
  Greenlight__V1__BatchStoreValue sv = GREENLIGHT__V1__BATCH_STORE_VALUE__INIT;
  Greenlight__V1__BatchRecord r = GREENLIGHT__V1__BATCH_RECORD__INIT;
  Greenlight__V1__BatchMember mm = GREENLIGHT__V1__BATCH_MEMBER__INIT;
  Greenlight__V1__BatchStatus s;
  Greenlight__V1__UnitSum sums[3];
  if (batch_entry_kind(entry) == BATCH_KIND_MEMBER) {
    const batch_member_t *m = entry;
    mm.state = (Greenlight__V1__OrderState)m->state;
    mm.units_requested = m->units_requested;
    mm.units_effective = m->units_effective;
    mm.units_cleared = m->units_cleared;
    mm.version = m->version;
    sv.kind_case = GREENLIGHT__V1__BATCH_STORE_VALUE__KIND_MEMBER;
    sv.member = &mm;
    return gl_message_pack(&sv.base, out);
  }
  const batch_t *b = entry;
  const batch_sum_t *in[3] = {&b->requested, &b->approved, &b->cleared};
  Greenlight__V1__UnitSum **to[3] = {&r.units_requested, &r.units_approved, &r.units_cleared};
  for (size_t i = 0; i < 3; i++) {
    greenlight__v1__unit_sum__init(&sums[i]);
    sums[i].low = in[i]->low;
    sums[i].carry = in[i]->carry;
    *to[i] = &sums[i];
  }
  batch_view_to_msg(&b->view, &s);
  r.status = &s;
  r.key = (char *)b->key;
  r.members = b->members;
  sv.kind_case = GREENLIGHT__V1__BATCH_STORE_VALUE__KIND_BATCH;
  sv.batch = &r;
  return gl_message_pack(&sv.base, out);
}

/* A sum from the changelog: -1 unless 0 <= low and 0 <= carry. */
static int batch_sum_from_msg(batch_sum_t *to, const Greenlight__V1__UnitSum *in) {
  if (!in) return 0;
  to->low = in->low;
  to->carry = in->carry;
  return in->low < 0 || in->carry < 0 ? -1 : 0;
}

/* A batch from its record; NULL with err on a field no writer of this
 * version produces. */
static batch_t *batch_from_msg(const Greenlight__V1__BatchRecord *r, char *err, size_t errlen) {
  const Greenlight__V1__BatchStatus *s = r->status;
  size_t nk = r->key ? strlen(r->key) : 0;
  if (nk == 0 || nk > GL_ID_MAX) {
    snprintf(err, errlen, "BatchRecord: key must have 1..%d bytes (got %zu)", GL_ID_MAX, nk);
    return NULL;
  }
  if (s && s->batch_id && strlen(s->batch_id) > GL_ID_MAX) {
    snprintf(err, errlen, "BatchRecord %s: batch_id longer than %d bytes", r->key, GL_ID_MAX);
    return NULL;
  }
  batch_t *b = batch_new(r->key);
  b->members = r->members;
  if (r->members < 0 || batch_sum_from_msg(&b->requested, r->units_requested) != 0 ||
      batch_sum_from_msg(&b->approved, r->units_approved) != 0 ||
      batch_sum_from_msg(&b->cleared, r->units_cleared) != 0) {
    snprintf(err, errlen, "BatchRecord %s: negative member count or unit sum", r->key);
    batch_free(b);
    return NULL;
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
  return b;
}

/* A member entry from its record; NULL with err when it could not have been written. */
static batch_member_t *batch_member_from_msg(const Greenlight__V1__BatchMember *in, char *err,
                                             size_t errlen) {
  if (in->version < 1 || in->units_requested < 0 || in->units_effective < 0 ||
      in->units_cleared < 0) {
    snprintf(err, errlen, "BatchMember: version %lld < 1 or negative units",
             (long long)in->version);
    return NULL;
  }
  batch_member_t *m = calloc(1, sizeof *m);
  if (!m) batch_oom();
  *m = (batch_member_t){.kind = BATCH_KIND_MEMBER,
                        .state = in->state,
                        .units_requested = in->units_requested,
                        .units_effective = in->units_effective,
                        .units_cleared = in->units_cleared,
                        .version = in->version};
  return m;
}

void *batch_entry_decode(const void *buf, size_t len, char *errstr, size_t errlen) {
  Greenlight__V1__BatchStoreValue *sv = greenlight__v1__batch_store_value__unpack(NULL, len, buf);
  void *out = NULL;
  if (!sv)
    snprintf(errstr, errlen, "not a valid greenlight.v1.BatchStoreValue (%zu bytes)", len);
  else if (sv->kind_case == GREENLIGHT__V1__BATCH_STORE_VALUE__KIND_BATCH)
    out = batch_from_msg(sv->batch, errstr, errlen);
  else if (sv->kind_case == GREENLIGHT__V1__BATCH_STORE_VALUE__KIND_MEMBER)
    out = batch_member_from_msg(sv->member, errstr, errlen);
  else
    snprintf(errstr, errlen, "BatchStoreValue holds neither a batch nor a member (case %d)",
             (int)sv->kind_case);
  if (sv) greenlight__v1__batch_store_value__free_unpacked(sv, NULL);
  return out;
}
