/* gl_merge: the deterministic merge of a task's inputs (SPEC §6), as a pure
 * decision, and the buffer of one input partition it decides over.
 * Internal to the runtime (gl_task.c adapts it to the engine), not a public
 * header.
 *
 * The rule. Of the inputs that are assigned and hold a buffered record, the
 * head that comes first in (record timestamp, topic rank, offset) order is
 * the candidate. It is taken only when every other assigned input either
 * holds a buffered record too or is caught up: it reached its end, and the
 * last fetch response reports no high watermark beyond that end. Otherwise
 * the merge waits, for one of four reasons:
 *   - nothing is buffered at all;
 *   - an input was not fetched yet since its assignment or rewind: it may
 *     hold the earliest record, so it is waited for without any bound;
 *   - an input lags (fetched, nothing buffered, not caught up): it is
 *     waited for at most max.idle.ms, counted from the first such wait.
 *     Once that has expired, heads are taken (each take reported as an idle
 *     expiry) until no input lags any more, so that a slow input costs one
 *     max.idle.ms and not one per record;
 *   - no input lags but one counts as caught up, and the candidate has
 *     not settled: librdkafka hands out one fetch response partition by
 *     partition, so the caught-up input may still have records in the
 *     response the candidate came in. A candidate settles once its
 *     response was handled in full (gl_settle.h), at the latest
 *     merge.settle.ms after it arrived.
 * A replay of a recorded log therefore takes exactly the same sequence,
 * and so does a live run whose inputs were present in time.
 *
 * Threads and ownership. Everything here runs on the loop thread only,
 * like the task that owns the inputs. gl_merge_pick and gl_merge_before own
 * nothing: they read their arguments, write only *idle_since_ms, keep no
 * state between calls and call nothing outside this file (no librdkafka,
 * no clock, no metrics), so a test can drive them with plain values. */
#ifndef GREENLIGHT_GL_MERGE_H
#define GREENLIGHT_GL_MERGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

/* The buffered head record of an input, as far as the merge order needs it. */
typedef struct gl_merge_head {
  int64_t timestamp;   /* The record's timestamp (-1 when it carries none). */
  int64_t offset;      /* Its offset in the input partition. */
  uint64_t arrived_ms; /* When it was taken from the consumer queue. */
  /* Every record of the fetch response it came in is in the consumer
   * queue too, and was taken (gl_settle.h): no caught-up input can hide
   * one of them, so it need not wait out merge.settle.ms. */
  bool settled;
} gl_merge_head_t;

/* What the merge knows of one input partition of a task. The caller fills
 * one per topic rank; the array index is the rank. */
typedef struct gl_merge_input {
  bool assigned; /* An unassigned input takes no part in the merge. */
  bool fetched;  /* A fetch answered since the assignment or rewind. */
  bool eof;      /* Reached its end, and nothing newer arrived since. */
  int64_t eof_offset;
  /* The high watermark of the last fetch response, -1 if none came yet.
   * It is read only for an input at its end with nothing buffered, and
   * only when some head is buffered: the caller may leave it -1 otherwise. */
  int64_t hwm;
  bool has_head;        /* A record is buffered; head describes it. */
  gl_merge_head_t head; /* Read only when has_head. */
} gl_merge_input_t;

/* The clock and the two bounds of a decision. */
typedef struct gl_merge_clock {
  uint64_t now_ms;
  int64_t max_idle_ms; /* max.idle.ms: the longest wait for a lagging input. */
  /* merge.settle.ms: the age at which a candidate that has not settled
   * yet is taken against an input that counts as caught up. */
  int64_t settle_ms;
  /* merge.settle.min.ms: the age a candidate needs, settled or not
   * (tolerance for upstreams that publish across topics without a
   * transaction); 0 = none. */
  int64_t settle_min_ms;
} gl_merge_clock_t;

typedef enum gl_merge_verdict {
  GL_MERGE_TAKE,           /* Take the head of input `rank`. */
  GL_MERGE_WAIT_EMPTY,     /* No assigned input holds a buffered record. */
  GL_MERGE_WAIT_UNFETCHED, /* Input `blocker` was not fetched yet. */
  GL_MERGE_WAIT_LAGGING,   /* Input `blocker` lags, and max.idle.ms has not passed. */
  GL_MERGE_WAIT_SETTLING,  /* Input `blocker` counts as caught up once the candidate settled. */
} gl_merge_verdict_t;

typedef struct gl_merge_pick {
  gl_merge_verdict_t verdict;
  /* The input whose head comes first (taken when the verdict is TAKE);
   * -1 when nothing is buffered. */
  int rank;
  /* The input waited for: the first not fetched, the first lagging, or
   * the first caught-up one the candidate settles against; -1 for TAKE
   * and WAIT_EMPTY. */
  int blocker;
  /* The take ends a wait for a lagging input that ran out its max.idle.ms
   * (the engine counts these in greenlight_merge_idle_expired_total). */
  bool idle_expired;
} gl_merge_pick_t;

/* True if head a of input rank ra comes before head b of input rank rb:
 * by timestamp, then rank, then offset. */
bool gl_merge_before(const gl_merge_head_t *a, int ra, const gl_merge_head_t *b, int rb);

/* Decides which input to take from next, or why to wait. *idle_since_ms is
 * the task's state between calls: when the wait for a lagging input began,
 * 0 for none. A lagging input starts it if it is 0 (at now_ms, or at 1 when
 * now_ms is 0) and keeps it, also through the takes after it expired; a
 * settling wait leaves it as it is; every other verdict clears it. The
 * caller may move it forward (the engine does, by the time a commit kept
 * the loop from polling); a now_ms before it counts as no time waited. */
gl_merge_pick_t gl_merge_pick(const gl_merge_input_t *inputs, int ninputs, gl_merge_clock_t clock,
                              uint64_t *idle_since_ms);

/* When a buffered record was taken from the consumer queue: the clock,
 * and its settle tag (gl_settle_tag). */
typedef struct gl_arrival {
  uint64_t ms;
  uint64_t tag;
} gl_arrival_t;

/* One input partition of a task: partition P of input topic `rank`. Part
 * of its task (gl_task.c) and used on the loop thread only. The ring owns
 * its records: gl_task_next hands the taken one to its caller, and a rewind
 * or the task's end destroys the rest. */
typedef struct gl_input {
  int rank;
  bool assigned;
  rd_kafka_message_t **ring; /* Buffered records, oldest first. */
  gl_arrival_t *arrived;     /* When each was taken from the consumer queue. */
  size_t head, len, cap;
  /* A fetch answered for this input since it was assigned or rewound (a
   * record or its end). Until then nothing is known about it, and the
   * merge waits for it without the max.idle.ms bound (SPEC §6). */
  bool fetched;
  bool eof;              /* Reached the end and nothing newer arrived. */
  /* Where the end was (with read_committed, the last stable offset). While
   * fetch responses report no high watermark beyond it the input is caught
   * up; a higher one means records not here yet: data on its way, or an
   * upstream transaction not committed yet. */
  int64_t eof_offset;
  bool paused;           /* Paused for back-pressure. */
  int64_t rewind_offset; /* Oldest offset received but not committed; -1 if none. */
  int64_t next_offset;   /* Offset to commit (last processed + 1); -1 if none since commit. */
  int64_t prep_offset;   /* next_offset when the running commit was prepared; -1: none. */
  int64_t position;      /* Next offset to process; -1 until known. */
  /* The group's committed offset as far as this instance knows it: where
   * the input started after the assignment, then each commit. Lag counts
   * from here, so records processed but not committed are lag. */
  int64_t committed;
  /* Bounded runs (gl_bound.c): the end offset not to process (-1: none),
   * and whether the input reached its bound (paused, caught up). */
  int64_t bound_end;
  bool bound_reached;
} gl_input_t;

#endif
