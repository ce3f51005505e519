/* Admin requests and whole-topic reads shared by the operator commands
 * that manage a daemon's topics and groups (rebuild, reset).
 *
 * CreateTopics and DeleteTopics go to the controller, metadata to any
 * broker. DeleteGroups goes to the group coordinator: a one-shot command
 * may send it (FACTS.md warns against coordinator-targeted Admin requests
 * on a timer, where a broker that drops one mid-request hits a librdkafka
 * assertion sooner or later). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

rd_kafka_t *cli_admin_new(const cli_common_t *c) {
  static const char *const defaults[] = {"client.id", "greenlight-cli", NULL};
  rd_kafka_conf_t *conf = cli_kafka_conf(c, defaults);
  if (!conf) return NULL;
  char errstr[512];
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (rk) return rk;
  rd_kafka_conf_destroy(conf);
  cli_err("cannot create the Kafka client: %s", errstr);
  return NULL;
}

static int cli_left_ms(int64_t deadline) {
  int64_t left = deadline - cli_now_ms();
  return left > 0 ? (int)(left < 1000000000 ? left : 1000000000) : 0;
}

/* Sends nothing; waits for the result event of one request on q. NULL
 * (reported) after the deadline or on an error of the whole request. */
static rd_kafka_event_t *cli_admin_wait(rd_kafka_queue_t *q, int64_t deadline, const char *what) {
  for (int left; (left = cli_left_ms(deadline)) > 0;) {
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, left);
    if (!ev) continue;
    if (!rd_kafka_event_error(ev)) return ev;
    cli_err("cannot %s: %s", what, rd_kafka_event_error_string(ev));
    rd_kafka_event_destroy(ev);
    return NULL;
  }
  cli_err("cannot %s: no answer from the broker in time", what);
  return NULL;
}

static rd_kafka_AdminOptions_t *cli_admin_options(rd_kafka_t *rk, rd_kafka_admin_op_t op,
                                                  int64_t deadline) {
  char errstr[256];
  rd_kafka_AdminOptions_t *o = rd_kafka_AdminOptions_new(rk, op);
  int left = cli_left_ms(deadline);
  rd_kafka_AdminOptions_set_request_timeout(o, left > 0 ? left : 1, errstr, sizeof errstr);
  if (op == RD_KAFKA_ADMIN_OP_CREATETOPICS || op == RD_KAFKA_ADMIN_OP_DELETETOPICS)
    rd_kafka_AdminOptions_set_operation_timeout(o, left > 0 ? left : 1, errstr, sizeof errstr);
  return o;
}

/* Counts the topic results that failed (reported), ignoring `ignore`. */
static int cli_topic_results(const rd_kafka_topic_result_t **tr, size_t n, const char *verb,
                             rd_kafka_resp_err_t ignore) {
  int failed = 0;
  for (size_t i = 0; i < n; i++) {
    rd_kafka_resp_err_t e = rd_kafka_topic_result_error(tr[i]);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR || e == ignore) continue;
    const char *why = rd_kafka_topic_result_error_string(tr[i]);
    cli_err("cannot %s %s: %s", verb, rd_kafka_topic_result_name(tr[i]),
            why ? why : rd_kafka_err2str(e));
    failed++;
  }
  return failed;
}

/* The partition count (0 if it does not exist) and partition 0's replica
 * count of topic, from a metadata request for all topics. */
static int cli_topic_metadata(rd_kafka_t *rk, const char *topic, int64_t deadline, int32_t *n,
                              int *replication) {
  const struct rd_kafka_metadata *md = NULL;
  int left = cli_left_ms(deadline);
  /* All topics: a request naming a missing topic could create it on a
   * broker that auto-creates. */
  rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 1, NULL, &md, left > 0 ? left : 1);
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    cli_err("cannot read the metadata: %s", rd_kafka_err2str(e));
    return -1;
  }
  *n = 0;
  *replication = 0;
  for (int i = 0; i < md->topic_cnt; i++)
    if (strcmp(md->topics[i].topic, topic) == 0 && !md->topics[i].err) {
      *n = md->topics[i].partition_cnt;
      if (*n > 0) *replication = md->topics[i].partitions[0].replica_cnt;
    }
  rd_kafka_metadata_destroy(md);
  return 0;
}

int cli_admin_partitions(rd_kafka_t *rk, const char *topic, int64_t deadline, int32_t *n) {
  int replication;
  return cli_topic_metadata(rk, topic, deadline, n, &replication);
}

/* CreateTopics for t[0..n-1], each with configs ("name=value", on top
 * of t->compact's cleanup.policy, which one of them may override), then
 * waits until the metadata shows each with its partitions. With exists
 * non-NULL, a topic that still exists is not reported: *exists is set
 * and -1 returned. */
static int cli_create_topics(rd_kafka_t *rk, const cli_new_topic_t *t, size_t n,
                             const char *const *configs, size_t n_configs, int64_t deadline,
                             bool *exists) {
  rd_kafka_NewTopic_t **nts = calloc(n + 1, sizeof *nts);
  if (!nts) abort();
  for (size_t i = 0; i < n; i++) {
    char errstr[256];
    nts[i] = rd_kafka_NewTopic_new(t[i].name, t[i].partitions, t[i].replication > 0
                                   ? t[i].replication : -1, errstr, sizeof errstr);
    if (!nts[i]) {
      cli_err("cannot create %s: %s", t[i].name, errstr);
      rd_kafka_NewTopic_destroy_array(nts, i);
      free(nts);
      return -1;
    }
    bool own_policy = false;
    for (size_t k = 0; k < n_configs; k++) {
      const char *eq = strchr(configs[k], '=');
      char *name = strndup(configs[k], (size_t)(eq - configs[k]));
      if (!name) abort();
      own_policy |= strcmp(name, "cleanup.policy") == 0;
      rd_kafka_NewTopic_set_config(nts[i], name, eq + 1);
      free(name);
    }
    if (!own_policy)
      rd_kafka_NewTopic_set_config(nts[i], "cleanup.policy", t[i].compact ? "compact" : "delete");
  }
  rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
  rd_kafka_AdminOptions_t *o = cli_admin_options(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS, deadline);
  rd_kafka_CreateTopics(rk, nts, n, o, q);
  rd_kafka_event_t *ev = cli_admin_wait(q, deadline, "create the topics");
  int failed = -1;
  if (ev) {
    size_t nr;
    const rd_kafka_topic_result_t **tr =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &nr);
    rd_kafka_resp_err_t quiet = RD_KAFKA_RESP_ERR_NO_ERROR;
    for (size_t i = 0; exists && i < nr; i++)
      if (rd_kafka_topic_result_error(tr[i]) == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
        *exists = true, quiet = RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS;
    failed = cli_topic_results(tr, nr, "create", quiet) + (quiet ? 1 : 0);
    rd_kafka_event_destroy(ev);
  }
  rd_kafka_AdminOptions_destroy(o);
  rd_kafka_queue_destroy(q);
  rd_kafka_NewTopic_destroy_array(nts, n);
  free(nts);
  /* The next client must find them: wait until the metadata shows each. */
  for (size_t i = 0; failed == 0 && i < n; i++) {
    for (int32_t got = 0; failed == 0 && got != t[i].partitions;) {
      if (cli_admin_partitions(rk, t[i].name, deadline, &got) < 0) failed = -1;
      else if (got == t[i].partitions) break;
      else if (cli_left_ms(deadline) == 0) {
        cli_err("topic %s: not in the metadata in time after its creation", t[i].name);
        failed = -1;
      } else {
        nanosleep(&(struct timespec){.tv_nsec = 100 * 1000 * 1000}, NULL);
      }
    }
  }
  return failed == 0 ? 0 : -1;
}

int cli_admin_create_topics(rd_kafka_t *rk, const cli_new_topic_t *t, size_t n, int64_t deadline) {
  return cli_create_topics(rk, t, n, NULL, 0, deadline, NULL);
}

int cli_admin_delete_topics(rd_kafka_t *rk, const char *const *names, size_t n, int64_t deadline) {
  if (n == 0) return 0;
  rd_kafka_DeleteTopic_t **dts = calloc(n, sizeof *dts);
  if (!dts) abort();
  for (size_t i = 0; i < n; i++) dts[i] = rd_kafka_DeleteTopic_new(names[i]);
  rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
  rd_kafka_AdminOptions_t *o = cli_admin_options(rk, RD_KAFKA_ADMIN_OP_DELETETOPICS, deadline);
  rd_kafka_DeleteTopics(rk, dts, n, o, q);
  rd_kafka_event_t *ev = cli_admin_wait(q, deadline, "delete the topics");
  int failed = -1;
  if (ev) {
    size_t nr;
    const rd_kafka_topic_result_t **tr =
        rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &nr);
    failed = cli_topic_results(tr, nr, "delete", RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);
    rd_kafka_event_destroy(ev);
  }
  rd_kafka_AdminOptions_destroy(o);
  rd_kafka_queue_destroy(q);
  rd_kafka_DeleteTopic_destroy_array(dts, n);
  free(dts);
  return failed == 0 ? 0 : -1;
}

/* One DeleteGroups request. Returns the number of groups not deleted,
 * -1 if the request failed; *non_empty counts those that still have
 * members (reported only when report_non_empty). */
static int cli_delete_groups_once(rd_kafka_t *rk, const char *const *groups, size_t n,
                                  int64_t deadline, bool report_non_empty, size_t *non_empty) {
  rd_kafka_DeleteGroup_t **dgs = calloc(n, sizeof *dgs);
  if (!dgs) abort();
  for (size_t i = 0; i < n; i++) dgs[i] = rd_kafka_DeleteGroup_new(groups[i]);
  rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
  rd_kafka_AdminOptions_t *o = cli_admin_options(rk, RD_KAFKA_ADMIN_OP_DELETEGROUPS, deadline);
  rd_kafka_DeleteGroups(rk, dgs, n, o, q);
  rd_kafka_event_t *ev = cli_admin_wait(q, deadline, "delete the consumer groups");
  int failed = -1;
  *non_empty = 0;
  if (ev) {
    size_t nr;
    const rd_kafka_group_result_t **gr =
        rd_kafka_DeleteGroups_result_groups(rd_kafka_event_DeleteGroups_result(ev), &nr);
    failed = 0;
    for (size_t i = 0; i < nr; i++) {
      const rd_kafka_error_t *e = rd_kafka_group_result_error(gr[i]);
      if (!e || rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND) continue;
      failed++;
      bool busy = rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR_NON_EMPTY_GROUP;
      *non_empty += busy;
      if (!busy || report_non_empty)
        cli_err("cannot delete the consumer group %s: %s", rd_kafka_group_result_name(gr[i]),
                rd_kafka_error_string(e));
    }
    rd_kafka_event_destroy(ev);
  }
  rd_kafka_AdminOptions_destroy(o);
  rd_kafka_queue_destroy(q);
  rd_kafka_DeleteGroup_destroy_array(dgs, n);
  free(dgs);
  return failed;
}

int cli_admin_delete_groups(rd_kafka_t *rk, const char *const *groups, size_t n, int64_t deadline) {
  if (n == 0) return 0;
  for (;;) {
    size_t non_empty = 0;
    /* A static member that stopped stays a member until its session
     * times out: wait for it while there is time. */
    bool last = cli_left_ms(deadline) < 1000;
    int failed = cli_delete_groups_once(rk, groups, n, deadline, last, &non_empty);
    if (failed == 0) return 0;
    if (failed < 0 || (size_t)failed > non_empty || last) return -1;
    nanosleep(&(struct timespec){.tv_nsec = 500 * 1000 * 1000}, NULL);
  }
}

int cli_scan_topic(rd_kafka_t *consumer, const char *topic, int32_t n_partitions,
                   const int64_t *start, const int64_t *end, int64_t deadline, cli_scan_fn fn,
                   void *ctx) {
  bool *done = calloc((size_t)n_partitions, sizeof *done);
  if (!done) abort();
  int32_t n_done = 0;
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n_partitions);
  for (int32_t p = 0; p < n_partitions; p++) {
    int64_t from = start ? start[p] : RD_KAFKA_OFFSET_BEGINNING;
    if (end && from >= 0 && end[p] >= 0 && from >= end[p]) {
      done[p] = true;
      n_done++;
      continue;
    }
    rd_kafka_topic_partition_list_add(l, topic, p)->offset = from;
  }
  rd_kafka_resp_err_t e = l->cnt ? rd_kafka_assign(consumer, l) : RD_KAFKA_RESP_ERR_NO_ERROR;
  rd_kafka_topic_partition_list_destroy(l);
  int rc = 0;
  if (e) {
    cli_err("cannot assign %s: %s", topic, rd_kafka_err2str(e));
    rc = -1;
  }
  while (rc == 0 && n_done < n_partitions) {
    if (cli_stop_requested()) {
      cli_err("interrupted while reading %s", topic);
      rc = -1;
      break;
    }
    int left = cli_left_ms(deadline);
    if (left == 0) {
      cli_err("timed out reading %s (%d of %d partitions read to their end)", topic, (int)n_done,
              (int)n_partitions);
      rc = -1;
      break;
    }
    rd_kafka_message_t *m = rd_kafka_consumer_poll(consumer, left < 200 ? left : 200);
    if (!m) continue;
    int32_t p = m->partition;
    bool known = p >= 0 && p < n_partitions && !done[p];
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      if (known) done[p] = true, n_done++;
    } else if (m->err) {
      if (cli_consume_error_ends(topic, m)) rc = -1;
    } else if (known && end && end[p] >= 0 && m->offset >= end[p]) {
      done[p] = true, n_done++;
    } else if (known) {
      int r = fn(ctx, m);
      if (r != 0) rc = r < 0 ? -1 : 1;
      if (end && end[p] >= 0 && m->offset + 1 >= end[p]) done[p] = true, n_done++;
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_assign(consumer, NULL);
  free(done);
  return rc < 0 ? -1 : 0;
}

/* ---- What reset needs: a topic's settings, its re-creation, a group ---- */

/* The "name=value" configs DescribeConfigs reports as set on topic itself
 * (not the broker's defaults), sensitive ones left out. */
static int cli_topic_configs(rd_kafka_t *rk, const char *topic, int64_t deadline, char ***configs,
                             size_t *n) {
  rd_kafka_ConfigResource_t *res = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic);
  rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
  rd_kafka_AdminOptions_t *o = cli_admin_options(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS, deadline);
  rd_kafka_DescribeConfigs(rk, &res, 1, o, q);
  rd_kafka_event_t *ev = cli_admin_wait(q, deadline, "describe the topic's configs");
  int rc = ev ? 0 : -1;
  size_t nr = 0;
  const rd_kafka_ConfigResource_t **rr =
      ev ? rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev),
                                                     &nr)
         : NULL;
  for (size_t i = 0; i < nr && rc == 0; i++) {
    if (rd_kafka_ConfigResource_error(rr[i])) {
      cli_err("cannot describe the configs of %s: %s", topic,
              rd_kafka_ConfigResource_error_string(rr[i]));
      rc = -1;
      break;
    }
    size_t nc = 0;
    const rd_kafka_ConfigEntry_t **ce = rd_kafka_ConfigResource_configs(rr[i], &nc);
    for (size_t c = 0; c < nc; c++) {
      const char *v = rd_kafka_ConfigEntry_value(ce[c]);
      if (rd_kafka_ConfigEntry_source(ce[c]) != RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG ||
          rd_kafka_ConfigEntry_is_sensitive(ce[c]) || !v)
        continue;
      *configs = realloc(*configs, (*n + 1) * sizeof **configs);
      if (!*configs || asprintf(&(*configs)[*n], "%s=%s", rd_kafka_ConfigEntry_name(ce[c]), v) < 0)
        abort();
      (*n)++;
    }
  }
  if (ev) rd_kafka_event_destroy(ev);
  rd_kafka_AdminOptions_destroy(o);
  rd_kafka_queue_destroy(q);
  rd_kafka_ConfigResource_destroy(res);
  return rc;
}

int cli_admin_topic_settings(rd_kafka_t *rk, const char *topic, int64_t deadline,
                             cli_new_topic_t *t, char ***configs, size_t *n_configs) {
  t->name = topic;
  if (cli_topic_metadata(rk, topic, deadline, &t->partitions, &t->replication) < 0) return -1;
  *configs = NULL;
  *n_configs = 0;
  if (t->partitions == 0) return 0;
  if (cli_topic_configs(rk, topic, deadline, configs, n_configs) < 0) return -1;
  t->compact = true;
  for (size_t i = 0; i < *n_configs; i++)
    if (strncmp((*configs)[i], "cleanup.policy=", 15) == 0)
      t->compact = strstr((*configs)[i] + 15, "compact") != NULL;
  return 0;
}

int cli_admin_recreate_topic(rd_kafka_t *rk, const cli_new_topic_t *t, const char *const *configs,
                             size_t n_configs, int64_t deadline, bool *deleted) {
  *deleted = false;
  if (cli_admin_delete_topics(rk, &t->name, 1, deadline) < 0) return -1;
  *deleted = true;
  /* The broker may report it as existing until the deletion is done. */
  for (;;) {
    bool exists = false;
    if (cli_create_topics(rk, t, 1, configs, n_configs, deadline, &exists) == 0) return 0;
    if (!exists) return -1;
    if (cli_left_ms(deadline) < 500) {
      cli_err("cannot create %s: the broker still reports it as existing after its deletion",
              t->name);
      return -1;
    }
    nanosleep(&(struct timespec){.tv_nsec = 500 * 1000 * 1000}, NULL);
  }
}

static char *cli_strdup_or_null(const char *s) {
  if (!s) return NULL;
  char *d = strdup(s);
  if (!d) abort();
  return d;
}

int cli_admin_describe_group(rd_kafka_t *rk, const char *group, int64_t deadline, cli_group_t *g) {
  memset(g, 0, sizeof *g);
  rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
  rd_kafka_AdminOptions_t *o =
      cli_admin_options(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS, deadline);
  rd_kafka_DescribeConsumerGroups(rk, &group, 1, o, q);
  rd_kafka_event_t *ev = cli_admin_wait(q, deadline, "describe the consumer group");
  int rc = ev ? 0 : -1;
  size_t n = 0;
  const rd_kafka_ConsumerGroupDescription_t **gd =
      ev ? rd_kafka_DescribeConsumerGroups_result_groups(
               rd_kafka_event_DescribeConsumerGroups_result(ev), &n)
         : NULL;
  for (size_t i = 0; i < n && rc == 0; i++) {
    const rd_kafka_error_t *e = rd_kafka_ConsumerGroupDescription_error(gd[i]);
    if (e && rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND) {
      snprintf(g->state, sizeof g->state, "Dead");
      continue;
    }
    if (e) {
      cli_err("cannot describe the consumer group %s: %s", group, rd_kafka_error_string(e));
      rc = -1;
      break;
    }
    snprintf(g->state, sizeof g->state, "%s",
             rd_kafka_consumer_group_state_name(rd_kafka_ConsumerGroupDescription_state(gd[i])));
    g->n_members = rd_kafka_ConsumerGroupDescription_member_count(gd[i]);
    g->members = calloc(g->n_members + 1, sizeof *g->members);
    if (!g->members) abort();
    for (size_t m = 0; m < g->n_members; m++) {
      const rd_kafka_MemberDescription_t *md = rd_kafka_ConsumerGroupDescription_member(gd[i], m);
      g->members[m] = (cli_group_member_t){
          cli_strdup_or_null(rd_kafka_MemberDescription_consumer_id(md)),
          cli_strdup_or_null(rd_kafka_MemberDescription_group_instance_id(md)),
          cli_strdup_or_null(rd_kafka_MemberDescription_client_id(md)),
          cli_strdup_or_null(rd_kafka_MemberDescription_host(md))};
    }
  }
  if (ev) rd_kafka_event_destroy(ev);
  rd_kafka_AdminOptions_destroy(o);
  rd_kafka_queue_destroy(q);
  if (rc < 0) cli_group_free(g);
  return rc;
}

void cli_group_free(cli_group_t *g) {
  for (size_t i = 0; i < g->n_members; i++) {
    cli_group_member_t *m = &g->members[i];
    free(m->member_id), free(m->instance_id), free(m->client_id), free(m->host);
  }
  free(g->members);
  memset(g, 0, sizeof *g);
}

/* ListConsumerGroupOffsets (alter false: reads each partition's committed
 * offset into l, -1 for none) or AlterConsumerGroupOffsets (alter: commits
 * l's offsets). Returns the number of partitions that failed (reported),
 * -1 if the request did. */
static int cli_group_offsets(rd_kafka_t *rk, const char *group, rd_kafka_topic_partition_list_t *l,
                             int64_t deadline, bool alter, bool *unstable) {
  rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
  rd_kafka_AdminOptions_t *o = cli_admin_options(
      rk, alter ? RD_KAFKA_ADMIN_OP_ALTERCONSUMERGROUPOFFSETS
                : RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS, deadline);
  const char *what = alter ? "commit the group's offsets" : "read the group's committed offsets";
  if (!alter) {
    /* The offsets of a transaction whose markers are still being written
     * (a daemon that just committed and exited) are reported as
     * UNSTABLE_OFFSET_COMMIT, not as the older committed offset. */
    rd_kafka_error_t *e = rd_kafka_AdminOptions_set_require_stable_offsets(o, 1);
    if (e) rd_kafka_error_destroy(e);
  }
  rd_kafka_event_t *ev;
  if (alter) {
    rd_kafka_AlterConsumerGroupOffsets_t *a = rd_kafka_AlterConsumerGroupOffsets_new(group, l);
    rd_kafka_AlterConsumerGroupOffsets(rk, &a, 1, o, q);
    rd_kafka_AlterConsumerGroupOffsets_destroy(a);
  } else {
    rd_kafka_ListConsumerGroupOffsets_t *r = rd_kafka_ListConsumerGroupOffsets_new(group, l);
    rd_kafka_ListConsumerGroupOffsets(rk, &r, 1, o, q);
    rd_kafka_ListConsumerGroupOffsets_destroy(r);
  }
  ev = cli_admin_wait(q, deadline, what);
  int failed = ev ? 0 : -1;
  size_t n = 0;
  const rd_kafka_group_result_t **gr = NULL;
  if (ev && alter)
    gr = rd_kafka_AlterConsumerGroupOffsets_result_groups(
        rd_kafka_event_AlterConsumerGroupOffsets_result(ev), &n);
  else if (ev)
    gr = rd_kafka_ListConsumerGroupOffsets_result_groups(
        rd_kafka_event_ListConsumerGroupOffsets_result(ev), &n);
  for (size_t i = 0; i < n && failed >= 0; i++) {
    const rd_kafka_error_t *e = rd_kafka_group_result_error(gr[i]);
    if (e) {
      cli_err("cannot %s (group %s): %s", what, group, rd_kafka_error_string(e));
      failed = -1;
      break;
    }
    const rd_kafka_topic_partition_list_t *res = rd_kafka_group_result_partitions(gr[i]);
    for (int k = 0; res && k < res->cnt; k++) {
      const rd_kafka_topic_partition_t *r = &res->elems[k];
      rd_kafka_topic_partition_t *mine =
          rd_kafka_topic_partition_list_find(l, r->topic, r->partition);
      if (r->err == RD_KAFKA_RESP_ERR_UNSTABLE_OFFSET_COMMIT && !alter &&
          cli_left_ms(deadline) > 0) {
        failed = failed >= 0 ? failed + 1 : failed;
        *unstable = true;
      } else if (r->err) {
        if (++failed <= 3)
          cli_err("cannot %s: %s [%d] (group %s): %s", what, r->topic, (int)r->partition, group,
                  rd_kafka_err2str(r->err));
      } else if (mine && !alter) {
        mine->offset = r->offset >= 0 ? r->offset : -1;
      }
      if (mine) mine->err = r->err;
    }
  }
  if (failed > 3 && !*unstable) cli_err("cannot %s: %d partitions failed in all", what, failed);
  if (ev) rd_kafka_event_destroy(ev);
  rd_kafka_AdminOptions_destroy(o);
  rd_kafka_queue_destroy(q);
  return failed;
}

int cli_admin_group_committed(rd_kafka_t *rk, const char *group, rd_kafka_topic_partition_list_t *l,
                              int64_t deadline) {
  for (;;) {
    bool unstable = false;
    for (int i = 0; i < l->cnt; i++) l->elems[i].offset = -1;
    int failed = cli_group_offsets(rk, group, l, deadline, false, &unstable);
    if (failed == 0) return 0;
    if (!unstable) return -1;
    /* Asked again until the markers are written, while there is time. */
    nanosleep(&(struct timespec){.tv_nsec = 100 * 1000 * 1000}, NULL);
  }
}

int cli_admin_group_commit(rd_kafka_t *rk, const char *group, rd_kafka_topic_partition_list_t *l,
                           int64_t deadline) {
  bool unstable = false;
  return cli_group_offsets(rk, group, l, deadline, true, &unstable);
}
