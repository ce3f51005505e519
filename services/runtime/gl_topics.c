/* The start-up check of a daemon's topics (Kafka Streams' internal-topic
 * manager, in small): before the engine subscribes,
 *   - every input, output and the DLQ exists (if not: waited for, until
 *     startup.timeout.ms: a deployment may still be creating them);
 *   - the inputs share one partition count (co-partitioned: range
 *     assignment then keeps partition N of each on one instance);
 *   - the internal topics, which only this app uses, exist and are right:
 *     the changelog (as many partitions as the inputs, compacted), the
 *     owners topic (compacted) and the processor's internal outputs (a
 *     repartition topic: as many partitions as the inputs); a missing one
 *     is created so, with the broker's default replication factor;
 * and a topic that exists but is wrong (not co-partitioned, a changelog
 * with another partition count, an internal topic that is not compacted)
 * stops the start at once with the topic, what it has and what is needed:
 * waiting would not mend it, and a changelog that is not compacted loses
 * state when its segments expire.
 *
 * Runs on the thread pool (gl_connect_work), with the consumer handle for
 * metadata and Admin requests: CreateTopics goes to the controller and
 * DescribeConfigs to any broker; none is coordinator-targeted (FACTS.md). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gl_engine_int.h"

#define GL_TOPICS_REQUEST_MS 10000

/* Partition count of topic in md, or -1 if the broker does not know it. */
static int gl_md_partitions(const rd_kafka_metadata_t *md, const char *topic) {
  for (int i = 0; i < md->topic_cnt; i++)
    if (strcmp(md->topics[i].topic, topic) == 0)
      return md->topics[i].err ? -1 : md->topics[i].partition_cnt;
  return -1;
}

static void gl_why(char *why, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void gl_why(char *why, size_t len, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, len, fmt, ap);
  va_end(ap);
}

/* The result event of one Admin request on q, or NULL (why set). */
static rd_kafka_event_t *gl_admin_wait(rd_kafka_queue_t *q, const char *what, char *why,
                                       size_t len) {
  rd_kafka_event_t *ev = rd_kafka_queue_poll(q, GL_TOPICS_REQUEST_MS + 1000);
  if (!ev) {
    gl_why(why, len, "broker unreachable (%s: no answer)", what);
    return NULL;
  }
  if (rd_kafka_event_error(ev)) {
    gl_why(why, len, "broker unreachable (%s: %s)", what, rd_kafka_event_error_string(ev));
    rd_kafka_event_destroy(ev);
    return NULL;
  }
  return ev;
}

static rd_kafka_AdminOptions_t *gl_admin_options(rd_kafka_t *rk, rd_kafka_admin_op_t op) {
  char errstr[256];
  rd_kafka_AdminOptions_t *o = rd_kafka_AdminOptions_new(rk, op);
  rd_kafka_AdminOptions_set_request_timeout(o, GL_TOPICS_REQUEST_MS, errstr, sizeof errstr);
  if (op == RD_KAFKA_ADMIN_OP_CREATETOPICS)
    rd_kafka_AdminOptions_set_operation_timeout(o, GL_TOPICS_REQUEST_MS, errstr, sizeof errstr);
  return o;
}

/* An internal topic: its name, the partitions it needs and whether it is
 * compacted. */
typedef struct gl_internal {
  const char *name;
  int partitions;
  bool compact;
} gl_internal_t;

#define GL_INTERNAL_MAX 8

/* Creates the missing internal topics. Returns 0 (created, or created
 * meanwhile by another instance) or 1 with why set (to be tried again). */
static int gl_topics_create(gl_engine_t *e, const gl_internal_t *t, int n, char *why, size_t len) {
  rd_kafka_t *rk = e->consumer;
  rd_kafka_NewTopic_t *nts[GL_INTERNAL_MAX];
  char errstr[256];
  for (int i = 0; i < n; i++) {
    nts[i] = rd_kafka_NewTopic_new(t[i].name, t[i].partitions, -1, errstr, sizeof errstr);
    if (!nts[i]) abort(); /* The count came from the broker's metadata. */
    rd_kafka_NewTopic_set_config(nts[i], "cleanup.policy", t[i].compact ? "compact" : "delete");
  }
  rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
  rd_kafka_AdminOptions_t *o = gl_admin_options(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_CreateTopics(rk, nts, (size_t)n, o, q);
  rd_kafka_event_t *ev = gl_admin_wait(q, "creating the internal topics", why, len);
  int rc = ev ? 0 : 1;
  if (ev) {
    size_t nr;
    const rd_kafka_topic_result_t **tr =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &nr);
    for (size_t i = 0; i < nr; i++) {
      rd_kafka_resp_err_t err = rd_kafka_topic_result_error(tr[i]);
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char *name = rd_kafka_topic_result_name(tr[i]);
        const gl_internal_t *w = t;
        while (w < t + n - 1 && strcmp(w->name, name) != 0) w++;
        gl_info(e->log, "topic_created", "%s: created with %d partitions, cleanup.policy=%s", name,
                w->partitions, w->compact ? "compact" : "delete");
      } else if (err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        const char *s = rd_kafka_topic_result_error_string(tr[i]);
        gl_why(why, len, "cannot create the internal topic %s: %s",
               rd_kafka_topic_result_name(tr[i]), s ? s : rd_kafka_err2str(err));
        rc = 1;
      }
    }
    rd_kafka_event_destroy(ev);
  }
  rd_kafka_AdminOptions_destroy(o);
  rd_kafka_queue_destroy(q);
  rd_kafka_NewTopic_destroy_array(nts, (size_t)n);
  return rc;
}

/* Each internal topic's cleanup.policy includes compact. Returns 0, 1
 * (why set: try again) or -1 (why set: refused for good). */
static int gl_topics_check_compacted(gl_engine_t *e, const char *const *names, int n, char *why,
                                     size_t len) {
  rd_kafka_t *rk = e->consumer;
  rd_kafka_ConfigResource_t *crs[GL_INTERNAL_MAX];
  for (int i = 0; i < n; i++) crs[i] = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, names[i]);
  rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
  rd_kafka_AdminOptions_t *o = gl_admin_options(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
  rd_kafka_DescribeConfigs(rk, crs, (size_t)n, o, q);
  rd_kafka_event_t *ev = gl_admin_wait(q, "reading the internal topics' settings", why, len);
  int rc = ev ? 0 : 1;
  if (ev) {
    size_t nr;
    const rd_kafka_ConfigResource_t **res =
        rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev), &nr);
    for (size_t i = 0; i < nr && rc == 0; i++) {
      const char *name = rd_kafka_ConfigResource_name(res[i]);
      if (rd_kafka_ConfigResource_error(res[i])) {
        gl_why(why, len, "cannot read the settings of %s: %s", name,
               rd_kafka_ConfigResource_error_string(res[i]));
        rc = 1;
        break;
      }
      size_t nc;
      const rd_kafka_ConfigEntry_t **ce = rd_kafka_ConfigResource_configs(res[i], &nc);
      for (size_t k = 0; k < nc; k++) {
        if (strcmp(rd_kafka_ConfigEntry_name(ce[k]), "cleanup.policy") != 0) continue;
        const char *v = rd_kafka_ConfigEntry_value(ce[k]);
        if (!v || !strstr(v, "compact")) {
          gl_why(why, len,
                 "%s has cleanup.policy=%s: an internal topic must be compacted, or its state "
                 "is lost when its segments expire (kafka-configs --alter --add-config "
                 "cleanup.policy=compact, or delete it and let the daemon create it)",
                 name, v ? v : "(none)");
          rc = -1;
        }
      }
    }
    rd_kafka_event_destroy(ev);
  }
  rd_kafka_AdminOptions_destroy(o);
  rd_kafka_queue_destroy(q);
  rd_kafka_ConfigResource_destroy_array(crs, (size_t)n);
  return rc;
}

int gl_topics_check(gl_engine_t *e, char *why, size_t len) {
  const rd_kafka_metadata_t *md = NULL;
  rd_kafka_resp_err_t err = rd_kafka_metadata(e->consumer, 1, NULL, &md, 5000);
  if (err) {
    gl_why(why, len, "broker unreachable (metadata: %s)", rd_kafka_err2str(err));
    return 1;
  }
  char missing[768] = "";
  size_t n = 0;
  int parts = gl_md_partitions(md, e->inputs[0]);
  int rc = 0;
  gl_internal_t internal[GL_INTERNAL_MAX], create[GL_INTERNAL_MAX];
  int ninternal = 0, ncreate = 0;
  if (e->changelog) internal[ninternal++] = (gl_internal_t){e->changelog, parts, true};
  if (gl_owners_topic(e)) internal[ninternal++] = (gl_internal_t){gl_owners_topic(e), 1, true};
  for (int i = 0; i < e->noutputs && ninternal < GL_INTERNAL_MAX; i++)
    if (e->outputs[i].internal)
      internal[ninternal++] = (gl_internal_t){e->outputs[i].topic, parts, false};
  for (int i = 0; i < e->ninputs + e->noutputs + 1; i++) {
    const char *t = i < e->ninputs                 ? e->inputs[i]
                    : i < e->ninputs + e->noutputs ? e->outputs[i - e->ninputs].topic
                                                   : e->dlq;
    if (i >= e->ninputs && i < e->ninputs + e->noutputs && e->outputs[i - e->ninputs].internal)
      continue; /* Created below if missing. */
    int p = gl_md_partitions(md, t);
    if (p < 0 && n < sizeof(missing))
      n += (size_t)snprintf(missing + n, sizeof(missing) - n, "%s%s", n ? ", " : "", t);
    if (p >= 0 && i < e->ninputs && parts >= 0 && p != parts && rc == 0) {
      gl_why(why, len,
             "input %s has %d partitions and input %s has %d: the inputs must be co-partitioned "
             "(the same partition count), or a key's events would meet on different instances",
             t, p, e->inputs[0], parts);
      rc = -1;
    }
  }
  for (int i = 0; i < ninternal && rc == 0 && n == 0; i++) {
    int p = gl_md_partitions(md, internal[i].name);
    if (p < 0) {
      create[ncreate++] = internal[i];
    } else if (internal[i].name == e->changelog && p != parts) {
      gl_why(why, len,
             "changelog %s has %d partitions, the inputs %d: the changelog must have the inputs' "
             "partition count (partition N holds the state of input partition N)",
             internal[i].name, p, parts);
      rc = -1;
    }
  }
  rd_kafka_metadata_destroy(md);
  if (rc < 0) return -1;
  if (n) {
    gl_why(why, len, "topics missing: %s (create them, e.g. greenlight topics create)", missing);
    return 1;
  }
  if (ncreate) {
    /* Checked again, with their settings, on the next attempt. */
    if (gl_topics_create(e, create, ncreate, why, len) == 0)
      gl_why(why, len, "created %d internal topic%s (%s%s); waiting for the metadata to show them",
             ncreate, ncreate > 1 ? "s" : "", create[0].name, ncreate > 1 ? ", ..." : "");
    return 1;
  }
  const char *compacted[GL_INTERNAL_MAX];
  int ncompacted = 0;
  for (int i = 0; i < ninternal; i++)
    if (internal[i].compact) compacted[ncompacted++] = internal[i].name;
  if (ncompacted && (rc = gl_topics_check_compacted(e, compacted, ncompacted, why, len)) != 0)
    return rc;
  e->connect_partitions = parts;
  return 0;
}
