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
 * How. A broker thread sends its next Fetch only after it has handled the
 * previous response in full (librdkafka 2.0.2 keeps one Fetch in flight
 * per broker: rkb_fetching, rdkafka_fetcher.c). An interceptor on the
 * consumer counts the Fetch requests each broker thread writes
 * (on_request_sent). The records the loop takes in one pump get a tag; a
 * snapshot of the counters is taken after that pump's drain. Once every
 * broker that fetches has written another Fetch since the snapshot, as read
 * at the start of a later pump, before its drain, every response those
 * records came in was handled in full before that drain: their tag has
 * settled. Records settle one fetch round trip after they arrive, not
 * after a fixed merge.settle.ms, which stays the upper bound (a broker with
 * no Fetch to send, e.g. every partition paused).
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
  _Atomic uint64_t sent[GL_SETTLE_BROKERS]; /* Fetch requests written. */
  _Atomic bool overflow; /* A broker found no free slot: settle by time only. */
  _Atomic bool waiting;  /* The loop waits for the next Fetch: wake it. */
  uv_mutex_t wake_lock;  /* Guards wake against gl_settle_close. */
  uv_async_t *wake;      /* Sent when waiting; NULL: no wake-up (closed). */
  /* Loop thread only. */
  uint64_t seen[GL_SETTLE_BROKERS];       /* Counters at the last read. */
  uint64_t changed_ms[GL_SETTLE_BROKERS]; /* When a read last saw one move. */
  uint64_t base[GL_SETTLE_BROKERS];       /* The pending snapshot. */
  bool pending;       /* A snapshot waits for every fetching broker to move. */
  uint64_t tag;       /* The tag of the records taken in this pump. */
  uint64_t settled;   /* Records tagged up to this one have settled. */
  bool took;          /* Records were tagged in this pump. */
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

/* The start of a pump, before its drain: reads the counters, and settles
 * the pending snapshot's tag if every broker that fetched in the last
 * second has written a Fetch since. */
void gl_settle_pump_start(gl_settle_t *s, uint64_t now_ms);
/* The tag of a record taken from the consumer queue in this pump. */
uint64_t gl_settle_tag(gl_settle_t *s);
/* The end of a pump's drain: snapshots the counters for the records
 * tagged in it, unless a snapshot is pending already (they wait for the
 * next one). */
void gl_settle_drained(gl_settle_t *s);
/* Whether a record tagged tag has settled. */
static inline bool gl_settle_done(const gl_settle_t *s, uint64_t tag) { return tag <= s->settled; }
/* A merge waits for records to settle: wake the loop at the next Fetch. */
void gl_settle_want_wake(gl_settle_t *s);

/* The interceptor itself (exposed for tests): counts a Fetch written to
 * broker brokerid. Any thread. */
void gl_settle_count(gl_settle_t *s, int32_t brokerid);

#endif
