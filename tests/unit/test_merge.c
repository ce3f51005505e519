/* Unit tests for gl_merge (SPEC §6): heads and watermarks go in as plain
 * values; the tests check which input is taken, and when and why the merge
 * waits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "gl_merge.h"

enum { MAX_IDLE = 100, SETTLE = 20 };

static gl_merge_clock_t at(uint64_t now_ms) {
  return (gl_merge_clock_t){.now_ms = now_ms, .max_idle_ms = MAX_IDLE, .settle_ms = SETTLE};
}

/* An assigned input holding a head that arrived long before any now_ms
 * the tests use, so that settling never holds it back unless a test says. */
static gl_merge_input_t head(int64_t timestamp, int64_t offset) {
  return (gl_merge_input_t){.assigned = true, .fetched = true, .hwm = -1, .has_head = true,
                            .head = {.timestamp = timestamp, .offset = offset, .arrived_ms = 1}};
}

/* An assigned input with nothing buffered that reached its end at
 * eof_offset, while the last fetch response reported hwm. */
static gl_merge_input_t ended(int64_t eof_offset, int64_t hwm) {
  return (gl_merge_input_t){
      .assigned = true, .fetched = true, .eof = true, .eof_offset = eof_offset, .hwm = hwm};
}

/* An assigned input not fetched yet since its assignment. */
static gl_merge_input_t unfetched(void) {
  return (gl_merge_input_t){.assigned = true, .hwm = -1};
}

static void expect_take(gl_merge_pick_t p, int rank) {
  assert_int_equal(p.verdict, GL_MERGE_TAKE);
  assert_int_equal(p.rank, rank);
  assert_int_equal(p.blocker, -1);
}

static void expect_wait(gl_merge_pick_t p, gl_merge_verdict_t why, int rank, int blocker) {
  assert_int_equal(p.verdict, why);
  assert_int_equal(p.rank, rank);
  assert_int_equal(p.blocker, blocker);
  assert_false(p.idle_expired);
}

static void test_before(void **state) {
  (void)state;
  gl_merge_head_t a = {.timestamp = 10, .offset = 7}, b = {.timestamp = 11, .offset = 0};
  /* The timestamp decides first, whatever the rank and the offset. */
  assert_true(gl_merge_before(&a, 2, &b, 0));
  assert_false(gl_merge_before(&b, 0, &a, 2));
  /* Equal timestamps: the lower rank, whatever the offset. */
  b.timestamp = 10;
  assert_true(gl_merge_before(&a, 0, &b, 1));
  assert_false(gl_merge_before(&a, 1, &b, 0));
  /* Equal timestamps and ranks: the lower offset. */
  assert_true(gl_merge_before(&b, 0, &a, 0));
  assert_false(gl_merge_before(&a, 0, &b, 0));
  assert_false(gl_merge_before(&a, 0, &a, 0));
}

/* Three inputs, each holding one head: the one taken. */
static void test_order(void **state) {
  (void)state;
  static const struct {
    int64_t ts[3], offset[3];
    int taken;
  } rows[] = {
      /* The smallest timestamp, whatever its rank and offset. */
      {{30, 10, 20}, {0, 5, 1}, 1},
      {{30, 40, 20}, {0, 6, 1}, 2},
      {{30, 40, 50}, {0, 6, 2}, 0},
      /* A record without a timestamp (-1) comes before every stamped one. */
      {{30, 40, -1}, {0, 6, 3}, 2},
      /* Equal timestamps: the lowest rank, even with the highest offset. */
      {{10, 10, 10}, {9, 0, 4}, 0},
      {{11, 10, 10}, {10, 0, 4}, 1},
      {{11, 11, 10}, {10, 1, 4}, 2},
      {{11, 11, 11}, {10, 1, 0}, 0},
  };
  for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
    uint64_t idle = 0;
    gl_merge_input_t in[3];
    for (int i = 0; i < 3; i++) in[i] = head(rows[r].ts[i], rows[r].offset[i]);
    expect_take(gl_merge_pick(in, 3, at(1000), &idle), rows[r].taken);
  }
}

static void test_nothing_buffered(void **state) {
  (void)state;
  uint64_t idle = 500;
  gl_merge_input_t in[2] = {ended(4, 4), ended(3, 9)};
  expect_wait(gl_merge_pick(in, 2, at(1000), &idle), GL_MERGE_WAIT_EMPTY, -1, -1);
  assert_int_equal(idle, 0);
  /* A buffered head of an unassigned input counts for nothing. */
  in[1] = head(5, 0);
  in[1].assigned = false;
  idle = 500;
  expect_wait(gl_merge_pick(in, 2, at(1000), &idle), GL_MERGE_WAIT_EMPTY, -1, -1);
  assert_int_equal(idle, 0);
}

static void test_unfetched_waits_unbounded(void **state) {
  (void)state;
  uint64_t idle = 0;
  gl_merge_input_t in[3] = {head(10, 0), ended(3, 9), unfetched()};
  /* Input 1 lags too, but the input not fetched yet is what is waited for,
   * with no clock started: max.idle.ms never ends this wait. */
  for (uint64_t now = 1000; now <= 1000 + 50 * MAX_IDLE; now += MAX_IDLE) {
    expect_wait(gl_merge_pick(in, 3, at(now), &idle), GL_MERGE_WAIT_UNFETCHED, 0, 2);
    assert_int_equal(idle, 0);
  }
  /* A clock already running from an earlier lagging wait is cleared. */
  idle = 900;
  expect_wait(gl_merge_pick(in, 3, at(2000), &idle), GL_MERGE_WAIT_UNFETCHED, 0, 2);
  assert_int_equal(idle, 0);
  /* Of two inputs not fetched, the wait names the first. */
  in[1] = unfetched();
  expect_wait(gl_merge_pick(in, 3, at(2000), &idle), GL_MERGE_WAIT_UNFETCHED, 0, 1);
  /* Its first fetch answers "end, nothing beyond": the head goes. */
  in[1] = ended(9, 9);
  in[2] = ended(0, 0);
  expect_take(gl_merge_pick(in, 3, at(7000), &idle), 0);
}

static void test_lagging_until_max_idle(void **state) {
  (void)state;
  uint64_t idle = 0;
  /* Input 1 reached its end at 5, but the broker reports records up to 8. */
  gl_merge_input_t in[2] = {head(10, 0), ended(5, 8)};
  expect_wait(gl_merge_pick(in, 2, at(1000), &idle), GL_MERGE_WAIT_LAGGING, 0, 1);
  assert_int_equal(idle, 1000);
  expect_wait(gl_merge_pick(in, 2, at(1000 + MAX_IDLE - 1), &idle), GL_MERGE_WAIT_LAGGING, 0, 1);
  assert_int_equal(idle, 1000);
  /* The engine moves the clock forward by a commit's pause: a now before
   * it is no time waited. */
  idle = 1200;
  expect_wait(gl_merge_pick(in, 2, at(1150), &idle), GL_MERGE_WAIT_LAGGING, 0, 1);
  assert_int_equal(idle, 1200);
  idle = 1000;
  gl_merge_pick_t p = gl_merge_pick(in, 2, at(1000 + MAX_IDLE), &idle);
  expect_take(p, 0);
  assert_true(p.idle_expired);
  /* Expired once, it keeps taking while the input lags, without a new
   * wait per record. */
  in[0] = head(11, 1);
  p = gl_merge_pick(in, 2, at(1000 + MAX_IDLE + 1), &idle);
  expect_take(p, 0);
  assert_true(p.idle_expired);
  assert_int_equal(idle, 1000);
  /* A record arrives for the lagging input: the wait is over. */
  in[1] = head(12, 5);
  p = gl_merge_pick(in, 2, at(1000 + MAX_IDLE + 2), &idle);
  expect_take(p, 0);
  assert_false(p.idle_expired);
  assert_int_equal(idle, 0);
}

static void test_lagging_not_at_end(void **state) {
  (void)state;
  /* Fetched, nothing buffered and no end reported (its records are on
   * their way): it lags. The clock starts at 1 when now_ms is 0, since 0
   * means "not waiting". */
  uint64_t idle = 0;
  gl_merge_input_t in[2] = {head(10, 0), {.assigned = true, .fetched = true, .hwm = -1}};
  expect_wait(gl_merge_pick(in, 2, at(0), &idle), GL_MERGE_WAIT_LAGGING, 0, 1);
  assert_int_equal(idle, 1);
  /* Of two lagging inputs, the wait names the first. */
  gl_merge_input_t three[3] = {in[0], in[1], ended(2, 3)};
  expect_wait(gl_merge_pick(three, 3, at(MAX_IDLE), &idle), GL_MERGE_WAIT_LAGGING, 0, 1);
  assert_int_equal(idle, 1);
  gl_merge_pick_t p = gl_merge_pick(in, 2, at(MAX_IDLE + 1), &idle);
  expect_take(p, 0);
  assert_true(p.idle_expired);
}

static void test_caught_up_takes_at_once(void **state) {
  (void)state;
  uint64_t idle = 700;
  /* Caught up: at its end, and the watermark is not beyond it (equal, or
   * -1 when no fetch response reported one yet). */
  gl_merge_input_t in[3] = {ended(5, 5), head(10, 0), ended(3, -1)};
  gl_merge_pick_t p = gl_merge_pick(in, 3, at(1000), &idle);
  expect_take(p, 1);
  assert_false(p.idle_expired);
  assert_int_equal(idle, 0);
  /* One record beyond the end makes it lag again. */
  in[2].hwm = 4;
  expect_wait(gl_merge_pick(in, 3, at(1000), &idle), GL_MERGE_WAIT_LAGGING, 1, 2);
}

static void test_settle_window(void **state) {
  (void)state;
  uint64_t idle = 0;
  /* The candidate arrived at 1000; input 0 counts as caught up against it
   * only from 1000 + merge.settle.ms. */
  gl_merge_input_t in[2] = {ended(5, 5), head(10, 0)};
  in[1].head.arrived_ms = 1000;
  expect_wait(gl_merge_pick(in, 2, at(1000), &idle), GL_MERGE_WAIT_SETTLING, 1, 0);
  /* Of two caught-up inputs, the wait names the first. */
  gl_merge_input_t two[3] = {in[0], in[1], ended(3, 3)};
  expect_wait(gl_merge_pick(two, 3, at(1000), &idle), GL_MERGE_WAIT_SETTLING, 1, 0);
  /* Settling leaves a running lag clock as it is. */
  idle = 400;
  expect_wait(gl_merge_pick(in, 2, at(1000 + SETTLE - 1), &idle), GL_MERGE_WAIT_SETTLING, 1, 0);
  assert_int_equal(idle, 400);
  expect_take(gl_merge_pick(in, 2, at(1000 + SETTLE), &idle), 1);
  assert_int_equal(idle, 0);
  /* With every other input holding a head, nothing settles. */
  gl_merge_input_t both[2] = {head(20, 0), head(10, 0)};
  both[1].head.arrived_ms = 1000;
  expect_take(gl_merge_pick(both, 2, at(1000), &idle), 1);
  /* With an input lagging, the max.idle.ms wait applies, not the settle. */
  gl_merge_input_t lag[3] = {ended(5, 5), head(10, 0), ended(2, 3)};
  lag[1].head.arrived_ms = 1000;
  expect_wait(gl_merge_pick(lag, 3, at(1000), &idle), GL_MERGE_WAIT_LAGGING, 1, 2);
  gl_merge_pick_t p = gl_merge_pick(lag, 3, at(1000 + MAX_IDLE), &idle);
  expect_take(p, 1);
  assert_true(p.idle_expired);
  /* A candidate whose fetch response is in (gl_settle.h) is taken at once,
   * unless merge.settle.min.ms asks it to be older. */
  in[1].head.settled = true;
  expect_take(gl_merge_pick(in, 2, at(1000), &idle), 1);
  gl_merge_clock_t least = at(1000 + 9);
  least.settle_min_ms = 10;
  expect_wait(gl_merge_pick(in, 2, least, &idle), GL_MERGE_WAIT_SETTLING, 1, 0);
  least.now_ms = 1000 + 10;
  expect_take(gl_merge_pick(in, 2, least, &idle), 1);
  in[1].head.settled = false;
  /* merge.settle.ms 0 settles nothing. */
  gl_merge_clock_t now = at(1000);
  now.settle_ms = 0;
  expect_take(gl_merge_pick(in, 2, now, &idle), 1);
}

static void test_unassigned_ignored(void **state) {
  (void)state;
  uint64_t idle = 0;
  /* Input 0 is not assigned: its earlier head is not taken, and input 2,
   * unassigned and never fetched, is not waited for. */
  gl_merge_input_t in[3] = {head(1, 0), head(10, 0), unfetched()};
  in[0].assigned = in[2].assigned = false;
  expect_take(gl_merge_pick(in, 3, at(1000), &idle), 1);
  /* Nor is an unassigned input that lags. */
  in[2] = ended(0, 9);
  in[2].assigned = false;
  expect_take(gl_merge_pick(in, 3, at(1000), &idle), 1);
  assert_int_equal(idle, 0);
}

/* ---- A whole interleaving of three inputs ------------------------------ */

enum { SIM_INPUTS = 3, SIM_RECORDS = 8 };

/* The log of three input partitions as the engine would see it: records
 * delivered so far, how many were taken, and what the last fetch said. */
typedef struct sim {
  gl_merge_head_t rec[SIM_INPUTS][SIM_RECORDS];
  int delivered[SIM_INPUTS], taken[SIM_INPUTS];
  gl_merge_input_t state[SIM_INPUTS];
  uint64_t idle_since_ms;
} sim_t;

/* A record fetched: as in gl_task_push, the input is fetched and no longer
 * at its end. */
static void sim_deliver(sim_t *s, int rank, int64_t ts, int64_t offset, uint64_t arrived) {
  s->rec[rank][s->delivered[rank]++] =
      (gl_merge_head_t){.timestamp = ts, .offset = offset, .arrived_ms = arrived};
  s->state[rank].fetched = true;
  s->state[rank].eof = false;
}

/* The end of the partition reached at end_offset, as in gl_task_eof, with
 * the watermark of the fetch response. */
static void sim_end(sim_t *s, int rank, int64_t end_offset, int64_t hwm) {
  s->state[rank].fetched = s->state[rank].eof = true;
  s->state[rank].eof_offset = end_offset;
  s->state[rank].hwm = hwm;
}

/* Runs the merge at now_ms until it waits, as gl_engine_pump does. The
 * trace names each take "rank:offset" ('!' after an idle expiry) and ends
 * with the wait's reason. */
static const char *sim_run(sim_t *s, uint64_t now_ms) {
  static const char *why[] = {"take", "empty", "unfetched", "lagging", "settling"};
  static char trace[512];
  trace[0] = '\0';
  for (;;) {
    gl_merge_input_t in[SIM_INPUTS];
    for (int i = 0; i < SIM_INPUTS; i++) {
      in[i] = s->state[i];
      in[i].has_head = s->taken[i] < s->delivered[i];
      if (in[i].has_head) in[i].head = s->rec[i][s->taken[i]];
    }
    gl_merge_pick_t p = gl_merge_pick(in, SIM_INPUTS, at(now_ms), &s->idle_since_ms);
    size_t n = strlen(trace);
    if (p.verdict != GL_MERGE_TAKE) {
      snprintf(trace + n, sizeof(trace) - n, "wait:%s", why[p.verdict]);
      return trace;
    }
    snprintf(trace + n, sizeof(trace) - n, "%d:%lld%s ", p.rank,
             (long long)s->rec[p.rank][s->taken[p.rank]].offset, p.idle_expired ? "!" : "");
    s->taken[p.rank]++;
  }
}

/* Inputs 0, 1 and 2 (ranks), records written ts@offset; max.idle.ms 100,
 * merge.settle.ms 20.
 *
 * t=1000  input 0 holds 10@0 20@1 20@2 40@3, end at 4 (watermark 4);
 *         input 1 holds 20@0 30@1, end at 2 but watermark 5 (an upstream
 *         transaction still open); input 2 not fetched yet. All arrived at
 *         900. Input 2 may hold the earliest record:
 *           wait:unfetched
 * t=1000  input 2 brings 15@0 20@1 (arrived 950), end at 2 (watermark 2).
 *         10@0 (in 0); 15@0 (in 2); 20 three ways: rank 0 first, 20@1 and
 *         20@2 of input 0, then 20@0 of input 1 before 20@1 of input 2;
 *         30@1 (in 1) with input 0's 40@3 waiting and input 2 caught up.
 *         Then input 1 is empty and lags (end 2 < watermark 5): the clock
 *         starts at 1000 and 40@3 waits:
 *           0:0 2:0 0:1 0:2 1:0 2:1 1:1 wait:lagging
 * t=1050  50 ms waited of 100:
 *           wait:lagging
 * t=1080  input 1 brings 35@2 (arrived 1060): its head settles against
 *         input 2 (caught up) from 1080, so it goes at once, and the wait
 *         for input 1 (now empty, no end reported) starts again at 1080:
 *           1:2 wait:lagging
 * t=1180  100 ms waited: 40@3 goes as an idle expiry. Nothing is left:
 *           0:3! wait:empty
 * t=1200  input 1 brings 45@3 60@4, end at 5 (watermark 5); input 2 brings
 *         50@2, end at 3 (watermark 3); all arrived at 1200. Input 0 is
 *         caught up, and 45@3 is too fresh to settle against it:
 *           wait:settling
 * t=1220  45@3 (in 1), 50@2 (in 2), 60@4 (in 1), then nothing:
 *           1:3 2:2 1:4 wait:empty */
static void test_three_inputs(void **state) {
  (void)state;
  sim_t s = {0};
  for (int i = 0; i < SIM_INPUTS; i++) s.state[i] = (gl_merge_input_t){.assigned = true, .hwm = -1};
  sim_deliver(&s, 0, 10, 0, 900);
  sim_deliver(&s, 0, 20, 1, 900);
  sim_deliver(&s, 0, 20, 2, 900);
  sim_deliver(&s, 0, 40, 3, 900);
  sim_end(&s, 0, 4, 4);
  sim_deliver(&s, 1, 20, 0, 900);
  sim_deliver(&s, 1, 30, 1, 900);
  sim_end(&s, 1, 2, 5);
  assert_string_equal(sim_run(&s, 1000), "wait:unfetched");
  sim_deliver(&s, 2, 15, 0, 950);
  sim_deliver(&s, 2, 20, 1, 950);
  sim_end(&s, 2, 2, 2);
  assert_string_equal(sim_run(&s, 1000), "0:0 2:0 0:1 0:2 1:0 2:1 1:1 wait:lagging");
  assert_string_equal(sim_run(&s, 1050), "wait:lagging");
  sim_deliver(&s, 1, 35, 2, 1060);
  assert_string_equal(sim_run(&s, 1080), "1:2 wait:lagging");
  assert_string_equal(sim_run(&s, 1180), "0:3! wait:empty");
  sim_deliver(&s, 1, 45, 3, 1200);
  sim_deliver(&s, 1, 60, 4, 1200);
  sim_end(&s, 1, 5, 5);
  sim_deliver(&s, 2, 50, 2, 1200);
  sim_end(&s, 2, 3, 3);
  assert_string_equal(sim_run(&s, 1200), "wait:settling");
  assert_string_equal(sim_run(&s, 1220), "1:3 2:2 1:4 wait:empty");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_before),
      cmocka_unit_test(test_order),
      cmocka_unit_test(test_nothing_buffered),
      cmocka_unit_test(test_unfetched_waits_unbounded),
      cmocka_unit_test(test_lagging_until_max_idle),
      cmocka_unit_test(test_lagging_not_at_end),
      cmocka_unit_test(test_caught_up_takes_at_once),
      cmocka_unit_test(test_settle_window),
      cmocka_unit_test(test_unassigned_ignored),
      cmocka_unit_test(test_three_inputs),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
