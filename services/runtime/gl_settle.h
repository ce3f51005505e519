/* gl_settle: when a buffered record has settled, i.e. when every record
 * that came in the same fetch response as it is in the consumer queue too.
 * Internal to the runtime; the merge (gl_merge.h) reads its verdict.
 *
 * Why. librdkafka hands out a fetch response partition by partition: the
 * broker thread parses the partitions in turn and enqueues each one's
 * records. The loop can take a record of partition A from the queue while
 * the same response's records of partition B are still being parsed, and
 * B then looks caught up when it is not (SPEC §6: the merge would take A's
 * record before B's earlier one, and a replay would not).
 *
 * How. A broker thread keeps one Fetch in flight and sends the next only
 * after it has handled the previous response in full (librdkafka 2.0.2:
 * rkb_fetching, rdkafka_fetcher.c). Two interceptors on the consumer count,
 * per broker, the Fetch requests written (on_request_sent) and the Fetch
 * responses whose handling begins (on_response_received, called just
 * before the response is parsed, also for a failed request). Records
 * taken from the queue in one pump are tagged with the pump's number. At
 * the start of a later pump, before its drain, a broker no longer holds
 * back the records of earlier pumps when either
 *   - it is between responses: its last Fetch was written and no handling
 *     of a response has begun since, so every earlier response was handled
 *     in full; or
 *   - it wrote a Fetch since the snapshot of its counters taken after the
 *     drain that took the records (the response they came in was handled
 *     in full before that Fetch was written).
 * Once no broker that fetches holds them back, the records have settled:
 * the drain that follows brings whatever else their responses held. They
 * settle within a pump or one fetch round trip of their arrival, not after
 * a fixed merge.settle.ms, which stays the upper bound (a broker that sends
 * no Fetch, e.g. every partition paused, or a record stuck mid-response).
 *
 * Threads. gl_settle_on_request_sent runs on librdkafka's broker threads
 * and touches only the atomics; everything else runs on the loop thread.
 * The struct is the engine's (embedded); the consumer it is installed on
 * must be destroyed before it. */
#ifndef GREENLIGHT_GL_SETTLE_H
#define GREENLIGHT_GL_SETTLE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>
#include <uv.h>

#define GL_SETTLE_BROKERS 32 /* Brokers tracked; fetches from more settle by time only. */

typedef struct gl_settle {
  /* Written by the broker threads. id[i] is INT32_MIN while slot i is free. */
  _Atomic int32_t id[GL_SETTLE_BROKERS];
  _Atomic uint64_t sent[GL_SETTLE_BROKERS];    /* Fetch requests written. */
  _Atomic uint64_t handled[GL_SETTLE_BROKERS]; /* Fetch responses whose handling began. */
  /* handled as it was when the last Fetch was written: while it still is,
   * the broker waits for that Fetch's answer. (Counting sent against
   * handled would drift: a request purged unsent when a connection drops
   * is answered with an error all the same.) */
  _Atomic uint64_t handled_at_send[GL_SETTLE_BROKERS];
  _Atomic bool overflow; /* A broker found no free slot: settle by time only. */
  _Atomic bool waiting;  /* The loop waits for the next Fetch: wake it. */
  uv_mutex_t wake_lock;  /* Guards wake against gl_settle_close. */
  uv_async_t *wake;      /* Sent when waiting; NULL: no wake-up (closed). */
  /* Loop thread only. */
  uint64_t base[GL_SETTLE_BROKERS];       /* The pending snapshot of sent. */
  bool pending;          /* A snapshot waits for the brokers to write a Fetch. */
  uint64_t pending_tag;  /* The last pump whose records it covers. */
  uint64_t pump;         /* This pump's number: the tag of the records it takes. */
  uint64_t settled;      /* Records tagged up to this one have settled. */
  bool took;             /* Records were tagged that no snapshot covers yet. */
  uint64_t tagged;       /* The last pump that tagged records. */
} gl_settle_t;

/* Empties s; wake (may be NULL) is sent from a broker thread when the loop
 * waits for a Fetch. Loop thread, before the consumer exists. */
void gl_settle_init(gl_settle_t *s, uv_async_t *wake);
/* No wake-up from here on: call before closing the wake handle (the
 * consumer's broker threads may still be sending fetches). */
void gl_settle_close(gl_settle_t *s);
/* Frees what init made; after the consumer is destroyed. */
void gl_settle_destroy(gl_settle_t *s);
/* Adds the interceptor to a consumer's configuration, before rd_kafka_new.
 * Returns 0, or -1 with errstr written. */
int gl_settle_install(gl_settle_t *s, rd_kafka_conf_t *conf, char *errstr, size_t errlen);

/* The start of a pump, before its drain: reads the counters and settles
 * what no broker holds back any more. */
void gl_settle_pump_start(gl_settle_t *s);
/* The tag of a record taken from the consumer queue in this pump. */
uint64_t gl_settle_tag(gl_settle_t *s);
/* The end of a pump's drain: snapshots the counters for the records
 * tagged in it, unless a snapshot is pending already (they wait for the
 * next one). Returns true if records were tagged in this pump. */
bool gl_settle_drained(gl_settle_t *s);
/* Whether a record tagged tag has settled. */
static inline bool gl_settle_done(const gl_settle_t *s, uint64_t tag) { return tag <= s->settled; }
/* A merge waits for records to settle: wake the loop at the next Fetch. */
void gl_settle_want_wake(gl_settle_t *s);

/* What the interceptors call (exposed for tests), from any thread: a Fetch
 * was written to broker brokerid, or the handling of its response begins. */
void gl_settle_sent(gl_settle_t *s, int32_t brokerid);
void gl_settle_handled(gl_settle_t *s, int32_t brokerid);

#endif
