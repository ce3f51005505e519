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

/* librdkafka's syslog level as ours; "ignored by this producer" warnings
 * about shared pass-through properties (CONFWARN) become debug. */
gl_log_level_t gl_kafka_log_level(int level, const char *fac);

/* Sets NULL-terminated name, value pairs. Returns 0 or -1 with errstr set. */
int gl_kafka_conf_set_pairs(rd_kafka_conf_t *kc, const char *const *kv, char *errstr,
                            size_t errlen);

#endif
