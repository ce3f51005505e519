/* gl_poison: an input record whose output cannot be written for a reason
 * tied to the record goes to the dead-letter topic, and processing goes on
 * (SPEC §3.1) — it never causes an abort loop.
 *
 * Every produce of a transaction carries, as its opaque, the index of the
 * input record that caused it. When the client refuses a produce (larger
 * than record.max.bytes) or the broker refuses a delivery for a reason of
 * the record itself (too large for the topic, invalid timestamp, invalid
 * record), that record is "poison": the transaction aborts once, its task
 * rewinds and restores, and when the merge hands the record out again it
 * goes to the DLQ with reason output_too_large (or output_rejected)
 * instead of to the processor. The decision depends on the record's bytes
 * and the settings only, so a replay decides the same. A record whose DLQ
 * copy is refused too is dropped the second time, with an error log and
 * a metric, rather than looping. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gl_engine_int.h"

void gl_poison_cause_add(gl_engine_t *e, int32_t partition, int rank, int64_t offset) {
  if (e->ncauses == e->causes_cap) {
    size_t n = e->causes_cap ? e->causes_cap * 2 : 1024;
    gl_cause_t *c = realloc(e->causes, n * sizeof(*c));
    if (!c) abort();
    e->causes = c;
    e->causes_cap = n;
  }
  e->causes[e->ncauses++] = (gl_cause_t){partition, rank, offset};
  e->cur_cause = e->ncauses;
}

void gl_poison_local(gl_engine_t *e, const char *fmt, ...) {
  e->txn_poisoned = true;
  if (!e->cur_cause || e->local_poison) return;
  e->local_poison = e->cur_cause;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->poison_detail, sizeof(e->poison_detail), fmt, ap);
  va_end(ap);
}

/* Errors that the same bytes would get again: retrying cannot help. */
static bool gl_poison_record_tied(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_INVALID_TIMESTAMP:
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
    case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
      return true;
    default:
      return false;
  }
}

void gl_poison_dr(gl_engine_t *e, const rd_kafka_message_t *m) {
  uintptr_t cause = (uintptr_t)m->_private;
  if (!cause || !gl_poison_record_tied(m->err)) return;
  uintptr_t none = 0;
  /* The first refusal wins; its detail is written once, before the loop
   * reads it after the transaction ended (the commit thread is joined). */
  if (atomic_compare_exchange_strong(&e->dr_poison, &none, cause))
    snprintf(e->poison_detail, sizeof(e->poison_detail), "%s [%d] refused it: %s",
             rd_kafka_topic_name(m->rkt), m->partition, rd_kafka_err2str(m->err));
}

static gl_poison_t *gl_poison_find(gl_task_t *t, int rank, int64_t offset) {
  for (int i = 0; i < t->npoison; i++)
    if (t->poison[i].rank == rank && t->poison[i].offset == offset) return &t->poison[i];
  return NULL;
}

/* Files the refused record with its task, for the rewind that follows. */
static void gl_poison_file(gl_engine_t *e, uintptr_t cause, bool local) {
  if (cause == 0 || cause > e->ncauses) return;
  const gl_cause_t *c = &e->causes[cause - 1];
  gl_task_t *t = c->partition < e->ntasks ? e->tasks[c->partition] : NULL;
  if (!t) return;
  gl_poison_t *p = gl_poison_find(t, c->rank, c->offset);
  if (!p) {
    gl_poison_t *np = realloc(t->poison, sizeof(*np) * (size_t)(t->npoison + 1));
    if (!np) abort();
    t->poison = np;
    p = &t->poison[t->npoison++];
    memset(p, 0, sizeof(*p));
    p->rank = c->rank;
    p->offset = c->offset;
    snprintf(p->reason, sizeof(p->reason), "%s", local ? "output_too_large" : "output_rejected");
    snprintf(p->detail, sizeof(p->detail), "%s", e->poison_detail);
  }
  p->attempts++;
  p->used = false;
  gl_log_kv(e->log, GL_LOG_WARN, "poison",
            GL_LOG_FIELDS(GL_LOG_STR("topic", e->inputs[c->rank]),
                          GL_LOG_INT("partition", c->partition), GL_LOG_INT("offset", c->offset)),
          "%s [%d] @%lld: an output of this record was refused (%s); the transaction aborts and "
          "the record goes to %s instead",
          e->inputs[c->rank], c->partition, (long long)c->offset, e->poison_detail,
          p->attempts > 1 ? "nowhere (its DLQ copy was refused too)" : e->dlq);
}

void gl_poison_after_txn(gl_engine_t *e, bool committed) {
  /* Records taken while the commit ran are in the next transaction now
   * (committed) or come again (not). */
  for (int p = 0; p < e->ntasks; p++) {
    gl_task_t *t = e->tasks[p];
    for (int i = 0; t && i < t->npoison;) {
      gl_poison_t *q = &t->poison[i];
      if (committed && q->used) {
        *q = t->poison[--t->npoison];
        continue;
      }
      q->used = committed && q->used_next;
      q->used_next = false;
      i++;
    }
  }
  if (!committed) {
    gl_poison_file(e, e->local_poison, true);
    if (e->dr_poison != e->local_poison) gl_poison_file(e, atomic_load(&e->dr_poison), false);
  }
  e->ncauses = 0;
  e->cur_cause = e->local_poison = 0;
  atomic_store(&e->dr_poison, 0);
}

const gl_poison_t *gl_poison_take(gl_task_t *t, int rank, int64_t offset, bool next) {
  gl_poison_t *p = t->npoison ? gl_poison_find(t, rank, offset) : NULL;
  if (p && next)
    p->used_next = true;
  else if (p)
    p->used = true;
  return p;
}

void gl_poison_destroy(gl_engine_t *e) {
  free(e->causes);
  e->causes = NULL;
  e->ncauses = e->causes_cap = 0;
}
