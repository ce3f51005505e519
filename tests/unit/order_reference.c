/* The reference machine of the model checker and its traces: see
 * order_model.h and the header of test_order_model.c. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "order_model.h"

const char *const kind_name[E_KINDS] = {"P", "B", "GE", "GI", "S1", "S2",
                                        "C", "DI", "K",  "S3", "K0"};
const char *const kind_eid[E_KINDS] = {"p1", "b1",  "ge1", "gi1", "s1", "s2",
                                       "c1", "di1", "k1",  "s3", "k0"};

/* ---- Traces -------------------------------------------------------------- */

const char *state_name(int s) {
  const ProtobufCEnumValue *v =
      protobuf_c_enum_descriptor_get_value(&greenlight__v1__order_state__descriptor, s);
  if (!v) return "?";
  return strncmp(v->name, "ORDER_STATE_", 12) == 0 ? v->name + 12 : v->name;
}

void buf_add(buf_t *b, const char *fmt, ...) {
  if (b->len >= sizeof b->s) return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(b->s + b->len, sizeof b->s - b->len, fmt, ap);
  va_end(ap);
  if (n > 0) b->len += (size_t)n;
  if (b->len >= sizeof b->s) b->len = sizeof b->s - 1;
}

void trace_rec(buf_t *b, int state, const char *code, int kind, int64_t cleared,
                      int64_t eff) {
  buf_add(b, "%s:%s:%s:%lld/%lld,", state_name(state), code, kind_name[kind],
          (long long)cleared, (long long)eff);
}

void trace_refusal(buf_t *b, const char *reason, int kind) {
  buf_add(b, "!%s:%s,", reason, kind_name[kind]);
}

void seq_text(const int *seq, size_t n, char *out, size_t len) {
  size_t at = 0;
  out[0] = '\0';
  for (size_t i = 0; i < n && at < len; i++) {
    int w = snprintf(out + at, len - at, "%s%s", i ? " " : "", kind_name[seq[i]]);
    if (w < 0) break;
    at += (size_t)w;
  }
}

/* ---- Reference machine --------------------------------------------------- *
 * The rules of SPEC §4 over an abstract order, with the D-notes: D1 order of
 * work, D2 "now" and strict expiry, D3 dedup of applied and parked events,
 * D4 parked retry in arrival order restarting from the oldest, D5/D6/D7
 * grant and batch rules, D8 denial from any open state, D12 Tick. It writes
 * the same trace as the observer in test_order_model.c. spec = true checks
 * the lapse of the approval before every parked retry (SPEC rule 6); false
 * is the code as it was (the check only after the retries, D1 (g)). */

typedef enum { V_APPLIED, V_PARK, V_REFUSE } verdict_t;

typedef struct ref {
  bool spec;
  const int *seq;
  const int64_t *at; /* Event time of each kind. */
  int64_t park_ttl_ms;
  int st;
  bool ge, gi, queued;
  int64_t eff, cleared, vu, now;
  int park[MAXN];
  int npark;
  unsigned seen;
  buf_t recs, refs; /* This step's records and refusals. */
  outcome_t end;
} ref_t;

static void ref_go(ref_t *r, int state, const char *code, int arrival) {
  r->st = state;
  trace_rec(&r->recs, state, code, r->seq[arrival], r->cleared, r->eff);
  r->end.records++;
}

static void ref_refuse(ref_t *r, const char *reason, int arrival) {
  trace_refusal(&r->refs, reason, r->seq[arrival]);
  r->end.refusals++;
}

static bool ref_open_approved(const ref_t *r) {
  return r->st == ST(APPROVED) || r->st == ST(PARTIALLY_CLEARED);
}

static bool ref_lapsed(const ref_t *r) {
  return ref_open_approved(r) && r->vu > 0 && r->now > r->vu;
}

static verdict_t ref_decide(ref_t *r, int a) {
  int64_t ratio = R_EXPORT > R_IMPORT ? R_EXPORT : R_IMPORT;
  int64_t eff = REQ;
  if (U_EXPORT < eff) eff = U_EXPORT;
  if (U_IMPORT < eff) eff = U_IMPORT;
  if (DOMESTIC * 10000 / ratio < eff) eff = DOMESTIC * 10000 / ratio;
  r->eff = eff;
  ref_go(r, ST(APPROVED), "approved", a);
  return V_APPLIED;
}

static void ref_grant_until(ref_t *r, int64_t vu) {
  if (vu > 0 && (r->vu == 0 || vu < r->vu)) r->vu = vu;
}

static verdict_t ref_try(ref_t *r, int a, const char **reason) {
  bool placed = r->st != ST(UNSPECIFIED);
  if (order_state_terminal(r->st)) return *reason = "order_closed", V_REFUSE;
  switch (r->seq[a]) {
    case E_P:
      if (placed) return *reason = "duplicate_order", V_REFUSE;
      ref_go(r, ST(ACCEPTED), "accepted", a);
      return V_APPLIED;
    case E_B:
      if (!placed) return V_PARK;
      if (r->gi || (r->st != ST(ACCEPTED) && r->st != ST(QUEUED)))
        return *reason = "batch_move_refused", V_REFUSE;
      ref_go(r, ST(QUEUED), r->st == ST(ACCEPTED) ? "queued" : "queue_updated", a);
      r->queued = true;
      return V_APPLIED;
    case E_GE:
      if (!placed) return V_PARK;
      if (r->ge) return *reason = "duplicate_grant", V_REFUSE;
      r->ge = true;
      ref_grant_until(r, VU_EXPORT);
      if (r->gi) return ref_decide(r, a);
      ref_go(r, r->st, "export_approved", a);
      return V_APPLIED;
    case E_GI:
      if (!placed) return V_PARK;
      if (r->gi) return *reason = "duplicate_grant", V_REFUSE;
      if (r->st != ST(QUEUED)) return V_PARK;
      r->gi = true;
      ref_grant_until(r, VU_IMPORT);
      if (r->ge) return ref_decide(r, a);
      ref_go(r, r->st, "import_approved", a);
      return V_APPLIED;
    case E_DI:
      if (!placed) return V_PARK;
      ref_go(r, ST(DENIED), "denied_by_authority", a);
      return V_APPLIED;
    case E_S1:
    case E_S2:
    case E_S3: {
      if (!ref_open_approved(r)) return V_PARK;
      int64_t u = r->seq[a] == E_S1 ? U_S1 : r->seq[a] == E_S2 ? U_S2 : U_S3;
      if (u > r->eff - r->cleared) return *reason = "over_clearance", V_REFUSE;
      r->cleared += u;
      bool done = r->cleared == r->eff;
      ref_go(r, done ? ST(CLEARED) : ST(PARTIALLY_CLEARED), done ? "cleared" : "partially_cleared",
             a);
      return V_APPLIED;
    }
    case E_C:
      if (!placed) return V_PARK;
      ref_go(r, ST(CANCELLED), "cancelled", a);
      return V_APPLIED;
    default:
      return *reason = "invalid", V_REFUSE;
  }
}

static void ref_park_remove(ref_t *r, int i) {
  memmove(&r->park[i], &r->park[i + 1], (size_t)(r->npark - i - 1) * sizeof r->park[0]);
  r->npark--;
}

static void ref_expire(ref_t *r, int cause);

static void ref_retry(ref_t *r, int cause) {
  int i = 0;
  while (i < r->npark) {
    if (r->spec && ref_lapsed(r)) {
      ref_expire(r, cause);
      return;
    }
    const char *reason = NULL;
    int a = r->park[i];
    verdict_t v = ref_try(r, a, &reason);
    if (v == V_PARK) {
      i++;
      continue;
    }
    if (v == V_REFUSE) ref_refuse(r, reason, a);
    ref_park_remove(r, i);
    i = 0;
  }
}

static void ref_expire(ref_t *r, int cause) {
  if (!ref_lapsed(r)) return;
  ref_go(r, ST(EXPIRED), "expired", cause);
  ref_retry(r, cause);
}

static void ref_time_step(ref_t *r, int cause) {
  for (int i = 0; i < r->npark;) {
    if (r->at[r->seq[r->park[i]]] + r->park_ttl_ms < r->now) {
      ref_refuse(r, "expired_unmatched", r->park[i]);
      ref_park_remove(r, i);
    } else {
      i++;
    }
  }
  ref_expire(r, cause);
}

/* One arrival; appends its step to trace. */
static void ref_step(ref_t *r, int a, int64_t stream, buf_t *trace) {
  int k = r->seq[a];
  r->recs.len = r->refs.len = 0;
  r->recs.s[0] = r->refs.s[0] = '\0';
  r->now = stream > r->at[k] ? stream : r->at[k];
  bool dup = false, parked = false;
  ref_time_step(r, a);
  if (is_tick(k)) goto done; /* D12: a Tick only moves time. */
  if (r->seen & (1u << k)) {
    dup = true;
    r->end.duplicates++;
    goto done;
  }
  const char *reason = NULL;
  switch (ref_try(r, a, &reason)) {
    case V_REFUSE: ref_refuse(r, reason, a); break;
    case V_PARK:
      r->seen |= 1u << k;
      r->park[r->npark++] = a;
      parked = true;
      break;
    case V_APPLIED:
      r->seen |= 1u << k;
      ref_retry(r, a);
      ref_expire(r, a);
      break;
  }
done:
  buf_add(trace, "%s%s%s%s|", r->recs.s, r->refs.s, dup ? "dup," : "", parked ? "park," : "");
}

void ref_run(bool spec, const int *seq, size_t n, const int64_t *at, int64_t park_ttl_ms,
             buf_t *trace, outcome_t *end) {
  ref_t r;
  memset(&r, 0, sizeof r);
  r.spec = spec;
  r.at = at;
  r.park_ttl_ms = park_ttl_ms;
  r.seq = seq;
  r.st = ST(UNSPECIFIED);
  trace->len = 0;
  trace->s[0] = '\0';
  int64_t stream = 0;
  for (size_t i = 0; i < n; i++) {
    if (at[seq[i]] > stream) stream = at[seq[i]];
    ref_step(&r, (int)i, stream, trace);
  }
  r.end.state = r.st;
  r.end.cleared = r.cleared;
  r.end.effective = r.eff;
  *end = r.end;
}
