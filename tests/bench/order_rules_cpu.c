/* bench_order_rules: the CPU cost of orderd's own share of a record, with no
 * Kafka: decode and validate the envelope (gl_envelope_decode), apply it to
 * its order (order_apply, which packs the status records), encode the
 * changelog value of the changed order (order_encode), free.
 *
 *   bench_order_rules [--orders N] [--policy FILE]
 *
 * The workload is bench.py's (each order: OrderPlaced, BatchQueued, export
 * and import grant, each applying), plus, so that the digest covers more
 * than the happy path, every 8th order ships twice (PARTIALLY_CLEARED,
 * CLEARED), every 16th receives its import grant before its batch (parked,
 * then applied), every 32nd a repeated event (a duplicate) and every 64th
 * a shipment over its units (a refusal with a detail).
 *
 * Prints ns per event of each phase (wall time), the CPU time per event
 * and an FNV-1a digest of every output byte (status records, their
 * repartition keys, refusal reasons and details, changelog values): two builds that print the same digest wrote
 * the same bytes. Asserts nothing about speed; exits 1 only if an event
 * that should decode does not. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "order_table.h"

#define TOPIC_ORDERS "greenlight.orders"
#define T0 1767571200000LL

typedef struct bench_ev {
  uint8_t *buf;
  size_t len;
  char key[32];
  uint32_t order;
  const char *topic;
} bench_ev_t;

typedef struct bench_evs {
  bench_ev_t *v;
  size_t n, cap;
} bench_evs_t;

static uint64_t digest = 14695981039346656037ULL;

static void dig(const void *p, size_t n) {
  const uint8_t *b = p;
  for (size_t i = 0; i < n; i++) digest = (digest ^ b[i]) * 1099511628211ULL;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Packs env as the next event of order i. */
static void push(bench_evs_t *evs, uint32_t i, const char *oid, const char *topic,
                 Greenlight__V1__Envelope *env) {
  if (evs->n == evs->cap) {
    evs->cap = evs->cap ? evs->cap * 2 : 1024;
    evs->v = realloc(evs->v, evs->cap * sizeof *evs->v);
    if (!evs->v) abort();
  }
  bench_ev_t *e = &evs->v[evs->n++];
  e->len = gl_message_pack(&env->base, &e->buf);
  snprintf(e->key, sizeof e->key, "%s", oid);
  e->order = i;
  e->topic = topic;
}

/* The events of order i, in the order they are read. */
static void order_events(bench_evs_t *evs, uint32_t i) {
  char oid[32], eid[8][40], appr[2][32], ship[2][32];
  int64_t units = 1000 + i % 5000, t = T0 + (int64_t)i * 4;
  snprintf(oid, sizeof oid, "O-T-%07u", i);
  for (int k = 0; k < 8; k++) snprintf(eid[k], sizeof eid[k], "E-T-%07u-%d", i, k);
  snprintf(appr[0], sizeof appr[0], "US-%u", i);
  snprintf(appr[1], sizeof appr[1], "CN-%u", i);
  snprintf(ship[0], sizeof ship[0], "S-%u-1", i);
  snprintf(ship[1], sizeof ship[1], "S-%u-2", i);
  Greenlight__V1__Envelope env[8];
  Greenlight__V1__OrderPlaced placed = GREENLIGHT__V1__ORDER_PLACED__INIT;
  Greenlight__V1__BatchQueued bq = GREENLIGHT__V1__BATCH_QUEUED__INIT;
  Greenlight__V1__ApprovalGranted ex = GREENLIGHT__V1__APPROVAL_GRANTED__INIT;
  Greenlight__V1__ApprovalGranted im = GREENLIGHT__V1__APPROVAL_GRANTED__INIT;
  Greenlight__V1__ShipmentCleared s1 = GREENLIGHT__V1__SHIPMENT_CLEARED__INIT;
  Greenlight__V1__ShipmentCleared s2 = GREENLIGHT__V1__SHIPMENT_CLEARED__INIT;
  char buyer[16];
  snprintf(buyer, sizeof buyer, "B-%u", i % 17);
  placed.order_id = oid, placed.buyer_id = buyer, placed.units = units;
  placed.product = "NVIDIA H200", placed.buyer_name = i % 3 ? "ByteDance" : "阿里巴巴";
  placed.end_use = GREENLIGHT__V1__END_USE__END_USE_COMMERCIAL_CLOUD;
  placed.domestic_units_committed = units;
  bq.order_id = oid, bq.batch_id = "CN-B1", bq.batch_seq = 1, bq.position = (int32_t)i + 1;
  ex.order_id = oid, ex.approval_id = appr[0], ex.units_approved = units;
  ex.authority = GREENLIGHT__V1__AUTHORITY__AUTHORITY_US_EXPORT_LICENSE;
  im.order_id = oid, im.approval_id = appr[1], im.units_approved = units, im.batch_id = "CN-B1";
  im.authority = GREENLIGHT__V1__AUTHORITY__AUTHORITY_CN_IMPORT_APPROVAL;
  s1.order_id = oid, s1.shipment_id = ship[0], s1.units = i % 64 == 7 ? units * 2 : units / 2;
  s1.customs_office = "Shanghai Pudong";
  s2.order_id = oid, s2.shipment_id = ship[1], s2.units = units - units / 2;
  for (int k = 0; k < 8; k++) {
    greenlight__v1__envelope__init(&env[k]);
    env[k].event_id = eid[k];
    env[k].occurred_at_ms = t + k;
    env[k].source = "bench";
  }
  env[0].payload_case = GREENLIGHT__V1__ENVELOPE__PAYLOAD_ORDER_PLACED, env[0].order_placed = &placed;
  env[1].payload_case = GREENLIGHT__V1__ENVELOPE__PAYLOAD_BATCH_QUEUED, env[1].batch_queued = &bq;
  env[2].payload_case = GREENLIGHT__V1__ENVELOPE__PAYLOAD_APPROVAL_GRANTED;
  env[2].approval_granted = &ex;
  env[3].payload_case = GREENLIGHT__V1__ENVELOPE__PAYLOAD_APPROVAL_GRANTED;
  env[3].approval_granted = &im;
  env[4].payload_case = GREENLIGHT__V1__ENVELOPE__PAYLOAD_SHIPMENT_CLEARED;
  env[4].shipment_cleared = &s1;
  env[5].payload_case = GREENLIGHT__V1__ENVELOPE__PAYLOAD_SHIPMENT_CLEARED;
  env[5].shipment_cleared = &s2;
  int order[8] = {0, 1, 2, 3, -1, -1, -1, -1}, n = 4;
  if (i % 16 == 9) order[1] = 3, order[3] = 1; /* The import grant parks until its batch. */
  if (i % 8 == 7) order[n++] = 4, order[n++] = 5;
  if (i % 32 == 3) order[n] = order[n - 1], n++; /* A repeated event. */
  for (int k = 0; k < n; k++) push(evs, i, oid, TOPIC_ORDERS, &env[order[k]]);
}

/* Wall time of each phase, summed over the events. */
typedef struct bench_times {
  double decode, apply, encode, release;
} bench_times_t;

/* What orderd does with one record, but the Kafka side: decode it, apply it
 * to its order (the changelog value of a changed order is encoded at once,
 * where orderd encodes it once per commit). Returns the envelope, or NULL
 * if it did not decode. Not inlined, so that a profiler can count it alone:
 *   valgrind --tool=callgrind --toggle-collect=bench_step --toggle-collect=bench_release */
__attribute__((noinline)) static gl_envelope_t *
bench_step(const order_policy_t *pol, order_t **orders, const bench_ev_t *e, int64_t offset,
           order_out_t *out, uint8_t **rec, size_t *rec_len, bench_times_t *tm) {
  const char *reason;
  char detail[512];
  double t0 = now_s();
  gl_envelope_t *env =
      gl_envelope_decode(e->buf, e->len, e->key, strlen(e->key), &reason, detail, sizeof detail);
  double t1 = now_s();
  if (!env) {
    fprintf(stderr, "bench_order_rules: event %lld: %s: %s\n", (long long)offset, reason, detail);
    return NULL;
  }
  order_t *o = orders[e->order] ? orders[e->order] : order_new(e->key);
  order_event_t ev = {.env = env, .raw = e->buf, .raw_len = e->len, .topic = e->topic,
                      .partition = (int32_t)(e->order % 8), .offset = offset};
  order_out_init(out);
  order_apply(pol, o, &ev, env->occurred_at_ms, out);
  double t2 = now_s();
  *rec_len = out->changed ? order_encode(o, rec) : 0;
  double t3 = now_s();
  if (!orders[e->order] && out->changed) orders[e->order] = o;
  else if (!orders[e->order]) order_free(o);
  tm->decode += t1 - t0, tm->apply += t2 - t1, tm->encode += t3 - t2;
  return env;
}

/* Frees what bench_step() made. */
__attribute__((noinline)) static void bench_release(gl_envelope_t *env, order_out_t *out,
                                                    uint8_t *rec, bench_times_t *tm) {
  double t0 = now_s();
  free(rec);
  order_out_release(out);
  gl_envelope_free(env);
  tm->release += now_s() - t0;
}

int main(int argc, char **argv) {
  uint32_t norders = 100000;
  const char *policy = NULL;
  for (int a = 1; a + 1 < argc; a += 2) {
    if (strcmp(argv[a], "--orders") == 0) norders = (uint32_t)strtoul(argv[a + 1], NULL, 10);
    else if (strcmp(argv[a], "--policy") == 0) policy = argv[a + 1];
  }
  order_policy_t pol;
  order_policy_default(&pol);
  char err[512];
  if (policy && order_policy_load(&pol, policy, err, sizeof err) != 0) {
    fprintf(stderr, "bench_order_rules: %s\n", err);
    return 2;
  }
  bench_evs_t evs = {0};
  for (uint32_t i = 0; i < norders; i++) order_events(&evs, i);
  order_t **orders = calloc(norders, sizeof *orders);
  order_out_t *out = malloc(sizeof *out);
  if (!orders || !out) abort();
  bench_times_t tm = {0};
  size_t nstatus = 0, nrefused = 0;
  clock_t cpu0 = clock();
  for (size_t k = 0; k < evs.n; k++) {
    bench_ev_t *e = &evs.v[k];
    uint8_t *rec = NULL;
    size_t rec_len = 0;
    gl_envelope_t *env = bench_step(&pol, orders, e, (int64_t)k, out, &rec, &rec_len, &tm);
    if (!env) return 1;
    for (size_t s = 0; s < out->nstatus; s++) {
      dig(out->status[s].buf, out->status[s].len);
      dig(out->status[s].batch_key, strlen(out->status[s].batch_key) + 1);
    }
    for (size_t r = 0; r < out->nrefusal; r++) {
      dig(out->refusal[r].reason, strlen(out->refusal[r].reason) + 1);
      dig(out->refusal[r].detail, strlen(out->refusal[r].detail) + 1);
    }
    dig(rec, rec_len);
    nstatus += out->nstatus, nrefused += out->nrefusal;
    bench_release(env, out, rec, &tm);
  }
  double n = (double)evs.n, cpu = (double)(clock() - cpu0) / CLOCKS_PER_SEC;
  double t_dec = tm.decode, t_apply = tm.apply, t_enc = tm.encode, t_free = tm.release;
  printf("events %zu (orders %u), status records %zu, refusals %zu\n", evs.n, norders, nstatus,
         nrefused);
  printf("ns/event: decode %.0f, apply+status pack %.0f, changelog encode %.0f, free %.0f, "
         "total %.0f\n", t_dec / n * 1e9, t_apply / n * 1e9, t_enc / n * 1e9, t_free / n * 1e9,
         (t_dec + t_apply + t_enc + t_free) / n * 1e9);
  /* The phases are wall time (a machine shared with others inflates them);
   * this is the process's CPU time, timers included. */
  printf("CPU ns/event: %.0f\n", cpu / n * 1e9);
  printf("output digest %016llx\n", (unsigned long long)digest);
  for (uint32_t i = 0; i < norders; i++) order_free(orders[i]);
  for (size_t k = 0; k < evs.n; k++) free(evs.v[k].buf);
  free(evs.v);
  free(orders);
  free(out);
  return 0;
}
