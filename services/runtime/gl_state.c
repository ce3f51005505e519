/* gl_state: the engine's and the transaction's state machines, as tables
 * (see gl_engine.h for what each state means). Every change of state goes
 * through gl_*_state_move(), so a transition the machine lacks is refused
 * instead of silently taken. */
#include <stdbool.h>

#include "greenlight/gl_engine.h"

static const char *const engine_names[GL_ENGINE_STATE_COUNT] = {
    "starting", "restoring", "running", "rebalancing", "draining", "closed", "failed"};

#define S(x) (1u << GL_ENGINE_##x)
/* Where each state may go. Failing is possible from every live state; a
 * stop (draining) too; closed and failed are terminal. An abort makes a
 * running group restore again, hence running -> restoring. A start that
 * never got going (a bad setting found while creating the clients) closes
 * from starting. */
static const unsigned engine_next[GL_ENGINE_STATE_COUNT] = {
    [GL_ENGINE_STARTING] =
        S(RESTORING) | S(RUNNING) | S(REBALANCING) | S(DRAINING) | S(FAILED) | S(CLOSED),
    [GL_ENGINE_RESTORING] = S(RUNNING) | S(REBALANCING) | S(DRAINING) | S(FAILED),
    [GL_ENGINE_RUNNING] = S(RESTORING) | S(REBALANCING) | S(DRAINING) | S(FAILED),
    [GL_ENGINE_REBALANCING] = S(RESTORING) | S(RUNNING) | S(DRAINING) | S(FAILED),
    [GL_ENGINE_DRAINING] = S(CLOSED) | S(FAILED),
    [GL_ENGINE_CLOSED] = 0,
    [GL_ENGINE_FAILED] = 0,
};
#undef S

static const char *const txn_names[GL_TXN_STATE_COUNT] = {"idle", "open", "committing",
                                                          "aborting", "recreating", "fatal"};

#define T(x) (1u << GL_TXN_##x)
/* A commit either ends the transaction (idle) or fails into an abort; a
 * lost assignment aborts an open transaction directly. A producer its
 * coordinator fenced is replaced from idle, once the failed transaction was
 * dropped (gl_producer.c). Fatal is terminal. */
static const unsigned txn_next[GL_TXN_STATE_COUNT] = {
    [GL_TXN_IDLE] = T(OPEN) | T(RECREATING) | T(FATAL),
    [GL_TXN_OPEN] = T(COMMITTING) | T(ABORTING) | T(FATAL),
    [GL_TXN_COMMITTING] = T(IDLE) | T(ABORTING) | T(FATAL),
    [GL_TXN_ABORTING] = T(IDLE) | T(FATAL),
    [GL_TXN_RECREATING] = T(IDLE) | T(FATAL),
    [GL_TXN_FATAL] = 0,
};
#undef T

static int gl_state_move(int *state, int to, int count, const unsigned *next) {
  if (*state < 0 || *state >= count || to < 0 || to >= count) return GL_ESTATE;
  if (*state == to) return GL_OK;
  if (!(next[*state] & (1u << to))) return GL_ESTATE;
  *state = to;
  return GL_OK;
}

const char *gl_engine_state_name(gl_engine_state_t s) {
  return (int)s >= 0 && s < GL_ENGINE_STATE_COUNT ? engine_names[s] : "unknown";
}

const char *gl_txn_state_name(gl_txn_state_t s) {
  return (int)s >= 0 && s < GL_TXN_STATE_COUNT ? txn_names[s] : "unknown";
}

int gl_engine_state_move(gl_engine_state_t *state, gl_engine_state_t to) {
  int s = (int)*state;
  int rc = gl_state_move(&s, (int)to, GL_ENGINE_STATE_COUNT, engine_next);
  *state = (gl_engine_state_t)s;
  return rc;
}

int gl_txn_state_move(gl_txn_state_t *state, gl_txn_state_t to) {
  int s = (int)*state;
  int rc = gl_state_move(&s, (int)to, GL_TXN_STATE_COUNT, txn_next);
  *state = (gl_txn_state_t)s;
  return rc;
}
