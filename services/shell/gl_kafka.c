/* gl_kafka: librdkafka on a libuv loop. See include/greenlight/gl_kafka.h. */
#include "greenlight/gl_kafka.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

static void gl_kafka_qpoll_cb(uv_poll_t *h, int status, int events) {
  gl_kafka_qpoll_t *qp = h->data;
  char buf[256];
  (void)status;
  (void)events;
  while (read(qp->fds[0], buf, sizeof(buf)) > 0) {
  }
  qp->cb(qp->arg);
}

int gl_kafka_qpoll_start(uv_loop_t *loop, gl_kafka_qpoll_t *qp, rd_kafka_queue_t *q,
                         void (*cb)(void *arg), void *arg) {
  qp->q = q;
  qp->cb = cb;
  qp->arg = arg;
  if (pipe2(qp->fds, O_NONBLOCK | O_CLOEXEC) < 0) {
    qp->fds[0] = qp->fds[1] = -1;
    return GL_EIO;
  }
  rd_kafka_queue_io_event_enable(q, qp->fds[1], "1", 1);
  if (uv_poll_init(loop, &qp->poll, qp->fds[0]) < 0) return GL_EIO;
  qp->poll.data = qp;
  return uv_poll_start(&qp->poll, UV_READABLE, gl_kafka_qpoll_cb) < 0 ? GL_EIO : GL_OK;
}

void gl_kafka_qpoll_stop(gl_kafka_qpoll_t *qp) {
  uv_handle_t *h = (uv_handle_t *)&qp->poll;
  if (h->loop && !uv_is_closing(h)) uv_close(h, NULL);
}

void gl_kafka_qpoll_destroy(gl_kafka_qpoll_t *qp) {
  if (qp->q) {
    rd_kafka_queue_io_event_enable(qp->q, -1, NULL, 0);
    rd_kafka_queue_destroy(qp->q);
    qp->q = NULL;
  }
  for (int i = 0; i < 2; i++) {
    if (qp->fds[i] > 0) close(qp->fds[i]);
    qp->fds[i] = -1;
  }
}

void gl_kafka_log(const gl_log_t *log, const rd_kafka_t *rk, int level, const char *fac,
                  const char *buf) {
  gl_log_level_t l = level <= 3   ? GL_LOG_ERROR
                     : level <= 4 ? GL_LOG_WARN
                     : level <= 6 ? GL_LOG_INFO
                                  : GL_LOG_DEBUG;
  if (fac && strcmp(fac, "CONFWARN") == 0) l = GL_LOG_DEBUG;
  gl_log_kv(log, l, "librdkafka",
            GL_LOG_FIELDS(GL_LOG_STR("client", rd_kafka_name(rk)), GL_LOG_STR("facility", fac)),
            "%s: %s: %s", rd_kafka_name(rk), fac, buf);
}

bool gl_kafka_error(const gl_log_t *log, rd_kafka_t *rk, int err, const char *reason, char *fatal,
                    size_t fatal_len) {
  if (err == RD_KAFKA_RESP_ERR__FATAL) {
    rd_kafka_fatal_error(rk, fatal, fatal_len);
    return true;
  }
  const char *name = rd_kafka_err2name((rd_kafka_resp_err_t)err);
  gl_log_kv(log, GL_LOG_WARN, "kafka_error",
            GL_LOG_FIELDS(GL_LOG_STR("client", rd_kafka_name(rk)), GL_LOG_STR("error", name)),
            "%s: %s: %s", rd_kafka_name(rk), name, reason);
  return false;
}

int32_t gl_murmur2(const void *key, size_t len) {
  const uint32_t m = 0x5bd1e995;
  const unsigned char *data = key;
  uint32_t h = 0x9747b28cu ^ (uint32_t)len;
  size_t n4 = len / 4;
  for (size_t i = 0; i < n4; i++) {
    const unsigned char *b = data + i * 4;
    uint32_t k = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    k *= m;
    k ^= k >> 24;
    k *= m;
    h *= m;
    h ^= k;
  }
  const unsigned char *tail = data + n4 * 4;
  switch (len % 4) {
    case 3: h ^= (uint32_t)tail[2] << 16; /* fall through */
    case 2: h ^= (uint32_t)tail[1] << 8;  /* fall through */
    case 1: h ^= tail[0]; h *= m;
  }
  h ^= h >> 13;
  h *= m;
  h ^= h >> 15;
  return (int32_t)h;
}
