/* The model checker's shared part (tests/unit/test_order_model.c): the
 * event kinds and constants of its scenario, traces, and the reference
 * machine (order_reference.c) written from SPEC §4 that order_table is
 * compared with, step by step. */
#ifndef GL_TEST_ORDER_MODEL_H
#define GL_TEST_ORDER_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "order_table.h"

#define ST(x) GREENLIGHT__V1__ORDER_STATE__ORDER_STATE_##x
#define EU(x) GREENLIGHT__V1__END_USE__END_USE_##x
#define PAY(x) GREENLIGHT__V1__ENVELOPE__PAYLOAD_##x
#define EXPORT GREENLIGHT__V1__AUTHORITY__AUTHORITY_US_EXPORT_LICENSE
#define IMPORT GREENLIGHT__V1__AUTHORITY__AUTHORITY_CN_IMPORT_APPROVAL
#define OID "ord-model-1"
#define T0 1767225600000LL /* 2026-01-01T00:00:00Z */
#define SEC 1000LL
#define HOUR (3600LL * SEC)
#define DAY (24LL * HOUR)
#define VU_IMPORT (T0 + DAY)
#define VU_EXPORT (T0 + DAY + HOUR)
#define T_TICK (T0 + 2 * DAY)
#define REQ 1000
#define DOMESTIC 425
#define U_EXPORT 950
#define R_EXPORT 2500
#define U_IMPORT 900
#define R_IMPORT 5000
#define U_S1 300
#define U_S2 550
#define U_S3 1
#define EFFECTIVE 850
#define OFF0 1000 /* Offset of the first arrival; arrival i has OFF0 + i. */
#define MAXN 10
#define TRACE_MAX 16384
#define NEVER 1000 /* pos() of an event absent from the sequence. */

/* The event kinds; a sequence is an array of kinds. */
enum { E_P, E_B, E_GE, E_GI, E_S1, E_S2, E_C, E_DI, E_K, E_S3, E_K0, E_KINDS };
extern const char *const kind_name[E_KINDS]; /* "P", "B", "GE", ... */
extern const char *const kind_eid[E_KINDS];  /* Their event ids. */

static inline bool is_tick(int k) {
  return k == E_K || k == E_K0;
}

typedef struct buf {
  char s[TRACE_MAX];
  size_t len;
} buf_t;

/* The outcome of one sequence. */
typedef struct outcome {
  int state;
  int64_t cleared;
  int64_t effective;
  int64_t records;
  int64_t refusals;
  int64_t duplicates;
} outcome_t;

/* The state's name without its ORDER_STATE_ prefix. */
const char *state_name(int s);
/* Appends to b, truncating at TRACE_MAX. */
__attribute__((format(printf, 2, 3))) void buf_add(buf_t *b, const char *fmt, ...);
/* A status record or a refusal in a step's trace. */
void trace_rec(buf_t *b, int state, const char *code, int kind, int64_t cleared, int64_t eff);
void trace_refusal(buf_t *b, const char *reason, int kind);
/* The sequence as text ("P B GE ..."). */
void seq_text(const int *seq, size_t n, char *out, size_t len);

/* Runs the reference machine over seq (n arrivals; at[k] is the event time
 * of kind k): fills trace with the same text as the observer of
 * order_table and end with the outcome. spec: the SPEC variant (expiry
 * before each parked retry) rather than the code's former one. */
void ref_run(bool spec, const int *seq, size_t n, const int64_t *at, int64_t park_ttl_ms,
             buf_t *trace, outcome_t *end);

#endif
