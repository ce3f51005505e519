/* The engine's and the transaction's state machines (gl_state.c): every
 * transition the design names is taken, every other one is refused and
 * leaves the state as it was. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "greenlight/gl_engine.h"

#define E(x) GL_ENGINE_##x
#define T(x) GL_TXN_##x

/* The engine's transitions, written out independently of gl_state.c's
 * table: a change to either shows up here. */
static const int engine_allowed[][2] = {
    {E(STARTING), E(RESTORING)},    {E(STARTING), E(RUNNING)},     {E(STARTING), E(REBALANCING)},
    {E(STARTING), E(DRAINING)},     {E(STARTING), E(FAILED)},      {E(STARTING), E(CLOSED)},
    {E(RESTORING), E(RUNNING)},     {E(RESTORING), E(REBALANCING)}, {E(RESTORING), E(DRAINING)},
    {E(RESTORING), E(FAILED)},      {E(RUNNING), E(RESTORING)},    {E(RUNNING), E(REBALANCING)},
    {E(RUNNING), E(DRAINING)},      {E(RUNNING), E(FAILED)},       {E(REBALANCING), E(RESTORING)},
    {E(REBALANCING), E(RUNNING)},   {E(REBALANCING), E(DRAINING)}, {E(REBALANCING), E(FAILED)},
    {E(DRAINING), E(CLOSED)},       {E(DRAINING), E(FAILED)},
};

static const int txn_allowed[][2] = {
    {T(IDLE), T(OPEN)},         {T(IDLE), T(FATAL)},       {T(OPEN), T(COMMITTING)},
    {T(OPEN), T(ABORTING)},     {T(OPEN), T(FATAL)},       {T(COMMITTING), T(IDLE)},
    {T(COMMITTING), T(ABORTING)}, {T(COMMITTING), T(FATAL)}, {T(ABORTING), T(IDLE)},
    {T(ABORTING), T(FATAL)},    {T(IDLE), T(RECREATING)},  {T(RECREATING), T(IDLE)},
    {T(RECREATING), T(FATAL)},
};

static bool listed(const int (*pairs)[2], size_t n, int from, int to) {
  for (size_t i = 0; i < n; i++)
    if (pairs[i][0] == from && pairs[i][1] == to) return true;
  return false;
}

/* Each machine's move through one signature, so that one loop checks both. */
typedef int (*move_fn)(int *state, int to);

static int engine_move(int *state, int to) {
  gl_engine_state_t s = (gl_engine_state_t)*state;
  int rc = gl_engine_state_move(&s, (gl_engine_state_t)to);
  *state = (int)s;
  return rc;
}

static int txn_move(int *state, int to) {
  gl_txn_state_t s = (gl_txn_state_t)*state;
  int rc = gl_txn_state_move(&s, (gl_txn_state_t)to);
  *state = (int)s;
  return rc;
}

/* Every (from, to) pair of a machine of count states: the listed moves
 * (and staying put) are taken, every other one is refused and changes
 * nothing; and every listed move was taken once. */
static void check_machine(int count, const int (*allowed)[2], size_t n, move_fn move) {
  int taken = 0;
  for (int from = 0; from < count; from++)
    for (int to = 0; to < count; to++) {
      int s = from;
      int rc = move(&s, to);
      if (from == to || listed(allowed, n, from, to)) {
        assert_int_equal(rc, GL_OK);
        assert_int_equal(s, to);
        taken += from != to;
      } else {
        assert_int_equal(rc, GL_ESTATE);
        assert_int_equal(s, from); /* Refused: unchanged. */
      }
    }
  assert_int_equal(taken, (int)n);
}

static void test_engine_transitions(void **state) {
  (void)state;
  check_machine(GL_ENGINE_STATE_COUNT, engine_allowed,
                sizeof engine_allowed / sizeof engine_allowed[0], engine_move);
}

static void test_txn_transitions(void **state) {
  (void)state;
  check_machine(GL_TXN_STATE_COUNT, txn_allowed, sizeof txn_allowed / sizeof txn_allowed[0],
                txn_move);
}

/* Terminal states have no way out, and out-of-range values are refused. */
static void test_terminal_and_range(void **state) {
  (void)state;
  gl_engine_state_t e = GL_ENGINE_FAILED;
  assert_int_equal(gl_engine_state_move(&e, GL_ENGINE_RUNNING), GL_ESTATE);
  assert_int_equal(e, GL_ENGINE_FAILED);
  e = GL_ENGINE_CLOSED;
  assert_int_equal(gl_engine_state_move(&e, GL_ENGINE_STARTING), GL_ESTATE);
  e = GL_ENGINE_RUNNING;
  assert_int_equal(gl_engine_state_move(&e, GL_ENGINE_STATE_COUNT), GL_ESTATE);
  assert_int_equal(e, GL_ENGINE_RUNNING);
  gl_txn_state_t t = GL_TXN_FATAL;
  assert_int_equal(gl_txn_state_move(&t, GL_TXN_IDLE), GL_ESTATE);
  assert_int_equal(t, GL_TXN_FATAL);
  /* The cycle a commit takes, and the one an abort takes. */
  t = GL_TXN_IDLE;
  assert_int_equal(gl_txn_state_move(&t, GL_TXN_OPEN), GL_OK);
  assert_int_equal(gl_txn_state_move(&t, GL_TXN_IDLE), GL_ESTATE); /* Never skips the commit. */
  assert_int_equal(gl_txn_state_move(&t, GL_TXN_COMMITTING), GL_OK);
  assert_int_equal(gl_txn_state_move(&t, GL_TXN_OPEN), GL_ESTATE); /* Nothing while committing. */
  assert_int_equal(gl_txn_state_move(&t, GL_TXN_ABORTING), GL_OK);
  assert_int_equal(gl_txn_state_move(&t, GL_TXN_COMMITTING), GL_ESTATE);
  assert_int_equal(gl_txn_state_move(&t, GL_TXN_IDLE), GL_OK);
  /* A fenced producer is replaced only once its transaction was dropped. */
  t = GL_TXN_ABORTING;
  assert_int_equal(gl_txn_state_move(&t, GL_TXN_RECREATING), GL_ESTATE);
  t = GL_TXN_IDLE;
  assert_int_equal(gl_txn_state_move(&t, GL_TXN_RECREATING), GL_OK);
  assert_int_equal(gl_txn_state_move(&t, GL_TXN_OPEN), GL_ESTATE); /* Nothing while replacing. */
  assert_int_equal(gl_txn_state_move(&t, GL_TXN_IDLE), GL_OK);
}

static void test_names(void **state) {
  (void)state;
  static const char *const engine[] = {"starting", "restoring", "running", "rebalancing",
                                       "draining", "closed", "failed"};
  for (int i = 0; i < GL_ENGINE_STATE_COUNT; i++)
    assert_string_equal(gl_engine_state_name((gl_engine_state_t)i), engine[i]);
  static const char *const txn[] = {"idle", "open", "committing", "aborting", "recreating",
                                    "fatal"};
  for (int i = 0; i < GL_TXN_STATE_COUNT; i++)
    assert_string_equal(gl_txn_state_name((gl_txn_state_t)i), txn[i]);
  assert_string_equal(gl_engine_state_name(GL_ENGINE_STATE_COUNT), "unknown");
  assert_string_equal(gl_txn_state_name((gl_txn_state_t)-1), "unknown");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_engine_transitions),
      cmocka_unit_test(test_txn_transitions),
      cmocka_unit_test(test_terminal_and_range),
      cmocka_unit_test(test_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
