/* gl_core: what every part of the runtime uses, and so depends on nothing
 * else of it: the clock, moves of the two state machines (gl_state.c's
 * tables), fatal errors, the close of the engine's handles, and the
 * configuration of its Kafka clients. Loop thread. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "gl_engine_int.h"

uint64_t gl_now_ms(void) { return uv_hrtime() / 1000000; }

/* After a move of either machine: a refused one is a bug, logged; a taken
 * one moves the one-hot gauges. */
static int gl_state_moved(gl_engine_t *e, const char *machine, int rc, int from, int to,
                          const char *from_name, const char *to_name, gl_series_t **gauges) {
  if (rc < 0) {
    gl_error(e->log, "bug", "%s state %s -> %s refused: not a transition of the machine",
             machine, from_name, to_name);
    return GL_ESTATE;
  }
  if (from != to) {
    gl_series_set(gauges[from], 0);
    gl_series_set(gauges[to], 1);
    gl_debug(e->log, "state", "%s %s -> %s", machine, from_name, to_name);
  }
  return GL_OK;
}

int gl_engine_set_state(gl_engine_t *e, gl_engine_state_t to) {
  GL_SHELL_ASSERT_LOOP(e->sh, "gl_engine_set_state");
  gl_engine_state_t from = e->state;
  int rc = gl_engine_state_move(&e->state, to);
  return gl_state_moved(e, "engine", rc, (int)from, (int)to, gl_engine_state_name(from),
                        gl_engine_state_name(to), e->m_state);
}

int gl_txn_set_state(gl_engine_t *e, gl_txn_state_t to) {
  GL_SHELL_ASSERT_LOOP(e->sh, "gl_txn_set_state");
  gl_txn_state_t from = e->txn_state;
  int rc = gl_txn_state_move(&e->txn_state, to);
  return gl_state_moved(e, "transaction", rc, (int)from, (int)to, gl_txn_state_name(from),
                        gl_txn_state_name(to), e->m_txn_state);
}

void gl_engine_settle(gl_engine_t *e) {
  if (!e->connected) return; /* Starting until the clients are connected and subscribed. */
  if (e->state != GL_ENGINE_STARTING && e->state != GL_ENGINE_RESTORING &&
      e->state != GL_ENGINE_RUNNING && e->state != GL_ENGINE_REBALANCING)
    return;
  /* Between a revocation (or the subscription) and the next assignment
   * the group is rebalancing. */
  if (!e->assigned_now) {
    gl_engine_set_state(e, GL_ENGINE_REBALANCING);
    return;
  }
  bool restoring = false;
  for (int p = 0; p < e->ntasks && !restoring; p++)
    restoring = e->tasks[p] && e->tasks[p]->state == GL_TASK_RESTORING;
  gl_engine_set_state(e, restoring ? GL_ENGINE_RESTORING : GL_ENGINE_RUNNING);
}

/* Ends the engine without a commit: failed, handles closed. */
void gl_engine_fail(gl_engine_t *e) {
  if (e->result == GL_OK) e->result = GL_EFATAL;
  if (!e->closed) gl_engine_set_state(e, GL_ENGINE_FAILED);
  gl_engine_close(e);
}

/* The shell logs the error, makes the exit code 1 and calls its stop
 * callback (the program's, which stops this engine: failed already). */
void gl_engine_fatal(gl_engine_t *e, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  if (e->result == GL_OK) e->result = GL_EFATAL;
  /* The engine stops at once; the shell logs the error and calls the
   * program's stop callback from the loop, never from inside a librdkafka
   * call this may be nested in (a rebalance). */
  gl_shell_fatal_later(e->sh, "%s", msg);
  gl_engine_fail(e);
}

static void gl_close_handle(uv_handle_t *h) {
  if (h->loop && !uv_is_closing(h)) uv_close(h, NULL);
}

/* Closes the engine's handles (the Kafka clients are closed by destroy,
 * after the loop) and tells whoever waits for the close. */
void gl_engine_close(gl_engine_t *e) {
  GL_SHELL_ASSERT_LOOP(e->sh, "gl_engine_close");
  if (e->closed) return;
  e->closed = true;
  atomic_store(&e->connect_stop, true); /* A connect work still waiting gives up. */
  if (e->state != GL_ENGINE_FAILED) gl_engine_set_state(e, GL_ENGINE_CLOSED);
  gl_close_handle((uv_handle_t *)&e->cron);
  if (e->settle_started) {
    gl_settle_close(&e->settle); /* No broker thread sends it from here on. */
    gl_close_handle((uv_handle_t *)&e->settle_wake);
  }
  gl_kafka_qpoll_stop(&e->cons_io);
  gl_kafka_qpoll_stop(&e->prod_io);
  gl_kafka_qpoll_stop(&e->rest_io);
  if (e->on_closed) {
    gl_engine_closed_fn cb = e->on_closed;
    e->on_closed = NULL;
    cb(e, e->on_closed_arg);
  }
}

rd_kafka_conf_t *gl_kafka_conf(gl_engine_t *e, const char *const *defaults,
                               const char *const *forced, char *errstr, size_t errlen) {
  return gl_shell_kafka_conf(e->sh, defaults, forced, e, errstr, errlen);
}
