/* rate_latency: end-to-end latency of the order daemon at a fixed offered
 * rate. Produces the events of FILE (JSON lines: an Envelope plus the
 * unprefixed "topic" it goes to; the key is its order_id, the timestamp its
 * occurred_at_ms) at --rate events per second, and reads the status topic
 * read_committed on a second thread. An event's latency is the time from
 * its append (its delivery report: acks=all, so after the broker appended
 * it) to the time the status record of its order with the matching version
 * is visible to the consumer; the n-th event of an order (in FILE's order)
 * yields version n. Prints one JSON line with the percentiles; exits 0 when
 * every event's status was seen before --timeout-s after the last send,
 * else 1. The percentiles leave out events sent in the first --warmup-s
 * seconds (the daemon's first fetches and the clients' connections; the
 * "_all" figures keep them), and a series per second of sending shows
 * whether the high ones are a backlog building up or a few stalls.
 *
 *   bench_rate_latency -b BOOTSTRAP --prefix P --events FILE --rate N --status TOPIC
 *       [--warmup-s S] [--timeout-s S] */
#include <getopt.h>
#include <stdint.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "greenlight/gl_codec.h"
#include "greenlight/gl_json.h"
#include "greenlight/v1/greenlight.pb-c.h"

#define SLOTS 8 /* Events per order at most. */

typedef struct event {
  char *topic, *key;
  uint8_t *buf;
  size_t len;
  int64_t ts;
} event_t;

typedef struct run {
  event_t *ev;
  long nev, norders, *slot_event; /* slot_event[order * SLOTS + version - 1] = event. */
  int64_t *sent_ns, *append_ns, *seen_ns;
  atomic_long seen, duplicates, unknown;
  int partitions, at_end; /* Status partitions; how many reached their end once (under lock). */
  atomic_bool stop;
  pthread_mutex_t lock;
  pthread_cond_t changed; /* Signalled when seen or at_end reach their goal. */
  rd_kafka_t *consumer;
} run_t;

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what, const char *why) {
  fprintf(stderr, "bench_rate_latency: %s: %s\n", what, why);
  exit(1);
}

/* The order number of an order id "<anything>-<digits>", or -1. */
static long order_number(const char *id, size_t len) {
  long n = 0, digits = 0;
  while (len > 0 && id[len - 1] >= '0' && id[len - 1] <= '9') len--;
  for (size_t i = len; id[i] >= '0' && id[i] <= '9' && digits < 12; i++, digits++)
    n = n * 10 + (id[i] - '0');
  return digits ? n : -1;
}

/* Reads and encodes every event before the clock starts. */
static void load(run_t *r, const char *path, const char *prefix) {
  FILE *f = fopen(path, "r");
  if (!f) die(path, "cannot open");
  char *line = NULL, err[512];
  size_t cap = 0;
  long *per_order = NULL;
  while (getline(&line, &cap, f) > 0) {
    json_error_t je;
    json_t *o = json_loads(line, 0, &je);
    const char *topic = o ? json_string_value(json_object_get(o, "topic")) : NULL;
    if (!topic) die(path, "a line is not an object with a \"topic\"");
    r->ev = realloc(r->ev, sizeof *r->ev * (size_t)(r->nev + 1));
    event_t *e = &r->ev[r->nev];
    if (!r->ev || asprintf(&e->topic, "%s%s", prefix, topic) < 0) abort();
    json_object_del(o, "topic");
    Greenlight__V1__Envelope *env = (Greenlight__V1__Envelope *)gl_json_to_message(
        &greenlight__v1__envelope__descriptor, o, err, sizeof err);
    if (!env || !gl_envelope_order_id(env)) die(path, env ? "an event without an order_id" : err);
    e->key = strdup(gl_envelope_order_id(env));
    e->len = gl_message_pack(&env->base, &e->buf);
    e->ts = env->occurred_at_ms;
    long order = order_number(e->key, strlen(e->key));
    if (order < 0) die(e->key, "the order id does not end in a number");
    if (order >= r->norders) {
      per_order = realloc(per_order, sizeof(long) * (size_t)(order + 1));
      r->slot_event = realloc(r->slot_event, sizeof(long) * SLOTS * (size_t)(order + 1));
      if (!per_order || !r->slot_event) abort();
      for (long k = r->norders; k <= order; k++) per_order[k] = 0;
      for (long k = r->norders * SLOTS; k < (order + 1) * SLOTS; k++) r->slot_event[k] = -1;
      r->norders = order + 1;
    }
    if (per_order[order] >= SLOTS) die(e->key, "more than 8 events for one order");
    r->slot_event[order * SLOTS + per_order[order]++] = r->nev++;
    /* Built from JSON, not decoded: not in a decode arena (gl_codec.h). */
    protobuf_c_message_free_unpacked(&env->base, NULL);
    json_decref(o);
  }
  free(line);
  free(per_order);
  fclose(f);
  r->sent_ns = calloc((size_t)r->nev, sizeof(int64_t));
  r->append_ns = calloc((size_t)r->nev, sizeof(int64_t));
  r->seen_ns = calloc((size_t)r->nev, sizeof(int64_t));
  if (!r->sent_ns || !r->append_ns || !r->seen_ns) abort();
}

/* The consumer thread: stamps the first sight of each (order, version). */
static void on_status(run_t *r, const rd_kafka_message_t *m) {
  Greenlight__V1__OrderStatus *s = greenlight__v1__order_status__unpack(NULL, m->len, m->payload);
  long order = s ? order_number(s->order_id, strlen(s->order_id)) : -1;
  long i = order >= 0 && order < r->norders && s->version >= 1 && s->version <= SLOTS
               ? r->slot_event[order * SLOTS + s->version - 1]
               : -1;
  if (i < 0) atomic_fetch_add(&r->unknown, 1);
  else if (r->seen_ns[i]) atomic_fetch_add(&r->duplicates, 1);
  else {
    r->seen_ns[i] = now_ns();
    if (atomic_fetch_add(&r->seen, 1) + 1 == r->nev) {
      pthread_mutex_lock(&r->lock);
      pthread_cond_signal(&r->changed);
      pthread_mutex_unlock(&r->lock);
    }
  }
  if (s) greenlight__v1__order_status__free_unpacked(s, NULL);
}

static void *consume(void *arg) {
  run_t *r = arg;
  while (!atomic_load(&r->stop)) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(r->consumer, 100);
    if (m && !m->err) on_status(r, m);
    if (m && m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      pthread_mutex_lock(&r->lock);
      if (r->at_end < r->partitions && ++r->at_end == r->partitions) pthread_cond_signal(&r->changed);
      pthread_mutex_unlock(&r->lock);
    }
    if (m) rd_kafka_message_destroy(m);
  }
  return NULL;
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  run_t *r = opaque;
  (void)rk;
  if (m->err) die("delivery", rd_kafka_err2str(m->err));
  r->append_ns[(long)(intptr_t)m->_private] = now_ns();
}

static rd_kafka_t *client(rd_kafka_type_t type, const char *const *kv, run_t *r) {
  char why[512];
  rd_kafka_conf_t *c = rd_kafka_conf_new();
  for (; kv[0]; kv += 2)
    if (rd_kafka_conf_set(c, kv[0], kv[1], why, sizeof why) != RD_KAFKA_CONF_OK) die(kv[0], why);
  rd_kafka_conf_set_opaque(c, r);
  if (type == RD_KAFKA_PRODUCER) rd_kafka_conf_set_dr_msg_cb(c, dr_cb);
  rd_kafka_t *rk = rd_kafka_new(type, c, why, sizeof why);
  if (!rk) die("rd_kafka_new", why);
  return rk;
}

/* Assigns every partition of topic from its beginning (a fresh topic);
 * returns how many. */
static int assign_all(rd_kafka_t *rk, const char *topic) {
  rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
  const struct rd_kafka_metadata *md = NULL;
  rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, t, &md, 10000);
  if (e || md->topic_cnt != 1 || md->topics[0].err) die(topic, "no metadata");
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
  for (int p = 0; p < md->topics[0].partition_cnt; p++)
    rd_kafka_topic_partition_list_add(l, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  if ((e = rd_kafka_assign(rk, l))) die("assign", rd_kafka_err2str(e));
  int n = l->cnt;
  rd_kafka_topic_partition_list_destroy(l);
  rd_kafka_metadata_destroy(md);
  rd_kafka_topic_destroy(t);
  return n;
}

/* Waits until cond holds (under r->lock) or timeout_s has passed; the
 * consumer thread signals r->changed when either condition changes. */
static void wait_for(run_t *r, bool (*cond)(const run_t *), double timeout_s) {
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += (time_t)timeout_s;
  pthread_mutex_lock(&r->lock);
  int rc = 0;
  while (!cond(r) && rc == 0) rc = pthread_cond_timedwait(&r->changed, &r->lock, &deadline);
  pthread_mutex_unlock(&r->lock);
}

static bool fetching(const run_t *r) { return r->at_end == r->partitions; }
static bool all_seen(const run_t *r) { return atomic_load(&r->seen) == r->nev; }

/* Asks for the metadata of each input topic once, so the producer is
 * connected to their leaders before the clock starts. */
static void warm_up(run_t *r, rd_kafka_t *p) {
  const char *done[16];
  int ndone = 0;
  for (long i = 0; i < r->nev; i++) {
    int k = 0;
    while (k < ndone && strcmp(done[k], r->ev[i].topic) != 0) k++;
    if (k < ndone || ndone == 16) continue;
    done[ndone++] = r->ev[i].topic;
    rd_kafka_topic_t *t = rd_kafka_topic_new(p, r->ev[i].topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    if (rd_kafka_metadata(p, 0, t, &md, 10000) || md->topics[0].err) die(r->ev[i].topic, "no metadata");
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(t);
  }
}

/* Sends every event at its due time t0 + i / rate, serving delivery
 * reports while it waits. Returns the seconds the sending took. */
static double send_all(run_t *r, rd_kafka_t *p, double rate) {
  int64_t t0 = now_ns();
  for (long i = 0; i < r->nev; i++) {
    int64_t due = t0 + (int64_t)((double)i * 1e9 / rate);
    while (now_ns() < due) rd_kafka_poll(p, (int)((due - now_ns()) / 1000000)); /* Waits <= 1 ms. */
    event_t *e = &r->ev[i];
    r->sent_ns[i] = now_ns();
    rd_kafka_resp_err_t err;
    while ((err = rd_kafka_producev(p, RD_KAFKA_V_TOPIC(e->topic), RD_KAFKA_V_KEY(e->key, strlen(e->key)),
                                    RD_KAFKA_V_VALUE(e->buf, e->len), RD_KAFKA_V_TIMESTAMP(e->ts),
                                    RD_KAFKA_V_OPAQUE((void *)(intptr_t)i), RD_KAFKA_V_END)) ==
           RD_KAFKA_RESP_ERR__QUEUE_FULL)
      rd_kafka_poll(p, 1);
    if (err) die("produce", rd_kafka_err2str(err));
    rd_kafka_poll(p, 0);
  }
  return (double)(now_ns() - t0) / 1e9;
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* Percentile q of the sorted v[0..n) in milliseconds. */
static double pct(const int64_t *v, long n, double q) {
  return n ? (double)v[(long)(q * (double)(n - 1) + 0.5)] / 1e6 : -1;
}

/* Latencies (from append, and from send) of the events seen whose send
 * time falls in [from_ns, to_ns), sorted, in app and snd; returns how many. */
static long collect(const run_t *r, int64_t from_ns, int64_t to_ns, int64_t *app, int64_t *snd) {
  long n = 0;
  for (long i = 0; i < r->nev; i++)
    if (r->seen_ns[i] && r->append_ns[i] && r->sent_ns[i] >= from_ns && r->sent_ns[i] < to_ns) {
      app[n] = r->seen_ns[i] - r->append_ns[i];
      snd[n++] = r->seen_ns[i] - r->sent_ns[i];
    }
  qsort(app, (size_t)n, sizeof *app, cmp_i64);
  qsort(snd, (size_t)n, sizeof *snd, cmp_i64);
  return n;
}

/* One JSON line: the percentiles over the whole run (_all) and after the
 * warm-up, then per second of sending ("per_second": [events, p50, p99,
 * max], from append). */
static void report(run_t *r, double rate, double send_s, double warmup_s) {
  int64_t *app = malloc(sizeof(int64_t) * (size_t)r->nev), *snd = malloc(sizeof(int64_t) * (size_t)r->nev);
  int64_t t0 = r->nev ? r->sent_ns[0] : 0;
  long n = collect(r, INT64_MIN, INT64_MAX, app, snd);
  printf("{\"events\": %ld, \"offered_rate\": %.0f, \"sent_rate\": %.0f, \"seen\": %ld, "
         "\"duplicates\": %ld, \"unknown\": %ld, \"p50_all_ms\": %.2f, \"p99_all_ms\": %.2f, "
         "\"max_all_ms\": %.2f, \"warmup_s\": %.1f, ",
         r->nev, rate, (double)r->nev / send_s, atomic_load(&r->seen), atomic_load(&r->duplicates),
         atomic_load(&r->unknown), pct(app, n, .5), pct(app, n, .99), pct(app, n, 1), warmup_s);
  n = collect(r, t0 + (int64_t)(warmup_s * 1e9), INT64_MAX, app, snd);
  printf("\"measured\": %ld, \"p50_ms\": %.2f, \"p90_ms\": %.2f, \"p99_ms\": %.2f, "
         "\"p999_ms\": %.2f, \"max_ms\": %.2f, \"p50_from_send_ms\": %.2f, "
         "\"p99_from_send_ms\": %.2f, \"per_second\": [",
         n, pct(app, n, .5), pct(app, n, .9), pct(app, n, .99), pct(app, n, .999), pct(app, n, 1),
         pct(snd, n, .5), pct(snd, n, .99));
  for (int s = 0; s < (int)send_s + 1; s++) {
    long k = collect(r, t0 + (int64_t)s * 1000000000, t0 + (int64_t)(s + 1) * 1000000000, app, snd);
    printf("%s[%ld, %.1f, %.1f, %.1f]", s ? ", " : "", k, pct(app, k, .5), pct(app, k, .99),
           pct(app, k, 1));
  }
  printf("]}\n");
  free(app);
  free(snd);
}

int main(int argc, char **argv) {
  const char *bootstrap = "127.0.0.1:19092", *prefix = "", *file = NULL, *status = NULL;
  double rate = 10000, timeout_s = 120, warmup_s = 0;
  static const struct option opts[] = {
      {"prefix", required_argument, NULL, 'p'}, {"events", required_argument, NULL, 'e'},
      {"rate", required_argument, NULL, 'r'},   {"status", required_argument, NULL, 's'},
      {"timeout-s", required_argument, NULL, 'T'}, {"warmup-s", required_argument, NULL, 'w'},
      {NULL, 0, NULL, 0}};
  for (int c; (c = getopt_long(argc, argv, "b:", opts, NULL)) != -1;) {
    switch (c) {
      case 'b': bootstrap = optarg; break;
      case 'p': prefix = optarg; break;
      case 'e': file = optarg; break;
      case 'r': rate = atof(optarg); break;
      case 's': status = optarg; break;
      case 'T': timeout_s = atof(optarg); break;
      case 'w': warmup_s = atof(optarg); break;
      default: file = NULL; optind = argc; break;
    }
  }
  if (!file || !status || rate <= 0) {
    fprintf(stderr, "usage: bench_rate_latency -b BOOTSTRAP --prefix P --events FILE --rate N "
                    "--status TOPIC [--timeout-s S] [--warmup-s S]\n");
    return 2;
  }
  run_t r = {0};
  pthread_mutex_init(&r.lock, NULL);
  pthread_cond_init(&r.changed, NULL);
  load(&r, file, prefix);
  char status_topic[512];
  snprintf(status_topic, sizeof status_topic, "%s%s", prefix, status);
  const char *cons[] = {"bootstrap.servers", bootstrap, "group.id", "bench-rate-latency",
                        "isolation.level", "read_committed", "enable.auto.commit", "false",
                        "fetch.wait.max.ms", "100", "enable.partition.eof", "true", NULL};
  const char *prod[] = {"bootstrap.servers", bootstrap, "enable.idempotence", "true", "acks", "all",
                        "linger.ms", "5", "partitioner", "murmur2_random", NULL};
  r.consumer = client(RD_KAFKA_CONSUMER, cons, &r);
  rd_kafka_t *p = client(RD_KAFKA_PRODUCER, prod, &r);
  r.partitions = assign_all(r.consumer, status_topic);
  warm_up(&r, p);
  pthread_t th;
  if (pthread_create(&th, NULL, consume, &r)) die("pthread_create", "failed");
  /* The clock starts once the status reader fetches: each partition has
   * reported its (empty) end once. */
  wait_for(&r, fetching, 30);
  if (!fetching(&r)) die(status_topic, "the status reader did not reach the end within 30 s");
  double send_s = send_all(&r, p, rate);
  if (rd_kafka_flush(p, 30000)) die("flush", "records undelivered after 30 s");
  wait_for(&r, all_seen, timeout_s);
  atomic_store(&r.stop, true);
  pthread_join(th, NULL);
  report(&r, rate, send_s, warmup_s);
  rd_kafka_destroy(p);
  rd_kafka_consumer_close(r.consumer);
  rd_kafka_destroy(r.consumer);
  return atomic_load(&r.seen) == r.nev ? 0 : 1;
}
