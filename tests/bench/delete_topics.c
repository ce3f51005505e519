/* delete_topics: deletes every topic whose name starts with one of the
 * given prefixes, so that a benchmark run leaves no partitions behind on a
 * long-lived broker (thousands of partition directories end in "Too many
 * open files" there). DeleteTopics goes to the controller, not to a group
 * coordinator, so the librdkafka 2.0.2 assertion of FACTS.md does not
 * apply. Prints how many topics it deleted; exits 0, or 1 if the broker
 * refused or did not answer.
 *
 *   bench_delete_topics -b BOOTSTRAP PREFIX... */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#define BATCH 100

static int starts_with_any(const char *name, char **prefixes, int n) {
  for (int i = 0; i < n; i++)
    if (prefixes[i][0] && strncmp(name, prefixes[i], strlen(prefixes[i])) == 0) return 1;
  return 0;
}

/* Deletes names[0..n) in one request; returns how many failed. */
static int delete_batch(rd_kafka_t *rk, rd_kafka_queue_t *q, const char **names, int n) {
  rd_kafka_DeleteTopic_t *del[BATCH];
  for (int i = 0; i < n; i++) del[i] = rd_kafka_DeleteTopic_new(names[i]);
  rd_kafka_DeleteTopics(rk, del, (size_t)n, NULL, q);
  rd_kafka_DeleteTopic_destroy_array(del, (size_t)n);
  rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 60000);
  const rd_kafka_DeleteTopics_result_t *res = ev ? rd_kafka_event_DeleteTopics_result(ev) : NULL;
  int failed = 0;
  if (!res) {
    fprintf(stderr, "bench_delete_topics: %s\n", ev ? rd_kafka_event_error_string(ev) : "no answer in 60 s");
    failed = n;
  } else {
    size_t cnt;
    const rd_kafka_topic_result_t **tr = rd_kafka_DeleteTopics_result_topics(res, &cnt);
    for (size_t i = 0; i < cnt; i++)
      if (rd_kafka_topic_result_error(tr[i])) {
        fprintf(stderr, "bench_delete_topics: %s: %s\n", rd_kafka_topic_result_name(tr[i]),
                rd_kafka_topic_result_error_string(tr[i]));
        failed++;
      }
  }
  if (ev) rd_kafka_event_destroy(ev);
  return failed;
}

int main(int argc, char **argv) {
  const char *bootstrap = "127.0.0.1:19092";
  int opt;
  while ((opt = getopt(argc, argv, "b:")) != -1) {
    if (opt != 'b') optind = argc + 1;
    else bootstrap = optarg;
  }
  if (optind >= argc) {
    fprintf(stderr, "usage: bench_delete_topics -b BOOTSTRAP PREFIX...\n");
    return 2;
  }
  char errstr[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr, sizeof errstr)) {
    fprintf(stderr, "bench_delete_topics: %s\n", errstr);
    return 2;
  }
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (!rk) {
    fprintf(stderr, "bench_delete_topics: %s\n", errstr);
    return 1;
  }
  const struct rd_kafka_metadata *md = NULL;
  rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, NULL, &md, 30000);
  if (err) {
    fprintf(stderr, "bench_delete_topics: metadata: %s\n", rd_kafka_err2str(err));
    rd_kafka_destroy(rk);
    return 1;
  }
  rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
  const char *names[BATCH];
  int n = 0, deleted = 0, failed = 0;
  for (int i = 0; i <= md->topic_cnt; i++) {
    if (i < md->topic_cnt && starts_with_any(md->topics[i].topic, argv + optind, argc - optind))
      names[n++] = md->topics[i].topic;
    if (n == BATCH || (i == md->topic_cnt && n > 0)) {
      int f = delete_batch(rk, q, names, n);
      failed += f;
      deleted += n - f;
      n = 0;
    }
  }
  printf("deleted %d topics\n", deleted);
  rd_kafka_metadata_destroy(md);
  rd_kafka_queue_destroy(q);
  rd_kafka_destroy(rk);
  return failed ? 1 : 0;
}
