/* order_table: the rules of the order state machine (SPEC §4). Memory and
 * serialization live in order_record.c.
 *
 * Decisions where the SPEC is silent (each is also noted where it applies):
 *
 *  D1  Processing order of one event: (a) time moves first (parked events
 *      past their TTL are dropped, an approval past valid_until expires);
 *      (b) a repeated event_id is a counted no-op; (c) the payload is
 *      validated ("invalid"); (d) a terminal order refuses ("order_closed");
 *      (e) the rule of the payload applies, parks or refuses; (f) after an
 *      applied event the parked events are retried; (g) time is checked once
 *      more, so an order never rests APPROVED past its valid_until.
 *  D2  "Now" is max(stream_time_ms, the event's occurred_at_ms). An event
 *      that arrives once the stream time has passed valid_until first
 *      expires the order (status record caused by that event), then is
 *      refused as order_closed. Expiry needs now > valid_until (strictly);
 *      valid_until 0 means no limit.
 *  D3  Dedup (rule 10) remembers the ids of applied and parked events,
 *      forever for the order. Refused events are not remembered: they change
 *      nothing, so a resent one is refused again (DLQ) and the changelog is
 *      not written for it. The list is capped by max_seen_event_ids; once
 *      full, further events that would have to be remembered are refused
 *      with "dedup_capacity" instead of weakening dedup silently.
 *  D4  At most max_parked_events, and at most ORDER_PARKED_BYTES_MAX bytes,
 *      are parked per order (so its record fits the broker's message size);
 *      more are refused with "park_full". A parked event is retried after every applied event in
 *      arrival order, restarting from the oldest after each one that applies.
 *      A retried event that now would be refused (the order closed, a
 *      duplicate grant, an over-clearance) leaves the park at once with that
 *      reason and a copy of its bytes, rather than waiting for its TTL.
 *  D5  A second OrderPlaced for a placed order is refused ("duplicate_order");
 *      a second grant from an authority that already granted is refused
 *      ("duplicate_grant"); same event_id is dedup, not a refusal.
 *  D6  An export grant may arrive as soon as the order is ACCEPTED; an
 *      import grant needs the order QUEUED in the grant's batch (else it
 *      parks). Grants record their units, ratio and validity in the status
 *      as they arrive; units_effective stays 0 until both are in.
 *  D7  BatchQueued while QUEUED without an import grant moves the order to
 *      the new batch ("moved_to_batch"), or updates the position when the
 *      batch is the same ("queue_updated"); the sequence may go either way,
 *      the regulator is authoritative. With an import grant any BatchQueued
 *      is refused ("batch_move_refused").
 *  D8  ApprovalDenied applies from every non-terminal state, APPROVED and
 *      PARTIALLY_CLEARED included (a revocation); cleared units are kept.
 *  D9  Effective 0 is DENIED with reason "ratio_shortfall" when the domestic
 *      ratio term is 0, else "no_effective_units" (a grant of 0 units).
 *  D10 An undeclared end use (END_USE_UNSPECIFIED) is always barred.
 *  D11 closed_at_ms is "now" (D2) when the order turns terminal. A terminal
 *      order is removed once now >= closed_at + closed_retention_ms; an order
 *      that never saw OrderPlaced is removed once its last parked event has
 *      left. After removal the id is unknown: a late event starts afresh.
 *  D12 A Tick given to order_apply() acts as order_advance().
 *  D13 A status record caused by time (expiry) names the event that moved
 *      time; order_advance() with a NULL cause leaves the cause empty but
 *      for its event time.
 *  D14 Payload checks ("invalid"): OrderPlaced needs buyer_id, units >= 0 and
 *      domestic_units_committed >= 0 (units 0 is rule 1, not invalid);
 *      grants and denials need a known authority; grants need units, ratio
 *      and valid_until >= 0, and import grants a batch_id; BatchQueued needs
 *      a batch_id, batch_seq >= 1 and position, cap >= 0; ShipmentCleared
 *      needs units > 0; the payload's order_id must be the order's. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "order_internal.h"

#ifndef __SIZEOF_INT128__
#error "order_table.c needs a compiler with __int128 for exact unit arithmetic"
#endif
__extension__ typedef unsigned __int128 order_u128;

/* One call emits at most: an expiry before the event, the event's record,
 * one record per parked event and an expiry after (D1), so the parked limit
 * keeps every call within the fixed output arrays. */
_Static_assert(ORDER_PARKED_LIMIT + 3 <= ORDER_OUT_MAX, "ORDER_PARKED_LIMIT too large");

#define ST(x) GREENLIGHT__V1__ORDER_STATE__ORDER_STATE_##x
#define PAY(x) GREENLIGHT__V1__ENVELOPE__PAYLOAD_##x
#define AUTH_EXPORT GREENLIGHT__V1__AUTHORITY__AUTHORITY_US_EXPORT_LICENSE
#define AUTH_IMPORT GREENLIGHT__V1__AUTHORITY__AUTHORITY_CN_IMPORT_APPROVAL
#define LL(x) ((long long)(x))

typedef enum order_verdict { ORDER_APPLIED, ORDER_PARK, ORDER_REFUSE } order_verdict_t;

/* Everything one attempt at applying an event needs and produces. */
typedef struct order_ctx {
  const order_policy_t *pol;
  order_t *o;
  int64_t now;
  const order_cause_t *cause;
  order_out_t *out;
  const char *reason; /* Refusal code, when the verdict is ORDER_REFUSE. */
  char detail[256];
} order_ctx_t;

static const char *order_str(const char *s) {
  return s ? s : "";
}

static int64_t order_min(int64_t a, int64_t b) {
  return a < b ? a : b;
}

static int64_t order_add_sat(int64_t a, int64_t b) {
  if (b > 0 && a > INT64_MAX - b) return INT64_MAX;
  if (b < 0 && a < INT64_MIN - b) return INT64_MIN;
  return a + b;
}

/* floor(a * b / c) for a, b >= 0 and c > 0, saturated at INT64_MAX. */
static int64_t order_muldiv(int64_t a, int64_t b, int64_t c) {
  order_u128 q = (order_u128)a * (order_u128)b / (order_u128)c;
  return q > (order_u128)INT64_MAX ? INT64_MAX : (int64_t)q;
}

/* An enum value's name without its prefix, e.g. "QUEUED" for ORDER_STATE_QUEUED. */
static const char *order_enum_name(const ProtobufCEnumDescriptor *d, int v, size_t skip) {
  const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(d, v);
  if (!ev) return "?";
  return strlen(ev->name) > skip ? ev->name + skip : ev->name;
}

static const char *order_state_name(int s) {
  return order_enum_name(&greenlight__v1__order_state__descriptor, s, strlen("ORDER_STATE_"));
}

static const char *order_authority_name(int a) {
  return a == AUTH_EXPORT ? "export licence (US_EXPORT_LICENSE)"
                          : "import approval (CN_IMPORT_APPROVAL)";
}

bool order_state_terminal(int state) {
  return state == ST(REJECTED) || state == ST(CLEARED) || state == ST(DENIED) ||
         state == ST(EXPIRED) || state == ST(CANCELLED);
}

/* Moves the order to state and publishes a status record; the previous
 * state of the very first record is RECEIVED. */
__attribute__((format(printf, 4, 5))) static order_verdict_t
order_go(order_ctx_t *c, int state, const char *code, const char *fmt, ...) {
  char why[512];
  va_list ap;
  va_start(ap, fmt);
  order_vformat(why, sizeof why, fmt, ap);
  va_end(ap);
  int prev = c->o->state == ST(UNSPECIFIED) ? ST(RECEIVED) : c->o->state;
  c->o->state = state;
  if (order_state_terminal(state) && !order_state_terminal(prev)) c->o->closed_at_ms = c->now;
  order_publish(c->o, prev, code, why, c->cause, c->out);
  return ORDER_APPLIED;
}

const char *const order_refusal_reasons[] = {
    "invalid",     "duplicate_order", "batch_move_refused", "duplicate_grant",   "over_clearance",
    "order_closed", "dedup_capacity", "park_full",          "expired_unmatched", NULL};

bool order_refusal_reason_known(const char *reason) {
  for (const char *const *r = order_refusal_reasons; *r; r++)
    if (strcmp(*r, reason) == 0) return true;
  for (const char *const *r = gl_envelope_reasons; *r; r++)
    if (strcmp(*r, reason) == 0) return true;
  return false;
}

/* Refuses the event: it goes to the DLQ with reason and detail. */
__attribute__((format(printf, 3, 4))) static order_verdict_t
order_no(order_ctx_t *c, const char *reason, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  order_vformat(c->detail, sizeof c->detail, fmt, ap);
  va_end(ap);
  c->reason = reason;
  return ORDER_REFUSE;
}

static order_refusal_t *order_refusal_add(order_out_t *out, const char *reason, const char *detail,
                                          const char *topic, int32_t partition, int64_t offset) {
  if (out->nrefusal >= ORDER_OUT_MAX) {
    fputs("orderd: order_out_t refusal overflow (order_out_release not called?)\n", stderr);
    abort();
  }
  order_refusal_t *r = &out->refusal[out->nrefusal++];
  memset(r, 0, sizeof *r);
  r->reason = reason;
  snprintf(r->detail, sizeof r->detail, "%s", detail);
  snprintf(r->topic, sizeof r->topic, "%s", order_str(topic));
  r->partition = partition;
  r->offset = offset;
  return r;
}

/* Takes parked event i out of the park and refuses it with a copy of its bytes. */
static void order_parked_refuse(order_t *o, size_t i, const char *reason, const char *detail,
                                order_out_t *out) {
  order_parked_t *p = &o->parked[i];
  order_refusal_t *r = order_refusal_add(out, reason, detail, p->topic, p->partition, p->offset);
  r->raw = p->raw; /* Ownership moves to the refusal. */
  r->raw_len = p->raw_len;
  p->raw = NULL;
  order_parked_remove(o, i);
  out->changed = true;
}

/* Refuses the event as "invalid"; returns false for order_valid(). */
__attribute__((format(printf, 2, 3))) static bool order_invalid(order_ctx_t *c, const char *fmt,
                                                                ...) {
  va_list ap;
  va_start(ap, fmt);
  order_vformat(c->detail, sizeof c->detail, fmt, ap);
  va_end(ap);
  c->reason = "invalid";
  return false;
}

/* D14: payload checks; on failure c->reason is "invalid". */
static bool order_valid(order_ctx_t *c, const gl_envelope_t *env) {
  const char *type = gl_envelope_type(env);
  const char *oid = gl_envelope_order_id(env);
  if (!env->event_id || !*env->event_id) return order_invalid(c, "%s without event_id", type);
  if (env->occurred_at_ms <= 0)
    return order_invalid(c, "%s %s: occurred_at_ms must be > 0, got %lld", type,
                    env->event_id, LL(env->occurred_at_ms));
  if (!oid)
    return order_invalid(c, "%s %s does not belong to an order", *type ? type : "payload",
                    env->event_id);
  if (strcmp(oid, c->o->id) != 0)
    return order_invalid(c, "%s %s: order_id '%s' is not this order '%s'", type,
                    env->event_id, oid, c->o->id);
  /* The checks that need nothing but the record are the codec's, the same
   * code the CLI refuses a record with before sending it. */
  if (gl_envelope_check_payload(env, c->detail, sizeof c->detail)) {
    c->reason = "invalid";
    return false;
  }
  return true;
}

/* Rule 1. */
static order_verdict_t order_on_placed(order_ctx_t *c, const Greenlight__V1__OrderPlaced *p) {
  order_t *o = c->o;
  const order_policy_t *pol = c->pol;
  if (o->state != ST(UNSPECIFIED))
    return order_no(c, "duplicate_order", "rule 1: order %s was already placed (state %s, "
                    "version %lld); a second OrderPlaced is refused", o->id,
                    order_state_name(o->state), LL(o->version));
  order_str_set(&o->buyer_id, p->buyer_id);
  order_str_set(&o->buyer_name, p->buyer_name);
  order_str_set(&o->product, p->product);
  o->end_use = p->end_use;
  o->units_requested = p->units;
  o->domestic = p->domestic_units_committed;
  const char *use = order_enum_name(&greenlight__v1__end_use__descriptor, p->end_use, 0);
  if (order_policy_end_use_barred(pol, p->end_use))
    return order_go(c, ST(REJECTED), "end_use_barred", "rule 1: end use %s is barred by policy",
                    use);
  if (p->units < pol->min_units || p->units > pol->max_units)
    return order_go(c, ST(REJECTED), "units_out_of_range", "rule 1: %lld units requested; "
                    "policy allows %lld to %lld", LL(p->units), LL(pol->min_units),
                    LL(pol->max_units));
  int64_t ratio = order_muldiv(p->domestic_units_committed, 10000, p->units);
  if (ratio < pol->domestic_floor_bp)
    return order_go(c, ST(REJECTED), "domestic_ratio_below_floor", "rule 1: %lld domestic "
                    "units committed for %lld units is %lld bp; policy floor is %lld bp",
                    LL(p->domestic_units_committed), LL(p->units), LL(ratio),
                    LL(pol->domestic_floor_bp));
  return order_go(c, ST(ACCEPTED), "accepted", "rule 1: %lld units for %s with %lld domestic "
                  "units committed (%lld bp) passed policy; waiting for a batch", LL(p->units),
                  use, LL(p->domestic_units_committed), LL(ratio));
}

/* Rules 2 and 3 (batch moves). */
static order_verdict_t order_on_batch(order_ctx_t *c, const Greenlight__V1__BatchQueued *b) {
  order_t *o = c->o;
  if (o->state == ST(UNSPECIFIED)) return ORDER_PARK;
  if (o->import_grant.present || (o->state != ST(ACCEPTED) && o->state != ST(QUEUED)))
    return order_no(c, "batch_move_refused", "rule 3: order is in batch %s (seq %d) with import "
                    "approval '%s'; BatchQueued for batch %s (seq %d) refused", o->batch_id,
                    (int)o->batch_seq, o->import_grant.approval_id ? o->import_grant.approval_id
                                                                   : "", b->batch_id,
                    (int)b->batch_seq);
  char from[GL_ID_MAX + 1];
  int32_t from_seq = o->batch_seq, from_pos = o->queue_position;
  snprintf(from, sizeof from, "%s", o->batch_id);
  order_str_set(&o->batch_id, b->batch_id);
  o->batch_seq = b->batch_seq;
  o->queue_position = b->position;
  o->batch_unit_cap = b->batch_unit_cap;
  if (o->state == ST(ACCEPTED))
    return order_go(c, ST(QUEUED), "queued", "rule 2: queued in batch %s (seq %d) at position %d",
                    b->batch_id, (int)b->batch_seq, (int)b->position);
  if (strcmp(from, b->batch_id) == 0)
    return order_go(c, ST(QUEUED), "queue_updated", "rule 2: still in batch %s (seq %d); "
                    "position %d -> %d", b->batch_id, (int)b->batch_seq, (int)from_pos,
                    (int)b->position);
  return order_go(c, ST(QUEUED), "moved_to_batch", "rule 3: carried over from batch %s (seq %d) "
                  "to batch %s (seq %d) at position %d", from, (int)from_seq, b->batch_id,
                  (int)b->batch_seq, (int)b->position);
}

/* Describes a validity limit for a reason text. */
static const char *order_until_text(int64_t valid_until_ms, char *buf, size_t len) {
  if (valid_until_ms > 0)
    snprintf(buf, len, "valid until %lld", LL(valid_until_ms));
  else
    snprintf(buf, len, "no time limit");
  return buf;
}

/* Rule 3: both grants are in; computes the effective units. */
static order_verdict_t order_decide(order_ctx_t *c) {
  order_t *o = c->o;
  const order_grant_t *e = &o->export_grant, *i = &o->import_grant;
  int64_t eff = order_min(o->units_requested, order_min(e->units, i->units));
  int32_t r = o->ratio_bp;
  int64_t cover = r > 0 ? order_muldiv(o->domestic, 10000, r) : INT64_MAX;
  char term[160], until[64];
  order_until_text(o->valid_until_ms, until, sizeof until);
  if (r > 0)
    snprintf(term, sizeof term, "floor(domestic %lld x 10000 / %d bp) = %lld", LL(o->domestic),
             (int)r, LL(cover));
  else
    snprintf(term, sizeof term, "no domestic ratio required");
  if (eff > 0 && cover == 0)
    return order_go(c, ST(DENIED), "ratio_shortfall", "rule 3: effective units 0: the domestic "
                    "commitment of %lld units covers no unit at the required ratio %d bp (%s)",
                    LL(o->domestic), (int)r, term);
  eff = order_min(eff, cover);
  if (eff == 0)
    return order_go(c, ST(DENIED), "no_effective_units", "rule 3: effective units 0 = min("
                    "requested %lld, export %lld, import %lld, %s)", LL(o->units_requested),
                    LL(e->units), LL(i->units), term);
  o->units_effective = eff;
  return order_go(c, ST(APPROVED), "approved", "rule 3: approved for %lld units = min(requested "
                  "%lld, export %lld, import %lld, %s); %s", LL(eff),
                  LL(o->units_requested), LL(e->units), LL(i->units), term, until);
}

/* Rule 3 (grants). */
static order_verdict_t order_on_grant(order_ctx_t *c, const Greenlight__V1__ApprovalGranted *g) {
  order_t *o = c->o;
  if (o->state == ST(UNSPECIFIED)) return ORDER_PARK;
  bool exp = g->authority == AUTH_EXPORT;
  order_grant_t *slot = exp ? &o->export_grant : &o->import_grant;
  if (slot->present)
    return order_no(c, "duplicate_grant", "rule 3: the %s was already granted as '%s' (%lld "
                    "units); approval '%s' refused", order_authority_name(g->authority),
                    slot->approval_id, LL(slot->units), order_str(g->approval_id));
  /* Both grants present means APPROVED or later, so here the order is
   * ACCEPTED or QUEUED. */
  if (!exp && (o->state != ST(QUEUED) || strcmp(o->batch_id, g->batch_id) != 0))
    return ORDER_PARK;
  order_grant_clear(slot);
  slot->present = true;
  order_str_set(&slot->approval_id, g->approval_id);
  order_str_set(&slot->batch_id, exp ? "" : g->batch_id);
  slot->units = g->units_approved;
  slot->ratio_bp = g->required_domestic_ratio_bp;
  slot->valid_until_ms = g->valid_until_ms;
  if (exp) {
    o->units_export = g->units_approved;
    order_str_set(&o->export_approval_id, g->approval_id);
  } else {
    o->units_import = g->units_approved;
    order_str_set(&o->import_approval_id, g->approval_id);
  }
  if (g->required_domestic_ratio_bp > o->ratio_bp) o->ratio_bp = g->required_domestic_ratio_bp;
  if (g->valid_until_ms > 0 && (o->valid_until_ms == 0 || g->valid_until_ms < o->valid_until_ms))
    o->valid_until_ms = g->valid_until_ms;
  if (o->export_grant.present && o->import_grant.present) return order_decide(c);
  char until[64];
  return order_go(c, o->state, exp ? "export_approved" : "import_approved", "rule 3: %s '%s' "
                  "grants %lld units (ratio %d bp, %s); waiting for the %s",
                  order_authority_name(g->authority), order_str(g->approval_id),
                  LL(g->units_approved), (int)g->required_domestic_ratio_bp,
                  order_until_text(g->valid_until_ms, until, sizeof until),
                  order_authority_name(exp ? AUTH_IMPORT : AUTH_EXPORT));
}

/* Rule 4 (D8). */
static order_verdict_t order_on_denied(order_ctx_t *c, const Greenlight__V1__ApprovalDenied *d) {
  if (c->o->state == ST(UNSPECIFIED)) return ORDER_PARK;
  return order_go(c, ST(DENIED), "denied_by_authority", "rule 4: the %s denied the order "
                  "(approval '%s'): %s", order_authority_name(d->authority),
                  order_str(d->approval_id), order_str(d->reason));
}

/* Rule 5. */
static order_verdict_t order_on_shipment(order_ctx_t *c, const Greenlight__V1__ShipmentCleared *s) {
  order_t *o = c->o;
  if (o->state != ST(APPROVED) && o->state != ST(PARTIALLY_CLEARED)) return ORDER_PARK;
  if (s->units > o->units_effective - o->units_cleared)
    return order_no(c, "over_clearance", "rule 5: shipment '%s' of %lld units would bring "
                    "cleared units from %lld to more than the %lld effective units",
                    order_str(s->shipment_id), LL(s->units), LL(o->units_cleared),
                    LL(o->units_effective));
  o->units_cleared += s->units;
  bool done = o->units_cleared == o->units_effective;
  return order_go(c, done ? ST(CLEARED) : ST(PARTIALLY_CLEARED),
                  done ? "cleared" : "partially_cleared", "rule 5: shipment '%s' of %lld units "
                  "cleared at %s; %lld of %lld effective units cleared", order_str(s->shipment_id),
                  LL(s->units), *order_str(s->customs_office) ? s->customs_office : "customs",
                  LL(o->units_cleared), LL(o->units_effective));
}

/* Rule 7. */
static order_verdict_t order_on_cancel(order_ctx_t *c, const Greenlight__V1__OrderCancelled *x) {
  if (c->o->state == ST(UNSPECIFIED)) return ORDER_PARK;
  return order_go(c, ST(CANCELLED), "cancelled", "rule 7: cancelled by the buyer while %s: %s",
                  order_state_name(c->o->state), order_str(x->reason));
}

/* Tries one event (live or parked) against the order: D1 steps (c)-(e). */
static order_verdict_t order_try(order_ctx_t *c, const gl_envelope_t *env, bool live) {
  order_t *o = c->o;
  if (!order_valid(c, env)) return ORDER_REFUSE;
  if (order_state_terminal(o->state))
    return order_no(c, "order_closed", "rule 8: order is %s since %lld (version %lld); %s %s "
                    "changes nothing", order_state_name(o->state), LL(o->closed_at_ms),
                    LL(o->version), gl_envelope_type(env), env->event_id);
  if (live && o->nseen >= c->pol->max_seen_event_ids)
    return order_no(c, "dedup_capacity", "rule 10: order remembers %zu event ids, the policy "
                    "maximum (max_seen_event_ids); %s %s refused so that dedup stays exact",
                    o->nseen, gl_envelope_type(env), env->event_id);
  switch (env->payload_case) {
    case PAY(ORDER_PLACED): return order_on_placed(c, env->order_placed);
    case PAY(BATCH_QUEUED): return order_on_batch(c, env->batch_queued);
    case PAY(APPROVAL_GRANTED): return order_on_grant(c, env->approval_granted);
    case PAY(APPROVAL_DENIED): return order_on_denied(c, env->approval_denied);
    case PAY(SHIPMENT_CLEARED): return order_on_shipment(c, env->shipment_cleared);
    case PAY(ORDER_CANCELLED): return order_on_cancel(c, env->order_cancelled);
    default: return order_no(c, "invalid", "payload case %d is not an order event",
                             (int)env->payload_case);
  }
}

/* D4: retries the parked events in arrival order until none applies. */
static void order_retry_parked(const order_policy_t *pol, order_t *o, int64_t now,
                               order_out_t *out) {
  size_t i = 0;
  while (i < o->nparked) {
    /* Rule 6 first: an approval that lapsed before this event time closes
     * the order (the caller's order_expire), and nothing parked may apply
     * under it. Found by the model check (tests/unit/test_order_model.c). */
    if ((o->state == ST(APPROVED) || o->state == ST(PARTIALLY_CLEARED)) && o->valid_until_ms > 0 &&
        now > o->valid_until_ms)
      return;
    /* Room for this event's record, and an expiry after it. */
    if (out->nstatus + 2 > ORDER_OUT_MAX || out->nrefusal + 1 > ORDER_OUT_MAX) return;
    order_parked_t *p = &o->parked[i];
    const char *why = NULL;
    char detail[256];
    /* It was keyed by this order's id when it arrived (checked then). */
    gl_envelope_t *env =
        gl_envelope_decode(p->raw, p->raw_len, o->id, strlen(o->id), &why, detail, sizeof detail);
    if (!env) {
      order_parked_refuse(o, i, why, detail, out);
      i = 0;
      continue;
    }
    order_cause_t cause = {env->event_id, gl_envelope_type(env), p->topic, p->partition,
                           p->offset, env->occurred_at_ms};
    order_ctx_t c = {.pol = pol, .o = o, .now = now, .cause = &cause, .out = out};
    order_verdict_t v = order_try(&c, env, false);
    gl_envelope_free(env);
    if (v == ORDER_PARK) {
      i++;
      continue;
    }
    if (v == ORDER_REFUSE) {
      order_parked_refuse(o, i, c.reason, c.detail, out);
    } else {
      order_parked_remove(o, i);
      out->changed = true;
    }
    i = 0; /* The order changed: an older parked event may apply now. */
  }
}

/* Rule 6: an approval past valid_until expires; parked events then leave
 * as order_closed. */
static void order_expire(const order_policy_t *pol, order_t *o, int64_t now,
                         const order_cause_t *cause, order_out_t *out) {
  if (o->state != ST(APPROVED) && o->state != ST(PARTIALLY_CLEARED)) return;
  if (o->valid_until_ms == 0 || now <= o->valid_until_ms) return;
  order_ctx_t c = {.pol = pol, .o = o, .now = now, .cause = cause, .out = out};
  order_go(&c, ST(EXPIRED), "expired", "rule 6: the approval lapsed at %lld (valid_until) and "
           "event time is %lld; %lld of %lld effective units were cleared",
           LL(o->valid_until_ms), LL(now), LL(o->units_cleared), LL(o->units_effective));
  order_retry_parked(pol, o, now, out);
}

/* Time moved to now: drops parked events past their TTL (rule 9), then
 * expires the approval (rule 6). */
static void order_time_step(const order_policy_t *pol, order_t *o, int64_t now,
                            const order_cause_t *cause, order_out_t *out) {
  for (size_t i = 0; i < o->nparked;) {
    order_parked_t *p = &o->parked[i];
    if (order_add_sat(p->occurred_at_ms, pol->park_ttl_ms) < now &&
        out->nrefusal < ORDER_OUT_MAX) {
      char detail[256];
      snprintf(detail, sizeof detail, "rule 9: parked since %lld, the park TTL of %lld ms ran out "
               "at event time %lld before its prerequisite arrived (order state %s)",
               LL(p->occurred_at_ms), LL(pol->park_ttl_ms), LL(now), order_state_name(o->state));
      order_parked_refuse(o, i, "expired_unmatched", detail, out);
    } else {
      i++;
    }
  }
  order_expire(pol, o, now, cause, out);
}

static order_cause_t order_cause_of(const order_event_t *ev) {
  const gl_envelope_t *env = ev->env;
  order_cause_t c = {order_str(env->event_id), gl_envelope_type(env), order_str(ev->topic),
                     ev->partition, ev->offset, env->occurred_at_ms};
  return c;
}

void order_apply(const order_policy_t *pol, order_t *o, const order_event_t *ev,
                 int64_t stream_time_ms, order_out_t *out) {
  if (!ev || !ev->env) {
    order_refusal_add(out, "invalid", "no decoded envelope given", ev ? ev->topic : NULL,
                      ev ? ev->partition : 0, ev ? ev->offset : 0);
    return;
  }
  const gl_envelope_t *env = ev->env;
  int64_t now = stream_time_ms > env->occurred_at_ms ? stream_time_ms : env->occurred_at_ms;
  if (env->payload_case == PAY(TICK)) { /* D12 */
    order_advance(pol, o, now, ev, out);
    return;
  }
  order_cause_t cause = order_cause_of(ev);
  order_time_step(pol, o, now, &cause, out);
  if (*cause.event_id && order_seen_has(o, cause.event_id)) {
    out->duplicates++;
    return;
  }
  order_ctx_t c = {.pol = pol, .o = o, .now = now, .cause = &cause, .out = out};
  order_verdict_t v = order_try(&c, env, true);
  if (v == ORDER_PARK && o->nparked >= pol->max_parked_events)
    v = order_no(&c, "park_full", "rule 9: %zu events are already parked for this order, the "
                 "policy maximum (max_parked_events); %s %s refused", o->nparked,
                 gl_envelope_type(env), env->event_id);
  if (v == ORDER_PARK && order_parked_bytes(o) + ev->raw_len > ORDER_PARKED_BYTES_MAX)
    v = order_no(&c, "park_full", "rule 9: %zu bytes are already parked for this order; with "
                 "%zu more it would pass %d bytes; %s %s refused", order_parked_bytes(o),
                 ev->raw_len, ORDER_PARKED_BYTES_MAX, gl_envelope_type(env), env->event_id);
  switch (v) {
    case ORDER_REFUSE:
      order_refusal_add(out, c.reason, c.detail, ev->topic, ev->partition, ev->offset);
      return;
    case ORDER_PARK: {
      uint8_t *packed = NULL;
      const void *raw = ev->raw;
      size_t raw_len = ev->raw_len;
      if (!raw || raw_len == 0) raw_len = gl_message_pack(&env->base, &packed), raw = packed;
      order_seen_add(o, cause.event_id);
      order_parked_add(o, raw, raw_len, ev->topic, ev->partition, ev->offset,
                       env->occurred_at_ms);
      free(packed);
      out->parked++;
      out->changed = true;
      return;
    }
    case ORDER_APPLIED:
      order_seen_add(o, cause.event_id);
      order_retry_parked(pol, o, now, out);
      order_expire(pol, o, now, &cause, out);
      return;
  }
}

void order_advance(const order_policy_t *pol, order_t *o, int64_t now_ms,
                   const order_event_t *cause_ev, order_out_t *out) {
  order_cause_t cause = {"", "", "", 0, 0, now_ms};
  if (cause_ev && cause_ev->env) cause = order_cause_of(cause_ev);
  else if (cause_ev) cause.topic = order_str(cause_ev->topic);
  order_time_step(pol, o, now_ms, &cause, out);
  if (order_state_terminal(o->state) &&
      now_ms >= order_add_sat(o->closed_at_ms, pol->closed_retention_ms))
    out->remove = true;
  if (o->state == ST(UNSPECIFIED) && o->nparked == 0) out->remove = true;
}

int64_t order_next_deadline(const order_policy_t *pol, const order_t *o) {
  int64_t d = INT64_MAX;
  if ((o->state == ST(APPROVED) || o->state == ST(PARTIALLY_CLEARED)) && o->valid_until_ms > 0)
    d = order_min(d, order_add_sat(o->valid_until_ms, 1));
  for (size_t i = 0; i < o->nparked; i++)
    d = order_min(d, order_add_sat(order_add_sat(o->parked[i].occurred_at_ms, pol->park_ttl_ms), 1));
  if (order_state_terminal(o->state))
    d = order_min(d, order_add_sat(o->closed_at_ms, pol->closed_retention_ms));
  if (o->state == ST(UNSPECIFIED) && o->nparked == 0) d = 0;
  return d;
}

__attribute__((format(printf, 3, 4))) static int order_bad(char *err, size_t len,
                                                           const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, len, fmt, ap);
  va_end(ap);
  return -1;
}

int order_check_invariants(const order_t *o, char *err, size_t len) {
  bool both = o->export_grant.present && o->import_grant.present;
  if (o->units_cleared < 0 || o->units_cleared > o->units_effective ||
      o->units_effective > o->units_requested)
    return order_bad(err, len, "need 0 <= cleared %lld <= effective %lld <= requested %lld",
                     LL(o->units_cleared), LL(o->units_effective), LL(o->units_requested));
  if ((o->units_cleared > 0 || o->units_effective > 0) && !both)
    return order_bad(err, len, "effective %lld / cleared %lld without both approvals",
                     LL(o->units_effective), LL(o->units_cleared));
  if ((o->state == ST(APPROVED) || o->state == ST(PARTIALLY_CLEARED) || o->state == ST(CLEARED)) &&
      (!both || o->units_effective == 0))
    return order_bad(err, len, "state %s without both approvals and effective units",
                     order_state_name(o->state));
  if (o->state == ST(PARTIALLY_CLEARED) &&
      (o->units_cleared == 0 || o->units_cleared == o->units_effective))
    return order_bad(err, len, "PARTIALLY_CLEARED with %lld of %lld cleared",
                     LL(o->units_cleared), LL(o->units_effective));
  if (o->state == ST(CLEARED) && o->units_cleared != o->units_effective)
    return order_bad(err, len, "CLEARED with %lld of %lld cleared", LL(o->units_cleared),
                     LL(o->units_effective));
  if (order_state_terminal(o->state) != (o->closed_at_ms > 0))
    return order_bad(err, len, "state %s with closed_at_ms %lld", order_state_name(o->state),
                     LL(o->closed_at_ms));
  if ((o->state == ST(UNSPECIFIED)) != (o->version == 0))
    return order_bad(err, len, "state %s with version %lld", order_state_name(o->state),
                     LL(o->version));
  if (o->state == ST(RECEIVED)) return order_bad(err, len, "RECEIVED is transient");
  if (o->nparked > ORDER_PARKED_LIMIT)
    return order_bad(err, len, "%zu parked events", o->nparked);
  return 0;
}
