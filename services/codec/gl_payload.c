/* gl_payload: the payload checks that need nothing but the record: required
 * fields and numbers out of range. See gl_envelope_check_payload() in
 * include/greenlight/gl_codec.h.
 *
 * The details quote the event_id and keep the wording orderd's D14 checks
 * have always written, so a DLQ record reads the same whichever of the two
 * refused it. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "greenlight/gl_codec.h"

#define PAY(x) GREENLIGHT__V1__ENVELOPE__PAYLOAD_##x
#define AUTH_EXPORT GREENLIGHT__V1__AUTHORITY__AUTHORITY_US_EXPORT_LICENSE
#define AUTH_IMPORT GREENLIGHT__V1__AUTHORITY__AUTHORITY_CN_IMPORT_APPROVAL
#define LL(x) ((long long)(x))

/* Writes the detail and returns "invalid", the reason of every check here. */
__attribute__((format(printf, 3, 4))) static const char *gl_invalid(char *detail,
                                                                    size_t detail_len,
                                                                    const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, detail_len, fmt, ap);
  va_end(ap);
  return "invalid";
}

static bool gl_empty(const char *s) {
  return !s || !*s;
}

/* Both authorities are the only ones an approval may come from: the zero
 * value means the writer forgot to say which. */
static bool gl_authority_known(int a) {
  return a == AUTH_EXPORT || a == AUTH_IMPORT;
}

static const char *gl_check_placed(const char *eid, const Greenlight__V1__OrderPlaced *p,
                                   char *detail, size_t len) {
  if (gl_empty(p->buyer_id)) return gl_invalid(detail, len, "OrderPlaced %s: buyer_id is required", eid);
  if (p->units < 0 || p->domestic_units_committed < 0)
    return gl_invalid(detail, len,
                      "OrderPlaced %s: units %lld and domestic_units_committed %lld must be >= 0",
                      eid, LL(p->units), LL(p->domestic_units_committed));
  return NULL;
}

static const char *gl_check_granted(const char *eid, const Greenlight__V1__ApprovalGranted *g,
                                    char *detail, size_t len) {
  if (!gl_authority_known(g->authority))
    return gl_invalid(detail, len, "ApprovalGranted %s: authority %d is not an authority", eid,
                      (int)g->authority);
  if (g->units_approved < 0 || g->required_domestic_ratio_bp < 0 || g->valid_until_ms < 0)
    return gl_invalid(detail, len,
                      "ApprovalGranted %s: units_approved %lld, required_domestic_ratio_bp %d "
                      "and valid_until_ms %lld must be >= 0",
                      eid, LL(g->units_approved), (int)g->required_domestic_ratio_bp,
                      LL(g->valid_until_ms));
  if (g->authority == AUTH_IMPORT && gl_empty(g->batch_id))
    return gl_invalid(detail, len, "ApprovalGranted %s: an import approval needs a batch_id", eid);
  return NULL;
}

static const char *gl_check_queued(const char *eid, const Greenlight__V1__BatchQueued *b,
                                   char *detail, size_t len) {
  size_t n = b->batch_id ? strlen(b->batch_id) : 0;
  if (n == 0 || n > GL_ID_MAX || b->batch_seq < 1 || b->position < 0 || b->batch_unit_cap < 0)
    return gl_invalid(detail, len,
                      "BatchQueued %s: needs batch_id of 1..%d bytes (got %zu), batch_seq >= 1 "
                      "(got %d), position >= 0 (got %d), batch_unit_cap >= 0 (got %lld)",
                      eid, GL_ID_MAX, n, (int)b->batch_seq, (int)b->position,
                      LL(b->batch_unit_cap));
  return NULL;
}

const char *gl_envelope_check_payload(const gl_envelope_t *env, char *detail, size_t detail_len) {
  const char *eid = env->event_id ? env->event_id : "";
  switch (env->payload_case) {
    case PAY(ORDER_PLACED): return gl_check_placed(eid, env->order_placed, detail, detail_len);
    case PAY(APPROVAL_GRANTED):
      return gl_check_granted(eid, env->approval_granted, detail, detail_len);
    case PAY(APPROVAL_DENIED):
      if (!gl_authority_known(env->approval_denied->authority))
        return gl_invalid(detail, detail_len, "ApprovalDenied %s: authority %d is not an authority",
                          eid, (int)env->approval_denied->authority);
      return NULL;
    case PAY(BATCH_QUEUED): return gl_check_queued(eid, env->batch_queued, detail, detail_len);
    case PAY(SHIPMENT_CLEARED):
      if (env->shipment_cleared->units <= 0)
        return gl_invalid(detail, detail_len, "ShipmentCleared %s: units must be > 0, got %lld",
                          eid, LL(env->shipment_cleared->units));
      return NULL;
    default: return NULL; /* OrderCancelled and Tick have nothing more to check. */
  }
}

const char *gl_envelope_validate(const void *buf, size_t len, const void *key, size_t key_len,
                                 char *detail, size_t detail_len) {
  const char *reason = NULL;
  gl_envelope_t *env = gl_envelope_decode(buf, len, key, key_len, &reason, detail, detail_len);
  if (!env) return reason;
  reason = gl_envelope_check_payload(env, detail, detail_len);
  gl_envelope_free(env);
  return reason;
}
