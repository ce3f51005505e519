/* gl_ctx: what a processor sees of the engine while it handles a record:
 * the record's partition group (store, task data, event time), its output
 * handles, emitting inside the open transaction, and dead-lettering.
 * Loop thread only. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "gl_engine_int.h"

int32_t gl_ctx_partition(const gl_ctx_t *ctx) { return ctx->task->partition; }
void *gl_ctx_task_data(const gl_ctx_t *ctx) { return ctx->task->data; }
int64_t gl_ctx_stream_time(const gl_ctx_t *ctx) { return ctx->task->stream_time; }
gl_store_t *gl_ctx_store(const gl_ctx_t *ctx) { return ctx->task->store; }
gl_metrics_t *gl_ctx_metrics(const gl_ctx_t *ctx) { return ctx->e->metrics; }
const gl_log_t *gl_ctx_log(const gl_ctx_t *ctx) { return ctx->e->log; }

gl_metrics_t *gl_engine_metrics(gl_engine_t *e) { return e->metrics; }

/* The DLQ counter of a reason. */
static gl_series_t *gl_dlq_series(gl_engine_t *e, const char *reason) {
  char labels[128];
  gl_metrics_labels(labels, sizeof labels, "reason", reason, NULL);
  return gl_metrics_counter(e->metrics, "greenlight_dlq_records_total",
                            "Records sent to the dead-letter topic, by reason.", labels);
}

void gl_engine_dlq_reasons(gl_engine_t *e, const char *const *reasons) {
  for (; reasons && *reasons; reasons++) gl_dlq_series(e, *reasons);
}

/* The reasons the runtime itself gives (gl_process.c, gl_poison.c). */
const char *const gl_runtime_dlq_reasons[] = {"invalid", "time_out_of_bounds", "output_too_large",
                                              "output_rejected", NULL};

gl_output_t *gl_engine_output(gl_engine_t *e, const char *name) {
  for (int i = 0; i < e->noutputs; i++)
    if (strcmp(e->outputs[i].name, name) == 0) return &e->outputs[i];
  return NULL;
}

const char *gl_output_topic(const gl_output_t *out) { return out->topic; }

int gl_ctx_emit(gl_ctx_t *ctx, gl_output_t *out, int64_t timestamp_ms, const void *key,
                size_t klen, const void *value, size_t vlen, const char *const *headers) {
  gl_engine_t *e = ctx->e;
  GL_SHELL_ASSERT_LOOP(e->sh, "gl_ctx_emit");
  if (!out) return GL_EINVAL; /* gl_engine_output() found no such output. */
  rd_kafka_headers_t *h = NULL;
  if (headers && headers[0]) {
    h = rd_kafka_headers_new(4);
    for (; headers[0] && headers[1]; headers += 2) rd_kafka_header_add(h, headers[0], -1, headers[1], -1);
  }
  /* Either way the timestamp comes from the log, so a replay writes the
   * same bytes and timestamps. */
  if (timestamp_ms <= 0 && ctx->msg) timestamp_ms = rd_kafka_message_timestamp(ctx->msg, NULL);
  return gl_txn_produce(e, out->topic, RD_KAFKA_PARTITION_UA, timestamp_ms > 0 ? timestamp_ms : 0, key,
                 klen, value, vlen, h);
}

/* Headers of the original record travel with its DLQ copy, unless they
 * alone would crowd out the value. */
#define GL_DLQ_HEADERS_MAX 16384
/* A DLQ copy keeps at most this much of an over-long key. */
#define GL_DLQ_KEY_MAX 1024

static rd_kafka_headers_t *gl_dlq_headers(const rd_kafka_message_t *m) {
  rd_kafka_headers_t *orig = NULL;
  if (!m || rd_kafka_message_headers(m, &orig) != RD_KAFKA_RESP_ERR_NO_ERROR) return NULL;
  size_t n = 0, sz;
  const char *name;
  const void *val;
  for (size_t i = 0; rd_kafka_header_get_all(orig, i, &name, &val, &sz) == 0; i++)
    n += strlen(name) + sz;
  return n <= GL_DLQ_HEADERS_MAX ? rd_kafka_headers_copy(orig) : NULL;
}

int gl_ctx_dlq_raw(gl_ctx_t *ctx, const char *reason, const char *detail, const void *key,
                    size_t klen, const void *value, size_t vlen, const char *topic,
                    int32_t partition, int64_t offset) {
  gl_engine_t *e = ctx->e;
  rd_kafka_headers_t *h = NULL;
  if (ctx->msg && value == ctx->msg->payload) h = gl_dlq_headers(ctx->msg);
  if (!h) h = rd_kafka_headers_new(8);
  char num[32];
  rd_kafka_header_add(h, "dlq.reason", -1, reason, -1);
  rd_kafka_header_add(h, "dlq.error", -1, detail ? detail : "", -1);
  rd_kafka_header_add(h, "dlq.topic", -1, topic, -1);
  snprintf(num, sizeof(num), "%" PRId32, partition);
  rd_kafka_header_add(h, "dlq.partition", -1, num, -1);
  snprintf(num, sizeof(num), "%" PRId64, offset);
  rd_kafka_header_add(h, "dlq.offset", -1, num, -1);
  rd_kafka_header_add(h, "dlq.service", -1, e->proc->name, -1);
  /* The copy must fit record.max.bytes whatever the input was (SPEC §3.1):
   * cut the key and the value, and say how long they were. */
  if (klen > GL_DLQ_KEY_MAX) {
    snprintf(num, sizeof(num), "%zu", klen);
    rd_kafka_header_add(h, "dlq.key.truncated", -1, num, -1);
    klen = GL_DLQ_KEY_MAX;
  }
  size_t used = gl_txn_record_size(klen, 0, h) + 64; /* + the header added below */
  size_t max = (size_t)e->conf.record_max_bytes;
  size_t room = max > used ? max - used : 0;
  if (vlen > room) {
    snprintf(num, sizeof(num), "%zu", vlen);
    rd_kafka_header_add(h, "dlq.value.truncated", -1, num, -1);
    vlen = room;
  }
  gl_series_add(gl_dlq_series(e, reason), 1);
  char shown_key[128]; /* The record's key (orderd's: the order id), cut; NULs end it. */
  snprintf(shown_key, sizeof shown_key, "%.*s", (int)(klen < 127 ? klen : 127),
           key ? (const char *)key : "");
  gl_log_kv(e->log, GL_LOG_WARN, "dlq",
            GL_LOG_FIELDS(GL_LOG_STR("topic", topic), GL_LOG_INT("partition", partition),
                          GL_LOG_INT("offset", offset), GL_LOG_STR("key", shown_key),
                          GL_LOG_STR("dlq_topic", e->dlq), GL_LOG_STR("reason", reason)),
            "%s [%d] @%" PRId64 " -> %s: %s: %s", topic, partition, offset, e->dlq, reason,
            detail ? detail : "");
  return gl_txn_produce(e, e->dlq, RD_KAFKA_PARTITION_UA,
                 ctx->msg ? rd_kafka_message_timestamp(ctx->msg, NULL) : 0, key, klen, value, vlen,
                 h);
}

int gl_ctx_dlq(gl_ctx_t *ctx, const char *reason, const char *detail) {
  const rd_kafka_message_t *m = ctx->msg;
  return gl_ctx_dlq_raw(ctx, reason, detail, m->key, m->key_len, m->payload, m->len, ctx->topic,
                 m->partition, m->offset);
}
