/* gl_owners: which instance of the group owns each partition, and where
 * its HTTP port answers, so that a state query sent to the wrong instance
 * can name the right one (Kafka Streams does this with application.server).
 *
 * Each instance puts its advertised URL in its consumer's client.id
 * ("<member> <url>"). The engine asks the broker to describe the group
 * (DescribeConsumerGroups: every member's client.id, group.instance.id and
 * assignment) after each assignment and every GL_OWNERS_REFRESH_MS, on its
 * own admin queue polled by the cron, and keeps partition -> (instance,
 * URL) from the last answer. Nothing here blocks the loop. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "gl_engine_int.h"

#define GL_OWNERS_REFRESH_MS 2000
#define GL_OWNERS_TIMEOUT_MS 5000

int gl_owners_advertise(gl_engine_t *e, int port, char *errstr, size_t errlen) {
  const char *url = e->conf.http_advertised_url;
  if (url && *url) {
    e->http_url = strdup(url);
  } else if (port > 0) {
    /* A wildcard address is no address for others: use the host name. */
    char host[256] = "";
    const char *h = e->conf.http_host;
    if (!strcmp(h, "0.0.0.0") || !strcmp(h, "::") || !*h) {
      if (gethostname(host, sizeof host - 1) != 0 || !*host) snprintf(host, sizeof host, "localhost");
      h = host;
    }
    if (asprintf(&e->http_url, "http://%s:%d", h, port) < 0) abort();
  }
  if (e->http_url && strchr(e->http_url, ' ')) {
    snprintf(errstr, errlen, "config: http.advertised.url = '%s': expected a URL without spaces",
             e->http_url);
    return -1;
  }
  return 0;
}

void gl_owners_request(gl_engine_t *e) {
  if (!e->consumer || e->closed || e->owners_pending) return;
  if (!e->owners_q) e->owners_q = rd_kafka_queue_new(e->consumer);
  char errstr[256];
  rd_kafka_AdminOptions_t *opt =
      rd_kafka_AdminOptions_new(e->consumer, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS);
  rd_kafka_AdminOptions_set_request_timeout(opt, GL_OWNERS_TIMEOUT_MS, errstr, sizeof errstr);
  const char *groups[] = {e->group};
  rd_kafka_DescribeConsumerGroups(e->consumer, groups, 1, opt, e->owners_q);
  rd_kafka_AdminOptions_destroy(opt);
  e->owners_pending = true;
  e->owners_requested_ms = gl_now_ms();
}

static void gl_owners_clear(gl_engine_t *e) {
  for (int p = 0; p < e->nowners; p++) {
    free(e->owners[p].instance);
    free(e->owners[p].url);
  }
  free(e->owners);
  e->owners = NULL;
  e->nowners = 0;
}

/* Replaces the table with what one group description says. */
static void gl_owners_apply(gl_engine_t *e, const rd_kafka_ConsumerGroupDescription_t *g) {
  gl_owners_clear(e);
  int n = e->partition_count;
  if (n <= 0) return;
  e->owners = calloc((size_t)n, sizeof *e->owners);
  if (!e->owners) abort();
  e->nowners = n;
  size_t members = rd_kafka_ConsumerGroupDescription_member_count(g);
  for (size_t i = 0; i < members; i++) {
    const rd_kafka_MemberDescription_t *m = rd_kafka_ConsumerGroupDescription_member(g, i);
    const char *cid = rd_kafka_MemberDescription_client_id(m);
    const char *inst = rd_kafka_MemberDescription_group_instance_id(m);
    const char *url = cid ? strchr(cid, ' ') : NULL;
    const rd_kafka_topic_partition_list_t *parts =
        rd_kafka_MemberAssignment_partitions(rd_kafka_MemberDescription_assignment(m));
    for (int k = 0; parts && k < parts->cnt; k++) {
      const rd_kafka_topic_partition_t *tp = &parts->elems[k];
      if (strcmp(tp->topic, e->inputs[0]) != 0 || tp->partition < 0 || tp->partition >= n)
        continue;
      e->owners[tp->partition].instance = strdup(inst ? inst : cid ? cid : "");
      e->owners[tp->partition].url = url ? strdup(url + 1) : NULL;
    }
  }
}

void gl_owners_poll(gl_engine_t *e) {
  if (e->owners_q) {
    rd_kafka_event_t *ev;
    while ((ev = rd_kafka_queue_poll(e->owners_q, 0))) {
      const rd_kafka_DescribeConsumerGroups_result_t *res =
          rd_kafka_event_DescribeConsumerGroups_result(ev);
      size_t n = 0;
      const rd_kafka_ConsumerGroupDescription_t **gs =
          res ? rd_kafka_DescribeConsumerGroups_result_groups(res, &n) : NULL;
      if (rd_kafka_event_error(ev))
        gl_log(&e->log, GL_LOG_DEBUG, "owners", "describing the group failed: %s",
               rd_kafka_event_error_string(ev));
      else if (n == 1 && !rd_kafka_ConsumerGroupDescription_error(gs[0]))
        gl_owners_apply(e, gs[0]);
      rd_kafka_event_destroy(ev);
      e->owners_pending = false;
    }
  }
  if (!e->owners_pending && gl_now_ms() - e->owners_requested_ms >= GL_OWNERS_REFRESH_MS)
    gl_owners_request(e);
}

bool gl_engine_owner(gl_engine_t *e, int32_t p, const char **instance, const char **url) {
  if (p < 0 || p >= e->nowners || !e->owners[p].instance) return false;
  /* A description from before the last rebalance may still name us. */
  if (e->owners[p].url && e->http_url && strcmp(e->owners[p].url, e->http_url) == 0) return false;
  *instance = e->owners[p].instance;
  *url = e->owners[p].url;
  return true;
}

void gl_engine_owner_to_json(gl_engine_t *e, int32_t p, const char *path, json_t *body) {
  const char *inst, *url;
  if (!body || !gl_engine_owner(e, p, &inst, &url)) return;
  json_object_set_new(body, "owner", json_pack("{s:s, s:s?}", "instance", inst, "url", url));
  if (url) json_object_set_new(body, "location", json_sprintf("%s%s", url, path));
}

void gl_owners_destroy(gl_engine_t *e) {
  gl_owners_clear(e);
  if (e->owners_q) rd_kafka_queue_destroy(e->owners_q);
  e->owners_q = NULL;
  free(e->http_url);
  e->http_url = NULL;
}
