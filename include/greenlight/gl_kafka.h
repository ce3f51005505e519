/* gl_kafka: librdkafka on a libuv loop, shared by the engine and the
 * daemons that produce without it (the clock daemon).
 *
 * rd_kafka_queue_io_event_enable() writes to an fd only when a queue goes
 * from empty to non-empty, so a gl_kafka_qpoll drains the pipe and then
 * calls back, and the callback must serve the queue until it is empty (poll
 * with timeout 0). Callers keep a fallback timer as well. */
#ifndef GREENLIGHT_GL_KAFKA_H
#define GREENLIGHT_GL_KAFKA_H

#include <stddef.h>

#include <librdkafka/rdkafka.h>
#include <uv.h>

#include "greenlight/gl_log.h"

typedef struct gl_kafka_qpoll {
  uv_poll_t poll;
  int fds[2];
  rd_kafka_queue_t *q;
  void (*cb)(void *arg);
  void *arg;
} gl_kafka_qpoll_t;

/* Wires q (ownership taken) into loop: cb(arg) runs when it has events.
 * Returns 0 or a negative errno. */
int gl_kafka_qpoll_start(uv_loop_t *loop, gl_kafka_qpoll_t *qp, rd_kafka_queue_t *q,
                         void (*cb)(void *arg), void *arg);
/* Closes the poll handle (loop still running). */
void gl_kafka_qpoll_stop(gl_kafka_qpoll_t *qp);
/* Releases the queue and the pipe (after the loop ended, before rd_kafka_destroy). */
void gl_kafka_qpoll_destroy(gl_kafka_qpoll_t *qp);

/* For a client's log_cb: logs one librdkafka line at our level for its
 * syslog level; "ignored by this producer" warnings about shared
 * pass-through properties (CONFWARN) become debug. */
void gl_kafka_log(const gl_log_t *log, const rd_kafka_t *rk, int level, const char *fac,
                  const char *buf);

/* For a client's error_cb: logs a non-fatal error as a warning and returns
 * 0; for a fatal one (RD_KAFKA_RESP_ERR__FATAL) copies the underlying error
 * to fatal and returns 1, leaving what to do to the caller. */
int gl_kafka_error(const gl_log_t *log, rd_kafka_t *rk, int err, const char *reason, char *fatal,
                   size_t fatal_len);

/* Sets NULL-terminated name, value pairs. Returns 0 or -1 with errstr set. */
int gl_kafka_conf_set_pairs(rd_kafka_conf_t *kc, const char *const *kv, char *errstr,
                            size_t errlen);

/* Java's Utils.murmur2, the hash of Kafka's default partitioner, which
 * every greenlight producer is configured to use (any thread). */
int32_t gl_murmur2(const void *key, size_t len);

#endif
