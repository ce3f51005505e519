/* gl_merge: the merge decision of SPEC §6 on plain values (the rule is
 * written out in gl_merge.h). Pure: no librdkafka, no clock, no metrics. */
#include "gl_merge.h"

bool gl_merge_before(const gl_merge_head_t *a, int ra, const gl_merge_head_t *b, int rb) {
  if (a->timestamp != b->timestamp) return a->timestamp < b->timestamp;
  if (ra != rb) return ra < rb;
  return a->offset < b->offset;
}

/* The assigned input whose head comes first, or -1 if none holds one. */
static int gl_merge_first(const gl_merge_input_t *in, int n) {
  int best = -1;
  for (int i = 0; i < n; i++) {
    if (!in[i].assigned || !in[i].has_head) continue;
    if (best < 0 || gl_merge_before(&in[i].head, i, &in[best].head, best)) best = i;
  }
  return best;
}

/* Caught up (SPEC §6): the input reached its end, and the last fetch
 * response reports nothing beyond it. The end-of-partition event alone is
 * stale as soon as a record is appended, and with read_committed it marks
 * the last stable offset, short of an open transaction's records: a fetch
 * can then bring another input's later-stamped records first (a commit
 * marker wakes the broker's waiting fetch for the first partition it lands
 * in), and taking those would make the live order differ from a replay's. */
static bool gl_merge_caught_up(const gl_merge_input_t *in) {
  return in->eof && in->hwm <= in->eof_offset;
}

/* The inputs with nothing buffered, by what the merge must make of them:
 * the first of each kind, or -1. */
typedef struct gl_merge_empties {
  int unfetched, lagging, caught_up;
} gl_merge_empties_t;

static gl_merge_empties_t gl_merge_scan(const gl_merge_input_t *in, int n) {
  gl_merge_empties_t s = {-1, -1, -1};
  for (int i = 0; i < n; i++) {
    if (!in[i].assigned || in[i].has_head) continue;
    /* Not fetched yet (after an assignment, a restart or a rewind): it may
     * hold the earliest record, and a replay would take that first. */
    if (!in[i].fetched) {
      if (s.unfetched < 0) s.unfetched = i;
    } else if (gl_merge_caught_up(&in[i])) {
      if (s.caught_up < 0) s.caught_up = i;
    } else if (s.lagging < 0) {
      s.lagging = i;
    }
  }
  return s;
}

static gl_merge_pick_t gl_merge_wait(gl_merge_verdict_t why, int rank, int blocker) {
  return (gl_merge_pick_t){.verdict = why, .rank = rank, .blocker = blocker};
}

gl_merge_pick_t gl_merge_pick(const gl_merge_input_t *in, int n, gl_merge_clock_t clock,
                              uint64_t *idle_since_ms) {
  int best = gl_merge_first(in, n);
  if (best < 0) {
    *idle_since_ms = 0;
    return gl_merge_wait(GL_MERGE_WAIT_EMPTY, -1, -1);
  }
  gl_merge_empties_t s = gl_merge_scan(in, n);
  if (s.unfetched >= 0) {
    *idle_since_ms = 0;
    return gl_merge_wait(GL_MERGE_WAIT_UNFETCHED, best, s.unfetched);
  }
  /* An input reported caught up may have records in the fetch response
   * the candidate came in, still being read by librdkafka's broker thread
   * (an upstream transaction's other record, the candidate's "cause"):
   * it counts as caught up only once the candidate settled, or
   * merge.settle.ms after the candidate arrived. Unsigned, as the
   * engine's clock: a candidate stamped after now_ms waits for nothing. */
  uint64_t age = clock.now_ms - in[best].head.arrived_ms;
  bool young = age < (uint64_t)clock.settle_min_ms || !in[best].head.settled;
  if (s.lagging < 0 && s.caught_up >= 0 && young && age < (uint64_t)clock.settle_ms)
    return gl_merge_wait(GL_MERGE_WAIT_SETTLING, best, s.caught_up);
  gl_merge_pick_t take = {.verdict = GL_MERGE_TAKE, .rank = best, .blocker = -1};
  if (s.lagging < 0) {
    *idle_since_ms = 0;
    return take;
  }
  /* A lagging input may still hold an earlier record: wait for it, but not
   * longer than max.idle.ms. Once waited, keep going (enforced processing)
   * until no input lags any more; starting the clock again per record
   * would take one record per max.idle.ms. */
  if (*idle_since_ms == 0) *idle_since_ms = clock.now_ms ? clock.now_ms : 1;
  if (clock.now_ms < *idle_since_ms || clock.now_ms - *idle_since_ms < (uint64_t)clock.max_idle_ms)
    return gl_merge_wait(GL_MERGE_WAIT_LAGGING, best, s.lagging);
  take.idle_expired = true;
  return take;
}
