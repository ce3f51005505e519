/* gl_owners: which instance of the group owns each partition, and where
 * its HTTP port answers, so that a state query sent to the wrong instance
 * can name the right one (Kafka Streams does this with application.server).
 *
 * Every instance publishes its own claim to the owners topic of its app,
 * `<topic.prefix><app.id>.owners` (1 partition, compacted; only partition 0
 * is used): key = its static member id (`<prefix><app.id>-<instance.id>`),
 * value = JSON {"instance":…, "url":…, "partitions":[0,1]}, the input
 * partitions it owns now. It publishes after each assignment, and after
 * each revocation with an empty list. Every instance reads the topic from
 * its beginning and keeps following it; the owner of partition p is the
 * instance whose latest record (the highest offset) claims p.
 *
 * No Admin request is sent: the group description the owners were once
 * learnt from (DescribeConsumerGroups) goes to the group coordinator, and
 * librdkafka aborts on the assertion `eonce->refcnt > 0` when the broker
 * drops such a request (FACTS.md). The claims are written by a producer of
 * their own, idempotent but not transactional: a claim is advice for HTTP
 * callers, not state, so it need not commit with the outputs; a failed
 * claim can never poison or abort the engine's transaction; and no open
 * transaction of a crashed instance holds back the others' read_committed
 * view of the topic. Both clients are served by the cron on the loop
 * thread; nothing here blocks the loop. Without HTTP there is nothing to
 * answer, and no owners topic is needed. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "gl_engine_int.h"

/* After a claim could not be delivered, publish the current one again. */
#define GL_OWNERS_RETRY_MS 2000
/* A claim waits this long for a broker before it counts as failed. */
#define GL_OWNERS_MESSAGE_TIMEOUT "60000"
/* On shutdown, the last claim (usually "nothing") gets this long to go out. */
#define GL_OWNERS_FLUSH_MS 2000

/* The latest claim of one instance. */
typedef struct gl_claim {
  char *instance, *url;
  int32_t *parts;
  int nparts;
  int64_t offset;
} gl_claim_t;

struct gl_owners {
  char *url;    /* This instance's advertised URL. */
  char *member; /* This instance's id: the static member id, the record key. */
  char *topic;
  rd_kafka_t *producer, *consumer;
  bool producer_failed; /* A fatal producer error: make a new one. */
  uint64_t seq;         /* Claims produced; the latest one's number. */
  bool republish;       /* The latest claim was not delivered. */
  uint64_t republish_at_ms;
  gl_claim_t *claims;
  int nclaims;
  gl_series_t *m_failures;
};

static gl_owners_t *gl_owners_get(gl_engine_t *e) {
  if (!e->owners && !(e->owners = calloc(1, sizeof *e->owners))) abort();
  return e->owners;
}

int gl_owners_advertise(gl_engine_t *e, int port, char *errstr, size_t errlen) {
  gl_owners_t *o = gl_owners_get(e);
  const char *url = e->conf.http_advertised_url;
  if (url && *url) {
    o->url = strdup(url);
  } else if (port > 0) {
    /* A wildcard address is no address for others: use the host name. */
    char host[256] = "";
    const char *h = e->sh->settings.http_host;
    if (!strcmp(h, "0.0.0.0") || !strcmp(h, "::") || !*h) {
      if (gethostname(host, sizeof host - 1) != 0 || !*host) snprintf(host, sizeof host, "localhost");
      h = host;
    }
    if (asprintf(&o->url, "http://%s:%d", h, port) < 0) abort();
  }
  if (o->url && strchr(o->url, ' ')) {
    snprintf(errstr, errlen, "config: http.advertised.url = '%s': expected a URL without spaces",
             o->url);
    return -1;
  }
  return 0;
}

bool gl_owners_advertised(gl_engine_t *e) {
  return e->owners && e->owners->url;
}

/* ---- Publishing this instance's claim --------------------------------- */

/* Runs on the loop thread: the owners clients are polled only there. */
static void gl_owners_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  gl_engine_t *e = gl_shell_client_opaque(opaque);
  gl_owners_t *o = e->owners;
  (void)rk;
  if (!m->err || !o) return;
  gl_series_add(o->m_failures, 1);
  gl_warn(e->log, "owners_publish_failed", "%s: claim %" PRIu64 " not delivered: %s", o->topic,
          (uint64_t)(uintptr_t)m->_private, rd_kafka_err2str(m->err));
  /* Only the latest claim matters; an older one was superseded anyway. */
  if ((uint64_t)(uintptr_t)m->_private == o->seq) {
    o->republish = true;
    o->republish_at_ms = gl_now_ms() + GL_OWNERS_RETRY_MS;
  }
}

/* For both owners clients, on the loop thread. A fatal error here must not
 * end the daemon: the claims are advice, so the producer is replaced. */
static void gl_owners_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
  gl_engine_t *e = gl_shell_client_opaque(opaque);
  if (err != RD_KAFKA_RESP_ERR__FATAL) {
    /* The engine's own clients already report a broker going away. */
    gl_debug(e->log, "owners_kafka_error", "%s: %s: %s", rd_kafka_name(rk),
             rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
    return;
  }
  char fatal[512];
  rd_kafka_fatal_error(rk, fatal, sizeof fatal);
  gl_warn(e->log, "owners_kafka_fatal", "%s: %s; starting a new owners client",
          rd_kafka_name(rk), fatal);
  if (e->owners && rk == e->owners->producer) e->owners->producer_failed = true;
}

static rd_kafka_t *gl_owners_producer_new(gl_engine_t *e, char *errstr, size_t errlen) {
  gl_owners_t *o = e->owners;
  char cid[1100];
  snprintf(cid, sizeof cid, "%s-owners", o->member);
  const char *def[] = {"linger.ms", "0", "message.timeout.ms", GL_OWNERS_MESSAGE_TIMEOUT, NULL};
  const char *forced[] = {"enable.idempotence", "true", "acks", "all",
                          "partitioner", "murmur2_random", "delivery.report.only.error", "true",
                          "client.id", cid, NULL};
  rd_kafka_conf_t *kc = gl_kafka_conf(e, def, forced, errstr, errlen);
  if (!kc) return NULL;
  rd_kafka_conf_set_dr_msg_cb(kc, gl_owners_dr_cb);
  rd_kafka_conf_set_error_cb(kc, gl_owners_error_cb);
  return rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, errlen);
}

/* Produces the current claim: the partitions of the tasks this instance
 * has with every input (a group an incremental rebalance has handed over
 * in part is not this instance's to claim yet). */
static void gl_owners_produce(gl_engine_t *e) {
  gl_owners_t *o = e->owners;
  json_t *parts = json_array();
  for (int p = 0; p < e->ntasks; p++)
    if (e->tasks[p] && gl_task_complete(e->tasks[p]))
      json_array_append_new(parts, json_integer(p));
  json_t *v = json_pack("{s:s, s:s, s:o}", "instance", o->member, "url", o->url, "partitions", parts);
  char *s = v ? json_dumps(v, JSON_COMPACT) : NULL;
  json_decref(v);
  if (!s) abort();
  o->seq++;
  o->republish = false;
  rd_kafka_resp_err_t err = rd_kafka_producev(
      o->producer, RD_KAFKA_V_TOPIC(o->topic), RD_KAFKA_V_PARTITION(0),
      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(o->member, strlen(o->member)),
      RD_KAFKA_V_VALUE(s, strlen(s)), RD_KAFKA_V_OPAQUE((void *)(uintptr_t)o->seq), RD_KAFKA_V_END);
  if (err) {
    gl_warn(e->log, "owners_publish_failed", "%s: %s; trying again", o->topic,
            rd_kafka_err2str(err));
    o->republish = true;
    o->republish_at_ms = gl_now_ms() + GL_OWNERS_RETRY_MS;
  } else {
    gl_debug(e->log, "owners_publish", "%s <- %s", o->topic, s);
  }
  free(s);
}

void gl_owners_publish(gl_engine_t *e) {
  if (e->owners && e->owners->producer) gl_owners_produce(e);
}

/* ---- Following the others' claims ------------------------------------- */

static void gl_claim_free(gl_claim_t *c) {
  free(c->instance);
  free(c->url);
  free(c->parts);
}

static gl_claim_t *gl_claim_find(gl_owners_t *o, const char *instance) {
  for (int i = 0; i < o->nclaims; i++)
    if (strcmp(o->claims[i].instance, instance) == 0) return &o->claims[i];
  return NULL;
}

/* Reads a claim's value into c; false if it is not one. */
static bool gl_claim_parse(gl_claim_t *c, const void *value, size_t len) {
  json_t *v = json_loadb(value, len, 0, NULL), *parts = json_object_get(v, "partitions");
  json_t *url = json_object_get(v, "url");
  bool ok = json_is_array(parts) && (!url || json_is_string(url) || json_is_null(url));
  size_t n = ok ? json_array_size(parts) : 0;
  c->parts = n ? malloc(n * sizeof *c->parts) : NULL;
  if (n && !c->parts) abort();
  for (size_t i = 0; ok && i < n; i++) {
    json_t *p = json_array_get(parts, i);
    ok = json_is_integer(p) && json_integer_value(p) >= 0 && json_integer_value(p) <= INT32_MAX;
    if (ok) c->parts[c->nparts++] = (int32_t)json_integer_value(p);
  }
  if (ok && json_is_string(url)) c->url = strdup(json_string_value(url));
  json_decref(v);
  return ok;
}

/* Takes in one record of the owners topic: it replaces its instance's claim. */
static void gl_owners_record(gl_engine_t *e, const rd_kafka_message_t *m) {
  gl_owners_t *o = e->owners;
  if (!m->key || m->key_len == 0 || memchr(m->key, 0, m->key_len)) return;
  gl_claim_t c = {.instance = strndup(m->key, m->key_len), .offset = m->offset};
  if (!c.instance) abort();
  /* A tombstone, or a value that is no claim, still supersedes the
   * instance's earlier claims: its latest word is not "I own p". */
  if (m->payload && !gl_claim_parse(&c, m->payload, m->len)) {
    gl_warn(e->log, "owners_bad_record", "%s offset %" PRId64 " (%s): not a claim", o->topic,
            m->offset, c.instance);
    free(c.parts);
    free(c.url);
    c.parts = NULL;
    c.url = NULL;
    c.nparts = 0;
  }
  gl_claim_t *old = gl_claim_find(o, c.instance);
  if (old) {
    gl_claim_free(old);
    *old = c;
    return;
  }
  gl_claim_t *nc = realloc(o->claims, (size_t)(o->nclaims + 1) * sizeof *nc);
  if (!nc) abort();
  o->claims = nc;
  o->claims[o->nclaims++] = c;
}

void gl_owners_poll(gl_engine_t *e) {
  gl_owners_t *o = e->owners;
  if (!o || !o->consumer) return;
  rd_kafka_message_t *m;
  for (int n = 0; n < 10000 && (m = rd_kafka_consumer_poll(o->consumer, 0)); n++) {
    if (!m->err)
      gl_owners_record(e, m);
    else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
      gl_debug(e->log, "owners_consumer", "%s: %s", o->topic, rd_kafka_message_errstr(m));
    rd_kafka_message_destroy(m);
  }
  if (o->producer_failed) {
    char errstr[512];
    rd_kafka_purge(o->producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_destroy(o->producer);
    o->producer_failed = false;
    if (!(o->producer = gl_owners_producer_new(e, errstr, sizeof errstr))) {
      gl_warn(e->log, "owners_disabled", "owners producer: %s; this instance's claims are no "
              "longer published", errstr);
      return;
    }
    o->republish = true;
  }
  if (!o->producer) return;
  rd_kafka_poll(o->producer, 0);
  if (o->republish && gl_now_ms() >= o->republish_at_ms) gl_owners_produce(e);
}

/* The latest claim of partition p, or NULL. */
static const gl_claim_t *gl_owners_resolve(const gl_owners_t *o, int32_t p) {
  const gl_claim_t *best = NULL;
  for (int i = 0; i < o->nclaims; i++) {
    const gl_claim_t *c = &o->claims[i];
    for (int k = 0; k < c->nparts; k++)
      if (c->parts[k] == p && (!best || c->offset > best->offset)) best = c;
  }
  return best;
}

const char *gl_owners_claimant(gl_engine_t *e, int32_t p) {
  const gl_claim_t *c = e->owners && p >= 0 ? gl_owners_resolve(e->owners, p) : NULL;
  return c ? c->instance : NULL;
}

bool gl_engine_owner(gl_engine_t *e, int32_t p, const char **instance, const char **url) {
  gl_owners_t *o = e->owners;
  const gl_claim_t *c = o && p >= 0 && p < e->partition_count ? gl_owners_resolve(o, p) : NULL;
  if (!c) return false;
  /* Our own claim, not yet superseded by our revocation or the new owner's
   * claim: the owner is not known yet. */
  if (strcmp(c->instance, o->member) == 0) return false;
  if (c->url && o->url && strcmp(c->url, o->url) == 0) return false;
  *instance = c->instance;
  *url = c->url;
  return true;
}

void gl_engine_owner_to_json(gl_engine_t *e, int32_t p, const char *path, json_t *body) {
  const char *inst, *url;
  if (!body || !gl_engine_owner(e, p, &inst, &url)) return;
  json_object_set_new(body, "owner", json_pack("{s:s, s:s?}", "instance", inst, "url", url));
  if (url) json_object_set_new(body, "location", json_sprintf("%s%s", url, path));
}

/* ---- Life ---------------------------------------------------------------- */

/* The consumer of the owners topic: no group membership, no commits; it
 * reads partition 0 from the beginning on every start. */
static int gl_owners_consumer_start(gl_engine_t *e, char *errstr, size_t errlen) {
  gl_owners_t *o = e->owners;
  char group[1100];
  snprintf(group, sizeof group, "%s-owners", o->member);
  const char *forced[] = {"group.id", group, "client.id", group, "enable.auto.commit", "false",
                          "enable.partition.eof", "false", "auto.offset.reset", "earliest",
                          "isolation.level", "read_committed", NULL};
  rd_kafka_conf_t *kc = gl_kafka_conf(e, NULL, forced, errstr, errlen);
  if (!kc) return -1;
  rd_kafka_conf_set_error_cb(kc, gl_owners_error_cb);
  if (!(o->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, kc, errstr, errlen))) return -1;
  rd_kafka_poll_set_consumer(o->consumer);

  /* gl_connect.c waits for the topic to exist before processing starts;
   * the assignment needs no connection. */
  rd_kafka_resp_err_t err;
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(l, o->topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
  err = rd_kafka_assign(o->consumer, l);
  rd_kafka_topic_partition_list_destroy(l);
  if (err) snprintf(errstr, errlen, "owners topic %s: assign: %s", o->topic, rd_kafka_err2str(err));
  return err ? -1 : 0;
}

int gl_owners_start(gl_engine_t *e, char *errstr, size_t errlen) {
  gl_owners_t *o = gl_owners_get(e);
  if (!o->url) return 0; /* No HTTP: no queries to answer. */
  if (asprintf(&o->member, "%s-%s", e->group, e->conf.instance_id) < 0 ||
      asprintf(&o->topic, "%s%s.owners", e->conf.topic_prefix, e->conf.app_id) < 0)
    abort();
  o->m_failures = gl_metrics_counter(e->metrics, "greenlight_owners_publish_failures_total",
                                     "Claims of partition ownership not delivered to the owners topic.",
                                     NULL);
  if (gl_owners_consumer_start(e, errstr, errlen) < 0) return -1;
  if (!(o->producer = gl_owners_producer_new(e, errstr, errlen))) return -1;
  return 0;
}

const char *gl_owners_topic(gl_engine_t *e) {
  return e->owners ? e->owners->topic : NULL;
}

void gl_owners_destroy(gl_engine_t *e) {
  gl_owners_t *o = e->owners;
  if (!o) return;
  if (o->producer) {
    /* The revocation at close published "nothing": let it out if it can. */
    if (rd_kafka_flush(o->producer, GL_OWNERS_FLUSH_MS))
      gl_debug(e->log, "owners_flush", "%s: the last claim was not delivered", o->topic);
    rd_kafka_destroy(o->producer);
  }
  if (o->consumer) {
    rd_kafka_consumer_close(o->consumer);
    rd_kafka_destroy(o->consumer);
  }
  for (int i = 0; i < o->nclaims; i++) gl_claim_free(&o->claims[i]);
  free(o->claims);
  free(o->url);
  free(o->member);
  free(o->topic);
  free(o);
  e->owners = NULL;
}

gl_ownership_t gl_engine_ownership(gl_engine_t *e, int32_t p) {
  if (p < 0 || p >= e->ntasks || !e->tasks[p]) return GL_NOT_OWNED;
  return e->tasks[p]->state == GL_TASK_ACTIVE && gl_task_complete(e->tasks[p]) ? GL_OWNED
                                                                               : GL_RESTORING;
}

gl_store_t *gl_engine_store(gl_engine_t *e, int32_t p) {
  return gl_engine_ownership(e, p) == GL_OWNED ? e->tasks[p]->store : NULL;
}

int32_t gl_engine_key_partition(gl_engine_t *e, const void *key, size_t klen) {
  if (e->partition_count <= 0) return -1;
  return (int32_t)(((uint32_t)gl_murmur2(key, klen) & 0x7fffffff) % (uint32_t)e->partition_count);
}
