/* gl_kafka: librdkafka on a libuv loop, shared by the engine and the
 * daemons that produce without it (the clock daemon).
 *
 * rd_kafka_queue_io_event_enable() writes to an fd only when a queue goes
 * from empty to non-empty, so a gl_kafka_qpoll drains the pipe and then
 * calls back, and the callback must serve the queue until it is empty (poll
 * with timeout 0). Callers keep a fallback timer as well.
 *
 * Thread locality: a gl_kafka_qpoll belongs to the thread that runs its
 * loop: start and stop are called there, and its callback runs there.
 * gl_kafka_log(), gl_kafka_error() and gl_murmur2() may be called on any
 * thread (a client's log and error callbacks run on librdkafka's threads).
 *
 * Errors follow gl_error.h: GL_OK or a negative GL_E* code. */
#ifndef GREENLIGHT_GL_KAFKA_H
#define GREENLIGHT_GL_KAFKA_H

#include <stdbool.h>
#include <stddef.h>

#include <librdkafka/rdkafka.h>
#include <uv.h>

#include "greenlight/gl_error.h"
#include "greenlight/gl_log.h"

/* Embedded in its owner's struct, which must be zeroed before the start
 * (so that stop and destroy know what was made). Fields are private. */
typedef struct gl_kafka_qpoll {
  uv_poll_t poll;
  int fds[2];
  rd_kafka_queue_t *q;
  void (*cb)(void *arg);
  void *arg;
} gl_kafka_qpoll_t;

/* Wires q into loop: cb(arg) runs on the loop thread when q has events.
 * Takes ownership of q, also on failure: gl_kafka_qpoll_destroy() releases
 * it. Returns GL_OK, or GL_EIO when the operating system refused the pipe
 * or the poll handle (no descriptor left); either way the owner later calls
 * gl_kafka_qpoll_stop() and gl_kafka_qpoll_destroy(). Loop thread. */
int gl_kafka_qpoll_start(uv_loop_t *loop, gl_kafka_qpoll_t *qp, rd_kafka_queue_t *q,
                         void (*cb)(void *arg), void *arg);
/* Closes the poll handle, if one was made (the loop still running). Loop
 * thread. */
void gl_kafka_qpoll_stop(gl_kafka_qpoll_t *qp);
/* Releases the queue and the pipe: after the loop ended, before
 * rd_kafka_destroy() of the queue's client. On the thread that ran the
 * loop. */
void gl_kafka_qpoll_destroy(gl_kafka_qpoll_t *qp);

/* For a client's log_cb: logs one librdkafka line at our level for its
 * syslog level; "ignored by this producer" warnings about shared
 * pass-through properties (CONFWARN) become debug. fac and buf are
 * borrowed for the call. Any thread. */
void gl_kafka_log(const gl_log_t *log, const rd_kafka_t *rk, int level, const char *fac,
                  const char *buf);

/* For a client's error_cb: logs a non-fatal error as a warning and returns
 * false; for a fatal one (RD_KAFKA_RESP_ERR__FATAL) writes the underlying
 * error into the caller's buffer fatal[0..fatal_len) and returns true,
 * leaving what to do to the caller. Any thread. */
bool gl_kafka_error(const gl_log_t *log, rd_kafka_t *rk, int err, const char *reason, char *fatal,
                    size_t fatal_len);

/* Java's Utils.murmur2, the hash of Kafka's default partitioner, which
 * every greenlight producer is configured to use. Pure; any thread. */
int32_t gl_murmur2(const void *key, size_t len);

#endif
